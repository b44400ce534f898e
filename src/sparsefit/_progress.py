"""Progress of long jobs: a tqdm bar on a terminal, plain lines when the output is a file,
a pipe or CI, nothing when disabled."""

from __future__ import annotations

import sys
import time


class Progress:
    """A counter shown while a long job runs.

    On a terminal it is a `tqdm <https://tqdm.github.io>`_ bar. Otherwise (a log file, a
    pipe, CI) it prints plain lines ``desc: done/total (pct%)``, at most one per
    ``every`` seconds and at the end, so logs stay readable. Use it as a context manager
    and call :meth:`update`; :meth:`__call__` is the same, so an instance can be passed as
    a ``progress`` callback.

    Parameters
    ----------
    total : int
    desc : str
    stream : file, default sys.stderr
    enabled : bool, default True
    every : float, default 5.0
        Seconds between plain lines.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(4, "CV path", stream=out, every=0.0) as bar:
    ...     for _ in range(4):
    ...         bar.update()
    >>> out.getvalue().splitlines()[-1]
    'CV path: 4/4 (100%)'
    """

    def __init__(self, total, desc, *, stream=None, enabled=True, every=5.0):
        self.total = max(int(total), 1)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.every = every
        self.done = 0
        self._bar = None
        self._last = -float("inf")
        if enabled and _is_terminal(self.stream):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=desc, file=self.stream, leave=True,
                             dynamic_ncols=True)

    def update(self, n=1):
        """Count ``n`` more steps done."""
        if not self.enabled:
            return
        self.done = min(self.done + n, self.total)
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.every or self.done == self.total:
            self._last = now
            self.stream.write(f"{self.desc}: {self.done}/{self.total} "
                              f"({100 * self.done // self.total}%)\n")
            self.stream.flush()

    __call__ = update

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self.done < self.total and self.done > 0:
            self.stream.write(f"{self.desc}: stopped at {self.done}/{self.total}\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
