"""The demo's answer to "why is my pruned network not faster?" (needs torch).

The demo's own network (breast cancer, 30-128-64-1, ReLU) is trained two ways for a few
epochs: L1 through the proximal optimizer, as the demo's classifier section does
(scattered exact zeros), and the group lasso over its structured groups (whole units
zero). Each is timed three ways, at batch 1 and at the whole data set:

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
# Adam's step: Proximal's prox moves a weight by at most about lr per step (its metric is
# bounded), so the 75 steps of 15 epochs at 1e-3 zero no whole unit; at 1e-2 they do
LR = 1e-2


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


def shrink_numbers(*, seed=0, quick=False):
    """Dense, masked and shrunk versions of the demo's network: timings and sizes.

    Returns
    -------
    dict with ``rows`` (one dict per training and version: parameters, nonzero weights,
    hidden units, times in microseconds at batch 1 and on the whole data set, speed-up
    over dense, accuracy), ``batch`` (the large batch size) and ``seconds``.

    Examples
    --------
    >>> out = shrink_numbers(quick=True)
    >>> sorted({r["version"] for r in out["rows"]})
    ['dense', 'masked', 'shrunk']
    """
    import torch

    from .. import datasets
    from ..experiments.l1_classifier import build_model
    from ..nn import shrink

    t0 = time.perf_counter()
    X, y, _ = datasets.breast_cancer(standardize=True)
    x = torch.tensor(X, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
    epochs, repeats = (5, 40) if quick else (15, 200)
    rows = []
    for label, structured in (("L1 (proximal)", False), ("group lasso on units", True)):
        model = _train(build_model(seed), x, yt, epochs=epochs, seed=seed,
                       structured=structured)
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
                "nonzero weights": int(sum(int((w != 0).sum()) for w in weights)),
                "hidden units": "-".join(str(layer.out_features) for layer in
                                         (m[0], m[2])),
                "batch 1 (us)": round(1e6 * times[name][0], 1),
                f"batch {len(x)} (us)": round(1e6 * times[name][1], 1),
                "speed-up batch 1": round(times["dense"][0] / times[name][0], 2),
                f"speed-up batch {len(x)}": round(times["dense"][1] / times[name][1], 2),
                "accuracy": round(acc, 4)})
        assert report.max_abs_diff <= report.tolerance
    return {"rows": rows, "batch": len(x), "epochs": epochs,
            "seconds": time.perf_counter() - t0}


def section_shrink(*, seed=0, quick=False):
    """The report section "Why is my pruned network not faster?".

    Returns
    -------
    (Section, str, dict)
        The section, its terminal text, and the numbers of :func:`shrink_numbers`.

    Examples
    --------
    >>> sec, text, numbers = section_shrink(quick=True)
    >>> sec.title
    '7. Why is my pruned network not faster?'
    """
    out = shrink_numbers(seed=seed, quick=quick)
    rows = out["rows"]
    by = {(r["training"], r["version"]): r for r in rows}
    l1d, l1s = by[("L1 (proximal)", "dense")], by[("L1 (proximal)", "shrunk")]
    gd, gs = by[("group lasso on units", "dense")], by[("group lasso on units", "shrunk")]
    b = out["batch"]
    zeros = 1 - l1d["nonzero weights"] / max(1, l1d["parameters"])
    slower = l1s[f"speed-up batch {b}"] < 1
    paras = [
        "Pruning tools put zeros in the weights, or a mask over them, and the network is "
        "exactly as slow: a matrix product does not skip zeros, and a masked layer even "
        "multiplies weight by mask first. Only removing whole units (a row of one matrix "
        "and the matching column of the next) makes the products smaller; that is what "
        "sparsefit.nn.shrink does, checking that the outputs stay the same.",
        f"L1 on the demo's network (30-128-64-1, Adam lr {LR:g}, {out['epochs']} epochs) "
        "leaves "
        f"{zeros:.0%} of its weights exactly zero, yet the masked network takes "
        f"{1 / by[('L1 (proximal)', 'masked')][f'speed-up batch {b}']:.2f}x the dense time "
        f"at batch {b}: only the {l1s['hidden units']} hidden units left whole after L1 "
        f"(of 128-64) shrink the products ({l1s[f'speed-up batch {b}']}x"
        + ("; widths off the multiples of 8 the matrix kernels are tuned for can even be "
           "slower" if slower else "") + "). The group lasso on the same units "
        "(sparsefit.nn.regularize_structured) zeroes whole units: "
        f"{gs['hidden units']} remain, {gs['parameters']:,} parameters instead of "
        f"{gd['parameters']:,}, {gs[f'speed-up batch {b}']}x faster at batch {b} "
        f"(accuracy {gd['accuracy']:.4f} dense, {gs['accuracy']:.4f} shrunk: the same "
        "function).",
        "At batch 1 a network this small is dominated by the cost of calling its layers, "
        "not by arithmetic, so no version is much faster there: shrinking pays off when "
        "the products are large (wide layers, large batches). Times are medians on one "
        "CPU thread.",
    ]
    text = table_text(rows)
    sec = Section("7. Why is my pruned network not faster?", paras, tables=[rows])
    return sec, "\n".join(paras[1:2]) + "\n" + text, out
