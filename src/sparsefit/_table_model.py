"""The saved form of a ``sparsefit fit`` model, and what a loaded one must satisfy.

The integrity check (:mod:`sparsefit.io`) says a file is as saved; this module says a
model means something: a known task, unique classes that match the coefficient rows,
unique feature names that match the columns and their one-hot categories, finite
coefficients and means, scales finite and > 0. The array shapes follow from the
parameters, and :func:`sparsefit.io.load_model` holds the file to them before reading.
"""

from __future__ import annotations

import numpy as np

from . import io as sfio
from ._table_checks import TASKS

ARRAYS = ("coef", "intercept", "mean", "scale", "alphas", "cv_mean", "cv_se")
_INFO = ("penalty", "selection", "one_hot", "alpha", "alpha_min", "alpha_1se", "n_rows")


def feature_names(columns, categories):
    """The model's features: each column, or its one-hot indicators ``column_value``.

    Examples
    --------
    >>> feature_names(["age", "city"], {"city": ["north", "south"]})
    ['age', 'city_north', 'city_south']
    """
    names = []
    for c in columns:
        names += [f"{c}_{v}" for v in categories[c]] if c in categories else [c]
    return names


def to_params(model):
    """The JSON parameters of a fitted model (everything but the arrays)."""
    params = {k: model[k] for k in _INFO}
    params.update(task=model["task"], target=model["target"], columns=list(model["columns"]),
                  categories={c: list(v) for c, v in model["categories"].items()},
                  feature_names=list(model["feature_names"]), n_alphas=len(model["alphas"]))
    params["classes"] = None if model["classes"] is None else [
        c.item() if hasattr(c, "item") else c for c in model["classes"]]
    return params


def to_arrays(model):
    return {k: np.asarray(model[k], dtype=np.float64) for k in ARRAYS}


def _fail(msg):
    raise sfio.ModelFormatError(f"model.json: {msg}")


def _unique_texts(values, what):
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        _fail(f"{what} must be a list of names")
    if len(set(values)) != len(values):
        dup = next(v for v in values if values.count(v) > 1)
        _fail(f"{what} repeats {dup!r}")


def _check_classes(classes, task):
    if task == "regression":
        if classes is not None:
            _fail("a regression model has no classes")
        return 1
    if not isinstance(classes, list) or len(classes) < 2:
        _fail(f"a {task} model needs a list of classes")
    kinds = {type(c) for c in classes}
    if len(kinds) != 1 or kinds.pop() not in (str, int, float, bool):
        _fail("classes must be all text, all integers, all numbers or all true/false")
    if len(set(classes)) != len(classes):
        _fail("classes are not unique")
    if (task == "binary") != (len(classes) == 2):
        _fail(f"a {task} model with {len(classes)} classes")
    return 1 if task == "binary" else len(classes)


def expected_arrays(params):
    """``{name: (dtype, shape)}`` implied by valid parameters; refuses invalid ones."""
    task = params.get("task")
    if task not in TASKS:
        _fail(f"unknown task {task!r} (expected one of {', '.join(TASKS)})")
    if not isinstance(params.get("target"), str):
        _fail("the target must be a column name")
    columns, categories = params.get("columns"), params.get("categories")
    _unique_texts(columns, "columns")
    if params["target"] in columns:
        _fail("the target is also a feature column")
    if not isinstance(categories, dict) or not set(categories) <= set(columns):
        _fail("categories must map one-hot columns to their values")
    for c, values in categories.items():
        _unique_texts(values, f"the categories of {c!r}")
        if not values:
            _fail(f"column {c!r} has no categories")
    names = params.get("feature_names")
    _unique_texts(names, "feature_names")
    if names != feature_names(columns, categories) or not names:
        _fail("feature_names do not match the columns and their categories")
    n_out = _check_classes(params.get("classes"), task)
    n_alphas = params.get("n_alphas")
    if not isinstance(n_alphas, int) or isinstance(n_alphas, bool) or not 1 <= n_alphas <= 10**4:
        _fail(f"bad n_alphas {n_alphas!r}")
    p = len(names)
    shapes = {"coef": (n_out, p), "intercept": (n_out,), "mean": (p,), "scale": (p,),
              "alphas": (n_alphas,), "cv_mean": (n_alphas,), "cv_se": (n_alphas,)}
    return {k: (np.float64, s) for k, s in shapes.items()}


def check_values(params, arrays):
    """Refuse coefficients, intercepts or means that are not finite, and scales that are
    not finite and > 0."""
    for name in ("coef", "intercept", "mean"):
        if not np.all(np.isfinite(arrays[name])):
            _fail_array(f"{name} holds NaN or infinity")
    scale = arrays["scale"]
    bad = np.flatnonzero(~(np.isfinite(scale) & (scale > 0)))
    if bad.size:
        j = int(bad[0])
        _fail_array(f"the scale of feature {params['feature_names'][j]!r} is {float(scale[j])!r}; "
                    "scales must be finite and > 0")


def _fail_array(msg):
    raise sfio.ModelFormatError(f"arrays.npz: {msg} (the file was modified or damaged)")


def save(path, model):
    """Save what :func:`sparsefit.tabular.fit_table` returned (JSON + npz, no pickle)."""
    sfio.save_model(path, to_params(model), to_arrays(model))


def load(path):
    """``(params, arrays)`` of a saved model, checked as described above."""
    params, arrays = sfio.load_model(path, expect=expected_arrays)
    check_values(params, arrays)
    return params, arrays
