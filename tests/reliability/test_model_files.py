"""A saved model is what it claims to be: every byte that changes a prediction is under a
checksum, a model whose meaning is broken is refused even with valid checksums, memory on
load is bounded by the declared shapes, and a damaged file is one line, not a traceback."""

from __future__ import annotations

import io
import json
import math
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from sparsefit import cli, tabular
from sparsefit.io import ModelFormatError, _digest, _sha256


def _model():
    """A small binary model with a one-hot column, as fit_table returns it."""
    return {
        "task": "binary", "target": "y", "columns": ["a", "city"],
        "categories": {"city": ["north", "south"]},
        "feature_names": ["a", "city_north", "city_south"], "classes": ["no", "yes"],
        "coef": np.array([[1.5, -2.0, 0.0]]), "intercept": np.array([0.25]),
        "mean": np.array([10.0, 0.5, 0.5]), "scale": np.array([2.0, 0.5, 0.5]),
        "alphas": np.array([1.0, 0.1]), "cv_mean": np.array([0.7, 0.4]),
        "cv_se": np.array([0.1, 0.1]), "penalty": "l1", "selection": "1se", "one_hot": True,
        "alpha": 0.1, "alpha_min": 0.1, "alpha_1se": 0.1, "n_rows": 40,
    }


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m"
    tabular.save_fitted(str(path), _model())
    return path


def _edit_json(path, mutate, redigest):
    meta = json.loads((path / "model.json").read_text())
    mutate(meta)
    if redigest:
        meta["sha256"] = _digest(meta)
    (path / "model.json").write_text(json.dumps(meta))


def _edit_arrays(path, mutate):
    """Rewrite arrays.npz and recompute every checksum, as a crafted file would."""
    with np.load(path / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    mutate(arrays)
    np.savez(path / "arrays.npz", **arrays)

    def fix(meta):
        meta["arrays"] = {k: {"sha256": _sha256(v), "dtype": v.dtype.str, "shape": list(v.shape)}
                          for k, v in arrays.items()}

    _edit_json(path, fix, redigest=True)


def _swap(key):
    def mutate(meta):
        meta["params"][key] = meta["params"][key][::-1]
    return mutate


@pytest.mark.parametrize("mutate", [
    _swap("classes"),  # predictions would name the wrong class
    _swap("feature_names"),
    lambda m: m["params"].update(task="regression"),
    lambda m: m["params"].update(target="a"),
    lambda m: m["params"]["categories"].update(city=["south", "north"]),
    lambda m: m["params"].update(alpha=0.2),
], ids=["classes", "feature_names", "task", "target", "categories", "alpha"])
def test_any_edit_of_model_json_is_refused(saved, mutate):
    tabular.load_fitted(str(saved))  # the untouched model loads
    _edit_json(saved, mutate, redigest=False)
    with pytest.raises(ModelFormatError, match="model.json: SHA-256 mismatch"):
        tabular.load_fitted(str(saved))


def _set(name, index, value):
    def mutate(arrays):
        arrays[name] = arrays[name].copy()
        arrays[name][index] = value
    return mutate


MEANINGLESS = [  # (edit model.json with a valid digest / arrays with valid checksums, message)
    (lambda m: m["params"].update(classes=["no", "no"]), None, "classes are not unique"),
    (lambda m: m["params"].update(classes=["no", "yes", "maybe"]), None,
     "binary model with 3 classes"),
    (lambda m: m["params"].update(classes=None), None, "needs a list of classes"),
    (lambda m: m["params"].update(classes=["no", 1]), None, "all text"),
    (lambda m: m["params"].update(task="ranking"), None, "unknown task 'ranking'"),
    (lambda m: m["params"].update(feature_names=["a", "a", "city_south"]), None, "repeats 'a'"),
    (_swap("feature_names"), None, "do not match the columns"),
    (lambda m: m["params"].update(columns=["a", "city", "y"]), None, "target is also a feature"),
    (lambda m: m["params"].update(n_alphas=10**9), None, "bad n_alphas"),
    (None, _set("scale", 1, 0.0), "scale of feature 'city_north' is 0.0"),
    (None, _set("scale", 0, np.nan), "scale of feature 'a' is nan"),
    (None, _set("scale", 2, -1.0), "scales must be finite and > 0"),
    (None, _set("coef", (0, 0), np.nan), "coef holds NaN"),
    (None, _set("intercept", 0, np.inf), "intercept holds NaN or infinity"),
    (None, _set("mean", 1, np.nan), "mean holds NaN"),
    (None, lambda a: a.update(coef=np.zeros((2, 3))), "the model's parameters imply"),
    (None, lambda a: a.update(coef=np.zeros((1, 3), dtype=np.int64)), "imply float64"),
    (None, lambda a: a.pop("cv_se"), "the model needs"),
]


@pytest.mark.parametrize("edit_json, edit_arrays, message", MEANINGLESS)
def test_a_model_without_meaning_is_refused_even_with_valid_checksums(saved, edit_json,
                                                                      edit_arrays, message):
    if edit_json is not None:
        _edit_json(saved, edit_json, redigest=True)
    if edit_arrays is not None:
        _edit_arrays(saved, edit_arrays)
    with pytest.raises(ModelFormatError) as exc:
        tabular.load_fitted(str(saved))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def _bomb(path, name, shape):
    """Replace ``name`` in arrays.npz by a deflated member whose header says ``shape``."""
    with np.load(path / "arrays.npz") as npz:
        keep = {k: npz[k] for k in npz.files if k != name}
    with zipfile.ZipFile(path / "arrays.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in keep.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, v)
            zf.writestr(f"{k}.npy", buf.getvalue())
        with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False,
                                                      "shape": shape})
            zeros = bytes(2**20)
            for _ in range(math.prod(shape) * 8 // len(zeros)):
                fh.write(zeros)


def test_a_compressed_bomb_is_refused_before_it_is_decompressed(saved):
    _bomb(saved, "coef", (1, 2**24))  # 128 MB of zeros in a file of about 130 kB
    assert os.path.getsize(saved / "arrays.npz") < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError, match="'coef' is 134217"):
            tabular.load_fitted(str(saved))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MB allocated to refuse the file"


def test_declared_shapes_are_held_to_the_parameters_before_reading(saved):
    # model.json consistent with the bomb (valid digest) but not with its own parameters
    _bomb(saved, "coef", (1, 2**24))

    def claim(meta):
        meta["arrays"]["coef"]["shape"] = [1, 2**24]

    _edit_json(saved, claim, redigest=True)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFormatError, match=r"declares float64 \[1, 16777216\]"):
            tabular.load_fitted(str(saved))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


@pytest.mark.parametrize("damage", [
    lambda b: b[: len(b) // 2],
    lambda b: b[:-30],
    lambda b: b"",
    lambda b: b"not a zip file at all",
    lambda b: b[:200] + bytes(len(b) - 200),
], ids=["half", "tail-cut", "empty", "garbage", "zeroed"])
def test_a_damaged_npz_is_one_line(saved, damage, tmp_path, capsys):
    data = (saved / "arrays.npz").read_bytes()
    (saved / "arrays.npz").write_bytes(damage(data))
    with pytest.raises(ModelFormatError) as exc:
        tabular.load_fitted(str(saved))
    assert "arrays.npz" in str(exc.value) and "\n" not in str(exc.value)
    table = tmp_path / "new.csv"
    pd.DataFrame({"a": [1.0, 2.0], "city": ["north", "south"]}).to_csv(table, index=False)
    assert cli.main(["predict", str(saved), str(table)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "arrays.npz" in err


def test_format_1_and_oversized_json_are_refused(saved, monkeypatch):
    from sparsefit import io as sfio

    monkeypatch.setattr(sfio, "MAX_JSON_BYTES", 100)
    with pytest.raises(ModelFormatError, match="more than a model's"):
        tabular.load_fitted(str(saved))
    monkeypatch.undo()
    _edit_json(saved, lambda m: m.update(format_version=1), redigest=True)
    with pytest.raises(ModelFormatError, match="format_version 1 .*save the model again"):
        tabular.load_fitted(str(saved))


def test_the_model_predicts_what_it_was_saved_with(saved):
    df = pd.DataFrame({"a": [10.0, 14.0], "city": ["north", "south"]})
    pred = tabular.predict_table(str(saved), df)
    scores = np.array([1.5 * 0 - 2.0 * 1, 1.5 * 2 - 2.0 * -1]) + 0.25
    np.testing.assert_allclose(pred["p(yes)"], 1 / (1 + np.exp(-scores)))
    assert list(pred["prediction"]) == ["no", "yes"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_the_model_folder_is_refused_not_waited_on(saved):
    os.remove(saved / "arrays.npz")
    os.mkfifo(saved / "arrays.npz")
    with pytest.raises(ModelFormatError, match="arrays.npz .* is not a regular file"):
        tabular.load_fitted(str(saved))
