"""Sparse models on a user's table (CSV or Parquet): what ``sparsefit fit`` and
``sparsefit predict`` do. Needs pandas (and pyarrow >= 14.0.1 for Parquet).

Every user mistake becomes a :class:`DataError` naming the column or option and a fix;
nothing is guessed silently (see :mod:`sparsefit._table_read` and
:mod:`sparsefit._table_checks`).
"""

from __future__ import annotations

import json
import os
from functools import partial
from types import SimpleNamespace

import numpy as np

from . import _atomic
from . import _table_checks as checks
from . import _table_model as tmodel
from . import io as sfio
from ._table_checks import check_options
from ._table_read import MIN_PYARROW, DataError, check_column_names, read_table

PENALTIES = checks.PENALTIES
TASKS = checks.TASKS
__all__ = ["DataError", "read_table", "detect_task", "groups_from", "fit_table",
           "selected_features", "save_fitted", "load_fitted", "predict_table", "predict_file",
           "check_save_folder", "check_output_file", "write_predictions", "check_options",
           "MIN_PYARROW"]


def detect_task(y):
    """``"regression"``, ``"binary"`` or ``"multiclass"`` from the target column.

    Non-numeric targets are classes; numeric targets with 2 distinct values are binary;
    integers with 3 to 10 distinct values and at least 20 rows per value are classes;
    anything else is regression (see :func:`sparsefit._table_checks.choose_task`).

    Examples
    --------
    >>> import pandas as pd
    >>> detect_task(pd.Series([0.5, 1.2, 3.3])), detect_task(pd.Series(["a", "b", "a"]))
    ('regression', 'binary')
    """
    return checks.choose_task(y, "target", None, 1)[0]


# --- features --------------------------------------------------------------------------------

def _nan_rows(frame, command, dropna):
    """The rows to keep; NaN refused (naming the columns) unless ``dropna``."""
    na = frame.isna()
    if not na.to_numpy().any():
        return np.ones(len(frame), dtype=bool)
    counts = na.sum()
    bad = ", ".join(f"{c} ({int(n)})" for c, n in counts.items() if n)
    empty = [str(c) for c, n in counts.items() if n == len(frame)]
    if empty and command == "fit":
        raise DataError(f"column(s) {', '.join(empty[:10])} are empty in every row; drop "
                        "them")
    if command == "predict":
        raise DataError(f"empty or NaN cells in column(s) {bad}: predict needs a value in "
                        "every feature; fill them or remove those rows")
    if not dropna:
        raise DataError(f"NaN in column(s) {bad}: clean them or pass --dropna")
    return ~na.any(axis=1).to_numpy()


def _features(frame, columns, categories, command):
    """The float64 feature matrix of ``frame[columns]``: numeric columns as they are, the
    columns in ``categories`` one-hot encoded with those categories."""
    parts = []
    for c in columns:
        if c in categories:
            parts.append(checks.one_hot(frame[c], c, categories[c], command))
        else:
            if checks.column_kind(frame[c], c, command) != "numeric":
                raise DataError(_text_column_message([c], command))
            parts.append(checks.numeric_values(frame[c])[:, None])
    return np.hstack(parts) if parts else np.zeros((len(frame), 0))


def _text_column_message(cols, command):
    listed = ", ".join(map(str, cols))
    if command == "predict":
        return (f"column(s) {listed} hold text where the model was fitted on numbers; fix "
                "those values")
    return f"non-numeric column(s) {listed}: drop them or pass --one-hot to encode them"


def _fit_features(feats, one_hot):
    """Columns, one-hot categories and the encoded matrix at fit time."""
    columns = list(feats.columns)
    text = [c for c in columns if checks.column_kind(feats[c], c, "fit") == "text"]
    if text and not one_hot:
        raise DataError(_text_column_message(text, "fit"))
    categories = {c: checks.categories_of(feats[c], c, len(feats)) for c in text}
    names = tmodel.feature_names(columns, categories)
    try:
        check_column_names(names, what="--one-hot")
    except DataError as exc:
        raise DataError(f"{exc} (an indicator column 'column_value' has the name of another "
                        "column: rename one of them)") from None
    X = _features(feats, columns, categories, "fit")
    checks.check_finite(X, names)
    return columns, categories, names, X


def _prepare(df, target, one_hot, dropna):
    df = df.rename(columns=str)  # a new frame: the caller's is never modified
    target = str(target)
    check_column_names(list(df.columns))
    if target not in df.columns:
        raise DataError(f"--target: no column {target!r} in DATA{_did_you_mean(target, df)}")
    feats = df.drop(columns=[target])
    if feats.shape[1] == 0:
        raise DataError("DATA has no feature column besides the target")
    y = checks.as_numbers_if_numeric(df[target], target)  # numbers in disguise refused
    keep = _nan_rows(df, "fit", dropna)
    feats, y = feats.loc[keep], y.loc[keep]
    columns, categories, names, X = _fit_features(feats, one_hot)
    checks.check_scales(X, names)
    return SimpleNamespace(columns=columns, categories=categories, names=names, X=X, y=y,
                           n_dropped=int(len(keep) - keep.sum()))


def _did_you_mean(target, df):
    """A column that differs from ``target`` only by case or spaces, else the columns."""
    near = [c for c in df.columns if c.strip().casefold() == target.strip().casefold()]
    if near:
        return f"; did you mean {near[0]!r}?"
    shown = ", ".join(repr(c) for c in df.columns[:20])
    return f" (columns: {shown}{', ...' if len(df.columns) > 20 else ''})"


def _standardize(X):
    """Mean and scale (standard deviation; 1 for a constant column, centred exactly)."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    constant = np.ptp(X, axis=0) == 0
    mean[constant] = X[0, constant]
    scale[constant | (scale == 0)] = 1.0
    return mean, scale


# --- groups ----------------------------------------------------------------------------------

def groups_from(names, spec, categories=None):
    """Index groups of the features: from name prefixes (``"prefix"``: the part before the
    first ``_``) or from a JSON file mapping group names to columns. A one-hot column may
    be named in the JSON for all its indicators, and those of a column the file does not
    name form one group. Every feature gets exactly one group.

    Examples
    --------
    >>> groups_from(["a_1", "a_2", "b_1"], "prefix")
    ([[0, 1], [2]], ['a', 'b'])
    """
    categories = categories or {}
    if spec == "prefix":
        return _prefix_groups(names)
    mapping = _read_groups_file(spec)
    index = {n: i for i, n in enumerate(names)}
    members = {c: [index[f"{c}_{v}"] for v in vals] for c, vals in categories.items()}
    groups, labels, seen = [], [], set()
    for g, cols in mapping.items():
        idx = []
        for c in cols:
            found = members.get(c) or ([index[c]] if c in index else None)
            if found is None:
                raise DataError(f"--groups: column {c!r} of group {g!r} is not a feature")
            if seen & set(found):
                raise DataError(f"--groups: column {c!r} is in two groups")
            seen.update(found)
            idx += found
        groups.append(idx)
        labels.append(str(g))
    for c, idx in members.items():
        if not seen & set(idx):
            groups.append(idx)
            labels.append(c)
            seen.update(idx)
    rest = [i for i in range(len(names)) if i not in seen]
    return groups + [[i] for i in rest], labels + [names[i] for i in rest]


def _prefix_groups(names):
    keys = [n.split("_", 1)[0] for n in names]
    order = list(dict.fromkeys(keys))
    groups = [[i for i, k in enumerate(keys) if k == g] for g in order]
    if all(len(g) == 1 for g in groups):
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise DataError(f"--groups prefix found no group: no two features share a prefix "
                        f"before '_' ({shown}); name related columns like 'blood_s1', "
                        "'blood_s2', or pass a JSON file {group: [columns]}")
    return groups, order


def _read_groups_file(spec):
    if not os.path.isfile(spec):
        raise DataError(f"--groups: expected 'prefix' or a JSON file, got {spec!r} (no such "
                        "file)")
    try:
        with open(spec, encoding="utf-8") as fh:
            mapping = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"--groups {spec}: not valid JSON ({exc})") from None
    if not isinstance(mapping, dict) or not mapping or not all(
            isinstance(v, list) and v and all(isinstance(c, str) for c in v)
            for v in mapping.values()):
        raise DataError(f"--groups {spec}: the JSON must map each group name to a non-empty "
                        'list of column names, e.g. {"blood": ["s1", "s2"], "age": ["age"]}')
    return mapping


# --- fit -------------------------------------------------------------------------------------

def _model_for(task, y_series, penalty, l1_ratio, tau, group_idx, n_features):
    """``(datafit, make_penalty, y, classes, loss, stratify)`` for the task and penalty."""
    from .datafits import Quadratic
    from .linear_model._cv import weighted_mse
    from .linear_model._logistic import _encode, log_loss_at, logistic_penalty
    from .linear_model._regression import _elastic_net_penalty
    from .penalties import GroupL1, SparseGroupL1

    if task == "regression":
        y = checks.regression_target(y_series, str(y_series.name))
        datafit, classes, loss, strat = Quadratic(), None, weighted_mse, None
    else:
        classes, datafit, y = _encode(type("fit", (), {})(), y_series.to_numpy())
        loss, strat = log_loss_at, y_series.to_numpy()
    n_classes = 1 if classes is None or len(classes) == 2 else len(classes)
    if group_idx is not None:
        # multinomial coefficient (j, k) is penalty coordinate j * n_classes + k: a group
        # of features holds all their classes
        blocks = [[j * n_classes + k for j in g for k in range(n_classes)] for g in group_idx]
        make = (partial(GroupL1, groups=blocks) if penalty == "group_lasso"
                else partial(SparseGroupL1, tau=tau, groups=blocks))
    elif task == "regression":
        make = partial(_elastic_net_penalty, l1_ratio=1.0 if penalty == "l1" else l1_ratio)
    else:
        make = partial(logistic_penalty, l1_ratio=1.0 if penalty == "l1" else l1_ratio,
                       n_features=n_features, n_classes=len(classes), multiclass_penalty="l1")
    return datafit, make, y, classes, loss, strat


def fit_table(df, target, *, task=None, penalty="l1", l1_ratio=None, tau=None, groups=None,
              one_hot=False, dropna=False, cv=5, n_alphas=50, selection="1se", seed=0,
              tol=1e-6, progress=None, test_size=None):
    """Fit the cross-validated sparse model for ``target`` on ``df``.

    The features are standardized (mean 0, standard deviation 1) before fitting, so the
    coefficients are comparable; ``predict_table`` applies the same scaling.

    Parameters
    ----------
    df : pandas.DataFrame
    target : str
    task : {"regression", "binary", "multiclass"}, optional
        Read off the target when not given (see :func:`detect_task`).
    penalty : {"l1", "elastic_net", "group_lasso", "sparse_group_lasso"}
        Group penalties work for every task (for multiclass, a group holds all the classes
        of its features).
    l1_ratio : float in (0, 1], for elastic_net only (default 0.5)
    tau : float in [0, 1], for sparse_group_lasso only (default 0.5)
    groups : "prefix" or a JSON file, for the group penalties only
    one_hot, dropna : bool
    cv : int from 2 to 100
    n_alphas : int from 2 to 1000
    selection : {"1se", "min"}
    seed : int
    tol : float
    progress : callable, optional
        Called with the number of problems solved, ``(cv + 1) * n_alphas + 1`` in all (a
        :class:`sparsefit._progress.Progress`).
    test_size : float in (0, 1), optional
        Hold this share of the rows out (stratified by class for classification, shuffled
        with ``seed``): the model is fitted and cross-validated on the rest, and
        ``held_out`` gives its score on them.

    Returns
    -------
    dict with ``task`` and ``task_reason``, ``n_rows`` used and ``n_dropped`` (rows with
    NaN, with ``dropna``), ``feature_names``, ``columns`` and one-hot
    ``categories``, ``coef`` (n_targets, n_features) on the standardized scale,
    ``intercept``, ``classes``, ``alphas``, ``cv_mean``, ``cv_se``, ``alpha``, ``alpha_min``,
    ``alpha_1se``, ``path`` (coefficients along the grid), scaler ``mean``/``scale`` and
    the settings; ``cv_at_alpha`` (the CV score at ``alpha`` and its standard error),
    ``feature_groups`` (the group of each feature, for the group penalties) and
    ``held_out`` (with ``test_size``: ``n_rows``, and ``r2`` and ``mse`` for regression,
    ``accuracy`` and ``log_loss`` for classification; otherwise None).

    Raises
    ------
    DataError
        Naming the option or column to change.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    >>> df["y"] = 2 * df["a"] + 0.1 * rng.normal(size=40)
    >>> m = fit_table(df, "y", cv=3, n_alphas=5)
    >>> m["task"], [f for f, c in zip(m["feature_names"], m["coef"][0]) if c != 0][:1]
    ('regression', ['a'])
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    from .linear_model._cv import cv_path
    from .solvers import solve, solve_path

    l1_ratio, tau = check_options(
        task=task, penalty=penalty, l1_ratio=l1_ratio, tau=tau, groups=groups, cv=cv,
        n_alphas=n_alphas, selection=selection, seed=seed, tol=tol)
    if test_size is not None and not (isinstance(test_size, (int, float)) and
                                      0 < test_size < 1):
        raise DataError(f"--test-size must be a number in (0, 1), got {test_size!r}")
    data = _prepare(df, target, one_hot, dropna)
    test = None
    if test_size is not None:
        data, test = _split(data, target, test_size, cv, seed, task)
    min_rows = max(10, 2 * cv)
    if len(data.y) < min_rows:
        raise DataError(f"too few rows: {len(data.y)} usable, at least {min_rows} needed for "
                        f"{cv}-fold cross-validation (lower --cv, or add rows)")
    task, reason = checks.choose_task(data.y, target, task, cv)
    group_idx, group_labels = (None, None)
    if penalty in checks.GROUP_PENALTIES:
        group_idx, group_labels = groups_from(data.names, groups, data.categories)
    datafit, make, y, classes, loss, strat = _model_for(
        task, data.y, penalty, l1_ratio, tau, group_idx, len(data.names))
    mean, scale = _standardize(data.X)
    Xs = np.asfortranarray((data.X - mean) / scale)
    folds = (KFold if task == "regression" else StratifiedKFold)(
        cv, shuffle=True, random_state=seed)
    opts = dict(fit_intercept=True, tol=tol, max_iter=200)
    res = cv_path(Xs, y, None, datafit, make, loss, n_alphas=n_alphas, cv=folds,
                  stratify_y=strat, progress=progress, **opts)
    alpha = res.alpha_min if selection == "min" else res.alpha_1se
    path = solve_path(Xs, y, datafit, make, alphas=res.alphas, progress=progress, **opts)
    final = solve(Xs, y, datafit, make(alpha), **opts)
    if progress is not None:
        progress(1)
    coef = np.asarray(final.coef)
    coef = coef.reshape(1, -1) if coef.ndim == 1 else coef.T
    intercept = np.atleast_1d(np.asarray(final.intercept, dtype=np.float64))
    held_out = None
    if test is not None:
        held_out = _score(task, classes, test, (test.X - mean) / scale @ coef.T + intercept)
    at = int(np.argmin(np.abs(np.asarray(res.alphas) - alpha)))
    feature_groups = None
    if group_idx is not None:
        feature_groups = [None] * len(data.names)
        for idx, label in zip(group_idx, group_labels):
            for i in idx:
                feature_groups[i] = label
    path_coefs = np.asarray(path.coefs)
    if path_coefs.ndim == 3:  # multinomial: the norm over classes per feature
        path_coefs = np.linalg.norm(path_coefs, axis=2)
    return {
        "task": task, "task_reason": reason, "target": str(target),
        "feature_names": data.names, "columns": data.columns, "categories": data.categories,
        "coef": coef, "intercept": intercept,
        "classes": None if classes is None else list(classes),
        "alphas": res.alphas, "cv_mean": res.mean, "cv_se": res.std_error, "alpha": alpha,
        "alpha_min": res.alpha_min, "alpha_1se": res.alpha_1se, "path": path_coefs,
        "mean": mean, "scale": scale, "penalty": penalty, "selection": selection,
        "one_hot": bool(one_hot), "groups": group_labels, "n_rows": int(len(y)),
        "n_dropped": data.n_dropped,
        "converged": bool(final.converged),
        "cv_at_alpha": (float(res.mean[at]), float(res.std_error[at])),
        "feature_groups": feature_groups, "held_out": held_out, "test_size": test_size,
        "cv": cv,
    }


def _split(data, target, test_size, cv, seed, task):
    """Rows for fitting and held-out rows (stratified by class when the target is not a
    continuous number)."""
    from sklearn.model_selection import train_test_split

    n = len(data.y)
    task, _ = checks.choose_task(data.y, target, task, cv)
    strat = data.y.to_numpy() if task != "regression" else None
    try:
        fit_rows, test_rows = train_test_split(np.arange(n), test_size=test_size,
                                               random_state=seed, stratify=strat)
    except ValueError as exc:
        raise DataError(f"--test-size {test_size}: {exc}") from None
    if len(test_rows) == 0 or len(fit_rows) == 0:
        raise DataError(f"--test-size {test_size} leaves no rows on one side")

    def take(rows):
        return SimpleNamespace(**{**vars(data), "X": data.X[rows],
                                  "y": data.y.iloc[rows].reset_index(drop=True)})

    return take(fit_rows), take(test_rows)


def _score(task, classes, test, scores):
    """Held-out score of the linear ``scores`` on the rows of ``test``."""
    from scipy.special import expit, softmax

    y = test.y.to_numpy()
    if task == "regression":
        y = y.astype(float)
        mse = float(np.mean((scores[:, 0] - y) ** 2))
        r2 = 1.0 - mse / float(np.var(y)) if np.var(y) > 0 else float("nan")
        return {"n_rows": int(len(y)), "r2": r2, "mse": mse}
    classes = np.asarray(classes)
    if task == "binary":
        p1 = expit(scores[:, 0])
        proba = np.column_stack([1 - p1, p1])
    else:
        proba = softmax(scores, axis=1)
    index = {c: k for k, c in enumerate(classes.tolist())}
    truth = np.array([index.get(v.item() if hasattr(v, "item") else v, -1) for v in y])
    p_true = np.where(truth >= 0, proba[np.arange(len(y)), np.maximum(truth, 0)], 0.0)
    return {"n_rows": int(len(y)),
            "accuracy": float(np.mean(proba.argmax(axis=1) == truth)),
            "log_loss": float(-np.mean(np.log(np.clip(p_true, 1e-15, 1.0))))}


def selected_features(model):
    """Rows ``{"feature", "coef"}`` (per class for multiclass) of the non-zero coefficients."""
    rows = []
    coef = model["coef"]
    for j, name in enumerate(model["feature_names"]):
        if np.any(coef[:, j] != 0):
            row = {"feature": name}
            if coef.shape[0] == 1:
                row["coef (standardized)"] = float(coef[0, j])
            else:
                for k, c in enumerate(model["classes"]):
                    row[f"coef[{c}]"] = float(coef[k, j])
            rows.append(row)
    return rows


# --- saving and predicting -------------------------------------------------------------------

def check_save_folder(path, *, report_dir=None):
    """Refuse a ``--save`` folder that exists with other files than a saved model's (they
    would be replaced), that cannot be created, or that is the report folder (or holds it).

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = open(os.path.join(d, "notes.txt"), "w").write("mine")
    >>> try:
    ...     check_save_folder(d)
    ... except DataError as exc:
    ...     print(str(exc).split(": ", 1)[1][:41])
    the folder holds other files than a saved
    """
    real = os.path.realpath(path)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise DataError(f"--save {path}: a file exists there; give a folder name")
    if os.path.isdir(path) and not sfio.is_model_folder(path):
        raise DataError(f"--save {path}: the folder holds other files than a saved model; "
                        "choose a new or empty folder (a saved model there is replaced)")
    _check_creatable(path, "--save")
    if report_dir is not None:
        _check_creatable(report_dir, "--out")
        out = os.path.realpath(report_dir)
        if out == real or out.startswith(real + os.sep):
            raise DataError(f"--save {path} and --out {report_dir}: the report cannot go "
                            "into the model folder; choose different folders")


def _check_creatable(path, flag):
    """The folder ``path`` exists or can be made: its nearest existing ancestor is a
    writable folder (checked before a long fit, not after it)."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if os.path.isdir(path):
        return
    if not os.path.isdir(probe):
        raise DataError(f"{flag} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DataError(f"{flag} {path}: no permission to create a folder in {probe}")


def save_fitted(path, model):
    """Save what :func:`fit_table` returned, as JSON + npz (no pickle), atomically.

    See :func:`predict_table` for an example.
    """
    tmodel.save(path, model)


def load_fitted(path):
    """``(params, arrays)`` of a model saved by :func:`save_fitted`, checked for integrity
    and meaning (raises :class:`sparsefit.io.ModelFormatError`).

    See :func:`predict_table` for an example.
    """
    return tmodel.load(path)


def predict_table(model_dir, df):
    """Predictions (and class probabilities) of a saved model on a DataFrame.

    ``df`` must have the model's feature columns (the target may be there too), and no
    other column; a one-hot column must hold values seen at fit time.

    Examples
    --------
    >>> import tempfile, numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    >>> df["y"] = 3 * df["a"] + 0.1 * rng.normal(size=40)
    >>> folder = tempfile.mkdtemp()
    >>> save_fitted(folder, fit_table(df, "y", cv=3, n_alphas=5))
    >>> load_fitted(folder)[0]["feature_names"]
    ['a', 'b']
    >>> pred = predict_table(folder, df)["prediction"]
    >>> bool(np.corrcoef(pred, df["y"])[0, 1] > 0.99)
    True
    """
    params, arrays = load_fitted(model_dir)
    return _predict(params, arrays, df)


def _predict(params, arrays, df):
    df = df.rename(columns=str)
    check_column_names(list(df.columns))
    feats = df.drop(columns=[params["target"]], errors="ignore")
    columns = params["columns"]
    missing = [c for c in columns if c not in feats.columns]
    if missing:
        raise DataError(f"the model needs column(s) {', '.join(missing[:10])} missing from "
                        "DATA")
    unexpected = [c for c in feats.columns if c not in set(columns)]
    if unexpected:
        raise DataError(f"DATA has column(s) {', '.join(map(str, unexpected[:10]))} the model "
                        "was not fitted on; remove them")
    feats = feats[columns]
    _nan_rows(feats, "predict", False)
    X = _features(feats, columns, params["categories"], "predict")
    checks.check_finite(X, params["feature_names"])
    with np.errstate(over="ignore", invalid="ignore"):
        scores = ((X - arrays["mean"]) / arrays["scale"]) @ arrays["coef"].T + arrays["intercept"]
    if not np.all(np.isfinite(scores)):
        raise DataError("predictions overflow: some values lie far outside the range the "
                        "model was fitted on (check the scale of the columns)")
    return _outputs(params, scores)


def _outputs(params, scores):
    from scipy.special import expit, softmax

    if params["task"] == "regression":
        return {"prediction": scores[:, 0]}
    classes = np.asarray(params["classes"])
    if params["task"] == "binary":
        p1 = expit(scores[:, 0])
        return {"prediction": classes[(p1 > 0.5).astype(int)], f"p({classes[1]})": p1}
    proba = softmax(scores, axis=1)
    out = {"prediction": classes[proba.argmax(axis=1)]}
    out.update({f"p({c})": proba[:, k] for k, c in enumerate(classes)})
    return out


def predict_file(model_dir, data_path):
    """:func:`predict_table` on a file (see :func:`read_table`), reading the model's one-hot
    columns as text, as they were read at fit time; the model is read once.

    Examples
    --------
    >>> import os, tempfile, numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"a": rng.normal(size=40), "city": ["n", "s"] * 20})
    >>> df["y"] = df["a"] + (df["city"] == "n") + 0.1 * rng.normal(size=40)
    >>> folder = tempfile.mkdtemp()
    >>> save_fitted(os.path.join(folder, "m"), fit_table(df, "y", one_hot=True, cv=3,
    ...                                                  n_alphas=5))
    >>> df.drop(columns="y").to_csv(os.path.join(folder, "new.csv"), index=False)
    >>> len(predict_file(os.path.join(folder, "m"), os.path.join(folder, "new.csv"))["prediction"])
    40
    """
    params, arrays = load_fitted(model_dir)
    df = read_table(data_path, text_columns=list(params["categories"]))
    return _predict(params, arrays, df)


def check_output_file(output, *, inputs, model_dir):
    """Refuse an ``--output`` that is one of the ``inputs`` (by path, link or hard link), a
    folder, inside the model folder, or in a folder that does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> data = os.path.join(d, "data.csv")
    >>> _ = open(data, "w").write("a\\n1\\n")
    >>> try:
    ...     check_output_file(data, inputs=[data], model_dir=os.path.join(d, "m"))
    ... except DataError as exc:
    ...     print("refused:", "is an input" in str(exc))
    refused: True
    """
    real = os.path.realpath(output)
    if os.path.isdir(output):
        raise DataError(f"--output {output}: that is a folder; give a file name")
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise DataError(f"--output {output}: the folder {folder} does not exist")
    model_real = os.path.realpath(model_dir)
    if folder == model_real or folder.startswith(model_real + os.sep):
        raise DataError(f"--output {output}: that is inside the model folder; write the "
                        "predictions elsewhere")
    for path in inputs:
        same = os.path.realpath(path) == real or (
            os.path.exists(path) and os.path.exists(output) and os.path.samefile(path, output))
        if same:
            raise DataError(f"--output {output} is an input ({path}); write the predictions "
                            "to another file")


def write_predictions(frame, output):
    """Write the predictions CSV atomically (never a half-written file).

    Examples
    --------
    >>> import os, tempfile, pandas as pd
    >>> out = os.path.join(tempfile.mkdtemp(), "p.csv")
    >>> write_predictions(pd.DataFrame({"prediction": [1.5]}), out)
    >>> open(out).read()
    'prediction\\n1.5\\n'
    """
    _atomic.write_bytes(output, frame.to_csv(index=False).encode("utf-8"))
