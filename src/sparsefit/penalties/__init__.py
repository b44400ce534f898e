"""Penalties with exact proximal operators, on NumPy arrays and torch tensors.

Every penalty knows its ``value`` (also ``__call__``, as a Keras regularizer), its exact
``prox``, a ``subgradient`` (what autograd follows), ``subdiff_distance`` (the optimality
violation), ``alpha_max``, ``numba_spec`` (for compiled solvers) and
``get_config``/``from_config``. :func:`get` resolves identifiers the way Keras does.
"""

from __future__ import annotations

from ._base import Penalty
from .box import Box
from .group import GroupL1, GroupL1L2, Groups, SparseGroupL1
from .scaled import Scaled
from .separable import L1, L1L2, L2, MCP, SCAD, LogSum, WeightedL1
from .tv import TV1D

__all__ = [
    "Penalty",
    "Groups",
    "L1",
    "L2",
    "L1L2",
    "WeightedL1",
    "GroupL1",
    "SparseGroupL1",
    "GroupL1L2",
    "MCP",
    "SCAD",
    "LogSum",
    "Box",
    "Scaled",
    "TV1D",
    "get",
    "registry",
    "serialize",
]

# Every penalty class of the package: the tests' tables are checked against it, so a new
# class without its test rows fails a test.
_CLASSES = {cls.__name__: cls for cls in
            (L1, L2, L1L2, WeightedL1, GroupL1, SparseGroupL1, GroupL1L2, MCP, SCAD, LogSum, Box,
             Scaled, TV1D)}


def registry():
    """``{class name: class}`` of every penalty of :mod:`sparsefit.penalties`."""
    return dict(_CLASSES)

# Identifiers and what they resolve to. "l1_l2" is the one Keras documents and Keras 3
# itself rejects; here it works.
_IDENTIFIERS = {
    "l1": lambda: L1(0.01),
    "l2": lambda: L2(0.01),
    "l1_l2": lambda: L1L2(0.01, 0.01),
    "elastic_net": lambda: L1L2(0.01, 0.01),
    "group_lasso": lambda: GroupL1(0.01),
    "sparse_group_lasso": lambda: SparseGroupL1(0.01, 0.5),
    "mcp": lambda: MCP(0.01),
    "scad": lambda: SCAD(0.01),
    "log_sum": lambda: LogSum(0.01),
    "tv1d": lambda: TV1D(0.01),
    "fused_lasso": lambda: TV1D(0.01),
}


def get(identifier):
    """Resolve a penalty identifier.

    Parameters
    ----------
    identifier : str, dict, Penalty or None
        ``"l1"`` -> ``L1(0.01)``, ``"l2"`` -> ``L2(0.01)``, ``"l1_l2"`` (also
        ``"elastic_net"``) -> ``L1L2(0.01, 0.01)``, ``"group_lasso"`` ->
        ``GroupL1(0.01)`` (groups from the weight's rows), ``"sparse_group_lasso"``,
        ``"mcp"``, ``"scad"``, ``"tv1d"``/``"fused_lasso"``; a class name (``"L1L2"``,
        default arguments); a dict ``{"class_name": ..., "config": {...}}`` as
        :func:`serialize` or Keras writes; a :class:`Penalty` (returned as is); ``None``
        (returned as is: no penalty).

    Returns
    -------
    Penalty or None

    Raises
    ------
    ValueError
        For an unknown identifier or a malformed dict, naming what was given.

    Examples
    --------
    >>> from sparsefit import penalties
    >>> penalties.get("l1_l2")
    L1L2(l1=0.01, l2=0.01)
    >>> penalties.get({"class_name": "L1", "config": {"l1": 0.5}})
    L1(l1=0.5)
    """
    if identifier is None or isinstance(identifier, Penalty):
        return identifier
    if isinstance(identifier, str):
        key = identifier.strip()
        if key in _CLASSES:  # a class name means its defaults: "L1L2" is L1L2(0, 0)
            return _CLASSES[key]()
        if key.lower() in _IDENTIFIERS:
            return _IDENTIFIERS[key.lower()]()
        raise ValueError(
            f"Unknown penalty identifier {identifier!r}; expected one of "
            f"{sorted(_IDENTIFIERS)} or a class name {sorted(_CLASSES)}")
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(f"penalty dict needs a 'class_name' key, got {identifier!r}")
        name = identifier["class_name"]
        config = identifier.get("config") or {}
        # Keras may qualify names ("keras.regularizers.L1") or write snake_case aliases
        short = str(name).rsplit(">", 1)[-1].rsplit(".", 1)[-1]
        if short in _CLASSES:
            return _CLASSES[short].from_config(dict(config))
        if short.lower() in _IDENTIFIERS:
            base = type(_IDENTIFIERS[short.lower()]())
            return base.from_config(dict(config)) if config else _IDENTIFIERS[short.lower()]()
        raise ValueError(f"Unknown penalty class_name {name!r} in {identifier!r}")
    raise ValueError(
        f"Could not interpret penalty identifier {identifier!r} of type "
        f"{type(identifier).__name__}")


def serialize(penalty):
    """The ``{"class_name": ..., "config": ...}`` dict that :func:`get` reads back."""
    if not isinstance(penalty, Penalty):
        raise ValueError(f"penalty must be a Penalty, got {type(penalty).__name__}")
    return {"class_name": type(penalty).__name__, "config": penalty.get_config()}
