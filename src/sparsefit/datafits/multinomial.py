"""Multinomial (softmax) loss."""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from ._base import BaseDatafit
from ._kernels import multinomial_intercept, multinomial_value, softmax_rows
from ._validation import check_vector


class Multinomial(BaseDatafit):
    r"""Multinomial logistic (softmax cross-entropy) datafit.

    Coefficients have shape ``(n_features, n_classes)``, the intercept ``(n_classes,)`` and
    ``y`` holds class indices ``0 .. n_classes - 1``. With :math:`U = XW + b`:

    .. math::

        F(W, b) = \sum_i s_i \Bigl(\log \sum_k e^{U_{ik}} - U_{i y_i}\Bigr),
        \qquad \sum_i s_i = 1.

    The Hessian of the log-sum-exp is at most :math:`\frac12 I`, so ``lipschitz`` returns
    :math:`\frac12 \sum_i s_i X_{ij}^2` for every coefficient of feature ``j`` (one value per
    feature). Dual objective (:math:`Q_i = Y_i - \Theta_i / s_i` in the simplex,
    ``Y`` one-hot):

    .. math::

        -F^*(-\Theta) = -\sum_i s_i \sum_k Q_{ik} \log Q_{ik}.

    Parameters
    ----------
    n_classes : int
        Number of classes (at least 2).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits import Multinomial
    >>> X = np.eye(3); y = np.array([0, 1, 2])
    >>> round(float(Multinomial(3).value(X, y, np.zeros((3, 3)))), 6)  # log(3)
    1.098612
    """

    _hess_bound = 0.5

    def __init__(self, n_classes):
        if int(n_classes) != n_classes or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        self.n_classes = int(n_classes)

    def get_config(self):
        return {"n_classes": self.n_classes}

    def __repr__(self):
        return f"Multinomial(n_classes={self.n_classes})"

    def check_y(self, y, n):
        y = check_vector(y, n, "y")
        if not np.all((y == np.round(y)) & (y >= 0) & (y < self.n_classes)):
            raise ValueError(f"y must hold class indices 0 .. {self.n_classes - 1}")
        return y

    def _onehot(self, y):
        Y = np.zeros((y.shape[0], self.n_classes))
        Y[np.arange(y.shape[0]), y.astype(np.int64)] = 1.0
        return Y

    def _value_u(self, y, U, sw):
        return multinomial_value(np.ascontiguousarray(U, dtype=np.float64),
                                 y.astype(np.int64), sw)

    def _softmax(self, U):
        P = np.empty(U.shape)
        softmax_rows(np.ascontiguousarray(U, dtype=np.float64), P)
        return P

    def _raw_grad(self, y, U, sw):
        G = self._softmax(U)
        G[np.arange(y.shape[0]), y.astype(np.int64)] -= 1.0
        G *= sw[:, None]
        return G

    def _optimal_intercept(self, y, U, sw, max_iter=50):
        return multinomial_intercept(np.ascontiguousarray(U, dtype=np.float64),
                                     y.astype(np.int64), sw, max_iter)

    def _dual_value(self, y, Theta, sw):
        pos = sw > 0
        Q = self._onehot(y[pos]) - Theta[pos] / sw[pos, None]
        Q = np.clip(Q, 0.0, 1.0)
        return float(-np.dot(sw[pos], xlogy(Q, Q).sum(axis=1)))
