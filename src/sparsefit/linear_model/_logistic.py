"""Sparse logistic regression (binary and multinomial), with L1, elastic net or group L1."""

from __future__ import annotations

import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
from scipy.special import expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.multiclass import check_classification_targets

from ..datafits import Logistic, Multinomial
from ..penalties import L1L2, GroupL1
from ..solvers import solve
from ._base import (
    PENALTY_OPTIONS,
    PenaltyMaker,
    SparseInputMixin,
    SparseLinearRegressor,
    check_fit_data,
    check_predict_data,
    checked_cast,
    solver_options,
    validated_store,
    warm_start_point,
)
from ._cv import CV_CONSTRAINTS, CV_OPTIONS_DOC, CVMixin, cv_path


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
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def _make_penalty(self, n_features, n_classes, l1_ratio=None):
        base = partial(logistic_penalty, l1_ratio=self.l1_ratio if l1_ratio is None
                       else l1_ratio, n_features=n_features, n_classes=n_classes,
                       multiclass_penalty=getattr(self, "multiclass_penalty", "l1"))
        return PenaltyMaker(base, self, n_features, n_classes if n_classes > 2 else None)

    def _prepare(self, X, y, sample_weight):
        """Validated data, the datafit, the encoded targets, and the sample weights times
        the class weights (``class_weight="balanced"``: ``n / (n_classes * count)``, from
        the weighted counts, as scikit-learn computes them)."""
        X, y, sw = check_fit_data(self, X, y, sample_weight, y_numeric=False)
        self.classes_, datafit, yt = _encode(self, y)
        cw = getattr(self, "class_weight", None)
        if cw is not None:
            if isinstance(cw, dict) and not set(cw) <= set(self.classes_):
                raise ValueError(f"class_weight: the keys must be class labels "
                                 f"{self.classes_.tolist()}, got {list(cw)}")
            per_class = compute_class_weight(cw, classes=self.classes_, y=y,
                                             sample_weight=sw)
            sw = (np.ones(y.shape[0]) if sw is None else sw) * per_class[
                np.searchsorted(self.classes_, y)]
            if not np.any(sw > 0):
                raise ValueError("class_weight and sample_weight leave every sample with "
                                 "weight 0")
        return X, datafit, yt, sw

    def _fit_at(self, X, yt, sw, datafit, alpha, l1_ratio=None, **solver_kw):
        """Solve at strength ``alpha`` (warm-started when asked) and store the solution."""
        k = self.classes_.size
        w0, b0 = warm_start_point(self, (1 if k == 2 else k, X.shape[1]))
        if w0 is not None:
            w0 = w0.ravel() if k == 2 else w0.T
        pen = self._make_penalty(X.shape[1], k, l1_ratio)(alpha)
        res = solve(validated_store(X), yt, datafit, pen, fit_intercept=self.fit_intercept,
                    sample_weight=sw, w_init=w0, intercept_init=b0, tol=self.tol,
                    max_iter=self.max_iter, **solver_kw)
        self._set_solution(res, X.dtype, k)
        return self

    def _set_solution(self, res, dtype, n_classes):
        coef = checked_cast(res.coef, dtype)
        intercept = checked_cast(res.intercept, dtype)
        if n_classes == 2:
            self.coef_ = coef.reshape(1, -1)
            self.intercept_ = intercept.reshape(1)
        else:
            self.coef_ = np.ascontiguousarray(coef.T)
            # softmax ignores a shift of all intercepts: report the one summing to zero, as
            # scikit-learn does (the predictions are the same)
            self.intercept_ = intercept.reshape(-1) - intercept.mean()
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
        """Log of :meth:`predict_proba`, computed without underflow."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([-np.logaddexp(0.0, scores), -np.logaddexp(0.0, -scores)])
        return log_softmax(scores, axis=1)

    def predict(self, X):
        scores = self.decision_function(X)
        idx = (scores > 0).astype(np.int64) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[idx]


_CLASS_WEIGHT_DOC = """
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying the sample weights (``"balanced"``:
        ``n_samples / (n_classes * count)``, counts weighted by ``sample_weight``)."""


class SparseLogisticRegression(_LogisticBase):
    __doc__ = r"""L1 (or elastic-net, or group) penalized logistic regression.

    Binary: :math:`\frac1{\sum_i s_i}\sum_i s_i \log(1 + e^{-y_i(x_i^\top w + b)}) +
    \alpha(r\|w\|_1 + \frac{1-r}{2}\|w\|_2^2)`, with sample weights :math:`s_i` (times the
    class weights). More than two classes: the multinomial (softmax) loss with the same
    penalty on all coefficients, or with ``multiclass_penalty="group"`` the group lasso
    :math:`\alpha\sum_j\|W_{j\cdot}\|_2` that keeps or drops each feature for all classes.
    Solved by proximal Newton with working sets. scikit-learn's
    ``LogisticRegression(penalty="l1", C=C)`` is ``alpha = 1 / (C * sum_i s_i)`` (see
    :class:`LogisticRegression`, which takes scikit-learn's spelling).

    Parameters
    ----------
    alpha : float, default=1.0
    l1_ratio : float, default=1.0
        1 is the L1 penalty; below 1 the elastic net.
    multiclass_penalty : {"l1", "group"}, default="l1"
    fit_intercept : bool, default=True
    tol : float, default=1e-4
        Stop at a relative duality gap ``gap / P(0) <= tol`` (``P(0)``: the objective of
        the null model).
    max_iter : int, default=100
        Outer (working-set) iterations.
    warm_start : bool, default=False""" + _CLASS_WEIGHT_DOC + r"""
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
    n_iter_ : int
        Outer iterations.
    dual_gap_ : float
        Relative duality gap at return.
    converged_ : bool

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
                 fit_intercept=True, tol=1e-4, max_iter=100, warm_start=False,
                 class_weight=None, bounds=None, penalty_factor=None):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.multiclass_penalty = multiclass_penalty
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.class_weight = class_weight
        self.bounds = bounds
        self.penalty_factor = penalty_factor

    def fit(self, X, y, sample_weight=None):
        """Fit the model; ``y`` may hold any labels (at least two classes)."""
        self._validate_params()
        X, datafit, yt, sw = self._prepare(X, y, sample_weight)
        return self._fit_at(X, yt, sw, datafit, self.alpha)


_SKLEARN_SOLVERS = {"lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"}


class LogisticRegression(_LogisticBase):
    __doc__ = r"""scikit-learn's ``LogisticRegression``, same spelling, solved by sparsefit.

    .. math::

        \min_{w, b}\; C \sum_i s_i\, \ell(y_i, x_i^\top w + b) + r\|w\|_1 +
        \frac{1 - r}{2}\|w\|_2^2

    (:math:`r` = ``l1_ratio``; :math:`s_i` the sample weights times the class weights;
    multinomial loss for more than two classes) is exactly :class:`SparseLogisticRegression`
    at ``alpha = 1 / (C * sum_i s_i)``, which is how it is solved: proximal Newton with
    working sets, exact zeros, a duality-gap certificate. Swap the import and keep
    ``penalty="l1"`` code working.

    Parameters
    ----------
    penalty : {"l1", "l2", "elasticnet", None}, optional
        scikit-learn's older spelling: "l1" is ``l1_ratio=1``, "l2" is ``l1_ratio=0``,
        "elasticnet" uses ``l1_ratio``, None is no penalty (``C=inf``). Unset: ``l1_ratio``
        decides.
    C : float, default=1.0
        Inverse regularization strength, > 0 (``np.inf``: no penalty).
    l1_ratio : float, default=0.0
        scikit-learn's default, the ridge penalty; 1 for the lasso.
    dual : False
        Only the primal is solved; True is refused.
    tol : float, default=1e-4
        Relative duality gap (scikit-learn's solvers test gradients or steps).
    fit_intercept : bool, default=True
        The intercept is never penalized (scikit-learn's liblinear penalizes it).
    intercept_scaling : float, default=1
        liblinear's device against that penalty: not needed here, accepted and unused.""" \
        + _CLASS_WEIGHT_DOC + r"""
    random_state : ignored
        This solver is deterministic.
    solver : str, default="lbfgs"
        Any of scikit-learn's names is accepted; all run sparsefit's proximal Newton,
        including the L1 penalties scikit-learn's lbfgs refuses.
    max_iter : int, default=100
        Outer (working-set) iterations.
    verbose : int, default=0
    warm_start : bool, default=False
    n_jobs : ignored
        There is one problem to solve (multinomial), not one per class.
    bounds, penalty_factor
        sparsefit's additions (see :class:`SparseLogisticRegression`).

    Attributes
    ----------
    classes_, coef_, intercept_
        As in scikit-learn.
    n_iter_ : ndarray of shape (1,)
        Outer iterations.
    alpha_ : float
        The strength solved for, ``1 / (C * sum_i s_i)``.
    dual_gap_, converged_

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sparsefit.linear_model import LogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = LogisticRegression(penalty="l1", C=0.1, solver="liblinear").fit(X, y)
    >>> int((clf.coef_ != 0).sum()) < 30, bool(clf.score(X, y) > 0.9)
    (True, True)
    """

    _parameter_constraints = {
        "penalty": [StrOptions({"l1", "l2", "elasticnet"}), None,
                    Hidden(StrOptions({"deprecated"}))],
        "C": [Interval(Real, 0, None, closed="right")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "dual": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "random_state": ["random_state"],
        "solver": [StrOptions(_SKLEARN_SOLVERS)],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "n_jobs": [None, Integral],
        **PENALTY_OPTIONS,
    }

    def __init__(self, penalty="deprecated", *, C=1.0, l1_ratio=0.0, dual=False, tol=1e-4,
                 fit_intercept=True, intercept_scaling=1, class_weight=None,
                 random_state=None, solver="lbfgs", max_iter=100, verbose=0,
                 warm_start=False, n_jobs=None, bounds=None, penalty_factor=None):
        self.bounds = bounds
        self.penalty_factor = penalty_factor
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.dual = dual
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs

    def _ratio(self):
        if self.penalty == "l1":
            return 1.0
        if self.penalty in ("l2", None):
            return 0.0
        if self.l1_ratio is None:
            raise ValueError("l1_ratio must be a number in [0, 1] with penalty="
                             f"{self.penalty!r}, got None")
        return float(self.l1_ratio)

    def fit(self, X, y, sample_weight=None):
        """Fit at ``alpha = 1 / (C * sum of the sample and class weights)``."""
        self._validate_params()
        if self.dual:
            raise ValueError("dual=True: sparsefit solves the primal problem only; use "
                             "dual=False (the result is the same optimum)")
        X, datafit, yt, sw = self._prepare(X, y, sample_weight)
        total = float(X.shape[0] if sw is None else sw.sum())
        no_penalty = self.penalty is None or np.isinf(self.C)
        self.alpha_ = 0.0 if no_penalty else 1.0 / (self.C * total)
        with warnings.catch_warnings():
            if no_penalty:  # the unpenalized fit is what was asked: no alpha=0 advice
                warnings.simplefilter("ignore", UserWarning)
            self._fit_at(X, yt, sw, datafit, self.alpha_, self._ratio(),
                         verbose=self.verbose)
        self.n_iter_ = np.array([self.n_iter_], dtype=np.int32)
        return self


class SparseLogisticRegressionCV(CVMixin, _LogisticBase):
    __doc__ = r"""Sparse logistic regression with ``alpha`` (and ``l1_ratio``) chosen by
    cross-validated log-loss.

    The grid, folds (stratified), warm-started paths, 1-SE rule and refit work as in
    :class:`ElasticNetCV`; the CV score is the held-out mean negative log-likelihood.

    Parameters
    ----------
    l1_ratios : float or array-like, default=1.0
        The ``l1_ratio`` values searched (1: the lasso penalty), each in [0, 1]; 0 needs
        an explicit ``alphas`` grid.
    multiclass_penalty : {"l1", "group"}, default="l1"
    eps : float, default=1e-3""" + CV_OPTIONS_DOC.replace("default=100", "default=50") + r"""
    cv : int or splitter, default=None
        Stratified 5-fold by default.
    n_jobs : int, optional
    refit : bool, default=True
        Refit the selected model on all the data; False averages the fold models at the
        selected ``(alpha, l1_ratio)`` (each fold solved at that strength), as
        scikit-learn's ``refit=False`` averages its folds' best models.
    fit_intercept, tol, max_iter, verbose, class_weight, bounds, penalty_factor
        As for :class:`SparseLogisticRegression`.
    dfmax, pmax : int, optional
        Cap the selected features (see :class:`ElasticNetCV`).
    l1_ratio : float
        Deprecated alias of ``l1_ratios`` (one value).

    Attributes
    ----------
    alpha_, alpha_min_, alpha_1se_ : float
    l1_ratio_ : float
    alphas_ : ndarray of shape (n_alphas,) or (n_l1_ratios, n_alphas)
    loss_path_ : ndarray of shape (n_alphas, n_folds) or (n_l1_ratios, n_alphas, n_folds)
    cv_mean_, cv_std_error_ : ndarray of shape (n_alphas,) or (n_l1_ratios, n_alphas)
    scores_ : dict
        For every class label (the positive class only, for two classes), the held-out
        scores, higher is better: minus the mean log-loss, of shape ``(n_folds, n_alphas)``
        or ``(n_folds, n_alphas, n_l1_ratios)`` (scikit-learn's layout, strengths in the
        place of its ``Cs``).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sparsefit.linear_model import SparseLogisticRegressionCV
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = SparseLogisticRegressionCV(alphas=10, cv=3).fit(X, y)
    >>> bool(clf.alpha_1se_ >= clf.alpha_min_)
    True
    """

    _parameter_constraints = {
        **{k: v for k, v in _LogisticBase._parameter_constraints.items()
           if k not in ("warm_start", "l1_ratio")},
        **CV_CONSTRAINTS,
        "l1_ratios": [Interval(Real, 0, 1, closed="both"), "array-like"],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), Hidden(StrOptions({"deprecated"}))],
        "refit": ["boolean"],
    }

    def __init__(self, *, l1_ratios=1.0, multiclass_penalty="l1", eps=1e-3, alphas=50,
                 fit_intercept=True, tol=1e-4, max_iter=100, cv=None, n_jobs=None,
                 refit=True, alpha_rule="min", selection="cyclic", random_state=None,
                 verbose=0, class_weight=None, bounds=None, penalty_factor=None, dfmax=None,
                 pmax=None, n_alphas="deprecated", l1_ratio="deprecated"):
        self.l1_ratios = l1_ratios
        self.multiclass_penalty = multiclass_penalty
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.cv = cv
        self.n_jobs = n_jobs
        self.refit = refit
        self.alpha_rule = alpha_rule
        self.selection = selection
        self.random_state = random_state
        self.verbose = verbose
        self.class_weight = class_weight
        self.bounds = bounds
        self.penalty_factor = penalty_factor
        self.dfmax = dfmax
        self.pmax = pmax
        self.n_alphas = n_alphas
        self.l1_ratio = l1_ratio

    def _ratios(self):
        if not (isinstance(self.l1_ratio, str) and self.l1_ratio == "deprecated"):
            warnings.warn(f"{type(self).__name__}: l1_ratio is deprecated; use l1_ratios "
                          "(scikit-learn's name, a value or a grid)", FutureWarning,
                          stacklevel=3)
            return np.array([float(self.l1_ratio)])
        r = np.atleast_1d(np.asarray(self.l1_ratios, dtype=np.float64))
        if r.ndim != 1 or r.size == 0 or not np.all((r >= 0) & (r <= 1)):
            raise ValueError(f"l1_ratios must be numbers in [0, 1], got {self.l1_ratios!r}")
        return r

    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validate the path(s) and refit the selected model on all the data
        (``params``: routed to the splitter, see :meth:`LassoCV.fit`)."""
        self._validate_params()
        split_params = self._split_params(params)
        ratios = self._ratios()
        grid, n_alphas = self._grid(default=50)
        X, datafit, yt, sw = self._prepare(X, y, sample_weight)
        k = self.classes_.size
        opts = dict(fit_intercept=self.fit_intercept, tol=self.tol, max_iter=self.max_iter,
                    **solver_options(self))
        paths = [cv_path(X, yt, sw, datafit, self._make_penalty(X.shape[1], k, r),
                         log_loss_at, alphas=grid, eps=self.eps, n_alphas=n_alphas,
                         cv=self.cv, n_jobs=self.n_jobs, verbose=self.verbose, stratify_y=y,
                         dfmax=self.dfmax, pmax=self.pmax, split_params=split_params, **opts)
                 for r in ratios]
        squeeze = (lambda a: a[0]) if len(ratios) == 1 else (lambda a: a)
        self.alphas_ = squeeze(np.asarray([p.alphas for p in paths]))
        self.loss_path_ = squeeze(np.asarray([p.losses for p in paths]))
        self.cv_mean_ = squeeze(np.asarray([p.mean for p in paths]))
        self.cv_std_error_ = squeeze(np.asarray([p.std_error for p in paths]))
        scores = -np.asarray([p.losses for p in paths]).transpose(2, 1, 0)  # fold, alpha, r
        scores = scores[..., 0] if len(ratios) == 1 else scores
        self.scores_ = {c: scores for c in (self.classes_[1:] if k == 2 else self.classes_)}
        best = int(np.argmin([p.mean.min() for p in paths]))
        self.l1_ratio_ = float(ratios[best])
        self.alpha_min_, self.alpha_1se_ = paths[best].alpha_min, paths[best].alpha_1se
        self.alpha_ = self._chosen_alpha(self.alpha_min_, self.alpha_1se_)
        if self.refit:
            return self._fit_at(X, yt, sw, datafit, self.alpha_, self.l1_ratio_,
                                **solver_options(self))
        return self._average_folds(X, y, yt, sw, datafit, split_params)

    def _average_folds(self, X, y, yt, sw, datafit, split_params):
        """``refit=False``: the mean of the fold models at the selected strength."""
        folds = check_cv(self.cv, y, classifier=True).split(X, y, **split_params)
        coefs, intercepts, iters = [], [], []
        for train, _ in folds:
            self._fit_at(X[train], yt[train], None if sw is None else sw[train], datafit,
                         self.alpha_, self.l1_ratio_, **solver_options(self))
            coefs.append(self.coef_)
            intercepts.append(self.intercept_)
            iters.append(self.n_iter_)
        self.coef_ = np.mean(coefs, axis=0).astype(X.dtype)
        self.intercept_ = np.mean(intercepts, axis=0).astype(X.dtype)
        self.n_iter_ = int(max(iters))
        self.dual_gap_ = float("nan")  # an average of solutions solves no single problem
        self.converged_ = True
        return self

