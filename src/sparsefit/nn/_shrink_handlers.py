"""Registry of per-layer-type handlers used by :func:`sparsefit.nn.shrink.shrink` and
:func:`sparsefit.nn.structured_groups`.

Two kinds of handlers, as in Torch-Pruning:

- :class:`LayerHandler`: a layer whose output units are computed from its input units by
  weights (Linear, Conv, Embedding, MultiheadAttention). It says which outputs are
  constant (all incoming weights zero), which inputs are unused (all outgoing weights
  zero), which parameter entries belong to each unit, how to fold a constant input into
  its bias, and builds a sliced copy.
- :class:`ChannelHandler`: a layer that acts on each unit (channel, feature) separately
  (activations, BatchNorm with running statistics, pooling, dropout) or normalizes over
  them (LayerNorm): units pass through it, so it only has to slice its own per-unit
  parameters.

Functions and tensor methods applied channel by channel (``torch.relu``, ``x.tanh()``,
``x * 2``) are registered by :func:`register_function`.

A new layer type is one handler: register it with :func:`register_handler`. The tests
build their table of cases from :func:`handlers`, so a handler without a test case fails
a test.
"""

from __future__ import annotations

import copy
import math
import operator

import torch
from torch import nn
from torch.nn import functional as F

from ._modules import ReducedLayerNorm, ShrunkMultiheadAttention

__all__ = [
    "BatchNormHandler",
    "ChannelHandler",
    "ConvHandler",
    "EmbeddingHandler",
    "LayerHandler",
    "LayerNormHandler",
    "LinearHandler",
    "MultiheadAttentionHandler",
    "PReLUHandler",
    "PoolHandler",
    "find_handler",
    "handlers",
    "register_function",
    "register_handler",
]


def _index(t, dim, keep):
    return t.detach().index_select(dim, keep.to(t.device)).clone()


def _param(t, like):
    return nn.Parameter(t, requires_grad=like.requires_grad)


def _rows_index(shape, axis):
    """Flat indices of each slice along ``axis`` of a tensor of ``shape``: ``(n, rest)``."""
    idx = torch.arange(math.prod(shape)).reshape(shape)
    return idx.movedim(axis, 0).reshape(shape[axis], -1)


class LayerHandler:
    """Base class of handlers for layers with units (rows/filters) and inputs (columns).

    Subclass and register with :func:`register_handler` to let :func:`shrink` remove the
    units of a custom layer. By default the layer reads dimension 1 of its input and
    writes dimension 1 of its output (features of 2-D tensors, channels of
    ``(N, C, ...)`` tensors; set ``in_axis``/``out_axis`` to -1 for a layer acting on the
    last dimension), its output is affine in its input (a unit whose incoming weights are
    all zero is constant), and its parameters are ``weight`` (units first, inputs second)
    and ``bias``. Override :meth:`n_out`, :meth:`n_in`, :meth:`constant_out`,
    :meth:`unused_in`, :meth:`slice` and :meth:`add_bias` at least.
    """

    in_axis = 1
    out_axis = 1

    def check(self, module):
        """A reason why this module cannot be shrunk (str), or None."""
        return

    def ports(self, module):
        """Argument positions of the inputs whose channels the layer reads."""
        return [0]

    def n_out(self, module):  # pragma: no cover - interface
        raise NotImplementedError

    def n_in(self, module, port=0):  # pragma: no cover - interface
        raise NotImplementedError

    def constant_out(self, module):
        """Bool tensor ``(n_out,)``: units whose incoming weights are all exactly zero."""
        raise NotImplementedError  # pragma: no cover - interface

    def unused_in(self, module, port=0):
        """Bool tensor ``(n_in,)``: inputs whose outgoing weights are all exactly zero."""
        raise NotImplementedError  # pragma: no cover - interface

    def reads(self, module):
        """Bool ``(n_out, n_in)``: output j reads input i (a nonzero weight); None if
        unknown (then only :meth:`constant_out` says which outputs are constant)."""
        return None

    def couplings(self, module):
        """Index pairs ``(outputs, inputs)`` that can only be removed together (the
        groups of a grouped convolution), or None."""
        return None

    def out_index(self, module):
        """``[(param name, LongTensor (n_out, k))]``: flat indices of each unit's
        parameter entries (its row of ``weight`` and its ``bias``)."""
        out = []
        for name in ("weight", "bias"):
            p = getattr(module, name, None)
            if isinstance(p, torch.Tensor) and p.dim() >= 1 and p.shape[0] == self.n_out(module):
                out.append((name, _rows_index(tuple(p.shape), 0)))
        return out

    def in_index(self, module, port=0):
        """``[(param name, LongTensor (n_in, k))]``: flat indices of the weights reading
        each input."""
        w = getattr(module, "weight", None)
        if isinstance(w, torch.Tensor) and w.dim() >= 2 and w.shape[1] == self.n_in(module):
            return [("weight", _rows_index(tuple(w.shape), 1))]
        return []

    def slice(self, module, keep_out, keep_in):
        """A new module keeping output units ``keep_out`` and inputs ``keep_in``."""
        raise NotImplementedError  # pragma: no cover - interface

    def add_bias(self, module, delta):
        """Add ``delta`` (shape ``(n_out,)``) to the bias, creating it if absent; in place."""
        raise NotImplementedError  # pragma: no cover - interface

    def fold(self, module, const_in, in_shape, port=0):
        """How to fold constant inputs into the bias, or None if that is not exact.

        ``const_in`` (float64, ``(n_in,)``) holds the constant value of each input that
        is about to be removed (0 elsewhere); ``in_shape`` is the shape of one input
        sample. The contribution ``C(z) - C(0)`` of a sample ``z`` holding these
        constants is computed in float64; it must be the same at every position (it is
        not after a zero-padded convolution, whose borders see the padding). Returns a
        function that adds it to the bias, in place.
        """
        if not bool(const_in.any()):
            return lambda: None
        shape = [1, *in_shape]
        axis = self.in_axis % len(shape)
        view = [1] * len(shape)
        view[axis] = -1
        m = copy.deepcopy(module).double().eval()
        dev = next((p.device for p in m.parameters()), torch.device("cpu"))
        c = const_in.to(device=dev, dtype=torch.float64)
        z = torch.zeros(shape, dtype=torch.float64, device=dev) + c.reshape(view)
        with torch.no_grad():
            out = m(z) - m(torch.zeros_like(z))
        flat = out.movedim(self.out_axis % out.dim(), -1).reshape(-1, out.shape[
            self.out_axis % out.dim()])
        delta = flat.mean(dim=0)
        spread = float((flat - delta).abs().max()) if flat.numel() else 0.0
        if spread > 1e-9 * (1.0 + float(delta.abs().max())):
            return None
        return lambda: self.add_bias(module, delta)

    def flops(self, module, in_shape, out_shape):
        """Floating-point operations for one sample (2 per multiply-add)."""
        return 0

    def params(self, module):
        return sum(p.numel() for p in module.parameters())


def _set_bias(module, delta, name="bias"):
    delta = delta.detach()
    bias = getattr(module, name)
    if bias is None:
        w = module.weight if hasattr(module, "weight") else next(module.parameters())
        setattr(module, name, nn.Parameter(delta.to(dtype=w.dtype, device=w.device).clone(),
                                           requires_grad=w.requires_grad))
    else:
        with torch.no_grad():
            bias.add_(delta.to(dtype=bias.dtype, device=bias.device))
    return module


class LinearHandler(LayerHandler):
    """``torch.nn.Linear``: units are rows of ``weight`` (and ``bias`` entries); it reads
    and writes the last dimension.

    Works for any layer computing ``x @ weight.T + bias`` with parameters named
    ``weight`` (out, in) and ``bias`` (out,) or None.
    """

    in_axis = -1
    out_axis = -1

    def n_out(self, module):
        return module.weight.shape[0]

    def n_in(self, module, port=0):
        return module.weight.shape[1]

    def constant_out(self, module):
        return ~(module.weight.detach() != 0).any(dim=1)

    def unused_in(self, module, port=0):
        return ~(module.weight.detach() != 0).any(dim=0)

    def reads(self, module):
        return module.weight.detach() != 0

    def slice(self, module, keep_out, keep_in):
        new = copy.deepcopy(module)
        w = _index(_index(module.weight, 0, keep_out), 1, keep_in)
        new.weight = _param(w, module.weight)
        if module.bias is not None:
            new.bias = _param(_index(module.bias, 0, keep_out), module.bias)
        if hasattr(new, "out_features"):
            new.out_features, new.in_features = int(keep_out.numel()), int(keep_in.numel())
        return new

    def add_bias(self, module, delta):
        return _set_bias(module, delta)

    def fold(self, module, const_in, in_shape, port=0):
        # exact and position-free: W c
        delta = module.weight.detach().double() @ const_in.to(module.weight.device)
        return lambda: self.add_bias(module, delta)

    def flops(self, module, in_shape, out_shape):
        rows = math.prod(out_shape[1:-1]) if len(out_shape) > 2 else 1
        return 2 * module.weight.shape[0] * module.weight.shape[1] * rows


class ConvHandler(LayerHandler):
    """``torch.nn.Conv1d/2d/3d``: units are filters (output channels).

    A grouped convolution (``groups > 1``, depthwise included) couples each group's input
    and output channels: a group is removed whole, and the layer keeps ``groups - k``
    groups of the same size.
    """

    def check(self, module):
        if module.padding_mode != "zeros" and module.groups > 1:
            return f"grouped convolution with padding_mode={module.padding_mode!r}"
        return None

    def n_out(self, module):
        return module.out_channels

    def n_in(self, module, port=0):
        return module.in_channels

    def constant_out(self, module):
        w = module.weight.detach() != 0
        return ~w.reshape(w.shape[0], -1).any(dim=1)

    def unused_in(self, module, port=0):
        nz = self._reads(module)
        return ~nz.any(dim=0)

    def _reads(self, module):
        w = (module.weight.detach() != 0).reshape(*module.weight.shape[:2], -1).any(dim=2)
        if module.groups == 1:
            return w
        og = module.out_channels // module.groups
        ig = module.in_channels // module.groups
        full = torch.zeros(module.out_channels, module.in_channels, dtype=torch.bool,
                           device=w.device)
        for k in range(module.groups):
            full[k * og:(k + 1) * og, k * ig:(k + 1) * ig] = w[k * og:(k + 1) * og]
        return full

    def reads(self, module):
        return self._reads(module)

    def couplings(self, module):
        if module.groups == 1:
            return None
        og = module.out_channels // module.groups
        ig = module.in_channels // module.groups
        return [(list(range(k * og, (k + 1) * og)), list(range(k * ig, (k + 1) * ig)))
                for k in range(module.groups)]

    def in_index(self, module, port=0):
        if module.groups != 1:
            return []  # coupled with the outputs: their rows hold these weights
        return super().in_index(module, port)

    def slice(self, module, keep_out, keep_in):
        new = copy.deepcopy(module)
        w = _index(module.weight, 0, keep_out)
        if module.groups == 1:
            w = _index(w, 1, keep_in)
        else:
            og = module.out_channels // module.groups
            ig = module.in_channels // module.groups
            groups = int(keep_out.numel()) // og
            if groups * og != keep_out.numel() or groups * ig != keep_in.numel():
                raise ValueError("grouped convolution sliced across its groups")
            new.groups = groups
        new.weight = _param(w, module.weight)
        if module.bias is not None:
            new.bias = _param(_index(module.bias, 0, keep_out), module.bias)
        new.out_channels, new.in_channels = int(keep_out.numel()), int(keep_in.numel())
        return new

    def add_bias(self, module, delta):
        return _set_bias(module, delta)

    def flops(self, module, in_shape, out_shape):
        k = math.prod(module.kernel_size)
        return (2 * module.out_channels * math.prod(out_shape[2:])
                * (module.in_channels // module.groups) * k)


class EmbeddingHandler(LayerHandler):
    """``torch.nn.Embedding``: units are embedding dimensions (columns of ``weight``).

    It reads token indices, not channels; a dimension whose column is the same for every
    token is constant.
    """

    out_axis = -1

    def check(self, module):
        if module.max_norm is not None:
            return "Embedding with max_norm renormalizes whole rows"
        return None

    def ports(self, module):
        return []

    def n_out(self, module):
        return module.weight.shape[1]

    def n_in(self, module, port=0):
        return 0

    def constant_out(self, module):
        w = module.weight.detach()
        return (w == w[:1]).all(dim=0)

    def unused_in(self, module, port=0):
        return torch.zeros(0, dtype=torch.bool)

    def out_index(self, module):
        return [("weight", _rows_index(tuple(module.weight.shape), 1))]

    def in_index(self, module, port=0):
        return []

    def slice(self, module, keep_out, keep_in=None):
        new = copy.deepcopy(module)
        new.weight = _param(_index(module.weight, 1, keep_out), module.weight)
        new.embedding_dim = int(keep_out.numel())
        return new

    def add_bias(self, module, delta):  # pragma: no cover - it reads no channels
        raise TypeError("an Embedding reads token indices; nothing folds into it")

    def params(self, module):
        return module.weight.numel()


class MultiheadAttentionHandler(LayerHandler):
    """``torch.nn.MultiheadAttention`` (and :class:`ShrunkMultiheadAttention`).

    Three inputs (query, key, value) read along their last dimension by the q, k and v
    projections; units are the output projection's rows. Heads are internal units: head
    ``h`` is its q, k and v rows (and biases) and the output projection's columns; it is
    removed whole, when nobody reads it (its output-projection columns are zero) or when
    its value rows are zero (it then emits its value bias, since attention weights sum to
    one, and that folds into the output bias). The shrunk layer is a
    :class:`ShrunkMultiheadAttention` with the same call signature.
    """

    in_axis = -1
    out_axis = -1

    def check(self, module):
        if isinstance(module, nn.MultiheadAttention):
            if module.bias_k is not None or module.add_zero_attn:
                return "MultiheadAttention with add_bias_kv or add_zero_attn"
        return None

    def ports(self, module):
        return [0, 1, 2]

    def _m(self, module):
        return (module if isinstance(module, ShrunkMultiheadAttention)
                else ShrunkMultiheadAttention.from_torch(module))

    @staticmethod
    def proj_weight(module, port):
        """The q (0), k (1) or v (2) projection weight ``(heads * head_dim, in)``."""
        if isinstance(module, ShrunkMultiheadAttention):
            return module.proj_weight(port)
        if module._qkv_same_embed_dim:
            return module.in_proj_weight.chunk(3)[port]
        return (module.q_proj_weight, module.k_proj_weight, module.v_proj_weight)[port]

    def n_out(self, module):
        return module.out_proj.weight.shape[0]

    def n_in(self, module, port=0):
        return self.proj_weight(module, port).shape[1]

    def n_heads(self, module):
        return module.num_heads

    def constant_out(self, module):
        return ~(module.out_proj.weight.detach() != 0).any(dim=1)

    def unused_in(self, module, port=0):
        return ~(self.proj_weight(module, port).detach() != 0).any(dim=0)

    def head_state(self, module):
        """``(unused, constant)`` bool tensors over heads: nobody reads the head's output
        (zero output-projection columns); its value rows are zero (constant output)."""
        hd, H = module.head_dim, module.num_heads
        wo = (module.out_proj.weight.detach() != 0).reshape(-1, H, hd)
        unused = ~wo.any(dim=2).any(dim=0)
        wv = (self.proj_weight(module, 2).detach() != 0).reshape(H, hd, -1)
        return unused, ~wv.reshape(H, -1).any(dim=1)

    def _names(self, module):
        if isinstance(module, ShrunkMultiheadAttention) or not module._qkv_same_embed_dim:
            if isinstance(module, ShrunkMultiheadAttention) and module.packed:
                return None
            return ["q_proj_weight", "k_proj_weight", "v_proj_weight"]
        return None

    def _proj_index(self, module, port):
        """``(name, flat index (rows, cols))`` of the projection of ``port``."""
        names = self._names(module)
        if names is None:
            w = module.in_proj_weight
            e = w.shape[0] // 3
            idx = torch.arange(w.numel()).reshape(w.shape)[port * e:(port + 1) * e]
            return "in_proj_weight", idx
        w = getattr(module, names[port])
        return names[port], torch.arange(w.numel()).reshape(w.shape)

    def head_index(self, module):
        """``[(param name, LongTensor (n_heads, k))]``: each head's parameter entries."""
        H = module.num_heads
        out = []
        for port in range(3):
            name, idx = self._proj_index(module, port)
            out.append((name, idx.reshape(H, -1)))
        b = module.in_proj_bias
        if b is not None:
            e = b.shape[0] // 3
            out.append(("in_proj_bias", torch.arange(3 * e).reshape(3, H, -1)
                        .transpose(0, 1).reshape(H, -1)))
        w = module.out_proj.weight
        out.append(("out_proj.weight", torch.arange(w.numel()).reshape(w.shape[0], H, -1)
                    .transpose(0, 1).reshape(H, -1)))
        return out

    def out_index(self, module):
        w, b = module.out_proj.weight, module.out_proj.bias
        out = [("out_proj.weight", _rows_index(tuple(w.shape), 0))]
        if b is not None:
            out.append(("out_proj.bias", _rows_index(tuple(b.shape), 0)))
        return out

    def in_index(self, module, port=0):
        name, idx = self._proj_index(module, port)
        return [(name, idx.t())]

    def fold(self, module, const_in, in_shape, port=0):
        w = self.proj_weight(module, port).detach().double()
        delta = w @ const_in.to(w.device)
        return lambda: self._add_in_bias(module, port, delta)

    def _add_in_bias(self, module, port, delta):
        e = delta.shape[0]
        if module.in_proj_bias is None:
            w = module.out_proj.weight
            module.in_proj_bias = nn.Parameter(torch.zeros(3 * e, dtype=w.dtype,
                                                           device=w.device),
                                               requires_grad=w.requires_grad)
        with torch.no_grad():
            module.in_proj_bias[port * e:(port + 1) * e] += delta.to(module.in_proj_bias)

    def fold_heads(self, module, heads):
        """Fold constant heads (zero value rows: output = value bias) into the output
        bias; in place."""
        if module.in_proj_bias is None or not heads:
            return
        hd = module.head_dim
        e = module.in_proj_bias.shape[0] // 3
        bv = module.in_proj_bias.detach().double()[2 * e:]
        cols = torch.cat([torch.arange(h * hd, (h + 1) * hd) for h in heads])
        wo = module.out_proj.weight.detach().double()
        delta = wo[:, cols] @ bv[cols]
        _set_bias(module.out_proj, delta)

    def slice(self, module, keep_out, keep_in, keep_heads=None):
        m = self._m(module)
        if keep_heads is None:
            keep_heads = torch.arange(m.num_heads)
        return m.sliced(keep_out, keep_in, keep_heads)

    def add_bias(self, module, delta):
        return _set_bias(module.out_proj, delta)

    def flops(self, module, in_shape, out_shape):
        L = math.prod(out_shape[1:-1]) if len(out_shape) > 2 else 1
        width = module.num_heads * module.head_dim
        proj = sum(self.proj_weight(module, p).shape[1] for p in range(3)) * width
        return 2 * L * (proj + width * module.out_proj.weight.shape[0]) + 4 * L * L * width


class ChannelHandler:
    """Handler for layers that act on each unit separately (activations, dropout, pooling).

    The default keeps the module as it is (it has no per-unit parameters). Subclass and
    override :meth:`slice` (and :meth:`param_index`) for a layer with per-unit parameters
    or buffers along dimension ``axis`` of its input.
    """

    axis = 1
    normalizes = False   # True: statistics over its units (LayerNorm): a reader of all

    def check(self, module):
        """A reason why this module cannot be part of a shrunk chain (str), or None."""
        return

    def mixes(self, module, ndim):
        """Dimensions the layer combines values along (pooling: the spatial ones)."""
        return ()

    def has_params(self, module):
        return type(self).slice is not ChannelHandler.slice

    def param_index(self, module):
        """``[(param name, LongTensor (n_units, k))]``: each unit's parameters."""
        return []

    def constant_out(self, module, const_in):
        """Which outputs are constant given which inputs are (default: the same)."""
        return const_in

    def slice(self, module, keep):
        """The module restricted to units ``keep`` (indices along ``axis``)."""
        return module


class PoolHandler(ChannelHandler):
    """Pooling: each channel separately, mixing the spatial dimensions."""

    def mixes(self, module, ndim):
        return tuple(range(2, ndim))


def _unit_params(module, names):
    out = []
    for name in names:
        p = getattr(module, name, None)
        if isinstance(p, nn.Parameter):
            out.append((name, _rows_index(tuple(p.shape), 0)))
    return out


class BatchNormHandler(ChannelHandler):
    """BatchNorm1d/2d/3d with running statistics: slices weight, bias, running stats.

    ``shrink`` works with inference (eval-mode) semantics: BatchNorm uses its running
    statistics, so a constant unit stays a constant.
    """

    def check(self, module):
        if not module.track_running_stats or module.running_mean is None:
            return ("BatchNorm without running statistics (track_running_stats=False) "
                    "normalizes with batch statistics; constant units cannot be folded")
        return None

    def param_index(self, module):
        return _unit_params(module, ("weight", "bias"))

    def constant_out(self, module, const_in):
        # a zero scale leaves the shift alone: a constant
        if module.weight is None:
            return const_in
        return const_in | (module.weight.detach().cpu() == 0)

    def slice(self, module, keep):
        new = copy.deepcopy(module)
        for name in ("weight", "bias"):
            p = getattr(module, name)
            if p is not None:
                setattr(new, name, _param(_index(p, 0, keep), p))
        new.running_mean = _index(module.running_mean, 0, keep)
        new.running_var = _index(module.running_var, 0, keep)
        new.num_features = int(keep.numel())
        return new


class LayerNormHandler(ChannelHandler):
    """LayerNorm over the last dimension: follows its channels, and reads all of them.

    Removing channels changes the mean and variance over the others, so removed
    channels must be constant: the shrunk layer is a :class:`ReducedLayerNorm` that
    still normalizes over the original width, counting the removed channels' constant
    values (zero after group lasso). Its own entries (weight, bias) go with the channel.
    """

    axis = -1
    normalizes = True

    def check(self, module):
        if len(module.normalized_shape) != 1:
            return (f"LayerNorm over {len(module.normalized_shape)} dimensions (only the last "
                    "dimension is supported)")
        return None

    def has_params(self, module):
        return True

    def param_index(self, module):
        return _unit_params(module, ("weight", "bias"))

    def constant_out(self, module, const_in):
        if bool(const_in.all()):
            return const_in
        if module.weight is None:
            return torch.zeros_like(const_in)
        return module.weight.detach().cpu() == 0

    def slice(self, module, keep, removed_const=None):
        """Keep channels ``keep``; ``removed_const`` (float64, one value per channel,
        used where not kept) are the constant inputs of the removed channels."""
        return ReducedLayerNorm.from_layer_norm(module, keep, removed_const)


class PReLUHandler(ChannelHandler):
    """PReLU: one slope per channel (sliced) or a single shared slope (kept)."""

    def has_params(self, module):
        return module.num_parameters > 1

    def param_index(self, module):
        return _unit_params(module, ("weight",)) if module.num_parameters > 1 else []

    def slice(self, module, keep):
        if module.num_parameters == 1:
            return module
        new = copy.deepcopy(module)
        new.weight = _param(_index(module.weight, 0, keep), module.weight)
        new.num_parameters = int(keep.numel())
        return new


_PASS = ChannelHandler()
_POOL = PoolHandler()

_HANDLERS = {
    nn.Linear: LinearHandler(),
    nn.Conv1d: ConvHandler(),
    nn.Conv2d: ConvHandler(),
    nn.Conv3d: ConvHandler(),
    nn.Embedding: EmbeddingHandler(),
    nn.MultiheadAttention: MultiheadAttentionHandler(),
    ShrunkMultiheadAttention: MultiheadAttentionHandler(),
    nn.BatchNorm1d: BatchNormHandler(),
    nn.BatchNorm2d: BatchNormHandler(),
    nn.BatchNorm3d: BatchNormHandler(),
    nn.LayerNorm: LayerNormHandler(),
    nn.PReLU: PReLUHandler(),
}
for _cls in (nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
             nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
             nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.Softshrink,
             nn.Hardshrink, nn.Threshold,
             nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout):
    _HANDLERS[_cls] = _PASS
for _cls in (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d,
             nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
             nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.LPPool1d,
             nn.LPPool2d):
    _HANDLERS[_cls] = _POOL

# functions and tensor methods applied unit by unit (their other arguments are constants)
_FUNCTIONS = {
    torch.relu, torch.tanh, torch.sigmoid, torch.sin, torch.cos, torch.exp, torch.abs,
    torch.neg, torch.square, torch.clamp, torch.clip,
    F.relu, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu, F.mish, F.tanh,
    F.sigmoid, F.hardtanh, F.hardswish, F.hardsigmoid, F.softplus, F.softsign, F.logsigmoid,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
    # arithmetic with a Python number (with a tensor, the graph treats it as a join)
    operator.add, operator.sub, operator.mul, operator.truediv, operator.neg,
    torch.add, torch.sub, torch.mul, torch.div,
}
# pooling functions: per channel, mixing the spatial dimensions
_POOL_FUNCTIONS = {
    F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
    F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d,
}
_METHODS = {
    "relu", "relu_", "tanh", "tanh_", "sigmoid", "sigmoid_", "clamp", "clip", "abs", "neg",
    "exp", "square", "contiguous", "clone", "detach", "add", "sub", "mul", "div", "float",
    "double", "half", "to", "type_as",
}


def register_handler(layer_type, handler):
    """Teach :func:`~sparsefit.nn.shrink.shrink` a layer type.

    Parameters
    ----------
    layer_type : type
        A ``torch.nn.Module`` subclass (its subclasses use the handler too, unless they
        have their own).
    handler : LayerHandler or ChannelHandler
        A :class:`LayerHandler` for a layer with units and inputs (a custom Linear), a
        :class:`ChannelHandler` for a layer acting on each unit separately (a custom
        activation; ``ChannelHandler()`` itself for one without per-unit parameters).

    Examples
    --------
    >>> import torch
    >>> from sparsefit.nn._shrink_handlers import register_handler, ChannelHandler
    >>> class Swish(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x * torch.sigmoid(x)
    >>> register_handler(Swish, ChannelHandler())
    """
    if not (isinstance(layer_type, type) and issubclass(layer_type, nn.Module)):
        raise TypeError(f"layer_type must be a torch.nn.Module subclass, got {layer_type!r}")
    if not isinstance(handler, (LayerHandler, ChannelHandler)):
        raise TypeError("handler must be a LayerHandler or ChannelHandler instance, got "
                        f"{type(handler).__name__}")
    _HANDLERS[layer_type] = handler


def register_function(fn):
    """Declare a function (or a tensor method, by name) that acts on each unit separately.

    Examples
    --------
    >>> import torch
    >>> from sparsefit.nn._shrink_handlers import register_function
    >>> register_function(torch.special.expit)
    >>> register_function("sigmoid")
    """
    if isinstance(fn, str):
        _METHODS.add(fn)
    elif callable(fn):
        _FUNCTIONS.add(fn)
    else:
        raise TypeError(f"fn must be callable or a method name, got {type(fn).__name__}")


def handlers():
    """A copy of the registry ``{layer type: handler}``."""
    return dict(_HANDLERS)


def find_handler(module):
    """The handler for ``module``'s type (nearest registered base class), or None."""
    for cls in type(module).__mro__:
        if cls in _HANDLERS:
            return _HANDLERS[cls]
    return None


def is_unit_function(target):
    try:
        return target in _FUNCTIONS
    except TypeError:  # unhashable target
        return False


def is_pool_function(target):
    try:
        return target in _POOL_FUNCTIONS
    except TypeError:  # unhashable target
        return False


def is_unit_method(name):
    return name in _METHODS
