"""Shared checks for every penalty: one table, every entry runs every check.

References are independent of the code under test: scipy's minimizers and a 1-D grid for
the prox, scipy's bounded least squares for the TV prox, closed-form zero thresholds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numba import njit
from scipy.optimize import lsq_linear, minimize, minimize_scalar

from sparsefit import penalties
from sparsefit.penalties import (
    L1,
    L1L2,
    L2,
    MCP,
    SCAD,
    TV1D,
    Box,
    GroupL1,
    GroupL1L2,
    LogSum,
    Scaled,
    SparseGroupL1,
    WeightedL1,
)
from sparsefit.penalties import _interface as pi
from sparsefit.penalties.tv import tv1d_prox

torch = pytest.importorskip("torch")


def _halves(n):
    """Two contiguous groups (one if n == 1)."""
    h = (n + 1) // 2
    return [h, n - h] if n > 1 else [1]


def _scattered(n):
    """Index-array groups: even and odd coordinates."""
    return [list(range(0, n, 2))] + ([list(range(1, n, 2))] if n > 1 else [])


# name -> factory(n) building the penalty for a vector of length n
PENALTIES = {
    "L1": lambda n: L1(0.7),
    "L2": lambda n: L2(0.4),
    "L1L2": lambda n: L1L2(0.6, 0.3),
    "WeightedL1": lambda n: WeightedL1(0.8, np.linspace(0.0, 2.0, n)),
    "MCP": lambda n: MCP(0.9, 3.0),
    "MCP_lowgamma": lambda n: MCP(0.9, 1.2),
    "SCAD": lambda n: SCAD(0.8, 3.7),
    "SCAD_lowa": lambda n: SCAD(0.8, 2.2),
    "GroupL1": lambda n: GroupL1(0.7, _halves(n)),
    "GroupL1_scattered": lambda n: GroupL1(0.5, _scattered(n), weights=np.arange(
        1.0, len(_scattered(n)) + 1)),
    "GroupL1_rows": lambda n: GroupL1(0.6),
    "SparseGroupL1": lambda n: SparseGroupL1(0.8, 0.4, _halves(n)),
    "GroupL1L2": lambda n: GroupL1L2(0.9, 0.6, _halves(n), weights=[1.0, 1.5][:len(_halves(n))]),
    "GroupL1L2_rows": lambda n: GroupL1L2(0.7, 0.3),
    "LogSum": lambda n: LogSum(0.9, 0.5),
    "LogSum_wide": lambda n: LogSum(0.6, 3.0),
    "Box_L1L2": lambda n: Box(L1L2(0.6, 0.3), lower=-0.5, upper=np.linspace(0.0, 2.0, n)),
    "Box_positive_L1": lambda n: Box(L1(0.7), 0.0, np.inf),
    "Box_negative_MCP": lambda n: Box(MCP(0.9, 3.0), -np.inf, 0.0),
    "Box_positive_GroupL1": lambda n: Box(GroupL1(0.7, _halves(n)), 0.0, np.inf),
    "Scaled_L1L2": lambda n: Scaled(L1L2(0.6, 0.3), np.linspace(0.0, 2.0, n)),
    "Scaled_MCP": lambda n: Scaled(MCP(0.9, 3.0), np.linspace(0.5, 1.5, n)),
    "Scaled_GroupL1": lambda n: Scaled(GroupL1(0.7, _halves(n)), [0.0, 1.5][:len(_halves(n))]),
    "Scaled_SparseGroupL1": lambda n: Scaled(SparseGroupL1(0.8, 0.4, _halves(n)),
                                             [1.2, 0.5][:len(_halves(n))]),
    "TV1D": lambda n: TV1D(0.6),
    "Box_TV1D": lambda n: Box(TV1D(0.6), -0.5, 1.0),
}
SEPARABLE = [k for k in PENALTIES if PENALTIES[k](3).is_separable]


def test_the_table_covers_every_registered_penalty():
    # the registry lists every class of sparsefit.penalties: a new class without a row here
    # fails (and so runs every check below once it has one)
    covered = {type(make(4)).__name__ for make in PENALTIES.values()}
    missing = set(penalties.registry()) - covered - {"Penalty"}
    assert not missing, f"add rows for {sorted(missing)} to PENALTIES"


def _constrained_value(pen, z):
    """``pen(z)``, infinite outside a Box (the brute-force references need the indicator)."""
    if isinstance(pen, Box):
        lo = np.broadcast_to(pen.lower, z.shape) if pen.lower.size > 1 else pen.lower[0]
        hi = np.broadcast_to(pen.upper, z.shape) if pen.upper.size > 1 else pen.upper[0]
        if np.any(z < lo) or np.any(z > hi):
            return np.inf
    return pen.value(z)

# no subnormals: scaling one by a factor < 1 underflows to an exact zero nobody asked for
vectors = arrays(np.float64, st.integers(1, 6),
                 elements=st.floats(-4, 4, width=64, allow_subnormal=False))
steps = st.floats(0.05, 3.0)
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _objective(pen, v, step):
    return lambda z: 0.5 * float(np.sum((z - v) ** 2)) + step * _constrained_value(pen, z)


def _brute_force_prox(pen, v, step):
    """Minimize 0.5||z - v||^2 + step*pen(z) without using the code under test's prox."""
    f = _objective(pen, v, step)
    if pen.is_separable:
        # one coordinate at a time: a fine grid, then a bounded refinement around the best
        out = np.empty_like(v)
        for j in range(v.size):
            def fj(t, j=j):
                z = np.zeros_like(v)
                z[j] = t
                # separable: other coordinates contribute a constant (their value at 0)
                return 0.5 * (t - v[j]) ** 2 + step * _constrained_value(pen, z)

            lo, hi = -abs(v[j]) - 1.0, abs(v[j]) + 1.0
            grid = np.linspace(lo, hi, 601)
            vals = np.array([fj(t) for t in grid])
            best = grid[np.argmin(vals)]
            h = grid[1] - grid[0]
            res = minimize_scalar(fj, bounds=(best - h, best + h), method="bounded",
                                  options={"xatol": 1e-12})
            cands = [best, res.x, 0.0, v[j]]
            out[j] = min(cands, key=fj)
        return out
    if isinstance(pen, TV1D):
        return _tv_dual_reference(v, step * pen.alpha)
    starts = [v, np.zeros_like(v), np.full_like(v, v.mean())]
    bounds = None
    if isinstance(pen, Box):  # Powell within the box, on the penalty without the indicator
        lo = np.broadcast_to(pen.lower, v.shape) if pen.lower.size > 1 else np.full(
            v.shape, pen.lower[0])
        hi = np.broadcast_to(pen.upper, v.shape) if pen.upper.size > 1 else np.full(
            v.shape, pen.upper[0])
        bounds = list(zip(lo, hi))
        starts = [np.clip(x, lo, hi) for x in starts]
        inner = pen.penalty

        def f(z):
            return 0.5 * float(np.sum((z - v) ** 2)) + step * inner.value(z)
    best = min(starts, key=f)
    for x0 in starts:
        try:
            res = minimize(f, x0, method="Powell", bounds=bounds,
                           options={"xtol": 1e-10, "ftol": 1e-14, "maxiter": 20000})
        except ValueError:  # (scipy's bounded Powell can fail on a start at a bound:
            continue        # "zero-size array to reduction", v=[0, 2] in Box(TV1D))
        if res.fun < f(best):
            best = res.x
    return best


@pytest.mark.parametrize("name", PENALTIES)
@SETTINGS
@given(v=vectors, step=steps)
def test_prox_minimizes_the_prox_objective(name, v, step):
    pen = PENALTIES[name](v.size)
    z = pen.prox(v, step)
    f = _objective(pen, v, step)
    ref = _brute_force_prox(pen, v, step)
    assert f(z) <= f(ref) + 1e-9 * (1.0 + abs(f(ref)))
    if pen.is_convex and (pen.is_separable or isinstance(pen, TV1D)):
        # exact references: the prox is unique, so the two must coincide. For the group
        # penalties the Powell reference is only an upper bound on the minimum; there the
        # optimality certificate of the next test proves z is the minimizer.
        assert np.linalg.norm(z - ref) <= 1e-3 * (1.0 + np.linalg.norm(v))


@pytest.mark.parametrize("name", PENALTIES)
@SETTINGS
@given(v=vectors, step=steps)
def test_subdiff_distance_is_zero_at_the_prox(name, v, step):
    pen = PENALTIES[name](v.size)
    z = pen.prox(v, step)
    # optimality of z: 0 in (z - v)/step + subdifferential of pen at z
    dist = np.asarray(pen.subdiff_distance(z, (z - v) / step))
    assert np.linalg.norm(dist) <= 1e-8 * (1.0 + np.abs(v).max() / step)
    # and the check can fail: away from the prox point the violation is positive
    if pen.is_convex and np.linalg.norm(z - v) > 1e-3:
        # (at an active bound of a Box only the push that can move z counts: try both)
        g0 = (z - v) / step
        far = max(np.linalg.norm(np.asarray(pen.subdiff_distance(z, g0 + shift)))
                  for shift in (10.0 + 2 * np.abs(g0).max(), -10.0 - 2 * np.abs(g0).max()))
        assert far > 1e-6


ZERO_RULES = {
    # name -> (penalty, predicate(v, step) telling where the prox must be exactly zero)
    "L1": (L1(0.7), lambda v, s: np.abs(v) <= s * 0.7),
    "L1L2": (L1L2(0.6, 0.3), lambda v, s: np.abs(v) <= s * 0.6),
    "WeightedL1": (WeightedL1(0.8, [0.0, 0.5, 1.0, 2.0]),
                   lambda v, s: np.abs(v) <= s * 0.8 * np.array([0.0, 0.5, 1.0, 2.0])),
    "MCP": (MCP(0.9, 3.0), lambda v, s: np.abs(v) <= s * 0.9),
    "SCAD": (SCAD(0.8, 3.7), lambda v, s: np.abs(v) <= s * 0.8),
    "GroupL1": (GroupL1(0.7, [2, 2]), lambda v, s: np.repeat(
        [np.linalg.norm(v[:2]) <= s * 0.7 * np.sqrt(2),
         np.linalg.norm(v[2:]) <= s * 0.7 * np.sqrt(2)], 2)),
}


@pytest.mark.parametrize("name", ZERO_RULES)
@settings(max_examples=100, deadline=None)
@given(v=arrays(np.float64, 4, elements=st.floats(-3, 3, width=64, allow_subnormal=False)),
       step=st.floats(0.05, 2.0))
def test_exact_zeros_exactly_where_theory_puts_them(name, v, step):
    pen, rule = ZERO_RULES[name]
    if name in ("MCP", "SCAD"):
        step = min(step, 1.0)  # the convex regime of the prox, where the rule holds
    z = pen.prox(v, step)
    expected = rule(v, step) | (v == 0)  # a zero input stays zero in a surviving group
    np.testing.assert_array_equal(z == 0, expected)


@pytest.mark.parametrize("name", PENALTIES)
@SETTINGS
@given(v=vectors, step=steps)
def test_numpy_and_torch_agree(name, v, step):
    pen = PENALTIES[name](v.size)
    t = torch.tensor(v)
    zn, zt = pen.prox(v, step), pen.prox(t, step)
    assert isinstance(zt, torch.Tensor) and zt.dtype == t.dtype
    np.testing.assert_allclose(zt.numpy(), zn, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(float(pen.value(t)), pen.value(v), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pen.subgradient(t).numpy(), pen.subgradient(v), atol=1e-12)
    g = v[::-1].copy()
    np.testing.assert_allclose(np.asarray(pen.subdiff_distance(t, torch.tensor(g))),
                               np.asarray(pen.subdiff_distance(v, g)), atol=1e-9)


def test_torch_value_is_differentiable_and_finite_at_zero():
    for name, make in PENALTIES.items():
        w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
        pen = make(4)
        pen.value(w).backward()
        assert torch.isfinite(w.grad).all(), name


@njit
def _compiled_separable(spec, v, g, step):
    n = v.shape[0]
    prox, value, dist, lo, hi = (np.empty(n), np.empty(n), np.empty(n), np.empty(n),
                                 np.empty(n))
    for j in range(n):
        prox[j] = pi.prox1(spec, v[j], step, j)
        value[j] = pi.value1(spec, v[j], j)
        dist[j] = pi.subdiff1(spec, v[j], g[j], j)
        lo[j], hi[j] = pi.subgrad1(spec, v[j], j)
    return prox, value, dist, lo, hi


@njit
def _compiled_block(spec, xg, gg, step, g):
    out = np.empty(xg.shape[0])
    pi.block_prox(spec, xg, step, g, out)
    return out, pi.block_value(spec, xg, g), pi.block_subdiff(spec, xg, gg, g)


@pytest.mark.parametrize("name", PENALTIES)
@SETTINGS
@given(v=vectors, step=steps)
def test_compiled_kernels_match_the_vectorized_penalty(name, v, step):
    # what the solvers call (sparsefit.penalties._interface) against the penalty object
    pen = PENALTIES[name](v.size)
    if isinstance(pen, TV1D):
        np.testing.assert_allclose(tv1d_prox(v, step * pen.alpha), pen.prox(v, step))
        return
    if isinstance(pen, Box) and isinstance(pen.penalty, TV1D):  # FISTA only: no kernels
        np.testing.assert_allclose(np.clip(tv1d_prox(v, step * pen.penalty.alpha), -0.5, 1.0),
                                   pen.prox(v, step))
        return
    g = np.sin(np.arange(v.size) + 1.0)
    if pen.is_separable:
        z, vals, d, lo, hi = _compiled_separable(pen.numba_spec(), v, g, step)
        np.testing.assert_allclose(z, pen.prox(v, step), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(vals.sum(), pen.value(v), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(d, pen.subdiff_distance(v, g), atol=1e-12)
        # the subgradient autograd follows lies in the compiled subdifferential interval
        sub = np.asarray(pen.subgradient(v))
        assert np.all(lo - 1e-12 <= sub) and np.all(sub <= hi + 1e-12)
        return
    if getattr(pen, "groups", 0) is None:
        pen = type(pen)(**{**pen.get_config(), "groups": [v.size]})
    spec = pen.numba_spec()
    z = pen.prox(v, step)
    dist = pen.subdiff_distance(v, g)
    total = 0.0
    for k in range(spec.grp_ptr.size - 1):
        idx = spec.grp_idx[spec.grp_ptr[k]:spec.grp_ptr[k + 1]]
        zk, val, dk = _compiled_block(spec, v[idx], g[idx], step, k)
        np.testing.assert_allclose(zk, z[idx], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dk, dist[k], atol=1e-12)
        total += val
    np.testing.assert_allclose(total, pen.value(v), rtol=1e-12)


@pytest.mark.parametrize("name", SEPARABLE)
def test_per_coordinate_step_equals_coordinatewise_prox(name):
    rng = np.random.default_rng(0)
    v = rng.normal(size=5) * 2
    steps_ = rng.uniform(0.1, 2.0, size=5)
    pen = PENALTIES[name](5)
    z = pen.prox(v, steps_)
    for j in range(5):
        np.testing.assert_allclose(z[j], pen.prox(v, steps_[j])[j], rtol=1e-12)
    zt = pen.prox(torch.tensor(v), torch.tensor(steps_))
    np.testing.assert_allclose(zt.numpy(), z, rtol=1e-12)


@pytest.mark.parametrize("name", PENALTIES)
def test_inputs_are_not_modified_and_step_zero_is_identity(name):
    v = np.array([1.5, -0.2, 0.0, 3.0, -2.5])
    keep = v.copy()
    pen = PENALTIES[name](5)
    z = pen.prox(v, 0.0)
    np.testing.assert_array_equal(z, v)
    pen.prox(v, 1.0)
    pen.subdiff_distance(v, v)
    np.testing.assert_array_equal(v, keep)
    t = torch.tensor(keep)
    pen.prox(t, 1.0)
    np.testing.assert_array_equal(t.numpy(), keep)


@pytest.mark.parametrize("name", [k for k in PENALTIES if k not in ("L2",)])
def test_alpha_max_is_the_smallest_strength_giving_zero(name):
    rng = np.random.default_rng(1)
    g = rng.normal(size=6)
    if "TV1D" in name:
        g -= g.mean()  # zero is reachable only when the gradient sums to zero
    pen = PENALTIES[name](6)
    if name == "WeightedL1":
        pen = WeightedL1(0.8, np.linspace(0.5, 2.0, 6))  # no unpenalized coordinate
    if isinstance(pen, Scaled):  # no unpenalized unit either (its alpha_max is inf)
        pen = Scaled(pen.penalty, np.maximum(pen.factors, 0.5))
    amax = pen.alpha_max(g)
    assert 0 < amax < np.inf
    at = pen.with_strength(amax)
    below = pen.with_strength(amax * 0.99)
    zero = np.zeros(6)
    assert np.linalg.norm(np.asarray(at.subdiff_distance(zero, g))) <= 1e-9
    assert np.linalg.norm(np.asarray(below.subdiff_distance(zero, g))) > 1e-6


def test_alpha_max_l2_and_tv_edge_cases():
    assert L2(1.0).alpha_max(np.zeros(3)) == 0.0
    assert L2(1.0).alpha_max(np.ones(3)) == np.inf
    assert TV1D(1.0).alpha_max(np.ones(3)) == np.inf
    np.testing.assert_allclose(TV1D(1.0).alpha_max([1.0, -3.0, 2.0]), 2.0)


def _tv_dual_reference(v, lam):
    """prox of lam*||Dx||_1 at v: v - D^T u*, u* = argmin ||v - D^T u|| over |u| <= lam."""
    n = v.size
    if lam == 0 or n == 1:
        return v.copy()
    dt = np.zeros((n, n - 1))
    dt[np.arange(n - 1), np.arange(n - 1)] = -1.0
    dt[np.arange(1, n), np.arange(n - 1)] = 1.0
    u = lsq_linear(dt, v, bounds=(-lam, lam), method="bvls", tol=1e-14).x
    return v - dt @ u


@settings(max_examples=60, deadline=None)
@given(v=arrays(np.float64, st.integers(2, 30), elements=st.floats(-5, 5, width=64)),
       lam=st.floats(0.0, 3.0))
def test_tv1d_prox_matches_the_dual_bounded_least_squares(v, lam):
    z, ref = TV1D(lam).prox(v, 1.0), _tv_dual_reference(v, lam)
    f = _objective(TV1D(lam), v, 1.0)
    # the exact prox is at least as good as the iterative reference, and close to it
    # (bvls stops at ~1e-7 when lam is that small)
    assert f(z) <= f(ref) + 1e-12
    np.testing.assert_allclose(z, ref, atol=1e-6)


def test_tv1d_rows_and_piecewise_constant():
    v = np.array([[0.0, 0.1, 5.0, 5.1], [1.0, 1.0, 1.0, 1.0]])
    z = TV1D(0.5).prox(v, 1.0)
    np.testing.assert_array_equal(z[1], v[1])
    assert z[0, 0] == z[0, 1] and z[0, 2] == z[0, 3]
    # each segment moves by lam / (its length) towards the other: 0.05 + 0.25, 5.05 - 0.25
    np.testing.assert_allclose(z[0], [0.3, 0.3, 4.8, 4.8])


# -- Keras semantics, identifiers, configs ----------------------------------------------

def test_keras_l1_value_of_a_dense_kernel_is_exactly_006():
    assert L1(0.01)(np.ones((3, 2))) == 0.06
    assert float(L1(0.01)(torch.ones(3, 2, dtype=torch.float64))) == 0.06


@pytest.mark.parametrize("identifier, expected", [
    ("l1", L1(0.01)),
    ("l2", L2(0.01)),
    ("l1_l2", L1L2(0.01, 0.01)),
    ("L1L2", L1L2(0.0, 0.0)),
    ("elastic_net", L1L2(0.01, 0.01)),
    ("group_lasso", GroupL1(0.01)),
    ("sparse_group_lasso", SparseGroupL1(0.01, 0.5)),
    ("mcp", MCP(0.01)),
    ("scad", SCAD(0.01)),
    ("fused_lasso", TV1D(0.01)),
    ({"class_name": "L1", "config": {"l1": 0.5}}, L1(0.5)),
    ({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}, L1L2(0.1, 0.2)),
    ({"class_name": "keras.regularizers.L2", "config": {"l2": 0.3}}, L2(0.3)),
    (None, None),
])
def test_identifier_table(identifier, expected):
    assert penalties.get(identifier) == expected


def test_get_returns_instances_as_is_and_l1l2_defaults_like_keras():
    p = L1(0.2)
    assert penalties.get(p) is p
    assert L1L2().get_config() == {"l1": 0.0, "l2": 0.0}


@pytest.mark.parametrize("name", PENALTIES)
def test_config_round_trip(name):
    pen = PENALTIES[name](5)
    config = pen.get_config()
    json.dumps(config)  # plain Python types only
    assert type(pen).from_config(config) == pen
    assert penalties.get(penalties.serialize(pen)) == pen
    back = type(pen).from_config(json.loads(json.dumps(config)))
    v = np.linspace(-2, 2, 5)
    np.testing.assert_array_equal(back.prox(v, 0.7), pen.prox(v, 0.7))


def test_strengths_stay_python_floats():
    config = L1(0.01).get_config()
    assert config["l1"] == 0.01 and type(config["l1"]) is float
    assert type(L1(np.float32(0.5)).l1) is float


BAD = [
    (lambda: L1(-1.0), "l1"),
    (lambda: L1(float("nan")), "l1"),
    (lambda: L2(float("inf")), "l2"),
    (lambda: L1L2(0.1, -0.1), "l2"),
    (lambda: L1("big"), "l1"),
    (lambda: WeightedL1(1.0, [1.0, -1.0]), "weights"),
    (lambda: WeightedL1(1.0, [1.0, np.nan]), "weights"),
    (lambda: GroupL1(-0.1, [2]), "alpha"),
    (lambda: GroupL1(1.0, [[0, 1], [1, 2]]), "groups"),
    (lambda: GroupL1(1.0, [[0, 1], [3]]), "groups"),
    (lambda: GroupL1(1.0, [2, 0]), "groups"),
    (lambda: GroupL1(1.0, [[0], [-1]]), "groups"),
    (lambda: GroupL1(1.0, []), "groups"),
    (lambda: GroupL1(1.0, [2, 2], weights=[1.0, 0.0]), "weights"),
    (lambda: GroupL1(1.0, [2, 2], weights=[1.0]), "weights"),
    (lambda: SparseGroupL1(1.0, 1.5, [2]), "tau"),
    (lambda: SparseGroupL1(1.0, -0.1, [2]), "tau"),
    (lambda: MCP(1.0, gamma=1.0), "gamma"),
    (lambda: MCP(1.0, gamma=0.5), "gamma"),
    (lambda: SCAD(1.0, a=2.0), "a"),
    (lambda: TV1D(-1.0), "alpha"),
    (lambda: penalties.get("l3"), "l3"),
    (lambda: penalties.get({"config": {}}), "class_name"),
    (lambda: penalties.get(3.0), "identifier"),
    (lambda: L1(0.1).prox(np.ones(3), -1.0), "step"),
    (lambda: L1(0.1).prox(np.ones(3), np.array([1.0, np.nan, 1.0])), "step"),
    (lambda: GroupL1(1.0, [2, 2]).prox(np.ones(3), 1.0), "groups"),
    (lambda: GroupL1(1.0, [2, 2]).prox(np.ones(4), np.ones(4)), "step"),
    (lambda: WeightedL1(1.0, [1.0, 2.0]).prox(np.ones(3), 1.0), "weights"),
]


@pytest.mark.parametrize("make, word", BAD)
def test_bad_input_raises_value_error_naming_the_argument(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_group_penalty_on_rows_of_a_matrix():
    w = np.array([[3.0, 4.0], [0.3, 0.4]])
    z = GroupL1(1.0, weights=[1.0, 1.0]).prox(w, 1.0)
    np.testing.assert_allclose(z, [[2.4, 3.2], [0.0, 0.0]])
    assert GroupL1(1.0)(w) == pytest.approx(np.sqrt(2) * (5.0 + 0.5))


def test_tv1d_subdiff_distance_is_the_bounded_least_squares():
    """The closest subgradient of ``alpha * TV`` segment by segment (running sums, or the
    TV prox as the dual of the segment's bounded least squares) against scipy's BVLS on
    all the rows at once, which it replaced (36 s for one check at p=1000)."""
    from scipy.optimize import lsq_linear

    from sparsefit.penalties import TV1D

    rng = np.random.default_rng(0)
    for _ in range(400):
        n = int(rng.integers(1, 30))
        w = np.cumsum(rng.random(n) < rng.random()) * rng.standard_normal()
        g = rng.standard_normal(n) * rng.choice([0.01, 0.3, 3.0])
        if rng.random() < 0.5:
            g -= g.mean()
        pen = TV1D(float(rng.choice([0.0, 0.1, 0.5, 2.0])))
        d, u = np.diff(w), pen.alpha * np.sign(np.diff(w))
        free = d == 0
        Dt = np.zeros((n, n - 1))
        Dt[np.arange(n - 1), np.arange(n - 1)] = -1.0
        Dt[np.arange(1, n), np.arange(n - 1)] = 1.0
        if free.any() and pen.alpha > 0:
            u[free] = lsq_linear(Dt[:, free], -g - Dt[:, ~free] @ u[~free],
                                 bounds=(-pen.alpha, pen.alpha), method="bvls",
                                 tol=1e-14).x
        else:
            u[free] = 0.0
        ref = np.abs(g + Dt @ u)
        got = pen.subdiff_distance(w, g)
        assert np.linalg.norm(got) <= np.linalg.norm(ref) + 1e-12
        assert np.linalg.norm(got) >= np.linalg.norm(ref) - 1e-9 * max(1.0, np.linalg.norm(g))
