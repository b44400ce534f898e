r"""Group-lasso groups from the channel dependency graph: train what shrink can remove.

:func:`structured_groups` reads the coupled groups of :mod:`sparsefit.nn.graph` (channels
tied by residual joins, concatenation ranges, attention heads, embedding dimensions,
normalization entries) and lists, for each one, the parameter entries that carry it:

- the rows (and bias entries) of every layer producing it, the normalization weights and
  biases following it, the parameters added to it (a positional embedding's column);
- an attention head's q, k and v rows and biases;
- the columns of the layers reading it, where those entries do not already belong to a
  unit of their own (the last layer's columns, an attention output projection's columns
  when the stream it writes to is pinned).

Every parameter entry belongs to at most one group, so the group lasso over them,

.. math:: \mathrm{pen}(w) = \alpha \sum_g \sqrt{|g|}\, \|w_g\|_2,

has an exact prox (block soft-thresholding). When a whole group is zero, its channel is
the constant zero (or its bias through the activation) everywhere, and
:func:`~sparsefit.nn.shrink` removes it. :func:`regularize_structured` attaches one such
penalty to the model; :class:`~sparsefit.nn.Proximal` applies its prox after each step.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import penalties as _penalties
from . import _attach
from ._shrink_plan import statuses
from .graph import ChannelGraph, GraphError

GROUP_KINDS = ("unit", "coupled", "head", "channel")

__all__ = ["GROUP_KINDS", "CoupledPenalty", "StructuredGroup", "regularize_structured",
           "structured_groups"]


@dataclass
class StructuredGroup:
    """One coupled group: the parameter entries that go together.

    Attributes
    ----------
    name : str
        The units it is made of, e.g. ``"stem[3] + layer1.conv2[3]"`` or
        ``"enc.layers.0.self_attn head 2"``.
    kind : str
        ``"unit"`` (one layer's unit), ``"coupled"`` (units of several layers: a residual
        channel), ``"head"`` (an attention head) or ``"channel"`` (no layer produces it:
        a parameter's slice).
    slices : dict
        ``{qualified parameter name: LongTensor}`` of flat (C-order) indices.
    """

    name: str
    kind: str
    slices: dict = field(default_factory=dict)

    @property
    def size(self):
        return sum(int(i.numel()) for i in self.slices.values())

    def norm(self, model):
        """The group's L2 norm in ``model``: over all its slices together."""
        params = dict(model.named_parameters())
        sq = sum(float((params[n].detach().reshape(-1)[i].double() ** 2).sum())
                 for n, i in self.slices.items())
        return sq ** 0.5

    def __repr__(self):
        parts = ", ".join(f"{n}: {i.numel()}" for n, i in self.slices.items())
        return f"StructuredGroup({self.name!r}, {self.kind}, {{{parts}}})"


def _as_inputs(example_inputs):
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (tuple, list)) and example_inputs and all(
            isinstance(x, torch.Tensor) for x in example_inputs):
        return tuple(example_inputs)
    raise TypeError("example_inputs must be a tensor or a non-empty tuple of tensors, got "
                    f"{type(example_inputs).__name__}")


def structured_groups(model, example_inputs):
    """The group-lasso groups of ``model`` whose zeroing lets :func:`shrink` remove units.

    Parameters
    ----------
    model : torch.nn.Module
        Not modified. Traced with ``torch.fx`` (a copy in eval mode is run once).
    example_inputs : Tensor or tuple of Tensor
        Inputs for ``model(*example_inputs)``.

    Returns
    -------
    list of StructuredGroup
        Disjoint groups (no parameter entry is in two), in graph order. Groups that reach
        the model output or an operation the graph does not follow are not listed.

    Raises
    ------
    ValueError
        The model cannot be traced (the message names the operation).

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(),
    ...                           torch.nn.Linear(3, 2))
    >>> groups = sfnn.structured_groups(net, torch.randn(5, 4))
    >>> [g.name for g in groups]
    ['0[0]', '0[1]', '0[2]']
    >>> {n: i.tolist() for n, i in groups[0].slices.items()}
    {'0.weight': [0, 1, 2, 3], '0.bias': [0], '2.weight': [0, 3]}
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    inputs = _as_inputs(example_inputs)
    work = copy.deepcopy(model).eval()
    try:
        g = ChannelGraph(work, inputs)
    except GraphError as exc:
        raise ValueError(str(exc)) from exc
    st = statuses(g)
    ok = {r for r, s in st.items() if s.pin is None and not s.output}
    sizes = {n: p.numel() for n, p in work.named_parameters()}
    claims = _Claims(sizes)
    for use in g.uses.values():
        claims.add(g, ok, use.target, use.handler.out_index(use.module), use.out_atoms)
    for use in g.uses.values():
        if use.head_atoms is not None:
            claims.add(g, ok, use.target, use.handler.head_index(use.module), use.head_atoms)
    for cu in g.channel_uses.values():
        claims.add(g, ok, cu.target, cu.handler.param_index(cu.module), cu.atoms)
    for pu in g.param_uses:
        p = dict(work.named_parameters()).get(pu.name)
        if p is not None:
            idx = torch.arange(p.numel()).reshape(p.shape).movedim(pu.dim, 0)
            claims.add(g, ok, "", [(pu.name, idx.reshape(p.shape[pu.dim], -1))], pu.atoms)
    for use in g.uses.values():
        for port, atoms in use.in_atoms.items():
            claims.add(g, ok, use.target, use.handler.in_index(use.module, port), atoms)
    return [_group(st[r], slices) for r, slices in claims.groups.items() if slices]


class _Claims:
    """Parameter entries by group, each entry claimed once (first come, first served)."""

    def __init__(self, sizes):
        self.free = {n: torch.ones(k, dtype=torch.bool) for n, k in sizes.items()}
        self.groups = {}

    def add(self, g, ok, prefix, index, atoms):
        atoms = torch.as_tensor(atoms).reshape(-1)
        for name, idx in index:
            qual = f"{prefix}.{name}" if prefix else name
            if qual not in self.free:
                continue
            for j, a in enumerate(atoms.tolist()):
                root = g.find(a) if a >= 0 else None
                if root is None or root not in ok:
                    continue
                entries = idx[j]
                entries = entries[self.free[qual][entries]]
                if entries.numel():
                    self.free[qual][entries] = False
                    slot = self.groups.setdefault(root, {})
                    slot[qual] = torch.cat([slot[qual], entries]) if qual in slot else entries


def _group(status, slices):
    names, heads = [], []
    for layer, unit in status.producers:
        if isinstance(unit, str):
            heads.append(f"{layer} {unit}")
        else:
            names.append(f"{layer}[{unit}]")
    if heads:
        return StructuredGroup(" + ".join(heads + names), "head", slices)
    layers = {layer for layer, _ in status.producers}
    kind = "coupled" if len(layers) > 1 else ("unit" if layers else "channel")
    name = " + ".join(names) if names else " + ".join(slices)
    return StructuredGroup(name, kind, {n: torch.sort(i).values for n, i in slices.items()})


# ------------------------------------------------------------------- the penalty


class CoupledPenalty:
    """One group penalty over slices of several parameters (the coupled groups).

    The penalty sees one vector: the groups' entries, group after group; its ``groups``
    are their sizes, so the group norm of a group is taken over all its slices together
    and the prox zeroes a group in every parameter at once. Duck-typed like
    :class:`~sparsefit.nn.AttachedPenalty`, it lives in the module holding its first
    parameter and :class:`~sparsefit.nn.Proximal` finds it there.
    """

    group_by = "structured"
    axis = 0           # not None: the optimizer assembles the view with assemble()
    bias_name = None

    def __init__(self, penalty, groups, named_params, scale=None):
        self.groups = list(groups)
        names = []
        for grp in self.groups:
            names += [n for n in grp.slices if n not in names]
        self.param_names = names
        self._params = [named_params[n] for n in names]
        self.name = names[0].rpartition(".")[2]
        chunks = {n: [] for n in names}
        order, offset = [], {n: 0 for n in names}
        for grp in self.groups:
            for n, idx in grp.slices.items():
                chunks[n].append(idx)
                order.append((n, offset[n], idx.numel()))
                offset[n] += idx.numel()
        self._idx = [torch.cat(chunks[n]) for n in names]
        start = dict(zip(names, torch.tensor([0] + [int(i.numel()) for i in self._idx])
                         .cumsum(0).tolist()))
        self._perm = torch.cat([torch.arange(start[n] + o, start[n] + o + k)
                                for n, o, k in order])
        sizes = [grp.size for grp in self.groups]
        self.base = penalty
        self.scale = None if scale is None else [float(c) for c in scale]
        config = {**penalty.get_config(), "groups": sizes}
        if self.scale is not None:
            config["weights"] = [c * k ** 0.5 for c, k in zip(self.scale, sizes)]
        self.penalty = type(penalty).from_config(config)

    def params(self, module=None):
        return list(self._params)

    def assemble(self, *tensors):
        cat = torch.cat([t.reshape(-1)[i.to(t.device)] for t, i in zip(tensors, self._idx)])
        return cat[self._perm.to(cat.device)]

    def view(self, module=None):
        return self.assemble(*self._params)

    def value(self, module=None):
        return self.penalty.value(self.view())

    @torch.no_grad()
    def write(self, module, new):
        cat = torch.empty_like(new)
        cat[self._perm.to(new.device)] = new
        start = 0
        for p, i in zip(self._params, self._idx):
            part = cat[start:start + i.numel()]
            p.view(-1).index_copy_(0, i.to(p.device), part.to(p.dtype))
            start += i.numel()

    def targets(self, module=None):
        """One plain :class:`~sparsefit.nn._attach.Target` per parameter it spans, in the
        order :meth:`assemble` takes them (what :class:`~sparsefit.nn.Proximal` updates)."""
        from ._attach import Target

        return [Target(module, n, "plain", p) for n, p in zip(self.param_names, self._params)]

    def optimizer_entry(self, module, owner):
        """``(module, self, [(param, param group)...], None)`` for :class:`Proximal`."""
        held = [id(p) in owner for p in self._params]
        if not any(held):
            return None
        if not all(held):
            missing = [n for n, h in zip(self.param_names, held) if not h]
            raise ValueError(f"the structured groups span parameters the optimizer does not "
                             f"hold: {missing[:5]}")
        return module, self, [owner[id(p)] for p in self._params], None

    def describe(self):
        scaled = "" if self.scale is None else " (scaled weights)"
        return f"{self.base!r} over {len(self.groups)} structured groups{scaled}"

    def config(self):
        return {"penalty": _penalties.serialize(self.base), "group_by": self.group_by,
                "include_bias": False}

    def __repr__(self):
        return f"CoupledPenalty({self.describe()})"


def _group_scale(scale, groups):
    """Per-group multipliers of sqrt(|g|) from ``scale`` (None, mapping by kind, sequence)."""
    if scale is None:
        return None
    if isinstance(scale, Mapping):
        unknown = sorted(set(scale) - set(GROUP_KINDS))
        if unknown:
            raise ValueError(f"scale: unknown group kinds {unknown}; the kinds are "
                             f"{list(GROUP_KINDS)}")
        out = [scale.get(grp.kind, 1.0) for grp in groups]
        try:
            out = [float(c) for c in out]
        except (TypeError, ValueError):
            raise ValueError(f"scale: factors must be numbers, got {scale!r}") from None
    elif isinstance(scale, (str, bytes)):
        raise TypeError("scale must be a mapping {kind: factor} or a sequence of factors")
    else:
        try:
            out = [float(c) for c in scale]
        except (TypeError, ValueError):
            raise TypeError("scale must be a mapping {kind: factor} or a sequence of "
                            f"factors, got {type(scale).__name__}") from None
        if len(out) != len(groups):
            raise ValueError(f"scale has {len(out)} factors for {len(groups)} groups")
    for c in out:
        if not 0 < c < float("inf"):
            raise ValueError(f"scale: factors must be finite and > 0, got {c!r}")
    return [float(c) for c in out]


def regularize_structured(model, penalty, example_inputs=None, *, groups=None, scale=None):
    r"""Attach a group penalty over the structured groups of ``model``.

    With :class:`~sparsefit.nn.Proximal`, whole groups become exactly zero:
    channels tied by residual joins, attention heads, embedding dimensions; and
    :func:`~sparsefit.nn.shrink` then removes them.

    Parameters
    ----------
    model : torch.nn.Module
    penalty : Penalty or str
        A group penalty without explicit groups or weights (``GroupL1(alpha)``,
        ``SparseGroupL1(alpha, tau)``); its groups become the structured groups, weighted
        by :math:`\sqrt{|g|}`.
    example_inputs : Tensor or tuple of Tensor, optional
        Inputs for tracing; needed unless ``groups`` is given.
    groups : list of StructuredGroup, optional
        As :func:`structured_groups` returns (or a subset).
    scale : dict or sequence of float, optional
        Per-group strength factors :math:`c_g > 0`: the group's weight becomes
        :math:`c_g \sqrt{|g|}`. A mapping ``{kind: factor}`` over the kinds of
        :class:`StructuredGroup` (``"unit"``, ``"coupled"``, ``"head"``, ``"channel"``;
        kinds not named keep factor 1), or one factor per group, in the order of
        ``groups``. Use it to penalize groups by what
        removing them saves: an attention head or a residual channel removes far more
        computation than one feed-forward unit, but with one strength for all, the
        :math:`\sqrt{|g|}` weighting zeroes the small groups first.

    Returns
    -------
    model
        The same model, with the penalty attached (``sfnn.penalty(model)`` includes it,
        ``sfnn.unregularize(model)`` removes it).

    Raises
    ------
    ValueError
        Naming the argument: a penalty that is not a group penalty or has its own groups,
        no groups, a model that cannot be traced.

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> from sparsefit.penalties import GroupL1
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
    ...                           torch.nn.Linear(8, 2))
    >>> x = torch.randn(64, 4); y = x[:, :2]
    >>> net = sfnn.regularize_structured(net, GroupL1(0.05), x[:5])
    >>> opt = sfnn.Proximal(torch.optim.SGD(net.parameters(), lr=0.5))
    >>> for _ in range(50):
    ...     opt.zero_grad()
    ...     torch.nn.functional.mse_loss(net(x), y).backward()
    ...     _ = opt.step()
    >>> small, report = sfnn.shrink(net, x[:5])
    >>> 1 <= small[0].out_features < 8
    True

    Stronger on some kinds of groups (a model with residual channels, heads and units):

    >>> net2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
    ...                            torch.nn.Linear(8, 2))
    >>> net2 = sfnn.regularize_structured(net2, GroupL1(1.0), torch.randn(5, 4),
    ...                                   scale={"unit": 2.0})
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    pen = _attach._resolve_penalty(penalty, "penalty")
    if pen is None or not _attach._is_group_penalty(pen):
        raise ValueError(f"penalty must be a group penalty (GroupL1, SparseGroupL1), got "
                         f"{pen!r}")
    if pen.groups is not None or getattr(pen, "weights", None) is not None:
        raise ValueError("penalty: give it without groups or weights; the structured "
                         "groups are its groups")
    if groups is None:
        if example_inputs is None:
            raise ValueError("example_inputs is needed to find the groups (or give groups)")
        groups = structured_groups(model, example_inputs)
    groups = list(groups)
    factors = _group_scale(scale, groups)
    if factors is not None:
        factors = [c for c, grp in zip(factors, groups) if grp.size]
    groups = [grp for grp in groups if grp.size]
    if not groups:
        raise ValueError("groups: the model has no structured group that shrink could remove")
    named = dict(model.named_parameters())
    missing = sorted({n for grp in groups for n in grp.slices if n not in named})
    if missing:
        raise ValueError(f"groups name parameters the model does not have: {missing[:5]}")
    att = CoupledPenalty(pen, groups, named, factors)
    owner = model.get_submodule(att.param_names[0].rpartition(".")[0])
    with _attach._transaction(model):
        _attach._state(owner, create=True).items["structured"] = att
    _attach._bump()
    return model
