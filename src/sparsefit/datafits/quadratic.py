"""Least squares."""

from __future__ import annotations

import numpy as np

from ._base import BaseDatafit
from ._validation import check_vector


class Quadratic(BaseDatafit):
    r"""Least-squares datafit.

    .. math::

        F(w, b) = \frac{1}{2} \sum_i s_i (y_i - x_i^\top w - b)^2, \qquad \sum_i s_i = 1,

    i.e. :math:`\frac{1}{2n}\|y - Xw - b\|^2` without sample weights, and
    :math:`\sum_i s_i (y_i - x_i w)^2 / (2 \sum_i s_i)` with weights ``s``.

    Dual (Fenchel) objective of the loss part, used by the duality gap:

    .. math::

        -F^*(-\theta) = \sum_i \theta_i y_i - \frac{\theta_i^2}{2 s_i}.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.datafits import Quadratic
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]]); y = np.array([1.0, 2.0])
    >>> float(Quadratic().value(X, y, np.zeros(2)))
    1.25
    >>> Quadratic().lipschitz(X)
    array([0.5, 2. ])
    """

    _hess_bound = 1.0

    def check_y(self, y, n):
        return check_vector(y, n, "y")

    def _value_u(self, y, u, sw):
        r = y - u
        return 0.5 * float((sw * r * r).sum())

    def _raw_grad(self, y, u, sw):
        return sw * (u - y)

    def _hessian_weights(self, y, u, sw):
        return sw

    def _optimal_intercept(self, y, u, sw):
        return float(np.dot(sw, y - u))

    def _dual_value(self, y, theta, sw):
        pos = sw > 0
        return float(np.dot(theta, y) - 0.5 * np.sum(theta[pos] ** 2 / sw[pos]))
