"""sparsity_report and shrink for Keras models: smaller models with the same outputs for
every supported layer type, exact bias folding, clear refusals, input model untouched."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import itertools

from sparsefit import keras as sfk

L = keras.layers


def to_np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


# torch runs on 1 thread for the whole suite (root conftest.py)


# -- table of models: builder -> (model, input shape, expected units per Dense/Conv2D) ------
# every Dense/Conv2D but the last gets: unit 0 dead on the way in with a positive bias
# (constant output folded), unit 1 dead on the way in with a negative bias, unit 2 read by
# nobody. With padding="same" after a relu, unit 0's constant relu(0.7) != 0 cannot be
# folded exactly and is kept, unit 1's relu(-0.7) = 0 can.

def _seq(shape, layers):
    return keras.Sequential([keras.Input(shape), *layers])


def _functional(shape, layers):
    inp = keras.Input(shape)
    x = inp
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


MODELS = {
    "dense_sequential": lambda: (_seq((8,), [
        L.Dense(10, "relu"), L.Dropout(0.3), L.Dense(6, "tanh"), L.Dense(3)]), [7, 3, 3]),
    "dense_functional": lambda: (_functional((8,), [
        L.Dense(10, "sigmoid"), L.Activation("elu"), L.Dense(6, "relu"), L.Dense(3)]),
        [7, 3, 3]),
    "dense_no_bias_consumer": lambda: (_seq((8,), [
        L.Dense(10, "tanh"), L.Dense(5, use_bias=False, activation="relu"), L.Dense(2)]),
        [7, 2, 2]),
    "conv_pool_bn_flatten_dense": lambda: (_seq((8, 8, 3), [
        L.Conv2D(6, 3, activation="relu"), L.MaxPooling2D(), L.BatchNormalization(),
        L.Flatten(), L.Dense(5, "tanh"), L.Dense(2)]), [3, 2, 2]),
    "conv_conv_valid_global_pool": lambda: (_functional((7, 7, 2), [
        L.Conv2D(5, 3, activation="tanh"), L.Conv2D(4, 3), L.ReLU(),
        L.GlobalAveragePooling2D(), L.Dense(2)]), [2, 1, 2]),
    "conv_conv_same_flatten": lambda: (_seq((6, 6, 2), [
        L.Conv2D(5, 3, padding="same", activation="relu"), L.Conv2D(4, 3, padding="same"),
        L.Flatten(), L.Dense(2)]), [3, 1, 2]),
}


def _weighted(model):
    return [layer for layer in model.layers if isinstance(layer, (L.Dense, L.Conv2D))]


def _kill(model, seed=0):
    """Make units dead in each Dense/Conv2D layer but the last (see the table)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n),
                               rng.normal(size=n), rng.uniform(0.5, 2, n)])
    layers = _weighted(model)
    for p, c in itertools.pairwise(layers):
        kp, *bp = [to_np(w) for w in p.weights]
        kp[..., 0] = 0
        kp[..., 1] = 0
        if bp:
            bp[0][0], bp[0][1] = 0.7, -0.7
        p.set_weights([kp, *bp])
        wc = [to_np(w) for w in c.weights]
        kc, n = wc[0], kp.shape[-1]
        if kc.ndim == 4:
            kc[:, :, 2, :] = 0
        else:
            kc[2::n] = 0      # rows of unit 2 (after a Flatten: every n-th row)
        c.set_weights([kc, *wc[1:]])


@pytest.mark.parametrize("name", MODELS)
def test_shrink_gives_a_smaller_model_with_the_same_outputs(name):
    keras.utils.set_random_seed(0)
    model, expected_units = MODELS[name]()
    _kill(model)
    before = [to_np(w) for w in model.weights]
    shape = model.inputs[0].shape[1:]
    x = np.random.default_rng(1).normal(size=(32, *shape)).astype("float32")

    small, report = sfk.shrink(model, x)

    units = [getattr(layer, "units", None) or layer.filters for layer in _weighted(small)]
    assert units == expected_units
    x_new = np.random.default_rng(2).normal(size=(64, *shape)).astype("float32") * 2
    diff = np.max(np.abs(to_np(model(x_new)) - to_np(small(x_new))))
    assert diff <= 1e-5
    assert report.max_abs_diff <= 1e-5 and report.n_checks == 4
    assert report.params_after == sum(int(np.prod(w.shape)) for w in small.weights)
    assert report.params_after < report.params_before
    assert [r["out_after"] for r in report.layers] == expected_units
    # the input model is untouched, and the new one is of the same kind, layer by layer
    for a, b in zip(before, model.weights):
        np.testing.assert_array_equal(a, to_np(b))
    assert isinstance(small, keras.Sequential) == isinstance(model, keras.Sequential)
    assert [type(layer) for layer in small.layers] == [type(layer) for layer in model.layers]
    assert [layer.name for layer in small.layers] == [layer.name for layer in model.layers]
    assert "->" in str(report)


def test_bias_folding_is_exact():
    model = _seq((3,), [L.Dense(3, "relu"), L.Dense(2)])
    k1 = np.array([[0.0, 1.0, 2.0], [0.0, -1.0, 0.5], [0.0, 0.3, 0.2]])
    b1 = np.array([0.7, 0.1, -0.2])
    k2 = np.array([[2.0, -3.0], [1.0, 1.0], [0.5, 0.25]])
    b2 = np.array([0.5, 0.0])
    model.set_weights([k1, b1, k2, b2])
    small, report = sfk.shrink(model)
    nk1, _nb1, nk2, nb2 = small.get_weights()
    np.testing.assert_allclose(nb2, b2 + 0.7 * k2[0], rtol=1e-6)   # relu(0.7) * row 0
    np.testing.assert_allclose(nk2, k2[1:], rtol=1e-7)
    np.testing.assert_allclose(nk1, k1[:, 1:], rtol=1e-7)
    assert report.layers[0]["removed_dead_in"] == 1 and report.layers[0]["out_after"] == 2


def test_removals_cascade_to_a_fixed_point():
    # unit 1 of layer 2 reads only unit 0 of layer 1, which gets no input: once unit 0 is
    # folded away, unit 1 of layer 2 gets no input either and is folded into layer 3
    model = _seq((2,), [L.Dense(2, "tanh"), L.Dense(2, "tanh"), L.Dense(1)])
    k1 = np.array([[0.0, 1.0], [0.0, -1.0]])
    k2 = np.array([[0.5, 3.0], [1.0, 0.0]])
    model.set_weights([k1, np.array([0.4, 0.1]), k2, np.array([0.2, -0.3]),
                       np.array([[1.0], [2.0]]), np.array([0.0])])
    small, report = sfk.shrink(model)
    assert [layer.units for layer in small.layers] == [1, 1, 1]
    assert report.layers[1]["removed_dead_in"] == 1
    x = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    assert np.max(np.abs(to_np(model(x)) - to_np(small(x)))) <= 1e-6


def test_unused_inputs_are_reported_and_nothing_to_remove_is_fine():
    model = _seq((4,), [L.Dense(3, "relu"), L.Dense(1)])
    k1 = to_np(model.layers[0].kernel)
    k1[2] = 0
    model.layers[0].kernel.assign(k1)
    _small, report = sfk.shrink(model)
    assert report.unused_inputs == [2]
    assert report.params_after == report.params_before
    assert report.max_abs_diff == 0.0


# -- functional graphs: Add, Concatenate, MultiHeadAttention ------------------------------


def _set(layer, **arrays):
    """Overwrite some weights of a layer by name (kernel, bias, query/kernel, ...)."""
    ws = []
    for v in layer.weights:
        key = "/".join(v.path.split("/")[1:])
        ws.append(arrays[key] if key in arrays else to_np(v))
    layer.set_weights(ws)


def residual_add():
    inp = keras.Input((8,))
    h = L.Dense(6, "relu", name="a")(inp)
    h = L.Dense(6, name="b")(h)
    skip = L.Dense(6, name="proj")(inp)
    out = L.Dense(2, name="head")(L.Activation("tanh")(L.Add(name="add")([h, skip])))
    m = keras.Model(inp, out)
    a, b, proj = m.get_layer("a"), m.get_layer("b"), m.get_layer("proj")
    kb, kp, ka = to_np(b.kernel), to_np(proj.kernel), to_np(a.kernel)
    kb[:, 3], kp[:, 3], ka[:, 1] = 0, 0, 0            # channel 3 of the sum: constant
    bp = to_np(proj.bias)
    bp[3] = 0.5
    _set(b, kernel=kb, bias=np.zeros(6))
    _set(proj, kernel=kp, bias=bp)
    _set(a, kernel=ka, bias=-np.ones(6))              # unit 1 of a: relu(-1) = 0
    return m, {"a": 5, "b": 5, "proj": 5, "head": 2}


def concatenate():
    inp = keras.Input((5,))
    x = L.Dense(3, "tanh", name="x")(inp)
    y = L.Dense(4, "relu", name="y")(inp)
    out = L.Dense(2, name="head")(L.Concatenate(name="cat")([x, y]))
    m = keras.Model(inp, out)
    kx, kh = to_np(m.get_layer("x").kernel), to_np(m.get_layer("head").kernel)
    kx[:, 0] = 0                                      # x's unit 0: constant tanh(b)
    kh[3 + 2] = 0                                     # y's unit 2: unread
    _set(m.get_layer("x"), kernel=kx, bias=np.full(3, 0.3))
    _set(m.get_layer("head"), kernel=kh)
    return m, {"x": 2, "y": 3, "head": 2}


def attention(kill_stream=False):
    inp = keras.Input((5, 3))
    x = L.Dense(8, name="emb")(inp)
    att = L.MultiHeadAttention(num_heads=4, key_dim=2, name="mha")(x, x)
    h = L.GlobalAveragePooling1D()(L.Add(name="res")([x, att]))
    m = keras.Model(inp, L.Dense(2, name="head")(h))
    mha = m.get_layer("mha")
    wv, wo = to_np(mha.weights[4]), to_np(mha.weights[6])
    wv[:, 1, :] = 0                                   # head 1: emits its value bias
    wo[2] = 0                                         # head 2: unread
    bv = to_np(mha.weights[5])
    bv[1] = [0.4, -0.2]
    arrays = {"value/kernel": wv, "value/bias": bv, "attention_output/kernel": wo}
    widths = {"mha": 2, "emb": 8, "head": 2}
    if kill_stream:                                   # stream channel 6: zero everywhere
        ke = to_np(m.get_layer("emb").kernel)
        ke[:, 6] = 0
        be = to_np(m.get_layer("emb").bias)
        be[6] = 0
        _set(m.get_layer("emb"), kernel=ke, bias=be)
        wo[:, :, 6] = 0
        bo = to_np(mha.weights[7])
        bo[6] = 0
        arrays.update({"attention_output/kernel": wo, "attention_output/bias": bo})
        widths["emb"] = 7
    _set(mha, **arrays)
    return m, widths


GRAPHS = {"residual_add": residual_add, "concatenate": concatenate, "attention": attention,
          "attention_stream": lambda: attention(kill_stream=True)}


def _units(layer):
    if isinstance(layer, L.MultiHeadAttention):
        return layer._num_heads
    return getattr(layer, "units", None) or layer.filters


@pytest.mark.parametrize("name", GRAPHS)
def test_functional_graphs_shrink_with_the_same_outputs(name):
    keras.utils.set_random_seed(0)
    model, expected = GRAPHS[name]()
    before = [to_np(w) for w in model.weights]
    shape = model.inputs[0].shape[1:]
    x = np.random.default_rng(1).normal(size=(16, *shape)).astype("float32")
    small, report = sfk.shrink(model, x)
    for layer_name, n in expected.items():
        assert _units(small.get_layer(layer_name)) == n, (layer_name, str(report))
    assert report.params_after < report.params_before
    x_new = 3 * np.random.default_rng(2).normal(size=(32, *shape)).astype("float32")
    assert np.max(np.abs(to_np(model(x_new)) - to_np(small(x_new)))) <= 1e-5
    for a, b in zip(before, model.weights):
        np.testing.assert_array_equal(a, to_np(b))
    assert [layer.name for layer in small.layers] == [layer.name for layer in model.layers]
    assert [type(layer) for layer in small.layers] == [type(layer) for layer in model.layers]
    if "attention" in name:
        row = {r["layer"]: r for r in report.layers}["mha"]
        assert (row["heads_before"], row["heads_after"]) == (4, 2)


def test_partly_dead_coupled_channel_is_kept():
    keras.utils.set_random_seed(0)
    model, _ = residual_add()
    proj = model.get_layer("proj")
    kp = to_np(proj.kernel)
    kp[:, 3] = np.arange(8) / 8.0                     # the skip branch's channel 3 lives
    _set(proj, kernel=kp)
    small, _ = sfk.shrink(model)
    assert small.get_layer("b").units == 6 and small.get_layer("proj").units == 6


def _shared():
    inp = keras.Input((4,))
    dense = L.Dense(4, name="shared")
    return keras.Model(inp, L.Dense(1)(dense(L.ReLU()(dense(inp)))))


@pytest.mark.parametrize("build, match", [
    (_shared, "'shared'"),
    (lambda: _seq((4,), [L.Dense(4), L.LayerNormalization(name="ln"), L.Dense(1)]), "'ln'"),
    (lambda: _seq((4,), [_seq((4,), [L.Dense(3)]), L.Dense(1)]), "nested"),
    (lambda: _seq((4, 4, 2), [L.Conv2D(3, 2, data_format="channels_first", name="cf"),
                              L.Flatten(), L.Dense(1)]), "'cf'"),
    (lambda: _seq((4, 4, 2), [L.Conv2D(4, 2, groups=2, name="grouped"), L.Flatten(),
                              L.Dense(1)]), "'grouped'"),
    (lambda: keras.Sequential([L.Dense(2)]), "input"),
])
def test_shrink_refuses_what_it_cannot_handle_naming_the_layer(build, match):
    with pytest.raises(sfk.ShrinkError, match=match):
        sfk.shrink(build())


def test_units_feeding_a_softmax_are_kept_with_a_note():
    model = _seq((4,), [L.Dense(5, "softmax", name="probs"), L.Dense(2)])
    _kill(model)
    small, report = sfk.shrink(model)
    assert small.layers[0].units == 5
    assert "mixes units" in report.layers[0]["note"]


@pytest.mark.parametrize("bad, error, match", [
    ({"model": "not a model"}, TypeError, "model"),
    ({"atol": -1.0}, ValueError, "atol"),
    ({"n_random": -1}, ValueError, "n_random"),
    ({"example_inputs": np.full((2, 4), np.nan)}, ValueError, "example_inputs"),
    ({"example_inputs": np.ones((2, 5))}, ValueError, "example_inputs"),
])
def test_shrink_validates_its_arguments(bad, error, match):
    kwargs = {"model": _seq((4,), [L.Dense(2)])}
    kwargs.update(bad)
    with pytest.raises(error, match=match):
        sfk.shrink(kwargs.pop("model"), **kwargs)


def test_group_lasso_training_then_shrink():
    """The engineer's path: group lasso over units with the prox, then a smaller model."""
    from sklearn.datasets import load_breast_cancer
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    keras.utils.set_random_seed(0)
    model = _seq((30,), [
        L.Dense(32, "relu", kernel_regularizer=sfk.GroupL1(0.005, proximal=True)),
        L.Dense(16, "relu", kernel_regularizer=sfk.GroupL1(0.005, proximal=True)),
        L.Dense(1, "sigmoid")])
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y.astype("float32"), epochs=10, batch_size=64, verbose=0,
              callbacks=[sfk.ProximalCallback()])
    report = sfk.sparsity_report(model)
    assert report.rows[0]["dead_out"] >= 16      # whole units, exactly zero
    small, shrink_report = sfk.shrink(model, x)
    assert small.layers[0].units <= 32 - report.rows[0]["dead_out"]
    assert np.max(np.abs(to_np(small(x)) - to_np(model(x)))) <= 1e-5
    assert shrink_report.params_after < 0.5 * shrink_report.params_before


def test_sparsity_report_counts():
    model = _seq((3,), [
        L.Dense(2, kernel_regularizer=sfk.L1(0.5, proximal=True), name="a"),
        L.Dense(1, use_bias=False, kernel_regularizer=keras.regularizers.L2(0.1), name="b")])
    model.set_weights([np.array([[0.0, 0.0], [0.0, 2.0], [1e-4, -1.0]]),
                       np.array([0.0, 0.5]), np.array([[0.0], [3.0]])])
    rep = sfk.sparsity_report(model, tol=1e-3)
    a, b = rep.rows
    assert (a["params"], a["zeros"], a["near_zero"]) == (8, 4, 5)   # bias 0 counted too
    assert (a["dead_out"], a["dead_in"]) == (0, 1)
    assert a["penalty"] == pytest.approx(0.5 * 3.0001, rel=1e-6)     # full proximal value
    assert (b["zeros"], b["dead_out"], b["dead_in"], b["penalty"]) == (1, 0, 1,
                                                                       pytest.approx(0.9))
    assert rep.total["params"] == 10 and rep.total["zeros"] == 5
    kern = sfk.sparsity_report(model, kernels_only=True)
    assert kern.total["params"] == 8 and kern.total["zeros"] == 4
    assert "total" in str(rep) and rep.to_dict()["layers"][0]["layer"] == "a"
    with pytest.raises(ValueError, match="tol"):
        sfk.sparsity_report(model, tol=-1)
    with pytest.raises(TypeError, match="model"):
        sfk.sparsity_report("model")


def test_a_layer_whose_units_are_all_dead_keeps_one_and_the_function():
    model = _seq((4,), [L.Dense(3, "sigmoid"), L.Dense(2, "tanh"), L.Dense(1)])
    k1, _b1, *rest = model.get_weights()
    model.set_weights([np.zeros_like(k1), np.array([0.5, -1.0, 2.0], "float32"), *rest])
    small, report = sfk.shrink(model)
    assert small.layers[0].units == 1 and "all units were dead" in report.layers[0]["note"]
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    assert np.max(np.abs(to_np(model(x)) - to_np(small(x)))) <= 1e-6
