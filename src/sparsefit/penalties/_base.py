"""Base class of the penalties, argument validation, and the NumPy/torch operations shim."""

from __future__ import annotations

import math
import numbers

import numpy as np


def check_strength(value, name, *, allow_zero=True):
    """Return ``value`` as a Python float after checking it is finite and non-negative.

    Raises
    ------
    ValueError
        Naming ``name`` when ``value`` is not a real number, is NaN or infinite, or is
        negative (or zero when ``allow_zero`` is False).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        # 0-d arrays and numpy scalars are numbers.Real only sometimes; accept them
        if not (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu"):
            raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < 0 or (not allow_zero and value == 0):
        bound = "> 0" if not allow_zero else ">= 0"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def is_torch(x):
    """True when ``x`` is a torch tensor (without importing torch)."""
    return type(x).__module__.startswith("torch")


class _NumpyOps:
    @staticmethod
    def asarray(x):
        return np.asarray(x, dtype=np.result_type(np.asarray(x).dtype, np.float32))

    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    sqrt = staticmethod(np.sqrt)
    where = staticmethod(np.where)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def relu(x):
        return np.maximum(x, 0)

    @staticmethod
    def total(x):
        return float(np.sum(x, dtype=np.float64))

    @staticmethod
    def like(value, x):
        return np.asarray(value, dtype=x.dtype)


class _TorchOps:
    def __init__(self):
        import torch

        self.torch = torch

    def asarray(self, x):
        return x if x.is_floating_point() else x.to(self.torch.get_default_dtype())

    def abs(self, x):
        return self.torch.abs(x)

    def sign(self, x):
        return self.torch.sign(x)

    def sqrt(self, x):
        return self.torch.sqrt(x)

    def where(self, c, a, b):
        return self.torch.where(c, a, b)

    def minimum(self, a, b):
        return self.torch.minimum(a, self.like(b, a))

    def maximum(self, a, b):
        return self.torch.maximum(a, self.like(b, a))

    def relu(self, x):
        return self.torch.clamp(x, min=0)

    def total(self, x):
        return self.torch.sum(x)

    def like(self, value, x):
        if is_torch(value):
            return value.to(dtype=x.dtype, device=x.device)
        if isinstance(value, np.ndarray) and not value.flags.writeable:
            value = value.copy()  # torch refuses to share read-only memory
        return self.torch.as_tensor(value, dtype=x.dtype, device=x.device)


_NP = _NumpyOps()
_TORCH = None


def ops_for(x):
    """Return ``(ops, x)``: the operations shim for ``x`` and ``x`` as a float array/tensor.

    NumPy arrays (and anything array-like) get NumPy; torch tensors get torch, on their own
    device, without conversion. Integer inputs are promoted to floating point.
    """
    global _TORCH
    if is_torch(x):
        if _TORCH is None:
            _TORCH = _TorchOps()
        return _TORCH, _TORCH.asarray(x)
    return _NP, _NP.asarray(x)


def check_finite_array(x, name):
    """Raise ValueError naming ``name`` when ``x`` holds NaN or infinity."""
    if is_torch(x):
        import torch

        ok = bool(torch.isfinite(x).all())
    else:
        ok = bool(np.isfinite(x).all())
    if not ok:
        raise ValueError(f"{name} contains NaN or infinity")


class Penalty:
    """Base class: a (possibly non-smooth) regularizer with an exact proximal operator.

    Subclasses set the class attributes ``is_separable`` and ``is_convex`` and implement
    ``_value``, ``_prox``, ``_subgradient``, ``subdiff_distance``, ``alpha_max``,
    ``numba_spec`` and ``get_config``. The public methods accept NumPy arrays (or anything
    array-like) and torch tensors and answer in the same kind.

    Calling the penalty on a weight returns its value, as a Keras regularizer does.
    """

    is_separable = True
    is_convex = True
    #: name of the constructor argument that scales the whole penalty
    strength_name = "alpha"

    # -- public API ---------------------------------------------------------------------
    def value(self, w):
        """Penalty value: a Python float for NumPy input, a differentiable 0-d torch tensor
        for torch input."""
        ops, w = ops_for(w)
        return self._value(ops, w)

    def __call__(self, w):
        return self.value(w)

    def prox(self, w, step=1.0):
        """Proximal operator ``argmin_x 0.5 * ||x - w||^2 + step * pen(x)``.

        ``step`` is a non-negative scalar; separable penalties also accept an array (or
        tensor) broadcastable to ``w``, one step per coordinate (as Adam needs). The input
        is never modified; a new array/tensor of ``w``'s kind, dtype and device is returned.
        """
        ops, w = ops_for(w)
        step = self._check_step(step, w)
        if isinstance(step, float) and step == 0.0:
            return w.clone() if is_torch(w) else w.copy()
        return self._prox(ops, w, step)

    def subgradient(self, w):
        """The element of the subdifferential that automatic differentiation returns.

        What penalty-in-the-loss training (Keras ``kernel_regularizer``, ``loss + lam *
        w.abs().sum()`` in PyTorch) follows: ``sign(0) = 0`` for the L1 part.
        """
        ops, w = ops_for(w)
        return self._subgradient(ops, w)

    @property
    def strength(self):
        """The overall strength (the argument named by ``strength_name``)."""
        return getattr(self, self.strength_name)

    def with_strength(self, value):
        """A copy of this penalty with its strength (``strength_name``) set to ``value``."""
        return type(self).from_config({**self.get_config(), self.strength_name: value})

    @classmethod
    def from_config(cls, config):
        """Rebuild a penalty from the dictionary of :meth:`get_config`."""
        if not isinstance(config, dict):
            raise ValueError(f"config must be a dict, got {type(config).__name__}")
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = None

    # -- helpers for subclasses ------------------------------------------------------------
    def _check_step(self, step, w):
        if is_torch(step) or isinstance(step, np.ndarray) and step.ndim > 0:
            if not self.is_separable:
                return self._check_array_step(step, w)
            if is_torch(step):
                bad = bool((step < 0).any()) or not bool(__import__("torch").isfinite(step).all())
            else:
                bad = bool((step < 0).any()) or not bool(np.isfinite(step).all())
            if bad:
                raise ValueError("step must be finite and >= 0")
            try:
                np.broadcast_shapes(tuple(step.shape), tuple(w.shape))
            except ValueError:
                raise ValueError(
                    f"step of shape {tuple(step.shape)} does not broadcast to the weight of "
                    f"shape {tuple(w.shape)}"
                ) from None
            if is_torch(w):
                return step.to(dtype=w.dtype, device=w.device) if is_torch(step) else (
                    __import__("torch").as_tensor(step, dtype=w.dtype, device=w.device))
            return np.asarray(step, dtype=w.dtype) if not is_torch(step) else step.numpy()
        return check_strength(step, "step")

    def _check_array_step(self, step, w):
        raise ValueError(
            f"{type(self).__name__}.prox takes a scalar step; per-coordinate steps are only "
            "defined for separable penalties"
        )
