"""The distributed benchmark (``benchmarks/bench_distributed.py``, issue 16): its streamed
certificate and reference against the in-memory ones, the other engines' regularization
mappings, and a ``--quick`` smoke run on a threads ``LocalCluster``.

Spark is never needed here (``make test`` does not install it): its mapping is checked
through the problem it solves internally, with sparsefit alone.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _distributed_common as Dc  # noqa: E402

from sparsefit.datafits import Logistic, Quadratic  # noqa: E402
from sparsefit.linear_model import Lasso, SparseLogisticRegression  # noqa: E402
from sparsefit.penalties import L1  # noqa: E402
from sparsefit.solvers import dual_gap  # noqa: E402

# the one reason to skip the Dask engine: sparsefit's Dask support lives on the `dask`
# branch until it is merged (`sparsefit.distributed` and the `dask` extra)
HAS_SPARSEFIT_DASK = importlib.util.find_spec("sparsefit.distributed") is not None
NO_DASK_REASON = ("sparsefit.distributed (the `dask` branch: Lasso & co. on dask input) is "
                  "not on this branch yet")


def _chunks(X, t, sizes):
    """A ``chunks()`` callable over row blocks of unequal ``sizes``."""
    edges = np.concatenate([[0], np.cumsum(sizes)])

    def chunks():
        for a, b in zip(edges[:-1], edges[1:]):
            yield X[a:b], t[a:b]
    return chunks


def _problem(kind, sparse=False, n=300, p=12, seed=0):
    rng = np.random.default_rng(seed)
    if sparse:
        X = sp.random(n, p, density=0.3, format="csr", random_state=seed)
    else:
        X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[:4] = [2.0, -1.5, 1.0, 0.5]
    s = np.asarray(X @ w).ravel() + 0.3 + 0.5 * rng.standard_normal(n)
    return X, ((s > 0.3).astype(float) if kind == "logistic" else s)


@pytest.mark.parametrize("kind", ["lasso", "logistic"])
@pytest.mark.parametrize("sparse", [False, True])
def test_streamed_gap_and_alpha_max_equal_the_in_memory_ones(kind, sparse):
    X, t = _problem(kind, sparse)
    y = Dc.as_signed(t, kind)
    streamed = Dc.Streamed(_chunks(X, t, [100, 37, 163]), kind, X.shape[1])
    datafit = Quadratic() if kind == "lasso" else Logistic()
    alpha = streamed.alpha_max() / 5
    # alpha_max: the all-zero solution there, not just below
    est = (Lasso if kind == "lasso" else SparseLogisticRegression)
    assert not np.any(est(alpha=streamed.alpha_max() * 1.001, tol=1e-10).fit(X, t).coef_)
    assert np.any(est(alpha=streamed.alpha_max() * 0.99, tol=1e-10).fit(X, t).coef_)
    rng = np.random.default_rng(1)
    for coef, b in [(np.zeros(X.shape[1]), 0.0), (rng.standard_normal(X.shape[1]), 0.2)]:
        got = streamed.gap(coef, b, alpha)
        ref = dual_gap(X, y, coef, b, datafit, L1(alpha), fit_intercept=True)
        assert got["gap"] == pytest.approx(float(ref), rel=1e-9, abs=1e-14)
    # the certificate can fail: a good fit passes, a perturbed one does not
    fit = est(alpha=alpha, tol=1e-12, max_iter=10_000).fit(X, t)
    coef, b = np.ravel(fit.coef_), float(np.ravel(fit.intercept_)[0])
    assert streamed.gap(coef, b, alpha)["gap"] < 1e-8
    assert streamed.gap(coef * 1.01, b, alpha)["gap"] > 1e-6


def test_moments_merge_pairwise_and_the_covariance_reference_is_the_lasso():
    X, y = _problem("lasso", n=500, p=10)
    X = X + 1e6  # big means: raw sums of squares would lose the variance
    n, mean, M = Dc.streamed_moments(_chunks(X, y, [7, 200, 1, 92, 200]))
    Z = np.column_stack([X, y])
    assert n == 500
    assert np.allclose(mean, Z.mean(axis=0), rtol=1e-14)
    Zc = Z - Z.mean(axis=0)
    assert np.allclose(M, Zc.T @ Zc, rtol=1e-9)
    # the reference on data without the offset (in memory, sparsefit's Lasso on X + 1e6
    # is another matter: its Gram route loses the digits there)
    X = X - 1e6
    alpha = 0.05
    coef, b = Dc.covariance_reference(Dc.streamed_moments(_chunks(X, y, [250, 250])), alpha)
    ref = Lasso(alpha=alpha, tol=1e-12, max_iter=10_000).fit(X, y)
    assert np.max(np.abs(coef - ref.coef_)) < 1e-8 * np.max(np.abs(ref.coef_))
    assert b == pytest.approx(ref.intercept_, rel=1e-9)


def test_spark_linear_mapping_is_the_same_lasso():
    """Spark's LinearRegression divides y and regParam by std(y) and scales back: at
    regParam = alpha that is sparsefit's Lasso(alpha)."""
    X, y = _problem("lasso")
    alpha = 0.1
    ys, reg, sigma = Dc.spark_linear_internal(y, Dc.spark_linear_reg_param(alpha))
    assert sigma != pytest.approx(1.0)  # the scaling is not a no-op here
    inner = Lasso(alpha=reg, tol=1e-12, max_iter=10_000).fit(X, ys)
    direct = Lasso(alpha=alpha, tol=1e-12, max_iter=10_000).fit(X, y)
    assert np.allclose(inner.coef_ * sigma, direct.coef_, atol=1e-8)
    assert inner.intercept_ * sigma == pytest.approx(direct.intercept_, abs=1e-8)
    assert Dc.spark_logistic_reg_param(alpha) == alpha


def test_sklearn_logistic_mapping():
    from sklearn.linear_model import LogisticRegression

    X, t = _problem("logistic", n=200, p=6)
    alpha = 0.02
    ours = SparseLogisticRegression(alpha=alpha, tol=1e-12, max_iter=1000).fit(X, t)
    theirs = LogisticRegression(C=Dc.sklearn_logistic_C(alpha, X.shape[0]), l1_ratio=1.0,
                                solver="saga", tol=1e-9, max_iter=20_000).fit(X, t)
    assert np.allclose(theirs.coef_.ravel(), ours.coef_.ravel(), atol=1e-5)
    # and the mapping is not vacuous: C off by 2x gives other coefficients
    off = LogisticRegression(C=2 * Dc.sklearn_logistic_C(alpha, X.shape[0]), l1_ratio=1.0,
                             solver="saga", tol=1e-9, max_iter=20_000).fit(X, t)
    assert not np.allclose(off.coef_.ravel(), ours.coef_.ravel(), atol=1e-3)


def test_dask_glm_mapping_is_the_same_objective():
    """dask-glm's objective ``loglike + lamduh ||b||_1`` is ``2n`` (Normal) or ``n``
    (Logistic) times sparsefit's at ``alpha``, for any coefficients."""
    families = pytest.importorskip("dask_glm.families")
    rng = np.random.default_rng(3)
    for kind, family in (("lasso", families.Normal), ("logistic", families.Logistic)):
        X, t = _problem(kind)
        n, alpha = X.shape[0], 0.07
        lam = Dc.dask_glm_lamduh(alpha, n, "normal" if kind == "lasso" else "logistic")
        datafit = Quadratic() if kind == "lasso" else Logistic()
        y = Dc.as_signed(t, kind)
        sw = np.full(n, 1.0 / n)
        family_name = "normal" if kind == "lasso" else "logistic"
        scale = 2 * n if kind == "lasso" else n
        for _ in range(3):
            w = rng.standard_normal(X.shape[1])
            theirs = float(family.loglike(X @ w, t)) + lam * np.abs(w).sum()
            ours = datafit._value_u(y, X @ w, sw) + alpha * np.abs(w).sum()
            assert theirs == pytest.approx(scale * ours, rel=1e-10)
        assert Dc.dask_ml_C(alpha, n, family_name) == pytest.approx(1 / lam)


# --------------------------------------------------------------------- the --quick run


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One ``--quick`` run on the ``ooc`` smoke dataset, dask workers as threads: sparsefit
    on Dask (when this branch has it) and scikit-learn in memory, LassoCV with 20 alphas."""
    pytest.importorskip("distributed", reason="the dask extra (with the `dask` branch)")
    import bench_distributed as B

    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "distributed.md"
    rc = B.main(["--quick", "--data-dir", str(tmp / "data"), "--datasets", "ooc",
                 "--cluster", "threads", "--engines", "sparsefit-dask", "sklearn",
                 "--cv-alphas", "20", "--cv-folds", "3", "--session-timeout", "120",
                 "--out", str(out)])
    assert rc == 0
    logs = tmp / "data" / "quick" / "logs"

    def records(engine):
        path = logs / f"ooc-{engine}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    return out.read_text(), records


def test_quick_run_writes_the_table_and_certifies_scikit_learn(quick_run):
    text, records = quick_run
    assert "| dataset | problem | engine | time to gap (s) | rel. gap reached" in text
    for word in ("Method and conditions", "LocalCluster, 2 in-process (thread) workers",
                 "memory_limit 2GB", "Versions:", "6000 x 50 dense"):
        assert word in text
    fits = [r for r in records("sklearn") if r["type"] == "fit"]
    assert {r["problem"] for r in fits} == {"lasso", "logistic"}
    for kind in ("lasso", "logistic"):
        gaps = [r["gap"] for r in fits if r["problem"] == kind]
        assert min(gaps) <= 1e-6  # the ladder reached the target
    assert "sklearn" in text and "(!)" not in text.split("sklearn", 1)[1].split("\n")[0]
    if not HAS_SPARSEFIT_DASK:
        assert "skipped: sparsefit has no Dask support on this branch yet" in text


@pytest.mark.skipif(not HAS_SPARSEFIT_DASK, reason=NO_DASK_REASON)
def test_quick_run_sparsefit_on_dask_one_pass_same_answer(quick_run):
    text, records = quick_run
    recs = records("sparsefit-dask")
    assert not [r for r in recs if "error" in r], recs
    lasso = [r for r in recs if r["type"] == "fit" and r["problem"] == "lasso"]
    assert lasso and lasso[-1]["gap"] <= 1e-6
    assert all(r["passes"] == 1 for r in lasso)  # one pass over the files per fit
    logistic = [r for r in recs if r["type"] == "fit" and r["problem"] == "logistic"]
    assert logistic and logistic[-1]["gap"] <= 1e-6
    cv = [r for r in recs if r["type"] == "cv"]
    assert cv and cv[0]["passes"] == 1 and cv[0]["n_alphas"] == 20
    assert "LassoCV on Dask (20 alphas x 3 folds, eps 0.001)" in text
    assert "**PASS** (one pass)" in text
    assert "coefficients vs the streamed reference: max |diff| / max |ref|" in text
