"""Sparse models beyond one machine (issue 16): sparsefit on Dask, side by side with
scikit-learn in memory, dask-ml / dask-glm and Spark MLlib in local mode, in one run.

Datasets (``benchmarks/distributed_data.py``; written by ``--generate`` into
``--data-dir`` / ``$SPARSEFIT_BENCH_DATA``, never into the repository): tall dense
10^7 x 100, out-of-core 1.5*10^6 x 1000 (12 GB of Parquet, 3x the cluster's total
``memory_limit`` of 2 workers x 2 GB), sparse 10^6 x 10^5 at density 1e-4. Problems: the
Lasso with intercept on every dataset and the L1 logistic regression on the dense ones, at
``alpha = alpha_max / 10``.

sparsefit is called through its public API only: ``Lasso`` / ``SparseLogisticRegression``
/ ``LassoCV`` fitted on dask arrays (one chunk per file, read by the workers), which routes
them to ``sparsefit.distributed``.

For every engine the common measure is sparsefit's relative duality gap of the returned
``(coef, intercept)`` (:func:`sparsefit.solvers.dual_gap`'s certificate, streamed over the
files in two passes, see ``_distributed_common.Streamed``), at sparsefit's ``alpha`` mapped
exactly to each engine's parameter: the engine's own ``tol`` is divided by 10 until the gap
is at most 1e-6, and the wall time of the fit that first reached it is the "time to gap".
Each engine runs in its own process (``_distributed_engines``): the engine's start
(cluster, JVM, loading into memory) is timed apart, an untimed warm-up fit comes first,
and the peak RSS of the process tree is sampled during each fit. Engines that cannot run
here (not installed, no Java, no Dask support in sparsefit, data that does not fit in
memory) are listed as skipped, with the reason.

Also: the Lasso's streamed covariance-form reference (numpy, one pass, independent of
Dask) against which the coefficients are compared, and sparsefit's ``LassoCV`` (100 alphas,
5 folds) on Dask with the passes over the files counted.

Usage (one command once the setup ran; the data, ~20 GB, is written on the first run)::

    bash benchmarks/setup_spark.sh          # pyspark + Debian's OpenJDK 17 (Spark column)
    python benchmarks/bench_distributed.py --data-dir /big/disk/sfbench --generate
    python benchmarks/bench_distributed.py --quick    # tiny data in a temp folder: smoke run
    python benchmarks/bench_distributed.py --data-dir D --datasets tall --engines spark

Writes ``benchmarks/results/distributed.md`` (``distributed.quick.md`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C
import _distributed_common as Dc
import _distributed_engines as E
import distributed_data as D
import numpy as np

HERE = Path(__file__).resolve().parent
TOL0 = {"sparsefit-dask": 1e-5, "sparsefit-memory": 1e-5, "sklearn": 1e-5,
        "dask-glm-admm": 1e-4, "dask-glm-proximal_grad": 1e-6, "spark": 1e-6}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="tiny datasets (generated when missing), short ladders: a smoke run")
    ap.add_argument("--data-dir", default=None,
                    help=f"datasets root (default ${D.ENV_DATA}; with --quick a temp folder)")
    ap.add_argument("--datasets", nargs="*", default=None, help=f"subset of {list(D.FULL)}")
    ap.add_argument("--engines", nargs="*", default=None, help=f"subset of {list(E.ENGINES)}")
    ap.add_argument("--ratio", type=float, default=10.0, help="alpha = alpha_max / RATIO")
    ap.add_argument("--target-gap", type=float, default=C.TARGET_GAP)
    ap.add_argument("--workers", type=int, default=2, help="dask workers (processes)")
    ap.add_argument("--threads-per-worker", type=int, default=1)
    ap.add_argument("--memory-limit", default="2GB", help="per dask worker")
    ap.add_argument("--cluster", choices=("processes", "threads"), default="processes",
                    help="dask workers as processes (the benchmark) or threads of the "
                         "session's process (the smoke test: faster start, memory_limit "
                         "not enforced)")
    ap.add_argument("--spark-driver-memory", default=None,
                    help="Spark's driver JVM (default: the dask workers' total, e.g. 4g)")
    ap.add_argument("--spark-solver", default="auto",
                    help="LinearRegression solver: auto (normal when p <= 4096), l-bfgs, normal")
    ap.add_argument("--max-tune", type=int, default=None,
                    help="tol values tried per engine and problem (default 4; quick 2)")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="stop an engine's ladder after a fit longer than this "
                         "(default 1800; quick 60)")
    ap.add_argument("--session-timeout", type=float, default=None,
                    help="kill an engine's session after this many seconds "
                         "(default 14400; quick 300)")
    ap.add_argument("--dask-glm-max-iter", type=int, default=None,
                    help="dask-glm iterations (default 100, dask-ml's; quick 20): each one "
                         "is at least one pass over the files")
    ap.add_argument("--cv-alphas", type=int, default=100)
    ap.add_argument("--cv-folds", type=int, default=5)
    ap.add_argument("--cv-eps", type=float, default=1e-3,
                    help="LassoCV's eps, alpha_min / alpha_max (default: the estimator's)")
    ap.add_argument("--no-cv", action="store_true", help="skip the LassoCV run")
    ap.add_argument("--generate", action="store_true",
                    help="write missing datasets first (always on with --quick)")
    ap.add_argument("--out", default=None,
                    help="write the report here (default benchmarks/results/distributed.md, "
                         "distributed.quick.md with --quick)")
    ap.add_argument("--job", default=None, help=argparse.SUPPRESS)  # internal: one session
    return ap.parse_args(argv)


# ------------------------------------------------------------------------ references


def _cached(path, compute):
    """``compute()`` saved to ``path`` (npz) and reused on the next run."""
    if path.exists():
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    out = compute()
    np.savez(path, **out)
    return out


def prepare(meta, kinds, ratio, log):
    """alpha_max and alpha per problem, and the Lasso's reference solution (streamed
    covariance form for dense data, sparsefit in memory at tol 1e-12 for the sparse set);
    cached beside the data."""
    folder = Path(meta["dir"])
    out = {}
    for kind in kinds:
        target = "y" if kind == "lasso" else "label"
        streamed = Dc.Streamed(lambda t=target: D.iter_chunks(meta, t), kind, meta["p"])
        amax = float(_cached(folder / f"alpha_max_{kind}.npz",
                             lambda s=streamed: {"v": np.array(s.alpha_max())})["v"])
        alpha = amax / ratio
        prob = {"kind": kind, "alpha": alpha, "alpha_max": amax}
        if kind == "lasso":
            t0 = time.perf_counter()
            ref = _cached(folder / f"reference_lasso_{ratio:g}.npz",
                          lambda a=alpha: _reference(meta, a))
            cert = streamed.gap(ref["coef"], float(ref["intercept"]), alpha)
            prob.update(ref_coef=ref["coef"], ref_intercept=float(ref["intercept"]),
                        ref_primal=cert["primal"], ref_gap=cert["gap"],
                        ref_how=str(ref["how"]), ref_seconds=time.perf_counter() - t0)
            log(f"  {meta['name']} lasso: alpha_max {amax:.4g}, reference ({prob['ref_how']}) "
                f"gap {cert['gap']:.1e}, nnz {int(np.count_nonzero(ref['coef']))}")
        out[kind] = prob
    return out


def _reference(meta, alpha):
    if meta["kind"] == "dense":
        moments = Dc.streamed_moments(lambda: D.iter_chunks(meta, "y"))
        coef, b = Dc.covariance_reference(moments, alpha)
        how = "streamed covariance (numpy, one pass, pairwise-merged moments)"
    else:
        import scipy.sparse as sp

        from sparsefit.linear_model import Lasso

        blocks = list(D.iter_chunks(meta, "y"))
        X = sp.vstack([x for x, _ in blocks], format="csc")
        y = np.concatenate([t for _, t in blocks])
        est = Lasso(alpha=alpha, tol=1e-12, max_iter=10_000).fit(X, y)
        coef, b = np.asarray(est.coef_, dtype=float), float(est.intercept_)
        how = "sparsefit in memory, tol 1e-12 (the sparse set fits: CSR)"
    return {"coef": coef, "intercept": np.array(b), "how": np.array(how)}


# ------------------------------------------------------------------------ sessions


def run_session(engine, meta, probs, args, root, logdir, log):
    """One engine on one dataset in a child process; returns its JSON-lines records and
    the session's own summary (status, peak RSS of the whole session)."""
    tag = f"{meta['name']}-{engine}"
    out = logdir / f"{tag}.jsonl"
    out.unlink(missing_ok=True)
    total_mem = args.workers * parse_bytes(args.memory_limit)
    job = {
        "engine": engine, "data_root": str(root), "dataset": meta["name"],
        "problems": [{"kind": p["kind"], "alpha": p["alpha"]} for p in probs],
        "tol0": TOL0[engine], "max_tune": args.max_tune, "target_gap": args.target_gap,
        "max_seconds": args.max_seconds, "out": str(out),
        "pass_log": str(logdir / f"{tag}.passes"),
        "cluster": {"workers": args.workers, "threads": args.threads_per_worker,
                    "memory_limit": args.memory_limit,
                    "processes": args.cluster == "processes"},
        "spark": {"cores": args.workers * args.threads_per_worker,
                  "driver_memory": args.spark_driver_memory
                  or f"{max(1, int(total_mem / 2**30))}g",
                  "local_dir": str(root / "spark-tmp"), "solver": args.spark_solver,
                  "check_mapping": not _MAPPING_CHECKED},
        "max_iter": {"sparsefit": 1000, "dask-glm": args.dask_glm_max_iter, "spark": 1000},
        "cv": None if (args.no_cv or engine != "sparsefit-dask" or
                       not any(p["kind"] == "lasso" for p in probs))
        else {"n_alphas": args.cv_alphas, "folds": args.cv_folds, "eps": args.cv_eps},
    }
    job_path = logdir / f"{tag}.job.json"
    job_path.write_text(json.dumps(job))
    env = dict(os.environ)
    # one BLAS/OpenMP thread in every session and in its dask workers (inherited); the
    # parallelism is the engines' own: dask workers, Spark's local[cores]
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE)] + [str(HERE.parent / "src")] + [p for p in [env.get("PYTHONPATH")] if p])
    log(f"  session {tag} ...")
    with open(logdir / f"{tag}.log", "w") as fh:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--job",
                                 str(job_path)], stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, cwd=str(HERE.parent))
        try:
            rc, peak, secs = Dc.wait_with_rss(proc, args.session_timeout)
        finally:  # interrupted (Ctrl-C, SIGTERM): take the session's whole group down
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    records = []
    if engine == "spark":
        _mark_mapping_checked()
    if out.exists():
        records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    status = ("ok" if rc == 0 else "timeout (killed)" if rc is None
              else f"exit status {rc}")
    if rc != 0:
        tail = (logdir / f"{tag}.log").read_text()[-600:]
        log(f"    session {status}; log tail:\n{tail}")
    return records, {"status": status, "peak_rss": peak, "seconds": secs}


_MAPPING_CHECKED = False


def _mark_mapping_checked():
    global _MAPPING_CHECKED
    _MAPPING_CHECKED = True


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text):
    """``"2GB"`` -> 2e9, ``"2GiB"`` -> 2**31 (dask's spelling of ``memory_limit``; parsed
    here so that the parent process does not need dask)."""
    import re

    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read a size from {text!r} (e.g. 2GB, 1500MB, 2GiB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


# ------------------------------------------------------------------------ the report


def gb(x):
    return f"{x / 1e9:.2f}" if x else "n/a"


def _best(fits, target):
    """The fit that first reached ``target`` (else the smallest gap), and whether it did."""
    ok = [f for f in fits if "gap" in f]
    if not ok:
        return None, False
    for f in ok:
        if f["gap"] <= target:
            return f, True
    return min(ok, key=lambda f: f["gap"]), False


def build_rows(results, probs_by_ds, target):
    """One row per (dataset, problem, engine)."""
    rows = []
    for (ds, engine), (records, summary, note) in results.items():
        for kind, prob in probs_by_ds[ds].items():
            row = {"dataset": ds, "problem": kind, "engine": engine, "note": note,
                   "session": summary}
            fits = [r for r in records if r.get("type") == "fit" and r.get("problem") == kind]
            errors = [r for r in records if r.get("type") in ("error",)]
            row["fits"] = fits
            best, reached = _best(fits, target)
            row["best"], row["reached"] = best, reached
            if any(r.get("type") == "stalled" and r.get("problem") == kind for r in records):
                row["stalled"] = True
            if best is None and not note:
                errs = [f["error"] for f in fits if "error" in f] + [e["error"] for e in errors]
                row["note"] = ("failed: " + errs[0][:160]) if errs else \
                    f"no result ({summary.get('status', 'not run')})"
            if best is not None and "ref_coef" in prob:
                ref = prob["ref_coef"]
                row["coef_err"] = float(np.max(np.abs(np.asarray(best["coef"]) - ref))
                                        / max(np.max(np.abs(ref)), 1e-300))
            rows.append(row)
    # objective relative to the best known: the reference, or the lowest primal seen
    for ds, probs in probs_by_ds.items():
        for kind, prob in probs.items():
            cands = [r["best"]["primal"] for r in rows
                     if r["dataset"] == ds and r["problem"] == kind and r["best"]]
            if "ref_primal" in prob:
                cands.append(prob["ref_primal"])
            pstar = min(cands) if cands else float("nan")
            prob["p_star"] = pstar
            for r in rows:
                if r["dataset"] == ds and r["problem"] == kind and r["best"]:
                    r["obj_ratio"] = r["best"]["primal"] / pstar
    return rows


def table(rows, target):
    head = ("| dataset | problem | engine | time to gap (s) | rel. gap reached | objective "
            "P / P* | coef. vs reference | tol | passes over files | nnz | peak RSS (GB) "
            "| note |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        b = r["best"]
        name = f"**{r['engine']}**" if r["engine"] == "sparsefit-dask" else r["engine"]
        if b is None:
            lines.append(f"| {r['dataset']} | {r['problem']} | {name} | n/a | n/a | n/a | n/a "
                         f"| n/a | n/a | n/a | n/a | {r['note']} |")
            continue
        mark = "" if r["reached"] else " (!)"
        miss = "" if r["reached"] else f"did not reach {target:g}" + (
            " (stalled: dividing tol by 10 did not halve the gap)" if r.get("stalled") else "")
        passes = b.get("passes")
        err = r.get("coef_err")
        lines.append(
            f"| {r['dataset']} | {r['problem']} | {name} | {C.fmt_time(b['seconds'])}{mark} "
            f"| {b['gap']:.1e}{mark} | {r['obj_ratio']:.6g} "
            f"| {'n/a' if err is None else f'{err:.1e}'} | {b['tol']:.0e} "
            f"| {'n/a' if passes is None else f'{passes:g}'} | {b['nnz']} "
            f"| {gb(b['peak_rss'])} | {r['note'] or miss} |")
    return "\n".join(lines)


def goals(rows, cv_records, probs_by_ds, metas, args):
    out = []
    by = {(r["dataset"], r["problem"], r["engine"]): r for r in rows}
    for ds, probs in probs_by_ds.items():
        for kind in probs:
            sf, sk = by.get((ds, kind, "sparsefit-dask")), by.get((ds, kind, "spark"))
            if not sf or not sk or not sf["best"] or not sk["best"]:
                why = ("sparsefit-dask did not run" if not sf or not sf["best"]
                       else "Spark did not run")
                out.append(f"- {ds} {kind}: less time than Spark at a smaller gap: **n/a** "
                           f"({why}).")
                continue
            a, b = sf["best"], sk["best"]
            ok = sf["reached"] and a["gap"] < b["gap"] and (a["seconds"] < b["seconds"]
                                                           or not sk["reached"])
            out.append(f"- {ds} {kind}: sparsefit-dask {C.fmt_time(a['seconds'])} s at gap "
                       f"{a['gap']:.1e} vs Spark {C.fmt_time(b['seconds'])} s at gap "
                       f"{b['gap']:.1e} ({a['seconds'] / b['seconds']:.3g}x the time): "
                       f"**{'PASS' if ok else 'MISS'}**.")
    for ds, recs in cv_records.items():
        cv = [r for r in recs if r.get("type") == "cv"]
        if not cv:
            continue
        c = cv[0]
        if "error" in c:
            out.append(f"- {ds} LassoCV on Dask: **MISS** (failed: {c['error'][:160]}).")
            continue
        ok = c["passes"] <= 1.0
        out.append(f"- {ds} LassoCV on Dask ({c['n_alphas']} alphas x {c['folds']} folds, "
                   f"eps {c.get('eps', 1e-3):g}): "
                   f"{C.fmt_time(c['seconds'])} s, {c['passes']:g} pass(es) over the files, "
                   f"alpha_ {c['alpha']:.4g}, gap of the refit {c['gap']:.1e}, peak RSS "
                   f"{gb(c['peak_rss'])} GB: **{'PASS' if ok else 'MISS'}** (one pass).")
    total = args.workers * parse_bytes(args.memory_limit)
    for ds, meta in metas.items():
        if ds != "ooc":
            continue
        ratio = meta["nbytes"] / total
        r = by.get((ds, "lasso", "sparsefit-dask"))
        err = r.get("coef_err") if r else None
        size = ("n/a** (--quick: tiny data, not the out-of-core size)" if args.quick
                else f"{'PASS' if ratio >= 3 else 'MISS'}** (>= 3x)")
        rss = (f", peak RSS of the fit {gb(r['best']['peak_rss'])} GB"
               if r and r.get("best") else "")
        out.append(f"- ooc: {gb(meta['nbytes'])} GB of Parquet = {ratio:.2f}x the workers' total "
                   f"memory_limit ({gb(total)} GB): **{size}{rss}; sparsefit-dask "
                   "coefficients vs the streamed reference: "
                   + (f"max |diff| / max |ref| = {err:.1e}: **{'PASS' if err <= 1e-6 else 'MISS'}"
                      "** (<= 1e-6)." if err is not None else "**n/a** (did not run)."))
    return "\n".join(out)


def conditions(args, metas, results, probs_by_ds, skipped):
    lines = []
    total = args.workers * parse_bytes(args.memory_limit)
    for ds, meta in metas.items():
        s = meta["spec"]
        extra = (f", density {s['density']:g}" if meta["kind"] == "sparse"
                 else f", Toeplitz rho {s['rho']}")
        lines.append(f"- Dataset `{ds}`: {meta['n']} x {meta['p']} {meta['kind']}{extra}, "
                     f"{meta['format']}, {len(meta['files'])} files, {gb(meta['nbytes'])} GB "
                     f"({meta['nbytes'] / total:.2f}x the workers' total memory_limit); "
                     f"k={s['k']} true non-zeros, SNR {s['snr']}, seed {s['seed']}.")
        for kind, p in probs_by_ds[ds].items():
            ref = (f"; reference: {p['ref_how']}, gap {p['ref_gap']:.1e}" if "ref_how" in p
                   else "")
            lines.append(f"  - {kind}: alpha = alpha_max / {args.ratio:g} = {p['alpha']:.4g} "
                         f"(alpha_max {p['alpha_max']:.4g}){ref}.")
    kind = "worker processes" if args.cluster == "processes" else "in-process (thread) workers"
    lines.append(f"- Dask: LocalCluster, {args.workers} {kind} x "
                 f"{args.threads_per_worker} thread(s), memory_limit {args.memory_limit} each "
                 f"(total {gb(total)} GB); inputs are dask arrays with one chunk per file, read "
                 "by the workers (`distributed_data.dask_arrays`).")
    spark_info = [rec for (ds, e), (recs, _, _) in results.items() if e == "spark"
                  for rec in recs if rec.get("type") == "session" and "spark" in rec]
    if spark_info:
        lines.append(f"- Spark: {spark_info[0]['spark']}; solver `{args.spark_solver}` for "
                     "LinearRegression (auto = normal equations when p <= 4096, else "
                     "L-BFGS/OWL-QN); `standardization=False`, `elasticNetParam=1`, "
                     "`regParam` mapped as in `_distributed_common` (checked below).")
    for (ds, _e), (recs, _summary, _note) in results.items():
        for rec in recs:
            if rec.get("type") == "warmup" and "mapping_check" in rec:
                checks = "; ".join(f"{k}: gap {v['gap']:.1e}, max |coef - sparsefit| "
                                   f"{v['max_coef_diff']:.1e}"
                                   for k, v in rec["mapping_check"].items())
                ok = all(v["gap"] <= 1e-6 for v in rec["mapping_check"].values())
                lines.append(f"- Spark regParam mapping check ({ds} session, 400 x 8 problem, "
                             f"tol 1e-12): {checks}: **{'verified' if ok else 'NOT verified'}**.")
    starts = []
    for (ds, e), (recs, summary, _note) in results.items():
        for rec in recs:
            if rec.get("type") == "session":
                extra = (f", load {rec['load_seconds']:.1f} s" if "load_seconds" in rec else "")
                starts.append(f"{ds}/{e}: start {rec['start_seconds']:.1f} s{extra}")
        if summary.get("status") not in (None, "ok"):
            starts.append(f"{ds}/{e}: session {summary['status']}")
    if starts:
        lines.append("- Engine start (excluded from the times; in-memory engines: loading "
                     "into memory): " + "; ".join(starts) + ".")
    if skipped:
        lines.append("- Skipped: " + "; ".join(skipped) + ".")
    lines.append(
        "- Time to gap: wall time of one fit at the first `tol` (divided by 10 from the "
        "engine's start value) whose result had sparsefit's relative duality gap "
        f"<= {args.target_gap:g}; dask and Spark read the files inside the timed fit, the "
        "in-memory engines do not. `(!)`: not reached, the smallest gap is shown. Each tol "
        "is a fresh fit in the same engine session, after an untimed warm-up fit. Gap = "
        "`sparsefit.solvers.dual_gap`'s certificate streamed over the files (two passes), "
        "intercept free; P* = the lowest objective known (the reference for the Lasso).")
    lines.append("- Peak RSS: sum of the RSS of the session's process tree (python, dask "
                 "workers and nannies, Spark's JVM), sampled every 0.2 s during the fit; shared "
                 "pages count in each process. Passes: reads of `X` files / number of files.")
    lines.append("- dask-ml / dask-glm: `penalty='l1'`, `C = 1/lamduh`, `lamduh = 2 n alpha` "
                 "(Normal) or `n alpha` (Logistic); their intercept is a penalized column of "
                 "ones (issue 16), so their objective is measured, not fixed; admm runs with "
                 f"rho=1 and abstol = reltol = tol; max_iter {args.dask_glm_max_iter}.")
    return "\n".join(lines)


def versions():
    out = [C.versions()]
    for mod in ("dask", "distributed", "dask_ml", "dask_glm", "pyspark", "pyarrow", "psutil"):
        try:
            out.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            out.append(f"{mod} not installed")
        except AttributeError:
            out.append(f"{mod} (version unknown)")
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30,
                              check=False).stderr.splitlines()[0]
        out.append(java.strip())
    except (OSError, subprocess.SubprocessError, IndexError):
        out.append("java not found")
    return ", ".join(out)


def details(rows):
    lines = ["", "Tuning ladders (tol -> gap, fit seconds):", ""]
    for r in rows:
        if not r["fits"]:
            continue
        steps = ", ".join(
            (f"{f['tol']:.0e} -> {f['gap']:.1e} ({f['seconds']:.3g} s)" if "gap" in f
             else f"{f['tol']:.0e} -> error") for f in r["fits"])
        lines.append(f"- {r['dataset']} {r['problem']} {r['engine']}: {steps}")
    return "\n".join(lines)


# ------------------------------------------------------------------------ main


def main(argv=None):
    args = parse_args(argv)
    if args.job:
        return E.run_job(json.loads(Path(args.job).read_text()))
    if args.max_tune is None:
        args.max_tune = 2 if args.quick else 4
    if args.max_seconds is None:
        args.max_seconds = 60 if args.quick else 1800
    if args.dask_glm_max_iter is None:
        args.dask_glm_max_iter = 20 if args.quick else 100
    if args.session_timeout is None:
        args.session_timeout = 300 if args.quick else 14400
    if args.quick and not (args.data_dir or os.environ.get(D.ENV_DATA)):
        args.data_dir = os.path.join(tempfile.gettempdir(), "sparsefit-bench-quick")
    if not (args.data_dir or os.environ.get(D.ENV_DATA)):
        print("bench_distributed: skipped - the full run needs its datasets (~20 GB, written "
              f"once): give --data-dir DIR --generate, or set ${D.ENV_DATA}; --quick runs a "
              "smoke test on tiny data")
        return 0
    root = D.data_dir(args.data_dir) / ("quick" if args.quick else "full")
    names = args.datasets or list(D.FULL)
    engines = args.engines or list(E.ENGINES)
    unknown = [e for e in engines if e not in E.ENGINES]
    if unknown:
        raise SystemExit(f"unknown engine(s) {unknown}; choose from {list(E.ENGINES)}")

    # SIGTERM unwinds like Ctrl-C, so that a running session's process group is killed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(C.limit_threads(1))
    before, src_before = C.machine_load(), C.source_fingerprint()
    if args.quick or args.generate:
        root.mkdir(parents=True, exist_ok=True)
        for spec in D.specs(args.quick, 1.0, names):
            D.generate(spec, root)
    metas = {n: D.load_meta(root, n) for n in names}
    logdir = root / "logs"
    logdir.mkdir(exist_ok=True)

    import psutil

    available = psutil.virtual_memory().available
    probs_by_ds, results, skipped = {}, {}, []
    for name, meta in metas.items():
        kinds = ["lasso", "logistic"] if "label" in meta["targets"] else ["lasso"]
        print(f"{name}: {meta['n']} x {meta['p']} {meta['kind']}, {gb(meta['nbytes'])} GB")
        probs_by_ds[name] = prepare(meta, kinds, args.ratio, print)
        for engine in engines:
            ok, why = E.availability(engine)
            if ok and engine in E.IN_MEMORY and not E.fits_in_memory(meta, engine, available):
                ok, why = False, (f"does not fit in memory: needs ~"
                                  f"{gb(E.memory_need(meta, engine))} GB at its peak, "
                                  f"{gb(available)} GB available")
            if not ok:
                results[(name, engine)] = ([], {"status": "skipped"}, f"skipped: {why}")
                skipped.append(f"{name}/{engine}: {why}")
                print(f"  {engine}: skipped ({why})")
                continue
            records, summary = run_session(engine, meta, list(probs_by_ds[name].values()),
                                           args, root, logdir, print)
            results[(name, engine)] = (records, summary, "")
            for rec in records:
                if rec.get("type") == "fit" and "gap" in rec:
                    print(f"    {engine} {rec['problem']}: tol {rec['tol']:.0e} -> gap "
                          f"{rec['gap']:.1e} in {rec['seconds']:.3g} s"
                          + (f", {rec['passes']:g} passes" if rec.get("passes") is not None
                             else ""))
                elif rec.get("type") in ("error", "fit", "cv") and "error" in rec:
                    print(f"    {engine} {rec.get('problem', rec['type'])}: {rec['error'][:200]}")

    after, src_after = C.machine_load(), C.source_fingerprint()
    rows = build_rows(results, probs_by_ds, args.target_gap)
    cv_records = {ds: recs for (ds, e), (recs, _, _) in results.items() if e == "sparsefit-dask"}
    body = "\n\n".join([
        f"Command: `{C.command_line()}`",
        table(rows, args.target_gap),
        "**Goals** (issue 16):\n\n" + (goals(rows, cv_records, probs_by_ds, metas, args)
                                        or "- none could be evaluated"),
        "Method and conditions:\n\n" + conditions(args, metas, results, probs_by_ds, skipped)
        + "\n- " + C.threads_line() + " (this process; every session sets 1 BLAS thread "
        "through the environment)"
        + f"\n- Versions: {versions()}.\n" + C.source_note(src_before, src_after) + "\n"
        + C.load_note(before, after),
        details(rows),
    ])
    title = "Distributed: sparsefit on Dask vs scikit-learn, dask-ml/dask-glm and Spark MLlib"
    if args.out:
        Path(args.out).write_text(f"# {title}\n\n_Generated by `{C.command_line()}`"
                                  f"{' (--quick smoke run)' if args.quick else ''}._\n\n"
                                  f"{body}\n")
        print(f"[written to {args.out}]")
    else:
        C.write_report("distributed", title, body, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
