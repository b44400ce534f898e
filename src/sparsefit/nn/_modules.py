"""Layers that :func:`~sparsefit.nn.shrink.shrink` puts in place of the ones it cannot
express with torch's own classes.

- :class:`ShrunkMultiheadAttention`: multi-head attention with fewer heads than its model
  width (``torch.nn.MultiheadAttention`` needs ``embed_dim == num_heads * head_dim`` and
  the same width in and out), with the same call signature and outputs.
- :class:`ReducedLayerNorm`: a LayerNorm over some channels of a wider one, whose other
  channels were constant (zero after group lasso): it still normalizes over the original
  width (the constants are appended), so the kept channels get exactly the same output.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ReducedLayerNorm", "ShrunkMultiheadAttention"]


def _rows(heads, head_dim):
    heads = torch.as_tensor(heads, dtype=torch.long).reshape(-1)
    return (heads[:, None] * head_dim + torch.arange(head_dim)[None, :]).reshape(-1)


class ShrunkMultiheadAttention(nn.Module):
    r"""Multi-head attention whose head count, input widths and output width are free.

    .. math::
        \mathrm{out} = W_o\,[\mathrm{softmax}(q_h k_h^T / \sqrt{d})\, v_h]_{h} + b_o,
        \quad q_h = W_{q,h}\,\mathrm{query} + b_{q,h}, \dots

    Called like ``torch.nn.MultiheadAttention`` (``query, key, value, key_padding_mask,
    need_weights, attn_mask, average_attn_weights, is_causal``), it returns ``(output,
    weights)`` with ``weights`` None unless ``need_weights``.

    Parameters
    ----------
    q_dim, k_dim, v_dim : int
        Widths of query, key and value.
    out_dim : int
        Width of the output.
    num_heads, head_dim : int
        Heads and their width.
    bias : bool, default=True
    batch_first : bool, default=False
        Inputs ``(batch, seq, feature)`` (else ``(seq, batch, feature)``).
    dropout : float, default=0.0
        Dropout on the attention weights, in training.
    orig_heads, head_index : optional
        The head count of the layer this one was cut from and the heads kept: a per-head
        ``attn_mask`` of shape ``(batch * orig_heads, L, S)`` is reduced to the kept heads.

    Examples
    --------
    >>> import torch
    >>> from sparsefit.nn import ShrunkMultiheadAttention
    >>> att = ShrunkMultiheadAttention(8, 8, 8, 8, num_heads=1, head_dim=4, batch_first=True)
    >>> x = torch.randn(2, 5, 8)
    >>> out, weights = att(x, x, x, need_weights=False)
    >>> tuple(out.shape), weights is None
    ((2, 5, 8), True)
    """

    def __init__(self, q_dim, k_dim, v_dim, out_dim, num_heads, head_dim, *, bias=True,
                 batch_first=False, dropout=0.0, orig_heads=None, head_index=None,
                 device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        width = num_heads * head_dim
        self.num_heads, self.head_dim = int(num_heads), int(head_dim)
        self.batch_first, self.dropout = bool(batch_first), float(dropout)
        self.packed = q_dim == k_dim == v_dim
        if self.packed:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * width, q_dim, **kw))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = nn.Parameter(torch.empty(width, q_dim, **kw))
            self.k_proj_weight = nn.Parameter(torch.empty(width, k_dim, **kw))
            self.v_proj_weight = nn.Parameter(torch.empty(width, v_dim, **kw))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width, **kw)) if bias else None
        self.out_proj = nn.Linear(width, out_dim, bias=bias, **kw)
        self.orig_heads = int(orig_heads if orig_heads is not None else num_heads)
        idx = torch.arange(num_heads) if head_index is None else torch.as_tensor(head_index)
        self.register_buffer("head_index", idx.to(torch.long), persistent=False)
        # torch's TransformerEncoderLayer takes its fused fast path only for its own class
        self._qkv_same_embed_dim = False
        for p in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight,
                  self.v_proj_weight):
            if p is not None:
                nn.init.xavier_uniform_(p)

    @property
    def embed_dim(self):
        return self.out_proj.weight.shape[0]

    def proj_weight(self, port):
        """The projection of query (0), key (1) or value (2): ``(heads * head_dim, in)``."""
        if self.packed:
            w = self.num_heads * self.head_dim
            return self.in_proj_weight[port * w:(port + 1) * w]
        return (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[port]

    def extra_repr(self):
        dims = [self.proj_weight(p).shape[1] for p in range(3)]
        return (f"q_dim={dims[0]}, k_dim={dims[1]}, v_dim={dims[2]}, out_dim={self.embed_dim}"
                f", num_heads={self.num_heads}, head_dim={self.head_dim}, "
                f"batch_first={self.batch_first}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_torch(cls, mha):
        """The same layer as a ``torch.nn.MultiheadAttention`` (weights copied)."""
        return _from_torch(cls, mha)

    def sliced(self, keep_out, keep_in, keep_heads):
        """A copy keeping output units ``keep_out``, the inputs ``keep_in`` (one index
        tensor per query, key, value) and the heads ``keep_heads``."""
        rows = _rows(keep_heads, self.head_dim)
        ws = [self.proj_weight(p).detach()[rows][:, keep_in[p]] for p in range(3)]
        new = ShrunkMultiheadAttention(
            ws[0].shape[1], ws[1].shape[1], ws[2].shape[1], int(keep_out.numel()),
            len(keep_heads), self.head_dim, bias=self.in_proj_bias is not None,
            batch_first=self.batch_first, dropout=self.dropout, orig_heads=self.orig_heads,
            head_index=self.head_index[torch.as_tensor(keep_heads, dtype=torch.long)],
            device=ws[0].device, dtype=ws[0].dtype)
        rg = self.out_proj.weight.requires_grad
        with torch.no_grad():
            for p in range(3):
                new.proj_weight(p).copy_(ws[p])
            if self.in_proj_bias is not None:
                w = self.num_heads * self.head_dim
                b = self.in_proj_bias.detach()
                new.in_proj_bias.copy_(torch.cat([b[p * w:(p + 1) * w][rows] for p in range(3)]))
            new.out_proj.weight.copy_(self.out_proj.weight.detach()[keep_out][:, rows])
            if self.out_proj.bias is not None:
                new.out_proj.bias.copy_(self.out_proj.bias.detach()[keep_out])
        for p in new.parameters():
            p.requires_grad_(rg)
        return new

    # ------------------------------------------------------------------------ forward
    def _masks(self, attn_mask, key_padding_mask, n, L, S, dtype):
        mask = None
        if attn_mask is not None:
            mask = _additive(attn_mask, dtype)
            if mask.dim() == 3:  # (batch * orig_heads, L, S): keep the kept heads' masks
                mask = mask.reshape(n, self.orig_heads, L, S)[:, self.head_index]
        if key_padding_mask is not None:
            kpm = _additive(key_padding_mask, dtype).reshape(n, 1, 1, S)
            mask = kpm if mask is None else mask + kpm
        return mask

    def _self_attention(self, x):
        """Batch-first self-attention without masks or weights: the lean path."""
        n, L = x.shape[:2]
        w = self.num_heads * self.head_dim
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(n, L, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(n, L, w)), None

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        if (not need_weights and self.packed and self.batch_first and query is key
                and key is value and query.dim() == 3 and attn_mask is None
                and key_padding_mask is None):
            return self._self_attention(query)
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        # (seq, batch, feature) from here
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint")
        L, n = query.shape[:2]
        S = key.shape[0]
        b = self.in_proj_bias
        w = self.num_heads * self.head_dim
        bias = [None if b is None else b[p * w:(p + 1) * w] for p in range(3)]
        if self.packed and query is key and key is value:
            q, k, v = F.linear(query, self.in_proj_weight, b).chunk(3, dim=-1)
        else:
            q, k, v = (F.linear(t, self.proj_weight(p), bias[p])
                       for p, t in enumerate((query, key, value)))
        q, k, v = (t.reshape(t.shape[0], n, self.num_heads, self.head_dim).permute(1, 2, 0, 3)
                   for t in (q, k, v))
        mask = self._masks(attn_mask, key_padding_mask, n, L, S, q.dtype)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
            if mask is not None:
                scores = scores + mask
            att = torch.softmax(scores, dim=-1)
            weights = att.mean(dim=1) if average_attn_weights else att
            out = F.dropout(att, p, training=self.training) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        out = self.out_proj(out.permute(2, 0, 1, 3).reshape(L, n, w))
        if unbatched:
            out = out.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights


def _additive(mask, dtype):
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf"))
    return mask.to(dtype)


def _from_torch(cls, mha):
    E, H = mha.embed_dim, mha.num_heads
    hd = E // H
    if mha._qkv_same_embed_dim:
        ws = mha.in_proj_weight.detach().chunk(3)
    else:
        ws = (mha.q_proj_weight.detach(), mha.k_proj_weight.detach(),
              mha.v_proj_weight.detach())
    new = cls(ws[0].shape[1], ws[1].shape[1], ws[2].shape[1], E, H, hd,
              bias=mha.in_proj_bias is not None, batch_first=mha.batch_first,
              dropout=mha.dropout, device=ws[0].device, dtype=ws[0].dtype)
    with torch.no_grad():
        for p in range(3):
            new.proj_weight(p).copy_(ws[p])
        if mha.in_proj_bias is not None:
            new.in_proj_bias.copy_(mha.in_proj_bias.detach())
        new.out_proj.weight.copy_(mha.out_proj.weight.detach())
        if mha.out_proj.bias is not None:
            new.out_proj.bias.copy_(mha.out_proj.bias.detach())
    return new


class ReducedLayerNorm(nn.LayerNorm):
    r"""LayerNorm over the kept channels of a wider one, whose removed channels held
    constants (zero after group lasso).

    The removed channels' values :math:`c_j` are appended to the input and the whole is
    normalized, as the original layer did, then the kept channels get their scale and
    shift: exactly the original LayerNorm's output on the kept channels,

    .. math::
        \mu = \frac{\sum_i x_i + \sum_j c_j}{n}, \quad
        \sigma^2 = \frac{\sum_i (x_i - \mu)^2 + \sum_j (c_j - \mu)^2}{n}, \quad
        y_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}\,\gamma_i + \beta_i .

    Examples
    --------
    >>> import torch
    >>> from sparsefit.nn import ReducedLayerNorm
    >>> ln = torch.nn.LayerNorm(4)
    >>> x = torch.randn(3, 4).double(); x[:, 3] = 0      # channel 3 is always zero
    >>> small = ReducedLayerNorm.from_layer_norm(ln.double(), torch.arange(3))
    >>> bool(torch.allclose(small(x[:, :3]), ln(x)[:, :3], atol=1e-12))
    True
    """

    def __init__(self, normalized_shape, removed, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__(normalized_shape, eps=eps, elementwise_affine=elementwise_affine,
                         bias=bias, device=device, dtype=dtype)
        self.register_buffer("removed", torch.as_tensor(removed).to(
            device=device, dtype=dtype or torch.get_default_dtype()).reshape(-1).clone())

    @property
    def total(self):
        """The width of the original layer."""
        return self.normalized_shape[0] + self.removed.numel()

    @classmethod
    def from_layer_norm(cls, ln, keep, removed_const=None):
        """``ln`` (a LayerNorm or ReducedLayerNorm) restricted to channels ``keep``;
        ``removed_const`` (one value per channel) gives the removed channels' constant
        inputs (zeros if None)."""
        n = ln.normalized_shape[0]
        keep = torch.as_tensor(keep, dtype=torch.long).reshape(-1)
        gone = torch.ones(n, dtype=torch.bool)
        gone[keep] = False
        c = (torch.zeros(n, dtype=torch.float64) if removed_const is None
             else torch.as_tensor(removed_const, dtype=torch.float64).reshape(-1).cpu())[gone]
        ref = ln.weight if ln.weight is not None else next(
            (b for b in ln.buffers()), None)
        dtype = ref.dtype if ref is not None else torch.get_default_dtype()
        device = ref.device if ref is not None else None
        old = ln.removed.detach().cpu().double() if isinstance(ln, cls) else c[:0]
        new = cls(int(keep.numel()), torch.cat([old, c]), eps=ln.eps,
                  elementwise_affine=ln.weight is not None,
                  bias=getattr(ln, "bias", None) is not None, device=device, dtype=dtype)
        with torch.no_grad():
            for name in ("weight", "bias"):
                p = getattr(ln, name, None)
                if p is not None:
                    getattr(new, name).copy_(p.detach()[keep.to(p.device)])
                    getattr(new, name).requires_grad_(p.requires_grad)
        return new

    def extra_repr(self):
        return super().extra_repr() + f", total={self.total}"

    def _padded_affine(self, dtype):
        """Weight and bias with zeros for the removed channels (cached for inference:
        recomputed when the parameters change or gradients may flow)."""
        w, b = self.weight, self.bias
        m = self.removed.numel()

        def pad(p):
            return None if p is None else F.pad(p.to(dtype), (0, m))
        if torch.is_grad_enabled() and any(p is not None and p.requires_grad for p in (w, b)):
            return pad(w), pad(b)
        key = (torch.is_inference_mode_enabled(), dtype,
               *[(p._version, p.data_ptr()) for p in (w, b) if p is not None])
        if self.__dict__.get("_affine_key") != key:
            self.__dict__["_affine"] = (pad(None if w is None else w.detach()),
                                        pad(None if b is None else b.detach()))
            self.__dict__["_affine_key"] = key
        return self.__dict__["_affine"]

    def __getstate__(self):
        state = super().__getstate__()
        for key in ("_affine", "_affine_key", "_zero", "_zero_key"):
            state.pop(key, None)
        return state

    def forward(self, x):
        k = x.shape[-1]
        if not self.removed.numel():
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        r = self.removed
        if self.__dict__.get("_zero_key") != (r._version, r.data_ptr()):
            self.__dict__["_zero"] = bool((r == 0).all())
            self.__dict__["_zero_key"] = (r._version, r.data_ptr())
        if self.__dict__["_zero"]:
            full = F.pad(x, (0, r.numel()))
        else:
            full = torch.cat([x, self.removed.to(x.dtype).expand(*x.shape[:-1], -1)], dim=-1)
        w, b = self._padded_affine(x.dtype)
        # static widths (not full.shape): ONNX export traces shapes as dynamic values
        return F.layer_norm(full, (self.total,), w, b, self.eps)[..., :k]
