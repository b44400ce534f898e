"""The classifier of the L1 study notes, trained four ways, in PyTorch and in Keras 3.

Breast cancer (scikit-learn's bundled copy, standardized); Dense(128, relu) ->
Dense(64, relu) -> Dense(1, sigmoid); L1(0.001) on both hidden kernels; Adam (lr 1e-3, as
Keras' default); binary cross-entropy; 15 epochs; batch 128; the last 10% of the rows for
validation (as Keras' ``validation_split=0.1`` takes them). The four ways:

- ``none``: no regularization;
- ``l2``: L2(0.001) on the hidden kernels, in the loss;
- ``l1_penalty``: L1(0.001) in the loss, as Keras' ``kernel_regularizer`` does;
- ``l1_proximal``: L1(0.001) through :class:`sparsefit.nn.Proximal` (exact prox after
  each Adam step, threshold scaled by Adam's per-coordinate step).

:func:`train` runs it in PyTorch; :func:`train_keras` in Keras 3 exactly as the notes do
(``model.fit(x, y, epochs=15, batch_size=128, validation_split=0.1)``), with Keras' own
``keras.regularizers.L2`` / ``L1`` for ``l2`` / ``l1_penalty`` and
``sparsefit.keras.L1(proximal=True)`` with :class:`sparsefit.keras.ProximalCallback` for
``l1_proximal``. :func:`load_keras` says whether Keras can be used here, and why not.
"""

from __future__ import annotations

import time

import numpy as np

from .. import datasets
from ..penalties import L1, L2

METHODS = ("none", "l2", "l1_penalty", "l1_proximal")


def build_model(seed=0):
    """The 30-128-64-1 network with Keras' default initialization (Glorot uniform, zero bias)."""
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(30, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 1),
    )
    for m in model:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return model


def train(method, *, epochs=15, batch_size=128, lr=1e-3, strength=1e-3, seed=0,
          validation_split=0.1, on_epoch=None):
    """Train the study's classifier one way; return its history, weights and statistics.

    Parameters
    ----------
    method : {"none", "l2", "l1_penalty", "l1_proximal"}
    epochs, batch_size, lr, strength, seed, validation_split
        As in the module docstring.
    on_epoch : callable, optional
        ``on_epoch(method, epoch, epochs)`` after each epoch (progress display).

    Returns
    -------
    dict with ``history`` (``loss``, ``val_loss``, ``data_loss``, ``val_accuracy`` per
    epoch; losses include the penalty, as Keras reports them), ``kernels`` (the two hidden
    kernels in Keras' (in, out) layout), ``model`` (the trained network, penalties
    detached, in eval mode), ``stats`` (validation accuracy, exact and near zeros, dead
    units, penalty value) and ``seconds``.

    Examples
    --------
    >>> out = train("l1_proximal", epochs=2)
    >>> out["stats"]["exact_zeros"] > 0
    True
    """
    import torch

    from .. import nn as sfnn

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    X, y, _ = datasets.breast_cancer(standardize=True)
    n_val = int(round(validation_split * len(y)))
    Xt = torch.tensor(X, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
    xtr, ytr, xva, yva = Xt[:-n_val], yt[:-n_val], Xt[-n_val:], yt[-n_val:]
    model = build_model(seed)
    hidden = [model[0], model[2]]
    pen = {"l2": L2(strength), "l1_penalty": L1(strength), "l1_proximal": L1(strength)}.get(
        method)
    if pen is not None:
        for layer in hidden:
            sfnn.regularize(layer, kernel=pen)
    adam = torch.optim.Adam(model.parameters(), lr=lr)
    opt = adam if pen is None else sfnn.Proximal(
        adam, mode="prox" if method == "l1_proximal" else "loss")
    bce = torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    hist = {"loss": [], "val_loss": [], "data_loss": [], "val_accuracy": []}
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(ytr), generator=gen)
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss = bce(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        with torch.no_grad():
            p = float(sfnn.penalty(model)) if pen is not None else 0.0
            logits = model(xva)
            val = float(bce(logits, yva))
            acc = float(((logits > 0).float() == yva).float().mean())
        hist["data_loss"].append(total / count)
        hist["loss"].append(total / count + p)
        hist["val_loss"].append(val + p)
        hist["val_accuracy"].append(acc)
        if on_epoch is not None:
            on_epoch(method, epoch + 1, epochs)
    seconds = time.perf_counter() - t0
    if pen is not None:
        sfnn.unregularize(model)
    kernels = [layer.weight.detach().numpy().T.copy() for layer in hidden]
    return {"history": hist, "kernels": kernels, "model": model.eval(),
            "stats": _stats(method, kernels, hist["val_accuracy"][-1], strength),
            "seconds": seconds}


def _stats(method, kernels, val_accuracy, strength):
    """Validation accuracy, exact and near zeros, dead units and penalty of the hidden
    kernels (Keras' (in, out) layout)."""
    flat = np.concatenate([k.ravel() for k in kernels])
    dead = 0
    for k in kernels:  # a hidden unit is dead when its incoming kernel column is all zero
        dead += int(np.sum(np.all(k == 0, axis=0)))
    return {
        "method": method,
        "val_accuracy": float(val_accuracy),
        "exact_zeros_%": 100.0 * float(np.mean(flat == 0)),
        "near_zeros_%": 100.0 * float(np.mean(np.abs(flat) < 1e-3)),
        "exact_zeros": int(np.sum(flat == 0)),
        "weights": int(flat.size),
        "dead_units": dead,
        "penalty": float(L1(strength)(flat)) if method.startswith("l1") else (
            float(L2(strength)(flat)) if method == "l2" else 0.0),
    }


def load_keras():
    """``(sparsefit.keras, None)`` when Keras 3 can be used here, else ``(None, reason)``.

    The reason is one line: the import error (Keras not installed, or its backend
    missing), as :mod:`sparsefit.keras` words it.

    Examples
    --------
    >>> sfk, reason = load_keras()
    >>> (sfk is None) == (reason is not None)
    True
    """
    try:
        from .. import keras as sfk
    except ImportError as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return None, text
    return sfk, None


def train_keras(method, *, epochs=15, batch_size=128, strength=1e-3, seed=0,
                validation_split=0.1, on_epoch=None):
    """Train the study's classifier one way in Keras 3, as the L1 notes do.

    ``model.compile("adam", "binary_crossentropy", metrics=["accuracy"])`` and
    ``model.fit(x, y, epochs, batch_size, validation_split)``; ``keras.utils.
    set_random_seed(seed)`` first, so a run repeats exactly on one machine.

    Parameters
    ----------
    method : {"none", "l2", "l1_penalty", "l1_proximal"}
        ``l2`` and ``l1_penalty`` use Keras' own ``keras.regularizers.L2`` and ``L1``;
        ``l1_proximal`` uses ``sparsefit.keras.L1(strength, proximal=True)`` and
        :class:`sparsefit.keras.ProximalCallback`.
    epochs, batch_size, strength, seed, validation_split
        As in :func:`train`.
    on_epoch : callable, optional
        ``on_epoch(method, epoch, epochs)`` after each epoch.

    Returns
    -------
    dict as :func:`train`, with the Keras ``model``; ``history["loss"]`` and
    ``["val_loss"]`` include the whole penalty (Keras adds its own regularizers' value to
    both; the proximal regularizer's value, which is not in Keras' loss, is added at the
    end of each epoch) and ``history["keras_loss"]`` is the loss as Keras reported it.

    Raises
    ------
    ImportError
        When Keras cannot be used (see :func:`load_keras`).

    Examples
    --------
    >>> out = train_keras("l1_proximal", epochs=2)
    >>> out["stats"]["exact_zeros"] > 0
    True
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    sfk, reason = load_keras()
    if sfk is None:
        raise ImportError(reason)
    import keras

    X, y, _ = datasets.breast_cancer(standardize=True)
    x = X.astype("float32")
    y = y.astype("float32").reshape(-1, 1)
    keras.utils.set_random_seed(seed)
    reg = {"none": None, "l2": keras.regularizers.L2(strength),
           "l1_penalty": keras.regularizers.L1(strength),
           "l1_proximal": sfk.L1(strength, proximal=True)}[method]
    model = keras.Sequential([
        keras.Input((x.shape[1],)),
        keras.layers.Dense(128, activation="relu", kernel_regularizer=reg),
        keras.layers.Dense(64, activation="relu", kernel_regularizer=reg),
        keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    extra = []

    class _Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            extra.append(sfk.penalty(self.model) if method == "l1_proximal" else 0.0)
            if on_epoch is not None:
                on_epoch(method, epoch + 1, epochs)

    callbacks = [sfk.ProximalCallback()] if method == "l1_proximal" else []
    t0 = time.perf_counter()
    fit = model.fit(x, y, epochs=epochs, batch_size=batch_size,
                    validation_split=validation_split, verbose=0,
                    callbacks=callbacks + [_Record()])
    seconds = time.perf_counter() - t0
    h = fit.history
    hist = {"keras_loss": list(h["loss"]),
            "loss": [a + p for a, p in zip(h["loss"], extra)],
            "val_loss": [a + p for a, p in zip(h["val_loss"], extra)],
            "val_accuracy": list(h["val_accuracy"])}
    kernels = [np.asarray(keras.ops.convert_to_numpy(layer.kernel)).copy()
               for layer in model.layers[:2]]
    return {"history": hist, "kernels": kernels, "model": model,
            "stats": _stats(method, kernels, hist["val_accuracy"][-1], strength),
            "seconds": seconds}


def train_all(methods=METHODS, **kwargs):
    """:func:`train` for every method; a dict keyed by method."""
    return {m: train(m, **kwargs) for m in methods}
