"""Saving and loading fitted linear models without pickle.

A saved model is a folder with ``model.json`` (parameters, names, versions and the SHA-256
of every array) and ``arrays.npz`` (read with ``allow_pickle=False``). Loading never
unpickles and never executes anything from the files: a crafted file can at most be
refused. A version mismatch warns; a checksum mismatch refuses.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings

import numpy as np

FORMAT = "sparsefit-linear-model"
FORMAT_VERSION = 1


class ModelFormatError(ValueError):
    """A saved model that cannot be trusted or read: wrong format, checksum, contents."""


def _sha256(a):
    a = np.ascontiguousarray(a)
    h = hashlib.sha256()
    h.update(str(a.dtype.str).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _versions():
    import sklearn

    from . import __version__

    return {"sparsefit": __version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def save_model(path, params, arrays):
    """Write ``params`` (JSON-serializable dict) and ``arrays`` (name -> ndarray) to ``path``.

    Parameters
    ----------
    path : str
        A folder (created if missing).
    params : dict
        Plain JSON types only.
    arrays : dict of str -> ndarray
        Numeric arrays (object arrays are refused: they would need pickle).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> save_model(d, {"alpha": 0.1}, {"coef": np.array([1.0, 0.0])})
    >>> p, a = load_model(d)
    >>> p["alpha"], a["coef"].tolist()
    (0.1, [1.0, 0.0])
    """
    os.makedirs(path, exist_ok=True)
    clean = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind not in "biufU":
            raise ValueError(f"array {name!r} has dtype {a.dtype}; only numeric and string "
                             "arrays are saved (no pickle)")
        clean[name] = a
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "versions": _versions(),
        "params": params,
        "arrays": {k: {"sha256": _sha256(v), "dtype": v.dtype.str, "shape": list(v.shape)}
                   for k, v in clean.items()},
    }
    text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False)
    np.savez(os.path.join(path, "arrays.npz"), **clean)
    with open(os.path.join(path, "model.json"), "w", encoding="utf-8") as fh:
        fh.write(text)


def load_model(path):
    """Read a model written by :func:`save_model`: ``(params, arrays)``.

    Raises
    ------
    ModelFormatError
        Missing files, a different format, an array whose checksum, dtype or shape does not
        match ``model.json``, or an ``.npz`` member that would need pickle.

    Warns
    -----
    UserWarning
        When the model was saved by other versions of sparsefit/numpy/scikit-learn.
    """
    meta_path = os.path.join(path, "model.json")
    npz_path = os.path.join(path, "arrays.npz")
    if not (os.path.isfile(meta_path) and os.path.isfile(npz_path)):
        raise ModelFormatError(f"{path!r} is not a saved sparsefit model (model.json and "
                               "arrays.npz expected)")
    try:
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"model.json is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFormatError(f"model.json is not a {FORMAT!r} file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(f"unsupported format_version {meta.get('format_version')!r}")
    saved = meta.get("versions", {})
    now = _versions()
    diff = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
    if diff:
        warnings.warn("model saved with other versions: " + ", ".join(
            f"{k} {a} (now {b})" for k, (a, b) in diff.items()), UserWarning, stacklevel=2)
    expected = meta.get("arrays", {})
    arrays = {}
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            names = set(npz.files)
            if names != set(expected):
                raise ModelFormatError(f"arrays.npz holds {sorted(names)}, model.json lists "
                                       f"{sorted(expected)}")
            for name in names:
                a = npz[name]
                info = expected[name]
                if a.dtype.str != info.get("dtype") or list(a.shape) != info.get("shape"):
                    raise ModelFormatError(f"array {name!r}: dtype/shape differ from model.json")
                if _sha256(a) != info.get("sha256"):
                    raise ModelFormatError(f"array {name!r}: SHA-256 mismatch; the file was "
                                           "modified or corrupted")
                arrays[name] = a
    except ModelFormatError:
        raise
    except (OSError, ValueError) as exc:  # pickled members raise ValueError here
        raise ModelFormatError(f"arrays.npz cannot be read safely: {exc}") from None
    return meta.get("params", {}), arrays
