r"""Physically remove dead units (neurons, channels, attention heads) from a torch model.

Zeros inside a dense weight matrix do not make inference faster; removing whole rows and
columns does. :func:`shrink` finds the units that cannot influence the output and returns
a new, smaller model that computes the same function.

Which units are removed
-----------------------
The model is traced with ``torch.fx`` into a channel dependency graph
(:mod:`sparsefit.nn.graph`): channels joined by a residual ``add`` are one coupled group,
a ``cat`` lays its parts' channels side by side, BatchNorm and LayerNorm follow their
channels, the q, k and v channels of an attention head go together with the output
projection's columns that read them, a grouped convolution ties each group's inputs and
outputs. A coupled group is removed, from every tensor and every layer it appears in,
when at each layer that reads it

- no weight reads it (the columns are zero): it is dropped, nothing else changes;
- or its value is constant: the units producing it have all incoming weights zero and
  emit a constant :math:`c_j` (their bias through activation, BatchNorm, ...; an
  attention head whose value rows are zero emits its value bias, as attention weights sum
  to one). The contribution :math:`C_{:, j}\, c_j` is folded into the reader's bias
  (created if absent), and a LayerNorm is replaced by a :class:`ReducedLayerNorm` that
  still counts the removed constants in its mean and variance. When the contribution is
  not the same at every position (a constant channel entering a zero-padded convolution
  differs at the borders), the group is kept: exactness first.

A group that reaches the model output, or an operation the graph does not follow, is
kept; by default :func:`shrink` raises :class:`ShrinkError` naming the layer and the
operation when such a group has dead units (``on_unsupported="skip"`` keeps them).
Removing groups can disconnect others, so this runs to a fixed point. Layers keep at
least one unit, attention layers one head; then whole sublayers go:

Which sublayers are removed
---------------------------
When every unit feeding a sublayer's output is dead (all hidden units of a feed-forward
block, every head of an attention layer, every channel inside a residual branch), the
sublayer's output is a constant. If it is added to a tensor that depends on the input
(``x + f(x)``: a residual join; ``+`` or ``torch.add`` without ``alpha``) and is the
same at every position except along its channel dimension (for a convolution branch:
the same at every spatial position, as for the folds above; a constant seen through a
zero-padded convolution is not), the sublayer is replaced by that constant: a buffer
``shrink_constant_<k>`` of shape ``(1, C, 1, 1)``, ``(1, 1, D)``... added where its
output was, and the modules that computed it (with the queries and keys of an attention
whose values are constant, and a normalization that only fed it) are deleted from the
shrunk model, which is then the traced ``torch.fx.GraphModule`` (``report.removed``,
``report.rewritten``). A constant that is used otherwise (concatenated, multiplied,
normalized) keeps its one-unit stub. A model *output* that no longer depends on the
input (a plain chain whose middle layer is dead) is refused with :class:`ShrinkError`
naming the dead layer; ``on_unsupported="skip"`` returns the stubs instead (listed in
``report.skipped``).

The shrunk model has the class of the original, with smaller layers in place
(``torch.nn.MultiheadAttention`` with fewer heads becomes a
:class:`ShrunkMultiheadAttention`). When its forward code hard-codes a width that
changed (a hand-written attention's ``x.view(B, L, self.n_heads, d)``), the shrunk model
is the traced ``torch.fx.GraphModule`` with the new widths written in
(``report.rewritten``).

Semantics are those of inference (``eval()``: BatchNorm with running statistics, no
dropout); the returned model is in eval mode. Every result is checked: the outputs of the
shrunk model are compared with the original's on the example inputs and on random inputs
of the same shape, and :func:`shrink` raises rather than return a model that differs.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from . import _shrink_plan as P
from ._modules import ReducedLayerNorm, ShrunkMultiheadAttention
from ._shrink_handlers import (
    ChannelHandler,
    LayerHandler,
    find_handler,
    handlers,
    register_function,
    register_handler,
)
from .graph import ChannelGraph, GraphError

__all__ = [
    "ChannelHandler",
    "LayerHandler",
    "ReducedLayerNorm",
    "ShrinkError",
    "ShrinkReport",
    "ShrunkMultiheadAttention",
    "handlers",
    "register_function",
    "register_handler",
    "shrink",
]


class ShrinkError(ValueError):
    """The model cannot be shrunk safely (unsupported structure, or outputs would change)."""


# ------------------------------------------------------------------------------ report


@dataclass
class ShrinkReport:
    """What :func:`shrink` removed.

    Attributes
    ----------
    layers : list of dict
        One row per layer with units: ``layer``, ``type``, ``out_before``, ``out_after``,
        ``in_before``, ``in_after``, ``removed_dead_in`` (units removed because all their
        incoming weights were zero; their constant output folded into the next bias),
        ``removed_dead_out`` (units no weight downstream reads), ``heads_before``,
        ``heads_after`` (attention layers, else None), ``params_before``,
        ``params_after``, ``flops_before``, ``flops_after`` (per sample, 2 per
        multiply-add), ``note`` (why units were kept, if any; for a removed layer, why
        it was removed), ``removed`` (True: the layer is gone from the shrunk model, its
        ``*_after`` entries are 0).
    params_before, params_after : int
        All parameters of the model.
    flops_before, flops_after : int
        FLOPs of the Linear/Conv layers for one sample.
    unused_inputs : list of int or None
        Input features (dimension 1 of the first input, flattened if a Flatten comes
        first) that no weight reads; None if the first layer could not be analyzed.
    kept_inputs : list of int or None
        With ``remove_inputs=True``: the inputs the shrunk model takes, ``x[:, kept]``.
    skipped : dict
        ``{layer: reason}``: layers with dead units that an operation shrink does not
        follow kept from being removed (with ``on_unsupported="skip"``).
    removed : dict
        ``{layer: reason}``: sublayers deleted whole because their output was a
        constant added to a live tensor (a residual join); the constant is added there
        instead (a ``shrink_constant_<k>`` buffer of the shrunk GraphModule). Lists the
        layers with units (also in ``layers``, with ``removed=True``) and the
        normalization layers that went with them.
    rewritten : bool
        The forward code hard-coded a width that changed (``x.view(B, L, 4, 16)`` in a
        hand-written attention): the shrunk model is the traced ``torch.fx.GraphModule``
        with the new widths written in.
    max_abs_diff : float
        Largest difference between the outputs of the original and the shrunk model over
        the checks (example inputs and random inputs); ``nan`` if ``check=False``.
    tolerance : float
        The bound it was checked against.
    """

    layers: list = field(default_factory=list)
    params_before: int = 0
    params_after: int = 0
    flops_before: int = 0
    flops_after: int = 0
    unused_inputs: list | None = None
    kept_inputs: list | None = None
    skipped: dict = field(default_factory=dict)
    max_abs_diff: float = float("nan")
    tolerance: float = float("nan")
    n_checks: int = 0
    rewritten: bool = False
    removed: dict = field(default_factory=dict)

    def to_dict(self):
        """Plain data (lists, dicts, numbers)."""
        return {
            "layers": [dict(r) for r in self.layers],
            "params_before": self.params_before, "params_after": self.params_after,
            "flops_before": self.flops_before, "flops_after": self.flops_after,
            "unused_inputs": self.unused_inputs, "kept_inputs": self.kept_inputs,
            "skipped": dict(self.skipped), "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance, "n_checks": self.n_checks,
            "rewritten": self.rewritten, "removed": dict(self.removed),
        }

    def to_dataframe(self):
        """The per-layer table as a pandas DataFrame (needs pandas)."""
        import pandas as pd
        return pd.DataFrame(self.layers)

    def __str__(self):
        head = ("layer", "type", "units", "inputs", "dead in", "dead out", "params", "FLOPs")
        rows = [head]
        for r in self.layers:
            units = f"{r['out_before']} -> {r['out_after']}"
            if r.get("heads_before") is not None:
                units += f" (heads {r['heads_before']} -> {r['heads_after']})"
            rows.append((r["layer"], r["type"], units,
                         f"{r['in_before']} -> {r['in_after']}", str(r["removed_dead_in"]),
                         str(r["removed_dead_out"]),
                         f"{r['params_before']:,} -> {r['params_after']:,}",
                         f"{r['flops_before']:,} -> {r['flops_after']:,}"))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))

        def ratio(a, b):
            return f"{a / b:.2f}x" if b else "inf"
        lines.append(f"parameters: {self.params_before:,} -> {self.params_after:,} "
                     f"({ratio(self.params_before, self.params_after)} fewer)")
        lines.append(f"FLOPs/sample: {self.flops_before:,} -> {self.flops_after:,} "
                     f"({ratio(self.flops_before, self.flops_after)} fewer)")
        if self.unused_inputs is not None:
            lines.append(f"unused inputs: {len(self.unused_inputs)}"
                         + (f" {self.unused_inputs[:20]}" if self.unused_inputs else "")
                         + (" (removed)" if self.kept_inputs is not None else ""))
        for name, why in self.skipped.items():
            lines.append(f"not shrunk: {name}: {why}")
        for name, why in self.removed.items():
            lines.append(f"removed sublayer: {name}: {why}")
        for r in self.layers:
            if r.get("note") and not r.get("removed"):
                lines.append(f"note: {r['layer']}: {r['note']}")
        lines.append(f"max |shrunk - original| = {self.max_abs_diff:.3g} "
                     f"(tolerance {self.tolerance:.3g}, {self.n_checks} input batches)")
        return "\n".join(lines)

    def __repr__(self):
        return (f"ShrinkReport(params {self.params_before} -> {self.params_after}, "
                f"flops {self.flops_before} -> {self.flops_after}, "
                f"max_abs_diff={self.max_abs_diff:.3g})")



# ------------------------------------------------------------------------------ helpers


def _copy(model):
    """Deep copy; tolerates torch.nn.utils.prune's computed (non-leaf) weights."""
    memo = {}
    for m in model.modules():
        for v in m.__dict__.values():
            if isinstance(v, torch.Tensor) and not v.is_leaf:
                memo[id(v)] = v.detach().clone()
    return copy.deepcopy(model, memo)


def _strip_masks(model):
    """Bake parametrizations and torch.nn.utils.prune masks into plain parameters."""
    from torch.nn.utils import parametrize
    from torch.nn.utils import prune as tprune
    for m in model.modules():
        if parametrize.is_parametrized(m):
            # a deep copy shares its dynamically created Parametrized* class with the
            # original, and removing a parametrization deletes a property of that class:
            # give the copy its own class first, or the input model would break
            cls = type(m)
            own = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
            m.__class__ = type(cls.__name__, cls.__bases__, own)
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)
        for hook in list(m._forward_pre_hooks.values()):
            if isinstance(hook, tprune.BasePruningMethod):
                tprune.remove(m, hook._tensor_name)


def _as_tuple(example_inputs):
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (tuple, list)) and example_inputs and all(
            isinstance(x, torch.Tensor) for x in example_inputs):
        return tuple(example_inputs)
    raise TypeError("example_inputs must be a tensor or a non-empty tuple of tensors, got "
                    f"{type(example_inputs).__name__}")


def _outputs(model, inputs):
    with torch.no_grad():
        out = model(*inputs)
    flat = []

    def collect(o):
        if isinstance(o, torch.Tensor):
            flat.append(o)
        elif isinstance(o, (tuple, list)):
            for x in o:
                collect(x)
        elif isinstance(o, dict):
            for x in o.values():
                collect(x)
    collect(out)
    return flat




# ------------------------------------------------------------------------------- graph


def _graph(work, inputs):
    try:
        return ChannelGraph(work, inputs)
    except GraphError as exc:
        raise ShrinkError(str(exc)) from exc


def _layer_rows(g):
    """Per layer with units: type, units, inputs, heads, parameters, FLOPs per sample."""
    rows = {}
    for use in g.uses.values():
        h, m = use.handler, use.module
        node, ports = use.calls[0]
        out = g.values[node]
        out = out[0] if isinstance(out, (tuple, list)) else out
        fl = 0
        if 0 in ports and isinstance(out, torch.Tensor):
            fl = h.flops(m, g.shape(ports[0][0]), tuple(out.shape)) * len(use.calls)
        rows[use.target] = {
            "type": type(m).__name__, "out": h.n_out(m),
            "in": h.n_in(m, 0) if h.ports(m) else getattr(m, "num_embeddings", 0),
            "heads": h.n_heads(m) if hasattr(h, "n_heads") else None,
            "params": h.params(m), "flops": fl}
    return rows


def _input_chain(g):
    """``(layer use, nodes between, flattened)`` for the model input feeding one layer
    through unit-wise operations; None otherwise."""
    ph = [n for n in g.gm.graph.nodes if n.op == "placeholder"]
    if not ph or g.shape(ph[0]) is None or len(g.shape(ph[0])) < 2:
        return None
    cur, ops, flat = ph[0], [], False
    while True:
        users = [u for u in cur.users if not (u.op == "call_method" and u.target == "size")]
        if len(users) != 1:
            return None
        u = users[0]
        shape_in, shape_out = g.shape(cur), g.shape(u)
        if u.op == "call_module" and u.target in g.uses:
            use = g.uses[u.target]
            ok = (use.handler.ports(use.module) == [0] and u.args[0] is cur
                  and len(use.calls) == 1 and use.handler.in_axis % len(shape_in) == 1)
            return (use, ops, flat) if ok else None
        if shape_out is None:
            return None
        if len(shape_in) > 2 and shape_out == (shape_in[0], math.prod(shape_in[1:])) \
                and not flat:
            flat = True
        elif not _unit_node(g, u, cur) or shape_out[:2] != shape_in[:2]:
            return None
        ops.append(u)
        cur = u


def _unit_node(g, u, cur):
    from . import _shrink_handlers as H
    others = [a for a in list(u.args[1:]) + list(u.kwargs.values())
              if hasattr(a, "op") and isinstance(g.values.get(a), torch.Tensor)]
    if others or not u.args or u.args[0] is not cur:
        return False
    if u.op == "call_module":
        h = find_handler(g.gm.get_submodule(u.target))
        return isinstance(h, ChannelHandler) and not h.normalizes
    if u.op == "call_function":
        return H.is_unit_function(u.target) or H.is_pool_function(u.target)
    return u.op == "call_method" and H.is_unit_method(u.target)


def _inputs(g, work, remove_inputs):
    """Unused inputs of the first layer, and (``remove_inputs``) their removal."""
    chain = _input_chain(g)
    if chain is None:
        if remove_inputs:
            raise ShrinkError("remove_inputs=True: the model input does not feed a single "
                              "supported layer through unit-wise operations")
        return None, None
    use, ops, flat = chain
    m, h = use.module, use.handler
    unused = h.unused_in(m, 0)
    unused_list = torch.nonzero(unused).flatten().tolist()
    if not remove_inputs:
        return unused_list, None
    if flat:
        raise ShrinkError("remove_inputs=True: the input is flattened before the first "
                          "layer; only inputs of shape (N, features) or (N, C, ...) "
                          "feeding the first layer directly can be removed")
    keep = torch.nonzero(~unused).flatten()
    if keep.numel() == 0:
        keep = torch.zeros(1, dtype=torch.long)
    if keep.numel() < h.n_in(m, 0):
        for op in ops:
            if op.op == "call_module":
                om = g.gm.get_submodule(op.target)
                P._set(work, op.target, find_handler(om).slice(om, keep))
        P._set(work, use.target, h.slice(m, torch.arange(h.n_out(m)), keep))
    return unused_list, keep.tolist()


# --------------------------------------------------------------------------------- main


def _validate(model, example_inputs, on_unsupported, n_random, atol, rtol):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    inputs = _as_tuple(example_inputs)
    for i, x in enumerate(inputs):
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise ValueError(f"example_inputs[{i}] contains NaN or inf")
        if x.numel() == 0:
            raise ValueError(f"example_inputs[{i}] is empty")
    if on_unsupported not in ("raise", "skip"):
        raise ValueError(f"on_unsupported must be 'raise' or 'skip', got {on_unsupported!r}")
    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 0:
        raise ValueError(f"n_random must be a non-negative int, got {n_random!r}")
    for name, v in (("atol", atol), ("rtol", rtol)):
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return inputs


def _round(g, on_unsupported, skipped):
    """One analysis: the plan of what to remove (None if nothing)."""
    st = P.statuses(g)
    for layer, reason in P.blocked(g, st):
        if on_unsupported == "raise":
            raise ShrinkError(
                f"layer '{layer}' has unit(s) with all incoming weights zero that cannot be "
                f"removed: {reason} (pass on_unsupported='skip' to keep these units)")
        skipped.setdefault(layer, reason)
    plan = P.make_plan(g, st)
    return st, plan


def shrink(model, example_inputs, *, remove_inputs=False, on_unsupported="raise",
           check=True, atol=None, rtol=None, n_random=3, seed=0):
    r"""A new model with dead neurons, channels and attention heads physically removed,
    and a report.

    A unit (row of a Linear weight, filter of a convolution, embedding dimension,
    attention head, with its bias, normalization entries and the matching
    columns/input channels of the layers reading it, across residual joins and
    concatenations) is removed when

    - no weight of the layers reading it is nonzero, or
    - all its incoming weights are zero: it emits a constant :math:`c_j` (its bias
      through the activation, BatchNorm, ...), whose contribution :math:`C_{:,j}\,c_j`
      is added to the reading layer's bias :math:`b_C` before the column is dropped, so
      :math:`C z + b_C` is unchanged (a LayerNorm keeps counting it in its statistics).

    A sublayer whose units are all removed this way and whose constant output is added
    to a live tensor (a residual join) is deleted whole, the constant added in its place.

    See the module documentation for the coupled groups and what is refused. The shrunk
    model is checked against the original on the example inputs and on ``n_random``
    random batches of the same shape (normal, with the example inputs' mean and standard
    deviation): :math:`\max|f_\text{shrunk}(x) - f(x)| \le \mathrm{atol} +
    \mathrm{rtol}\max|f(x)|`, else :class:`ShrinkError`.

    Parameters
    ----------
    model : torch.nn.Module
        Not modified (a deep copy is shrunk). Masks of ``torch.nn.utils.prune``, of
        :func:`sparsefit.nn.prune.prune` and other parametrizations are baked in.
    example_inputs : Tensor or tuple of Tensor
        Inputs for ``model(*example_inputs)``: give the shapes and the first check.
    remove_inputs : bool, default=False
        Also remove input features no weight reads (the first layer's all-zero columns,
        or input channels). The shrunk model then takes ``x[:, report.kept_inputs]``.
    on_unsupported : {"raise", "skip"}, default="raise"
        A layer with dead units whose output feeds an operation :func:`shrink` does not
        follow (an unregistered module or function, a softmax over channels, ...): raise
        :class:`ShrinkError` naming the layer and the operation, or keep its units
        (listed in ``report.skipped``). Also a model output that does not depend on the
        input any more (every unit of some layer on the way is dead): raise, or keep
        one unit per layer.
    check : bool, default=True
        Compare outputs (strongly recommended; ``False`` skips the forward passes).
    atol, rtol : float, optional
        Tolerance of the check; default ``atol=1e-5, rtol=1e-6`` in float32,
        ``atol=1e-10, rtol=1e-12`` in float64.
    n_random : int, default=3
        Random input batches in the check, besides the example inputs.
    seed : int, default=0
        Seed of the random check inputs (the global torch RNG is not touched).

    Returns
    -------
    shrunk : torch.nn.Module
        Same class as ``model`` (or a ``torch.fx.GraphModule``, see
        ``report.rewritten``; always when a sublayer was removed, ``report.removed``),
        in eval mode, with smaller layers.
    report : ShrinkReport
        Units removed per layer, parameters and FLOPs before/after, unused inputs, the
        measured maximum output difference (``str(report)`` prints a table,
        ``report.to_dict()`` gives plain data).

    Raises
    ------
    ShrinkError
        The model cannot be traced by ``torch.fx``, a layer with dead units feeds an
        operation that is not supported, or the model's output is a constant (with
        ``on_unsupported="raise"``), or the check failed (the model is then refused,
        never returned wrong).
    TypeError, ValueError
        Bad arguments, naming the argument.

    Examples
    --------
    >>> import torch
    >>> from sparsefit.nn.shrink import shrink
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(),
    ...                           torch.nn.Linear(6, 2))
    >>> with torch.no_grad():
    ...     net[0].weight[:3] = 0     # units 0-2 get no input: they emit tanh(bias)
    ...     net[2].weight[:, 3] = 0   # unit 3 is read by nobody
    >>> small, report = shrink(net, torch.randn(8, 4))
    >>> small
    Sequential(
      (0): Linear(in_features=4, out_features=2, bias=True)
      (1): Tanh()
      (2): Linear(in_features=2, out_features=2, bias=True)
    )
    >>> x = torch.randn(5, 4)
    >>> bool((small(x) - net(x)).abs().max() <= 1e-5)
    True
    >>> report.params_before, report.params_after
    (44, 16)
    """
    inputs = _validate(model, example_inputs, on_unsupported, n_random, atol, rtol)
    work = _copy(model)
    _strip_masks(work)
    work.eval()
    for p in work.parameters():
        if not p.is_floating_point():
            raise ValueError("model has non-floating-point parameters")
    skipped, notes, counts, rewritten = {}, {}, {}, False
    g = _graph(work, inputs)
    before = _layer_rows(g)
    params_before = sum(p.numel() for p in work.parameters())
    removed = {}
    for _ in range(100):
        st, plan = _round(g, on_unsupported, skipped)
        notes.update(plan.notes)
        if not plan.remove:
            if not _drop_sublayers(g, work, inputs, on_unsupported, skipped, removed):
                break
            work, rewritten = g.gm, True
            work.eval()
            g = _graph(work, inputs)
            continue
        work, round_counts, rew = P.apply_plan(g, work, plan, st)
        rewritten |= rew
        for t, c in round_counts.items():
            acc = counts.setdefault(t, {"dead_in": 0, "dead_out": 0, "heads": 0})
            for k in acc:
                acc[k] += c[k]
        work.eval()
        g = _graph(work, inputs)
    unused_inputs, kept_inputs = _inputs(g, work, remove_inputs)
    new_inputs = inputs
    if kept_inputs is not None:
        idx = torch.tensor(kept_inputs, dtype=torch.long, device=inputs[0].device)
        new_inputs = (inputs[0].index_select(1, idx),) + inputs[1:]
        g = _graph(work, new_inputs)
    report = _report(before, _layer_rows(g), params_before, work, counts, notes, skipped,
                     removed)
    report.unused_inputs, report.kept_inputs, report.rewritten = (
        unused_inputs, kept_inputs, rewritten)
    if check:
        _check(model, work, inputs, new_inputs, kept_inputs, report, atol, rtol, n_random,
               seed)
    return work, report


def _report(before, after, params_before, work, counts, notes, skipped, removed):
    report = ShrinkReport(
        params_before=params_before, params_after=sum(p.numel() for p in work.parameters()),
        flops_before=sum(r["flops"] for r in before.values()),
        flops_after=sum(r["flops"] for r in after.values()), skipped=skipped,
        removed=dict(removed))
    for t, b in before.items():
        gone = t in removed
        a = after.get(t, b)
        if gone:
            a = {"out": 0, "in": 0, "heads": None if b["heads"] is None else 0, "params": 0,
                 "flops": 0}
        c = counts.get(t, {"dead_in": 0, "dead_out": 0, "heads": 0})
        note = notes.get(t, "")
        if gone:
            note = "removed: " + removed[t]
        report.layers.append({
            "layer": t, "type": b["type"], "out_before": b["out"], "out_after": a["out"],
            "in_before": b["in"], "in_after": a["in"],
            "heads_before": b["heads"], "heads_after": a["heads"],
            "removed_dead_in": c["dead_in"], "removed_dead_out": c["dead_out"],
            "params_before": b["params"], "params_after": a["params"],
            "flops_before": b["flops"], "flops_after": a["flops"], "note": note,
            "removed": gone})
    return report


def _drop_sublayers(g, work, inputs, on_unsupported, skipped, removed):
    """Refuse a constant model output; replace constant sublayers added to a live tensor
    by their constant. Whether ``g.gm`` changed (it is then the shrunk model)."""
    for layer, reason in P.constant_outputs(g):
        if on_unsupported == "raise":
            raise ShrinkError(
                f"{reason}; shrink does not return a model whose output is a constant "
                "(pass on_unsupported='skip' to keep one unit per layer instead)")
        skipped.setdefault(layer, reason)
    dtype = _dtype_of(work, inputs)
    device = next((p.device for p in work.parameters()), inputs[0].device)
    dropped = P.drop_constant_sublayers(g, dtype, device)
    removed.update(dropped)
    return bool(dropped)


def _dtype_of(model, inputs):
    for p in model.parameters():
        return p.dtype
    for x in inputs:
        if x.is_floating_point():
            return x.dtype
    return torch.float32


def _check(model, work, inputs, new_inputs, kept_inputs, report, atol, rtol, n_random, seed):
    dtype = _dtype_of(work, inputs)
    if dtype == torch.float64:
        atol = 1e-10 if atol is None else atol
        rtol = 1e-12 if rtol is None else rtol
    else:
        atol = 1e-5 if atol is None else atol
        rtol = 1e-6 if rtol is None else rtol
    ref = _copy(model).eval()
    gen = torch.Generator().manual_seed(seed)
    batches = [(inputs, new_inputs)]
    for _ in range(n_random):
        rnd = []
        for x in inputs:
            if x.is_floating_point():
                r = torch.randn(x.shape, generator=gen, dtype=torch.float64)
                std = float(x.double().std()) if x.numel() > 1 else 1.0
                r = r * (std if std > 0 else 1.0) + float(x.double().mean())
                rnd.append(r.to(dtype=x.dtype, device=x.device))
            else:
                rnd.append(x)
        rnd = tuple(rnd)
        new_rnd = rnd
        if kept_inputs is not None:
            idx = torch.tensor(kept_inputs, dtype=torch.long, device=rnd[0].device)
            new_rnd = (rnd[0].index_select(1, idx),) + rnd[1:]
        batches.append((rnd, new_rnd))
    worst, tol = 0.0, atol
    for old_in, new_in in batches:
        a, b = _outputs(ref, old_in), _outputs(work, new_in)
        if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
            raise ShrinkError("the shrunk model's outputs have different shapes: "
                              f"{[tuple(x.shape) for x in a]} vs {[tuple(y.shape) for y in b]}")
        for x, y in zip(a, b):
            if x.numel() == 0:
                continue
            d = float((x.double() - y.double()).abs().max())
            t = atol + rtol * float(x.double().abs().max())
            if not d <= t:  # also catches nan
                raise ShrinkError(
                    f"the shrunk model's outputs differ from the original's by {d:.3g} > "
                    f"{t:.3g}; refusing to return it (a layer type may have been treated as "
                    "unit-wise wrongly: check its handler)")
            worst, tol = max(worst, d), max(tol, t)
    report.max_abs_diff, report.tolerance, report.n_checks = worst, tol, len(batches)


