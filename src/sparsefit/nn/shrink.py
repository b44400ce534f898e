r"""Physically remove dead units (neurons, channels) from a torch model.

Zeros inside a dense weight matrix do not make inference faster; removing whole rows and
columns does. :func:`shrink` finds the units that cannot influence the output and returns
a new, smaller model of the same class that computes the same function.

Which units are dead
--------------------
Take a layer :math:`P` (Linear, Conv) whose output reaches one other layer :math:`C`
through operations acting on each unit separately (activations, BatchNorm, pooling,
dropout, a Flatten), :math:`z = g(P x)`, :math:`y = C z`. Unit :math:`j` of :math:`P` is

- *disconnected on the way out* when every weight of :math:`C` reading it is zero
  (:math:`C_{:, j} = 0`; after a Flatten, the whole block of columns of channel
  :math:`j`): it is removed, nothing else changes;
- *disconnected on the way in* when all its incoming weights are zero
  (:math:`P_{j,:} = 0`): it still emits the constant :math:`c_j = g(b_j)` (e.g.
  :math:`\tanh(b_j)`, or :math:`\mathrm{relu}(\mathrm{BN}(b_j))` with BatchNorm's running
  statistics). Its contribution :math:`C_{:, j}\, c_j` is folded into the bias of
  :math:`C` (created if :math:`C` has none), then the unit is removed. When that
  contribution is not the same at every position (a constant channel entering a
  zero-padded convolution differs at the borders), the unit is kept: exactness first.

Removing units can disconnect others, so this runs to a fixed point. The layer :math:`P`
feeding the model output keeps all its units. Inputs of the first layer that no weight
reads are reported (and removed with ``remove_inputs=True``).

Structure is discovered by tracing the model with ``torch.fx``; a registry of handlers
per layer type (:func:`register_handler`) says how to slice each layer. Residual and
concatenation structures (a unit's output used by an ``add``, ``cat``, or more than one
layer) are not shrunk: by default :func:`shrink` raises :class:`ShrinkError` naming the
layer when such a layer has dead units; ``on_unsupported="skip"`` keeps them. The rest of
the model (e.g. the inner convolutions of a residual block) is still shrunk.

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
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from . import _shrink_handlers as H
from ._shrink_handlers import (
    ChannelHandler,
    LayerHandler,
    find_handler,
    handlers,
    register_function,
    register_handler,
)

__all__ = [
    "ChannelHandler",
    "LayerHandler",
    "ShrinkError",
    "ShrinkReport",
    "handlers",
    "register_function",
    "register_handler",
    "shrink",
]


class ShrinkError(ValueError):
    """The model cannot be shrunk safely (unsupported structure, or outputs would change)."""


# ----------------------------------------------------------------------------- tracing


class _Tracer(fx.Tracer):
    # registered layer types are leaves, so a user's custom layer is seen as one node
    def is_leaf_module(self, m, qualname):
        if find_handler(m) is not None and not isinstance(m, nn.Sequential):
            return True
        return super().is_leaf_module(m, qualname)


def _trace(model):
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # fx raises many kinds of errors
        raise ShrinkError(
            f"could not trace the model with torch.fx ({type(exc).__name__}: {exc}); "
            "shrink needs a forward without data-dependent control flow") from exc
    return fx.GraphModule(tracer.root, graph)


def _describe(node, gm):
    if node.op == "call_module":
        return f"layer '{node.target}' ({type(gm.get_submodule(node.target)).__name__})"
    if node.op == "call_function":
        name = getattr(node.target, "__name__", repr(node.target))
        return f"function {name} (node '{node.name}')"
    if node.op == "call_method":
        return f"method .{node.target}() (node '{node.name}')"
    return f"{node.op} '{node.name}'"


def _shape(node):
    tm = node.meta.get("tensor_meta")
    if tm is None or not hasattr(tm, "shape"):
        return None
    return tuple(tm.shape)


@dataclass
class _Chain:
    producer: fx.Node | None        # None: the model input (a placeholder)
    source: fx.Node                 # producer node, or the placeholder
    ops: list                       # unit-wise nodes between source and consumer
    consumer: fx.Node | None        # None when the chain ends at the model output
    block: int = 1                  # columns per unit after a Flatten (1 without)
    blocked: str | None = None      # why the units cannot be removed


def _has_node(obj):
    found = []
    fx.node.map_arg(obj, lambda n: found.append(n))
    return bool(found)


def _is_flatten(node, gm):
    """A Flatten from (N, C, *S) to (N, C*prod(S)) whose arguments adapt to fewer units."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        return isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1
    if node.op == "call_function" and node.target is torch.flatten:
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return start == 1 and end == -1
    if node.op == "call_method" and node.target == "flatten":
        start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
        return start == 1 and end == -1
    if node.op == "call_method" and node.target in ("view", "reshape"):
        # x.view(x.size(0), -1) / x.reshape(n, -1): the feature size is inferred
        dims = node.args[1:]
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return len(dims) == 2 and dims[1] == -1
    return False


def _is_batch_size(node):
    if node.op != "call_method" or node.target != "size":
        return False
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
    return dim == 0


def _unitwise(node, gm, cur):
    """None if ``node`` acts on each unit of ``cur`` separately, else a reason."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        h = find_handler(m)
        if isinstance(h, ChannelHandler):
            return h.check(m)
        return "no ChannelHandler registered for it"
    if node.op == "call_function" and H.is_unit_function(node.target):
        if not node.args or node.args[0] is not cur or _has_node((node.args[1:], node.kwargs)):
            return "it combines this tensor with another tensor"
        return None
    if node.op == "call_method" and H.is_unit_method(node.target):
        if node.args[0] is not cur or _has_node((node.args[1:], node.kwargs)):
            return "it combines this tensor with another tensor"
        return None
    return "shrink has no handler for it (register one with register_handler/register_function)"


def _reaches_layer(node, gm):
    """True if some layer with a LayerHandler is downstream of ``node``."""
    seen, todo = set(), list(node.users)
    while todo:
        u = todo.pop()
        if u in seen:
            continue
        seen.add(u)
        if _layer_handler(u, gm) is not None:
            return True
        todo.extend(u.users)
    return False


def _layer_handler(node, gm):
    if node.op != "call_module":
        return None
    h = find_handler(gm.get_submodule(node.target))
    return h if isinstance(h, LayerHandler) else None


def _walk(gm, source, producer, layer_name):
    """Follow ``source``'s output through unit-wise ops to the next layer."""
    ops, cur, block = [], source, 1
    while True:
        # x.size(0) (the batch size, as in x.view(x.size(0), -1)) does not depend on units
        users = [u for u in cur.users if not _is_batch_size(u)]
        if len(users) != 1:
            names = ", ".join(_describe(u, gm) for u in users) or "nothing"
            return _Chain(producer, source, ops, None, block, blocked=(
                f"the output of {layer_name} is used by {len(users)} nodes ({names}); "
                "branching, residual (add) and concat structures are not supported"))
        u = users[0]
        if u.op == "output":
            return _Chain(producer, source, ops, None, block)
        if _layer_handler(u, gm) is not None:
            if not u.args or u.args[0] is not cur or _has_node((u.args[1:], u.kwargs)):
                return _Chain(producer, source, ops, None, block, blocked=(
                    f"the output of {layer_name} reaches {_describe(u, gm)} in an argument "
                    "other than its input"))
            return _Chain(producer, source, ops, u, block)
        if _is_flatten(u, gm):
            shp_in, shp_out = _shape(cur), _shape(u)
            if block != 1 or shp_in is None or len(shp_in) < 2 or shp_out is None or \
                    len(shp_out) != 2 or shp_out[1] != math.prod(shp_in[1:]):
                return _Chain(producer, source, ops, None, block, blocked=(
                    f"the output of {layer_name} is reshaped by {_describe(u, gm)} in a way "
                    "shrink does not follow (only (N, C, ...) -> (N, C*...) flattening)"))
            block = math.prod(shp_in[2:])
            ops.append(u)
            cur = u
            continue
        why = _unitwise(u, gm, cur)
        if why is not None:
            return _Chain(producer, source, ops, None, block, blocked=(
                f"the output of {layer_name} goes through {_describe(u, gm)}: {why}"))
        ops.append(u)
        cur = u


def _check_linear_2d(chain, gm):
    """Linear acts on the last dimension: its units are dimension 1 only for 2-D tensors."""
    for node in [chain.producer, chain.consumer]:
        if node is None:
            continue
        if isinstance(gm.get_submodule(node.target), nn.Linear):
            shp = _shape(node)
            if shp is None or len(shp) != 2:
                return (f"layer '{node.target}' (Linear) is applied to tensors of shape "
                        f"{shp}; only 2-D (batch, features) inputs are supported")
    return None


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
        ``removed_dead_out`` (units no weight downstream reads), ``params_before``,
        ``params_after``, ``flops_before``, ``flops_after`` (per sample, 2 per
        multiply-add), ``note`` (why units were kept, if any).
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
        ``{layer: reason}``: layers whose units were not removed (residual/concat...).
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

    def to_dict(self):
        """Plain data (lists, dicts, numbers)."""
        return {
            "layers": [dict(r) for r in self.layers],
            "params_before": self.params_before, "params_after": self.params_after,
            "flops_before": self.flops_before, "flops_after": self.flops_after,
            "unused_inputs": self.unused_inputs, "kept_inputs": self.kept_inputs,
            "skipped": dict(self.skipped), "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance, "n_checks": self.n_checks,
        }

    def to_dataframe(self):
        """The per-layer table as a pandas DataFrame (needs pandas)."""
        import pandas as pd
        return pd.DataFrame(self.layers)

    def __str__(self):
        head = ("layer", "type", "units", "inputs", "dead in", "dead out", "params", "FLOPs")
        rows = [head]
        for r in self.layers:
            rows.append((r["layer"], r["type"], f"{r['out_before']} -> {r['out_after']}",
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
        for r in self.layers:
            if r.get("note"):
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


def _set_submodule(root, target, new):
    parent, _, name = target.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, new)


def _apply_op(node, gm, t):
    """Run a unit-wise node on ``t`` (float64 copies of modules)."""
    if node.op == "call_module":
        m = copy.deepcopy(gm.get_submodule(node.target)).double().eval()
        return m(t)
    if node.op == "call_function" and _is_flatten(node, gm):
        return t.flatten(1)
    if node.op == "call_method" and _is_flatten(node, gm):
        return t.flatten(1)
    if node.op == "call_function":
        return node.target(t, *node.args[1:], **node.kwargs)
    return getattr(t, node.target)(*node.args[1:], **node.kwargs)


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


# --------------------------------------------------------------------------------- main


def shrink(model, example_inputs, *, remove_inputs=False, on_unsupported="raise",
           check=True, atol=None, rtol=None, n_random=3, seed=0):
    r"""A new model with dead neurons/channels physically removed, and a report.

    A unit (row of a Linear weight, filter of a convolution, with its bias, BatchNorm
    entries and the matching columns/input channels of the next layer) is removed when

    - no weight of the next layer reads it, or
    - all its incoming weights are zero: it emits a constant :math:`c_j = g(b_j)` (its
      bias through the activation, BatchNorm, ...), whose contribution
      :math:`C_{:,j}\,c_j` is added to the next layer's bias :math:`b_C` before the
      column is dropped, so :math:`C z + b_C` is unchanged.

    The shrunk model is checked against the original on the example inputs and on
    ``n_random`` random batches of the same shape (normal, with the example inputs' mean
    and standard deviation): :math:`\max|f_\text{shrunk}(x) - f(x)| \le
    \mathrm{atol} + \mathrm{rtol}\max|f(x)|`, else :class:`ShrinkError`.

    Parameters
    ----------
    model : torch.nn.Module
        Not modified (a deep copy is shrunk). Masks of ``torch.nn.utils.prune``, of
        :func:`sparsefit.nn.prune.prune` and other parametrizations are baked in.
    example_inputs : Tensor or tuple of Tensor
        Inputs for ``model(*example_inputs)``: give the shapes (spatial sizes, for the
        Flatten blocks) and the first check.
    remove_inputs : bool, default=False
        Also remove input features no weight reads (the first layer's all-zero columns,
        or input channels). The shrunk model then takes ``x[:, report.kept_inputs]``.
    on_unsupported : {"raise", "skip"}, default="raise"
        A layer with dead units whose output feeds something :func:`shrink` cannot follow
        (residual ``add``, ``cat``, several layers, an unregistered module): raise
        :class:`ShrinkError` naming the layer, or keep its units (listed in
        ``report.skipped``).
    check : bool, default=True
        Compare outputs (strongly recommended; ``False`` skips the forward passes).
    atol, rtol : float, optional
        Tolerance of the check; default ``atol=1e-5, rtol=1e-6`` in float32,
        ``atol=1e-6, rtol=1e-12`` in float64.
    n_random : int, default=3
        Random input batches in the check, besides the example inputs.
    seed : int, default=0
        Seed of the random check inputs (the global torch RNG is not touched).

    Returns
    -------
    shrunk : torch.nn.Module
        Same class as ``model``, in eval mode, with smaller layers.
    report : ShrinkReport
        Units removed per layer, parameters and FLOPs before/after, unused inputs, the
        measured maximum output difference (``str(report)`` prints a table,
        ``report.to_dict()`` gives plain data).

    Raises
    ------
    ShrinkError
        The model cannot be traced by ``torch.fx``, a layer with dead units sits in a
        structure that is not supported (with ``on_unsupported="raise"``), or the check
        failed (the model is then refused, never returned wrong).
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
    if not isinstance(n_random, int) or n_random < 0:
        raise ValueError(f"n_random must be a non-negative int, got {n_random!r}")
    for name, v in (("atol", atol), ("rtol", rtol)):
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")

    work = _copy(model)
    _strip_masks(work)
    work.eval()
    for p in work.parameters():
        if not p.is_floating_point():
            raise ValueError("model has non-floating-point parameters")
    gm = _trace(work)
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(*inputs)
    except Exception as exc:
        raise ShrinkError(f"running the model on example_inputs failed: {exc}") from exc

    nodes = list(gm.graph.nodes)
    calls = {}
    for n in nodes:
        if n.op == "call_module":
            calls[n.target] = calls.get(n.target, 0) + 1
    owners = {}
    for mname, m in gm.named_modules():
        for p in m.parameters(recurse=False):
            owners.setdefault(id(p), set()).add(mname)

    layers = [n for n in nodes if _layer_handler(n, gm) is not None]
    chains, skipped = [], {}
    for n in layers:
        mod = gm.get_submodule(n.target)
        h = _layer_handler(n, gm)
        name = f"layer '{n.target}' ({type(mod).__name__})"
        chain = _walk(gm, n, n, name)
        why = h.check(mod)
        if why is None and calls[n.target] > 1:
            why = f"module '{n.target}' is called {calls[n.target]} times in forward"
        if why is None and any(len(owners[id(p)]) > 1 for p in mod.parameters(recurse=False)):
            why = f"the parameters of '{n.target}' are shared with another module"
        if why is None and chain.consumer is not None:
            cm = gm.get_submodule(chain.consumer.target)
            why = _layer_handler(chain.consumer, gm).check(cm)
            if why is None and calls[chain.consumer.target] > 1:
                why = f"the next layer '{chain.consumer.target}' is called more than once"
            if why is None and any(len(owners[id(p)]) > 1
                                   for p in cm.parameters(recurse=False)):
                why = f"the parameters of '{chain.consumer.target}' are shared"
            if why is None and chain.block > 1 and not isinstance(cm, nn.Linear):
                why = "a Flatten must be followed by a Linear layer"
        for op in chain.ops:
            if why is None and op.op == "call_module" and calls[op.target] > 1 and any(
                    True for _ in gm.get_submodule(op.target).parameters()):
                why = f"module '{op.target}' (with per-unit parameters) is called more than once"
        if why is None:
            why = _check_linear_2d(chain, gm)
        if why is not None and chain.blocked is None:
            chain.blocked = why
        chains.append(chain)

    # inputs: placeholder -> unit-wise ops -> first layer
    input_chain = None
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) >= 1:
        c = _walk(gm, placeholders[0], None, "the input")
        if c.consumer is not None and c.blocked is None:
            cm = gm.get_submodule(c.consumer.target)
            ch = _layer_handler(c.consumer, gm)
            if ch.check(cm) is None and calls[c.consumer.target] == 1 and \
                    _check_linear_2d(c, gm) is None:
                input_chain = c

    # ---- analysis before: shapes and flops
    def layer_rows(g):
        out = {}
        for n in g.graph.nodes:
            h = _layer_handler(n, g)
            if h is None:
                continue
            m = g.get_submodule(n.target)
            in_shape = _shape(n.args[0]) if isinstance(n.args[0], fx.Node) else None
            out_shape = _shape(n)
            fl = h.flops(m, in_shape, out_shape) if in_shape and out_shape else 0
            out[n.target] = {"type": type(m).__name__, "out": h.n_out(m), "in": h.n_in(m),
                             "params": h.params(m), "flops": fl}
        return out

    before = layer_rows(gm)
    params_before = sum(p.numel() for p in work.parameters())
    removed_in = {t: 0 for t in before}
    removed_out = {t: 0 for t in before}
    notes = {}

    # blocked layers with dead units: refuse, or keep them and say so (a layer after
    # which no other layer comes, e.g. the last Linear before a softmax, has no units
    # to remove anyway: its units are the model's outputs)
    for c in chains:
        if c.blocked is None or not _reaches_layer(c.producer, gm):
            continue
        m = gm.get_submodule(c.producer.target)
        n_dead = int(_layer_handler(c.producer, gm).constant_out(m).sum())
        if n_dead:
            msg = (f"layer '{c.producer.target}' has {n_dead} unit(s) with all incoming "
                   f"weights zero that cannot be removed: {c.blocked}")
            if on_unsupported == "raise":
                raise ShrinkError(msg + " (pass on_unsupported='skip' to keep these units)")
            skipped[c.producer.target] = c.blocked

    active = [c for c in chains if c.blocked is None and c.consumer is not None]
    # removing units can disconnect others (upstream and downstream): to a fixed point
    unfoldable = {c.producer.target: set() for c in active}
    changed = True
    while changed:
        changed = False
        for c in active:
            changed |= _shrink_chain(c, gm, work, removed_in, removed_out, unfoldable, notes)

    # ---- inputs
    unused_inputs = kept_inputs = None
    if input_chain is not None:
        cm = gm.get_submodule(input_chain.consumer.target)
        ch = _layer_handler(input_chain.consumer, gm)
        unused = ch.unused_in(cm)
        unused_inputs = torch.nonzero(unused).flatten().tolist()
        if remove_inputs:
            if input_chain.block != 1 or any(_is_flatten(o, gm) for o in input_chain.ops):
                raise ShrinkError("remove_inputs=True: the input is flattened before the first "
                                  "layer; only inputs of shape (N, features) or (N, C, ...) "
                                  "feeding the first layer directly can be removed")
            keep = torch.nonzero(~unused).flatten()
            if keep.numel() == 0:
                keep = torch.zeros(1, dtype=torch.long)
            kept_inputs = keep.tolist()
            if len(kept_inputs) < ch.n_in(cm):
                for op in input_chain.ops:
                    if op.op == "call_module":
                        om = gm.get_submodule(op.target)
                        new = find_handler(om).slice(om, keep)
                        _set_submodule(gm, op.target, new)
                        _set_submodule(work, op.target, new)
                new = ch.slice(cm, torch.arange(ch.n_out(cm)), keep)
                _set_submodule(gm, input_chain.consumer.target, new)
                _set_submodule(work, input_chain.consumer.target, new)
    elif remove_inputs:
        raise ShrinkError("remove_inputs=True: the model input does not feed a single "
                          "supported layer through unit-wise operations")

    # ---- report and check
    new_inputs = inputs
    if kept_inputs is not None:
        idx = torch.tensor(kept_inputs, dtype=torch.long)
        new_inputs = (inputs[0].index_select(1, idx.to(inputs[0].device)),) + inputs[1:]
    work.eval()
    gm_after = _trace(work)
    try:
        with torch.no_grad():
            ShapeProp(gm_after).propagate(*new_inputs)
    except Exception as exc:  # e.g. a hard-coded reshape in forward
        raise ShrinkError(f"the shrunk model fails on example_inputs ({exc}); its forward "
                          "may hard-code a layer size (use x.flatten(1) or "
                          "x.view(x.size(0), -1))") from exc
    after = layer_rows(gm_after)

    report = ShrinkReport(
        params_before=params_before, params_after=sum(p.numel() for p in work.parameters()),
        flops_before=sum(r["flops"] for r in before.values()),
        flops_after=sum(r["flops"] for r in after.values()),
        unused_inputs=unused_inputs, kept_inputs=kept_inputs, skipped=skipped)
    for t, b in before.items():
        a = after.get(t, b)
        report.layers.append({
            "layer": t, "type": b["type"], "out_before": b["out"], "out_after": a["out"],
            "in_before": b["in"], "in_after": a["in"],
            "removed_dead_in": removed_in[t], "removed_dead_out": removed_out[t],
            "params_before": b["params"], "params_after": a["params"],
            "flops_before": b["flops"], "flops_after": a["flops"], "note": notes.get(t, "")})

    if check:
        _check(model, work, inputs, new_inputs, kept_inputs, report, atol, rtol, n_random,
               seed)
    return work, report


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
        atol = 1e-6 if atol is None else atol
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


def _unit_cols(channels, block):
    """Column indices of the next Linear for channels ``channels`` after a Flatten."""
    if block == 1:
        return channels
    return (channels[:, None] * block + torch.arange(block)[None, :]).flatten()


def _shrink_chain(c, gm, work, removed_in, removed_out, unfoldable, notes):
    """One pass on chain P -> ops -> C. Returns True if units were removed."""
    pt, ct = c.producer.target, c.consumer.target
    P, C = gm.get_submodule(pt), gm.get_submodule(ct)
    hp, hc = _layer_handler(c.producer, gm), _layer_handler(c.consumer, gm)
    n = hp.n_out(P)
    unused_cols = hc.unused_in(C)
    if c.block > 1:
        dead_out = unused_cols.reshape(n, c.block).all(dim=1)
    else:
        dead_out = unused_cols
    dead_in = hp.constant_out(P) & ~dead_out
    for j in unfoldable[pt]:
        dead_in[j] = False
    if not bool(dead_out.any() or dead_in.any()):
        return False

    delta = None
    fold = torch.nonzero(dead_in).flatten()
    if fold.numel():
        delta, bad = _fold(c, gm, P, C, fold)
        if bad:
            unfoldable[pt].update(bad)
            notes[pt] = (f"{len(unfoldable[pt])} unit(s) with zero incoming weights kept: "
                         "their constant output is not constant after the next layer "
                         "(zero padding), so it cannot be folded into a bias")
            for j in bad:
                dead_in[j] = False
            fold = torch.nonzero(dead_in).flatten()
            delta = _fold(c, gm, P, C, fold)[0] if fold.numel() else None
    remove = dead_out | dead_in
    if bool(remove.all()):
        # keep one unit as it is (always exact) rather than build zero-width layers
        remove[0] = False
        if dead_in[0]:
            dead_in[0] = False
            fold = torch.nonzero(dead_in).flatten()
            delta = _fold(c, gm, P, C, fold)[0] if fold.numel() else None
    if not bool(remove.any()):
        return False
    if delta is not None:
        hc.add_bias(C, delta.to(dtype=torch.float64))
    keep = torch.nonzero(~remove).flatten()
    removed_in[pt] += int(dead_in.sum())
    removed_out[pt] += int((remove & ~dead_in).sum())

    def put(target, new):
        _set_submodule(gm, target, new)
        _set_submodule(work, target, new)

    # P's outputs, the unit-wise modules (channels, then columns after a Flatten), C's inputs
    put(pt, hp.slice(P, keep, torch.arange(hp.n_in(P))))
    idx = keep
    for op in c.ops:
        if _is_flatten(op, gm):
            idx = _unit_cols(keep, c.block)
            continue
        if op.op == "call_module":
            om = gm.get_submodule(op.target)
            put(op.target, H.find_handler(om).slice(om, idx))
    C = gm.get_submodule(ct)
    put(ct, hc.slice(C, torch.arange(hc.n_out(C)), _unit_cols(keep, c.block)))
    # new column indices of unfoldable units
    if unfoldable[pt]:
        pos = {int(j): i for i, j in enumerate(keep.tolist())}
        unfoldable[pt] = {pos[j] for j in unfoldable[pt] if j in pos}
    return True


def _fold(c, gm, P, C, units):
    """Contribution to C's output of P's constant units ``units``; units that do not fold.

    Computed numerically in float64: P on a zero input (its constant units emit their
    bias), through the unit-wise ops, restricted to ``units``, through C minus C(0).
    """
    shp = list(_shape(c.producer.args[0]))
    shp[1] = _layer_handler(c.producer, gm).n_in(P)  # its inputs may have been shrunk
    dev = next((p.device for p in P.parameters()), torch.device("cpu"))
    x0 = torch.zeros([1] + shp[1:], dtype=torch.float64, device=dev)
    Pd = copy.deepcopy(P).double().eval()
    Cd = copy.deepcopy(C).double().eval()
    with torch.no_grad():
        t = Pd(x0)
        for op in c.ops:
            t = _apply_op(op, gm, t)
        cols = _unit_cols(units, c.block)

        def contribution(cols):
            z = torch.zeros_like(t)
            z[:, cols] = t[:, cols]
            out = Cd(z) - Cd(torch.zeros_like(t))
            flat = out.reshape(out.shape[0], out.shape[1], -1)[0]
            mean = flat.mean(dim=1)
            dev = float((flat - mean[:, None]).abs().max()) if flat.numel() else 0.0
            return mean, dev <= 1e-9 * (1.0 + (float(mean.abs().max()) if mean.numel() else 0.0))

        delta, ok = contribution(cols)
        if ok:
            return delta, []
        bad = []
        for j in units.tolist():
            if not contribution(_unit_cols(torch.tensor([j]), c.block))[1]:
                bad.append(j)
        return None, bad
