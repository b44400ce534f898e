r"""Proximal operators in a diagonal metric, for the group penalties (torch).

An adaptive optimizer scales coordinate :math:`j` of its step by :math:`t_j`; the prox that
makes the composite's fixed points exact is taken in the metric :math:`D = \mathrm{diag}(1/t)`:

.. math::
    \mathrm{prox}^{D}(v) = \arg\min_x \sum_j \frac{(x_j - v_j)^2}{2 t_j} + \mathrm{pen}(x).

For separable penalties this is the penalty's own prox with per-coordinate steps. For the
group lasso :math:`a_g \|x_g\|` (:math:`a_g = \alpha c_g`) it has no closed form when the
:math:`t_j` of a group differ: the optimality conditions give
:math:`x_j = v_j \rho / (\rho + a_g t_j)` with :math:`\rho = \|x_g\|` the root of

.. math:: \sum_{j \in g} \frac{v_j^2}{(\rho + a_g t_j)^2} = 1,

and :math:`x_g = 0` exactly when :math:`\|v_g / t_g\| \le a_g`. The root lies in
:math:`[\|v_g\| - a_g \max t,\ \|v_g\| - a_g \min t]`; it is found by safeguarded Newton
steps on :math:`S(\rho)^{-1/2} - 1`, which is linear in :math:`\rho` when the steps of a
group are equal (one Newton step is then exact: block soft-thresholding). The sparse group
lasso's prox is soft-thresholding at :math:`t_j \alpha\tau`, then this group step (the
composition is exact in a diagonal metric as in the Euclidean one).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from ..penalties import GroupL1, SparseGroupL1
from ..penalties._base import ops_for

__all__ = ["group_metric_prox", "has_metric_prox"]

_ITERATIONS = 60


def has_metric_prox(pen):
    return isinstance(pen, (GroupL1, SparseGroupL1))


class _Segments:
    """Sums over the groups of a penalty seen on a view ``v``, and their expansion back."""

    def __init__(self, pen, v):
        self.pen, self.shape = pen, v.shape
        if pen.groups is None:
            self.n = 1 if v.dim() <= 1 else int(v.shape[0])
            self.seg = None
        else:
            self.n = pen.groups.n_groups
            self.seg = pen.groups.seg_for(v)

    def sum(self, x):
        if self.seg is None:
            return x.reshape(self.n, -1).sum(1)
        out = torch.zeros(self.n, dtype=x.dtype, device=x.device)
        return out.index_add(0, self.seg, x.reshape(-1))

    def max(self, x):
        if self.seg is None:
            return x.reshape(self.n, -1).amax(1)
        out = torch.full((self.n,), -torch.inf, dtype=x.dtype, device=x.device)
        return out.scatter_reduce(0, self.seg, x.reshape(-1), reduce="amax")

    def min(self, x):
        return -self.max(-x)

    def expand(self, per_group):
        if self.seg is None:
            if len(self.shape) <= 1:
                return per_group.expand(self.shape) if len(self.shape) else per_group[0]
            return per_group.reshape((-1,) + (1,) * (len(self.shape) - 1)).expand(self.shape)
        return per_group[self.seg].reshape(self.shape)


def _group_step(seg, v, t, a):
    """``x = prox^{diag(1/t)}`` of ``sum_g a_g ||x_g||`` at ``v`` (``t`` shaped like ``v``,
    ``a`` one entry per group, both >= 0)."""
    v2 = v * v
    norm = seg.sum(v2).sqrt()
    # zero groups: ||v / t|| <= a. Where t = 0 the coordinate is fixed (x = v): such a
    # group is zero only if those coordinates are zero already.
    ratio = torch.where(t > 0, v / torch.where(t > 0, t, torch.ones_like(t)),
                        torch.where(v == 0, torch.zeros_like(v), torch.full_like(v, torch.inf)))
    zero = seg.sum(ratio * ratio).sqrt() <= a
    lo = (norm - a * seg.max(t)).clamp_min(0)
    hi = (norm - a * seg.min(t)).clamp_min(0)
    at = seg.expand(a) * t
    # start at the root for the groups' mean step (exact when a group's steps are equal)
    rho = (norm - a * seg.sum(t) / seg.sum(torch.ones_like(t))).clamp(lo, hi)
    tol = 16 * torch.finfo(v.dtype).eps
    for _ in range(_ITERATIONS):
        den = seg.expand(rho) + at
        pos = den > 0
        # den = 0 (rho = 0 at a coordinate with t = 0): infinite where v != 0
        inv = torch.where(pos, 1.0 / torch.where(pos, den, torch.ones_like(den)),
                          torch.where(v2 > 0, torch.inf, 0.0))
        q = torch.where(v2 > 0, v2 * inv * inv, 0.0)
        s = seg.sum(q)
        s3 = seg.sum(q * inv)
        r = s.rsqrt()
        psi = r - 1.0
        # psi increases with rho: keep the root bracketed
        lo = torch.where(psi < 0, rho, lo)
        hi = torch.where(psi > 0, rho, hi)
        newton = rho - psi * s / (s3 * r)
        ok = torch.isfinite(newton) & (newton >= lo) & (newton <= hi)
        new = torch.where(ok, newton, 0.5 * (lo + hi))
        new = torch.where(zero | (psi == 0), rho, new)
        step = (new - rho).abs()
        rho = new
        if bool((step <= tol * rho).all()):
            break
    rho_x = seg.expand(rho)
    den = rho_x + at
    x = torch.where(den > 0, v * rho_x / torch.where(den > 0, den, torch.ones_like(den)), v)
    return torch.where(seg.expand(zero), torch.zeros_like(x), x)


@njit(cache=True, nogil=True, error_model="numpy")
def _group_step_nb(v, t, seg, a, out):  # pragma: no cover - compiled
    """The same computation as :func:`_group_step`, in float64 on flat arrays (``seg``: the
    group of each coordinate; ``a``: one entry per group)."""
    n_groups = a.size
    norm2 = np.zeros(n_groups)
    r2 = np.zeros(n_groups)
    tmin = np.full(n_groups, np.inf)
    tmax = np.zeros(n_groups)
    tsum = np.zeros(n_groups)
    cnt = np.zeros(n_groups)
    fixed = np.zeros(n_groups, dtype=np.bool_)
    for i in range(v.size):
        g = seg[i]
        x = v[i]
        norm2[g] += x * x
        if t[i] > 0:
            r2[g] += (x / t[i]) ** 2
        elif x != 0:
            fixed[g] = True
        tmin[g] = min(tmin[g], t[i])
        tmax[g] = max(tmax[g], t[i])
        tsum[g] += t[i]
        cnt[g] += 1
    rho = np.zeros(n_groups)
    lo = np.zeros(n_groups)
    hi = np.zeros(n_groups)
    active = np.zeros(n_groups, dtype=np.bool_)
    keep = np.zeros(n_groups, dtype=np.bool_)
    for g in range(n_groups):
        if a[g] <= 0:
            keep[g] = True
        elif fixed[g] or np.sqrt(r2[g]) > a[g]:
            nrm = np.sqrt(norm2[g])
            lo[g] = max(nrm - a[g] * tmax[g], 0.0)
            hi[g] = max(nrm - a[g] * tmin[g], 0.0)
            rho[g] = min(max(nrm - a[g] * tsum[g] / cnt[g], lo[g]), hi[g])
            active[g] = True
    s = np.zeros(n_groups)
    s3 = np.zeros(n_groups)
    tol = 16 * np.finfo(np.float64).eps
    for _ in range(60):
        s[:] = 0.0
        s3[:] = 0.0
        for i in range(v.size):
            g = seg[i]
            if not active[g]:
                continue
            den = rho[g] + a[g] * t[i]
            if den > 0:
                q = v[i] * v[i] / (den * den)
                s[g] += q
                s3[g] += q / den
            elif v[i] != 0:
                s[g] = np.inf
        moving = False
        for g in range(n_groups):
            if not active[g]:
                continue
            r = 1.0 / np.sqrt(s[g])
            psi = r - 1.0
            if psi == 0.0:
                active[g] = False
                continue
            if psi < 0:
                lo[g] = rho[g]
            else:
                hi[g] = rho[g]
            new = rho[g] - psi * s[g] / (s3[g] * r) if s3[g] > 0 else np.nan
            if not (new >= lo[g] and new <= hi[g]):
                new = 0.5 * (lo[g] + hi[g])
            if abs(new - rho[g]) <= tol * new:
                active[g] = False
            else:
                moving = True
            rho[g] = new
        if not moving:
            break
    for i in range(v.size):
        g = seg[i]
        if keep[g]:
            out[i] = v[i]
        elif rho[g] == 0.0 and not fixed[g] and not (np.sqrt(r2[g]) > a[g]):
            out[i] = 0.0
        else:
            den = rho[g] + a[g] * t[i]
            out[i] = v[i] * rho[g] / den if den > 0 else v[i]


def rows_metric_shrink(v, t, a):
    """Block soft-thresholding of the rows of a 2-D CPU tensor ``v`` in the metric
    ``diag(1/t)`` (``t`` like ``v``, ``a`` one threshold per row): the group step of
    :func:`group_metric_prox`, for callers that hold rows already (the Keras
    regularizers on the torch backend)."""
    return _group_step_cpu(_Rows(v.shape[0]), v, t, a)


class _Rows:
    seg = None

    def __init__(self, n):
        self.n = n


def _group_step_cpu(seg, v, t, a):
    """:func:`_group_step` through the compiled loop (CPU tensors)."""
    ids = (torch.arange(seg.n).repeat_interleave(v.numel() // max(seg.n, 1))
           if seg.seg is None else seg.seg)
    vv = v.detach().reshape(-1).to(torch.float64).numpy()
    tt = t.detach().reshape(-1).to(torch.float64).contiguous().numpy()
    out = np.empty_like(vv)
    _group_step_nb(vv, tt, np.ascontiguousarray(ids.numpy()), a.detach().to(
        torch.float64).numpy(), out)
    return torch.from_numpy(out).to(v.dtype).reshape(v.shape)


def group_metric_prox(pen, v, t):
    """The prox of a :class:`GroupL1` or :class:`SparseGroupL1` in the metric
    ``diag(1/t)``: ``argmin_x sum_j (x_j - v_j)^2 / (2 t_j) + pen(x)``.

    ``v`` is the view the penalty sees (groups: its rows, or the penalty's explicit
    groups), ``t`` a scalar or a tensor broadcastable to ``v`` (>= 0; where it is 0 the
    coordinate is left as it is). Returns a new tensor.
    """
    if not has_metric_prox(pen):
        raise TypeError(f"no metric prox for {type(pen).__name__}")
    t = torch.as_tensor(t, dtype=v.dtype, device=v.device).expand(v.shape)
    seg = _Segments(pen, v)
    ops, _ = ops_for(v)
    c = pen._group_weights(ops, v)
    if isinstance(pen, SparseGroupL1):
        thr = t * (pen.alpha * pen.tau)
        v = v - v.clamp(-thr, thr) if pen.tau > 0 else v
        a = pen.alpha * (1.0 - pen.tau) * c
    else:
        a = pen.alpha * c
    if not bool((a > 0).any()):
        return v.clone()
    if v.device.type == "cpu" and v.dtype in (torch.float32, torch.float64):
        return _group_step_cpu(seg, v, t, a)
    return _group_step(seg, v, t, a)


def floor(pen, v):
    """The penalty's pull on each coordinate, the lower bound of an adaptive optimizer's
    denominator in :class:`~sparsefit.nn.Proximal` (a float or a tensor like ``v``).

    L1: ``l1``; weighted L1: ``alpha * c_j``; elastic net: ``l1 + 2 l2 |v_j|``; L2:
    ``2 l2 |v_j|``; group lasso: ``alpha c_g / sqrt(|g|)`` (the root mean square of its
    subgradient ``alpha c_g w_g / ||w_g||`` over the group); sparse group lasso: the sum of
    both parts; other penalties: their strength.
    """
    from ..penalties import L1, L1L2, L2, WeightedL1

    if type(pen) is L1:
        return pen.l1
    if isinstance(pen, WeightedL1):
        return pen.alpha * pen._weights_for(ops_for(v)[0], v)
    if isinstance(pen, L1L2):
        return pen.l1 + 2.0 * pen.l2 * v.abs() if pen.l2 else pen.l1
    if isinstance(pen, L2):
        return 2.0 * pen.l2 * v.abs()
    if has_metric_prox(pen):
        seg = _Segments(pen, v)
        ops, _ = ops_for(v)
        size = seg.sum(torch.ones_like(v))
        rms = pen._group_weights(ops, v) / size.sqrt()
        if isinstance(pen, SparseGroupL1):
            return pen.alpha * pen.tau + pen.alpha * (1.0 - pen.tau) * seg.expand(rms)
        return pen.alpha * seg.expand(rms)
    return float(pen.strength)
