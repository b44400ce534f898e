"""``regularization_path``: any penalty family, any datafit, one call; scikit-learn's
``lasso_path`` and ``enet_path``."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
from sklearn.utils.extmath import safe_sparse_dot

from .. import penalties as P
from ..datafits import Quadratic
from ..solvers import solve_path
from ._base import check_sample_weight
from ._cv import check_alphas, degenerate_safe_grid
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


_PATH_PARAMS = ("tol", "max_iter", "random_state", "selection", "sample_weight")


def _path_size(n_alphas, alphas):
    """scikit-learn 1.9's grid request: ``alphas`` an int (size) or a grid; ``n_alphas``
    and ``alphas=None`` deprecated (with its warnings)."""
    size = 100
    if not (isinstance(n_alphas, str) and n_alphas == "deprecated"):
        warnings.warn("'n_alphas' was deprecated in 1.9 and will be removed in 1.11 (as in "
                      "scikit-learn): 'alphas' now accepts an integer, the grid size; pass "
                      "alphas=<int> and leave n_alphas unset.", FutureWarning, stacklevel=3)
        size = n_alphas
    if isinstance(alphas, str) and alphas == "warn":
        return None, size
    if alphas is None:
        warnings.warn("'alphas=None' is deprecated and will be removed in 1.11 (as in "
                      "scikit-learn), where the default becomes 100; set 'alphas=100' to "
                      "silence this warning.", FutureWarning, stacklevel=3)
        return None, size
    if isinstance(alphas, Integral) and not isinstance(alphas, bool):
        if alphas < 1:
            raise ValueError(f"alphas: a grid size must be >= 1, got {alphas}")
        return None, int(alphas)
    return check_alphas(alphas), None


def enet_path(X, y, *, l1_ratio=0.5, eps=1e-3, n_alphas="deprecated", alphas="warn",
              precompute="auto", Xy=None, copy_X=True, coef_init=None, verbose=False,
              return_n_iter=False, positive=False, check_input=True, **params):
    r"""scikit-learn's ``enet_path``, same signature and shapes, solved by sparsefit.

    .. math:: \frac{1}{2n}\|y - Xw\|^2 + \alpha r\|w\|_1 + \frac{\alpha(1 - r)}{2}\|w\|^2

    along a decreasing grid of ``alpha`` (no intercept: center ``X`` and ``y`` first, as
    scikit-learn's path functions expect), with warm starts, strong-rule screening and a
    duality-gap certificate at every point. A 2-D ``y`` is the multi-task problem (the
    row-wise L2,1 norm in place of the L1 norm), as in scikit-learn.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
    l1_ratio : float, default=0.5
        In (0, 1] for the automatic grid; 0 needs an explicit grid.
    eps : float, default=1e-3
        ``alpha_min / alpha_max``.
    n_alphas : int
        Deprecated: ``alphas=<int>``.
    alphas : int or array-like, default=100
        Grid size (from ``alpha_max``, computed from ``Xy`` when given) or the grid.
    precompute : bool, "auto" or array-like
        Covariance-form solves (see :class:`ElasticNet`).
    Xy : array-like of shape (n_features,) or (n_features, n_targets), optional
        ``X.T @ y``, used for ``alpha_max``.
    copy_X : bool
        ``X`` is never modified.
    coef_init : array-like of shape (n_features,), optional
        Starting point of the first solve.
    verbose : bool or int
    return_n_iter : bool
        Also return, per alpha, the coordinate-descent epochs of its solve (as
        scikit-learn's ``n_iters``; see ``n_iter_`` of :class:`Lasso`).
    positive : bool
    check_input : bool
        False skips the conversion of ``X`` (it must then be Fortran-ordered or CSC).
    **params
        ``tol`` (relative duality gap, default ``1e-4``), ``max_iter`` (outer iterations,
        default 100), ``sample_weight``, ``selection``, ``random_state``.

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
    coefs : ndarray of shape (n_features, n_alphas) or (n_targets, n_features, n_alphas)
    dual_gaps : ndarray of shape (n_alphas,)
        Duality gaps ``P - D`` of the objective at every alpha, as scikit-learn's.
    n_iters : list of int
        When ``return_n_iter``: the coordinate-descent epochs per alpha (each a pass
        over the working set's coefficients, summed over the working sets; ``max_iter``
        bounds the working sets, not these).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sparsefit.linear_model import enet_path
    >>> X, y = load_diabetes(return_X_y=True)
    >>> alphas, coefs, gaps = enet_path(X, y - y.mean(), l1_ratio=0.8, alphas=5)
    >>> P0 = 0.5 * np.mean((y - y.mean()) ** 2)  # the gaps are P - D, at most tol * P(0)
    >>> coefs.shape, bool(gaps.max() <= 1e-4 * P0)
    ((10, 5), True)
    """
    unknown = set(params) - set(_PATH_PARAMS)
    if unknown:
        raise ValueError(f"Unexpected parameters in params: {sorted(unknown)} (accepted: "
                         f"{list(_PATH_PARAMS)})")
    grid, size = _path_size(n_alphas, alphas)
    if check_input:
        from sklearn.utils.validation import check_array

        X = check_array(X, accept_sparse="csc", dtype=[np.float64, np.float32], order="F")
        y = check_array(y, dtype=X.dtype.type, ensure_2d=False)
    if y.ndim == 2 and y.shape[1] > 1 and positive:
        raise ValueError("positive=True is not allowed for multi-output (y.ndim != 1)")
    sw = check_sample_weight(params.get("sample_weight"), X)
    if grid is None and l1_ratio == 0:
        raise ValueError("Automatic alpha grid generation is not supported for l1_ratio=0. "
                         "Please supply a grid by providing your estimator with the "
                         "appropriate `alphas=` argument.")
    if grid is None:
        if Xy is None:  # X.T @ (s y) / sum(s) * n: alpha_max with the sample weights
            s = np.ones(X.shape[0]) if sw is None else sw * (X.shape[0] / sw.sum())
            Xy = safe_sparse_dot(X.T, y * (s[:, None] if y.ndim == 2 else s))
        Xy = np.asarray(Xy, dtype=np.float64)
        # a 2-D Xy (multi-task): the largest row norm, as scikit-learn's _alpha_grid;
        # a zero Xy (a zero y) gives scikit-learn's grid of float64's resolution
        # (positive: only the features that can enter with a positive sign count, as in
        # scikit-learn's grid)
        top = np.sqrt((Xy * Xy).sum(axis=1)) if Xy.ndim == 2 else (
            np.maximum(Xy, 0.0) if positive else np.abs(Xy))
        amax = float(np.max(top)) / (X.shape[0] * l1_ratio)
        grid = degenerate_safe_grid(amax, size, eps)
    return _enet_path_solve(X, y, sw, grid, size, l1_ratio=l1_ratio, eps=eps,
                            precompute=precompute, coef_init=coef_init, verbose=verbose,
                            return_n_iter=return_n_iter, positive=positive, params=params)


def _enet_path_solve(X, y, sw, grid, size, *, l1_ratio, eps, precompute, coef_init, verbose,
                     return_n_iter, positive, params):
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    opts = dict(alphas=grid, n_alphas=size, eps=eps, fit_intercept=False, sample_weight=sw,
                tol=params.get("tol", 1e-4), max_iter=params.get("max_iter", 100),
                verbose=int(verbose), selection=params.get("selection", "cyclic"),
                random_state=params.get("random_state"))
    from ._base import sklearn_convergence_message

    with sklearn_convergence_message():  # scikit-learn's text first, for its filters
        if y.ndim == 2:
            from ._multitask import multitask_path

            path = multitask_path(X, y, l1_ratio=l1_ratio, w_init=coef_init, **opts)
            coefs = np.moveaxis(np.asarray(path.coefs), 0, -1)  # (n_targets, p, n_alphas)
        else:
            path = solve_path(X, y, Quadratic(), lambda a: _elastic_net_penalty(a, l1_ratio),
                              positive=positive, precompute=precompute, w_init=coef_init,
                              **opts)
            coefs = np.asarray(path.coefs).T  # (p, n_alphas)
    out = (path.alphas, coefs.astype(X.dtype, copy=False), np.asarray(path.dual_gaps))
    # scikit-learn's n_iters: the coordinate-descent epochs of each solve
    return out + (list(map(int, path.n_epochs)),) if return_n_iter else out


def lasso_path(X, y, *, eps=1e-3, n_alphas="deprecated", alphas="warn", precompute="auto",
               Xy=None, copy_X=True, coef_init=None, verbose=False, return_n_iter=False,
               positive=False, **params):
    r"""scikit-learn's ``lasso_path``: :func:`enet_path` at ``l1_ratio=1``.

    .. math:: \frac{1}{2n}\|y - Xw\|^2 + \alpha\|w\|_1

    Examples
    --------
    >>> import numpy as np
    >>> from sparsefit.linear_model import lasso_path
    >>> X = np.array([[1.0, 2.0, 3.1], [2.3, 5.4, 4.3]]).T
    >>> y = np.array([1.0, 2.0, 3.1])
    >>> alphas, coefs, _ = lasso_path(X, y, alphas=[5.0, 1.0, 0.5])
    >>> coefs.round(3)
    array([[0.   , 0.   , 0.469],
           [0.216, 0.443, 0.237]])
    """
    return enet_path(X, y, l1_ratio=1.0, eps=eps, n_alphas=n_alphas, alphas=alphas,
                     precompute=precompute, Xy=Xy, copy_X=copy_X, coef_init=coef_init,
                     verbose=verbose, return_n_iter=return_n_iter, positive=positive,
                     **params)
