"""Reliability items 11 (no pickle), 12 (torch.load), 14 (shrink), 15 (CLI input)."""

from __future__ import annotations

import io
import json
import os
import pathlib
import re

import numpy as np
import pytest

from sparsefit import cli, tabular
from sparsefit.io import ModelFormatError, _digest, load_model, save_model

pd = pytest.importorskip("pandas")
SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "sparsefit"


def _run(argv):
    buf = io.StringIO()
    args = cli.build_parser().parse_args(argv)
    return args.func(args, out=buf), buf.getvalue()


# 11. saving writes no pickle; loading never unpickles -----------------------------------

def test_saved_model_refuses_tampering_and_pickles(tmp_path):
    save_model(str(tmp_path / "ok"), {"a": 1}, {"coef": np.arange(3.0)})
    # checksum mismatch
    bad = tmp_path / "tampered"
    save_model(str(bad), {"a": 1}, {"coef": np.arange(3.0)})
    np.savez(bad / "arrays.npz", coef=np.arange(3.0) + 1)
    with pytest.raises(ModelFormatError, match="SHA-256"):
        load_model(str(bad))
    # a pickled object array with a payload: refused, and the payload never runs
    sentinel = tmp_path / "pwned"
    evil = tmp_path / "evil"
    save_model(str(evil), {"a": 1}, {"coef": np.arange(3.0)})

    class Payload:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    np.savez(evil / "arrays.npz", coef=np.array([Payload()], dtype=object))
    with pytest.raises(ModelFormatError):
        load_model(str(evil))
    assert not sentinel.exists()
    # version mismatch warns (a model saved by another version: its digest matches)
    meta = json.loads((tmp_path / "ok" / "model.json").read_text())
    meta["versions"]["sparsefit"] = "0.0.0"
    meta["sha256"] = _digest(meta)
    (tmp_path / "ok" / "model.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="other versions"):
        load_model(str(tmp_path / "ok"))
    assert not os.path.exists(sentinel)




def test_saved_files_are_json_and_npz_without_pickle(tmp_path):
    save_model(str(tmp_path), {"a": [1, 2]}, {"coef": np.arange(4.0)})
    assert sorted(os.listdir(tmp_path)) == ["arrays.npz", "model.json"]
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["format"] == "sparsefit-linear-model"
    assert set(meta["versions"]) == {"sparsefit", "numpy", "scikit-learn"}
    with np.load(tmp_path / "arrays.npz", allow_pickle=False) as npz:
        assert npz["coef"].tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="no pickle"):
        save_model(str(tmp_path / "x"), {}, {"bad": np.array([object()], dtype=object)})


# 12. every torch.load passes weights_only=True ------------------------------------------

def test_every_torch_load_in_the_library_passes_weights_only_true():
    calls = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for m in re.finditer(r"torch\.load\(", text):
            depth, i = 1, m.end()
            while depth and i < len(text):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            calls.append((path.name, text[m.start():i]))
    bad = [(f, c) for f, c in calls if "weights_only=True" not in c]
    assert not bad, f"torch.load without weights_only=True: {bad}"


# 15. CLI input -----------------------------------------------------------------------------

def test_html_report_escapes_user_strings(tmp_path):
    rng = np.random.default_rng(1)
    evil = "<script>alert(1)</script>"
    df = pd.DataFrame({evil: rng.normal(size=60), "x2": rng.normal(size=60)})
    df["y"] = 3 * df[evil] + 0.1 * rng.normal(size=60)
    path = tmp_path / "evil.csv"
    df.to_csv(path, index=False)
    code, _ = _run(["fit", str(path), "--target", "y", "--cv", "3", "--n-alphas", "8",
                    "--out", str(tmp_path / "r")])
    assert code == 0
    page = (tmp_path / "r" / "fit-report.html").read_text()
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()



def test_old_pyarrow_is_refused(monkeypatch, tmp_path):
    import sys
    import types

    fake = types.ModuleType("pyarrow")
    fake.__version__ = "14.0.0"
    monkeypatch.setitem(sys.modules, "pyarrow", fake)
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(tabular.DataError, match="older than 14.0.1"):
        tabular.read_table(str(path))
