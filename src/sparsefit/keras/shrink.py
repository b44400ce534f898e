r"""Physically remove dead units (neurons, filters) from a Keras model.

Zeros inside a dense kernel do not make inference faster; removing whole units does.
:func:`shrink` returns a new, smaller model that computes the same function.

Which units are removed
-----------------------
Every tensor's last axis (channels_last) carries channels. ``Dense``, ``Conv2D`` and
``MultiHeadAttention`` create them; elementwise activations, Dropout,
BatchNormalization, pooling pass them through; a Flatten repeats each over its
positions; ``Add`` (and the other merges) joins the channels of its inputs into coupled
groups, removed together; ``Concatenate`` lays its inputs' channels side by side. A
coupled group (unit :math:`j` of :math:`P`: column ``j`` of a Dense kernel ``(in, out)``,
filter ``j`` of a Conv2D kernel ``(kh, kw, in, out)``, with every unit joined to it) is

- *disconnected on the way out* when every weight of :math:`C` reading it is zero
  (after a Flatten, the whole block of columns of channel :math:`j`): it is removed;
- *disconnected on the way in* when its incoming kernel slice is all zero: it emits the
  constant :math:`c_j = g(b_j)` (e.g. :math:`\mathrm{relu}(b_j)`). Its contribution
  :math:`C_{:, j} c_j` is folded into the bias of :math:`C` (created if :math:`C` has
  none), then the unit is removed. When that contribution is not the same at every
  position (a nonzero constant channel entering a ``padding="same"`` convolution differs
  at the borders) the unit is kept: exactness first.

A ``MultiHeadAttention`` head (its query, key and value kernels' slices and the output
kernel's rows) is removed when the output kernel does not read it, or when its value
kernel is zero: it then emits its value bias (attention weights sum to one), folded
into the output bias.

Removing units can disconnect others, so this runs to a fixed point. Units reaching the
model output are kept; every layer keeps at least one unit, every attention layer one
head.

What is refused (:class:`ShrinkError`, naming the layer): several inputs, a layer used
twice, nested models, layers other than those listed above (LayerNormalization
included), ``channels_first``, grouped convolutions, and any result whose outputs differ
from the original's.
"""

from __future__ import annotations

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
_POOLING = (L.MaxPooling2D, L.AveragePooling2D, L.MaxPooling1D, L.AveragePooling1D)
_GLOBAL_POOLING = (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D, L.GlobalAveragePooling1D,
                   L.GlobalMaxPooling1D)


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




# ------------------------------------------------------------------------- the graph


_MERGES = (L.Add, L.Subtract, L.Average, L.Maximum, L.Minimum, L.Multiply)


def _kind(layer):
    """How shrink treats ``layer`` ('dense', 'conv', 'mha', 'merge', 'concat', 'flatten',
    'unit', 'pool', 'mixing', 'input'), or raise naming it."""
    if isinstance(layer, L.InputLayer):
        return "input"
    if isinstance(layer, keras.Model):
        raise ShrinkError(f"{_describe(layer)} is a nested model; shrink needs a flat "
                          "model of layers")
    if isinstance(layer, L.Dense):
        return "dense"
    if isinstance(layer, L.Conv2D) and type(layer) is L.Conv2D:
        if layer.data_format != "channels_last":
            raise ShrinkError(f"{_describe(layer)}: data_format='channels_first' is not "
                              "supported")
        if layer.groups != 1:
            raise ShrinkError(f"{_describe(layer)}: grouped convolutions are not supported")
        return "conv"
    if isinstance(layer, L.MultiHeadAttention):
        if getattr(layer, "_use_gate", False) or layer.get_config().get("use_gate"):
            raise ShrinkError(f"{_describe(layer)}: gated attention is not supported")
        return "mha"
    if isinstance(layer, _MERGES):
        return "merge"
    if isinstance(layer, L.Concatenate):
        return "concat"
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
        "MultiHeadAttention, Add and the other merges, Concatenate, elementwise activations, "
        "Dropout and noise layers, BatchNormalization, Max/AveragePooling2D, Global "
        "pooling, Flatten)")


class _UF:
    def __init__(self):
        self.parent = []

    def new(self, n):
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return np.arange(start, start + n, dtype=np.int64)

    def find(self, a):
        p = self.parent
        while p[a] != a:
            p[a] = p[p[a]]
            a = p[a]
        return a

    def union(self, a, b):
        for x, y in zip(np.asarray(a).ravel().tolist(), np.asarray(b).ravel().tolist()):
            if x >= 0 and y >= 0:
                rx, ry = self.find(x), self.find(y)
                if rx != ry:
                    self.parent[max(rx, ry)] = min(rx, ry)


def _np(v):
    return np.array(ops.convert_to_numpy(v), dtype=np.float64)


class _Use:
    """A Dense, Conv2D or MultiHeadAttention layer: its atoms, inputs and weights."""

    def __init__(self, layer, kind, uf):
        self.layer, self.kind = layer, kind
        self.w = {v.path.rsplit("/", 2)[-2] + "/" + v.path.rsplit("/", 1)[-1]
                  if kind == "mha" else v.path.rsplit("/", 1)[-1]: _np(v)
                  for v in layer.weights}
        self.out = uf.new(self.n_out())
        self.heads = uf.new(layer._num_heads) if kind == "mha" else None
        self.inputs = {}          # port -> (atoms, const, tensor)
        self.note = None

    def kernel(self, port=0):
        if self.kind != "mha":
            return self.w["kernel"]
        return self.w[("query", "key", "value")[port] + "/kernel"]

    def n_out(self):
        if self.kind == "mha":
            return self.w["attention_output/kernel"].shape[-1]
        return self.w["kernel"].shape[-1]

    def rows(self, port=0):
        """Bool (n_in, n_out-ish): input i reaches output j through a nonzero weight."""
        k = self.kernel(port) != 0
        return k.reshape(-1, k.shape[-2], k.shape[-1]).any(axis=0) if self.kind == "conv" \
            else k.reshape(k.shape[0], -1)

    def const_out(self, const_in):
        if self.kind == "mha":
            return ~(self.w["attention_output/kernel"] != 0).reshape(-1, self.n_out()).any(0)
        r = self.rows()
        return ~(r & ~const_in[:, None]).any(axis=0) if const_in is not None else ~r.any(0)

    def unused(self, port=0):
        return ~self.rows(port).any(axis=1)

    def head_state(self):
        wo = (self.w["attention_output/kernel"] != 0)
        unused = ~wo.reshape(wo.shape[0], -1).any(axis=1)
        wv = (self.w["value/kernel"] != 0)
        const = ~wv.transpose(1, 0, 2).reshape(wv.shape[1], -1).any(axis=1)
        return unused, const


class _Graph:
    """Channel atoms along the last axis of every tensor of a functional model."""

    def __init__(self, model):
        model = getattr(model, "_functional", None) or model   # a Sequential's graph
        self.uf = _UF()
        self.info, self.uses, self.bns, self.pins, self.readers = {}, {}, {}, {}, []
        self.input_readers = []
        if not model.inputs or not model.outputs:
            raise ShrinkError(f"model '{model.name}' has no defined input; build it with "
                              "keras.Input(shape) first")
        if len(model.inputs) != 1:
            raise ShrinkError(f"model '{model.name}' must have exactly one input, got "
                              f"{len(model.inputs)}")
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                self._visit(node)
        for t in model.outputs:
            self.pin(self.info[id(t)][0], "it is an output of the model")

    def pin(self, atoms, reason):
        for a in np.asarray(atoms).ravel().tolist():
            if a >= 0:
                self.pins.setdefault(a, reason)

    def _in(self, t):
        return self.info[id(t)]

    def _visit(self, node):
        layer = node.operation
        kind = _kind(layer)
        if kind != "input" and len(getattr(layer, "_inbound_nodes", [])) > 1:
            raise ShrinkError(f"{_describe(layer)} is called more than once (shared "
                              "weights); shrink needs each layer used once")
        outs = node.output_tensors
        if kind == "input":
            n = outs[0].shape[-1]
            self.info[id(outs[0])] = (np.full(n, -1), np.zeros(n, bool), True)
            return
        ins = node.input_tensors
        getattr(self, "_" + kind)(layer, ins, outs, node)

    def _set(self, t, atoms, const, from_input=False):
        self.info[id(t)] = (np.asarray(atoms), np.asarray(const, bool), from_input)

    def _reader(self, use, port, t):
        atoms, const, from_input = self._in(t)
        use.inputs[port] = (atoms, const, t)
        self.readers.append((use, port))
        if from_input and port == 0:
            self.input_readers.append(use)

    def _dense(self, layer, ins, outs, node, kind="dense"):
        use = self.uses[layer.name] = _Use(layer, kind, self.uf)
        self._reader(use, 0, ins[0])
        self._out(use, layer, outs[0])

    def _conv(self, layer, ins, outs, node):
        self._dense(layer, ins, outs, node, kind="conv")

    def _out(self, use, layer, t):
        const = use.const_out(use.inputs[0][1] if use.kind != "mha" else None)
        if use.kind != "mha" and _act_name(layer.activation) not in _ELEMENTWISE:
            why = f"its activation '{_act_name(layer.activation)}' mixes units"
            self.pin(use.out, why)
            use.note = f"units kept: {why}"
        self._set(t, use.out, const)

    def _mha(self, layer, ins, outs, node):
        use = self.uses[layer.name] = _Use(layer, "mha", self.uf)
        args = node.arguments.args
        q = args[0]
        v = args[1] if len(args) > 1 else node.arguments.kwargs["value"]
        k = args[2] if len(args) > 2 and args[2] is not None else node.arguments.kwargs.get(
            "key", v)
        if k is None:
            k = v
        for port, t in enumerate((q, k, v)):
            self._reader(use, port, t)
        self._out(use, layer, outs[0])
        if len(outs) > 1:
            self.pin(use.heads, f"the attention scores of {_describe(layer)} are an output")

    def _unit(self, layer, ins, outs, node):
        atoms, const, from_input = self._in(ins[0])
        if isinstance(layer, L.BatchNormalization):
            self.bns[layer.name] = (layer, atoms)
            gamma = _np(layer.gamma) if layer.scale else None
            if gamma is not None:
                const = const | (gamma == 0)
        self._set(outs[0], atoms, const, from_input)

    _pool = _unit

    def _mixing(self, layer, ins, outs, node):
        atoms, const, _ = self._in(ins[0])
        self.pin(atoms, f"{_describe(layer)} mixes units")
        self._set(outs[0], atoms, np.zeros_like(const))

    def _flatten(self, layer, ins, outs, node):
        atoms, const, _ = self._in(ins[0])
        reps = int(np.prod(ins[0].shape[1:-1])) if len(ins[0].shape) > 2 else 1
        # channels_last: column p * C + c holds channel c at position p
        self._set(outs[0], np.tile(atoms, reps), np.tile(const, reps))

    def _merge(self, layer, ins, outs, node):
        infos = [self._in(t) for t in ins]
        atoms = infos[0][0].copy()
        for other, _, _ in infos[1:]:
            self.uf.union(atoms, other)
            atoms = np.where(atoms >= 0, atoms, other)
        const = np.logical_and.reduce([c for _, c, _ in infos])
        self._set(outs[0], atoms, const)

    def _concat(self, layer, ins, outs, node):
        if layer.axis not in (-1, len(outs[0].shape) - 1):
            return self._merge(layer, ins, outs, node)
        infos = [self._in(t) for t in ins]
        self._set(outs[0], np.concatenate([a for a, _, _ in infos]),
                  np.concatenate([c for _, c, _ in infos]))


# -------------------------------------------------------------------------- the plan


def _statuses(g):
    st = {}

    def get(a):
        return st.setdefault(g.uf.find(int(a)), {"ok": True, "unused": True, "pin": None,
                                                 "producers": []})
    for use in g.uses.values():
        for j, a in enumerate(use.out.tolist()):
            get(a)["producers"].append((use.layer.name, j))
        if use.heads is not None:
            unused, const = use.head_state()
            for h, a in enumerate(use.heads.tolist()):
                s = get(a)
                s["producers"].append((use.layer.name, f"head {h}"))
                s["ok"] &= bool(unused[h] or const[h])
                s["unused"] &= bool(unused[h])
    for a, why in g.pins.items():
        get(a)["pin"] = get(a)["pin"] or why
    for use, port in g.readers:
        atoms, const, _ = use.inputs[port]
        unused = use.unused(port)
        for a in set(atoms[atoms >= 0].tolist()):
            s = get(a)
            pos = np.array([g.uf.find(int(x)) == g.uf.find(a) if x >= 0 else False
                            for x in atoms])
            u = bool(unused[pos].all())
            s["unused"] &= u
            s["ok"] &= u or bool(const[pos].all())
    return st


def _removed(g, remove):
    def gone(atoms):
        return np.array([a >= 0 and g.uf.find(int(a)) in remove for a in np.ravel(atoms)],
                        dtype=bool).reshape(np.shape(atoms))
    return gone


def _keep_one(g, remove):
    changed = True
    while changed:
        changed = False
        gone = _removed(g, remove)
        for use in g.uses.values():
            for atoms in (use.out, use.heads):
                if atoms is not None and len(atoms) and gone(atoms).all():
                    remove.discard(g.uf.find(int(atoms[0])))
                    changed = True
        for atoms, _, _ in g.info.values():
            if len(atoms) and gone(atoms).all():
                remove.discard(g.uf.find(int(atoms[0])))
                changed = True
    return _removed(g, remove)


def _fold_values(model, g, tensors):
    """Constant values along the last axis of ``tensors`` (None where not the same at
    every position)."""
    if not tensors:
        return {}
    probe = keras.Model(model.inputs[0], list(tensors))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    outs = probe(x, training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    vals = {}
    for t, v in zip(tensors, outs):
        v = _np(v)
        flat = v.reshape(-1, v.shape[-1])
        c = flat.mean(axis=0)
        same = np.abs(flat - c).max(axis=0) <= 1e-6 * (1.0 + np.abs(c))
        vals[id(t)] = (c, same)
    return vals


def _fold_delta(use, port, c):
    """Output-bias (or q/k/v-bias) change from constant inputs ``c``; None if inexact."""
    if not np.any(c):
        return 0.0
    k = use.kernel(port)
    if use.kind == "conv":
        if use.layer.padding != "valid":
            return None
        return np.einsum("hwio,i->o", k, c)
    return np.tensordot(c, k, axes=(0, 0))


def _plan(model, g, st):
    remove = {r for r, s in st.items() if s["pin"] is None and s["ok"]}
    notes = {}
    while True:
        gone = _keep_one(g, remove)
        need = [(use, port) for use, port in g.readers
                if (gone(use.inputs[port][0]) & ~use.unused(port)).any()]
        vals = _fold_values(model, g, list({id(use.inputs[p][2]): use.inputs[p][2]
                                            for use, p in need}.values()))
        folds, bad = [], set()
        for use, port in need:
            atoms, _, t = use.inputs[port]
            pos = gone(atoms) & ~use.unused(port)
            c, same = vals[id(t)]
            roots = np.array([g.uf.find(int(a)) if a >= 0 else -1 for a in atoms])
            delta = _fold_delta(use, port, np.where(pos, c, 0.0)) if same[pos].all() else None
            if delta is not None:
                folds.append((use, port, delta))
                continue
            for root in set(roots[pos].tolist()):
                one = pos & (roots == root)
                if same[one].all() and _fold_delta(use, port, np.where(one, c, 0.0)) is not None:
                    continue
                bad.add(root)
                for layer, _ in st[root]["producers"]:
                    notes[layer] = ("unit(s) kept: their constant output is not the same at "
                                    "every position where it is read (padding='same')")
        if not bad:
            return remove, gone, folds, notes
        remove -= bad


# ------------------------------------------------------------------------ rebuilding


def _new_weights(g, gone, folds):
    """``{layer name: (config changes, weights)}`` for every layer that changes."""
    bias = {}
    for use, port, delta in folds:
        key = (use.layer.name, port)
        bias[key] = bias.get(key, 0.0) + delta
    out = {}
    for use in g.uses.values():
        keep_out = np.flatnonzero(~gone(use.out))
        if use.kind == "mha":
            out[use.layer.name] = _mha_weights(use, gone, keep_out, bias)
            continue
        keep_in = np.flatnonzero(~gone(use.inputs[0][0]))
        k = np.take(np.take(use.w["kernel"], keep_in, axis=-2), keep_out, axis=-1)
        b = use.w.get("bias", np.zeros(use.n_out())) + bias.get((use.layer.name, 0), 0.0)
        cfg = {"units" if use.kind == "dense" else "filters": int(keep_out.size)}
        needs_bias = "bias" in use.w or np.any(b != 0)
        cfg["use_bias"] = bool(needs_bias)
        out[use.layer.name] = (cfg, [k] + ([b[keep_out]] if needs_bias else []))
    for name, (layer, atoms) in g.bns.items():
        keep = np.flatnonzero(~gone(atoms))
        out[name] = ({}, [np.take(_np(w), keep, axis=-1) for w in layer.weights])
    return out


def _mha_weights(use, gone, keep_out, bias):
    heads = np.flatnonzero(~gone(use.heads))
    unused, const = use.head_state()
    w = use.w
    bo = w.get("attention_output/bias", np.zeros(use.n_out())).copy()
    if "value/bias" in w:
        for h in np.flatnonzero(gone(use.heads) & ~unused & const):
            # a head with zero value rows emits its value bias (attention sums to one)
            bo += w["value/bias"][h] @ w["attention_output/kernel"][h]
    weights = []
    for port, name in enumerate(("query", "key", "value")):
        keep_in = np.flatnonzero(~gone(use.inputs[port][0]))
        weights.append(w[name + "/kernel"][keep_in][:, heads])
        if name + "/bias" in w:
            weights.append((w[name + "/bias"] + bias.get((use.layer.name, port), 0.0))[heads])
    weights.append(w["attention_output/kernel"][heads][:, :, keep_out])
    if "attention_output/bias" in w:
        weights.append(bo[keep_out])
    n_query = int((~gone(use.inputs[0][0])).sum())
    cfg = {"num_heads": int(heads.size)}
    if keep_out.size != n_query or use.layer.get_config().get("output_shape") is not None:
        cfg["output_shape"] = (int(keep_out.size),)
    return cfg, weights


def _rebuild(model, changes):
    def clone(layer):
        cfg = layer.get_config()
        if layer.name in changes:
            cfg.update(changes[layer.name][0])
        return type(layer).from_config(cfg)
    kw = {}
    if not isinstance(model, keras.Sequential):
        # the same input layer name as the original
        t = model.inputs[0]
        history = getattr(t, "_keras_history", None)
        name = getattr(history[0], "name", None) if history else None
        kw["input_tensors"] = keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype, name=name)
    new = keras.models.clone_model(model, clone_function=clone, **kw)
    for layer, old in zip(new.layers, model.layers):
        if layer.name in changes:
            ws = changes[layer.name][1]
            layer.set_weights([np.asarray(x, dtype=v.dtype) for x, v in zip(ws, layer.weights)])
        elif old.weights:
            layer.set_weights(old.get_weights())
    return new


# ------------------------------------------------------------------------------- main


def _validate(model, example_inputs, atol, rtol, n_random, check):
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
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ShrinkError(f"model '{model.name}' has no defined input; build it with "
                          "keras.Input(shape) first")
    in_shape = tuple(inputs[0].shape)
    if example_inputs is not None and tuple(example_inputs.shape[1:]) != in_shape[1:]:
        raise ValueError(f"example_inputs has shape {example_inputs.shape}, the model takes "
                         f"(batch,) + {in_shape[1:]}")
    return example_inputs, in_shape


def _weights_count(layer):
    return int(sum(np.prod(v.shape) for v in layer.weights))


def shrink(model, example_inputs=None, *, check=True, atol=1e-5, rtol=1e-6, n_random=3,
           seed=0):
    r"""A new Keras model with dead units and attention heads physically removed, and a
    report.

    A unit of a Dense/Conv2D layer (with its bias, BatchNormalization entries and the
    matching rows/input channels of the layers reading it, across ``Add`` and
    ``Concatenate``), or a ``MultiHeadAttention`` head, is removed when no weight of the
    layers reading it is nonzero, or when it is constant: all its incoming weights are
    zero, and its constant :math:`c_j = g(b_j)` (a head: its value bias) is folded into
    the readers' biases, so their outputs are unchanged (see the module documentation
    for the rules and what is refused).

    The result is checked against the original on ``example_inputs`` and on ``n_random``
    standard normal batches of 16: :math:`\max|f_\text{shrunk}(x) - f(x)| \le
    \mathrm{atol} + \mathrm{rtol}\max|f(x)|`, else :class:`ShrinkError`.

    Parameters
    ----------
    model : keras.Sequential or keras.Model
        A model with a defined input shape (``keras.Input``), one input. Not modified.
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
        units and heads, weights copied.
    report : ShrinkReport
        Units removed per layer, parameters before/after, unused inputs and the measured
        maximum output difference.

    Raises
    ------
    ShrinkError
        Unsupported layer (named), or the check failed.
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
    example_inputs, in_shape = _validate(model, example_inputs, atol, rtol, n_random, check)
    current, counts, notes, first, all_dead = model, {}, {}, None, set()
    for _ in range(100):
        g = _Graph(current)
        first = first or g
        st = _statuses(g)
        remove, gone, folds, nt = _plan(current, g, st)
        notes.update(nt)
        for use in g.uses.values():
            roots = {g.uf.find(int(a)) for a in use.out}
            if all(st[r]["pin"] is None and st[r]["ok"] for r in roots) and len(use.out) > 1:
                all_dead.add(use.layer.name)
        if not remove:
            break
        for use in g.uses.values():
            c = counts.setdefault(use.layer.name, {"dead_in": 0, "dead_out": 0})
            for a in use.out[gone(use.out)]:
                c["dead_out" if st[g.uf.find(int(a))]["unused"] else "dead_in"] += 1
        current = _rebuild(current, _new_weights(g, gone, folds))
    report = _report(model, current, first, counts, notes, all_dead)
    if check:
        _check(model, current, in_shape, example_inputs, report, atol, rtol, n_random, seed)
    return current, report


def _report(model, new, g, counts, notes, all_dead):
    report = ShrinkReport()
    report.params_before = int(sum(np.prod(v.shape) for v in model.weights))
    report.params_after = int(sum(np.prod(v.shape) for v in new.weights))
    if len(g.input_readers) == 1:
        use = g.input_readers[0]
        report.unused_inputs = np.flatnonzero(use.unused(0)).tolist()
    for use in g.uses.values():
        name = use.layer.name
        after = new.get_layer(name)
        c = counts.get(name, {"dead_in": 0, "dead_out": 0})
        note = use.note or notes.get(name)
        out_after = (_Use(after, use.kind, _UF()).n_out())
        if name in all_dead and out_after == 1 and len(use.out) > 1:
            note = ("all units were dead; unit 0 kept (a Keras layer needs one), the next "
                    "layer does not read it")
        row = {"layer": name, "type": type(use.layer).__name__, "out_before": len(use.out),
               "out_after": out_after, "removed_dead_in": c["dead_in"],
               "removed_dead_out": c["dead_out"],
               "params_before": _weights_count(use.layer), "params_after": _weights_count(after),
               "note": note}
        if use.kind == "mha":
            row["heads_before"], row["heads_after"] = use.layer._num_heads, after._num_heads
        report.layers.append(row)
    return report


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
