"""Sparse logistic regression (binary and multinomial), with L1, elastic net or group L1."""

from __future__ import annotations

import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from scipy.special import expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import check_scoring, get_scorer, get_scorer_names
from sklearn.model_selection import check_cv
from sklearn.utils import metadata_routing
from sklearn.utils._metadata_requests import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.multiclass import check_classification_targets

from ..datafits import Logistic, Multinomial
from ..penalties import L1L2, GroupL1
from ..solvers import solve
from ..solvers._common import describe
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
from ._cv import (
    CV_CONSTRAINTS,
    CV_OPTIONS_DOC,
    CVMixin,
    check_fold_weights,
    cv_path,
    drawn_folds,
)

#: scikit-learn 1.8's deprecation of ``penalty`` (removed in 1.10), in its words.
_PENALTY_DEPRECATED = (
    "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To avoid this "
    "warning, leave 'penalty' set to its default value and use {} instead. Use {} instead "
    "of penalty='l2', {} instead of penalty='l1', {} instead of penalty='elasticnet', and "
    "{} instead of penalty=None.")


def check_class_weights(classes, totals):
    """Refuse a class whose rows weigh 0 in all (sample weights times class weights): its
    probability would be 0, its intercept minus infinity (in memory the Newton system was
    singular, a LinAlgError)."""
    empty = [c for c, t in zip(np.asarray(classes).tolist(), totals) if not t > 0]
    if empty:
        raise ValueError(f"class {empty[0]!r} has total sample weight 0 (sample_weight times "
                         "class_weight): drop its rows, or give them a positive weight")


def _center_free_features(coef, penalty):
    """Center across the classes, in place, the multinomial coefficients (``coef`` of
    shape ``(n_classes, n_features)``) of the features ``penalty`` leaves free (all of them
    unpenalized, ``C=inf``): softmax ignores a shift of a feature's coefficients over the
    classes, so any shift is optimal; the centered one is scikit-learn's (its columns sum
    to zero). A bounded penalty is left as it is (a shift may leave the box); infinite
    bounds bound nothing."""
    from ..penalties import Box

    k, p = coef.shape
    if isinstance(penalty, Box):
        if np.any(np.isfinite(penalty.lower)) or np.any(np.isfinite(penalty.upper)):
            return
        penalty = penalty.penalty
    info = describe(penalty, p * k)
    if info.free is None:
        return
    free = info.free
    if info.is_group:  # the coordinates of the free groups
        spec, free = info.spec, np.zeros(p * k, dtype=bool)
        for g in np.flatnonzero(info.free):
            free[spec.grp_idx[spec.grp_ptr[g]:spec.grp_ptr[g + 1]]] = True
    cols = free.reshape(p, k).all(axis=1)  # (feature-major: a feature's k classes)
    coef[:, cols] -= coef[:, cols].mean(axis=0)


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
        if sw is not None:
            check_class_weights(self.classes_, np.bincount(
                np.searchsorted(self.classes_, y), weights=sw, minlength=self.classes_.size))
        return X, datafit, yt, sw

    def _fit_at(self, X, yt, sw, datafit, alpha, l1_ratio=None, **solver_kw):
        """Solve at strength ``alpha`` (warm-started when asked) and store the solution."""
        k = self.classes_.size
        w0, b0 = warm_start_point(self, (1 if k == 2 else k, X.shape[1]))
        if w0 is not None:
            w0 = w0.ravel() if k == 2 else w0.T
        pen = self._make_penalty(X.shape[1], k, l1_ratio)(alpha)
        res = self._solve(X, yt, sw, datafit, pen, w0, b0, **solver_kw)
        self._set_solution(res, X.dtype, k)
        if k > 2:
            _center_free_features(self.coef_, pen)
        return self

    def _solve(self, X, yt, sw, datafit, penalty, w_init=None, intercept_init=None,
               **solver_kw):
        """The solver call of every fit at one strength: in memory, and the wide
        cross-validation's folds solved from gathered columns on dask input
        (:mod:`sparsefit.distributed._wide_logistic_cv`). Returns the
        :class:`~sparsefit.solvers.SolverResult`."""
        return solve(validated_store(X), yt, datafit, penalty,
                     fit_intercept=self.fit_intercept, sample_weight=sw, w_init=w_init,
                     intercept_init=intercept_init, tol=self.tol, max_iter=self.max_iter,
                     **solver_kw)

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
        # proximal Newton iterations; a start the first check certifies counts that check
        # as one (scikit-learn's solvers report at least one iteration)
        self.n_iter_ = max(1, int(res.n_iter))
        self.dual_gap_ = res.absolute_gap
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
        Outer (proximal Newton) iterations, at least 1: a start the first check certifies
        optimal (a strength above ``alpha_max``) counts that check, as scikit-learn's
        solvers report at least one iteration.
    dual_gap_ : float
        Duality gap ``P - D`` of the objective at return (at most ``tol * P(0)`` when
        converged).
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
        decides. As in scikit-learn, a ``penalty`` that disagrees with ``l1_ratio`` warns
        (``penalty`` wins).
    C : float, default=1.0
        Inverse regularization strength, > 0 (``np.inf``: no penalty).
    l1_ratio : float, default=0.0
        scikit-learn's default, the ridge penalty; 1 for the lasso.
    dual : bool, default=False
        True (liblinear's dual, L2 penalty only, as in scikit-learn) has the same optimum:
        the primal problem is solved either way.
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
    >>> clf = LogisticRegression(l1_ratio=1, C=0.1, solver="liblinear").fit(X, y)
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

    def _check_penalty_spelling(self):
        """scikit-learn's warnings on ``penalty`` against ``l1_ratio``, and its rules on
        ``dual``: liblinear's dual exists for the L2 penalty only (it has the same optimum
        as the primal problem, which is what is solved)."""
        given = not (isinstance(self.penalty, str) and self.penalty == "deprecated")
        r = self.l1_ratio
        if given:
            warnings.warn(_PENALTY_DEPRECATED.format(
                "'l1_ratio' or 'C'", "l1_ratio=0", "l1_ratio=1",
                "l1_ratio set to a float between 0 and 1", "C=np.inf"), FutureWarning,
                stacklevel=3)
        if given and self.penalty != "elasticnet" and r is not None and 0 < r < 1:
            warnings.warn("l1_ratio parameter is only used when penalty is 'elasticnet'. "
                          f"Got (penalty={self.penalty})", UserWarning, stacklevel=3)
        if (self.penalty == "l2" and r != 0) or (self.penalty == "l1" and r != 1):
            warnings.warn(f"Inconsistent values: penalty={self.penalty} with l1_ratio={r}. "
                          "penalty is deprecated. Please use l1_ratio only.", UserWarning,
                          stacklevel=3)
        if self.dual:
            if self.solver != "liblinear":
                raise ValueError(f"Solver {self.solver} supports only dual=False, got "
                                 f"dual={self.dual}")
            if self._ratio() != 0:
                raise ValueError(f"dual=True: only the L2 penalty (l1_ratio=0) has a dual "
                                 f"problem (liblinear's), got l1_ratio={self._ratio()}")

    def fit(self, X, y, sample_weight=None):
        """Fit at ``alpha = 1 / (C * sum of the sample and class weights)``."""
        self._validate_params()
        self._check_penalty_spelling()
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
        folds = drawn_folds(self.cv, X, y, split_params, classifier=True)
        paths = [cv_path(X, yt, sw, datafit, self._make_penalty(X.shape[1], k, r),
                         log_loss_at, alphas=grid, eps=self.eps, n_alphas=n_alphas,
                         cv=folds, n_jobs=self.n_jobs, verbose=self.verbose, stratify_y=y,
                         dfmax=self.dfmax, pmax=self.pmax, split_params=split_params,
                         **self._path_options())
                 for r in ratios]
        self._store_paths(ratios, paths)
        if self.refit:
            return self._fit_at(X, yt, sw, datafit, self.alpha_, self.l1_ratio_,
                                **solver_options(self))
        return self._average_folds(X, yt, sw, datafit, folds)

    def _path_options(self):
        """The solver keywords of every fold's path (in memory, and from gathered columns
        on dask input)."""
        return dict(fit_intercept=self.fit_intercept, tol=self.tol, max_iter=self.max_iter,
                    **solver_options(self))

    def _store_paths(self, ratios, paths):
        """The CV attributes from one :class:`~sparsefit.linear_model._cv.CVPath` per
        ``l1_ratio`` (``alphas_``, ``loss_path_``, ``scores_``, the selection)."""
        k = self.classes_.size
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

    def _average_folds(self, X, yt, sw, datafit, folds):
        """``refit=False``: the mean of the fold models at the selected strength, on the
        folds that scored it."""
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



def _fold_path(template, X, y, sw, train, test, Cs, ratio, scorer, score_params):
    """One fold at one ``l1_ratio``: a :class:`LogisticRegression` per ``C`` (each solved
    from zero, as a grid search would), its coefficients (intercept last), iterations and
    held-out score (``score_params``: the scorer's metadata, taken at the held-out rows)."""
    from sklearn.utils.validation import _check_method_params

    coefs, iters, scores = [], [], []
    sw_train = None if sw is None else sw[train]
    kw = _check_method_params(X, params=score_params, indices=test)
    for C in Cs:
        est = clone(template).set_params(C=C, l1_ratio=ratio)
        est.fit(X[train], y[train], sample_weight=sw_train)
        w = est.coef_
        if est.fit_intercept:
            w = np.column_stack([w, est.intercept_])
        coefs.append(w)
        iters.append(int(est.n_iter_[0]))
        scores.append(float(scorer(est, X[test], y[test], **kw)))
    return np.asarray(coefs), np.asarray(iters), np.asarray(scores)


class LogisticRegressionCV(CVMixin, LogisticRegression):
    __doc__ = r"""scikit-learn's ``LogisticRegressionCV``, same spelling and attributes, every
    fit solved by sparsefit's :class:`LogisticRegression`.

    Each fold, ``C`` of ``Cs`` and ``l1_ratio`` of ``l1_ratios`` is a
    :class:`LogisticRegression` fit on the training part, solved from zero (scikit-learn
    warm-starts along ``Cs``; the optimum is the same, and the choice is the one a
    ``GridSearchCV`` over :class:`LogisticRegression` with the same folds and scorer
    makes), scored on the held-out part. The best ``(C, l1_ratio)`` by the sum of the fold
    scores is refit on all the data (``refit=True``), or the folds' best models are
    averaged (``refit=False``), as in scikit-learn. For a grid in sparsefit's ``alpha``
    spelling, with the 1-SE rule, see :class:`SparseLogisticRegressionCV`.

    On dask input (``cv`` an int or :class:`HashKFold`, or a ``groups`` column) every fit
    runs by distributed proximal Newton and the scores in one pass, with the in-memory
    answers on the same folds; ``scoring`` must then be None (accuracy), ``"accuracy"`` or
    ``"neg_log_loss"`` (see ``docs/distributed.md``).

    Parameters
    ----------
    Cs : int or array-like, default=10
        The grid of ``C`` (an int: ``np.logspace(-4, 4, Cs)``, as in scikit-learn).
    l1_ratios : array-like of float in [0, 1]
        The ``l1_ratio`` grid. Unset: None with scikit-learn's FutureWarning (the penalty
        then decides: L2 unless ``penalty="l1"``).
    scoring : str, callable or None
        A scikit-learn scorer; None (and unset, with scikit-learn's FutureWarning) is the
        accuracy.
    use_legacy_attributes : bool
        scikit-learn's switch between its old attribute layout (dicts per class, ``C_`` an
        array; the default, with its FutureWarning) and its new one (arrays, ``C_`` a float).
    penalty, fit_intercept, cv, dual, solver, tol, max_iter, class_weight, n_jobs, verbose,
    refit, intercept_scaling, random_state, bounds, penalty_factor
        As for :class:`LogisticRegression` and scikit-learn's ``LogisticRegressionCV``
        (``class_weight="balanced"`` is computed once on all the data; ``cv`` stratified
        5-fold by default; a group splitter takes ``fit(..., groups=...)`` through metadata
        routing). ``tol`` and ``max_iter`` are sparsefit's (relative duality gap, outer
        iterations).

    Attributes
    ----------
    Cs_, l1_ratios_, C_, l1_ratio_, coefs_paths_, scores_, n_iter_, classes_, coef_,
    intercept_
        scikit-learn's, with its shapes (see ``use_legacy_attributes``).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sparsefit.linear_model import LogisticRegressionCV
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = LogisticRegressionCV(Cs=4, l1_ratios=[1.0], cv=3, scoring="neg_log_loss",
    ...                            use_legacy_attributes=False).fit(X, y)
    >>> clf.C_ in clf.Cs_, clf.scores_.shape
    (True, (3, 1, 4))
    """

    # score's sample_weight goes to the scorer (routed), not to a request of its own: as
    # scikit-learn's
    __metadata_request__score = {"sample_weight": metadata_routing.UNUSED}

    _parameter_constraints = {
        **{k: v for k, v in LogisticRegression._parameter_constraints.items()
           if k not in ("C", "l1_ratio", "warm_start")},
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like", None, Hidden(StrOptions({"warn"}))],
        "cv": ["cv_object"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None,
                    Hidden(StrOptions({"warn"}))],
        "refit": ["boolean"],
        "use_legacy_attributes": ["boolean", Hidden(StrOptions({"warn"}))],
    }

    def __init__(self, *, Cs=10, l1_ratios="warn", fit_intercept=True, cv=None, dual=False,
                 penalty="deprecated", scoring="warn", solver="lbfgs", tol=1e-4,
                 max_iter=100, class_weight=None, n_jobs=None, verbose=0, refit=True,
                 intercept_scaling=1.0, random_state=None, use_legacy_attributes="warn",
                 bounds=None, penalty_factor=None):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.dual = dual
        self.penalty = penalty
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.intercept_scaling = intercept_scaling
        self.random_state = random_state
        self.use_legacy_attributes = use_legacy_attributes
        self.bounds = bounds
        self.penalty_factor = penalty_factor

    def _resolve(self):
        """``(penalty, l1_ratios or None, scoring, legacy)`` with scikit-learn's warnings."""
        l1_ratios = self.l1_ratios
        if isinstance(l1_ratios, str) and l1_ratios == "warn":
            l1_ratios = None
            warnings.warn("The default value for l1_ratios will change from None to (0.0,) "
                          "in version 1.10 (as in scikit-learn). To avoid this warning, "
                          "explicitly set a value, e.g. l1_ratios=(0,).", FutureWarning,
                          stacklevel=3)
        if isinstance(self.penalty, str) and self.penalty == "deprecated":
            if l1_ratios is None or np.all(np.asarray(l1_ratios) == 0):
                penalty = "l2"
            elif np.all(np.asarray(l1_ratios) == 1):
                penalty = "l1"
            else:
                penalty = "elasticnet"
        else:
            penalty = self.penalty
            warnings.warn(_PENALTY_DEPRECATED.format(
                "'l1_ratios' and 'Cs'", "l1_ratios=(0,)", "l1_ratios=(1,)",
                "l1_ratios set to floats between 0 and 1", "Cs=(np.inf,)"), FutureWarning,
                stacklevel=3)
        if penalty == "elasticnet":
            r = None if l1_ratios is None else np.asarray(l1_ratios, dtype=object).ravel()
            if r is None or r.size == 0 or any(
                    isinstance(v, bool) or not isinstance(v, Real) or not 0 <= v <= 1
                    for v in r):
                raise ValueError("l1_ratios must be an array-like of numbers between 0 and "
                                 f"1; got (l1_ratios={l1_ratios!r})")
        elif l1_ratios is not None and not (isinstance(self.penalty, str)
                                            and self.penalty == "deprecated"):
            warnings.warn("l1_ratios parameter is only used when penalty is 'elasticnet'. "
                          f"Got (penalty={penalty})", UserWarning, stacklevel=3)
        scoring = self.scoring
        if isinstance(scoring, str) and scoring == "warn":
            warnings.warn("The default value of the parameter 'scoring' will change from "
                          "None, i.e. accuracy, to 'neg_log_loss' in version 1.11 (as in "
                          "scikit-learn). To silence this warning, explicitly set the "
                          "scoring parameter.", FutureWarning, stacklevel=3)
            scoring = None
        legacy = self.use_legacy_attributes
        if isinstance(legacy, str):
            warnings.warn(f"The fitted attributes of {type(self).__name__} will be simplified "
                          "in scikit-learn 1.10; set use_legacy_attributes=False for the new "
                          "layout now, or True to keep the old one silently.", FutureWarning,
                          stacklevel=3)
            legacy = True
        return penalty, l1_ratios, scoring, legacy

    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validate the ``(C, l1_ratio)`` grid and refit (or average) the best model
        (``params``: routed to the splitter, see :meth:`LassoCV.fit`)."""
        self._validate_params()
        penalty, l1_ratios, scoring, legacy = self._resolve()
        split_params, score_params = self._routed(params, scoring, sample_weight)
        self._check_dual()
        X, y, sw = check_fit_data(self, X, y, sample_weight, y_numeric=False)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in "
                             f"y; got one class: {self.classes_[0]!r}")
        cw = self.class_weight
        if isinstance(cw, str):  # "balanced": computed once, on all the data
            cw = dict(zip(self.classes_, compute_class_weight(
                cw, classes=self.classes_, y=y, sample_weight=sw)))
        Cs, ratios = self._grids(penalty, l1_ratios)
        template = self._template(cw)
        scorer = self._scorer(template, scoring)
        folds = drawn_folds(self.cv, X, y, split_params, classifier=True)
        check_fold_weights(folds, sw)
        out = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fold_path)(template, X, y, sw, train, test, Cs, r, scorer, score_params)
            for train, test in folds for r in ratios)
        n_folds, n_r, n_cs = len(folds), len(ratios), Cs.size
        # coefs: (n_folds, n_l1, n_cs, n_rows, n_dof); iters / scores: (n_folds, n_l1, n_cs)
        coefs = np.asarray([o[0] for o in out]).reshape(n_folds, n_r, n_cs,
                                                        *out[0][0].shape[1:])
        iters = np.asarray([o[1] for o in out]).reshape(n_folds, n_r, n_cs)
        scores = np.asarray([o[2] for o in out]).reshape(n_folds, n_r, n_cs)

        def refit(C, r):
            return clone(template).set_params(C=C, l1_ratio=r).fit(
                X, y, sample_weight=sample_weight)

        return self._select(coefs, iters, scores, Cs, ratios, penalty, l1_ratios is None,
                            legacy, X.shape[1], refit)

    def _scoring_or_none(self):
        """``scoring``, with scikit-learn's transitional ``"warn"`` as None (accuracy)."""
        return None if isinstance(self.scoring, str) and self.scoring == "warn" \
            else self.scoring

    @staticmethod
    def _scorer(template, scoring):
        return get_scorer("accuracy") if scoring is None else check_scoring(
            template, scoring=scoring)

    def _routed(self, params, scoring, sample_weight):
        """``(split params, score params)``, as scikit-learn routes ``fit``'s metadata:
        with routing enabled, ``groups`` to the splitter and what the scorer requested
        (``sample_weight`` too, refused when the scorer says nothing of it); without,
        ``sample_weight`` to the scorer."""
        if _routing_enabled():
            routed = process_routing(self, "fit", sample_weight=sample_weight, **params)
            return routed.splitter.split, routed.scorer.score
        _raise_for_params(params, self, "fit")
        return {}, ({} if sample_weight is None else {"sample_weight": sample_weight})

    def get_metadata_routing(self):
        """The splitter receives ``fit``'s ``groups`` (``split``), the scorer its
        ``sample_weight`` when it requests it (``score``), as scikit-learn's."""
        scoring = self._scoring_or_none()
        return MetadataRouter(owner=self).add_self_request(self).add(
            splitter=check_cv(self.cv),
            method_mapping=MethodMapping().add(caller="fit", callee="split")).add(
            scorer=self._scorer(self._template(None), scoring),
            method_mapping=MethodMapping().add(caller="score", callee="score").add(
                caller="fit", callee="score"))

    def score(self, X, y, *, sample_weight=None, **score_params):
        """The fitted model's score on ``(X, y)`` by ``scoring`` (accuracy by default), as
        scikit-learn's ``LogisticRegressionCV.score``: with metadata routing, the scorer
        gets what it requested of ``score_params`` (``sample_weight`` among them).

        Examples
        --------
        >>> import numpy as np
        >>> from sparsefit.linear_model import LogisticRegressionCV
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((60, 3)); y = (X[:, 0] > 0).astype(int)
        >>> m = LogisticRegressionCV(Cs=3, cv=3, scoring="neg_log_loss", l1_ratios=(0.0,),
        ...                          use_legacy_attributes=False).fit(X, y)
        >>> bool(m.score(X, y) < 0)  # a log-loss, not an accuracy
        True
        """
        _raise_for_params(score_params, self, "score")
        if sample_weight is not None:
            score_params["sample_weight"] = sample_weight
        scoring = self._scoring_or_none()
        scorer = self._scorer(self._template(None), scoring)
        if _routing_enabled():
            params = process_routing(self, "score", **score_params).scorer.score
        else:
            sw = score_params.get("sample_weight")
            params = {} if sw is None else {"sample_weight": sw}
        return scorer(self, X, y, **params)

    def _check_dual(self):
        if self.dual and self.solver != "liblinear":
            raise ValueError(f"Solver {self.solver} supports only dual=False, got "
                             f"dual={self.dual}")

    def _grids(self, penalty, l1_ratios):
        """The ``C`` grid and the ``l1_ratio`` values fitted (shared with dask input)."""
        Cs = (np.logspace(-4, 4, self.Cs) if isinstance(self.Cs, Integral)
              else np.asarray(self.Cs, dtype=np.float64).ravel())
        if penalty is None:
            Cs = np.full(Cs.shape, np.inf)
        ratios = ([1.0 if penalty == "l1" else 0.0] if l1_ratios is None
                  else [float(r) for r in np.ravel(l1_ratios)])
        return Cs, ratios

    def _template(self, class_weight):
        """The :class:`LogisticRegression` fitted for every (fold, C, l1_ratio)."""
        return LogisticRegression(
            fit_intercept=self.fit_intercept, dual=self.dual, tol=self.tol,
            intercept_scaling=self.intercept_scaling, class_weight=class_weight,
            random_state=self.random_state, solver=self.solver, max_iter=self.max_iter,
            bounds=self.bounds, penalty_factor=self.penalty_factor)

    def _select(self, coefs, iters, scores, Cs, ratios, penalty, no_ratio_axis, legacy,
                n_features, refit):
        """The choice from the fold scores, the refit (``refit(C, l1_ratio)`` returns the
        fitted :class:`LogisticRegression`) or the average of the folds' best models, and
        scikit-learn's attributes (shared with the fit on dask input)."""
        n_r, n_cs = len(ratios), Cs.size
        self.Cs_ = Cs
        self.l1_ratios_ = np.asarray([None] if no_ratio_axis else ratios)
        if self.refit:
            total = scores.sum(axis=0)  # (n_l1, n_cs): first best in scikit-learn's order
            ic, ir = np.unravel_index(np.argmax(total.T), (n_cs, n_r))
            C_, r_ = float(Cs[ic]), ratios[ir]
            final = refit(C_, r_)
            for a in ("coef_", "intercept_", "alpha_", "dual_gap_", "converged_",
                      "kkt_violation_"):
                setattr(self, a, getattr(final, a))
        else:  # each fold's best model, averaged (with its C and l1_ratio)
            best = [np.unravel_index(np.argmax(s.T), (n_cs, n_r)) for s in scores]
            w = np.mean([coefs[f, ir, ic] for f, (ic, ir) in enumerate(best)], axis=0)
            C_ = float(np.mean([Cs[ic] for ic, _ in best]))
            r_ = float(np.mean([ratios[ir] for _, ir in best])) if penalty == "elasticnet" \
                else (1.0 if penalty == "l1" else 0.0)
            p = n_features
            self.coef_ = np.ascontiguousarray(w[:, :p])
            self.intercept_ = w[:, p].copy() if self.fit_intercept else np.zeros(w.shape[0])
        self._set_cv_attributes(coefs, iters, scores, C_, r_, no_ratio_axis, legacy)
        return self

    def _set_cv_attributes(self, coefs, iters, scores, C_, r_, no_ratio_axis, legacy):
        """scikit-learn's layouts: legacy (dicts per class, the l1_ratio axis after Cs and
        dropped without ``l1_ratios``) or new (arrays, folds x l1_ratios x Cs)."""
        labels = self.classes_[1:] if self.classes_.size == 2 else self.classes_
        n_rows = coefs.shape[3]
        if not legacy:
            self.C_, self.l1_ratio_ = C_, r_
            self.coefs_paths_ = coefs
            self.scores_, self.n_iter_ = scores, iters
            return
        self.C_ = np.full(n_rows, C_)
        # without l1_ratios, scikit-learn's legacy l1_ratio_ is its grid's [None] (refit)
        # or 0.0 (the folds' average, any penalty but elasticnet)
        self.l1_ratio_ = np.full(n_rows, (None if self.refit else 0.0) if no_ratio_axis
                                 else r_)
        paths = np.moveaxis(coefs, (1, 2), (2, 1))  # (n_folds, n_cs, n_l1, n_rows, n_dof)
        sc = np.swapaxes(scores, 1, 2)  # (n_folds, n_cs, n_l1)
        it = np.swapaxes(iters, 1, 2)[None]
        if no_ratio_axis:
            paths, sc, it = paths[:, :, 0], sc[:, :, 0], it[..., 0]
        self.coefs_paths_ = {c: paths[..., k, :] for k, c in enumerate(labels)}
        self.scores_ = {c: sc.copy() for c in labels}
        self.n_iter_ = it
