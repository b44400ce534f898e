r"""Magnitude pruning whose zeros stay zero during fine-tuning, reversibly.

:func:`prune` chooses the weights (or whole units) of smallest magnitude and attaches a
binary mask :math:`m` to each pruned parameter, so the layer computes with

.. math:: \tilde w = w \odot m .

Two ways of keeping the mask, both reversible with :func:`unprune` and both stored in
``state_dict()`` (the mask is a buffer):

- ``method="parametrize"`` (default): a ``torch.nn.utils.parametrize`` parametrization.
  Every forward uses :math:`w \odot m`, whatever the optimizer does, so the zeros hold by
  construction (gradients of masked entries are zero too). ``module.weight`` is the masked
  tensor; the trainable tensor is ``module.parametrizations.weight.original``.
- ``method="hook"``: the parameter stays a plain ``nn.Parameter``, multiplied by the mask
  in place now and, once :func:`keep_masks` has registered a hook on the optimizer, after
  every ``optimizer.step()``. Use it with code that needs plain parameters (e.g. penalties
  attached by :func:`sparsefit.nn.regularize` together with :class:`sparsefit.nn.Proximal`).

After proximal training, ``prune(model, threshold=0)`` freezes exactly the zeros the
penalty produced, for fine-tuning without the penalty (which removes the shrinkage bias).
"""

from __future__ import annotations

import math
import numbers
import re

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = ["Mask", "apply_masks", "is_pruned", "keep_masks", "masks", "prune", "unprune"]

_PARAM_MASK_KEY = re.compile(r"^(?:(.*)\.)?parametrizations\.([^.]+)\.\d+\.mask$")
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


class Mask(nn.Module):
    """Parametrization ``w -> w * mask`` (``mask``: a bool buffer of ``w``'s shape)."""

    def __init__(self, mask):
        super().__init__()
        self.register_buffer("mask", mask.detach().to(torch.bool).clone())

    def forward(self, w):
        return w * self.mask

    def right_inverse(self, w):
        # assigning module.weight = w stores w itself; the forward masks it
        return w

    def extra_repr(self):
        return f"kept={int(self.mask.sum())}/{self.mask.numel()}"


def _default_select(qualname, module, pname, param):
    """Kernels: ``weight`` parameters with >= 2 dims, not of normalization layers."""
    return pname == "weight" and param.dim() >= 2 and not isinstance(module, _NORMS)


def _current(module, pname):
    """The effective tensor of ``module.pname`` (masked, if pruned)."""
    return getattr(module, pname)


def _hook_mask_name(pname):
    return f"{pname}_prune_mask"


def _existing_mask(module, pname):
    if parametrize.is_parametrized(module, pname):
        for p in module.parametrizations[pname]:
            if isinstance(p, Mask):
                return p.mask
    return getattr(module, _hook_mask_name(pname), None)


def _select(model, params):
    out = []
    if params is None:
        select = _default_select
    elif callable(params):
        select = params
    else:
        wanted = {str(p) for p in params}
        select = None
    seen = set()
    for mname, module in model.named_modules():
        if isinstance(module, parametrize.ParametrizationList):
            continue
        names = list(module._parameters.keys())
        if parametrize.is_parametrized(module):
            names += [n for n in module.parametrizations if n not in names]
        for pname in names:
            if pname == "parametrizations":
                continue
            tensor = _current(module, pname)
            if tensor is None:
                continue
            qual = f"{mname}.{pname}" if mname else pname
            seen.add(qual)
            if select is None:
                if qual in wanted:
                    out.append((qual, module, pname))
            elif select(qual, module, pname, tensor):
                out.append((qual, module, pname))
    if select is None and wanted - seen:
        raise ValueError(f"params names parameters the model does not have: "
                         f"{sorted(wanted - seen)}")
    return out


def _scores(w, granularity):
    """|w| per entry, or the L2 norm per unit (slice along dim 0) broadcast to w's shape."""
    w = w.detach()
    if granularity == "weight":
        return w.abs()
    if w.dim() < 2:
        raise ValueError("granularity='unit' needs parameters with >= 2 dims")
    norms = w.reshape(w.shape[0], -1).norm(dim=1)
    return norms.reshape((-1,) + (1,) * (w.dim() - 1)).expand_as(w)


def _unit_scores(w, granularity):
    w = w.detach()
    if granularity == "weight":
        return w.abs().flatten()
    return w.reshape(w.shape[0], -1).norm(dim=1)


def _expand(unit_keep, w, granularity):
    if granularity == "weight":
        return unit_keep.reshape(w.shape)
    return unit_keep.reshape((-1,) + (1,) * (w.dim() - 1)).expand_as(w).clone()


def _n_prune(amount, total, argname="amount"):
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(f"{argname} must be a float in [0, 1] or an int, got {amount!r}")
    if isinstance(amount, numbers.Integral):
        if not 0 <= amount <= total:
            raise ValueError(f"{argname}={amount} must be in [0, {total}] (the number of "
                             "prunable entries)")
        return int(amount)
    if not (math.isfinite(amount) and 0.0 <= amount <= 1.0):
        raise ValueError(f"{argname} must be in [0, 1] as a fraction, got {amount!r}")
    return int(round(amount * total))


def _smallest(scores, k):
    """Bool keep-mask: False at the k smallest scores (stable order on ties)."""
    keep = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    if k > 0:
        order = torch.sort(scores.flatten().double(), stable=True).indices
        keep[order[:k]] = False
    return keep


def prune(model, amount=None, *, threshold=None, scope="global", granularity="weight",
          params=None, method="parametrize"):
    r"""Magnitude pruning, in place: mask the smallest weights (or units) of ``model``.

    Importance is :math:`|w_{ij}|` per weight (``granularity="weight"``) or the L2 norm
    :math:`\|w_{j,:}\|_2` of each unit (a row of a Linear weight, a filter of a
    convolution: ``granularity="unit"``, whose pruned units :func:`shrink` can then
    remove). An entry is pruned when its importance is :math:`\le` ``threshold``, or when
    it is among the ``amount`` least important ones, counted over all selected parameters
    together (``scope="global"``) or in each of them (``scope="layer"``). Masks
    accumulate: entries already pruned stay pruned (their importance is 0).

    Parameters
    ----------
    model : torch.nn.Module
        Modified in place (masks attached), and returned.
    amount : float in [0, 1] or int, optional
        Fraction (or number) of entries/units to prune. Exactly one of ``amount`` and
        ``threshold`` is given.
    threshold : float >= 0, optional
        Prune every entry/unit with importance ``<= threshold`` (``0`` freezes the exact
        zeros already there, e.g. after proximal training).
    scope : {"global", "layer"}, default="global"
    granularity : {"weight", "unit"}, default="weight"
    params : callable or collection of str, optional
        Which parameters: ``params(qualified_name, module, param_name, tensor) -> bool``,
        or qualified names (``"0.weight"``). Default: every ``weight`` with at least 2
        dimensions, normalization layers excluded (biases are never selected by default).
    method : {"parametrize", "hook"}, default="parametrize"
        How the mask is kept (see the module documentation). With ``"hook"``, call
        :func:`keep_masks` on the optimizer used for fine-tuning.

    Returns
    -------
    model

    Raises
    ------
    ValueError, TypeError
        Naming the argument: both or neither of ``amount``/``threshold``, out-of-range
        values, unknown ``scope``/``granularity``/``method``, names not in the model, no
        parameter selected.

    Examples
    --------
    >>> import torch
    >>> from sparsefit.nn.prune import prune, unprune, masks
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(),
    ...                           torch.nn.Linear(20, 2))
    >>> net = prune(net, 0.9)                       # 90% of the 240 kernel weights
    >>> int((net[0].weight == 0).sum() + (net[2].weight == 0).sum())
    216
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    >>> for _ in range(5):                          # fine-tuning keeps the zeros
    ...     opt.zero_grad()
    ...     net(torch.randn(8, 10)).pow(2).mean().backward()
    ...     opt.step()
    >>> int((net[0].weight == 0).sum() + (net[2].weight == 0).sum())
    216
    >>> net = unprune(net)                          # plain parameters again, zeros kept
    >>> sorted(n for n, _ in net.named_parameters())
    ['0.bias', '0.weight', '2.bias', '2.weight']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if (amount is None) == (threshold is None):
        raise ValueError("give exactly one of amount= and threshold=")
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    if granularity not in ("weight", "unit"):
        raise ValueError(f"granularity must be 'weight' or 'unit', got {granularity!r}")
    if method not in ("parametrize", "hook"):
        raise ValueError(f"method must be 'parametrize' or 'hook', got {method!r}")
    if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)
            or not math.isfinite(threshold) or threshold < 0):
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    chosen = _select(model, params)
    if not chosen:
        raise ValueError("params selected no parameter of the model")
    for qual, module, pname in chosen:
        w = _current(module, pname)
        if not w.is_floating_point():
            raise ValueError(f"parameter '{qual}' is not floating point")
        if granularity == "unit" and w.dim() < 2:
            raise ValueError(f"granularity='unit' needs parameters with >= 2 dims; "
                             f"'{qual}' has {w.dim()}")
        if not torch.isfinite(w).all():
            raise ValueError(f"parameter '{qual}' contains NaN or inf")

    scores = [_unit_scores(_current(m, p), granularity) for _, m, p in chosen]
    if threshold is not None:
        keeps = [s > threshold for s in scores]
    elif scope == "layer":
        keeps = [_smallest(s, _n_prune(amount, s.numel())) for s in scores]
    else:
        flat = torch.cat([s.flatten().to(torch.float64) for s in scores])
        keep = _smallest(flat, _n_prune(amount, flat.numel()))
        keeps = list(torch.split(keep, [s.numel() for s in scores]))

    for (_qual, module, pname), keep in zip(chosen, keeps):
        w = _current(module, pname)
        mask = _expand(keep.to(w.device), w, granularity)
        old = _existing_mask(module, pname)
        if old is not None:
            mask = mask & old
        _attach(module, pname, mask, method)
    return model


def _attach(module, pname, mask, method):
    old = _existing_mask(module, pname)
    if old is not None:
        # update the existing mask in place (its kind wins over ``method``)
        old.copy_(mask)
        _reapply(module, pname)
        return
    if method == "parametrize":
        with torch.no_grad():
            getattr(module, pname).mul_(mask)
        parametrize.register_parametrization(module, pname, Mask(mask))
    else:
        module.register_buffer(_hook_mask_name(pname), mask.clone())
        _reapply(module, pname)


def _reapply(module, pname):
    with torch.no_grad():
        if parametrize.is_parametrized(module, pname):
            orig = module.parametrizations[pname].original
            orig.mul_(_existing_mask(module, pname))
        else:
            getattr(module, pname).mul_(getattr(module, _hook_mask_name(pname)))


def _iter_masked(model):
    for mname, module in model.named_modules():
        names = set()
        if parametrize.is_parametrized(module):
            names |= {n for n in module.parametrizations
                      if any(isinstance(p, Mask) for p in module.parametrizations[n])}
        for bname in list(module._buffers):
            if bname.endswith("_prune_mask"):
                names.add(bname[: -len("_prune_mask")])
        for pname in sorted(names):
            yield (f"{mname}.{pname}" if mname else pname), module, pname


def masks(model):
    """``{qualified parameter name: bool mask}`` of the pruned parameters (copies).

    Examples
    --------
    >>> import torch
    >>> from sparsefit.nn.prune import prune, masks
    >>> net = prune(torch.nn.Linear(4, 2), threshold=0.0)
    >>> list(masks(net))
    ['weight']
    """
    return {q: _existing_mask(m, p).clone() for q, m, p in _iter_masked(model)}


def is_pruned(model):
    """True if any parameter of ``model`` carries a mask from :func:`prune`."""
    return any(True for _ in _iter_masked(model))


def keep_masks(optimizer, model):
    """Re-apply the masks of ``model`` after every ``optimizer.step()``.

    Needed with ``method="hook"`` (harmless with ``"parametrize"``, whose forward masks
    anyway). Applied after the step, so after any proximal step of a wrapping optimizer
    too when that wrapper is the one given here.

    Returns
    -------
    handle
        ``handle.remove()`` stops it.

    Examples
    --------
    >>> import torch
    >>> from sparsefit.nn.prune import prune, keep_masks
    >>> net = prune(torch.nn.Linear(6, 3), 0.5, method="hook")
    >>> opt = torch.optim.Adam(net.parameters(), lr=0.1)
    >>> handle = keep_masks(opt, net)
    >>> net(torch.randn(4, 6)).sum().backward(); opt.step()
    >>> int((net.weight == 0).sum())
    9
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")

    def hook(opt, args, kwargs):
        for _, module, pname in _iter_masked(model):
            _reapply(module, pname)
    return optimizer.register_step_post_hook(hook)


def unprune(model, names=None):
    """Remove masks, in place: plain parameters again, holding the masked values.

    Parameters
    ----------
    model : torch.nn.Module
    names : collection of str, optional
        Qualified parameter names (``"0.weight"``); default: all pruned parameters.

    Returns
    -------
    model

    Examples
    --------
    >>> import torch
    >>> from sparsefit.nn.prune import prune, unprune, is_pruned
    >>> net = unprune(prune(torch.nn.Linear(4, 2), 0.5))
    >>> is_pruned(net), int((net.weight == 0).sum())
    (False, 4)
    """
    entries = list(_iter_masked(model))
    if names is not None:
        wanted = {str(n) for n in names}
        missing = wanted - {q for q, _, _ in entries}
        if missing:
            raise ValueError(f"names are not pruned parameters of the model: {sorted(missing)}")
        entries = [e for e in entries if e[0] in wanted]
    for _, module, pname in entries:
        if parametrize.is_parametrized(module, pname):
            plist = module.parametrizations[pname]
            if len(plist) == 1:
                parametrize.remove_parametrizations(module, pname, leave_parametrized=True)
            else:  # other parametrizations stay; drop ours by baking the mask in
                with torch.no_grad():
                    plist.original.mul_(_existing_mask(module, pname))
                for p in plist:
                    if isinstance(p, Mask):
                        p.mask.fill_(True)
        else:
            _reapply(module, pname)
            delattr(module, _hook_mask_name(pname))
    return model


def apply_masks(model, source, method="parametrize"):
    """Attach given masks, in place: from :func:`masks` or from a pruned ``state_dict``.

    Makes a fresh (unpruned) model able to ``load_state_dict`` a pruned model's state.

    Parameters
    ----------
    model : torch.nn.Module
    source : dict
        ``{qualified parameter name: mask}`` or a ``state_dict()`` of a pruned model
        (its ``*.parametrizations.<name>.0.mask`` / ``*.<name>_prune_mask`` entries).
    method : {"parametrize", "hook"}, default="parametrize"

    Returns
    -------
    model

    Examples
    --------
    >>> import torch
    >>> from sparsefit.nn.prune import prune, apply_masks
    >>> a = prune(torch.nn.Linear(4, 2), 0.5)
    >>> b = apply_masks(torch.nn.Linear(4, 2), a.state_dict())
    >>> _ = b.load_state_dict(a.state_dict())
    >>> bool(torch.equal(a.weight, b.weight))
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if method not in ("parametrize", "hook"):
        raise ValueError(f"method must be 'parametrize' or 'hook', got {method!r}")
    found = {}
    for key, value in source.items():
        hit = _PARAM_MASK_KEY.match(key)
        if hit:
            owner, pname = hit.group(1), hit.group(2)
            found[f"{owner}.{pname}" if owner else pname] = value
        elif key.endswith("_prune_mask"):
            found[key[: -len("_prune_mask")]] = value
    if not found:  # a {name: mask} mapping, as masks() returns
        found = {k: v for k, v in source.items()
                 if isinstance(v, torch.Tensor) and v.dtype == torch.bool}
    if not found:
        raise ValueError("source holds no masks")
    for qual, mask in found.items():
        owner, _, pname = qual.rpartition(".")
        try:
            module = model.get_submodule(owner) if owner else model
        except AttributeError as exc:
            raise ValueError(f"source has a mask for '{qual}', not in the model") from exc
        w = getattr(module, pname, None)
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != tuple(mask.shape):
            raise ValueError(f"mask for '{qual}' has shape {tuple(mask.shape)}, the model's "
                             f"parameter {None if w is None else tuple(w.shape)}")
        _attach(module, pname, mask.to(device=w.device, dtype=torch.bool), method)
    return model
