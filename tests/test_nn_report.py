"""sparsity_report and dead_units on hand-built weights, for each layer type."""

import pytest

torch = pytest.importorskip("torch")

from sparsefit import nn as sfnn
from sparsefit.penalties import L1


def _set(param, value):
    with torch.no_grad():
        param.copy_(torch.as_tensor(value, dtype=param.dtype).reshape(param.shape))


# layer, how to kill units, expected (dead_out, dead_in)
DEAD = [
    ("linear_rows", lambda: torch.nn.Linear(4, 3), lambda w: w[1].zero_(), (1, 0)),
    ("linear_cols", lambda: torch.nn.Linear(4, 3), lambda w: w[:, 0::2].zero_(), (0, 2)),
    ("conv2d_filter", lambda: torch.nn.Conv2d(2, 3, 3), lambda w: w[2].zero_(), (1, 0)),
    ("conv2d_in", lambda: torch.nn.Conv2d(2, 3, 3), lambda w: w[:, 1].zero_(), (0, 1)),
    # grouped conv (4 in, 6 out, 2 groups): input channel 1 is w[0:3, 1]
    ("conv2d_grouped_in", lambda: torch.nn.Conv2d(4, 6, 3, groups=2),
     lambda w: w[0:3, 1].zero_(), (0, 1)),
    # ConvTranspose weight is (in, out, k): output channel 3 is w[:, 3]
    ("convtranspose_out", lambda: torch.nn.ConvTranspose2d(2, 4, 2),
     lambda w: w[:, 3].zero_(), (1, 0)),
    ("embedding_token", lambda: torch.nn.Embedding(5, 3), lambda w: w[4].zero_(), (0, 1)),
]


@pytest.mark.parametrize("name, make, kill, want", DEAD, ids=[d[0] for d in DEAD])
def test_dead_units(name, make, kill, want):
    layer = make()
    assert sfnn.dead_units(layer) == (0, 0)
    with torch.no_grad():
        kill(layer.weight)
    assert sfnn.dead_units(layer) == want


def test_report_counts_and_formats():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2),
                              torch.nn.LayerNorm(2))
    _set(net[0].weight, [[0.0, 0.0, 0.0], [1.0, 5e-4, 0.0]])
    _set(net[0].bias, [0.0, 1.0])
    _set(net[2].weight, [[1.0, 2.0], [3.0, -4.0]])
    sfnn.regularize(net[2], kernel=L1(0.5))
    rep = sfnn.sparsity_report(net)
    rows = {r["layer"]: r for r in rep.rows}
    assert set(rows) == {"0", "2", "3"}
    r0 = rows["0"]
    assert (r0["params"], r0["zeros"], r0["near_zero"]) == (8, 5, 6)
    assert (r0["dead_out"], r0["dead_in"]) == (1, 1)
    assert r0["penalty"] is None
    assert rows["2"]["penalty"] == pytest.approx(0.5 * 10.0)
    assert rows["3"]["dead_out"] is None  # LayerNorm: no units to kill
    assert rep.total["params"] == 8 + 6 + 4
    assert rep.total["zeros"] == 5 + int((net[3].bias == 0).sum())
    assert rep.total["zero_frac"] == pytest.approx(rep.total["zeros"] / 18)
    text = str(rep)
    assert "total" in text and "62.5%" in text and "|w| < 0.001" in text
    d = rep.to_dict()
    assert d["total"]["params"] == 18 and len(d["layers"]) == 3
    pd = pytest.importorskip("pandas")
    df = rep.to_dataframe()
    assert isinstance(df, pd.DataFrame) and list(df.index) == ["0", "2", "3", "total"]
    assert int(df.loc["0", "zeros"]) == 5
    kern = sfnn.sparsity_report(net, kernels_only=True, tol=0.0)
    assert [r["layer"] for r in kern.rows] == ["0", "2"]
    assert kern.total["params"] == 10 and kern.total["near_zero"] == 0
    with pytest.raises(ValueError, match="tol"):
        sfnn.sparsity_report(net, tol=-1.0)
    with pytest.raises(TypeError, match="model"):
        sfnn.sparsity_report("net")
