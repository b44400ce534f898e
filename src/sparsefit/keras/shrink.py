r"""Physically remove dead units (neurons, filters) from a Keras model.

Zeros inside a dense kernel do not make inference faster; removing whole units does.
:func:`shrink` returns a new, smaller model that computes the same function.

Which units are removed
-----------------------
Take a ``Dense`` or ``Conv2D`` layer :math:`P` whose output reaches the next
``Dense``/``Conv2D`` layer :math:`C` through layers acting on each unit separately
(elementwise activations, Dropout, BatchNormalization, pooling, Flatten):
:math:`z = g(P x)`, :math:`y = C z`. Unit :math:`j` of :math:`P` (column ``j`` of a
Dense kernel ``(in, out)``, filter ``j`` of a Conv2D kernel ``(kh, kw, in, out)``) is

- *disconnected on the way out* when every weight of :math:`C` reading it is zero
  (after a Flatten, the whole block of columns of channel :math:`j`): it is removed;
- *disconnected on the way in* when its incoming kernel slice is all zero: it emits the
  constant :math:`c_j = g(b_j)` (e.g. :math:`\mathrm{relu}(b_j)`). Its contribution
  :math:`C_{:, j} c_j` is folded into the bias of :math:`C` (created if :math:`C` has
  none), then the unit is removed. When that contribution is not the same at every
  position (a nonzero constant channel entering a ``padding="same"`` convolution differs
  at the borders) the unit is kept: exactness first.

Removing units can disconnect others, so this runs to a fixed point. The last
Dense/Conv2D layer keeps all its units (they are the output).

What is refused (:class:`ShrinkError`, naming the layer): models that are not a single
chain of layers (branches, ``Add``, ``Concatenate``, several inputs/outputs, a layer used
twice, nested models), layers other than those listed above, ``channels_first``,
grouped convolutions, and any result whose outputs differ from the original's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers as L
from keras import ops

__all__ = ["ShrinkError", "ShrinkReport", "shrink"]


class ShrinkError(ValueError):
    """The model cannot be shrunk safely (unsupported structure, or outputs would change)."""


_ELEMENTWISE = {
    "linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "elu", "selu", "softplus",
    "softsign", "swish", "silu", "gelu", "exponential", "leaky_relu", "mish", "hard_swish",
    "hard_silu", "celu", "log_sigmoid", "sparse_plus", "soft_shrink", "hard_shrink",
    "tanh_shrink", "hard_tanh", "squareplus", "sparse_sigmoid",
}
# layers that are the identity at inference
_IDENTITY = (L.Dropout, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
             L.ActivityRegularization, L.Identity)
_ELEMENTWISE_LAYERS = (L.ReLU, L.LeakyReLU, L.ELU)
_POOLING = (L.MaxPooling2D, L.AveragePooling2D)
_GLOBAL_POOLING = (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D)


def _describe(layer):
    return f"layer '{layer.name}' ({type(layer).__name__})"


def _act_name(fn):
    return getattr(fn, "__name__", repr(fn))


@dataclass
class ShrinkReport:
    """What :func:`shrink` removed.

    Attributes
    ----------
    layers : list of dict
        One row per Dense/Conv2D layer: ``layer``, ``type``, ``out_before``,
        ``out_after``, ``removed_dead_in`` (units whose incoming weights were all zero;
        their constant output folded into the next bias), ``removed_dead_out`` (units no
        weight downstream reads), ``params_before``, ``params_after``, ``note`` (why
        units were kept, if any).
    params_before, params_after : int
        All weights of the model.
    unused_inputs : list of int or None
        Input features (last axis of the input) the first layer does not read; None when
        a layer before it changes the feature axis (e.g. a Flatten).
    max_abs_diff : float
        Largest difference between the outputs of the original and the shrunk model over
        the checks; ``nan`` if ``check=False``.
    tolerance : float
        The bound it was checked against, ``atol + rtol * max|f(x)|``.
    n_checks : int
        Input batches compared.
    """

    layers: list = field(default_factory=list)
    params_before: int = 0
    params_after: int = 0
    unused_inputs: list | None = None
    max_abs_diff: float = float("nan")
    tolerance: float = float("nan")
    n_checks: int = 0

    def to_dict(self):
        """Plain data (lists, dicts, numbers)."""
        return {"layers": [dict(r) for r in self.layers],
                "params_before": self.params_before, "params_after": self.params_after,
                "unused_inputs": self.unused_inputs, "max_abs_diff": self.max_abs_diff,
                "tolerance": self.tolerance, "n_checks": self.n_checks}

    def __str__(self):
        head = ("layer", "type", "units", "dead in", "dead out", "params", "note")
        rows = [head]
        for r in self.layers:
            rows.append((r["layer"], r["type"], f"{r['out_before']} -> {r['out_after']}",
                         str(r["removed_dead_in"]), str(r["removed_dead_out"]),
                         f"{r['params_before']} -> {r['params_after']}", r["note"] or ""))
        widths = [max(len(x[i]) for x in rows) for i in range(len(head))]
        lines = ["  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in rows]
        lines.append(f"params {self.params_before} -> {self.params_after}; max |diff| "
                     f"{self.max_abs_diff:.3g} <= {self.tolerance:.3g} over {self.n_checks} "
                     "batches")
        return "\n".join(lines)

    def __repr__(self):
        return (f"ShrinkReport(params {self.params_before} -> {self.params_after}, "
                f"max_abs_diff={self.max_abs_diff:.3g})")


# ------------------------------------------------------------------------- the chain


def _chain(model):
    """The layers of a single-chain model, in order (no InputLayer), and its input."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except AttributeError:
        inputs = outputs = None
    if not inputs or not outputs:
        raise ShrinkError(f"model '{model.name}' has no defined input; build it with "
                          "keras.Input(shape) first")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ShrinkError(
            f"model '{model.name}' must have exactly one input and one output (build a "
            "Sequential model with keras.Input(shape) first); got "
            f"{len(model.inputs or [])} inputs and {len(model.outputs or [])} outputs")
    layers = [layer for layer in model.layers if not isinstance(layer, L.InputLayer)]
    for layer in layers:
        if isinstance(layer, keras.Model):
            raise ShrinkError(f"{_describe(layer)} is a nested model; shrink needs a flat "
                              "chain of layers")
        # (a layer also used in another model counts as shared too: refused, not guessed)
        if len(getattr(layer, "_inbound_nodes", [])) > 1:
            raise ShrinkError(f"{_describe(layer)} is called more than once (shared "
                              "weights); shrink needs a chain of distinct layers")
    if isinstance(model, keras.Sequential):
        return layers, model.inputs[0]
    prev = model.inputs[0]
    for layer in layers:
        try:
            inp, out = layer.input, layer.output
        except (AttributeError, ValueError) as exc:
            raise ShrinkError(f"{_describe(layer)} is called more than once; shrink needs "
                              f"a chain of layers ({exc})") from None
        if isinstance(inp, (list, tuple, dict)) or inp is not prev:
            raise ShrinkError(
                f"{_describe(layer)} does not take the previous layer's output as its only "
                "input; branching, residual (Add) and concatenation structures are not "
                "supported")
        prev = out
    if prev is not model.outputs[0]:
        raise ShrinkError(f"the output of model '{model.name}' is not the last layer's "
                          "output; shrink needs a chain of layers")
    return layers, model.inputs[0]


def _kind(layer):
    """'dense', 'conv', 'flatten', 'unit' (per-unit, maybe with per-unit weights),
    'pool' (per-channel, spatial), or raise."""
    if isinstance(layer, L.Dense):
        return "dense"
    if isinstance(layer, L.Conv2D) and type(layer) is L.Conv2D:
        if layer.data_format != "channels_last":
            raise ShrinkError(f"{_describe(layer)}: data_format='channels_first' is not "
                              "supported")
        if layer.groups != 1:
            raise ShrinkError(f"{_describe(layer)}: grouped convolutions are not supported")
        return "conv"
    if isinstance(layer, L.Flatten):
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise ShrinkError(f"{_describe(layer)}: data_format='channels_first' is not "
                              "supported")
        return "flatten"
    if isinstance(layer, _IDENTITY + _ELEMENTWISE_LAYERS):
        return "unit"
    if isinstance(layer, L.Activation):
        return "unit" if _act_name(layer.activation) in _ELEMENTWISE else "mixing"
    if isinstance(layer, L.BatchNormalization):
        if layer.axis not in (-1, len(layer.input.shape) - 1):
            raise ShrinkError(f"{_describe(layer)}: only axis=-1 is supported")
        return "unit"
    if isinstance(layer, _POOLING + _GLOBAL_POOLING):
        if layer.data_format != "channels_last":
            raise ShrinkError(f"{_describe(layer)}: data_format='channels_first' is not "
                              "supported")
        return "pool"
    if isinstance(layer, L.Softmax):
        return "mixing"
    raise ShrinkError(
        f"{_describe(layer)} is not supported by shrink (supported: Dense, Conv2D, "
        "elementwise activations, Dropout and noise layers, BatchNormalization, "
        "Max/AveragePooling2D, Global pooling, Flatten)")


# ------------------------------------------------------------------------------- main


def shrink(model, example_inputs=None, *, check=True, atol=1e-5, rtol=1e-6, n_random=3,
           seed=0):
    r"""A new Keras model with dead units physically removed, and a report.

    A unit of a Dense/Conv2D layer (with its bias, BatchNormalization entries and the
    matching rows/input channels of the next layer) is removed when no weight of the next
    layer reads it, or when all its incoming weights are zero: it then emits a constant
    :math:`c_j = g(b_j)` whose contribution :math:`C_{:,j} c_j` is added to the next
    layer's bias :math:`b_C`, so :math:`C z + b_C` is unchanged (see the module
    documentation for the rules and what is refused).

    The result is checked against the original on ``example_inputs`` and on ``n_random``
    standard normal batches of 16: :math:`\max|f_\text{shrunk}(x) - f(x)| \le
    \mathrm{atol} + \mathrm{rtol}\max|f(x)|`, else :class:`ShrinkError`.

    Parameters
    ----------
    model : keras.Sequential or keras.Model
        A single chain of layers with a defined input shape (``keras.Input``). Not
        modified.
    example_inputs : array-like, optional
        A batch for the first check (its mean and standard deviation also scale the
        random batches).
    check : bool, default=True
        Compare outputs (strongly recommended).
    atol, rtol : float, default=1e-5, 1e-6
        Tolerance of the check.
    n_random : int, default=3
        Random batches in the check, besides ``example_inputs``.
    seed : int, default=0
        Seed of the random batches (global RNGs are not touched).

    Returns
    -------
    shrunk : keras.Model
        Same kind (Sequential or functional), same layer names and configurations, fewer
        units, weights copied.
    report : ShrinkReport
        Units removed per layer, parameters before/after, unused inputs and the measured
        maximum output difference.

    Raises
    ------
    ShrinkError
        Unsupported structure or layer (named), or the check failed.
    TypeError, ValueError
        Bad arguments, naming the argument.

    Examples
    --------
    >>> import numpy as np, keras
    >>> from sparsefit.keras import shrink
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, "tanh"),
    ...                           keras.layers.Dense(2)])
    >>> k0, b0, k1, b1 = model.get_weights()
    >>> k0[:, :3] = 0     # units 0-2 get no input: they emit tanh(bias)
    >>> k1[3] = 0         # unit 3 is read by nobody
    >>> model.set_weights([k0, b0 + 0.5, k1, b1])
    >>> small, report = shrink(model)
    >>> [layer.units for layer in small.layers]
    [2, 2]
    >>> report.params_before, report.params_after, report.max_abs_diff <= 1e-5
    (44, 16, True)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    for name, v in (("atol", atol), ("rtol", rtol)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 0:
        raise ValueError(f"n_random must be a non-negative int, got {n_random!r}")
    if example_inputs is not None:
        example_inputs = np.asarray(example_inputs)
        if example_inputs.size == 0:
            raise ValueError("example_inputs is empty")
        if not np.all(np.isfinite(example_inputs)):
            raise ValueError("example_inputs contains NaN or inf")
    if check and example_inputs is None and n_random == 0:
        raise ValueError("check=True needs example_inputs or n_random > 0")

    layers, model_input = _chain(model)
    kinds = [_kind(layer) for layer in layers]
    in_shape = tuple(model_input.shape)
    if example_inputs is not None and tuple(example_inputs.shape[1:]) != in_shape[1:]:
        raise ValueError(f"example_inputs has shape {example_inputs.shape}, the model takes "
                         f"(batch,) + {in_shape[1:]}")
    # shapes along the chain
    shapes, s = [], in_shape
    for layer in layers:
        s = tuple(layer.compute_output_shape(s))
        shapes.append(s)
    W = [i for i, k in enumerate(kinds) if k in ("dense", "conv")]
    if not W:
        raise ShrinkError(f"model '{model.name}' has no Dense or Conv2D layer")

    state = {}
    for i in W:
        layer = layers[i]
        k = np.array(ops.convert_to_numpy(layer.kernel), dtype=np.float64)
        b = (np.array(ops.convert_to_numpy(layer.bias), dtype=np.float64)
             if layer.use_bias else np.zeros(k.shape[-1]))
        state[i] = {"kernel": k, "bias": b, "has_bias": bool(layer.use_bias),
                    "alive": np.ones(k.shape[-1], dtype=bool), "dead_in": 0, "dead_out": 0,
                    "note": None}

    links = []  # (P, C, between, blocked reason)
    for a, c in itertools.pairwise(W):
        between = list(range(a + 1, c))
        why = None
        if _act_name(layers[a].activation) not in _ELEMENTWISE:
            why = (f"its activation '{_act_name(layers[a].activation)}' mixes units")
        for j in between:
            if kinds[j] == "mixing":
                why = f"{_describe(layers[j])} mixes units"
        if kinds[c] == "conv" and any(kinds[j] == "flatten" for j in between):
            why = "a Flatten feeds a Conv2D"
        links.append((a, c, between, why))
        if why is not None:
            state[a]["note"] = f"units kept: {why}"

    changed = True
    while changed:
        changed = False
        for a, c, between, why in links:
            if why is None:
                changed |= _shrink_link(layers, kinds, shapes, state, a, c, between)

    # ------------------------------------------------------------------ new model
    keep = {i: np.flatnonzero(state[i]["alive"]) for i in W}
    for i in W:
        if keep[i].size == 0:
            # every unit is dead: the next layer already holds their (folded) contribution
            # and no longer reads them; keep one, as a Keras layer needs at least one unit
            keep[i] = np.array([0])
            state[i]["note"] = ("all units were dead; unit 0 kept (a Keras layer needs one), "
                                "the next layer does not read it")
    new_layers, weights = [], []
    feats = None  # kept feature indices of the current tensor's last axis (None: all)
    unused = None
    first = W[0]
    if all(kinds[j] in ("unit",) for j in range(first)):
        k0 = state[first]["kernel"]
        nz = k0 != 0
        unused = np.flatnonzero(~nz.any(axis=tuple(d for d in range(nz.ndim)
                                                   if d != nz.ndim - 2))).tolist()
    for i, layer in enumerate(layers):
        cfg = layer.get_config()
        kind = kinds[i]
        n_feat = (shapes[i - 1] if i else in_shape)[-1]
        if kind in ("dense", "conv"):
            st = state[i]
            kernel = st["kernel"]
            if feats is not None:
                kernel = np.take(kernel, feats, axis=-2)
            kernel = kernel[..., keep[i]]
            bias = st["bias"][keep[i]]
            cfg["units" if kind == "dense" else "filters"] = int(keep[i].size)
            need_bias = st["has_bias"] or bool(np.any(bias != 0))
            cfg["use_bias"] = need_bias
            w = [kernel] + ([bias] if need_bias else [])
            feats = None if keep[i].size == shapes[i][-1] else keep[i]
        elif kind == "flatten":
            if feats is not None:
                n_pos = int(np.prod(shapes[i - 1][1:-1])) if len(shapes[i - 1]) > 2 else 1
                feats = (np.arange(n_pos)[:, None] * n_feat + feats[None, :]).ravel()
            w = []
        else:
            w = [ops.convert_to_numpy(x) for x in layer.weights]
            if feats is not None:
                for x in w:
                    if x.shape[-1] != n_feat:
                        raise ShrinkError(f"{_describe(layer)} has a weight of shape "
                                          f"{x.shape} that is not per unit")
                w = [np.take(x, feats, axis=-1) for x in w]
        new_layers.append(type(layer).from_config(cfg))
        weights.append(w)

    history = getattr(model_input, "_keras_history", None)
    in_name = getattr(history[0], "name", None) if history else None
    inp = keras.Input(shape=in_shape[1:], dtype=model_input.dtype, name=in_name)
    if isinstance(model, keras.Sequential):
        new = keras.Sequential([inp, *new_layers], name=model.name)
    else:
        x = inp
        for layer in new_layers:
            x = layer(x)
        new = keras.Model(inp, x, name=model.name)
    for layer, w in zip(new_layers, weights):
        if w:
            dtypes = [v.dtype for v in layer.weights]
            layer.set_weights([np.asarray(x, dtype=d) for x, d in zip(w, dtypes)])

    report = ShrinkReport(unused_inputs=unused)
    report.params_before = int(sum(np.prod(v.shape) for v in model.weights))
    report.params_after = int(sum(np.prod(v.shape) for v in new.weights))
    for i, layer in zip(W, [new_layers[i] for i in W]):
        st = state[i]
        report.layers.append({
            "layer": layers[i].name, "type": type(layers[i]).__name__,
            "out_before": int(st["alive"].size), "out_after": int(keep[i].size),
            "removed_dead_in": st["dead_in"], "removed_dead_out": st["dead_out"],
            "params_before": int(sum(np.prod(v.shape) for v in layers[i].weights)),
            "params_after": int(sum(np.prod(v.shape) for v in layer.weights)),
            "note": st["note"]})
    if check:
        _check(model, new, in_shape, example_inputs, report, atol, rtol, n_random, seed)
    return new, report


def _features(kinds, shapes, between, a, j, n_units):
    """Indices (on the consumer's input last axis) carrying unit ``j`` of layer ``a``."""
    flat = [k for k in between if kinds[k] == "flatten"]
    if not flat:
        return np.array([j])
    before = shapes[flat[0] - 1]
    n_pos = int(np.prod(before[1:-1])) if len(before) > 2 else 1
    return np.arange(n_pos) * n_units + j


def _constant_output(layers, shapes, state, a, between):
    """What the units of layer ``a`` emit at the consumer's input when they get no input:
    their bias through the activation and the layers in between, for one sample."""
    pre = np.broadcast_to(state[a]["bias"], (1,) + tuple(shapes[a][1:]))
    dtype = layers[a].compute_dtype
    z = layers[a].activation(ops.convert_to_tensor(pre.astype(dtype)))
    for k in between:
        z = layers[k](z, training=False)
    return np.asarray(ops.convert_to_numpy(z), dtype=np.float64)[0]


def _shrink_link(layers, kinds, shapes, state, a, c, between):
    P, C = state[a], state[c]
    n_units = P["kernel"].shape[-1]
    kc = C["kernel"]
    changed = False
    z = None
    for j in np.flatnonzero(P["alive"]):
        cols = _features(kinds, shapes, between, a, j, n_units)
        reads = np.take(kc, cols, axis=-2)
        if not np.any(reads):
            P["alive"][j] = False
            P["dead_out"] += 1
            changed = True
            continue
        if np.any(P["kernel"][..., j]):
            continue
        # dead on the way in: a constant; fold it into C's bias when that is exact
        if z is None:
            z = _constant_output(layers, shapes, state, a, between)
        if kinds[c] == "dense" and len(cols) > 1:
            vals = z.reshape(-1)[cols]                      # after a Flatten: per column
            contrib = vals @ kc[cols, :]
        else:
            vals = z[..., j].reshape(-1)
            if not np.all(vals == vals[0]):
                P["note"] = f"unit {j} kept: its constant output varies across positions"
                continue
            cj = vals[0]
            if kinds[c] == "conv":
                if layers[c].padding != "valid" and cj != 0:
                    P["note"] = (f"unit {j} kept: its constant output {cj:.3g} enters a "
                                 f"padding='{layers[c].padding}' convolution (differs at "
                                 "the borders)")
                    continue
                contrib = cj * kc[:, :, j, :].sum(axis=(0, 1))
            else:
                contrib = cj * kc[j, :]
        C["bias"] = C["bias"] + contrib
        if kinds[c] == "conv":
            kc[:, :, j, :] = 0
        else:
            kc[cols, :] = 0
        P["alive"][j] = False
        P["dead_in"] += 1
        changed = True
    return changed


def _check(model, new, in_shape, example_inputs, report, atol, rtol, n_random, seed):
    rng = np.random.default_rng(seed)
    batches = []
    dtype = "float32"
    loc, scale = 0.0, 1.0
    if example_inputs is not None:
        batches.append(example_inputs)
        loc, scale = float(example_inputs.mean()), float(example_inputs.std()) or 1.0
    for _ in range(n_random):
        batches.append(loc + scale * rng.standard_normal((16,) + tuple(in_shape[1:])))
    worst, tol = 0.0, 0.0
    for x in batches:
        x = np.asarray(x, dtype=dtype)
        y0 = np.asarray(ops.convert_to_numpy(model(x, training=False)), dtype=np.float64)
        y1 = np.asarray(ops.convert_to_numpy(new(x, training=False)), dtype=np.float64)
        worst = max(worst, float(np.max(np.abs(y0 - y1), initial=0.0)))
        tol = max(tol, atol + rtol * float(np.max(np.abs(y0), initial=0.0)))
    report.max_abs_diff, report.tolerance, report.n_checks = worst, tol, len(batches)
    if not worst <= tol:
        raise ShrinkError(f"the shrunk model's outputs differ from the original's by "
                          f"{worst:.3g} > {tol:.3g}; refusing to return it")
