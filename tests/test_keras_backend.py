"""Importing sparsefit.keras on a fresh install: a working backend, or the real cause and what
to set (issue 12, item 19).

The suite's conftest sets KERAS_BACKEND=torch for this process, so every end-to-end case runs
in a subprocess whose environment drops it and points KERAS_HOME (or HOME) at an empty
folder, as on a machine where Keras never ran.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras")

from sparsefit.keras import _backend

SRC = Path(__file__).resolve().parents[1] / "src"
FALLBACK_SAID = "sparsefit.keras: TensorFlow is not installed"
has = {name: importlib.util.find_spec(name) is not None for name in ("tensorflow", "torch",
                                                                     "jax")}
needs_no_tensorflow = pytest.mark.skipif(has["tensorflow"], reason="TensorFlow is installed: "
                                         "Keras' default works and nothing is chosen")


def run_fresh(code, folder, *, env=None, keras_home=True):
    """``python -c code`` with this checkout's sources, no KERAS_BACKEND and an empty Keras
    folder (``KERAS_HOME``, or ``HOME`` when ``keras_home`` is False)."""
    folder = Path(folder)
    base = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "KERAS_HOME")}
    base["PYTHONPATH"] = os.pathsep.join([str(SRC)] + [p for p in
                                          base.get("PYTHONPATH", "").split(os.pathsep) if p])
    if keras_home:
        base["KERAS_HOME"] = str(folder / "keras-home")
    else:
        base["HOME"] = str(folder)
    base.update(env or {})
    return subprocess.run([sys.executable, "-c", code], cwd=folder, env=base,
                          capture_output=True, text=True, timeout=300)


PRINT_BACKEND = """
import os, warnings
from sparsefit import keras as sfk
import keras
from sparsefit.keras import _backend

with warnings.catch_warnings(record=True) as again:   # once: a second import says nothing
    warnings.simplefilter("always")
    _backend.import_keras()
# the backend Keras uses, and the choice child processes inherit
print(keras.config.backend(), os.environ["KERAS_BACKEND"], len(again))
"""


@needs_no_tensorflow
@pytest.mark.skipif(not has["torch"], reason="needs torch")
def test_fresh_install_picks_torch_and_says_so_once(tmp_path):
    proc = run_fresh(PRINT_BACKEND, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["torch", "torch", "0"]
    assert proc.stderr.count(FALLBACK_SAID) == 1, proc.stderr
    assert "UserWarning" in proc.stderr
    assert "no backend is configured" in proc.stderr
    assert "Set the KERAS_BACKEND environment variable" in proc.stderr
    # Keras wrote keras.json with "tensorflow" on that first run (although torch was used);
    # the second run must work as well, and says which file it overrode
    config = tmp_path / "keras-home" / "keras.json"
    assert json.loads(config.read_text())["backend"] == "tensorflow"
    again = run_fresh(PRINT_BACKEND, tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["torch", "torch", "0"]
    assert again.stderr.count(FALLBACK_SAID) == 1
    assert f"{config} names 'tensorflow'" in again.stderr


@needs_no_tensorflow
@pytest.mark.skipif(not has["torch"], reason="needs torch")
def test_keras_json_under_home_is_the_one_keras_uses(tmp_path):
    config = tmp_path / ".keras" / "keras.json"
    config.parent.mkdir()
    config.write_text('{"backend": "tensorflow"}')
    proc = run_fresh(PRINT_BACKEND, tmp_path, keras_home=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["torch", "torch", "0"]
    assert f"{config} names 'tensorflow'" in proc.stderr


@needs_no_tensorflow
def test_explicit_tensorflow_is_not_overridden_and_the_error_says_what_to_set(tmp_path):
    proc = run_fresh("from sparsefit import keras", tmp_path,
                     env={"KERAS_BACKEND": "tensorflow"})
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: Keras ")
    assert "'tensorflow' backend (set by the KERAS_BACKEND environment variable)" in last
    assert "No module named 'tensorflow'" in last          # the real cause
    assert "pip install tensorflow" in last
    if has["torch"]:
        assert "set KERAS_BACKEND=torch" in last
    assert "pip install 'keras>=3'" not in proc.stderr    # the old, wrong advice
    assert FALLBACK_SAID not in proc.stderr


@pytest.mark.skipif(has["jax"], reason="jax is installed")
def test_a_backend_named_in_keras_json_is_kept_and_named_in_the_error(tmp_path):
    home = tmp_path / "keras-home"
    home.mkdir()
    (home / "keras.json").write_text('{"backend": "jax"}')
    proc = run_fresh("from sparsefit import keras", tmp_path)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert f"'jax' backend (named in {home / 'keras.json'}) cannot be imported" in last
    assert "No module named 'jax'" in last and "pip install jax" in last
    assert FALLBACK_SAID not in proc.stderr


ALREADY_IMPORTED = """
import os
try:
    import keras          # KERAS_BACKEND=jax, without jax: fails, but fixes the backend
except ImportError:
    pass
del os.environ["KERAS_BACKEND"]
from sparsefit import keras
"""


@pytest.mark.skipif(has["jax"], reason="jax is installed")
def test_keras_already_imported_with_a_broken_backend(tmp_path):
    proc = run_fresh(ALREADY_IMPORTED, tmp_path, env={"KERAS_BACKEND": "jax"})
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "already imported in this process with the 'jax' backend" in last
    assert "No module named 'jax'" in last
    fallback = "torch" if has["torch"] else "tensorflow" if has["tensorflow"] else "torch"
    assert f"set KERAS_BACKEND={fallback} before that" in last and "restart Python" in last
    assert FALLBACK_SAID not in proc.stderr     # choosing now would change nothing


@needs_no_tensorflow
@pytest.mark.skipif(has["jax"], reason="jax is installed")
def test_no_backend_installed_at_all(tmp_path):
    proc = run_fresh("import sys; sys.modules['torch'] = None\nfrom sparsefit import keras",
                     tmp_path)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "(Keras' default: KERAS_BACKEND is not set)" in last
    assert "No module named 'tensorflow'" in last
    assert "No Keras backend is installed: pip install torch" in last


def test_keras_missing_says_what_to_install(tmp_path):
    proc = run_fresh("import sys; sys.modules['keras'] = None\nfrom sparsefit import keras",
                     tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "ImportError: sparsefit.keras needs Keras 3 and a backend: pip install "
        "'sparsefit[keras]' (Keras 3 with torch), or pip install 'keras>=3' torch")


def test_unknown_backend_is_named(tmp_path):
    proc = run_fresh("from sparsefit import keras", tmp_path, env={"KERAS_BACKEND": "torhc"})
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "the 'torhc' backend (set by the KERAS_BACKEND environment variable) is not a " \
           "Keras backend" in last
    assert "Set KERAS_BACKEND to torch, jax or tensorflow" in last


# ------------------------------------------------------------------ the rules, in-process
@pytest.mark.parametrize("backend, source, importable, expected", [
    ("tensorflow", None, {"torch"}, "torch"),
    ("tensorflow", None, {"jax"}, "jax"),
    ("tensorflow", None, {"torch", "jax"}, "torch"),
    ("tensorflow", "/h/.keras/keras.json", {"torch"}, "torch"),  # the default Keras wrote
    ("tensorflow", None, {"tensorflow", "torch"}, None),        # Keras' default works
    ("tensorflow", None, set(), None),                          # nothing to choose
    ("tensorflow", "env", {"torch"}, None),                     # the user's choice
    ("jax", "env", {"torch"}, None),
    ("jax", "/h/.keras/keras.json", {"torch"}, None),           # the user's choice
    ("torch", "/h/.keras/keras.json", {"torch"}, None),
])
def test_choose_backend(backend, source, importable, expected):
    assert _backend.choose_backend(backend, source, importable.__contains__) == expected


def test_config_path_is_keras_rule(tmp_path):
    assert _backend.config_path({"KERAS_HOME": "/k", "HOME": "/h"}) == "/k/keras.json"
    assert _backend.config_path({"HOME": str(tmp_path)}) == str(tmp_path / ".keras" /
                                                                 "keras.json")
    # Keras falls back to /tmp when the home folder is not writable
    assert _backend.config_path({"HOME": str(tmp_path / "missing")}) == "/tmp/.keras/keras.json"


def test_configured_backend_reads_like_keras(tmp_path):
    env = {"KERAS_HOME": str(tmp_path)}
    assert _backend.config_path(env) == str(tmp_path / "keras.json")
    assert _backend.configured_backend(env) == ("tensorflow", None)         # no file
    for text in ("not json", "[1, 2]", '{"floatx": "float32"}', '{"backend": ""}'):
        (tmp_path / "keras.json").write_text(text)
        assert _backend.configured_backend(env) == ("tensorflow", None), text
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')
    assert _backend.configured_backend(env) == ("jax", str(tmp_path / "keras.json"))
    assert _backend.configured_backend({**env, "KERAS_BACKEND": "torch"}) == ("torch", "env")
    # an empty KERAS_BACKEND is ignored, as Keras ignores it
    assert _backend.configured_backend({**env, "KERAS_BACKEND": ""})[0] == "jax"
