"""What :func:`~sparsefit.nn.shrink.shrink` removes from a :class:`ChannelGraph`, and the
surgery that removes it.

A coupled group (a class of atoms) is removed when it is not pinned and, at every layer
that reads it, it is either not read (zero weights) or constant (its value folds into
the reader's bias, or into a :class:`ReducedLayerNorm`'s statistics). Then every layer
keeps at least one unit and every tensor a rectangular block of channels (a head split
must lose whole heads), and each fold must be exact (the constant is the same at every
position); groups that fail are kept, with a note. Finally
:func:`drop_constant_sublayers` replaces a sublayer whose output has become a constant
added to a live tensor by that constant, and deletes its modules.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
from torch import fx

from .graph import Info


@dataclass
class Status:
    """What is known about one coupled group."""

    producers: list = field(default_factory=list)   # (layer target, unit) that make it
    pin: object = None           # first Pin that is not an output, if any
    output: bool = False         # reaches the model output
    ok: bool = True              # every reader: unread, or constant and foldable
    unused: bool = True          # every reader: unread
    dead: bool = False           # a producing unit has all incoming weights zero

    @property
    def removable(self):
        return self.pin is None and not self.output and self.ok


@dataclass
class Plan:
    remove: set
    folds: list = field(default_factory=list)
    head_folds: list = field(default_factory=list)
    norm_consts: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    removed: object = None


def _roots(g, atoms):
    atoms = torch.as_tensor(atoms).reshape(-1)
    return torch.tensor([g.find(a) if a >= 0 else -1 for a in atoms.tolist()],
                        dtype=torch.long)


def _reader_atoms(g, r):
    if r["kind"] == "layer":
        return g.uses[r["target"]].in_atoms[r["port"]]
    return g.channel_uses[r["target"]].atoms


def statuses(g):
    """``{root: Status}`` for every coupled group of the graph."""
    st = {}

    def get(a):
        return st.setdefault(g.find(a), Status())
    for use in g.uses.values():
        const = use.handler.constant_out(use.module).cpu()
        for j, a in enumerate(use.out_atoms.tolist()):
            s = get(a)
            s.producers.append((use.target, j))
            s.dead |= bool(const[j])
        if use.head_atoms is not None:
            unused, hconst = use.handler.head_state(use.module)
            for k, a in enumerate(use.head_atoms.tolist()):
                s = get(a)
                s.producers.append((use.target, f"head {k}"))
                s.ok &= bool(unused[k] or hconst[k])
                s.unused &= bool(unused[k])
                s.dead |= bool(hconst[k])
        for atoms in use.in_atoms.values():
            for a in atoms[atoms >= 0].tolist():
                get(a)
    for cu in g.channel_uses.values():
        for a in cu.atoms[cu.atoms >= 0].tolist():
            get(a)
    for pu in g.param_uses:
        for a in pu.atoms.tolist():
            get(a)
    for a, pin in g.pins.items():
        s = get(a)
        if pin.kind == "output":
            s.output = True
        elif s.pin is None:
            s.pin = pin
    for r in g.readers:
        _reader_status(g, r, st)
    return st


def _reader_status(g, r, st):
    roots = _roots(g, _reader_atoms(g, r))
    if r["kind"] == "layer":
        use = g.uses[r["target"]]
        unused = use.handler.unused_in(use.module, r["port"]).cpu()
        shared = len(use.calls) > 1
    else:
        unused = torch.zeros(roots.numel(), dtype=torch.bool)
        shared = len(g.channel_uses[r["target"]].calls) > 1
    for root in set(roots.tolist()) - {-1}:
        pos = roots == root
        u = bool(unused[pos].all())
        c = bool(r["const"][pos].all())
        s = st.setdefault(root, Status())
        s.unused &= u
        # (a layer called several times takes only zero folds: see _fold_reader)
        s.ok &= u or (c and not (shared and r["kind"] == "norm"))


class _Removed:
    """Which atoms are removed, for a set of removed roots."""

    def __init__(self, g, remove):
        n = len(g.uf.parent)
        self.roots = torch.tensor([g.uf.find(a) for a in range(n)], dtype=torch.long)
        mark = torch.zeros(n + 1, dtype=torch.bool)
        if remove:
            mark[torch.tensor(sorted(remove))] = True
        self.atom = mark[self.roots] if n else mark[:0]
        self.g = g

    def __call__(self, ids):
        ids = torch.as_tensor(ids)
        out = torch.zeros(ids.shape, dtype=torch.bool)
        ok = ids >= 0
        out[ok] = self.atom[ids[ok]]
        return out


def _keep_one_unit(g, remove, removed):
    changed = False
    for use in g.uses.values():
        for atoms in (use.out_atoms, use.head_atoms):
            if atoms is None or not len(atoms):
                continue
            if bool(removed(torch.as_tensor(atoms)).all()):
                remove.discard(g.find(int(atoms[0])))
                changed = True
    return changed


def _grid_ok(g, remove, removed):
    """Every tensor keeps a non-empty rectangular block of its channel positions."""
    changed = False
    for info in g.info.values():
        for t in (info if isinstance(info, list) else [info]):
            if not isinstance(t, Info) or not t.dims:
                continue
            kept = ~removed(t.ids)
            if bool(kept.all()):
                continue
            proj = [kept.movedim(k, 0).reshape(kept.shape[k], -1).any(dim=1)
                    for k in range(kept.dim())]
            empty = [k for k, p in enumerate(proj) if not bool(p.any())]
            if empty:
                remove.discard(g.find(int(t.ids.reshape(-1)[0])))
                return True
            grid = proj[0]
            for p in proj[1:]:
                grid = grid[..., None] & p
            if bool((grid != kept).any()):
                for a in t.ids[~kept & (t.ids >= 0)].tolist():
                    remove.discard(g.find(a))
                changed = True
    return changed


def _constrain(g, remove):
    while True:
        removed = _Removed(g, remove)
        if not (_keep_one_unit(g, remove, removed) or _grid_ok(g, remove, removed)):
            return removed


def _const_values(g, r, need):
    """Constant values of the positions ``need`` at reader ``r``; and which fail to be
    the same at every position."""
    v = g.values[r["arg"]].detach()
    n = v.shape[r["axis"]]
    x = v.movedim(r["axis"], -1).reshape(-1, n).double()[:, need]
    c = x.mean(dim=0)
    rel = 1e-9 if g.dtype == torch.float64 else 1e-5
    bad = (x - c).abs().amax(dim=0) > rel * (1.0 + c.abs())
    full = torch.zeros(n, dtype=torch.float64)
    full[need] = c
    return full, bad


def _fold_reader(g, r, remove, removed, plan):
    """Fold the removed constant positions read by ``r``; the roots that cannot be."""
    atoms = _reader_atoms(g, r)
    gone = removed(atoms)
    if not bool(gone.any()):
        return set()
    roots = _roots(g, atoms)
    if r["kind"] == "norm":
        c, bad = _const_values(g, r, gone)
        plan.norm_consts[r["target"]] = c
        return set(roots[gone][bad].tolist())
    use = g.uses[r["target"]]
    need = gone & ~use.handler.unused_in(use.module, r["port"]).cpu()
    if not bool(need.any()):
        return set()
    c, bad = _const_values(g, r, need)
    if len(use.calls) > 1:
        # one bias for several calls: only a zero contribution folds into it
        bad = bad | (c[need] != 0)
    if bool(bad.any()):
        return set(roots[need][bad].tolist())
    in_shape = tuple(g.shape(r["arg"])[1:])
    fold = use.handler.fold(use.module, c, in_shape, r["port"])
    if fold is not None:
        plan.folds.append(fold)
        return set()
    bad = set()
    for root in set(roots[need].tolist()):
        one = c * (roots == root)
        if use.handler.fold(use.module, one, in_shape, r["port"]) is None:
            bad.add(root)
    return bad or set(roots[need].tolist())


def make_plan(g, st):
    """The groups to remove and the folds that keep the outputs unchanged."""
    remove = {root for root, s in st.items() if s.removable}
    notes = {}
    while True:
        removed = _constrain(g, remove)
        plan = Plan(set(remove), notes=notes)
        bad = set()
        for r in g.readers:
            bad |= _fold_reader(g, r, remove, removed, plan)
        if not bad:
            break
        for root in bad:
            remove.discard(root)
            for target, _ in st[root].producers:
                k = notes.setdefault(target, set())
                k.add(root)
    for use in g.uses.values():
        if use.head_atoms is None:
            continue
        heads = [k for k, a in enumerate(use.head_atoms.tolist())
                 if bool(removed(torch.tensor([a]))[0]) and not st[g.find(a)].unused]
        if heads:
            plan.head_folds.append((use, heads))
    plan.notes = {t: (f"{len(rs)} unit(s) with zero incoming weights kept: their constant "
                      "output is not the same at every position where it is read (zero "
                      "padding), so it cannot be folded into a bias")
                  for t, rs in notes.items()}
    plan.removed = removed
    return plan


# ---------------------------------------------------------------------------- surgery


def _set(root, target, new):
    parent, _, name = target.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, new)


def _keep(removed, atoms):
    return torch.nonzero(~removed(atoms)).flatten()


def apply_plan(g, work, plan, st):
    """Fold, slice and rewrite. Returns the new model, per-layer counts, and whether the
    forward code had to be rewritten (the model is then the traced GraphModule)."""
    removed = plan.removed
    for fold in plan.folds:
        fold()
    for use, heads in plan.head_folds:
        use.handler.fold_heads(use.module, heads)
    roots = [work] if work is g.gm else [work, g.gm]

    def put(target, new):
        for r in roots:
            _set(r, target, new)
    counts = {}
    for use in g.uses.values():
        counts[use.target] = _slice_layer(g, use, removed, st, put)
    for cu in g.channel_uses.values():
        keep = _keep(removed, cu.atoms)
        if keep.numel() < cu.atoms.numel():
            if cu.handler.normalizes:
                new = cu.handler.slice(cu.module, keep, plan.norm_consts.get(cu.target))
            else:
                new = cu.handler.slice(cu.module, keep)
            put(cu.target, new)
    for pu in g.param_uses:
        keep = _keep(removed, pu.atoms)
        if keep.numel() < pu.atoms.numel():
            for r in roots:
                _slice_param(r, pu.name, pu.dim, keep)
    rewritten = _rewrite(g, removed)
    return (g.gm if rewritten else work), counts, rewritten


def _slice_layer(g, use, removed, st, put):
    h, m = use.handler, use.module
    out = torch.as_tensor(use.out_atoms)
    keep_out = _keep(removed, out)
    keep_in = []
    for port in h.ports(m):
        atoms = use.in_atoms.get(port)
        keep_in.append(torch.arange(h.n_in(m, port)) if atoms is None else _keep(removed, atoms))
    gone_in = sum(h.n_in(m, p) - k.numel() for p, k in zip(h.ports(m), keep_in))
    heads = None
    if use.head_atoms is not None:
        heads = _keep(removed, use.head_atoms)
    lost = keep_out.numel() < out.numel() or gone_in or (
        heads is not None and heads.numel() < len(use.head_atoms))
    gone = [j for j in range(out.numel()) if bool(removed(out[j:j + 1])[0])]
    dead_out = sum(1 for j in gone if st[g.find(int(out[j]))].unused)
    count = {"dead_in": len(gone) - dead_out, "dead_out": dead_out,
             "heads": 0 if heads is None else len(use.head_atoms) - heads.numel()}
    if not lost:
        return count
    if not h.ports(m):
        new = h.slice(m, keep_out, None)
    elif heads is not None:
        new = h.slice(m, keep_out, keep_in, keep_heads=heads)
    else:
        new = h.slice(m, keep_out, keep_in[0] if len(keep_in) == 1 else keep_in)
    put(use.target, new)
    return count


def _slice_param(root, name, dim, keep):
    owner_name, _, attr = name.rpartition(".")
    owner = root.get_submodule(owner_name) if owner_name else root
    old = getattr(owner, attr)
    new = old.detach().index_select(dim, keep.to(old.device)).clone()
    if isinstance(old, torch.nn.Parameter):
        setattr(owner, attr, torch.nn.Parameter(new, requires_grad=old.requires_grad))
    else:
        owner.register_buffer(attr, new, persistent=attr not in owner._non_persistent_buffers_set)


def _kept_sizes(t, removed):
    """The kept width of each tracked dimension of ``t`` ({dim: n}) and which changed."""
    kept = ~removed(t.ids)
    sizes, changed = {}, set()
    for k, d in enumerate(t.dims):
        n = int(kept.movedim(k, 0).reshape(kept.shape[k], -1).any(dim=1).sum())
        sizes[d] = n
        if n != t.ids.shape[k]:
            changed.add(d)
    return sizes, changed


def _changed_dims(x, g, removed):
    t = g.info.get(x) if isinstance(x, fx.Node) else None
    if isinstance(t, list):
        t = t[0]
    if not isinstance(t, Info) or not t.dims:
        return set()
    return _kept_sizes(t, removed)[1]


def _is_shape(node):
    return isinstance(node, fx.Node) and (
        (node.op == "call_method" and node.target == "size" and len(node.args) == 1
         and "dim" not in node.kwargs)
        or (node.op == "call_function" and node.target is getattr and node.args[1] == "shape"))


def _shape_changes(node, g, removed):
    """Whether a number computed from tensor sizes (``D // self.h`` with ``B, L, D =
    x.shape``) reads a size that the plan changes (batch and sequence sizes do not)."""
    if not isinstance(node, fx.Node):
        return False
    v = g.values.get(node)
    if isinstance(v, torch.Tensor):
        return bool(_changed_dims(node, g, removed))
    if _is_shape(node):
        return bool(_changed_dims(node.args[0], g, removed))
    if node.op == "call_method" and node.target == "size":
        x = node.args[0]
        d = node.args[1] if len(node.args) > 1 else node.kwargs["dim"]
        return d % g.values[x].dim() in _changed_dims(x, g, removed)
    if node.op == "call_function" and node.target is operator.getitem and \
            _is_shape(node.args[0]) and isinstance(node.args[1], int):
        x = node.args[0].args[0]
        return node.args[1] % g.values[x].dim() in _changed_dims(x, g, removed)
    return any(_shape_changes(a, g, removed) for a in node.all_input_nodes)


def _freeze(g, removed):
    """Numbers derived from sizes that change keep their old values (a scale
    ``1 / sqrt(D // h)`` is part of the function)."""
    changed = False
    memo = {}

    def sub(n):
        nonlocal changed
        v = g.values.get(n)
        if v is None or isinstance(v, torch.Tensor) or isinstance(v, (tuple, list)) and any(
                isinstance(x, torch.Tensor) for x in v):
            return n
        if n not in memo:
            memo[n] = _shape_changes(n, g, removed)
        if memo[n]:
            changed = True
            return tuple(v) if isinstance(v, torch.Size) else v
        return n
    for node in list(g.gm.graph.nodes):
        if node.op in ("placeholder", "get_attr"):
            continue
        args = fx.node.map_arg(node.args, sub)
        kwargs = fx.node.map_arg(node.kwargs, sub)
        if args != node.args or kwargs != node.kwargs:
            node.args, node.kwargs = args, kwargs
    return changed


def _rewrite(g, removed):
    """Write the new widths into reshapes that hard-code them (``x.view(B, L, 4, 16)``)."""
    changed = False
    for node in g.resizes:
        t = g.info.get(node)
        if isinstance(t, list):
            t = t[0]
        if not isinstance(t, Info) or not t.dims:
            continue
        sizes, moved = _kept_sizes(t, removed)
        new_args = _resized_args(node, sizes, moved, g, removed)
        if new_args is not None and new_args != node.args:
            node.args = new_args
            changed = True
    changed |= _freeze(g, removed)
    if changed:
        g.gm.graph.eliminate_dead_code()
        g.gm.graph.lint()
        g.gm.recompile()
    return changed


def _new_entry(old, d, sizes, moved, g, removed):
    if isinstance(old, int) and old == -1:
        return old
    if d in moved or (isinstance(old, fx.Node) and _shape_changes(old, g, removed)):
        return sizes[d]
    return old


def _resized_args(node, sizes, moved, g, removed):
    t = node.target
    if t in ("view", "reshape", "expand", torch.reshape):
        rest = node.args[1:]
        packed = len(rest) == 1 and isinstance(rest[0], (tuple, list))
        shape = list(rest[0] if packed else rest)
        for d in sizes:
            if d < len(shape):
                shape[d] = _new_entry(shape[d], d, sizes, moved, g, removed)
        return (node.args[0], tuple(shape)) if packed else (node.args[0], *shape)
    if t == "unflatten":
        dim = node.args[1]
        shape = list(node.args[2])
        for d in sizes:
            k = d - dim
            if 0 <= k < len(shape):
                shape[k] = _new_entry(shape[k], d, sizes, moved, g, removed)
        return (node.args[0], dim, tuple(shape))
    if t in ("split", torch.split):
        v = g.values[node]
        dim = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0)
        dim %= v[0].dim()
        if dim not in moved or not isinstance(node.args[1], int):
            return None
        return (node.args[0], sizes[dim] // len(v), *node.args[2:])
    return None


def reaches_layer(node, uses):
    """Some layer of ``uses`` is downstream of ``node``."""
    seen, todo = set(), list(node.users)
    targets = set(uses)
    while todo:
        u = todo.pop()
        if u in seen:
            continue
        seen.add(u)
        if u.op == "call_module" and u.target in targets:
            return True
        todo.extend(u.users)
    return False


def blocked(g, st):
    """``[(layer, reason)]``: groups with dead units that only an unsupported operation
    keeps from being removed."""
    out = []
    for s in st.values():
        if s.pin is None or s.output or not s.ok or not s.dead:
            continue
        if isinstance(s.pin.node, fx.Node) and reaches_layer(s.pin.node, g.uses):
            layer = next((t for t, _ in s.producers), None)
            if layer is not None:
                out.append((layer, s.pin.reason))
    return out


# ------------------------------------------------------------------ constant sublayers


_ADD_F = {operator.add, torch.add, operator.iadd}


def _const_node(g, node):
    """``node`` is a tensor that does not depend on the model input (at any position)."""
    info = g.info.get(node) if isinstance(node, fx.Node) else None
    return isinstance(info, Info) and isinstance(g.values.get(node), torch.Tensor) \
        and bool(info.const.all())


def _const_region(g, node):
    """The nodes computing the constant ``node`` (walking up through constant values)."""
    seen, todo = set(), [node]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        for a in n.all_input_nodes:
            info = g.info.get(a)
            infos = info if isinstance(info, list) else [info]
            if any(isinstance(t, Info) and bool(t.const.all()) for t in infos):
                todo.append(a)
    return seen


_RANDOM = ("rand", "bernoulli", "normal", "multinomial", "uniform", "poisson")


def _replayable(g, region):
    """Every value of ``region`` is computed from tensors by a deterministic operation
    (a tensor made from sizes alone, ``torch.randn(x.size(0), d)``, is not a constant)."""
    for n in region:
        if n.op not in ("call_function", "call_method"):
            continue
        name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
        if any(r in str(name) for r in _RANDOM):
            return False
        if not any(_holds_tensor(g.values.get(a)) for a in n.all_input_nodes):
            return False
    return True


def _holds_tensor(v):
    return isinstance(v, torch.Tensor) or (
        isinstance(v, (tuple, list)) and any(isinstance(x, torch.Tensor) for x in v))


def _region_layers(g, region):
    """Targets of the layers (with units or per-unit parameters) called in ``region``."""
    return [n.target for n in g.gm.graph.nodes if n in region and n.op == "call_module"
            and (n.target in g.uses or n.target in g.channel_uses)]


def _entry_layer(g, region):
    """The first layer of ``region`` whose output is constant although its input is not
    (its incoming weights are zero); None if there is none (a layer applied to
    parameters only is not dead)."""
    for n in g.gm.graph.nodes:
        if n in region and n.op == "call_module" and n.target in g.uses and any(
                not _const_node(g, a) for a in n.all_input_nodes
                if isinstance(g.values.get(a), torch.Tensor)):
            return n.target
    return None


def _uniform(g, const, other):
    """The constant value of node ``const``, reduced to size 1 along every dimension that
    holds no channels (it must be the same there); None if it is not, or if it does not
    broadcast onto ``other``'s shape."""
    v = g.values[const].detach().double()
    dims = set(g.info[const].dims)
    rel = 1e-9 if g.dtype == torch.float64 else 1e-5
    for d in range(v.dim()):
        if d in dims or v.shape[d] == 1:
            continue
        first = v.narrow(d, 0, 1)
        if bool(((v - first).abs() > rel * (1.0 + first.abs())).any()):
            return None
        v = first
    shape = g.shape(other)
    try:
        if tuple(torch.broadcast_shapes(tuple(v.shape), shape)) != shape:
            return None
    except RuntimeError:
        return None
    return v


def _const_adds(g):
    """``[(add node, constant operand, live operand)]``: a live tensor plus a constant
    computed by layers."""
    out = []
    for node in g.gm.graph.nodes:
        is_add = (node.op == "call_function" and node.target in _ADD_F) or (
            node.op == "call_method" and node.target == "add")
        if not is_add or len(node.args) != 2 or node.kwargs or _const_node(g, node):
            continue
        a, b = node.args
        if not all(isinstance(x, fx.Node) and isinstance(g.values.get(x), torch.Tensor)
                   for x in (a, b)):
            continue
        for c, live in ((b, a), (a, b)):
            in_place = node.target is operator.iadd and c is a
            if _const_node(g, c) and not _const_node(g, live) and not in_place \
                    and c.op != "get_attr" and g.shape(live) == g.shape(node):
                out.append((node, c, live))
                break
    return out


def constant_outputs(g):
    """``[(layer, reason)]``: outputs of the model that do not depend on its input because
    a layer's units all have zero incoming weights."""
    out = []
    outputs = [n for n in g.gm.graph.nodes if n.op == "output"]
    for o in outputs:
        for node in o.all_input_nodes:
            if not _const_node(g, node):
                continue
            region = _const_region(g, node)
            layer = _entry_layer(g, region)
            if layer is not None:
                out.append((layer, "the model output does not depend on its input (the "
                            f"units of layer '{layer}' have all incoming weights zero, and "
                            "the output depends on the input only through constant "
                            "values)"))
    return out


def drop_constant_sublayers(g, dtype, device):
    """Replace each sublayer whose output is a constant added to a live tensor (a residual
    join) by that constant, and delete the modules that computed it.

    The constant must hold no input-dependent value and be the same at every position
    except along its channel dimensions (a constant channel seen through a zero-padded
    convolution is not): it becomes a buffer of shape ``(1, C, 1, 1)``, ``(1, 1, D)``...
    added where the sublayer's output was. Works on ``g.gm`` in place. Returns
    ``{removed layer: reason}`` (empty if nothing changed).
    """
    gm = g.gm
    before = {n.target for n in gm.graph.nodes if n.op == "call_module"}
    replaced = {}
    k = 0
    for node, c, live in _const_adds(g):
        region = _const_region(g, c)
        layers = _region_layers(g, region)
        if not layers or _entry_layer(g, region) is None or not _replayable(g, region):
            continue
        v = _uniform(g, c, live)
        if v is None:
            continue
        name = f"shrink_constant_{k}"
        while hasattr(gm, name):
            k += 1
            name = f"shrink_constant_{k}"
        k += 1
        gm.register_buffer(name, v.to(dtype=dtype, device=device))
        with gm.graph.inserting_before(node):
            attr = gm.graph.get_attr(name)
        node.replace_input_with(c, attr)
        replaced[c] = (node, layers)
    if not replaced:
        return {}
    gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    after = {n.target for n in gm.graph.nodes if n.op == "call_module"}
    removed = {}
    for node, layers in replaced.values():
        for t in layers:
            if t in before and t not in after and t not in removed:
                removed[t] = (f"its output was constant: replaced by the constant added at "
                              f"'{node.name}'")
    for t in sorted(before - after):
        if t not in removed and (t in g.uses or t in g.channel_uses):
            # (the queries and keys of an attention whose values are constant)
            removed[t] = "it only fed sublayers replaced by their constant"
    return removed
