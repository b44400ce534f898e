"""Separable penalties: L1, L2, L1L2 (elastic net), WeightedL1 (adaptive lasso), MCP, SCAD,
LogSum.

Strengths follow Keras: ``L1(l1)`` is ``l1 * sum|w|`` and ``L2(l2)`` is ``l2 * sum w**2``
(no factor 1/2). Each class is followed by its compiled spec and the implementations the
solvers call (see :mod:`sparsefit.penalties._interface`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ._base import Penalty, check_strength, is_torch, ops_for
from ._interface import (
    conj_argmax1,
    coord_update,
    dual_scale1,
    implements,
    prox1,
    soft_threshold,
    subgrad1,
    value1,
    weight,
)

_EMPTY = np.zeros(0)
_INF = np.inf
_BOUNDARY = 1.0 + 4.0 * np.finfo(np.float64).eps


def _select(ops, cond, a, b):
    """``where`` that also takes a Python bool (scalar step) as the condition."""
    if isinstance(cond, (bool, np.bool_)):
        return a if cond else b
    return ops.where(cond, a, b)


def _soft_threshold(ops, w, t):
    return ops.sign(w) * ops.relu(ops.abs(w) - t)


class L1(Penalty):
    r"""Lasso penalty, :math:`\mathrm{pen}(w) = l_1 \sum_j |w_j|`.

    Its prox is soft-thresholding, :math:`\mathrm{prox}_{s\,\mathrm{pen}}(v)_j =
    \mathrm{sign}(v_j)\max(|v_j| - s l_1, 0)`: exactly zero wherever :math:`|v_j| \le s l_1`.

    Parameters
    ----------
    l1 : float, default=0.01
        Strength, finite and >= 0 (the Keras default).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import L1
    >>> L1(0.01)(np.ones((3, 2)))
    0.06
    >>> L1(1.0).prox(np.array([3.0, -0.5, 1.0]), step=1.0)
    array([ 2., -0.,  0.])
    """

    strength_name = "l1"

    def __init__(self, l1=0.01):
        self.l1 = check_strength(l1, "l1")

    def _value(self, ops, w):
        return self.l1 * ops.total(ops.abs(w))

    def _values(self, ops, w):
        return self.l1 * ops.abs(w)

    def _prox(self, ops, w, step):
        return _soft_threshold(ops, w, step * self.l1)

    def _subgradient(self, ops, w):
        return self.l1 * ops.sign(w)

    def subdiff_distance(self, w, grad):
        r"""Per-coordinate distance of :math:`-\nabla f` to :math:`\partial\,\mathrm{pen}(w)`.

        :math:`|g_j + l_1 \mathrm{sign}(w_j)|` where :math:`w_j \ne 0`, else
        :math:`\max(|g_j| - l_1, 0)`. Its maximum is the optimality violation.
        """
        ops, w = ops_for(w)
        grad = ops.like(grad, w)
        return ops.where(w != 0, ops.abs(grad + self.l1 * ops.sign(w)),
                         ops.relu(ops.abs(grad) - self.l1))

    def alpha_max(self, grad):
        """Smallest ``l1`` for which ``w = 0`` is optimal: ``max |grad|`` at zero."""
        return float(np.max(np.abs(np.asarray(grad)), initial=0.0))

    def numba_spec(self):
        return L1Spec(self.l1, _EMPTY)

    def get_config(self):
        return {"l1": self.l1}


class L1Spec(NamedTuple):
    """``l1 * weights[j] * |x|`` (``weights`` empty: all ones); :class:`L1` and
    :class:`WeightedL1`."""

    l1: float
    weights: np.ndarray


@implements(value1, L1Spec)
def _l1_value(spec, x, j):
    return spec.l1 * weight(spec.weights, j) * abs(x)


@implements(prox1, L1Spec)
def _l1_prox(spec, x, step, j):
    return soft_threshold(x, step * spec.l1 * weight(spec.weights, j))


@implements(subgrad1, L1Spec)
def _l1_subgrad(spec, x, j):
    lam = spec.l1 * weight(spec.weights, j)
    if x > 0.0:
        return lam, lam
    if x < 0.0:
        return -lam, -lam
    return -lam, lam


@implements(dual_scale1, L1Spec)
def _l1_dual_scale(spec, v, j):
    return _abs_scale(spec.l1 * weight(spec.weights, j), v)


@implements(conj_argmax1, L1Spec)
def _l1_conj_argmax(spec, v, j):
    return _abs_argmax(spec.l1 * weight(spec.weights, j), v)


@njit(cache=True, nogil=True, inline="always")
def _l1_l2_step(old, g, L, lam, mu):
    """The coordinate step of ``lam |x| + mu x^2 / 2`` with curvature ``L`` and gradient
    ``g``, and the old value's violation, in one pass: the solvers' hottest loop (the
    covariance-form epochs touch every working-set coordinate at O(1) each)."""
    s = -g
    if old == 0.0:
        d = max(abs(s) - lam, 0.0)
    elif old > 0.0:
        d = abs(mu * old + lam - s)
    else:
        d = abs(mu * old - lam - s)
    z = old + s / L
    t = lam / L
    if z > t:
        return (z - t) / (1.0 + mu / L), d
    if z < -t:
        return (z + t) / (1.0 + mu / L), d
    return 0.0, d


@implements(coord_update, L1Spec)
def _l1_coord_update(spec, old, g, L, j):
    return _l1_l2_step(old, g, L, spec.l1 * weight(spec.weights, j), 0.0)


@njit(cache=True, nogil=True, inline="always")
def _abs_scale(lam, v):
    # largest s in [0, 1] with |s v| <= lam
    av = abs(v)
    if av <= lam:
        return 1.0
    return lam / av


@njit(cache=True, nogil=True, inline="always")
def _abs_argmax(lam, v):
    # argmax_x v x - lam |x|: 0 inside the domain, +-inf outside. The dual point is scaled
    # by s = lam / |v| (_abs_scale) and s |v| can round to an ulp above lam: that is the
    # boundary, inside (taken as outside, the conjugate was inf - inf = NaN and so the gap)
    if v > lam * _BOUNDARY:
        return _INF
    if v < -lam * _BOUNDARY:
        return -_INF
    return 0.0


class L2(Penalty):
    r"""Ridge penalty, :math:`\mathrm{pen}(w) = l_2 \sum_j w_j^2` (Keras' scaling, no 1/2).

    Its prox only shrinks, :math:`v / (1 + 2 s l_2)`: it never produces an exact zero.

    Parameters
    ----------
    l2 : float, default=0.01
        Strength, finite and >= 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import L2
    >>> L2(0.5).prox(np.array([2.0, -1.0]), step=1.0)
    array([ 1. , -0.5])
    """

    strength_name = "l2"

    def __init__(self, l2=0.01):
        self.l2 = check_strength(l2, "l2")

    def _value(self, ops, w):
        return self.l2 * ops.total(w * w)

    def _values(self, ops, w):
        return self.l2 * w * w

    def _prox(self, ops, w, step):
        return w / (1.0 + 2.0 * step * self.l2)

    def _subgradient(self, ops, w):
        return 2.0 * self.l2 * w

    def subdiff_distance(self, w, grad):
        """Per-coordinate ``|grad_j + 2 l2 w_j|`` (the penalty is smooth)."""
        ops, w = ops_for(w)
        return ops.abs(ops.like(grad, w) + 2.0 * self.l2 * w)

    def alpha_max(self, grad):
        """``0`` when ``grad`` is zero (then ``w = 0`` is optimal for any ``l2``), else ``inf``."""
        return 0.0 if not np.any(np.asarray(grad)) else float("inf")

    def numba_spec(self):
        return L2Spec(self.l2, _EMPTY)

    def get_config(self):
        return {"l2": self.l2}


class L2Spec(NamedTuple):
    """``l2 * weights[j] * x^2``."""

    l2: float
    weights: np.ndarray


@implements(value1, L2Spec)
def _l2_value(spec, x, j):
    return spec.l2 * weight(spec.weights, j) * x * x


@implements(prox1, L2Spec)
def _l2_prox(spec, x, step, j):
    return x / (1.0 + 2.0 * step * spec.l2 * weight(spec.weights, j))


@implements(subgrad1, L2Spec)
def _l2_subgrad(spec, x, j):
    d = 2.0 * spec.l2 * weight(spec.weights, j) * x
    return d, d


@implements(dual_scale1, L2Spec)
def _l2_dual_scale(spec, v, j):
    return _ridge_scale(spec.l2 * weight(spec.weights, j), 0.0, v)


@implements(conj_argmax1, L2Spec)
def _l2_conj_argmax(spec, v, j):
    return _ridge_argmax(spec.l2 * weight(spec.weights, j), 0.0, v)


@njit(cache=True, nogil=True, inline="always")
def _ridge_scale(l2, l1, v):
    # lam |x| + l2 x^2: finite conjugate everywhere when l2 > 0
    if l2 > 0.0:
        return 1.0
    return _abs_scale(l1, v)


@njit(cache=True, nogil=True, inline="always")
def _ridge_argmax(l2, l1, v):
    # argmax_x v x - l1 |x| - l2 x^2
    if l2 > 0.0:
        return soft_threshold(v, l1) / (2.0 * l2)
    return _abs_argmax(l1, v)


class L1L2(Penalty):
    r"""Elastic net, :math:`\mathrm{pen}(w) = l_1 \|w\|_1 + l_2 \|w\|_2^2`.

    Defaults to ``l1=0.0, l2=0.0`` as Keras' class does (the identifier ``"l1_l2"`` gives
    0.01 for both). scikit-learn's ``ElasticNet(alpha, l1_ratio)`` is
    ``L1L2(l1=alpha * l1_ratio, l2=alpha * (1 - l1_ratio) / 2)``. The prox is
    soft-thresholding followed by shrinkage, :math:`\mathrm{ST}(v, s l_1) / (1 + 2 s l_2)`.

    Parameters
    ----------
    l1, l2 : float, default=0.0
        Strengths, finite and >= 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import L1L2
    >>> L1L2(l1=1.0, l2=0.5).prox(np.array([3.0, 0.5]), step=1.0)
    array([1., 0.])
    """

    strength_name = "l1"

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = check_strength(l1, "l1")
        self.l2 = check_strength(l2, "l2")

    def _value(self, ops, w):
        return self.l1 * ops.total(ops.abs(w)) + self.l2 * ops.total(w * w)

    def _values(self, ops, w):
        return self.l1 * ops.abs(w) + self.l2 * w * w

    def _prox(self, ops, w, step):
        return _soft_threshold(ops, w, step * self.l1) / (1.0 + 2.0 * step * self.l2)

    def _subgradient(self, ops, w):
        return self.l1 * ops.sign(w) + 2.0 * self.l2 * w

    def subdiff_distance(self, w, grad):
        """Per-coordinate distance of ``-grad`` to the subdifferential at ``w``."""
        ops, w = ops_for(w)
        g = ops.like(grad, w) + 2.0 * self.l2 * w
        return ops.where(w != 0, ops.abs(g + self.l1 * ops.sign(w)), ops.relu(ops.abs(g) - self.l1))

    def alpha_max(self, grad):
        """Smallest ``l1`` for which ``w = 0`` is optimal (any ``l2``): ``max |grad|``."""
        return float(np.max(np.abs(np.asarray(grad)), initial=0.0))

    def numba_spec(self):
        return L1L2Spec(self.l1, self.l2, _EMPTY)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1L2Spec(NamedTuple):
    """``weights[j] * (l1 |x| + l2 x^2)``."""

    l1: float
    l2: float
    weights: np.ndarray


@implements(value1, L1L2Spec)
def _l1l2_value(spec, x, j):
    return weight(spec.weights, j) * (spec.l1 * abs(x) + spec.l2 * x * x)


@implements(prox1, L1L2Spec)
def _l1l2_prox(spec, x, step, j):
    t = step * weight(spec.weights, j)
    return soft_threshold(x, t * spec.l1) / (1.0 + 2.0 * t * spec.l2)


@implements(subgrad1, L1L2Spec)
def _l1l2_subgrad(spec, x, j):
    wj = weight(spec.weights, j)
    lam = spec.l1 * wj
    d = 2.0 * spec.l2 * wj * x
    if x > 0.0:
        return d + lam, d + lam
    if x < 0.0:
        return d - lam, d - lam
    return -lam, lam


@implements(coord_update, L1L2Spec)
def _l1l2_coord_update(spec, old, g, L, j):
    wj = weight(spec.weights, j)
    return _l1_l2_step(old, g, L, spec.l1 * wj, 2.0 * spec.l2 * wj)


@implements(dual_scale1, L1L2Spec)
def _l1l2_dual_scale(spec, v, j):
    wj = weight(spec.weights, j)
    return _ridge_scale(spec.l2 * wj, spec.l1 * wj, v)


@implements(conj_argmax1, L1L2Spec)
def _l1l2_conj_argmax(spec, v, j):
    wj = weight(spec.weights, j)
    return _ridge_argmax(spec.l2 * wj, spec.l1 * wj, v)


def _check_weights(weights, name="weights"):
    w = np.array(weights, dtype=np.float64, copy=True)
    if w.ndim == 0 or w.size == 0:
        raise ValueError(f"{name} must be a non-empty array, got {weights!r}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite")
    if np.any(w < 0):
        raise ValueError(f"{name} must be >= 0")
    w.setflags(write=False)
    return w


class _Weighted:
    """Mixin: per-coordinate weights, broadcast to the weight and cached per torch device."""

    def _weights_for(self, ops, w):
        if tuple(w.shape) != self.weights.shape and self.weights.size != int(np.prod(w.shape)):
            raise ValueError(
                f"weights has {self.weights.size} entries but the weight has shape "
                f"{tuple(w.shape)}"
            )
        if is_torch(w):
            key = (w.device, w.dtype)
            cache = self.__dict__.setdefault("_torch_cache", {})
            if key not in cache:
                cache[key] = ops.like(self.weights, w)
            return cache[key].reshape(w.shape)
        return self.weights.reshape(w.shape).astype(w.dtype, copy=False)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_torch_cache", None)
        return state


class WeightedL1(_Weighted, Penalty):
    r"""Weighted L1, :math:`\mathrm{pen}(w) = \alpha \sum_j c_j |w_j|` (the adaptive lasso).

    A weight :math:`c_j = 0` leaves coordinate ``j`` unpenalized.

    Parameters
    ----------
    alpha : float, default=1.0
        Overall strength, finite and >= 0.
    weights : array-like
        Per-coordinate weights :math:`c_j \ge 0`, with as many entries as the weight
        (any shape with that many entries; flattened in C order).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import WeightedL1
    >>> WeightedL1(1.0, weights=[0.0, 1.0, 2.0]).prox(np.array([1.0, 1.5, 1.5]), step=1.0)
    array([1. , 0.5, 0. ])
    """

    def __init__(self, alpha=1.0, weights=None):
        self.alpha = check_strength(alpha, "alpha")
        if weights is None:
            raise ValueError("weights is required for WeightedL1 (use L1 for equal weights)")
        self.weights = _check_weights(weights)

    def _value(self, ops, w):
        return self.alpha * ops.total(self._weights_for(ops, w) * ops.abs(w))

    def _values(self, ops, w):
        return self.alpha * self._weights_for(ops, w) * ops.abs(w)

    def _prox(self, ops, w, step):
        return _soft_threshold(ops, w, step * self.alpha * self._weights_for(ops, w))

    def _subgradient(self, ops, w):
        return self.alpha * self._weights_for(ops, w) * ops.sign(w)

    def subdiff_distance(self, w, grad):
        """Per-coordinate distance of ``-grad`` to the subdifferential at ``w``."""
        ops, w = ops_for(w)
        lam = self.alpha * self._weights_for(ops, w)
        grad = ops.like(grad, w)
        return ops.where(w != 0, ops.abs(grad + lam * ops.sign(w)), ops.relu(ops.abs(grad) - lam))

    def alpha_max(self, grad):
        """Smallest ``alpha`` zeroing every penalized coordinate: ``max |grad_j| / c_j``.

        Coordinates with ``c_j = 0`` are unpenalized and left out.
        """
        g = np.abs(np.asarray(grad, dtype=np.float64)).ravel()
        c = self.weights.ravel()
        if g.shape != c.shape:
            raise ValueError(f"grad has {g.size} entries, weights has {c.size}")
        mask = c > 0
        return float(np.max(g[mask] / c[mask], initial=0.0))

    def numba_spec(self):
        return L1Spec(self.alpha, np.ascontiguousarray(self.weights.ravel()))

    def get_config(self):
        return {"alpha": self.alpha, "weights": self.weights.tolist()}

    def __eq__(self, other):
        return (type(self) is type(other) and self.alpha == other.alpha
                and np.array_equal(self.weights, other.weights))


class MCP(Penalty):
    r"""Minimax concave penalty (Zhang, 2010), non-convex.

    .. math::
        \mathrm{pen}(w) = \sum_j \begin{cases}
            \alpha |w_j| - w_j^2 / (2\gamma) & |w_j| \le \gamma\alpha \\
            \gamma \alpha^2 / 2 & |w_j| > \gamma\alpha \end{cases}

    The prox of ``step * pen`` is firm thresholding when ``step < gamma``: 0 for
    :math:`|v| \le s\alpha`, :math:`\mathrm{sign}(v)(|v| - s\alpha)/(1 - s/\gamma)` up to
    :math:`\gamma\alpha`, and ``v`` beyond (no bias on large coefficients). For
    ``step >= gamma`` the subproblem is non-convex and the exact global minimizer is the
    better of 0 and :math:`\mathrm{sign}(v)\max(|v|, \gamma\alpha)`.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength, finite and >= 0.
    gamma : float, default=3.0
        Concavity, > 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import MCP
    >>> MCP(alpha=1.0, gamma=3.0).prox(np.array([0.5, 2.0, 5.0]), step=1.0)
    array([0. , 1.5, 5. ])
    """

    is_convex = False

    def __init__(self, alpha=1.0, gamma=3.0):
        self.alpha = check_strength(alpha, "alpha")
        self.gamma = check_strength(gamma, "gamma")
        if self.gamma <= 1.0:
            raise ValueError(f"gamma must be > 1 for MCP, got {self.gamma}")

    def _pieces(self, ops, w):
        ax = ops.abs(w)
        inner = ax <= self.gamma * self.alpha
        return ax, inner

    def _value(self, ops, w):
        return ops.total(self._values(ops, w))

    def _values(self, ops, w):
        ax, inner = self._pieces(ops, w)
        a, g = self.alpha, self.gamma
        return ops.where(inner, a * ax - ax * ax / (2 * g), ops.like(0.5 * g * a * a, w))

    def _prox(self, ops, w, step):
        a, g = self.alpha, self.gamma
        ax = ops.abs(w)
        convex = step < g
        # guard the denominator where the subproblem is non-convex (that branch is unused)
        if isinstance(convex, bool):
            denom = (1.0 - step / g) if convex else 1.0
        else:
            denom = ops.where(convex, 1.0 - step / g, ops.like(1.0, w))
        firm = ops.where(ax > g * a, ax, ops.relu(ax - step * a) / denom)
        z = ops.maximum(ax, g * a)
        f0 = 0.5 * ax * ax
        f1 = 0.5 * (z - ax) ** 2 + step * 0.5 * g * a * a
        hard = ops.where(f1 < f0, z, 0.0 * ax)
        return ops.sign(w) * _select(ops, convex, firm, hard)

    def _subgradient(self, ops, w):
        return ops.sign(w) * ops.relu(self.alpha - ops.abs(w) / self.gamma)

    def subdiff_distance(self, w, grad):
        """Per-coordinate distance of ``-grad`` to the limiting subdifferential at ``w``."""
        ops, w = ops_for(w)
        grad = ops.like(grad, w)
        return ops.where(w != 0, ops.abs(grad + self._subgradient(ops, w)),
                         ops.relu(ops.abs(grad) - self.alpha))

    def alpha_max(self, grad):
        """Smallest ``alpha`` for which ``w = 0`` is a stationary point: ``max |grad|``."""
        return float(np.max(np.abs(np.asarray(grad)), initial=0.0))

    def numba_spec(self):
        return MCPSpec(self.alpha, self.gamma, _EMPTY)

    def get_config(self):
        return {"alpha": self.alpha, "gamma": self.gamma}


class MCPSpec(NamedTuple):
    alpha: float
    gamma: float
    weights: np.ndarray


@implements(value1, MCPSpec)
def _mcp_value(spec, x, j):
    alpha, gamma = spec.alpha * weight(spec.weights, j), spec.gamma
    ax = abs(x)
    if ax <= gamma * alpha:
        return alpha * ax - ax * ax / (2.0 * gamma)
    return 0.5 * gamma * alpha * alpha


@implements(prox1, MCPSpec)
def _mcp_prox(spec, x, step, j):
    alpha, gamma = spec.alpha * weight(spec.weights, j), spec.gamma
    ax = abs(x)
    sgn = 1.0 if x >= 0 else -1.0
    if step < gamma:
        # convex subproblem: the firm-thresholding closed form
        if ax <= step * alpha:
            return 0.0
        if ax <= gamma * alpha:
            return sgn * (ax - step * alpha) / (1.0 - step / gamma)
        return x
    # step >= gamma: the objective is concave on |z| <= gamma*alpha, so the minimum is at
    # 0 or at max(|x|, gamma*alpha); compare the two
    z = max(ax, gamma * alpha)
    f1 = 0.5 * (z - ax) ** 2 + step * 0.5 * gamma * alpha * alpha
    if f1 < 0.5 * ax * ax:
        return sgn * z
    return 0.0


@implements(subgrad1, MCPSpec)
def _mcp_subgrad(spec, x, j):
    alpha, gamma = spec.alpha * weight(spec.weights, j), spec.gamma
    if x == 0.0:
        return -alpha, alpha
    d = max(alpha - abs(x) / gamma, 0.0)
    d = d if x > 0.0 else -d
    return d, d


class SCAD(Penalty):
    r"""Smoothly clipped absolute deviation (Fan and Li, 2001), non-convex.

    .. math::
        \mathrm{pen}(w) = \sum_j \begin{cases}
            \alpha |w_j| & |w_j| \le \alpha \\
            \frac{2a\alpha|w_j| - w_j^2 - \alpha^2}{2(a - 1)} & \alpha < |w_j| \le a\alpha \\
            \alpha^2 (a + 1) / 2 & |w_j| > a\alpha \end{cases}

    The prox of ``step * pen`` (``s = step``) for ``s < a - 1`` is
    :math:`\mathrm{ST}(v, s\alpha)` up to :math:`|v| \le (1+s)\alpha`, then
    :math:`\mathrm{sign}(v)((a-1)|v| - s a \alpha)/(a - 1 - s)` up to :math:`a\alpha`, then
    ``v``. Otherwise the subproblem is non-convex and the exact global minimizer is taken
    among the minimizers of the three pieces.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength, finite and >= 0.
    a : float, default=3.7
        Shape, > 2 (3.7 is Fan and Li's choice).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import SCAD
    >>> SCAD(alpha=1.0, a=3.7).prox(np.array([0.5, 1.5, 5.0]), step=1.0)
    array([0. , 0.5, 5. ])
    """

    is_convex = False

    def __init__(self, alpha=1.0, a=3.7):
        self.alpha = check_strength(alpha, "alpha")
        self.a = check_strength(a, "a")
        if self.a <= 2.0:
            raise ValueError(f"a must be > 2 for SCAD, got {self.a}")

    def _piece_value(self, ops, ax):
        lam, a = self.alpha, self.a
        mid = (2 * a * lam * ax - ax * ax - lam * lam) / (2 * (a - 1))
        top = 0.5 * lam * lam * (a + 1) + 0.0 * ax
        return ops.where(ax <= lam, lam * ax, ops.where(ax <= a * lam, mid, top))

    def _value(self, ops, w):
        return ops.total(self._values(ops, w))

    def _values(self, ops, w):
        return self._piece_value(ops, ops.abs(w))

    def _prox(self, ops, w, step):
        lam, a = self.alpha, self.a
        ax = ops.abs(w)
        convex = step < a - 1.0
        if isinstance(convex, bool):
            denom = (a - 1.0 - step) if convex else 1.0
        else:
            denom = ops.where(convex, a - 1.0 - step, ops.like(1.0, w))
        mid = ((a - 1.0) * ax - step * a * lam) / denom
        smooth = ops.where(ax <= lam * (1.0 + step), ops.relu(ax - step * lam),
                           ops.where(ax <= a * lam, mid, ax))
        best_z = 0.0 * ax
        best_f = 0.5 * ax * ax
        candidates = (ops.minimum(ops.relu(ax - step * lam), lam), lam + 0.0 * ax,
                      a * lam + 0.0 * ax, ops.maximum(ax, a * lam))
        for z in candidates:
            f = 0.5 * (z - ax) ** 2 + step * self._piece_value(ops, z)
            better = f < best_f
            best_z = ops.where(better, z, best_z)
            best_f = ops.where(better, f, best_f)
        return ops.sign(w) * _select(ops, convex, smooth, best_z)

    def _deriv(self, ops, ax):
        lam, a = self.alpha, self.a
        return ops.where(ax <= lam, lam + 0.0 * ax,
                         ops.where(ax <= a * lam, (a * lam - ax) / (a - 1.0), 0.0 * ax))

    def _subgradient(self, ops, w):
        return ops.sign(w) * self._deriv(ops, ops.abs(w))

    def subdiff_distance(self, w, grad):
        """Per-coordinate distance of ``-grad`` to the limiting subdifferential at ``w``."""
        ops, w = ops_for(w)
        grad = ops.like(grad, w)
        return ops.where(w != 0, ops.abs(grad + self._subgradient(ops, w)),
                         ops.relu(ops.abs(grad) - self.alpha))

    def alpha_max(self, grad):
        """Smallest ``alpha`` for which ``w = 0`` is a stationary point: ``max |grad|``."""
        return float(np.max(np.abs(np.asarray(grad)), initial=0.0))

    def numba_spec(self):
        return SCADSpec(self.alpha, self.a, _EMPTY)

    def get_config(self):
        return {"alpha": self.alpha, "a": self.a}


class SCADSpec(NamedTuple):
    alpha: float
    a: float
    weights: np.ndarray


@njit(cache=True, nogil=True, inline="always")
def _scad_piece(ax, alpha, a):
    if ax <= alpha:
        return alpha * ax
    if ax <= a * alpha:
        return (2.0 * a * alpha * ax - ax * ax - alpha * alpha) / (2.0 * (a - 1.0))
    return 0.5 * alpha * alpha * (a + 1.0)


@implements(value1, SCADSpec)
def _scad_value(spec, x, j):
    return _scad_piece(abs(x), spec.alpha * weight(spec.weights, j), spec.a)


@implements(prox1, SCADSpec)
def _scad_prox(spec, x, step, j):
    alpha, a = spec.alpha * weight(spec.weights, j), spec.a
    ax = abs(x)
    sgn = 1.0 if x >= 0 else -1.0
    if step < a - 1.0:
        # convex subproblem: closed form
        if ax <= alpha * (1.0 + step):
            return sgn * max(ax - step * alpha, 0.0)
        if ax <= a * alpha:
            return sgn * ((a - 1.0) * ax - step * a * alpha) / (a - 1.0 - step)
        return x
    # non-convex subproblem: the middle piece is concave, compare the candidates
    best_z = 0.0
    best_f = 0.5 * ax * ax
    for z in (min(max(ax - step * alpha, 0.0), alpha), alpha, a * alpha, max(ax, a * alpha)):
        f = 0.5 * (z - ax) ** 2 + step * _scad_piece(z, alpha, a)
        if f < best_f:
            best_f = f
            best_z = z
    return sgn * best_z


@implements(subgrad1, SCADSpec)
def _scad_subgrad(spec, x, j):
    alpha, a = spec.alpha * weight(spec.weights, j), spec.a
    if x == 0.0:
        return -alpha, alpha
    ax = abs(x)
    if ax <= alpha:
        d = alpha
    elif ax <= a * alpha:
        d = (a * alpha - ax) / (a - 1.0)
    else:
        d = 0.0
    d = d if x > 0.0 else -d
    return d, d


class LogSum(Penalty):
    r"""Log-sum penalty (Candes, Wakin and Boyd, 2008), non-convex.

    .. math:: \mathrm{pen}(w) = \alpha \sum_j \log(1 + |w_j| / \epsilon)

    The limit of reweighted L1: near zero it acts as the L1 penalty
    :math:`(\alpha/\epsilon)|w|`, while large coefficients are barely shrunk. The prox of
    ``step * pen`` (``s = step``) keeps the sign of ``v``; its magnitude is the larger root
    of :math:`t^2 + (\epsilon - |v|) t + s\alpha - \epsilon|v| = 0` when that beats 0,
    else 0 (the exact global minimizer).

    Parameters
    ----------
    alpha : float, default=1.0
        Strength, finite and >= 0.
    eps : float, default=1.0
        Curvature scale, > 0: smaller is closer to the L0 "norm".

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import LogSum
    >>> LogSum(alpha=1.0, eps=1.0).prox(np.array([0.5, 4.0]), step=1.0).round(4)
    array([0.    , 3.7913])
    """

    is_convex = False

    def __init__(self, alpha=1.0, eps=1.0):
        self.alpha = check_strength(alpha, "alpha")
        self.eps = check_strength(eps, "eps", allow_zero=False)

    def _value(self, ops, w):
        return self.alpha * ops.total(_log1p(ops, ops.abs(w) / self.eps))

    def _values(self, ops, w):
        return self.alpha * _log1p(ops, ops.abs(w) / self.eps)

    def _prox(self, ops, w, step):
        ax = ops.abs(w)
        e, sa = self.eps, step * self.alpha
        disc = (ax + e) ** 2 - 4.0 * sa
        root = 0.5 * (ax - e + ops.sqrt(ops.relu(disc)))
        z = ops.where(disc >= 0, ops.relu(root), 0.0 * ax)
        h_z = 0.5 * (z - ax) ** 2 + sa * _log1p(ops, z / e)
        keep = h_z < 0.5 * ax * ax
        return ops.sign(w) * ops.where(keep, z, 0.0 * ax)

    def _subgradient(self, ops, w):
        return ops.sign(w) * self.alpha / (self.eps + ops.abs(w))

    def subdiff_distance(self, w, grad):
        """Per-coordinate distance of ``-grad`` to the limiting subdifferential at ``w``."""
        ops, w = ops_for(w)
        grad = ops.like(grad, w)
        return ops.where(w != 0, ops.abs(grad + self._subgradient(ops, w)),
                         ops.relu(ops.abs(grad) - self.alpha / self.eps))

    def alpha_max(self, grad):
        """Smallest ``alpha`` for which ``w = 0`` is a stationary point: ``eps max |grad|``
        (the threshold at zero is ``alpha / eps``)."""
        return self.eps * float(np.max(np.abs(np.asarray(grad)), initial=0.0))

    def numba_spec(self):
        return LogSumSpec(self.alpha, self.eps, _EMPTY)

    def get_config(self):
        return {"alpha": self.alpha, "eps": self.eps}


def _log1p(ops, x):
    if is_torch(x):
        import torch

        return torch.log1p(x)
    return np.log1p(x)


class LogSumSpec(NamedTuple):
    alpha: float
    eps: float
    weights: np.ndarray


@implements(value1, LogSumSpec)
def _logsum_value(spec, x, j):
    return spec.alpha * weight(spec.weights, j) * np.log1p(abs(x) / spec.eps)


@implements(prox1, LogSumSpec)
def _logsum_prox(spec, x, step, j):
    ax = abs(x)
    e = spec.eps
    sa = step * spec.alpha * weight(spec.weights, j)
    disc = (ax + e) ** 2 - 4.0 * sa
    if disc < 0.0:
        return 0.0
    z = max(0.5 * (ax - e + np.sqrt(disc)), 0.0)
    if 0.5 * (z - ax) ** 2 + sa * np.log1p(z / e) < 0.5 * ax * ax:
        return z if x >= 0 else -z
    return 0.0


@implements(subgrad1, LogSumSpec)
def _logsum_subgrad(spec, x, j):
    lam = spec.alpha * weight(spec.weights, j)
    if x == 0.0:
        return -lam / spec.eps, lam / spec.eps
    d = lam / (spec.eps + abs(x))
    d = d if x > 0.0 else -d
    return d, d
