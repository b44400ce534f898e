r"""Proximal training under DistributedDataParallel, launched with ``torchrun``.

Every replica trains the same small network on its own shard of a synthetic regression
problem, with :class:`sparsefit.nn.Proximal` around Adam: after each step, the exact prox
of the attached penalties (a group lasso over the first layer's inputs, an L1 on the second
layer) sets weights to exactly zero. DDP all-reduces the gradients before the optimizer
steps; the prox then acts on identical weights with identical optimizer state, and it is
deterministic, so the replicas must stay *bit for bit* identical. This script checks it.

At the end, every rank flattens its ``state_dict()`` and all ranks exchange them with
``all_gather``; rank 0 compares them with exact equality (``torch.equal``, no tolerance),
prints the result and the number of exactly-zero weights, and can write a JSON summary.
The exit status is 0 only when the replicas are identical (and, with
``--expect-zeros``, some weights are exactly zero).

Usage::

    torchrun --standalone --nproc_per_node=2 examples/ddp_proximal.py
    torchrun --standalone --nproc_per_node=2 examples/ddp_proximal.py --steps 200 \
        --json result.json

On CPU the ``gloo`` backend is used; with CUDA available and ``--backend nccl``, each rank
takes the GPU of its ``LOCAL_RANK``. The objective every replica minimizes is

.. math::

    \frac{1}{N}\sum_{i} \|f(x_i) - y_i\|^2
    + \lambda_1 \sum_{j} \|W^{(1)}_{\cdot j}\|_2 + \lambda_2 \|W^{(2)}\|_1,

where the sum runs over the samples of every rank (DDP averages the gradients).

Examples
--------
Run as a script (not importable as a doctest: it needs the ``torchrun`` environment)::

    $ torchrun --standalone --nproc_per_node=2 examples/ddp_proximal.py
    [rank 0/2] step 100: loss 0.01241
    replicas identical after the prox: True (2 ranks, 4 tensors, 370 values compared)
    exactly zero: 249 of 352 weights (70.7%); input features dropped by the group lasso: 15 of 20
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from sparsefit import nn as sfnn
from sparsefit.penalties import L1, GroupL1

N_FEATURES = 20
N_INFORMATIVE = 5  # the target depends on the first 5 inputs only


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=100, help="optimizer steps (default 100)")
    ap.add_argument("--batch", type=int, default=64, help="samples per rank and step")
    ap.add_argument("--lr", type=float, default=0.02, help="Adam learning rate")
    ap.add_argument("--group-l1", type=float, default=0.02,
                    help="group lasso strength over the first layer's inputs")
    ap.add_argument("--l1", type=float, default=0.01, help="L1 strength on the last layer")
    ap.add_argument("--backend", default=None,
                    help="process group backend (default: nccl with CUDA, gloo otherwise)")
    ap.add_argument("--json", default=None,
                    help="rank 0 writes the summary (identical, zero counts) to this file")
    ap.add_argument("--expect-zeros", action="store_true",
                    help="also fail when no weight is exactly zero")
    ap.add_argument("--perturb-rank", type=int, default=None,
                    help="self-check of the comparison: this rank adds 1e-6 to one weight "
                         "after training, so the replicas must be reported as different")
    return ap.parse_args(argv)


def make_model():
    """The same initial weights on every rank (DDP also broadcasts rank 0's at wrap time)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(N_FEATURES, 16), torch.nn.ReLU(),
                              torch.nn.Linear(16, 2))
    return net


def batches(rank, batch, steps, device):
    """This rank's shard: an independent stream of samples (seeded by the rank)."""
    g = torch.Generator().manual_seed(1000 + rank)
    w = torch.zeros(N_FEATURES, 2)
    w[:N_INFORMATIVE] = torch.linspace(-1.0, 1.0, 2 * N_INFORMATIVE).reshape(N_INFORMATIVE, 2)
    for _ in range(steps):
        x = torch.randn(batch, N_FEATURES, generator=g)
        y = x @ w + 0.05 * torch.randn(batch, 2, generator=g)
        yield x.to(device), y.to(device)


def flat_state(module):
    """Every tensor of ``module.state_dict()``, flattened into one float64 vector (in the
    state dict's order), plus the names and sizes; float64 holds float32 values exactly."""
    sd = module.state_dict()
    names = list(sd)
    flat = torch.cat([sd[k].detach().reshape(-1).to(torch.float64) for k in names])
    return flat, names, [sd[k].numel() for k in names]


def compare_replicas(module):
    """All-gather every rank's flattened state dict and compare them exactly.

    Returns
    -------
    identical : bool
        Whether every rank holds bit-identical tensors (checked on every rank, with
        ``torch.equal``; NaN never equals, so a diverged replica fails).
    mismatched : list of str
        Names of the tensors that differ between rank 0 and some other rank.
    n_values : int
        Number of values compared per rank.
    """
    flat, names, sizes = flat_state(module)
    gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    mismatched = set()
    for other in gathered[1:]:
        for name, a, b in zip(names, gathered[0].split(sizes), other.split(sizes)):
            if not torch.equal(a, b):
                mismatched.add(name)
    return not mismatched, sorted(mismatched), int(flat.numel())


def zero_counts(net):
    """Exactly-zero weights of both layers, and inputs the group lasso removed entirely."""
    w1, w2 = net[0].weight.detach(), net[2].weight.detach()
    return {
        "zero_weights": int((w1 == 0).sum() + (w2 == 0).sum()),
        "n_weights": int(w1.numel() + w2.numel()),
        "dropped_inputs": int((w1 == 0).all(dim=0).sum()),
        "n_inputs": int(w1.shape[1]),
    }


def main(argv=None):
    args = parse_args(argv)
    if "RANK" not in os.environ:
        print("run this script with torchrun, e.g.\n"
              "  torchrun --standalone --nproc_per_node=2 examples/ddp_proximal.py",
              file=sys.stderr)
        return 2
    use_cuda = torch.cuda.is_available() and args.backend == "nccl"
    backend = args.backend or ("nccl" if torch.cuda.is_available() else "gloo")
    torch.set_num_threads(1)  # two ranks share the cores: no oversubscription
    dist.init_process_group(backend)  # rank, world size, address: from torchrun's env
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        device = torch.device(f"cuda:{os.environ.get('LOCAL_RANK', 0)}" if use_cuda else "cpu")
        net = make_model().to(device)
        sfnn.regularize(net, {"0.weight": {"penalty": GroupL1(args.group_l1), "group_by": "in"},
                              "2.weight": L1(args.l1)})
        model = DDP(net, device_ids=[device.index] if use_cuda else None)
        opt = sfnn.Proximal(torch.optim.Adam(model.parameters(), lr=args.lr))
        loss = torch.tensor(float("nan"))
        for x, y in batches(rank, args.batch, args.steps, device):
            opt.zero_grad()
            out = torch.nn.functional.mse_loss(model(x), y)
            out.backward()  # DDP all-reduces (averages) the gradients here
            opt.step()      # the wrapped Adam step, then the exact prox
            loss = out.detach()
        if rank == 0:
            print(f"[rank 0/{world}] step {args.steps}: loss {loss.item():.4g}", flush=True)

        if args.perturb_rank == rank:
            with torch.no_grad():
                net[2].weight.view(-1)[0] += 1e-6
        # the weights and the buffers, compared across ranks after the last prox
        identical, mismatched, n_values = compare_replicas(net.cpu() if use_cuda else net)
        counts = zero_counts(net)
        ok = identical and (counts["zero_weights"] > 0 or not args.expect_zeros)
        if rank == 0:
            n_tensors = len(net.state_dict())
            print(f"replicas identical after the prox: {identical} ({world} ranks, "
                  f"{n_tensors} tensors, {n_values} values compared)"
                  + ("" if identical else f"; differ in {', '.join(mismatched)}"))
            print(f"exactly zero: {counts['zero_weights']} of {counts['n_weights']} weights "
                  f"({100 * counts['zero_weights'] / counts['n_weights']:.1f}%); input features "
                  f"dropped by the group lasso: {counts['dropped_inputs']} of "
                  f"{counts['n_inputs']}", flush=True)
            if args.json:
                summary = dict(counts, identical=identical, mismatched=mismatched,
                               world_size=world, backend=backend, steps=args.steps,
                               final_loss=loss.item(), values_compared=n_values)
                tmp = args.json + ".tmp"
                with open(tmp, "w") as fh:
                    json.dump(summary, fh, indent=2)
                os.replace(tmp, args.json)  # the reader never sees a partial file
        # DDP's reducer holds the group and its last work: released before the teardown
        # (gloo threads still holding work at interpreter exit abort the process:
        # "terminate called without an active exception", seen once under load), and no
        # rank tears the group down while another still uses it
        del opt, model
        gc.collect()
        dist.barrier()
        return 0 if ok else 1
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
