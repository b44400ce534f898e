"""Separable penalties: L1, L2, L1L2 (elastic net), WeightedL1 (adaptive lasso), MCP, SCAD.

Strengths follow Keras: ``L1(l1)`` is ``l1 * sum|w|`` and ``L2(l2)`` is ``l2 * sum w**2``
(no factor 1/2).
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._base import Penalty, check_strength, is_torch, ops_for


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
        return K.make_spec(K.L1, [self.l1])

    def get_config(self):
        return {"l1": self.l1}


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
        return K.make_spec(K.L2, [self.l2])

    def get_config(self):
        return {"l2": self.l2}


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
        return K.make_spec(K.L1L2, [self.l1, self.l2])

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


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
        return K.make_spec(K.L1, [self.alpha], self.weights.ravel())

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
        ax, inner = self._pieces(ops, w)
        a, g = self.alpha, self.gamma
        return ops.total(ops.where(inner, a * ax - ax * ax / (2 * g), ops.like(0.5 * g * a * a, w)))

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
        return K.make_spec(K.MCP, [self.alpha, self.gamma])

    def get_config(self):
        return {"alpha": self.alpha, "gamma": self.gamma}


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
        return ops.total(self._piece_value(ops, ops.abs(w)))

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
        return K.make_spec(K.SCAD, [self.alpha, self.a])

    def get_config(self):
        return {"alpha": self.alpha, "a": self.a}
