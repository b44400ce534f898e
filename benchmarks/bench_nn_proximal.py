"""Proximal vs penalty-in-the-loss L1 on the digits MLP (64-128-64-10), with Adam.

For each configuration and seed: train for ``--epochs`` epochs (batch 64, Adam lr 1e-3),
then measure on the kernels (the three Linear weights, 17,024 entries) the fraction of
exact zeros and of near zeros (|w| < 1e-3), test accuracy, dead hidden units (a hidden
unit whose incoming row or outgoing column is all zero) and the median epoch time.

Configurations: unregularized; ``loss``: ``CE + lambda * sum|w|`` through autograd (what
Keras' ``kernel_regularizer=l1(lambda)`` does); ``prox``: :class:`sparsefit.nn.Proximal`,
soft-thresholding with Adam's per-coordinate step after each step; ``orthant``: the same
for the first half of the epochs, then ``Proximal(mode="orthant")`` (OBProx-SG's orthant
steps: zeros stay zero, sign flips are set to zero).

Usage::

    python benchmarks/bench_nn_proximal.py            # 100 epochs, 3 seeds
    python benchmarks/bench_nn_proximal.py --quick    # 5 epochs, 1 seed, 2 strengths
    python benchmarks/bench_nn_proximal.py --out benchmarks/results/nn_proximal.md

Targets (DESIGN.md): proximal >= 90% exact zeros within 1 point of the unregularized
accuracy; penalty-in-the-loss 0% exact zeros; proximal epoch time within 10% of plain.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import sys
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sparsefit import nn as sfnn
from sparsefit.penalties import L1


def make_data(device="cpu"):
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    as_t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)
    return (as_t(sc.transform(Xtr), torch.float32), as_t(ytr, torch.long),
            as_t(sc.transform(Xte), torch.float32), as_t(yte, torch.long))


def make_model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10))


def kernels(model):
    return [m.weight for m in model if isinstance(m, torch.nn.Linear)]


def dead_hidden_units(model):
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    dead = 0
    for a, b in itertools.pairwise(lins):
        row_zero = (a.weight == 0).all(dim=1)
        col_zero = (b.weight == 0).all(dim=0)
        dead += int((row_zero | col_zero).sum())
    return dead


class Run:
    """One training run: model, optimizer, and an epoch at a time."""

    def __init__(self, kind, lam, seed, data, batch=64, lr=1e-3):
        self.kind, self.lam, self.data, self.batch = kind, lam, data, batch
        self.model = make_model(seed)
        adam = torch.optim.Adam(self.model.parameters(), lr=lr)
        if kind in ("prox", "orthant"):
            sfnn.regularize_model(self.model, L1(lam))
            self.opt = sfnn.Proximal(adam)
        else:
            self.opt = adam
        self.ws = kernels(self.model)
        self.crit = torch.nn.CrossEntropyLoss()
        self.gen = torch.Generator().manual_seed(1000 + seed)

    def epoch(self):
        """One epoch; returns its wall time and CPU time (the training loop only)."""
        Xtr, ytr = self.data[0], self.data[1]
        n = Xtr.shape[0]
        perm = torch.randperm(n, generator=self.gen)
        model, opt, crit, ws, lam = self.model, self.opt, self.crit, self.ws, self.lam
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n, self.batch):
            idx = perm[i:i + self.batch]
            opt.zero_grad(set_to_none=True)
            loss = crit(model(Xtr[idx]), ytr[idx])
            if self.kind == "loss":
                loss = loss + lam * sum(w.abs().sum() for w in ws)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0, time.process_time() - c0

    @torch.no_grad()
    def evaluate(self):
        Xte, yte = self.data[2], self.data[3]
        acc = float((self.model(Xte).argmax(1) == yte).float().mean())
        flat = torch.cat([w.reshape(-1) for w in self.ws])
        return {"acc": acc, "exact": float((flat == 0).float().mean()),
                "near": float((flat.abs() < 1e-3).float().mean()),
                "dead": dead_hidden_units(self.model)}


def train(kind, lam, seed, data, epochs):
    run = Run(kind, lam, seed, data)
    times = []
    for e in range(epochs):
        if kind == "orthant" and e == epochs // 2:
            run.opt.mode = "orthant"  # OBProx-SG: prox epochs, then orthant epochs
        times.append(run.epoch()[0])
    return dict(run.evaluate(), epoch_ms=1e3 * statistics.median(times))


def interleaved_timing(lam, data, epochs):
    """Epoch times of plain, loss and prox training run side by side, one epoch each in
    turn, so that a slow phase of a shared machine hits all three alike."""
    runs = {k: Run(k, lam, 0, data) for k in ("none", "loss", "prox")}
    times = {k: [] for k in runs}
    for _ in range(epochs):
        for k, run in runs.items():
            times[k].append(run.epoch())
    return {k: (1e3 * statistics.median(t[0] for t in v),
                1e3 * statistics.median(t[1] for t in v)) for k, v in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 epochs, 1 seed, 2 strengths")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--lams", type=float, nargs="+", default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    ap.add_argument("--timing-only", action="store_true",
                    help="only the interleaved epoch-time comparison")
    args = ap.parse_args(argv)
    epochs = args.epochs or (5 if args.quick else 100)
    seeds = args.seeds or (1 if args.quick else 3)
    lams = args.lams or ([1e-3, 3e-3] if args.quick else [1e-4, 3e-4, 1e-3, 3e-3, 1e-2])
    torch.set_num_threads(args.threads)
    header = (f"torch {torch.__version__}, torch.set_num_threads({torch.get_num_threads()}), "
              f"{platform.processor() or platform.machine()}, python "
              f"{platform.python_version()}; digits MLP 64-128-64-10, Adam lr 1e-3, batch 64, "
              f"{epochs} epochs, seeds {list(range(seeds))}")
    print(header, flush=True)
    data = make_data()
    lines = []
    names = {"none": "unregularized", "loss": "L1 in the loss (autograd)",
             "prox": "proximal L1 (sparsefit)",
             "orthant": "proximal, then orthant (OBProx-SG, 2nd half)"}
    rows = []
    if not args.timing_only:
        configs = [("none", 0.0)] + [(k, lam) for lam in lams
                                     for k in ("loss", "prox", "orthant")]
        # warm up (allocator, numba cache, CPU clocks) so the first configuration timed is
        # not penalized; then seed-major order, so slow phases of a shared machine spread
        # over every configuration instead of landing on one
        for kind in ("none", "loss", "prox"):
            train(kind, 1e-3, 0, data, 2)
        results = {c: [] for c in configs}
        for seed in range(seeds):
            for kind, lam in configs:
                r = train(kind, lam, seed, data, epochs)
                results[(kind, lam)].append(r)
                print(f"  seed {seed} {kind:5s} lambda={lam:g}: acc {r['acc']:.4f}, exact zeros "
                      f"{r['exact']:.4f}, {r['epoch_ms']:.1f} ms/epoch", flush=True)
        rows = []
        for kind, lam in configs:
            res = results[(kind, lam)]
            agg = {k: float(np.mean([r[k] for r in res])) for k in res[0]}
            agg["acc_sd"] = float(np.std([r["acc"] for r in res]))
            rows.append((kind, lam, agg))
        base = rows[0][2]
        lines = [
            ("| training | lambda | exact zeros | near zeros (<1e-3) | test accuracy | "
             "acc - unreg (pts) | dead hidden units (of 192) | epoch time (ms) | vs plain |"),
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for kind, lam, a in rows:
            lines.append(
                f"| {names[kind]} | {lam:g} | {100 * a['exact']:.1f}% | {100 * a['near']:.1f}% | "
                f"{100 * a['acc']:.2f}% ± {100 * a['acc_sd']:.2f} | "
                f"{100 * (a['acc'] - base['acc']):+.2f} | {a['dead']:.1f} | "
                f"{a['epoch_ms']:.1f} | {a['epoch_ms'] / base['epoch_ms']:.2f}x |")
    timing_epochs = 10 if args.quick else 60
    tm = interleaved_timing(1e-3, data, timing_epochs)
    if lines:
        lines += ["", ("Means over seeds (accuracy ± standard deviation); exact and near zeros "
                       "over the 17,024 kernel weights; epoch time: median over epochs of the "
                       "training loop (forward, backward, step), wall clock, mean over seeds."),
                  ""]
    lines += [(f"Epoch time, the three trainings interleaved epoch by epoch (lambda=1e-3, "
               f"{timing_epochs} epochs each, median). CPU time (process_time, one torch "
               "thread) is what the training itself costs on a shared machine; wall time also "
               "counts waiting for the cores:"), "",
              "| training | wall (ms) | vs plain | CPU (ms) | vs plain |",
              "|---|---|---|---|---|"]
    for k in ("none", "loss", "prox"):
        (w, c), (w0, c0) = tm[k], tm["none"]
        lines.append(f"| {names[k]} | {w:.2f} | {w / w0:.3f}x | {c:.2f} | {c / c0:.3f}x |")
    table = "\n".join(lines)
    print()
    print(table)
    if args.out:
        cmd = " ".join(["python", "benchmarks/bench_nn_proximal.py", *sys.argv[1:]])
        with open(args.out, "w") as fh:
            fh.write(f"# Proximal vs penalty-in-the-loss L1, digits MLP\n\n`{cmd}`\n\n"
                     f"{header}\n\n{table}\n")
    return rows


if __name__ == "__main__":
    main()
