"""The ``sparsefit`` command (also ``python -m sparsefit``)."""

from __future__ import annotations

import argparse
import os
import sys


def cmd_demo(args, out=sys.stdout):
    """The main job: what L1 does, on embedded data; terminal summary and HTML report."""
    from .report.demo import run_demo

    result = run_demo(args.out, seed=args.seed, quick=args.quick, stream=out,
                      progress=not args.no_progress)
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


def cmd_fit(args, out=sys.stdout):
    """Fit a cross-validated sparse model on a user's table; print, report, save."""
    from . import tabular
    from .plot import plot_cv_curve, plot_path
    from .report import Section, table_text, write_report

    try:
        df = tabular.read_table(args.data)
        model = tabular.fit_table(
            df, args.target, penalty=args.penalty, l1_ratio=args.l1_ratio, tau=args.tau,
            groups=args.groups, one_hot=args.one_hot, dropna=args.dropna, cv=args.cv,
            n_alphas=args.n_alphas, selection=args.selection, seed=args.seed)
    except tabular.DataError as exc:
        print(f"sparsefit fit: error: {exc}", file=sys.stderr)
        return 2
    rows = tabular.selected_features(model)
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"task: {model['task']} ({model['n_rows']} rows, {len(model['feature_names'])} "
      f"features), penalty: {model['penalty']}, {args.cv}-fold CV")
    p(f"alpha_min = {model['alpha_min']:.4g}, alpha_1se = {model['alpha_1se']:.4g}; "
      f"selected ({model['selection']}): {model['alpha']:.4g}")
    p(f"{len(rows)} of {len(model['feature_names'])} features selected:")
    p(table_text(rows) if rows else "(none: the intercept-only model)")
    ylabel = "CV mean squared error" if model["task"] == "regression" else "CV log-loss"
    figs = [
        ("path", plot_path(model["alphas"], model["path"], model["feature_names"],
                           alpha_min=model["alpha_min"], alpha_1se=model["alpha_1se"],
                           title="Regularization path (standardized features)"),
         "Coefficients along the path"),
        ("cv_curve", plot_cv_curve(model["alphas"], model["cv_mean"], model["cv_se"],
                                   alpha_min=model["alpha_min"], alpha_1se=model["alpha_1se"],
                                   ylabel=ylabel), "Cross-validation curve"),
    ]
    sec = Section(f"Sparse model of {model['target']}", [
        f"Task {model['task']}, penalty {model['penalty']}, {model['n_rows']} rows; "
        f"selected alpha {model['alpha']:.4g} ({model['selection']})."],
        tables=[rows] if rows else [], figures=figs)
    path = write_report([sec], args.out, title=f"sparsefit fit: {os.path.basename(args.data)}")
    p(f"Report: {path}")
    if args.save:
        tabular.save_fitted(args.save, model)
        p(f"Model saved to {args.save} (model.json + arrays.npz, no pickle)")
    return 0


def cmd_predict(args, out=sys.stdout):
    """Predict with a model saved by ``sparsefit fit --save``."""
    import pandas as pd

    from . import tabular
    from .io import ModelFormatError

    try:
        df = tabular.read_table(args.data)
        pred = tabular.predict_table(args.model, df)
    except (tabular.DataError, ModelFormatError) as exc:
        print(f"sparsefit predict: error: {exc}", file=sys.stderr)
        return 2
    frame = pd.DataFrame(pred)
    if args.output:
        frame.to_csv(args.output, index=False)
        print(f"{len(frame)} predictions written to {args.output}", file=out)
    else:
        frame.to_csv(out, index=False)
    return 0


def cmd_compare(args, out=sys.stdout):
    """L1 vs L2 vs none on the noisy line with outliers; the L1 network shrunk."""
    from .report.compare import run_compare

    runs, epochs = (2, 30) if args.quick else (args.runs, args.epochs)
    if runs < 1 or epochs < 1 or not args.lam >= 0:
        print("sparsefit compare: error: --runs and --epochs must be >= 1, --lam >= 0",
              file=sys.stderr)
        return 2
    result = run_compare(args.out, lam=args.lam, runs=runs, epochs=epochs, seed=args.seed,
                         stream=out)
    if args.open:
        _open_in_browser(result["report"], out)
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
    demo.add_argument("--out", default="sparsefit-report", metavar="DIR",
                      help="output folder for report.html and the PNGs "
                           "(default: sparsefit-report/)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--quick", action="store_true", help="fewer epochs and alphas")
    demo.add_argument("--open", action="store_true", help="open the report in a browser")
    demo.add_argument("--no-progress", action="store_true", help="no progress bars")
    demo.set_defaults(func=cmd_demo)

    fit = sub.add_parser("fit", help="cross-validated sparse model of a CSV/Parquet table",
                         description="Fit the cross-validated regularization path (L1 by "
                                     "default) for one target column; print the selected "
                                     "features, write a report, optionally save the model.")
    fit.add_argument("data", help="a .csv, .tsv or .parquet file")
    fit.add_argument("--target", required=True, help="the column to predict")
    fit.add_argument("--penalty", default="l1",
                     choices=["l1", "elastic_net", "group_lasso", "sparse_group_lasso"])
    fit.add_argument("--l1-ratio", type=float, default=0.5, help="for elastic_net")
    fit.add_argument("--tau", type=float, default=0.5, help="for sparse_group_lasso")
    fit.add_argument("--groups", help="'prefix' (column-name prefix before '_') or a JSON "
                                      "file {group: [columns]}")
    fit.add_argument("--one-hot", action="store_true", help="one-hot encode text columns")
    fit.add_argument("--dropna", action="store_true", help="drop rows with NaN")
    fit.add_argument("--cv", type=int, default=5, help="folds (default 5)")
    fit.add_argument("--n-alphas", type=int, default=50)
    fit.add_argument("--selection", choices=["min", "1se"], default="1se",
                     help="alpha with the lowest CV error, or the largest within one "
                          "standard error of it (default)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--out", default="sparsefit-report", metavar="DIR")
    fit.add_argument("--save", metavar="DIR", help="save the model (JSON + npz, no pickle)")
    fit.set_defaults(func=cmd_fit)

    cmp = sub.add_parser("compare", help="L1 vs L2 vs none on a noisy line; L1 net shrunk",
                         description="The 1-10-10-10-1 network on a noisy straight line with "
                                     "outliers (SGD lr 0.01, batch 1): no penalty, L2, L1 in "
                                     "the loss and proximal L1; errors per run, fitted lines, "
                                     "weights, and the L1 networks shrunk and retrained.")
    cmp.add_argument("--lam", type=float, default=0.3, help="penalty strength (default 0.3)")
    cmp.add_argument("--runs", type=int, default=5)
    cmp.add_argument("--epochs", type=int, default=300)
    cmp.add_argument("--seed", type=int, default=0)
    cmp.add_argument("--quick", action="store_true", help="2 runs of 30 epochs")
    cmp.add_argument("--out", default="sparsefit-report", metavar="DIR")
    cmp.add_argument("--open", action="store_true")
    cmp.set_defaults(func=cmd_compare)

    pred = sub.add_parser("predict", help="predict with a saved model",
                          description="Predictions of a model saved by 'sparsefit fit "
                                      "--save' on a table with the same feature columns.")
    pred.add_argument("model", help="the folder written by --save")
    pred.add_argument("data", help="a .csv, .tsv or .parquet file")
    pred.add_argument("--output", help="write a CSV here instead of standard output")
    pred.set_defaults(func=cmd_predict)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
