"""Sparse models on a user's table (CSV or Parquet): what ``sparsefit fit`` and
``sparsefit predict`` do. Needs pandas (and pyarrow >= 14.0.1 for Parquet)."""

from __future__ import annotations

import json
import os
import re
from functools import partial

import numpy as np

from . import io as sfio

PENALTIES = ("l1", "elastic_net", "group_lasso", "sparse_group_lasso")
MIN_PYARROW = (14, 0, 1)


class DataError(ValueError):
    """The table cannot be used as given; the message says what to change."""


def _version_tuple(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def read_table(path):
    """A pandas DataFrame from a ``.csv``/``.tsv``/``.parquet`` file.

    Parquet is read only with pyarrow >= 14.0.1 (older versions deserialize untrusted
    files unsafely, CVE-2023-47248).
    """
    import pandas as pd

    if not os.path.isfile(path):
        raise DataError(f"DATA: no such file {path!r}")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".parquet", ".pq"):
        try:
            import pyarrow
        except ImportError:
            raise DataError("DATA: reading Parquet needs pyarrow >= 14.0.1 "
                            "(pip install 'pyarrow>=14.0.1')") from None
        if _version_tuple(pyarrow.__version__) < MIN_PYARROW:
            raise DataError(f"DATA: pyarrow {pyarrow.__version__} is older than 14.0.1, whose "
                            "Parquet reader is unsafe on untrusted files; upgrade pyarrow")
        return pd.read_parquet(path, engine="pyarrow")
    if ext in (".csv", ".tsv", ".txt"):
        return pd.read_csv(path, sep="\t" if ext == ".tsv" else ",")
    raise DataError(f"DATA: unsupported file type {ext!r}; use .csv, .tsv or .parquet")


def detect_task(y):
    """``"regression"``, ``"binary"`` or ``"multiclass"`` from the target column.

    Non-numeric targets are classes; numeric targets with 2 distinct values are binary;
    integers with at most 10 distinct values are classes; anything else is regression.

    Examples
    --------
    >>> import pandas as pd
    >>> detect_task(pd.Series([0.5, 1.2, 3.3])), detect_task(pd.Series(["a", "b", "a"]))
    ('regression', 'binary')
    """
    import pandas as pd

    k = y.nunique()
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "binary" if k == 2 else "multiclass"
    if k == 2:
        return "binary"
    if pd.api.types.is_integer_dtype(y) and k <= 10:
        return "multiclass"
    return "regression"


def prepare_features(df, *, one_hot=False, dropna=False, columns=None):
    """Check and encode the feature columns; returns ``(X float64, column names, kept rows)``.

    Non-numeric columns are refused by name unless ``one_hot``; NaN are refused (naming
    the columns) unless ``dropna``. ``columns`` (at predict time) reindexes to the fitted
    columns, missing dummies filled with 0.
    """
    import pandas as pd

    keep = np.ones(len(df), dtype=bool)
    if df.isna().any().any():
        bad = [f"{c} ({int(n)})" for c, n in df.isna().sum().items() if n]
        if not dropna:
            raise DataError(f"NaN in column(s) {', '.join(bad)}: clean them or pass --dropna")
        keep = ~df.isna().any(axis=1).to_numpy()
        df = df.loc[keep]
    non_numeric = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])
                   or pd.api.types.is_bool_dtype(df[c])]
    if non_numeric:
        if not one_hot:
            raise DataError(f"non-numeric column(s) {', '.join(map(str, non_numeric))}: drop "
                            "them or pass --one-hot to encode them")
        df = pd.get_dummies(df, columns=non_numeric, dtype=np.float64)
    if columns is not None:
        missing = [c for c in columns if c not in df.columns and not one_hot]
        if missing:
            raise DataError(f"the model needs column(s) {', '.join(missing)} missing from DATA")
        df = df.reindex(columns=columns, fill_value=0.0)
    X = df.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(X)):
        raise DataError("infinite values in the features")
    return X, [str(c) for c in df.columns], keep


def groups_from(names, spec):
    """Index groups from column-name prefixes (``"prefix"``, split at the first ``_``) or a
    JSON file mapping group names to column lists. Every column gets exactly one group."""
    if spec == "prefix":
        keys = [n.split("_", 1)[0] for n in names]
        order = list(dict.fromkeys(keys))
        return [[i for i, k in enumerate(keys) if k == g] for g in order], order
    if not os.path.isfile(spec):
        raise DataError(f"--groups: expected 'prefix' or a JSON file, got {spec!r}")
    with open(spec, encoding="utf-8") as fh:
        mapping = json.load(fh)
    if not isinstance(mapping, dict):
        raise DataError("--groups JSON must map group names to lists of column names")
    index = {n: i for i, n in enumerate(names)}
    groups, labels, seen = [], [], set()
    for g, cols in mapping.items():
        idx = []
        for c in cols:
            if c not in index:
                raise DataError(f"--groups: column {c!r} of group {g!r} is not a feature")
            if c in seen:
                raise DataError(f"--groups: column {c!r} is in two groups")
            seen.add(c)
            idx.append(index[c])
        groups.append(idx)
        labels.append(str(g))
    rest = [i for i, n in enumerate(names) if n not in seen]
    groups += [[i] for i in rest]
    labels += [names[i] for i in rest]
    return groups, labels


def fit_table(df, target, *, penalty="l1", l1_ratio=0.5, tau=0.5, groups=None, one_hot=False,
              dropna=False, cv=5, n_alphas=50, selection="1se", seed=0, tol=1e-6):
    """Fit the cross-validated sparse model for ``target`` on ``df``.

    The features are standardized (mean 0, standard deviation 1) before fitting, so the
    coefficients are comparable; ``predict_table`` applies the same scaling.

    Returns
    -------
    dict with ``task``, ``feature_names``, ``coef`` (n_targets, n_features) on the
    standardized scale, ``intercept``, ``classes``, ``alphas``, ``cv_mean``, ``cv_se``,
    ``alpha``, ``alpha_min``, ``alpha_1se``, ``path`` (coefficients along the grid),
    scaler ``mean``/``scale`` and the settings.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    from .datafits import Logistic, Multinomial, Quadratic
    from .linear_model._cv import cv_path, weighted_mse
    from .linear_model._logistic import _encode, log_loss_at, logistic_penalty
    from .linear_model._regression import _elastic_net_penalty
    from .penalties import GroupL1, SparseGroupL1
    from .solvers import solve, solve_path

    if penalty not in PENALTIES:
        raise DataError(f"--penalty must be one of {', '.join(PENALTIES)}, got {penalty!r}")
    if target not in df.columns:
        raise DataError(f"--target: no column {target!r} in DATA (columns: "
                        f"{', '.join(map(str, df.columns[:20]))})")
    y_series = df[target]
    if y_series.isna().any():
        if not dropna:
            raise DataError(f"NaN in the target column {target!r}: clean it or pass --dropna")
    feats = df.drop(columns=[target])
    if feats.shape[1] == 0:
        raise DataError("DATA has no feature column besides the target")
    rows_ok = ~y_series.isna().to_numpy()
    X, names, keep = prepare_features(feats.loc[rows_ok], one_hot=one_hot, dropna=dropna)
    y_series = y_series.loc[rows_ok].loc[keep]
    min_rows = max(10, 2 * cv)
    if len(y_series) < min_rows:
        raise DataError(f"too few rows: {len(y_series)} usable, at least {min_rows} needed for "
                        f"{cv}-fold cross-validation")
    task = detect_task(y_series)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    Xs = np.asfortranarray((X - mean) / scale)
    group_idx, group_labels = (None, None)
    if penalty in ("group_lasso", "sparse_group_lasso"):
        if groups is None:
            raise DataError(f"--penalty {penalty} needs --groups (prefix or a JSON file)")
        group_idx, group_labels = groups_from(names, groups)
    opts = dict(fit_intercept=True, tol=tol, max_iter=200)
    if task == "regression":
        y = y_series.to_numpy(dtype=np.float64)
        datafit, loss, classes, strat = Quadratic(), weighted_mse, None, None
        folds = KFold(cv, shuffle=True, random_state=seed)
        make = {
            "l1": partial(_elastic_net_penalty, l1_ratio=1.0),
            "elastic_net": partial(_elastic_net_penalty, l1_ratio=l1_ratio),
            "group_lasso": partial(GroupL1, groups=group_idx),
            "sparse_group_lasso": partial(SparseGroupL1, tau=tau, groups=group_idx),
        }[penalty]
    else:
        if penalty in ("group_lasso", "sparse_group_lasso"):
            raise DataError("--penalty group_lasso is for regression targets; for classes use "
                            "l1 or elastic_net")
        classes, datafit, y = _encode(type("fit", (), {})(), y_series.to_numpy())
        loss, strat = log_loss_at, y_series.to_numpy()
        folds = StratifiedKFold(cv, shuffle=True, random_state=seed)
        make = partial(logistic_penalty, l1_ratio=1.0 if penalty == "l1" else l1_ratio,
                       n_features=X.shape[1], n_classes=len(classes), multiclass_penalty="l1")
        assert isinstance(datafit, (Logistic, Multinomial))
    res = cv_path(Xs, y, None, datafit, make, loss, n_alphas=n_alphas, cv=folds,
                  stratify_y=strat, **opts)
    alpha = res.alpha_min if selection == "min" else res.alpha_1se
    path = solve_path(Xs, y, datafit, make, alphas=res.alphas, **opts)
    final = solve(Xs, y, datafit, make(alpha), **opts)
    coef = np.asarray(final.coef)
    coef = coef.reshape(1, -1) if coef.ndim == 1 else coef.T
    intercept = np.atleast_1d(np.asarray(final.intercept, dtype=np.float64))
    path_coefs = np.asarray(path.coefs)
    if path_coefs.ndim == 3:  # multinomial: the norm over classes per feature
        path_coefs = np.linalg.norm(path_coefs, axis=2)
    return {
        "task": task, "target": str(target), "feature_names": names, "coef": coef,
        "intercept": intercept, "classes": None if classes is None else list(classes),
        "alphas": res.alphas, "cv_mean": res.mean, "cv_se": res.std_error, "alpha": alpha,
        "alpha_min": res.alpha_min, "alpha_1se": res.alpha_1se, "path": path_coefs,
        "mean": mean, "scale": scale, "penalty": penalty, "selection": selection,
        "one_hot": bool(one_hot), "groups": group_labels, "n_rows": int(len(y)),
        "converged": bool(final.converged),
    }


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


def save_fitted(path, model):
    """Save what :func:`fit_table` returned, as JSON + npz (no pickle)."""
    params = {k: model[k] for k in ("task", "target", "feature_names", "penalty", "selection",
                                    "one_hot", "alpha", "alpha_min", "alpha_1se", "n_rows")}
    params["classes"] = None if model["classes"] is None else [
        c.item() if hasattr(c, "item") else c for c in model["classes"]]
    arrays = {k: np.asarray(model[k], dtype=np.float64) for k in
              ("coef", "intercept", "mean", "scale", "alphas", "cv_mean", "cv_se")}
    sfio.save_model(path, params, arrays)


def predict_table(model_dir, df):
    """Predictions (and class probabilities) of a saved model on a DataFrame."""
    from scipy.special import expit, softmax

    params, arrays = sfio.load_model(model_dir)
    feats = df.drop(columns=[params["target"]], errors="ignore")
    X, _, keep = prepare_features(feats, one_hot=params["one_hot"],
                                  columns=params["feature_names"])
    Xs = (X - arrays["mean"]) / arrays["scale"]
    scores = Xs @ arrays["coef"].T + arrays["intercept"]
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
