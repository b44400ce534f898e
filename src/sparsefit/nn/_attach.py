"""Attaching penalties to the parameters of torch modules, Keras style.

An attachment lives in the module's ``__dict__`` (attribute ``_sparsefit``): parameters,
buffers and therefore ``state_dict()`` keys are untouched, ``copy.deepcopy`` and pickling
carry it along, and ``unregularize`` removes it without a trace. The module's ``repr``
shows it (the instance's ``extra_repr`` is extended while something is attached).

An attachment names a parameter (``"weight"``); what holds that parameter may change after
:func:`regularize`. Masks compose: after ``torch.nn.utils.prune`` (``weight_orig`` times
``weight_mask``) or :func:`sparsefit.nn.prune` (a ``Mask`` parametrization), the penalty is
that of the masked weight and the prox acts on the tensor the optimizer updates
(``weight_orig``, ``parametrizations.weight.original``) where the mask keeps it. Other
parametrizations (``weight_norm``, ``spectral_norm``, orthogonal, your own) and the old
``torch.nn.utils.weight_norm`` leave the penalty defined (on the weight the layer computes
with: :func:`penalty` and penalty-in-the-loss training work), but the prox of a penalty on
``P(original)`` is not a prox on ``original``: :class:`~sparsefit.nn.Proximal` refuses them
at its first step, naming the layer.
"""

from __future__ import annotations

import itertools
import weakref

import torch
from torch import nn

from .. import penalties as _penalties
from ..penalties import Penalty

__all__ = [
    "AttachedPenalty",
    "attachments",
    "kernel_mask",
    "penalty",
    "penalty_config",
    "regularize",
    "regularize_model",
    "summary",
    "unregularize",
]

# Modules that carry at least one attachment, so the optimizer wrapper can find the
# penalty of a parameter without being handed the model. Weak: a model that is dropped
# disappears from it. The version counter lets the wrapper cache its lookups.
_LIVE = weakref.WeakSet()
_VERSION = itertools.count()
_version = [next(_VERSION)]


def _bump():
    _version[0] = next(_VERSION)


_NORM_TYPES = tuple(t for t in (
    getattr(nn.modules.batchnorm, "_NormBase", None),
    nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, getattr(nn, "RMSNorm", None),
) if t is not None)

_OUT_ALIASES = ("out", "neurons", "units", "filters", "out_channels")
_IN_ALIASES = ("in", "features", "inputs", "in_channels")


def _unit_axes(module):
    """``(out_axis, in_axis)`` of a module's weight: which slices are its units/inputs."""
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return 1, 0  # weight is (in_channels, out_channels / groups, *kernel)
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return 1, 0  # weight is (num_embeddings, embedding_dim): rows are the tokens
    return 0, 1


def _is_group_penalty(pen):
    return not pen.is_separable and hasattr(pen, "groups")


class Target:
    """How an attached parameter is held now (see the module documentation).

    Attributes
    ----------
    kind : {"plain", "masked", "parametrized", "weight_norm"}
    param : torch.nn.Parameter or None
        The tensor the optimizer updates (``None`` for the kinds the prox cannot act on).
    mask : torch.Tensor or None
        ``kind == "masked"``: where the layer uses ``param`` (bool, its shape).
    how : str
        What holds it, for messages.
    """

    __slots__ = ("how", "kind", "mask", "module", "name", "param")

    def __init__(self, module, name, kind, param=None, mask=None, how=""):
        self.module, self.name, self.kind = module, name, kind
        self.param, self.mask, self.how = param, mask, how

    def effective(self):
        """The tensor the layer computes with, differentiable in what the optimizer updates."""
        if self.kind == "plain":
            return self.param
        if self.kind == "masked":
            return self.param * self.mask
        # parametrized: the parametrization's forward; weight_norm: recompute it
        if self.kind == "weight_norm":
            return self.how_obj().compute_weight(self.module)
        return getattr(self.module, self.name)

    def how_obj(self):
        for hook in self.module._forward_pre_hooks.values():
            if _is_weight_norm(hook) and hook.name == self.name:
                return hook
        raise AssertionError("weight_norm hook vanished")  # pragma: no cover


def _is_weight_norm(hook):
    from torch.nn.utils.weight_norm import WeightNorm

    return isinstance(hook, WeightNorm)


def _is_torch_prune(hook, name):
    from torch.nn.utils import prune as torch_prune

    return isinstance(hook, torch_prune.BasePruningMethod) and hook._tensor_name == name


def resolve(module, name):
    """The :class:`Target` of ``module``'s parameter ``name`` as it is held now.

    Raises
    ------
    ValueError
        If the module holds no such parameter any more (naming what it has).
    """
    from torch.nn.utils import parametrize

    p = module._parameters.get(name)
    if p is not None:
        return Target(module, name, "plain", p)
    if parametrize.is_parametrized(module, name):
        from .prune import Mask

        plist = module.parametrizations[name]
        if all(isinstance(m, Mask) for m in plist):
            mask = plist[0].mask
            for m in list(plist)[1:]:
                mask = mask & m.mask
            return Target(module, name, "masked", plist.original, mask,
                          "sparsefit.nn.prune (a Mask parametrization)")
        kinds = ", ".join(type(m).__name__ for m in plist)
        return Target(module, name, "parametrized", None, None,
                      f"torch.nn.utils.parametrize ({kinds})")
    for hook in module._forward_pre_hooks.values():
        if _is_torch_prune(hook, name):
            return Target(module, name, "masked", module._parameters[name + "_orig"],
                          module._buffers[name + "_mask"].to(torch.bool),
                          "torch.nn.utils.prune")
        if _is_weight_norm(hook) and hook.name == name:
            return Target(module, name, "weight_norm", None, None,
                          "torch.nn.utils.weight_norm")
    raise ValueError(
        f"{type(module).__name__} has no parameter {name!r} any more (a penalty is attached "
        f"to it); its parameters are {_param_names(module)}")


class AttachedPenalty:
    """A penalty attached to one parameter of a module (and optionally its bias).

    Attributes
    ----------
    name : str
        The parameter's name in its module (``"weight"``, ``"weight_ih_l0"``, ...).
    penalty : Penalty
        The penalty, applied to :meth:`view` of the parameter.
    group_by : str, int or None
        As given to :func:`regularize`.
    axis : int or None
        The weight axis moved to the front before the penalty sees it (its slices are the
        groups of a row-grouped penalty); ``None`` for the weight as it is.
    bias_name : str or None
        The bias whose entries join the groups (``include_bias=True``).
    """

    def __init__(self, name, penalty, group_by=None, axis=None, bias_name=None):
        self.name = name
        self.penalty = penalty
        self.group_by = group_by
        self.axis = axis
        self.bias_name = bias_name

    # -- the tensor the penalty sees --------------------------------------------------
    def assemble(self, w, b=None):
        """Arrange ``w`` (and ``b``) the way the penalty sees them; differentiable."""
        v = w if not self.axis else w.movedim(self.axis, 0)
        if self.bias_name is not None:
            v = torch.cat([v.reshape(v.shape[0], -1), b.reshape(-1, 1)], dim=1)
        return v

    def targets(self, module):
        """:class:`Target` of the weight (and of the bias): what the optimizer updates."""
        out = [resolve(module, self.name)]
        if self.bias_name is not None:
            out.append(resolve(module, self.bias_name))
        return out

    def params(self, module):
        """The tensors this attachment covers as the layer computes with them: ``[weight]``
        or ``[weight, bias]`` (masked or parametrized ones included, differentiably)."""
        return [t.effective() for t in self.targets(module)]

    def view(self, module):
        return self.assemble(*self.params(module))

    def value(self, module):
        """Differentiable penalty value of the module's current parameter."""
        return self.penalty.value(self.view(module))

    def split(self, new, w_shape, b_shape=None):
        """The inverse of :meth:`assemble`: ``new`` (shaped like the view) as ``[w]`` or
        ``[w, b]`` tensors of the parameters' shapes."""
        out = []
        if self.bias_name is not None:
            k = new.shape[1] - 1
            b = new[:, k].reshape(b_shape)
            new = new[:, :k]
            moved = tuple(w_shape) if not self.axis else (w_shape[self.axis], *(
                d for i, d in enumerate(w_shape) if i != self.axis))
            new = new.reshape(moved)
            out.append(b)
        w = new if not self.axis else new.movedim(0, self.axis)
        return [w.reshape(w_shape), *out]

    @torch.no_grad()
    def write(self, module, new):
        """Copy ``new`` (shaped like :meth:`view`) back into what the optimizer updates, in
        place (where a mask keeps it, for masked parameters)."""
        targets = self.targets(module)
        for t in targets:
            if t.param is None:
                raise ValueError(
                    f"cannot write the prox of {self.name!r} of {type(module).__name__}: it is "
                    f"held by {t.how}")
        parts = self.split(new, targets[0].param.shape,
                           targets[1].param.shape if len(targets) > 1 else None)
        for t, part in zip(targets, parts):
            if t.mask is None:
                t.param.copy_(part)
            else:
                t.param.copy_(torch.where(t.mask, part, t.param))

    def describe(self):
        extra = []
        if self.group_by is not None:
            extra.append(f"group_by={self.group_by!r}")
        if self.bias_name is not None:
            extra.append(f"+{self.bias_name}")
        return repr(self.penalty) + (f" [{', '.join(extra)}]" if extra else "")

    def config(self):
        return {"penalty": _penalties.serialize(self.penalty), "group_by": self.group_by,
                "include_bias": self.bias_name is not None}

    def __repr__(self):
        return f"AttachedPenalty({self.name!r}, {self.describe()})"


class _State:
    """Per-module attachments. Also the module's ``extra_repr`` while it has any."""

    def __init__(self, module):
        self.module = module
        self.items = {}

    def __call__(self):
        base = type(self.module).extra_repr(self.module)
        pens = ", ".join(f"{k}: {a.describe()}" for k, a in self.items.items())
        return (base + ", " if base else "") + "penalties={" + pens + "}"

    def __getstate__(self):
        return {"module": self.module, "items": self.items}

    def __setstate__(self, state):
        # runs on copy.deepcopy and unpickling: the copy must be findable as well
        self.__dict__.update(state)
        _LIVE.add(self.module)
        _bump()


def _state(module, create=False):
    st = module.__dict__.get("_sparsefit")
    if st is None and create:
        st = _State(module)
        module.__dict__["_sparsefit"] = st
        module.__dict__["extra_repr"] = st
        _LIVE.add(module)
    return st


def _drop_state_if_empty(module):
    st = module.__dict__.get("_sparsefit")
    if st is not None and not st.items:
        del module.__dict__["_sparsefit"]
        if module.__dict__.get("extra_repr") is st:
            del module.__dict__["extra_repr"]
        _LIVE.discard(module)


class _transaction:
    """All or nothing: a failed attachment leaves the earlier ones of the call undone."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.saved = {m: dict(st.items) for m in self.model.modules()
                      if (st := _state(m)) is not None}

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            return False
        for m in self.model.modules():
            if m in self.saved:
                _state(m, create=True).items = dict(self.saved[m])
            elif _state(m) is not None:
                _state(m).items.clear()
                _drop_state_if_empty(m)
        _bump()
        return False


def _resolve_penalty(identifier, argname):
    try:
        pen = _penalties.get(identifier)
    except ValueError as exc:
        raise ValueError(f"{argname}: {exc}") from None
    if pen is not None and not isinstance(pen, Penalty):
        raise TypeError(f"{argname} must be a Penalty or identifier, got {type(pen).__name__}")
    return pen


def _param_names(module):
    """Parameter names, with masked ones (``torch.nn.utils.prune``,
    :func:`sparsefit.nn.prune`) under the name the layer uses (``weight``)."""
    from torch.nn.utils import parametrize

    names = [n for n, p in module._parameters.items() if p is not None]
    for hook in module._forward_pre_hooks.values():
        if _is_torch_prune(hook, getattr(hook, "_tensor_name", None)):
            names = [hook._tensor_name if n == hook._tensor_name + "_orig" else n
                     for n in names]
    if parametrize.is_parametrized(module):
        from .prune import Mask

        for n, plist in module.parametrizations.items():
            if all(isinstance(m, Mask) for m in plist) and n not in names:
                names.append(n)
    return names


def _held_names(module):
    """:func:`_param_names` and the names held by parametrizations or ``weight_norm``
    (which :func:`_attach` refuses by name)."""
    from torch.nn.utils import parametrize

    names = _param_names(module)
    if parametrize.is_parametrized(module):
        names += [n for n in module.parametrizations if n not in names]
    for hook in module._forward_pre_hooks.values():
        if _is_weight_norm(hook) and hook.name not in names:
            names.append(hook.name)
    return names


def _keras_names(module, kind):
    """Parameter names a Keras-style keyword (``kernel``, ``recurrent``, ``bias``) means."""
    names = _held_names(module)
    if isinstance(module, nn.RNNBase):
        prefix = {"kernel": "weight_ih_", "recurrent": "weight_hh_", "bias": "bias_"}[kind]
        found = [n for n in names if n.startswith(prefix)]
    elif kind == "recurrent":
        raise ValueError(
            f"recurrent applies to RNN/LSTM/GRU modules, not to {type(module).__name__}")
    else:
        found = [n for n in names if n == ("weight" if kind == "kernel" else "bias")]
    if not found:
        what = "a bias (was it built with bias=False?)" if kind == "bias" else "a weight"
        raise ValueError(
            f"{kind}: {type(module).__name__} has no parameter for {kind} ({what}); its "
            f"parameters are {names}")
    return found


def _resolve_axis(module, qualname, pname, param, group_by):
    if group_by is None:
        return None
    ndim = param.dim()
    out_axis, in_axis = _unit_axes(module)
    if isinstance(group_by, bool) or not isinstance(group_by, (str, int)):
        raise TypeError(f"group_by must be None, 'out', 'in' or an axis, got {group_by!r}")
    if isinstance(group_by, str):
        key = group_by.lower()
        if key in _OUT_ALIASES:
            axis = out_axis
        elif key in _IN_ALIASES:
            axis = in_axis
        else:
            raise ValueError(
                f"group_by={group_by!r} for {qualname}: expected one of "
                f"{_OUT_ALIASES + _IN_ALIASES}, an integer axis or None")
    else:
        axis = group_by
    if ndim < 2 or not -ndim <= axis < ndim:
        raise ValueError(
            f"group_by={group_by!r} for {qualname}: the parameter has shape "
            f"{tuple(param.shape)}, no axis {axis} to group along")
    axis %= ndim
    groups = getattr(module, "groups", 1)
    if isinstance(module, nn.modules.conv._ConvNd) and groups > 1 and axis == 1:
        # with grouped convolutions, slice j of axis 1 mixes channels of every group
        kind = "output" if isinstance(module, nn.modules.conv._ConvTransposeNd) else "input"
        raise ValueError(
            f"group_by={group_by!r} for {qualname}: {type(module).__name__} has groups="
            f"{groups}, so the slices of weight axis 1 are not single {kind} channels")
    return axis


def _attach(module, qualname, pname, identifier, group_by=None, include_bias=False,
            argname=None):
    argname = argname or pname
    if pname not in module._parameters:
        try:
            held = resolve(module, pname)
        except ValueError:
            held = None
        if held is not None and held.param is None:
            raise ValueError(
                f"{argname}: {qualname} is held by {held.how}; a prox on the parametrized "
                "weight is not a step on the tensor the optimizer updates, so penalties "
                "attach to plain or masked (pruned) parameters only. Remove the "
                "parametrization, or add the penalty to the loss yourself")
    if pname not in _param_names(module):
        raise ValueError(
            f"{argname}: {type(module).__name__} has no parameter {pname!r}; its "
            f"parameters are {_param_names(module)}")
    pen = _resolve_penalty(identifier, argname)
    st = _state(module)
    if pen is None:
        return
    param = resolve(module, pname).effective()
    axis = _resolve_axis(module, qualname, pname, param, group_by)
    bias_name = None
    if include_bias:
        if isinstance(module, nn.RNNBase) or pname != "weight":
            raise ValueError(
                f"include_bias: only the 'weight' of a layer with a 'bias' can share its "
                f"groups with the bias, not {qualname}")
        bias = module._parameters.get("bias")
        if bias is None:
            raise ValueError(f"include_bias: {type(module).__name__} {qualname} has no bias")
        if axis is None:
            axis = _unit_axes(module)[0]
        if param.dim() < 2 or bias.numel() != param.shape[axis]:
            raise ValueError(
                f"include_bias: the bias of {qualname} has {bias.numel()} entries but the "
                f"weight of shape {tuple(param.shape)} has {param.shape[axis]} groups along "
                f"axis {axis}; group the weight by its outputs (group_by='out')")
        if getattr(pen, "groups", None) is not None:
            raise ValueError(
                f"include_bias: {pen!r} has explicit groups; with the bias the groups are "
                "the output units (use groups=None)")
        if st is not None and "bias" in st.items:
            raise ValueError(
                f"include_bias: {qualname.rsplit('.', 1)[0]}.bias already has its own penalty;"
                " unregularize it first")
        bias_name = "bias"
    if st is not None and pname == "bias":
        for other in st.items.values():
            if other.bias_name == "bias":
                raise ValueError(
                    f"{argname}: the bias of {qualname.rsplit('.', 1)[0]} is already grouped "
                    f"with {other.name} (include_bias=True)")
    att = AttachedPenalty(pname, pen, group_by, axis, bias_name)
    # check now that the penalty can be applied to this shape, and say where it cannot
    with torch.no_grad():
        view = att.view(module).detach()
        try:
            pen.value(view)
            pen.prox(view, 0.0)
        except (ValueError, IndexError, RuntimeError) as exc:
            raise ValueError(
                f"{argname}: {pen!r} cannot be applied to {qualname} of shape "
                f"{tuple(param.shape)} (seen by the penalty as {tuple(view.shape)}): {exc}"
            ) from None
    st = _state(module, create=True)
    st.items[pname] = att
    _bump()


def regularize(module, penalties=None, /, *, kernel=None, bias=None, recurrent=None,
               group_by=None, include_bias=False):
    r"""Attach penalties to a module's parameters, the way Keras layers take regularizers.

    The attached penalty :math:`\mathrm{pen}` becomes part of the training objective
    :math:`\min_w \mathrm{loss}(w) + \sum_{\text{attached}} \mathrm{pen}(w)`: either
    through :class:`~sparsefit.nn.Proximal` (exact prox after each optimizer step, exact
    zeros) or by adding :func:`penalty` to the loss (what Keras and plain PyTorch do).
    ``module(x)`` itself is unchanged.

    Parameters
    ----------
    module : torch.nn.Module
    penalties : mapping, optional
        ``{parameter name: penalty}``; names may be dotted paths into submodules
        (``"0.weight"``). A value is a penalty or identifier (``"l1"``, ``L1(1e-3)``, a
        ``{"class_name": ...}`` dict), or ``{"penalty": ..., "group_by": ...,
        "include_bias": ...}`` as :func:`penalty_config` writes.
    kernel : Penalty or str, optional
        Penalty on the kernel: ``weight`` of Linear, Conv*, ConvTranspose*, Embedding; the
        input weights ``weight_ih_l*`` of RNN, LSTM, GRU.
    bias : Penalty or str, optional
        Penalty on ``bias`` (RNNs: every ``bias_ih_l*`` and ``bias_hh_l*``).
    recurrent : Penalty or str, optional
        RNN/LSTM/GRU only: penalty on the recurrent weights ``weight_hh_l*``.
    group_by : {None, "out", "in"} or int, default=None
        For the kernel: the axis whose slices a group penalty with ``groups=None`` takes as
        groups. ``"out"`` (aliases ``"neurons"``, ``"filters"``, ``"out_channels"``): the
        output units, rows of a Linear weight, filters of a convolution; ``"in"``
        (``"features"``, ``"in_channels"``): input features (columns of a Linear weight,
        feature selection) or input channels. ``None`` gives the weight as it is (a group
        penalty then groups its first axis, i.e. the outputs of Linear and Conv).
        Explicit ``groups=`` of a penalty index the weight after that axis is moved first.
    include_bias : bool, default=False
        With output groups: the bias entry of each unit joins its group, so a removed
        unit has neither weights nor bias.

    Returns
    -------
    module
        The same module (attachments are made in place; nothing else is modified).

    Raises
    ------
    ValueError
        Naming the argument: a parameter the module does not have, an unknown
        identifier, a penalty that cannot be applied to the parameter's shape (explicit
        groups that do not cover it, ``group_by="in"`` on a grouped convolution, ...).

    Notes
    -----
    ``None`` attaches nothing; attaching to a parameter that already has a penalty
    replaces it. Undo with :func:`unregularize`.

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> from sparsefit.penalties import L1, GroupL1
    >>> layer = sfnn.regularize(torch.nn.Linear(4, 3), kernel=L1(0.001))
    >>> layer
    Linear(in_features=4, out_features=3, bias=True, penalties={weight: L1(l1=0.001)})
    >>> conv = sfnn.regularize(torch.nn.Conv2d(3, 8, 3), kernel=GroupL1(0.01),
    ...                        group_by="in")
    >>> float(sfnn.penalty(layer).detach()) > 0
    True
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if (group_by is not None or include_bias) and kernel is None:
        raise ValueError(
            "group_by and include_bias apply to kernel=, which was not given (in a "
            "penalties mapping, give {'penalty': ..., 'group_by': ...} per parameter)")
    if penalties is not None and not hasattr(penalties, "items"):
        raise TypeError(
            "penalties must be a mapping {parameter name: penalty}, got "
            f"{type(penalties).__name__}")
    with _transaction(module):
        _regularize(module, penalties, kernel, bias, recurrent, group_by, include_bias)
    return module


def _regularize(module, penalties, kernel, bias, recurrent, group_by, include_bias):
    if penalties is not None:
        for qual, spec in penalties.items():
            owner, _, pname = str(qual).rpartition(".")
            try:
                sub = module.get_submodule(owner) if owner else module
            except AttributeError:
                raise ValueError(
                    f"penalties: {type(module).__name__} has no submodule {owner!r} (from "
                    f"parameter name {qual!r})") from None
            kw = {}
            if isinstance(spec, dict) and "penalty" in spec:
                unknown = set(spec) - {"penalty", "group_by", "include_bias"}
                if unknown:
                    raise ValueError(f"penalties[{qual!r}] has unknown keys {sorted(unknown)}")
                kw = {"group_by": spec.get("group_by"),
                      "include_bias": bool(spec.get("include_bias", False))}
                spec = spec["penalty"]
            _attach(sub, str(qual), pname, spec, argname=f"penalties[{qual!r}]", **kw)
    for kind, ident in (("kernel", kernel), ("recurrent", recurrent), ("bias", bias)):
        if ident is None:
            continue
        for pname in _keras_names(module, kind):
            _attach(module, pname, pname, ident, argname=kind,
                    group_by=group_by if kind == "kernel" else None,
                    include_bias=include_bias and kind == "kernel")


def unregularize(module, *names):
    """Remove attached penalties: the inverse of :func:`regularize`.

    Parameters
    ----------
    module : torch.nn.Module
    *names : str
        Parameter names (dotted paths allowed) whose penalties to remove. None given:
        remove every penalty in ``module`` and its submodules.

    Returns
    -------
    module

    Raises
    ------
    ValueError
        If a named parameter has no attached penalty.

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> layer = sfnn.regularize(torch.nn.Linear(2, 2), kernel="l1")
    >>> sfnn.unregularize(layer)
    Linear(in_features=2, out_features=2, bias=True)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not names:
        for sub in module.modules():
            st = _state(sub)
            if st is not None:
                st.items.clear()
                _drop_state_if_empty(sub)
    for qual in names:
        owner, _, pname = str(qual).rpartition(".")
        sub = module.get_submodule(owner) if owner else module
        st = _state(sub)
        if st is None or pname not in st.items:
            raise ValueError(f"names: {qual!r} has no attached penalty")
        del st.items[pname]
        _drop_state_if_empty(sub)
    _bump()
    return module


def kernel_mask(qualname, module, pname, param):
    """Default mask of :func:`regularize_model`: kernels only.

    True for the weights of layers (``weight`` with at least 2 dimensions, RNN
    ``weight_ih``/``weight_hh``); False for biases and for every parameter of a
    normalization layer (BatchNorm, LayerNorm, GroupNorm, InstanceNorm, RMSNorm).
    """
    if isinstance(module, _NORM_TYPES):
        return False
    return param.dim() >= 2 and (pname == "weight" or pname.startswith("weight_"))


def regularize_model(model, penalty, *, mask=kernel_mask, group_by=None,
                     include_bias=False):
    """Attach ``penalty`` to every parameter of ``model`` that ``mask`` selects.

    Parameters
    ----------
    model : torch.nn.Module
    penalty : Penalty or str
        Penalty or identifier, shared by every selected parameter.
    mask : callable or collection of str, default=kernel_mask
        ``mask(qualified_name, module, param_name, param) -> bool``, or the qualified
        parameter names to select. The default selects kernels and skips biases and
        normalization layers (one mask, as in optax).
    group_by, include_bias
        As in :func:`regularize`, for every selected parameter.

    Returns
    -------
    model

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8),
    ...                           torch.nn.Linear(8, 2))
    >>> [a for a in sfnn.attachments(sfnn.regularize_model(net, "l1"))]
    ['0.weight', '2.weight']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    pen = _resolve_penalty(penalty, "penalty")
    if pen is None:
        raise ValueError("penalty must not be None (use unregularize to remove penalties)")
    chosen = None
    if not callable(mask):
        chosen = {str(n) for n in mask}

        def mask(qualname, module, pname, param):
            return qualname in chosen
    selected, seen = [], set()
    for mname, module in model.named_modules():
        for pname, param in list(module._parameters.items()):
            if param is None:
                continue
            qual = f"{mname}.{pname}" if mname else pname
            seen.add(qual)
            if mask(qual, module, pname, param):
                selected.append((module, qual, pname))
    if chosen is not None and chosen - seen:
        raise ValueError(f"mask names parameters the model does not have: "
                         f"{sorted(chosen - seen)}")
    with _transaction(model):
        for module, qual, pname in selected:
            _attach(module, qual, pname, pen, group_by=group_by,
                    include_bias=include_bias, argname="penalty")
    return model


def _iter_attached(model):
    for mname, module in model.named_modules():
        st = _state(module)
        if st is None:
            continue
        for pname, att in st.items.items():
            yield (f"{mname}.{pname}" if mname else pname), module, att


def attachments(model):
    """``{qualified parameter name: AttachedPenalty}`` for every penalty in ``model``.

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 3))
    >>> sfnn.attachments(sfnn.regularize(net, {"0.weight": "l1"}))
    {'0.weight': AttachedPenalty('weight', L1(l1=0.01))}
    """
    return {q: att for q, _, att in _iter_attached(model)}


def penalty_config(model):
    """A JSON-able ``{qualified name: {"penalty", "group_by", "include_bias"}}``.

    ``regularize(other_model, penalty_config(model))`` attaches the same penalties.
    """
    return {q: att.config() for q, _, att in _iter_attached(model)
            if not hasattr(att, "optimizer_entry")}  # structured groups: regularize_structured


def penalty(model, *, breakdown=False):
    r"""The summed penalty of every attachment in ``model``: Keras' ``model.losses``.

    .. math:: \mathrm{P}(w) = \sum_{\text{attached } p} \mathrm{pen}_p(w_p)

    A differentiable 0-d tensor, for penalty-in-the-loss training
    (``loss = criterion(model(x), y) + penalty(model)``) or for reporting. With
    :class:`~sparsefit.nn.Proximal` the penalty is handled by the prox: do not also add
    it to the loss.

    Parameters
    ----------
    model : torch.nn.Module
    breakdown : bool, default=False
        Also return ``{qualified parameter name: value}``.

    Returns
    -------
    torch.Tensor, or (torch.Tensor, dict)
        0 (a tensor) when nothing is attached.

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> from sparsefit.penalties import L1
    >>> lin = torch.nn.Linear(2, 1)
    >>> with torch.no_grad():
    ...     _ = lin.weight.copy_(torch.tensor([[1.0, -2.0]]))
    >>> sfnn.penalty(sfnn.regularize(lin, kernel=L1(0.5)))
    tensor(1.5000, grad_fn=<MulBackward0>)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    total = None
    parts = {}
    for qual, module, att in _iter_attached(model):
        v = att.value(module)
        parts[qual] = v
        total = v if total is None else total + v
    if total is None:
        p = next(model.parameters(), None)
        total = (torch.zeros((), dtype=p.dtype, device=p.device) if p is not None
                 else torch.zeros(()))
    return (total, parts) if breakdown else total


def summary(model):
    """A printable table of the attached penalties: parameter, layer, shape, penalty, value.

    Examples
    --------
    >>> import torch
    >>> from sparsefit import nn as sfnn
    >>> net = sfnn.regularize_model(torch.nn.Sequential(torch.nn.Linear(3, 2)), "l1")
    >>> print(sfnn.summary(net))  # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
    parameter  layer   shape   penalty       value
    0.weight   Linear  (2, 3)  L1(l1=0.01)   ...
    """
    rows = [("parameter", "layer", "shape", "penalty", "value")]
    with torch.no_grad():
        for qual, module, att in _iter_attached(model):
            shape = (tuple(resolve(module, att.name).effective().shape)
                     if att.group_by != "structured" else f"{len(att.groups)} groups")
            rows.append((qual, type(module).__name__, str(shape), att.describe(),
                         f"{float(att.value(module)):.6g}"))
    if len(rows) == 1:
        return "(no penalties attached)"
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
