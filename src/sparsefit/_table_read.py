"""Reading a user's table as it is, or refusing it with one line that says what to fix.

pandas guesses where a file is ambiguous, and some guesses give silent wrong results: a
header with a repeated name becomes ``y`` and ``y.1``, rows with one field more than the
header shift every value into the next column (the first becomes the index), a short row
is padded with NaN. The header is read here with the ``csv`` module, and the rows are
checked against it whenever pandas warned or padded.
"""

from __future__ import annotations

import csv
import os
import re
import warnings

MIN_PYARROW = (14, 0, 1)


class DataError(ValueError):
    """The table cannot be used as given; the message says what to change."""


def _version_tuple(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def read_table(path, *, text_columns=()):
    """A pandas DataFrame from a ``.csv``/``.tsv``/``.parquet`` file, checked.

    Parameters
    ----------
    path : str
    text_columns : sequence of str
        CSV columns to read as text (a saved model's one-hot columns, whose values must
        be compared as written).

    Raises
    ------
    DataError
        A missing, empty, header-only, non-UTF-8, ragged or damaged file; a repeated or
        empty column name. Parquet is read only with pyarrow >= 14.0.1 (older versions
        deserialize untrusted files unsafely, CVE-2023-47248).

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(p, "w").write("y,y\\n1,2\\n")
    >>> try:
    ...     read_table(p)
    ... except DataError as exc:
    ...     print(exc)
    DATA: the column name 'y' appears 2 times; give each column its own name
    """
    if os.path.isdir(path):
        raise DataError(f"DATA: {path!r} is a folder; give a .csv, .tsv or .parquet file")
    if not os.path.exists(path):
        raise DataError(f"DATA: no such file {path!r}")
    if not os.path.isfile(path):
        raise DataError(f"DATA: {path!r} is not a regular file (a pipe or a device?); give a "
                        ".csv, .tsv or .parquet file")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".parquet", ".pq"):
        df = _read_parquet(path)
    elif ext in (".csv", ".tsv", ".txt"):
        df = _read_csv(path, "\t" if ext == ".tsv" else ",", text_columns)
    else:
        raise DataError(f"DATA: unsupported file type {ext!r}; use .csv, .tsv or .parquet")
    check_column_names(list(df.columns))
    if df.shape[1] == 0:
        raise DataError("DATA has no columns")
    if len(df) == 0:
        raise DataError("DATA has a header but no rows")
    return df


def check_column_names(names, what="DATA"):
    """Refuse repeated or empty column names (by name or position)."""
    for i, n in enumerate(names):
        if not isinstance(n, str):
            raise DataError(f"{what}: column {i + 1} is named {n!r}; column names must be text")
        if not n.strip():
            raise DataError(f"{what}: column {i + 1} has no name (a saved row index, or a "
                            "delimiter at the end of the header line?); name it or remove it")
    seen = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    dups = [n for n, k in seen.items() if k > 1]
    if dups:
        raise DataError(_dup_message(what, dups, seen))


def _dup_message(what, dups, seen):
    if len(dups) == 1:
        return (f"{what}: the column name {dups[0]!r} appears {seen[dups[0]]} times; give "
                "each column its own name")
    return (f"{what}: the column names {', '.join(repr(n) for n in dups[:5])} appear more "
            "than once; give each column its own name")


def _read_parquet(path):
    import pandas as pd

    try:
        import pyarrow
    except ImportError:
        raise DataError("DATA: reading Parquet needs pyarrow >= 14.0.1 "
                        "(pip install 'pyarrow>=14.0.1')") from None
    if _version_tuple(pyarrow.__version__) < MIN_PYARROW:
        raise DataError(f"DATA: pyarrow {pyarrow.__version__} is older than 14.0.1, whose "
                        "Parquet reader is unsafe on untrusted files; upgrade pyarrow")
    try:
        df = pd.read_parquet(path, engine="pyarrow")
    except (pyarrow.ArrowException, OSError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"DATA: {path!r} is not a readable Parquet file ({first})") from None
    df.columns = [str(c) for c in df.columns]
    return df


def _read_header(path, sep):
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for row in csv.reader(fh, delimiter=sep):
                if row:
                    return row
    except UnicodeDecodeError as exc:
        raise _not_utf8(exc) from None
    except csv.Error as exc:
        raise DataError(f"DATA: the header line cannot be read as CSV ({exc})") from None
    raise DataError("DATA is empty: a header line with the column names is expected")


def _not_utf8(exc):
    return DataError(f"DATA is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r} "
                     f"at offset {exc.start}); save the file as UTF-8")


def _read_csv(path, sep, text_columns):
    import pandas as pd

    header = _read_header(path, sep)
    check_column_names(header)
    if len(header) == 1 and sep == "," and (";" in header[0] or "\t" in header[0]):
        other = "';'" if ";" in header[0] else "tabs"
        raise DataError(f"DATA has one column named {header[0][:60]!r}: the file seems "
                        f"separated by {other}; a .csv file must be comma-separated (a "
                        "tab-separated file is read as .tsv)")
    dtype = {c: str for c in text_columns if c in header} or None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            df = pd.read_csv(path, sep=sep, index_col=False, encoding="utf-8", dtype=dtype)
        except UnicodeDecodeError as exc:
            raise _not_utf8(exc) from None
        except pd.errors.EmptyDataError:
            raise DataError("DATA is empty: a header line with the column names is "
                            "expected") from None
        except pd.errors.ParserError as exc:
            _check_ragged(path, sep, len(header))
            raise DataError(f"DATA cannot be read as CSV: {str(exc).strip().splitlines()[-1]}"
                            ) from None
    warned = any(issubclass(w.category, pd.errors.ParserWarning) for w in caught)
    if warned or df.isna().to_numpy().any():
        _check_ragged(path, sep, len(header))
    return df


def _check_ragged(path, sep, width):
    """Refuse the first row with fewer fields than the header, or with more (unless the
    extra fields are empty: a delimiter at the end of each line)."""
    limit = csv.field_size_limit(2**31 - 1)  # pandas reads long fields: so must we
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=sep)
        try:
            rows = (row for row in reader if row)
            next(rows, None)  # the header
            for row in rows:
                if len(row) < width or any(f.strip() for f in row[width:]):
                    break
            else:
                return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"DATA: line {reader.line_num} cannot be read as CSV ({exc})"
                            ) from None
        finally:
            csv.field_size_limit(limit)
    raise DataError(
        f"DATA: line {reader.line_num} has {len(row)} fields where the header has {width}; "
        "fix that line (a missing value is an empty field, as in "
        f"{'1,,3' if sep == ',' else '1<tab><tab>3'})")
