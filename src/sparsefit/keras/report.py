"""How sparse is a Keras model: exact zeros, near zeros, dead units, penalty values."""

from __future__ import annotations

import keras
import numpy as np

from .._sparsity import SparsityReport, layer_row
from .regularizers import Regularizer

__all__ = ["SparsityReport", "dead_units", "sparsity_report"]


def dead_units(layer):
    """``(dead_out, dead_in)`` of a layer with a ``kernel``, ``(None, None)`` otherwise.

    Keras kernels are ``(..., in, out)`` (Dense ``(in, out)``, Conv ``(kh, kw, in, out)``):
    an output unit/filter is dead when its slice ``kernel[..., j]`` is all zero (it gets no
    input; it still emits ``act(bias_j)``), an input when ``kernel[..., i, :]`` is.

    Examples
    --------
    >>> import numpy as np, keras
    >>> from sparsefit.keras import dead_units
    >>> layer = keras.layers.Dense(2)
    >>> layer.build((None, 3))
    >>> _ = layer.kernel.assign(np.array([[0.0, 1.0], [0.0, 0.0], [0.0, 2.0]]))
    >>> dead_units(layer)
    (1, 1)
    """
    kernel = getattr(layer, "kernel", None)
    if kernel is None or not isinstance(kernel, keras.Variable) or len(kernel.shape) < 2:
        return None, None
    nz = keras.ops.convert_to_numpy(kernel) != 0
    nd = nz.ndim
    dead_out = int((~nz.any(axis=tuple(range(nd - 1)))).sum())
    dead_in = int((~nz.any(axis=tuple(d for d in range(nd) if d != nd - 2))).sum())
    return dead_out, dead_in


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


def sparsity_report(model, *, tol=1e-3, kernels_only=False):
    r"""Sparsity of a Keras model, per layer and in total.

    For every layer with weights: number of parameters, exact zeros (:math:`w_j = 0`),
    near zeros (:math:`|w_j| <` ``tol``), dead output units and dead inputs of its kernel
    (:func:`dead_units`), and the full value of its sparsefit regularizers, proximal ones
    included (``None`` when it has none; Keras' own regularizers are evaluated too).

    Parameters
    ----------
    model : keras.Model (Sequential or functional; nested models are walked)
    tol : float, default=1e-3
        Threshold of "near zero", >= 0.
    kernels_only : bool, default=False
        Count only the ``kernel`` weights (no biases, no normalization statistics).

    Returns
    -------
    SparsityReport

    Examples
    --------
    >>> import numpy as np, keras
    >>> from sparsefit.keras import sparsity_report, L1
    >>> model = keras.Sequential([keras.Input((2,)),
    ...                           keras.layers.Dense(2, use_bias=False,
    ...                                              kernel_regularizer=L1(1.0))])
    >>> _ = model.layers[0].kernel.assign(np.array([[0.0, 0.0], [1e-4, 2.0]]))
    >>> rep = sparsity_report(model)
    >>> rep.total["zeros"], rep.total["near_zero"], rep.total["dead_in"]
    (2, 3, 1)
    >>> round(rep.total["penalty"], 4)
    2.0001
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    if not (isinstance(tol, (int, float)) and np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    rows = []
    for layer in _leaf_layers(model):
        weights = [w for w in layer.weights
                   if not kernels_only or w is getattr(layer, "kernel", None)]
        if not weights:
            continue
        n = zeros = near = 0
        pen = None
        for w in weights:
            a = keras.ops.convert_to_numpy(w)
            n += a.size
            zeros += int((a == 0).sum())
            near += int((np.abs(a) < tol).sum())
            reg = getattr(w, "regularizer", None)
            if reg is not None:
                val = (reg.value(w) if isinstance(reg, Regularizer)
                       else float(keras.ops.convert_to_numpy(reg(w))))
                pen = (pen or 0.0) + val
        dead_out, dead_in = dead_units(layer)
        rows.append(layer_row(layer.name, type(layer).__name__, n, zeros, near, dead_out,
                              dead_in, pen))

    return SparsityReport.from_rows(rows, tol)
