"""``sparsefit compare``: the seed experiment -- L1 vs L2 vs none on a noisy line with
outliers, then the L1 networks shrunk to the neurons that stay connected
(:mod:`sparsefit.experiments.seed_line`).

The seed's settings are kept: lambda 0.3 on the kernels, SGD lr 0.01, batch 1, a
1-10-10-10-1 network, an absolute-error loss. What decides whether they give the seed's
picture is the scale of the data (:data:`SCALE`, see :mod:`~sparsefit.experiments.
seed_line`); ``--lam`` and ``--scale`` change them. Every sentence with a number in the
report is computed from the runs (:func:`compare_summary`).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import Provenance, Section, table_text, write_report

VARIANTS = ("none", "l2", "l1", "l1_prox")
LABELS = {"none": "no penalty", "l2": "L2 (in the loss)", "l1": "L1 (in the loss)",
          "l1_prox": "L1 (proximal)"}
FILENAME = "compare.html"
TITLE = "sparsefit compare: L1 vs L2 vs none on a noisy line"


def _shapes(widths):
    """The seed's notation of a chain's kernels: ``(1,10),(10,10),(10,10),(10,1)``."""
    return ",".join(f"({a},{b})" for a, b in zip(widths[:-1], widths[1:]))


def compare_summary(out):
    """The report's summary and its finding, every number from the runs.

    Returns
    -------
    summary : list of str
        Two or three sentences.
    facts : dict
        The numbers they state: per variant ``errors`` (total |error| of each run),
        ``flat`` (runs whose fitted function is a flat line), ``nonzero`` (non-zero
        weights per run), ``small`` (|w| < 1e-3 per run); per L1 variant ``widths``
        (after shrinking), ``params_after`` and ``errors_shrunk``.
    """
    from ..experiments.seed_line import is_flat

    cfg = out["config"]
    data = out["data"]
    facts = {}
    for v, rows in out["results"].items():
        f = {"errors": [r["total_abs_error"] for r in rows],
             "flat": sum(is_flat(r["curve"], data) for r in rows),
             "nonzero": [r["nonzero_weights"] for r in rows],
             "small": [r["near_zero_weights"] for r in rows],
             "weights": rows[0]["weights"]}
        if "shrunk" in rows[0]:
            f["widths"] = [r["shrunk"]["widths"] for r in rows]
            f["params_before"] = rows[0]["shrunk"]["params_before"]
            f["params_after"] = [r["shrunk"]["params_after"] for r in rows]
            f["errors_shrunk"] = [r["shrunk"]["after_shrink"]["total_abs_error"]
                                  for r in rows]
        facts[v] = f
    n = cfg["runs"]

    def span(values, fmt="{:.1f}"):
        lo, hi = min(values), max(values)
        return fmt.format(lo) if lo == hi else f"{fmt.format(lo)} to {fmt.format(hi)}"

    def errs(values):
        return ", ".join(f"{e:.1f}" for e in values)

    flat = {v: facts[v]["flat"] for v in facts}
    penalized = [v for v in ("l2", "l1", "l1_prox") if v in facts]
    collapsed = sum(flat[v] for v in penalized)
    setting = (f"At lambda {cfg['lam']:g} (SGD lr {cfg['lr']:g}, batch 1, absolute error) on "
               f"data of scale {cfg['scale']:g}")
    if collapsed == 0:
        first = (f"{setting}, no penalized run ends as a flat line: the {n} runs' total "
                 f"errors are {errs(facts['l1']['errors'])} with L1 in the loss, "
                 f"{errs(facts['l1_prox']['errors'])} with the proximal L1 and "
                 f"{errs(facts['l2']['errors'])} with L2 (no penalty: "
                 f"{errs(facts['none']['errors'])}).")
    else:
        which = ", ".join(f"{flat[v]} of {n} {LABELS[v]}" for v in penalized if flat[v])
        first = (f"{setting}, {collapsed} of the {n * len(penalized)} penalized runs end as a "
                 f"flat line ({which}): the penalty outweighs the data there. Total errors: "
                 f"{errs(facts['l1']['errors'])} with L1 in the loss, "
                 f"{errs(facts['l1_prox']['errors'])} with the proximal L1, "
                 f"{errs(facts['l2']['errors'])} with L2, {errs(facts['none']['errors'])} "
                 "without penalty.")
    fp, f2 = facts["l1_prox"], facts["l2"]
    widths = sorted({_shapes(w) for w in fp["widths"]}, key=len)
    second = (f"The proximal L1 keeps {span(fp['nonzero'], '{:d}')} of {fp['weights']} "
              f"weights, so shrinking it from {_shapes(cfg['sizes'])} to the neurons that stay "
              f"connected gives {'; '.join(widths)} ({span(fp['params_after'], '{:d}')} "
              f"parameters instead of {fp['params_before']}), with total errors "
              f"{errs(fp['errors_shrunk'])} after shrinking; L1 in the loss, its "
              f"|w| <= lr*lambda set to zero first, shrinks to "
              f"{span([sum(w[1:-1]) for w in facts['l1']['widths']], '{:d}')} hidden units "
              f"with errors {errs(facts['l1']['errors_shrunk'])}.")
    third = (f"L2 disconnects nothing: all {f2['weights']} weights stay non-zero in "
             f"{sum(k == f2['weights'] for k in f2['nonzero'])} of {n} runs, "
             f"{span(f2['small'], '{:d}')} of them below 1e-3.")
    return [first, second, third], facts


def run_compare(out_dir="sparsefit-report", *, lam=0.3, runs=5, epochs=300, seed=0,
                scale=None, stream=None, progress=False, command=None):
    """Run the comparison, print the tables, write ``compare.html``.

    Parameters
    ----------
    out_dir : str
    lam : float
        Penalty strength (the seed's 0.3).
    runs, epochs, seed : int
    scale : float, optional
        The data's units (default :data:`sparsefit.experiments.seed_line.SCALE`).
    stream : file, optional
    progress : bool
    command : str, optional
        The command line shown in the report.

    Returns
    -------
    dict
        The experiment (:func:`sparsefit.experiments.seed_line.run`) with ``report``,
        ``summary``, ``facts`` and ``seconds``.
    """
    from .._progress import Progress
    from ..experiments.seed_line import ACTIVATION, INIT, SCALE, run
    from ..plot import plot_runs, plot_weight_heatmaps

    t0 = time.perf_counter()
    scale = SCALE if scale is None else scale
    command = command or (f"sparsefit compare --lam {lam:g} --scale {scale:g} --runs {runs} "
                          f"--epochs {epochs} --seed {seed} --out {out_dir}")
    stream = stream or sys.stdout
    with Progress(runs * len(VARIANTS), "compare: training runs", enabled=progress) as bar:
        out = run(runs=runs, epochs=epochs, lam=lam, seed=seed, variants=VARIANTS,
                  scale=scale, activation=ACTIVATION, init=INIT, loss="abs",
                  on_run=lambda variant, r: bar.update())
    cfg = out["config"]
    data = out["data"]
    rows = []
    for v in VARIANTS:
        for r in out["results"][v]:
            rows.append({"method": LABELS[v], "run": r["run"] + 1,
                         "total |error|": round(r["total_abs_error"], 2),
                         "total error²": round(r["total_sq_error"], 2),
                         "|error| vs clean line": round(r["line_abs_error"], 2),
                         "non-zero weights": f"{r['nonzero_weights']}/{r['weights']}",
                         "|w| < 1e-3": r["near_zero_weights"]})
    shrunk = []
    for v in ("l1", "l1_prox"):
        for r in out["results"][v]:
            s = r["shrunk"]
            shrunk.append({"method": LABELS[v], "run": r["run"] + 1,
                           "kernels after shrinking": _shapes(s["widths"]),
                           "parameters": f"{s['params_before']} -> {s['params_after']}",
                           "total |error| before": round(r["total_abs_error"], 2),
                           "total |error| after shrinking": round(
                               s["after_shrink"]["total_abs_error"], 2),
                           "max |output change|":
                               f"{max(s['max_abs_diff'], s['threshold_change']):.1e}",
                           "retrained": round(s["retrain"]["total_abs_error"], 2),
                           "fresh start": round(s["retrain_fresh"]["total_abs_error"], 2)})
    summary, facts = compare_summary(out)
    mask = np.zeros(len(data["x"]), bool)
    mask[data["outliers"]] = True
    line = (data["grid"], data["slope"] * data["grid"] + data["intercept"])
    panels = {LABELS[v]: [(data["grid"], r["curve"], f"total |error| {r['total_abs_error']:.1f}")
                          for r in out["results"][v]] for v in VARIANTS}
    n_layers = len(cfg["sizes"]) - 1
    names = ["input x"] + [f"unit of layer {j}" for j in range(1, n_layers)] + ["output"]
    axis_labels = [(names[j], names[j + 1]) for j in range(n_layers)]
    figs = [
        ("compare_runs", plot_runs(data["x"], data["y"], panels, outliers=mask, line=line,
                                   title=f"Fitted functions, {cfg['runs']} runs per method "
                                         f"(lambda {lam:g}, scale {cfg['scale']:g})"),
         "Each run's fitted function over the data (grey dots; outliers as crosses; the clean "
         "line dotted), with its total absolute error on the training points"),
        ("compare_weights", plot_weight_heatmaps(
            {LABELS[v]: [k.T for k in out["results"][v][0]["kernels"]]
             for v in ("l1_prox", "l1", "l2")},
            title="The kernels of run 1 (exact zeros in black)", axis_labels=axis_labels),
         "Run 1's four kernels for each penalty, rows are a layer's inputs and columns its "
         "units; one colour scale for all panels (logarithmic away from zero)"),
    ]
    init = {"keras": "Keras' initialization (Glorot-uniform kernels, zero biases)",
            "torch": "PyTorch's default initialization"}[cfg["init"]]
    intro = (f"A 1-10-10-10-1 {cfg['activation']} network with {init} on "
             f"{len(data['x'])} noisy points of "
             f"y = {data['slope']:g}x + {data['intercept']:g} for x in [-{cfg['scale']:g}, "
             f"{cfg['scale']:g}] with {len(data['outliers'])} outliers; SGD, lr {cfg['lr']:g}, "
             f"batch 1, absolute-error loss, lambda {lam:g} on the kernels, {cfg['epochs']} "
             f"epochs, {cfg['runs']} runs per method (run r starts from seed {seed} + r).")
    sections = [
        Section("The runs and their total errors", [intro, summary[0]], tables=[rows],
                figures=figs[:1]),
        Section("The weights: L1 disconnects, L2 keeps small weights",
                [summary[2]], figures=figs[1:]),
        Section("The L1 networks shrunk to the neurons that stay connected", [
            "Neurons without input or without reader removed (sparsefit.nn.shrink, outputs "
            "checked equal); the penalty-in-the-loss network first has its |w| <= lr*lambda "
            "set to zero (where its weights oscillate). Then each shrunk network is "
            "retrained without penalty, from its weights and from a fresh start.",
            summary[1]], tables=[shrunk]),
    ]
    p = lambda *a: print(*a, file=stream)  # noqa: E731
    p(intro)
    p("")
    p(table_text(rows))
    p("")
    p("The L1 networks shrunk to the neurons that stay connected:")
    p(table_text(shrunk))
    p("")
    p("Summary")
    for para in summary:
        p(para)
    provenance = Provenance(command, started=t0)
    path = write_report(sections, out_dir, title=TITLE, filename=FILENAME, summary=summary,
                        provenance=provenance)
    p(f"Report: {path} -- {provenance.seconds:.1f} s")
    out.update(report=path, summary=summary, facts=facts, seconds=provenance.seconds)
    return out
