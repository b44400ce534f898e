"""The ``sparsefit`` command (also ``python -m sparsefit``)."""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _fmt(a):
    return np.array2string(np.asarray(a), precision=4, suppress_small=False,
                           floatmode="maxprec", max_line_width=200)


def cmd_demo(args, out=sys.stdout):
    """The main job: what L1 does, on real numbers."""
    from .experiments import first_look as fl

    p = lambda *a: print(*a, file=out)  # noqa: E731
    p("sparsefit demo: is it really L1?\n")

    k = fl.keras_dense_check()
    p("1. The Keras check")
    p(f"   Dense(2, use_bias=False), kernel = ones(3, 2), kernel_regularizer=L1(l1={k['l1']})")
    p(f"   penalty = l1 * sum|w| = {k['l1']} * {int(np.abs(k['kernel']).sum())} = "
      f"{k['penalty']!r}")
    p("")

    s = fl.prox_vs_subgradient()
    p(f"2. One step on the L1 penalty (l1={s['l1']}, lr={s['lr']}), from the same weights")
    p(f"   weights             {_fmt(s['w'])}")
    p(f"   subgradient step    {_fmt(s['subgradient'])}   exact zeros: "
      f"{s['zeros_subgradient']}/{s['w'].size}")
    p(f"   proximal step       {_fmt(s['proximal'])}   exact zeros: "
      f"{s['zeros_proximal']}/{s['w'].size}")
    p("   The subgradient step (penalty in the loss: what Keras and plain PyTorch do) jumps")
    p("   over zero; the proximal step (soft-thresholding) lands on it.")
    p("")

    v, rows = fl.penalty_family_table()
    p(f"3. The prox of each penalty family at v = {_fmt(v)}, step 1")
    width = max(len(repr(r[1])) for r in rows)
    for name, pen, z, val, zeros in rows:
        p(f"   {repr(pen):<{width}}  prox = {_fmt(z):<52} zeros: {zeros}  pen(v) = {val:.4g}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sparsefit",
        description="L1 regularization that does what the textbook says: exact zeros, "
                    "from the Lasso to deep networks.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"sparsefit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="the main job: what L1 does and does not do, on "
                                       "embedded data",
                          description="Show, on real numbers, that an exact proximal step "
                                      "gives exact zeros and a penalty in the loss does not.")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
