"""The ``sparsefit`` command (also ``python -m sparsefit``)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings

REPORTS = {"demo": "demo-report.html", "fit": "fit-report.html", "compare": "compare.html"}


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line on stderr (exit status 2), with where to find help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _fail(command, message):
    """A user's mistake: one line on stderr, exit status 2."""
    text = " ".join(str(message).split("\n"))
    print(f"sparsefit {command}: error: {text}", file=sys.stderr)
    return 2


def _check_out(path, seed=None):
    """``--out`` must be a folder (or not exist yet) and ``--seed`` a valid seed."""
    if os.path.lexists(path) and not os.path.isdir(path):
        return f"--out {path}: a file exists there; give a folder name"
    if seed is not None and not 0 <= seed < 2**32:
        return f"--seed must be an integer from 0 to 2**32 - 1, got {seed}"
    return None


def command_line(args):
    """The command that made a report, every option spelled out (defaults included).

    Rebuilt from the parsed ``args`` (not ``sys.argv``), so it is the same however the
    command was called; quoted for a POSIX shell.

    Examples
    --------
    >>> command_line(build_parser().parse_args(["demo", "--quick"]))
    'sparsefit demo --out sparsefit-report --seed 0 --quick'
    """
    import shlex

    parser = getattr(args, "subparser", None)
    words = ["sparsefit", args.command]
    if parser is None:
        return shlex.join(words)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.dest in ("open", "no_progress"):
            continue
        value = getattr(args, action.dest, None)
        if not action.option_strings:
            words.append(str(value))
        elif isinstance(action, argparse._StoreTrueAction):
            if value:
                words.append(action.option_strings[-1])
        elif value is not None:
            words += [action.option_strings[-1], str(value)]
    return shlex.join(words)


def _replaced_note(out_dir, command):
    """Whether the command's report exists already (the run will replace it)."""
    return os.path.exists(os.path.join(out_dir, REPORTS[command]))


def cmd_demo(args, out=None):
    """The main job: what L1 does, on embedded data; terminal summary and HTML report."""
    out = sys.stdout if out is None else out
    from .report.demo import run_demo

    problem = _check_out(args.out, args.seed)
    if problem:
        return _fail("demo", problem)
    existed = _replaced_note(args.out, "demo")
    result = run_demo(args.out, seed=args.seed, quick=args.quick, stream=out,
                      progress=not args.no_progress, command=command_line(args))
    if existed:
        print(f"(This replaced the demo report that was in {args.out}.)", file=out)
    if args.open:
        _open_in_browser(result["report"], out)
    return 0


def _open_in_browser(path, out):
    import os
    import webbrowser

    url = "file://" + os.path.abspath(path)
    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    if not opened:
        print(f"No browser found; open {url} yourself.", file=out)


def cmd_fit(args, out=None):
    """Fit a cross-validated sparse model on a user's table; print, save, report."""
    out = sys.stdout if out is None else out
    import time

    from . import tabular
    from ._progress import Progress

    started = time.perf_counter()
    problem = _check_out(args.out)
    if problem:
        return _fail("fit", problem)
    options = dict(task=args.task, penalty=args.penalty, l1_ratio=args.l1_ratio, tau=args.tau,
                   groups=args.groups, cv=args.cv, n_alphas=args.n_alphas,
                   selection=args.selection, seed=args.seed)
    try:  # the options and folders first: a mistake there costs no reading and no fit
        tabular.check_options(**options, tol=1e-6)
        if args.save:
            tabular.check_save_folder(args.save, report_dir=args.out)
        if args.engine == "dask":
            if args.test_size:
                raise tabular.DataError("--test-size needs the local engine (drop --engine "
                                        "dask, or hold rows out of the dataset yourself)")
            model = _fit_dask(args, options, out)
        else:
            if args.scheduler:
                raise tabular.DataError("--scheduler needs --engine dask")
            df = tabular.read_table(args.data)
            total = (args.cv + 1) * args.n_alphas + 1
            with Progress(total, "fit: cross-validated path",
                          enabled=not args.no_progress) as bar:
                model = tabular.fit_table(df, args.target, one_hot=args.one_hot,
                                          dropna=args.dropna, progress=bar,
                                          test_size=args.test_size, **options)
    except tabular.DataError as exc:
        return _fail("fit", exc)
    _print_fit(model, args, out)
    if args.save:  # before the report: a failing figure must not cost the model
        try:
            tabular.save_fitted(args.save, model)
        except OSError as exc:
            return _fail("fit", f"--save {args.save}: {exc.strerror or exc}")
        print(f"Model saved to {args.save} (model.json + arrays.npz, no pickle)", file=out)
    try:
        path, replaced = _fit_report(model, args, started=started)
    except OSError as exc:
        saved = " (the model was saved)" if args.save else ""
        return _fail("fit", f"--out {args.out}: the report cannot be written: "
                            f"{exc.strerror or exc}{saved}")
    print(f"Report: {path}" + (" (replaced the fit report that was there)" if replaced
                               else ""), file=out)
    return 0


def _fit_dask(args, options, out):
    """``fit --engine dask``: the files (a glob) read by dask.dataframe, one pass on the
    cluster at ``--scheduler`` or on a new LocalCluster; dask's progress bar and the
    dashboard address on the way."""
    from ._table_read import DataError

    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise DataError("--engine dask needs dask and distributed: pip install "
                        "'sparsefit[dask]'") from None
    from .distributed._table import fit_table_dask

    for flag, given in (("--one-hot", args.one_hot), ("--dropna", args.dropna),
                        ("--groups", options["groups"])):
        if given:
            raise DataError(f"{flag} is not available with --engine dask (numeric columns, "
                            "no NaN); use --engine local")
    if options["task"] not in (None, "regression"):
        raise DataError(f"--task {options['task']}: --engine dask fits regression targets; "
                        "use --engine local for classification")
    if options["penalty"] not in ("l1", "elastic_net"):
        raise DataError(f"--penalty {options['penalty']}: --engine dask takes l1 or "
                        "elastic_net")
    kw = {k: options[k] for k in ("task", "penalty", "l1_ratio", "cv", "n_alphas",
                                  "selection", "seed")}
    cluster = None
    try:
        if args.scheduler:
            client = Client(args.scheduler)
        else:
            cluster = LocalCluster(processes=True, dashboard_address=":0")
            client = Client(cluster)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DataError(f"--scheduler {args.scheduler}: cannot connect ({exc})") from None
    try:
        where = args.scheduler or "a new LocalCluster"
        print(f"dask: {where}, {len(client.scheduler_info().get('workers', {}))} workers; "
              f"dashboard: {client.dashboard_link}", file=out)
        with dask.config.set({"sparsefit.progress": not args.no_progress}):
            try:
                return fit_table_dask(args.data, args.target, **kw)
            except DataError:
                raise
            except ValueError as exc:  # what the pass found in the data (NaN, no rows)
                raise DataError(f"DATA {args.data!r}: {exc}") from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _print_fit(model, args, out):
    from . import tabular
    from .report import table_text

    rows = tabular.selected_features(model)
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"task: {model['task']} ({model['task_reason']})")
    k = model["n_dropped"]
    dropped = f" ({k} row{'s' * (k > 1)} with NaN dropped: --dropna)" if k else ""
    p(f"{model['n_rows']} rows{dropped}, {len(model['feature_names'])} features, penalty: "
      f"{model['penalty']}, {args.cv}-fold CV")
    p(f"alpha_min = {model['alpha_min']:.4g}, alpha_1se = {model['alpha_1se']:.4g}; "
      f"selected ({model['selection']}): {model['alpha']:.4g}")
    for line in _quality(model):
        p(line)
    p(f"{len(rows)} of {len(model['feature_names'])} features selected:")
    p(table_text(rows) if rows else "(none: the intercept-only model)")


def _quality(model):
    """The fit's quality in sentences: the CV score at the chosen alpha with its standard
    error, and the held-out score (``--test-size``)."""
    mean, se = model["cv_at_alpha"]
    metric = "mean squared error" if model["task"] == "regression" else "log-loss"
    k = model.get("cv")
    lines = [f"CV {metric} at the chosen alpha {model['alpha']:.4g}: {mean:.4g} "
             f"(standard error {se:.2g}{f' over {k} folds' if k else ''})."]
    held = model.get("held_out")
    if held:
        share = f"{model['test_size']:g} of the rows, " if model.get("test_size") else ""
        if model["task"] == "regression":
            lines.append(f"Held-out ({share}{held['n_rows']} rows, not used in the fit): "
                         f"R^2 {held['r2']:.3f}, mean squared error {held['mse']:.4g}.")
        else:
            lines.append(f"Held-out ({share}{held['n_rows']} rows, not used in the fit): "
                         f"accuracy {held['accuracy']:.3f}, log-loss {held['log_loss']:.3g}.")
    return lines


def pixel_grid(names):
    """The image shape when the features are the pixels of an image (``pixel_<row>_<col>``,
    as scikit-learn names the digits), else None.

    Examples
    --------
    >>> pixel_grid([f"pixel_{r}_{c}" for r in range(8) for c in range(8)])
    (8, 8)
    >>> pixel_grid(["age", "bmi"]) is None
    True
    """
    import re

    cells = [re.fullmatch(r"pixel_(\d+)_(\d+)", n) for n in names]
    if not names or not all(cells):
        return None
    rc = [(int(m.group(1)), int(m.group(2))) for m in cells]
    rows, cols = max(r for r, _ in rc) + 1, max(c for _, c in rc) + 1
    if sorted(rc) != [(r, c) for r in range(rows) for c in range(cols)] or rc != sorted(rc):
        return None
    return rows, cols


def fit_summary(model, rows):
    """The fit report's summary: two or three sentences from the fitted model."""
    n = len(model["feature_names"])
    kept = ", ".join(r["feature"] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    first = (f"A {model['penalty']} {model['task']} model of {model['target']} on "
             f"{model['n_rows']} rows keeps {len(rows)} of {n} features"
             + (f" ({kept})" if rows else " (the intercept-only model)")
             + f" at alpha {model['alpha']:.4g}, chosen by the {model['selection']} rule.")
    return [first] + _quality(model)


def _fit_report(model, args, command=None, started=None):
    """Write the fit report; ``(path, whether an earlier fit report was replaced)``."""
    import numpy as np

    from . import tabular
    from .plot import path_labels, plot_cv_curve, plot_input_images, plot_path
    from .report import Provenance, Section, write_report

    rows = tabular.selected_features(model)
    names = model["feature_names"]
    ylabel = "CV mean squared error" if model["task"] == "regression" else "CV log-loss"
    _, rest = path_labels(model["path"], names)
    groups = model.get("feature_groups")
    caption = "Coefficients along the path; the 8 largest traces labelled"
    if groups is not None:
        caption += ", each trace coloured by its group"
    if rest:
        caption += f"; the other non-zero traces: {', '.join(names[j] for j in rest)}"
    figs = [
        ("fit_path", plot_path(model["alphas"], model["path"], names,
                               alpha_min=model["alpha_min"], alpha_1se=model["alpha_1se"],
                               title="Regularization path (standardized features)",
                               groups=groups),
         caption),
        ("fit_cv_curve", plot_cv_curve(model["alphas"], model["cv_mean"], model["cv_se"],
                                       alpha_min=model["alpha_min"],
                                       alpha_1se=model["alpha_1se"], ylabel=ylabel),
         "Cross-validation curve: mean over the folds with one standard error"),
    ]
    shape = pixel_grid(names)
    if shape is not None:
        coef = np.asarray(model["coef"])
        labels = ([f"class {c}" for c in model["classes"]] if coef.shape[0] > 1 else
                  [f"coefficients of {model['target']}"])
        figs.append(("fit_coef_images", plot_input_images(
            coef, shape, names=labels, title=f"Coefficients as {shape[0]}x{shape[1]} images"),
            "Each coefficient at the pixel it reads (standardized features); black pixels "
            "are exactly zero: the model does not read them"))
    summary = fit_summary(model, rows)
    sec = Section(f"Sparse model of {model['target']}", [
        f"Task {model['task']} ({model['task_reason']}), penalty {model['penalty']}, "
        f"{model['n_rows']} rows; selected alpha {model['alpha']:.4g} ({model['selection']})."]
        + _quality(model), tables=[rows] if rows else [], figures=figs[:1])
    cv_sec = Section("Cross-validation", [
        f"alpha_min = {model['alpha_min']:.4g} (lowest CV error), alpha_1se = "
        f"{model['alpha_1se']:.4g} (the largest alpha within one standard error of it)."],
        figures=figs[1:2])
    sections = [sec, cv_sec]
    if len(figs) > 2:
        sections.append(Section("The coefficients as images", [], figures=figs[2:]))
    replaced = _replaced_note(args.out, "fit")
    path = write_report(sections, args.out, title=f"sparsefit fit: {os.path.basename(args.data)}",
                        filename=REPORTS["fit"], summary=summary,
                        provenance=Provenance(command or command_line(args), started=started))
    return path, replaced


def cmd_predict(args, out=None):
    """Predict with a model saved by ``sparsefit fit --save``."""
    out = sys.stdout if out is None else out
    import pandas as pd

    from . import tabular
    from .io import ModelFormatError

    try:
        if args.output:
            tabular.check_output_file(args.output, model_dir=args.model, inputs=[
                args.data, os.path.join(args.model, "model.json"),
                os.path.join(args.model, "arrays.npz")])
        pred = tabular.predict_file(args.model, args.data)
    except (tabular.DataError, ModelFormatError) as exc:
        return _fail("predict", exc)
    frame = pd.DataFrame(pred)
    if args.output:
        try:
            tabular.write_predictions(frame, args.output)
        except OSError as exc:
            return _fail("predict", f"--output {args.output}: {exc.strerror or exc}")
        print(f"{len(frame)} predictions written to {args.output}", file=out)
    else:
        frame.to_csv(out, index=False)
    return 0


def cmd_compare(args, out=None):
    """L1 vs L2 vs none on the noisy line with outliers; the L1 network shrunk."""
    out = sys.stdout if out is None else out
    from .report.compare import run_compare

    runs, epochs = (2, 30) if args.quick else (args.runs, args.epochs)
    if runs < 1 or epochs < 1 or not 0 <= args.lam < float("inf"):
        return _fail("compare", "--runs and --epochs must be >= 1, --lam finite and >= 0")
    if args.scale is None:  # the report states the scale it used
        from .experiments.seed_line import SCALE

        args.scale = SCALE
    if not 0 < args.scale < float("inf"):
        return _fail("compare", f"--scale must be a finite number > 0, got {args.scale}")
    problem = _check_out(args.out, args.seed)
    if problem:
        return _fail("compare", problem)
    existed = _replaced_note(args.out, "compare")
    result = run_compare(args.out, lam=args.lam, runs=runs, epochs=epochs, seed=args.seed,
                         scale=args.scale, stream=out, progress=not args.no_progress,
                         command=command_line(args))
    if existed:
        print(f"(This replaced the compare report that was in {args.out}.)", file=out)
    if args.open:
        _open_in_browser(result["report"], out)
    return 0


def build_parser():
    parser = _Parser(
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
    demo.add_argument("--out", default="sparsefit-report", metavar="DIR",
                      help="output folder for demo-report.html and the PNGs "
                           "(default: sparsefit-report/)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--quick", action="store_true", help="fewer epochs and alphas")
    demo.add_argument("--open", action="store_true", help="open the report in a browser")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(func=cmd_demo, subparser=demo)

    fit = sub.add_parser("fit", help="cross-validated sparse model of a CSV/Parquet table",
                         description="Fit the cross-validated regularization path (L1 by "
                                     "default) for one target column; print the selected "
                                     "features, write a report, optionally save the model.")
    fit.add_argument("data", help="a .csv, .tsv or .parquet file (with --engine dask: a "
                     "glob of Parquet or CSV files, quoted: 'data/*.parquet')")
    fit.add_argument("--target", required=True, help="the column to predict")
    fit.add_argument("--task", choices=["regression", "binary", "multiclass"],
                     help="what to predict; read off the target when not given (the choice "
                          "and its reason are printed)")
    fit.add_argument("--penalty", default="l1",
                     choices=["l1", "elastic_net", "group_lasso", "sparse_group_lasso"])
    fit.add_argument("--l1-ratio", type=float, help="for elastic_net: in (0, 1], default 0.5")
    fit.add_argument("--tau", type=float, help="for sparse_group_lasso: in [0, 1], default 0.5")
    fit.add_argument("--groups", help="for the group penalties: 'prefix' (column-name prefix "
                                      "before '_') or a JSON file {group: [columns]}")
    fit.add_argument("--one-hot", action="store_true", help="one-hot encode text columns")
    fit.add_argument("--dropna", action="store_true", help="drop rows with NaN")
    fit.add_argument("--cv", type=int, default=5, help="folds, 2 to 100 (default 5)")
    fit.add_argument("--n-alphas", type=int, default=50,
                     help="penalty strengths on the path, 2 to 1000 (default 50)")
    fit.add_argument("--alpha-rule", "--selection", dest="selection", choices=["min", "1se"],
                     default="1se",
                     help="alpha with the lowest CV error, or the largest within one "
                          "standard error of it (default); --selection is the old "
                          "spelling (the estimators' alpha_rule)")
    fit.add_argument("--test-size", type=float, metavar="SHARE",
                     help="hold out this share of the rows, in (0, 1), and report the "
                          "model's score on them")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--engine", choices=["local", "dask"], default="local",
                     help="local: read the file into memory; dask: out of core on a dask "
                     "cluster, one pass over the data (regression, l1/elastic_net)")
    fit.add_argument("--scheduler", metavar="ADDRESS",
                     help="with --engine dask: the scheduler to use (default: start a "
                     "LocalCluster)")
    fit.add_argument("--no-progress", action="store_true", help="no progress display")
    fit.add_argument("--out", default="sparsefit-report", metavar="DIR",
                     help="folder of fit-report.html and its PNGs (default: sparsefit-report/)")
    fit.add_argument("--save", metavar="DIR", help="save the model into this folder (JSON + "
                                                   "npz, no pickle; a model there is replaced)")
    fit.set_defaults(func=cmd_fit, subparser=fit)

    cmp = sub.add_parser("compare", help="L1 vs L2 vs none on a noisy line; L1 net shrunk",
                         description="The 1-10-10-10-1 network on a noisy straight line with "
                                     "outliers (SGD lr 0.01, batch 1): no penalty, L2, L1 in "
                                     "the loss and proximal L1; errors per run, fitted lines, "
                                     "weights, and the L1 networks shrunk and retrained.")
    cmp.add_argument("--lam", type=float, default=0.3, help="penalty strength (default 0.3)")
    cmp.add_argument("--scale", type=float, default=None,
                     help="units of the data: x in [-scale, scale] (default: the scale at "
                          "which the seed's settings give its picture)")
    cmp.add_argument("--runs", type=int, default=5)
    cmp.add_argument("--epochs", type=int, default=300)
    cmp.add_argument("--seed", type=int, default=0)
    cmp.add_argument("--quick", action="store_true", help="2 runs of 30 epochs")
    cmp.add_argument("--out", default="sparsefit-report", metavar="DIR")
    cmp.add_argument("--open", action="store_true")
    cmp.add_argument("--no-progress", action="store_true", help="no progress display")
    cmp.set_defaults(func=cmd_compare, subparser=cmp)

    pred = sub.add_parser("predict", help="predict with a saved model",
                          description="Predictions of a model saved by 'sparsefit fit "
                                      "--save' on a table with the same feature columns.")
    pred.add_argument("model", help="the folder written by --save")
    pred.add_argument("data", help="a .csv, .tsv or .parquet file")
    pred.add_argument("--output", help="write a CSV here instead of standard output (not one "
                                       "of the inputs)")
    pred.set_defaults(func=cmd_predict)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings (a model saved by other versions, a fit that did not converge) as one line
    on stderr, without the source line Python would print."""
    text = " ".join(str(message).split())
    print(f"sparsefit: warning: {text} ({category.__name__})", file=file or sys.stderr)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            return args.func(args)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
