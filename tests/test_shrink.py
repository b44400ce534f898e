"""shrink: physically smaller models that compute the same function.

One table of architectures; every entry goes through the shared checks (outputs
preserved on fresh inputs, input model untouched, fewer parameters, expected widths,
state_dict round trip of the shrunk model).
"""

import copy
import io
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from sparsefit.nn.shrink import (
    ChannelHandler,
    ReducedLayerNorm,
    ShrinkError,
    ShrinkReport,
    ShrunkMultiheadAttention,
    handlers,
    register_handler,
    shrink,
)


def checksum(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def zero_rows(w, rows):
    with torch.no_grad():
        w[rows] = 0


def zero_cols(w, cols):
    with torch.no_grad():
        w[:, cols] = 0


def randomize_bn(bn):
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)


# ------------------------------------------------------------------ architectures
# each returns (model, example input, {layer: expected units after shrinking})


def mlp_bias():
    net = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 8), nn.Tanh(),
                        nn.Linear(8, 3))
    zero_rows(net[0].weight, [0, 1, 2])          # constant relu(b): folded
    with torch.no_grad():
        net[0].bias[:3] = torch.tensor([0.5, -0.3, 1.0])
    zero_cols(net[2].weight, [3, 4])             # nobody reads units 3, 4
    zero_rows(net[2].weight, [0])                # constant tanh(b) into the last layer
    return net, torch.randn(16, 6), {"0": 5, "2": 7, "4": 3}


def mlp_nobias():
    # sigmoid(0) = 0.5: a dead unit still emits a constant; the next layer has no bias,
    # so shrinking must create one
    net = nn.Sequential(nn.Linear(5, 8, bias=False), nn.Sigmoid(),
                        nn.Linear(8, 6, bias=False), nn.ReLU(), nn.Linear(6, 2, bias=False))
    zero_rows(net[0].weight, [1, 4, 6])
    zero_cols(net[4].weight, [0, 5])
    return net, torch.randn(16, 5), {"0": 5, "2": 4, "4": 2}


def mlp_batchnorm():
    net = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.2),
                        nn.Linear(12, 4))
    randomize_bn(net[1])
    zero_rows(net[0].weight, [2, 3, 7])          # constant relu(BN(b)): folded
    zero_cols(net[4].weight, [0])
    return net, torch.randn(16, 6), {"0": 8, "4": 4}


def cnn_flatten():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 2 * 2, 5))
    randomize_bn(net[1])
    zero_rows(net[0].weight, [1, 5])             # constant channel into an unpadded conv
    zero_rows(net[3].weight, [0, 2])             # constant channel through pool+flatten
    with torch.no_grad():
        net[3].bias[:3] = torch.tensor([0.7, 0.1, 0.4])
        net[7].weight[:, 4 * 4:5 * 4] = 0        # the column block of channel 4
    return net, torch.randn(4, 3, 6, 6), {"0": 6, "3": 3, "7": 5}


def conv1x1():
    net = nn.Sequential(nn.Conv2d(4, 10, 1), nn.ReLU(), nn.Conv2d(10, 6, 1, bias=False),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 2))
    zero_rows(net[0].weight, [0, 9])
    zero_cols(net[2].weight, [3])
    zero_rows(net[2].weight, [5])
    return net, torch.randn(4, 4, 5, 5), {"0": 7, "2": 5, "6": 2}


class Functional(nn.Module):
    """torch.flatten and F.relu in forward, a view after the convolutions."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 3)
        self.fc1 = nn.Linear(6 * 3 * 3, 7)
        self.fc2 = nn.Linear(7, 1)

    def forward(self, x):
        x = F.relu(self.conv(x))
        x = x.view(x.size(0), -1)
        return self.fc2(torch.tanh(self.fc1(x)) * 2.0)


def functional():
    net = Functional()
    zero_rows(net.conv.weight, [2])
    zero_cols(net.fc1.weight, list(range(9 * 4, 9 * 5)))
    zero_rows(net.fc1.weight, [0, 6])
    return net, torch.randn(3, 2, 5, 5), {"conv": 4, "fc1": 5, "fc2": 1}


def mlp_float64():
    net, x, widths = mlp_bias()
    return net.double(), x.double(), widths


class Block(nn.Module):
    def __init__(self, c=6):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(out)))


def with_head(block):
    return nn.Sequential(nn.Conv2d(3, 6, 1), block, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(6, 2))


def residual_inner():
    # dead filters inside the block are fine; the block's output (the add) is not touched
    net = with_head(Block(6))
    randomize_bn(net[1].bn1)
    randomize_bn(net[1].bn2)
    zero_rows(net[1].conv1.weight, [0, 3])
    with torch.no_grad():
        net[1].conv1.bias.fill_(-5.0)  # relu(BN(-5)) may be nonzero; conv2 is padded
        net[1].bn1.running_mean.fill_(10.0)  # -> BN(-5) < 0 -> relu = 0: foldable
    return net, torch.randn(2, 3, 5, 5), {"1.conv1": 6, "1.conv2": 6, "0": 6, "4": 2}


class ResNet(nn.Module):
    """Stem and two residual blocks: the stream's channels are one group across joins."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.b1, self.b2 = Block(6), Block(6)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        x = self.b2(self.b1(F.relu(self.bn(self.stem(x)))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def residual_stream():
    net = ResNet()
    for bn in (net.bn, net.b1.bn1, net.b1.bn2, net.b2.bn1, net.b2.bn2):
        randomize_bn(bn)
    with torch.no_grad():
        for bn in (net.bn, net.b1.bn2, net.b2.bn2):   # channel 2 of the stream: zero
            bn.weight[2] = 0
            bn.bias[2] = 0
        net.b1.conv1.weight[3] = 0                   # an inner channel: constant
        net.b1.conv1.bias[3] = -5.0
        net.b1.bn1.running_mean[3] = 10.0            # relu(BN(-5)) = 0: folds
    return net, torch.randn(4, 3, 6, 6), {"stem": 5, "b1.conv1": 7, "b1.conv2": 5,
                                          "b2.conv2": 5, "fc": 2}


class Concat(nn.Module):
    """Two branches concatenated: the head's columns are ranges of each."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 5)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(torch.tanh(torch.cat([self.a(x), self.b(x)], dim=1)))


def concat():
    net = Concat()
    zero_rows(net.a.weight, [0])                 # constant tanh(b): folds into head
    zero_cols(net.head.weight, [3 + 2, 3 + 4])   # b's units 2, 4 unread
    return net, torch.randn(8, 4), {"a": 2, "b": 3, "head": 2}


class ConvConcat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, padding=1)
        self.b = nn.Conv2d(2, 3, 1)
        self.c = nn.Conv2d(7, 4, 1)
        self.fc = nn.Linear(4 * 16, 2)

    def forward(self, x):
        h = F.relu(torch.cat((self.a(x), self.b(x)), 1))
        return self.fc(F.relu(self.c(h)).flatten(1))


def conv_concat():
    net = ConvConcat()
    zero_rows(net.b.weight, [1])                 # channel 4+1 of the concat: constant
    zero_cols(net.c.weight, [0])                 # a's channel 0: unread
    return net, torch.randn(3, 2, 4, 4), {"a": 3, "b": 2, "c": 4}


class Encoder(nn.Module):
    """Embedding + positions + torch's TransformerEncoder + mean pooling + head."""

    def __init__(self, d=16, h=4, ff=32, norm_first=False):
        super().__init__()
        self.emb = nn.Embedding(11, d)
        self.pos = nn.Parameter(0.1 * torch.randn(1, 12, d))
        layer = nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, batch_first=True,
                                           norm_first=norm_first)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(d, 3)

    def forward(self, t):
        x = self.emb(t) + self.pos[:, :t.shape[1]]
        return self.head(self.enc(x).mean(1))


def _kill_encoder(m, d=16):
    with torch.no_grad():
        for layer in m.enc.layers:
            att = layer.self_attn
            rows = [r for r in range(3 * d) if (r % d) // 4 == 1]   # head 1: q, k, v
            att.in_proj_weight[rows] = 0
            att.in_proj_bias[rows] = 0
            layer.linear1.weight[:10] = 0                          # 10 FFN units
            layer.linear1.bias[:10] = -1.0                         # relu(-1) = 0
        m.emb.weight[:, 5] = 0                                     # stream channel 5
        m.pos[..., 5] = 0
        for layer in m.enc.layers:
            for lin in (layer.self_attn.out_proj, layer.linear2):
                lin.weight[5] = 0
                lin.bias[5] = 0
            for norm in (layer.norm1, layer.norm2):
                norm.weight[5] = 0
                norm.bias[5] = 0


def encoder(norm_first=False):
    m = Encoder(norm_first=norm_first)
    _kill_encoder(m)
    return m, torch.randint(0, 11, (4, 9)), {
        "emb": 15, "enc.layers.0.self_attn": 3, "enc.layers.1.self_attn": 3,
        "enc.layers.0.linear1": 22, "enc.layers.0.norm1": 15, "head": 3}


class CrossAttention(nn.Module):
    """torch's MultiheadAttention, sequence first, with kdim/vdim != embed_dim."""

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(5, 8)
        self.kv = nn.Linear(3, 6)
        self.att = nn.MultiheadAttention(8, 4, kdim=6, vdim=6)
        self.head = nn.Linear(8, 2)

    def forward(self, x, y):
        out, _ = self.att(self.q(x), self.kv(y), self.kv(y), need_weights=False)
        return self.head(out.mean(0))


def cross_attention():
    net = CrossAttention()
    with torch.no_grad():
        net.att.out_proj.weight[:, 4:6] = 0      # head 2: nobody reads it
        net.att.v_proj_weight[2:4] = 0           # head 1: constant (its value bias)
        net.kv.weight[1] = 0                     # kv unit 1: constant, folds into k and v
    x, y = torch.randn(7, 2, 5), torch.randn(6, 2, 3)
    return net, (x, y), {"att": 2, "kv": 5, "q": 8}


class HandAttention(nn.Module):
    """Hand-written attention that hard-codes its head count in view()."""

    def __init__(self, d=16, h=4):
        super().__init__()
        self.h = h
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x):
        B, L, D = x.shape
        q = self.q(x).view(B, L, self.h, D // self.h).transpose(1, 2)
        k = self.k(x).view(B, L, self.h, D // self.h).transpose(1, 2)
        v = self.v(x).view(B, L, self.h, D // self.h).transpose(1, 2)
        a = (q @ k.transpose(-2, -1) / math.sqrt(D // self.h)).softmax(-1)
        return self.o((a @ v).transpose(1, 2).reshape(B, L, D))


class HandEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 16)
        self.att = HandAttention()
        self.ln = nn.LayerNorm(16)
        self.head = nn.Linear(16, 3)

    def forward(self, t):
        x = self.emb(t)
        return self.head(self.ln(x + self.att(x)).mean(1))


def hand_attention():
    m = HandEncoder()
    with torch.no_grad():
        m.att.v.weight[4:8] = 0          # head 1 emits its value bias
        m.att.o.weight[:, 8:12] = 0      # head 2 is unread
    return m, torch.randint(0, 10, (3, 7)), {"att.q": 8, "att.k": 8, "att.v": 8, "att.o": 16}


class FusedQKV(nn.Module):
    """timm-style: one qkv Linear, reshape/permute/unbind, scaled_dot_product_attention."""

    def __init__(self, d=12, h=3):
        super().__init__()
        self.h = h
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.head = nn.Linear(d, 2)

    def forward(self, x):
        B, L, D = x.shape
        qkv = self.qkv(x).reshape(B, L, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        y = F.scaled_dot_product_attention(q, k, v)
        y = self.proj(y.transpose(1, 2).reshape(B, L, D))
        return self.head((x + y)[:, 0])


def fused_qkv():
    m = FusedQKV()
    with torch.no_grad():
        m.proj.weight[:, 4:8] = 0        # head 1 unread
    return m, torch.randn(2, 5, 12), {"qkv": 24, "proj": 12}


class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(9, 6)
        self.fc = nn.Linear(6, 4)
        self.out = nn.Linear(4, 2)

    def forward(self, t):
        return self.out(F.relu(self.fc(self.emb(t).sum(1))))


def embedding():
    m = Embed()
    with torch.no_grad():
        m.emb.weight[:, 1] = 0           # a zero dimension
        m.emb.weight[:, 4] = 0.5         # the same for every token: constant, folds
    return m, torch.randint(0, 9, (5, 3)), {"emb": 4, "fc": 4}


def depthwise():
    net = nn.Sequential(nn.Conv2d(4, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                        nn.ReLU(), nn.Conv2d(8, 4, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 2))
    zero_rows(net[0].weight, [3])
    zero_rows(net[2].weight, [5])
    with torch.no_grad():
        net[0].bias[3] = -1.0            # relu(-1) = 0 into the depthwise filter 3
        net[2].bias[3] = 0.3             # whose output is then its bias: folds
        net[2].bias[5] = 0.0
    return net, torch.randn(2, 4, 5, 5), {"0": 6, "2": 6, "4": 4}


def grouped():
    net = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=2),
                        nn.ReLU(), nn.Conv2d(8, 4, 1), nn.Flatten(), nn.Linear(4 * 9, 2))
    zero_rows(net[2].weight, [4, 5, 6, 7])   # group 1 of the grouped conv: zero
    with torch.no_grad():
        net[2].bias[4:] = 0
    return net, torch.randn(2, 3, 5, 5), {"0": 4, "2": 4, "4": 4}


class Shared(nn.Module):
    """A layer called twice: its columns are one, across both calls."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(6, 3)

    def forward(self, x):
        h = F.relu(self.a(x))
        return self.b(h) + self.b(2 * h)


def shared_layer():
    m = Shared()
    zero_rows(m.a.weight, [0, 3])
    with torch.no_grad():
        m.a.bias[0] = -1.0               # relu: 0, removable
        m.a.bias[3] = 1.0                # relu: 1, cannot fold into a bias used twice
    return m, torch.randn(5, 4), {"a": 5, "b": 3}


class ClsToken(nn.Module):
    """A class token concatenated along the sequence: a parameter sliced with channels."""

    def __init__(self, d=8):
        super().__init__()
        self.patch = nn.Linear(6, d)
        self.cls = nn.Parameter(torch.randn(1, 1, d))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, 2)

    def forward(self, x):
        x = self.patch(x)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        return self.head(self.ln(x)[:, 0])


def cls_token():
    m = ClsToken()
    with torch.no_grad():
        m.patch.weight[2] = 0
        m.patch.bias[2] = 0.7            # constant 0.7, with the cls entry 0.7 too
        m.cls[..., 2] = 0.7
        m.ln.weight[2] = 0               # LayerNorm counts it, emits its bias: folds
    return m, torch.randn(3, 4, 6), {"patch": 7, "ln": 7}


def prelu():
    net = nn.Sequential(nn.Linear(3, 6), nn.PReLU(6), nn.Linear(6, 2))
    zero_rows(net[0].weight, [1, 4])
    return net, torch.randn(4, 3), {"0": 4}


def conv1d():
    net = nn.Sequential(nn.Conv1d(2, 5, 3), nn.BatchNorm1d(5), nn.Tanh(), nn.Conv1d(5, 3, 1),
                        nn.Flatten(), nn.Linear(3 * 6, 2))
    randomize_bn(net[1])
    zero_rows(net[0].weight, [0])
    return net, torch.randn(3, 2, 8), {"0": 4, "3": 3}


def conv3d():
    net = nn.Sequential(nn.Conv3d(1, 4, 1), nn.BatchNorm3d(4), nn.ReLU(), nn.Conv3d(4, 2, 1),
                        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(2, 1))
    randomize_bn(net[1])
    zero_rows(net[0].weight, [2])
    return net, torch.randn(2, 1, 3, 3, 3), {"0": 3, "3": 2}


def reshrink_attention():
    # a model already shrunk once (ShrunkMultiheadAttention, ReducedLayerNorm) shrinks again
    m, t, _ = encoder()
    small, _ = shrink(m, t)
    with torch.no_grad():
        att = small.enc.layers[0].self_attn
        att.out_proj.weight[:, :4] = 0   # one more head unread
    return small, t, {"enc.layers.0.self_attn": 2, "enc.layers.1.self_attn": 3, "emb": 15}


def encoder_float64():
    m, t, widths = encoder(norm_first=True)
    return m.double(), t, widths


ARCHS = {
    "mlp_bias": mlp_bias, "mlp_nobias": mlp_nobias, "mlp_batchnorm": mlp_batchnorm,
    "cnn_flatten": cnn_flatten, "conv1x1": conv1x1, "functional": functional,
    "mlp_float64": mlp_float64, "residual_inner": residual_inner,
    "residual_stream": residual_stream, "concat": concat, "conv_concat": conv_concat,
    "encoder_post_ln": encoder, "encoder_pre_ln": lambda: encoder(norm_first=True),
    "encoder_float64": encoder_float64, "cross_attention": cross_attention,
    "hand_attention": hand_attention, "fused_qkv": fused_qkv, "embedding": embedding,
    "depthwise": depthwise, "grouped": grouped, "shared_layer": shared_layer,
    "cls_token": cls_token, "prelu": prelu, "conv1d": conv1d, "conv3d": conv3d,
    "reshrink_attention": reshrink_attention,
}


def widths(model):
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            out[name] = m.out_features
        elif isinstance(m, nn.modules.conv._ConvNd):
            out[name] = m.out_channels
        elif isinstance(m, nn.Embedding):
            out[name] = m.embedding_dim
        elif isinstance(m, (nn.MultiheadAttention, ShrunkMultiheadAttention)):
            out[name] = m.num_heads
        elif isinstance(m, nn.LayerNorm):
            out[name] = m.normalized_shape[0]
    return out


def _inputs(x):
    return x if isinstance(x, tuple) else (x,)


def _random_like(x, gen, scale):
    if x.is_floating_point():
        return scale * torch.randn(x.shape, generator=gen, dtype=x.dtype)
    return torch.randint(0, int(x.max()) + 1, x.shape, generator=gen)


def _assert_same_outputs(net, small, xs, tol):
    """``small`` computes ``net`` (in eval mode) on ``xs`` and on random inputs of its shapes
    at scales 1 and 3, within ``tol`` relative to the largest output."""
    net.eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for scale in (0, 1, 3):
            xx = xs if scale == 0 else tuple(_random_like(t, gen, scale) for t in xs)
            ref = net(*xx)
            assert (small(*xx) - ref).abs().max() <= tol * (1 + float(ref.abs().max()))


@pytest.mark.parametrize("arch", list(ARCHS))
def test_shrink_preserves_outputs(arch):
    torch.manual_seed(0)
    net, x, expected = ARCHS[arch]()
    xs = _inputs(x)
    net.train()  # shrink must not depend on (or change) the input's mode
    before = checksum(net)
    small, report = shrink(net, x)

    assert same_state(before, checksum(net)), "the input model was modified"
    assert net.training and not small.training
    assert type(small) is type(net) or (report.rewritten
                                        and isinstance(small, torch.fx.GraphModule))
    got = widths(small)
    for layer, n in expected.items():
        assert got[layer] == n, (layer, got)
    n_params = sum(p.numel() for p in small.parameters())
    assert n_params == report.params_after < report.params_before
    assert report.flops_after <= report.flops_before

    f64 = next(net.parameters()).dtype == torch.float64
    tol = 1e-10 if f64 else 1e-5
    assert report.max_abs_diff <= tol
    _assert_same_outputs(net, small, xs, tol)

    # state_dict round trip of the shrunk model (through bytes)
    buf = io.BytesIO()
    torch.save(small.state_dict(), buf)
    other = copy.deepcopy(small)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    buf.seek(0)
    other.load_state_dict(torch.load(buf))
    with torch.no_grad():
        assert torch.equal(other(*xs), small(*xs))


# every registered layer type has a case: a table of architectures for the layers with
# units or per-unit parameters, a generated sandwich for those acting channel by channel
LAYER_CASES = {
    nn.Linear: "mlp_bias", nn.Conv1d: "conv1d", nn.Conv2d: "cnn_flatten", nn.Conv3d: "conv3d",
    nn.Embedding: "embedding", nn.MultiheadAttention: "cross_attention",
    ShrunkMultiheadAttention: "reshrink_attention", nn.BatchNorm1d: "mlp_batchnorm",
    nn.BatchNorm2d: "cnn_flatten", nn.BatchNorm3d: "conv3d", nn.LayerNorm: "encoder_post_ln",
    nn.PReLU: "prelu",
}
PASS_CASES = {
    nn.Identity: nn.Identity, nn.ReLU: nn.ReLU, nn.ReLU6: nn.ReLU6, nn.LeakyReLU: nn.LeakyReLU,
    nn.ELU: nn.ELU, nn.SELU: nn.SELU, nn.CELU: nn.CELU, nn.GELU: nn.GELU, nn.SiLU: nn.SiLU,
    nn.Mish: nn.Mish, nn.Tanh: nn.Tanh, nn.Sigmoid: nn.Sigmoid, nn.Hardtanh: nn.Hardtanh,
    nn.Hardswish: nn.Hardswish, nn.Hardsigmoid: nn.Hardsigmoid, nn.Softplus: nn.Softplus,
    nn.Softsign: nn.Softsign, nn.Tanhshrink: nn.Tanhshrink, nn.LogSigmoid: nn.LogSigmoid,
    nn.Softshrink: nn.Softshrink, nn.Hardshrink: nn.Hardshrink,
    nn.Threshold: lambda: nn.Threshold(0.1, -1.0), nn.Dropout: nn.Dropout,
    nn.Dropout1d: nn.Dropout1d, nn.Dropout2d: nn.Dropout2d, nn.Dropout3d: nn.Dropout3d,
    nn.AlphaDropout: nn.AlphaDropout, nn.MaxPool1d: lambda: nn.MaxPool1d(2),
    nn.MaxPool2d: lambda: nn.MaxPool2d(2), nn.MaxPool3d: lambda: nn.MaxPool3d(2),
    nn.AvgPool1d: lambda: nn.AvgPool1d(2), nn.AvgPool2d: lambda: nn.AvgPool2d(2),
    nn.AvgPool3d: lambda: nn.AvgPool3d(2), nn.AdaptiveAvgPool1d: lambda: nn.AdaptiveAvgPool1d(2),
    nn.AdaptiveAvgPool2d: lambda: nn.AdaptiveAvgPool2d(2),
    nn.AdaptiveAvgPool3d: lambda: nn.AdaptiveAvgPool3d(2),
    nn.AdaptiveMaxPool1d: lambda: nn.AdaptiveMaxPool1d(2),
    nn.AdaptiveMaxPool2d: lambda: nn.AdaptiveMaxPool2d(2),
    nn.AdaptiveMaxPool3d: lambda: nn.AdaptiveMaxPool3d(2), nn.LPPool1d: lambda: nn.LPPool1d(2, 2),
    nn.LPPool2d: lambda: nn.LPPool2d(2, 2),
}


def _library_types():
    # test modules register their own layers too; the library's registry is what counts
    return [cls for cls in handlers()
            if cls.__module__.split(".")[0] in ("torch", "sparsefit")]


def test_every_registered_handler_has_a_case():
    missing = [cls.__name__ for cls in _library_types()
               if cls not in LAYER_CASES and cls not in PASS_CASES]
    assert not missing, f"handlers without a test case: {missing}"
    for cls, arch in LAYER_CASES.items():
        net = ARCHS[arch]()[0]
        assert any(type(m) is cls for m in net.modules()), (cls.__name__, arch)


@pytest.mark.parametrize("cls", sorted(PASS_CASES, key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
def test_channel_handler_sandwich(cls):
    # conv(1x1) -> the layer -> conv(1x1): a constant channel goes through it and folds
    dims = 3 if "3d" in cls.__name__ else 2 if "2d" in cls.__name__ else 1
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
    pool = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[dims]
    torch.manual_seed(0)
    net = nn.Sequential(conv(2, 6, 1), PASS_CASES[cls](), conv(6, 3, 1), pool(1), nn.Flatten(),
                        nn.Linear(3, 2)).double()
    zero_rows(net[0].weight, [4])
    zero_cols(net[2].weight, [1])
    small, report = shrink(net, torch.randn((3, 2) + (4,) * dims, dtype=torch.float64))
    assert small[0].out_channels == 4 and report.max_abs_diff <= 1e-10


def test_reduced_layer_norm_counts_removed_constants():
    # LayerNorm over 6 channels, 2 of them constant (0.5, -2): the reduced one over the
    # other 4 gives the same outputs on them
    torch.manual_seed(0)
    ln = nn.LayerNorm(6).double()
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-1, 1)
    x = torch.randn(5, 6, dtype=torch.float64)
    x[:, 1], x[:, 4] = 0.5, -2.0
    keep = torch.tensor([0, 2, 3, 5])
    consts = torch.zeros(6, dtype=torch.float64)
    consts[1], consts[4] = 0.5, -2.0
    small = ReducedLayerNorm.from_layer_norm(ln, keep, consts)
    assert torch.allclose(small(x[:, keep]), ln(x)[:, keep], atol=1e-12, rtol=0)
    # again, from the reduced one
    smaller = ReducedLayerNorm.from_layer_norm(small, torch.tensor([0, 1, 3]),
                                               torch.tensor([0.0, 0.0, 7.0, 0.0]).double())
    x[:, 3] = 7.0
    assert torch.allclose(smaller(x[:, [0, 2, 5]]), ln(x)[:, [0, 2, 5]], atol=1e-12, rtol=0)


def test_encoder_layers_become_reduced_and_shrunk_attention():
    m, t, _ = encoder()
    small, report = shrink(m, t)
    layer = small.enc.layers[0]
    assert isinstance(layer.norm1, ReducedLayerNorm) and layer.norm1.total == 16
    assert isinstance(layer.self_attn, ShrunkMultiheadAttention)
    assert small.pos.shape == (1, 12, 15)
    row = {r["layer"]: r for r in report.layers}["enc.layers.0.self_attn"]
    assert (row["heads_before"], row["heads_after"]) == (4, 3)
    assert "heads 4 -> 3" in str(report)


def test_bias_folding_changes_next_bias():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    zero_rows(net[0].weight, [1])
    with torch.no_grad():
        net[0].bias[1] = 0.8
    small, report = shrink(net, torch.randn(5, 3))
    expected = net[2].bias + net[2].weight[:, 1] * torch.tanh(torch.tensor(0.8))
    assert torch.allclose(small[2].bias, expected, atol=1e-6)
    row = {r["layer"]: r for r in report.layers}["0"]
    assert row["removed_dead_in"] == 1 and row["out_after"] == 3


def test_dropping_constant_instead_of_folding_would_be_wrong():
    # guard that the bias folding matters: the constant is large
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    zero_rows(net[0].weight, [0])
    with torch.no_grad():
        net[0].bias[0] = 5.0
        net[2].weight[0, 0] = 2.0
    small, _ = shrink(net, torch.randn(5, 3))
    x = torch.randn(7, 3)
    naive = copy.deepcopy(small)
    with torch.no_grad():
        naive[2].bias.copy_(net[2].bias)
        assert (naive(x) - net(x)).abs().max() > 1.0
        assert (small(x) - net(x)).abs().max() <= 1e-5


def test_chain_reaction_to_fixed_point():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.ReLU(),
                        nn.Linear(2, 1))
    with torch.no_grad():
        net[4].weight[:, 1] = 0          # unit 1 of layer 2 is read by nobody
        net[2].weight[:, 0] = torch.tensor([0.0, 1.0])  # unit 0 of layer 1 only feeds it
    small, _ = shrink(net, torch.randn(6, 4))
    assert small[0].out_features == 2 and small[2].out_features == 1


def test_padded_constant_channel_is_kept():
    # a constant channel entering a zero-padded conv is not constant at the borders:
    # it cannot be folded into a bias, so it stays (exactness first)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(4, 3, 3, padding=1))
    zero_rows(net[0].weight, [1, 2])
    with torch.no_grad():
        net[0].bias[1] = 1.0     # relu(1) = 1: kept
        net[0].bias[2] = -1.0    # relu(-1) = 0: removed
    small, report = shrink(net, torch.randn(2, 2, 5, 5))
    assert small[0].out_channels == 3
    row = {r["layer"]: r for r in report.layers}["0"]
    assert "padding" in row["note"]
    assert report.max_abs_diff <= 1e-5


def test_unused_inputs_reported_and_removed():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 1))
    zero_cols(net[0].weight, [1, 3])
    x = torch.randn(8, 6)
    small, report = shrink(net, x)
    assert report.unused_inputs == [1, 3] and report.kept_inputs is None
    assert small[0].in_features == 6
    small, report = shrink(net, x, remove_inputs=True)
    assert report.kept_inputs == [0, 2, 4, 5] and small[0].in_features == 4
    with torch.no_grad():
        assert (small(x[:, report.kept_inputs]) - net(x)).abs().max() <= 1e-5


def test_all_units_dead_output_constant_is_refused_or_kept_with_skip():
    # every unit of layer 0 is dead: the output is a constant; shrink refuses to return a
    # constant model (naming the layer), or with on_unsupported="skip" keeps one unit
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    zero_rows(net[0].weight, list(range(5)))
    with pytest.raises(ShrinkError, match=r"output does not depend on its input.*'0'"):
        shrink(net, torch.randn(4, 3))
    small, report = shrink(net, torch.randn(4, 3), on_unsupported="skip")
    assert small[0].out_features == 1
    assert "does not depend on its input" in report.skipped["0"]
    assert report.removed == {}
    assert report.max_abs_diff <= 1e-5


def test_partly_dead_residual_group_is_kept():
    # conv2's channel 2 is added to the stem's live channel 2: the coupled group is alive
    torch.manual_seed(0)
    net = with_head(Block(6))
    zero_rows(net[1].conv2.weight, [2])
    small, report = shrink(net, torch.randn(2, 3, 5, 5))
    assert small[1].conv2.out_channels == 6 and small[0].out_channels == 6
    assert report.skipped == {}


class Gated(nn.Module):
    """A layer's output goes through an operation shrink does not follow."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.out = nn.Linear(6, 2)

    def forward(self, x):
        return self.out(self.fc(x).cumsum(dim=1))


def test_dead_units_behind_unsupported_op_refused_with_names():
    torch.manual_seed(0)
    net = Gated()
    zero_rows(net.fc.weight, [2])
    x = torch.randn(3, 4)
    with pytest.raises(ShrinkError, match=r"layer 'fc'.*cumsum"):
        shrink(net, x)
    small, report = shrink(net, x, on_unsupported="skip")
    assert "fc" in report.skipped and small.fc.out_features == 6
    assert "not shrunk: fc" in str(report)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
            return self.fc(x)
        return x


def test_untraceable_model_refused():
    with pytest.raises(ShrinkError, match="torch.fx"):
        shrink(Branchy(), torch.randn(2, 4))
    # the message names the module and the line where tracing failed
    net = nn.Sequential(nn.Linear(4, 4), Branchy())
    with pytest.raises(ShrinkError, match=r"module '1' \(Branchy\).*x\.sum\(\) > 0"):
        shrink(net, torch.randn(2, 4))


class ChannelScale(nn.Module):
    """A custom per-channel layer."""

    def __init__(self, n):
        super().__init__()
        self.scale = nn.Parameter(torch.linspace(0.5, 2.0, n))

    def forward(self, x):
        return x * self.scale


class ScaleHandler(ChannelHandler):
    def slice(self, module, keep):
        new = copy.deepcopy(module)
        new.scale = nn.Parameter(module.scale.detach()[keep].clone())
        return new


def test_custom_layer_unregistered_then_registered():
    # unregistered, its forward is traced: x * self.scale slices the parameter with the
    # channels; registered, it is one node and its handler slices it
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), ChannelScale(5), nn.Linear(5, 2))
    zero_rows(net[0].weight, [1])
    x = torch.randn(4, 3)
    for register in (False, True):
        if register:
            register_handler(ChannelScale, ScaleHandler())
        small, report = shrink(net, x)
        assert small[0].out_features == 4 and small[1].scale.numel() == 4
        assert report.max_abs_diff <= 1e-5


def test_torch_prune_masks_are_baked_in():
    from torch.nn.utils import prune as tprune
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    tprune.custom_from_mask(net[0], "weight", torch.tensor([[0.0] * 4] * 2 + [[1.0] * 4] * 4))
    before = checksum(net)
    small, _ = shrink(net, torch.randn(3, 4))
    assert small[0].out_features == 4
    assert same_state(before, checksum(net))
    assert hasattr(net[0], "weight_orig")  # the input keeps its mask


def test_report_text_and_dict():
    net, x, _ = mlp_bias()
    _, report = shrink(net, x)
    assert isinstance(report, ShrinkReport)
    d = report.to_dict()
    assert d["params_before"] > d["params_after"] and len(d["layers"]) == 3
    text = str(report)
    assert "parameters:" in text and "FLOPs" in text and "max |shrunk - original|" in text


def test_bad_arguments():
    net = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="model"):
        shrink("net", torch.randn(2, 2))
    with pytest.raises(TypeError, match="example_inputs"):
        shrink(net, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="NaN"):
        shrink(net, torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="on_unsupported"):
        shrink(net, torch.randn(2, 2), on_unsupported="ignore")
    with pytest.raises(ValueError, match="atol"):
        shrink(net, torch.randn(2, 2), atol=-1)


# ------------------------------------------------------------- the seed experiment


def test_seed_line_experiment_quick_and_deterministic():
    from sparsefit.experiments.seed_line import run
    a = run(quick=True, runs=1, epochs=3)
    b = run(quick=True, runs=1, epochs=3)
    assert set(a["results"]) == {"l1", "l2", "l1_prox"}
    for v in a["results"]:
        for ra, rb in zip(a["results"][v], b["results"][v]):
            assert ra["total_abs_error"] == rb["total_abs_error"]
            assert ra["total_abs_error"] > 0
    r = a["results"]["l1_prox"][0]
    s = r["shrunk"]
    assert s["params_after"] <= s["params_before"]
    # shrinking alone does not change the errors (exact zeros, outputs checked)
    assert abs(s["after_shrink"]["total_abs_error"] - r["total_abs_error"]) < 1e-9
    assert r["nonzero_weights"] < a["results"]["l2"][0]["nonzero_weights"]


def test_seed_line_prox_step_is_l1_prox():
    # the experiment's inlined soft-thresholding is sparsefit's L1 prox
    import numpy as np

    from sparsefit.experiments.seed_line import make_data, make_net, train
    from sparsefit.penalties import L1
    net = make_net(0)
    w0 = [m.weight.detach().numpy().copy() for m in net if isinstance(m, nn.Linear)]
    data = make_data(n=2, n_outliers=0, noise=0.0)
    data = {**data, "x": data["x"][:1], "y": data["y"][:1]}
    train(net, data, variant="l1_prox", lam=0.3, lr=0.01, epochs=1)
    ref = make_net(0)
    train(ref, data, variant="none", lr=0.01, epochs=1)
    for m, r in zip([m for m in net if isinstance(m, nn.Linear)],
                    [m for m in ref if isinstance(m, nn.Linear)]):
        expected = L1(0.3).prox(r.weight.detach().numpy(), 0.01)
        assert np.allclose(m.weight.detach().numpy(), expected, atol=1e-12)
    assert any((w != 0).any() for w in w0)


def test_last_layer_before_softmax_is_not_refused():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.Softmax(dim=1))
    zero_rows(net[2].weight, [1])   # an output unit with zero weights: it is an output
    zero_rows(net[0].weight, [2])
    small, _ = shrink(net, torch.randn(5, 4))
    assert small[0].out_features == 5 and small[2].out_features == 3


class MyLinear(nn.Module):
    """A custom layer with units: shrink learns it from a registered LayerHandler."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / n_in ** 0.5)
        self.bias = nn.Parameter(torch.randn(n_out))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


def test_custom_layer_handler():
    from sparsefit.nn._shrink_handlers import LinearHandler
    from sparsefit.nn.shrink import LayerHandler

    assert isinstance(LinearHandler(), LayerHandler)
    torch.manual_seed(0)
    net = nn.Sequential(MyLinear(3, 6), nn.Tanh(), MyLinear(6, 2))
    zero_rows(net[0].weight, [0, 4])
    x = torch.randn(5, 3)
    # not registered: traced through, F.linear is not unit-wise -> nothing to shrink
    small, _ = shrink(net, x)
    assert small[0].weight.shape == (6, 3)
    register_handler(MyLinear, LinearHandler())
    small, report = shrink(net, x)
    assert small[0].weight.shape == (4, 3) and small[2].weight.shape == (2, 4)
    assert report.max_abs_diff <= 1e-5


def test_other_parametrizations_input_keeps_working():
    from torch.nn.utils.parametrizations import weight_norm
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    zero_rows(net[2].weight, [])
    with torch.no_grad():
        net[2].weight[:, 1] = 0
    net[0] = weight_norm(net[0])
    x = torch.randn(3, 4)
    small, _ = shrink(net, x)
    assert small[0].out_features == 5
    with torch.no_grad():
        assert (net(x) - small(x)).abs().max() <= 1e-5  # the input still runs


# --------------------------------------------------------- whole sublayers (issue 17)
# every unit feeding a sublayer's output is dead: the sublayer is replaced by the constant
# it emits, added where its output was added, and its modules are gone


def _kinds(model):
    kinds = {"Linear": nn.Linear, "Conv2d": nn.Conv2d,
             "MHA": (nn.MultiheadAttention, ShrunkMultiheadAttention),
             "BatchNorm2d": nn.BatchNorm2d}
    return {k: sum(isinstance(m, t) for m in model.modules()) for k, t in kinds.items()}


def ffn_all_zero():
    m = Encoder()
    with torch.no_grad():
        m.enc.layers[0].linear1.weight.zero_()      # every feed-forward unit: relu(b)
    return m, torch.randint(0, 11, (4, 9)), {"Linear": -2}, {
        "enc.layers.0.linear1", "enc.layers.0.linear2"}


def ffn_all_zero_pre_ln():
    m = Encoder(norm_first=True)
    with torch.no_grad():
        m.enc.layers[1].linear1.weight.zero_()
        m.enc.layers[1].linear1.bias.fill_(-1.0)    # relu(-1) = 0: linear2's bias only
    # (pre-LN: norm2 only fed the feed-forward block, it goes too)
    return m, torch.randint(0, 11, (4, 9)), {"Linear": -2}, {
        "enc.layers.1.linear1", "enc.layers.1.linear2", "enc.layers.1.norm2"}


def heads_all_zero():
    m = Encoder()
    with torch.no_grad():
        m.enc.layers[1].self_attn.in_proj_weight[32:].zero_()   # every value row
    # (its out_proj is a Linear)
    return m, torch.randint(0, 11, (4, 9)), {"MHA": -1, "Linear": -1}, {
        "enc.layers.1.self_attn"}


def heads_all_unread_and_constant():
    m = Encoder(norm_first=True)
    with torch.no_grad():
        att = m.enc.layers[0].self_attn
        att.in_proj_weight[32:40].zero_()           # heads 0, 1: constant values
        att.out_proj.weight[:, 8:].zero_()          # heads 2, 3: nobody reads them
    return m, torch.randint(0, 11, (4, 9)), {"MHA": -1, "Linear": -1}, {
        "enc.layers.0.self_attn", "enc.layers.0.norm1"}


def hand_heads_all_zero():
    m = HandEncoder()
    with torch.no_grad():
        m.att.v.weight.zero_()                      # every head averages its value bias
    # q and k only computed the attention weights: gone with it
    return m, torch.randint(0, 10, (3, 7)), {"Linear": -4}, {
        "att.q", "att.k", "att.v", "att.o"}


def _dead_branch(block):
    with torch.no_grad():                           # one group-lasso unit group each
        block.conv1.weight.zero_()
        block.conv1.bias.zero_()
        block.bn1.weight.zero_()
        block.bn1.bias.zero_()


def block_all_zero():
    net = with_head(Block(6))
    randomize_bn(net[1].bn1)
    randomize_bn(net[1].bn2)
    _dead_branch(net[1])                            # relu(x + bn2(conv2.bias))
    return net, torch.randn(2, 3, 5, 5), {"Conv2d": -2, "BatchNorm2d": -2}, {
        "1.conv1", "1.bn1", "1.conv2", "1.bn2"}


def resnet_first_block_zero():
    net = ResNet()
    for bn in (net.bn, net.b1.bn1, net.b1.bn2, net.b2.bn1, net.b2.bn2):
        randomize_bn(bn)
    _dead_branch(net.b1)
    return net, torch.randn(3, 3, 6, 6), {"Conv2d": -2, "BatchNorm2d": -2}, {
        "b1.conv1", "b1.bn1", "b1.conv2", "b1.bn2"}


SUBLAYER_CASES = {
    "ffn_all_zero": ffn_all_zero, "ffn_all_zero_pre_ln": ffn_all_zero_pre_ln,
    "heads_all_zero": heads_all_zero,
    "heads_all_unread_and_constant": heads_all_unread_and_constant,
    "hand_heads_all_zero": hand_heads_all_zero, "block_all_zero": block_all_zero,
    "resnet_first_block_zero": resnet_first_block_zero,
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", list(SUBLAYER_CASES))
def test_constant_sublayer_is_removed(case, dtype):
    torch.manual_seed(0)
    net, x, delta, gone = SUBLAYER_CASES[case]()
    net = net.to(dtype)
    xs = tuple(t.to(dtype) if t.is_floating_point() else t for t in _inputs(x))
    small, report = shrink(net, xs)

    assert isinstance(small, torch.fx.GraphModule) and report.rewritten
    assert not any(m.training for m in small.modules())
    assert set(report.removed) == gone, report.removed
    called = {n.target for n in small.graph.nodes if n.op == "call_module"}
    assert not called & gone
    got, had = _kinds(small), _kinds(net)
    for kind, n in had.items():
        assert got[kind] == n + delta.get(kind, 0), (kind, got, had)
    assert sum(p.numel() for p in small.parameters()) == report.params_after
    rows = {r["layer"]: r for r in report.layers}
    for t in gone & set(rows):
        r = rows[t]
        assert r["removed"] and r["out_after"] == 0 and r["params_after"] == 0, r
        assert r["note"].startswith("removed: ")
    assert "removed sublayer:" in str(report)
    assert report.to_dict()["removed"] == report.removed

    tol = 1e-10 if dtype == torch.float64 else 1e-6
    _assert_same_outputs(net, small, xs, tol)
    # another batch size (the constant broadcasts, it is not stored per sample)
    x2 = tuple(torch.cat([t, t[:1]]) for t in xs)
    with torch.no_grad():
        assert (small(*x2) - net(*x2)).abs().max() <= tol * (1 + float(net(*x2).abs().max()))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("case", ["ffn_all_zero", "hand_heads_all_zero", "block_all_zero"])
def test_model_without_a_sublayer_exports_to_onnx(case):
    # as benchmarks/bench_shrink.py exports (the TorchScript exporter)
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    net, x, _, _ = SUBLAYER_CASES[case]()
    small, _ = shrink(net, x)
    buf = io.BytesIO()
    torch.onnx.export(small.eval(), _inputs(x), buf, dynamo=False)
    assert buf.getbuffer().nbytes > 0


def test_branch_constant_varying_at_the_borders_keeps_its_stub():
    # the branch's constant channel enters a zero-padded conv: its output is not the same
    # at every position, so the branch cannot become a per-channel constant (kept)
    torch.manual_seed(0)
    net = with_head(Block(6))
    randomize_bn(net[1].bn2)
    with torch.no_grad():
        net[1].conv1.weight.zero_()
        net[1].conv1.bias.fill_(1.0)      # relu(BN(1)) > 0 with the default statistics
    small, report = shrink(net, torch.randn(2, 3, 5, 5))
    assert report.removed == {}
    assert _kinds(small)["Conv2d"] == 3
    assert "padding" in {r["layer"]: r for r in report.layers}["1.conv1"]["note"]
    assert report.max_abs_diff <= 1e-5


def test_middle_layer_all_zero_constant_output_refused():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(),
                        nn.Linear(4, 2))
    zero_rows(net[2].weight, list(range(4)))
    x = torch.randn(6, 3)
    with pytest.raises(ShrinkError, match=r"does not depend on its input.*layer '2'.*skip"):
        shrink(net, x)
    small, report = shrink(net, x, on_unsupported="skip")
    assert [small[i].out_features for i in (0, 2, 4)] == [1, 1, 2]
    assert set(report.skipped) == {"2"} and report.removed == {}
    assert report.max_abs_diff <= 1e-5


def test_constant_added_to_a_parameter_is_not_a_sublayer():
    # x + self.pos: a constant without layers stays as it is (the model keeps its class)
    torch.manual_seed(0)
    m = Encoder()
    small, report = shrink(m, torch.randint(0, 11, (2, 9)))
    assert report.removed == {} and type(small) is Encoder



class TokenFromParams(nn.Module):
    """A layer applied to a parameter: constant, but no unit of it is dead."""

    def __init__(self):
        super().__init__()
        self.token = nn.Parameter(torch.randn(1, 4))
        self.proj = nn.Linear(4, 4)
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) + self.proj(self.token), self.proj(self.token)


def test_layer_on_parameters_only_is_neither_removed_nor_refused():
    torch.manual_seed(0)
    net = TokenFromParams()
    small, report = shrink(net, torch.randn(3, 4))
    assert report.removed == {} and report.skipped == {} and type(small) is TokenFromParams
