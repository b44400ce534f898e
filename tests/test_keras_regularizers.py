"""Keras regularizers: real Keras regularizers whose values and proxes are those of
sparsefit.penalties, serializable through a saved .keras model, and the facts users trip
on (the "l1_l2" identifier, L1L2() defaults, evaluate() vs predict())."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from sparsefit import keras as sfk
from sparsefit import penalties


def to_np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# torch runs on 1 thread for the whole suite (root conftest.py)

# -- tables ---------------------------------------------------------------------------------
# name -> (regularizer factory(proximal), reference penalty, axis moved first for the reference)
REGULARIZERS = {
    "l1": (lambda p: sfk.L1(0.3, proximal=p), penalties.L1(0.3), None),
    "l2": (lambda p: sfk.L2(0.3), penalties.L2(0.3), None),
    "l1l2": (lambda p: sfk.L1L2(0.3, 0.2, proximal=p), penalties.L1L2(0.3, 0.2), None),
    "group_units": (lambda p: sfk.GroupL1(0.4, proximal=p), penalties.GroupL1(0.4), -1),
    "group_inputs": (lambda p: sfk.GroupL1(0.4, axis=-2, proximal=p), penalties.GroupL1(0.4),
                     -2),
    "group_weighted": (lambda p: sfk.GroupL1(0.4, weights=[1.0, 2.0, 0.5, 1.0], proximal=p),
                       penalties.GroupL1(0.4, weights=[1.0, 2.0, 0.5, 1.0]), -1),
    "sparse_group": (lambda p: sfk.SparseGroupL1(0.4, tau=0.3, proximal=p),
                     penalties.SparseGroupL1(0.4, tau=0.3), -1),
}
# the smooth part that stays in the loss in proximal mode
SMOOTH = {"l1": lambda w: 0.0, "l2": lambda w: 0.3 * np.sum(w ** 2),
          "l1l2": lambda w: 0.2 * np.sum(w ** 2)}
# float64 in NumPy and torch; JAX without x64 computes in float32
X64 = keras.backend.backend() != "jax"
RTOL, ATOL = (1e-10, 1e-12) if X64 else (2e-6, 1e-6)
SHAPES = {"dense": (5, 4), "conv2d": (3, 3, 2, 4)}


def weight(shape, seed=0):
    w = np.random.default_rng(seed).normal(size=shape)
    w[..., 1] *= 0.01     # one small unit and one small input, so group proxes zero them
    w[..., 1, :] *= 0.01
    return w


def reference(name, w, fn, *args):
    """Apply the reference penalty's fn on w with the group axis moved first."""
    axis = REGULARIZERS[name][2]
    pen = REGULARIZERS[name][1]
    if axis is None:
        return getattr(pen, fn)(w, *args)
    out = getattr(pen, fn)(np.moveaxis(w, axis, 0), *args)
    return np.moveaxis(out, 0, axis) if fn == "prox" else out


def metric_prox_reference(pen, v, t):
    """argmin_x sum_j (x_j - v_j)**2 / (2 t_j) + pen(x) for a group penalty over the first
    axis of v: soft-thresholding (sparse group), then per group the norm rho of the result
    by bisection on sum_j z_j**2 / (rho + a t_j)**2 = 1 (independent of sparsefit)."""
    z2, t2 = v.reshape(v.shape[0], -1), t.reshape(v.shape[0], -1)
    tau = getattr(pen, "tau", 0.0)
    z2 = np.sign(z2) * np.maximum(np.abs(z2) - t2 * pen.alpha * tau, 0.0)
    c = (pen.weights if pen.weights is not None
         else np.full(z2.shape[0], np.sqrt(z2.shape[1])))
    out = np.zeros_like(z2)
    for g in range(z2.shape[0]):
        a = pen.alpha * (1 - tau) * c[g]
        if np.linalg.norm(z2[g] / t2[g]) <= a:
            continue
        lo, hi = 0.0, float(np.linalg.norm(z2[g]))
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if np.sum(z2[g] ** 2 / (mid + a * t2[g]) ** 2) > 1 else (lo, mid)
        out[g] = z2[g] * lo / (lo + a * t2[g])
    return out.reshape(v.shape)


# -- values and proxes agree with sparsefit.penalties -----------------------------------------

@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", REGULARIZERS)
def test_value_and_call_match_penalty(name, shape):
    reg = REGULARIZERS[name][0](False)
    w = weight(shape)
    expected = reference(name, w, "value")
    assert isinstance(reg, keras.regularizers.Regularizer)
    assert reg.value(w) == pytest.approx(expected, rel=RTOL)
    # as Keras calls it: on a float32 tensor, inside the loss
    got = float(to_np(reg(keras.ops.convert_to_tensor(w.astype("float32")))))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("per_coordinate", [False, True], ids=["scalar", "per_coord"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", REGULARIZERS)
def test_prox_matches_penalty(name, shape, per_coordinate):
    reg = REGULARIZERS[name][0](False)
    w = weight(shape)
    rng = np.random.default_rng(1)
    step = rng.uniform(0.5, 2.0, size=shape) if per_coordinate else 1.3
    got = to_np(reg.prox(w, step))
    axis = REGULARIZERS[name][2]
    if axis is not None and per_coordinate:
        # group penalties: the prox in the metric diag(1 / step)
        want = np.moveaxis(metric_prox_reference(
            REGULARIZERS[name][1], np.moveaxis(w, axis, 0), np.moveaxis(step, axis, 0)), 0,
            axis)
    else:
        want = reference(name, w, "prox", step)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=max(ATOL, 1e-10 if X64 else 0))
    if name != "l2":
        assert np.sum(got == 0) > 0, "the prox of a non-smooth penalty must produce zeros"


@pytest.mark.parametrize("name", [n for n in REGULARIZERS if n != "l2"])
def test_proximal_mode_leaves_only_the_smooth_part_in_the_loss(name):
    reg = REGULARIZERS[name][0](True)
    w = weight(SHAPES["dense"])
    smooth = SMOOTH.get(name, lambda w: 0.0)(w)
    assert float(to_np(reg(w))) == pytest.approx(smooth, rel=RTOL, abs=ATOL)
    # the full value is still available, and it is the same as without proximal
    assert reg.value(w) == pytest.approx(REGULARIZERS[name][0](False).value(w), rel=RTOL)
    if name == "l1l2":
        # in proximal mode the l2 term is in the loss; the prox is that of the l1 term only
        np.testing.assert_allclose(to_np(reg.prox(w, 1.0)),
                                   penalties.L1(0.3).prox(w, 1.0), rtol=RTOL, atol=ATOL)


# -- configuration and serialization -------------------------------------------------------

@pytest.mark.parametrize("proximal", [False, True])
@pytest.mark.parametrize("name", REGULARIZERS)
def test_config_round_trip_with_python_floats(name, proximal):
    reg = REGULARIZERS[name][0](proximal)
    config = reg.get_config()
    for key in ("l1", "l2", "alpha", "tau"):
        if key in config:
            assert type(config[key]) is float, (key, type(config[key]))
    again = type(reg).from_config(config)
    assert again == reg and again.get_config() == config
    ser = keras.saving.serialize_keras_object(reg)
    assert ser["registered_name"] == f"sparsefit>{type(reg).__name__}"
    back = keras.saving.deserialize_keras_object(ser)
    assert type(back) is type(reg) and back == reg
    assert sfk.get(ser) == reg


@pytest.mark.parametrize("name", REGULARIZERS)
def test_saved_model_loads_with_its_regularizers(name, tmp_path):
    make = REGULARIZERS[name][0]
    proximal = name != "l2"
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(4, activation="relu", kernel_regularizer=make(proximal),
                           bias_regularizer=sfk.L1(0.01),
                           activity_regularizer=make(False)),
        keras.layers.Dense(1)])
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model.compile("adam", "mse")
    before = model.evaluate(x, np.zeros((8, 1)), verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = loaded.layers[0]
    assert type(layer.kernel_regularizer) is type(make(proximal))
    assert layer.kernel_regularizer == make(proximal)
    assert layer.bias_regularizer == sfk.L1(0.01)
    assert layer.activity_regularizer == make(False)
    np.testing.assert_allclose(to_np(loaded.predict(x, verbose=0)),
                               to_np(model.predict(x, verbose=0)), rtol=1e-6)
    assert loaded.evaluate(x, np.zeros((8, 1)), verbose=0) == pytest.approx(before, rel=1e-5)


# -- identifiers and the facts users trip on -------------------------------------------------

@pytest.mark.parametrize("identifier, expected", [
    ("l1", sfk.L1(0.01)),
    ("l2", sfk.L2(0.01)),
    ("l1_l2", sfk.L1L2(0.01, 0.01)),
    ("L1L2", sfk.L1L2(0.0, 0.0)),
    ("group_lasso", sfk.GroupL1(0.01)),
    ({"class_name": "L1", "config": {"l1": 0.5}}, sfk.L1(0.5)),
    (penalties.L1L2(0.1, 0.2), sfk.L1L2(0.1, 0.2)),
    (penalties.SparseGroupL1(0.1, 0.25), sfk.SparseGroupL1(0.1, 0.25)),
    (keras.regularizers.L1(0.25), sfk.L1(0.25)),
    (keras.regularizers.L1L2(l1=0.5, l2=0.125), sfk.L1L2(0.5, 0.125)),
    (sfk.GroupL1(0.2, axis=-2), sfk.GroupL1(0.2, axis=-2)),
], ids=lambda v: f"keras.{type(v).__name__}({v.get_config()})"
   if type(v).__module__.startswith("keras.") else repr(v))  # no addresses: xdist collects twice
def test_get_resolves_identifiers(identifier, expected):
    got = sfk.get(identifier)
    assert type(got) is type(expected) and got == expected


def test_l1_l2_identifier_works_here_and_as_a_layer_argument():
    reg = sfk.get("l1_l2")
    assert (reg.l1, reg.l2) == (0.01, 0.01)
    assert sfk.l1_l2() == reg
    assert sfk.get("l1_l2", proximal=True) == sfk.L1L2(0.01, 0.01, proximal=True)
    layer = keras.layers.Dense(2, kernel_regularizer=reg)
    layer.build((None, 3))
    assert layer.kernel.regularizer is reg


def test_keras_own_get_rejects_l1_l2():
    """Documents a Keras 3 fact: the identifier its documentation shows is rejected."""
    try:
        keras.regularizers.get("l1_l2")
    except ValueError as exc:
        assert "l1_l2" in str(exc)
    else:  # pragma: no cover - a future Keras
        pytest.skip(f"keras {keras.__version__} now resolves 'l1_l2'")


def test_l1l2_defaults_are_zero_like_keras():
    assert sfk.L1L2().get_config() == {"l1": 0.0, "l2": 0.0, "proximal": False}
    k = keras.regularizers.L1L2()
    assert (float(k.l1), float(k.l2)) == (0.0, 0.0)
    # and Keras 3's lowercase l1_l2 is that same class (0, 0), not the documented 0.01
    assert isinstance(keras.regularizers.l1_l2(), keras.regularizers.L1L2)
    assert float(keras.regularizers.l1_l2().l1) == 0.0
    assert sfk.l1_l2().get_config()["l1"] == 0.01


@pytest.mark.parametrize("make, match", [
    (lambda: sfk.L1(-0.1), "l1"),
    (lambda: sfk.L1(float("nan")), "l1"),
    (lambda: sfk.L2(float("inf")), "l2"),
    (lambda: sfk.L1L2(0.1, -1.0), "l2"),
    (lambda: sfk.L1("0.1"), "l1"),

    (lambda: sfk.GroupL1(0.1, weights=[1.0, -1.0]), "weights"),
    (lambda: sfk.SparseGroupL1(0.1, tau=1.5), "tau"),
    (lambda: sfk.GroupL1(0.1, weights=[1.0, 2.0])(np.ones((3, 4))), "weights"),
    (lambda: sfk.GroupL1(0.1, axis=3)(np.ones((3, 4))), "axis"),
    (lambda: sfk.get("mcp"), "MCP"),
    (lambda: sfk.get("no_such_penalty"), "no_such_penalty"),
    (lambda: sfk.get(penalties.GroupL1(0.1, groups=[2, 2])), "groups"),
])
def test_bad_input_is_refused_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make, match", [
    (lambda: sfk.L1(0.1, proximal="yes"), "proximal"),
    (lambda: sfk.get("l1", proximal=1), "proximal"),
    (lambda: sfk.GroupL1(0.1, axis=1.5), "axis"),
])
def test_wrong_types_are_refused_naming_the_argument(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def _linear_model(reg, bias_reg=None):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
        2, kernel_regularizer=reg, bias_regularizer=bias_reg)])
    kernel = np.array([[1.0, -2.0], [0.0, 0.5], [3.0, 0.0]], dtype="float32")
    bias = np.array([0.25, -1.0], dtype="float32")
    model.set_weights([kernel, bias])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model, kernel, bias


@pytest.mark.parametrize("proximal", [False, True])
def test_penalty_is_in_evaluate_but_not_in_predict(proximal):
    model, kernel, bias = _linear_model(sfk.L1L2(0.1, 0.01, proximal=proximal),
                                        sfk.L1(0.5, proximal=proximal))
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.ones((16, 2), dtype="float32")
    pred = to_np(model.predict(x, verbose=0))
    np.testing.assert_allclose(pred, x @ kernel + bias, rtol=1e-5)   # no penalty in there
    data_loss = float(np.mean((pred - y) ** 2))
    l1_part = 0.1 * np.abs(kernel).sum() + 0.5 * np.abs(bias).sum()
    l2_part = 0.01 * (kernel ** 2).sum()
    losses = float(sum(to_np(t) for t in model.losses))
    if proximal:
        # the non-smooth part is left to the prox step: not in model.losses nor evaluate()
        assert losses == pytest.approx(l2_part, rel=1e-5)
        expected = data_loss + l2_part
    else:
        assert losses == pytest.approx(l1_part + l2_part, rel=1e-5)
        expected = data_loss + l1_part + l2_part
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)
    # the full penalty, whatever the mode
    assert sfk.penalty(model) == pytest.approx(l1_part + l2_part, rel=1e-5)


def test_group_penalty_in_the_loss_has_finite_gradients_at_zero():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        3, kernel_initializer="zeros", kernel_regularizer=sfk.SparseGroupL1(0.1)),
        keras.layers.Dense(1, kernel_regularizer=sfk.GroupL1(0.1))])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    model.fit(x, x[:, :1], epochs=2, verbose=0)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert np.any(model.get_weights()[0] != 0)   # the zero kernel was trained at all


def test_import_sparsefit_does_not_import_keras():
    import subprocess
    import sys
    code = "import sys, sparsefit; assert 'keras' not in sys.modules, 'keras imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
