"""The first look at L1: the Keras check, one proximal step against one subgradient step,
and the prox of every penalty family on a small vector. Plain NumPy, deterministic."""

from __future__ import annotations

import numpy as np

from ..penalties import L1, L1L2, L2, MCP, SCAD, TV1D, GroupL1, SparseGroupL1, WeightedL1


def keras_dense_check(l1=0.01):
    """The L1 penalty of a Dense(2) layer without bias whose 3x2 kernel is all ones.

    Keras computes ``l1 * sum|w|``: at ``l1=0.01`` that is exactly 0.06. On the input
    ``x = [[1, 2, 3]]`` with target ``[[0, 0]]`` the layer outputs ``[[6, 6]]``, the mean
    squared error (the data loss) is 36, and the total loss Keras minimizes is
    ``36 + 0.06``.

    Returns
    -------
    dict with ``kernel``, ``l1``, ``penalty``, ``x``, ``target``, ``output``, ``data_loss``
    and ``total_loss``.

    Examples
    --------
    >>> out = keras_dense_check()
    >>> out["penalty"], out["data_loss"], out["total_loss"]
    (0.06, 36.0, 36.06)
    """
    kernel = np.ones((3, 2))
    x = np.array([[1.0, 2.0, 3.0]])
    target = np.zeros((1, 2))
    output = x @ kernel
    data_loss = float(np.mean((output - target) ** 2))
    penalty = L1(l1)(kernel)
    return {"kernel": kernel, "l1": l1, "penalty": penalty, "x": x, "target": target,
            "output": output, "data_loss": data_loss, "total_loss": data_loss + penalty}


def keras_layer_check(l1=0.01):
    """The same check with Keras itself: a real ``keras.layers.Dense`` and its ``losses``.

    ``Dense(2, use_bias=False, kernel_initializer="ones", kernel_regularizer=R)`` built on
    3 inputs, once with Keras' own ``R = keras.regularizers.L1(l1)`` and once with
    ``R = sparsefit.keras.L1(l1)``; ``layer.losses`` holds the penalty Keras adds to the
    loss. Keras computes it in the kernel's dtype (float32), so 0.06 is the float32 number
    nearest to 0.06. The data loss is Keras' ``MeanSquaredError`` of ``layer(x)`` against
    the target.

    Returns
    -------
    dict with ``keras_version``, ``backend``, ``keras_losses`` and ``sparsefit_losses``
    (the values in ``layer.losses``, as Python floats of Keras' float32), ``data_loss``
    and ``total_loss`` (Keras' layer with its own L1).

    Raises
    ------
    ImportError
        When Keras cannot be used here (see
        :func:`sparsefit.experiments.l1_classifier.load_keras`).

    Examples
    --------
    >>> import numpy as np
    >>> out = keras_layer_check()
    >>> out["keras_losses"] == out["sparsefit_losses"] == [float(np.float32(0.06))]
    True
    """
    from .l1_classifier import load_keras

    sfk, reason = load_keras()
    if sfk is None:
        raise ImportError(reason)
    import keras

    def losses(regularizer):
        layer = keras.layers.Dense(2, use_bias=False, kernel_initializer="ones",
                                   kernel_regularizer=regularizer)
        layer.build((None, 3))
        return layer, [float(keras.ops.convert_to_numpy(v)) for v in layer.losses]

    layer, own = losses(keras.regularizers.L1(l1))
    _, ours = losses(sfk.L1(l1))
    x = np.array([[1.0, 2.0, 3.0]], dtype="float32")
    out = layer(x)
    data = float(keras.ops.convert_to_numpy(
        keras.losses.MeanSquaredError()(np.zeros((1, 2), dtype="float32"), out)))
    return {"keras_version": keras.__version__, "backend": keras.backend.backend(),
            "l1": l1, "keras_losses": own, "sparsefit_losses": ours,
            "output": np.asarray(keras.ops.convert_to_numpy(out)),
            "data_loss": data, "total_loss": data + sum(own)}


def prox_vs_subgradient(n=12, l1=0.5, lr=0.1, seed=0):
    r"""One proximal step against one subgradient step on the same weights.

    Both start from the same weights ``w`` (small, as trained weights near zero are) and
    take the same step on the data loss (here zero, to isolate the penalty). The
    subgradient step ``w - lr * l1 * sign(w)`` (what penalty-in-the-loss training does)
    jumps over zero and lands near it, never on it; the proximal step
    ``sign(w) * max(|w| - lr * l1, 0)`` puts every ``|w| <= lr * l1`` exactly at zero.

    Returns
    -------
    dict with ``w``, ``subgradient``, ``proximal`` (arrays) and their exact-zero counts.

    Examples
    --------
    >>> out = prox_vs_subgradient()
    >>> out["zeros_subgradient"], out["zeros_proximal"] > 0
    (0, True)
    """
    rng = np.random.default_rng(seed)
    w = rng.normal(scale=0.08, size=n)
    pen = L1(l1)
    sub = w - lr * pen.subgradient(w)
    prox = pen.prox(w, lr)
    return {
        "w": w, "l1": l1, "lr": lr, "subgradient": sub, "proximal": prox,
        "zeros_subgradient": int(np.sum(sub == 0)), "zeros_proximal": int(np.sum(prox == 0)),
    }


def penalty_family_table(step=1.0):
    """The prox of one member of each penalty family on the same small vector.

    Returns
    -------
    v : ndarray
        The input vector.
    rows : list of (name, penalty, prox(v), value(v), number of exact zeros)

    Examples
    --------
    >>> v, rows = penalty_family_table()
    >>> [r[0] for r in rows][:3]
    ['L1', 'L2', 'L1L2']
    """
    v = np.array([2.0, -0.3, 0.8, -1.6, 0.1, 0.0])
    family = [
        ("L1", L1(0.5)),
        ("L2", L2(0.5)),
        ("L1L2", L1L2(0.5, 0.25)),
        ("WeightedL1", WeightedL1(0.5, [0.0, 1.0, 1.0, 2.0, 2.0, 1.0])),
        ("GroupL1", GroupL1(0.5, groups=[2, 2, 2])),
        ("SparseGroupL1", SparseGroupL1(0.5, 0.5, groups=[2, 2, 2])),
        ("MCP", MCP(0.5, 3.0)),
        ("SCAD", SCAD(0.5, 3.7)),
        ("TV1D", TV1D(0.5)),
    ]
    rows = []
    for name, pen in family:
        z = pen.prox(v, step)
        rows.append((name, pen, z, pen.value(v), int(np.sum(z == 0))))
    return v, rows
