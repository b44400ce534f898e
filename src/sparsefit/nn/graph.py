r"""Channel dependency graph of a torch model, built with ``torch.fx``.

Every tensor the traced model computes gets, along its channel dimensions, one *atom* per
position: the channel a value belongs to. Layers (Linear, Conv, Embedding, attention)
create new atoms for their output units; operations that act on each channel (ReLU,
BatchNorm, pooling, dropout) pass them through; reshapes move them (a Flatten repeats a
channel's atom over its block of columns, a head split spreads them over two dimensions);
operations that tie channels *unite* their atoms:

- ``x + f(x)`` (a residual join): channel ``j`` of both operands is one channel;
- ``torch.cat`` along the channels: each part keeps its atoms, side by side (the consumer
  after it reads ranges of columns from each producer);
- ``q @ k.transpose(-2, -1)`` and ``att @ v`` (attention): everything that meets in one
  output value, so the q, k and v channels of one head;
- a grouped convolution: the input and output channels of each group.

The classes of united atoms are the *coupled groups*: what can only be removed together.
A group is *pinned* (never removed) when it reaches the model output, or an operation
the graph does not understand (named in the reason). :func:`~sparsefit.nn.shrink.shrink`
removes groups whose values nobody reads or which are constant (folded into the next
bias), and :func:`~sparsefit.nn.structured_groups` turns the same groups into group-lasso
groups of parameter entries.

Each atom position also carries whether its value is *constant* (does not depend on the
model input): the output of a unit whose incoming weights are zero, a parameter, a
constant through channel-wise operations, attention over constant values.
"""

from __future__ import annotations

import copy
import functools
import operator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import fx, nn
from torch.nn import functional as F

from . import _shrink_handlers as H
from ._shrink_handlers import ChannelHandler, LayerHandler, find_handler

__all__ = ["ChannelGraph", "GraphError", "trace"]


class GraphError(ValueError):
    """The model cannot be traced or analyzed."""


# ----------------------------------------------------------------------------- tracing


def _encoder_layer_forward(self, src, src_mask=None, src_key_padding_mask=None,
                           is_causal=False):
    # TransformerEncoderLayer's own forward branches on the tensor (fast path checks);
    # its slow path, which computes the same function, traces
    x = src
    if self.norm_first:
        x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask,
                               is_causal=is_causal)
        return x + self._ff_block(self.norm2(x))
    x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal=is_causal))
    return self.norm2(x + self._ff_block(x))


def _encoder_forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
    out = src
    for layer in self.layers:
        out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                    is_causal=bool(is_causal))
    return self.norm(out) if self.norm is not None else out


_TRACE_FORWARDS = {
    nn.TransformerEncoderLayer: _encoder_layer_forward,
    nn.TransformerEncoder: _encoder_forward,
}


class _Tracer(fx.Tracer):
    # registered layer types are leaves, so a user's custom layer is seen as one node;
    # torch's Transformer containers are traced through their slow path
    def is_leaf_module(self, m, qualname):
        if type(m) in _TRACE_FORWARDS and type(m).forward is _base_forward(type(m)):
            return False
        if find_handler(m) is not None and not isinstance(m, nn.Sequential):
            return True
        return super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        sub = _TRACE_FORWARDS.get(type(m))
        if sub is not None and not self.is_leaf_module(m, ""):
            forward = functools.partial(sub, m)
        return super().call_module(m, forward, args, kwargs)


def _base_forward(cls):
    for base in cls.__mro__:
        if base in _TRACE_FORWARDS:
            return base.forward
    return None


def trace(model):
    """``torch.fx.GraphModule`` of ``model`` whose nodes are the layers shrink knows.

    Raises :class:`GraphError` naming the failure when ``torch.fx`` cannot trace it.
    """
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # fx raises many kinds of errors
        raise GraphError(
            f"could not trace the model with torch.fx{_where(tracer, exc)} "
            f"({type(exc).__name__}: {exc}); shrink needs a forward without data-dependent "
            "control flow (or register the module with a handler, so it is one node)"
        ) from exc
    return fx.GraphModule(tracer.root, graph)


def _where(tracer, exc):
    """`` in module 'a.b' (Type), at file:line: code`` for a failed trace."""
    import traceback

    out = ""
    stack = [(path, t) for path, t in getattr(tracer, "module_stack", {}).values() if path]
    if stack:
        path, t = stack[-1]
        name = getattr(t, "__name__", str(t))
        out += f" in module '{path}' ({name})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/torch/" not in f.filename.replace("\\", "/")]
    if frames:
        f = frames[-1]
        out += f", at {f.filename}:{f.lineno}: {f.line}"
    return out


def describe(node, gm):
    """A readable name for a node: the layer, function or method it calls."""
    if node.op == "call_module":
        return f"layer '{node.target}' ({type(gm.get_submodule(node.target)).__name__})"
    if node.op == "call_function":
        name = getattr(node.target, "__name__", repr(node.target))
        return f"function {name} (node '{node.name}')"
    if node.op == "call_method":
        return f"method .{node.target}() (node '{node.name}')"
    return f"{node.op} '{node.name}'"


# --------------------------------------------------------------------- atoms and infos


class _UnionFind:
    def __init__(self):
        self.parent = []

    def new(self, n):
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n, dtype=np.int64)

    def find(self, a):
        p = self.parent
        while p[a] != a:
            p[a] = p[p[a]]
            a = p[a]
        return a

    def union(self, a, b):
        ra, rb = self.find(int(a)), self.find(int(b))
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def union_pairs(self, a, b):
        """Unite ``a[i]`` with ``b[i]`` wherever both are atoms (>= 0)."""
        a, b = torch.as_tensor(a).reshape(-1), torch.as_tensor(b).reshape(-1)
        keep = (a >= 0) & (b >= 0) & (a != b)
        if not bool(keep.any()):
            return
        pairs = torch.unique(torch.stack([a[keep], b[keep]], dim=1), dim=0)
        for x, y in pairs.tolist():
            self.union(x, y)


@dataclass
class Info:
    """Atoms of a tensor along its tracked dimensions (``ids`` over ``dims``; -1: none)
    and whether each position is constant."""

    dims: tuple
    ids: torch.Tensor
    const: torch.Tensor

    def full(self, shape):
        view = [shape[d] if d in self.dims else 1 for d in range(len(shape))]
        ids = self.ids.reshape(view).expand(shape).contiguous()
        const = self.const.reshape(view).expand(shape).contiguous()
        return ids, const

    @property
    def atoms(self):
        return self.ids[self.ids >= 0]


def _untracked(indep):
    return Info((), torch.tensor(-1), torch.tensor(bool(indep)))


@dataclass
class LayerUse:
    """A layer with a :class:`LayerHandler`: its atoms, and the nodes that call it."""

    target: str
    module: nn.Module
    handler: LayerHandler
    out_atoms: np.ndarray
    in_atoms: dict = field(default_factory=dict)     # port -> LongTensor (n_in,)
    head_atoms: np.ndarray | None = None
    calls: list = field(default_factory=list)       # (node, {port: (arg node, axis)})


@dataclass
class ChannelUse:
    """A layer with per-unit parameters (BatchNorm, LayerNorm, PReLU...): its atoms."""

    target: str
    module: nn.Module
    handler: ChannelHandler
    atoms: torch.Tensor
    axis: int
    calls: list = field(default_factory=list)       # (node, arg node, axis)


@dataclass
class ParamUse:
    """A parameter (or buffer) combined with channels by the forward code: ``x + self.pos``.

    ``atoms`` has one entry per coordinate of the parameter along ``dim``."""

    name: str
    dim: int
    atoms: torch.Tensor


@dataclass
class Pin:
    kind: str          # "output" or "unsupported"
    reason: str
    node: fx.Node


# ------------------------------------------------------------------------ the graph


# elementwise operations (with several tensors: their channels are joined)
_BINARY_F = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub,
             torch.mul, torch.div, operator.iadd, operator.isub, operator.imul, operator.gt,
             operator.lt, operator.ge, operator.le, operator.eq, operator.ne, torch.where,
             torch.maximum, torch.minimum, torch.gt, torch.lt, torch.ge, torch.le}
_BINARY_M = {"add", "sub", "mul", "div", "add_", "sub_", "mul_", "div_", "gt", "lt", "ge",
             "le", "eq", "ne", "maximum", "minimum", "masked_fill", "where"}
_MOVE_F = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, torch.permute,
           torch.transpose, torch.t, torch.movedim, torch.swapaxes}
_MOVE_M = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "permute",
           "transpose", "t", "movedim", "swapaxes", "expand", "expand_as", "view_as",
           "reshape_as"}
_RESIZE = {"view", "reshape", "expand", "unflatten", torch.reshape}
_SPLIT_F = {torch.chunk, torch.split, torch.unbind, torch.tensor_split}
_SPLIT_M = {"chunk", "split", "unbind", "tensor_split"}
_REDUCE_F = {torch.mean, torch.sum, torch.amax, torch.amin, torch.max, torch.min,
             torch.std, torch.var, torch.logsumexp, torch.prod}
_REDUCE_M = {"mean", "sum", "amax", "amin", "max", "min", "std", "var", "logsumexp", "prod"}
_SOFTMAX_F = {torch.softmax, F.softmax, torch.log_softmax, F.log_softmax}
_SOFTMAX_M = {"softmax", "log_softmax"}
_MATMUL_F = {torch.matmul, operator.matmul, torch.bmm}
_MATMUL_M = {"matmul", "bmm"}
_NONTENSOR_M = {"size", "dim", "numel", "ndimension", "nelement"}


def _concrete(obj, values):
    return fx.node.map_arg(obj, lambda n: values.get(n))


def _is_tensor(v):
    return isinstance(v, torch.Tensor)


class ChannelGraph:
    """The channel dependency graph of ``model`` on ``example_inputs`` (see the module
    documentation).

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode; not modified (its float64 copy is run once).
    example_inputs : tuple of Tensor

    Attributes
    ----------
    gm : torch.fx.GraphModule
        The traced model (sharing ``model``'s submodules and parameters).
    values : dict
        Node -> its value on the example inputs (float64 where possible).
    uses, channel_uses : dict
        Target -> :class:`LayerUse` / :class:`ChannelUse`.
    param_uses : list of ParamUse
    readers : list of dict
        Layers that read channels (``kind`` "layer") and LayerNorms (``kind`` "norm"),
        with the positions they read.
    pins : dict
        Atom -> :class:`Pin`.
    """

    def __init__(self, model, example_inputs):
        self.model = model
        self.gm = trace(model)
        self.uf = _UnionFind()
        self.info, self.values = {}, {}
        self.uses, self.channel_uses, self.param_uses = {}, {}, []
        self.readers, self.resizes, self.pins = [], [], {}
        self.sum_to_one = set()
        self.names = _module_names(model)
        self._run(example_inputs)
        for node in self.gm.graph.nodes:
            self._visit(node)
        self._merge_param_uses()

    # ----------------------------------------------------------------- running
    def _run(self, inputs):
        # float64 copy: the constants that fold into biases come from these values
        err = None
        for dtype in (torch.float64, None):
            gm = copy.deepcopy(self.gm)
            if dtype is not None:
                gm = gm.to(dtype)
            ins = tuple(x.to(dtype) if dtype is not None and x.is_floating_point() else x
                        for x in inputs)
            rec = {}
            try:
                with torch.no_grad():
                    _Recorder(gm, rec).run(*ins)
            except Exception as exc:  # noqa: BLE001 - retried in the model's dtype
                err = exc
                continue
            # the copy has its own nodes: map the values back by name
            self.values = {n: rec[n.name] for n in self.gm.graph.nodes if n.name in rec}
            self.dtype = dtype
            return
        raise GraphError(f"running the model on example_inputs failed: {err}") from err

    def shape(self, node):
        v = self.values.get(node)
        return tuple(v.shape) if _is_tensor(v) else None

    # ----------------------------------------------------------------- helpers
    def _get(self, arg):
        return self.info.get(arg) if isinstance(arg, fx.Node) else None

    def find(self, a):
        return self.uf.find(int(a))

    def pin(self, atoms, node, reason, kind="unsupported"):
        for a in torch.as_tensor(atoms).reshape(-1).tolist():
            if a >= 0:
                self.pins.setdefault(a, Pin(kind, reason, node))

    def _pin_all(self, obj, node, reason, kind="unsupported"):
        def visit(n):
            i = self.info.get(n)
            for t in (i if isinstance(i, list) else [i]):
                if isinstance(t, Info):
                    self.pin(t.atoms, node, reason, kind)
            return n
        fx.node.map_arg(obj, visit)

    def _indep(self, obj):
        ok = [True]

        def visit(n):
            i = self.info.get(n)
            for t in (i if isinstance(i, list) else [i]):
                if isinstance(t, Info) and not (bool(t.const.all()) and not t.dims
                                                and int(t.ids) < 0):
                    ok[0] = False
            if n.op == "placeholder":
                ok[0] = False
            return n
        fx.node.map_arg(obj, visit)
        return ok[0]

    def compress(self, ids, const, node):
        """The :class:`Info` of full id/const tensors (their varying dimensions)."""
        if ids.dim() == 0:
            return Info((), ids.clone(), const.clone())
        dims = tuple(d for d in range(ids.dim()) if ids.shape[d] > 1
                     and not bool((ids == ids.narrow(d, 0, 1)).all()))
        index = tuple(slice(None) if d in dims else 0 for d in range(ids.dim()))
        small = ids[index]
        view = [ids.shape[d] if d in dims else 1 for d in range(ids.dim())]
        if not bool((small.reshape(view) == ids).all()):
            self.pin(ids, node, f"{describe(node, self.gm)} mixes channels with other "
                     "dimensions in a way shrink does not follow")
            return _untracked(False)
        other = tuple(d for d in range(ids.dim()) if d not in dims)
        c = const
        for d in sorted(other, reverse=True):
            c = c.all(dim=d)
        return Info(dims, small.contiguous(), c.contiguous())

    def _full(self, arg):
        info, shape = self._get(arg), self.shape(arg)
        if not isinstance(info, Info):
            info = _untracked(self._indep(arg))
        return info.full(shape)

    def _along(self, info, shape, axis, node, what):
        """Atoms and constants of each position along ``axis`` (other dims must not
        carry channels)."""
        axis %= len(shape)
        if any(d != axis for d in info.dims):
            self.pin(info.atoms, node, f"{what} reads dimension {axis} of a tensor whose "
                     f"channels are along dimensions {info.dims}")
        ids, const = info.full(shape)
        ids = ids.movedim(axis, -1).reshape(-1, shape[axis])
        const = const.movedim(axis, -1).reshape(-1, shape[axis])
        return ids[0].clone(), const.all(dim=0)

    # ----------------------------------------------------------------- visiting
    def _visit(self, node):
        v = self.values.get(node)
        if node.op == "placeholder":
            self.info[node] = _untracked(False) if _is_tensor(v) else None
        elif node.op == "get_attr":
            self.info[node] = _untracked(True) if _is_tensor(v) else None
        elif node.op == "output":
            self._pin_all(node.args, node, "it is an output of the model", kind="output")
        elif node.op == "call_module":
            self._module(node)
        else:
            self._call(node)

    def _set_out(self, node, ids, const):
        v = self.values.get(node)
        if _is_tensor(v):
            self.info[node] = self.compress(ids, const, node)
        else:
            self.info[node] = None

    def _opaque(self, node, reason=None):
        reason = reason or (f"{describe(node, self.gm)} is not something shrink can follow "
                            "(register a handler or a unit-wise function)")
        self._pin_all((node.args, node.kwargs), node, reason)
        v, indep = self.values.get(node), self._indep((node.args, node.kwargs))
        if _is_tensor(v):
            self.info[node] = _untracked(indep)
        elif isinstance(v, (tuple, list)) and any(_is_tensor(x) for x in v):
            self.info[node] = [_untracked(indep) if _is_tensor(x) else None for x in v]
        else:
            self.info[node] = None

    # -- modules
    def _module(self, node):
        m = self.gm.get_submodule(node.target)
        h = find_handler(m)
        if isinstance(h, LayerHandler):
            return self._layer(node, m, h)
        if isinstance(h, ChannelHandler):
            return self._channel(node, m, h)
        if isinstance(m, (nn.Softmax, nn.LogSoftmax)):
            return self._softmax(node, m.dim)
        if isinstance(m, nn.Flatten):
            return self._move(node, lambda t: m(t))
        return self._opaque(node, f"{describe(node, self.gm)} has no shrink handler "
                            "(register one with register_shrink_handler)")

    def _blockers(self, node, m, h):
        why = h.check(m)
        if why is None and len(self.names.get(id(m), ())) > 1:
            why = f"module '{node.target}' is registered under several names"
        if why is None and any(len(self.names.get(id(p), ())) > 1
                               for p in m.parameters(recurse=False)):
            why = f"the parameters of '{node.target}' are shared with another module"
        return why

    def _layer(self, node, m, h):
        use = self.uses.get(node.target)
        first = use is None
        if first:
            use = LayerUse(node.target, m, h, self.uf.new(h.n_out(m)))
            if hasattr(h, "head_state"):
                use.head_atoms = self.uf.new(h.n_heads(m))
            self.uses[node.target] = use
        why = self._blockers(node, m, h)
        ports, in_const = {}, {}
        for port in h.ports(m):
            arg = _port_arg(node, m, port)
            if not isinstance(arg, fx.Node) or self.shape(arg) is None:
                why = why or f"its input {port} is not a tensor shrink can follow"
                continue
            info = self._get(arg)
            if not isinstance(info, Info):
                info = _untracked(self._indep(arg))
            ids, const = self._along(info, self.shape(arg), h.in_axis, node,
                                     describe(node, self.gm))
            if port in use.in_atoms:
                self.uf.union_pairs(use.in_atoms[port], ids)
            else:
                use.in_atoms[port] = ids
            ports[port] = (arg, h.in_axis % len(self.shape(arg)))
            in_const[port] = const
            if h.couplings(m):
                continue  # a grouped convolution reads its groups' own channels
            self.readers.append({"kind": "layer", "target": node.target, "port": port,
                                 "node": node, "arg": arg, "axis": ports[port][1],
                                 "const": const})
        use.calls.append((node, ports))
        if why is not None:
            self._pin_use(use, node, f"{describe(node, self.gm)}: {why}")
        for outs, ins in h.couplings(m) or ():
            # a grouped convolution: each group's inputs and outputs go together
            group = [torch.as_tensor(use.out_atoms[outs])]
            group += [use.in_atoms[port][ins] for port in use.in_atoms]
            group = torch.cat(group)
            self.uf.union_pairs(group, torch.full_like(group, int(group[0])))
        const = h.constant_out(m).cpu()
        reads = h.reads(m)
        if reads is not None and 0 in in_const:
            const = const | ~(reads.cpu() & ~in_const[0][None, :]).any(dim=1)
        if hasattr(h, "head_state"):
            # attention weights sum to one: when every head is unread or averages constant
            # values (zero value rows, or a constant value input), the output is constant
            unused, hconst = h.head_state(m)
            if bool((unused | hconst).all().item()) or (
                    2 in in_const and bool(in_const[2].all())):
                const = torch.ones_like(const)
        out = torch.as_tensor(use.out_atoms)
        v = self.values.get(node)
        if hasattr(h, "head_state"):
            self.info[node] = [self._out_info(v[0], out, const, h.out_axis), None]
            self.head_nodes = getattr(self, "head_nodes", []) + [node]
        else:
            self.info[node] = self._out_info(v, out, const, h.out_axis)

    def _pin_use(self, use, node, reason):
        self.pin(use.out_atoms, node, reason)
        for a in use.in_atoms.values():
            self.pin(a, node, reason)
        if use.head_atoms is not None:
            self.pin(use.head_atoms, node, reason)

    def _out_info(self, v, atoms, const, axis):
        if not _is_tensor(v):
            return None
        axis %= v.dim()
        return Info((axis,), atoms.clone(), const.clone())

    def _channel(self, node, m, h):
        arg = node.args[0] if node.args else None
        if not isinstance(arg, fx.Node) or self.shape(arg) is None:
            return self._opaque(node)
        info = self._get(arg)
        if not isinstance(info, Info):
            info = _untracked(self._indep(arg))
        shape = self.shape(arg)
        why = self._blockers(node, m, h)
        mixed = set(info.dims) & {d % len(shape) for d in h.mixes(m, len(shape))}
        if why is None and mixed:
            why = f"it combines values along dimension(s) {sorted(mixed)}, which hold channels"
        if why is not None:
            self.pin(info.atoms, node, f"{describe(node, self.gm)}: {why}")
        if h.has_params(m) or h.normalizes:
            axis = h.axis % len(shape)
            ids, const = self._along(info, shape, axis, node, describe(node, self.gm))
            use = self.channel_uses.get(node.target)
            if use is None:
                self.channel_uses[node.target] = ChannelUse(node.target, m, h, ids, axis)
            else:
                self.uf.union_pairs(use.atoms, ids)
            self.channel_uses[node.target].calls.append((node, arg, axis))
            if h.normalizes:
                self.readers.append({"kind": "norm", "target": node.target, "port": 0,
                                     "node": node, "arg": arg, "axis": axis, "const": const})
            out_const = h.constant_out(m, const)
            self.info[node] = self._out_info(self.values[node], ids, out_const, axis)
            return
        self.info[node] = Info(info.dims, info.ids.clone(), info.const.clone()) \
            if _is_tensor(self.values.get(node)) and self.shape(node) is not None \
            and len(self.shape(node)) == len(shape) else self._reshaped(node, info, shape)

    def _reshaped(self, node, info, shape):
        if info.dims:
            self.pin(info.atoms, node, f"{describe(node, self.gm)} changes the tensor's rank")
        return _untracked(bool(info.const.all()) and not info.dims and int(info.ids) < 0)

    # -- functions and methods
    def _call(self, node):
        t = node.target
        meth = node.op == "call_method"
        v = self.values.get(node)
        if not meth and t is getattr:
            self.info[node] = None
            return
        if meth and t in _NONTENSOR_M:
            self.info[node] = None
            return
        if not _is_tensor(v) and not (isinstance(v, (tuple, list)) and any(
                _is_tensor(x) for x in v)):
            if t is operator.getitem and isinstance(self._get(node.args[0]), list):
                return self._getitem(node)
            tensor_in = [n for n in node.all_input_nodes if _is_tensor(self.values.get(n))]
            if tensor_in:
                return self._opaque(node)
            self.info[node] = None
            return
        if t is operator.getitem:
            return self._getitem(node)
        if (meth and t in _BINARY_M) or (not meth and t in _BINARY_F):
            tensors = [a for a in list(node.args) + list(node.kwargs.values())
                       if isinstance(a, fx.Node) and _is_tensor(self.values.get(a))]
            if len(tensors) >= 2:
                return self._elementwise(node, tensors)
            return self._unit(node, tensors[0] if tensors else None)
        if (meth and H.is_unit_method(t)) or (not meth and H.is_unit_function(t)):
            return self._unit(node)
        if not meth and H.is_pool_function(t):
            return self._pool(node)
        if not meth and t in (torch.cat, torch.concat, torch.concatenate):
            return self._cat(node)
        if (meth and t in _MOVE_M) or (not meth and t in _MOVE_F):
            return self._move(node)
        if (meth and t in _SPLIT_M) or (not meth and t in _SPLIT_F):
            return self._split(node)
        if (meth and t in _REDUCE_M) or (not meth and t in _REDUCE_F):
            return self._reduce(node)
        if (meth and t in _SOFTMAX_M) or (not meth and t in _SOFTMAX_F):
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            return self._softmax(node, dim)
        if (meth and t in _MATMUL_M) or (not meth and t in _MATMUL_F):
            return self._matmul_node(node)
        if not meth and t is F.scaled_dot_product_attention:
            return self._sdpa(node)
        return self._opaque(node)

    def _unit(self, node, arg=None):
        arg = node.args[0] if arg is None else arg
        info = self._get(arg)
        if not isinstance(info, Info) or self.shape(arg) != self.shape(node):
            if isinstance(info, Info) and info.dims:
                return self._move(node)
            self.info[node] = _untracked(self._indep((node.args, node.kwargs)))
            return
        self.info[node] = Info(info.dims, info.ids.clone(), info.const.clone())

    def _pool(self, node):
        arg = node.args[0]
        info, shape = self._get(arg), self.shape(arg)
        if not isinstance(info, Info):
            self.info[node] = _untracked(self._indep(arg))
            return
        mixed = [d for d in info.dims if d >= 2]
        if mixed:
            self.pin(info.atoms, node, f"{describe(node, self.gm)} pools over dimension(s) "
                     f"{mixed}, which hold channels")
        self.info[node] = Info(info.dims, info.ids.clone(), info.const.clone()) \
            if len(self.shape(node)) == len(shape) else self._reshaped(node, info, shape)

    # probes: apply a shape-only operation to the full id and const tensors
    def _apply(self, node, t, fn=None):
        args = _concrete(node.args[1:], self.values)
        kwargs = _concrete(node.kwargs, self.values)
        if fn is not None:
            return fn(t)
        if node.op == "call_method":
            return getattr(t, node.target)(*args, **kwargs)
        return node.target(t, *args, **kwargs)

    def _move(self, node, fn=None):
        arg = node.args[0]
        ids, const = self._full(arg)
        try:
            out_ids = self._apply(node, ids, fn)
            out_const = self._apply(node, const, fn)
        except Exception:  # noqa: BLE001 - e.g. a view that needs contiguous memory
            return self._opaque(node)
        self._set_out(node, out_ids, out_const)
        info = self.info.get(node)
        src = self._get(arg)
        if isinstance(info, Info) and isinstance(src, Info):
            if len(info.dims) > len(src.dims) and len(info.dims) > 1:
                # one channel dimension split into several (heads): a reshape of fixed
                # sizes can only lose whole rows of the last one
                self._unite_along(info.ids, info.dims.index(info.dims[-1]))
            target = node.target if node.op != "call_module" else None
            if target in _RESIZE:
                self.resizes.append(node)

    def _unite_along(self, ids, axis):
        """Unite the atoms along ``axis`` of ``ids`` (each line is one group)."""
        first = ids.narrow(axis, 0, 1).expand_as(ids)
        self.uf.union_pairs(first, ids)

    def _getitem(self, node):
        src = self._get(node.args[0])
        if isinstance(src, list):
            self.info[node] = src[node.args[1]]
            if node.args[1] == 1 and node.args[0] in getattr(self, "head_nodes", []) \
                    and node.users:
                use = self.uses[node.args[0].target]
                self.pin(use.head_atoms, node, f"the attention weights of layer "
                         f"'{node.args[0].target}' are used (they average over the heads)")
            return
        if not isinstance(src, Info) or not src.dims:
            return self._move(node)
        idx = node.args[1]
        idx = _concrete(idx if isinstance(idx, tuple) else (idx,), self.values)
        shape = self.shape(node.args[0])
        n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
        d = 0
        for i in idx:
            if i is Ellipsis:
                d += len(shape) - n_real
                continue
            if i is None:
                continue
            if d in src.dims:
                if isinstance(i, int):
                    self._unite_along(src.ids, src.dims.index(d))
                elif not (isinstance(i, slice) and i == slice(None)) and not (
                        isinstance(i, slice) and i.indices(shape[d]) == (0, shape[d], 1)):
                    self.pin(src.atoms, node, f"{describe(node, self.gm)} slices a channel "
                             "dimension with constant indices")
            d += 1
        self._move(node)

    def _split(self, node):
        arg = node.args[0]
        src, shape = self._get(arg), self.shape(arg)
        dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0)
        if node.target in ("unbind", torch.unbind):
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        dim = _concrete(dim, self.values) % len(shape)
        outs = self.values[node]
        if isinstance(src, Info) and dim in src.dims:
            sizes = {o.shape[dim] if o.dim() == len(shape) else 1 for o in outs}
            if len(sizes) != 1:
                self.pin(src.atoms, node, f"{describe(node, self.gm)} splits a channel "
                         "dimension into unequal parts")
            else:
                k = src.dims.index(dim)
                parts = src.ids.reshape(*src.ids.shape[:k], len(outs), -1,
                                        *src.ids.shape[k + 1:])
                self._unite_along(parts, k)
        ids, const = self._full(arg)
        pieces = self._apply(node, ids)
        cpieces = self._apply(node, const)
        self.info[node] = [self.compress(a, b, node) for a, b in zip(pieces, cpieces)]
        if any(isinstance(a, int) for a in _concrete(node.args[1:2], self.values)) and \
                node.target in ("split", torch.split) and isinstance(src, Info) \
                and dim in src.dims:
            self.resizes.append(node)

    def _reduce(self, node):
        arg = node.args[0]
        src, shape = self._get(arg), self.shape(arg)
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        dims = _concrete(dims, self.values)
        keep = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
        if dims is None or (isinstance(dims, (tuple, list)) and len(dims) == 0):
            dims = tuple(range(len(shape)))
        dims = tuple(d % len(shape) for d in (dims if isinstance(dims, (tuple, list))
                                              else (dims,)))
        if isinstance(src, Info) and set(dims) & set(src.dims):
            self.pin(src.atoms, node, f"{describe(node, self.gm)} reduces over a channel "
                     "dimension")
        ids, const = self._full(arg)
        for d in sorted(dims, reverse=True):
            ids = ids.narrow(d, 0, 1)
            const = const.all(dim=d, keepdim=True)
            if not keep:
                ids, const = ids.squeeze(d), const.squeeze(d)
        v = self.values[node]
        if _is_tensor(v):
            self._set_out(node, ids, const)
        else:  # (values, indices)
            info = self.compress(ids, const, node)
            self.info[node] = [info, info]

    def _softmax(self, node, dim):
        arg = node.args[0]
        src, shape = self._get(arg), self.shape(arg)
        dim = _concrete(dim, self.values) % len(shape)
        if isinstance(src, Info) and dim in src.dims:
            self.pin(src.atoms, node, f"{describe(node, self.gm)} normalizes over a channel "
                     "dimension")
        self._unit(node)
        if dim == len(shape) - 1 and node.target not in (torch.log_softmax, F.log_softmax,
                                                         "log_softmax"):
            self.sum_to_one.add(node)

    def _rows_sum_to_one(self, node):
        while isinstance(node, fx.Node):
            if node in self.sum_to_one:
                return True
            is_drop = (node.op == "call_function" and node.target in (F.dropout,)) or (
                node.op == "call_module"
                and isinstance(self.gm.get_submodule(node.target), (nn.Dropout, nn.Identity)))
            if not is_drop:
                return False
            node = node.args[0]
        return False

    def _elementwise(self, node, tensors):
        fulls = [self._full(t) for t in tensors]
        out = torch.broadcast_tensors(*[f for pair in fulls for f in pair])
        ids, consts = out[0::2], out[1::2]
        joined = ids[0]
        for f in ids[1:]:
            self.uf.union_pairs(joined, f)
            joined = torch.where(joined >= 0, joined, f)
        for t in tensors:
            self._adopt(t, self.shape(t), joined, node)
        const = consts[0]
        for c in consts[1:]:
            const = const & c
        self._set_out(node, joined, const)

    def _adopt(self, x, shape_x, atoms, node):
        """``x`` (without atoms) meets positions holding ``atoms``: if it varies along
        them it must be sliced with them (a parameter), or it pins them."""
        info = self._get(x)
        if isinstance(info, Info) and int(info.ids.max()) >= 0:
            return
        so = tuple(atoms.shape)
        lead = len(so) - len(shape_x)
        varying = [d for d in range(len(so)) if d >= lead and shape_x[d - lead] > 1
                   and so[d] > 1 and bool((atoms != atoms.narrow(d, 0, 1)).any())]
        if not varying or not bool((atoms >= 0).any()):
            return
        probe = self._param_probe(x)
        if probe is None:
            self.pin(atoms, node, f"{describe(node, self.gm)} combines channels with a "
                     "tensor computed from the input (not a parameter) that shrink does "
                     "not track")
            return
        name, flat = probe
        flat = flat.expand(so)
        keep = atoms >= 0
        self._record_param(name, flat[keep], atoms[keep], node)

    def _param_probe(self, x):
        """``(parameter name, flat indices of its entries at each position of x)`` if
        ``x`` is a parameter or buffer seen through indexing and reshaping, else None."""
        chain = []
        while x.op != "get_attr":
            ok = (x.op == "call_function" and x.target in (operator.getitem,)) or (
                x.op == "call_method" and x.target in (_MOVE_M | {"contiguous", "to", "float",
                                                                  "double", "clone"}))
            if not ok or not x.args or not isinstance(x.args[0], fx.Node):
                return None
            chain.append(x)
            x = x.args[0]
        p = self.values.get(x)
        if not _is_tensor(p):
            return None
        t = torch.arange(p.numel()).reshape(p.shape)
        for n in reversed(chain):
            try:
                t = self._apply(n, t)
            except Exception:  # noqa: BLE001
                return None
        return x.target, t

    def _record_param(self, name, flat, atoms, node):
        """Parameter ``name``'s entries ``flat`` hold channels ``atoms``: find the
        dimension along which it is sliced with them."""
        p = self.values[next(n for n in self.gm.graph.nodes
                             if n.op == "get_attr" and n.target == name)]
        shape = tuple(p.shape)
        roots = torch.tensor([self.find(a) for a in atoms.tolist()], dtype=torch.long)
        coords = torch.stack(torch.unravel_index(flat, shape), dim=1) if shape else None
        for dim in range(len(shape)):
            if shape[dim] < 2:
                continue
            line = torch.full((shape[dim],), -1, dtype=torch.long)
            line[coords[:, dim]] = atoms
            lroots = torch.full((shape[dim],), -1, dtype=torch.long)
            lroots[coords[:, dim]] = roots
            # one channel per coordinate along dim, every coordinate covered
            if bool((line >= 0).all()) and bool((lroots[coords[:, dim]] == roots).all()):
                self.param_uses.append(ParamUse(name, dim, line))
                return
        self.pin(atoms, node, f"parameter '{name}' is combined with channels in a way "
                 "shrink cannot slice")

    def _merge_param_uses(self):
        by = {}
        for u in self.param_uses:
            other = by.setdefault((u.name, u.dim), u)
            if other is not u:
                self.uf.union_pairs(other.atoms, u.atoms)
        self.param_uses = list(by.values())

    def _cat(self, node):
        parts = node.args[0] if node.args else node.kwargs.get("tensors")
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        so = self.shape(node)
        dim = _concrete(dim, self.values) % len(so)
        fulls = [self._full(p) for p in parts]
        along = any(isinstance(self._get(p), Info) and dim in self._get(p).dims
                    for p in parts)
        ids_parts, const_parts = [], []
        for p, (f, c) in zip(parts, fulls):
            tracked = bool((f >= 0).any())
            if along and not tracked:
                # a part with no channels of its own: new ones, one per position
                n = f.shape[dim]
                fresh = torch.as_tensor(self.uf.new(n))
                view = [1] * f.dim()
                view[dim] = n
                f = fresh.reshape(view).expand(f.shape).contiguous()
                self._adopt_or_pin(p, f, node, "it is concatenated with channels")
            ids_parts.append(f)
            const_parts.append(c)
        if not along:
            ref = None
            for f in ids_parts:
                line = f.narrow(dim, 0, 1)
                if bool((line >= 0).any()):
                    ref = line if ref is None else ref
                    self.uf.union_pairs(ref.expand_as(line), line)
            if ref is not None:
                for i, (p, f) in enumerate(zip(parts, ids_parts)):
                    if not bool((f >= 0).any()):
                        # (a parameter: sliced with the channels; else they are pinned)
                        self._adopt(p, self.shape(p), ref.expand_as(f), node)
                        ids_parts[i] = ref.expand_as(f).contiguous()
        self._set_out(node, torch.cat(ids_parts, dim), torch.cat(const_parts, dim))

    def _adopt_or_pin(self, p, atoms, node, why):
        probe = self._param_probe(p) if isinstance(p, fx.Node) else None
        if probe is None:
            self.pin(atoms, node, f"{describe(node, self.gm)}: a tensor shrink does not track "
                     f"({why})")
            return
        name, flat = probe
        self._record_param(name, flat.reshape(-1), atoms.reshape(-1), node)

    def _matmul_node(self, node):
        a, b = node.args[0], node.args[1]
        if len(self.shape(a)) < 2 or len(self.shape(b)) < 2:
            return self._opaque(node)
        fa, ca = self._full(a)
        fb, cb = self._full(b)
        ids, const = self._matmul(node, fa, ca, fb, cb, self._rows_sum_to_one(a))
        self._set_out(node, ids, const)

    def _matmul(self, node, fa, ca, fb, cb, a_sums_to_one):
        """Atoms of ``A @ B``: everything that meets in one output value is united."""
        batch = torch.broadcast_shapes(fa.shape[:-2], fb.shape[:-2])
        fa = fa.expand(*batch, *fa.shape[-2:])
        ca = ca.expand(*batch, *ca.shape[-2:])
        fb = fb.expand(*batch, *fb.shape[-2:])
        cb = cb.expand(*batch, *cb.shape[-2:])
        ta, tb = bool((fa >= 0).any()), bool((fb >= 0).any())
        if ta != tb:
            lone = fa if ta else fb
            k_tracked = bool(((fa if ta else fb.transpose(-2, -1)) >= 0).any())
            if k_tracked:
                self.pin(lone, node, f"{describe(node, self.gm)} multiplies channels by a "
                         "tensor shrink does not track (a hand-written linear layer?)")
        self.uf.union_pairs(fa, fa[..., :1].expand_as(fa))
        self.uf.union_pairs(fb, fb[..., :1, :].expand_as(fb))
        a0 = fa[..., :, :1]
        b0 = fb[..., :1, :]
        a0, b0 = torch.broadcast_tensors(a0, b0)
        self.uf.union_pairs(a0, b0)
        ids = torch.where(a0 >= 0, a0, b0)
        b_const = cb.all(dim=-2, keepdim=True)
        const = ca.all(dim=-1, keepdim=True) & b_const
        if a_sums_to_one:
            const = const | b_const
        return ids, const.expand(ids.shape)

    def _sdpa(self, node):
        q, k, v = node.args[:3]
        if node.kwargs.get("enable_gqa"):
            return self._opaque(node)
        mask = node.args[3] if len(node.args) > 3 else node.kwargs.get("attn_mask")
        if isinstance(mask, fx.Node):
            info = self._get(mask)
            if isinstance(info, Info) and int(info.ids.max()) >= 0:
                self.pin(info.atoms, node, f"{describe(node, self.gm)}: its mask holds channels")
        fq, cq = self._full(q)
        fk, ck = self._full(k)
        fv, cv = self._full(v)
        s_ids, s_const = self._matmul(node, fq, cq, fk.transpose(-2, -1), ck.transpose(-2, -1),
                                      False)
        ids, const = self._matmul(node, s_ids, s_const, fv, cv, True)
        self._set_out(node, ids, const)


class _Recorder(fx.Interpreter):
    def __init__(self, gm, values):
        super().__init__(gm)
        self.recorded = values

    def run_node(self, n):
        out = super().run_node(n)
        self.recorded[n.name] = out
        return out


def _port_arg(node, m, port):
    if port < len(node.args):
        return node.args[port]
    import inspect

    try:
        names = list(inspect.signature(m.forward).parameters)
    except (TypeError, ValueError):
        return None
    return node.kwargs.get(names[port]) if port < len(names) else None


def _module_names(model):
    """id of each module and parameter -> the names it has (several: shared)."""
    names = {}
    for name, m in model.named_modules(remove_duplicate=False):
        names.setdefault(id(m), set()).add(name)
        for pname, p in m.named_parameters(recurse=False):
            names.setdefault(id(p), set()).add(f"{name}.{pname}" if name else pname)
    return names
