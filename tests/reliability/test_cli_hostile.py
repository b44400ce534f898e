"""Hostile input to `sparsefit fit` and `sparsefit predict`: every user mistake is one line
on stderr naming the option or input and a fix, with exit status 2; never a traceback,
never a silent guess. One table per command; each row is a file and a command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from sparsefit import cli


def _frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                       "c": rng.normal(size=n)})
    df["y"] = 2 * df["a"] - df["b"] + 0.1 * rng.normal(size=n)
    return df


def _csv(df, name="data.csv"):
    return lambda tmp: df.to_csv(tmp / name, index=False)


def _text(text, name="data.csv"):
    return lambda tmp: (tmp / name).write_bytes(text.encode("utf-8") if isinstance(text, str)
                                                else text)


def _with(**columns):
    df = _frame()
    for k, f in columns.items():
        df[k] = f(df)
    return _csv(df)


def _lines(df):
    return df.to_csv(index=False).splitlines()


def _ragged(extra):
    lines = _lines(_frame())
    lines[4] = lines[4].rsplit(",", 1)[0] if extra is None else lines[4] + "," + extra
    return _text("\n".join(lines) + "\n")


def _parquet(df):
    return lambda tmp: df.to_parquet(tmp / "data.parquet")


def _many(*builders):
    def build(tmp):
        for b in builders:
            b(tmp)
    return build


def _constant(value):
    df = _frame()
    df["y"] = value
    return _csv(df)


def _rare_class():
    df = _frame()
    df["y"] = np.where(df["a"] > 0, "up", "down")
    df.loc[:1, "y"] = "rare"
    return _csv(df)


def _thousands():
    df = _frame()
    df["a"] = [f"{int(v):,}" for v in 1000 + 1000 * df["a"].abs()]
    df.loc[0, "a"] = "1,234"
    return _csv(df)


def _junk():
    df = _frame()
    df["a"] = df["a"].astype(object)
    df.loc[7, "a"] = "?"
    return _csv(df)


def _folder_with_notes(tmp):
    (tmp / "keep").mkdir()
    (tmp / "keep" / "notes.txt").write_text("mine")


DATA = "{tmp}/data.csv"
MINUS = "\u2212"
FIT = [  # (id, files, arguments after `fit`, message)
    ("empty", _text(""), [DATA, "--target", "y"], "DATA is empty"),
    ("blank-lines", _text("\n\n"), [DATA, "--target", "y"], "DATA is empty"),
    ("header-only", _text("a,b,y\n"), [DATA, "--target", "y"], "a header but no rows"),
    ("latin-1-body", _text(b"a,b,y\n1,2,caf\xe9\n"), [DATA, "--target", "y"],
     "not UTF-8 text"),
    ("latin-1-header", _text(b"caf\xe9,y\n1,2\n"), [DATA, "--target", "y"], "not UTF-8 text"),
    ("short-row", _ragged(None), [DATA, "--target", "y"],
     "line 5 has 3 fields where the header has 4"),
    ("long-row", _ragged("9"), [DATA, "--target", "y"],
     "line 5 has 5 fields where the header has 4"),
    ("long-rows-shift", _text("a,y\n" + "".join(f"{i},{i % 3},{i}\n" for i in range(30))),
     [DATA, "--target", "y"], "line 2 has 3 fields where the header has 2"),
    ("semicolons", _text("a;b;y\n1;2;3\n"), [DATA, "--target", "y"], "separated by ';'"),
    ("duplicate-target", _text("a,y,y\n" + "1,2,3\n" * 30), [DATA, "--target", "y"],
     "'y' appears 2 times"),
    ("unnamed-index", _text(",a,y\n" + "".join(f"{i},{i},{i}\n" for i in range(30))),
     [DATA, "--target", "y"], "column 1 has no name"),
    ("corrupt-parquet", _text(b"PAR1 not really parquet PAR1", "data.parquet"),
     ["{tmp}/data.parquet", "--target", "y"], "not a readable Parquet file"),
    ("dates", _parquet(_frame().assign(d=pd.Timestamp("2024-01-01"))),
     ["{tmp}/data.parquet", "--target", "y"], "column 'd' holds dates"),
    ("constant-int-target", _constant(5), [DATA, "--target", "y"],
     "the same value (5) in every"),
    ("constant-text-target", _constant("k"), [DATA, "--target", "y"],
     "the same value ('k') in every"),
    ("inf-target", _with(y=lambda d: d["y"].where(d.index != 3, np.inf)),
     [DATA, "--target", "y"], "the target 'y' holds infinite values"),
    ("inf-feature", _with(a=lambda d: d["a"].where(d.index != 3, -np.inf)),
     [DATA, "--target", "y"], "'a' hold infinite values"),
    ("nan-target", _with(y=lambda d: d["y"].where(d.index != 3)), [DATA, "--target", "y"],
     "NaN in column(s) y (1): clean them or pass --dropna"),
    ("no-target", _csv(_frame()), [DATA, "--target", "nope"],
     "--target: no column 'nope' in DATA (columns: 'a', 'b', 'c', 'y')"),
    ("target-with-spaces", _text("a, Y\n" + "1,2\n" * 30), [DATA, "--target", "y"],
     "no column 'y' in DATA; did you mean ' Y'?"),
    ("long-field-then-short-row",  # the row check reads a 200 kB field as pandas does
     _text("a,y\n" + "1,2\n" * 20 + '"' + "x" * 200000 + '",1\n' + "3\n"),
     [DATA, "--target", "y"], "line 23 has 1 fields where the header has 2"),
    ("only-target", _csv(_frame()[["y"]]), [DATA, "--target", "y"], "no feature column"),
    ("cv-1", _csv(_frame()), [DATA, "--target", "y", "--cv", "1"], "--cv is the number"),
    ("cv-0", _csv(_frame()), [DATA, "--target", "y", "--cv", "0"], "--cv is the number"),
    ("cv-many", _csv(_frame()), [DATA, "--target", "y", "--cv", "40"], "too few rows"),
    ("l1-ratio-2", _csv(_frame()), [DATA, "--target", "y", "--penalty", "elastic_net",
                                    "--l1-ratio", "2"], "--l1-ratio must be in (0, 1]"),
    ("l1-ratio-1.5", _csv(_frame()), [DATA, "--target", "y", "--penalty", "elastic_net",
                                      "--l1-ratio", "1.5"], "--l1-ratio must be in (0, 1]"),
    ("l1-ratio-0", _csv(_frame()), [DATA, "--target", "y", "--penalty", "elastic_net",
                                    "--l1-ratio", "0"], "--l1-ratio must be in (0, 1]"),
    ("l1-ratio-nan", _csv(_frame()), [DATA, "--target", "y", "--penalty", "elastic_net",
                                      "--l1-ratio", "nan"], "--l1-ratio must be in (0, 1]"),
    ("l1-ratio-for-l1", _csv(_frame()), [DATA, "--target", "y", "--l1-ratio", "0.3"],
     "--l1-ratio applies to --penalty elastic_net only"),
    ("tau-5", _csv(_frame()), [DATA, "--target", "y", "--penalty", "sparse_group_lasso",
                               "--groups", "prefix", "--tau", "5"], "--tau must be in [0, 1]"),
    ("tau-for-l1", _csv(_frame()), [DATA, "--target", "y", "--tau", "0.3"],
     "--tau applies to --penalty sparse_group_lasso only"),
    ("n-alphas-0", _csv(_frame()), [DATA, "--target", "y", "--n-alphas", "0"],
     "--n-alphas is the number"),
    ("n-alphas-1", _csv(_frame()), [DATA, "--target", "y", "--n-alphas", "1"],
     "--n-alphas is the number"),
    ("n-alphas-huge", _csv(_frame()), [DATA, "--target", "y", "--n-alphas", "100000"],
     "--n-alphas is the number"),
    ("seed-negative", _csv(_frame()), [DATA, "--target", "y", "--seed", "-1"],
     "--seed must be"),
    ("groups-no-prefix", _csv(_frame()), [DATA, "--target", "y", "--penalty", "group_lasso",
                                          "--groups", "prefix"], "--groups prefix found no group"),
    ("groups-bad-json", _many(_csv(_frame()), _text("{not json", "g.json")),
     [DATA, "--target", "y", "--penalty", "group_lasso", "--groups", "{tmp}/g.json"],
     "not valid JSON"),
    ("groups-json-shape", _many(_csv(_frame()), _text(json.dumps({"g": "a"}), "g.json")),
     [DATA, "--target", "y", "--penalty", "group_lasso", "--groups", "{tmp}/g.json"],
     "must map each group name to a non-empty list"),
    ("groups-json-unknown", _many(_csv(_frame()), _text(json.dumps({"g": ["zz"]}), "g.json")),
     [DATA, "--target", "y", "--penalty", "group_lasso", "--groups", "{tmp}/g.json"],
     "column 'zz' of group 'g' is not a feature"),
    ("groups-missing-file", _csv(_frame()), [DATA, "--target", "y", "--penalty",
                                             "group_lasso", "--groups", "nope.json"],
     "expected 'prefix' or a JSON file"),
    ("groups-for-l1", _csv(_frame()), [DATA, "--target", "y", "--groups", "prefix"],
     "--groups applies to --penalty group_lasso"),
    ("group-without-groups", _csv(_frame()), [DATA, "--target", "y", "--penalty",
                                              "group_lasso"], "needs --groups"),
    ("overflowing-column", _with(a=lambda d: d["a"] * 1e200), [DATA, "--target", "y"],
     "column 'a' has values of magnitude"),
    ("underflowing-column", _with(a=lambda d: d["a"] * 1e-170), [DATA, "--target", "y"],
     "column 'a' varies by only"),
    ("huge-target", _with(y=lambda d: d["y"] * 1e200), [DATA, "--target", "y"],
     "the target 'y' has values of magnitude"),
    ("tiny-target", _with(y=lambda d: d["y"] * 1e-170), [DATA, "--target", "y"],
     "the target 'y' varies by only"),
    ("thousands", _thousands(), [DATA, "--target", "y"],
     "column 'a' holds numbers written with separators, symbols or a decimal comma ('1,234'"),
    ("thousands-one-hot", _thousands(), [DATA, "--target", "y", "--one-hot"],
     "column 'a' holds numbers written with separators"),
    ("decimal-comma", _with(a=lambda d: d["a"].map(lambda v: f"{v:.3f}".replace(".", ","))),
     [DATA, "--target", "y", "--one-hot"], "symbols or a decimal comma ('0,126'"),
    ("typographic-minus", _with(a=lambda d: d["a"].map(lambda v: f"{v:.2f}".replace("-", MINUS))),
     [DATA, "--target", "y", "--one-hot"], "numbers written with separators, symbols"),
    ("percent", _with(a=lambda d: d["a"].map(lambda v: f"{v:.0%}")),
     [DATA, "--target", "y", "--one-hot"], "numbers written with separators, symbols"),
    ("currency", _with(a=lambda d: d["a"].map(lambda v: f"${1000 * v:,.2f}")),
     [DATA, "--target", "y", "--one-hot"], "numbers written with separators, symbols"),
    ("empty-column", _with(e=lambda d: np.nan), [DATA, "--target", "y", "--dropna"],
     "column(s) e are empty in every row; drop them"),
    ("nested-values", _parquet(_frame().assign(v=[[1, 2]] * 60)),
     ["{tmp}/data.parquet", "--target", "y", "--one-hot"], "holds ndarray values"),
    ("stray-word", _junk(), [DATA, "--target", "y", "--one-hot"],
     "column 'a' is numeric except for 1 value(s) such as '?' (data row 8)"),
    ("identifier", _with(id=lambda d: [f"r{i}" for i in range(len(d))]),
     [DATA, "--target", "y", "--one-hot"], "'id' has 60 distinct values in 60 rows"),
    ("text-without-one-hot", _with(city=lambda d: np.where(d["a"] > 0, "n", "s")),
     [DATA, "--target", "y"], "non-numeric column(s) city: drop them or pass --one-hot"),
    ("one-hot-name-clash", _with(c=lambda d: np.where(d["a"] > 0, "x", "z"),
                                 c_x=lambda d: d["b"]),
     [DATA, "--target", "y", "--one-hot"], "'c_x' appears 2 times"),
    ("task-binary", _csv(_frame()), [DATA, "--target", "y", "--task", "binary"],
     "--task binary needs a target with 2 values"),
    ("task-regression-text", _with(y=lambda d: np.where(d["a"] > 0, "up", "down")),
     [DATA, "--target", "y", "--task", "regression"], "--task regression needs a numeric"),
    ("task-multiclass-2", _with(y=lambda d: (d["a"] > 0).astype(int)),
     [DATA, "--target", "y", "--task", "multiclass"], "use --task binary"),
    ("rare-class", _rare_class(), [DATA, "--target", "y"], "class 'rare' of 'y' has 2 row(s)"),
    ("out-is-file", _many(_csv(_frame()), _text("x", "r")),
     [DATA, "--target", "y", "--out", "{tmp}/r"], "a file exists there"),
    ("save-is-file", _many(_csv(_frame()), _text("x", "m")),
     [DATA, "--target", "y", "--save", "{tmp}/m"], "--save {tmp}/m: a file exists there"),
    ("save-into-other-files", _many(_csv(_frame()), _folder_with_notes),
     [DATA, "--target", "y", "--save", "{tmp}/keep"], "holds other files than a saved model"),
    ("save-under-a-file", _many(_csv(_frame()), _text("x", "f")),
     [DATA, "--target", "y", "--save", "{tmp}/f/m"], "{tmp}/f is a file, not a folder"),
    ("save-is-out", _csv(_frame()), [DATA, "--target", "y", "--save", "{tmp}/r", "--out",
                                     "{tmp}/r"], "cannot go into the model folder"),
    ("data-is-folder", lambda tmp: (tmp / "d").mkdir(), ["{tmp}/d", "--target", "y"],
     "is a folder"),
    ("data-missing", lambda tmp: None, [DATA, "--target", "y"], "no such file"),
    ("data-is-a-pipe", lambda tmp: os.mkfifo(tmp / "data.csv"), [DATA, "--target", "y"],
     "is not a regular file"),
    ("data-xlsx", _text("x", "data.xlsx"), ["{tmp}/data.xlsx", "--target", "y"],
     "unsupported file type '.xlsx'"),
    ("cv-not-int", _csv(_frame()), [DATA, "--target", "y", "--cv", "abc"],
     "argument --cv: invalid int value: 'abc'"),
    ("task-unknown", _csv(_frame()), [DATA, "--target", "y", "--task", "rank"],
     "argument --task: invalid choice"),
]


def _run(tmp, args, command):
    argv = [command] + [a.format(tmp=tmp) for a in args]
    if command == "fit" and "--out" not in args:
        argv += ["--out", str(tmp / "report")]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    return code


def _assert_one_line(code, err, message, tmp):
    assert code == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert message.format(tmp=tmp) in err, err


@pytest.mark.parametrize("files, args, message", [c[1:] for c in FIT], ids=[c[0] for c in FIT])
def test_fit_refuses_hostile_input_in_one_line(tmp_path, capsys, files, args, message):
    files(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    code = _run(tmp_path, args, "fit")
    _assert_one_line(code, capsys.readouterr().err, message, tmp_path)
    # nothing written or changed on a refusal
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A model fitted with --one-hot on a table with numbers and a text column."""
    tmp = tmp_path_factory.mktemp("model")
    df = _frame(80)
    df["city"] = np.where(df["c"] > 0, "north", "south")
    df.to_csv(tmp / "train.csv", index=False)
    code = cli.main(["fit", str(tmp / "train.csv"), "--target", "y", "--one-hot", "--cv", "3",
                     "--n-alphas", "8", "--out", str(tmp / "r"), "--save", str(tmp / "m")])
    assert code == 0
    return tmp, df


def _table(mutate):
    def build(tmp, df):
        mutate(df.copy()).to_csv(tmp / "data.csv", index=False)
    return build


def _hardlink(tmp, df):
    df.to_csv(tmp / "data.csv", index=False)
    os.link(tmp / "data.csv", tmp / "alias.csv")


PREDICT = [  # (id, files, arguments after `predict MODEL`, message)
    ("output-is-data", _table(lambda d: d), [DATA, "--output", DATA], "is an input"),
    ("output-is-hardlink", _hardlink, [DATA, "--output", "{tmp}/alias.csv"], "is an input"),
    ("output-is-model-file", _table(lambda d: d), [DATA, "--output", "{model}/model.json"],
     "inside the model folder"),
    ("output-in-missing-folder", _table(lambda d: d), [DATA, "--output", "{tmp}/no/p.csv"],
     "does not exist"),
    ("output-is-folder", _table(lambda d: d), [DATA, "--output", "{tmp}"], "is a folder"),
    ("missing-column", _table(lambda d: d.drop(columns="b")), [DATA],
     "the model needs column(s) b missing from DATA"),
    ("missing-text-column", _table(lambda d: d.drop(columns="city")), [DATA],
     "the model needs column(s) city"),
    ("renamed-column", _table(lambda d: d.rename(columns={"a": "A"})), [DATA],
     "needs column(s) a missing"),
    ("unexpected-column", _table(lambda d: d.assign(extra=1.0)), [DATA],
     "DATA has column(s) extra the model was not fitted on"),
    ("unseen-category", _table(lambda d: d.assign(city=["west"] + list(d["city"][1:]))),
     [DATA], "column 'city' has value(s) 'west' the model never saw"),
    ("comma-numbers", _table(lambda d: d.assign(a=[f"{1000 + i:,}" for i in range(len(d))])),
     [DATA], "column 'a' holds numbers written with separators"),
    ("text-in-numbers", _table(lambda d: d.assign(a=["x", "y"] * (len(d) // 2))), [DATA],
     "column(s) a hold text where the model was fitted on numbers"),
    ("stray-word", _table(lambda d: d.assign(a=["?"] + list(d["a"][1:]))), [DATA],
     "fill them with numbers, or remove those rows"),
    ("nan", _table(lambda d: d.assign(a=[np.nan] + list(d["a"][1:]))), [DATA],
     "empty or NaN cells in column(s) a (1)"),
    ("overflow", _table(lambda d: d.assign(a=[1.7e308] + list(d["a"][1:]))), [DATA],
     "predictions overflow"),
    ("duplicate-header", lambda tmp, df: (tmp / "data.csv").write_text("a,a\n1,2\n"), [DATA],
     "'a' appears 2 times"),
    ("empty", lambda tmp, df: (tmp / "data.csv").write_text(""), [DATA], "DATA is empty"),
]


@pytest.mark.parametrize("files, args, message", [c[1:] for c in PREDICT],
                         ids=[c[0] for c in PREDICT])
def test_predict_refuses_hostile_input_in_one_line(model, tmp_path, capsys, files, args,
                                                   message):
    mtmp, df = model
    files(tmp_path, df.drop(columns="y"))
    before = (tmp_path / "data.csv").read_bytes() if (tmp_path / "data.csv").exists() else None
    argv = ["predict", str(mtmp / "m")] + [a.format(tmp=tmp_path, model=mtmp / "m")
                                           for a in args]
    code = cli.main(argv)
    err = capsys.readouterr().err
    _assert_one_line(code, err, message, tmp_path)
    # predict takes neither option: its messages never advise them
    assert "--one-hot" not in err and "--dropna" not in err
    if before is not None:
        assert (tmp_path / "data.csv").read_bytes() == before
    assert sorted(os.listdir(mtmp / "m")) == ["arrays.npz", "model.json"]


def test_predict_with_one_hot_matches_the_fit_and_writes_atomically(model, tmp_path):
    mtmp, df = model
    df.drop(columns="y").to_csv(tmp_path / "new.csv", index=False)
    assert cli.main(["predict", str(mtmp / "m"), str(tmp_path / "new.csv"), "--output",
                     str(tmp_path / "p.csv")]) == 0
    pred = pd.read_csv(tmp_path / "p.csv")["prediction"]
    assert np.corrcoef(pred, df["y"])[0, 1] > 0.95
    assert sorted(os.listdir(tmp_path)) == ["new.csv", "p.csv"]  # no temporary file left


@pytest.mark.parametrize("argv, message", [
    (["fit", "{tmp}/empty.csv", "--target", "y"], "DATA is empty"),
    (["fit", "{tmp}/empty.csv", "--target", "y", "--cv", "1"], "--cv is the number"),
    (["fit", "{tmp}/empty.csv", "--target", "y", "--cv", "x"], "invalid int value"),
    (["predict", "{tmp}", "{tmp}/empty.csv"], "is not a saved sparsefit model"),
])
def test_the_command_itself_exits_2_with_one_line(tmp_path, argv, message):
    (tmp_path / "empty.csv").write_text("")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    out = subprocess.run([sys.executable, "-m", "sparsefit"] +
                         [a.format(tmp=tmp_path) for a in argv],
                         capture_output=True, text=True, timeout=300, env=env,
                         cwd=tmp_path)
    _assert_one_line(out.returncode, out.stderr, message, tmp_path)


def test_warnings_are_one_line_too(model, tmp_path, capsys):
    from sparsefit.io import _digest

    mtmp, df = model
    meta = json.loads((mtmp / "m" / "model.json").read_text())
    meta["versions"]["numpy"] = "0.0.1"
    meta["sha256"] = _digest(meta)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    (tmp_path / "m" / "arrays.npz").write_bytes((mtmp / "m" / "arrays.npz").read_bytes())
    df.drop(columns="y").to_csv(tmp_path / "new.csv", index=False)
    assert cli.main(["predict", str(tmp_path / "m"), str(tmp_path / "new.csv")]) == 0
    err = capsys.readouterr().err
    assert err == ("sparsefit: warning: model saved with other versions: numpy 0.0.1 "
                   f"(now {np.__version__}) (UserWarning)\n")
