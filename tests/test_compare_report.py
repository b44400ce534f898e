"""`sparsefit compare`: the seed experiment's report -- its summary is computed from the
runs, it shrinks the L1 networks and reports their errors, and it renders in a browser."""

from __future__ import annotations

import io

import pytest

from .report_checks import check_in_chromium, check_structure, chromium

pytest.importorskip("torch")


def _compare(out, *argv, quick=True):
    from sparsefit import cli

    args = cli.build_parser().parse_args(["compare", *(["--quick"] if quick else []),
                                          "--out", str(out), "--no-progress", *argv])
    buf = io.StringIO()
    from sparsefit.report import compare

    results = {}
    real = compare.run_compare

    def keep(*a, **k):
        results["out"] = real(*a, **k)
        return results["out"]

    compare.run_compare = keep
    try:
        assert cli.cmd_compare(args, out=buf) == 0
    finally:
        compare.run_compare = real
    return results["out"], buf.getvalue()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    return (*_compare(out), out)


def test_summary_numbers_are_the_runs(quick):
    result, text, out = quick
    page, paras = check_structure(out, "compare.html", command="sparsefit compare")
    assert paras == result["summary"]
    facts = result["facts"]
    cfg = result["config"]
    assert cfg["loss"] == "abs" and cfg["lam"] == 0.3 and cfg["lr"] == 0.01
    assert f"lambda {cfg['lam']:g}" in paras[0] and f"scale {cfg['scale']:g}" in paras[0]
    # every run's total error is in the summary, in run order
    for v in ("l1", "l1_prox", "l2", "none"):
        listed = ", ".join(f"{e:.1f}" for e in facts[v]["errors"])
        assert listed in paras[0], (v, listed)
    listed = ", ".join(f"{e:.1f}" for e in facts["l1_prox"]["errors_shrunk"])
    assert f"errors {listed} after shrinking" in paras[1]
    assert "--lam 0.3" in page and "--scale" in page
    assert "Summary" in text


def test_the_note_follows_the_results(tmp_path):
    # lambda 0: nothing is penalized, nothing collapses; lambda 5: everything does; the
    # summary says which, from the runs
    calm, _ = _compare(tmp_path / "a", "--lam", "0")
    flat, _ = _compare(tmp_path / "b", "--lam", "5")
    assert sum(calm["facts"][v]["flat"] for v in ("l2", "l1", "l1_prox")) == 0
    assert "no penalized run ends as a flat line" in calm["summary"][0]
    n = flat["config"]["runs"]
    assert all(flat["facts"][v]["flat"] == n for v in ("l2", "l1", "l1_prox"))
    assert f"{3 * n} of the {3 * n} penalized runs end as a flat line" in flat["summary"][0]
    assert calm["summary"] != flat["summary"]


def test_compare_runs_the_network_the_scan_found(quick):
    from sparsefit.experiments.seed_line import ACTIVATION, INIT

    cfg = quick[0]["config"]
    assert (cfg["activation"], cfg["init"]) == (ACTIVATION, INIT) == ("relu", "keras")
    assert "Glorot-uniform kernels, zero biases" in (quick[2] / "compare.html").read_text()


def test_no_run_collapses_at_the_default(tmp_path):
    # the real default (5 runs x 300 epochs, the seeds compare uses, data scale SCALE):
    # every run of every method fits the line, read from the runs and from the note
    from sparsefit.experiments.seed_line import SCALE, is_flat

    full, _ = _compare(tmp_path, quick=False)
    cfg, data = full["config"], full["data"]
    assert (cfg["runs"], cfg["epochs"], cfg["scale"], cfg["seed"]) == (5, 300, SCALE, 0)
    for v in ("none", "l2", "l1", "l1_prox"):
        assert [is_flat(r["curve"], data) for r in full["results"][v]] == [False] * 5, v
        assert full["facts"][v]["flat"] == 0
    assert "no penalized run ends as a flat line" in full["summary"][0]
    # the seed's picture: proximal L1 disconnects, L2 keeps every weight, and the shrunk
    # L1 networks keep their errors
    weights = full["facts"]["l2"]["weights"]
    assert all(k < weights // 10 for k in full["facts"]["l1_prox"]["nonzero"])
    assert full["facts"]["l2"]["nonzero"] == [weights] * 5
    for r in full["results"]["l1_prox"]:
        assert r["shrunk"]["params_after"] < r["shrunk"]["params_before"] // 10
        assert abs(r["shrunk"]["after_shrink"]["total_abs_error"]
                   - r["total_abs_error"]) < 1e-9


def test_l1_networks_are_shrunk_and_their_errors_reported(quick):
    result = quick[0]
    for v in ("l1", "l1_prox"):
        for r in result["results"][v]:
            s = r["shrunk"]
            assert s["widths"][0] == 1 and s["widths"][-1] == 1
            assert s["params_after"] <= s["params_before"] == 251
            if v == "l1_prox":  # exact zeros: shrinking changes nothing
                assert abs(s["after_shrink"]["total_abs_error"] - r["total_abs_error"]) < 1e-9
    page = (quick[2] / "compare.html").read_text()
    assert "kernels after shrinking" in page and "(1,10),(10,10),(10,10),(10,1)" in page


@pytest.mark.skipif(chromium() is None, reason="no headless Chromium on this machine "
                    "(.ci/run installs Debian's chromium)")
def test_compare_report_renders_in_headless_chromium(quick, tmp_path):
    check_in_chromium(quick[2], "compare.html", tmp_path)
