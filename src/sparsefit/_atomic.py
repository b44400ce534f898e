"""Atomic writes: a reader sees the old content or the new one, never a part or a mix.

Files are written beside their target under a temporary name, flushed to disk and renamed
over it (``os.replace`` is atomic on POSIX and Windows). A folder is written the same way,
then swapped with the old one in one step (Linux ``renameat2(RENAME_EXCHANGE)``), so the
target path always holds one complete folder, whatever process is killed when. Where the
exchange is not available the old folder is renamed aside, the new one renamed in, and the
old one removed; an interruption between those two renames leaves the old folder under a
``.NAME.old-*`` name beside the target, which :func:`interrupted_backups` finds.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import stat
import sys
import tempfile
import uuid

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _step(name):
    """Called between the steps of a folder replacement. It does nothing; the tests replace
    it in a child process to kill that process at each step."""


def _fsync_path(path, directory=False):
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # Windows cannot open folders; its renames are durable enough
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path, data):
    """Write ``data`` to ``path`` atomically: a temporary file beside it, flushed, renamed.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> write_bytes(p, b"hello")
    >>> open(p, "rb").read()
    b'hello'
    """
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _keep_mode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_path(folder, directory=True)


def _keep_mode(path, tmp):
    # mkstemp creates 0600; give the new file the old one's mode, or the umask default
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        os.chmod(tmp, mode)
    except OSError:
        pass


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _load_exchange():
    """``exchange(a, b)``: swap two paths in one step (Linux renameat2), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int

    def exchange(a, b):
        if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), a, None, b)

    return exchange


_exchange = _load_exchange()
_NOT_EMPTY = (errno.ENOTEMPTY, errno.EEXIST, getattr(errno, "EISDIR", 21))
_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", 95),
                getattr(errno, "EOPNOTSUPP", 95))


def _tmp_pattern(name, kind):
    return re.compile(rf"^\.{re.escape(name)}\.{kind}-(\d+)-[0-9a-f]{{32}}$")


def _new_name(parent, name, kind):
    return os.path.join(parent, f".{name}.{kind}-{os.getpid()}-{uuid.uuid4().hex}")


def replace_dir(target, fill, *, replaceable):
    """Make ``target`` a folder holding what ``fill(tmp_folder)`` writes, atomically.

    Parameters
    ----------
    target : str
        The folder to create or replace. A symbolic link is followed (the folder it points
        to is replaced).
    fill : callable
        ``fill(path)`` writes the new files into the empty folder ``path``.
    replaceable : callable
        ``replaceable(path) -> bool``: whether an existing non-empty ``target`` may be
        replaced (a folder of some other kind must not be deleted).

    Raises
    ------
    FileExistsError
        ``target`` is a file, or a folder that ``replaceable`` refuses.

    Examples
    --------
    >>> import os, tempfile
    >>> d = os.path.join(tempfile.mkdtemp(), "model")
    >>> write = lambda p: open(os.path.join(p, "a.txt"), "w").close()
    >>> replace_dir(d, write, replaceable=lambda p: True)
    >>> os.listdir(d)
    ['a.txt']
    """
    target = os.path.realpath(target)
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    _check_replaceable(target, replaceable)
    _remove_stale(parent, name, "tmp")
    tmp = _new_name(parent, name, "tmp")
    os.mkdir(tmp)
    try:
        fill(tmp)
        for entry in os.listdir(tmp):
            _fsync_path(os.path.join(tmp, entry))
        _fsync_path(tmp, directory=True)
        _step("written")
        _swap_in(tmp, target, replaceable)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_path(parent, directory=True)
    _remove_stale(parent, name, "old")  # a complete folder is in place now


def _check_replaceable(target, replaceable):
    """Refuse a ``target`` that is a file, or a folder ``replaceable`` refuses. Concurrent
    saves of the fallback move the target aside and a new one in while it is checked, so
    a target that vanishes holds nothing to protect, and a refusal counts only when the
    same file or folder (its inode) is there before and after the look that refused it."""
    for _ in range(100):
        before = _identity(target)
        if before is None:
            return
        if before[2]:
            try:
                entries = os.listdir(target)
            except (FileNotFoundError, NotADirectoryError):
                continue  # replaced while looked at: look again
            if not entries or replaceable(target):
                return
            kind = "is a folder of other files"
        else:
            kind = "exists and is not a folder"
        if _identity(target) == before:
            raise FileExistsError(errno.EEXIST, kind, target)
    # replaced at every look: only saves replace it, so it holds a model


def _identity(path):
    """``(device, inode, is_folder)`` of ``path`` itself (a link is not followed), or None
    when nothing is there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, stat.S_ISDIR(st.st_mode)


def _swap_in(tmp, target, replaceable):
    """Put the complete folder ``tmp`` at ``target``; the old folder ends at ``tmp`` (then
    removed) or in a backup (removed too)."""
    for _ in range(100):  # another process may put its folder there between our steps
        try:
            os.rename(tmp, target)  # target absent or an empty folder: atomic
            _step("renamed")
            return
        except OSError as exc:
            if exc.errno not in _NOT_EMPTY and not isinstance(exc, FileExistsError):
                raise
        _check_replaceable(target, replaceable)
        if _exchange is not None:
            try:
                _exchange(tmp, target)
            except FileNotFoundError:
                continue  # the target vanished (another save moved it aside): rename again
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED:
                    raise
            else:
                _step("exchanged")
                shutil.rmtree(tmp, ignore_errors=True)
                return
        if _move_aside_and_in(tmp, target):
            return
    raise OSError(errno.EBUSY, "other processes keep replacing this folder", target)


def _move_aside_and_in(tmp, target):
    """The fallback without an exchange: old folder to a backup name, new folder in."""
    parent, name = os.path.split(target)
    backup = _new_name(parent, name, "old")
    try:
        os.rename(target, backup)
    except FileNotFoundError:
        return False
    _step("moved-aside")
    try:
        os.rename(tmp, target)
    except OSError as exc:  # another save got there first: keep ours for the next round
        if exc.errno not in _NOT_EMPTY and not isinstance(exc, FileExistsError):
            os.rename(backup, target)
            raise
        shutil.rmtree(backup, ignore_errors=True)
        return False
    _step("renamed")
    shutil.rmtree(backup, ignore_errors=True)
    return True


def _backups(target):
    parent, name = os.path.split(os.path.realpath(target))
    pattern = _tmp_pattern(name, "old")
    try:
        entries = os.listdir(parent)
    except OSError:
        return []
    return [(os.path.join(parent, e), int(m.group(1))) for e in entries
            for m in [pattern.match(e)] if m]


def interrupted_backups(target):
    """The backups of ``target`` left by a replacement interrupted between its two renames
    (only without an atomic exchange), newest first.

    Examples
    --------
    >>> import tempfile, os
    >>> interrupted_backups(os.path.join(tempfile.mkdtemp(), "model"))
    []
    """
    found = [p for p, pid in _backups(target) if os.name != "posix" or not _alive(pid)]
    return sorted(found, key=os.path.getmtime, reverse=True)


def replacement_running(target):
    """Whether a live process is between the two renames of a replacement of ``target``
    (POSIX only; the folder is then missing for a moment)."""
    return os.name == "posix" and any(_alive(pid) for _, pid in _backups(target))


def _remove_stale(parent, name, kind):
    """Remove the temporary (``kind="tmp"``) or backup (``"old"``) folders of replacements
    whose process is gone (POSIX only: a process id can be tested there without side
    effects)."""
    if os.name != "posix":
        return
    pattern = _tmp_pattern(name, kind)
    for entry in os.listdir(parent):
        m = pattern.match(entry)
        if m and not _alive(int(m.group(1))):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
