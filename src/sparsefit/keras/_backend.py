"""Importing Keras for :mod:`sparsefit.keras`: a working backend, or the real reason why not.

Keras reads its backend once, when it is first imported: the ``KERAS_BACKEND`` environment
variable, else ``"backend"`` in ``$KERAS_HOME/keras.json`` (``~/.keras/keras.json``), else
TensorFlow. Without TensorFlow a fresh install therefore fails on ``import keras`` with
"No module named 'tensorflow'", although the torch backend (installed with
``sparsefit[keras]``) would work. Before Keras is first imported, :func:`import_keras`
picks torch (else JAX) when nothing but that default points at TensorFlow and TensorFlow
is missing, and says so once. A backend the user chose is never overridden: when it
cannot be imported, the error names it, where it was chosen, and what to set instead.

Keras writes ``keras.json`` on its first import, with ``"backend": "tensorflow"`` unless
the file names another (even when ``KERAS_BACKEND`` chose torch for that run). A
``"tensorflow"`` in that file, with TensorFlow missing, is therefore treated as the
default it usually is, not as a choice.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import warnings

ENV = "KERAS_BACKEND"
# the package each backend imports (what `pip install` needs), and the fallback order
_PACKAGE = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax", "numpy": "jax",
            "openvino": "openvino"}
FALLBACKS = ("torch", "jax")


def config_path(environ=None):
    """The ``keras.json`` Keras reads, by Keras' own rule (``KERAS_HOME``, else ``~/.keras``,
    else ``/tmp/.keras`` when the home folder is not writable)."""
    environ = os.environ if environ is None else environ
    if "KERAS_HOME" in environ:
        base = environ["KERAS_HOME"]
    else:
        home = environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    return os.path.expanduser(os.path.join(base, "keras.json"))


def configured_backend(environ=None):
    """``(backend, source)``: the backend Keras will use and what chose it.

    ``source`` is ``"env"`` (``KERAS_BACKEND``; empty counts as unset, as in Keras), the path
    of a ``keras.json`` that names a backend, or ``None`` (Keras' default, TensorFlow).
    """
    environ = os.environ if environ is None else environ
    if environ.get(ENV):
        return environ[ENV], "env"
    path = config_path(environ)
    try:
        with open(path, encoding="utf-8") as fh:
            backend = json.load(fh).get("backend")
    except (OSError, ValueError, AttributeError):  # missing, unreadable or not a JSON object
        backend = None
    if isinstance(backend, str) and backend:
        return backend, path
    return "tensorflow", None


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken parent package, or a module without spec
        return False


def choose_backend(backend, source, importable=_importable):
    """The backend to select before Keras is imported, or ``None`` to leave Keras' choice.

    Only Keras' default TensorFlow (no ``KERAS_BACKEND``; ``keras.json`` absent or naming
    ``"tensorflow"``) is replaced, and only when TensorFlow is missing: by torch, else JAX.
    """
    if source == "env" or backend != "tensorflow" or importable("tensorflow"):
        return None
    return next((b for b in FALLBACKS if importable(b)), None)


def _describe(backend, source):
    if source == "env":
        return f"the {backend!r} backend (set by the {ENV} environment variable)"
    if source is None:
        return f"the {backend!r} backend (Keras' default: {ENV} is not set)"
    return f"the {backend!r} backend (named in {source})"


def _advice(backend):
    """What to set or install instead of a backend that cannot be imported."""
    others = [b for b in (*FALLBACKS, "tensorflow") if b != backend and _importable(b)]
    package = _PACKAGE.get(backend, backend)
    if others:
        return (f"Install it (pip install {package}) or choose an installed backend: set "
                f"{ENV}={others[0]} before Keras is first imported (export {ENV}={others[0]} "
                f"in the shell, or os.environ[{ENV!r}] = {others[0]!r} at the top of the "
                "script)")
    return (f"No Keras backend is installed: pip install torch (the backend sparsefit tests; "
            f"or jax, or tensorflow) and set {ENV}=torch")


def _fallback_message(backend, source):
    where = ("no backend is configured" if source is None else
             f"{source} names 'tensorflow', the default Keras writes there on its first run")
    return (f"sparsefit.keras: TensorFlow is not installed and {where}; using the {backend} "
            f"backend ({ENV}={backend} is now set for this process). Set the {ENV} "
            f"environment variable (torch, jax or tensorflow) to choose a backend and "
            "silence this message.")


def _failure_message(exc, backend, source, already_imported):
    if not _importable("keras"):
        return ("sparsefit.keras needs Keras 3 and a backend: pip install 'sparsefit[keras]' "
                "(Keras 3 with torch), or pip install 'keras>=3' torch")
    try:
        from importlib.metadata import version

        installed = f"Keras {version('keras')} is installed"
    except Exception:  # pragma: no cover - metadata missing: a broken install
        installed = "Keras is installed"
    cause = f"{type(exc).__name__}: {exc}"
    missing = getattr(exc, "name", None)
    package = _PACKAGE.get(backend)
    if already_imported:
        fallback = next((b for b in (*FALLBACKS, "tensorflow") if b != backend
                         and _importable(b)), "torch")
        return (f"{installed}, but it was already imported in this process with the "
                f"{backend!r} backend, and it failed ({cause}). Keras reads its backend once, "
                f"when it is first imported: set {ENV}={fallback} before that (export "
                f"{ENV}={fallback} in the shell, or os.environ[{ENV!r}] = {fallback!r} before "
                "any `import keras`), then restart Python.")
    if package is None:
        return (f"{installed}, but {_describe(backend, source)} is not a Keras backend "
                f"({cause}). Set {ENV} to torch, jax or tensorflow.")
    if missing and missing.split(".")[0] == package:
        return (f"{installed}, but {_describe(backend, source)} cannot be imported: {cause}. "
                + _advice(backend) + ".")
    return (f"{installed}, but importing it with {_describe(backend, source)} failed: "
            f"{cause}. The error comes from Keras or one of its dependencies.")


def import_keras():
    """Import Keras with a working backend (see the module docstring); return the module.

    Raises
    ------
    ImportError
        Keras cannot be imported; the message gives the cause (missing Keras, a missing
        backend package and where that backend was chosen, Keras already imported with a
        broken backend) and what to install or set.
    """
    config = sys.modules.get("keras.src.backend.config")
    already_imported = config is not None
    if already_imported:  # the backend is fixed for this process
        backend, source = config.backend(), "import"
    else:
        backend, source = configured_backend()
        choice = choose_backend(backend, source)
        if choice is not None:
            os.environ[ENV] = choice
            warnings.warn(_fallback_message(choice, source), UserWarning, stacklevel=2)
            backend, source = choice, "env"
    try:
        import keras
    except (ImportError, ValueError) as exc:  # ValueError: Keras on an unknown backend
        raise ImportError(_failure_message(exc, backend, source, already_imported)) from exc
    major = keras.__version__.split(".")[0]
    if not major.isdigit() or int(major) < 3:
        raise ImportError(f"sparsefit.keras needs Keras 3, found keras {keras.__version__}: "
                          "pip install 'keras>=3'")
    return keras
