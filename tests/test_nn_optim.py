"""Proximal optimizers: the prox step matches its formula for every optimizer, layer and
penalty; exact zeros with the prox, never with the penalty in the loss."""

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsefit import nn as sfnn
from sparsefit.penalties import L1, L1L2, MCP, TV1D, GroupL1, SparseGroupL1, WeightedL1

# -- tables ---------------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "sgd_dampening": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.5, dampening=0.3),
    "adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
    "adam_amsgrad": lambda ps: torch.optim.Adam(ps, lr=0.01, amsgrad=True, eps=1e-6),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    "adamax": lambda ps: torch.optim.Adamax(ps, lr=0.01),
    "nadam": lambda ps: torch.optim.NAdam(ps, lr=0.01),
    "radam": lambda ps: torch.optim.RAdam(ps, lr=0.01),
    "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=0.01, momentum=0.5),
    "rmsprop_centered": lambda ps: torch.optim.RMSprop(ps, lr=0.01, centered=True),
    "adagrad": lambda ps: torch.optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
}


def make_layer(name):
    """(layer, input) for each layer type the attachments support."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if name == "linear":
        return torch.nn.Linear(6, 5), torch.randn(16, 6, generator=g)
    if name == "conv1d":
        return torch.nn.Conv1d(3, 4, 3), torch.randn(4, 3, 9, generator=g)
    if name == "conv2d":
        return torch.nn.Conv2d(3, 4, 3), torch.randn(2, 3, 6, 6, generator=g)
    if name == "conv3d":
        return torch.nn.Conv3d(2, 3, 2), torch.randn(2, 2, 4, 4, 4, generator=g)
    if name == "convtranspose2d":
        return torch.nn.ConvTranspose2d(3, 4, 2), torch.randn(2, 3, 4, 4, generator=g)
    if name == "embedding":
        # std 0.05, not 1: the bounded prox moves a weight at most ~lr per step with Adam
        emb = torch.nn.Embedding(10, 5)
        torch.nn.init.normal_(emb.weight, std=0.05)
        return emb, torch.randint(0, 10, (20,), generator=g)
    if name == "lstm":
        return torch.nn.LSTM(4, 3), torch.randn(5, 2, 4, generator=g)
    if name == "gru":
        return torch.nn.GRU(4, 3), torch.randn(5, 2, 4, generator=g)
    raise KeyError(name)


LAYERS = ["linear", "conv1d", "conv2d", "conv3d", "convtranspose2d", "embedding", "lstm", "gru"]


def output(layer, x):
    out = layer(x)
    return out[0] if isinstance(out, tuple) else out


def loss_fn(layer, x, target):
    return (output(layer, x) - target).pow(2).mean()


def expected_step(opt, group, p):
    """``(c, d)``: the optimizer's step per unit gradient at a fixed point is ``c / d``,
    written out from each optimizer's update rule (``d`` None for a scalar step)."""
    st, lr = opt.state[p], group["lr"]
    if isinstance(opt, torch.optim.SGD):
        b, damp = group["momentum"], group["dampening"]
        if b == 0:
            return lr, None
        if group["nesterov"]:   # g + b * buf, buf -> (1 - damp) g / (1 - b)
            return lr * (1 + b * (1 - damp) / (1 - b)), None
        return lr * (1 - damp) / (1 - b), None
    k = float(st.get("step", 0))
    if isinstance(opt, torch.optim.Adam | torch.optim.AdamW):
        v = st["max_exp_avg_sq"] if group["amsgrad"] else st["exp_avg_sq"]
        return lr, (v.double() / (1 - group["betas"][1] ** k)).sqrt() + group["eps"]
    if isinstance(opt, torch.optim.Adamax):
        return lr, st["exp_inf"].double()
    if isinstance(opt, torch.optim.NAdam):
        b1, b2 = group["betas"]
        mu = [b1 * (1 - 0.5 * 0.96 ** (j * group["momentum_decay"])) for j in (k, k + 1)]
        prod = float(st["mu_product"])
        c = lr * ((1 - mu[0]) / (1 - prod) + mu[1] / (1 - prod * mu[1]))
        return c, (st["exp_avg_sq"].double() / (1 - b2 ** k)).sqrt() + group["eps"]
    if isinstance(opt, torch.optim.RAdam):
        b2 = group["betas"][1]
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * k * b2 ** k / (1 - b2 ** k)
        if rho <= 5:
            return lr, None
        r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        return lr * r * math.sqrt(1 - b2 ** k), st["exp_avg_sq"].double().sqrt() + group["eps"]
    if isinstance(opt, torch.optim.RMSprop):
        v = st["square_avg"].double()
        if group["centered"]:
            v = v - st["grad_avg"].double() ** 2
        return lr / (1 - group["momentum"]), v.sqrt() + group["eps"]
    if isinstance(opt, torch.optim.Adagrad):
        clr = lr / (1 + (k - 1) * group["lr_decay"])
        return clr, st["sum"].double().sqrt() + group["eps"]
    raise TypeError(type(opt))


def reference_floor(pen, before):
    """The penalty's pull bounding the denominators (documented in sparsefit.nn.optim)."""
    if isinstance(pen, L1L2):
        return pen.l1 + 2 * pen.l2 * before.abs()
    if isinstance(pen, WeightedL1):
        return pen.alpha * torch.tensor(pen.weights.tolist(), dtype=before.dtype).reshape(
            before.shape)
    if isinstance(pen, GroupL1 | SparseGroupL1):  # default c_g = sqrt(|g|): alpha per coord
        tau = getattr(pen, "tau", 0.0)
        return torch.full_like(before, pen.alpha * tau + pen.alpha * (1 - tau))
    if isinstance(pen, L1):
        return torch.full_like(before, pen.l1)
    return torch.full_like(before, pen.strength)


def metric_group_prox(pen, v, t):
    """Independent reference: prox of a row-group penalty in the metric diag(1/t), by
    bisection on the norm of each row (float64, NumPy)."""
    v, t = v.double().numpy().reshape(v.shape[0], -1), t.double().numpy().reshape(v.shape[0], -1)
    tau = getattr(pen, "tau", 0.0)
    z = np.sign(v) * np.maximum(np.abs(v) - t * pen.alpha * tau, 0.0)
    out = np.zeros_like(z)
    for g in range(z.shape[0]):
        a = pen.alpha * (1 - tau) * math.sqrt(z.shape[1])
        if np.linalg.norm(z[g] / t[g]) <= a:
            continue
        lo, hi = 0.0, float(np.linalg.norm(z[g]))
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.sum(z[g] ** 2 / (mid + a * t[g]) ** 2) > 1:
                lo = mid
            else:
                hi = mid
        out[g] = z[g] * lo / (lo + a * t[g])
    return torch.from_numpy(out)


def expected_prox(pen, before, w_half, c, d):
    """The composite's result from the plain optimizer's step: denominators bounded below
    by the penalty's pull (the step on those coordinates rescaled by d / floor), then the
    prox in the metric of ``t = c / d``; TV1D takes the harmonic mean of t."""
    w64, b64 = w_half.double(), before.double()
    if d is None:
        return pen.prox(w64, float(c))
    fl = reference_floor(pen, b64)
    low = d < fl
    x = torch.where(low, b64 + (w64 - b64) * d / fl, w64)
    t = c / torch.maximum(d, fl)
    if pen.is_separable:
        return pen.prox(x, t)
    if isinstance(pen, GroupL1 | SparseGroupL1):
        return metric_group_prox(pen, x, t).reshape(x.shape)
    return pen.prox(x, 1.0 / float((1.0 / t).mean()))


def run_pair(layer_name, opt_name, pen, *, kernel="kernel", n_steps=3):
    """Train a regularized layer with Proximal next to an unregularized twin with the plain
    optimizer; after each step check the prox result against the formula, then resync."""
    layer, x = make_layer(layer_name)
    twin = copy.deepcopy(layer)
    sfnn.regularize(layer, **{kernel: pen})
    name = sfnn._attach._keras_names(layer, kernel)[0]
    target = torch.randn_like(output(layer, x))
    prox = sfnn.Proximal(OPTIMIZERS[opt_name](layer.parameters()))
    plain = OPTIMIZERS[opt_name](twin.parameters())
    n_zero = n_nonzero = 0
    for _ in range(n_steps):
        before = getattr(twin, name).detach().clone()
        for m, o in ((layer, prox), (twin, plain)):
            o.zero_grad()
            loss_fn(m, x, target).backward()
            o.step()
        w_half = getattr(twin, name).detach()
        c, d = expected_step(plain, plain.param_groups[0], getattr(twin, name))
        want = expected_prox(pen, before, w_half, c, d)
        got = getattr(layer, name).detach()
        torch.testing.assert_close(got.double(), want, rtol=2e-5, atol=1e-7)
        # the zero pattern is the prox's, exactly (up to a tie at the threshold)
        mismatch = int(((got == 0) != (want == 0)).sum())
        assert mismatch <= max(1, got.numel() // 200)
        n_zero += int((got == 0).sum())
        n_nonzero += int((got != 0).sum())
        with torch.no_grad():  # resync the twin: both continue from the proxed weights
            for a, b in zip(layer.parameters(), twin.parameters()):
                b.copy_(a)
    return n_zero, n_nonzero


# a strength that zeroes some weights, not all, within 3 steps
L1_STRENGTH = {"sgd": 0.3, "sgd_momentum": 0.05, "sgd_dampening": 0.2, "radam": 1.0}
# RAdam rectifies from its 6th step on (lr before): cover both
N_STEPS = {"radam": 8}


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("layer_name", LAYERS)
def test_l1_prox_step_matches_formula(layer_name, opt_name):
    n_zero, n_nonzero = run_pair(layer_name, opt_name, L1(L1_STRENGTH.get(opt_name, 0.02)),
                                 n_steps=N_STEPS.get(opt_name, 3))
    assert n_zero > 0, "a strong L1 prox should produce exact zeros within 3 steps"
    assert n_nonzero > 0


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "rmsprop_centered", "adagrad"])
@pytest.mark.parametrize("pen", [L1L2(0.05, 0.1), WeightedL1(0.05, weights=list(range(30))),
                                 GroupL1(0.1), SparseGroupL1(0.1, 0.5), MCP(0.05, 3.0)],
                         ids=["l1l2", "weighted_l1", "group_l1", "sparse_group_l1", "mcp"])
def test_penalty_prox_step_matches_formula(pen, opt_name):
    run_pair("linear", opt_name, pen)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_recurrent_and_group_by_in(opt_name):
    # recurrent weights, and input-feature groups (columns) through the transposed view
    run_pair("lstm", opt_name, L1(0.05), kernel="recurrent")
    layer, x = make_layer("linear")
    twin = copy.deepcopy(layer)
    pen = GroupL1(0.3)
    sfnn.regularize(layer, kernel=pen, group_by="in")
    prox = sfnn.Proximal(OPTIMIZERS[opt_name](layer.parameters()))
    plain = OPTIMIZERS[opt_name](twin.parameters())
    target = torch.randn(16, 5)
    before = twin.weight.detach().clone()
    for m, o in ((layer, prox), (twin, plain)):
        o.zero_grad()
        loss_fn(m, x, target).backward()
        o.step()
    c, d = expected_step(plain, plain.param_groups[0], twin.weight)
    want = expected_prox(pen, before.T, twin.weight.detach().T, c,
                         None if d is None else d.T).T
    torch.testing.assert_close(layer.weight.detach().double(), want, rtol=2e-5, atol=1e-7)


def test_hand_computed_sgd_l1_step():
    lin = torch.nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.05, -0.3, 0.1], [-0.08, 0.2, 1.0]]))
    sfnn.regularize(lin, kernel=L1(0.2))
    opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.5))
    lin.weight.grad = torch.tensor([[0.0, 0.0, 0.2], [0.0, 0.0, 0.0]])
    opt.step()
    # SGD: w - 0.5 g = [[0.05, -0.3, 0.0], [-0.08, 0.2, 1.0]]; threshold 0.5 * 0.2 = 0.1
    want = torch.tensor([[0.0, -0.2, 0.0], [0.0, 0.1, 0.9]])
    torch.testing.assert_close(lin.weight.detach(), want)
    assert int((lin.weight == 0).sum()) == 3


def test_hand_computed_adam_group_step():
    # Adam, one step, gradient g, eps = 0: v_hat = g**2, so d = |g| and Adam moves every
    # coordinate by lr * sign(g); the group lasso's prox is then taken in the metric
    # diag(|g| / lr): x_j = v_j rho / (rho + a t_j), t_j = lr / |g_j|, rho = ||x|| the root
    # of sum_j v_j**2 / (rho + a t_j)**2 = 1
    lin = torch.nn.Linear(2, 2, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 4.0], [0.3, 0.4]]))
    pen = GroupL1(1.0, weights=[1.0, 1.0])   # pull 1 / sqrt(2) per coordinate < |g|
    sfnn.regularize(lin, kernel=pen)
    opt = sfnn.Proximal(torch.optim.Adam(lin.parameters(), lr=0.1, eps=0.0))
    lin.weight.grad = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float64)
    opt.step()
    v = torch.tensor([[2.9, 3.9], [0.2, 0.3]], dtype=torch.float64)
    t = 0.1 / lin.weight.grad.abs()
    # row 1: ||v / t|| = ||(4, 12)|| > 1, kept; solve for rho by bisection
    lo, hi = 0.0, float(v[0].norm())
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float((v[0] ** 2 / (mid + t[0]) ** 2).sum()) > 1 else (lo, mid)
    row0 = v[0] * lo / (lo + t[0])
    torch.testing.assert_close(lin.weight.detach()[0], row0)
    # the optimality condition of the metric prox: (x - v) / t + x / ||x|| = 0
    x = lin.weight.detach()[0]
    torch.testing.assert_close((x - v[0]) / t[0] + x / x.norm(), torch.zeros(2,
                               dtype=torch.float64), atol=1e-12, rtol=0)
    # row 2: ||v / t|| = ||(0.2 / 0.05, 0.3 / 0.025)|| = 12.6 > 1 as well: shrunk, kept
    assert bool((lin.weight.detach() != 0).all())
    opt2 = sfnn.Proximal(torch.optim.Adam(lin.parameters(), lr=0.1), group_step="max")
    assert opt2.group_step == "max"


def test_adam_group_step_is_not_dominated_by_a_coordinate_without_gradient():
    # one input never gets a gradient (a constant-zero pixel): its Adam step is lr/eps;
    # the group's step must stay near the others' (harmonic mean), not explode
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 4)
    sfnn.regularize(lin, kernel=GroupL1(1e-6))
    opt = sfnn.Proximal(torch.optim.Adam(lin.parameters(), lr=1e-2))
    x = torch.randn(32, 3)
    x[:, 2] = 0.0
    for _ in range(10):
        opt.zero_grad()
        torch.nn.functional.mse_loss(lin(x), x[:, :1].repeat(1, 4)).backward()
        opt.step()
    assert sfnn.dead_units(lin) == (0, 0)  # (dead outputs, dead inputs other than x[:, 2])
    assert bool((lin.weight.abs().sum(1) > 0).all())


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_exact_zeros_with_prox_never_with_loss(opt_name):
    # a sparse linear target: 19-21 of the 30 weights are zero at the L1 solution
    results = {}
    for mode in ("prox", "loss"):
        layer, x = make_layer("linear")
        sfnn.regularize(layer, kernel=L1(0.05))
        g = torch.Generator().manual_seed(1)
        w_true = torch.randn(5, 6, generator=g) * (torch.rand(5, 6, generator=g) < 0.3)
        target = x @ w_true.T
        opt = sfnn.Proximal(OPTIMIZERS[opt_name](layer.parameters()), mode=mode)
        for _ in range(300 if opt_name == "radam" else 150):  # RAdam starts slowly
            opt.zero_grad()
            loss_fn(layer, x, target).backward()
            opt.step()
        results[mode] = int((layer.weight == 0).sum())
    assert results["prox"] >= 15
    assert results["loss"] == 0


def test_loss_mode_equals_penalty_in_the_loss():
    layer, x = make_layer("linear")
    pen = GroupL1(0.1)
    sfnn.regularize(layer, kernel=pen, bias=L1(0.01))
    twin = copy.deepcopy(layer)
    target = torch.randn(16, 5)
    opt = sfnn.Proximal(torch.optim.Adam(layer.parameters(), lr=0.01), mode="loss")
    plain = torch.optim.Adam(twin.parameters(), lr=0.01)
    for _ in range(5):
        opt.zero_grad()
        loss_fn(layer, x, target).backward()
        opt.step()
        plain.zero_grad()
        (loss_fn(twin, x, target) + sfnn.penalty(twin)).backward()
        plain.step()
    for a, b in zip(layer.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b)


def test_closure_is_passed_through():
    layer, x = make_layer("linear")
    sfnn.regularize(layer, kernel=L1(0.05))
    target = torch.randn(16, 5)
    for mode in ("prox", "loss"):
        opt = sfnn.Proximal(torch.optim.SGD(layer.parameters(), lr=0.1), mode=mode)

        def closure(opt=opt):
            opt.zero_grad()
            loss = loss_fn(layer, x, target)
            loss.backward()
            return loss
        loss = opt.step(closure)
        assert torch.is_tensor(loss) and loss.ndim == 0


def test_scheduler_and_param_groups():
    lin = torch.nn.Linear(4, 3)
    sfnn.regularize(lin, kernel=L1(1.0), bias=L1(1.0))
    inner = torch.optim.SGD([{"params": [lin.weight], "lr": 0.1},
                             {"params": [lin.bias], "lr": 0.01}], lr=0.5)
    opt = sfnn.Proximal(inner)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for lr_w, lr_b in ((0.1, 0.01), (0.05, 0.005)):
        with torch.no_grad():
            lin.weight.fill_(1.0)
            lin.bias.fill_(1.0)
        lin.weight.grad = torch.zeros_like(lin.weight)
        lin.bias.grad = torch.zeros_like(lin.bias)
        opt.step()
        # zero gradient: the step is the prox alone, threshold lr * 1.0 per group
        torch.testing.assert_close(lin.weight.detach(), torch.full((3, 4), 1.0 - lr_w))
        torch.testing.assert_close(lin.bias.detach(), torch.full((3,), 1.0 - lr_b))
        sched.step()
    assert inner.param_groups[0]["lr"] == pytest.approx(0.025)


def test_prox_skips_parameters_without_grad_and_other_optimizers():
    a = sfnn.regularize(torch.nn.Linear(3, 3), kernel=L1(10.0))
    b = sfnn.regularize(torch.nn.Linear(3, 3), kernel=L1(10.0))
    before_b = b.weight.detach().clone()
    opt = sfnn.Proximal(torch.optim.SGD(a.parameters(), lr=0.1))
    opt.step()  # no gradients yet: nothing moves
    assert (a.weight != 0).all()
    a.weight.grad = torch.zeros_like(a.weight)
    opt.step()
    assert (a.weight == 0).all()
    assert torch.equal(b.weight.detach(), before_b)  # not in this optimizer


def test_attachment_added_after_the_optimizer_and_removed():
    lin = torch.nn.Linear(3, 3)
    opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.1))
    lin.weight.grad = torch.zeros_like(lin.weight)
    opt.step()
    assert (lin.weight != 0).all()
    sfnn.regularize(lin, kernel=L1(100.0))
    opt.step()
    assert (lin.weight == 0).all()
    sfnn.unregularize(lin)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    opt.step()
    assert (lin.weight == 1.0).all()


def test_tv1d_and_include_bias_with_adam():
    lin = torch.nn.Linear(6, 4)
    sfnn.regularize(lin, kernel=GroupL1(0.5), group_by="out", include_bias=True)
    conv = sfnn.regularize(torch.nn.Conv1d(1, 2, 5), kernel=TV1D(0.5))
    opt = sfnn.Proximal(torch.optim.Adam([*lin.parameters(), *conv.parameters()], lr=0.05))
    x, xc = torch.randn(8, 6), torch.randn(3, 1, 12)
    for _ in range(30):
        opt.zero_grad()
        (lin(x).pow(2).mean() + conv(xc).pow(2).mean()).backward()
        opt.step()
    dead = (lin.weight == 0).all(dim=1)
    assert dead.any(), "a strong group lasso with Adam should remove whole units"
    assert (lin.bias[dead] == 0).all(), "the bias of a removed unit is removed with it"
    # TV fuses neighbouring taps of each filter exactly
    diffs = conv.weight[..., 1:] - conv.weight[..., :-1]
    assert int((diffs == 0).sum()) > 0


def test_state_dict_round_trip_of_the_wrapper():
    lin = sfnn.regularize(torch.nn.Linear(3, 2), kernel=L1(0.01))
    opt = sfnn.Proximal(torch.optim.Adam(lin.parameters(), lr=0.01))
    lin(torch.randn(4, 3)).sum().backward()
    opt.step()
    sd = opt.state_dict()
    plain = torch.optim.Adam(lin.parameters(), lr=0.01)
    plain.load_state_dict(sd)  # the wrapper's state dict is the wrapped optimizer's
    opt2 = sfnn.Proximal(torch.optim.Adam(lin.parameters(), lr=0.01))
    opt2.load_state_dict(sd)
    assert float(opt2.state[lin.weight]["step"]) == 1.0
    assert "Proximal(Adam" in repr(opt2)


# -- bad input --------------------------------------------------------------------------------

class _NoRule(torch.optim.Optimizer):
    def __init__(self, params):
        super().__init__(params, {"lr": 0.1})

    def step(self, closure=None):
        return None


@pytest.mark.parametrize("make, exc, match", [
    (lambda ps: torch.optim.LBFGS(ps), TypeError, "optimizer: cannot read a step size"),
    (lambda ps: _NoRule(ps), TypeError, "optimizer: cannot read a step size from _NoRule"),
    (lambda ps: torch.optim.SGD(ps, lr=float("nan")), ValueError, "lr must be finite"),
    (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=1.0), ValueError, "momentum must be < 1"),
    (lambda ps: torch.optim.SGD([{"params": ps, "penalty_scale": -1.0}], lr=0.1), ValueError,
     r"penalty_scale must be finite and >= 0, got -1.0 in param_groups\[0\]"),
    (lambda ps: torch.optim.Adam([{"params": ps, "lr": -1.0}], lr=0.1), ValueError,
     r"lr=-1.0 in param_groups\[0\]"),
    (lambda ps: torch.optim.SGD(ps, lr=0.1, maximize=True), ValueError, "maximize"),
    (lambda ps: "adam", TypeError, "optimizer must be a torch.optim.Optimizer"),
])
def test_bad_optimizers(make, exc, match):
    with pytest.raises(exc, match=match):
        sfnn.Proximal(make(list(torch.nn.Linear(2, 2).parameters())))


def test_bad_arguments_and_custom_rules():
    ps = list(torch.nn.Linear(2, 2).parameters())
    with pytest.raises(ValueError, match="mode"):
        sfnn.Proximal(torch.optim.SGD(ps, lr=0.1), mode="subgrad")
    with pytest.raises(ValueError, match="group_step"):
        sfnn.Proximal(torch.optim.SGD(ps, lr=0.1), group_step="median")
    with pytest.raises(TypeError, match="already a Proximal"):
        sfnn.Proximal(sfnn.Proximal(torch.optim.SGD(ps, lr=0.1)))
    opt = sfnn.Proximal(torch.optim.SGD(ps, lr=0.1))
    opt.param_groups[0]["lr"] = -0.5  # e.g. a broken scheduler
    with pytest.raises(ValueError, match="lr must be finite and >= 0"):
        opt.step()
    # an optimizer taught through step_size= or register_step_rule works
    lin = sfnn.regularize(torch.nn.Linear(2, 2), kernel=L1(1.0))
    custom = sfnn.Proximal(_NoRule(lin.parameters()), step_size=lambda g, p, s: 0.25)
    with torch.no_grad():
        lin.weight.fill_(0.2)
    lin.weight.grad = torch.zeros_like(lin.weight)
    custom.step()
    assert (lin.weight == 0).all()
    sfnn.register_step_rule(_NoRule, lambda g, p, s: g["lr"])
    try:
        assert sfnn.Proximal(_NoRule(lin.parameters())).optimizer is not None
    finally:
        sfnn.optim._RULES.pop(_NoRule)
    with pytest.raises(TypeError, match="optimizer_class"):
        sfnn.register_step_rule(object, lambda *a: 1.0)


def test_include_bias_requires_the_bias_in_the_optimizer():
    lin = sfnn.regularize(torch.nn.Linear(3, 2), kernel=GroupL1(0.1), group_by="out",
                          include_bias=True)
    opt = sfnn.Proximal(torch.optim.SGD([lin.weight], lr=0.1))
    lin.weight.grad = torch.zeros_like(lin.weight)
    with pytest.raises(ValueError, match="not in the optimizer"):
        opt.step()


def test_adam_threshold_is_not_lr_times_lambda():
    # the point of the per-coordinate step: Adam moves a weight by ~lr whatever the size of
    # its gradient, so its threshold is lr * lambda / (sqrt(v_hat) + eps), not lr * lambda
    lin = torch.nn.Linear(50, 1, bias=False)
    sfnn.regularize(lin, kernel=L1(0.05))
    opt = sfnn.Proximal(torch.optim.Adam(lin.parameters(), lr=1e-2))
    lin.weight.grad = torch.full_like(lin.weight, 0.1)   # above the pull 0.05: not bounded
    w0 = lin.weight.detach().clone()
    opt.step()
    # first step: Adam moves every weight by lr; threshold lr * 0.05 / 0.1 = 5e-3
    want = L1(0.05).prox(w0 - 1e-2, 1e-2 / 0.1)
    torch.testing.assert_close(lin.weight.detach(), want, rtol=1e-5, atol=1e-7)
    naive = L1(0.05).prox(w0 - 1e-2, 1e-2)  # threshold lr * lambda = 5e-4
    assert int((lin.weight == 0).sum()) > 3 * max(1, int((naive == 0).sum()))


def test_step_hooks_run_on_the_wrapper():
    lin = sfnn.regularize(torch.nn.Linear(2, 2), kernel=L1(0.1))
    opt = sfnn.Proximal(torch.optim.SGD(lin.parameters(), lr=0.1))
    seen = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: seen.append(("pre", o is opt)))
    h2 = opt.register_step_post_hook(lambda o, a, k: seen.append(("post", o is opt)))
    lin(torch.randn(3, 2)).sum().backward()
    opt.step()
    assert seen == [("pre", True), ("post", True)]
    h1.remove()
    h2.remove()
    opt.step()
    assert len(seen) == 2


def test_orthant_step_hand_computed():
    lin = torch.nn.Linear(4, 1, bias=False)
    grp = torch.nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.0, 0.05, -0.3, 0.2]]))
        grp.weight.copy_(torch.tensor([[0.1, 0.1, 0.1], [3.0, 0.0, 4.0]]))
    sfnn.regularize(lin, kernel=L1(0.1))
    sfnn.regularize(grp, kernel=GroupL1(1.0, weights=[1.0, 1.0]))
    opt = sfnn.Proximal(torch.optim.SGD([*lin.parameters(), *grp.parameters()], lr=1.0),
                        mode="orthant")
    lin.weight.grad = torch.tensor([[-0.5, 0.2, 0.0, -0.1]])
    grp.weight.grad = torch.zeros(2, 3)
    opt.step()
    # w - (g + 0.1 sign(w)) = [0.5, -0.25, -0.2, 0.2]: the zero stays zero, the sign flip
    # is projected to zero, the others keep their orthant
    torch.testing.assert_close(lin.weight.detach(), torch.tensor([[0.0, 0.0, -0.2, 0.2]]))
    # a group penalty is not of the L1 family: it keeps its prox (block soft-threshold)
    torch.testing.assert_close(grp.weight.detach(),
                               torch.tensor([[0.0, 0.0, 0.0], [2.4, 0.0, 3.2]]))
    opt.mode = "prox"
    with pytest.raises(ValueError, match="mode must be one of"):
        opt.mode = "obprox"


def test_orthant_phase_keeps_zeros_and_adds_some():
    layer, x = make_layer("linear")
    sfnn.regularize(layer, kernel=L1(0.02))
    g = torch.Generator().manual_seed(1)
    target = x @ (torch.randn(5, 6, generator=g) * (torch.rand(5, 6, generator=g) < 0.3)).T
    opt = sfnn.Proximal(torch.optim.Adam(layer.parameters(), lr=0.01))
    for i in range(60):
        if i == 30:
            opt.mode = "orthant"
            zeros_at_switch = layer.weight.detach() == 0
        opt.zero_grad()
        loss_fn(layer, x, target).backward()
        opt.step()
    zeros = layer.weight.detach() == 0
    assert bool(zeros[zeros_at_switch].all()), "zeros stay zero in the orthant phase"
    assert int(zeros.sum()) >= int(zeros_at_switch.sum())


# -- exact fixed points under every optimizer ------------------------------------------------
# Full-batch least squares, loss 1/(2n) ||y - Xw||^2 (the Quadratic datafit's scaling): each
# supported optimizer, wrapped, must converge to the solution of our own solver. Constant
# learning rates: on this problem every optimizer, Adam included, reaches its fixed point
# without a decaying schedule (the bounded denominators make centered RMSprop converge).

def _least_squares():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 20))
    w = np.zeros(20)
    w[:6] = [3.0, -2.0, 1.5, 1.0, -0.5, 0.8]
    return X, X @ w + 0.5 * rng.standard_normal(50)


FIXED_POINT_PENALTIES = {
    "l1": L1(0.2),
    "l1l2": L1L2(0.2, 0.1),
    "group_l1": GroupL1(0.3, groups=[4] * 5),
}
_O = torch.optim
# name -> (optimizer factory, steps); the steps are ~1.4x what reaches 1e-8 here
FIXED_POINT_ROWS = {
    "sgd": (lambda p: _O.SGD(p, lr=0.4), 250),
    "sgd_momentum": (lambda p: _O.SGD(p, lr=0.2, momentum=0.8), 250),
    "sgd_nesterov": (lambda p: _O.SGD(p, lr=0.2, momentum=0.8, nesterov=True), 200),
    "sgd_dampening": (lambda p: _O.SGD(p, lr=0.3, momentum=0.5, dampening=0.5), 250),
    "adam": (lambda p: _O.Adam(p, lr=0.05), 550),
    "adam_amsgrad": (lambda p: _O.Adam(p, lr=0.05, amsgrad=True), 550),
    "adamw": (lambda p: _O.AdamW(p, lr=0.05, weight_decay=0.0), 550),
    "adamax": (lambda p: _O.Adamax(p, lr=0.1), 600),
    "nadam": (lambda p: _O.NAdam(p, lr=0.05), 550),
    "radam": (lambda p: _O.RAdam(p, lr=0.2), 650),
    "rmsprop": (lambda p: _O.RMSprop(p, lr=0.06), 350),
    "rmsprop_momentum": (lambda p: _O.RMSprop(p, lr=0.02, momentum=0.5), 1800),
    "rmsprop_centered": (lambda p: _O.RMSprop(p, lr=0.06, centered=True), 350),
    "adagrad": (lambda p: _O.Adagrad(p, lr=1.0), 250),
}


def test_every_supported_optimizer_has_a_fixed_point_row():
    supported = {c for c in sfnn.step_rules() if c.__module__.startswith("torch.optim")}
    dummy = [torch.zeros(1, requires_grad=True)]
    covered = {type(make(dummy)) for make, _ in FIXED_POINT_ROWS.values()}
    assert supported <= covered, f"no fixed-point row for {supported - covered}"


@pytest.fixture(scope="module")
def least_squares_solutions():
    from sparsefit.datafits import Quadratic
    from sparsefit.solvers import solve

    X, y = _least_squares()
    return X, y, {k: solve(X, y, Quadratic(), p, tol=1e-12).coef
                  for k, p in FIXED_POINT_PENALTIES.items()}


@pytest.mark.parametrize("pen_name", FIXED_POINT_PENALTIES)
@pytest.mark.parametrize("opt_name", FIXED_POINT_ROWS)
def test_fixed_point_is_the_exact_solution(opt_name, pen_name, least_squares_solutions):
    X, y, refs = least_squares_solutions
    ref = refs[pen_name]
    make, steps = FIXED_POINT_ROWS[opt_name]
    Xt, yt = torch.tensor(X), torch.tensor(y)
    lin = torch.nn.Linear(20, 1, bias=False).double()
    torch.nn.init.zeros_(lin.weight)
    sfnn.regularize(lin, kernel=FIXED_POINT_PENALTIES[pen_name])
    opt = sfnn.Proximal(make(lin.parameters()))
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (yt - Xt @ lin.weight[0]).pow(2).mean()).backward()
        opt.step()
    w = lin.weight.detach().numpy()[0]
    assert np.abs(w - ref).max() < 1e-6, (opt_name, pen_name, np.abs(w - ref).max())
    np.testing.assert_array_equal(w == 0, ref == 0)   # the exact zeros of the solution
    assert 0 < np.count_nonzero(ref) < 20
