"""Proximal training of Keras models: the prox step of ProximalCallback matches its formula
for every optimizer it knows, reaches the lasso solution with exact zeros, refuses what it
cannot do, and the study-notes classifier gets exact zeros only with it."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from sparsefit import keras as sfk
from sparsefit import penalties


def to_np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


# torch runs on 1 thread for the whole suite (root conftest.py)


# -- tables ---------------------------------------------------------------------------------
# name -> (optimizer factory, (c, d) of the first update from the gradient g: the step per
# unit gradient at a fixed point is c / d, d None for a scalar step)
B2 = 0.999
OPTIMIZERS = {
    "sgd": (lambda: keras.optimizers.SGD(0.1), lambda g: (0.1, None)),
    "sgd_nesterov": (lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                     lambda g: (0.05 / (1 - 0.9), None)),
    "adam": (lambda: keras.optimizers.Adam(0.01),
             lambda g: (0.01, (np.sqrt((1 - B2) * g ** 2) + 1e-7) / np.sqrt(1 - B2))),
    "adam_amsgrad": (lambda: keras.optimizers.Adam(0.01, amsgrad=True, epsilon=1e-4),
                     lambda g: (0.01, (np.sqrt((1 - B2) * g ** 2) + 1e-4) / np.sqrt(1 - B2))),
    "adamw": (lambda: keras.optimizers.AdamW(0.01, weight_decay=0.1),
              lambda g: (0.01, (np.sqrt((1 - B2) * g ** 2) + 1e-7) / np.sqrt(1 - B2))),
    "adamax": (lambda: keras.optimizers.Adamax(0.01),
               lambda g: (0.01, np.abs(g) + 1e-7)),
    # u_k = 0.9 (1 - 0.5 * 0.96**k), P_1 = u_1
    "nadam": (lambda: keras.optimizers.Nadam(0.01),
              lambda g: (0.01 * (0.9 * (1 - 0.5 * 0.96 ** 2)
                                 / (1 - 0.9 * (1 - 0.5 * 0.96) * 0.9 * (1 - 0.5 * 0.96 ** 2))
                                 + 1.0), np.sqrt(g ** 2) + 1e-7)),
    "rmsprop": (lambda: keras.optimizers.RMSprop(0.01),
                lambda g: (0.01, np.sqrt(0.1 * g ** 2 + 1e-7))),
    "rmsprop_momentum": (lambda: keras.optimizers.RMSprop(0.01, momentum=0.5),
                         lambda g: (0.01 / 0.5, np.sqrt(0.1 * g ** 2 + 1e-7))),
    "rmsprop_centered": (lambda: keras.optimizers.RMSprop(0.01, centered=True),
                         lambda g: (0.01, np.sqrt(0.1 * g ** 2 - (0.1 * g) ** 2 + 1e-7))),
    "adagrad": (lambda: keras.optimizers.Adagrad(0.1),
                lambda g: (0.1, np.sqrt(0.1 + g ** 2 + 1e-7))),
    # the inner optimizer's step (the loss scale is divided out of the gradients)
    "loss_scale_adam": (lambda: keras.optimizers.LossScaleOptimizer(
        keras.optimizers.Adam(0.01), initial_scale=64.0),
        lambda g: (0.01, (np.sqrt((1 - B2) * g ** 2) + 1e-7) / np.sqrt(1 - B2))),
}


def expected_l1_prox(l1, before, w_half, c, d):
    """Soft-thresholding at t * l1, t = c / max(d, l1), the update on the coordinates whose
    d is below l1 rescaled by d / l1 (the bounded denominator)."""
    if d is None:
        return penalties.L1(l1).prox(w_half, c)
    low = d < l1
    x = np.where(low, before + (w_half - before) * d / l1, w_half)
    return penalties.L1(l1).prox(x, c / np.maximum(d, l1))


def linear_problem(seed=0, n=64, d=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    w_true = np.zeros((d, 2))
    w_true[0] = [1.0, -0.5]
    w_true[1] = [0.0, 2.0]
    y = (x @ w_true + 0.1 * rng.normal(size=(n, 2))).astype("float32")
    return x, y


def linear_model(reg, optimizer, kernel, bias, constraint=None):
    model = keras.Sequential([keras.Input((kernel.shape[0],)), keras.layers.Dense(
        kernel.shape[1], kernel_regularizer=reg, kernel_constraint=constraint)])
    model.set_weights([kernel.astype("float32"), bias.astype("float32")])
    model.compile(optimizer, "mse")
    return model


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_first_prox_step_matches_its_formula(name):
    make_opt, step_of = OPTIMIZERS[name]
    x, y = linear_problem()
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(6, 2)) * rng.choice([1e-3, 1.0], size=(6, 2))
    bias = np.zeros(2)
    l1 = 0.05
    plain = linear_model(None, make_opt(), kernel, bias)
    prox = linear_model(sfk.L1(l1, proximal=True), make_opt(), kernel, bias)
    plain.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    prox.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0,
             callbacks=[sfk.ProximalCallback()])
    # the same update (the proximal L1 adds nothing to the loss), then soft-thresholding
    # at step * l1, the step computed here from the gradient of the mean squared error
    g = 2.0 / y.size * x.T.astype(np.float64) @ (x @ kernel + bias - y)
    c, d = step_of(g)
    expected = expected_l1_prox(l1, kernel, to_np(plain.layers[0].kernel), c, d)
    got = to_np(prox.layers[0].kernel)
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6)
    assert (got == 0).sum() >= 1
    np.testing.assert_allclose(to_np(prox.layers[0].bias), to_np(plain.layers[0].bias),
                               rtol=1e-6, atol=1e-7)   # no regularizer on the bias: no prox


# RMSprop with a constant lr takes steps of ~lr whatever the gradient and circles the
# solution instead of reaching it; its step is checked by the formula test above
@pytest.mark.parametrize("name", ["sgd", "adam", "adagrad"])
def test_proximal_training_reaches_the_lasso_solution_with_exact_zeros(name):
    x, y = linear_problem(n=128)
    l1 = 0.05
    opt = {"sgd": keras.optimizers.SGD(0.1), "adam": keras.optimizers.Adam(0.01),
           "adagrad": keras.optimizers.Adagrad(0.5)}[name]
    model = linear_model(sfk.L1(l1, proximal=True), opt, np.full((6, 2), 0.3), np.zeros(2))
    steps = 600
    model.fit(np.tile(x, (steps, 1)), np.tile(y, (steps, 1)), batch_size=len(x), epochs=1,
              shuffle=False, verbose=0, callbacks=[sfk.ProximalCallback()])
    w, b = to_np(model.layers[0].kernel), to_np(model.layers[0].bias)
    grad = 2.0 / y.size * x.T @ (x @ w + b - y)
    # optimality (KKT) of the lasso, checked with the reference penalty
    assert np.max(penalties.L1(l1).subdiff_distance(w, grad)) < 2e-3
    assert (w == 0).sum() >= 8          # the 10 zero coefficients of the truth, mostly
    assert np.all(w[0] != 0) and w[1, 1] != 0


@pytest.mark.parametrize("name", ["group_units", "sparse_group", "l1l2"])
def test_group_and_elastic_net_prox_in_training(name):
    x, y = linear_problem(n=128)
    x = np.concatenate([x, np.random.default_rng(2).normal(size=(128, 2))], 1).astype(
        "float32")
    reg = {"group_units": sfk.GroupL1(0.05, axis=-2, proximal=True),
           "sparse_group": sfk.SparseGroupL1(0.05, tau=0.5, axis=-2, proximal=True),
           "l1l2": sfk.L1L2(0.05, 0.01, proximal=True)}[name]
    model = linear_model(reg, keras.optimizers.Adam(0.02), np.full((8, 2), 0.3), np.zeros(2))
    model.fit(np.tile(x, (300, 1)), np.tile(y, (300, 1)), batch_size=len(x), epochs=1,
              shuffle=False, verbose=0, callbacks=[sfk.ProximalCallback()])
    w = to_np(model.layers[0].kernel)
    if name == "l1l2":
        assert (w == 0).sum() >= 8
    else:
        # axis=-2: the groups are the inputs; the 6 useless inputs are removed as a whole
        dead_inputs = np.flatnonzero(~(w != 0).any(axis=1))
        assert len(dead_inputs) >= 5 and 0 not in dead_inputs and 1 not in dead_inputs


def test_callback_keeps_the_users_constraint_and_restores_it():
    x, y = linear_problem()
    nonneg = keras.constraints.NonNeg()
    model = linear_model(sfk.L1(0.05, proximal=True), keras.optimizers.Adam(0.05),
                         np.full((6, 2), 0.3), np.zeros(2), constraint=nonneg)
    cb = sfk.ProximalCallback()
    model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[cb])
    w = to_np(model.layers[0].kernel)
    assert np.all(w >= 0) and (w == 0).sum() >= 6
    assert model.layers[0].kernel.constraint is nonneg      # restored after fit
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[cb])   # used again
    assert model.layers[0].kernel.constraint is nonneg


def test_no_prox_after_the_fit_that_had_the_callback():
    x, y = linear_problem()
    model = linear_model(sfk.L1(1.0, proximal=True), keras.optimizers.SGD(0.01),
                         np.full((6, 2), 0.005), np.zeros(2))
    model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[sfk.ProximalCallback()])
    assert (to_np(model.layers[0].kernel) == 0).sum() >= 1
    # a later fit without the callback must not reuse a train function with the prox in it
    small = np.full((6, 2), 1e-3, dtype="float32")
    model.set_weights([small, np.zeros(2, "float32")])
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    assert (to_np(model.layers[0].kernel) == 0).sum() == 0   # lr * l1 = 0.01 > 1e-3


def test_callback_follows_a_learning_rate_schedule():
    x, y = linear_problem()
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(6, 2))
    schedule = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=1,
                                                           decay_rate=0.5)
    plain = linear_model(None, keras.optimizers.SGD(schedule), kernel, np.zeros(2))
    prox = linear_model(sfk.L1(1.0, proximal=True), keras.optimizers.SGD(schedule), kernel,
                        np.zeros(2))
    # two steps: the prox of the first uses lr=0.2, that of the second lr=0.1
    xs, ys = np.tile(x, (2, 1)), np.tile(y, (2, 1))
    plain.fit(xs[:64], ys[:64], batch_size=64, epochs=1, shuffle=False, verbose=0)
    prox.fit(xs[:64], ys[:64], batch_size=64, epochs=1, shuffle=False, verbose=0,
             callbacks=[sfk.ProximalCallback()])
    np.testing.assert_allclose(to_np(prox.layers[0].kernel),
                               penalties.L1(1.0).prox(to_np(plain.layers[0].kernel), 0.2),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_warmup_ramps_the_threshold_then_reaches_the_lasso(kind):
    """``warmup_steps=W``: update k proxes at strength ``l1 * min(1, k / W)`` (replayed
    step by step in numpy for SGD; a second fit continues the ramp), and after the ramp
    training reaches the same lasso solution (KKT) as without it."""
    x, y = linear_problem(n=128)
    l1, lr, W = 0.05, 0.1, 8
    if kind == "sgd":
        model = linear_model(sfk.L1(l1, proximal=True), keras.optimizers.SGD(lr),
                             np.full((6, 2), 0.3), np.zeros(2))
        w, b = np.full((6, 2), 0.3), np.zeros(2)
        cb = sfk.ProximalCallback(warmup_steps=W)
        for fit in range(2):          # 6 + 6 updates: the ramp goes on across fits
            model.fit(np.tile(x, (6, 1)), np.tile(y, (6, 1)), batch_size=len(x), epochs=1,
                      shuffle=False, verbose=0, callbacks=[cb])
            for k in range(6 * fit + 1, 6 * fit + 7):
                r = 2.0 / y.size * (x @ w + b - y)
                w, b = w - lr * (x.T @ r), b - lr * r.sum(0)
                w = penalties.L1(l1).prox(w, lr * min(1.0, k / W))
        np.testing.assert_allclose(to_np(model.layers[0].kernel), w, rtol=1e-4, atol=1e-5)
        return
    model = linear_model(sfk.L1(l1, proximal=True), keras.optimizers.Adam(0.01),
                         np.full((6, 2), 0.3), np.zeros(2))
    steps = 600
    model.fit(np.tile(x, (steps, 1)), np.tile(y, (steps, 1)), batch_size=len(x), epochs=1,
              shuffle=False, verbose=0, callbacks=[sfk.ProximalCallback(warmup_steps=200)])
    w, b = to_np(model.layers[0].kernel), to_np(model.layers[0].bias)
    grad = 2.0 / y.size * x.T @ (x @ w + b - y)
    assert np.max(penalties.L1(l1).subdiff_distance(w, grad)) < 2e-3
    assert (w == 0).sum() >= 8


@pytest.mark.parametrize("bad", [-1, 1.5, True, "10"])
def test_warmup_steps_refuses_a_bad_value(bad):
    with pytest.raises(ValueError, match="warmup_steps"):
        sfk.ProximalCallback(warmup_steps=bad)


@pytest.mark.parametrize("setup, error, match", [
    ("lion", TypeError, "Lion"),
    ("no_proximal", ValueError, "proximal=True"),
    ("activity", ValueError, "'hidden'"),
    ("accumulation", ValueError, "gradient_accumulation_steps"),
])
def test_callback_refuses_what_it_cannot_do(setup, error, match):
    x, y = linear_problem()
    opt = {"lion": keras.optimizers.Lion(0.01),
           "accumulation": keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)}.get(
        setup, keras.optimizers.SGD(0.1))
    reg = None if setup == "no_proximal" else sfk.L1(0.01, proximal=True)
    model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(3, name="hidden", kernel_regularizer=reg,
                           activity_regularizer=sfk.L1(0.01, proximal=True)
                           if setup == "activity" else sfk.L1(0.01)),
        keras.layers.Dense(2)])
    model.compile(opt, "mse")
    with pytest.raises(error, match=match):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[sfk.ProximalCallback()])


def test_unknown_optimizer_with_a_step_size_or_a_registered_rule():
    x, y = linear_problem()
    model = linear_model(sfk.L1(5.0, proximal=True), keras.optimizers.Lion(0.01),
                         np.full((6, 2), 0.05), np.zeros(2))
    cb = sfk.ProximalCallback(step_size=lambda opt, var: opt.learning_rate)
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[cb])
    assert (to_np(model.layers[0].kernel) == 0).sum() >= 1

    class MyOptimizer(keras.optimizers.Lion):
        pass
    with pytest.raises(TypeError, match="Optimizer subclass"):
        sfk.register_step_rule(int, lambda opt, var: 0.1)
    sfk.register_step_rule(MyOptimizer, lambda opt, var: opt.learning_rate)
    assert MyOptimizer in sfk.step_rules()
    model = linear_model(sfk.L1(5.0, proximal=True), MyOptimizer(0.01),
                         np.full((6, 2), 0.05), np.zeros(2))
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[sfk.ProximalCallback()])
    assert (to_np(model.layers[0].kernel) == 0).sum() >= 1


# -- the classifier of the L1 study notes ------------------------------------------------------

def _breast_cancer():
    from sklearn.datasets import load_breast_cancer
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return x.astype("float32"), y.astype("float32")


def _study_classifier(proximal):
    keras.utils.set_random_seed(0)
    hidden = {"activation": "relu"}
    model = keras.Sequential([
        keras.Input((30,)),
        keras.layers.Dense(128, kernel_regularizer=sfk.l1(0.001, proximal=proximal),
                           **hidden),
        keras.layers.Dense(64, kernel_regularizer=sfk.l1(0.001, proximal=proximal), **hidden),
        keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(), "binary_crossentropy", metrics=["accuracy"])
    return model


def test_study_classifier_exact_zeros_only_with_the_prox():
    x, y = _breast_cancer()
    results = {}
    for proximal in (False, True):
        model = _study_classifier(proximal)
        cbs = [sfk.ProximalCallback()] if proximal else []
        hist = model.fit(x, y, epochs=15, batch_size=128, validation_split=0.1, verbose=0,
                         callbacks=cbs)
        report = sfk.sparsity_report(model, kernels_only=True)
        zeros = [r["zeros"] for r in report.rows]
        results[proximal] = (zeros, hist.history["val_accuracy"][-1], report)
    (z_loss, acc_loss, rep_loss), (z_prox, acc_prox, rep_prox) = results[False], results[True]
    assert z_loss == [0, 0, 0], "penalty in the loss: weights hover near zero, never at it"
    # 60 Adam steps at lr 1e-3: the bounded prox moves a weight at most ~lr per step, so
    # the zeros are the weights within ~0.06 of zero that the loss does not hold up
    assert z_prox[0] >= 0.05 * 30 * 128 and z_prox[1] >= 0.1 * 128 * 64, z_prox
    assert z_prox[2] == 0                        # no regularizer on the output layer
    assert acc_prox >= 0.9 and acc_loss >= 0.9
    assert abs(acc_prox - acc_loss) <= 0.035
    # the report counts the full penalty of proximal regularizers too
    assert rep_prox.total["penalty"] > 0 and rep_loss.total["penalty"] > 0


# -- exact fixed points under every optimizer ------------------------------------------------
# Full-batch least squares with two outputs, loss 1/(2N) ||Y - XW||^2 over the N = 100
# entries (the Quadratic datafit on the stacked problem), gradients fed to the optimizer
# directly, the callback's constraints applying the prox: each optimizer Keras offers must
# converge to the solution of our own solver. Constant learning rates throughout.
_K = keras.optimizers
KERAS_FIXED_POINT_ROWS = {
    "sgd": (lambda: _K.SGD(0.4), 250),
    "sgd_momentum": (lambda: _K.SGD(0.2, momentum=0.8), 300),
    "sgd_nesterov": (lambda: _K.SGD(0.2, momentum=0.8, nesterov=True), 250),
    "adam": (lambda: _K.Adam(0.05), 600),
    "adamw": (lambda: _K.AdamW(0.05, weight_decay=0.0), 600),
    "adamax": (lambda: _K.Adamax(0.1), 600),
    "nadam": (lambda: _K.Nadam(0.05), 600),
    "rmsprop": (lambda: _K.RMSprop(0.06), 400),
    "rmsprop_momentum": (lambda: _K.RMSprop(0.02, momentum=0.5), 650),
    "rmsprop_centered": (lambda: _K.RMSprop(0.06, centered=True), 250),
    "adagrad": (lambda: _K.Adagrad(1.0), 200),
}
# name -> (Keras regularizer, the same penalty on the row-major flattened kernel)
KERAS_FIXED_POINT_PENALTIES = {
    "l1": (lambda: sfk.L1(0.1, proximal=True), penalties.L1(0.1)),
    "l1l2": (lambda: sfk.L1L2(0.1, 0.05, proximal=True), penalties.L1L2(0.1, 0.05)),
    "group_l1": (lambda: sfk.GroupL1(0.15, axis=-2, proximal=True),
                 penalties.GroupL1(0.15, groups=[2] * 20)),   # the inputs: kernel rows
}


def test_every_supported_keras_optimizer_has_a_fixed_point_row():
    supported = {c for c in sfk.step_rules() if c.__module__.startswith("keras")}
    covered = set()
    for make, _ in KERAS_FIXED_POINT_ROWS.values():
        covered |= set(type(make()).__mro__)
    assert supported <= covered, f"no fixed-point row for {supported - covered}"


@pytest.fixture(scope="module")
def stacked_least_squares():
    from sparsefit.datafits import Quadratic
    from sparsefit.solvers import solve

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 20))
    W = np.zeros((20, 2))
    W[:4] = [[3.0, 0.0], [-2.0, 1.0], [0.0, 1.5], [1.0, -1.0]]
    Y = X @ W + 0.5 * rng.normal(size=(50, 2))
    # vec(W) row-major: coefficient 2j + k is W[j, k]; output k's rows use X on those
    D = np.zeros((100, 40))
    for k in range(2):
        D[k * 50:(k + 1) * 50, k::2] = X
    y = np.concatenate([Y[:, 0], Y[:, 1]])
    refs = {name: solve(D, y, Quadratic(), pen, tol=1e-12).coef.reshape(20, 2)
            for name, (_, pen) in KERAS_FIXED_POINT_PENALTIES.items()}
    return X, Y, refs


@pytest.mark.parametrize("pen_name", KERAS_FIXED_POINT_PENALTIES)
@pytest.mark.parametrize("opt_name", KERAS_FIXED_POINT_ROWS)
def test_keras_fixed_point_is_the_exact_solution(opt_name, pen_name, stacked_least_squares):
    import torch

    X, Y, refs = stacked_least_squares
    make_reg, pen = KERAS_FIXED_POINT_PENALTIES[pen_name]
    make_opt, steps = KERAS_FIXED_POINT_ROWS[opt_name]
    layer = keras.layers.Dense(2, use_bias=False, kernel_initializer="zeros",
                               kernel_regularizer=make_reg(), dtype="float64")
    model = keras.Sequential([keras.Input((20,), dtype="float64"), layer])
    model.compile(make_opt(), "mse")
    cb = sfk.ProximalCallback()
    cb.set_model(model)
    cb.on_train_begin()
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    l2 = getattr(pen, "l2", 0.0)   # the proximal L1L2 keeps its l2 term in the loss
    for _ in range(steps):
        w = layer.kernel.value
        model.optimizer.apply([Xt.T @ (Xt @ w - Yt) / 100 + 2 * l2 * w], [layer.kernel])
    cb.on_train_end()
    w = to_np(layer.kernel)
    assert layer.kernel.constraint is None        # removed after training
    assert np.abs(w - refs[pen_name]).max() < 1e-6, (opt_name, pen_name,
                                                     np.abs(w - refs[pen_name]).max())
    np.testing.assert_array_equal(w == 0, refs[pen_name] == 0)


def test_embedding_rows_outside_the_batch_are_not_wiped():
    # Keras' Adam: second moment 0 and an exact-zero gradient for the rows not in the
    # batch; the bounded denominator keeps the prox to at most ~lr per step there
    keras.utils.set_random_seed(0)
    emb = keras.layers.Embedding(100, 8, embeddings_initializer="random_normal",
                                 embeddings_regularizer=sfk.L1(1e-4, proximal=True))
    model = keras.Sequential([keras.Input((2,), dtype="int32"), emb, keras.layers.Flatten(),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    before = to_np(emb.embeddings)
    model.fit(np.array([[0, 1]]), np.ones((1, 1)), epochs=1, verbose=0,
              callbacks=[sfk.ProximalCallback()])
    after = to_np(emb.embeddings)
    rest, rest0 = after[2:], before[2:]
    assert np.abs(rest - rest0).max() <= 1e-3 * (1 + 1e-4) + 1e-7
    assert (rest == 0).sum() == (np.abs(rest0) <= 1e-3).sum()   # only the tiny ones
    assert np.abs(after[:2] - before[:2]).max() > 0.9e-3         # Adam's step on rows 0, 1
