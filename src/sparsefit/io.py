"""Saving and loading fitted linear models without pickle.

A saved model is a folder with ``model.json`` (parameters, names, versions, the dtype,
shape and SHA-256 of every array, and the SHA-256 of all of that) and ``arrays.npz`` (plain
``.npy`` members). Loading never unpickles and never executes anything from the files: a
crafted file can at most be refused.

- Integrity: every byte that can change a prediction is covered by a checksum: the
  parameters by the digest of ``model.json``, the arrays by theirs. A mismatch refuses; a
  version mismatch warns.
- Memory: before anything is decompressed, each ``.npy`` member's uncompressed size and
  header must match the dtype and shape ``model.json`` declares (and, through
  ``expect``, what the parameters imply), so a small crafted file cannot allocate more
  than the model it claims to be.
- Atomicity: the folder is written beside the target and swapped in at once
  (:mod:`sparsefit._atomic`): a reader sees the old model or the new one, never a mix; a
  save killed at any point leaves the old model intact; concurrent saves leave one
  complete model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import struct
import time
import warnings
import zipfile
import zlib

import numpy as np

from . import _atomic

FORMAT = "sparsefit-linear-model"
FORMAT_VERSION = 2
FILES = ("model.json", "arrays.npz")
MAX_JSON_BYTES = 64 * 2**20  # a model.json larger than this is refused before reading
_MAX_NPY_HEADER = 16384
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_RETRIES = 20


class ModelFormatError(ValueError):
    """A saved model that cannot be trusted or read: wrong format, checksum, contents."""


def _sha256(a):
    a = np.ascontiguousarray(a)
    h = hashlib.sha256()
    h.update(str(a.dtype.str).encode())
    h.update(str(a.shape).encode())
    h.update(a.tobytes())
    return h.hexdigest()


def _digest(meta):
    """SHA-256 of ``meta`` (without its own ``sha256`` entry) in canonical JSON."""
    body = {k: v for k, v in meta.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _versions():
    import sklearn

    from . import __version__

    return {"sparsefit": __version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def is_model_folder(path):
    """Whether the folder ``path`` holds nothing but the files of a saved model (so that
    replacing it loses nothing else).

    Examples
    --------
    >>> import tempfile
    >>> is_model_folder(tempfile.mkdtemp())
    True
    """
    try:
        return set(os.listdir(path)) <= set(FILES)
    except FileNotFoundError:  # gone (a concurrent save moved it aside): nothing to lose
        return True
    except OSError:
        return False


def save_model(path, params, arrays):
    """Write ``params`` (JSON-serializable dict) and ``arrays`` (name -> ndarray) to ``path``.

    The folder is written beside ``path`` and swapped in atomically, so an interrupted or
    concurrent save never leaves a partial or mixed model.

    Parameters
    ----------
    path : str
        A folder: created if missing, replaced if it holds a saved model (or nothing).
    params : dict
        Plain JSON types only (no NaN or infinity).
    arrays : dict of str -> ndarray
        Numeric arrays (object arrays are refused: they would need pickle).

    Raises
    ------
    FileExistsError
        ``path`` is a file, or a folder holding other files than a saved model's.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> save_model(d, {"alpha": 0.1}, {"coef": np.array([1.0, 0.0])})
    >>> p, a = load_model(d)
    >>> p["alpha"], a["coef"].tolist()
    (0.1, [1.0, 0.0])
    """
    clean = {}
    for name, a in arrays.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"array name {name!r}: use letters, digits and '_'")
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
    meta["sha256"] = _digest(meta)
    text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False)

    def fill(folder):
        with open(os.path.join(folder, "arrays.npz"), "wb") as fh:
            np.savez(fh, **clean)
        with open(os.path.join(folder, "model.json"), "w", encoding="utf-8") as fh:
            fh.write(text)

    try:
        _atomic.replace_dir(path, fill, replaceable=is_model_folder)
    except FileExistsError:
        raise FileExistsError(
            f"{path!r} exists and is not a saved model (a file, or a folder with other files "
            "than model.json and arrays.npz); choose a new or empty folder") from None


def load_model(path, *, expect=None):
    """Read a model written by :func:`save_model`: ``(params, arrays)``.

    Parameters
    ----------
    path : str
    expect : callable, optional
        ``expect(params) -> {name: (dtype, shape)}``: the arrays the parameters imply. It
        may raise :class:`ModelFormatError`. The declared arrays must match it exactly, and
        this is checked before any array is read, so memory stays bounded by what the
        parameters describe.

    Raises
    ------
    ModelFormatError
        Missing files, a different format, a checksum mismatch (of ``model.json`` or of an
        array), an array whose stored size, dtype or shape differs from the declared one,
        a damaged or truncated ``.npz``, or an ``.npz`` member that would need pickle.

    Warns
    -----
    UserWarning
        When the model was saved by other versions of sparsefit/numpy/scikit-learn.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> save_model(d, {"n": 2}, {"coef": np.zeros(2)})
    >>> _, a = load_model(d, expect=lambda p: {"coef": (np.float64, (p["n"],))})
    >>> a["coef"].shape
    (2,)
    """
    for attempt in range(_RETRIES):
        try:
            with _Folder(path) as folder:
                return _load_once(folder, expect)
        except _Replaced:  # another process swapped a new model in while we read
            time.sleep(0.001 * attempt)  # read again, after a moment if it happens again
    raise ModelFormatError(f"{path!r} kept changing while it was read (another process "
                           "saving into it?); try again")


class _Replaced(Exception):
    """The folder was replaced while being read."""


class _Folder:
    """A model folder opened once: files are opened relative to that folder (where the OS
    allows it), so a concurrent replacement cannot make us read two different models."""

    def __init__(self, path):
        self.path = path
        self.fd = None
        if not os.path.isdir(path):
            # a save in the fallback's window: running now, or already done (its backup
            # gone and the new folder in place since the first look)
            if _atomic.replacement_running(path) or os.path.isdir(path):
                raise _Replaced()
            backups = _atomic.interrupted_backups(path)
            if backups:
                raise ModelFormatError(
                    f"{path!r} is missing: a save into it was interrupted; the previous model "
                    f"is in {backups[0]!r} (rename that folder to {path!r})")
            raise ModelFormatError(f"{path!r} is not a saved sparsefit model (a folder with "
                                   "model.json and arrays.npz expected)")
        if os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY"):
            try:
                self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                raise _Replaced() from None
            except OSError as exc:
                raise ModelFormatError(f"{path!r} cannot be opened: {exc.strerror}") from None

    def open(self, name):
        try:
            if self.fd is None:
                fh = open(os.path.join(self.path, name), "rb")
            else:  # non-blocking: a crafted FIFO must not hang the open
                flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                fh = os.fdopen(os.open(name, flags, dir_fd=self.fd), "rb")
        except FileNotFoundError:
            if self._replaced():
                raise _Replaced() from None
            raise ModelFormatError(f"{self.path!r} is not a saved sparsefit model: {name} is "
                                   "missing") from None
        except OSError as exc:
            raise ModelFormatError(f"{name} in {self.path!r} cannot be read: "
                                   f"{exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            fh.close()
            raise ModelFormatError(f"{name} in {self.path!r} is not a regular file")
        return fh

    def _replaced(self):
        if self.fd is None:
            return False
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return True
        then = os.fstat(self.fd)
        return (now.st_ino, now.st_dev) != (then.st_ino, then.st_dev)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _load_once(folder, expect):
    with folder.open("model.json") as fh:
        meta = _read_meta(fh)
    params = meta["params"]
    declared = _declared_arrays(meta["arrays"])
    if expect is not None:
        _match_expected(declared, expect(params))
    with folder.open("arrays.npz") as fh:
        arrays = _read_npz(fh, declared)
    for name, a in arrays.items():
        if _sha256(a) != meta["arrays"][name]["sha256"]:
            raise ModelFormatError(f"array {name!r}: SHA-256 mismatch; arrays.npz was "
                                   "modified or corrupted")
    return params, arrays


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _read_meta(fh):
    size = os.fstat(fh.fileno()).st_size
    if size > MAX_JSON_BYTES:
        raise ModelFormatError(f"model.json is {size} bytes, more than a model's "
                               f"{MAX_JSON_BYTES}; refused")
    data = fh.read(size + 1)  # read(n) allocates n bytes at once: ask for what is there
    if len(data) > MAX_JSON_BYTES:
        raise ModelFormatError(f"model.json grew past {MAX_JSON_BYTES} bytes; refused")
    try:
        meta = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ModelFormatError(f"model.json is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFormatError(f"model.json is not a {FORMAT!r} file")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        hint = (" (an older sparsefit that did not protect model.json by a checksum); fit "
                "and save the model again" if version == 1 else "")
        raise ModelFormatError(f"unsupported format_version {version!r}{hint}")
    if meta.get("sha256") != _digest(meta):
        raise ModelFormatError("model.json: SHA-256 mismatch; the file was modified (by hand "
                               "or by damage): fit and save the model again")
    if not isinstance(meta.get("params"), dict) or not isinstance(meta.get("arrays"), dict):
        raise ModelFormatError("model.json lacks 'params' or 'arrays'")
    saved = meta.get("versions") if isinstance(meta.get("versions"), dict) else {}
    now = _versions()
    diff = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
    if diff:
        warnings.warn("model saved with other versions: " + ", ".join(
            f"{k} {a} (now {b})" for k, (a, b) in diff.items()), UserWarning, stacklevel=4)
    return meta


def _declared_arrays(specs):
    """``{name: (dtype, shape)}`` from model.json, checked to be plain numeric arrays."""
    out = {}
    for name, spec in specs.items():
        if not _NAME.match(name) or not isinstance(spec, dict):
            raise ModelFormatError(f"model.json: bad array entry {name!r}")
        shape = spec.get("shape")
        if (not isinstance(shape, list) or len(shape) > 8 or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
            raise ModelFormatError(f"model.json: array {name!r} has a bad shape {shape!r}")
        try:
            dtype = np.dtype(spec.get("dtype"))
        except (TypeError, ValueError):
            raise ModelFormatError(f"model.json: array {name!r} has a bad dtype "
                                   f"{spec.get('dtype')!r}") from None
        if dtype.kind not in "biufU" or dtype.fields is not None or dtype.subdtype is not None:
            raise ModelFormatError(f"model.json: array {name!r} has dtype {dtype}; only plain "
                                   "numeric and string arrays are read")
        out[name] = (dtype, tuple(shape))
    return out


def _match_expected(declared, expected):
    if set(declared) != set(expected):
        raise ModelFormatError(f"model.json lists arrays {sorted(declared)}; the model needs "
                               f"{sorted(expected)}")
    for name, (dtype, shape) in expected.items():
        got_dtype, got_shape = declared[name]
        dtype = np.dtype(dtype)
        if (got_dtype.kind, got_dtype.itemsize) != (dtype.kind, dtype.itemsize) or \
                got_shape != tuple(shape):
            raise ModelFormatError(
                f"array {name!r}: model.json declares {got_dtype} {list(got_shape)}, the "
                f"model's parameters imply {dtype} {list(shape)}")


def _read_npz(fh, declared):
    try:
        with zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            members = [i.filename for i in infos]
            wanted = sorted(f"{n}.npy" for n in declared)
            if sorted(members) != wanted:
                raise ModelFormatError(f"arrays.npz holds {sorted(members)}; model.json lists "
                                       f"{wanted}")
            return {i.filename[:-4]: _read_member(zf, i, *declared[i.filename[:-4]])
                    for i in infos}
    except ModelFormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
            ValueError, NotImplementedError, RuntimeError, struct.error) as exc:
        raise ModelFormatError(f"arrays.npz is damaged or not a plain .npz file "
                               f"({type(exc).__name__}: {exc})") from None


def _read_member(zf, info, dtype, shape):
    name = info.filename[:-4]
    nbytes = math.prod(shape) * dtype.itemsize
    if not nbytes < info.file_size <= nbytes + _MAX_NPY_HEADER:
        raise ModelFormatError(f"arrays.npz: {name!r} is {info.file_size} bytes uncompressed; "
                               f"model.json declares {dtype} {list(shape)} ({nbytes} bytes)")
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(f, max_header_size=_MAX_NPY_HEADER)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(f, max_header_size=_MAX_NPY_HEADER)
        else:
            raise ModelFormatError(f"arrays.npz: {name!r} has .npy version {version}")
        got_shape, fortran, got_dtype = header
        if got_dtype != dtype or tuple(got_shape) != shape:
            raise ModelFormatError(f"arrays.npz: {name!r} is {got_dtype} {list(got_shape)}; "
                                   f"model.json declares {dtype} {list(shape)}")
        flat = np.empty(math.prod(shape), dtype=dtype)
        view = memoryview(flat.view(np.uint8))
        got = 0
        while got < nbytes:
            k = f.readinto(view[got:])
            if not k:
                raise ModelFormatError(f"arrays.npz: {name!r} is truncated")
            got += k
        if f.read(1):
            raise ModelFormatError(f"arrays.npz: {name!r} holds more data than its shape")
    return flat.reshape(shape, order="F" if fortran else "C")
