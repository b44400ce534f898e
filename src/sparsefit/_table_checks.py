"""What ``sparsefit fit`` and ``predict`` check in a table and in their options.

Each check refuses with a :class:`DataError` whose message names the column or option and
a fix that exists for the command at hand (``predict`` has no ``--one-hot`` or
``--dropna``): never a silent guess, never a traceback.
"""

from __future__ import annotations

import math
import numbers
import re

import numpy as np

from ._table_read import DataError

TASKS = ("regression", "binary", "multiclass")
PENALTIES = ("l1", "elastic_net", "group_lasso", "sparse_group_lasso")
GROUP_PENALTIES = ("group_lasso", "sparse_group_lasso")
BIG = 1e100  # |value| beyond this: sums of squares of a column come near the float64 range
SMALL = 1e-100  # a spread below this: its squares come near the subnormal range
MAX_ALPHAS = 1000
MAX_FOLDS = 100
ROWS_PER_CLASS = 20  # integer targets become classes only with this many rows per value
# what numbers written for people carry: group separators, currency, percent, a decimal
# comma, a typographic minus, accounting parentheses
_DECORATION = re.compile(r"[,'_\s\u00a0\u202f$\u20ac\u00a3\u00a5%()]")


# --- options -------------------------------------------------------------------------------

def _show(v):
    """``repr`` of a cell value as the user wrote it (no ``np.int64(...)`` wrapper)."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_options(*, task, penalty, l1_ratio, tau, groups, cv, n_alphas, selection, seed,
                  tol):
    """The options, checked and completed: ``(l1_ratio, tau)`` for the chosen penalty.

    An option that does not apply to the penalty is refused rather than ignored.

    Examples
    --------
    >>> check_options(task=None, penalty="elastic_net", l1_ratio=None, tau=None, groups=None,
    ...               cv=5, n_alphas=50, selection="1se", seed=0, tol=1e-6)
    (0.5, None)
    """
    if task is not None and task not in TASKS:
        raise DataError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    if penalty not in PENALTIES:
        raise DataError(f"--penalty must be one of {', '.join(PENALTIES)}, got {penalty!r}")
    if not _is_int(cv) or not 2 <= cv <= MAX_FOLDS:
        raise DataError(f"--cv is the number of cross-validation folds: an integer from 2 to "
                        f"{MAX_FOLDS} (5 or 10 are usual), got {cv!r}")
    if not _is_int(n_alphas) or not 2 <= n_alphas <= MAX_ALPHAS:
        raise DataError(f"--n-alphas is the number of penalty strengths on the path: an "
                        f"integer from 2 to {MAX_ALPHAS} (default 50), got {n_alphas!r}")
    if selection not in ("min", "1se"):
        raise DataError(f"--selection must be 'min' or '1se', got {selection!r}")
    if not _is_int(seed) or not 0 <= seed < 2**32:
        raise DataError(f"--seed must be an integer from 0 to 2**32 - 1, got {seed!r}")
    if not (isinstance(tol, numbers.Real) and 0 < tol < 1):
        raise DataError(f"tol must be in (0, 1), got {tol!r}")
    _check_groups_option(groups, penalty)
    l1_ratio = _penalty_option("--l1-ratio", l1_ratio, penalty, "elastic_net", 0.5,
                               lambda r: 0 < r <= 1, "(0, 1] (1 is the lasso; near 0, ridge)")
    tau = _penalty_option("--tau", tau, penalty, "sparse_group_lasso", 0.5,
                          lambda t: 0 <= t <= 1, "[0, 1] (0 is the group lasso, 1 the lasso)")
    return l1_ratio, tau


def _check_groups_option(groups, penalty):
    if penalty in GROUP_PENALTIES and groups is None:
        raise DataError(f"--penalty {penalty} needs --groups (prefix, or a JSON file "
                        "{group: [columns]})")
    if penalty not in GROUP_PENALTIES and groups is not None:
        raise DataError(f"--groups applies to --penalty group_lasso or sparse_group_lasso, not "
                        f"{penalty}; add one of those or drop --groups")


def _penalty_option(flag, value, penalty, owner, default, valid, interval):
    if penalty != owner:
        if value is not None:
            raise DataError(f"{flag} applies to --penalty {owner} only (got --penalty "
                            f"{penalty}); drop {flag} or use --penalty {owner}")
        return None
    if value is None:
        return default
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not valid(value):
        raise DataError(f"{flag} must be in {interval}, got {value!r}")
    return float(value)


# --- columns -------------------------------------------------------------------------------

def _row(full, label):
    """The 1-based data row of ``label`` in the column ``full``."""
    return int(np.flatnonzero(full.index == label)[0]) + 1


def column_kind(series, name, command):
    """``"numeric"`` or ``"text"`` for a feature or target column, refusing columns that
    are numbers in disguise (thousands separators, a decimal comma, a few stray words in
    a numeric column) and dates."""
    import pandas as pd

    s = series.dropna()
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        if pd.api.types.is_complex_dtype(s):
            raise DataError(f"column {name!r} holds complex numbers; split it into real columns")
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
        raise DataError(f"column {name!r} holds dates or times; turn it into numbers (e.g. "
                        "days since a start date) or drop it")
    if s.empty:
        return "text"
    if all(isinstance(v, (bool, np.bool_)) for v in s):
        return "numeric"
    odd = next((v for v in s if not isinstance(v, (str, numbers.Number))), None)
    if odd is not None:
        raise DataError(f"column {name!r} holds {type(odd).__name__} values such as "
                        f"{str(odd)[:40]!r}; give it plain numbers or text")
    text = s.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    ok = numeric.notna().to_numpy()
    if ok.all():
        return "numeric"
    _refuse_disguised_numbers(series, name, text, ok, numeric, command)
    return "text"


def _refuse_disguised_numbers(series, name, text, ok, numeric, command):
    import pandas as pd

    plain = text.str.replace("\u2212", "-", regex=False).str.replace(_DECORATION, "",
                                                                      regex=True)
    decorated = ~ok & pd.to_numeric(plain, errors="coerce").notna().to_numpy()
    if (decorated | ok).all():
        first = text[decorated]
        raise DataError(
            f"column {name!r} holds numbers written with separators, symbols or a decimal "
            f"comma ({first.iloc[0]!r} in data row {_row(series, first.index[0])}); write them "
            "as plain numbers (1234.5) and run again")
    if ok.mean() >= 0.9 and numeric.nunique() >= 10:
        bad = text[~ok]
        fix = ("leave those cells empty and pass --dropna, or fill them" if command == "fit"
               else "fill them with numbers, or remove those rows")
        raise DataError(
            f"column {name!r} is numeric except for {len(bad)} value(s) such as "
            f"{bad.iloc[0]!r} (data row {_row(series, bad.index[0])}); {fix}")


def numeric_values(series):
    """The column as float64 (booleans as 0/1, numbers stored as text parsed)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if all(isinstance(v, (bool, np.bool_)) for v in series.dropna()):
        return series.map(lambda v: float(v) if isinstance(v, (bool, np.bool_))
                          else np.nan).to_numpy(dtype=np.float64)
    return pd.to_numeric(series.astype(str).str.strip(), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan)


def as_numbers_if_numeric(series, name):
    """The target column, as float64 if it holds numbers stored as text (a Parquet string
    column, huge integers): a number target is never taken for classes by its storage."""
    import pandas as pd

    kind = column_kind(series, name, "fit")
    if kind != "numeric" or pd.api.types.is_numeric_dtype(series) or \
            pd.api.types.is_bool_dtype(series) or \
            all(isinstance(v, (bool, np.bool_)) for v in series.dropna()):
        return series
    return pd.Series(numeric_values(series), index=series.index, name=series.name)


def categories_of(series, name, n_rows):
    """The sorted distinct values (as text) of a column to one-hot encode; a column with
    nearly one value per row (an identifier) is refused."""
    values = sorted(set(series.astype(str)))
    if len(values) > max(50, n_rows // 2):
        raise DataError(f"column {name!r} has {len(values)} distinct values in {n_rows} rows "
                        "(an identifier?); --one-hot would make a column of each: drop it")
    return values


def one_hot(series, name, categories, command):
    """The indicator columns of ``series`` for ``categories``; a value outside them is
    refused at predict time."""
    values = series.astype(str).to_numpy()
    cats = np.asarray(categories, dtype=object)
    known = np.isin(values, cats)
    if not known.all():
        unseen = list(dict.fromkeys(values[~known]))[:5]
        raise DataError(f"column {name!r} has value(s) {', '.join(map(repr, unseen))} the "
                        f"model never saw (it knows {', '.join(map(repr, categories[:10]))}"
                        f"{', ...' if len(categories) > 10 else ''}); fix or remove those rows")
    return (values[:, None] == cats[None, :]).astype(np.float64)


def check_finite(X, names):
    bad = [names[j] for j in np.flatnonzero(~np.isfinite(X).all(axis=0))]
    if bad:
        raise DataError(f"column(s) {', '.join(map(repr, bad[:10]))} hold infinite values "
                        "(inf); replace them with finite numbers")


def check_scales(X, names, what="column"):
    """Refuse columns whose sums of squares overflow float64 or whose spread underflows:
    the standardization would silently drop them (Guarantee 6 of the estimators)."""
    if X.size == 0:
        return
    big = np.max(np.abs(X), axis=0)
    j = int(np.argmax(big))
    if big[j] > BIG:
        raise DataError(f"{what} {names[j]!r} has values of magnitude {big[j]:.1e}: its sums "
                        f"of squares overflow float64; rescale it (divide it by "
                        f"1e{int(math.floor(math.log10(big[j])))}) and run again")
    safe = np.where(big > 0, big, 1.0)
    spread = np.std(X / safe, axis=0) * big
    tiny = np.flatnonzero((spread > 0) & (spread < SMALL))
    if tiny.size:
        j = int(tiny[0])
        raise DataError(f"{what} {names[j]!r} varies by only {spread[j]:.1e} (standard "
                        "deviation): its squares underflow float64; rescale it (multiply it "
                        f"by 1e{-int(math.floor(math.log10(spread[j])))}) and run again")


# --- the target and the task ---------------------------------------------------------------

def choose_task(y, name, requested, cv):
    """``(task, reason)``: the requested task checked against the target, or the task read
    off the target, with the reason in words.

    Text and boolean targets are classes; a numeric target with 2 values is binary; an
    integer target with 3 to 10 values and at least 20 rows per value (on average) is
    multiclass; anything else is regression. Each class must have ``cv`` rows at least.

    Examples
    --------
    >>> import pandas as pd
    >>> choose_task(pd.Series([1, 2, 3, 4] * 5), "y", None, 5)[0]
    'regression'
    """
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    k = int(y.nunique())
    if k < 2:
        raise DataError(f"the target {name!r} has the same value ({_show(y.iloc[0])}) in every "
                        "usable row: there is nothing to predict; choose another --target")
    if requested is None:
        task, reason = _auto_task(y, numeric, k)
    else:
        task, reason = requested, "--task " + requested
        _check_requested(y, name, requested, numeric, k)
    if task != "regression":
        _check_class_sizes(y, name, cv)
    return task, reason


def _auto_task(y, numeric, k):
    import pandas as pd

    n = len(y)
    if not numeric:
        kind = "text" if not pd.api.types.is_bool_dtype(y) else "true/false"
        return ("binary" if k == 2 else "multiclass",
                f"{kind} target with {k} classes")
    if k == 2:
        a, b = sorted(y.unique())
        return "binary", f"numeric target with 2 values ({a:g} and {b:g}); --task regression " \
                         "to predict it as a number"
    if pd.api.types.is_integer_dtype(y) and k <= 10:
        if n >= ROWS_PER_CLASS * k:
            return "multiclass", (f"integer target with {k} values, {n // k} rows per value on "
                                  "average; --task regression to predict it as a number")
        return "regression", (f"integer target with only {k} values, but {n} rows are fewer "
                              f"than {ROWS_PER_CLASS} per value; --task multiclass to treat "
                              "the values as classes")
    return "regression", f"numeric target with {k} distinct values"


def _check_requested(y, name, task, numeric, k):
    if task == "regression" and not numeric:
        example = _show(y.dropna().iloc[0])
        raise DataError(f"--task regression needs a numeric target; {name!r} holds "
                        f"{example}; use --task binary or multiclass")
    if task == "binary" and k != 2:
        import pandas as pd

        few = not numeric or (pd.api.types.is_integer_dtype(y) and k <= 10)
        raise DataError(f"--task binary needs a target with 2 values; {name!r} has {k}: use "
                        f"--task {'multiclass' if few else 'regression'}")
    if task == "multiclass" and k < 3:
        raise DataError(f"--task multiclass needs 3 classes or more; {name!r} has 2: use "
                        "--task binary")


def _check_class_sizes(y, name, cv):
    counts = y.value_counts()
    small = counts[counts < cv]
    if len(small):
        c, m = small.index[0], int(small.iloc[0])
        raise DataError(f"class {_show(c)} of {name!r} has {m} row(s); {cv}-fold stratified "
                        f"cross-validation needs {cv} per class at least: lower --cv, or "
                        f"remove or merge the rare class{'es' if len(small) > 1 else ''} "
                        f"({len(small)} of {len(counts)})")


def regression_target(y, name):
    """The numeric target as float64, finite and of a scale the solvers can square."""
    values = numeric_values(y)
    if not np.all(np.isfinite(values)):
        raise DataError(f"the target {name!r} holds infinite values; replace or remove them")
    check_scales(values[:, None], [name], what="the target")
    return values
