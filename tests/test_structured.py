"""structured_groups / regularize_structured: group-lasso groups from the channel graph.

Every model of the table goes through the shared checks: the groups are disjoint, the
coupled penalty's value is the brute-force group lasso over all slices together, and
zeroing one group lets shrink remove exactly that group's units. Then the prox (through
Proximal) zeroes exactly a coupled group, and proximal training followed by shrink removes
exactly the groups that training zeroed.
"""

import copy

import pytest
import torch
from torch import nn

from sparsefit import nn as sfnn
from sparsefit.nn.structured import GROUP_KINDS
from sparsefit.penalties import L1, GroupL1, SparseGroupL1

from .test_shrink import (
    Block,
    ClsToken,
    Concat,
    CrossAttention,
    Embed,
    Encoder,
    FusedQKV,
    HandEncoder,
    ResNet,
    randomize_bn,
)


def _bn(net):
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            randomize_bn(m)
    return net


MODELS = {
    "mlp": lambda: (nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.Tanh(),
                                  nn.Linear(6, 2)), torch.randn(8, 5)),
    "resnet": lambda: (_bn(ResNet()), torch.randn(3, 3, 6, 6)),
    "block": lambda: (_bn(nn.Sequential(nn.Conv2d(3, 6, 1), Block(6), nn.Flatten(),
                                        nn.Linear(6 * 16, 2))), torch.randn(2, 3, 4, 4)),
    "concat": lambda: (Concat(), torch.randn(6, 4)),
    "encoder": lambda: (Encoder(), torch.randint(0, 11, (3, 7))),
    "encoder_pre_ln": lambda: (Encoder(norm_first=True), torch.randint(0, 11, (3, 7))),
    "cross_attention": lambda: (CrossAttention(), (torch.randn(5, 2, 5), torch.randn(4, 2, 3))),
    "hand_attention": lambda: (HandEncoder(), torch.randint(0, 10, (2, 6))),
    "fused_qkv": lambda: (FusedQKV(), torch.randn(2, 5, 12)),
    "embedding": lambda: (Embed(), torch.randint(0, 9, (4, 3))),
    "cls_token": lambda: (ClsToken(), torch.randn(3, 4, 6)),
    "depthwise": lambda: (nn.Sequential(nn.Conv2d(2, 6, 1), nn.ReLU(),
                                        nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.ReLU(),
                                        nn.Conv2d(6, 3, 1), nn.Flatten(), nn.Linear(48, 2)),
                          torch.randn(2, 2, 4, 4)),
    "grouped": lambda: (nn.Sequential(nn.Conv2d(2, 8, 1), nn.ReLU(), nn.Conv2d(8, 4, 1, groups=2),
                                      nn.ReLU(), nn.Flatten(), nn.Linear(4 * 9, 2)),
                        torch.randn(2, 2, 3, 3)),
}


def build(name):
    torch.manual_seed(0)
    net, x = MODELS[name]()
    return net.double(), tuple(t.double() if t.is_floating_point() else t
                               for t in (x if isinstance(x, tuple) else (x,)))


def units_removed(report):
    n = 0
    for r in report.layers:
        n += r["out_before"] - r["out_after"]
        if r.get("heads_before") is not None:
            n += r["heads_before"] - r["heads_after"]
    return n


def n_units(group):
    return 0 if group.kind == "channel" else len(group.name.split(" + "))


def expected_removed(groups, zero):
    """Units of the zero groups, less those shrink keeps: a layer whose units (or heads)
    are all zero keeps its first one."""
    dead = {id(g) for g in zero}
    by_layer = {}
    for g in groups:
        for part in g.name.split(" + "):
            layer = (part.rsplit(" head ", 1)[0] + " heads" if g.kind == "head"
                     else part.rsplit("[", 1)[0])
            by_layer.setdefault(layer, []).append(g)
    kept = {id(gs[0]) for gs in by_layer.values() if all(id(g) in dead for g in gs)}
    return sum(n_units(g) for g in zero if id(g) not in kept)


def zero_group(net, group):
    params = dict(net.named_parameters())
    with torch.no_grad():
        for name, idx in group.slices.items():
            params[name].view(-1)[idx] = 0


@pytest.mark.parametrize("name", list(MODELS))
def test_groups_are_disjoint_and_the_penalty_is_their_group_lasso(name):
    net, x = build(name)
    groups = sfnn.structured_groups(net, x)
    assert groups, name
    params = dict(net.named_parameters())
    seen = {n: torch.zeros(p.numel(), dtype=torch.bool) for n, p in params.items()}
    for g in groups:
        for n, idx in g.slices.items():
            assert not bool(seen[n][idx].any()), (g.name, n)
            seen[n][idx] = True
    # brute force: alpha * sum_g sqrt(|g|) * ||w_g||, each group over all its slices
    expected = sum(0.3 * g.size ** 0.5 * float(torch.cat([
        params[n].detach().reshape(-1)[i] for n, i in g.slices.items()]).norm())
        for g in groups)
    sfnn.regularize_structured(net, GroupL1(0.3), groups=groups)
    assert float(sfnn.penalty(net).detach()) == pytest.approx(expected, rel=1e-12)
    for g in groups[:3]:
        assert g.norm(net) == pytest.approx(float(torch.cat([
            params[n].detach().reshape(-1)[i] for n, i in g.slices.items()]).norm()))


# a distinct factor per kind, so a kind given the wrong factor changes the value
KIND_SCALE = {kind: 1.5 + i for i, kind in enumerate(GROUP_KINDS)}


@pytest.mark.parametrize("how", ["by_kind", "per_group"])
@pytest.mark.parametrize("name", list(MODELS))
def test_scaled_penalty_is_the_group_lasso_with_weights_c_sqrt_size(name, how):
    net, x = build(name)
    groups = sfnn.structured_groups(net, x)
    params = dict(net.named_parameters())
    if how == "by_kind":
        scale, factors = KIND_SCALE, [KIND_SCALE[g.kind] for g in groups]
    else:
        factors = [0.5 + (i % 3) for i in range(len(groups))]
        scale = factors
    expected = sum(0.3 * c * g.size ** 0.5 * float(torch.cat([
        params[n].detach().reshape(-1)[i] for n, i in g.slices.items()]).norm())
        for c, g in zip(factors, groups))
    sfnn.regularize_structured(net, GroupL1(0.3), groups=groups, scale=scale)
    assert float(sfnn.penalty(net).detach()) == pytest.approx(expected, rel=1e-12)


def test_scale_by_kind_zeroes_the_heavier_kind_first():
    # one prox step at a strength between the two kinds' thresholds: the scaled kind dies
    net, x = build("encoder")
    groups = sfnn.structured_groups(net, x)
    kinds = {g.kind for g in groups}
    assert {"head", "unit"} <= kinds
    sfnn.regularize_structured(net, GroupL1(1.0), groups=groups, scale={"head": 1e6})
    opt = sfnn.Proximal(torch.optim.SGD(net.parameters(), lr=1e-4))
    opt.zero_grad()
    net(*x).sum().backward()
    opt.step()
    zero = {g.kind for g in groups if g.norm(net) == 0.0}
    assert zero == {"head"}


@pytest.mark.parametrize("scale, error, match", [
    ({"heads": 2.0}, ValueError, "unknown group kinds"),
    ({"unit": 0.0}, ValueError, "finite and > 0"),
    ({"unit": float("inf")}, ValueError, "finite and > 0"),
    ({"unit": float("nan")}, ValueError, "finite and > 0"),
    ({"unit": "x"}, ValueError, "numbers"),
    ([1.0], ValueError, "1 factors for"),
    ("unit", TypeError, "mapping"),
    (3.0, TypeError, "mapping"),
])
def test_bad_scale(scale, error, match):
    net, x = build("mlp")
    with pytest.raises(error, match=match):
        sfnn.regularize_structured(net, GroupL1(0.1), x, scale=scale)
    assert float(sfnn.penalty(net).detach()) == 0.0


@pytest.mark.parametrize("name", list(MODELS))
def test_a_zero_group_is_exactly_what_shrink_removes(name):
    net, x = build(name)
    groups = sfnn.structured_groups(net, x)
    by_kind = {}
    for g in groups:
        by_kind.setdefault(g.kind, []).append(g)
    picked = [gs[len(gs) // 2] for gs in by_kind.values()]   # one group of each kind
    for g in picked:
        one = copy.deepcopy(net)
        zero_group(one, g)
        small, report = sfnn.shrink(one, x)
        assert report.max_abs_diff <= 1e-10
        assert units_removed(report) == n_units(g), (g.name, str(report))


@pytest.mark.parametrize("name, prefix, gone", [
    ("resnet", "b1.conv1[", {"b1.conv1", "b1.bn1", "b1.conv2", "b1.bn2"}),
    ("encoder", "enc.layers.0.linear1[", {"enc.layers.0.linear1", "enc.layers.0.linear2"}),
    ("encoder_pre_ln", "enc.layers.1.self_attn head ", {"enc.layers.1.self_attn",
                                                       "enc.layers.1.norm1"}),
])
def test_all_groups_of_a_sublayer_zero_remove_it(name, prefix, gone):
    # group lasso zeroed every unit (head) group of a residual branch, a feed-forward
    # block, an attention layer: shrink deletes the sublayer, its constant stays added
    net, x = build(name)
    groups = [g for g in sfnn.structured_groups(net, x) if g.name.startswith(prefix)]
    assert groups
    for g in groups:
        zero_group(net, g)
    small, report = sfnn.shrink(net, x)
    assert set(report.removed) == gone
    called = {n.target for n in small.graph.nodes if n.op == "call_module"}
    assert not called & gone
    assert report.max_abs_diff <= 1e-10
    assert sum(p.numel() for p in small.parameters()) == report.params_after


def test_head_and_residual_groups_span_the_right_slices():
    torch.manual_seed(0)
    net = Encoder()
    groups = sfnn.structured_groups(net, torch.randint(0, 11, (2, 5)))
    head = next(g for g in groups if g.name == "enc.layers.0.self_attn head 1")
    rows = torch.tensor([r for r in range(48) if (r % 16) // 4 == 1])
    expected = (rows[:, None] * 16 + torch.arange(16)).reshape(-1)
    assert torch.equal(head.slices["enc.layers.0.self_attn.in_proj_weight"], expected)
    assert torch.equal(head.slices["enc.layers.0.self_attn.in_proj_bias"], rows)
    stream = next(g for g in groups if g.name.startswith("emb[5]"))
    assert stream.kind == "coupled"
    for layer in (0, 1):
        for part in ("self_attn.out_proj", "linear2"):
            assert f"enc.layers.{layer}.{part}.bias" in stream.slices
        for norm in ("norm1", "norm2"):
            assert torch.equal(stream.slices[f"enc.layers.{layer}.{norm}.weight"],
                               torch.tensor([5]))
    assert torch.equal(stream.slices["pos"], torch.arange(12) * 16 + 5)
    assert torch.equal(stream.slices["head.weight"], torch.arange(3) * 16 + 5)


def test_concat_groups_read_their_own_column_ranges():
    torch.manual_seed(0)
    net = Concat()
    groups = {g.name: g for g in sfnn.structured_groups(net, torch.randn(3, 4))}
    assert torch.equal(groups["a[1]"].slices["head.weight"], torch.tensor([1, 9]))
    assert torch.equal(groups["b[1]"].slices["head.weight"], torch.tensor([3 + 1, 8 + 3 + 1]))


def test_prox_zeroes_exactly_the_coupled_group():
    # one SGD step with a zero loss gradient is the prox: block soft-thresholding of each
    # group over all its slices, with threshold lr * alpha * sqrt(|g|)
    net, x = build("resnet")
    groups = sfnn.structured_groups(net, x)
    target = next(g for g in groups if g.kind == "coupled")
    params = dict(net.named_parameters())
    with torch.no_grad():
        for n, idx in target.slices.items():
            params[n].view(-1)[idx] *= 1e-3
    before = {n: p.detach().clone() for n, p in params.items()}
    lr, alpha = 0.1, 0.01
    sfnn.regularize_structured(net, GroupL1(alpha), groups=groups)
    opt = sfnn.Proximal(torch.optim.SGD(net.parameters(), lr=lr))
    opt.zero_grad()
    (0.0 * sum(p.sum() for p in net.parameters())).backward()
    opt.step()
    for g in groups:
        w = torch.cat([before[n].reshape(-1)[i] for n, i in g.slices.items()])
        t = lr * alpha * g.size ** 0.5
        scale = max(0.0, 1.0 - t / float(w.norm())) if float(w.norm()) > 0 else 0.0
        for n, idx in g.slices.items():
            got = params[n].detach().reshape(-1)[idx]
            assert torch.allclose(got, before[n].reshape(-1)[idx] * scale, atol=1e-14)
        if g is target:
            assert scale == 0.0
        else:
            assert scale > 0.0
    claimed = {n: torch.zeros(p.numel(), dtype=torch.bool) for n, p in params.items()}
    for g in groups:
        for n, idx in g.slices.items():
            claimed[n][idx] = True
    for n, p in params.items():   # entries in no group are left alone
        assert torch.equal(p.detach().reshape(-1)[~claimed[n]], before[n].reshape(-1)[~claimed[n]])


@pytest.mark.parametrize("optimizer, alpha, kinds", [("sgd", 0.02, {"unit"}),
                                                      ("adam", 0.002, {"unit", "head"})])
def test_proximal_training_then_shrink_removes_exactly_the_zero_groups(optimizer, alpha,
                                                                         kinds):
    torch.manual_seed(0)
    net = Encoder().double()
    t = torch.randint(0, 11, (8, 7))
    y = torch.randn(8, 3, dtype=torch.float64)
    groups = sfnn.structured_groups(net, t)
    sfnn.regularize_structured(net, GroupL1(alpha), groups=groups)
    inner = (torch.optim.SGD(net.parameters(), lr=0.2) if optimizer == "sgd"
             else torch.optim.Adam(net.parameters(), lr=1e-2))
    opt = sfnn.Proximal(inner)
    for _ in range(40):
        opt.zero_grad()
        nn.functional.mse_loss(net(t), y).backward()
        opt.step()
    zero = [g for g in groups if g.norm(net) == 0.0]
    # (which kinds die in 40 steps depends on the optimizer's prox step: at least these)
    assert {g.kind for g in zero} >= kinds
    assert len(zero) < len(groups)
    sfnn.unregularize(net)
    small, report = sfnn.shrink(net, t)
    assert units_removed(report) == expected_removed(groups, zero)
    assert report.max_abs_diff <= 1e-10


def test_sparse_group_penalty_and_attachment_lifecycle():
    net, x = build("mlp")
    sfnn.regularize_structured(net, SparseGroupL1(0.1, tau=0.5), x)
    att = sfnn.attachments(net)["0.structured"]
    assert "structured groups" in repr(att) and "groups" in sfnn.summary(net)
    assert float(sfnn.penalty(net).detach()) > 0
    assert "0.structured" not in sfnn.penalty_config(net)
    # a deep copy carries its own attachment, on its own parameters
    other = copy.deepcopy(net)
    before = net[0].weight.detach().clone()
    opt = sfnn.Proximal(torch.optim.SGD(other.parameters(), lr=10.0))
    opt.zero_grad()
    other(*x).sum().backward()
    opt.step()
    assert torch.equal(net[0].weight, before)
    assert not torch.equal(other[0].weight, before)
    sfnn.unregularize(net)
    assert float(sfnn.penalty(net).detach()) == 0.0


def test_optimizer_holding_part_of_the_groups_is_refused():
    net, x = build("mlp")
    sfnn.regularize_structured(net, GroupL1(0.1), x)
    opt = sfnn.Proximal(torch.optim.SGD(net[0].parameters(), lr=0.1))
    opt.zero_grad()
    net(*x).sum().backward()
    with pytest.raises(ValueError, match="does not hold"):
        opt.step()


def test_bad_arguments():
    net, x = build("mlp")
    with pytest.raises(TypeError, match="model"):
        sfnn.structured_groups("net", x)
    with pytest.raises(TypeError, match="example_inputs"):
        sfnn.structured_groups(net, [[1.0]])
    with pytest.raises(ValueError, match="penalty"):
        sfnn.regularize_structured(net, L1(0.1), x)
    with pytest.raises(ValueError, match="penalty"):
        sfnn.regularize_structured(net, GroupL1(0.1, groups=[2, 3]), x)
    with pytest.raises(ValueError, match="example_inputs"):
        sfnn.regularize_structured(net, GroupL1(0.1))
    with pytest.raises(ValueError, match="groups"):
        sfnn.regularize_structured(net, GroupL1(0.1), groups=[])

    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x
    with pytest.raises(ValueError, match="torch.fx"):
        sfnn.structured_groups(Branchy(), x)
