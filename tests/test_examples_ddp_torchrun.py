"""``examples/ddp_proximal.py`` through the real ``torchrun`` entry point (2 CPU ranks)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "ddp_proximal.py"


def _torchrun(tmp_path, *extra, timeout=180):
    """``python -m torch.distributed.run --standalone --nproc_per_node=2`` (what the
    ``torchrun`` console script runs); the summary comes back through a JSON file."""
    out = tmp_path / "summary.json"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src")]
                                        + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node=2", str(SCRIPT), "--json", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=str(tmp_path), check=False)
    summary = json.loads(out.read_text()) if out.exists() else None
    return proc, summary


def test_torchrun_replicas_identical_after_prox(tmp_path):
    proc, summary = _torchrun(tmp_path, "--steps", "40", "--expect-zeros")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary is not None
    assert summary["world_size"] == 2 and summary["backend"] == "gloo"
    assert summary["identical"] is True and summary["mismatched"] == []
    # the prox made exact zeros, and the group lasso removed whole input features
    assert summary["zero_weights"] > 0
    assert summary["dropped_inputs"] > 0
    assert "replicas identical after the prox: True" in proc.stdout


def test_torchrun_check_detects_a_differing_replica(tmp_path):
    # the comparison is exact and can fail: a 1e-6 change on rank 1 is caught
    proc, summary = _torchrun(tmp_path, "--steps", "2", "--perturb-rank", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert summary["identical"] is False
    assert summary["mismatched"] == ["2.weight"]
