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
    assert (tmp_path / "r" / "fit-report.html").exists()
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
    assert code == 0 and "441 rows (1 row with NaN dropped: --dropna)" in text


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


# --- the task: chosen with a reason, or by --task (issue 12, item 11) ------------------------

@pytest.mark.parametrize("y, task, reason", [
    (np.arange(60) % 9, "regression", "fewer than 20 per value; --task multiclass"),
    (np.arange(90) % 3, "multiclass", "30 rows per value on average; --task regression"),
    (np.arange(60) % 2, "binary", "numeric target with 2 values (0 and 1)"),
    (np.where(np.arange(60) % 3, "a", "b"), "binary", "text target with 2 classes"),
    (np.linspace(0, 1, 60), "regression", "numeric target with 60 distinct values"),
])
def test_the_task_is_read_off_the_target_with_a_reason(y, task, reason):
    from sparsefit._table_checks import choose_task

    got, why = choose_task(pd.Series(y), "y", None, 5)
    assert got == task and reason in why


def test_fit_prints_the_task_and_why_and_obeys_task(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    df["y"] = np.clip(np.round(4 + 2 * df["a"]), 0, 8).astype(int)  # 60 rows, values 0..8
    df.to_csv(tmp_path / "d.csv", index=False)
    base = ["fit", str(tmp_path / "d.csv"), "--target", "y", "--cv", "3", "--n-alphas", "5",
            "--out", str(tmp_path / "r")]
    code, text = _run(base)
    assert code == 0
    assert text.splitlines()[0].startswith("task: regression (integer target with only")
    code, text = _run(base + ["--task", "regression"])
    assert code == 0 and "task: regression (--task regression)" in text


# --- group penalties for classes (issue 12, item 20) -----------------------------------------

def _grouped_frame(n, classes, noise, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"{g}_{k}": rng.normal(size=n) for g in "abc" for k in range(2)})
    df["city"] = rng.choice(["north", "south", "east"], size=n)
    s = df["a_0"] - df["a_1"] + 0.8 * (df["city"] == "north") + noise * rng.normal(size=n)
    df["group"] = (np.where(s > 0.3, "hi", "lo") if classes == 2 else
                   pd.cut(s, [-np.inf, -0.6, 0.6, np.inf], labels=["lo", "mid", "hi"]).astype(str))
    return df


def _groups_all_or_nothing(model):
    blocks = {}
    for j, name in enumerate(model["feature_names"]):
        blocks.setdefault(name.split("_", 1)[0], []).append(j)
    coef = model["coef"]
    for cols in blocks.values():
        block = coef[:, cols]
        assert np.all(block == 0) or np.any(block != 0, axis=0).all(), (cols, block)
    return {g: bool(np.any(coef[:, cols] != 0)) for g, cols in blocks.items()}


def test_readme_group_lasso_example_works_for_a_class_target(tmp_path):
    df = _grouped_frame(150, 2, 0.5)
    df.to_csv(tmp_path / "data.csv", index=False)
    code, text = _run(["fit", str(tmp_path / "data.csv"), "--target", "group", "--penalty",
                       "group_lasso", "--groups", "prefix", "--one-hot", "--cv", "3",
                       "--n-alphas", "8", "--out", str(tmp_path / "r"), "--save",
                       str(tmp_path / "m")])
    assert code == 0, text
    assert "task: binary" in text and "city_north" in text
    kept = _groups_all_or_nothing(tabular.fit_table(
        df, "group", penalty="group_lasso", groups="prefix", one_hot=True, cv=3, n_alphas=8))
    assert kept["a"] and kept["city"]
    pred = tabular.predict_table(str(tmp_path / "m"), df)
    assert (pred["prediction"] == df["group"]).mean() > 0.75


@pytest.mark.parametrize("penalty", ["group_lasso", "sparse_group_lasso"])
def test_group_penalties_for_three_classes_keep_or_drop_a_group_for_every_class(penalty):
    # (the 1-SE rule picks the all-zero model on this small problem: take the best alpha)
    df = _grouped_frame(90, 3, 1.5)
    model = tabular.fit_table(df, "group", penalty=penalty, groups="prefix", one_hot=True,
                              cv=3, n_alphas=5, selection="min")
    assert model["task"] == "multiclass" and model["coef"].shape == (3, 9)
    if penalty == "group_lasso":
        kept = _groups_all_or_nothing(model)
        assert kept["a"]
    assert np.any(model["coef"] != 0)


# --- reports, names, saving order (issue 12, items 8 and 10) ---------------------------------

def test_fit_and_demo_reports_have_their_own_names_and_replacing_is_said(diabetes_csv,
                                                                         tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "demo-report.html").write_text("the demo's report")
    argv = ["fit", str(diabetes_csv), "--target", "target", "--cv", "3", "--n-alphas", "5",
            "--out", str(out)]
    code, text = _run(argv)
    assert code == 0 and "replaced" not in text
    assert (out / "fit-report.html").exists()
    assert (out / "demo-report.html").read_text() == "the demo's report"
    code, text = _run(argv)
    assert code == 0 and "(replaced the fit report that was there)" in text
    from sparsefit.cli import REPORTS

    assert len(set(REPORTS.values())) == len(REPORTS)


def test_a_column_named_like_mathtext_is_shown_as_written(tmp_path):
    rng = np.random.default_rng(2)
    names = [r"$\foo$", "$x_1$", "a$b"]
    df = pd.DataFrame(rng.normal(size=(60, 3)), columns=names)
    df["y"] = 3 * df[r"$\foo$"] - 2 * df["$x_1$"] + 0.1 * rng.normal(size=60)
    df.to_csv(tmp_path / "d.csv", index=False)
    code, text = _run(["fit", str(tmp_path / "d.csv"), "--target", "y", "--cv", "3",
                       "--n-alphas", "6", "--out", str(tmp_path / "r"), "--save",
                       str(tmp_path / "m")])
    assert code == 0, text
    assert (tmp_path / "r" / "fit-report.html").exists() and (tmp_path / "m").is_dir()
    from sparsefit.plot import plot_path

    fig = plot_path(np.array([1.0, 0.1]), np.array([[0.0, 0.0], [1.0, 2.0]]), names[:2])
    fig.savefig(io.BytesIO(), format="png")  # draws: mathtext would fail on "\foo"
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(labels) == sorted(names[:2])  # the largest trace first


def test_the_model_is_saved_before_the_report(diabetes_csv, tmp_path, monkeypatch):
    import sparsefit.plot

    def broken(*args, **kwargs):
        raise RuntimeError("a figure failed")

    monkeypatch.setattr(sparsefit.plot, "plot_path", broken)
    with pytest.raises(RuntimeError):
        _run(["fit", str(diabetes_csv), "--target", "target", "--cv", "3", "--n-alphas", "5",
              "--out", str(tmp_path / "r"), "--save", str(tmp_path / "m")])
    params, _ = load_model(str(tmp_path / "m"))
    assert params["target"] == "target"


# --- tables pandas would misread, read as written -------------------------------------------

def test_a_delimiter_at_the_end_of_each_row_and_true_false_columns_are_read(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.normal(size=60)
    flag = a > 0.5
    y = 2 * a + flag + 0.1 * rng.normal(size=60)
    lines = ["a,flag,const,y"] + [f"{u},{f},0.1,{v}," for u, f, v in zip(a, flag, y)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    df = tabular.read_table(str(tmp_path / "d.csv"))
    assert list(df.columns) == ["a", "flag", "const", "y"]
    np.testing.assert_allclose(df["a"], a)  # not shifted into the next column
    model = tabular.fit_table(df, "y", cv=3, n_alphas=8)
    coef = dict(zip(model["feature_names"], model["coef"][0]))
    assert coef["a"] > 0 and coef["const"] == 0
    assert model["scale"][2] == 1.0 and model["mean"][2] == 0.1


def test_fit_table_leaves_the_callers_frame_as_it_was(diabetes_csv):
    df = pd.read_csv(diabetes_csv)
    df["city"] = np.where(df["bmi"] > 0, "north", "south")
    df.loc[3, "age"] = np.nan
    before = df.copy()
    tabular.fit_table(df, "target", one_hot=True, dropna=True, cv=3, n_alphas=5)
    pd.testing.assert_frame_equal(df, before)


def test_a_number_target_stored_as_text_is_a_regression():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=50)})
    df["y"] = (2 * df["a"] + 0.1 * rng.normal(size=50)).map(lambda v: f"{v:.4f}")
    assert not pd.api.types.is_numeric_dtype(df["y"])
    model = tabular.fit_table(df, "y", cv=3, n_alphas=5)
    assert model["task"] == "regression" and model["coef"][0, 0] > 1


# --- the fit report's quality numbers, groups and summary (issue 18) -------------------------

def test_fit_report_states_cv_score_held_out_score_and_summary(diabetes_csv, tmp_path):
    from .report_checks import check_structure

    code, text = _run(["fit", str(diabetes_csv), "--target", "target", "--cv", "3",
                       "--n-alphas", "12", "--test-size", "0.25", "--out", str(tmp_path),
                       "--no-progress"])
    assert code == 0, text
    df = pd.read_csv(diabetes_csv)
    model = tabular.fit_table(df, "target", cv=3, n_alphas=12, test_size=0.25)
    mean, se = model["cv_at_alpha"]
    k = list(model["alphas"]).index(model["alpha"])
    assert (mean, se) == (model["cv_mean"][k], model["cv_se"][k]) and se > 0
    held = model["held_out"]
    assert held["n_rows"] == -(-len(df) // 4) and model["n_rows"] == len(df) - held["n_rows"]
    # the held-out score is the fitted model's on rows it never saw
    from sklearn.model_selection import train_test_split

    _, test_rows = train_test_split(np.arange(len(df)), test_size=0.25, random_state=0)
    X = df.drop(columns="target").to_numpy()[test_rows]
    pred = ((X - model["mean"]) / model["scale"]) @ model["coef"][0] + model["intercept"][0]
    y = df["target"].to_numpy()[test_rows]
    assert held["mse"] == pytest.approx(np.mean((pred - y) ** 2))
    assert held["r2"] == pytest.approx(1 - held["mse"] / np.var(y)) and 0.2 < held["r2"] < 1
    page, paras = check_structure(tmp_path, "fit-report.html", command="sparsefit fit")
    assert f"at the chosen alpha {model['alpha']:.4g}: {mean:.4g} (standard error {se:.2g}" \
        in paras[1]
    assert f"R^2 {held['r2']:.3f}" in paras[2] and f"{held['n_rows']} rows" in paras[2]
    assert f"keeps {len(tabular.selected_features(model))} of 10 features" in paras[0]
    assert "--test-size 0.25" in page and "--cv 3" in page


def test_fit_without_test_size_has_no_held_out_score(diabetes_csv, tmp_path):
    code, text = _run(["fit", str(diabetes_csv), "--target", "target", "--cv", "3",
                       "--n-alphas", "8", "--out", str(tmp_path), "--no-progress"])
    assert code == 0 and "CV mean squared error at the chosen alpha" in text
    assert "Held-out" not in text


@pytest.mark.parametrize("share", ["0", "1", "1.5"])
def test_fit_refuses_a_bad_test_size(diabetes_csv, tmp_path, capsys, share):
    assert cli.main(["fit", str(diabetes_csv), "--target", "target", "--out",
                     str(tmp_path), "--test-size", share, "--no-progress"]) == 2
    assert "--test-size" in capsys.readouterr().err


def test_grouped_path_is_coloured_by_group(diabetes_csv, tmp_path):
    import json

    groups = tmp_path / "g.json"
    groups.write_text(json.dumps({"body": ["age", "sex", "bmi"],
                                  "blood": ["bp", "s1", "s2", "s3", "s4", "s5", "s6"]}))
    model = tabular.fit_table(pd.read_csv(diabetes_csv), "target", cv=3, n_alphas=8,
                              penalty="group_lasso", groups=str(groups))
    assert model["feature_groups"] == ["body"] * 3 + ["blood"] * 7
    from sparsefit.plot import plot_path

    fig = plot_path(model["alphas"], model["path"], model["feature_names"],
                    groups=model["feature_groups"])
    ax = fig.axes[0]
    colours = {tuple(line.get_color()) if not isinstance(line.get_color(), str)
               else line.get_color() for line in ax.lines[:3]}
    assert len(colours) == 1  # one group, one colour
    assert ax.lines[0].get_color() != ax.lines[3].get_color()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "group body (3 features)" in legend and "group blood (7 features)" in legend


def test_digits_coefficients_are_drawn_as_8x8_images(tmp_path):
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame
    path = tmp_path / "digits.csv"
    frame[frame["target"] < 3].to_csv(path, index=False)
    code, text = _run(["fit", str(path), "--target", "target", "--cv", "3", "--n-alphas",
                       "6", "--out", str(tmp_path / "r"), "--no-progress"])
    assert code == 0, text
    assert (tmp_path / "r" / "fit_coef_images.png").exists()
    page = (tmp_path / "r" / "fit-report.html").read_text()
    assert "The coefficients as images" in page and page.count("<img ") == 3


def test_fit_path_labels_the_top_features_and_lists_the_rest(diabetes_csv, tmp_path):
    from sparsefit.plot import path_labels, plot_path

    model = tabular.fit_table(pd.read_csv(diabetes_csv), "target", cv=3, n_alphas=10)
    fig = plot_path(model["alphas"], model["path"], model["feature_names"], top=4)
    texts = [t for t in fig.axes[0].texts]
    labelled, rest = path_labels(model["path"], model["feature_names"], top=4)
    assert [t.get_text() for t in texts] == [model["feature_names"][j] for j in labelled]
    # the labels do not overlap
    fig.canvas.draw()
    boxes = sorted((t.get_window_extent().y0, t.get_window_extent().y1) for t in texts)
    assert all(b[0] >= a[1] - 0.5 for a, b in zip(boxes, boxes[1:]))
    code, _ = _run(["fit", str(diabetes_csv), "--target", "target", "--cv", "3",
                    "--n-alphas", "10", "--out", str(tmp_path), "--no-progress"])
    page = (tmp_path / "fit-report.html").read_text()
    _, rest8 = path_labels(model["path"], model["feature_names"])
    if rest8:
        assert "the other non-zero traces: " + ", ".join(
            model["feature_names"][j] for j in rest8) in page


@pytest.mark.skipif(__import__("shutil").which("chromium") is None,
                    reason="no headless Chromium on this machine (.ci/run installs it)")
def test_fit_report_renders_in_headless_chromium(diabetes_csv, tmp_path):
    from .report_checks import check_in_chromium

    code, _ = _run(["fit", str(diabetes_csv), "--target", "target", "--cv", "3",
                    "--n-alphas", "8", "--test-size", "0.2", "--out", str(tmp_path / "r"),
                    "--no-progress"])
    assert code == 0
    check_in_chromium(tmp_path / "r", "fit-report.html", tmp_path)


@pytest.mark.parametrize("flag", ["--alpha-rule", "--selection"])
@pytest.mark.parametrize("rule", ["min", "1se"])
def test_alpha_rule_flag_and_its_old_spelling(flag, rule):
    args = cli.build_parser().parse_args(["fit", "data.csv", "--target", "y", flag, rule])
    assert args.selection == rule


def test_alpha_rule_flag_refuses_an_unknown_rule(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["fit", "data.csv", "--target", "y",
                                       "--alpha-rule", "cyclic"])
    assert "--alpha-rule" in capsys.readouterr().err
