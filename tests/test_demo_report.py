"""The main job end to end: `sparsefit demo --quick` writes a report a browser can show."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from .report_checks import check_in_chromium, check_structure, chromium

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from sparsefit.report.demo import run_demo

    out = tmp_path_factory.mktemp("report")
    buf = io.StringIO()
    result = run_demo(str(out), seed=0, quick=True, stream=buf, progress=False)
    return result, buf.getvalue(), out


def test_terminal_numbers_are_exact(demo):
    result, text, _ = demo
    k = result["keras"]
    assert (k["penalty"], k["data_loss"], k["total_loss"]) == (0.06, 36.0, 36.06)
    assert "= 0.06\n" in text and "36.06" in text
    from sparsefit import datasets

    X, y, _ = datasets.diabetes()
    assert result["lasso"]["alpha_max"] == np.max(np.abs(X.T @ y)) / len(y)
    assert result["lasso"]["alpha_1se"] >= result["lasso"]["alpha_min"]


def test_keras_check_runs_a_real_keras_layer(demo):
    pytest.importorskip("keras")
    kc = demo[0]["keras"]["keras"]
    assert kc is not None and kc["backend"] == "torch"
    # Keras' own L1 and sparsefit's give the same layer.losses: 0.06 in float32
    assert kc["keras_losses"] == kc["sparsefit_losses"] == [float(np.float32(0.06))]
    assert kc["data_loss"] == 36.0
    assert "layer.losses" in demo[1] and "keras.regularizers.L1(0.01)" in demo[1]


def test_classifier_table_shows_the_point(demo):
    result = demo[0]
    frameworks = {r["framework"] for r in result["classifier"]}
    has_keras = result["keras"]["keras"] is not None
    assert frameworks == ({"Keras", "PyTorch"} if has_keras else {"PyTorch"})
    for fw in frameworks:
        rows = {r["method"]: r for r in result["classifier"] if r["framework"] == fw}
        assert set(rows) == {"none", "l2", "l1_penalty", "l1_proximal"}
        assert rows["l1_penalty"]["exact zeros %"] == 0
        assert rows["none"]["exact zeros %"] == 0
        assert rows["l1_proximal"]["exact zeros %"] > 0
        assert rows["l1_proximal"]["val accuracy"] > 0.85


def test_keras_runs_as_the_notes_do(demo):
    pytest.importorskip("keras")
    runs = demo[0]["runs"]["Keras"]
    for run in runs.values():
        hist = run["history"]
        assert len(hist["val_accuracy"]) == 4  # --quick: 4 epochs
        assert [k.shape for k in run["kernels"]] == [(30, 128), (128, 64)]
    # the proximal regularizer is not in Keras' loss: the report adds its value
    prox = runs["l1_proximal"]["history"]
    assert all(a > b for a, b in zip(prox["loss"], prox["keras_loss"]))
    pen = runs["l1_penalty"]["history"]
    assert pen["loss"] == pen["keras_loss"]


def test_without_keras_the_demo_says_so_and_uses_pytorch(monkeypatch):
    from sparsefit.experiments import l1_classifier
    from sparsefit.report import demo as demo_mod

    monkeypatch.setattr(l1_classifier, "load_keras",
                        lambda: (None, "No module named 'keras'"))
    sec, text, keras = demo_mod.section_keras_check()
    assert keras["keras"] is None and "No module named 'keras'" in keras["keras_missing"]
    assert text.startswith("Keras is not available here (No module named 'keras')")
    assert keras["penalty"] == 0.06
    secs, _, rows, runs = demo_mod.section_classifier(seed=0, quick=True, progress=False)
    assert {r["framework"] for r in rows} == {"PyTorch"} and "Keras" not in runs
    assert "in PyTorch only: Keras is not available here" in secs[0].paragraphs[0]


def test_compressed_sensing_recovers_the_signal(demo):
    cs = demo[0]["compressed_sensing"]
    assert cs["error_l1"] < 1e-3 < 0.1 < cs["error_ls"]
    assert cs["support_recovered"]


def test_summary_numbers_are_the_results(demo):
    result, _, out = demo
    page, paras = check_structure(out, "demo-report.html", command="sparsefit demo")
    assert paras == result["summary"] and len(paras) == 3
    kc = result["keras"]["keras"]
    main = "Keras" if kc is not None else "PyTorch"
    st = {m: r["stats"] for m, r in result["runs"][main].items()}
    if kc is not None:
        assert f"layer.losses = {kc['keras_losses'][0]:.7g}" in paras[0]
        assert kc["keras_version"] in paras[0]
    assert f"trained in {main}" in paras[1]
    expected = [f"{st['l1_penalty']['exact_zeros_%']:.1f}%",
                f"{st['l1_penalty']['near_zeros_%']:.1f}%",
                f"{st['l1_proximal']['exact_zeros_%']:.1f}%",
                f"{st['l1_proximal']['val_accuracy']:.4f}", f"{st['none']['val_accuracy']:.4f}"]
    at = 0
    for e in expected:  # each number, in this order
        at = paras[1].index(e, at) + len(e)
    sh = result["shrink"]
    rows = {(r["training"], r["version"]): r for r in sh["rows"]}
    own, group = sh["labels"]
    b = sh["batch"]
    dense = rows[(own, "dense")]
    for phrase in (f"({dense['parameters']:,} parameters",
                   f"{rows[(own, 'masked')][f'speed-up batch {b}']:.2f}x the dense speed",
                   f"{rows[(own, 'shrunk')][f'speed-up batch {b}']:.2f}x when shrunk",
                   f"leaves {rows[(group, 'shrunk')]['hidden units']} units",
                   f"{rows[(group, 'shrunk')][f'speed-up batch {b}']:.2f}x faster"):
        assert phrase in paras[2], phrase
    # the table of contents lists the eight sections in order
    titles = re.findall(r"<li><a href='#s\d+'>\d+\. ([^<]*)</a></li>", page)
    assert len(titles) == 8 and titles[0].startswith("The Keras check")


def test_demo_report_has_the_timings_of_its_own_network(demo):
    result = demo[0]
    sh = result["shrink"]
    rows = {(r["training"], r["version"]): r for r in sh["rows"]}
    own = sh["labels"][0]
    model = result["runs"]["PyTorch"]["l1_proximal"]["model"]
    # the section timed the classifier section's own proximal-L1 network
    kernels = [m.weight for m in model if hasattr(m, "weight")]
    nonzero = int(sum(int((w != 0).sum()) for w in kernels))
    assert rows[(own, "dense")]["nonzero weights"] == nonzero
    assert rows[(own, "dense")]["parameters"] == sum(p.numel() for p in model.parameters())
    page = (demo[2] / "demo-report.html").read_text()
    assert "Why is my pruned network not faster?" in page
    assert f"{rows[(own, 'shrunk')]['parameters']}" in page


def test_report_is_self_contained(demo):
    _, _, out = demo
    page = (out / "demo-report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    # loss curves (Keras and PyTorch, or PyTorch alone), heatmap, histogram, sparsity
    # path, Lasso path, CV, geometry, compressed sensing
    n_curves = 2 if demo[0]["keras"]["keras"] is not None else 1
    assert len(images) == 7 + n_curves
    assert len(list(out.glob("*.png"))) == len(images)


@pytest.mark.skipif(chromium() is None, reason="no headless Chromium on this machine "
                    "(.ci/run installs Debian's chromium)")
def test_report_renders_in_headless_chromium(demo, tmp_path):
    check_in_chromium(demo[2], "demo-report.html", tmp_path)


def test_cli_demo_quick(tmp_path):
    from sparsefit import cli

    buf = io.StringIO()
    args = cli.build_parser().parse_args(["demo", "--quick", "--out", str(tmp_path / "r"),
                                          "--no-progress", "--seed", "1"])
    assert cli.cmd_demo(args, out=buf) == 0
    assert (tmp_path / "r" / "demo-report.html").exists()
    assert "Report:" in buf.getvalue()
    page = (tmp_path / "r" / "demo-report.html").read_text()
    assert f"sparsefit demo --out {tmp_path / 'r'} --seed 1 --quick" in page
