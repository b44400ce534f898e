r"""Proximal training of Keras models: exact zeros after every optimizer update.

:class:`ProximalCallback` applies, after each update of a weight ``w`` that carries a
``proximal=True`` sparsefit regularizer,

.. math::
    w \leftarrow \mathrm{prox}^{D}_{\mathrm{pen}}(w) = \arg\min_x \tfrac12 (x - w)^\top D
    (x - w) + \mathrm{pen}(x), \qquad D = \mathrm{diag}(1/t),

with :math:`t` the step the optimizer applies per unit of gradient at a fixed point (where
the gradient no longer changes), read from the optimizer (per coordinate for adaptive
methods). With that :math:`t` the fixed points of training are exactly the solutions of
``min loss + penalty`` (``k`` = the step count including this update):

===============  =========================================================================
optimizer        ``t``
===============  =========================================================================
SGD              ``lr / (1 - momentum)`` (with or without Nesterov: its velocity holds
                 ``-lr g / (1 - momentum)`` at a fixed point); ``lr`` without momentum
Adam, AdamW      ``lr / d``, ``d = (sqrt(v) + epsilon) / sqrt(1 - beta_2**k)``: Keras puts
                 ``epsilon`` on ``sqrt(v)``, not on ``sqrt(v_hat)`` as PyTorch does; ``v``
                 is the second moment (its running maximum with ``amsgrad``)
Adamax           ``lr / (u + epsilon)``
Nadam            ``lr (u_{k+1} / (1 - P_k u_{k+1}) + (1 - u_k) / (1 - P_k)) / d``, ``d``
                 as Adam's with ``epsilon`` on ``sqrt(v_hat)``, ``P_k`` its ``u_product``
RMSprop          ``lr / ((1 - momentum) sqrt(v + epsilon))`` (``v - avg_grad**2 + epsilon``
                 when centered)
Adagrad          ``lr / sqrt(accumulator + epsilon)``
other            refused with a TypeError, unless ``step_size`` is given or a rule is
                 registered with :func:`register_step_rule` (Lion, Ftrl, Adadelta, ...
                 scale their steps in ways not read here)
===============  =========================================================================

``lr`` is the learning rate of the current step (schedules are followed; ``lr = 0`` makes
the prox the identity). As in :class:`sparsefit.nn.Proximal`, the denominator ``d`` of an
adaptive method is bounded below by the regularizer's pull (``l1`` for L1,
``alpha c_g / sqrt(|g|)`` for a group lasso: ``Regularizer.floor``), for the prox and for
the update just applied on those coordinates (rescaled by ``d / floor`` from the weight
before the update): the fixed points stay exact, a weight with a zero gradient and no
history is not wiped out by a threshold ``lr l1 / epsilon``, and the prox moves a weight
by at most about ``lr`` per step with Adam. Group penalties take their prox in the metric
``diag(1/t)``.

How it works, and why not ``on_train_batch_end``: the JAX trainer keeps the weights in
a functional state during an epoch, so a callback that assigns variables between batches
is overwritten. The callback instead installs the prox as the weight's *constraint*
(``variable.constraint``, which every Keras optimizer applies right after its update,
inside the compiled train step, on every backend), chained after any constraint the
weight already had, and rebuilds the train function; :meth:`on_train_end` removes it.
To know the weight before the update, it wraps the optimizer's ``_backend_update_step``
for the duration of ``fit`` (adaptive optimizers only). Layer configs
(``kernel_constraint``) are not touched, so saving is unaffected.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from .regularizers import Regularizer

__all__ = [
    "ProximalCallback",
    "penalty",
    "proximal_variables",
    "register_step_rule",
    "step_rules",
]


def _eager_float(x):
    """``x`` (a variable, 0-d tensor or number) as a Python float when the train step runs
    eagerly on the CPU (torch without compilation), else None.

    Scalar arithmetic on 0-d tensors costs as much as on the weights themselves in eager
    torch; Python floats make the step rules several times cheaper there. Under tracing
    (JAX, torch.compile) and on accelerators the tensors are kept."""
    if isinstance(x, (int, float)):
        return float(x)
    if keras.backend.backend() != "torch":
        return None
    import torch

    if torch.compiler.is_compiling():
        return None
    v = x.value if isinstance(x, keras.Variable) else x
    if not torch.is_tensor(v):
        return float(v)
    return float(v.item()) if v.device.type == "cpu" else None


def _cast(x, var):
    return x if x.dtype == var.dtype else ops.cast(x, var.dtype)


def _lr(opt, var):
    lr = opt.learning_rate
    fast = _eager_float(lr)
    return fast if fast is not None else ops.cast(lr, var.dtype)


class _Metric:
    """An adaptive step ``c / den`` with its denominator apart (bounded by the callback)."""

    __slots__ = ("c", "den")

    def __init__(self, c, den):
        self.c, self.den = c, den

    def step(self):
        return self.c / self.den


def _k(opt, var):
    """This update's step count (Keras increments ``iterations`` after the update)."""
    k = _eager_float(opt.iterations)
    return k + 1.0 if k is not None else ops.cast(opt.iterations + 1, var.dtype)


def _sgd_rule(opt, var):
    momentum = float(opt.momentum)
    return _lr(opt, var) / (1.0 - momentum) if momentum else _lr(opt, var)


def _adam_rule(opt, var):
    i = opt._get_variable_index(var)
    v = opt._velocity_hats[i] if getattr(opt, "amsgrad", False) else opt._velocities[i]
    k = _k(opt, var)
    bc2 = (1.0 - float(opt.beta_2) ** k if isinstance(k, float)
           else 1.0 - ops.power(ops.cast(opt.beta_2, var.dtype), k))
    sq = math.sqrt(bc2) if isinstance(bc2, float) else ops.sqrt(bc2)
    return _Metric(_lr(opt, var), (ops.sqrt(_cast(v, var)) + opt.epsilon) / sq)


def _adamax_rule(opt, var):
    u = _cast(opt._u[opt._get_variable_index(var)], var)
    return _Metric(_lr(opt, var), u + opt.epsilon)


def _nadam_rule(opt, var):
    i = opt._get_variable_index(var)
    k = _k(opt, var)
    b1, b2 = float(opt.beta_1), float(opt.beta_2)
    prod = _eager_float(opt._u_product)
    if isinstance(k, float) and prod is not None:
        u, u_next = (b1 * (1.0 - 0.5 * 0.96 ** j) for j in (k, k + 1.0))
        c = _lr(opt, var) * (u_next / (1.0 - prod * u_next) + (1.0 - u) / (1.0 - prod))
        bc2 = 1.0 - b2 ** k
    else:
        k = ops.cast(k, var.dtype)
        prod = ops.cast(opt._u_product, var.dtype)
        u = b1 * (1.0 - 0.5 * ops.power(ops.cast(0.96, var.dtype), k))
        u_next = b1 * (1.0 - 0.5 * ops.power(ops.cast(0.96, var.dtype), k + 1.0))
        c = _lr(opt, var) * (u_next / (1.0 - prod * u_next) + (1.0 - u) / (1.0 - prod))
        bc2 = 1.0 - ops.power(ops.cast(b2, var.dtype), k)
    v = _cast(opt._velocities[i], var)
    return _Metric(c, ops.sqrt(v / bc2) + opt.epsilon)


def _rmsprop_rule(opt, var):
    i = opt._get_variable_index(var)
    v = _cast(opt._velocities[i], var)
    if opt.centered:
        v = v - ops.square(_cast(opt._average_gradients[i], var))
    momentum = float(opt.momentum)
    c = _lr(opt, var) / (1.0 - momentum) if momentum else _lr(opt, var)
    return _Metric(c, ops.sqrt(v + opt.epsilon))


def _adagrad_rule(opt, var):
    acc = _cast(opt._accumulators[opt._get_variable_index(var)], var)
    return _Metric(_lr(opt, var), ops.sqrt(acc + opt.epsilon))


_RULES = {
    keras.optimizers.SGD: _sgd_rule,
    keras.optimizers.Adam: _adam_rule,  # AdamW subclasses Adam
    keras.optimizers.Adamax: _adamax_rule,
    keras.optimizers.Nadam: _nadam_rule,
    keras.optimizers.RMSprop: _rmsprop_rule,
    keras.optimizers.Adagrad: _adagrad_rule,
}
_SCALAR_RULES = {_sgd_rule}


def register_step_rule(optimizer_class, rule):
    """Teach :class:`ProximalCallback` the step size of another optimizer class.

    Parameters
    ----------
    optimizer_class : type
        A ``keras.optimizers.Optimizer`` subclass (its subclasses inherit the rule).
    rule : callable
        ``rule(optimizer, variable) -> scalar or tensor``: the step the optimizer applies
        per unit of gradient at a fixed point on ``variable`` (a tensor broadcastable to
        it for per-coordinate steps), written with ``keras.ops``. It is called inside the
        train step right after the update and before ``optimizer.iterations`` is
        incremented.

    Examples
    --------
    >>> import keras
    >>> from sparsefit.keras import register_step_rule
    >>> class MySGD(keras.optimizers.SGD):
    ...     pass
    >>> register_step_rule(MySGD, lambda opt, var: opt.learning_rate)
    """
    if not (isinstance(optimizer_class, type)
            and issubclass(optimizer_class, keras.optimizers.Optimizer)):
        raise TypeError(
            f"optimizer_class must be a keras Optimizer subclass, got {optimizer_class!r}")
    if not callable(rule):
        raise TypeError(f"rule must be callable, got {type(rule).__name__}")
    _RULES[optimizer_class] = rule


def step_rules():
    """The optimizer classes :class:`ProximalCallback` reads a step from, and their rules."""
    return dict(_RULES)


def _find_rule(cls):
    for base in cls.__mro__:
        if base in _RULES:
            return _RULES[base]
    return None


def _walk_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers") and layer is not model:
            yield from _walk_layers(layer)


def proximal_variables(model):
    """``[(variable, regularizer)]``: the trainable weights with a ``proximal=True``
    sparsefit regularizer (the ones :class:`ProximalCallback` proxes)."""
    return [(v, v.regularizer) for v in model.trainable_variables
            if isinstance(v.regularizer, Regularizer) and getattr(v.regularizer, "proximal",
                                                                  False)]


def penalty(model):
    r"""The full value of the sparsefit weight regularizers of ``model``, as a float.

    Proximal regularizers included with their whole value (their non-smooth part is not
    in ``model.losses`` nor in ``evaluate()``): the objective proximal training decreases
    is ``evaluate(x, y) + penalty(model)`` for a model whose regularizers are all proximal
    :class:`~sparsefit.keras.L1`/:class:`~sparsefit.keras.GroupL1`. Keras' own
    regularizers and activity regularizers are not counted.

    Examples
    --------
    >>> import keras
    >>> from sparsefit.keras import L1, penalty
    >>> layer = keras.layers.Dense(2, kernel_initializer="ones",
    ...                            kernel_regularizer=L1(0.5, proximal=True))
    >>> model = keras.Sequential([keras.Input((3,)), layer])
    >>> float(sum(model.losses)), penalty(model)
    (0.0, 3.0)
    """
    total = 0.0
    for v in model.weights:
        reg = getattr(v, "regularizer", None)
        if isinstance(reg, Regularizer):
            total += reg.value(v)
    return total


class _ProxConstraint:
    """``variable.constraint``: the user's constraint (if any) after the prox."""

    def __init__(self, regularizer, optimizer, variable, rule, previous, warmup_steps=0):
        self.regularizer = regularizer
        self.optimizer = optimizer
        self.variable = variable
        self.rule = rule
        self.previous = previous
        self.warmup_steps = warmup_steps
        self.before = None   # the weight before this update (set by the update wrapper)

    def _ramp(self):
        """``min(1, k / warmup_steps)`` for this update ``k`` (1 without a warm-up)."""
        if not self.warmup_steps:
            return 1.0
        k = _k(self.optimizer, self.variable)
        if isinstance(k, float):
            return min(1.0, k / self.warmup_steps)
        return ops.minimum(k / self.warmup_steps, 1.0)

    def __call__(self, w):
        step = self.rule(self.optimizer, self.variable)
        before, self.before = self.before, None
        if isinstance(step, _Metric):
            c, den = step.c, step.den
            t = c / den
            if before is not None:
                floor = self.regularizer.floor(before)
                if not (isinstance(floor, float) and floor == 0.0):
                    floor = ops.cast(floor, w.dtype) if not isinstance(floor, float) else floor
                    low = den < floor
                    bounded = ops.maximum(den, floor)
                    # the update just applied, rescaled to the bounded denominator
                    w = ops.where(low, before + (w - before) * (den / bounded), w)
                    t = c / bounded
        else:
            t = step
        ramp = self._ramp()
        if not (isinstance(ramp, float) and ramp == 1.0):
            t = t * ramp   # the strength times ramp: the same prox for these penalties
        out = self.regularizer.prox(w, t)
        if self.previous is not None:
            out = self.previous(out)
        return out


def _unwrap(opt):
    # LossScaleOptimizer applies its inner optimizer only on finite steps; the inner one
    # holds the moments and applies the constraints
    while isinstance(opt, keras.optimizers.LossScaleOptimizer):
        opt = opt.inner_optimizer
    return opt


class ProximalCallback(keras.callbacks.Callback):
    r"""Exact proximal step after every optimizer update, during ``fit``.

    Every trainable weight whose regularizer is a sparsefit regularizer with
    ``proximal=True`` (:class:`~sparsefit.keras.L1`, :class:`~sparsefit.keras.L1L2`
    (its ``l1`` part), :class:`~sparsefit.keras.GroupL1`,
    :class:`~sparsefit.keras.SparseGroupL1`) gets, after each update,
    :math:`w \leftarrow \mathrm{prox}_{t\,\mathrm{pen}}(w)` with the step :math:`t` the
    optimizer applies per unit of gradient at a fixed point, so that training converges
    to the exact solution of ``loss + penalty`` (see the module documentation: ``lr /
    (1 - momentum)`` for SGD, ``lr sqrt(1 - beta_2^k) / (sqrt(v) + eps)`` per coordinate
    for Adam, adaptive denominators bounded below by the regularizer's pull). For L1 it
    is soft-thresholding: :math:`w_j` is set exactly to zero where
    :math:`|w_j| \le t_j l_1`. The proximal regularizers leave their non-smooth part out
    of the loss, so it is not counted twice; ``model.losses`` and ``evaluate()`` then
    hold only the smooth part (use :func:`penalty` for the full value).

    Parameters
    ----------
    step_size : callable, optional
        ``step_size(optimizer, variable) -> scalar or tensor``, overriding the rule for
        the optimizer's class.
    warmup_steps : int, default=0
        Raise the regularizers' strengths linearly from 0: update ``k`` (counted by the
        optimizer's ``iterations``, so a second ``fit`` continues the ramp) proxes with
        the strengths times ``min(1, k / warmup_steps)``, so the network learns before
        the prox zeroes units for good; after the warm-up the problem solved is the same.
        As ``warmup_steps`` of :class:`sparsefit.nn.Proximal` (see there for when it
        helps). The prox is the identity at a ramp of 0.

    Raises
    ------
    TypeError
        (at the start of ``fit``) when no step size can be read from the optimizer.
    ValueError
        ``warmup_steps`` not an int >= 0; or
        (at the start of ``fit``) when no weight has a proximal sparsefit regularizer,
        a proximal regularizer is used as an ``activity_regularizer`` (activations have
        no prox step; the layer is named), or the optimizer accumulates gradients
        (``gradient_accumulation_steps``: the constraint would also run on the steps
        that do not update).

    Notes
    -----
    Weights without a gradient in a step are not updated by Keras and not proxed. With
    ``use_ema=True`` the prox acts on the trained weights; their moving average is not
    sparse.

    Examples
    --------
    >>> import numpy as np, keras
    >>> from sparsefit.keras import L1, ProximalCallback
    >>> keras.utils.set_random_seed(0)
    >>> x = np.random.randn(256, 20).astype("float32"); y = x[:, :1]
    >>> model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(
    ...     1, kernel_regularizer=L1(0.05, proximal=True))])
    >>> model.compile(keras.optimizers.Adam(0.05), "mse")
    >>> _ = model.fit(x, y, epochs=30, batch_size=64, verbose=0,
    ...               callbacks=[ProximalCallback()])
    >>> w = keras.ops.convert_to_numpy(model.layers[0].kernel).ravel()
    >>> int((w[1:] == 0).sum()), round(float(w[0]), 2)    # lasso: 1 - l1 / 2
    (19, 0.98)
    """

    def __init__(self, step_size=None, *, warmup_steps=0):
        super().__init__()
        if step_size is not None and not callable(step_size):
            raise TypeError(f"step_size must be callable, got {type(step_size).__name__}")
        if (isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int)
                or warmup_steps < 0):
            raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}")
        self.step_size = step_size
        self.warmup_steps = warmup_steps
        self._installed = []

    def on_train_begin(self, logs=None):
        model = self.model
        opt = getattr(model, "optimizer", None)
        if opt is None:
            raise ValueError("ProximalCallback: the model has no optimizer; compile it first")
        opt = _unwrap(opt)
        rule = self.step_size if self.step_size is not None else _find_rule(type(opt))
        if rule is None:
            raise TypeError(
                f"ProximalCallback: cannot read a step size from {type(opt).__name__} "
                f"(known: {sorted(c.__name__ for c in _RULES)}); pass "
                "step_size=callable(optimizer, variable) or use register_step_rule")
        if getattr(opt, "gradient_accumulation_steps", None):
            raise ValueError(
                "ProximalCallback: the optimizer has gradient_accumulation_steps="
                f"{opt.gradient_accumulation_steps}; the prox would also run on the steps "
                "that only accumulate")
        for layer in _walk_layers(model):
            reg = getattr(layer, "activity_regularizer", None)
            if isinstance(reg, Regularizer) and getattr(reg, "proximal", False):
                raise ValueError(
                    f"ProximalCallback: layer '{layer.name}' ({type(layer).__name__}) has "
                    f"a proximal activity_regularizer {reg!r}; activations have no prox "
                    "step, so its penalty would vanish. Use proximal=False there")
        entries = proximal_variables(model)
        if not entries:
            raise ValueError(
                "ProximalCallback: no trainable weight has a sparsefit regularizer with "
                "proximal=True (e.g. kernel_regularizer=sparsefit.keras.L1(1e-3, "
                "proximal=True))")
        self._remove()
        by_id = {}
        for var, reg in entries:
            previous = var.constraint
            if isinstance(previous, _ProxConstraint):  # left over from an interrupted fit
                previous = previous.previous
            var.constraint = _ProxConstraint(reg, opt, var, rule, previous,
                                             self.warmup_steps)
            by_id[id(var)] = var.constraint
            self._installed.append((var, previous))
        if rule not in _SCALAR_RULES:
            self._wrap_update(opt, by_id)
        # a train function traced before (JAX, jit_compile) would not see the constraints
        model.make_train_function(force=True)

    def _wrap_update(self, opt, constraints):
        """Keep the weights before each update, for the bounded denominators."""
        original = opt._backend_update_step

        def update_step(grads, trainable_variables, learning_rate):
            for var in trainable_variables:
                con = constraints.get(id(var))
                if con is not None:
                    con.before = ops.copy(var.value)
            return original(grads, trainable_variables, learning_rate)

        opt._backend_update_step = update_step
        self._wrapped = opt

    def _remove(self):
        for var, previous in self._installed:
            var.constraint = previous
        self._installed = []
        opt = getattr(self, "_wrapped", None)
        if opt is not None:
            opt.__dict__.pop("_backend_update_step", None)
            self._wrapped = None

    def on_train_end(self, logs=None):
        self._remove()
        # the next fit must not reuse a train function traced with the prox in it
        self.model.train_function = None
