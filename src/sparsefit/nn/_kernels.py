"""Fused in-place prox kernels for the hot case: L1 / elastic net on a CPU parameter.

Applying a prox with torch operations takes one pass over the weight per operation (square
root, add, reciprocal, multiply, clamp, subtract, ...), which on a small network costs
as much as the optimizer's step itself. These numba loops do it in one pass, in place,
reading the optimizer's state directly. They compute exactly what the torch path of
:class:`~sparsefit.nn.Proximal` computes (bounded denominator, rescaled step, then
``L1.prox`` / ``L1L2.prox``). Anything else (other penalties, GPU tensors, non-contiguous
weights) takes the torch path.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


# error_model="numpy" drops the Python zero-division check, which lets LLVM vectorize
# the loops (4x faster here); IEEE arithmetic otherwise. The constants arrive in the
# weight's dtype, so a float32 weight is processed in float32, as torch would.
# x - clip(x, -thr, thr) is the soft-threshold, exactly 0 where |x| <= thr.
@njit(cache=True, nogil=True, error_model="numpy")
def _st_scalar(w, thr, shrink):  # pragma: no cover - compiled
    for i in range(w.size):
        x = w[i]
        w[i] = (x - min(max(x, -thr), thr)) / shrink


@njit(cache=True, nogil=True, error_model="numpy")
def _st_sqrt_metric(w, s, scale, cl1, eps):  # pragma: no cover - compiled
    # thr_i = c l1 / (sqrt(scale * s_i) + eps); w_i <- ST(w_i, thr_i)
    for i in range(w.size):
        thr = cl1 / (np.sqrt(scale * s[i]) + eps)
        x = w[i]
        w[i] = x - min(max(x, -thr), thr)


@njit(cache=True, nogil=True, error_model="numpy")
def _st_sqrt_metric_l2(w, s, scale, c, eps, l1, l2):  # pragma: no cover - compiled
    # t_i = c / (sqrt(scale * s_i) + eps); w_i <- ST(w_i, t_i l1) / (1 + 2 t_i l2)
    for i in range(w.size):
        t = c / (np.sqrt(scale * s[i]) + eps)
        thr = t * l1
        x = w[i]
        w[i] = (x - min(max(x, -thr), thr)) / (1.0 + 2.0 * t * l2)


@njit(cache=True, nogil=True, error_model="numpy")
def _st_bounded(w, wb, s, scale, c, eps, l1, l2):  # pragma: no cover - compiled
    # den_i = sqrt(scale s_i) + eps, bounded below by the penalty's pull
    # f_i = l1 + 2 l2 |wb_i|; where den_i < f_i the optimizer's displacement w_i - wb_i is
    # rescaled by den_i / f_i (the step it would have taken with the bounded denominator).
    # Then t_i = c / max(den_i, f_i) and w_i <- ST(x_i, t_i l1) / (1 + 2 t_i l2).
    for i in range(w.size):
        den = np.sqrt(scale * s[i]) + eps
        x = w[i]
        b = wb[i]
        f = l1 + 2.0 * l2 * abs(b)
        if den < f:
            x = b + (x - b) * (den / f)
            den = f
        t = c / den
        thr = t * l1
        w[i] = (x - min(max(x, -thr), thr)) / (1.0 + 2.0 * t * l2)


def _usable(t, dtype=None):
    return (t.device.type == "cpu" and t.is_contiguous() and t.dtype in _DTYPES
            and (dtype is None or t.dtype == dtype))


class FastL1:
    """In-place L1 / elastic-net prox of one CPU parameter, with cached NumPy views.

    :meth:`apply` computes ``w <- ST(w, t l1) / (1 + 2 t l2)`` for a float step or a
    :class:`SqrtMetricStep`, and returns False (doing nothing) when this path does not
    apply (GPU, non-contiguous, other dtypes): the caller then takes the torch path.
    """

    __slots__ = ("b", "b_np", "f", "ptr", "s", "s_np", "w", "w_np")

    def __init__(self, w):
        self.w, self.ptr, self.s, self.b = w, None, None, None

    def apply(self, step, l1, l2=0.0, before=None):
        """``before``: the weight before the optimizer's step (bounded denominators, see
        :class:`~sparsefit.nn.Proximal`); without it the denominators are not bounded."""
        w = self.w
        if w.data_ptr() != self.ptr:
            if not _usable(w):
                return False
            self.w_np = w.detach().numpy().reshape(-1)
            self.f = _DTYPES[w.dtype]
            self.ptr = w.data_ptr()
        f = self.f
        if not isinstance(step, SqrtMetricStep):
            step = float(step)
            _st_scalar(self.w_np, f(step * l1), f(1.0 + 2.0 * step * l2))
            return True
        s = step.s
        if s is not self.s:
            if not _usable(s, w.dtype) or s.shape != w.shape:
                return False
            self.s, self.s_np = s, s.detach().numpy().reshape(-1)
        if before is not None:
            if before is not self.b:
                if not _usable(before, w.dtype) or before.shape != w.shape:
                    return False
                self.b, self.b_np = before, before.detach().numpy().reshape(-1)
            _st_bounded(self.w_np, self.b_np, self.s_np, f(step.scale), f(step.c),
                        f(step.eps), f(l1), f(l2))
        elif l2 == 0.0:
            _st_sqrt_metric(self.w_np, self.s_np, f(step.scale), f(step.c * l1), f(step.eps))
        else:
            _st_sqrt_metric_l2(self.w_np, self.s_np, f(step.scale), f(step.c), f(step.eps),
                               f(l1), f(l2))
        return True


class MetricStep:
    r"""A per-coordinate step :math:`t_i = c / d_i`: an adaptive optimizer's scaling of the
    gradient, with its denominator :math:`d` (``sqrt(v_hat) + eps`` for Adam) kept apart so
    that :class:`~sparsefit.nn.Proximal` can bound it below."""

    __slots__ = ("c",)

    def denominator(self):  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def materialize(self):
        """The steps as a tensor shaped like the parameter."""
        return self.denominator().reciprocal_().mul_(self.c)


class SqrtMetricStep(MetricStep):
    r"""A per-coordinate step :math:`t_i = c / (\sqrt{\mathrm{scale}\, s_i} + \epsilon)`.

    The form of Adam's (``s`` = ``exp_avg_sq``, ``scale`` = 1 / bias correction), RMSprop's
    and Adagrad's steps, kept unevaluated so the fused kernel can read ``s`` directly.
    """

    __slots__ = ("eps", "s", "scale")

    def __init__(self, c, s, scale, eps):
        self.c, self.s, self.scale, self.eps = float(c), s, float(scale), float(eps)

    def denominator(self):
        return (self.s * self.scale).sqrt_().add_(self.eps)


class DenomStep(MetricStep):
    """A per-coordinate step ``c / den`` with the denominator given as a tensor (Adamax's
    ``exp_inf``, centered RMSprop's ``sqrt(v - mean(g)**2) + eps``)."""

    __slots__ = ("den",)

    def __init__(self, c, den):
        self.c, self.den = float(c), den

    def denominator(self):
        return self.den.clone()
