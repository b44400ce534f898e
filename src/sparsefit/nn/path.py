r"""Accuracy against sparsity: proximal training along a grid of strengths, warm-started.

:func:`sparsity_path` trains a copy of a model for each strength :math:`\lambda` of a grid,
in increasing order, each run starting from the weights the previous one ended with (as a
Lasso path warm-starts each solve from the previous solution), and records how sparse the
model is and how well it does. The table it returns is what one looks at to choose a
strength: the sparsest model whose accuracy is acceptable.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from ..penalties import L1, Penalty
from . import _attach
from .optim import Proximal

__all__ = ["SparsityPath", "sparsity_path"]


@dataclass
class SparsityPath:
    """The result of :func:`sparsity_path`, one entry per strength (increasing).

    Attributes
    ----------
    lambdas : ndarray
        The strengths.
    sparsity : ndarray
        Fraction of exact zeros in the regularized weights at the end of each run.
    score : ndarray
        The validation score (``metric``; accuracy by default) at the end of each run.
    objective : ndarray
        Training objective at the end of each run: mean training loss plus the penalty.
    dead_units : ndarray of int
        Units whose incoming or outgoing weights are all zero (summed over the layers).
    metric : str
        The score's name.
    states : list of dict
        The model's ``state_dict`` at the end of each run (``keep_states=True``), else
        empty.
    """

    lambdas: np.ndarray
    sparsity: np.ndarray
    score: np.ndarray
    objective: np.ndarray
    dead_units: np.ndarray
    metric: str = "accuracy"
    states: list = field(default_factory=list, repr=False)

    def rows(self):
        """One dict per strength."""
        return [{"lambda": float(lam), "sparsity": float(s), self.metric: float(a),
                 "objective": float(o), "dead_units": int(d)}
                for lam, s, a, o, d in zip(self.lambdas, self.sparsity, self.score,
                                           self.objective, self.dead_units)]

    def best(self, min_score):
        """The index of the sparsest run whose score is at least ``min_score`` (None if
        none is)."""
        ok = np.flatnonzero(self.score >= min_score)
        return None if ok.size == 0 else int(ok[np.argmax(self.sparsity[ok])])

    def __str__(self):
        head = f"{'lambda':>10}  {'zeros':>7}  {self.metric:>10}  {'objective':>10}  dead"
        lines = [head]
        for r in self.rows():
            lines.append(f"{r['lambda']:>10.3g}  {100 * r['sparsity']:>6.1f}%  "
                         f"{r[self.metric]:>10.4f}  {r['objective']:>10.4g}  "
                         f"{r['dead_units']:>4d}")
        return "\n".join(lines)


def _accuracy(out, y):
    if out.dim() == 1 or out.shape[-1] == 1:
        pred = (out.reshape(-1) > 0).to(y.dtype)
        return float((pred == y.reshape(-1)).float().mean())
    return float((out.argmax(-1) == y).float().mean())


def _dead_units(model):
    dead = 0
    for module in model.modules():
        st = _attach._state(module)
        if st is None:
            continue
        from .report import dead_units

        for att in st.items.values():
            out, inp = dead_units(module, att.name)
            dead += (out or 0)
    return dead


def _check_data(X, y, name):
    if not torch.is_tensor(X) or not torch.is_tensor(y):
        raise TypeError(f"{name} must be torch tensors, got {type(X).__name__} and "
                        f"{type(y).__name__}")
    if X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(f"{name}: X and y must have the same non-zero number of rows, got "
                         f"{X.shape[0]} and {y.shape[0]}")
    if X.is_floating_point() and not bool(torch.isfinite(X).all()):
        raise ValueError(f"{name}: X contains NaN or infinity")


def sparsity_path(model, loss_fn, X, y, lambdas, *, validation=None, penalty=L1,
                  mask=_attach.kernel_mask, optimizer=None, epochs=10, batch_size=64,
                  metric=None, seed=0, keep_states=False):
    r"""Train along increasing strengths, each run warm-started; accuracy against sparsity.

    For each :math:`\lambda` (sorted increasing) a copy of ``model`` carries
    ``penalty(lambda)`` on the parameters ``mask`` selects and is trained for ``epochs``
    epochs with :class:`~sparsefit.nn.Proximal`, minimizing

    .. math:: \frac1n \sum_i \ell(f(x_i), y_i) + \lambda\, \mathrm{pen}(w),

    starting from the weights the previous strength ended with. After each run the path
    records the fraction of exact zeros in the regularized weights, the validation score,
    the training objective and the dead units.

    Parameters
    ----------
    model : torch.nn.Module
        Not modified: a copy is trained (its attached penalties, if any, are replaced on
        the selected parameters).
    loss_fn : callable
        ``loss_fn(model(X), y) -> scalar tensor`` (mean over the batch), e.g.
        ``torch.nn.CrossEntropyLoss()``.
    X, y : torch.Tensor
        Training data (full tensors; shuffled into mini-batches each epoch).
    lambdas : sequence of float
        Strengths, finite and >= 0 (sorted increasing here).
    validation : (X_val, y_val), optional
        Scored after each run; the training data otherwise.
    penalty : callable, default=L1
        ``penalty(lambda) -> Penalty`` (a penalty class taking its strength first).
    mask : callable or collection of str, default=kernel_mask
        Which parameters carry the penalty (as in :func:`~sparsefit.nn.regularize_model`).
    optimizer : callable, optional
        ``optimizer(params) -> torch.optim.Optimizer``, made anew for each strength;
        default Adam with lr 1e-3.
    epochs, batch_size : int
        Per strength.
    metric : callable, optional
        ``metric(model(X_val), y_val) -> float``; default: accuracy (argmax of the outputs,
        or the sign of a single output for binary labels).
    seed : int
        Seeds the shuffling (``seed + i`` for the ``i``-th strength).
    keep_states : bool, default=False
        Keep the ``state_dict`` at the end of each run in the result.

    Returns
    -------
    SparsityPath

    Raises
    ------
    ValueError, TypeError
        Naming the argument: negative or non-finite strengths, an empty grid, data of
        mismatched length, ``epochs`` or ``batch_size`` < 1.

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> X = torch.randn(200, 10); y = (X[:, 0] > 0).long()
    >>> net = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(),
    ...                           torch.nn.Linear(16, 2))
    >>> path = sfnn.sparsity_path(net, torch.nn.CrossEntropyLoss(), X, y, [1e-3, 1e-2],
    ...                           epochs=5, optimizer=lambda p: torch.optim.Adam(p, 1e-2))
    >>> bool(path.sparsity[1] >= path.sparsity[0]), len(path.rows())
    (True, 2)
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    _check_data(X, y, "X, y")
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise TypeError("validation must be a pair (X_val, y_val)")
        _check_data(*validation, "validation")
    try:
        lams = np.sort(np.asarray(list(lambdas), dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"lambdas must be a sequence of numbers, got {lambdas!r}") from None
    if lams.size == 0:
        raise ValueError("lambdas must not be empty")
    if not np.all(np.isfinite(lams)) or np.any(lams < 0):
        raise ValueError(f"lambdas must be finite and >= 0, got {lams.tolist()}")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    make_opt = optimizer or (lambda params: torch.optim.Adam(params, lr=1e-3))
    score_fn = metric or _accuracy
    X_val, y_val = validation if validation is not None else (X, y)
    net = copy.deepcopy(model)
    n = X.shape[0]
    out = {k: [] for k in ("sparsity", "score", "objective", "dead")}
    states = []
    for i, lam in enumerate(lams):
        gen = torch.Generator().manual_seed(seed + i)
        pen = penalty(float(lam))
        if not isinstance(pen, Penalty):
            raise TypeError(f"penalty must return a Penalty, got {type(pen).__name__}")
        _attach.regularize_model(net, pen, mask=mask)
        opt = Proximal(make_opt(net.parameters()))
        net.train()
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, batch_size):
                idx = perm[i:i + batch_size]
                opt.zero_grad()
                loss = loss_fn(net(X[idx]), y[idx])
                if not bool(torch.isfinite(loss.detach())):
                    raise FloatingPointError(
                        f"sparsity_path: the loss is not finite at lambda={lam:g}; lower "
                        "the learning rate")
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            data_loss = float(loss_fn(net(X), y))
            objective = data_loss + float(_attach.penalty(net))
            out["score"].append(score_fn(net(X_val), y_val))
        out["sparsity"].append(opt.sparsity())
        out["objective"].append(objective)
        out["dead"].append(_dead_units(net))
        if keep_states:
            states.append({k: v.detach().clone() for k, v in net.state_dict().items()})
    name = getattr(metric, "__name__", "score") if metric is not None else "accuracy"
    return SparsityPath(lams, np.array(out["sparsity"]), np.array(out["score"]),
                        np.array(out["objective"]), np.array(out["dead"], dtype=int),
                        metric=name, states=states)

