"""Registry of per-layer-type handlers used by :func:`sparsefit.nn.shrink.shrink`.

Two kinds of handlers, as in Torch-Pruning:

- :class:`LayerHandler`: a layer whose output units are computed from its input units by
  a weight (Linear, Conv). It says which outputs are constant (all incoming weights zero),
  which inputs are unused (all outgoing weights zero), and builds a sliced copy.
- :class:`ChannelHandler`: a layer that acts on each unit (channel, feature) separately
  (activations, BatchNorm with running statistics, pooling, dropout): units pass through
  it one by one, so it only has to slice its own per-unit parameters.

Functions and tensor methods applied channel by channel (``torch.relu``, ``x.tanh()``,
``x * 2``) are registered by :func:`register_function`.
"""

from __future__ import annotations

import copy
import math
import operator

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "BatchNormHandler",
    "ChannelHandler",
    "ConvHandler",
    "LayerHandler",
    "LinearHandler",
    "PReLUHandler",
    "find_handler",
    "handlers",
    "register_function",
    "register_handler",
]


def _index(t, dim, keep):
    return t.detach().index_select(dim, keep.to(t.device)).clone()


class LayerHandler:
    """Base class of handlers for layers with units (rows/filters) and inputs (columns).

    Subclass and register with :func:`register_handler` to let :func:`shrink` remove the
    units of a custom layer. The layer must act on dimension 1 of its input and output
    (features of 2-D tensors, channels of ``(N, C, ...)`` tensors), and its output must
    be affine in its input (a unit whose incoming weights are all zero is constant).
    """

    def check(self, module):
        """A reason why this module cannot be shrunk (str), or None."""
        return

    def n_out(self, module):  # pragma: no cover - interface
        raise NotImplementedError

    def n_in(self, module):  # pragma: no cover - interface
        raise NotImplementedError

    def constant_out(self, module):
        """Bool tensor ``(n_out,)``: units whose incoming weights are all exactly zero."""
        raise NotImplementedError  # pragma: no cover - interface

    def unused_in(self, module):
        """Bool tensor ``(n_in,)``: inputs whose outgoing weights are all exactly zero."""
        raise NotImplementedError  # pragma: no cover - interface

    def slice(self, module, keep_out, keep_in):
        """A new module keeping output units ``keep_out`` and inputs ``keep_in``."""
        raise NotImplementedError  # pragma: no cover - interface

    def add_bias(self, module, delta):
        """Add ``delta`` (shape ``(n_out,)``) to the bias, creating it if absent; in place."""
        raise NotImplementedError  # pragma: no cover - interface

    def flops(self, module, in_shape, out_shape):
        """Floating-point operations for one sample (2 per multiply-add)."""
        return 0

    def params(self, module):
        return sum(p.numel() for p in module.parameters())


def _set_bias(module, delta):
    delta = delta.detach()
    if module.bias is None:
        w = module.weight
        module.bias = nn.Parameter(delta.to(dtype=w.dtype, device=w.device).clone(),
                                   requires_grad=w.requires_grad)
    else:
        with torch.no_grad():
            module.bias.add_(delta.to(dtype=module.bias.dtype, device=module.bias.device))
    return module


class LinearHandler(LayerHandler):
    """``torch.nn.Linear``: units are rows of ``weight`` (and ``bias`` entries).

    Works for any layer computing ``x @ weight.T + bias`` with parameters named
    ``weight`` (out, in) and ``bias`` (out,) or None.
    """

    def n_out(self, module):
        return module.weight.shape[0]

    def n_in(self, module):
        return module.weight.shape[1]

    def constant_out(self, module):
        return ~(module.weight.detach() != 0).any(dim=1)

    def unused_in(self, module):
        return ~(module.weight.detach() != 0).any(dim=0)

    def slice(self, module, keep_out, keep_in):
        new = copy.deepcopy(module)
        w = _index(_index(module.weight, 0, keep_out), 1, keep_in)
        new.weight = nn.Parameter(w, requires_grad=module.weight.requires_grad)
        if module.bias is not None:
            new.bias = nn.Parameter(_index(module.bias, 0, keep_out),
                                    requires_grad=module.bias.requires_grad)
        if hasattr(new, "out_features"):
            new.out_features, new.in_features = int(keep_out.numel()), int(keep_in.numel())
        return new

    def add_bias(self, module, delta):
        return _set_bias(module, delta)

    def flops(self, module, in_shape, out_shape):
        rows = math.prod(out_shape[1:-1]) if len(out_shape) > 2 else 1
        return 2 * module.weight.shape[0] * module.weight.shape[1] * rows


class ConvHandler(LayerHandler):
    """``torch.nn.Conv1d/2d/3d`` with ``groups=1``: units are filters (output channels)."""

    def check(self, module):
        if module.groups != 1:
            return f"grouped convolution (groups={module.groups}) is not supported"
        return None

    def n_out(self, module):
        return module.out_channels

    def n_in(self, module):
        return module.in_channels

    def constant_out(self, module):
        w = module.weight.detach() != 0
        return ~w.reshape(w.shape[0], -1).any(dim=1)

    def unused_in(self, module):
        w = (module.weight.detach() != 0).transpose(0, 1)
        return ~w.reshape(w.shape[0], -1).any(dim=1)

    def slice(self, module, keep_out, keep_in):
        new = copy.deepcopy(module)
        w = _index(_index(module.weight, 0, keep_out), 1, keep_in)
        new.weight = nn.Parameter(w, requires_grad=module.weight.requires_grad)
        if module.bias is not None:
            new.bias = nn.Parameter(_index(module.bias, 0, keep_out),
                                    requires_grad=module.bias.requires_grad)
        new.out_channels, new.in_channels = int(keep_out.numel()), int(keep_in.numel())
        return new

    def add_bias(self, module, delta):
        return _set_bias(module, delta)

    def flops(self, module, in_shape, out_shape):
        k = math.prod(module.kernel_size)
        return 2 * module.out_channels * math.prod(out_shape[2:]) * module.in_channels * k


class ChannelHandler:
    """Handler for layers that act on each unit separately (activations, dropout, pooling).

    The default keeps the module as it is (it has no per-unit parameters). Subclass and
    override :meth:`slice` for a layer with per-unit parameters or buffers.
    """

    def check(self, module):
        """A reason why this module cannot be part of a shrunk chain (str), or None."""
        return

    def slice(self, module, keep):
        """The module restricted to units ``keep`` (indices along dimension 1)."""
        return module


class BatchNormHandler(ChannelHandler):
    """BatchNorm1d/2d/3d with running statistics: slices weight, bias, running stats.

    ``shrink`` works with inference (eval-mode) semantics: BatchNorm uses its running
    statistics, so a constant channel stays a constant.
    """

    def check(self, module):
        if not module.track_running_stats or module.running_mean is None:
            return ("BatchNorm without running statistics (track_running_stats=False) "
                    "normalizes with batch statistics; constant units cannot be folded")
        return None

    def slice(self, module, keep):
        new = copy.deepcopy(module)
        for name in ("weight", "bias"):
            p = getattr(module, name)
            if p is not None:
                setattr(new, name, nn.Parameter(_index(p, 0, keep),
                                                requires_grad=p.requires_grad))
        new.running_mean = _index(module.running_mean, 0, keep)
        new.running_var = _index(module.running_var, 0, keep)
        new.num_features = int(keep.numel())
        return new


class PReLUHandler(ChannelHandler):
    """PReLU: one slope per channel (sliced) or a single shared slope (kept)."""

    def slice(self, module, keep):
        if module.num_parameters == 1:
            return module
        new = copy.deepcopy(module)
        new.weight = nn.Parameter(_index(module.weight, 0, keep),
                                  requires_grad=module.weight.requires_grad)
        new.num_parameters = int(keep.numel())
        return new


_PASS = ChannelHandler()

_HANDLERS = {
    nn.Linear: LinearHandler(),
    nn.Conv1d: ConvHandler(),
    nn.Conv2d: ConvHandler(),
    nn.Conv3d: ConvHandler(),
    nn.BatchNorm1d: BatchNormHandler(),
    nn.BatchNorm2d: BatchNormHandler(),
    nn.BatchNorm3d: BatchNormHandler(),
    nn.PReLU: PReLUHandler(),
}
for _cls in (nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
             nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
             nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.Softshrink,
             nn.Hardshrink, nn.Threshold,
             nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
             nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d,
             nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
             nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.LPPool1d,
             nn.LPPool2d):
    _HANDLERS[_cls] = _PASS

# functions and tensor methods applied unit by unit (their other arguments are constants)
_FUNCTIONS = {
    torch.relu, torch.tanh, torch.sigmoid, torch.sin, torch.cos, torch.exp, torch.abs,
    torch.neg, torch.square, torch.clamp, torch.clip,
    F.relu, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu, F.mish, F.tanh,
    F.sigmoid, F.hardtanh, F.hardswish, F.hardsigmoid, F.softplus, F.softsign, F.logsigmoid,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
    F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
    F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d,
    # arithmetic with a Python number (checked at use: the other operand must not be a tensor)
    operator.add, operator.sub, operator.mul, operator.truediv, operator.neg,
    torch.add, torch.sub, torch.mul, torch.div,
}
_METHODS = {
    "relu", "relu_", "tanh", "tanh_", "sigmoid", "sigmoid_", "clamp", "clip", "abs", "neg",
    "exp", "square", "contiguous", "clone", "detach", "add", "sub", "mul", "div",
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


def is_unit_method(name):
    return name in _METHODS
