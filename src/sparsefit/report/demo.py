"""The main job: ``sparsefit demo`` -- what L1 does and does not do, in the terminal and in a
self-contained HTML report.

The report answers three questions in the user's own framework: is the L1 in Keras really
L1 (a real Keras layer, Keras' own regularizer beside sparsefit's), why is no weight
exactly zero (the classifier of the L1 study notes trained in Keras and in PyTorch, four
ways each, and accuracy against sparsity), and why is my pruned network not faster (the
demo's own network timed dense, masked and shrunk). Every number in the summary is
computed from the runs (:func:`demo_summary`).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .._progress import Progress
from . import Provenance, Section, table_text, write_report

TITLE = "sparsefit demo: is it really L1?"


def _fmt(a):
    return np.array2string(np.asarray(a), precision=4, floatmode="maxprec",
                           max_line_width=200)


def section_keras_check():
    """Section 1: the penalty of a real Keras layer (or, without Keras, sparsefit's alone).

    Returns
    -------
    (Section, str, dict)
        The section, its terminal text, and the numbers: ``penalty``, ``data_loss``,
        ``total_loss`` (sparsefit, float64), ``keras`` (:func:`~sparsefit.experiments.
        first_look.keras_layer_check`, or None) and ``keras_missing`` (why not, or None).
    """
    from ..experiments.first_look import (
        keras_dense_check,
        keras_layer_check,
        penalty_family_table,
        prox_vs_subgradient,
    )

    k = keras_dense_check()
    try:
        kc, missing = keras_layer_check(), None
    except ImportError as exc:
        kc, missing = None, " ".join(str(exc).split())
    s = prox_vs_subgradient()
    v, family = penalty_family_table()
    if kc is not None:
        lines = [
            f"With Keras {kc['keras_version']} itself ({kc['backend']} backend):",
            "  layer = keras.layers.Dense(2, use_bias=False, kernel_initializer=\"ones\",",
            "                             kernel_regularizer=keras.regularizers.L1(0.01))",
            f"  layer.build((None, 3)); layer.losses  -> {_losses(kc['keras_losses'])}"
            "   (Keras' own L1)",
            f"  the same layer with sparsefit.keras.L1(0.01) -> "
            f"{_losses(kc['sparsefit_losses'])}",
            f"  (Keras computes in the kernel's float32, where 0.06 is "
            f"{kc['keras_losses'][0]:.10f})",
            f"  data loss  = MeanSquaredError([[0, 0]], layer([[1, 2, 3]]) = "
            f"{_fmt(kc['output'])}) = {kc['data_loss']:g}",
            f"  total loss = data loss + sum(layer.losses) = {kc['total_loss']:.6g}",
            "",
            "sparsefit.penalties.L1(0.01) on the same kernel, in float64:",
        ]
    else:
        lines = [f"Keras is not available here ({missing}).",
                 "Install it (pip install \"sparsefit[keras]\") to run this check in Keras; "
                 "without it, the penalty as Keras defines it, by sparsefit.penalties.L1:"]
    lines += [
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
    first = ("Keras adds l1 * sum|w| to the loss: for an all-ones 3x2 kernel at l1 = 0.01 that "
             "is exactly 0.06, and a real Keras layer says so, with Keras' own L1 and with "
             "sparsefit's." if kc is not None else
             f"Keras is not available here ({missing}), so this check runs without it: "
             "Keras adds l1 * sum|w| to the loss, 0.06 for an all-ones 3x2 kernel at "
             "l1 = 0.01.")
    sec = Section("The Keras check: the penalty is really L1", [
        first + " What training does with it is another matter: the penalty in the loss "
        "gives a subgradient step, which jumps over zero; the proximal step "
        "(soft-thresholding) lands on it."], preformatted=text)
    return sec, text, {"penalty": k["penalty"], "data_loss": k["data_loss"],
                       "total_loss": k["total_loss"], "keras": kc, "keras_missing": missing}


def _losses(values):
    return "[" + ", ".join(f"{v:.7g}" for v in values) + "]"


def _rows(framework, runs):
    rows = []
    for m, r in runs.items():
        st = r["stats"]
        rows.append({"framework": framework, "method": m,
                     "val accuracy": round(st["val_accuracy"], 4),
                     "exact zeros %": round(st["exact_zeros_%"], 2),
                     "|w| < 1e-3 %": round(st["near_zeros_%"], 2),
                     "dead units": st["dead_units"], "penalty": round(st["penalty"], 4),
                     "seconds": round(r["seconds"], 2)})
    return rows


def section_classifier(*, seed, quick, progress):
    """Sections 2 and 3: the study's classifier four ways, in Keras and in PyTorch.

    Returns
    -------
    (list of Section, str, list of dict, dict)
        The sections, the terminal table, its rows (``framework``, ``method``, ...), and
        the runs: ``{"Keras": {method: run}, "PyTorch": {...}}`` (no ``"Keras"`` when Keras
        is missing; then ``"keras_missing"`` says why).
    """
    from ..experiments import l1_classifier as exp
    from ..plot import plot_loss_curves, plot_weight_heatmaps, plot_weight_histogram

    epochs = 4 if quick else 15
    sfk, missing = exp.load_keras()
    frameworks = ([("Keras", exp.train_keras)] if sfk is not None else []) + [
        ("PyTorch", exp.train)]
    runs = {}
    with Progress(epochs * len(exp.METHODS) * len(frameworks),
                  "training the classifier four ways", enabled=progress) as bar:
        for name, train in frameworks:
            runs[name] = {m: train(m, epochs=epochs, seed=seed,
                                   on_epoch=lambda meth, e, n: bar.update())
                          for m in exp.METHODS}
    rows = [r for name, _ in frameworks for r in _rows(name, runs[name])]
    main = "Keras" if "Keras" in runs else "PyTorch"
    curves = [(f"loss_curves_{name.lower()}", plot_loss_curves(
        {m: r["history"] for m, r in runs[name].items()},
        title=f"{name}: training and validation loss (data loss + penalty)"),
        f"{name}: training and validation loss per epoch, the whole penalty included "
        "(for the proximal L1 it is added to the loss Keras or torch reports, which "
        "leaves it out)") for name, _ in frameworks]
    figs = [
        ("weights_heatmap", plot_weight_heatmaps(
            {m: runs[main][m]["kernels"] for m in ("l1_proximal", "l1_penalty", "l2")},
            title=f"{main}: the hidden kernels (exact zeros in black)",
            axis_labels=[("input feature", "unit of hidden layer 1"),
                         ("unit of hidden layer 1", "unit of hidden layer 2")]),
         f"{main}: both hidden kernels of each run, rows are inputs and columns units; one "
         "colour scale for all panels, logarithmic away from zero, so a weight of 1e-6 is "
         "near white and exact zeros are black"),
        ("weights_histogram", plot_weight_histogram(
            {m: np.concatenate([k.ravel() for k in r["kernels"]])
             for m, r in runs[main].items()}, title=f"{main}: |w| on a log scale"),
         f"{main}: |w| of the hidden kernels on a log scale; exact zeros in their own bar"),
    ]
    where = ("in Keras 3 (the torch backend) exactly as the notes do it, and in PyTorch "
             "beside it" if main == "Keras" else
             f"in PyTorch only: Keras is not available here ({missing})")
    keras_way = ("keras.regularizers.L1(0.001) as kernel_regularizer" if main == "Keras"
                 else "the penalty added to the loss, as Keras' kernel_regularizer does")
    sec = Section("The classifier of the L1 study notes, four ways", [
        f"Breast cancer (scikit-learn's copy, standardized), Dense(128, relu) -> Dense(64, "
        f"relu) -> Dense(1, sigmoid), Adam, binary cross-entropy, {epochs} epochs, batch "
        f"128, validation_split 0.1 (the last 10% of the rows), trained {where}. The four "
        "ways: no penalty (none); L2(0.001) on both hidden kernels (l2); L1(0.001) in the "
        f"loss, {keras_way} (l1_penalty); and L1(0.001) with the exact proximal step after "
        "each Adam update, scaled by Adam's own step (l1_proximal: sparsefit.keras.L1("
        "0.001, proximal=True) with sparsefit.keras.ProximalCallback in Keras, "
        "sparsefit.nn.Proximal in PyTorch).",
        _classifier_finding(runs)], tables=[rows], figures=curves)
    pictures = Section("Weights as pictures", [
        "Each hidden kernel for the proximal L1, the penalty-in-the-loss L1 and L2, side by "
        "side; exact zeros have their own colour. The histogram of |w| on a log scale shows "
        "the penalty in the loss piling weights up near zero, and the prox moving them to "
        "exactly zero."], figures=figs)
    return [sec, pictures], table_text(rows), rows, {**runs, "keras_missing": missing}


def _classifier_finding(runs):
    parts = []
    for name in ("Keras", "PyTorch"):
        if name not in runs:
            continue
        st = {m: r["stats"] for m, r in runs[name].items()}
        parts.append(
            f"{name}: with L1 in the loss {st['l1_penalty']['exact_zeros_%']:.1f}% of the "
            f"hidden weights are exactly zero and {st['l1_penalty']['near_zeros_%']:.1f}% "
            f"are below 1e-3; with the proximal step {st['l1_proximal']['exact_zeros_%']:.1f}"
            f"% are exactly zero (validation accuracy {st['l1_proximal']['val_accuracy']:.4f}"
            f", {st['none']['val_accuracy']:.4f} without penalty).")
    return " ".join(parts)


def section_sparsity_path(*, seed, quick, reference=None):
    """Accuracy against sparsity along increasing L1 strengths (proximal, PyTorch).

    Returns
    -------
    (Section, str, SparsityPath)
    """
    from ..experiments.sparsity_path import DEFAULT_LAMBDAS, breast_cancer_path
    from ..plot import plot_sparsity_path

    lambdas = (1e-4, 1e-3, 1e-2) if quick else DEFAULT_LAMBDAS
    epochs = 3 if quick else 15
    path = breast_cancer_path(lambdas, epochs=epochs, seed=seed)
    rows = [{"lambda": f"{r['lambda']:g}", "exact zeros %": round(100 * r["sparsity"], 2),
             "val accuracy": round(r["accuracy"], 4), "dead units": r["dead_units"]}
            for r in path.rows()]
    best = path.best(reference - 0.01) if reference is not None else None
    text = (f"From lambda {lambdas[0]:g} to {lambdas[-1]:g} the exact zeros go from "
            f"{100 * path.sparsity[0]:.1f}% to {100 * path.sparsity[-1]:.1f}% of the hidden "
            f"weights, the validation accuracy from {path.score[0]:.4f} to "
            f"{path.score[-1]:.4f}.")
    if best is not None:
        text += (f" The sparsest network within 1 point of the unregularized accuracy "
                 f"({reference:.4f}) has {100 * path.sparsity[best]:.1f}% exact zeros "
                 f"(lambda {path.lambdas[best]:g}).")
    sec = Section("Accuracy against sparsity: how strong can L1 be?", [
        f"The same classifier in PyTorch with the proximal L1 at increasing strengths, "
        f"{epochs} epochs each, each strength starting from where the previous one ended "
        "(sparsefit.nn.sparsity_path).", text], tables=[rows], figures=[(
            "sparsity_path", plot_sparsity_path(
                path.sparsity, path.score, path.lambdas, reference=reference,
                metric="validation accuracy"),
            "Validation accuracy against the share of exact zeros; each point is labelled "
            "with its lambda; the dashed line is the unregularized network")])
    return sec, text + "\n" + table_text(rows), path


def section_lasso(*, quick):
    from ..experiments.lasso_study import diabetes_lasso
    from ..plot import path_labels, plot_cv_curve, plot_path

    out = diabetes_lasso(n_alphas=20 if quick else 60, cv=5)
    _, rest = path_labels(out["coefs"], out["feature_names"])
    figs = [
        ("lasso_path", plot_path(out["alphas"], out["coefs"], out["feature_names"],
                                 alpha_min=out["alpha_min"], alpha_1se=out["alpha_1se"]),
         "Lasso path on the diabetes data (standardized); the 8 largest traces labelled"
         + (f"; also non-zero on the path: {', '.join(out['feature_names'][j] for j in rest)}"
            if rest else "")),
        ("lasso_cv", plot_cv_curve(out["alphas"], out["cv_mean"], out["cv_se"],
                                   alpha_min=out["alpha_min"], alpha_1se=out["alpha_1se"]),
         "5-fold CV mean squared error with one-standard-error bars"),
    ]
    text = (f"alpha_max = max|X^T y|/n = {out['alpha_max']:.6g}; alpha_min = "
            f"{out['alpha_min']:.4g} ({out['n_nonzero_min']} features), alpha_1se = "
            f"{out['alpha_1se']:.4g} ({out['n_nonzero_1se']} features)")
    sec = Section("The Lasso: path, cross-validation and the features that survive",
                  [text], tables=[out["surviving"]], figures=figs)
    return sec, text + "\n" + table_text(out["surviving"]), out


def section_geometry():
    from ..plot import plot_geometry

    return Section("The geometry", [
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
    sec = Section("Compressed sensing", [text], figures=[(
        "compressed_sensing", plot_compressed_sensing(cs["x_true"], cs["x_l1"], cs["x_ls"]),
        "True signal vs L1 and least-squares reconstructions")])
    return sec, text, cs


def demo_summary(keras, runs, shrinking):
    """The report's summary: three sentences, every number taken from the results.

    Parameters
    ----------
    keras : dict
        The numbers of :func:`section_keras_check`.
    runs : dict
        The runs of :func:`section_classifier`.
    shrinking : dict
        :func:`sparsefit.report.shrink_section.shrink_numbers`.

    Returns
    -------
    list of str
    """
    kc = keras["keras"]
    if kc is not None:
        first = (f"Keras' L1 is really L1: a Keras {kc['keras_version']} Dense layer whose "
                 f"3x2 kernel is all ones has layer.losses = {kc['keras_losses'][0]:.7g} "
                 f"with keras.regularizers.L1(0.01), and {kc['sparsefit_losses'][0]:.7g} "
                 "with sparsefit.keras.L1(0.01).")
    else:
        first = (f"Keras is not available here ({runs['keras_missing']}), so the demo ran "
                 f"in PyTorch: L1(0.01) of an all-ones 3x2 kernel is {keras['penalty']:g}, "
                 "as Keras defines it.")
    main = "Keras" if "Keras" in runs else "PyTorch"
    st = {m: r["stats"] for m, r in runs[main].items()}
    second = (f"But the penalty in the loss gives no exact zeros: the breast-cancer "
              f"classifier trained in {main} with L1(0.001) in the loss ends with "
              f"{st['l1_penalty']['exact_zeros_%']:.1f}% of its hidden weights exactly zero "
              f"({st['l1_penalty']['near_zeros_%']:.1f}% below 1e-3), the proximal step "
              f"with {st['l1_proximal']['exact_zeros_%']:.1f}% (validation accuracy "
              f"{st['l1_proximal']['val_accuracy']:.4f}; "
              f"{st['none']['val_accuracy']:.4f} without penalty).")
    rows = {(r["training"], r["version"]): r for r in shrinking["rows"]}
    b = shrinking["batch"]
    own, group = shrinking["labels"]
    dense, masked, shrunk = (rows[(own, v)] for v in ("dense", "masked", "shrunk"))
    gdense, gshrunk = rows[(group, "dense")], rows[(group, "shrunk")]
    removed = shrinking["units"] - shrinking["units_left"][own]
    third = (f"Zeros alone do not make a network faster: the demo's own proximal-L1 "
             f"network ({dense['parameters']:,} parameters, "
             f"{100 * (1 - dense['nonzero weights'] / dense['weights']):.1f}% of its weights "
             f"exactly zero) runs at {masked[f'speed-up batch {b}']:.2f}x the dense speed "
             f"when masked and {shrunk[f'speed-up batch {b}']:.2f}x when shrunk at batch "
             f"{b} ({removed} of its {shrinking['units']} hidden units removed), while the "
             f"group lasso on units leaves {gshrunk['hidden units']} units "
             f"({gshrunk['parameters']:,} parameters) and runs "
             f"{gshrunk[f'speed-up batch {b}']:.2f}x faster (accuracy "
             f"{gdense['accuracy']:.4f} dense, {gshrunk['accuracy']:.4f} shrunk).")
    return [first, second, third]


def run_demo(out_dir="sparsefit-report", *, seed=0, quick=False, stream=None,
             progress=True, command=None):
    """Run every section, print the terminal summary, write ``demo-report.html``.

    Parameters
    ----------
    out_dir : str
    seed : int
    quick : bool
        Fewer epochs, strengths and alphas (for tests).
    stream : file, optional
        Where the terminal text goes (default standard output).
    progress : bool
    command : str, optional
        The command line shown in the report (default: the equivalent ``sparsefit demo``).

    Returns
    -------
    dict with ``report`` (the HTML path), ``keras`` (section 1's numbers),
    ``classifier`` (table rows), ``runs``, ``sparsity_path``, ``lasso``,
    ``compressed_sensing``, ``shrink``, ``summary`` (the paragraphs) and ``seconds``.
    """
    import torch

    stream = stream or sys.stdout
    t0 = time.perf_counter()
    command = command or (f"sparsefit demo --out {out_dir} --seed {seed}"
                          + (" --quick" if quick else ""))

    def say(*a):
        print(*a, file=stream)
        stream.flush()

    # one thread: on a loaded 2-core machine torch's two threads fight each other (the
    # shrink section's timings measured 180x slower), which would time contention
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        say(TITLE + (" (quick)" if quick else ""))
        say("")
        sections = []
        sec, text, keras = section_keras_check()
        sections.append(sec)
        say("1. The Keras check")
        say(text)
        say("")
        say("2. The breast-cancer classifier, four ways"
            + (" in Keras and in PyTorch" if keras["keras"] is not None else ""))
        secs, text, rows, runs = section_classifier(seed=seed, quick=quick,
                                                    progress=progress)
        sections += secs
        say(text)
        say("")
        say("4. Accuracy against sparsity")
        ref = runs["PyTorch"]["none"]["stats"]["val_accuracy"]
        sec, text, spath = section_sparsity_path(seed=seed, quick=quick, reference=ref)
        sections.append(sec)
        say(text)
        say("")
        from .shrink_section import section_shrink

        sec, text, shrinking = section_shrink(
            seed=seed, quick=quick, l1_model=runs["PyTorch"]["l1_proximal"]["model"])
        sections.append(sec)
        say("5. Why is my pruned network not faster?")
        say(text)
        say("")
        say("6. The Lasso on the diabetes data")
        sec, text, lasso = section_lasso(quick=quick)
        sections.append(sec)
        say(text)
        say("")
        sections.append(section_geometry())
        sec, text, cs = section_compressed_sensing(seed=seed)
        sections.append(sec)
        say("8. Compressed sensing")
        say(text)
        summary = demo_summary(keras, runs, shrinking)
        provenance = Provenance(command, started=t0)
        path = write_report(sections, out_dir, title=TITLE, filename="demo-report.html",
                            summary=summary, provenance=provenance)
    finally:
        torch.set_num_threads(threads)
    say("")
    say("Summary")
    for p in summary:
        say(p)
    say("")
    say(f"Report: {path} (figures as PNG beside it) -- {provenance.seconds:.1f} s")
    return {"report": path, "keras": keras, "classifier": rows, "runs": runs,
            "sparsity_path": spath, "lasso": lasso, "compressed_sensing": cs,
            "shrink": shrinking, "summary": summary, "seconds": provenance.seconds}
