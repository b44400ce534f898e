"""Reliability items 13 (non-finite training stops, naming the step and the parameter) and
14 (shrunk networks reproduce the original's outputs; their state_dict round-trips)."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")

from sparsefit import nn as sfnn  # noqa: E402
from sparsefit.penalties import L1, GroupL1  # noqa: E402


def _net(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 1)).to(dtype)


def _diverge(opt, net, steps=200):
    x = torch.randn(64, 8) * 10
    y = x.sum(1, keepdim=True) * 10
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()


def test_sgd_at_lr_10_stops_with_an_error_naming_the_step_and_the_parameter():
    net = _net()
    sfnn.regularize(net[0], kernel=L1(1e-3))
    opt = sfnn.Proximal(torch.optim.SGD(net.parameters(), lr=10.0))
    with pytest.raises(FloatingPointError, match=r"step \d+: parameter param_groups\[0\]"
                                                 r"\['params'\]\[\d\] .*lr=10"):
        _diverge(opt, net)
    assert opt.n_steps < 200


def test_restore_puts_back_the_last_finite_state_and_warns():
    net = _net()
    sfnn.regularize(net[0], kernel=L1(1e-3))
    opt = sfnn.Proximal(torch.optim.SGD(net.parameters(), lr=10.0), on_nonfinite="restore")
    with pytest.warns(RuntimeWarning, match="restored"):
        _diverge(opt, net, steps=60)
    assert all(bool(torch.isfinite(p).all()) for p in net.parameters())


def test_a_non_finite_loss_in_a_closure_stops_at_that_step():
    net = _net()
    opt = sfnn.Proximal(torch.optim.SGD(net.parameters(), lr=0.1))

    def closure():
        opt.zero_grad()
        loss = net(torch.randn(4, 8)).sum() * float("nan")
        loss.backward()
        return loss

    with pytest.raises(FloatingPointError, match="step 1: the loss is not finite"):
        opt.step(closure)


def test_on_nonfinite_is_validated():
    with pytest.raises(ValueError, match="on_nonfinite"):
        sfnn.Proximal(torch.optim.SGD(_net().parameters(), lr=0.1), on_nonfinite="ignore")


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-6), (torch.float32, 1e-5)])
def test_shrunk_network_reproduces_outputs_and_round_trips(dtype, tol):
    net = _net(1, dtype)
    sfnn.regularize(net[0], kernel=GroupL1(0.05))
    opt = sfnn.Proximal(torch.optim.SGD(net.parameters(), lr=0.05))
    x = torch.randn(128, 8, dtype=dtype)
    y = x[:, :2].sum(1, keepdim=True)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        opt.step()
    small, report = sfnn.shrink(net, x[:8])
    assert small[0].out_features < 16
    with torch.no_grad():
        assert float((small(x) - net.eval()(x)).abs().max()) <= tol
    buf = io.BytesIO()
    torch.save(small.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    twin = type(small)(*[type(m)(m.in_features, m.out_features).to(dtype)
                         if isinstance(m, torch.nn.Linear) else type(m)() for m in small])
    twin.load_state_dict(state)
    with torch.no_grad():
        assert torch.equal(twin(x), small(x))
    assert report.max_abs_diff <= tol
