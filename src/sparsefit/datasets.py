"""Embedded data (scikit-learn's bundled copies, no download) and generators.

Every function is deterministic given ``seed``/``random_state``.
"""

from __future__ import annotations

import numpy as np


def _standardize(X):
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return (X - mean) / std


def breast_cancer(standardize=True):
    """scikit-learn's bundled breast cancer data (569 x 30, binary).

    Returns
    -------
    X : ndarray of shape (569, 30), standardized columns when ``standardize``
    y : ndarray of shape (569,), 0 = malignant, 1 = benign
    feature_names : list of str

    Examples
    --------
    >>> X, y, names = breast_cancer()
    >>> X.shape, round(float(X[:, 0].std()), 6)
    ((569, 30), 1.0)
    """
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = data.data.astype(np.float64)
    return (_standardize(X) if standardize else X), data.target.astype(np.int64), list(
        data.feature_names)


def diabetes(standardize=True):
    """scikit-learn's bundled diabetes data (442 x 10, regression).

    With ``standardize`` the columns have mean 0 and standard deviation 1 and ``y`` is
    centred, so ``alpha_max = max |X^T y| / n``.

    Examples
    --------
    >>> X, y, names = diabetes()
    >>> names[:3], abs(float(y.mean())) < 1e-9
    (['age', 'sex', 'bmi'], True)
    """
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    X = data.data.astype(np.float64)
    y = data.target.astype(np.float64)
    if standardize:
        X = _standardize(X)
        y = y - y.mean()
    return X, y, list(data.feature_names)


def digits(scale=True):
    """scikit-learn's bundled 8x8 digits (1797 x 64, 10 classes), pixels scaled to [0, 1].

    Examples
    --------
    >>> X, y = digits()
    >>> X.shape, float(X.max())
    ((1797, 64), 1.0)
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    X = data.data.astype(np.float64)
    return (X / 16.0 if scale else X), data.target.astype(np.int64)


def toeplitz_design(n_samples, n_features, rho=0.5, *, seed=0, dtype=np.float64):
    r"""Gaussian design with Toeplitz correlation :math:`\Sigma_{jk} = \rho^{|j-k|}`.

    Generated column by column by the AR(1) recursion
    :math:`X_j = \rho X_{j-1} + \sqrt{1-\rho^2} Z_j` (no dense Cholesky), Fortran-ordered.

    Examples
    --------
    >>> X = toeplitz_design(20000, 3, rho=0.5, seed=0)
    >>> round(float(np.corrcoef(X[:, 0], X[:, 1])[0, 1]), 1)
    0.5
    """
    if not -1 < rho < 1:
        raise ValueError(f"rho must be in (-1, 1), got {rho}")
    rng = np.random.default_rng(seed)
    X = np.empty((n_samples, n_features), dtype=dtype, order="F")
    X[:, 0] = rng.standard_normal(n_samples)
    c = np.sqrt(1 - rho * rho)
    for j in range(1, n_features):
        X[:, j] = rho * X[:, j - 1] + c * rng.standard_normal(n_samples)
    return X


def sparse_signal(n_features, n_nonzero, *, seed=0):
    """A vector with ``n_nonzero`` non-zero entries (+-1 times U(1, 2)) at random places.

    Examples
    --------
    >>> int((sparse_signal(100, 5) != 0).sum())
    5
    """
    rng = np.random.default_rng(seed)
    w = np.zeros(n_features)
    idx = rng.choice(n_features, size=n_nonzero, replace=False)
    w[idx] = rng.choice([-1.0, 1.0], size=n_nonzero) * rng.uniform(1, 2, size=n_nonzero)
    return w


def compressed_sensing(n_measurements=60, n_features=200, n_nonzero=8, *, noise=0.0, seed=0):
    r"""Random Gaussian measurements :math:`y = A x + \varepsilon` of a sparse signal.

    ``A`` has i.i.d. :math:`N(0, 1/m)` entries (``m = n_measurements``), fewer rows than
    the signal's length: least squares cannot recover ``x``, L1 minimization can.

    Returns
    -------
    A : ndarray of shape (n_measurements, n_features)
    y : ndarray of shape (n_measurements,)
    x : ndarray of shape (n_features,), the true signal

    Examples
    --------
    >>> A, y, x = compressed_sensing(30, 100, 4)
    >>> A.shape, int((x != 0).sum())
    ((30, 100), 4)
    """
    rng = np.random.default_rng(seed)
    x = sparse_signal(n_features, n_nonzero, seed=seed + 1)
    A = rng.standard_normal((n_measurements, n_features)) / np.sqrt(n_measurements)
    y = A @ x + noise * rng.standard_normal(n_measurements)
    return A, y, x
