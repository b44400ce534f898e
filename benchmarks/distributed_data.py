"""Deterministic, chunked datasets for the distributed benchmark, and their readers.

Three datasets (issue 16), written file by file so that no step holds more than one file
in memory, into ``--data-dir`` (default: ``$SPARSEFIT_BENCH_DATA``), never into the repo:

============  ===================  ==========================================  ==========
name          shape (scale 1)      format                                      size
============  ===================  ==========================================  ==========
``tall``      10^7 x 100 dense     Parquet, one file per 125 000 rows           8.1 GB
``ooc``       1.5*10^6 x 1000      Parquet, one file per 12 500 rows            12.0 GB
``sparse``    10^6 x 10^5, 1e-4    libsvm text shards, one per 100 000 rows     ~0.2 GB
============  ===================  ==========================================  ==========

``ooc`` is the out-of-core set: 12 GB is 3x the total ``memory_limit`` of the benchmark's
default cluster (2 workers of 2 GB). It stands for the issue's "10^6 x 1000": at exactly
10^6 rows it would be 8 GB, only 2x that limit.

**Dense (Parquet).** Columns ``x0000 ... x{p-1}`` (float64), ``y`` (float64, regression
target) and ``label`` (int8, 0/1 classification target); uncompressed (random doubles do
not compress), one row group per 25 000 rows (at most). Rows are Gaussian with Toeplitz
correlation ``rho^|j - k|`` (AR(1) over the columns), ``y = X w + sigma e`` and
``label = 1[X w + sigma e' > 0]``, ``w`` with ``k`` non-zeros ``+-(1 + |N(0, 1)|)``,
``sigma = sqrt(w' Sigma w) / snr`` (the population signal-to-noise ratio).

**Sparse (libsvm).** One text file per shard, ``y idx:val ...`` per row with **1-based**
column indices, as Spark's ``libsvm`` source and scikit-learn's
``load_svmlight_file(f, n_features=p, zero_based=False)`` read it (always pass both: the
file alone cannot tell the number of columns or the base). Entries are N(0, 1) at
positions drawn uniformly (duplicates merged), ``y = X w + sigma e``. Regression only.

**Determinism.** File ``i`` is drawn from ``numpy.random.default_rng([seed, i])``: the same
bytes whatever the order, the number of processes or the machine. ``w`` comes from
``default_rng([seed, 999_999])``. ``meta.json`` in each dataset's folder records the spec,
the files with their row counts, the sizes, and ``w_true``; a dataset whose ``meta.json``
matches the asked spec is not rewritten.

``--scale s`` multiplies the number of rows (the columns stay); ``--quick`` writes tiny
versions (seconds) for smoke runs.

Usage::

    python benchmarks/distributed_data.py --data-dir /data/sfbench            # all three
    python benchmarks/distributed_data.py --data-dir /tmp/sfq --quick
    python benchmarks/distributed_data.py --data-dir /data/sfbench --datasets tall --scale 0.1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_DATA = "SPARSEFIT_BENCH_DATA"
W_STREAM = 999_999  # the rng stream of w_true (files use 0, 1, 2, ...)


@dataclass(frozen=True)
class Spec:
    """What one dataset holds; ``n`` is the number of rows at scale 1."""

    name: str
    kind: str  # "dense" (Parquet) or "sparse" (libsvm)
    n: int
    p: int
    rows_per_file: int
    k: int  # non-zeros of w_true
    snr: float = 3.0
    rho: float = 0.5  # dense: Toeplitz correlation
    density: float = 1.0  # sparse: fraction of non-zero entries
    seed: int = 0

    def scaled(self, scale):
        n = max(int(round(self.n * scale)), 2)
        return dataclasses.replace(self, n=n, rows_per_file=min(self.rows_per_file, n))

    def nbytes_estimate(self):
        if self.kind == "dense":
            return self.n * (self.p + 1) * 8 + self.n
        return int(self.n * self.p * self.density * 20 + self.n * 20)  # text: ~20 B/entry


FULL = {
    "tall": Spec("tall", "dense", n=10_000_000, p=100, rows_per_file=125_000, k=10),
    "ooc": Spec("ooc", "dense", n=1_500_000, p=1000, rows_per_file=12_500, k=50),
    "sparse": Spec("sparse", "sparse", n=1_000_000, p=100_000, rows_per_file=100_000, k=100,
                   density=1e-4),
}
QUICK = {
    "tall": Spec("tall", "dense", n=20_000, p=20, rows_per_file=5_000, k=5),
    "ooc": Spec("ooc", "dense", n=6_000, p=50, rows_per_file=1_000, k=8),
    "sparse": Spec("sparse", "sparse", n=5_000, p=2_000, rows_per_file=1_000, k=20,
                   density=2e-3),
}
ROW_GROUP = 25_000


def specs(quick=False, scale=1.0, names=None):
    """The specs to generate/run, in a fixed order."""
    table = QUICK if quick else FULL
    names = list(table) if not names else names
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; choose from {list(table)}")
    return [table[n] if quick else table[n].scaled(scale) for n in names]


def data_dir(arg=None):
    """``arg``, else ``$SPARSEFIT_BENCH_DATA``; refuses a folder inside the repository."""
    d = arg or os.environ.get(ENV_DATA)
    if not d:
        raise SystemExit(f"give --data-dir or set {ENV_DATA} (the datasets are not kept in "
                         "the repository)")
    d = Path(d).resolve()
    repo = Path(__file__).resolve().parents[1]
    if d == repo or repo in d.parents:
        raise SystemExit(f"--data-dir {d} is inside the repository {repo}: choose another")
    return d


# --------------------------------------------------------------------------- generation
def true_coef(spec):
    """``w_true``: ``k`` non-zeros at random positions, values ``+-(1 + |N(0, 1)|)``."""
    rng = np.random.default_rng([spec.seed, W_STREAM])
    w = np.zeros(spec.p)
    idx = rng.choice(spec.p, size=spec.k, replace=False)
    w[idx] = rng.choice([-1.0, 1.0], size=spec.k) * (1.0 + np.abs(rng.standard_normal(spec.k)))
    return w


def noise_scale(spec, w):
    """``sqrt(w' Sigma w) / snr`` with the population covariance of a row."""
    s = np.flatnonzero(w)
    if spec.kind == "dense":
        sigma = spec.rho ** np.abs(s[:, None] - s[None, :])
        signal_var = float(w[s] @ sigma @ w[s])
    else:
        signal_var = spec.density * float(w @ w)
    return np.sqrt(signal_var) / spec.snr


def dense_block(spec, i, rows, w, sigma):
    """File ``i``: ``(X, y, label)``, ``X`` Fortran-ordered (contiguous columns)."""
    rng = np.random.default_rng([spec.seed, i])
    X = np.empty((rows, spec.p), order="F")
    X[:, 0] = rng.standard_normal(rows)
    c = np.sqrt(1.0 - spec.rho ** 2)
    for j in range(1, spec.p):
        X[:, j] = spec.rho * X[:, j - 1] + c * rng.standard_normal(rows)
    signal = X @ w
    y = signal + sigma * rng.standard_normal(rows)
    label = (signal + sigma * rng.standard_normal(rows) > 0).astype(np.int8)
    return X, y, label


def sparse_block(spec, i, rows, w, sigma):
    """Shard ``i``: ``(X csr, y)``."""
    import scipy.sparse as sp

    rng = np.random.default_rng([spec.seed, i])
    total = rng.binomial(rows * spec.p, spec.density)
    flat = np.unique(rng.integers(0, rows * spec.p, size=total, dtype=np.int64))
    r, c = np.divmod(flat, spec.p)
    vals = rng.standard_normal(flat.size)
    X = sp.csr_matrix((vals, (r, c)), shape=(rows, spec.p))
    y = X @ w + sigma * rng.standard_normal(rows)
    return X, y


def column_names(p):
    return [f"x{j:04d}" for j in range(p)]


def _write_parquet(path, X, y, label):
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = [pa.array(X[:, j]) for j in range(X.shape[1])] + [pa.array(y), pa.array(label)]
    table = pa.Table.from_arrays(arrays, names=column_names(X.shape[1]) + ["y", "label"])
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="none", row_group_size=ROW_GROUP)
    os.replace(tmp, path)


def _write_libsvm(path, X, y):
    from sklearn.datasets import dump_svmlight_file

    tmp = path.with_suffix(".tmp")
    dump_svmlight_file(X, y, str(tmp), zero_based=False)
    os.replace(tmp, path)


def generate(spec, root, *, force=False, log=print):
    """Write ``spec`` into ``root/<name>/`` (skipped when ``meta.json`` matches); return
    the metadata dict."""
    out = Path(root) / spec.name
    meta_path = out / "meta.json"
    spec_dict = dataclasses.asdict(spec)
    if meta_path.exists() and not force:
        meta = json.loads(meta_path.read_text())
        if meta.get("spec") == spec_dict and all((out / f).exists() for f in meta["files"]):
            log(f"{spec.name}: up to date in {out} ({meta['nbytes'] / 1e9:.2f} GB)")
            return meta
    out.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)  # incomplete until the end
    w = true_coef(spec)
    sigma = noise_scale(spec, w)
    n_files = -(-spec.n // spec.rows_per_file)
    files, rows = [], []
    ext = "parquet" if spec.kind == "dense" else "libsvm"
    t0 = time.perf_counter()
    for i in range(n_files):
        m = min(spec.rows_per_file, spec.n - i * spec.rows_per_file)
        path = out / f"part-{i:05d}.{ext}"
        if spec.kind == "dense":
            _write_parquet(path, *dense_block(spec, i, m, w, sigma))
        else:
            _write_libsvm(path, *sparse_block(spec, i, m, w, sigma))
        files.append(path.name)
        rows.append(m)
        if (i + 1) % max(1, n_files // 10) == 0 or i + 1 == n_files:
            log(f"{spec.name}: {i + 1}/{n_files} files ({time.perf_counter() - t0:.0f} s)")
    meta = {"spec": spec_dict, "name": spec.name, "kind": spec.kind, "n": spec.n, "p": spec.p,
            "format": "parquet" if spec.kind == "dense" else "libsvm (1-based indices)",
            "files": files, "rows": rows, "nbytes": sum((out / f).stat().st_size for f in files),
            "noise_sigma": sigma, "w_true": w.tolist(),
            "targets": ["y", "label"] if spec.kind == "dense" else ["y"]}
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, meta_path)
    return meta


# --------------------------------------------------------------------------- readers
def load_meta(root, name):
    path = Path(root) / name / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"no dataset {name!r} in {root} (run "
                                "benchmarks/distributed_data.py first)")
    meta = json.loads(path.read_text())
    meta["dir"] = str(path.parent)
    return meta


def read_file(meta, i, target="y"):
    """File ``i`` of a dataset: ``(X, t)`` with ``X`` a Fortran float64 array (dense) or a
    CSR matrix (sparse), ``t`` the float64 target (``y``, or ``label`` as 0/1)."""
    path = os.path.join(meta["dir"], meta["files"][i])
    if meta["kind"] == "dense":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        p = meta["p"]
        X = np.empty((meta["rows"][i], p), order="F")
        for j, name in enumerate(column_names(p)):
            X[:, j] = table.column(name).to_numpy()
        return X, table.column(target).to_numpy().astype(np.float64)
    if target != "y":
        raise ValueError(f"the sparse dataset has no {target!r} target")
    from sklearn.datasets import load_svmlight_file

    X, y = load_svmlight_file(path, n_features=meta["p"], zero_based=False)
    return X, y


def iter_chunks(meta, target="y"):
    """``(X, t)`` file by file (see :func:`read_file`): one pass, one file in memory."""
    for i in range(len(meta["files"])):
        yield read_file(meta, i, target)


def _log_read(meta, i):
    """Append ``i`` to the pass log (one line per file read, from any process)."""
    log = meta.get("log")
    if log:
        with open(log, "a") as fh:  # O_APPEND: short lines from several processes interleave
            fh.write(f"{i}\n")


def _load_x(meta, i):
    _log_read(meta, i)
    return read_file(meta, i)[0]


def _load_t(meta, i, target):
    return read_file(meta, i, target)[1]


def passes_read(log, n_files):
    """Passes over the files recorded in a pass log: ``X`` file reads / number of files."""
    try:
        with open(log) as fh:
            return sum(1 for _ in fh) / n_files
    except FileNotFoundError:
        return 0.0


def dask_arrays(meta, target="y", pass_log=None):
    """``(X, t)`` as dask arrays, one chunk per file, the chunk sizes known from
    ``meta.json`` (no pass over the data to learn them). Sparse chunks are CSR matrices.

    With ``pass_log``, every read of an ``X`` file (in whichever worker) appends a line to
    that file: :func:`passes_read` turns it into the number of passes over the data."""
    import dask
    import dask.array as da

    slim = {k: meta[k] for k in ("dir", "files", "rows", "p", "kind")}
    slim["log"] = pass_log
    if meta["kind"] == "dense":
        x_meta = np.empty((0, 0))
    else:
        import scipy.sparse as sp

        x_meta = sp.csr_matrix((0, 0))
    xs, ts = [], []
    for i, m in enumerate(meta["rows"]):
        x = dask.delayed(_load_x, pure=True, name=f"load-x-{meta['name']}-{i}")(slim, i)
        t = dask.delayed(_load_t, pure=True, name=f"load-t-{meta['name']}-{target}-{i}")(
            slim, i, target)
        xs.append(da.from_delayed(x, shape=(m, meta["p"]), dtype=np.float64, meta=x_meta))
        ts.append(da.from_delayed(t, shape=(m,), dtype=np.float64))
    return da.concatenate(xs, axis=0), da.concatenate(ts)


def dask_frame(meta):
    """The dense dataset as ``dask.dataframe.read_parquet`` sees it (for the CLI path)."""
    import dask.dataframe as dd

    if meta["kind"] != "dense":
        raise ValueError("only the dense datasets are Parquet")
    return dd.read_parquet([os.path.join(meta["dir"], f) for f in meta["files"]])


# --------------------------------------------------------------------------- CLI
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help=f"where to write (default ${ENV_DATA})")
    ap.add_argument("--datasets", nargs="*", default=None,
                    help=f"subset of {list(FULL)} (default: all)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the number of rows")
    ap.add_argument("--quick", action="store_true", help="tiny datasets for smoke runs")
    ap.add_argument("--force", action="store_true", help="rewrite even when up to date")
    args = ap.parse_args(argv)
    root = data_dir(args.data_dir) / ("quick" if args.quick else "full")
    todo = specs(args.quick, args.scale, args.datasets)
    need = sum(s.nbytes_estimate() for s in todo)
    root.mkdir(parents=True, exist_ok=True)
    free = os.statvfs(root).f_bavail * os.statvfs(root).f_frsize
    print(f"writing {', '.join(s.name for s in todo)} into {root}: about {need / 1e9:.1f} GB "
          f"({free / 1e9:.0f} GB free)")
    if need > free:
        print("not enough free disk space", file=sys.stderr)
        return 1
    for s in todo:
        generate(s, root, force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
