"""The demo's answer to "why is my pruned network not faster?" (needs torch).

The demo's own network (breast cancer, 30-128-64-1, ReLU), as the classifier section
trained it with the proximal L1 (scattered exact zeros), and the same architecture
trained with the group lasso over its structured groups (whole units zero). Each is timed
three ways, at batch 1 and at the whole data set:

- dense: the trained weights, zeros stored in dense matrices;
- masked: ``torch.nn.utils.prune`` masks on the same weights, what "pruning" usually
  means in torch: the forward multiplies weight by mask and then runs the same dense
  products;
- shrunk: :func:`sparsefit.nn.shrink`, the units with no input or no reader removed.

Zeros inside a matrix do not make a matrix product faster; only fewer rows and columns
do, and only when the product, not the call overhead, is what takes the time.
"""

from __future__ import annotations

import copy
import statistics
import time

from . import Section, table_text

__all__ = ["section_shrink", "shrink_numbers"]

L1_STRENGTH = 1e-3      # as in the demo's classifier section
GROUP_STRENGTH = 5e-3   # group lasso on the units: most of both hidden layers goes
# Adam's step for the group lasso: Proximal's prox moves a weight by at most about lr per
# step (its metric is bounded), so the 75 steps of 15 epochs at 1e-3 zero no whole unit;
# at 1e-2 they do
LR = 1e-2
OWN = "the demo's L1 network"
GROUP = "group lasso on units"


def _train(model, x, y, *, epochs, seed, structured):
    import torch

    from .. import nn as sfnn
    from ..penalties import L1, GroupL1

    if structured:
        sfnn.regularize_structured(model, GroupL1(GROUP_STRENGTH), x[:8])
    else:
        for layer in (model[0], model[2]):
            sfnn.regularize(layer, kernel=L1(L1_STRENGTH))
    opt = sfnn.Proximal(torch.optim.Adam(model.parameters(), lr=LR))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(order), 128):
            idx = order[start:start + 128]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
    sfnn.unregularize(model)
    return model.eval()


def _masked(model):
    import torch
    from torch.nn.utils import prune as tprune

    m = copy.deepcopy(model)
    for layer in m.modules():
        if isinstance(layer, torch.nn.Linear):
            tprune.custom_from_mask(layer, "weight", (layer.weight != 0).float())
    return m.eval()


def _time(model, x, repeats):
    """Median seconds of ``model(x)``, on one CPU thread: on a 2-core machine with other
    work, torch's default of one thread per core made the 569-row product 180x slower
    (48 ms instead of 0.27 ms, measured), which would compare thread contention, not
    networks."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _median_time(model, x, repeats)
    finally:
        torch.set_num_threads(threads)


def _median_time(model, x, repeats):
    import torch

    with torch.inference_mode():
        for _ in range(5):
            model(x)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def shrink_numbers(*, seed=0, quick=False, l1_model=None):
    """Dense, masked and shrunk versions of the demo's network: timings and sizes.

    Parameters
    ----------
    seed : int
    quick : bool
        Fewer epochs and timing repeats.
    l1_model : torch.nn.Sequential, optional
        The demo's own proximal-L1 network (the classifier section's
        ``runs["PyTorch"]["l1_proximal"]["model"]``; not modified). When not given it is
        trained here the same way (:func:`sparsefit.experiments.l1_classifier.train`).

    Returns
    -------
    dict with ``rows`` (one dict per training and version: parameters, kernel weights and
    the non-zero ones, hidden units, times in microseconds at batch 1 and on the whole data
    set, speed-up over dense, accuracy), ``labels`` (the two trainings), ``units`` (hidden
    units of the dense network), ``units_left`` (per training, after shrinking), ``batch``
    (the large batch size), ``epochs`` and ``seconds``.

    Examples
    --------
    >>> out = shrink_numbers(quick=True)
    >>> sorted({r["version"] for r in out["rows"]}), out["units"]
    (['dense', 'masked', 'shrunk'], 192)
    """
    import torch

    from .. import datasets
    from ..experiments.l1_classifier import build_model, train
    from ..nn import shrink

    t0 = time.perf_counter()
    X, y, _ = datasets.breast_cancer(standardize=True)
    x = torch.tensor(X, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
    epochs, repeats = (5, 40) if quick else (15, 200)
    if l1_model is None:
        l1_model = train("l1_proximal", epochs=epochs, seed=seed)["model"]
    trained = {OWN: copy.deepcopy(l1_model).eval(),
               GROUP: _train(build_model(seed), x, yt, epochs=epochs, seed=seed,
                             structured=True)}
    rows, left = [], {}
    for label, model in trained.items():
        small, report = shrink(model, x[:64])
        versions = {"dense": model, "masked": _masked(model), "shrunk": small}
        times = {k: (_time(m, x[:1], repeats), _time(m, x, max(10, repeats // 15)))
                 for k, m in versions.items()}
        for name, m in versions.items():
            with torch.no_grad():
                acc = float(((m(x) > 0).float() == yt).float().mean())
            weights = [p for n, p in m.named_parameters() if "weight" in n]
            rows.append({
                "training": label, "version": name,
                "parameters": int(sum(p.numel() for p in m.parameters())),
                "weights": int(sum(w.numel() for w in weights)),
                "nonzero weights": int(sum(int((w != 0).sum()) for w in weights)),
                "hidden units": "-".join(str(layer.out_features) for layer in
                                         (m[0], m[2])),
                "batch 1 (us)": round(1e6 * times[name][0], 1),
                f"batch {len(x)} (us)": round(1e6 * times[name][1], 1),
                "speed-up batch 1": round(times["dense"][0] / times[name][0], 2),
                f"speed-up batch {len(x)}": round(times["dense"][1] / times[name][1], 2),
                "accuracy": round(acc, 4)})
        left[label] = small[0].out_features + small[2].out_features
        assert report.max_abs_diff <= report.tolerance
    return {"rows": rows, "labels": (OWN, GROUP),
            "units": l1_model[0].out_features + l1_model[2].out_features,
            "units_left": left, "batch": len(x), "epochs": epochs,
            "seconds": time.perf_counter() - t0}


def section_shrink(*, seed=0, quick=False, l1_model=None):
    """The report section "Why is my pruned network not faster?".

    Parameters
    ----------
    seed, quick, l1_model
        As in :func:`shrink_numbers`.

    Returns
    -------
    (Section, str, dict)
        The section, its terminal text, and the numbers of :func:`shrink_numbers`.

    Examples
    --------
    >>> sec, text, numbers = section_shrink(quick=True)
    >>> sec.title
    'Why is my pruned network not faster?'
    """
    out = shrink_numbers(seed=seed, quick=quick, l1_model=l1_model)
    rows = out["rows"]
    by = {(r["training"], r["version"]): r for r in rows}
    l1d, l1m, l1s = (by[(OWN, v)] for v in ("dense", "masked", "shrunk"))
    gd, gs = by[(GROUP, "dense")], by[(GROUP, "shrunk")]
    b = out["batch"]
    zeros = 1 - l1d["nonzero weights"] / max(1, l1d["weights"])
    removed = out["units"] - out["units_left"][OWN]
    if removed:
        shrunk_text = (f"shrink removes the {removed} hidden units L1 left without input or "
                       f"reader ({l1s['hidden units']} of {l1d['hidden units']} remain), "
                       f"and the shrunk network runs at {l1s[f'speed-up batch {b}']:.2f}x "
                       "the dense speed")
    else:
        shrunk_text = ("L1 left no hidden unit without input or reader, so shrink has "
                       f"nothing to remove ({l1s['hidden units']} units remain, "
                       f"{l1s[f'speed-up batch {b}']:.2f}x: the same network)")
    paras = [
        "Pruning tools put zeros in the weights, or a mask over them, and the network is "
        "exactly as slow: a matrix product does not skip zeros, and a masked layer even "
        "multiplies weight by mask first. Only removing whole units (a row of one matrix "
        "and the matching column of the next) makes the products smaller; that is what "
        "sparsefit.nn.shrink does, checking that the outputs stay the same.",
        f"The demo's own network, the PyTorch proximal-L1 run of the classifier section "
        f"(30-128-64-1, {l1d['parameters']:,} parameters), has {zeros:.1%} of its weights "
        f"exactly zero. Masked, it runs at {l1m[f'speed-up batch {b}']:.2f}x the dense "
        f"speed at batch {b}; {shrunk_text}. The group lasso on the same units "
        f"(sparsefit.nn.regularize_structured, strength {GROUP_STRENGTH:g}, Adam lr {LR:g}, "
        f"{out['epochs']} epochs) zeroes whole units: {gs['hidden units']} remain, "
        f"{gs['parameters']:,} parameters instead of {gd['parameters']:,}, "
        f"{gs[f'speed-up batch {b}']:.2f}x the dense speed at batch {b} (accuracy "
        f"{gd['accuracy']:.4f} dense, {gs['accuracy']:.4f} shrunk: the same function).",
        "At batch 1 a network this small is dominated by the cost of calling its layers, "
        "not by arithmetic, so no version is much faster there: shrinking pays off when "
        "the products are large (wide layers, large batches). Times are medians on one "
        "CPU thread (speed-up: dense time / this version's time).",
    ]
    text = table_text(rows)
    sec = Section("Why is my pruned network not faster?", paras, tables=[rows])
    return sec, "\n".join(paras[1:2]) + "\n" + text, out
