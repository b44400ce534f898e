"""Run every benchmark script ``benchmarks/bench_*.py``, one after the other.

Each script runs in its own interpreter (so BLAS/torch thread settings and numba caches do
not leak between them) and writes its own table to ``benchmarks/results/``. ``--quick`` is
passed through to every script (a smoke run: small problems, < 1 minute each once numba's
cache is warm). Scripts are discovered, so a new ``bench_*.py`` is picked up without
editing this file.

Usage::

    python benchmarks/run_all.py --quick              # smoke check of every benchmark
    python benchmarks/run_all.py                      # the full benchmarks
    python benchmarks/run_all.py --only lasso cv      # scripts whose name contains a word
    python benchmarks/run_all.py --list

Exit status: 0 when every script succeeded, 1 otherwise (the failures are listed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover(only=None):
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if any(word in s.stem for word in only)]
    return scripts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script")
    ap.add_argument("--only", nargs="*", default=None,
                    help="run only the scripts whose name contains one of these words")
    ap.add_argument("--list", action="store_true", help="list the scripts and exit")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds allowed per script (default: no limit)")
    args = ap.parse_args(argv)

    scripts = discover(args.only)
    if args.list:
        print("\n".join(str(s.relative_to(HERE.parent)) for s in scripts))
        return 0
    if not scripts:
        print("no benchmark script matched", file=sys.stderr)
        return 1

    # the benchmark scripts import their helpers (_common) from this directory
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE)] + [p for p in [env.get("PYTHONPATH")] if p])
    summary = []
    t_all = time.perf_counter()
    for script in scripts:
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        print(f"\n===== {' '.join(['python', str(script.relative_to(HERE.parent))] + cmd[2:])}",
              flush=True)
        t0 = time.perf_counter()
        try:
            rc = subprocess.run(cmd, cwd=str(HERE.parent), env=env, timeout=args.timeout,
                                check=False).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        summary.append((script.name, rc, time.perf_counter() - t0))

    print("\n===== summary")
    for name, rc, dt in summary:
        print(f"  {'ok  ' if rc == 0 else 'FAIL'}  {name:<28s} {dt:7.1f} s"
              + ("" if rc == 0 else f"  (exit status {rc})"))
    print(f"  total {time.perf_counter() - t_all:.1f} s")
    failed = [name for name, rc, _ in summary if rc != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
