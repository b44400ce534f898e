"""prune: magnitude masks that survive fine-tuning and state_dict round trips, reversibly."""

import copy
import io

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from sparsefit.nn.prune import apply_masks, is_pruned, keep_masks, masks, prune, unprune
from sparsefit.nn.shrink import shrink

METHODS = ["parametrize", "hook"]


def make_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(),
                         nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))


def kernels(net):
    return [net[0].weight, net[3].weight, net[5].weight]


def n_zero(net):
    return sum(int((w == 0).sum()) for w in kernels(net))


def finetune(net, opt, steps=20, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(16, 8, generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), torch.randint(0, 3, (16,), generator=gen)).backward()
        opt.step()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("opt_cls", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
    lambda p: torch.optim.Adam(p, lr=1e-2)])
def test_zeros_survive_finetuning(method, opt_cls):
    net = prune(make_net(), 0.8, method=method)
    total = sum(w.numel() for w in kernels(net))
    assert n_zero(net) == round(0.8 * total)
    before = {k: v.clone() for k, v in masks(net).items()}
    opt = opt_cls(net.parameters())
    if method == "hook":
        keep_masks(opt, net)
    finetune(net, opt)
    assert n_zero(net) == round(0.8 * total)
    for k, m in masks(net).items():
        assert torch.equal(m, before[k])
        w = net.get_submodule(k.rpartition(".")[0]).weight
        assert torch.all(w[~m] == 0) and torch.all(w[m] != 0)


def test_hook_method_without_keep_masks_loses_zeros():
    # guard that keep_masks is what keeps them
    net = prune(make_net(), 0.8, method="hook")
    finetune(net, torch.optim.SGD(net.parameters(), lr=0.1), steps=3)
    assert n_zero(net) < round(0.8 * sum(w.numel() for w in kernels(net)))


def test_global_vs_layer_scope():
    net = make_net()
    with torch.no_grad():
        net[5].weight.mul_(100)   # the last layer's weights are all large
    g = prune(copy.deepcopy(net), 0.5, scope="global")
    assert int((g[5].weight == 0).sum()) == 0
    lay = prune(copy.deepcopy(net), 0.5, scope="layer")
    for w in kernels(lay):
        assert int((w == 0).sum()) == w.numel() // 2


def test_threshold_and_unit_granularity():
    net = make_net()
    with torch.no_grad():
        net[0].weight[3] = 1e-4
        net[0].weight[0, 0] = 0.0
    t = prune(copy.deepcopy(net), threshold=0.0)          # freezes exact zeros only
    assert n_zero(t) == 1 and int((~masks(t)["0.weight"]).sum()) == 1
    u = prune(copy.deepcopy(net), threshold=1e-3, granularity="unit", params=["0.weight"])
    m = masks(u)["0.weight"]
    assert list(m.keys()) if isinstance(m, dict) else True
    assert torch.equal(m.all(dim=1), torch.arange(16) != 3)
    u2 = prune(copy.deepcopy(net), 0.25, granularity="unit", scope="layer")
    assert int((u2[0].weight.abs().sum(dim=1) == 0).sum()) == 4


def test_masks_accumulate():
    net = prune(make_net(), 0.3)
    first = masks(net)
    prune(net, 0.5)
    for k, m in masks(net).items():
        assert torch.all(m <= first[k])  # pruned stays pruned
    assert n_zero(net) == round(0.5 * sum(w.numel() for w in kernels(net)))


@pytest.mark.parametrize("method", METHODS)
def test_unprune_gives_plain_parameters(method):
    net = prune(make_net(), 0.6, method=method)
    x = torch.randn(5, 8)
    net.eval()
    with torch.no_grad():
        y = net(x)
    zeros = n_zero(net)
    unprune(net)
    assert not is_pruned(net)
    assert not any(parametrize.is_parametrized(m) for m in net.modules())
    assert all(isinstance(net[i].weight, nn.Parameter) for i in (0, 3, 5))
    assert not any(k.endswith("mask") for k in net.state_dict())
    assert n_zero(net) == zeros
    with torch.no_grad():
        assert torch.equal(net(x), y)


@pytest.mark.parametrize("method", METHODS)
def test_state_dict_round_trip(method):
    a = prune(make_net(0), 0.7, method=method)
    finetune(a, torch.optim.SGD(a.parameters(), lr=0.05), steps=2)
    if method == "hook":
        unprune(a, ["3.weight"])  # mixed state: some masked, some not
        a = prune(a, threshold=0.0, params=["3.weight"], method="hook")
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    sd = torch.load(buf)
    # into a fresh, unpruned model of the same architecture
    b = apply_masks(make_net(5), sd, method=method)
    b.load_state_dict(sd)
    a.eval(), b.eval()
    x = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    for k, m in masks(a).items():
        assert torch.equal(masks(b)[k], m)


def test_prune_then_shrink():
    net = prune(make_net(), 0.5, granularity="unit", scope="layer",
                params=["0.weight", "3.weight"])
    x = torch.randn(6, 8)
    small, report = shrink(net, x)
    assert small[0].out_features == 8 and small[3].out_features == 6
    assert is_pruned(net)  # shrink works on a copy...
    with torch.no_grad():
        net.eval()(x)         # ...and does not break the input's parametrization class
        assert (small(x) - net(x)).abs().max() <= 1e-5
    assert report.max_abs_diff <= 1e-5


def test_bad_arguments():
    net = make_net()
    with pytest.raises(ValueError, match="exactly one"):
        prune(net)
    with pytest.raises(ValueError, match="exactly one"):
        prune(net, 0.5, threshold=0.1)
    with pytest.raises(ValueError, match="amount"):
        prune(net, 1.5)
    with pytest.raises(TypeError, match="amount"):
        prune(net, "half")
    with pytest.raises(ValueError, match="threshold"):
        prune(net, threshold=-1.0)
    with pytest.raises(ValueError, match="scope"):
        prune(net, 0.5, scope="model")
    with pytest.raises(ValueError, match="params"):
        prune(net, 0.5, params=["nope.weight"])
    with pytest.raises(ValueError, match="granularity"):
        prune(net, 0.5, granularity="unit", params=["0.bias"])
    with pytest.raises(ValueError, match="names"):
        unprune(net, ["0.weight"])
    assert not is_pruned(net)  # failed calls attached nothing
