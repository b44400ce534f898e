"""Sparse logistic regression (binary and multinomial), with L1, elastic net or group L1."""

from __future__ import annotations

from functools import partial
from numbers import Real

import numpy as np
from scipy.special import expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.multiclass import check_classification_targets

from ..datafits import Logistic, Multinomial
from ..penalties import L1L2, GroupL1
from ..solvers import solve
from ._base import (
    PenaltyMaker,
    SparseInputMixin,
    SparseLinearRegressor,
    check_fit_data,
    check_predict_data,
    checked_cast,
    validated_store,
    warm_start_point,
)
from ._cv import CV_CONSTRAINTS, cv_path


def logistic_penalty(alpha, *, l1_ratio, n_features, n_classes, multiclass_penalty):
    """The penalty on the (flattened, feature-major) coefficients.

    ``alpha * (r ||W||_1 + (1 - r)/2 ||W||^2)``, or with ``multiclass_penalty="group"`` the
    group lasso ``alpha * sum_j ||W_j.||`` over the classes of each feature (a feature is
    kept or dropped for all classes at once).
    """
    if n_classes > 2 and multiclass_penalty == "group":
        return GroupL1(alpha, groups=[n_classes] * n_features, weights=np.ones(n_features))
    return L1L2(l1=alpha * l1_ratio, l2=0.5 * alpha * (1.0 - l1_ratio))


def _encode(est, y):
    """Classes, the datafit and the targets the solver expects (+-1 or class indices)."""
    check_classification_targets(y)
    classes, yi = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"{type(est).__name__} needs samples of at least 2 classes in y; "
                         f"got one class: {classes[0]!r}")
    if classes.size == 2:
        return classes, Logistic(), np.where(yi == 1, 1.0, -1.0)
    return classes, Multinomial(classes.size), yi.astype(np.float64)


def log_loss_at(X, y, sw, coef, intercept):
    """Mean (weighted) negative log-likelihood of +-1 labels or class indices."""
    u = safe_sparse_dot(X, coef) + intercept
    if u.ndim == 1:
        nll = np.logaddexp(0.0, -y * u)
    else:
        nll = -log_softmax(u, axis=1)[np.arange(y.size), y.astype(np.int64)]
    return float(np.average(nll, weights=sw))


class _LogisticBase(SparseInputMixin, ClassifierMixin, BaseEstimator):
    _parameter_constraints = {
        **SparseLinearRegressor._parameter_constraints,
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "multiclass_penalty": [StrOptions({"l1", "group"})],
    }

    def _make_penalty(self, n_features, n_classes, l1_ratio=None):
        base = partial(logistic_penalty, l1_ratio=self.l1_ratio if l1_ratio is None
                       else l1_ratio, n_features=n_features, n_classes=n_classes,
                       multiclass_penalty=self.multiclass_penalty)
        return PenaltyMaker(base, self, n_features, n_classes if n_classes > 2 else None)

    def _set_solution(self, res, dtype, n_classes):
        coef = checked_cast(res.coef, dtype)
        intercept = checked_cast(res.intercept, dtype)
        if n_classes == 2:
            self.coef_ = coef.reshape(1, -1)
            self.intercept_ = intercept.reshape(1)
        else:
            self.coef_ = np.ascontiguousarray(coef.T)
            self.intercept_ = intercept.reshape(-1)
        if not self.fit_intercept:
            self.intercept_ = np.zeros_like(self.intercept_)
        self.n_iter_ = int(res.n_iter)
        self.dual_gap_ = float(res.dual_gap)
        self.converged_ = bool(res.converged)
        self.kkt_violation_ = float(res.kkt_max)

    def decision_function(self, X):
        """Scores: ``X @ coef_.T + intercept_``; shape (n_samples,) for two classes."""
        X = check_predict_data(self, X)
        scores = safe_sparse_dot(X, self.coef_.T.astype(X.dtype, copy=False)) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict_proba(self, X):
        """Class probabilities (sigmoid for two classes, softmax otherwise)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p1 = expit(scores)
            return np.column_stack([1.0 - p1, p1])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        scores = self.decision_function(X)
        idx = (scores > 0).astype(np.int64) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[idx]


class SparseLogisticRegression(_LogisticBase):
    r"""L1 (or elastic-net, or group) penalized logistic regression.

    Binary: :math:`\frac1n\sum_i \log(1 + e^{-y_i(x_i^\top w + b)}) + \alpha(r\|w\|_1 +
    \frac{1-r}{2}\|w\|_2^2)`. More than two classes: the multinomial (softmax) loss with the
    same penalty on all coefficients, or with ``multiclass_penalty="group"`` the group
    lasso :math:`\alpha\sum_j\|W_{j\cdot}\|_2` that keeps or drops each feature for all
    classes. Solved by proximal Newton with working sets. scikit-learn's
    ``LogisticRegression(penalty="l1", C=C)`` is ``alpha = 1 / (C * n_samples)``.

    Parameters
    ----------
    alpha : float, default=1.0
    l1_ratio : float, default=1.0
        1 is the L1 penalty; below 1 the elastic net.
    multiclass_penalty : {"l1", "group"}, default="l1"
    fit_intercept : bool, default=True
    tol : float, default=1e-4
        Relative duality gap.
    max_iter : int, default=100
    warm_start : bool, default=False
    bounds : tuple (lower, upper), optional
        Box constraints per feature (the same for every class), ``lower <= 0 <= upper``.
    penalty_factor : array-like of shape (n_features,), optional
        Per-feature multipliers of the penalty (one per group with
        ``multiclass_penalty="group"``: that is one per feature); 0 leaves it unpenalized.

    Attributes
    ----------
    classes_ : ndarray
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_, dual_gap_, converged_

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sparsefit.linear_model import SparseLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = SparseLogisticRegression(alpha=0.05).fit(X, y)
    >>> bool(clf.score(X, y) > 0.9), int((clf.coef_ != 0).sum()) < 30
    (True, True)
    """

    _parameter_constraints = {
        **_LogisticBase._parameter_constraints,
        "alpha": [Interval(Real, 0, np.inf, closed="left")],
    }

    def __init__(self, alpha=1.0, *, l1_ratio=1.0, multiclass_penalty="l1",
                 fit_intercept=True, tol=1e-4, max_iter=100, warm_start=False, bounds=None,
                 penalty_factor=None):
        self.bounds = bounds
        self.penalty_factor = penalty_factor
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.multiclass_penalty = multiclass_penalty
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def fit(self, X, y, sample_weight=None):
        """Fit the model; ``y`` may hold any labels (at least two classes)."""
        self._validate_params()
        X, y, sw = check_fit_data(self, X, y, sample_weight, y_numeric=False)
        self.classes_, datafit, yt = _encode(self, y)
        k = self.classes_.size
        w0, b0 = warm_start_point(self, (1 if k == 2 else k, X.shape[1]))
        if w0 is not None:
            w0 = w0.ravel() if k == 2 else w0.T
        pen = self._make_penalty(X.shape[1], k)(self.alpha)
        res = solve(validated_store(X), yt, datafit, pen, fit_intercept=self.fit_intercept,
                    sample_weight=sw, w_init=w0, intercept_init=b0, tol=self.tol,
                    max_iter=self.max_iter)
        self._set_solution(res, X.dtype, k)
        return self


class SparseLogisticRegressionCV(_LogisticBase):
    r"""Sparse logistic regression with ``alpha`` chosen by cross-validated log-loss.

    The grid, folds (stratified), warm-started paths, 1-SE rule and refit work as in
    :class:`ElasticNetCV`; the CV score is the held-out mean negative log-likelihood.

    Parameters
    ----------
    l1_ratio : float, default=1.0
    multiclass_penalty : {"l1", "group"}, default="l1"
    eps : float, default=1e-3
    n_alphas : int, default=50
    alphas : array-like, optional
    cv : int or splitter, default=5
    n_jobs : int, optional
    selection : {"min", "1se"}, default="min"
    fit_intercept, tol, max_iter, verbose
    bounds, penalty_factor
        As for :class:`SparseLogisticRegression`.
    dfmax, pmax : int, optional
        Cap the selected features (see :class:`ElasticNetCV`).

    Attributes
    ----------
    alpha_, alpha_min_, alpha_1se_ : float
    alphas_ : ndarray of shape (n_alphas,)
    loss_path_ : ndarray of shape (n_alphas, n_folds)
    cv_mean_, cv_std_error_ : ndarray of shape (n_alphas,)

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sparsefit.linear_model import SparseLogisticRegressionCV
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = SparseLogisticRegressionCV(n_alphas=10, cv=3).fit(X, y)
    >>> bool(clf.alpha_1se_ >= clf.alpha_min_)
    True
    """

    _parameter_constraints = {
        **{k: v for k, v in _LogisticBase._parameter_constraints.items() if k != "warm_start"},
        **CV_CONSTRAINTS,
    }

    def __init__(self, *, l1_ratio=1.0, multiclass_penalty="l1", eps=1e-3, n_alphas=50,
                 alphas=None, fit_intercept=True, tol=1e-4, max_iter=100, cv=5, n_jobs=None,
                 selection="min", verbose=0, bounds=None, penalty_factor=None, dfmax=None,
                 pmax=None):
        self.dfmax = dfmax
        self.pmax = pmax
        self.bounds = bounds
        self.penalty_factor = penalty_factor
        self.l1_ratio = l1_ratio
        self.multiclass_penalty = multiclass_penalty
        self.eps = eps
        self.n_alphas = n_alphas
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.cv = cv
        self.n_jobs = n_jobs
        self.selection = selection
        self.verbose = verbose

    def fit(self, X, y, sample_weight=None):
        """Cross-validate the path and refit the selected model on all the data."""
        self._validate_params()
        X, y, sw = check_fit_data(self, X, y, sample_weight, y_numeric=False)
        self.classes_, datafit, yt = _encode(self, y)
        k = self.classes_.size
        make = self._make_penalty(X.shape[1], k)
        res = cv_path(X, yt, sw, datafit, make, log_loss_at, alphas=self.alphas, eps=self.eps,
                      n_alphas=self.n_alphas, cv=self.cv, n_jobs=self.n_jobs,
                      verbose=self.verbose, stratify_y=y, fit_intercept=self.fit_intercept,
                      tol=self.tol, max_iter=self.max_iter, dfmax=self.dfmax, pmax=self.pmax)
        self.alphas_ = res.alphas
        self.loss_path_ = res.losses
        self.cv_mean_, self.cv_std_error_ = res.mean, res.std_error
        self.alpha_min_ = res.alpha_min
        self.alpha_1se_ = res.alpha_1se
        self.alpha_ = self.alpha_min_ if self.selection == "min" else self.alpha_1se_
        res = solve(validated_store(X), yt, datafit, make(self.alpha_),
                    fit_intercept=self.fit_intercept, sample_weight=sw, tol=self.tol,
                    max_iter=self.max_iter)
        self._set_solution(res, X.dtype, k)
        return self
