"""Keras 3: exact-zero L1 for Keras models (any backend Keras runs on).

Needs keras>=3; ``import sparsefit`` does not import it, ``import sparsefit.keras`` does.
Import it before ``keras``: when no backend is configured (``KERAS_BACKEND``, ``keras.json``)
and TensorFlow is not installed, it selects the torch backend (else JAX) and says so.

- Regularizers (:class:`L1`, :class:`L2`, :class:`L1L2`, :class:`GroupL1`,
  :class:`SparseGroupL1`, :func:`get`): real ``keras.regularizers.Regularizer``
  subclasses, serializable, with a ``proximal=True`` mode that leaves the non-smooth part
  out of the loss.
- :class:`ProximalCallback`: the exact prox after every optimizer update, with the
  optimizer's own per-coordinate step for Adam; exact zeros.
- :func:`sparsity_report`, :func:`shrink`: what is zero, and a smaller model with the
  same outputs.

Examples
--------
>>> from sparsefit import keras as sfk   # first: it can pick the backend
>>> import keras
>>> model = keras.Sequential([
...     keras.Input((30,)),
...     keras.layers.Dense(16, activation="relu",
...                        kernel_regularizer=sfk.L1(1e-3, proximal=True)),
...     keras.layers.Dense(1, activation="sigmoid")])
>>> model.compile("adam", "binary_crossentropy")
>>> cb = sfk.ProximalCallback()   # model.fit(x, y, callbacks=[cb])
"""

from ._backend import import_keras

# Before Keras is first imported: picks torch (else JAX) when only Keras' default points at a
# missing TensorFlow, and turns an import failure into its real cause and what to set.
keras = import_keras()

from .callbacks import (
    ProximalCallback,
    penalty,
    proximal_variables,
    register_step_rule,
    step_rules,
)
from .regularizers import (
    L1,
    L1L2,
    L2,
    GroupL1,
    Regularizer,
    SparseGroupL1,
    get,
    l1,
    l1_l2,
    l2,
)
from .report import SparsityReport, dead_units, sparsity_report
from .shrink import ShrinkError, ShrinkReport, shrink

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "GroupL1",
    "ProximalCallback",
    "Regularizer",
    "ShrinkError",
    "ShrinkReport",
    "SparseGroupL1",
    "SparsityReport",
    "dead_units",
    "get",
    "l1",
    "l1_l2",
    "l2",
    "penalty",
    "proximal_variables",
    "register_step_rule",
    "shrink",
    "sparsity_report",
    "step_rules",
]
