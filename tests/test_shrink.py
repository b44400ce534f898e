"""shrink: physically smaller models that compute the same function.

One table of architectures; every entry goes through the shared checks (outputs
preserved on fresh inputs, input model untouched, fewer parameters, expected widths,
state_dict round trip of the shrunk model).
"""

import copy
import io

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from sparsefit.nn.shrink import (
    ChannelHandler,
    ShrinkError,
    ShrinkReport,
    register_handler,
    shrink,
)


def checksum(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def zero_rows(w, rows):
    with torch.no_grad():
        w[rows] = 0


def zero_cols(w, cols):
    with torch.no_grad():
        w[:, cols] = 0


def randomize_bn(bn):
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)


# ------------------------------------------------------------------ architectures
# each returns (model, example input, {layer: expected units after shrinking})


def mlp_bias():
    net = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 8), nn.Tanh(),
                        nn.Linear(8, 3))
    zero_rows(net[0].weight, [0, 1, 2])          # constant relu(b): folded
    with torch.no_grad():
        net[0].bias[:3] = torch.tensor([0.5, -0.3, 1.0])
    zero_cols(net[2].weight, [3, 4])             # nobody reads units 3, 4
    zero_rows(net[2].weight, [0])                # constant tanh(b) into the last layer
    return net, torch.randn(16, 6), {"0": 5, "2": 7, "4": 3}


def mlp_nobias():
    # sigmoid(0) = 0.5: a dead unit still emits a constant; the next layer has no bias,
    # so shrinking must create one
    net = nn.Sequential(nn.Linear(5, 8, bias=False), nn.Sigmoid(),
                        nn.Linear(8, 6, bias=False), nn.ReLU(), nn.Linear(6, 2, bias=False))
    zero_rows(net[0].weight, [1, 4, 6])
    zero_cols(net[4].weight, [0, 5])
    return net, torch.randn(16, 5), {"0": 5, "2": 4, "4": 2}


def mlp_batchnorm():
    net = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.2),
                        nn.Linear(12, 4))
    randomize_bn(net[1])
    zero_rows(net[0].weight, [2, 3, 7])          # constant relu(BN(b)): folded
    zero_cols(net[4].weight, [0])
    return net, torch.randn(16, 6), {"0": 8, "4": 4}


def cnn_flatten():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 2 * 2, 5))
    randomize_bn(net[1])
    zero_rows(net[0].weight, [1, 5])             # constant channel into an unpadded conv
    zero_rows(net[3].weight, [0, 2])             # constant channel through pool+flatten
    with torch.no_grad():
        net[3].bias[:3] = torch.tensor([0.7, 0.1, 0.4])
        net[7].weight[:, 4 * 4:5 * 4] = 0        # the column block of channel 4
    return net, torch.randn(4, 3, 6, 6), {"0": 6, "3": 3, "7": 5}


def conv1x1():
    net = nn.Sequential(nn.Conv2d(4, 10, 1), nn.ReLU(), nn.Conv2d(10, 6, 1, bias=False),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 2))
    zero_rows(net[0].weight, [0, 9])
    zero_cols(net[2].weight, [3])
    zero_rows(net[2].weight, [5])
    return net, torch.randn(4, 4, 5, 5), {"0": 7, "2": 5, "6": 2}


class Functional(nn.Module):
    """torch.flatten and F.relu in forward, a view after the convolutions."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3)
        self.fc1 = nn.Linear(6 * 3 * 3, 7)
        self.fc2 = nn.Linear(7, 1)

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = x.view(x.size(0), -1)
        return self.fc2(torch.tanh(self.fc1(x)) * 2.0)


def functional():
    net = Functional()
    zero_rows(net.conv.weight, [2])
    zero_cols(net.fc1.weight, list(range(9 * 4, 9 * 5)))
    zero_rows(net.fc1.weight, [0, 6])
    return net, torch.randn(3, 2, 5, 5), {"conv": 4, "fc1": 5, "fc2": 1}


def mlp_float64():
    net, x, widths = mlp_bias()
    return net.double(), x.double(), widths


class Block(nn.Module):
    def __init__(self, c=6):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(out)))


def with_head(block):
    return nn.Sequential(nn.Conv2d(3, 6, 1), block, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(6, 2))


def residual_inner():
    # dead filters inside the block are fine; the block's output (the add) is not touched
    net = with_head(Block(6))
    randomize_bn(net[1].bn1)
    randomize_bn(net[1].bn2)
    zero_rows(net[1].conv1.weight, [0, 3])
    with torch.no_grad():
        net[1].conv1.bias.fill_(-5.0)  # relu(BN(-5)) may be nonzero; conv2 is padded
        net[1].bn1.running_mean.fill_(10.0)  # -> BN(-5) < 0 -> relu = 0: foldable
    return net, torch.randn(2, 3, 5, 5), {"1.conv1": 6, "1.conv2": 6, "0": 6, "4": 2}


ARCHS = {
    "mlp_bias": mlp_bias, "mlp_nobias": mlp_nobias, "mlp_batchnorm": mlp_batchnorm,
    "cnn_flatten": cnn_flatten, "conv1x1": conv1x1, "functional": functional,
    "mlp_float64": mlp_float64, "residual_inner": residual_inner,
}


def widths(model):
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            out[name] = m.out_features
        elif isinstance(m, nn.Conv2d):
            out[name] = m.out_channels
    return out


@pytest.mark.parametrize("arch", list(ARCHS))
def test_shrink_preserves_outputs(arch):
    torch.manual_seed(0)
    net, x, expected = ARCHS[arch]()
    net.train()  # shrink must not depend on (or change) the input's mode
    before = checksum(net)
    small, report = shrink(net, x)

    assert same_state(before, checksum(net)), "the input model was modified"
    assert net.training and not small.training
    assert type(small) is type(net)
    got = widths(small)
    for layer, n in expected.items():
        assert got[layer] == n, (layer, got)
    n_params = sum(p.numel() for p in small.parameters())
    assert n_params == report.params_after < report.params_before
    assert report.flops_after < report.flops_before

    tol = 1e-6 if x.dtype == torch.float64 else 1e-5
    assert report.max_abs_diff <= tol
    net.eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for xx in (x, torch.randn(x.shape, generator=gen, dtype=x.dtype),
                   3 * torch.randn(x.shape, generator=gen, dtype=x.dtype)):
            assert (small(xx) - net(xx)).abs().max() <= tol

    # state_dict round trip of the shrunk model (through bytes)
    buf = io.BytesIO()
    torch.save(small.state_dict(), buf)
    other = copy.deepcopy(small)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    buf.seek(0)
    other.load_state_dict(torch.load(buf))
    with torch.no_grad():
        assert torch.equal(other(x), small(x))


def test_bias_folding_changes_next_bias():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    zero_rows(net[0].weight, [1])
    with torch.no_grad():
        net[0].bias[1] = 0.8
    small, report = shrink(net, torch.randn(5, 3))
    expected = net[2].bias + net[2].weight[:, 1] * torch.tanh(torch.tensor(0.8))
    assert torch.allclose(small[2].bias, expected, atol=1e-6)
    row = {r["layer"]: r for r in report.layers}["0"]
    assert row["removed_dead_in"] == 1 and row["out_after"] == 3


def test_dropping_constant_instead_of_folding_would_be_wrong():
    # guard that the bias folding matters: the constant is large
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    zero_rows(net[0].weight, [0])
    with torch.no_grad():
        net[0].bias[0] = 5.0
        net[2].weight[0, 0] = 2.0
    small, _ = shrink(net, torch.randn(5, 3))
    x = torch.randn(7, 3)
    naive = copy.deepcopy(small)
    with torch.no_grad():
        naive[2].bias.copy_(net[2].bias)
        assert (naive(x) - net(x)).abs().max() > 1.0
        assert (small(x) - net(x)).abs().max() <= 1e-5


def test_chain_reaction_to_fixed_point():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.ReLU(),
                        nn.Linear(2, 1))
    with torch.no_grad():
        net[4].weight[:, 1] = 0          # unit 1 of layer 2 is read by nobody
        net[2].weight[:, 0] = torch.tensor([0.0, 1.0])  # unit 0 of layer 1 only feeds it
    small, _ = shrink(net, torch.randn(6, 4))
    assert small[0].out_features == 2 and small[2].out_features == 1


def test_padded_constant_channel_is_kept():
    # a constant channel entering a zero-padded conv is not constant at the borders:
    # it cannot be folded into a bias, so it stays (exactness first)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(4, 3, 3, padding=1))
    zero_rows(net[0].weight, [1, 2])
    with torch.no_grad():
        net[0].bias[1] = 1.0     # relu(1) = 1: kept
        net[0].bias[2] = -1.0    # relu(-1) = 0: removed
    small, report = shrink(net, torch.randn(2, 2, 5, 5))
    assert small[0].out_channels == 3
    row = {r["layer"]: r for r in report.layers}["0"]
    assert "padding" in row["note"]
    assert report.max_abs_diff <= 1e-5


def test_unused_inputs_reported_and_removed():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 1))
    zero_cols(net[0].weight, [1, 3])
    x = torch.randn(8, 6)
    small, report = shrink(net, x)
    assert report.unused_inputs == [1, 3] and report.kept_inputs is None
    assert small[0].in_features == 6
    small, report = shrink(net, x, remove_inputs=True)
    assert report.kept_inputs == [0, 2, 4, 5] and small[0].in_features == 4
    with torch.no_grad():
        assert (small(x[:, report.kept_inputs]) - net(x)).abs().max() <= 1e-5


def test_all_units_dead_keeps_one():
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    zero_rows(net[0].weight, list(range(5)))
    small, report = shrink(net, torch.randn(4, 3))
    assert small[0].out_features == 1
    assert report.max_abs_diff <= 1e-5


def test_partly_dead_residual_group_is_kept():
    # conv2's channel 2 is added to the stem's live channel 2: the coupled group is alive
    torch.manual_seed(0)
    net = with_head(Block(6))
    zero_rows(net[1].conv2.weight, [2])
    small, report = shrink(net, torch.randn(2, 3, 5, 5))
    assert small[1].conv2.out_channels == 6 and small[0].out_channels == 6
    assert report.skipped == {}


class Gated(nn.Module):
    """A layer's output goes through an operation shrink does not follow."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        return self.out(self.fc(x).cumsum(dim=1))


def test_dead_units_behind_unsupported_op_refused_with_names():
    torch.manual_seed(0)
    net = Gated()
    zero_rows(net.fc.weight, [2])
    x = torch.randn(3, 4)
    with pytest.raises(ShrinkError, match=r"layer 'fc'.*cumsum"):
        shrink(net, x)
    small, report = shrink(net, x, on_unsupported="skip")
    assert "fc" in report.skipped and small.fc.out_features == 6
    assert "not shrunk: fc" in str(report)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
            return self.fc(x)
        return x


def test_untraceable_model_refused():
    with pytest.raises(ShrinkError, match="torch.fx"):
        shrink(Branchy(), torch.randn(2, 4))


class ChannelScale(nn.Module):
    """A custom per-channel layer."""

    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 2.0, n))

    def forward(self, x):
        return x * self.scale


class ScaleHandler(ChannelHandler):
    def slice(self, module, keep):
        new = copy.deepcopy(module)
        new.scale = nn.Parameter(module.scale.detach()[keep].clone())
        return new


def test_custom_layer_unregistered_then_registered():
    # unregistered, its forward is traced: x * self.scale slices the parameter with the
    # channels; registered, it is one node and its handler slices it
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), ChannelScale(5), nn.Linear(5, 2))
    zero_rows(net[0].weight, [1])
    x = torch.randn(4, 3)
    for register in (False, True):
        if register:
            register_handler(ChannelScale, ScaleHandler())
        small, report = shrink(net, x)
        assert small[0].out_features == 4 and small[1].scale.numel() == 4
        assert report.max_abs_diff <= 1e-5


def test_torch_prune_masks_are_baked_in():
    from torch.nn.utils import prune as tprune
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    tprune.custom_from_mask(net[0], "weight", torch.tensor([[0.0] * 4] * 2 + [[1.0] * 4] * 4))
    before = checksum(net)
    small, _ = shrink(net, torch.randn(3, 4))
    assert small[0].out_features == 4
    assert same_state(before, checksum(net))
    assert hasattr(net[0], "weight_orig")  # the input keeps its mask


def test_report_text_and_dict():
    net, x, _ = mlp_bias()
    _, report = shrink(net, x)
    assert isinstance(report, ShrinkReport)
    d = report.to_dict()
    assert d["params_before"] > d["params_after"] and len(d["layers"]) == 3
    text = str(report)
    assert "parameters:" in text and "FLOPs" in text and "max |shrunk - original|" in text


def test_bad_arguments():
    net = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="model"):
        shrink("net", torch.randn(2, 2))
    with pytest.raises(TypeError, match="example_inputs"):
        shrink(net, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="NaN"):
        shrink(net, torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="on_unsupported"):
        shrink(net, torch.randn(2, 2), on_unsupported="ignore")
    with pytest.raises(ValueError, match="atol"):
        shrink(net, torch.randn(2, 2), atol=-1)


# ------------------------------------------------------------- the seed experiment


def test_seed_line_experiment_quick_and_deterministic():
    from sparsefit.experiments.seed_line import run
    a = run(quick=True, runs=1, epochs=3)
    b = run(quick=True, runs=1, epochs=3)
    assert set(a["results"]) == {"l1", "l2", "l1_prox"}
    for v in a["results"]:
        for ra, rb in zip(a["results"][v], b["results"][v]):
            assert ra["total_abs_error"] == rb["total_abs_error"]
            assert ra["total_abs_error"] > 0
    r = a["results"]["l1_prox"][0]
    s = r["shrunk"]
    assert s["params_after"] <= s["params_before"]
    # shrinking alone does not change the errors (exact zeros, outputs checked)
    assert abs(s["after_shrink"]["total_abs_error"] - r["total_abs_error"]) < 1e-9
    assert r["nonzero_weights"] < a["results"]["l2"][0]["nonzero_weights"]


def test_seed_line_prox_step_is_l1_prox():
    # the experiment's inlined soft-thresholding is sparsefit's L1 prox
    import numpy as np

    from sparsefit.experiments.seed_line import make_data, make_net, train
    from sparsefit.penalties import L1
    net = make_net(0)
    w0 = [m.weight.detach().numpy().copy() for m in net if isinstance(m, nn.Linear)]
    data = make_data(n=2, n_outliers=0, noise=0.0)
    data = {**data, "x": data["x"][:1], "y": data["y"][:1]}
    train(net, data, variant="l1_prox", lam=0.3, lr=0.01, epochs=1)
    ref = make_net(0)
    train(ref, data, variant="none", lr=0.01, epochs=1)
    for m, r in zip([m for m in net if isinstance(m, nn.Linear)],
                    [m for m in ref if isinstance(m, nn.Linear)]):
        expected = L1(0.3).prox(r.weight.detach().numpy(), 0.01)
        assert np.allclose(m.weight.detach().numpy(), expected, atol=1e-12)
    assert any((w != 0).any() for w in w0)


def test_last_layer_before_softmax_is_not_refused():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.Softmax(dim=1))
    zero_rows(net[2].weight, [1])   # an output unit with zero weights: it is an output
    zero_rows(net[0].weight, [2])
    small, _ = shrink(net, torch.randn(5, 4))
    assert small[0].out_features == 5 and small[2].out_features == 3


class MyLinear(nn.Module):
    """A custom layer with units: shrink learns it from a registered LayerHandler."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / n_in ** 0.5)
        self.bias = nn.Parameter(torch.randn(n_out))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


def test_custom_layer_handler():
    from sparsefit.nn._shrink_handlers import LinearHandler
    from sparsefit.nn.shrink import LayerHandler

    assert isinstance(LinearHandler(), LayerHandler)
    torch.manual_seed(0)
    net = nn.Sequential(MyLinear(3, 6), nn.Tanh(), MyLinear(6, 2))
    zero_rows(net[0].weight, [0, 4])
    x = torch.randn(5, 3)
    # not registered: traced through, F.linear is not unit-wise -> nothing to shrink
    small, _ = shrink(net, x)
    assert small[0].weight.shape == (6, 3)
    register_handler(MyLinear, LinearHandler())
    small, report = shrink(net, x)
    assert small[0].weight.shape == (4, 3) and small[2].weight.shape == (2, 4)
    assert report.max_abs_diff <= 1e-5


def test_other_parametrizations_input_keeps_working():
    from torch.nn.utils.parametrizations import weight_norm
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    zero_rows(net[2].weight, [])
    with torch.no_grad():
        net[2].weight[:, 1] = 0
    net[0] = weight_norm(net[0])
    x = torch.randn(3, 4)
    small, _ = shrink(net, x)
    assert small[0].out_features == 5
    with torch.no_grad():
        assert (net(x) - small(x)).abs().max() <= 1e-5  # the input still runs
