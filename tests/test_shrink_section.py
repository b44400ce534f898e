"""The demo's "why is my pruned network not faster?" section: dense, masked and shrunk
versions of the demo's own network compute the same function; only shrinking removes
parameters."""

import pytest

pytest.importorskip("torch")


def test_section_numbers_and_text():
    from sparsefit.report.shrink_section import section_shrink

    sec, text, out = section_shrink(quick=True)
    assert sec.title == "Why is my pruned network not faster?"
    rows = {(r["training"], r["version"]): r for r in out["rows"]}
    assert len(rows) == 6
    own, group_label = out["labels"]
    for training in (own, group_label):
        dense, masked, small = (rows[(training, v)] for v in ("dense", "masked", "shrunk"))
        # the same function three ways
        assert dense["accuracy"] == masked["accuracy"] == small["accuracy"]
        assert masked["parameters"] == dense["parameters"]
        assert masked["nonzero weights"] == dense["nonzero weights"]
        assert small["parameters"] <= dense["parameters"]
        for r in (dense, masked, small):
            assert r["batch 1 (us)"] > 0 and r[f"batch {out['batch']} (us)"] > 0
    group = rows[(group_label, "shrunk")]
    assert group["parameters"] < rows[(own, "shrunk")]["parameters"]
    # the units left after shrinking are the ones the table shows
    for training in (own, group_label):
        widths = [int(w) for w in rows[(training, "shrunk")]["hidden units"].split("-")]
        assert sum(widths) == out["units_left"][training] <= out["units"] == 192
    assert "shrink" in sec.paragraphs[0] and sec.tables == [out["rows"]]
    assert "group lasso" in text
    assert out["seconds"] < 60
