"""Dask input one step off the happy path (found by a hostile review): pandas' nullable
columns, targets that are not numbers, one-column targets of a multi-task estimator, a
one-column numpy ``y`` and a scalar weight beside a dask ``X``, float32 predictions'
declared dtype, and a one-line refusal of a list of splits; then (a second review) sparse
chunks with a column far from zero, column names that are not strings, empty chunks, and a
classifier's bad labels and weights. Each is compared with the same fit in memory, or
refused in one line naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")

import dask.array as da  # noqa: E402
from sklearn.base import clone  # noqa: E402

from sparsefit.distributed import DaskInputError  # noqa: E402
from sparsefit.linear_model import (  # noqa: E402
    Lasso,
    LassoCV,
    MultiTaskLasso,
    MultiTaskLassoCV,
    SparseLogisticRegression,
)
from tests.test_distributed import _close, _dask, _data  # noqa: E402


def _tight(est):
    return est.set_params(tol=1e-10)


def _frame(X, y=None):
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    return df if y is None else (df, pd.Series(y, name="y"))


@pytest.mark.parametrize("dtype", ["Int64", "Float64", "boolean"])
def test_nullable_pandas_columns_fit_as_in_memory(client, dtype):
    X, y, _ = _data()
    df, ys = _frame(X, y)
    df["f0"] = (df["f0"] > 0) if dtype == "boolean" else df["f0"].round()
    df["f0"] = df["f0"].astype(dtype)
    ys = ys.astype("Float64")  # a nullable target too (it was refused as dtype object)
    ref = _tight(Lasso(alpha=0.05)).fit(df, ys)
    got = _tight(Lasso(alpha=0.05)).fit(dd.from_pandas(df, npartitions=4),
                                        dd.from_pandas(ys, npartitions=4))
    assert _close(ref.coef_, got.coef_) and _close(ref.intercept_, got.intercept_)


@pytest.mark.parametrize("make", [lambda s: s.astype("category"),
                                  lambda s: s.astype(str).astype("string")])
def test_columns_that_are_not_numbers_are_refused_by_name(client, make):
    X, y, _ = _data()
    df, ys = _frame(X, y)
    df["f2"] = make(df["f2"])
    with pytest.raises(ValueError, match="column 'f2' has dtype") as err:
        Lasso(alpha=0.05).fit(dd.from_pandas(df, npartitions=4),
                              dd.from_pandas(ys, npartitions=4))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [
    lambda y: y.astype("datetime64[D]"), lambda y: y.astype("timedelta64[D]"),
    lambda y: y.astype(str), lambda y: y + 1j])
def test_a_regressor_refuses_a_target_that_is_not_numbers(client, bad):
    X, y, _ = _data()
    (Xd,) = _dask(X)
    yb = bad(np.round(y).astype(np.int64) if not np.iscomplexobj(bad(y[:1])) else y)
    for yy in (yb, da.from_array(yb, chunks=100)):
        with pytest.raises(ValueError, match="y must be numeric"):
            Lasso(alpha=0.05).fit(Xd, yy)


def test_a_classifier_still_takes_string_labels(client):
    X, y, _ = _data(classifier=True)
    labels = np.where(y == 1, "yes", "no")
    (Xd,) = _dask(X)
    ref = _tight(SparseLogisticRegression(alpha=0.01)).fit(X, labels)
    got = _tight(SparseLogisticRegression(alpha=0.01)).fit(Xd, da.from_array(labels, 100))
    assert _close(ref.coef_, got.coef_, 1e-5) and list(got.classes_) == ["no", "yes"]


@pytest.mark.parametrize("make", [lambda: MultiTaskLasso(alpha=0.1),
                                  lambda: MultiTaskLassoCV(cv=3, alphas=5)])
@pytest.mark.parametrize("on_dask", [True, False])
def test_a_multitask_target_of_one_column_stays_one_task(client, make, on_dask):
    from sparsefit.linear_model import HashKFold

    X, y, _ = _data()
    Y = y[:, None]
    est = _tight(make())
    if "cv" in est.get_params():
        est.set_params(cv=HashKFold(3))
    ref = est.__class__(**est.get_params()).fit(X, Y)
    (Xd,) = _dask(X)
    got = est.__class__(**est.get_params()).fit(Xd, _dask(Y)[0] if on_dask else Y)
    assert got.coef_.shape == ref.coef_.shape == (1, X.shape[1])
    assert _close(ref.coef_, got.coef_)


def test_a_one_column_numpy_target_and_a_scalar_weight_beside_dask_x(client):
    X, y, _ = _data()
    (Xd,) = _dask(X)
    ref = _tight(Lasso(alpha=0.05)).fit(X, y[:, None], sample_weight=2.0)
    got = _tight(Lasso(alpha=0.05)).fit(Xd, y[:, None], sample_weight=2.0)
    assert got.coef_.shape == ref.coef_.shape == (X.shape[1],)
    assert _close(ref.coef_, got.coef_)
    # and with unknown chunk sizes (a DataFrame's values)
    df, ys = _frame(X, y)
    got = _tight(Lasso(alpha=0.05)).fit(dd.from_pandas(df, npartitions=3).values,
                                        dd.from_pandas(ys, npartitions=3).values,
                                        sample_weight=2.0)
    assert _close(ref.coef_, got.coef_)


@pytest.mark.parametrize("method", ["predict", "decision_function", "predict_proba"])
def test_float32_predictions_have_the_dtype_they_declare(client, method):
    X, y, _ = _data(classifier=method != "predict")
    Xd, yd = _dask(X.astype(np.float32), y)
    est = (Lasso(alpha=0.05) if method == "predict" else SparseLogisticRegression(alpha=0.01))
    out = getattr(est.fit(Xd, yd), method)(Xd)
    computed = out.compute()
    assert out.dtype == computed.dtype
    # float32 sums in another order (chunks): a few float32 ulps of the terms, which is
    # relative only away from zero (a decision value of 0.047 from terms of about 4 was
    # 9.5e-7 apart)
    np.testing.assert_allclose(computed, getattr(est, method)(X.astype(np.float32)),
                               rtol=1e-5, atol=1e-5 * float(np.abs(computed).max()))


def test_a_list_of_splits_is_refused_in_one_line(client):
    from sklearn.model_selection import KFold

    X, y, _ = _data()
    Xd, yd = _dask(X, y)
    with pytest.raises(DaskInputError) as err:
        LassoCV(cv=list(KFold(3).split(X))).fit(Xd, yd)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 400 and "<list of 3 splits>" in msg


def test_row_counts_of_unknown_chunks_are_counted_once():
    """A DataFrame's partition lengths (chunk sizes unknown) are counted once per fit:
    the CV folds and the moments pass share the count (the count reads every chunk)."""
    from dask.callbacks import Callback

    X, y, _ = _data()
    df, ys = _frame(X, y)
    Xd, yd = dd.from_pandas(df, npartitions=3), dd.from_pandas(ys, npartitions=3)
    computes = []

    class Count(Callback):
        def _start(self, dsk):
            computes.append(len(dsk))

    import dask

    # the local scheduler (not a client another test left): every compute is seen
    with dask.config.set(scheduler="sync"), Count():
        got = _tight(LassoCV(cv=3, alphas=10)).fit(Xd, yd)
    ref = _tight(LassoCV(cv=3, alphas=10)).fit(X, y)
    assert _close(ref.coef_, got.coef_)
    assert len(computes) == 2, computes  # the count, then the one pass of the moments


# -- a second hostile review: sparse offsets, column names, empty chunks, bad labels ------

def test_sparse_chunks_keep_the_digits_of_a_column_far_from_zero(client):
    """The moments of a sparse chunk are raw products with the means taken out; a column
    whose mean dominates its spread is centered densely instead (a mean of 1e7 and unit
    spread left 1.8e-2 of relative error in coef_ before, silently)."""
    import scipy.sparse as sp

    from sparsefit.solvers.moments import Moments

    rng = np.random.default_rng(0)
    base = rng.standard_normal((200, 5))
    y = base @ [1.0, -2, 0.5, 0, 0] + 0.3 * rng.standard_normal(200)
    X = base.copy()
    X[:, :3] += 1e7  # three columns far from zero, two near it
    dense, sparse = Moments.from_arrays(X, y), Moments.from_arrays(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.xx, dense.xx, rtol=1e-8, atol=1e-8 * dense.xx.max())
    np.testing.assert_allclose(sparse.xy, dense.xy, rtol=1e-8, atol=1e-8)
    ref = _tight(Lasso(alpha=0.01)).fit(X - X.mean(axis=0), y)
    Xd = da.from_array(X, chunks=(50, 5)).map_blocks(sp.csr_matrix, dtype=np.float64)
    got = _tight(Lasso(alpha=0.01)).fit(Xd, da.from_array(y, chunks=50))
    assert _close(ref.coef_, got.coef_, rtol=1e-6)


def test_column_names_follow_scikit_learn(client):
    """Names kept only when every one is a string, mixed types refused as in memory,
    repeated names refused; a prediction warns once, not once per chunk."""
    import warnings

    X, y, _ = _data()
    yd = dd.from_pandas(pd.Series(y, name="y"), npartitions=3)
    ints = dd.from_pandas(pd.DataFrame(X), npartitions=3)
    est = Lasso(alpha=0.05).fit(ints, yd)
    assert not hasattr(est, "feature_names_in_")
    mixed = pd.DataFrame(X).rename(columns={1: "b"})
    with pytest.raises(TypeError, match="only supported if all input features have string"):
        Lasso(alpha=0.05).fit(dd.from_pandas(mixed, npartitions=3), yd)
    twice = pd.DataFrame(X, columns=["a"] * 2 + [f"c{j}" for j in range(X.shape[1] - 2)])
    with pytest.raises(ValueError, match=r"repeated column names \['a'\]"):
        Lasso(alpha=0.05).fit(dd.from_pandas(twice, npartitions=3), yd)
    named = Lasso(alpha=0.05).fit(*_frame(X, y))  # in memory, with names
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        named.predict(da.from_array(X, chunks=(20, X.shape[1]))).compute()
    said = [str(w.message) for w in seen if "feature names" in str(w.message)]
    assert said == ["X does not have valid feature names, but Lasso was fitted with "
                    "feature names"]


@pytest.mark.parametrize("method", ["predict", "score", "predict_proba"])
def test_an_empty_chunk_predicts_no_rows(client, method):
    """A filtered DataFrame often has empty partitions: fit takes them, and so do the
    predictions (scikit-learn's 'Found array with 0 sample(s)' from a worker before)."""
    X, y, _ = _data()
    chunks = (60, 0, X.shape[0] - 60)
    Xd = da.from_array(X, chunks=(chunks, X.shape[1]))
    if method == "predict_proba":
        yb = (y > np.median(y)).astype(int)
        est = SparseLogisticRegression(alpha=0.01).fit(Xd, da.from_array(yb, chunks=chunks))
        np.testing.assert_allclose(est.predict_proba(Xd).compute(), est.predict_proba(X))
        return
    est = Lasso(alpha=0.05).fit(Xd, da.from_array(y, chunks=chunks))
    if method == "score":
        assert np.isclose(float(est.score(Xd, da.from_array(y, chunks=chunks))),
                          est.score(X, y))
    else:
        np.testing.assert_allclose(est.predict(Xd).compute(), est.predict(X))


def test_the_wide_cv_route_takes_an_empty_chunk(client):
    import dask

    X, y, _ = _data()
    chunks = (100, 0, X.shape[0] - 100)
    ref = _tight(LassoCV(cv=3, alphas=10, eps=1e-2)).fit(X, y)
    with dask.config.set({"sparsefit.gram_max_features": 3}):
        got = _tight(LassoCV(cv=3, alphas=10, eps=1e-2)).fit(
            da.from_array(X, chunks=(chunks, X.shape[1])), da.from_array(y, chunks=chunks))
    assert got.alpha_ == pytest.approx(ref.alpha_, rel=1e-12)
    assert _close(ref.coef_, got.coef_)


def test_sparse_chunks_after_an_empty_first_chunk(client):
    """The persisted data keep their chunks when the first one is empty (it was dropped,
    and X no longer lined up with y: 'X has 120 rows but y has 0')."""
    import scipy.sparse as sp

    X, y, _ = _data()
    yb = (y > np.median(y)).astype(int)
    chunks = (0, 100, X.shape[0] - 100)
    Xd = da.from_array(X, chunks=(chunks, X.shape[1])).map_blocks(sp.csr_matrix,
                                                                  dtype=np.float64)
    ref = _tight(SparseLogisticRegression(alpha=0.01)).fit(sp.csr_matrix(X), yb)
    got = _tight(SparseLogisticRegression(alpha=0.01)).fit(Xd, da.from_array(yb, chunks=chunks))
    assert _close(ref.coef_, got.coef_, rtol=1e-6)


def test_bad_labels_and_weights_of_a_classifier_are_named(client):
    X, y, _ = _data()
    yb = (y > np.median(y)).astype(int)
    Xd = da.from_array(X, chunks=50)
    with pytest.raises(ValueError, match="sample_weight has negative values in chunk"):
        SparseLogisticRegression(alpha=0.01).fit(Xd, da.from_array(yb, chunks=50),
                                                 sample_weight=-np.ones(X.shape[0]))
    labels = np.where(np.arange(X.shape[0]) == 57, None, yb.astype(object))
    with pytest.raises(ValueError, match="missing label .* in chunk 1"):
        SparseLogisticRegression(alpha=0.01).fit(Xd, da.from_array(labels, chunks=50))


def test_a_one_column_2d_target_keeps_the_in_memory_shapes(client):
    X, y, _ = _data()
    ref = Lasso(alpha=0.05).fit(X, y[:, None])
    got = Lasso(alpha=0.05).fit(da.from_array(X, chunks=50), da.from_array(y[:, None],
                                                                            chunks=50))
    assert np.shape(got.intercept_) == np.shape(ref.intercept_) == (1,)
    assert got.coef_.shape == ref.coef_.shape


def test_logistic_cv_on_dask_routes_the_scorer_metadata_as_in_memory(client):
    """With routing on, a scorer silent about ``sample_weight`` is refused as in memory
    (the dask fit scored with the weights, silently); without routing both score with
    them."""
    import sklearn
    from sklearn.exceptions import UnsetMetadataPassedError

    from sparsefit.linear_model import LogisticRegressionCV

    X, y, sw = _data()
    yb = (y > np.median(y)).astype(int)
    Xd, yd, wd = (da.from_array(v, chunks=50) for v in (X, yb, sw))
    est = LogisticRegressionCV(Cs=[0.1, 1.0], cv=3, l1_ratios=(0.0,), tol=1e-10,
                               scoring="neg_log_loss", use_legacy_attributes=False)
    with sklearn.config_context(enable_metadata_routing=True):
        for args in ((X, yb, sw), (Xd, yd, wd)):
            with pytest.raises(UnsetMetadataPassedError):
                clone(est).fit(args[0], args[1], sample_weight=args[2])
    got = clone(est).fit(Xd, yd, sample_weight=wd)
    ref = clone(est).fit(X, yb, sample_weight=sw)
    np.testing.assert_allclose(got.scores_, ref.scores_, rtol=1e-8)


def test_a_class_of_zero_weight_is_refused_in_memory_and_on_dask(client):
    """A class whose rows all weigh 0: one line naming it (in memory a LinAlgError from
    the singular Newton system, on dask a silent intercept of -14.9)."""
    from sparsefit.linear_model import LogisticRegression

    X, y, _ = _data()
    labels = np.where(y > np.median(y), "b", "a").astype(object)
    labels[180:190] = "c"
    sw = np.ones(X.shape[0])
    sw[180:190] = 0.0
    for args in ((X, labels, sw), tuple(da.from_array(v, chunks=50) for v in (X, labels, sw))):
        with pytest.raises(ValueError, match="class 'c' has total sample weight 0"):
            LogisticRegression().fit(args[0], args[1], sample_weight=args[2])
