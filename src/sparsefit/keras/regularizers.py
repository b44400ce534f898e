r"""Keras 3 regularizers with exact proximal operators.

Each class is a real :class:`keras.regularizers.Regularizer` (use it as
``kernel_regularizer=``, ``bias_regularizer=`` or ``activity_regularizer=``), registered
with ``keras.saving.register_keras_serializable(package="sparsefit")`` so a saved
``.keras`` model loads again once :mod:`sparsefit.keras` is imported. Values and proxes
are written with ``keras.ops`` (they run inside compiled train steps on any backend) and
agree with :mod:`sparsefit.penalties`, which stays the reference: ``reg.penalty`` is the
equivalent penalty object.

Two modes:

- ``proximal=False`` (default): the whole penalty is added to the loss, as Keras' own
  regularizers do. Adam or SGD then follow its subgradient and weights hover *near* zero.
- ``proximal=True``: calling the regularizer (what ``model.losses`` and the training
  loss see) returns only the smooth part (the ``l2`` term of :class:`L1L2`, else 0); the
  non-smooth part is applied by :class:`~sparsefit.keras.ProximalCallback` as an exact
  proximal step after each optimizer update, which produces exact zeros.
  ``evaluate()`` then reports data loss + smooth part; :func:`~sparsefit.keras.penalty`
  gives the full penalty of a model.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .. import penalties as _pen

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "GroupL1",
    "Regularizer",
    "SparseGroupL1",
    "get",
    "l1",
    "l1_l2",
    "l2",
]

_register = keras.saving.register_keras_serializable(package="sparsefit")


def _eager_torch():
    """True when the code runs eagerly on the torch backend (not under torch.compile):
    loops may then stop as soon as they converge."""
    if keras.backend.backend() != "torch":
        return False
    import torch

    return not torch.compiler.is_compiling()


def _compiled_rows(reg, w, t, a):
    """Eager torch on the CPU: the compiled loop of :mod:`sparsefit.nn._metric` (the same
    computation as the ``keras.ops`` loop, without an operation per Newton step)."""
    if not _eager_torch():
        return None
    import torch

    wt = w.value if isinstance(w, keras.Variable) else w
    if not (torch.is_tensor(wt) and wt.device.type == "cpu"):
        return None
    from ..nn._metric import rows_metric_shrink

    ax, _ = reg._axes(w)
    moved = torch.movedim(wt, ax, 0)
    n = int(moved.shape[0])
    out = rows_metric_shrink(moved.reshape(n, -1),
                             torch.movedim(torch.as_tensor(t), ax, 0).reshape(n, -1),
                             torch.as_tensor(a).reshape(-1).expand(n))
    return torch.movedim(out.reshape(moved.shape), 0, ax)


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _soft_threshold(w, t):
    # sign(w) * max(|w| - t, 0), in three operations: exactly 0 where |w| <= t. A Python
    # float bound would be rounded to float32 by ops.clip; give it w's dtype.
    if isinstance(t, float):
        t = ops.convert_to_tensor(t, dtype=w.dtype)
    return w - ops.clip(w, -t, t)


class Regularizer(keras.regularizers.Regularizer):
    """Base class of the sparsefit Keras regularizers.

    Subclasses implement ``_smooth(x)`` (the part that stays in the loss in proximal
    mode), ``_nonsmooth(x)`` and ``prox(w, step)``; ``penalty`` gives the equivalent
    :mod:`sparsefit.penalties` object.
    """

    proximal = False

    def __call__(self, x):
        x = ops.convert_to_tensor(x)
        if self.proximal:
            return self._smooth(x)
        return self._smooth(x) + self._nonsmooth(x)

    def full(self, x):
        """The whole penalty as a tensor, whatever ``proximal`` is (differentiable)."""
        x = ops.convert_to_tensor(x)
        return self._smooth(x) + self._nonsmooth(x)

    def value(self, w):
        """The whole penalty of ``w`` (array, tensor or variable) as a Python float.

        NumPy input is evaluated in float64 where the backend allows it (JAX without
        ``jax_enable_x64`` computes in float32).
        """
        if not isinstance(w, keras.Variable) and not ops.is_tensor(w):
            w = np.asarray(w, dtype=np.float64)
        return float(ops.convert_to_numpy(self.full(w)))

    def _smooth(self, x):
        return ops.zeros((), dtype=x.dtype)

    def prox(self, w, step):  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def floor(self, w):
        """The pull of the proximal part on each coordinate of ``w``: the lower bound that
        :class:`~sparsefit.keras.ProximalCallback` puts on an adaptive optimizer's
        denominator (a float, or a tensor broadcastable to ``w``)."""
        return 0.0

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = object.__hash__


def _cast_step(step, w):
    if isinstance(step, (int, float)):
        return float(step)
    return ops.cast(step, w.dtype)


@_register
class L1(Regularizer):
    r"""Lasso, :math:`\mathrm{pen}(w) = l_1 \sum_j |w_j|` (Keras' scaling).

    Prox: soft-thresholding, :math:`\mathrm{sign}(v_j)\max(|v_j| - t_j l_1, 0)`,
    exactly zero where :math:`|v_j| \le t_j l_1`.

    Parameters
    ----------
    l1 : float, default=0.01
        Strength, finite and >= 0; stored as a Python float.
    proximal : bool, default=False
        If True the penalty is left out of the loss (calling the regularizer returns 0)
        and :class:`~sparsefit.keras.ProximalCallback` applies the prox instead.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.keras import L1
    >>> reg = L1(0.01)
    >>> round(reg.value(np.ones((3, 2))), 6)
    0.06
    >>> np.asarray(L1(1.0).prox(np.array([3.0, -0.5, 1.0]), 1.0)).tolist()
    [2.0, 0.0, 0.0]
    """

    def __init__(self, l1=0.01, proximal=False):
        self.l1 = _pen.L1(l1).l1
        self.proximal = _check_bool(proximal, "proximal")

    def _nonsmooth(self, x):
        return self.l1 * ops.sum(ops.abs(x))

    def prox(self, w, step):
        """Soft-thresholding at ``step * l1`` (``step`` scalar or per coordinate)."""
        w = ops.convert_to_tensor(w)
        return _soft_threshold(w, _cast_step(step, w) * self.l1)

    def floor(self, w):
        return self.l1

    @property
    def penalty(self):
        return _pen.L1(self.l1)

    def get_config(self):
        return {"l1": self.l1, "proximal": self.proximal}


@_register
class L2(Regularizer):
    r"""Ridge, :math:`\mathrm{pen}(w) = l_2 \sum_j w_j^2` (Keras' scaling, no 1/2).

    Smooth: it always stays in the loss, and its prox
    :math:`v / (1 + 2 t l_2)` never produces a zero. There is no proximal mode.

    Parameters
    ----------
    l2 : float, default=0.01
        Strength, finite and >= 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.keras import L2
    >>> round(L2(0.5).value(np.array([1.0, 2.0])), 6)
    2.5
    """

    def __init__(self, l2=0.01):
        self.l2 = _pen.L2(l2).l2

    def _smooth(self, x):
        return self.l2 * ops.sum(ops.square(x))

    def _nonsmooth(self, x):
        return ops.zeros((), dtype=x.dtype)

    def prox(self, w, step):
        """Shrinkage ``w / (1 + 2 step l2)``."""
        w = ops.convert_to_tensor(w)
        return w / (1.0 + 2.0 * _cast_step(step, w) * self.l2)

    @property
    def penalty(self):
        return _pen.L2(self.l2)

    def get_config(self):
        return {"l2": self.l2}


@_register
class L1L2(Regularizer):
    r"""Elastic net, :math:`\mathrm{pen}(w) = l_1\|w\|_1 + l_2\|w\|_2^2`.

    Defaults are ``l1=0.0, l2=0.0``, as for Keras' ``L1L2`` class (and Keras 3's
    ``keras.regularizers.l1_l2()``, the same class); the *identifier* ``"l1_l2"`` of
    :func:`get` gives 0.01 for both, as the Keras documentation promises. In proximal
    mode the ``l2`` term stays in the loss (smooth, followed by the gradient) and the
    callback applies the prox of the ``l1`` term only, soft-thresholding at
    :math:`t_j l_1`.

    Parameters
    ----------
    l1, l2 : float, default=0.0
        Strengths, finite and >= 0.
    proximal : bool, default=False

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.keras import L1L2
    >>> L1L2().get_config()
    {'l1': 0.0, 'l2': 0.0, 'proximal': False}
    >>> round(L1L2(l1=1.0, l2=0.5).value(np.array([1.0, -2.0])), 6)
    5.5
    """

    def __init__(self, l1=0.0, l2=0.0, proximal=False):
        pen = _pen.L1L2(l1, l2)
        self.l1, self.l2 = pen.l1, pen.l2
        self.proximal = _check_bool(proximal, "proximal")

    def _smooth(self, x):
        return self.l2 * ops.sum(ops.square(x))

    def _nonsmooth(self, x):
        return self.l1 * ops.sum(ops.abs(x))

    def prox(self, w, step):
        """In proximal mode, the prox of the ``l1`` term (the ``l2`` term is in the loss);
        otherwise the prox of the whole penalty, ``ST(w, step l1) / (1 + 2 step l2)``."""
        w = ops.convert_to_tensor(w)
        step = _cast_step(step, w)
        z = _soft_threshold(w, step * self.l1)
        return z if self.proximal else z / (1.0 + 2.0 * step * self.l2)

    def floor(self, w):
        # in proximal mode the prox is that of the l1 term alone
        if self.proximal or not self.l2:
            return self.l1
        return self.l1 + 2.0 * self.l2 * ops.abs(ops.convert_to_tensor(w))

    @property
    def penalty(self):
        return _pen.L1L2(self.l1, self.l2)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2, "proximal": self.proximal}


class _Group(Regularizer):
    """Groups are the slices of the weight along ``axis``."""

    def _init_group(self, axis, weights):
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis must be an int (-1: units/filters, -2: inputs), "
                             f"got {axis!r}")
        self.axis = int(axis)
        # validation of weights by the reference penalty
        self.weights = None if weights is None else [
            float(x) for x in _pen.GroupL1(0.0, weights=weights).weights]

    def _axes(self, x):
        nd = len(x.shape)
        if nd == 0:
            raise ValueError(f"{type(self).__name__} needs a weight with at least 1 "
                             "dimension, got a scalar")
        ax = self.axis % nd if -nd <= self.axis < nd else None
        if ax is None:
            raise ValueError(f"axis={self.axis} is out of range for a weight of shape "
                             f"{tuple(x.shape)}")
        return ax, tuple(d for d in range(nd) if d != ax)

    def _coef(self, x):
        """Per-group weights c_g, shaped to broadcast against ``x`` (keepdims)."""
        ax, other = self._axes(x)
        n = int(x.shape[ax])
        shape = [1] * len(x.shape)
        shape[ax] = n
        if self.weights is not None:
            if len(self.weights) != n:
                raise ValueError(f"weights has {len(self.weights)} entries but the weight "
                                 f"of shape {tuple(x.shape)} has {n} groups along axis "
                                 f"{self.axis}")
            c = np.asarray(self.weights)
        else:
            size = int(np.prod([int(x.shape[d]) for d in other])) if other else 1
            c = np.full(n, np.sqrt(size))
        return ops.cast(ops.reshape(ops.convert_to_tensor(c), shape), x.dtype)

    def _norms(self, x):
        # sqrt with a zero (not NaN) derivative at zero groups
        _, other = self._axes(x)
        sq = ops.sum(ops.square(x), axis=other, keepdims=True) if other else ops.square(x)
        pos = sq > 0
        return ops.where(pos, ops.sqrt(ops.where(pos, sq, ops.ones_like(sq))),
                         ops.zeros_like(sq))

    def _group_l1(self, x):
        return ops.sum(self._coef(x) * self._norms(x))

    def _reduce(self, x, how):
        _, other = self._axes(x)
        if not other:
            return x
        f = {"sum": ops.sum, "max": ops.max, "min": ops.min}[how]
        return f(x, axis=other, keepdims=True)

    def _metric_block_shrink(self, w, t, a):
        """``argmin_x sum_j (x_j - w_j)**2 / (2 t_j) + sum_g a_g ||x_g||``: block
        soft-thresholding in the metric ``diag(1/t)`` (per-coordinate steps ``t``).

        ``x_j = w_j rho / (rho + a_g t_j)`` with ``rho = ||x_g||`` the root of
        ``sum_j w_j**2 / (rho + a_g t_j)**2 = 1``; ``x_g = 0`` where
        ``||w_g / t_g|| <= a_g``. Safeguarded Newton steps on ``S(rho)**-0.5 - 1``, a fixed
        number of them under tracing (JAX, torch.compile), until converged in eager torch.
        Equal steps in a group give block soft-thresholding at once.
        """
        dtype = w.dtype
        t = ops.broadcast_to(ops.cast(t, dtype), ops.shape(w))
        fast = _compiled_rows(self, w, t, a)
        if fast is not None:
            return fast
        zero_t = ops.zeros_like(t)
        one = ops.ones_like(t)
        inf = ops.full_like(t, float("inf"))
        v2 = ops.square(w)
        pos_t = t > 0
        ratio = ops.where(pos_t, w / ops.where(pos_t, t, one), ops.where(v2 > 0, inf, zero_t))
        zero = self._reduce(ops.square(ratio), "sum") <= ops.square(a)
        nrm = ops.sqrt(self._reduce(v2, "sum"))
        n = self._reduce(one, "sum")
        lo = ops.relu(nrm - a * self._reduce(t, "max"))
        hi = ops.relu(nrm - a * self._reduce(t, "min"))
        rho = ops.minimum(ops.maximum(nrm - a * self._reduce(t, "sum") / n, lo), hi)
        at = a * t
        eager = _eager_torch()
        eps = float(np.finfo(keras.backend.standardize_dtype(dtype)).eps)
        for _ in range(60 if eager else 30):
            den = rho + at
            pos = den > 0
            inv = ops.where(pos, 1.0 / ops.where(pos, den, one), ops.where(v2 > 0, inf, zero_t))
            q = ops.where(v2 > 0, v2 * inv * inv, zero_t)
            s = self._reduce(q, "sum")
            s3 = self._reduce(q * inv, "sum")
            r = 1.0 / ops.sqrt(s)
            psi = r - 1.0
            lo = ops.where(psi < 0, rho, lo)
            hi = ops.where(psi > 0, rho, hi)
            newton = rho - psi * s / (s3 * r)
            ok = ops.isfinite(newton) & (newton >= lo) & (newton <= hi)
            new = ops.where(ok, newton, 0.5 * (lo + hi))
            new = ops.where(zero | (psi == 0), rho, new)
            moved = ops.abs(new - rho) > 16 * eps * new
            rho = new
            if eager and not bool(ops.convert_to_numpy(ops.any(moved))):
                break
        den = rho + at
        pos = den > 0
        x = ops.where(pos, w * rho / ops.where(pos, den, one), w)
        return ops.where(zero, ops.zeros_like(x), x)

    def _is_scalar_step(self, step, w):
        step = _cast_step(step, w)
        return isinstance(step, float) or len(step.shape) == 0, step

    def _pull(self, w):
        """``c_g / sqrt(|g|)`` shaped to broadcast against ``w``: the root mean square of
        the group norm's subgradient per coordinate, for unit strength."""
        _, other = self._axes(w)
        size = int(np.prod([int(w.shape[d]) for d in other])) if other else 1
        return self._coef(w) / float(np.sqrt(size))

    def _block_shrink(self, w, thresh):
        nrm = self._norms(w)
        safe = ops.where(nrm > 0, nrm, ops.ones_like(nrm))
        scale = ops.where(nrm > 0, ops.relu(1.0 - thresh / safe), ops.zeros_like(nrm))
        return w * scale

    def _ref_weights(self):
        return None if self.weights is None else list(self.weights)


@_register
class GroupL1(_Group):
    r"""Group lasso over units or channels, :math:`\alpha \sum_g c_g \|w_g\|_2`.

    The groups are the slices of the weight along ``axis``: with the default ``-1`` the
    output units of a ``Dense`` kernel (its columns: Keras kernels are ``(in, out)``) or
    the filters of a ``Conv2D`` kernel ``(kh, kw, in, out)``; with ``-2`` its inputs
    (input features, input channels). :math:`c_g` defaults to :math:`\sqrt{|g|}`.
    The prox is block soft-thresholding,
    :math:`w_g \max(0, 1 - t \alpha c_g / \|w_g\|)` for a scalar step :math:`t`, and the
    same in the metric :math:`\mathrm{diag}(1/t)` for per-coordinate steps (an adaptive
    optimizer's; no closed form, a few Newton steps on the group norm, see
    ``_metric_block_shrink``): whole units become exactly zero, which
    :func:`~sparsefit.keras.shrink` then removes. It equals
    ``sparsefit.penalties.GroupL1(alpha)`` on the weight with ``axis`` moved first.

    Parameters
    ----------
    alpha : float, default=0.01
        Strength, finite and >= 0.
    axis : int, default=-1
        The axis whose slices are the groups. On a 1-D weight (a bias) with ``axis=-1``
        every entry is its own group (plain L1 with weight 1).
    weights : list of float, optional
        One :math:`c_g > 0` per group.
    proximal : bool, default=False
        If True calling the regularizer returns 0 and the callback applies the prox.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.keras import GroupL1
    >>> w = np.array([[3.0, 0.1], [4.0, 0.0]])   # Dense kernel: unit 0 = [3, 4]
    >>> round(GroupL1(1.0, weights=[1.0, 1.0]).value(w), 6)
    5.1
    >>> reg = GroupL1(1.0, weights=[1.0, 1.0])
    >>> np.asarray(reg.prox(w, 1.0), dtype=float).round(6).tolist()
    [[2.4, 0.0], [3.2, 0.0]]
    """

    def __init__(self, alpha=0.01, axis=-1, weights=None, proximal=False):
        self.alpha = _pen.GroupL1(alpha).alpha
        self._init_group(axis, weights)
        self.proximal = _check_bool(proximal, "proximal")

    def _nonsmooth(self, x):
        return self.alpha * self._group_l1(x)

    def prox(self, w, step):
        """Block soft-thresholding; with per-coordinate steps, in their metric."""
        w = ops.convert_to_tensor(w)
        scalar, t = self._is_scalar_step(step, w)
        if scalar:
            return self._block_shrink(w, t * self.alpha * self._coef(w))
        return self._metric_block_shrink(w, t, self.alpha * self._coef(w))

    def floor(self, w):
        return self.alpha * self._pull(ops.convert_to_tensor(w))

    @property
    def penalty(self):
        """``sparsefit.penalties.GroupL1`` for the weight with ``axis`` moved first."""
        return _pen.GroupL1(self.alpha, weights=self._ref_weights())

    def get_config(self):
        return {"alpha": self.alpha, "axis": self.axis, "weights": self._ref_weights(),
                "proximal": self.proximal}


@_register
class SparseGroupL1(_Group):
    r"""Sparse group lasso, :math:`\alpha\tau\|w\|_1 + \alpha(1-\tau)\sum_g c_g\|w_g\|_2`.

    Groups as for :class:`GroupL1` (slices along ``axis``). The exact prox is
    soft-thresholding at :math:`t\alpha\tau` followed by block soft-thresholding at
    :math:`t\alpha(1-\tau)c_g` (in the metric of per-coordinate steps, as for
    :class:`GroupL1`), as ``sparsefit.penalties.SparseGroupL1`` does on the weight with
    ``axis`` moved first. Zeros appear inside units and as whole units.

    Parameters
    ----------
    alpha : float, default=0.01
    tau : float, default=0.5
        Share of the L1 part, in [0, 1].
    axis : int, default=-1
    weights : list of float, optional
    proximal : bool, default=False

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.keras import SparseGroupL1
    >>> reg = SparseGroupL1(1.0, tau=0.5, weights=[1.0, 1.0])
    >>> w = np.array([[3.5, 0.3], [0.2, 0.4]])
    >>> np.asarray(reg.prox(w, 1.0), dtype=float).round(6).tolist()
    [[2.5, 0.0], [0.0, 0.0]]
    """

    def __init__(self, alpha=0.01, tau=0.5, axis=-1, weights=None, proximal=False):
        pen = _pen.SparseGroupL1(alpha, tau)
        self.alpha, self.tau = pen.alpha, pen.tau
        self._init_group(axis, weights)
        self.proximal = _check_bool(proximal, "proximal")

    def _nonsmooth(self, x):
        return (self.alpha * self.tau * ops.sum(ops.abs(x))
                + self.alpha * (1.0 - self.tau) * self._group_l1(x))

    def prox(self, w, step):
        """Soft-thresholding, then block soft-thresholding (in the metric of
        per-coordinate steps: the composition is exact there too)."""
        w = ops.convert_to_tensor(w)
        scalar, t = self._is_scalar_step(step, w)
        z = _soft_threshold(w, t * self.alpha * self.tau)
        a = self.alpha * (1.0 - self.tau) * self._coef(w)
        if scalar:
            return self._block_shrink(z, t * a)
        return self._metric_block_shrink(z, t, a)

    def floor(self, w):
        w = ops.convert_to_tensor(w)
        return self.alpha * self.tau + self.alpha * (1.0 - self.tau) * self._pull(w)

    @property
    def penalty(self):
        """``sparsefit.penalties.SparseGroupL1`` for the weight with ``axis`` moved first."""
        return _pen.SparseGroupL1(self.alpha, self.tau, weights=self._ref_weights())

    def get_config(self):
        return {"alpha": self.alpha, "tau": self.tau, "axis": self.axis,
                "weights": self._ref_weights(), "proximal": self.proximal}


# Keras-style lowercase aliases. ``l1_l2`` follows the Keras *documentation* (0.01 each),
# not Keras 3's ``keras.regularizers.l1_l2``, which is the L1L2 class (0 and 0).
l1 = L1
l2 = L2


def l1_l2(l1=0.01, l2=0.01, proximal=False):
    """``L1L2(l1, l2)`` with the documented Keras defaults ``l1=l2=0.01``.

    Examples
    --------
    >>> from sparsefit.keras import l1_l2
    >>> l1_l2()
    L1L2(l1=0.01, l2=0.01, proximal=False)
    """
    return L1L2(l1, l2, proximal=proximal)


_FROM_PENALTY = {
    _pen.L1: lambda p: L1(p.l1),
    _pen.L2: lambda p: L2(p.l2),
    _pen.L1L2: lambda p: L1L2(p.l1, p.l2),
}


def get(identifier, *, proximal=None):
    """Resolve an identifier to a sparsefit Keras regularizer.

    Parameters
    ----------
    identifier : str, dict, Regularizer, sparsefit penalty, Keras L1/L2/L1L2, or None
        Strings and dicts as :func:`sparsefit.penalties.get` reads them (``"l1"``,
        ``"l2"``, ``"l1_l2"`` -> ``L1L2(0.01, 0.01)`` -- the one Keras 3's own
        ``keras.regularizers.get`` rejects --, ``"group_lasso"``,
        ``"sparse_group_lasso"``, class names with their defaults); ``"l1l2"``, Keras 3's
        name for its ``L1L2`` class, gives ``L1L2()`` (0 and 0, as Keras); also the dicts
        ``keras.saving.serialize_keras_object`` writes for these classes. Identifiers
        only Keras knows (``"orthogonal_regularizer"``) give Keras' own regularizer, so
        this function can replace ``keras.regularizers.get``. ``None`` is returned as is.
    proximal : bool, optional
        Set the mode of the result (ignored for L2, which has none).

    Returns
    -------
    Regularizer or None

    Raises
    ------
    ValueError
        For identifiers that have no Keras counterpart here (MCP, SCAD, TV1D,
        WeightedL1, GroupL1 with explicit index groups), naming them.

    Examples
    --------
    >>> from sparsefit.keras import get
    >>> get("l1_l2")
    L1L2(l1=0.01, l2=0.01, proximal=False)
    >>> get("l1", proximal=True)
    L1(l1=0.01, proximal=True)
    >>> get("l1l2")
    L1L2(l1=0.0, l2=0.0, proximal=False)
    """
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer):
        reg = identifier
    elif isinstance(identifier, keras.regularizers.L1L2):
        reg = L1L2(float(identifier.l1), float(identifier.l2))
    elif isinstance(identifier, keras.regularizers.L1):
        reg = L1(float(identifier.l1))
    elif isinstance(identifier, keras.regularizers.L2):
        reg = L2(float(identifier.l2))
    elif isinstance(identifier, dict) and _is_ours(identifier):
        name = str(identifier["class_name"]).rsplit(">", 1)[-1]
        reg = _CLASSES[name].from_config(dict(identifier.get("config") or {}))
    elif isinstance(identifier, str) and identifier.lower() == "l1l2":
        reg = L1L2()   # Keras 3's own name for its L1L2 class (defaults 0 and 0)
    else:
        try:
            pen = _pen.get(identifier)
        except ValueError:
            keras_reg = _keras_only(identifier)
            if keras_reg is None:
                raise
            if proximal:
                raise ValueError(f"{identifier!r} is a Keras regularizer without a proximal "
                                 "mode in sparsefit") from None
            return keras_reg
        reg = _from_penalty(pen)
    if proximal is not None and not isinstance(reg, L2):
        config = dict(reg.get_config(), proximal=_check_bool(proximal, "proximal"))
        reg = type(reg).from_config(config)
    return reg


_CLASSES = {c.__name__: c for c in (L1, L2, L1L2, GroupL1, SparseGroupL1)}


def _keras_only(identifier):
    """Keras' own regularizer for an identifier sparsefit has none for (e.g.
    ``"orthogonal_regularizer"``), or None."""
    if not isinstance(identifier, (str, dict)):
        return None
    try:
        return keras.regularizers.get(identifier)
    except (ValueError, TypeError):
        return None


def _is_ours(d):
    """A dict written for one of these classes (Keras' registered name, or our keys)."""
    name = str(d.get("class_name", "")).rsplit(">", 1)[-1]
    config = d.get("config") or {}
    return name in _CLASSES and (
        str(d.get("registered_name") or "").startswith("sparsefit>")
        or "proximal" in config or "axis" in config)


def _from_penalty(pen):
    if type(pen) in _FROM_PENALTY:
        return _FROM_PENALTY[type(pen)](pen)
    if isinstance(pen, (_pen.GroupL1, _pen.SparseGroupL1)):
        if pen.groups is not None:
            raise ValueError(
                f"{pen!r}: explicit index groups have no Keras counterpart here; the Keras "
                "group regularizers take their groups from an axis of the weight (axis=-1: "
                "units/filters, axis=-2: inputs)")
        w = None if pen.weights is None else pen.weights.tolist()
        if isinstance(pen, _pen.GroupL1):
            return GroupL1(pen.alpha, weights=w)
        return SparseGroupL1(pen.alpha, pen.tau, weights=w)
    raise ValueError(f"{pen!r} has no Keras regularizer in sparsefit.keras (supported: L1, "
                     "L2, L1L2, GroupL1, SparseGroupL1)")
