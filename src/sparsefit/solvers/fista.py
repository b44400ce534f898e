r"""FISTA with adaptive restart, for any smooth datafit and any penalty with a prox.

Solves

.. math::

    \min_w \; F(w) + \mathrm{pen}(w)

where :math:`F` is smooth (gradient :math:`L`-Lipschitz) and ``pen`` has an exact
proximal operator (every penalty of :mod:`sparsefit.penalties`). The iteration runs in the
array kind it is given: dense NumPy, scipy sparse ``X`` (NumPy iterates), or torch tensors
(torch iterates, on their own device and dtype).

The smooth part: a small protocol
---------------------------------
The solvers of this module (and :mod:`sparsefit.solvers.subgradient`) take the smooth part
as any object with

``value(w) -> float``
    :math:`F(w)` (a Python float, or a 0-d tensor for torch).
``gradient(w) -> array``
    :math:`\nabla F(w)`, same shape and kind as ``w``.
``lipschitz -> float or None``
    A global Lipschitz constant of :math:`\nabla F` (for least squares
    :math:`\|X\|_2^2 / n`, for the logistic loss :math:`\|X\|_2^2 / (4n)`); ``None`` when
    unknown (FISTA then backtracks).
``value_and_gradient(w)`` (optional)
    Both at once, sharing work (the residual ``X @ w``).

:class:`LeastSquares` (:math:`\frac{1}{2n}\|y - Xw\|^2`) and :class:`LogisticLoss`
(:math:`\frac1n\sum_i\log(1 + e^{-y_i x_i^\top w})`, :math:`y_i \in \{-1, +1\}`) implement
it for NumPy, scipy sparse and torch. :func:`bind_datafit` adapts a datafit whose methods
take ``(X, y, coef)`` (the :mod:`sparsefit.datafits` classes) to it.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datafits import Logistic, Quadratic
from ..datafits._base import BaseDatafit
from ..datafits._bound import (
    BoundDatafit,
    _all_finite,
    _check_X,
    _check_y,
    _copy,
    _is_torch,
    _max_abs,
    _sqnorm,
    _to_float,
    _transpose,
    _vdot,
)

__all__ = [
    "FistaResult",
    "LeastSquares",
    "LogisticLoss",
    "bind_datafit",
    "fista",
    "make_smooth",
    "quadratic_l1_dual_gap",
]


# ----------------------------------------------------------------------------------------
# array-kind helpers (NumPy / torch) and validation
# ----------------------------------------------------------------------------------------
def _check_positive_float(value, name, *, allow_none=False, allow_zero=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")  # noqa: TRY004
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def _check_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------------
# smooth parts implementing the protocol
# ----------------------------------------------------------------------------------------
class LeastSquares(BoundDatafit):
    r"""Least squares, :math:`F(w) = \frac{1}{2n}\|y - Xw\|_2^2` (scikit-learn's Lasso scaling):
    the :class:`~sparsefit.datafits.Quadratic` datafit bound to ``(X, y)``.

    Gradient :math:`-X^\top(y - Xw)/n`, global Lipschitz constant :math:`\|X\|_2^2/n`
    (computed on first use). ``X`` may be a NumPy array, a scipy sparse matrix or a torch
    tensor (then ``y`` and ``w`` are tensors of the same dtype and device).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.solvers.fista import LeastSquares
    >>> f = LeastSquares(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([1.0, 2.0]))
    >>> f.value(np.zeros(2)), f.lipschitz
    (1.25, 2.0)
    """

    def __init__(self, X, y):
        super().__init__(Quadratic(), X, y)


class LogisticLoss(BoundDatafit):
    r"""Logistic loss, :math:`F(w) = \frac1n\sum_i \log(1 + \exp(-y_i x_i^\top w))`: the
    :class:`~sparsefit.datafits.Logistic` datafit bound to ``(X, y)``, labels in
    :math:`\{-1, +1\}`; global Lipschitz constant :math:`\|X\|_2^2/(4n)`.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.solvers.fista import LogisticLoss
    >>> f = LogisticLoss(np.array([[1.0], [-1.0]]), np.array([1.0, -1.0]))
    >>> round(f.value(np.zeros(1)), 6)  # log(2)
    0.693147
    """

    def __init__(self, X, y):
        super().__init__(Logistic(), X, y)


def make_smooth(X, y, loss="quadratic"):
    """Build the smooth part from data: ``loss="quadratic"`` (:class:`LeastSquares`) or
    ``"logistic"`` (:class:`LogisticLoss`)."""
    if loss == "quadratic":
        return LeastSquares(X, y)
    if loss == "logistic":
        return LogisticLoss(X, y)
    raise ValueError(f"loss must be 'quadratic' or 'logistic', got {loss!r}")


class _BoundDatafit:
    def __init__(self, datafit, X, y, sample_weight, lipschitz):
        self.datafit, self.X, self.y, self.sample_weight = datafit, X, y, sample_weight
        self.lipschitz = lipschitz

    def value(self, w):
        return float(self.datafit.value(self.X, self.y, w, sample_weight=self.sample_weight))

    def gradient(self, w):
        return np.asarray(self.datafit.gradient(self.X, self.y, w,
                                                sample_weight=self.sample_weight))


def bind_datafit(datafit, X, y, *, sample_weight=None, lipschitz=None):
    """Adapt a datafit to the protocol of this module: a :mod:`sparsefit.datafits` class
    becomes a :class:`~sparsefit.datafits.BoundDatafit` (with its Lipschitz constant); any
    other object with ``value(X, y, coef)`` / ``gradient(X, y, coef)`` methods is wrapped
    as it is.

    ``lipschitz`` is the global Lipschitz constant of the gradient if known; left ``None``
    for a foreign datafit, :func:`fista` backtracks.

    Examples
    --------
    >>> import numpy as np
    >>> class Half:  # F(w) = 0.5 * ||w - y||^2, ignoring X
    ...     def value(self, X, y, w, sample_weight=None): return 0.5 * float(((w - y) ** 2).sum())
    ...     def gradient(self, X, y, w, sample_weight=None): return w - y
    >>> f = bind_datafit(Half(), None, np.array([1.0, 2.0]), lipschitz=1.0)
    >>> f.gradient(np.zeros(2))
    array([-1., -2.])
    """
    lipschitz = _check_positive_float(lipschitz, "lipschitz", allow_none=True)
    if isinstance(datafit, BaseDatafit):
        bound = BoundDatafit(datafit, X, y, sample_weight)
        if lipschitz is not None:
            bound._lipschitz = lipschitz
        return bound
    for meth in ("value", "gradient"):
        if not callable(getattr(datafit, meth, None)):
            name = type(datafit).__name__
            raise ValueError(f"datafit {name} has no {meth}() method")  # noqa: TRY004
    return _BoundDatafit(datafit, X, y, sample_weight, lipschitz)


def quadratic_l1_dual_gap(X, y, l1):
    r"""Duality gap function of the Lasso :math:`\frac{1}{2n}\|y - Xw\|^2 + l_1\|w\|_1`.

    Returns ``gap(w)``: with :math:`r = y - Xw` and the dual point
    :math:`\theta = r / \max(n, \|X^\top r\|_\infty / l_1)`,

    .. math::

        \mathrm{gap}(w) = \frac{1}{2n}\|r\|^2 + l_1\|w\|_1
            - \Bigl(\frac{1}{2n}\|y\|^2 - \frac n2\bigl\|\theta - y/n\bigr\|^2\Bigr) \ge 0.

    Pass it to :func:`fista` as ``dual_gap=`` to stop on the gap (NumPy and scipy sparse).

    Examples
    --------
    >>> import numpy as np
    >>> gap = quadratic_l1_dual_gap(np.eye(2), np.array([1.0, 0.0]), 0.1)
    >>> round(gap(np.array([0.8, 0.0])), 12)  # the solution, 1 - 2 * 0.1 (n = 2)
    0.0
    """
    X = _check_X(X)
    y = _check_y(y, X)
    l1 = _check_positive_float(l1, "l1")
    n = X.shape[0]
    Xt = _transpose(X)
    ynorm2 = _sqnorm(y)

    def gap(w):
        r = y - X @ w
        xtr = _max_abs(Xt @ r)
        scale = max(float(n), xtr / l1)
        theta = r / scale
        primal = 0.5 * _sqnorm(r) / n + l1 * _to_float(abs(w).sum())
        dual = 0.5 * ynorm2 / n - 0.5 * n * _sqnorm(theta - y / n)
        return primal - dual

    return gap


# ----------------------------------------------------------------------------------------
# FISTA
# ----------------------------------------------------------------------------------------
@dataclass
class FistaResult:
    """What :func:`fista` returns.

    Attributes
    ----------
    coef : ndarray or torch.Tensor
        The last iterate (a prox output, so with the penalty's exact zeros).
    n_iter : int
        Iterations run.
    converged : bool
        Whether the stopping criterion was met.
    objective : ndarray of shape (n_iter + 1,)
        :math:`F(w_k) + \\mathrm{pen}(w_k)` at the start point and after every iteration.
    violation : float
        Final optimality violation, ``max |penalty.subdiff_distance(coef, grad F(coef))|``.
    dual_gap : float or None
        Final duality gap when ``dual_gap`` was given.
    lipschitz : float
        Step size inverse used last (grows when backtracking).
    n_restarts : int
        How many times momentum was reset.
    violations : list of float
        The optimality violation at the start and at every check.
    """

    coef: object
    n_iter: int
    converged: bool
    objective: np.ndarray
    violation: float
    dual_gap: float | None = None
    lipschitz: float = float("nan")
    n_restarts: int = 0
    violations: list = field(default_factory=list, repr=False)


def _check_penalty(penalty, needs=("value", "prox", "subdiff_distance")):
    if penalty is None:
        raise ValueError("penalty is required (a sparsefit.penalties.Penalty)")
    missing = [m for m in needs if not callable(getattr(penalty, m, None))]
    if missing:
        raise ValueError(f"penalty {type(penalty).__name__} lacks {', '.join(missing)}(); "
                         f"this solver needs {', '.join(needs)}")


def _resolve_smooth(smooth, X, y, loss):
    if smooth is None:
        if X is None or y is None:
            raise ValueError("give either smooth (an object with value, gradient and "
                             "lipschitz) or X and y")
        return make_smooth(X, y, loss)
    if X is not None or y is not None:
        raise ValueError("give either smooth or X and y, not both")
    for meth in ("value", "gradient"):
        if not callable(getattr(smooth, meth, None)):
            name = type(smooth).__name__
            raise ValueError(f"smooth {name} has no {meth}() method")  # noqa: TRY004
    return smooth


def _start_point(smooth, w0):
    zeros = smooth.zeros() if callable(getattr(smooth, "zeros", None)) else None
    if w0 is None:
        if zeros is None:
            raise ValueError("w0 is required when smooth has no zeros() method")
        return zeros
    if not _is_torch(w0):
        w0 = np.asarray(w0)
        if w0.dtype.kind not in "fiub":
            raise ValueError(f"w0 must hold real numbers, got dtype {w0.dtype}")
    if not _all_finite(w0):
        raise ValueError("w0 contains NaN or infinity")
    if zeros is not None and tuple(w0.shape) != tuple(zeros.shape):
        raise ValueError(f"w0 must have shape {tuple(zeros.shape)}, got {tuple(w0.shape)}")
    # start in the kind (NumPy/torch), dtype and device of the data; never alias w0
    if zeros is not None and _is_torch(zeros):
        import torch

        src = w0 if _is_torch(w0) else torch.as_tensor(np.array(w0))
        return src.to(dtype=zeros.dtype, device=zeros.device).clone()
    if zeros is not None:
        w0 = w0.detach().cpu().numpy() if _is_torch(w0) else w0
        return np.array(w0, dtype=zeros.dtype, copy=True)
    return _copy(w0) if _is_torch(w0) else np.array(w0, dtype=np.float64, copy=True)


def _val_grad(smooth, w):
    if hasattr(smooth, "value_and_gradient"):
        v, g = smooth.value_and_gradient(w)
        return _to_float(v), g
    return _to_float(smooth.value(w)), smooth.gradient(w)


def fista(smooth=None, penalty=None, *, X=None, y=None, loss="quadratic", w0=None,
          max_iter=1000, tol=1e-6, restart="function", lipschitz=None, backtracking=None,
          dual_gap=None, eta=2.0, check_every=1, blas_threads=None):
    r"""Minimize :math:`F(w) + \mathrm{pen}(w)` by FISTA with adaptive restart.

    With step :math:`1/L` the iteration is (Beck and Teboulle, 2009)

    .. math::

        x_{k+1} &= \mathrm{prox}_{\mathrm{pen}/L}\bigl(y_k - \nabla F(y_k)/L\bigr), \\
        t_{k+1} &= \tfrac12\bigl(1 + \sqrt{1 + 4t_k^2}\bigr), \qquad
        y_{k+1} = x_{k+1} + \tfrac{t_k - 1}{t_{k+1}}(x_{k+1} - x_k),

    with the adaptive restart of O'Donoghue and Candès (2015): ``"function"`` resets the
    momentum (:math:`t = 1`) whenever the objective would increase, and then rejects that
    step (so the objective history never increases); ``"gradient"`` resets it when
    :math:`\langle y_k - x_{k+1}, x_{k+1} - x_k\rangle > 0`; ``None`` never restarts.

    Stops when the optimality violation
    :math:`\max_j |\mathrm{dist}(-\nabla F(x), \partial\,\mathrm{pen}(x))_j|` (from
    ``penalty.subdiff_distance``) is ``<= tol``, or, when ``dual_gap`` is given, when
    ``dual_gap(x) <= tol``.

    Parameters
    ----------
    smooth : object, optional
        The smooth part: ``value(w)``, ``gradient(w)``, ``lipschitz`` (see the module
        docstring). Give either ``smooth`` or ``X`` and ``y``.
    penalty : Penalty
        Any penalty with ``value``, ``prox`` and ``subdiff_distance``.
    X, y : arrays, scipy sparse ``X``, or torch tensors, optional
        Build the smooth part as ``make_smooth(X, y, loss)``.
    loss : {"quadratic", "logistic"}, default="quadratic"
    w0 : array or tensor, optional
        Start point (not modified); default zeros in the kind of ``X``.
    max_iter : int, default=1000
    tol : float, default=1e-6
        Tolerance on the violation (or on the gap when ``dual_gap`` is given), >= 0.
    restart : {"function", "gradient", None}, default="function"
    lipschitz : float, optional
        Lipschitz constant to use instead of ``smooth.lipschitz``.
    backtracking : bool, optional
        Search :math:`L` (multiplying it by ``eta`` until the quadratic upper bound holds).
        Default: only when no Lipschitz constant is known.
    dual_gap : callable, optional
        ``dual_gap(w) -> float``, e.g. :func:`quadratic_l1_dual_gap`.
    eta : float, default=2.0
        Backtracking factor, > 1.
    check_every : int, default=1
        Evaluate the stopping criterion every this many iterations (and at
        ``max_iter``): worth raising when ``subdiff_distance`` or ``dual_gap`` is costly
        (``TV1D`` solves a small bounded least-squares problem for it).
    blas_threads : int or None, default=None
        BLAS threads while iterating (through threadpoolctl); ``None`` leaves the setting
        alone. On shared cores 1 is often much faster for these matrix-vector products.

    Returns
    -------
    FistaResult
        ``coef``, ``n_iter``, ``converged``, ``objective`` (history), ``violation``, ...

    Warns
    -----
    ConvergenceWarning
        At ``max_iter`` without convergence, naming the achieved violation (or gap) and tol.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import L1
    >>> from sparsefit.solvers.fista import fista
    >>> X = np.sqrt(4) * np.eye(4); y = np.array([4.0, -2.0, 0.5, 0.0])
    >>> res = fista(X=X, y=y, penalty=L1(0.5), tol=1e-10)
    >>> res.coef  # orthogonal design: soft-thresholding of X.T y / n at 0.5
    array([ 1.5, -0.5,  0. ,  0. ])
    >>> bool(res.converged)
    True
    """
    if blas_threads is not None:
        blas_threads = _check_int(blas_threads, "blas_threads")
    with _blas_limit(blas_threads):
        return _fista(smooth, penalty, X, y, loss, w0, max_iter, tol, restart, lipschitz,
                      backtracking, dual_gap, eta, check_every)


def _blas_limit(threads):
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def _fista(smooth, penalty, X, y, loss, w0, max_iter, tol, restart, lipschitz, backtracking,
           dual_gap, eta, check_every):
    _check_penalty(penalty)
    smooth = _resolve_smooth(smooth, X, y, loss)
    max_iter = _check_int(max_iter, "max_iter")
    tol = _check_positive_float(tol, "tol", allow_zero=True)
    eta = _check_positive_float(eta, "eta")
    if eta <= 1.0:
        raise ValueError(f"eta must be > 1, got {eta}")
    if restart not in ("function", "gradient", None):
        raise ValueError(f"restart must be 'function', 'gradient' or None, got {restart!r}")
    if dual_gap is not None and not callable(dual_gap):
        raise ValueError("dual_gap must be a callable w -> float")
    L = _check_positive_float(lipschitz, "lipschitz", allow_none=True)
    if L is None:
        L = getattr(smooth, "lipschitz", None)
        L = None if L is None else _check_positive_float(L, "smooth.lipschitz",
                                                         allow_zero=True)
    if backtracking is None:
        backtracking = L is None or L == 0.0
    check_every = _check_int(check_every, "check_every")
    x = _start_point(smooth, w0)

    fx, gx = _val_grad(smooth, x)
    if not (L and L > 0):
        # start the backtracking from a secant estimate (a lower bound of the constant)
        L = _secant_lipschitz(smooth, x, gx)

    def objective(v, fv):
        return fv + _to_float(penalty.value(v))

    def check(v, gv):
        viol = _max_abs(penalty.subdiff_distance(v, gv))
        gap = None if dual_gap is None else _to_float(dual_gap(v))
        crit = viol if gap is None else gap
        return viol, gap, crit <= tol

    obj_x = objective(x, fx)
    history = [obj_x]
    viol, gap, done = check(x, gx)
    violations = [viol]
    t = 1.0
    yk, gy, fy = x, gx, fx
    n_restarts = 0
    n_iter = 0
    while not done and n_iter < max_iter:
        n_iter += 1
        # proximal gradient step from the extrapolated point
        while True:
            x_new = penalty.prox(yk - gy / L, 1.0 / L)
            f_new, g_new = _val_grad(smooth, x_new)
            if not backtracking:
                break
            d = x_new - yk
            bound = fy + _vdot(gy, d) + 0.5 * L * _sqnorm(d)
            if f_new <= bound + 1e-12 * max(1.0, abs(bound)):
                break
            L *= eta
        if not math.isfinite(f_new):
            raise ValueError(
                f"FISTA diverged at iteration {n_iter} (objective {f_new}); the Lipschitz "
                f"constant {L:.3e} is too small for this smooth part")
        obj_new = objective(x_new, f_new)
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        if restart == "function" and obj_new > obj_x and t > 1.0:
            # the momentum overshot: reset it and redo a plain proximal-gradient step
            n_restarts += 1
            t = 1.0
            yk, gy, fy = x, gx, fx
            history.append(obj_x)
            if n_iter == max_iter:
                viol, gap, done = check(x, gx)
            continue
        if restart == "gradient" and _vdot(yk - x_new, x_new - x) > 0:
            n_restarts += 1
            t_new = 1.0
            y_new = x_new
        else:
            y_new = x_new + ((t - 1.0) / t_new) * (x_new - x)
        x, fx, gx, obj_x = x_new, f_new, g_new, obj_new
        t = t_new
        history.append(obj_x)
        if n_iter % check_every == 0 or n_iter == max_iter:
            viol, gap, done = check(x, gx)
            violations.append(viol)
            if done:
                break
        yk = y_new
        if y_new is x_new:
            fy, gy = fx, gx
        else:
            fy, gy = _val_grad(smooth, yk)
    if not done:
        what = (f"duality gap {gap:.3e}" if gap is not None else
                f"optimality violation {viol:.3e}")
        warnings.warn(
            f"FISTA did not converge in max_iter={max_iter} iterations: {what} > "
            f"tol={tol:.3e}. Increase max_iter or tol.", ConvergenceWarning, stacklevel=3)
    return FistaResult(coef=x, n_iter=n_iter, converged=bool(done),
                       objective=np.asarray(history, dtype=np.float64), violation=viol,
                       dual_gap=gap, lipschitz=float(L), n_restarts=n_restarts,
                       violations=violations)


def _secant_lipschitz(smooth, x, gx):
    """``||grad(x + d) - grad(x)|| / ||d||`` for a small deterministic direction ``d``."""
    if _is_torch(x):
        import torch

        gen = torch.Generator(device="cpu").manual_seed(0)
        d = torch.randn(tuple(x.shape), generator=gen, dtype=x.dtype).to(x.device)
    else:
        d = np.random.default_rng(0).standard_normal(x.shape)
    d = d * (1e-3 * max(1.0, math.sqrt(_sqnorm(x))) / math.sqrt(_sqnorm(d)))
    gd = smooth.gradient(x + d)
    est = math.sqrt(_sqnorm(gd - gx) / _sqnorm(d))
    return est if est > 0 and math.isfinite(est) else 1.0
