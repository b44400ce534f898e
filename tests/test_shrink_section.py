"""The demo's "why is my pruned network not faster?" section: dense, masked and shrunk
versions of the demo's own network compute the same function; only shrinking removes
parameters."""

import pytest

pytest.importorskip("torch")


def test_section_numbers_and_text():
    from sparsefit.report.shrink_section import section_shrink

    sec, text, out = section_shrink(quick=True)
    assert sec.title.startswith("7. Why is my pruned network not faster")
    rows = {(r["training"], r["version"]): r for r in out["rows"]}
    assert len(rows) == 6
    for training in ("L1 (proximal)", "group lasso on units"):
        dense, masked, small = (rows[(training, v)] for v in ("dense", "masked", "shrunk"))
        # the same function three ways
        assert dense["accuracy"] == masked["accuracy"] == small["accuracy"]
        assert masked["parameters"] == dense["parameters"]
        assert masked["nonzero weights"] == dense["nonzero weights"]
        assert small["parameters"] <= dense["parameters"]
        for r in (dense, masked, small):
            assert r["batch 1 (us)"] > 0 and r[f"batch {out['batch']} (us)"] > 0
    group = rows[("group lasso on units", "shrunk")]
    assert group["parameters"] < rows[("L1 (proximal)", "shrunk")]["parameters"]
    assert "shrink" in sec.paragraphs[0] and sec.tables == [out["rows"]]
    assert "group lasso" in text
    assert out["seconds"] < 60
