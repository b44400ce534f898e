"""The engines of the distributed benchmark, each run as one *session* in its own process.

A session is one engine on one dataset: start the engine (a dask ``LocalCluster``, a Spark
JVM, or loading the data into memory; timed apart), one untimed warm-up fit on a tiny
in-memory problem (numba kernels loaded on the workers, JVM classes loaded; for Spark this
is also the check of the ``regParam`` mapping against sparsefit's optimum), then for each
problem the ``tol`` ladder: fit, compute sparsefit's streamed duality gap of the returned
coefficients (untimed, in this process), divide ``tol`` by 10 until the gap is reached.
Each fit's wall time covers files -> coefficients for the engines that read the files
(dask, Spark) and the fit alone for the in-memory ones (their load time is reported apart);
its peak RSS is the summed RSS of this process and its descendants (workers, JVM) sampled
during the fit. Every result is appended to a JSON-lines file as soon as it exists, so a
session killed by the parent's timeout leaves what it finished.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
import traceback

import _distributed_common as Dc
import distributed_data as D
import numpy as np

ENGINES = ("sparsefit-dask", "sparsefit-memory", "sklearn", "dask-glm-admm",
           "dask-glm-proximal_grad", "spark")
IN_MEMORY = ("sparsefit-memory", "sklearn")


def availability(engine):
    """``(True, "")`` or ``(False, why)`` without starting anything."""
    def missing(mod):
        return importlib.util.find_spec(mod) is None

    if engine == "sparsefit-dask":
        if missing("dask") or missing("distributed"):
            return False, "dask[distributed] is not installed"
        if missing("sparsefit.distributed"):
            return False, ("sparsefit has no Dask support on this branch yet "
                           "(sparsefit.distributed is missing): skipped, not collected")
    if engine.startswith("dask-glm") and (missing("dask_glm") or missing("dask_ml")):
        return False, "dask-ml / dask-glm are not installed (pip install dask-ml)"
    if engine == "spark":
        if missing("pyspark"):
            return False, ("pyspark is not installed: run `bash benchmarks/setup_spark.sh` "
                           "(pyspark from PyPI, Debian's openjdk-17-jre-headless)")
        if java_home() is None:
            return False, ("no Java runtime (java on PATH or JAVA_HOME): run `bash "
                           "benchmarks/setup_spark.sh` (apt-get install "
                           "openjdk-17-jre-headless)")
    return True, ""


def java_home():
    """``$JAVA_HOME``, else the folder of the ``java`` on PATH, else Debian's OpenJDK 17
    folder; None when there is no Java runtime."""
    import shutil

    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return home
    java = shutil.which("java")
    if java:
        return os.path.dirname(os.path.dirname(os.path.realpath(java)))
    debian = "/usr/lib/jvm/java-17-openjdk-amd64"
    return debian if os.path.exists(os.path.join(debian, "bin", "java")) else None


# Copies of X an in-memory engine holds at its peak: sparsefit works on the Fortran array
# it is given; scikit-learn's Lasso centres a copy (copy_X=True: in place it would centre
# the targets kept for the next fit too) and saga wants C order.
MEMORY_FACTOR = {"sparsefit-memory": 1.2, "sklearn": 2.2}


def memory_need(meta, engine):
    """Bytes an in-memory engine needs at its peak: ``MEMORY_FACTOR`` times ``X``
    (float64, or CSR at 12 bytes per entry) plus the targets."""
    if meta["kind"] == "dense":
        x = meta["n"] * meta["p"] * 8
    else:
        x = int(meta["n"] * meta["p"] * meta["spec"]["density"] * 12)
    return int(MEMORY_FACTOR[engine] * x) + 2 * meta["n"] * 8


def fits_in_memory(meta, engine, available):
    """The rule for "where the data fits": the peak need below 80% of the available
    memory (``psutil.virtual_memory().available`` before the run)."""
    return memory_need(meta, engine) <= 0.8 * available


# ------------------------------------------------------------------------------ sessions


class Session:
    """Base: ``start()``, ``warmup()``, ``fit(problem, alpha, tol)``, ``close()``."""

    def __init__(self, job, meta):
        self.job = job
        self.meta = meta
        self.info = {}

    def start(self):
        pass

    def warmup(self):
        return {}

    def close(self):
        pass


def _tiny(kind, n=400, p=8, seed=0):
    """A small dense problem with an intercept (targets 0/1 for the logistic one)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[:3] = [1.5, -2.0, 1.0]
    s = X @ w + 0.5 * rng.standard_normal(n) + 0.7
    return X, (s > 0.7).astype(np.float64) if kind == "logistic" else s


def _sparsefit_estimator(problem, alpha, tol, max_iter):
    from sparsefit.linear_model import Lasso, SparseLogisticRegression

    if problem == "lasso":
        return Lasso(alpha=alpha, tol=tol, max_iter=max_iter)
    return SparseLogisticRegression(alpha=alpha, tol=tol, max_iter=max_iter)


def _coef_intercept(est):
    return np.asarray(est.coef_, dtype=np.float64).ravel(), float(np.ravel(est.intercept_)[0])


class DaskSession(Session):
    """A ``LocalCluster`` with the stated workers, threads and memory limit: worker
    processes (the benchmark), or threads of this process (``cluster.processes`` False:
    the smoke test; the memory limit is then not enforced per worker)."""

    def start(self):
        import logging

        from dask.distributed import Client, LocalCluster

        c = self.job["cluster"]
        procs = c.get("processes", True)
        self.cluster = LocalCluster(n_workers=c["workers"], threads_per_worker=c["threads"],
                                    memory_limit=c["memory_limit"], processes=procs,
                                    dashboard_address=None, silence_logs=logging.ERROR)
        self.client = Client(self.cluster)
        kind = "worker processes" if procs else "in-process workers (threads)"
        self.info["cluster"] = (f"LocalCluster: {c['workers']} {kind} x "
                                f"{c['threads']} thread(s), memory_limit {c['memory_limit']} "
                                "each (dask's default spill/pause/terminate fractions)")

    def arrays(self, target):
        log = self.job["pass_log"]
        open(log, "w").close()
        X, t = D.dask_arrays(self.meta, target, pass_log=log)
        return X, t

    def passes(self):
        return D.passes_read(self.job["pass_log"], len(self.meta["files"]))

    def close(self):
        self.client.close()
        self.cluster.close()


class SparsefitDask(DaskSession):
    def warmup(self):
        import dask.array as da

        for problem in ("lasso", "logistic"):
            X, t = _tiny(problem)
            est = _sparsefit_estimator(problem, 0.01, 1e-6, 100)
            est.fit(da.from_array(X, chunks=(100, -1)), da.from_array(t, chunks=100))
        return {}

    def fit(self, problem, alpha, tol):
        X, t = self.arrays("y" if problem == "lasso" else "label")
        est = _sparsefit_estimator(problem, alpha, tol, self.job["max_iter"].get("sparsefit", 100))
        t0 = time.perf_counter()
        est.fit(X, t)
        dt = time.perf_counter() - t0
        coef, b = _coef_intercept(est)
        return {"coef": coef, "intercept": b, "seconds": dt, "passes": self.passes(),
                "n_iter": _n_iter(est)}

    def lasso_cv(self, n_alphas, folds, eps=1e-3):
        X, t = self.arrays("y")
        est = _lasso_cv(n_alphas, folds).set_params(eps=eps)
        t0 = time.perf_counter()
        est.fit(X, t)
        dt = time.perf_counter() - t0
        coef, b = _coef_intercept(est)
        return {"coef": coef, "intercept": b, "seconds": dt, "passes": self.passes(),
                "alpha": float(est.alpha_), "n_alphas": int(np.size(est.alphas_)),
                "folds": folds, "eps": eps}


def _lasso_cv(n_alphas, folds):
    """sparsefit's ``LassoCV`` over ``n_alphas`` alphas and ``folds`` hashed folds.

    Main spells the number of alphas ``alphas=<int>`` (``n_alphas`` deprecated since the
    scikit-learn drop-in); a branch cut before that still has ``n_alphas``."""
    from sparsefit.linear_model import LassoCV

    if LassoCV().get_params().get("n_alphas") in ("deprecated", None):
        return LassoCV(alphas=n_alphas, cv=folds)
    return LassoCV(n_alphas=n_alphas, cv=folds)


def _n_iter(est):
    n = getattr(est, "n_iter_", None)
    return None if n is None else int(np.max(n))


class DaskGLM(DaskSession):
    """dask-ml's ``LinearRegression`` / ``LogisticRegression`` (``penalty="l1"``), which
    call dask-glm's solvers with ``lamduh = 1 / C`` and an intercept column of ones."""

    @property
    def solver(self):
        return self.job["engine"].split("-", 2)[2]

    def _estimator(self, problem, alpha, n, tol):
        from dask_ml.linear_model import LinearRegression, LogisticRegression

        family = "normal" if problem == "lasso" else "logistic"
        kw = {"penalty": "l1", "C": Dc.dask_ml_C(alpha, n, family), "solver": self.solver,
              "max_iter": self.job["max_iter"]["dask-glm"], "fit_intercept": True,
              "tol": tol}
        if self.solver == "admm":  # admm ignores tol: its stopping rule is abstol / reltol
            kw["solver_kwargs"] = {"abstol": tol, "reltol": tol}
        return (LinearRegression if problem == "lasso" else LogisticRegression)(**kw)

    def warmup(self):
        import dask.array as da

        X, t = _tiny("lasso")
        self._estimator("lasso", 0.01, X.shape[0], 1e-4).fit(
            da.from_array(X, chunks=(100, -1)), da.from_array(t, chunks=100))
        return {}

    def fit(self, problem, alpha, tol):
        X, t = self.arrays("y" if problem == "lasso" else "label")
        est = self._estimator(problem, alpha, X.shape[0], tol)
        t0 = time.perf_counter()
        est.fit(X, t)
        dt = time.perf_counter() - t0
        coef, b = _coef_intercept(est)
        return {"coef": coef, "intercept": b, "seconds": dt, "passes": self.passes()}


class InMemory(Session):
    """The whole dataset loaded into one NumPy array (Fortran order) or CSC matrix."""

    def start(self):
        import scipy.sparse as sp

        t0 = time.perf_counter()
        meta = self.meta
        self.data = {}
        targets = ("y", "label") if meta["kind"] == "dense" else ("y",)
        if meta["kind"] == "dense":
            X = np.empty((meta["n"], meta["p"]), order="F")
            ts = {k: np.empty(meta["n"]) for k in targets}
            off = 0
            for i in range(len(meta["files"])):
                Xi, yi = D.read_file(meta, i, "y")
                m = Xi.shape[0]
                X[off:off + m] = Xi
                ts["y"][off:off + m] = yi
                if "label" in ts:
                    ts["label"][off:off + m] = D.read_file(meta, i, "label")[1]
                off += m
        else:
            blocks = list(D.iter_chunks(meta))
            X = sp.vstack([b[0] for b in blocks], format="csc")
            ts = {"y": np.concatenate([b[1] for b in blocks])}
        self.X, self.targets = X, ts
        self.info["load_seconds"] = time.perf_counter() - t0

    def fit(self, problem, alpha, tol):
        t = self.targets["y" if problem == "lasso" else "label"]
        X = self.X
        est = self.estimator(problem, alpha, tol, X.shape[0])
        t0 = time.perf_counter()
        est.fit(X, t)
        dt = time.perf_counter() - t0
        coef, b = _coef_intercept(est)
        return {"coef": coef, "intercept": b, "seconds": dt, "n_iter": _n_iter(est)}


class SparsefitMemory(InMemory):
    def warmup(self):
        for problem in ("lasso", "logistic"):
            X, t = _tiny(problem)
            _sparsefit_estimator(problem, 0.01, 1e-6, 100).fit(X, t)
        return {}

    def estimator(self, problem, alpha, tol, n):
        return _sparsefit_estimator(problem, alpha, tol, self.job["max_iter"].get("sparsefit", 100))


class Sklearn(InMemory):
    def estimator(self, problem, alpha, tol, n):
        from sklearn.linear_model import Lasso, LogisticRegression

        if problem == "lasso":
            # the Gram matrix when the rows outnumber the columns ten to one (the tall
            # and out-of-core shapes): scikit-learn's fastest Lasso there
            dense = not hasattr(self.X, "tocsc")
            return Lasso(alpha=alpha, tol=tol, max_iter=100_000,
                         precompute=bool(dense and n >= 10 * self.X.shape[1]))
        # saga samples rows at random: seeded, so a run (and its tol ladder) repeats
        return LogisticRegression(C=Dc.sklearn_logistic_C(alpha, n), l1_ratio=1.0,
                                  solver="saga", tol=tol, max_iter=100_000, random_state=0)


class Spark(Session):
    """pyspark in local mode: ``local[cores]``, one driver JVM of ``driver_memory``."""

    def start(self):
        os.environ.setdefault("JAVA_HOME", java_home() or "")
        from pyspark.sql import SparkSession

        s = self.job["spark"]
        os.makedirs(s["local_dir"], exist_ok=True)
        self.spark = (SparkSession.builder.master(f"local[{s['cores']}]")
                      .appName("sparsefit-bench")
                      .config("spark.driver.memory", s["driver_memory"])
                      .config("spark.local.dir", s["local_dir"])
                      .config("spark.ui.enabled", "false")
                      .config("spark.ui.showConsoleProgress", "false")
                      .config("spark.sql.shuffle.partitions", str(2 * s["cores"]))
                      .getOrCreate())
        self.spark.sparkContext.setLogLevel("ERROR")
        self.info["spark"] = (f"pyspark {self.spark.version} local[{s['cores']}], "
                              f"spark.driver.memory {s['driver_memory']}")

    def _estimator(self, problem, alpha, tol, solver=None):
        from pyspark.ml.classification import LogisticRegression
        from pyspark.ml.regression import LinearRegression

        max_iter = self.job["max_iter"].get("spark", 1000)
        if problem == "lasso":
            return LinearRegression(featuresCol="features", labelCol="label",
                                    regParam=Dc.spark_linear_reg_param(alpha),
                                    elasticNetParam=1.0, standardization=False,
                                    fitIntercept=True, tol=tol, maxIter=max_iter,
                                    solver=solver or self.job["spark"]["solver"])
        return LogisticRegression(featuresCol="features", labelCol="label",
                                  regParam=Dc.spark_logistic_reg_param(alpha),
                                  elasticNetParam=1.0, standardization=False,
                                  fitIntercept=True, tol=tol, maxIter=max_iter,
                                  family="binomial")

    def warmup(self):
        """The mapping check: Spark at the mapped ``regParam`` and a tight ``tol`` on a
        small problem, certified by sparsefit's :func:`~sparsefit.solvers.dual_gap` (in
        the first Spark session of a run; the others only warm up on it)."""
        from pyspark.ml.linalg import Vectors

        from sparsefit.datafits import Logistic, Quadratic
        from sparsefit.penalties import L1
        from sparsefit.solvers import dual_gap

        out = {}
        for problem in ("lasso", "logistic"):
            X, t = _tiny(problem)
            n = X.shape[0]
            df = self.spark.createDataFrame([(Vectors.dense(x), float(v)) for x, v in zip(X, t)],
                                            ["features", "label"])
            # alpha_max with the best intercept, for both problems (0/1 labels: the
            # logistic gradient at w = 0, b* = logit(mean) is X^T (mean - t) / n)
            alpha = float(np.max(np.abs(X.T @ (t - t.mean())))) / n / 10
            ref = _sparsefit_estimator(problem, alpha, 1e-12, 10_000).fit(X, t)
            ref_coef, _ = _coef_intercept(ref)
            solvers = ("normal", "l-bfgs") if problem == "lasso" else (None,)
            if not self.job["spark"].get("check_mapping", True):
                self._estimator("lasso", alpha, 1e-6, "l-bfgs").fit(df)
                return {}
            for solver in solvers:
                m = self._estimator(problem, alpha, 1e-12, solver).fit(df)
                coef = m.coefficients.toArray()
                b = float(m.intercept)
                datafit = Quadratic() if problem == "lasso" else Logistic()
                y = t if problem == "lasso" else np.where(t > 0, 1.0, -1.0)
                gap = float(dual_gap(X, y, coef, b, datafit, L1(alpha), fit_intercept=True))
                key = f"{problem}{'/' + solver if solver else ''}"
                out[key] = {"gap": gap, "max_coef_diff": float(np.max(np.abs(coef - ref_coef)))}
        return {"mapping_check": out}

    def _frame(self, target):
        from pyspark.ml.feature import VectorAssembler
        from pyspark.sql.functions import col

        meta = self.meta
        paths = [os.path.join(meta["dir"], f) for f in meta["files"]]
        if meta["kind"] == "dense":
            df = self.spark.read.parquet(*paths)
            asm = VectorAssembler(inputCols=D.column_names(meta["p"]), outputCol="features")
            return asm.transform(df).select("features",
                                            col(target).cast("double").alias("label"))
        return (self.spark.read.format("libsvm").option("numFeatures", str(meta["p"]))
                .load(paths))

    def fit(self, problem, alpha, tol):
        t0 = time.perf_counter()
        df = self._frame("y" if problem == "lasso" else "label")
        model = self._estimator(problem, alpha, tol).fit(df)
        dt = time.perf_counter() - t0
        coef = model.coefficients.toArray().astype(np.float64)
        out = {"coef": coef, "intercept": float(model.intercept), "seconds": dt}
        try:
            out["n_iter"] = int(model.summary.totalIterations)
        except Exception:  # noqa: BLE001 - the normal solver has no iteration count
            pass
        return out

    def close(self):
        self.spark.stop()


SESSIONS = {"sparsefit-dask": SparsefitDask, "sparsefit-memory": SparsefitMemory,
            "sklearn": Sklearn, "dask-glm-admm": DaskGLM, "dask-glm-proximal_grad": DaskGLM,
            "spark": Spark}


# ------------------------------------------------------------------------------ the job


def _emit(path, record):
    with open(path, "a") as fh:
        fh.write(json.dumps(record, default=_jsonable) + "\n")
        fh.flush()


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"cannot serialize {type(x).__name__}")


def run_job(job):
    """One session (see the module docstring). ``job`` keys: ``engine``, ``data_root``,
    ``dataset``, ``problems`` (list of ``{"kind", "alpha"}``), ``tol0``, ``max_tune``,
    ``target_gap``, ``max_seconds``, ``cluster``, ``spark``, ``max_iter``, ``pass_log``,
    ``out`` (JSON lines), ``cv`` (``{"n_alphas", "folds"}`` or None)."""
    out = job["out"]
    meta = D.load_meta(job["data_root"], job["dataset"])
    session = SESSIONS[job["engine"]](job, meta)
    me = os.getpid()
    try:
        t0 = time.perf_counter()
        with Dc.PeakRSS(me) as rss:
            session.start()
        _emit(out, {"type": "session", "start_seconds": time.perf_counter() - t0,
                    "start_rss": rss.peak, **session.info})
        t0 = time.perf_counter()
        warm = session.warmup()
        _emit(out, {"type": "warmup", "seconds": time.perf_counter() - t0, **warm})
    except Exception as exc:  # noqa: BLE001 - reported as the session's failure
        _emit(out, {"type": "error", "stage": "start", "error": repr(exc),
                    "traceback": traceback.format_exc()[-2000:]})
        return 1

    for prob in job["problems"]:
        kind, alpha = prob["kind"], prob["alpha"]
        streamed = Dc.Streamed(lambda k=kind: D.iter_chunks(
            meta, "y" if k == "lasso" else "label"), kind, meta["p"])
        tol, prev_gap = job["tol0"], float("inf")
        for step in range(job["max_tune"]):
            try:
                with Dc.PeakRSS(me) as rss:
                    res = session.fit(kind, alpha, tol)
            except Exception as exc:  # noqa: BLE001 - a failing engine is a result
                _emit(out, {"type": "fit", "problem": kind, "tol": tol, "error": repr(exc),
                            "traceback": traceback.format_exc()[-2000:]})
                break
            cert = streamed.gap(res["coef"], res["intercept"], alpha)
            rec = {"type": "fit", "problem": kind, "alpha": alpha, "tol": tol, "step": step,
                   "peak_rss": rss.peak, "nnz": int(np.count_nonzero(res["coef"])), **cert,
                   **{k: v for k, v in res.items()}}
            _emit(out, rec)
            if cert["gap"] <= job["target_gap"]:
                break
            if job["max_seconds"] and res["seconds"] > job["max_seconds"]:
                break
            if step and cert["gap"] > 0.5 * prev_gap:  # a tighter tol did not help
                _emit(out, {"type": "stalled", "problem": kind, "tol": tol,
                            "gap": cert["gap"], "previous_gap": prev_gap})
                break
            prev_gap = cert["gap"]
            tol /= 10
    if job.get("cv") and hasattr(session, "lasso_cv"):
        try:
            with Dc.PeakRSS(me) as rss:
                res = session.lasso_cv(job["cv"]["n_alphas"], job["cv"]["folds"],
                                       job["cv"].get("eps", 1e-3))
            streamed = Dc.Streamed(lambda: D.iter_chunks(meta, "y"), "lasso", meta["p"])
            cert = streamed.gap(res["coef"], res["intercept"], res["alpha"])
            _emit(out, {"type": "cv", "peak_rss": rss.peak, **cert, **res})
        except Exception as exc:  # noqa: BLE001
            _emit(out, {"type": "cv", "error": repr(exc),
                        "traceback": traceback.format_exc()[-2000:]})
    session.close()
    return 0
