"""Attaching penalties to torch modules: Keras-style arguments, reversibility, state_dict,
deepcopy, pickling, summaries, the summed penalty, and clear errors."""

import copy
import io
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from sparsefit import nn as sfnn
from sparsefit.penalties import L1, L1L2, L2, TV1D, GroupL1, SparseGroupL1

# layer, Keras-style keyword, the parameter names it must select
KERAS_NAMES = [
    (lambda: torch.nn.Linear(4, 3), "kernel", ["weight"]),
    (lambda: torch.nn.Linear(4, 3), "bias", ["bias"]),
    (lambda: torch.nn.Conv1d(2, 3, 3), "kernel", ["weight"]),
    (lambda: torch.nn.Conv2d(2, 3, 3), "kernel", ["weight"]),
    (lambda: torch.nn.Conv3d(2, 3, 2), "kernel", ["weight"]),
    (lambda: torch.nn.ConvTranspose1d(2, 3, 3), "kernel", ["weight"]),
    (lambda: torch.nn.Embedding(7, 3), "kernel", ["weight"]),
    (lambda: torch.nn.LSTM(3, 4, num_layers=2), "kernel", ["weight_ih_l0", "weight_ih_l1"]),
    (lambda: torch.nn.GRU(3, 4, bidirectional=True), "recurrent",
     ["weight_hh_l0", "weight_hh_l0_reverse"]),
    (lambda: torch.nn.RNN(3, 4), "bias", ["bias_ih_l0", "bias_hh_l0"]),
]


@pytest.mark.parametrize("make, kw, names", KERAS_NAMES)
def test_keras_keywords_select_the_right_parameters(make, kw, names):
    layer = make()
    sfnn.regularize(layer, **{kw: L1(0.01)})
    assert sorted(sfnn.attachments(layer)) == sorted(names)
    want = sum(0.01 * float(getattr(layer, n).detach().abs().sum()) for n in names)
    assert float(sfnn.penalty(layer).detach()) == pytest.approx(want, rel=1e-5)


# layer, group_by, include_bias, expected number of groups (what GroupL1 sees as rows)
GROUP_VIEWS = [
    (lambda: torch.nn.Linear(6, 4), "out", False, 4),
    (lambda: torch.nn.Linear(6, 4), "in", False, 6),
    (lambda: torch.nn.Linear(6, 4), "out", True, 4),
    (lambda: torch.nn.Conv2d(3, 5, 3), "filters", False, 5),
    (lambda: torch.nn.Conv2d(3, 5, 3), "in_channels", False, 3),
    (lambda: torch.nn.Conv2d(3, 5, 3), "out", True, 5),
    (lambda: torch.nn.ConvTranspose2d(3, 5, 2), "out", True, 5),
    (lambda: torch.nn.ConvTranspose2d(3, 5, 2), "in", False, 3),
    (lambda: torch.nn.Conv2d(4, 6, 3, groups=2), "out", False, 6),
    (lambda: torch.nn.Embedding(7, 3), "in", False, 7),
    (lambda: torch.nn.Embedding(7, 3), "out", False, 3),
]


@pytest.mark.parametrize("make, group_by, include_bias, n_groups", GROUP_VIEWS)
def test_group_views(make, group_by, include_bias, n_groups):
    layer = make()
    pen = GroupL1(0.1)
    sfnn.regularize(layer, kernel=pen, group_by=group_by, include_bias=include_bias)
    att = sfnn.attachments(layer)["weight"]
    view = att.view(layer)
    assert view.shape[0] == n_groups
    # the penalty is the group lasso of those groups, computed by hand
    rows = view.detach().reshape(n_groups, -1)
    want = 0.1 * float((rows.norm(dim=1) * rows.shape[1] ** 0.5).sum())
    assert float(sfnn.penalty(layer).detach()) == pytest.approx(want, rel=1e-5)
    # write(view) is the exact inverse of view: a round trip changes nothing
    before = [p.detach().clone() for p in layer.parameters()]
    att.write(layer, view.detach().clone())
    for a, b in zip(before, layer.parameters()):
        assert torch.equal(a, b)
    # zeroing a group through the view zeroes the unit in the layer (and its bias)
    new = view.detach().clone()
    new[0] = 0
    att.write(layer, new)
    assert float(att.view(layer)[0].detach().abs().sum()) == 0.0
    if include_bias:
        assert float(layer.bias[0].detach()) == 0.0


def test_group_by_in_is_feature_selection():
    lin = torch.nn.Linear(5, 3)
    sfnn.regularize(lin, kernel=GroupL1(10.0), group_by="in")
    opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.1))
    with torch.no_grad():
        lin.weight[:, 2] = 50.0  # one strong input column survives
    lin.weight.grad = torch.zeros_like(lin.weight)
    opt.step()
    assert sfnn.dead_units(lin) == (0, 4)
    assert (lin.weight[:, 2] != 0).all()


def test_model_wide_mask_skips_biases_and_norms():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4, 2),
                              torch.nn.LayerNorm(2))
    sfnn.regularize_model(net, "l1")
    assert sorted(sfnn.attachments(net)) == ["0.weight", "4.weight"]
    assert sfnn.attachments(net)["0.weight"].penalty == L1(0.01)
    sfnn.unregularize(net)
    sfnn.regularize_model(net, L2(0.1), mask=["4.bias", "1.weight"])
    assert sorted(sfnn.attachments(net)) == ["1.weight", "4.bias"]
    sfnn.regularize_model(net, L1(0.1), mask=lambda q, m, n, p: n == "bias")
    assert sorted(sfnn.attachments(net)) == ["0.bias", "1.bias", "1.weight", "4.bias",
                                             "5.bias"]
    with pytest.raises(ValueError, match=r"does not have: \['9.weight'\]"):
        sfnn.regularize_model(net, L1(0.1), mask=["9.weight"])


def test_unregularize_is_exact_inverse():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    before_repr, before_keys = repr(net), list(net.state_dict())
    before_dict = {id(m): set(vars(m)) for m in net.modules()}
    sfnn.regularize(net, {"0.weight": "l1", "2.bias": L2(0.1)})
    sfnn.regularize(net[2], kernel=GroupL1(0.1), group_by="in")
    assert "penalties={weight: L1(l1=0.01)}" in repr(net)
    assert list(net.state_dict()) == before_keys  # state_dict untouched
    sfnn.unregularize(net, "2.bias")
    assert sorted(sfnn.attachments(net)) == ["0.weight", "2.weight"]
    sfnn.unregularize(net)
    assert repr(net) == before_repr
    assert {id(m): set(vars(m)) for m in net.modules()} == before_dict
    assert float(sfnn.penalty(net)) == 0.0
    assert sfnn.summary(net) == "(no penalties attached)"
    with pytest.raises(ValueError, match="has no attached penalty"):
        sfnn.unregularize(net, "0.weight")


def _regularized():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    return sfnn.regularize(net, {
        "0.weight": {"penalty": GroupL1(0.1), "group_by": "out", "include_bias": True},
        "2.weight": L1L2(0.01, 0.02)})


def test_state_dict_round_trip_keeps_attachments_and_values():
    net = _regularized()
    sd = net.state_dict()
    assert set(sd) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    other = _regularized()
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    other.load_state_dict(sd)
    assert sfnn.penalty_config(other) == sfnn.penalty_config(net)
    assert float(sfnn.penalty(other).detach()) == pytest.approx(float(sfnn.penalty(net).detach()))
    # a plain model loads the regularized model's state dict and vice versa
    plain = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    plain.load_state_dict(sd)
    net.load_state_dict(plain.state_dict())
    # assign=True replaces the parameter objects: the attachment follows the new ones
    net.load_state_dict({k: v.clone() for k, v in plain.state_dict().items()}, assign=True)
    assert float(sfnn.penalty(net).detach()) == pytest.approx(float(sfnn.penalty(other).detach()))
    # and penalty_config rebuilds the attachments on a fresh model
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    sfnn.regularize(fresh, sfnn.penalty_config(net))
    assert repr(fresh) == repr(net)


def test_deepcopy_and_pickle_carry_independent_attachments():
    net = _regularized()
    clone = copy.deepcopy(net)
    assert sfnn.penalty_config(clone) == sfnn.penalty_config(net)
    assert repr(clone) == repr(net)
    sfnn.unregularize(clone)
    assert len(sfnn.attachments(net)) == 2 and not sfnn.attachments(clone)
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert sfnn.penalty_config(loaded) == sfnn.penalty_config(net)
    # the copies are found by the optimizer wrapper (registered on copy)
    clone2 = copy.deepcopy(net)
    original = [p.detach().clone() for p in net.parameters()]
    opt = sfnn.Proximal(torch.optim.SGD(clone2.parameters(), lr=1.0))
    for p in clone2.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(original, net.parameters()))  # untouched
    assert not torch.equal(clone2[2].weight, net[2].weight)  # the copy was proxed
    # block soft-thresholding of (weight row, bias) at lr * alpha * sqrt(4) = 0.2
    old = torch.cat([original[0], original[1][:, None]], 1).norm(dim=1)
    new = sfnn.attachments(clone2)["0.weight"].view(clone2[0]).detach().norm(dim=1)
    torch.testing.assert_close(new, torch.clamp(old - 0.2, min=0))


def test_penalty_sum_breakdown_and_gradient():
    net = _regularized()
    total, parts = sfnn.penalty(net, breakdown=True)
    assert set(parts) == {"0.weight", "2.weight"}
    w0 = torch.cat([net[0].weight, net[0].bias[:, None]], 1).detach()
    want0 = 0.1 * float((w0.norm(dim=1) * 2.0).sum())  # sqrt(3 + 1) = 2
    w2 = net[2].weight.detach()
    want2 = 0.01 * float(w2.abs().sum()) + 0.02 * float((w2 ** 2).sum())
    assert float(parts["0.weight"].detach()) == pytest.approx(want0, rel=1e-5)
    assert float(parts["2.weight"].detach()) == pytest.approx(want2, rel=1e-5)
    assert float(total.detach()) == pytest.approx(want0 + want2, rel=1e-5)
    total.backward()
    assert net[0].bias.grad is not None and net[2].weight.grad is not None
    torch.testing.assert_close(net[2].weight.grad,
                               0.01 * torch.sign(w2) + 0.04 * w2)
    # training-time term only: the forward pass is unchanged
    x = torch.randn(2, 3)
    plain = copy.deepcopy(net)
    sfnn.unregularize(plain)
    assert torch.equal(net(x), plain(x))


def test_summary_lists_every_attachment():
    text = sfnn.summary(_regularized())
    assert "0.weight" in text and "GroupL1(alpha=0.1" in text and "+bias" in text
    assert "2.weight" in text and "L1L2(l1=0.01, l2=0.02)" in text


@pytest.mark.parametrize("call, exc, match", [
    (lambda: sfnn.regularize(torch.nn.Linear(2, 2), {"wieght": "l1"}), ValueError,
     r"penalties\['wieght'\]: Linear has no parameter 'wieght'"),
    (lambda: sfnn.regularize(torch.nn.Linear(2, 2), {"3.weight": "l1"}), ValueError,
     "no submodule '3'"),
    (lambda: sfnn.regularize(torch.nn.ReLU(), kernel="l1"), ValueError, "kernel: ReLU"),
    (lambda: sfnn.regularize(torch.nn.Linear(2, 2, bias=False), bias="l1"), ValueError,
     "bias=False"),
    (lambda: sfnn.regularize(torch.nn.Linear(2, 2), recurrent="l1"), ValueError,
     "recurrent applies to RNN"),
    (lambda: sfnn.regularize(torch.nn.Linear(2, 2), kernel="l3"), ValueError,
     "kernel: Unknown penalty identifier 'l3'"),
    (lambda: sfnn.regularize(torch.nn.Linear(3, 2), kernel=GroupL1(0.1, groups=[2, 2])),
     ValueError, r"kernel: GroupL1.*cannot be applied to weight of shape \(2, 3\)"),
    (lambda: sfnn.regularize(torch.nn.Linear(3, 2), kernel=GroupL1(0.1, weights=[1.0] * 5)),
     ValueError, "cannot be applied"),
    (lambda: sfnn.regularize(torch.nn.Conv2d(4, 6, 3, groups=2), kernel=GroupL1(0.1),
                             group_by="in"), ValueError, "groups=2"),
    (lambda: sfnn.regularize(torch.nn.ConvTranspose2d(4, 6, 3, groups=2),
                             kernel=GroupL1(0.1), group_by="out"), ValueError, "groups=2"),
    (lambda: sfnn.regularize(torch.nn.Linear(3, 2), kernel=GroupL1(0.1), group_by="diag"),
     ValueError, "group_by='diag'"),
    (lambda: sfnn.regularize(torch.nn.Linear(3, 2), kernel=GroupL1(0.1), group_by=2),
     ValueError, "no axis 2"),
    (lambda: sfnn.regularize(torch.nn.Linear(3, 2), kernel=GroupL1(0.1), group_by="in",
                             include_bias=True), ValueError, "include_bias"),
    (lambda: sfnn.regularize(torch.nn.Linear(3, 2, bias=False), kernel=GroupL1(0.1),
                             include_bias=True), ValueError, "include_bias: .* has no bias"),
    (lambda: sfnn.regularize(torch.nn.Linear(3, 2), bias="l1", group_by="out"), ValueError,
     "apply to kernel="),
    (lambda: sfnn.regularize("net", kernel="l1"), TypeError, "module must be"),
    (lambda: sfnn.regularize(torch.nn.Linear(3, 2), ["weight"]), TypeError, "mapping"),
    (lambda: sfnn.penalty(None), TypeError, "model must be"),
    (lambda: sfnn.regularize_model(torch.nn.Linear(3, 2), None), ValueError, "must not be"),
])
def test_bad_input_names_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_failed_call_attaches_nothing_and_conflicts_are_refused():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2))
    with pytest.raises(ValueError):
        sfnn.regularize(net, {"0.weight": "l1", "1.weight": GroupL1(0.1, groups=[3])})
    assert sfnn.attachments(net) == {}  # all or nothing
    lin = sfnn.regularize(torch.nn.Linear(3, 2), bias="l1")
    with pytest.raises(ValueError, match="already has its own penalty"):
        sfnn.regularize(lin, kernel=GroupL1(0.1), include_bias=True)
    lin2 = sfnn.regularize(torch.nn.Linear(3, 2), kernel=GroupL1(0.1), include_bias=True)
    with pytest.raises(ValueError, match="already grouped"):
        sfnn.regularize(lin2, bias="l1")
    # re-attaching replaces
    sfnn.regularize(lin2, kernel=L1(0.5))
    assert sfnn.attachments(lin2)["weight"].penalty == L1(0.5)


def test_other_penalties_attach():
    conv = sfnn.regularize(torch.nn.Conv1d(1, 2, 4), kernel=TV1D(0.1), bias=L2(0.1))
    emb = sfnn.regularize(torch.nn.Embedding(6, 4), kernel=SparseGroupL1(0.1, 0.5),
                          group_by="in")
    for m in (conv, emb):
        v = sfnn.penalty(m)
        assert v.requires_grad and float(v.detach()) > 0


def test_import_sparsefit_does_not_import_torch():
    code = "import sys, sparsefit, sparsefit.penalties; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
