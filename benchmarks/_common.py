"""Shared pieces of the solver benchmarks: thread control, problems, the tol-tuning rule,
timing, and the markdown table.

The rule every benchmark follows (DESIGN.md, "Numbers we hold ourselves to"):

1. BLAS is limited to one thread for every solver (threadpoolctl), and the limit is printed.
2. For every solver, its own ``tol`` is tuned *outside the timed runs*: start from a
   tolerance and divide by 10 until the common relative duality gap
   (:func:`sparsefit.solvers.dual_gap` on the solver's output, ``gap / P(0)``) is at most
   the target (1e-6). A solver that cannot reach it is reported as such (and is not used as
   the "fastest peer").
3. Time the median of 3 fits at that tol; the tuning fit doubles as numba's warm-up, and
   numba's compile time is measured separately (and excluded from the timings).
"""

from __future__ import annotations

import os

# Before numpy is imported anywhere: one BLAS/OpenMP thread. threadpoolctl enforces it again
# below (and reports it); the environment covers libraries loaded later. The numba kernels of
# sparsefit are serial (no parallel=True / prange), so NUMBA_NUM_THREADS plays no role.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import datetime
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_info, threadpool_limits

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TARGET_GAP = 1e-6
N_REPEATS = 3

_LIMITER = None


def limit_threads(n=1):
    """Limit BLAS and OpenMP to ``n`` threads for the rest of the process; return the line
    to print (the threadpoolctl info after limiting)."""
    global _LIMITER
    # importing the solvers first loads every BLAS/OpenMP runtime they use, so that the
    # limit applies to all of them
    import sklearn.linear_model  # noqa: F401
    try:
        import celer  # noqa: F401
        import skglm  # noqa: F401
    except ImportError:
        pass
    _LIMITER = threadpool_limits(limits=n)
    return threads_line()


def threads_line():
    parts = []
    for info in threadpool_info():
        lib = os.path.basename(info.get("filepath", "?"))
        parts.append(f"{info['internal_api']} {info.get('version') or ''} "
                     f"({lib}): {info['num_threads']} thread(s)".replace("  ", " "))
    return "threadpoolctl: " + "; ".join(parts)


def machine_load():
    """``uptime`` and the busiest other processes, to say whether the machine was loaded."""
    try:
        up = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5,
                            check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # uptime missing
        up = "uptime unavailable"
    busy = []
    try:
        out = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"], capture_output=True,
                             text=True, timeout=5, check=False).stdout.splitlines()[1:]
        me = os.getpid()
        for line in out:
            pid, pcpu, *args = line.split(None, 2)
            if int(pid) == me or float(pcpu) < 20.0:
                continue
            cmd = args[0] if args else ""
            if cmd.startswith("ps ") or "run_all.py" in cmd:
                continue
            busy.append(f"{pcpu}% {cmd[:100]}")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        busy.append(f"(ps failed: {exc!r})")
    return up, busy[:5]


def load_note(before, after):
    """A sentence on the machine load, from ``machine_load()`` before and after the run."""
    ncpu = os.cpu_count()
    lines = [(f"- Machine: {platform.processor() or platform.machine()}, {ncpu} cores, "
             f"Python {platform.python_version()}.")]
    lines.append(f"- Load before: `{before[0]}`; after: `{after[0]}`.")
    others = sorted({o.split("% ", 1)[-1] for o in before[1] + after[1]})
    if others:
        lines.append("- **Loaded machine**: other heavy processes were running during this "
                     "benchmark (shared 2-core machine), so absolute times are inflated and "
                     "noisier; ratios measured in the same run are more meaningful: "
                     + "; ".join(f"`{o}`" for o in others) + ".")
    else:
        lines.append("- No other heavy process was seen at the start or the end of the run.")
    return "\n".join(lines)


def source_fingerprint():
    """Short sha256 of sparsefit's solver sources (solvers/, datafits/, penalties/,
    linear_model/) and the time of their latest change: the solver is tuned while the
    benchmarks run, so a table says which code it measured."""
    import hashlib

    import sparsefit

    root = Path(sparsefit.__file__).resolve().parent
    files = sorted(f for d in ("solvers", "datafits", "penalties", "linear_model")
                   for f in (root / d).glob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    latest = max((f.stat().st_mtime for f in files), default=0.0)
    stamp = datetime.datetime.fromtimestamp(latest, datetime.timezone.utc).strftime("%H:%M:%S")
    return f"{h.hexdigest()[:12]} (latest change {stamp} UTC)"


def source_note(before, after):
    if before == after:
        return f"- sparsefit sources (solvers, datafits, penalties, linear_model): {before}."
    return (f"- **sparsefit sources changed during this run** (the solver is being tuned): "
            f"{before} at the start, {after} at the end; rows may mix the two versions.")


def versions():
    import numba
    import scipy
    import sklearn

    out = [f"numpy {np.__version__}", f"scipy {scipy.__version__}",
           f"scikit-learn {sklearn.__version__}", f"numba {numba.__version__}"]
    for mod in ("skglm", "celer"):
        try:
            out.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            out.append(f"{mod} not installed")
    return ", ".join(out)


# --------------------------------------------------------------------------- problems
def toeplitz_design(n, p, rho, rng):
    """``X`` with rows ~ N(0, Sigma), ``Sigma_jk = rho^|j-k|``, by the AR(1) recursion over
    columns ``X_j = rho X_{j-1} + sqrt(1 - rho^2) Z_j`` (no p x p Cholesky). Fortran order."""
    X = np.empty((n, p), order="F")
    X[:, 0] = rng.standard_normal(n)
    s = np.sqrt(1.0 - rho * rho)
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + s * rng.standard_normal(n)
    return X


def sparse_signal(p, k, rng):
    """``k`` non-zeros at random positions, values +-(1 + |N(0, 1)|)."""
    w = np.zeros(p)
    idx = rng.choice(p, size=k, replace=False)
    w[idx] = rng.choice([-1.0, 1.0], size=k) * (1.0 + np.abs(rng.standard_normal(k)))
    return w


def add_noise(signal, snr, rng):
    """``signal + noise`` with ``||signal|| / ||noise|| = snr`` (skglm/celer's convention)."""
    noise = rng.standard_normal(signal.shape[0])
    return signal + noise * (np.linalg.norm(signal) / (snr * np.linalg.norm(noise)))


@dataclass
class Problem:
    name: str
    X: object
    y: np.ndarray
    w_true: np.ndarray
    note: str = ""


def dense_regression(n=1000, p=5000, rho=0.5, k=50, snr=3.0, seed=0):
    rng = np.random.default_rng(seed)
    X = toeplitz_design(n, p, rho, rng)
    w = sparse_signal(p, k, rng)
    y = add_noise(X @ w, snr, rng)
    return Problem(f"dense {n}x{p} Toeplitz {rho}", X, y, w,
                   f"k={k} non-zeros, SNR {snr}, seed {seed}")


def sparse_regression(n=2000, p=20000, density=0.01, k=50, snr=3.0, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, format="csc", random_state=seed,
                  data_rvs=np.random.default_rng(seed + 1).standard_normal)
    X.sort_indices()
    w = sparse_signal(p, k, rng)
    y = add_noise(X @ w, snr, rng)
    return Problem(f"sparse CSC {n}x{p} {density:.0%}", X, y, w,
                   f"k={k} non-zeros, SNR {snr}, seed {seed}")


def logistic_problem(n=500, p=5000, rho=0.5, k=50, snr=3.0, seed=0):
    """Labels in {-1, +1}: ``sign(X w + noise)``."""
    rng = np.random.default_rng(seed)
    X = toeplitz_design(n, p, rho, rng)
    w = sparse_signal(p, k, rng)
    y = np.where(add_noise(X @ w, snr, rng) >= 0, 1.0, -1.0)
    return Problem(f"logistic {n}x{p} Toeplitz {rho}", X, y, w,
                   f"k={k} non-zeros, labels sign(Xw + noise), SNR {snr}, seed {seed}")


# --------------------------------------------------------------------------- timing
@dataclass
class Result:
    problem: str
    ratio_label: str  # e.g. "1/10"
    solver: str
    is_ours: bool
    tol: float = float("nan")
    time: float = float("nan")
    times: list = field(default_factory=list)
    gap: float = float("nan")
    nnz: int = -1
    reached: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def tune_and_time(fit, gap_of, *, tol0, min_tol=1e-14, target=TARGET_GAP,
                  repeats=N_REPEATS, log=print, label="", max_seconds=None):
    """Divide ``tol`` by 10 from ``tol0`` until ``gap_of(fit(tol)) <= target`` (untimed),
    then time ``repeats`` fits at that tol.

    ``fit(tol)`` returns the solution object passed to ``gap_of``; returns
    ``(tol, times, gap, solution, reached, tuning_log)``. When the target is never reached
    (down to ``min_tol``, or a single fit exceeds ``max_seconds``), the tol with the smallest
    gap is timed and ``reached`` is False.
    """
    tol = tol0
    best = None
    tried = []
    while True:
        t0 = time.perf_counter()
        sol = quiet(fit, tol)
        dt = time.perf_counter() - t0
        gap = float(gap_of(sol))
        tried.append((tol, gap, dt))
        log(f"    tune {label}: tol={tol:.0e} -> gap={gap:.2e} ({dt:.2f} s)")
        if best is None or gap < best[1]:
            best = (tol, gap)
        if gap <= target:
            reached = True
            break
        if tol / 10 < min_tol * (1 - 1e-9) or (max_seconds and dt > max_seconds):
            reached = False
            tol = best[0]
            break
        tol /= 10
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sol = quiet(fit, tol)
        times.append(time.perf_counter() - t0)
    gap = float(gap_of(sol))
    return tol, times, gap, sol, reached and gap <= target, tried


def numba_compile_time(snippet, timeout=600):
    """Cold JIT time of sparsefit: run ``snippet`` (which must print the seconds of its first
    fit) in a fresh interpreter with an empty NUMBA_CACHE_DIR, so nothing is loaded from the
    on-disk cache. Returns the seconds, or None on failure."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
        try:
            out = subprocess.run([sys.executable, "-c", snippet], capture_output=True,
                                 text=True, env=env, timeout=timeout, cwd=str(HERE), check=True)
            return float(out.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
            # report, do not fail the benchmark
            print(f"    (cold compile measurement failed: {exc!r})")
            return None


# --------------------------------------------------------------------------- output
def fmt_time(t):
    """Three significant digits (a 4 ms fit must not read as 0.004 s)."""
    if not np.isfinite(t):
        return "n/a"
    return f"{t:.3g}" if t < 10 else f"{t:.1f}"


def fmt_ratio(x):
    """Three decimals below 1 (so 0.504x never reads as a pass of the 0.5x target)."""
    return f"{x:.3f}x" if x < 1 else f"{x:.2f}x"


def finish_ratios(results, target_ratio, target_gap=TARGET_GAP):
    """Fill ``extra['ratio']`` (time / fastest peer that reached the gap) and
    ``extra['status']`` for every row, per (problem, alpha ratio)."""
    groups = {}
    for r in results:
        groups.setdefault((r.problem, r.ratio_label), []).append(r)
    for rows in groups.values():
        peers = [r for r in rows if not r.is_ours and r.reached]
        fastest = min((r.time for r in peers), default=float("nan"))
        for r in rows:
            r.extra["ratio"] = r.time / fastest if np.isfinite(fastest) else float("nan")
            if r.is_ours:
                if not r.reached:
                    r.extra["status"] = "MISS (gap not reached)"
                elif not np.isfinite(fastest):
                    r.extra["status"] = "n/a (no peer reached the gap)"
                else:
                    ok = r.extra["ratio"] <= target_ratio
                    r.extra["status"] = (f"{'PASS' if ok else 'MISS'} "
                                         f"(target <= {target_ratio:g}x)")
            else:
                r.extra["status"] = "" if r.reached else f"did not reach {target_gap:g}"


def table(results):
    head = ("| problem | alpha ratio | solver | time (s, median of 3) | ratio vs fastest peer "
            "| achieved rel. gap | nnz | tol used | target |")
    sep = "|" + "---|" * 9
    lines = [head, sep]
    for r in results:
        ratio = r.extra.get("ratio", float("nan"))
        lines.append(
            f"| {r.problem} | {r.ratio_label} | {'**' + r.solver + '**' if r.is_ours else r.solver}"
            f" | {fmt_time(r.time)} | {fmt_ratio(ratio)} | {r.gap:.1e}{'' if r.reached else ' (!)'}"
            f" | {r.nnz} | {r.tol:.0e} | {r.extra.get('status', '')} |"
            if np.isfinite(ratio) else
            f"| {r.problem} | {r.ratio_label} | {r.solver} | {fmt_time(r.time)} | n/a "
            f"| {r.gap:.1e}{'' if r.reached else ' (!)'} | {r.nnz} | {r.tol:.0e} "
            f"| {r.extra.get('status', '')} |")
    return "\n".join(lines)


def write_report(name, title, body, quick):
    """Print ``body`` and write it to ``results/<name>.md`` (``<name>.quick.md`` in quick
    mode, so a smoke run never overwrites the real numbers)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / (f"{name}.quick.md" if quick else f"{name}.md")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"# {title}\n\n_Generated {stamp}{' (--quick smoke run)' if quick else ''}._\n\n{body}\n"
    path.write_text(text)
    print(text)
    print(f"[written to {path.relative_to(HERE.parent)}]")
    return path


@dataclass
class Solver:
    """One competitor: ``make(X, y, alpha)`` returns ``fit(tol) -> (coef, intercept)``."""
    name: str
    make: object
    tol0: float = 1e-5
    is_ours: bool = False


def run_grid(problems, ratios, solvers, make_gap, alpha_max_of, *, repeats=N_REPEATS,
             log=print, max_seconds=None):
    """Every (problem, alpha_max / ratio, solver): tune tol, time, check the common gap.

    ``make_gap(problem, alpha)`` returns ``gap(coef, intercept)``; ``alpha_max_of(problem)``
    the problem's alpha_max."""
    results = []
    for prob in problems:
        amax = alpha_max_of(prob)
        log(f"{prob.name}: alpha_max = {amax:.4g} ({prob.note})")
        for ratio in ratios:
            alpha = amax / ratio
            gap_fn = make_gap(prob, alpha)
            for s in solvers:
                fit = s.make(prob.X, prob.y, alpha)
                log(f"  {s.name} at alpha_max/{ratio:g}")
                try:
                    tol, times, gap, sol, reached, _ = tune_and_time(
                        fit, lambda cb, g=gap_fn: g(*cb), tol0=s.tol0, repeats=repeats, log=log,
                        label=s.name, max_seconds=max_seconds)
                except Exception as exc:  # noqa: BLE001 - a peer that crashes is reported
                    log(f"    FAILED: {exc!r}")
                    results.append(Result(prob.name, f"1/{ratio:g}", s.name, s.is_ours,
                                          note=f"failed: {exc!r}"))
                    continue
                coef = np.asarray(sol[0]).ravel()
                r = Result(prob.name, f"1/{ratio:g}", s.name, s.is_ours, tol=tol,
                           time=statistics.median(times), times=times, gap=gap,
                           nnz=int(np.count_nonzero(coef)), reached=reached)
                log(f"    -> tol {tol:.0e}, times {', '.join(f'{t:.3f}' for t in times)} s, "
                    f"gap {gap:.2e}, nnz {r.nnz}{'' if reached else '  (gap NOT reached)'}")
                results.append(r)
    return results


def command_line():
    rel = os.path.relpath(sys.argv[0], HERE.parent)
    return " ".join(["python", rel] + sys.argv[1:])
