"""Progress of long jobs (issue 12, item 18): a tqdm bar on a terminal, plain lines in logs,
and CV paths that report every problem they solve."""

import io

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.datasets import make_regression

from sparsefit._progress import Progress
from sparsefit.datafits import Quadratic
from sparsefit.linear_model._cv import cv_path, weighted_mse
from sparsefit.penalties import L1


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    with Progress(10, "fit", stream=out, every=0.0) as bar:
        for _ in range(10):
            bar.update()
    lines = out.getvalue().splitlines()
    assert lines[0] == "fit: 1/10 (10%)" and lines[-1] == "fit: 10/10 (100%)"
    assert "\r" not in out.getvalue()


def test_plain_lines_are_rate_limited():
    out = io.StringIO()
    with Progress(1000, "fit", stream=out, every=3600.0) as bar:
        for _ in range(1000):
            bar.update()
    assert out.getvalue().splitlines() == ["fit: 1/1000 (0%)", "fit: 1000/1000 (100%)"]


def test_a_tqdm_bar_on_a_terminal():
    out = _Terminal()
    with Progress(5, "fit", stream=out) as bar:
        bar.update(5)
    assert "\r" in out.getvalue() and "5/5" in out.getvalue()


def test_disabled_prints_nothing():
    out = _Terminal()
    with Progress(5, "fit", stream=out, enabled=False) as bar:
        bar.update(5)
    assert out.getvalue() == ""


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_cv_path_reports_every_problem(n_jobs):
    X, y = make_regression(60, 8, random_state=0)
    calls = []
    with parallel_backend("threading"):  # the parallel branch, without process start-up
        cv_path(X, y, None, Quadratic(), L1, weighted_mse, n_alphas=7, cv=3, n_jobs=n_jobs,
                progress=calls.append)
    assert sum(calls) == 21
    assert (len(calls) == 21) if n_jobs is None else (calls == [7, 7, 7])
    assert np.all(np.asarray(calls) > 0)


@pytest.mark.parametrize("flag", [[], ["--no-progress"]])
def test_fit_shows_progress_in_plain_lines_unless_asked_not_to(tmp_path, capsys, flag):
    import pandas as pd

    from sparsefit import cli

    X, y = make_regression(60, 5, random_state=0)
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(5)]).assign(target=y)
    df.to_csv(tmp_path / "d.csv", index=False)
    rc = cli.main(["fit", str(tmp_path / "d.csv"), "--target", "target", "--cv", "3",
                   "--n-alphas", "5", "--out", str(tmp_path / "r")] + flag)
    err = capsys.readouterr().err
    assert rc == 0
    if flag:
        assert "fit: cross-validated path" not in err
    else:  # (3 + 1) * 5 + 1 problems, the last line at 100%
        assert err.strip().splitlines()[-1] == "fit: cross-validated path: 21/21 (100%)"
