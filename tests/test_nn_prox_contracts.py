"""The contract of sparsefit.nn.Proximal beyond its formula: a zero gradient does not wipe
weights; lr = 0 is no prox; refused param groups are not added; hooks run once, state-dict
hooks run; parametrizations compose (masks) or are refused (the rest), never skipped
silently; penalties travel with a checkpoint through penalty_config."""

import io
import warnings

import pytest

torch = pytest.importorskip("torch")

from sparsefit import nn as sfnn
from sparsefit.penalties import L1, GroupL1

# -- a zero gradient is a step, not a wipe ----------------------------------------------------


def test_embedding_rows_outside_the_batch_are_not_wiped():
    # Adam's second moment is 0 for the rows not in the batch and their gradient is an
    # exact 0: the unbounded threshold lr * l1 / eps = 10 would zero them all
    torch.manual_seed(0)
    emb = sfnn.regularize(torch.nn.Embedding(100, 8), kernel=L1(1e-4))
    before = emb.weight.detach().clone()
    opt = sfnn.Proximal(torch.optim.Adam(emb.parameters(), lr=1e-3))
    emb(torch.tensor([0, 1])).pow(2).sum().backward()
    assert bool((emb.weight.grad[2:] == 0).all())
    opt.step()
    rest, rest0 = emb.weight.detach()[2:], before[2:]
    # the prox moved them by at most lr toward zero (Adam's own step bound), no more
    assert float((rest - rest0).abs().max()) <= 1e-3 + 2e-6   # float32 rounding of |w| ~ 4
    assert bool(((rest.abs() <= rest0.abs()) & (rest * rest0 >= 0)).all())
    assert int((rest == 0).sum()) == int((rest0.abs() <= 1e-3).sum())   # only tiny ones
    # the rows in the batch took Adam's step (lr per coordinate) and then the prox
    assert float((emb.weight.detach()[:2] - before[:2]).abs().max()) > 0.9e-3


def test_rows_never_used_still_reach_the_lasso_solution_zero():
    # the loss does not depend on rows 2..9, so the L1 solution has them at 0: they get
    # there at the rate of lr per step, as Adam with the penalty in the loss would
    emb = sfnn.regularize(torch.nn.Embedding(10, 4), kernel=L1(1e-2))
    with torch.no_grad():
        emb.weight.fill_(0.05)
    opt = sfnn.Proximal(torch.optim.Adam(emb.parameters(), lr=1e-2))
    for k in range(6):
        opt.zero_grad()
        (emb(torch.tensor([0])) - 1.0).pow(2).sum().backward()
        opt.step()
        if k == 3:
            torch.testing.assert_close(emb.weight[2:].detach(),
                                       torch.full((8, 4), 0.05 - 4 * 1e-2))
    assert bool((emb.weight[2:] == 0).all())
    assert bool((emb.weight[0] != 0).all())


def _two_heads(seed=0):
    torch.manual_seed(seed)
    body = torch.nn.Linear(6, 8)
    head_a, head_b = torch.nn.Linear(8, 1), torch.nn.Linear(8, 1)
    for m in (body, head_a, head_b):
        sfnn.regularize(m, kernel=L1(1e-3))
    return body, head_a, head_b


@pytest.mark.parametrize("how", ["ddp_zero_times", "loss_weight_zero"])
def test_a_head_with_an_exact_zero_gradient_is_not_wiped(how):
    body, head_a, head_b = _two_heads()
    params = [*body.parameters(), *head_a.parameters(), *head_b.parameters()]
    opt = sfnn.Proximal(torch.optim.Adam(params, lr=1e-3))
    b0 = head_b.weight.detach().clone()
    x = torch.randn(16, 6)
    h = torch.relu(body(x))
    loss_a = head_a(h).pow(2).mean()
    if how == "ddp_zero_times":   # DDP: every parameter must take part in the backward
        loss = loss_a + 0 * head_b(h).sum()
    else:
        loss = 1.0 * loss_a + 0.0 * (head_b(h) - 1).pow(2).mean()
    loss.backward()
    assert head_b.weight.grad is not None and bool((head_b.weight.grad == 0).all())
    opt.step()
    assert bool((head_b.weight != 0).all())
    assert float((head_b.weight.detach() - b0).abs().max()) <= 1e-3 + 1e-7


# -- lr = 0 is no step, hence no prox ---------------------------------------------------------

def _layer(seed=0):
    torch.manual_seed(seed)
    return sfnn.regularize(torch.nn.Linear(5, 3), kernel=L1(0.5))


@pytest.mark.parametrize("make_opt", [
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: torch.optim.Adam(ps, lr=0.1),
], ids=["sgd", "adam"])
def test_warm_up_from_zero_and_cosine_to_zero_leave_the_weights(make_opt):
    lin = _layer()
    opt = sfnn.Proximal(make_opt(lin.parameters()))
    warm = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, k / 3))
    w0 = lin.weight.detach().clone()
    lin.weight.grad = torch.zeros_like(lin.weight)
    lin.bias.grad = torch.zeros_like(lin.bias)
    assert opt.param_groups[0]["lr"] == 0.0
    opt.step()   # accepted, and the prox of a zero step is the identity
    assert torch.equal(lin.weight.detach(), w0)
    warm.step()
    opt.step()   # lr > 0 now: the prox acts
    assert not torch.equal(lin.weight.detach(), w0)
    # a cosine schedule reaching 0 at its end
    lin2 = _layer(1)
    opt2 = sfnn.Proximal(make_opt(lin2.parameters()))
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=2, eta_min=0.0)
    lin2.weight.grad = torch.zeros_like(lin2.weight)
    for _ in range(2):
        opt2.step()
        cos.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    w2 = lin2.weight.detach().clone()
    opt2.step()
    assert torch.equal(lin2.weight.detach(), w2)


def test_a_frozen_group_with_lr_zero_is_left_alone():
    a, b = _layer(0), _layer(1)
    opt = sfnn.Proximal(torch.optim.Adam([{"params": a.parameters(), "lr": 0.0},
                                          {"params": b.parameters()}], lr=0.05))
    a0, b0 = a.weight.detach().clone(), b.weight.detach().clone()
    x = torch.randn(8, 5)
    for _ in range(5):
        opt.zero_grad()
        (a(x).pow(2).mean() + b(x).pow(2).mean()).backward()
        opt.step()
    assert torch.equal(a.weight.detach(), a0)
    assert not torch.equal(b.weight.detach(), b0)
    assert int((b.weight == 0).sum()) > 0


def test_penalty_scale_per_group():
    a, b = _layer(0), _layer(1)
    opt = sfnn.Proximal(torch.optim.SGD([{"params": [a.weight], "penalty_scale": 0.0},
                                         {"params": [b.weight], "penalty_scale": 0.5}],
                                        lr=0.1))
    a0, b0 = a.weight.detach().clone(), b.weight.detach().clone()
    a.weight.grad, b.weight.grad = torch.zeros_like(a0), torch.zeros_like(b0)
    opt.step()
    assert torch.equal(a.weight.detach(), a0)    # scale 0: no prox
    torch.testing.assert_close(b.weight.detach(), L1(0.25).prox(b0, 0.1))


# -- param groups, hooks, state dicts --------------------------------------------------------

@pytest.mark.parametrize("group, match", [
    ({"maximize": True}, "maximize"),
    ({"penalty_scale": -1.0}, "penalty_scale"),
    ({"lr": float("nan")}, "lr must be finite"),
])
def test_a_refused_param_group_is_not_added(group, match):
    lin, other = _layer(0), torch.nn.Linear(2, 2)
    opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.1))
    with pytest.raises(ValueError, match=match):
        opt.add_param_group({"params": list(other.parameters()), **group})
    assert len(opt.param_groups) == 1 and len(opt.optimizer.param_groups) == 1
    lin(torch.randn(3, 5)).sum().backward()
    opt.step()   # still works
    opt.add_param_group({"params": list(other.parameters()), "lr": 0.01})
    assert len(opt.param_groups) == 2


def test_state_dict_hooks_registered_on_the_wrapper_run():
    lin = _layer()
    opt = sfnn.Proximal(torch.optim.Adam(lin.parameters(), lr=0.01))
    lin(torch.randn(3, 5)).sum().backward()
    opt.step()
    seen = []
    opt.register_state_dict_pre_hook(lambda o: seen.append(("sd_pre", o is opt)))

    def post(o, sd):
        seen.append(("sd_post", o is opt))
        sd["note"] = "hooked"
        return sd
    opt.register_state_dict_post_hook(post)

    def load_pre(o, sd):
        seen.append(("load_pre", o is opt))
        sd = dict(sd)
        sd.pop("note")
        return sd
    opt.register_load_state_dict_pre_hook(load_pre)
    opt.register_load_state_dict_post_hook(lambda o: seen.append(("load_post", o is opt)))
    sd = opt.state_dict()
    assert sd["note"] == "hooked"
    opt.load_state_dict(sd)
    assert seen == [("sd_pre", True), ("sd_post", True), ("load_pre", True),
                    ("load_post", True)]


def test_global_step_hooks_fire_once_per_step_after_the_prox():
    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    lin = _layer()
    inner = torch.optim.SGD(lin.parameters(), lr=0.5)
    opt = sfnn.Proximal(inner)
    seen = []
    inner_seen = []
    inner.register_step_post_hook(lambda o, a, k: inner_seen.append(o is inner))
    h1 = register_optimizer_step_pre_hook(lambda o, a, k: seen.append(("pre", o is opt)))
    h2 = register_optimizer_step_post_hook(
        lambda o, a, k: seen.append(("post", o is opt, int((lin.weight == 0).sum()))))
    try:
        lin.weight.grad = torch.zeros_like(lin.weight)
        opt.step()
    finally:
        h1.remove()
        h2.remove()
    n_zero = int((lin.weight == 0).sum())
    assert n_zero > 0
    assert seen == [("pre", True), ("post", True, n_zero)]   # once each, after the prox
    assert inner_seen == [True]                              # the inner optimizer's own


def test_a_scheduler_on_the_wrapped_optimizer_sees_its_step():
    lin = _layer()
    inner = torch.optim.SGD(lin.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(inner, step_size=1, gamma=0.5)
    opt = sfnn.Proximal(inner)
    lin(torch.randn(3, 5)).sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # "lr_scheduler.step() before optimizer.step()"
        opt.step()
        sched.step()
    assert inner.param_groups[0]["lr"] == pytest.approx(0.05)


# -- parametrizations: masks compose, the rest is refused --------------------------------------

def test_torch_prune_after_regularize_composes():
    from torch.nn.utils import prune as torch_prune

    lin = _layer()
    torch_prune.l1_unstructured(lin, "weight", amount=0.4)
    mask = lin.weight_mask.bool()
    # the penalty is that of the masked weight, and is differentiable in weight_orig
    value = sfnn.penalty(lin)
    assert float(value.detach()) == pytest.approx(
        0.5 * float((lin.weight_orig * mask).abs().sum().detach()))
    opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.1))
    orig0 = lin.weight_orig.detach().clone()
    lin.weight_orig.grad = torch.zeros_like(orig0)
    opt.step()
    got = lin.weight_orig.detach()
    torch.testing.assert_close(got[mask], L1(0.5).prox(orig0, 0.1)[mask])
    torch.testing.assert_close(got[~mask], orig0[~mask])   # not the layer's weights


def test_sparsefit_prune_mask_composes():
    lin = _layer()
    sfnn.prune(lin, 0.4)
    orig = lin.parametrizations.weight.original
    mask = lin.parametrizations.weight[0].mask
    assert float(sfnn.penalty(lin).detach()) == pytest.approx(
        0.5 * float((orig * mask).abs().sum().detach()), rel=1e-6)
    opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.1))
    orig0 = orig.detach().clone()
    orig.grad = torch.zeros_like(orig0)
    opt.step()
    torch.testing.assert_close(orig.detach()[mask], L1(0.5).prox(orig0, 0.1)[mask])
    torch.testing.assert_close(orig.detach()[~mask], orig0[~mask])


class _Scale(torch.nn.Module):
    def forward(self, w):
        return 2.0 * w


@pytest.mark.parametrize("how", ["register_parametrization", "weight_norm",
                                 "old_weight_norm"])
def test_other_parametrizations_after_regularize_are_refused_by_the_prox(how):
    from torch.nn.utils import parametrizations, parametrize

    lin = _layer()
    if how == "register_parametrization":
        parametrize.register_parametrization(lin, "weight", _Scale())
    elif how == "weight_norm":
        parametrizations.weight_norm(lin)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.nn.utils.weight_norm(lin)
    # the penalty is that of the weight the layer computes with: no KeyError
    value = sfnn.penalty(lin)
    assert float(value) == pytest.approx(0.5 * float(lin.weight.detach().abs().sum()),
                                         rel=1e-6)
    assert value.requires_grad
    x = torch.randn(4, 5)
    opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.1))
    lin(x).sum().backward()
    with pytest.raises(ValueError, match=r"'weight' of \w*Linear, which is now held by"):
        opt.step()
    # penalty-in-the-loss training works through the parametrization
    loss_opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.1), mode="loss")
    before = float(sfnn.penalty(lin))
    for _ in range(5):
        loss_opt.zero_grad()
        (0.0 * lin(x).sum()).backward()
        loss_opt.step()
    assert float(sfnn.penalty(lin)) < before


def test_regularize_refuses_a_parametrized_weight():
    from torch.nn.utils import parametrize

    lin = torch.nn.Linear(3, 2)
    parametrize.register_parametrization(lin, "weight", _Scale())
    with pytest.raises(ValueError, match=r"kernel: weight is held by torch.nn.utils."
                                         r"parametrize \(_Scale\)"):
        sfnn.regularize(lin, kernel=L1(0.1))
    assert sfnn.attachments(lin) == {}


# -- penalties travel with a checkpoint -------------------------------------------------------

def test_penalties_travel_with_a_checkpoint_through_penalty_config():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    sfnn.regularize(net[0], kernel=GroupL1(0.1), group_by="in")
    sfnn.regularize(net[2], kernel=L1(0.01), bias="l1")
    buf = io.BytesIO()
    torch.save({"model": net.state_dict(), "penalties": sfnn.penalty_config(net)}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    new = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    new.load_state_dict(ckpt["model"])
    assert sfnn.attachments(new) == {}          # the state dict carries no penalties
    sfnn.regularize(new, ckpt["penalties"])
    assert sfnn.penalty_config(new) == sfnn.penalty_config(net)
    assert float(sfnn.penalty(new)) == pytest.approx(float(sfnn.penalty(net)))


# -- subgradient steps, then proximal steps ---------------------------------------------------

def test_subgradient_steps_then_prox():
    x = torch.randn(16, 5)
    lin, twin = _layer(), _layer()
    opt = sfnn.Proximal(torch.optim.Adam(lin.parameters(), lr=0.05), subgradient_steps=3)
    ref = sfnn.Proximal(torch.optim.Adam(twin.parameters(), lr=0.05), mode="loss")
    for k in range(6):
        if k == 3:
            ref.mode = "prox"   # from the 4th step on both take proximal steps
        for m, o in ((lin, opt), (twin, ref)):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
        if k < 3:   # the same as the penalty in the loss, no exact zero
            torch.testing.assert_close(lin.weight, twin.weight)
            assert opt.mode == "loss" and int((lin.weight == 0).sum()) == 0
    assert opt.mode == "prox" and int((lin.weight == 0).sum()) > 0
    torch.testing.assert_close(lin.weight, twin.weight)
    sd = opt.state_dict()
    again = sfnn.Proximal(torch.optim.Adam(lin.parameters(), lr=0.05), subgradient_steps=3)
    again.load_state_dict(sd)
    assert again.n_steps == 6


@pytest.mark.parametrize("kwargs, match", [
    ({"subgradient_steps": -1}, "subgradient_steps must be an int >= 0"),
    ({"subgradient_steps": 2.5}, "subgradient_steps must be an int >= 0"),
    ({"subgradient_steps": 3, "mode": "orthant"}, "switches from mode 'loss' to 'prox'"),
    ({"subgradient_steps": 3, "target_sparsity": 0.5, "total_steps": 9},
     "cannot be combined"),
])
def test_subgradient_steps_is_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sfnn.Proximal(torch.optim.SGD(_layer().parameters(), lr=0.1), **kwargs)


def test_subgradient_then_prox_then_orthant_steps():
    """``orthant_after``: loss, prox and orthant phases at the steps asked; the orthant
    steps equal a wrapper switched to mode "orthant" by hand, and keep zeros at zero."""
    x = torch.randn(16, 5)
    lin, twin = _layer(), _layer()
    opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.05, momentum=0.9),
                        subgradient_steps=2, orthant_after=4)
    ref = sfnn.Proximal(torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9),
                        mode="loss")
    modes = []
    for k in range(8):
        ref.mode = "loss" if k < 2 else "prox" if k < 4 else "orthant"
        for m, o in ((lin, opt), (twin, ref)):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
        modes.append(opt.mode)
        torch.testing.assert_close(lin.weight, twin.weight)
        if k == 4:
            zeros = lin.weight == 0
    assert modes == ["loss"] * 2 + ["prox"] * 2 + ["orthant"] * 4
    assert bool(zeros.any()) and bool((lin.weight[zeros] == 0).all())
    assert opt.state_dict()["proximal"]["n_steps"] == 8


@pytest.mark.parametrize("kwargs, match", [
    ({"orthant_after": -1}, "orthant_after must be an int >= 0"),
    ({"orthant_after": True}, "orthant_after must be an int >= 0"),
    ({"orthant_after": 2, "subgradient_steps": 3}, "must be at least subgradient_steps"),
    ({"orthant_after": 2, "target_sparsity": 0.5, "total_steps": 9}, "no target_sparsity"),
    ({"orthant_after": 2, "mode": "loss"}, "needs mode='prox'"),
])
def test_orthant_after_is_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sfnn.Proximal(torch.optim.SGD(_layer().parameters(), lr=0.1), **kwargs)


# -- a warm-up of the strengths -----------------------------------------------------------------

def test_warmup_scales_the_threshold_then_solves_the_same_problem():
    # a zero loss: each SGD step is the prox alone, a shrink of lr * l1 * min(1, k / N)
    lin = _layer()
    w0 = lin.weight.detach().clone()
    opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.01), warmup_steps=4)
    shrink = 0.0
    for k in range(1, 7):
        opt.zero_grad()
        (0.0 * lin(torch.ones(1, 5)).sum()).backward()
        opt.step()
        shrink += 0.01 * 0.5 * min(1.0, k / 4)
        expected = torch.sign(w0) * torch.clamp(w0.abs() - shrink, min=0.0)
        torch.testing.assert_close(lin.weight, expected, rtol=0, atol=1e-7)
    # the step count travels with the state dict, so a resumed run continues the ramp
    again = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.01), warmup_steps=4)
    again.load_state_dict(opt.state_dict())
    assert again.n_steps == 6


@pytest.mark.parametrize("make", [lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.8),
                                  lambda p: torch.optim.Adam(p, lr=0.05)],
                         ids=["sgd-momentum", "adam"])
def test_after_the_warmup_the_fixed_point_is_the_lasso(make):
    import numpy as np

    from sparsefit.datafits import Quadratic
    from sparsefit.solvers import solve

    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 20))
    y = X[:, :3] @ [1.5, -2.0, 1.0] + 0.1 * rng.standard_normal(50)
    ref = solve(X, y, Quadratic(), L1(0.2), tol=1e-12).coef
    Xt, yt = torch.tensor(X), torch.tensor(y)
    lin = torch.nn.Linear(20, 1, bias=False).double()
    torch.nn.init.zeros_(lin.weight)
    sfnn.regularize(lin, kernel=L1(0.2))
    opt = sfnn.Proximal(make(lin.parameters()), warmup_steps=100)
    for _ in range(700):
        opt.zero_grad()
        (0.5 * (yt - Xt @ lin.weight[0]).pow(2).mean()).backward()
        opt.step()
    w = lin.weight.detach().numpy()[0]
    assert np.abs(w - ref).max() < 1e-6
    np.testing.assert_array_equal(w == 0, ref == 0)


@pytest.mark.parametrize("kwargs, match", [
    ({"warmup_steps": -1}, "warmup_steps must be an int >= 0"),
    ({"warmup_steps": 2.5}, "warmup_steps must be an int >= 0"),
    ({"warmup_steps": True}, "warmup_steps must be an int >= 0"),
    ({"warmup_steps": 3, "target_sparsity": 0.5, "total_steps": 9}, "cannot be combined"),
])
def test_warmup_steps_is_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sfnn.Proximal(torch.optim.SGD(_layer().parameters(), lr=0.1), **kwargs)
