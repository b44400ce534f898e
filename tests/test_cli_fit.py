"""`sparsefit fit` and `sparsefit predict` on users' tables, and the saved-model format."""

from __future__ import annotations

import io

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from sparsefit import cli, tabular  # noqa: E402
from sparsefit.io import load_model  # noqa: E402


def _run(argv):
    buf = io.StringIO()
    args = cli.build_parser().parse_args(argv)
    return args.func(args, out=buf), buf.getvalue()


@pytest.fixture(scope="module")
def diabetes_csv(tmp_path_factory):
    from sklearn.datasets import load_diabetes

    path = tmp_path_factory.mktemp("data") / "diabetes.csv"
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["species"] = frame.pop("target").map({0: "setosa", 1: "versicolor", 2: "virginica"})
    path = tmp_path_factory.mktemp("data") / "iris.csv"
    frame.to_csv(path, index=False)
    return path


def test_fit_regression_report_save_and_predict(diabetes_csv, tmp_path):
    code, text = _run(["fit", str(diabetes_csv), "--target", "target", "--cv", "3",
                       "--n-alphas", "15", "--out", str(tmp_path / "r"), "--save",
                       str(tmp_path / "m")])
    assert code == 0, text
    assert "task: regression" in text and "bmi" in text
    assert (tmp_path / "r" / "report.html").exists()
    params, arrays = load_model(str(tmp_path / "m"))
    assert params["task"] == "regression"
    # the saved model reproduces the fitted predictions on the same table
    df = pd.read_csv(diabetes_csv)
    pred = tabular.predict_table(str(tmp_path / "m"), df)["prediction"]
    X = df.drop(columns="target").to_numpy()
    manual = ((X - arrays["mean"]) / arrays["scale"]) @ arrays["coef"][0] + arrays["intercept"][0]
    np.testing.assert_allclose(pred, manual)
    assert np.corrcoef(pred, df["target"])[0, 1] > 0.6
    code, text = _run(["predict", str(tmp_path / "m"), str(diabetes_csv), "--output",
                       str(tmp_path / "p.csv")])
    assert code == 0 and len(pd.read_csv(tmp_path / "p.csv")) == len(df)


def test_fit_multiclass_text_labels(iris_csv, tmp_path):
    code, text = _run(["fit", str(iris_csv), "--target", "species", "--cv", "3",
                       "--n-alphas", "10", "--out", str(tmp_path / "r"), "--save",
                       str(tmp_path / "m")])
    assert code == 0 and "task: multiclass" in text and "coef[virginica]" in text
    pred = tabular.predict_table(str(tmp_path / "m"), pd.read_csv(iris_csv))
    assert (pred["prediction"] == pd.read_csv(iris_csv)["species"]).mean() > 0.85


@pytest.mark.parametrize("mutate, argv_extra, message", [
    (lambda df: df, ["--target", "nope"], "no column 'nope'"),
    (lambda df: df.assign(city=["a", "b"] * (len(df) // 2) + ["a"] * (len(df) % 2)), [],
     "non-numeric column(s) city"),
    (lambda df: df.assign(age=[np.nan] + list(df["age"][1:])), [], "NaN in column(s) age"),
    (lambda df: df.head(6), [], "too few rows"),
])
def test_fit_refuses_bad_tables_with_a_clear_message(diabetes_csv, tmp_path, capsys, mutate,
                                                     argv_extra, message):
    df = mutate(pd.read_csv(diabetes_csv))
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    argv = ["fit", str(path), "--out", str(tmp_path / "r")]
    argv += argv_extra if argv_extra else ["--target", "target"]
    code, _ = _run(argv)
    assert code == 2
    assert message in capsys.readouterr().err


def test_one_hot_and_dropna_flags_make_it_work(diabetes_csv, tmp_path):
    df = pd.read_csv(diabetes_csv)
    df["city"] = np.where(df["bmi"] > 0, "north", "south")
    df.loc[3, "age"] = np.nan
    path = tmp_path / "mixed.csv"
    df.to_csv(path, index=False)
    code, text = _run(["fit", str(path), "--target", "target", "--one-hot", "--dropna",
                       "--cv", "3", "--n-alphas", "10", "--out", str(tmp_path / "r")])
    assert code == 0 and "441 rows" in text


def test_group_lasso_from_prefixes_keeps_or_drops_whole_groups(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame({f"{g}_{k}": rng.normal(size=n) for g in "abcd" for k in range(3)})
    df["y"] = df["a_0"] + df["a_1"] - df["a_2"] + 0.1 * rng.normal(size=n)
    model = tabular.fit_table(df, "y", penalty="group_lasso", groups="prefix", cv=3,
                              n_alphas=10)
    coef = model["coef"][0].reshape(4, 3)
    assert model["groups"] == ["a", "b", "c", "d"]
    assert np.all(coef[0] != 0)
    assert all(np.all(row == 0) or np.all(row != 0) for row in coef)
