r"""The seed experiment: a small network on a noisy straight line, L1 against L2, then shrunk.

Setup (as in the seed example)
------------------------------
- Data: ``n`` points on the line :math:`y = 0.5x + 0.2` for :math:`x` evenly spaced in
  :math:`[-1, 1]`, Gaussian noise (sd ``noise``), and ``n_outliers`` points moved by
  :math:`\pm 2`-:math:`3`; all of it times ``scale`` (the units of the data).
- Network 1-10-10-10-1 with **tanh** activations. Why tanh: a hidden unit that L1 cuts
  off from its inputs still emits the constant :math:`\tanh(b)`, which :func:`shrink`
  folds into the next bias (so the experiment exercises that path); with ReLU, units also
  die for another reason (a negative pre-activation on every input), which would blur
  "disconnected by the penalty" with "dead ReLU".
- Training: SGD, learning rate 0.01, batch size 1 (one sample per step, shuffled each
  epoch), absolute error (``loss="squared"`` for the squared one), strength
  :math:`\lambda = 0.3` on the kernels (weights, not
  biases, as Keras' ``kernel_regularizer``), added to the loss of every step:

  ============  ==================================================================
  variant       step on a kernel :math:`w` (per sample :math:`i`)
  ============  ==================================================================
  ``l2``        :math:`w \leftarrow w - \eta(\nabla_w \ell_i + 2\lambda w)`
  ``l1``        :math:`w \leftarrow w - \eta(\nabla_w \ell_i + \lambda\,\mathrm{sign}(w))`
                (penalty in the loss, subgradient: weights hover around 0)
  ``l1_prox``   :math:`w \leftarrow \mathrm{soft}(w - \eta\nabla_w \ell_i, \eta\lambda)`
                (:meth:`sparsefit.penalties.L1.prox`: exact zeros)
  ============  ==================================================================

- ``runs`` runs of each (different initializations and sample orders, seeded).
- "Total errors" of a run: :math:`\sum_i |f(x_i) - y_i|` over the training points
  (``total_abs_error``), the same squared, and :math:`\sum_i |f(x_i) - (0.5x_i + 0.2)|`
  against the clean line (``line_abs_error``).
- Then each L1 network is shrunk (:func:`sparsefit.nn.shrink.shrink`) by removing its
  disconnected neurons. ``l1_prox`` has exact zeros; for ``l1`` the weights with
  :math:`|w| \le \eta\lambda` (the size of one subgradient step, where they oscillate)
  are set to zero first (:func:`sparsefit.nn.prune.prune` with that threshold), which
  changes the outputs a little (reported as ``threshold_change``). The shrunk network is
  retrained without penalty, twice: continuing from its weights (``retrain``) and from a
  fresh random initialization of the shrunk architecture (``retrain_fresh``); errors
  are reported after each.

What happens, and the data scale (measured with ``run()``, seed 0)
-----------------------------------------------------------------
The seed's settings -- lambda 0.3, SGD lr 0.01, batch 1, absolute-error loss -- do not
depend on the units of the data, but their effect does: with an absolute error, the data
gradient at the output is +-1 whatever the units, so the only thing that grows with the
data is the activations (ReLU passes the scale of ``x`` through; tanh saturates). The
penalty's pull, lr * lambda = 0.003 per step on every weight, stays the same.

Scan, 3 runs x 100 epochs, total |error| of each run against the best constant's:

- tanh (PyTorch or Keras init), scale 1, 3, 10, 30: every L1 run (in the loss and
  proximal) ends as a flat line; L2 too up to scale 3 (at 10-30 it bends, the L1 runs do
  not). tanh bounds the last layer's data gradient by 1, so no scale beats lambda 0.3.
- ReLU, PyTorch's init: flat for every penalty at scale 1-10; at 30, 2 of 3 L1 runs fit
  (1-2-1-1-1 connected); at 100 even the unpenalized runs die (steps too large).
- ReLU, Keras' init (Glorot-uniform kernels, zero biases; the seed's framework): flat at
  1-3, 1 of 3 L1 runs fits at 10; **at 30 no run of any method is flat**: L1 keeps
  11-13 of 220 weights (proximal), connected as 1-2-2-2-1 in every run, L2 keeps all 220
  with 85-130 of them below 1e-3, total errors 360-420 (the best constant: 573).

Scales 30 to 100, ReLU, 5 runs with the seeds ``sparsefit compare`` uses (data seed 0,
run r initialized with seed r and shuffled with 1000 + r), flat runs out of 5 for L1 in
the loss / proximal L1 (``is_flat`` on the fitted function):

=====  ===========  ===========  ===========  ===========
scale  Keras init   Keras init   torch init   torch init
       100 epochs   300 epochs   100 epochs   300 epochs
=====  ===========  ===========  ===========  ===========
30     0 / 0        **0 / 0**    --           1 / 1
35     --           0 / 0        --           --
40     0 / 0        0 / 0        1 / 1        --
45     --           0 / 0        --           --
50     0 / 1        0 / 2        2 / 2        --
60     3 / 3        4 / 4        5 / 5        --
70     5 / 5        --           5 / 5        --
80     5 / 5        --           --           --
90     5 / 5        --           --           --
100    5 / 5        --           5 / 5        --
=====  ===========  ===========  ===========  ===========

(-- not run.) With Keras' init at 300 epochs, scales 30-45 also leave every L2 and
unpenalized run fitted. From 50 up the steps are too large for ReLU: whole layers die,
the L1 runs first. With PyTorch's init, seed 2 ends flat for both L1 variants already at
30 and 40 (it keeps 0 weights) -- that was the "run 3 flat" of earlier ``compare``
reports, which passed :data:`ACTIVATION` but not :data:`INIT` to :func:`run` and so ran
PyTorch's init.

The full ``sparsefit compare`` (5 x 300, scale 30, Keras init): no run of any method is
flat; total |error| 371-440 with L1 in the loss, 372-440 proximal, 360-409 with L2,
355-424 without penalty (the best constant: 573); the proximal L1 keeps 4-12 of 220
weights and shrinks to 1-2-2-2-1 (3 runs) or 1-1-1-1-1 (2 runs), 19 or 8 parameters
instead of 251, with unchanged errors; L2 keeps all 220, 84-132 of them below 1e-3.

So :data:`SCALE` = 30 with ReLU and Keras' init (:data:`ACTIVATION`, :data:`INIT`) is
where ``sparsefit compare`` runs the seed's settings. The seed's own total errors (22.7,
41.6, 4.8, 24.0, 7.3 for L1; 7.6-25.2 after shrinking) came from data we do not have, so
the numbers differ; the picture (L1 disconnects, L2 keeps small weights, no flat line) is
the one reproduced. The tanh default of :func:`run` is kept for the reason above
(disconnected units fold into the next bias, exercising that path of :func:`shrink`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["is_flat", "make_data", "make_net", "run", "total_errors", "train"]

SLOPE, INTERCEPT = 0.5, 0.2
# the seed's picture at the seed's settings (lambda 0.3, SGD lr 0.01, batch 1, absolute
# error): the data scale and network found by the scan in the module documentation
SCALE = 30.0
ACTIVATION = "relu"
INIT = "keras"


def make_data(n=40, n_outliers=4, noise=0.1, seed=0, scale=1.0):
    """Noisy points on ``y = 0.5 x + 0.2`` with outliers, in units of ``scale``.

    ``scale`` multiplies everything: ``x`` is evenly spaced in ``[-scale, scale]``, the
    line is ``y = 0.5 x + 0.2 scale``, the noise has sd ``noise * scale`` and the outliers
    move by ``(2 to 3) * scale``: the same picture in other units. The penalty and the
    learning rate do not change with the units, so ``scale`` decides how strong a fixed
    lambda is against the data.

    Returns
    -------
    dict with ``x``, ``y``, ``y_line`` (noise-free), ``outliers`` (indices), float64
    arrays of shape ``(n,)``; ``slope``, ``intercept`` and ``scale``.

    Examples
    --------
    >>> d = make_data(n=10, n_outliers=2)
    >>> d["x"].shape, len(d["outliers"])
    ((10,), 2)
    """
    if n < 2 or not 0 <= n_outliers <= n:
        raise ValueError(f"need n >= 2 and 0 <= n_outliers <= n, got n={n}, "
                         f"n_outliers={n_outliers}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    rng = np.random.default_rng(seed)
    x = np.linspace(-1.0, 1.0, n)
    y_line = SLOPE * x + INTERCEPT
    y = y_line + noise * rng.standard_normal(n)
    out = np.sort(rng.choice(n, size=n_outliers, replace=False))
    y[out] += rng.choice([-1.0, 1.0], size=n_outliers) * rng.uniform(2.0, 3.0, n_outliers)
    return {"x": scale * x, "y": scale * y, "y_line": scale * y_line, "outliers": out,
            "slope": SLOPE, "intercept": INTERCEPT * scale, "scale": float(scale)}


def make_net(seed=0, sizes=(1, 10, 10, 10, 1), activation="tanh", init="torch"):
    """The 1-10-10-10-1 network (torch, float64), ``activation`` between layers.

    ``init="torch"`` is PyTorch's default initialization; ``init="keras"`` is Keras'
    default for ``Dense`` (Glorot-uniform kernels, zero biases), the seed's.
    """
    import torch
    from torch import nn

    acts = {"tanh": nn.Tanh, "relu": nn.ReLU}
    if activation not in acts:
        raise ValueError(f"activation must be 'tanh' or 'relu', got {activation!r}")
    if init not in ("torch", "keras"):
        raise ValueError(f"init must be 'torch' or 'keras', got {init!r}")
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if init == "keras":
            nn.init.xavier_uniform_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)
        if i < len(sizes) - 2:
            layers.append(acts[activation]())
    return nn.Sequential(*layers).double()


def _kernels(net):
    import torch
    return [m.weight for m in net if isinstance(m, torch.nn.Linear)]


LOSSES = ("abs", "squared")


def train(net, data, *, variant="l1_prox", lam=0.3, lr=0.01, epochs=100, seed=0,
          loss="abs"):
    r"""Train in place with SGD, batch size 1; see the module documentation for variants.

    The loop is plain NumPy backpropagation on the network's weights (float64), written
    back into ``net`` at the end: at batch size 1 on a 1-10-10-10-1 network, PyTorch's
    per-step overhead dominates and NumPy is an order of magnitude faster. The steps are
    exactly those listed above (``soft`` is :meth:`sparsefit.penalties.L1.prox`,
    inlined).

    Parameters
    ----------
    net : torch.nn.Sequential
        Linear layers separated by Tanh or ReLU.
    data : dict from :func:`make_data`
    variant : {"l1", "l2", "l1_prox", "none"}
    lam, lr : float
    epochs : int
    seed : int
        Seed of the sample order.
    loss : {"abs", "squared"}, default="abs"
        The error of one sample: :math:`|f(x_i) - y_i|` (the seed's, gradient
        :math:`\mathrm{sign}(f(x_i) - y_i)`) or :math:`(f(x_i) - y_i)^2`.

    Returns
    -------
    net

    Examples
    --------
    >>> net = train(make_net(0), make_data(n=8), variant="l1_prox", epochs=3)
    >>> int(sum((m.weight == 0).sum() for m in net if hasattr(m, "weight"))) > 0
    True
    """
    import torch

    if variant not in ("l1", "l2", "l1_prox", "none"):
        raise ValueError(f"variant must be 'l1', 'l2', 'l1_prox' or 'none', got {variant!r}")
    if not (lam >= 0 and lr > 0 and math.isfinite(lam) and math.isfinite(lr)):
        raise ValueError(f"need lam >= 0 and lr > 0, got lam={lam}, lr={lr}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be 'abs' or 'squared', got {loss!r}")
    squared = loss == "squared"
    lins = [m for m in net if isinstance(m, torch.nn.Linear)]
    acts = [m for m in net if not isinstance(m, torch.nn.Linear)]
    if len(acts) != len(lins) - 1 or not all(isinstance(a, (torch.nn.Tanh, torch.nn.ReLU))
                                             for a in acts):
        raise ValueError("net must alternate Linear and Tanh/ReLU layers")
    relu = bool(acts) and isinstance(acts[0], torch.nn.ReLU)
    W = [m.weight.detach().double().numpy().copy() for m in lins]
    b = [m.bias.detach().double().numpy().copy() for m in lins]
    x, y = np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float)
    rng = np.random.default_rng(seed)
    L = len(W)
    for _ in range(epochs):
        for i in rng.permutation(len(x)):
            a, zs = [np.array([x[i]])], []
            for k in range(L):
                z = W[k] @ a[-1] + b[k]
                zs.append(z)
                a.append(z if k == L - 1 else (np.maximum(z, 0) if relu else np.tanh(z)))
            d = 2.0 * (a[-1] - y[i]) if squared else np.sign(a[-1] - y[i])
            for k in range(L - 1, -1, -1):
                gW, gb = np.outer(d, a[k]), d
                if k > 0:
                    d = W[k].T @ d
                    d = d * ((zs[k - 1] > 0) if relu else 1.0 - a[k] ** 2)
                if variant == "l1":
                    gW = gW + lam * np.sign(W[k])
                elif variant == "l2":
                    gW = gW + 2.0 * lam * W[k]
                W[k] -= lr * gW
                b[k] -= lr * gb
                if variant == "l1_prox":  # = L1(lam).prox(W[k], lr), inlined for speed
                    W[k] = np.sign(W[k]) * np.maximum(np.abs(W[k]) - lr * lam, 0.0)
        if not all(np.isfinite(w).all() for w in W + b):
            raise FloatingPointError("training diverged (non-finite weights)")
    with torch.no_grad():
        for m, w, bb in zip(lins, W, b):
            m.weight.copy_(torch.as_tensor(w))
            m.bias.copy_(torch.as_tensor(bb))
    return net


def total_errors(net, data):
    """``total_abs_error``, ``total_sq_error`` (vs the noisy targets), ``line_abs_error``."""
    import torch

    with torch.no_grad():
        f = net.eval()(torch.as_tensor(data["x"], dtype=torch.float64)[:, None])
    f = f.numpy().ravel()
    return {"total_abs_error": float(np.abs(f - data["y"]).sum()),
            "total_sq_error": float(((f - data["y"]) ** 2).sum()),
            "line_abs_error": float(np.abs(f - data["y_line"]).sum())}


def is_flat(curve, data, tol=0.05):
    """Whether a fitted function is a flat line: its range over the data's ``x`` is below
    ``tol`` times the range of the noise-free line there.

    Examples
    --------
    >>> d = make_data(n=5)
    >>> is_flat(0 * d["x"] + 0.3, d), is_flat(d["y_line"], d)
    (True, False)
    """
    line = np.ptp(data["y_line"])
    return bool(np.ptp(np.asarray(curve, dtype=float)) < tol * line)


def _describe(net):
    import torch
    lins = [m for m in net if isinstance(m, torch.nn.Linear)]
    ks = [m.weight for m in lins]
    return {"widths": [lins[0].in_features] + [m.out_features for m in lins],
            "nonzero_weights": int(sum((w != 0).sum() for w in ks)),
            "weights": int(sum(w.numel() for w in ks)),
            "near_zero_weights": int(sum((w.abs() < 1e-3).sum() for w in ks))}


def run(quick=False, runs=None, epochs=None, lam=0.3, lr=0.01, seed=0, activation="tanh",
        variants=("l1", "l2", "l1_prox"), on_run=None, scale=1.0, loss="abs", n=40,
        init="torch"):
    """The whole experiment; returns plain data (nothing is printed).

    Parameters
    ----------
    quick : bool, default=False
        2 runs of 20 epochs (a few seconds) instead of 5 runs of 300 epochs.
    runs, epochs : int, optional
        Override the counts.
    lam, lr : float, default=0.3, 0.01
    seed : int
        Base seed: run ``r`` initializes with ``seed + r`` and shuffles with
        ``seed + 1000 + r``; the data use ``seed``.
    activation : {"tanh", "relu"}
    variants : tuple of {"none", "l1", "l2", "l1_prox"}
    on_run : callable, optional
        ``on_run(variant, run)`` after each run (progress display).
    scale : float, default=1.0
        The units of the data (:func:`make_data`).
    loss : {"abs", "squared"}, default="abs"
        The training error (:func:`train`); the reported errors are always all three.
    n : int, default=40
        Points on the line.
    init : {"torch", "keras"}, default="torch"
        The networks' initialization (:func:`make_net`).

    Returns
    -------
    dict
        ``config``; ``data`` (arrays); ``results[variant]``: list (one per run) of dicts
        with the errors (:func:`total_errors`), ``widths``, ``nonzero_weights``, ``curve``
        (the fitted function on ``data["grid"]``), ``kernels`` (NumPy copies); for L1
        variants also ``shrunk``: ``widths``, ``params_before``/``params_after``,
        ``max_abs_diff`` (shrunk vs thresholded network), ``threshold_change`` (max output
        change from zeroing ``|w| <= lr*lam``), errors ``after_shrink``, ``retrain`` and
        ``retrain_fresh``; ``summary[variant]``: mean of each error over runs.

    Examples
    --------
    >>> out = run(quick=True, runs=1, epochs=2, variants=("l1_prox",))
    >>> sorted(out["results"])
    ['l1_prox']
    >>> r = out["results"]["l1_prox"][0]
    >>> r["shrunk"]["max_abs_diff"] <= 1e-6
    True
    """
    import torch

    from ..nn.prune import prune, unprune
    from ..nn.shrink import shrink

    runs = (2 if quick else 5) if runs is None else int(runs)
    epochs = (20 if quick else 300) if epochs is None else int(epochs)
    if runs < 1 or epochs < 1:
        raise ValueError(f"runs and epochs must be >= 1, got {runs}, {epochs}")
    bad = set(variants) - {"none", "l1", "l2", "l1_prox"}
    if bad:
        raise ValueError(f"unknown variants {sorted(bad)}")
    data = make_data(n=n, seed=seed, scale=scale)
    data["grid"] = np.linspace(-1.0, 1.0, 101) * data["scale"]
    xs = torch.as_tensor(data["x"], dtype=torch.float64)[:, None]
    grid = torch.as_tensor(data["grid"], dtype=torch.float64)[:, None]
    results = {v: [] for v in variants}
    for variant in variants:
        for r in range(runs):
            net = make_net(seed + r, activation=activation, init=init)
            train(net, data, variant=variant, lam=lam, lr=lr, epochs=epochs,
                  seed=seed + 1000 + r, loss=loss)
            row = {"run": r, **total_errors(net, data), **_describe(net)}
            with torch.no_grad():
                row["curve"] = net.eval()(grid).numpy().ravel()
            row["kernels"] = [k.detach().numpy().copy() for k in _kernels(net)]
            if variant in ("l1", "l1_prox"):
                cut = net
                change = 0.0
                if variant == "l1":
                    cut = unprune(prune(_clone(net), threshold=lr * lam))
                    with torch.no_grad():
                        change = float((cut.eval()(xs) - net.eval()(xs)).abs().max())
                # (a net the penalty killed whole is constant: keep its 1-unit stub)
                small, rep = shrink(cut, xs, on_unsupported="skip")
                shrunk = {"widths": _describe(small)["widths"],
                          "params_before": rep.params_before,
                          "params_after": rep.params_after,
                          "max_abs_diff": rep.max_abs_diff,
                          "threshold_change": change,
                          "after_shrink": total_errors(small, data)}
                again = train(_clone(small), data, variant="none", lr=lr, epochs=epochs,
                              seed=seed + 2000 + r, loss=loss)
                shrunk["retrain"] = total_errors(again, data)
                fresh = make_net(seed + 3000 + r, sizes=tuple(shrunk["widths"]),
                                 activation=activation, init=init)
                train(fresh, data, variant="none", lr=lr, epochs=epochs,
                      seed=seed + 2000 + r, loss=loss)
                shrunk["retrain_fresh"] = total_errors(fresh, data)
                row["shrunk"] = shrunk
            results[variant].append(row)
            if on_run is not None:
                on_run(variant, r)
    summary = {}
    for v, rows in results.items():
        s = {k: float(np.mean([row[k] for row in rows]))
             for k in ("total_abs_error", "total_sq_error", "line_abs_error")}
        s["nonzero_weights"] = float(np.mean([row["nonzero_weights"] for row in rows]))
        if rows and "shrunk" in rows[0]:
            for stage in ("retrain", "retrain_fresh"):
                s[f"{stage}_total_abs_error"] = float(np.mean(
                    [row["shrunk"][stage]["total_abs_error"] for row in rows]))
        summary[v] = s
    return {"config": {"runs": runs, "epochs": epochs, "lam": lam, "lr": lr, "seed": seed,
                       "activation": activation, "batch_size": 1, "sizes": [1, 10, 10, 10, 1],
                       "scale": data["scale"], "loss": loss, "n": n, "init": init},
            "data": data, "results": results, "summary": summary}


def _clone(net):
    import copy
    return copy.deepcopy(net)
