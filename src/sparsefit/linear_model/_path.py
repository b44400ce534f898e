"""``regularization_path``: any penalty family, any datafit, one call."""

from __future__ import annotations

import numpy as np

from .. import penalties as P
from ..datafits import Quadratic
from ..solvers import solve_path
from ._base import check_sample_weight
from ._cv import check_alphas
from ._logistic import _encode
from ._regression import _elastic_net_penalty


def _family(penalty, l1_ratio):
    """``alpha -> penalty at strength alpha`` for an identifier or a penalty instance."""
    if isinstance(penalty, str) and penalty.lower() in ("elastic_net", "l1_l2"):
        return lambda a: _elastic_net_penalty(a, l1_ratio)
    pen = P.get(penalty)
    if pen is None:
        raise ValueError("penalty must not be None for a regularization path")
    return pen.with_strength


def regularization_path(X, y, *, penalty="l1", datafit="quadratic", l1_ratio=0.5,
                        alphas=None, n_alphas=100, eps=1e-3, fit_intercept=True,
                        sample_weight=None, tol=1e-6, max_iter=100, positive=False,
                        dfmax=None, pmax=None):
    r"""Solutions along a decreasing grid of strengths, with warm starts and screening.

    Minimizes :math:`F(Xw + b) + \mathrm{pen}_\alpha(w)` for every ``alpha`` of a geometric
    grid from ``alpha_max`` (the smallest strength giving ``w = 0``) down to
    ``eps * alpha_max``.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Targets, or any two labels for ``datafit="logistic"``.
    penalty : str or Penalty, default="l1"
        An identifier (``"l1"``, ``"elastic_net"`` with ``l1_ratio``, ``"mcp"``, ...) or a
        penalty instance whose strength argument is varied (e.g. ``GroupL1(1.0,
        groups=...)`` varies ``alpha``).
    datafit : {"quadratic", "logistic"} or a datafit object, default="quadratic"
    alphas : array-like, optional
    n_alphas, eps : grid size and ratio
    fit_intercept : bool, default=True
    sample_weight : array-like, optional
    tol, max_iter, positive : solver settings
    dfmax, pmax : int, optional
        Stop the path when more than ``dfmax`` features are non-zero, or more than ``pmax``
        have ever been (glmnet's caps); the returned arrays are then shorter.

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
    coefs : ndarray of shape (n_alphas, n_features)
    intercepts : ndarray of shape (n_alphas,)

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sparsefit.linear_model import regularization_path
    >>> X, y = load_diabetes(return_X_y=True)
    >>> alphas, coefs, _ = regularization_path(X, y, n_alphas=20)
    >>> int((coefs[0] != 0).sum()), int((coefs[-1] != 0).sum())
    (0, 10)
    """
    from sklearn.utils.validation import check_X_y

    if isinstance(datafit, str):
        if datafit not in ("quadratic", "logistic"):
            raise ValueError(f"datafit must be 'quadratic' or 'logistic', got {datafit!r}")
    X, y = check_X_y(X, y, accept_sparse="csc", dtype=[np.float64, np.float32], order="F",
                     y_numeric=datafit == "quadratic")
    sw = check_sample_weight(sample_weight, X)
    if datafit == "quadratic":
        datafit = Quadratic()
    elif datafit == "logistic":
        _, datafit, y = _encode(type("regularization_path", (), {})(), y)
    make = _family(penalty, l1_ratio)
    path = solve_path(X, y, datafit, make, alphas=None if alphas is None else
                      check_alphas(alphas), n_alphas=n_alphas, eps=eps,
                      fit_intercept=fit_intercept, sample_weight=sw, tol=tol,
                      max_iter=max_iter, positive=positive, dfmax=dfmax, pmax=pmax)
    return path.alphas, path.coefs, path.intercepts
