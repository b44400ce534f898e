r"""The subgradient method: what penalty-in-the-loss training does.

Adding ``lam * w.abs().sum()`` to a loss and training with (stochastic) gradient descent
follows, coordinate by coordinate, the subgradient that automatic differentiation returns,

.. math::

    w_{t+1} = w_t - \eta_t\bigl(\nabla F(w_t) + g_t\bigr), \qquad
    g_t = \texttt{penalty.subgradient}(w_t) \in \partial\,\mathrm{pen}(w_t)

(for L1, :math:`g_t = \lambda\,\mathrm{sign}(w_t)` with :math:`\mathrm{sign}(0) = 0`).
A coordinate whose optimum is zero then oscillates around zero with amplitude about
:math:`\eta\lambda` instead of landing on it: the iterates have no exact zeros. The
proximal step of :func:`sparsefit.solvers.fista.fista` sets them exactly to zero.

This module is a reference for experiments and tests, not a solver to use: it converges
(with the :math:`1/\sqrt t` schedule, in the best objective value) at rate
:math:`O(1/\sqrt t)`, and never to a sparse point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .fista import (
    _check_int,
    _check_penalty,
    _check_positive_float,
    _copy,
    _resolve_smooth,
    _start_point,
    _to_float,
    _val_grad,
)

__all__ = ["SubgradientResult", "subgradient_method"]


@dataclass
class SubgradientResult:
    """What :func:`subgradient_method` returns.

    Attributes
    ----------
    coef : ndarray or torch.Tensor
        The last iterate.
    best_coef : ndarray or torch.Tensor
        The iterate with the lowest objective (the method is not monotone).
    objective : ndarray of shape (n_iter + 1,)
        :math:`F(w_t) + \\mathrm{pen}(w_t)` for every iterate, the start point first.
    n_iter : int
    """

    coef: object
    best_coef: object
    objective: np.ndarray
    n_iter: int

    @property
    def best_objective(self):
        return float(np.min(self.objective))


def subgradient_method(smooth=None, penalty=None, *, X=None, y=None, loss="quadratic",
                       lr=None, schedule="constant", max_iter=1000, w0=None):
    r"""Run the subgradient method :math:`w \leftarrow w - \eta_t(\nabla F(w) + g(w))`.

    ``g`` is ``penalty.subgradient(w)``, the element of the subdifferential that autograd
    follows. The step is :math:`\eta_t = \mathrm{lr}` (``schedule="constant"``) or
    :math:`\eta_t = \mathrm{lr}/\sqrt{t + 1}` (``"sqrt"``), :math:`t = 0, 1, \dots`

    Parameters
    ----------
    smooth : object, optional
        The smooth part (``value``, ``gradient``; see :mod:`sparsefit.solvers.fista`).
    penalty : Penalty
        Needs ``value`` and ``subgradient``.
    X, y, loss
        Instead of ``smooth``: ``make_smooth(X, y, loss)``.
    lr : float, > 0, optional
        Base step size; default ``1 / smooth.lipschitz``.
    schedule : {"constant", "sqrt"}, default="constant"
    max_iter : int, default=1000
    w0 : array or tensor, optional
        Start point (not modified); default zeros.

    Returns
    -------
    SubgradientResult
        ``coef``, ``best_coef``, ``objective`` (the history), ``n_iter``.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.penalties import L1
    >>> from sparsefit.solvers.subgradient import subgradient_method
    >>> X = 2.0 * np.eye(4); y = np.array([8.0, 0.2, 0.0, 0.0])
    >>> res = subgradient_method(X=X, y=y, penalty=L1(0.5), lr=0.3, max_iter=200)
    >>> res.coef[0].round(6)  # the prox solution is 3.5: this one is close ...
    np.float64(3.5)
    >>> bool(res.coef[1] != 0.0)  # ... but where the solution is 0, it only hovers
    True
    """
    _check_penalty(penalty, needs=("value", "subgradient"))
    smooth = _resolve_smooth(smooth, X, y, loss)
    max_iter = _check_int(max_iter, "max_iter")
    if schedule not in ("constant", "sqrt"):
        raise ValueError(f"schedule must be 'constant' or 'sqrt', got {schedule!r}")
    if lr is None:
        L = getattr(smooth, "lipschitz", None)
        if L is None or not L > 0:
            raise ValueError("lr is required when smooth has no positive lipschitz constant")
        lr = 1.0 / float(L)
    lr = _check_positive_float(lr, "lr")
    w = _start_point(smooth, w0)

    def obj(v, fv):
        return fv + _to_float(penalty.value(v))

    fw, gw = _val_grad(smooth, w)
    history = [obj(w, fw)]
    best, best_obj = _copy(w), history[0]
    for t in range(max_iter):
        step = lr if schedule == "constant" else lr / math.sqrt(t + 1.0)
        w = w - step * (gw + penalty.subgradient(w))
        fw, gw = _val_grad(smooth, w)
        o = obj(w, fw)
        if not math.isfinite(o):
            raise ValueError(f"the subgradient method diverged at iteration {t + 1} "
                             f"(objective {o}); lower lr (now {lr})")
        history.append(o)
        if o < best_obj:
            best, best_obj = _copy(w), o
    return SubgradientResult(coef=w, best_coef=best,
                             objective=np.asarray(history, dtype=np.float64),
                             n_iter=max_iter)
