"""Proximal(target_sparsity=...): the wrapper adapts the strength so that training ends at
the sparsity asked for, as accurate as the best fixed strength giving that sparsity."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsefit import nn as sfnn
from sparsefit.penalties import L1, TV1D, GroupL1

STEPS = 400


def _data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(1400, 20, generator=g)
    y = ((X[:, 0] - X[:, 1] + 0.5 * X[:, 2] * X[:, 3]) > 0).long()
    return X[:400], y[:400], X[400:], y[400:]


def _train(lam, target=None, seed=0, penalty=L1):
    X, y, Xv, yv = _data()
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    sfnn.regularize_model(net, penalty(lam))
    kw = {"target_sparsity": target, "total_steps": STEPS} if target else {}
    opt = sfnn.Proximal(torch.optim.Adam(net.parameters(), lr=1e-2), **kw)
    gen = torch.Generator().manual_seed(seed)
    for k in range(STEPS):
        if k % 8 == 0:
            perm = torch.randperm(400, generator=gen)
        idx = perm[(k % 8) * 50:(k % 8 + 1) * 50]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X[idx]), y[idx]).backward()
        opt.step()
    with torch.no_grad():
        acc = float((net(Xv).argmax(1) == yv).float().mean())
    return opt.sparsity(), acc, opt


SEEDS = (0, 1, 2)
GRID = (2e-3, 4e-3, 7e-3, 1.2e-2, 2e-2)


@pytest.fixture(scope="module")
def fixed_strengths():
    """Mean sparsity and accuracy over the seeds for a grid of fixed strengths."""
    rows = []
    for lam in GRID:
        runs = [_train(lam, seed=s)[:2] for s in SEEDS]
        rows.append((lam, np.mean([r[0] for r in runs]), np.mean([r[1] for r in runs])))
    return rows


@pytest.mark.parametrize("target", [0.8, 0.9])
def test_target_sparsity_is_reached_as_accurate_as_a_fixed_strength(target,
                                                                     fixed_strengths):
    runs = [_train(1e-3, target, seed=s) for s in SEEDS]
    for sparsity, _, opt in runs:
        assert abs(sparsity - target) <= 0.02, sparsity
        control = opt.sparsity_control()
        assert control["target"] == target and control["factor"] > 1.0
        # reached during the orthant phase, then the zeros were held with the penalty off
        assert STEPS // 2 < control["frozen_at"] <= STEPS
        assert opt.param_groups[0]["penalty_scale"] == 0.0 and opt.mode == "prox"
    acc = np.mean([r[1] for r in runs])
    # the best fixed strength at that sparsity: the accuracy along the grid, interpolated
    sp = np.array([r[1] for r in fixed_strengths])
    ac = np.array([r[2] for r in fixed_strengths])
    assert sp.min() < target < sp.max()
    order = np.argsort(sp)
    reference = float(np.interp(target, sp[order], ac[order]))
    assert acc >= reference - 0.01, (acc, reference, fixed_strengths)


def test_the_factor_travels_with_the_state_dict_and_is_validated():
    sparsity, _, opt = _train(1e-3, 0.7)
    sd = opt.state_dict()
    assert sd["proximal"]["log_factor"] == pytest.approx(
        math.log(opt.sparsity_control()["factor"]))
    assert sd["proximal"]["frozen_at"] == opt.sparsity_control()["frozen_at"] is not None
    assert sd["param_groups"][0]["penalty_scale"] == 0.0   # the zeros are held
    lin = torch.nn.Linear(20, 32)
    again = sfnn.Proximal(torch.optim.Adam(lin.parameters(), lr=1e-2), target_sparsity=0.7,
                          total_steps=STEPS)
    inner = {k: v for k, v in sd.items()}
    # a wrapper of the same shape: load the controller's state (the param groups match)
    net2 = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt2 = sfnn.Proximal(torch.optim.Adam(net2.parameters(), lr=1e-2), target_sparsity=0.7,
                         total_steps=STEPS)
    opt2.load_state_dict(inner)
    assert opt2.n_steps == STEPS
    assert opt2.sparsity_control()["factor"] == pytest.approx(opt.sparsity_control()["factor"])
    assert opt2.sparsity_control()["frozen_at"] == opt.sparsity_control()["frozen_at"]
    assert again.sparsity_control()["factor"] == 1.0
    # a plain optimizer loads it too
    torch.optim.Adam(net2.parameters(), lr=1e-2).load_state_dict(sd)


def test_phases_start_low_then_orthant_then_held_zeros():
    """The factor starts at START times the attached strengths, orthant steps come after
    half of the steps, and once the target is reached the zeros stay zeros, also after
    the state dict is loaded into a new wrapper that trains on."""
    X, y, _, _ = _data()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    sfnn.regularize_model(net, L1(1e-3))
    opt = sfnn.Proximal(torch.optim.Adam(net.parameters(), lr=1e-2), target_sparsity=0.8,
                        total_steps=STEPS)
    modes = []
    for k in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X[:64]), y[:64]).backward()
        opt.step()
        modes.append(opt.mode)
        if k == 0:   # the first step proxed at START, then the ramp moved the factor
            c = opt._control
            s1 = opt.sparsity_control()["sparsity"]
            aim = c.RAMP_AIM * 0.8
            assert opt.param_groups[0]["penalty_scale"] == pytest.approx(
                c.START * math.exp(c.gain * (aim - s1) / aim), rel=1e-9)
    frozen = opt.sparsity_control()["frozen_at"]
    assert frozen is not None
    assert set(modes[:STEPS // 2]) == {"prox"} and modes[STEPS // 2] == "orthant"
    assert modes[-1] == "prox"
    zeros = [(m.weight == 0).clone() for m in net if isinstance(m, torch.nn.Linear)]
    again = sfnn.Proximal(torch.optim.Adam(net.parameters(), lr=1e-2), target_sparsity=0.8,
                          total_steps=STEPS)
    again.load_state_dict(opt.state_dict())
    for _ in range(20):
        again.zero_grad()
        torch.nn.functional.cross_entropy(net(X[64:128]), y[64:128]).backward()
        again.step()
    for z, m in zip(zeros, [m for m in net if isinstance(m, torch.nn.Linear)]):
        assert bool((m.weight[z] == 0).all())


def test_group_lasso_target():
    sparsity, _, _ = _train(1e-3, 0.6, penalty=lambda lam: GroupL1(lam))
    assert abs(sparsity - 0.6) <= 0.05   # whole rows at a time: coarser steps


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"target_sparsity": 1.0, "total_steps": 10}, ValueError, "fraction in"),
    ({"target_sparsity": 0.0, "total_steps": 10}, ValueError, "fraction in"),
    ({"target_sparsity": True, "total_steps": 10}, ValueError, "fraction in"),
    ({"target_sparsity": 0.5}, ValueError, "total_steps must be a positive int"),
    ({"target_sparsity": 0.5, "total_steps": 0}, ValueError, "total_steps must be"),
    ({"total_steps": 10}, ValueError, "only used with target_sparsity"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sfnn.Proximal(torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1), **kwargs)


def test_an_unsupported_penalty_is_named():
    conv = sfnn.regularize(torch.nn.Conv1d(1, 1, 5), kernel=TV1D(0.1))
    opt = sfnn.Proximal(torch.optim.SGD(conv.parameters(), lr=0.1), target_sparsity=0.5,
                        total_steps=4)
    x = torch.randn(2, 1, 9)
    with pytest.raises(ValueError, match="target_sparsity supports .* not TV1D"):
        for _ in range(4):
            opt.zero_grad()
            conv(x).sum().backward()
            opt.step()
