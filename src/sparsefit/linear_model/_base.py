"""What every sparse linear estimator shares: validation, the call to the solver, results."""

from __future__ import annotations

import functools
import sys
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ..datafits import Quadratic
from ..datafits._validation import as_column_store
from ..solvers import solve
from ..solvers.moments import Moments

FLOATS = [np.float64, np.float32]


def check_sample_weight(sample_weight, X):
    """Validated sample weights (float64 copy) or None: finite, >= 0, not all zero."""
    if sample_weight is None:
        return None
    sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True,
                              copy=True)
    if not np.all(np.isfinite(sw)):
        raise ValueError("sample_weight contains NaN or infinity")
    if not np.any(sw > 0):
        raise ValueError("sample_weight must have at least one positive entry; all are zero")
    return sw


def check_scale(X, y=None):
    """Refuse ``X`` with NaN or infinity, and data whose sums of squares overflow float64
    (the solvers' inner products): a Lasso on ``1e200 * X`` would otherwise return NaN, or
    zeros, without complaint.

    One read of ``X`` in the common case: ``s = sum(X**2)`` (a BLAS dot) is NaN or infinite
    when an entry is, and ``sqrt(s)`` bounds ``max |X|``; the exact checks run only when
    that bound is not conclusive.
    """
    import scipy.sparse as sp

    a = X.data if sp.issparse(X) else X.ravel(order="K")
    ys = max_abs(y) if y is not None and y.dtype.kind == "f" else 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        ss = float(np.dot(a, a)) if a.size else 0.0
    if not np.isfinite(ss):
        if not np.all(np.isfinite(a)):
            raise ValueError("Input X contains NaN or infinity.")
        xs = max_abs(a)
    else:
        xs = float(np.sqrt(ss))
        if _scale_score(xs, ys, X.shape[0]) > 145:
            xs = max_abs(a)  # the bound is not conclusive: the exact maximum decides
    if _scale_score(xs, ys, X.shape[0]) > 145:
        big, name = (xs, "X") if xs >= ys else (ys, "y")
        raise ValueError(
            f"{name} has entries of magnitude {big:.1e}: sums of squares overflow float64 "
            "(refused before solving, where scikit-learn reports 'Coordinate descent "
            "iterations resulted in non-finite parameter values'). Rescale X and y (e.g. "
            "sklearn.preprocessing.StandardScaler, or divide y by its standard deviation) "
            "before fitting.")


def max_abs(a):
    """``max |a|`` without the temporary copy ``np.abs`` would make (X can be large)."""
    return float(max(a.max(), -a.min())) if a.size else 0.0


def _scale_score(xs, ys, n):
    # the solvers square gradients (X^T y)^2 and sum n products: keep |X| |y| sqrt(n)
    # below 1e145 (each magnitude counted as at least 1), well inside the float64 range
    return np.log10(max(xs, 1.0)) + np.log10(max(ys, 1.0)) + 0.5 * np.log10(max(n, 1))


def check_fit_data(est, X, y, sample_weight, *, y_numeric=True, multi_output=False,
                   check_input=True):
    """``validate_data`` with the project's rules: dense (Fortran) or CSC, float32/float64,
    finite and of a scale the solvers can square (see :func:`check_scale`, which does the
    finiteness check of ``X`` in the same read).

    ``check_input=False`` (scikit-learn's, for callers that validated already) skips the
    conversions: ``X`` must then be a Fortran-ordered float array or a CSC matrix, and is
    refused otherwise rather than copied (with sample weights, a C-ordered float array is
    copied, as scikit-learn copies it to rescale it); ``y`` is cast to ``X``'s dtype."""
    if not check_input:
        X, y = _unchecked_input(est, X, y, weighted=sample_weight is not None)
    else:
        X, y = validate_data(est, X, y, accept_sparse="csc", dtype=FLOATS, order="F",
                             y_numeric=y_numeric, copy=False, ensure_all_finite=False,
                             multi_output=multi_output)
        if multi_output and y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]  # scikit-learn's shapes: one target is the 1-D case
    check_scale(X, y if y_numeric else None)
    return X, y, check_sample_weight(sample_weight, X)


def _unchecked_input(est, X, y, weighted=False):
    import scipy.sparse as sp

    if weighted and isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in FLOATS:
        # scikit-learn works on a copy of X rescaled by the weights here, so it takes any
        # memory order; a C-ordered X is copied to Fortran order likewise
        X = np.asfortranarray(X)
    ok = (sp.issparse(X) and X.format == "csc") or (
        isinstance(X, np.ndarray) and X.ndim == 2 and X.flags.f_contiguous)
    if not ok or X.dtype not in FLOATS:
        raise ValueError("check_input=False: X must be a Fortran-ordered float64/float32 "
                         f"array or a CSC matrix, got {type(X).__name__} of dtype "
                         f"{getattr(X, 'dtype', None)}; pass check_input=True (the default)")
    y = np.asarray(y, dtype=X.dtype)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} rows, X has {X.shape[0]}")
    est.n_features_in_ = X.shape[1]
    return X, (y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y)


def center_in_place(est, X, sw):
    """scikit-learn's ``copy_X=False`` with an intercept: a dense float ``X`` (the caller's
    array when it passed validation without a conversion) is centered in place, by its
    weighted column means, which are returned (None when nothing was done: ``copy_X=True``,
    no intercept, sparse or read-only ``X``). The fit then sees columns of mean zero, so
    centering the working sets' Gram blocks loses no digits whatever the columns' means."""
    if (getattr(est, "copy_X", True) or not getattr(est, "fit_intercept", False)
            or not isinstance(X, np.ndarray) or not X.flags.writeable):
        return None
    # sw @ X: no temporary of X's size (np.average would form X * sw)
    xm = (X.mean(axis=0, dtype=np.float64) if sw is None
          else (sw @ X).astype(np.float64) / float(np.sum(sw)))
    X -= xm.astype(X.dtype)
    return xm


def shifted_intercept(b0, w0, xm):
    """A warm start's intercept ``b0`` for columns centered by ``xm`` (None stays None)."""
    if b0 is None or w0 is None or xm is None:
        return b0
    return b0 + float(xm @ w0)


def validated_store(X):
    """The :class:`~sparsefit.datafits._validation.ColumnStore` of an ``X`` that
    :func:`check_fit_data` returned (no second finiteness check); :func:`solve` accepts it
    in place of ``X``. The :class:`~sparsefit.solvers.moments.Moments` of a dask input
    pass through (:func:`solve` solves from them in covariance form)."""
    if isinstance(X, Moments):
        return X
    return as_column_store(X, check_finite=False)


def check_predict_data(est, X):
    check_is_fitted(est)
    return validate_data(est, X, accept_sparse=["csr", "csc"], dtype=FLOATS, reset=False)


def warm_start_point(est, shape):
    """``(coef, intercept)`` to start from when ``est.warm_start`` holds a ``coef_`` of
    ``shape`` (set by a previous fit or by the user), else ``(None, None)``. A ``coef_``
    set by hand with no ``intercept_`` starts the intercept at its optimum; a ``coef_``
    that is not a finite array of that shape is refused."""
    if not getattr(est, "warm_start", False) or not hasattr(est, "coef_"):
        return None, None
    try:
        coef = np.asarray(est.coef_, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"warm_start: coef_ must be a numeric array, got "
                         f"{type(est.coef_).__name__}") from None
    def core(dims):  # (1, p) and (p,) are the same coefficients
        return tuple(d for d in dims if d != 1)

    if core(coef.shape) != core(shape):
        return None, None  # a fit on data of another shape starts afresh
    coef = coef.reshape(shape)
    if not np.all(np.isfinite(coef)):
        raise ValueError("warm_start: coef_ contains NaN or infinity")
    intercept = getattr(est, "intercept_", None)
    if intercept is not None:
        intercept = np.asarray(intercept, dtype=np.float64)
        if not np.all(np.isfinite(intercept)):
            raise ValueError("warm_start: intercept_ contains NaN or infinity")
        intercept = float(intercept.ravel()[0]) if intercept.size == 1 else intercept.ravel()
    return coef.copy(), intercept


def checked_cast(values, dtype):
    """``values`` (the solver's float64 result) as ``dtype``: refuses non-finite values,
    and values beyond ``dtype``'s range (float32 X with coefficients above 3.4e38) rather
    than store infinities."""
    a = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("Coordinate descent iterations resulted in non-finite parameter "
                         "values: the problem is too ill-conditioned or badly scaled for "
                         "float64. Rescale X and y (e.g. StandardScaler) and fit again.")
    big = float(np.max(np.abs(a))) if a.size else 0.0
    if big > float(np.finfo(dtype).max):
        raise ValueError(f"The fitted coefficients reach {big:.1e}, beyond the range of "
                         f"{np.dtype(dtype).name}, the dtype of X: fit with float64 X "
                         "(X.astype(np.float64)) or rescale X and y.")
    return a.astype(dtype)


def warn_if_unpenalized(est):
    """scikit-learn's warning for ``alpha=0`` (its own tests expect the words)."""
    if getattr(est, "alpha", None) == 0:
        warnings.warn("With alpha=0, this algorithm does not converge well. You are "
                      "advised to use the LinearRegression estimator: with no penalty the "
                      "fit stops on the relative optimality violation, and dual_gap_ is "
                      "the exact suboptimality from a least-squares solve.", UserWarning,
                      stacklevel=3)


# Every linear estimator takes these: glmnet's penalty.factor and lower/upper.limits.
PENALTY_OPTIONS = {"bounds": ["array-like", None], "penalty_factor": ["array-like", None]}
PENALTY_OPTIONS_DOC = """
    bounds : tuple (lower, upper), optional
        Box constraints on the coefficients, each a number or one per feature (``-inf`` /
        ``inf`` for none), with ``lower <= 0 <= upper`` (glmnet's ``lower.limits`` and
        ``upper.limits``). ``positive=True`` is ``bounds=(0, inf)``. Group penalties and
        non-convex penalties take sign constraints only.
    penalty_factor : array-like, optional
        Non-negative multiplier of the penalty, one per feature (one per group for a group
        penalty); 0 leaves a feature unpenalized (glmnet's ``penalty.factor``)."""


def _check_bounds(bounds, n_features):
    if bounds is None:
        return None
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise ValueError(f"bounds must be a pair (lower, upper), got {bounds!r}")
    out = []
    for name, b in zip(("lower", "upper"), bounds):
        try:
            arr = np.asarray(b, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise ValueError(f"bounds: {name} must be a number or an array of numbers, got "
                             f"{b!r}") from None
        if arr.size not in (1, n_features) or np.any(np.isnan(arr)):
            raise ValueError(f"bounds: {name} must be a number or {n_features} numbers (one "
                             f"per feature) without NaN, got {arr.size} values")
        out.append(arr)
    lower, upper = out
    if np.any(lower > 0) or np.any(upper < 0):
        raise ValueError("bounds must hold 0 (lower <= 0 <= upper), as glmnet's limits do")
    return lower, upper


def finish_penalty(est, penalty, n_features, n_classes=None):
    """``penalty`` with the estimator's ``penalty_factor`` (:class:`~sparsefit.penalties.
    Scaled`) and ``bounds`` / ``positive`` (:class:`~sparsefit.penalties.Box`). For the
    multinomial coefficients (feature ``j``, class ``k`` is coordinate ``j * K + k``) the
    per-feature values apply to every class."""
    from ..penalties import Box, Scaled

    K = n_classes or 1
    factor = getattr(est, "penalty_factor", None)
    if factor is not None:
        f = np.asarray(factor, dtype=np.float64).ravel()
        units = penalty.numba_spec().grp_ptr.size - 1 if not penalty.is_separable else None
        if penalty.is_separable:
            if f.size != n_features:
                raise ValueError(f"penalty_factor has {f.size} entries, expected {n_features}"
                                 " (one per feature)")
            f = np.repeat(f, K)
        elif f.size != units:
            raise ValueError(f"penalty_factor has {f.size} entries, expected {units} (one per "
                             "group)")
        if not np.all(np.isfinite(f)) or np.any(f < 0):
            raise ValueError("penalty_factor must be finite and >= 0")
        penalty = Scaled(penalty, f)
    bounds = _check_bounds(getattr(est, "bounds", None), n_features)
    if getattr(est, "positive", False):
        if bounds is not None:
            raise ValueError("give positive=True or bounds, not both (positive is "
                             "bounds=(0, inf))")
        bounds = (np.zeros(1), np.full(1, np.inf))
    if bounds is not None:
        lower, upper = (np.repeat(b, K) if b.size > 1 else b for b in bounds)
        penalty = Box(penalty, lower, upper)
    return penalty


class PenaltyMaker:
    """``make_penalty(alpha)`` for paths and CV: ``base(alpha)`` with the estimator's
    ``penalty_factor`` and ``bounds`` / ``positive`` (see :func:`finish_penalty`).
    Picklable, so folds can run in other processes."""

    def __init__(self, base, est, n_features, n_classes=None):
        self.base = base
        self.bounds = getattr(est, "bounds", None)
        self.positive = getattr(est, "positive", False)
        self.penalty_factor = getattr(est, "penalty_factor", None)
        self.n_features, self.n_classes = n_features, n_classes

    def __call__(self, alpha):
        return finish_penalty(self, self.base(alpha), self.n_features, self.n_classes)


def is_one_column(y):
    """Whether ``y`` is 2-D with one column (read from ``y.shape``, no numpy call: ``y``
    may refuse them, as scikit-learn's ``_NotAnArray`` does)."""
    shape = tuple(getattr(y, "shape", ()))
    return len(shape) == 2 and shape[1] == 1


def keep_target_column(est):
    """A one-column 2-D ``y`` is fitted as 1-D; its ``intercept_`` has shape (1,), as
    scikit-learn's (its ``y_offset`` keeps the column; 0.0 without an intercept)."""
    if est.fit_intercept:
        est.intercept_ = np.atleast_1d(est.intercept_)


def is_dask(*objs):
    """Whether any of ``objs`` is a dask collection. Never imports dask: a program that has
    not imported it holds no dask collection."""
    if "dask" not in sys.modules:
        return False
    from dask import is_dask_collection

    return any(is_dask_collection(o) for o in objs)


_PREDICT_METHODS = ("predict", "decision_function", "predict_proba", "predict_log_proba")


def _route_fit(fit):
    @functools.wraps(fit)
    def routed(self, X, y=None, *args, **kwargs):
        if is_dask(X, y, *args, *kwargs.values()):
            from ..distributed import fit_dask

            return fit_dask(self, X, y, *args, **kwargs)
        return fit(self, X, y, *args, **kwargs)
    return routed


def _route_method(name, method):
    @functools.wraps(method)
    def routed(self, X, *args, **kwargs):
        if is_dask(X):
            from ..distributed import predict_dask

            return predict_dask(self, name, X, *args, **kwargs)
        return method(self, X, *args, **kwargs)
    return routed


class DaskDispatch:
    """Sends ``fit`` and the prediction methods to :mod:`sparsefit.distributed` when they
    are given dask input: the methods a subclass defines are wrapped when the class is
    created, so every estimator, including one added later, is routed (the distributed
    module fits the estimators it knows and refuses the others with a one-line error;
    it is imported only then)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("fit",) + _PREDICT_METHODS:
            fn = cls.__dict__.get(name)
            if callable(fn) and not getattr(fn, "dask_routed", False):
                routed = _route_fit(fn) if name == "fit" else _route_method(name, fn)
                routed.dask_routed = True
                setattr(cls, name, routed)


class SparseInputMixin(DaskDispatch):
    """Declares that the estimator accepts scipy sparse ``X`` (and dask input, see
    :class:`DaskDispatch`)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


# scikit-learn's solver parameters, taken by the estimators that are its drop-ins
SOLVER_OPTIONS = {
    "precompute": ["boolean", StrOptions({"auto"}), "array-like"],
    "copy_X": ["boolean"],
    "random_state": ["random_state"],
    "selection": [StrOptions({"cyclic", "random"})],
}
SOLVER_OPTIONS_DOC = """
    precompute : bool, "auto" or array-like of shape (n_features, n_features)
        Solve the working sets in covariance form (Lasso and elastic net; dense ``X``, or a
        sparse ``X`` whose working-set columns made dense fit in ``2**22`` entries, so that
        sparse and dense ``X`` follow the same arithmetic):
        from Gram entries computed as columns enter (True, and "auto": the path solvers
        always do), or from this Gram matrix ``X.T @ X`` (of ``X`` centered when
        ``fit_intercept=True``, rows scaled by the square roots of the sample weights
        rescaled to sum to ``n_samples``: scikit-learn's convention). One entry and the
        diagonal are checked against ``X``; the duality gap is always measured on ``X``.
    copy_X : bool, default=True
        True: ``X`` is never written. False, with ``fit_intercept=True`` and a dense ``X``:
        as in scikit-learn, ``X`` may be overwritten: it is centered in place (by its
        weighted column means) and left centered after the fit; the model returned is that
        of the ``X`` passed (``intercept_`` includes the means). Unlike scikit-learn,
        sparsefit needs no copy of ``X`` with either value: a Fortran-ordered float64 or
        float32 array, or a CSC matrix, is read where it is (the intercept enters through
        centered coordinate updates, the sample weights inside the kernels), so
        ``copy_X=False`` saves no memory here; what it changes is that centered columns
        keep all their digits in the covariance form. The only copies are conversions,
        which ``copy_X=False`` cannot avoid: ``check_input=True`` turns a C-ordered,
        integer or CSR ``X`` into a Fortran float or CSC copy (that copy is then what is
        centered), and ``check_input=False`` copies a C-ordered array when there are sample
        weights; ``precompute`` (the covariance form) keeps the columns that enter a
        working set, scaled by the square roots of the sample weights.
    random_state : int, RandomState instance or None
        Seeds ``selection="random"``.
    selection : {"cyclic", "random"}, default="cyclic"
        The order in which coordinate descent visits the working set: increasing feature
        index, or a new random permutation at every outer iteration (scikit-learn draws a
        coordinate at every step; both converge to the same solution). On dask input the
        covariance solver visits the coordinates in index order: ``selection`` and
        ``random_state`` do not apply there (the solution is the same)."""


def solver_options(est, X=None, sw=None):
    """The solver keywords of ``est``'s scikit-learn options (see :data:`SOLVER_OPTIONS`):
    ``selection``, ``random_state``, and ``precompute`` checked against ``X``."""
    opts = {"selection": getattr(est, "selection", "cyclic"),
            "random_state": getattr(est, "random_state", None)}
    if X is not None and hasattr(est, "precompute"):
        opts["precompute"] = checked_precompute(est.precompute, X, sw,
                                                getattr(est, "fit_intercept", False))
    return opts


def checked_precompute(precompute, X, sw, fit_intercept):
    """``precompute`` for the solver: a Gram matrix is checked on one off-diagonal entry
    (as scikit-learn does) and on its diagonal; with an intercept it must be that of the
    centered ``X`` (else, as in scikit-learn, a warning and the Gram entries are
    recomputed). Sparse ``X``: ignored (the Gram route is for dense ``X``)."""
    import scipy.sparse as sp

    if isinstance(precompute, str):
        return precompute
    if isinstance(precompute, (bool, np.bool_)):
        return bool(precompute)
    if sp.issparse(X):
        return False  # a Gram array beside sparse X: ignored, as documented
    n, p = X.shape
    G = np.asarray(precompute)
    if G.shape != (p, p):
        raise ValueError(f"precompute: a Gram matrix must have shape ({p}, {p}) (X.T @ X), "
                         f"got {G.shape}")
    swn = np.ones(n) if sw is None else sw * (n / sw.sum())
    offset = np.average(X, axis=0, weights=swn) if fit_intercept else np.zeros(p)
    if fit_intercept and not np.allclose(offset, 0.0):
        warnings.warn("Gram matrix was provided but X was centered to fit intercept: "
                      "recomputing Gram matrix.", UserWarning, stacklevel=4)
        return "auto"
    f1 = p // 2
    f2 = min(f1 + 1, p - 1)
    root = np.sqrt(swn)
    Xc = (X[:, [f1, f2]] - offset[[f1, f2]]) * root[:, None]
    diag = np.einsum("ij,ij->j", X - offset, (X - offset) * swn[:, None])
    rtol = max(1e-4 if d == np.float32 else 1e-7 for d in (G.dtype, X.dtype))
    checks = [((f1, f2), float(Xc[:, 0] @ Xc[:, 1]), G[f1, f2])] + [
        ((j, j), float(diag[j]), G[j, j]) for j in range(p)]
    for (i, j), expected, actual in checks:
        if not np.isclose(expected, actual, rtol=rtol, atol=1e-5):
            raise ValueError(
                f"precompute: the Gram matrix did not pass validation: entry ({i}, {j}) "
                f"is {actual}, X gives {expected}. Pass X.T @ X of the X you fit "
                "(centered when fit_intercept=True), or precompute='auto'.")
    return G


#: The start of scikit-learn's coordinate-descent ConvergenceWarning, which users filter on.
SKLEARN_NOT_CONVERGED = ("Objective did not converge. You might want to increase the number "
                         "of iterations.")


@contextmanager
def sklearn_convergence_message():
    """Re-emit the solver's ConvergenceWarnings raised inside the block prefixed with
    scikit-learn's text (:data:`SKLEARN_NOT_CONVERGED`), so code that filters or matches
    scikit-learn's message keeps working; the solver's own detail (achieved criterion,
    ``tol``) follows it. Other warnings are re-emitted unchanged."""
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:  # re-emitted even when the block raises
        _reemit(caught)


def _reemit(caught):
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            warnings.warn(f"{SKLEARN_NOT_CONVERGED} {w.message}", ConvergenceWarning,
                          stacklevel=6)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                   source=w.source)


class LinearPredictionMixin(DaskDispatch):
    """``predict`` (routed to dask for dask input, see :class:`DaskDispatch`) and
    ``sparse_coef_`` of the linear regressors, one target or several."""

    def predict(self, X):
        """Predict ``X @ coef_.T + intercept_`` (one column per target for a 2-D ``y``)."""
        X = check_predict_data(self, X)
        return safe_sparse_dot(X, self.coef_.T.astype(X.dtype, copy=False)) + self.intercept_

    @property
    def sparse_coef_(self):
        """``coef_`` as a scipy sparse matrix: one row per target (only the non-zeros are
        stored)."""
        import scipy.sparse as sp

        check_is_fitted(self, "coef_")
        coef = np.asarray(self.coef_)
        return sp.csr_matrix(coef.reshape(1, -1) if coef.ndim < 2 else coef)


class SparseLinearRegressor(LinearPredictionMixin, SparseInputMixin, RegressorMixin,
                            BaseEstimator):
    """Base of the regressors: ``1/(2 n) ||y - X w - b||^2 + pen(w)`` through :func:`solve`.

    Subclasses define ``_penalty(n_features)`` and their own parameters. A 2-D ``y`` (several
    targets) is fitted one column at a time, as scikit-learn's ``Lasso`` does.
    """

    _parameter_constraints: dict = {
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        **PENALTY_OPTIONS,
    }

    def _init_common(self, alpha, *, fit_intercept, tol, max_iter, warm_start, positive,
                     bounds, penalty_factor):
        """Set the parameters every lasso-like regressor takes (:class:`Lasso` adds
        scikit-learn's solver options)."""
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.positive = positive
        self.bounds = bounds
        self.penalty_factor = penalty_factor

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the classes that keep this fit take several targets
        tags.target_tags.multi_output = self._takes_targets()
        return tags

    _several_targets = True

    def _takes_targets(self):
        return self._several_targets and type(self).fit is SparseLinearRegressor.fit

    def fit(self, X, y, sample_weight=None, check_input=True):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Dense or sparse (CSC is used as is; CSR is converted); float32 or float64.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Several targets are fitted one by one (``coef_`` is then 2-D).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; integer weights are equivalent to repeating rows.
        check_input : bool, default=True
            False skips the conversions (see :func:`check_fit_data`). Ignored for dask
            input, which is always checked chunk by chunk during the pass.

        Returns
        -------
        self
        """
        self._validate_params()
        one_column = self._takes_targets() and is_one_column(y)
        X, y, sw = check_fit_data(self, X, y, sample_weight,
                                  multi_output=self._takes_targets(), check_input=check_input)
        warn_if_unpenalized(self)
        xm = center_in_place(self, X, sw)
        if y.ndim == 1:
            w0, b0 = self._warm_init(X)
            self._fit_validated(X, y, sw, w0, shifted_intercept(b0, w0, xm))
        else:
            self._fit_targets(X, y, sw, xm)
        if xm is not None:
            # X was centered in place: the intercept of the caller's X is b - xm.w
            self.intercept_ = (self.intercept_ - self.coef_ @ xm).astype(X.dtype)
        if one_column:
            keep_target_column(self)
        return self

    def _fit_targets(self, X, y, sw, xm=None):
        """One fit per column of ``y``, each warm-started from its row of ``coef_``. ``X``
        may be the :class:`~sparsefit.solvers.moments.Moments` of several targets (``y``
        and ``sw`` None): each fit then reads the moments of its target. ``xm``: the column
        means ``X`` was centered by in place (see :func:`center_in_place`)."""
        n_targets = X.n_targets if y is None else y.shape[1]
        w0, b0 = warm_start_point(self, (n_targets, X.shape[1]))
        fields = ("coef_", "intercept_", "n_iter_", "n_outer_iter_", "dual_gap_",
                  "converged_", "kkt_violation_")
        out = {f: [] for f in fields}
        for k in range(n_targets):
            Xk, yk = (X.target(k), None) if y is None else (X, np.ascontiguousarray(y[:, k]))
            wk = None if w0 is None else w0[k]
            self._fit_validated(Xk, yk, sw, wk,
                                shifted_intercept(None if b0 is None else np.ravel(b0)[k],
                                                  wk, xm))
            for f in fields:
                out[f].append(getattr(self, f))
        self.coef_ = np.asarray(out["coef_"])
        self.intercept_ = np.asarray(out["intercept_"], dtype=X.dtype)
        self.n_iter_ = out["n_iter_"]
        self.n_outer_iter_ = out["n_outer_iter_"]
        self.dual_gap_ = np.asarray(out["dual_gap_"])
        self.converged_ = np.asarray(out["converged_"])
        self.kkt_violation_ = np.asarray(out["kkt_violation_"])
        return self

    def _warm_init(self, X):
        """The previous solution when ``warm_start`` and the shapes agree, else Nones."""
        return warm_start_point(self, (X.shape[1],))

    def _fit_validated(self, X, y, sw, w0=None, b0=None):
        penalty = finish_penalty(self, self._penalty(X.shape[1]), X.shape[1])
        with sklearn_convergence_message():
            res = solve(validated_store(X), y, Quadratic(), penalty,
                        fit_intercept=self.fit_intercept, sample_weight=sw, w_init=w0,
                        intercept_init=b0, tol=self.tol, max_iter=self.max_iter,
                        **solver_options(self, X, sw))
        self._set_solution(res, X.dtype)
        return self

    def _set_solution(self, res, dtype):
        self.coef_ = checked_cast(res.coef, dtype)
        self.intercept_ = dtype.type(checked_cast(res.intercept, dtype)) \
            if self.fit_intercept else dtype.type(0.0)
        # scikit-learn's n_iter_: coordinate-descent epochs (see the estimators' docs)
        self.n_iter_ = int(res.n_epochs)
        self.n_outer_iter_ = int(res.n_iter)
        self.dual_gap_ = dtype.type(res.absolute_gap)  # (a numpy scalar of X's dtype, as
        self.converged_ = bool(res.converged)          # scikit-learn's)
        self.kkt_violation_ = float(res.kkt_max)

