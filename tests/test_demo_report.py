"""The main job end to end: `sparsefit demo --quick` writes a report a browser can show."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

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
    assert result["keras"] == {"penalty": 0.06, "data_loss": 36.0, "total_loss": 36.06}
    assert "= 0.06\n" in text and "36.06" in text
    from sparsefit import datasets

    X, y, _ = datasets.diabetes()
    assert result["lasso"]["alpha_max"] == np.max(np.abs(X.T @ y)) / len(y)
    assert result["lasso"]["alpha_1se"] >= result["lasso"]["alpha_min"]


def test_classifier_table_shows_the_point(demo):
    rows = {r["method"]: r for r in demo[0]["classifier"]}
    assert set(rows) == {"none", "l2", "l1_penalty", "l1_proximal"}
    assert rows["l1_penalty"]["exact zeros %"] == 0
    assert rows["none"]["exact zeros %"] == 0
    assert rows["l1_proximal"]["exact zeros %"] > 0
    assert rows["l1_proximal"]["val accuracy"] > 0.85


def test_compressed_sensing_recovers_the_signal(demo):
    cs = demo[0]["compressed_sensing"]
    assert cs["error_l1"] < 1e-3 < 0.1 < cs["error_ls"]
    assert cs["support_recovered"]


def test_report_is_self_contained(demo):
    _, _, out = demo
    page = (out / "demo-report.html").read_text()
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 7  # loss curves, 2 weight pictures, path, CV, geometry, CS
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list(out.glob("*.png"))) == 7


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium on this machine "
                    "(.ci/run installs Debian's chromium)")
def test_report_renders_in_headless_chromium(demo, tmp_path):
    _, _, out = demo
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    # a copy with a probe script (the report itself has none) reports the images' state
    probe = tmp_path / "probe.html"
    page = (out / "demo-report.html").read_text()
    script = ("<script>window.addEventListener('load',function(){var im=document.images,"
              "ok=0;for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}"
              "document.body.setAttribute('data-probe','images '+ok+'/'+im.length);});"
              "</script>")
    probe.write_text(page.replace("</body>", script + "</body>"))
    dom = subprocess.run([_chromium(), *flags, "--virtual-time-budget=10000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120)
    assert "data-probe=\"images 7/7\"" in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / "shot.png"
    subprocess.run([_chromium(), *flags, "--window-size=1200,2400",
                    f"--screenshot={shot}", (out / "demo-report.html").as_uri()],
                   capture_output=True, timeout=120)
    from matplotlib.image import imread

    pixels = imread(str(shot))
    assert pixels.shape[0] > 1000 and pixels.std() > 0.05  # not a blank page
    os.remove(shot)


def test_cli_demo_quick(tmp_path):
    from sparsefit import cli

    buf = io.StringIO()
    args = cli.build_parser().parse_args(["demo", "--quick", "--out", str(tmp_path / "r"),
                                          "--no-progress", "--seed", "1"])
    assert cli.cmd_demo(args, out=buf) == 0
    assert (tmp_path / "r" / "demo-report.html").exists()
    assert "Report:" in buf.getvalue()
