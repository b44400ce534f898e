"""How sparse is a network: exact zeros, near zeros, dead units, penalty values."""

from __future__ import annotations

import torch
from torch import nn

from .._sparsity import SparsityReport, layer_row
from . import _attach

__all__ = ["SparsityReport", "dead_units", "sparsity_report"]


def dead_units(module, name="weight"):
    """``(dead_out, dead_in)``: output units and inputs of a layer whose weights are all 0.

    An output unit (row of a Linear weight, filter of a convolution) is dead when all its
    incoming weights are exactly zero; an input (column of a Linear weight, input channel)
    when all its outgoing weights are. Returns ``(None, None)`` for parameters with fewer
    than 2 dimensions. The axes follow the layer type (ConvTranspose and Embedding store
    their weight the other way around).

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> lin = torch.nn.Linear(3, 2)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 2.0]]))
    >>> sfnn.dead_units(lin)
    (1, 1)
    """
    w = module._parameters.get(name)
    if w is None or w.dim() < 2:
        return None, None
    out_axis, in_axis = _attach._unit_axes(module)
    if isinstance(module, nn.RNNBase):
        out_axis, in_axis = 0, 1
    nz = w.detach() != 0

    def count(axis):
        other = tuple(d for d in range(w.dim()) if d != axis)
        return int((~nz.any(dim=other)).sum())

    dead_out, dead_in = count(out_axis), count(in_axis)
    groups = getattr(module, "groups", 1)
    if isinstance(module, nn.modules.conv._ConvNd) and groups > 1:
        # slice j of axis 1 holds channel j of every group: look at each group separately
        per_group = nz.reshape(groups, w.shape[0] // groups, w.shape[1], -1)
        dead = int((~per_group.any(dim=3).any(dim=1)).sum())
        if isinstance(module, nn.modules.conv._ConvTransposeNd):
            dead_out = dead
        else:
            dead_in = dead
    return dead_out, dead_in


@torch.no_grad()
def sparsity_report(model, *, tol=1e-3, kernels_only=False):
    r"""Sparsity of ``model``, per layer and in total.

    For every module with parameters of its own: number of parameters, exact zeros
    (:math:`w_j = 0`), near zeros (:math:`|w_j| < \mathrm{tol}`), dead output units and
    dead inputs (see :func:`dead_units`; for the kernel ``weight``) and the value of the
    attached penalties (``None`` when none is attached).

    Parameters
    ----------
    model : torch.nn.Module
    tol : float, default=1e-3
        Threshold of "near zero".
    kernels_only : bool, default=False
        Count only the parameters :func:`~sparsefit.nn.kernel_mask` selects (no biases,
        no normalization layers).

    Returns
    -------
    SparsityReport
        Printable; ``.to_dict()``; ``.to_dataframe()`` with pandas.

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> lin = torch.nn.Linear(2, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[0.0, 1e-4], [0.0, 2.0]]))
    >>> rep = sfnn.sparsity_report(lin)
    >>> rep.total["zeros"], rep.total["near_zero"], rep.total["dead_in"]
    (2, 3, 1)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    rows = []
    for mname, module in model.named_modules():
        params = [(n, p) for n, p in module._parameters.items() if p is not None
                  and (not kernels_only or _attach.kernel_mask(mname, module, n, p))]
        if not params:
            continue
        n = zeros = near = 0
        for _, p in params:
            n += p.numel()
            zeros += int((p == 0).sum())
            near += int((p.abs() < tol).sum())
        dead_out, dead_in = dead_units(module)
        st = _attach._state(module)
        pen = None
        if st is not None and st.items:
            pen = float(sum(float(a.value(module)) for a in st.items.values()))
        rows.append(layer_row(mname or "(root)", type(module).__name__, n, zeros, near,
                              dead_out, dead_in, pen))

    return SparsityReport.from_rows(rows, tol)
