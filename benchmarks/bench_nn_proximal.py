"""Proximal vs penalty-in-the-loss L1 on the digits MLP (64-128-64-10): the headline grid.

Settings: inputs ``X/16`` (pixels in [0, 1]) and standardized; optimizers Adam (lr 1e-3)
and SGD (lr 0.1, momentum 0.9); batch 64; ``--epochs`` epochs (100); seeds 0, 1, 2; a grid
of strengths ``lambda``. For each setting, seed and strength, the methods (all with
``L1(lambda)`` on the three kernels, biases free):

- ``loss``: ``CE + lambda * sum|w|`` through autograd (what Keras'
  ``kernel_regularizer=l1(lambda)`` does), ``Proximal(mode="loss")``;
- ``prox``: :class:`sparsefit.nn.Proximal` (prox in the optimizer's metric, bounded
  denominators), all epochs;
- ``loss+prox``: ``Proximal(subgradient_steps=0.9 * steps)``: the penalty in the loss
  for 90% of the steps, proximal steps for the last 10%;
- ``prox+orthant``: prox for the first half, then OBProx-SG orthant steps
  (``opt.mode = "orthant"``: zeros stay zero, sign flips are set to zero);
- ``prox+refit``: prox for the first half, then orthant steps without the penalty
  (``penalty_scale = 0``): the zeros are kept and the other weights are fitted again
  (the relaxed lasso: the shrinkage bias is removed);
- ``ramp+prox+orthant``: as ``prox+orthant``, but the strength rises linearly from 0 to
  lambda over the first 40% of the steps (``Proximal(..., warmup_steps=...)``), so the
  proximal steps do not zero weights and whole units while the
  network is still learning (with inputs X/16 and Adam, ``prox`` kills about 45 hidden
  units in the first 5 epochs at lambda=1.5e-3, when test accuracy is 74%, and they do
  not come back); the problem solved at the end is the same;
- not in the default run (``--methods``): ``loss+prox+refit`` (the penalty in the loss for
  50% of the steps, proximal steps for 30%, refit for 20%), ``target``
  (``Proximal(target_sparsity=0.9)``, lambda the starting strength),
  ``prox+orthant+refit`` (proximal 50%, orthant 30%, refit 20%) and
  ``ramp+prox+orthant+refit`` (the same after the ramp).

Reported per configuration (means over seeds): the training objective ``CE + lambda *
||W||_1`` on the whole training set at the end (the problem ``loss`` and ``prox`` both
solve; the refit optimizes another one and is reported for its zeros and accuracy),
exact zeros in the 17,024 kernel weights, test accuracy and its difference to the
unregularized network, dead hidden units (of 192).

Two checks are printed: at each strength, is the proximal objective at most the
penalty-in-the-loss one (DESIGN.md); and per setting, the sparsest configuration within
1 point of the unregularized accuracy (target: at least 90% exact zeros).

Usage::

    python benchmarks/bench_nn_proximal.py                 # full grid, 100 epochs, 3 seeds
    python benchmarks/bench_nn_proximal.py --quick         # 3 epochs, 1 seed, 1 strength
    python benchmarks/bench_nn_proximal.py --jobs 2        # two processes
    python benchmarks/bench_nn_proximal.py --timing        # also the epoch-time comparison
    python benchmarks/bench_nn_proximal.py --out benchmarks/results/nn_proximal.md

The accuracy grid measures zeros and accuracy, not time, and may run on a shared
machine. ``--timing`` (interleaved epoch times of plain, penalty-in-the-loss and proximal
training) needs a quiet one. Full grid: 4 settings x (1 + 5 strengths x 6 methods) x 3
seeds = 372 runs of 100 epochs, 2-6 s each on one core: 15 to 35 minutes with one
process. ``--note`` adds a line (the date, the load) to the saved header.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import platform
import shlex
import statistics
import sys
import time

import numpy as np
import torch

SETTINGS = [("x16", "adam"), ("std", "adam"), ("x16", "sgd"), ("std", "sgd")]
LAMBDAS = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3]
METHODS = ("loss", "prox", "loss+prox", "prox+orthant", "prox+refit", "loss+prox+refit",
           "loss+prox+orthant", "target", "ramp+prox+orthant", "prox+orthant+refit",
           "ramp+prox+orthant+refit")
DEFAULT_METHODS = ("loss", "prox", "loss+prox", "prox+orthant", "prox+refit",
                   "ramp+prox+orthant")
# the methods that minimize CE + lambda ||W||_1 throughout (the refits do not)
OBJECTIVE_METHODS = ("prox", "loss+prox", "prox+orthant", "loss+prox+orthant", "target",
                     "ramp+prox+orthant")
RAMP = 0.4  # the ramp+ methods raise the strength linearly from 0 over this fraction
TARGET = 0.9
NAMES = {"none": "unregularized", "loss": "L1 in the loss (autograd)",
         "prox": "proximal (sparsefit.nn.Proximal)",
         "prox+orthant": "proximal, then orthant steps (2nd half)",
         "loss+prox": "in the loss (90% of the steps), then proximal",
         "prox+refit": "proximal, then refit on its zeros (2nd half)",
         "loss+prox+refit": "in the loss (50%), proximal (30%), refit on its zeros (20%)",
         "loss+prox+orthant": "in the loss (70%), proximal (15%), orthant steps (15%)",
         "target": f"proximal, target_sparsity={TARGET}",
         "ramp+prox+orthant": f"strength ramped up over {RAMP:.0%}, proximal, then orthant "
                              "(2nd half)",
         "prox+orthant+refit": "proximal (50%), orthant (30%), refit on its zeros (20%)",
         "ramp+prox+orthant+refit": f"strength ramped up over {RAMP:.0%}, proximal (50%), "
                                    "orthant (30%), refit (20%)"}


def make_data(scaling):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    if scaling == "std":
        sc = StandardScaler().fit(Xtr)
        Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
    else:
        Xtr, Xte = Xtr / 16.0, Xte / 16.0
    as_t = lambda a, dt: torch.as_tensor(a, dtype=dt)  # noqa: E731
    return (as_t(Xtr, torch.float32), as_t(ytr, torch.long), as_t(Xte, torch.float32),
            as_t(yte, torch.long))


def make_model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10))


def make_optimizer(name, params):
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3)
    return torch.optim.SGD(params, lr=0.1, momentum=0.9)


def kernels(model):
    return [m.weight for m in model if isinstance(m, torch.nn.Linear)]


def dead_hidden_units(model):
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    dead = 0
    for a, b in itertools.pairwise(lins):
        dead += int(((a.weight == 0).all(dim=1) | (b.weight == 0).all(dim=0)).sum())
    return dead


class Run:
    """One training run: model, optimizer, and an epoch at a time."""

    def __init__(self, method, scaling, optimizer, lam, seed, data, epochs=100, batch=64):
        from sparsefit import nn as sfnn
        from sparsefit.penalties import L1

        self.method, self.lam, self.data = method, lam, data
        self.model = make_model(seed)
        inner = make_optimizer(optimizer, self.model.parameters())
        steps = epochs * -(-data[0].shape[0] // batch)
        if method == "none":
            self.opt = inner
        else:
            sfnn.regularize_model(self.model, L1(lam))
            kw = {}
            if method == "loss+prox":
                kw["subgradient_steps"] = int(0.9 * steps)
            elif method == "loss+prox+refit":
                kw["subgradient_steps"] = int(0.5 * steps)
            elif method == "loss+prox+orthant":   # the library's phases, per step
                kw.update(subgradient_steps=int(0.7 * steps), orthant_after=int(0.85 * steps))
            elif method == "target":
                # lambda is where the controller starts; the factor it ends at is reported
                kw.update(target_sparsity=TARGET, total_steps=steps)
            elif method.startswith("ramp+"):  # the library's linear warm-up, per step
                kw["warmup_steps"] = max(1, int(RAMP * steps))
            self.opt = sfnn.Proximal(inner, mode="loss" if method == "loss" else "prox",
                                     **kw)
        self.crit = torch.nn.CrossEntropyLoss()
        self.gen = torch.Generator().manual_seed(1000 + seed)

    def phase(self, epoch, epochs):
        """Set the phase of the multi-phase methods at the start of ``epoch``: orthant
        steps from half the epochs; the refit from 80% for ``loss+prox+refit`` and the
        three-phase methods, from half for ``prox+refit``; with ``ramp+`` the strength
        rises linearly from 0 over the first ``RAMP`` of the steps (``Proximal``'s
        ``warmup_steps``), then as without it."""
        m = self.method
        if m.startswith("ramp+"):
            m = m[len("ramp+"):]
        half, late = epochs // 2, int(0.8 * epochs)
        if m in ("prox+orthant", "prox+orthant+refit") and epoch == half:
            self.opt.mode = "orthant"
        refit_at = half if m == "prox+refit" else late
        if (m in ("prox+refit", "loss+prox+refit", "prox+orthant+refit")
                and epoch == refit_at):
            self.opt.subgradient_steps = 0   # stays in the orthant mode from here
            self.opt.mode = "orthant"
            for g in self.opt.param_groups:
                g["penalty_scale"] = 0.0

    def epoch(self, batch=64):
        """One epoch; returns its wall and CPU time (the training loop only)."""
        Xtr, ytr = self.data[0], self.data[1]
        n = Xtr.shape[0]
        perm = torch.randperm(n, generator=self.gen)
        model, opt, crit = self.model, self.opt, self.crit
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            crit(model(Xtr[idx]), ytr[idx]).backward()
            opt.step()
        return time.perf_counter() - t0, time.process_time() - c0

    @torch.no_grad()
    def evaluate(self):
        Xtr, ytr, Xte, yte = self.data
        flat = torch.cat([w.reshape(-1) for w in kernels(self.model)])
        ce = float(self.crit(self.model(Xtr), ytr))
        return {"objective": ce + self.lam * float(flat.abs().sum()), "ce": ce,
                "acc": float((self.model(Xte).argmax(1) == yte).float().mean()),
                "exact": float((flat == 0).float().mean()),
                "near": float((flat.abs() < 1e-3).float().mean()),
                "dead": dead_hidden_units(self.model)}


def train(job):
    method, scaling, optimizer, lam, seed, epochs = job
    torch.set_num_threads(1)
    run = Run(method, scaling, optimizer, lam, seed, make_data(scaling), epochs)
    for e in range(epochs):
        run.phase(e, epochs)
        run.epoch()
    return job, run.evaluate()


def interleaved_timing(scaling, optimizer, lam, epochs):
    """Epoch times of plain, loss and prox training run side by side, one epoch each in
    turn, so that a slow phase of a shared machine hits all three alike."""
    data = make_data(scaling)
    runs = {k: Run(k, scaling, optimizer, lam, 0, data) for k in ("none", "loss", "prox")}
    times = {k: [] for k in runs}
    for _ in range(epochs):
        for k, run in runs.items():
            times[k].append(run.epoch())
    return {k: (1e3 * statistics.median(t[0] for t in v),
                1e3 * statistics.median(t[1] for t in v)) for k, v in times.items()}


def aggregate(results):
    keys = results[0].keys()
    out = {k: float(np.mean([r[k] for r in results])) for k in keys}
    out["acc_sd"] = float(np.std([r["acc"] for r in results]))
    return out


def tables(agg, settings, lambdas, methods, epochs, seeds):
    lines = []
    checks = []
    for scaling, optimizer in settings:
        base = agg[("none", scaling, optimizer, 0.0)]
        lines += ["", f"### inputs {'X/16' if scaling == 'x16' else 'standardized'}, "
                      f"{'Adam lr 1e-3' if optimizer == 'adam' else 'SGD lr 0.1, momentum 0.9'}",
                  "",
                  "| training | lambda | objective | exact zeros | test accuracy | "
                  "acc - unreg (pts) | dead units (of 192) |",
                  "|---|---|---|---|---|---|---|",
                  f"| {NAMES['none']} | - | {base['objective']:.4f} | 0.0% | "
                  f"{100 * base['acc']:.2f}% ± {100 * base['acc_sd']:.2f} | +0.00 | 0.0 |"]
        best = None
        for lam in lambdas:
            for m in methods:
                a = agg[(m, scaling, optimizer, lam)]
                diff = 100 * (a["acc"] - base["acc"])
                lines.append(
                    f"| {NAMES[m]} | {lam:g} | {a['objective']:.4f} | "
                    f"{100 * a['exact']:.1f}% | {100 * a['acc']:.2f}% ± "
                    f"{100 * a['acc_sd']:.2f} | {diff:+.2f} | {a['dead']:.1f} |")
                if diff >= -1.0 and (best is None or a["exact"] > best[2]):
                    best = (m, lam, a["exact"], diff)
            if "loss" in methods:
                lo = agg[("loss", scaling, optimizer, lam)]["objective"]
                checks.append((scaling, optimizer, lam, lo, {
                    m: agg[(m, scaling, optimizer, lam)]["objective"] for m in methods
                    if m in OBJECTIVE_METHODS}))
        if best is not None:
            lines.append("")
            lines.append(f"Sparsest within 1 point of unregularized: {NAMES[best[0]]}, "
                         f"lambda={best[1]:g}: {100 * best[2]:.1f}% exact zeros "
                         f"({best[3]:+.2f} pts){' -- target met' if best[2] >= 0.9 else ''}")
    if checks:
        cols = [m for m in methods if m in OBJECTIVE_METHODS]
        lines += ["", "### Objective at equal lambda: proximal methods vs penalty in the loss",
                  "", "Training objective ratio to the penalty in the loss (at most 1 is the "
                  "target); the refit optimizes another objective and is left out.", "",
                  "| setting | lambda | in the loss | " + " | ".join(cols) + " |",
                  "|---|---|---|" + "---|" * len(cols)]
        wins = {m: 0 for m in cols}
        for scaling, optimizer, lam, lo, objs in checks:
            cells = []
            for m in cols:
                ok = objs[m] <= lo
                wins[m] += ok
                cells.append(f"{objs[m] / lo:.3f}{'' if ok else ' (above)'}")
            lines.append(f"| {scaling}, {optimizer} | {lam:g} | {lo:.4f} | "
                         + " | ".join(cells) + " |")
        lines += ["", "At most the penalty in the loss: " + ", ".join(
            f"{NAMES[m]} {wins[m]}/{len(checks)}" for m in cols) + "."]
    lines += ["", f"Means over seeds {list(range(seeds))} ({epochs} epochs, batch 64); "
                  "accuracy ± standard deviation over seeds; exact zeros over the 17,024 "
                  "kernel weights; objective: mean cross-entropy on the training set plus "
                  "lambda times the L1 norm of the kernels, at the end of training."]
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 epochs, 1 seed, lambda 1e-3 (a smoke run)")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--lams", type=float, nargs="+", default=None)
    ap.add_argument("--methods", nargs="+", default=None, choices=METHODS,
                    help=f"default: {' '.join(DEFAULT_METHODS)}")
    ap.add_argument("--settings", nargs="+", default=None,
                    help="e.g. x16-adam std-sgd (default: all four)")
    ap.add_argument("--jobs", type=int, default=1, help="processes (one torch thread each)")
    ap.add_argument("--timing", action="store_true",
                    help="also the interleaved epoch-time comparison (needs a quiet machine)")
    ap.add_argument("--timing-only", action="store_true")
    ap.add_argument("--out", default=None,
                    help="also write the markdown here, and the runs to the same name .json")
    ap.add_argument("--render", default=None, metavar="JSON",
                    help="print the tables of the runs saved by --out, without training")
    ap.add_argument("--note", default=None,
                    help="a line added to the header (e.g. the date and the machine's load)")
    args = ap.parse_args(argv)
    epochs = args.epochs or (3 if args.quick else 100)
    seeds = args.seeds or (1 if args.quick else 3)
    lambdas = args.lams or ([1e-3] if args.quick else LAMBDAS)
    methods = tuple(args.methods or DEFAULT_METHODS)
    settings = ([tuple(s.split("-")) for s in args.settings] if args.settings
                else SETTINGS)
    torch.set_num_threads(1)
    header = (f"torch {torch.__version__}, one torch thread per run, "
              f"{platform.processor() or platform.machine()}, python "
              f"{platform.python_version()}; digits MLP 64-128-64-10, batch 64, {epochs} "
              f"epochs, seeds {list(range(seeds))}"
              + (f" ({args.note})" if args.note else ""))
    command = shlex.join(["python", "benchmarks/bench_nn_proximal.py",
                          *(sys.argv[1:] if argv is None else argv)])
    print(header, flush=True)
    lines = []
    if args.render:
        import json

        with open(args.render) as fh:
            saved = json.load(fh)
        results = {}
        for row in saved["runs"]:
            results.setdefault(tuple(row["job"][:4]), []).append(row["result"])
        meta = saved["meta"]
        settings = [tuple(x) for x in meta["settings"]]
        agg = {k: aggregate(v) for k, v in results.items()}
        lines = tables(agg, settings, meta["lambdas"], tuple(meta["methods"]),
                       meta["epochs"], meta["seeds"])
        print("\n".join(lines))
        if args.out:
            with open(args.out, "w") as fh:
                fh.write("# Proximal vs penalty-in-the-loss L1, digits MLP\n\n"
                         f"Tables rendered from `{args.render}` (the runs of "
                         f"`{meta.get('command', 'python benchmarks/bench_nn_proximal.py')}`"
                         f").\n\n{meta.get('header', '')}\n"
                         + "\n".join(lines) + "\n")
        return lines
    if not args.timing_only:
        jobs = [("none", sc, op, 0.0, s, epochs) for sc, op in settings for s in range(seeds)]
        jobs += [(m, sc, op, lam, s, epochs) for sc, op in settings for lam in lambdas
                 for m in methods for s in range(seeds)]
        results, runs = {}, []
        t0 = time.perf_counter()
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for job, r in pool.map(train, jobs):
                results.setdefault(job[:4], []).append(r)
                runs.append({"job": list(job), "result": r})
                print(f"  {job[1]}-{job[2]} {job[0]:13s} lambda={job[3]:g} seed {job[4]}: "
                      f"objective {r['objective']:.4f}, zeros {100 * r['exact']:.1f}%, "
                      f"acc {100 * r['acc']:.2f}%, dead {r['dead']} "
                      f"[{time.perf_counter() - t0:.0f} s]", flush=True)
        agg = {k: aggregate(v) for k, v in results.items()}
        lines = tables(agg, settings, lambdas, methods, epochs, seeds)
        if args.out:
            import json

            meta = {"settings": settings, "lambdas": lambdas, "methods": methods,
                    "epochs": epochs, "seeds": seeds, "header": header,
                    "command": command}
            with open(args.out.rsplit(".", 1)[0] + ".json", "w") as fh:
                json.dump({"meta": meta, "runs": runs}, fh)
    if args.timing or args.timing_only:
        timing_epochs = 10 if args.quick else 60
        tm = interleaved_timing("std", "adam", 1e-3, timing_epochs)
        lines += ["", (f"Epoch time, the three trainings interleaved epoch by epoch "
                       f"(standardized inputs, Adam, lambda=1e-3, {timing_epochs} epochs "
                       "each, median). CPU time (process_time, one torch thread) is what "
                       "the training itself costs on a shared machine; wall time also "
                       "counts waiting for the cores:"), "",
                  "| training | wall (ms) | vs plain | CPU (ms) | vs plain |",
                  "|---|---|---|---|---|"]
        for k in ("none", "loss", "prox"):
            (w, c), (w0, c0) = tm[k], tm["none"]
            lines.append(f"| {NAMES[k]} | {w:.2f} | {w / w0:.3f}x | {c:.2f} | "
                         f"{c / c0:.3f}x |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(f"# Proximal vs penalty-in-the-loss L1, digits MLP\n\n`{command}`\n\n"
                     f"{header}\n{table}\n")
    return lines


if __name__ == "__main__":
    main()
