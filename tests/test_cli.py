"""The command line: subcommands, help, and the demo's numbers."""

import subprocess
import sys

import numpy as np
import pytest

from sparsefit import cli
from sparsefit.experiments import first_look


def test_the_first_section_prints_the_real_numbers():
    from sparsefit.report.demo import section_keras_check

    _, text, numbers = section_keras_check()
    assert numbers["penalty"] == 0.06
    assert "= 0.06\n" in text
    assert "exact zeros: 0/12" in text  # the subgradient step
    n_prox = first_look.prox_vs_subgradient()["zeros_proximal"]
    assert n_prox > 0 and f"exact zeros: {n_prox}/12" in text
    for name in ("L1(", "L2(", "L1L2(", "WeightedL1(", "GroupL1(", "SparseGroupL1(", "MCP(",
                 "SCAD(", "TV1D("):
        assert name in text


def test_prox_step_zeros_exactly_the_small_weights_and_subgradient_none():
    s = first_look.prox_vs_subgradient(n=200, seed=3)
    small = np.abs(s["w"]) <= s["lr"] * s["l1"]
    np.testing.assert_array_equal(s["proximal"] == 0, small)
    assert s["zeros_subgradient"] == 0


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
    assert "sparsefit" in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_command_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_python_dash_m_is_the_command():
    out = subprocess.run([sys.executable, "-m", "sparsefit", "demo", "--help"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "--quick" in out.stdout and "--out" in out.stdout


def test_import_is_light():
    code = ("import sys, sparsefit; heavy = [m for m in ('torch', 'keras', 'matplotlib', "
            "'numba', 'sklearn') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_compare_quick_writes_tables_and_report(tmp_path):
    pytest.importorskip("torch")
    import io

    args = cli.build_parser().parse_args(["compare", "--quick", "--out", str(tmp_path),
                                          "--lam", "0.01"])
    buf = io.StringIO()
    assert cli.cmd_compare(args, out=buf) == 0
    text = buf.getvalue()
    for label in ("no penalty", "L2 (in the loss)", "L1 (in the loss)", "L1 (proximal)"):
        assert label in text
    page = (tmp_path / "compare.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page
    assert "--lam 0.01" in page


def test_compare_refuses_bad_counts(capsys):
    args = cli.build_parser().parse_args(["compare", "--runs", "0"])
    assert cli.cmd_compare(args) == 2
    assert "--runs" in capsys.readouterr().err


@pytest.mark.parametrize("command, runner, report", [
    ("demo", "sparsefit.report.demo.run_demo", "demo-report.html"),
    ("compare", "sparsefit.report.compare.run_compare", "compare.html"),
])
def test_demo_and_compare_say_when_they_replace_their_report(tmp_path, monkeypatch, command,
                                                             runner, report):
    import importlib
    import io

    module, name = runner.rsplit(".", 1)

    def fake(out_dir, **kwargs):
        (tmp_path / report).write_text("new")
        return {"report": str(tmp_path / report)}

    monkeypatch.setattr(importlib.import_module(module), name, fake)
    argv = [command, "--out", str(tmp_path)] + (["--no-progress"] if command == "demo" else [])
    for existed in (False, True):
        buf = io.StringIO()
        args = cli.build_parser().parse_args(argv)
        assert args.func(args, out=buf) == 0
        assert ("replaced the " + command + " report" in buf.getvalue()) == existed


@pytest.mark.parametrize("command", ["demo", "compare"])
def test_demo_and_compare_refuse_a_file_as_out_and_a_bad_seed(tmp_path, capsys, command):
    (tmp_path / "f").write_text("x")
    assert cli.main([command, "--out", str(tmp_path / "f")]) == 2
    assert "--out" in capsys.readouterr().err
    assert cli.main([command, "--out", str(tmp_path / "r"), "--seed", "-3"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
