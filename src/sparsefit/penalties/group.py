"""Group penalties: GroupL1 (group lasso), SparseGroupL1 (sparse group lasso) and GroupL1L2
(group elastic net)."""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from numba import njit

from ._base import Penalty, check_strength, is_torch, ops_for
from ._interface import (
    block_conj,
    block_dual_scale,
    block_prox,
    block_rank,
    block_subdiff,
    block_value,
    implements,
    soft_threshold,
)
from .separable import _soft_threshold


class Groups:
    """A partition of the coordinates ``0..n_features-1`` into non-empty groups.

    Parameters
    ----------
    groups : sequence of int, or sequence of sequences of int
        Either contiguous group sizes (``[2, 3]`` means ``{0, 1}, {2, 3, 4}``) or the index
        arrays of each group (``[[0, 3], [1, 2, 4]]``). Indices refer to the flattened
        (C-order) weight.

    Raises
    ------
    ValueError
        If ``groups`` is empty, has an empty or negative-size group, or its index arrays do
        not partition ``0..n-1`` (an index repeated, missing or negative).
    """

    def __init__(self, groups):
        if isinstance(groups, Groups):
            groups = groups.config()
        if isinstance(groups, np.ndarray) and groups.ndim == 1 and groups.dtype.kind in "iu":
            groups = groups.tolist()
        try:
            items = list(groups)
        except TypeError:
            raise ValueError(
                f"groups must be a list of group sizes or of index arrays, got {groups!r}"
            ) from None
        if not items:
            raise ValueError("groups must not be empty")
        is_size = [isinstance(g, numbers.Integral) and not isinstance(g, bool) for g in items]
        if all(is_size):
            sizes = np.asarray(items, dtype=np.int64)
            if np.any(sizes <= 0):
                raise ValueError(f"groups sizes must be positive, got {items}")
            idx = [np.arange(s, dtype=np.int64) + o for s, o in
                   zip(sizes, np.concatenate([[0], np.cumsum(sizes)[:-1]]))]
            self._config = [int(s) for s in sizes]
        elif not any(is_size):
            idx = []
            for k, g in enumerate(items):
                a = np.asarray(g)
                if a.ndim != 1 or a.size == 0 or a.dtype.kind not in "iu":
                    raise ValueError(f"groups[{k}] must be a non-empty 1-D array of integer "
                                     f"indices, got {g!r}")
                idx.append(a.astype(np.int64))
            self._config = [a.tolist() for a in idx]
        else:
            raise ValueError("groups mixes sizes and index arrays; give one or the other")
        flat = np.concatenate(idx)
        n = flat.size
        if flat.min() < 0:
            raise ValueError(f"groups has a negative index ({flat.min()})")
        counts = np.bincount(flat, minlength=n)
        if counts.size > n or np.any(counts != 1):
            dup = np.flatnonzero(counts > 1)
            missing = np.flatnonzero(counts[:n] == 0)
            what = (f"index {dup[0]} is in more than one group" if dup.size
                    else f"index {missing[0]} is in no group")
            raise ValueError(f"groups must partition the coordinates 0..{n - 1}: {what}")
        self.n_features = n
        self.sizes = np.array([a.size for a in idx], dtype=np.int64)
        self.ptr = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.idx = flat
        self.seg = np.empty(n, dtype=np.int64)
        self.seg[flat] = np.repeat(np.arange(len(idx)), self.sizes)
        for a in (self.sizes, self.ptr, self.idx, self.seg):
            a.setflags(write=False)
        self._torch_seg = {}

    @property
    def n_groups(self):
        return self.sizes.size

    def config(self):
        return [list(g) if isinstance(g, list) else g for g in self._config]

    def seg_for(self, w):
        """The group id of each flattened coordinate, as an array/tensor matching ``w``."""
        if int(np.prod(tuple(w.shape))) != self.n_features:
            raise ValueError(
                f"groups cover {self.n_features} coordinates but the weight has shape "
                f"{tuple(w.shape)} ({int(np.prod(tuple(w.shape)))} coordinates)"
            )
        if is_torch(w):
            if w.device not in self._torch_seg:
                import torch

                self._torch_seg[w.device] = torch.tensor(self.seg, device=w.device)
            return self._torch_seg[w.device]
        return self.seg

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_torch_seg"] = {}
        return state


class _GroupPenalty(Penalty):
    """Shared machinery: group norms and per-group values for explicit or row groups.

    With ``groups=None`` the groups are read off the weight: each slice ``w[i, ...]`` along
    the first axis is a group (the rows of a torch ``Linear`` weight are its neurons, the
    first axis of a convolution weight its filters); a 1-D weight is one group.
    """

    is_separable = False

    def _init_groups(self, groups, weights):
        self.groups = None if groups is None else Groups(groups)
        if weights is None:
            self.weights = None
        else:
            wt = np.array(weights, dtype=np.float64, copy=True)
            if wt.ndim != 1 or wt.size == 0:
                raise ValueError("weights must be a non-empty 1-D array, one entry per group")
            if not np.all(np.isfinite(wt)) or np.any(wt <= 0):
                raise ValueError("weights must be finite and > 0 (one per group)")
            if self.groups is not None and wt.size != self.groups.n_groups:
                raise ValueError(
                    f"weights has {wt.size} entries for {self.groups.n_groups} groups")
            wt.setflags(write=False)
            self.weights = wt

    def _n_groups(self, w):
        if self.groups is not None:
            return self.groups.n_groups
        return 1 if len(w.shape) <= 1 else int(w.shape[0])

    def _group_weights(self, ops, w):
        """Per-group weights (default sqrt(group size)) as an array/tensor like ``w``."""
        if self.weights is not None:
            if self.weights.size != self._n_groups(w):
                raise ValueError(f"weights has {self.weights.size} entries but the weight "
                                 f"of shape {tuple(w.shape)} has {self._n_groups(w)} groups")
            return ops.like(self.weights, w)
        if self.groups is not None:
            return ops.like(np.sqrt(self.groups.sizes), w)
        size = int(np.prod(tuple(w.shape)[1:])) if len(w.shape) > 1 else int(np.prod(w.shape))
        return ops.like(np.full(self._n_groups(w), np.sqrt(size)), w)

    def _sq_norms(self, ops, w):
        """Squared L2 norm of each group."""
        return self._sums(w * w)

    def _sums(self, a):
        """Sum of ``a`` over each group."""
        if self.groups is None:
            return a.reshape(self._n_groups(a), -1).sum(1)
        seg = self.groups.seg_for(a)
        flat = a.reshape(-1)
        if is_torch(a):
            import torch

            out = torch.zeros(self.groups.n_groups, dtype=a.dtype, device=a.device)
            return out.index_add(0, seg, flat)
        return np.bincount(seg, weights=flat, minlength=self.groups.n_groups).astype(a.dtype)

    def _norms(self, ops, w):
        # sqrt with a zero (not NaN) derivative at zero groups, for autograd
        sq = self._sq_norms(ops, w)
        pos = sq > 0
        safe = ops.where(pos, sq, ops.like(1.0, sq))
        return ops.where(pos, ops.sqrt(safe), 0.0 * sq)

    def _expand(self, per_group, w):
        """Broadcast a per-group array to the shape of ``w``."""
        if self.groups is None:
            # one group per slice along the first axis; a 1-D weight is one group, and its
            # per-group array of shape (1,) broadcasts as it is
            if len(w.shape) <= 1:
                return per_group
            return per_group.reshape((-1,) + (1,) * (len(w.shape) - 1))
        return per_group[self.groups.seg_for(w)].reshape(w.shape)

    def _group_shrink(self, ops, w, thresh):
        """``w_g * max(0, 1 - thresh_g / ||w_g||)`` for every group."""
        nrm = self._norms(ops, w)
        safe = ops.where(nrm > 0, nrm, ops.like(1.0, nrm))
        scale = ops.relu(1.0 - thresh / safe)
        scale = ops.where(nrm > 0, scale, 0.0 * nrm)
        return w * self._expand(scale, w)

    def _check_array_step(self, step, w):
        s = step if is_torch(step) else np.asarray(step, dtype=np.float64)
        if s.ndim != 1 or s.shape[0] != self._n_groups(w):
            raise ValueError(
                f"step for {type(self).__name__} is a scalar or one value per group "
                f"({self._n_groups(w)}), got shape {tuple(s.shape)}")
        if bool((s < 0).any()) or not bool(np.all(np.isfinite(np.asarray(
                s.detach().cpu() if is_torch(s) else s)))):
            raise ValueError("step must be finite and >= 0")
        ops, _ = ops_for(w)
        return ops.like(s, w)

    def _group_config(self):
        return {
            "groups": None if self.groups is None else self.groups.config(),
            "weights": None if self.weights is None else self.weights.tolist(),
        }

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = None

    def numba_spec(self):
        if self.groups is None:
            raise ValueError(
                f"{type(self).__name__} with groups=None takes its groups from the weight's "
                "shape; give explicit groups to use it in a solver")
        wt = self.weights if self.weights is not None else np.sqrt(self.groups.sizes)
        return self._spec(np.ascontiguousarray(wt, dtype=np.float64),
                          np.ascontiguousarray(self.groups.ptr),
                          np.ascontiguousarray(self.groups.idx))

    def _grad_norms(self, grad):
        g = np.asarray(grad, dtype=np.float64)
        return g, self._norms(ops_for(g)[0], g)


class GroupL1(_GroupPenalty):
    r"""Group lasso, :math:`\mathrm{pen}(w) = \alpha \sum_g c_g \|w_g\|_2`.

    The prox is block soft-thresholding, :math:`w_g \max(0, 1 - s\alpha c_g/\|w_g\|)`: a
    whole group is exactly zero when :math:`\|v_g\| \le s\alpha c_g`.

    Parameters
    ----------
    alpha : float, default=0.01
        Strength, finite and >= 0.
    groups : list of int, list of index arrays, or None
        Contiguous group sizes or index arrays partitioning the (flattened) coordinates.
        ``None`` takes each slice along the first axis as a group (rows of a 2-D weight:
        the neurons of a torch ``Linear``).
    weights : array-like, optional
        Per-group weights :math:`c_g > 0`; default :math:`\sqrt{|g|}`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import GroupL1
    >>> pen = GroupL1(alpha=1.0, groups=[2, 2], weights=[1.0, 1.0])
    >>> pen.prox(np.array([3.0, 4.0, 0.3, 0.4]), step=1.0)
    array([2.4, 3.2, 0. , 0. ])
    """

    def __init__(self, alpha=0.01, groups=None, weights=None):
        self.alpha = check_strength(alpha, "alpha")
        self._init_groups(groups, weights)

    def _spec(self, weights, ptr, idx):
        return GroupL1Spec(self.alpha, weights, ptr, idx)

    def _value(self, ops, w):
        return self.alpha * ops.total(self._group_weights(ops, w) * self._norms(ops, w))

    def _values(self, ops, w):
        """Per-group values."""
        return self.alpha * self._group_weights(ops, w) * self._norms(ops, w)

    def _prox(self, ops, w, step):
        return self._group_shrink(ops, w, step * self.alpha * self._group_weights(ops, w))

    def _subgradient(self, ops, w):
        nrm = self._norms(ops, w)
        coef = ops.where(nrm > 0, self.alpha * self._group_weights(ops, w) /
                         ops.where(nrm > 0, nrm, ops.like(1.0, nrm)), 0.0 * nrm)
        return w * self._expand(coef, w)

    def subdiff_distance(self, w, grad):
        r"""Per-group distance of :math:`-\nabla f` to the subdifferential at ``w``.

        :math:`\|g_g + \alpha c_g w_g/\|w_g\|\|` for non-zero groups, else
        :math:`\max(\|g_g\| - \alpha c_g, 0)`.
        """
        ops, w = ops_for(w)
        grad = ops.like(grad, w)
        lam = self.alpha * self._group_weights(ops, w)
        nrm = self._norms(ops, w)
        safe = ops.where(nrm > 0, nrm, ops.like(1.0, nrm))
        resid = grad + w * self._expand(lam / safe, w)
        return ops.where(nrm > 0, ops.sqrt(self._sq_norms(ops, resid)),
                         ops.relu(self._norms(ops, grad) - lam))

    def alpha_max(self, grad):
        """Smallest ``alpha`` zeroing every group: ``max_g ||grad_g|| / c_g``."""
        g, gn = self._grad_norms(grad)
        wt = self._group_weights(ops_for(g)[0], g)
        return float(np.max(gn / wt, initial=0.0))

    def get_config(self):
        return {"alpha": self.alpha, **self._group_config()}


class SparseGroupL1(_GroupPenalty):
    r"""Sparse group lasso.

    .. math::
        \mathrm{pen}(w) = \alpha\tau\|w\|_1 + \alpha(1 - \tau)\sum_g c_g \|w_g\|_2

    The prox is exact: soft-thresholding at :math:`s\alpha\tau`, then block
    soft-thresholding at :math:`s\alpha(1-\tau)c_g`. Zeros appear both inside groups and
    as whole groups.

    Parameters
    ----------
    alpha : float, default=0.01
        Strength, finite and >= 0.
    tau : float, default=0.5
        Share of the L1 part, in [0, 1] (1 is the lasso, 0 the group lasso).
    groups, weights
        As for :class:`GroupL1`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import SparseGroupL1
    >>> pen = SparseGroupL1(alpha=1.0, tau=0.5, groups=[2, 2], weights=[1.0, 1.0])
    >>> pen.prox(np.array([3.5, 0.2, 0.3, 0.4]), step=1.0)
    array([2.5, 0. , 0. , 0. ])
    """

    def __init__(self, alpha=0.01, tau=0.5, groups=None, weights=None):
        self.alpha = check_strength(alpha, "alpha")
        self.tau = check_strength(tau, "tau")
        if self.tau > 1.0:
            raise ValueError(f"tau must be in [0, 1], got {self.tau}")
        self._init_groups(groups, weights)

    def _spec(self, weights, ptr, idx):
        return SparseGroupL1Spec(self.alpha, self.tau, weights, ptr, idx)

    def _value(self, ops, w):
        l1 = self.alpha * self.tau * ops.total(ops.abs(w))
        grp = ops.total(self._group_weights(ops, w) * self._norms(ops, w))
        return l1 + self.alpha * (1.0 - self.tau) * grp

    def _values(self, ops, w):
        """Per-group values."""
        return self.alpha * self.tau * self._sums(ops.abs(w)) + self.alpha * (1.0 - self.tau) * \
            self._group_weights(ops, w) * self._norms(ops, w)

    def _prox(self, ops, w, step):
        if not isinstance(step, float):
            t1 = self._expand(step, w) * self.alpha * self.tau
        else:
            t1 = step * self.alpha * self.tau
        z = _soft_threshold(ops, w, t1)
        return self._group_shrink(
            ops, z, step * self.alpha * (1.0 - self.tau) * self._group_weights(ops, w))

    def _subgradient(self, ops, w):
        inner = GroupL1(self.alpha * (1.0 - self.tau), None, None)
        inner.groups, inner.weights = self.groups, self.weights
        return self.alpha * self.tau * ops.sign(w) + inner._subgradient(ops, w)

    def subdiff_distance(self, w, grad):
        """Per-group distance of ``-grad`` to the subdifferential at ``w``."""
        ops, w = ops_for(w)
        grad = ops.like(grad, w)
        l1 = self.alpha * self.tau
        lg = self.alpha * (1.0 - self.tau) * self._group_weights(ops, w)
        nrm = self._norms(ops, w)
        safe = ops.where(nrm > 0, nrm, ops.like(1.0, nrm))
        resid = ops.where(w != 0, grad + l1 * ops.sign(w) + w * self._expand(lg / safe, w),
                          ops.relu(ops.abs(grad) - l1))
        at_zero = ops.relu(self._norms(ops, _soft_threshold(ops, grad, l1)) - lg)
        return ops.where(nrm > 0, ops.sqrt(self._sq_norms(ops, resid)), at_zero)

    def alpha_max(self, grad):
        r"""Smallest ``alpha`` zeroing every group.

        Per group, the root of :math:`\|\mathrm{ST}(g_g, \alpha\tau)\| = \alpha(1-\tau)c_g`
        (decreasing in alpha), found by bisection to machine precision; the returned value
        is on the zero side.
        """
        g, gn = self._grad_norms(grad)
        ops = ops_for(g)[0]
        c = self._group_weights(ops, g)
        if self.tau == 0.0:
            return float(np.max(gn / c, initial=0.0))
        hi = np.full(c.shape, np.max(np.abs(g), initial=0.0) / self.tau)
        lo = np.zeros_like(hi)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            st = _soft_threshold(ops, g, self._expand(mid, g) * self.tau)
            excess = self._norms(ops, st) - mid * (1.0 - self.tau) * c
            zero = excess <= 0
            hi = np.where(zero, mid, hi)
            lo = np.where(zero, lo, mid)
            if np.all(hi - lo <= 1e-15 * np.maximum(hi, 1e-300)):
                break
        return float(np.max(hi, initial=0.0))

    def get_config(self):
        return {"alpha": self.alpha, "tau": self.tau, **self._group_config()}



class GroupL1L2(_GroupPenalty):
    r"""Group elastic net: the group lasso plus a ridge term, in scikit-learn's scaling.

    .. math::
        \mathrm{pen}(w) = \alpha r \sum_g c_g \|w_g\|_2 + \frac{\alpha (1 - r)}{2} \|w\|_2^2

    With the groups ``[n_tasks] * n_features`` of a multi-task coefficient matrix (feature
    ``j``, task ``t`` is coordinate ``j * n_tasks + t``) and weights 1 this is the penalty of
    scikit-learn's ``MultiTaskElasticNet(alpha, l1_ratio=r)``. The prox is exact: block
    soft-thresholding at :math:`s\alpha r c_g`, then shrinkage by
    :math:`1 / (1 + s\alpha(1 - r))`; a whole group is exactly zero when
    :math:`\|v_g\| \le s\alpha r c_g`.

    Parameters
    ----------
    alpha : float, default=0.01
        Strength, finite and >= 0.
    l1_ratio : float, default=0.5
        Share of the group-lasso part, in [0, 1] (1 is :class:`GroupL1`, 0 the ridge).
    groups, weights
        As for :class:`GroupL1` (default weights :math:`\sqrt{|g|}`).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import GroupL1L2
    >>> pen = GroupL1L2(alpha=2.0, l1_ratio=0.5, groups=[2, 2], weights=[1.0, 1.0])
    >>> pen.prox(np.array([3.0, 4.0, 0.3, 0.4]), step=1.0)
    array([1.2, 1.6, 0. , 0. ])
    """

    def __init__(self, alpha=0.01, l1_ratio=0.5, groups=None, weights=None):
        self.alpha = check_strength(alpha, "alpha")
        self.l1_ratio = check_strength(l1_ratio, "l1_ratio")
        if self.l1_ratio > 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {self.l1_ratio}")
        self._init_groups(groups, weights)

    def _spec(self, weights, ptr, idx):
        return GroupL1L2Spec(self.alpha * self.l1_ratio, self.alpha * (1.0 - self.l1_ratio),
                             weights, ptr, idx)

    def _group_part(self):
        """The group-lasso part, a :class:`GroupL1` on the same groups and weights."""
        inner = GroupL1(self.alpha * self.l1_ratio, None, None)
        inner.groups, inner.weights = self.groups, self.weights
        return inner

    @property
    def _ridge(self):
        return self.alpha * (1.0 - self.l1_ratio)

    def _value(self, ops, w):
        return self._group_part()._value(ops, w) + 0.5 * self._ridge * ops.total(w * w)

    def _values(self, ops, w):
        """Per-group values."""
        return self._group_part()._values(ops, w) + 0.5 * self._ridge * self._sq_norms(ops, w)

    def _prox(self, ops, w, step):
        z = self._group_part()._prox(ops, w, step)
        shrink = 1.0 + step * self._ridge
        return z / (shrink if isinstance(step, float) else self._expand(shrink, w))

    def _subgradient(self, ops, w):
        return self._group_part()._subgradient(ops, w) + self._ridge * w

    def subdiff_distance(self, w, grad):
        """Per-group distance of ``-grad`` to the subdifferential at ``w``: the group
        lasso's, at the gradient plus the ridge part's."""
        ops, w = ops_for(w)
        return self._group_part().subdiff_distance(w, ops.like(grad, w) + self._ridge * w)

    def alpha_max(self, grad):
        """Smallest ``alpha`` zeroing every group: ``max_g ||grad_g|| / (c_g l1_ratio)``
        (infinite for ``l1_ratio = 0`` unless ``grad`` is zero)."""
        g, gn = self._grad_norms(grad)
        top = float(np.max(gn / self._group_weights(ops_for(g)[0], g), initial=0.0))
        if self.l1_ratio == 0.0:
            return 0.0 if top == 0.0 else np.inf
        return top / self.l1_ratio

    def get_config(self):
        return {"alpha": self.alpha, "l1_ratio": self.l1_ratio, **self._group_config()}


# -- compiled specs (see sparsefit.penalties._interface) -----------------------------------
class GroupL1Spec(NamedTuple):
    """``alpha * weights[g] * ||x_g||`` over the groups ``grp_idx[grp_ptr[g]:grp_ptr[g+1]]``."""

    alpha: float
    weights: np.ndarray
    grp_ptr: np.ndarray
    grp_idx: np.ndarray


class SparseGroupL1Spec(NamedTuple):
    """``alpha tau ||x_g||_1 + alpha (1 - tau) weights[g] ||x_g||``."""

    alpha: float
    tau: float
    weights: np.ndarray
    grp_ptr: np.ndarray
    grp_idx: np.ndarray


@njit(cache=True, nogil=True, inline="always")
def _norm(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    return np.sqrt(s)


@njit(cache=True, nogil=True, inline="always")
def _shrink_into(out, t):
    # out <- out * max(0, 1 - t / ||out||)
    nrm = _norm(out)
    if nrm <= t:
        out[:] = 0.0
    else:
        out *= 1.0 - t / nrm


@njit(cache=True, nogil=True, inline="always")
def _group_dist(x, g, lam):
    # distance of -g to the subdifferential of lam ||.|| at x
    nrm = _norm(x)
    if nrm == 0.0:
        return max(_norm(g) - lam, 0.0)
    s = 0.0
    for i in range(x.shape[0]):
        r = g[i] + lam * x[i] / nrm
        s += r * r
    return np.sqrt(s)


@implements(block_value, GroupL1Spec)
def _grp_value(spec, xg, g):
    return spec.alpha * spec.weights[g] * _norm(xg)


@implements(block_prox, GroupL1Spec)
def _grp_prox(spec, xg, step, g, out):
    out[:] = xg
    _shrink_into(out, step * spec.alpha * spec.weights[g])


@implements(block_subdiff, GroupL1Spec)
def _grp_subdiff(spec, xg, gg, g):
    return _group_dist(xg, gg, spec.alpha * spec.weights[g])


@implements(block_rank, GroupL1Spec)
def _grp_rank(spec, gg, g):
    return _norm(gg) - spec.alpha * spec.weights[g]


@implements(block_dual_scale, GroupL1Spec)
def _grp_dual_scale(spec, vg, g):
    lam = spec.alpha * spec.weights[g]
    nrm = _norm(vg)
    return 1.0 if nrm <= lam else lam / nrm


@implements(block_conj, GroupL1Spec)
def _grp_conj(spec, vg, g):
    return 0.0


@njit(cache=True, nogil=True, inline="always")
def _st_norm(v, t):
    s = 0.0
    for i in range(v.shape[0]):
        r = soft_threshold(v[i], t)
        s += r * r
    return np.sqrt(s)


@implements(block_value, SparseGroupL1Spec)
def _sgl_value(spec, xg, g):
    l1 = 0.0
    for i in range(xg.shape[0]):
        l1 += abs(xg[i])
    return spec.alpha * spec.tau * l1 + spec.alpha * (1.0 - spec.tau) * spec.weights[g] * _norm(
        xg)


@implements(block_prox, SparseGroupL1Spec)
def _sgl_prox(spec, xg, step, g, out):
    t1 = step * spec.alpha * spec.tau
    for i in range(xg.shape[0]):
        out[i] = soft_threshold(xg[i], t1)
    _shrink_into(out, step * spec.alpha * (1.0 - spec.tau) * spec.weights[g])


@implements(block_subdiff, SparseGroupL1Spec)
def _sgl_subdiff(spec, xg, gg, g):
    l1 = spec.alpha * spec.tau
    lg = spec.alpha * (1.0 - spec.tau) * spec.weights[g]
    nrm = _norm(xg)
    if nrm == 0.0:
        return max(_st_norm(gg, l1) - lg, 0.0)
    s = 0.0
    for i in range(xg.shape[0]):
        if xg[i] == 0.0:
            r = max(abs(gg[i]) - l1, 0.0)
        else:
            r = gg[i] + (l1 if xg[i] > 0 else -l1) + lg * xg[i] / nrm
        s += r * r
    return np.sqrt(s)


@implements(block_rank, SparseGroupL1Spec)
def _sgl_rank(spec, gg, g):
    l1 = spec.alpha * spec.tau
    lg = spec.alpha * (1.0 - spec.tau) * spec.weights[g]
    st = _st_norm(gg, l1)
    if st > 0.0:
        return st - lg
    mx = 0.0
    for i in range(gg.shape[0]):
        mx = max(mx, abs(gg[i]))
    return mx - l1 - lg


@implements(block_dual_scale, SparseGroupL1Spec)
def _sgl_dual_scale(spec, vg, g):
    # largest s in [0, 1] with ||ST(s v, l1)|| <= lg (increasing in s): bisection
    l1 = spec.alpha * spec.tau
    lg = spec.alpha * (1.0 - spec.tau) * spec.weights[g]
    if _st_norm(vg, l1) <= lg:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _st_norm(mid * vg, l1) <= lg:
            lo = mid
        else:
            hi = mid
    return lo


@implements(block_conj, SparseGroupL1Spec)
def _sgl_conj(spec, vg, g):
    return 0.0


class GroupL1L2Spec(NamedTuple):
    """``l1 weights[g] ||x_g|| + l2 / 2 ||x_g||^2`` (``l1 = alpha l1_ratio``, ``l2 = alpha
    (1 - l1_ratio)``)."""

    l1: float
    l2: float
    weights: np.ndarray
    grp_ptr: np.ndarray
    grp_idx: np.ndarray


@implements(block_value, GroupL1L2Spec)
def _gen_value(spec, xg, g):
    nrm = _norm(xg)
    return spec.l1 * spec.weights[g] * nrm + 0.5 * spec.l2 * nrm * nrm


@implements(block_prox, GroupL1L2Spec)
def _gen_prox(spec, xg, step, g, out):
    out[:] = xg
    _shrink_into(out, step * spec.l1 * spec.weights[g])
    out /= 1.0 + step * spec.l2


@implements(block_subdiff, GroupL1L2Spec)
def _gen_subdiff(spec, xg, gg, g):
    # the group lasso's distance at the gradient plus the ridge part's, l2 * x
    lam = spec.l1 * spec.weights[g]
    nrm = _norm(xg)
    if nrm == 0.0:
        return max(_norm(gg) - lam, 0.0)
    s = 0.0
    for i in range(xg.shape[0]):
        r = gg[i] + spec.l2 * xg[i] + lam * xg[i] / nrm
        s += r * r
    return np.sqrt(s)


@implements(block_rank, GroupL1L2Spec)
def _gen_rank(spec, gg, g):
    return _norm(gg) - spec.l1 * spec.weights[g]


@implements(block_dual_scale, GroupL1L2Spec)
def _gen_dual_scale(spec, vg, g):
    if spec.l2 > 0.0:
        return 1.0  # the conjugate is finite everywhere
    lam = spec.l1 * spec.weights[g]
    nrm = _norm(vg)
    return 1.0 if nrm <= lam else lam / nrm


@implements(block_conj, GroupL1L2Spec)
def _gen_conj(spec, vg, g):
    # sup_x v.x - lam ||x|| - l2/2 ||x||^2 = max(||v|| - lam, 0)^2 / (2 l2)
    if spec.l2 <= 0.0:
        return 0.0
    e = max(_norm(vg) - spec.l1 * spec.weights[g], 0.0)
    return 0.5 * e * e / spec.l2
