"""The main job: ``sparsefit demo`` -- what L1 does and does not do, in the terminal and in a
self-contained HTML report."""

from __future__ import annotations

import sys
import time

import numpy as np

from .._progress import Progress
from . import Section, table_text, write_report


def _fmt(a):
    return np.array2string(np.asarray(a), precision=4, floatmode="maxprec",
                           max_line_width=200)


def section_keras_check():
    from ..experiments.first_look import (
        keras_dense_check,
        penalty_family_table,
        prox_vs_subgradient,
    )

    k = keras_dense_check()
    s = prox_vs_subgradient()
    v, family = penalty_family_table()
    lines = [
        "Dense(2, use_bias=False), kernel = ones(3, 2), kernel_regularizer=L1(l1=0.01)",
        f"penalty    = l1 * sum|w| = 0.01 * 6 = {k['penalty']!r}",
        f"data loss  = MSE(x @ kernel, target) with x = [[1, 2, 3]], target = [[0, 0]] = "
        f"{k['data_loss']!r}",
        f"total loss = data loss + penalty = {k['total_loss']!r}",
        "",
        f"One step on the L1 penalty (l1={s['l1']}, lr={s['lr']}) from the same weights:",
        f"  weights          {_fmt(s['w'])}",
        f"  subgradient step {_fmt(s['subgradient'])}  exact zeros: "
        f"{s['zeros_subgradient']}/{s['w'].size}",
        f"  proximal step    {_fmt(s['proximal'])}  exact zeros: "
        f"{s['zeros_proximal']}/{s['w'].size}",
        "",
        f"The prox of each penalty family at v = {_fmt(v)}, step 1:",
    ]
    width = max(len(repr(r[1])) for r in family)
    lines += [f"  {repr(pen):<{width}}  {_fmt(z)}  zeros: {zeros}"
              for _, pen, z, _, zeros in family]
    text = "\n".join(lines)
    sec = Section(
        "1. The Keras check: the penalty is really L1",
        ["Keras adds l1 * sum|w| to the loss: for an all-ones 3x2 kernel at l1 = 0.01 that is "
         "exactly 0.06. What training does with it is another matter: the penalty in the "
         "loss gives a subgradient step, which jumps over zero; the proximal step "
         "(soft-thresholding) lands on it."],
        preformatted=text)
    return sec, text, {"penalty": k["penalty"], "data_loss": k["data_loss"],
                       "total_loss": k["total_loss"]}


def section_classifier(*, seed, quick, progress):
    from ..experiments import l1_classifier as exp
    from ..plot import plot_loss_curves, plot_weight_heatmaps, plot_weight_histogram

    epochs = 4 if quick else 15
    runs = {}
    with Progress(epochs * len(exp.METHODS), "training the classifier four ways",
                  enabled=progress) as bar:
        for m in exp.METHODS:
            runs[m] = exp.train(m, epochs=epochs, seed=seed,
                                on_epoch=lambda meth, e, n: bar.update())
    rows = []
    for m, r in runs.items():
        st = r["stats"]
        rows.append({"method": m, "val accuracy": round(st["val_accuracy"], 4),
                     "exact zeros %": round(st["exact_zeros_%"], 2),
                     "|w| < 1e-3 %": round(st["near_zeros_%"], 2),
                     "dead units": st["dead_units"], "penalty": round(st["penalty"], 4),
                     "seconds": round(r["seconds"], 2)})
    curves = [("loss_curves", plot_loss_curves({m: r["history"] for m, r in runs.items()}),
               "Training and validation loss (penalty included, as Keras reports it)")]
    figs = [
        ("weights_heatmap", plot_weight_heatmaps(
            {m: runs[m]["kernels"] for m in ("l1_proximal", "l1_penalty", "l2")}),
         "Hidden kernels (rows: inputs, columns: units); exact zeros in black"),
        ("weights_histogram", plot_weight_histogram(
            {m: np.concatenate([k.ravel() for k in r["kernels"]]) for m, r in runs.items()}),
         "|w| of the hidden kernels on a log scale; exact zeros in their own bar"),
    ]
    sec = Section(
        "2. The classifier of the L1 study notes, four ways",
        [f"Breast cancer (scikit-learn's copy, standardized), Dense(128, relu) -> Dense(64, "
         f"relu) -> Dense(1, sigmoid), L1(0.001) on both hidden kernels, Adam, {epochs} "
         "epochs, batch 128, the last 10% for validation. With the penalty in the loss "
         "(what Keras does) weights hover near zero and none is exactly zero; with the "
         "proximal optimizer they are exactly zero."],
        tables=[rows], figures=curves)
    pictures = Section("3. Weights as pictures", [
        "Each hidden kernel for the proximal L1, the penalty-in-the-loss L1 and L2, side by "
        "side; exact zeros have their own colour. The histogram of |w| on a log scale shows "
        "the penalty in the loss piling weights up near zero, and the prox moving them to "
        "exactly zero."], figures=figs)
    return [sec, pictures], table_text(rows), rows


def section_lasso(*, quick):
    from ..experiments.lasso_study import diabetes_lasso
    from ..plot import plot_cv_curve, plot_path

    out = diabetes_lasso(n_alphas=20 if quick else 60, cv=5)
    figs = [
        ("lasso_path", plot_path(out["alphas"], out["coefs"], out["feature_names"],
                                 alpha_min=out["alpha_min"], alpha_1se=out["alpha_1se"]),
         "Lasso path on the diabetes data (standardized)"),
        ("lasso_cv", plot_cv_curve(out["alphas"], out["cv_mean"], out["cv_se"],
                                   alpha_min=out["alpha_min"], alpha_1se=out["alpha_1se"]),
         "5-fold CV mean squared error with one-standard-error bars"),
    ]
    text = (f"alpha_max = max|X^T y|/n = {out['alpha_max']:.6g}; alpha_min = "
            f"{out['alpha_min']:.4g} ({out['n_nonzero_min']} features), alpha_1se = "
            f"{out['alpha_1se']:.4g} ({out['n_nonzero_1se']} features)")
    sec = Section("4. The Lasso: path, cross-validation and the features that survive",
                  [text], tables=[out["surviving"]], figures=figs)
    return sec, text + "\n" + table_text(out["surviving"]), out


def section_geometry():
    from ..plot import plot_geometry

    return Section("5. The geometry", [
        "The smallest loss contour touches the L1 diamond at a corner, on an axis: a "
        "coordinate is exactly zero. The L2 circle has no corners. The prox functions say "
        "the same: soft-thresholding is exactly zero on [-t, t]; L2 only shrinks."],
        figures=[("geometry", plot_geometry(), "L1 vs L2 balls; prox functions")])


def section_compressed_sensing(*, seed):
    from ..experiments.lasso_study import compressed_sensing
    from ..plot import plot_compressed_sensing

    cs = compressed_sensing(seed=seed)
    text = (f"{cs['n_nonzero']}-sparse signal of length {cs['n_features']} from "
            f"{cs['n_measurements']} random measurements: L1 relative error "
            f"{cs['error_l1']:.2e} (support recovered: {cs['support_recovered']}), least "
            f"squares relative error {cs['error_ls']:.2f}")
    sec = Section("6. Compressed sensing", [text], figures=[(
        "compressed_sensing", plot_compressed_sensing(cs["x_true"], cs["x_l1"], cs["x_ls"]),
        "True signal vs L1 and least-squares reconstructions")])
    return sec, text, cs


def run_demo(out_dir="sparsefit-report", *, seed=0, quick=False, stream=None,
             progress=True):
    """Run every section, print the terminal summary, write the report.

    Returns
    -------
    dict with ``report`` (the HTML path), ``keras``, ``classifier`` (table rows),
    ``lasso`` and ``compressed_sensing`` results and ``seconds``.
    """
    stream = stream or sys.stdout
    t0 = time.perf_counter()

    def say(*a):
        print(*a, file=stream)
        stream.flush()

    say("sparsefit demo: is it really L1?" + (" (quick)" if quick else ""))
    say("")
    sections = []
    sec, text, keras = section_keras_check()
    sections.append(sec)
    say("1. The Keras check")
    say(text)
    say("")
    say("2. The breast-cancer classifier, four ways")
    secs, text, rows = section_classifier(seed=seed, quick=quick, progress=progress)
    sections += secs
    say(text)
    say("")
    say("4. The Lasso on the diabetes data")
    sec, text, lasso = section_lasso(quick=quick)
    sections.append(sec)
    say(text)
    say("")
    sections.append(section_geometry())
    sec, text, cs = section_compressed_sensing(seed=seed)
    sections.append(sec)
    say("6. Compressed sensing")
    say(text)
    say("")
    from .shrink_section import section_shrink

    sec, text, shrinking = section_shrink(seed=seed, quick=quick)
    sections.append(sec)
    say(text)
    from .. import __version__

    path = write_report(sections, out_dir, title="sparsefit demo: is it really L1?",
                        filename="demo-report.html",
                        footer=f"sparsefit {__version__}, seed {seed}"
                               f"{', quick' if quick else ''}")
    seconds = time.perf_counter() - t0
    say("")
    say(f"Report: {path} (figures as PNG beside it) -- {seconds:.1f} s")
    return {"report": path, "keras": keras, "classifier": rows, "lasso": lasso,
            "compressed_sensing": cs, "shrink": shrinking, "seconds": seconds}
