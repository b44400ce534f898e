"""Accuracy against sparsity for the classifier of the L1 study notes (needs torch).

The breast-cancer network of :mod:`sparsefit.experiments.l1_classifier` (30-128-64-1,
Glorot initialization, standardized inputs, the last 10% of the rows for validation), with
L1 on both hidden kernels trained by :func:`sparsefit.nn.sparsity_path`: Adam (lr 1e-3),
binary cross-entropy, batch 128, a number of epochs per strength, each strength starting
from the weights the previous one ended with.
"""

from __future__ import annotations

import numpy as np

from .. import datasets

# from few zeros to most of the hidden weights gone
DEFAULT_LAMBDAS = (1e-4, 3e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2, 3.2e-2)


def breast_cancer_path(lambdas=DEFAULT_LAMBDAS, *, epochs=15, batch_size=128, lr=1e-3,
                       seed=0, validation_split=0.1):
    """The accuracy/sparsity path of the study's classifier.

    Parameters
    ----------
    lambdas : sequence of float
        L1 strengths on the two hidden kernels (sorted increasing).
    epochs : int
        Epochs per strength.
    batch_size, lr, seed, validation_split
        As in :mod:`sparsefit.experiments.l1_classifier`.

    Returns
    -------
    SparsityPath
        ``sparsity`` is the fraction of exact zeros in the two hidden kernels, ``score`` the
        validation accuracy; ``str(path)`` is a table.

    Examples
    --------
    >>> path = breast_cancer_path([1e-3, 1e-2], epochs=3)
    >>> path.sparsity.shape, bool(path.score.min() > 0.5)
    ((2,), True)
    """
    import torch

    from ..nn import sparsity_path
    from .l1_classifier import build_model

    X, y, _ = datasets.breast_cancer(standardize=True)
    n_val = int(round(validation_split * len(y)))
    Xt = torch.tensor(X, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
    model = build_model(seed)
    return sparsity_path(
        model, torch.nn.BCEWithLogitsLoss(), Xt[:-n_val], yt[:-n_val],
        np.asarray(lambdas, dtype=float), validation=(Xt[-n_val:], yt[-n_val:]),
        mask=["0.weight", "2.weight"], epochs=epochs, batch_size=batch_size,
        optimizer=lambda params: torch.optim.Adam(params, lr=lr), seed=seed)
