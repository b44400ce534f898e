"""Multi-output (multi-task) least squares."""

from __future__ import annotations

import numbers

import numpy as np

from ._base import BaseDatafit


def _column_weights(sw, like):
    """``sw`` as a column, to broadcast against ``(n, n_tasks)`` arrays (NumPy or torch)."""
    return sw.reshape(-1, 1) if sw.ndim == 1 else sw


class MultiTaskQuadratic(BaseDatafit):
    r"""Least squares on several outputs ("tasks") at once.

    Coefficients have shape ``(n_features, n_tasks)``, the intercept ``(n_tasks,)`` and
    ``y`` shape ``(n_samples, n_tasks)``. With :math:`U = XW + b`:

    .. math::

        F(W, b) = \frac{1}{2} \sum_i s_i \|Y_i - U_i\|_2^2, \qquad \sum_i s_i = 1,

    i.e. :math:`\frac{1}{2n}\|Y - XW - b\|_F^2` without sample weights. Coefficient
    ``(j, t)`` is penalty coordinate ``j * n_tasks + t`` (as for :class:`Multinomial`), so
    ``GroupL1(alpha, [n_tasks] * n_features, weights=[1] * n_features)`` is the row-wise
    :math:`\ell_{2,1}` penalty of scikit-learn's ``MultiTaskLasso``.

    Every task has the same curvature, so ``lipschitz`` returns one value per feature,
    :math:`\sum_i s_i X_{ij}^2`. Dual (Fenchel) objective of the loss part, for the
    duality gap:

    .. math::

        -F^*(-\Theta) = \sum_{i,t} \Theta_{it} Y_{it} - \frac{\Theta_{it}^2}{2 s_i}.

    Parameters
    ----------
    n_tasks : int
        Number of outputs (at least 1). ``n_classes``, the attribute the solvers read for
        the second dimension of the coefficients, equals it.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits import MultiTaskQuadratic
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]]); Y = np.array([[1.0, 0.0], [2.0, 2.0]])
    >>> float(MultiTaskQuadratic(2).value(X, Y, np.zeros((2, 2))))  # (1 + 4 + 4) / 4
    2.25
    """

    _hess_bound = 1.0

    def __init__(self, n_tasks):
        if (isinstance(n_tasks, bool) or not isinstance(n_tasks, numbers.Integral)
                or n_tasks < 1):
            raise ValueError(f"n_tasks must be an integer >= 1, got {n_tasks!r}")
        self.n_tasks = int(n_tasks)

    @property
    def n_classes(self):
        # the solvers' name for the number of coefficient columns
        return self.n_tasks

    def get_config(self):
        return {"n_tasks": self.n_tasks}

    def __repr__(self):
        return f"MultiTaskQuadratic(n_tasks={self.n_tasks})"

    def check_y(self, y, n):
        """``y`` as a finite float64 C-ordered ``(n, n_tasks)`` array (a 1-D ``y`` is one
        task)."""
        y = np.asarray(y)
        if y.ndim == 1 and self.n_tasks == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != self.n_tasks:
            raise ValueError(f"y must have shape (n_samples, {self.n_tasks}) (one column per "
                             f"task), got shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"y has length {y.shape[0]}, expected {n} (the number of rows "
                             "of X)")
        if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
            raise ValueError(f"y must be numeric, got dtype {y.dtype}")
        y = np.ascontiguousarray(y, dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or infinity")
        return y

    def _value_u(self, y, U, sw):
        r = y - U
        return 0.5 * float((_column_weights(sw, r) * r * r).sum())

    def _raw_grad(self, y, U, sw):
        return _column_weights(sw, U) * (U - y)

    def _hessian_weights(self, y, U, sw):
        return sw

    def _optimal_intercept(self, y, U, sw):
        return sw @ (y - U)

    def _dual_value(self, y, Theta, sw):
        pos = sw > 0
        return float(np.sum(Theta * y) - 0.5 * np.sum(Theta[pos] ** 2 / sw[pos, None]))
