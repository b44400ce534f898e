"""The Lasso on real data, and compressed sensing: what the report's linear sections show."""

from __future__ import annotations

import numpy as np

from .. import datasets


def diabetes_lasso(*, n_alphas=60, cv=5, tol=1e-8):
    """Regularization path and 5-fold CV curve of the Lasso on the standardized diabetes data.

    Returns
    -------
    dict with ``alphas``, ``coefs`` (n_alphas, 10), ``feature_names``, ``alpha_max``
    (``max |X^T y| / n``), the CV curve (``cv_mean``, ``cv_se``, ``alpha_min``,
    ``alpha_1se``) and the surviving features with their coefficients at both alphas.

    Examples
    --------
    >>> out = diabetes_lasso(n_alphas=10, cv=3)
    >>> out["coefs"].shape, out["alpha_1se"] >= out["alpha_min"]
    ((10, 10), True)
    """
    from sklearn.model_selection import KFold

    from ..linear_model import Lasso, LassoCV

    X, y, names = datasets.diabetes(standardize=True)
    cvm = LassoCV(alphas=n_alphas, cv=KFold(cv), tol=tol).fit(X, y)
    alphas = cvm.alphas_
    # the path on all the data, warm-started down the same grid
    coefs = []
    model = Lasso(alpha=alphas[0], tol=tol, warm_start=True)
    for a in alphas:
        coefs.append(model.set_params(alpha=a).fit(X, y).coef_.copy())
    at_1se = Lasso(alpha=cvm.alpha_1se_, tol=tol).fit(X, y).coef_
    at_min = Lasso(alpha=cvm.alpha_min_, tol=tol).fit(X, y).coef_
    return {
        "alphas": alphas, "coefs": np.array(coefs), "feature_names": names,
        "alpha_max": float(np.max(np.abs(X.T @ y)) / len(y)),
        "cv_mean": cvm.cv_mean_, "cv_se": cvm.cv_std_error_,
        "alpha_min": cvm.alpha_min_, "alpha_1se": cvm.alpha_1se_,
        "surviving": [{"feature": n, "coef at alpha_min": float(a), "coef at alpha_1se": float(b)}
                      for n, a, b in zip(names, at_min, at_1se) if a != 0 or b != 0],
        "n_nonzero_min": int(np.count_nonzero(at_min)),
        "n_nonzero_1se": int(np.count_nonzero(at_1se)),
    }


def compressed_sensing(*, n_measurements=60, n_features=200, n_nonzero=8, seed=0):
    r"""Recover a sparse signal from fewer random measurements than its length.

    L1 minimization: the Lasso :math:`\frac{1}{2m}\|y - Ax\|^2 + \alpha\|x\|_1` at a tiny
    ``alpha`` (``1e-6 * alpha_max``, close to basis pursuit :math:`\min \|x\|_1` s.t.
    :math:`Ax = y`), against the minimum-norm least-squares solution (what L2 gives).

    Returns
    -------
    dict with ``x_true``, ``x_l1``, ``x_ls`` and their relative errors and supports.

    Examples
    --------
    >>> out = compressed_sensing(n_measurements=40, n_features=100, n_nonzero=4)
    >>> out["error_l1"] < 1e-2 < out["error_ls"]
    True
    """
    from ..linear_model import Lasso

    A, y, x = datasets.compressed_sensing(n_measurements, n_features, n_nonzero, seed=seed)
    amax = np.max(np.abs(A.T @ y)) / len(y)
    x_l1 = Lasso(alpha=1e-6 * amax, fit_intercept=False, tol=1e-14, max_iter=1000).fit(
        A, y).coef_
    x_ls = np.linalg.lstsq(A, y, rcond=None)[0]
    norm = np.linalg.norm(x)
    return {
        "x_true": x, "x_l1": x_l1, "x_ls": x_ls,
        "n_measurements": n_measurements, "n_features": n_features, "n_nonzero": n_nonzero,
        "error_l1": float(np.linalg.norm(x_l1 - x) / norm),
        "error_ls": float(np.linalg.norm(x_ls - x) / norm),
        "support_recovered": bool(np.array_equal(np.abs(x_l1) > 1e-3 * np.abs(x).max(),
                                                 x != 0)),
    }
