"""Every code block of README.md runs and prints what the README says (issue 12, item 21).

Blocks by their fence:

- ```python: run as a script in a fresh interpreter, working directory a temp dir.
- ```pycon: run with doctest in a fresh interpreter; every printed value is compared.
- ```bash: command by command in one temp dir per block; ``sparsefit`` runs as
  ``python -m sparsefit`` and ``python`` as this interpreter; a here-document is stdin.
- ``` (no language) or ```text: an output; it must be claimed by a check in ``OUTPUTS``.

A block that cannot run inside the suite is listed in ``NOT_RUN`` with the reason. Any
other block makes ``test_every_block_is_run_or_listed`` fail, so none is skipped silently.

Each subprocess gets this checkout's ``src`` first on ``PYTHONPATH``, no ``KERAS_BACKEND``
and an empty ``KERAS_HOME``: Keras starts as on a fresh install, not as in the suite (whose
conftest sets ``KERAS_BACKEND=torch``). The whole file takes about a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SRC = ROOT / "src"
TIMEOUT = 300

# substring of the block -> why it is not run here
NOT_RUN = {
    "make demo": "`make demo` and `make test` create .venv and install (network, minutes); "
                 "`make test` is this suite. The demo's numbers are checked by "
                 "test_output_block on the table they print.",
}

# substring of a doctest example or a bash command -> the issue item that fixes it. Each is
# a strict xfail: when the fix lands the test passes and says to remove the entry.
KNOWN_FAILURES = {}

KINDS = {"python": "python", "py": "python", "pycon": "pycon", "bash": "bash", "sh": "bash",
         "shell": "bash", "": "output", "text": "output"}


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # README line of the first line inside the fence

    @property
    def kind(self):
        return KINDS.get(self.lang, "unknown")

    @property
    def id(self):
        return f"{self.kind}-L{self.line}"


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)[^`]*$")


def read_blocks(text):
    """The fenced code blocks of a Markdown text, in order."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2).lower(), i + 1
        close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = start
        while end < len(lines) and not close.match(lines[end]):
            end += 1
        if end == len(lines):
            raise ValueError(f"README.md line {i + 1}: unclosed code fence")
        blocks.append(Block(lang, "\n".join(lines[start:end]) + "\n", start + 1))
        i = end + 1
    return blocks


BLOCKS = read_blocks(README.read_text(encoding="utf-8"))


def _listed(block, table):
    return [key for key in table if key in block.text]


# ---------------------------------------------------------------------------- commands
@dataclass(frozen=True)
class Command:
    argv: tuple
    stdin: str | None
    text: str   # as written, for messages and KNOWN_FAILURES
    line: int


def split_commands(block):
    """The commands of a bash block: one a line (``\\`` continues), comments dropped, a
    here-document (``<<'EOF'`` ... ``EOF``) as stdin. Pipes, redirections, ``;``, ``&&`` and
    variables are refused, so that a command is never run differently from what it says."""
    lines, out, i = block.text.splitlines(), [], 0
    while i < len(lines):
        first, text = i, lines[i]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + " " + lines[i]
        i += 1
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        if not tokens:
            continue
        stdin = None
        if "<<" in tokens:
            k = tokens.index("<<")
            if k != len(tokens) - 2:
                raise ValueError(f"README line {block.line + first}: a here-document must end "
                                 f"the command: {text!r}")
            delimiter, tokens = tokens[-1], tokens[:k]
            body = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i == len(lines):
                raise ValueError(f"README line {block.line + first}: here-document without "
                                 f"its {delimiter!r} line")
            i += 1
            stdin = "\n".join(body) + "\n"
        bad = [t for t in tokens if set(t) <= set("();<>|&") or "$" in t or "`" in t]
        if bad:
            raise ValueError(f"README line {block.line + first}: shell syntax {bad} is not "
                             f"supported by this test: {text!r}")
        program = {"sparsefit": (sys.executable, "-m", "sparsefit"),
                   "python": (sys.executable,), "python3": (sys.executable,)}.get(tokens[0])
        if program is None:
            raise ValueError(f"README line {block.line + first}: unknown program "
                             f"{tokens[0]!r}; run it here or list the block in NOT_RUN")
        out.append(Command(program + tuple(tokens[1:]), stdin, text.strip(),
                           block.line + first))
    return out


# ------------------------------------------------------------------------- subprocesses
def readme_env(keras_home):
    """A user's environment: this checkout's sources, no Keras backend chosen."""
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "KERAS_HOME")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC)] + [p for p in
                                         env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["KERAS_HOME"] = str(keras_home)
    env["MPLBACKEND"] = "Agg"
    # one thread, as the suite's conftest sets for torch in-process: on these shared 2-core
    # machines small models train faster with 1 (the printed numbers are the same)
    env["OMP_NUM_THREADS"] = "1"
    return env


def run(argv, cwd, *, stdin=None):
    cwd = Path(cwd)
    keras_home = cwd / ".keras-home"
    keras_home.mkdir(exist_ok=True)
    return subprocess.run(list(argv), cwd=cwd, input=stdin, capture_output=True, text=True,
                          env=readme_env(keras_home), timeout=TIMEOUT)


def _report(proc, what):
    return (f"{what} exited with {proc.returncode}\n--- stdout (end)\n{proc.stdout[-4000:]}"
            f"\n--- stderr (end)\n{proc.stderr[-4000:]}")


def _block_file(block, folder, suffix):
    """The block in a file, padded so that its line numbers are README's."""
    path = Path(folder) / f"README_L{block.line}{suffix}"
    path.write_text("\n" * (block.line - 1) + block.text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- doctests
_DOCTEST_DRIVER = r"""
import doctest, json, sys, traceback
path, result = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
test = doctest.DocTestParser().get_doctest(text, {"__name__": "__main__"}, "README.md",
                                           "README.md", 0)
passed, failed = [], []

class Runner(doctest.DocTestRunner):
    def report_success(self, out, test, example, got):
        passed.append(example.source)
    def report_failure(self, out, test, example, got):
        failed.append({"source": example.source, "line": example.lineno + 1,
                       "want": example.want, "got": got})
    def report_unexpected_exception(self, out, test, example, exc_info):
        failed.append({"source": example.source, "line": example.lineno + 1,
                       "want": example.want,
                       "got": "".join(traceback.format_exception(*exc_info))[-3000:]})

Runner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE).run(
    test, out=lambda s: None)
json.dump({"passed": passed, "failed": failed, "n": len(test.examples)}, open(result, "w"))
"""

_DOCTEST_RUNS = {}


def doctest_results(block, tmp_path_factory):
    """Run a pycon block once (it is shared by its tests); ``{"passed", "failed", "n"}``."""
    if block not in _DOCTEST_RUNS:
        folder = tmp_path_factory.mktemp(f"readme_L{block.line}")
        path = _block_file(block, folder, ".txt")
        result = folder / "result.json"
        proc = run([sys.executable, "-c", _DOCTEST_DRIVER, str(path), str(result)], folder)
        if proc.returncode != 0 or not result.exists():
            _DOCTEST_RUNS[block] = _report(proc, "the doctest driver")
        else:
            _DOCTEST_RUNS[block] = json.loads(result.read_text())
    out = _DOCTEST_RUNS[block]
    if isinstance(out, str):
        pytest.fail(out)
    return out


def _known(text):
    return [key for key in KNOWN_FAILURES if key in text]


def _examples(block):
    import doctest

    return [e.source for e in doctest.DocTestParser().get_examples(block.text)]


# ------------------------------------------------------------------------- parameters
def _xfail(key):
    return pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[key] + " -- when this "
                             "passes, remove the entry from KNOWN_FAILURES")


def _params(kind):
    """The blocks of a kind that run; a python block is run whole, so a known failure in it
    marks the block."""
    return [pytest.param(b, id=b.id, marks=[_xfail(key) for key in _known(b.text)]
                         if kind == "python" else [])
            for b in BLOCKS if b.kind == kind and not _listed(b, NOT_RUN)]


def _known_example_params():
    params = []
    for b in BLOCKS:
        if b.kind == "pycon":
            for source in _examples(b):
                for key in _known(source):
                    params.append(pytest.param(b, source, id=f"{b.id}-{key}",
                                               marks=_xfail(key)))
    return params


def _command_params():
    params = []
    for b in BLOCKS:
        if b.kind == "bash" and not _listed(b, NOT_RUN):
            try:
                commands = split_commands(b)
            except ValueError:  # reported by the test, not as an error of the collection
                params.append(pytest.param(b, -1, id=f"{b.id}-unreadable"))
                continue
            for k, cmd in enumerate(commands):
                marks = [_xfail(key) for key in _known(cmd.text)]
                params.append(pytest.param(b, k, id=f"{b.id}-{k}-L{cmd.line}", marks=marks))
    return params


# ----------------------------------------------------------------------------- tests
def test_every_block_is_run_or_listed():
    kinds = [b.kind for b in BLOCKS]
    assert {"python", "pycon", "bash", "output"} <= set(kinds), kinds  # the parser works
    problems = []
    for b in BLOCKS:
        listed = _listed(b, NOT_RUN) + _listed(b, OUTPUTS)
        if b.kind == "unknown":
            problems.append(f"line {b.line}: ```{b.lang} is neither run nor listed; run it "
                            "here or add it to NOT_RUN with the reason")
        elif b.kind == "output" and len(listed) != 1:
            problems.append(f"line {b.line}: an output block must be claimed by one check "
                            f"in OUTPUTS (or NOT_RUN), found {listed}")
        elif len(listed) > 1:
            problems.append(f"line {b.line}: listed more than once: {listed}")
    for table in (NOT_RUN, OUTPUTS):
        for key in table:
            n = sum(key in b.text for b in BLOCKS)
            if n != 1:
                problems.append(f"{key!r} matches {n} blocks, not 1 (a stale entry?)")
    runnable = [e for b in BLOCKS if b.kind == "pycon" for e in _examples(b)]
    runnable += [c.text for b in BLOCKS if b.kind == "bash" and not _listed(b, NOT_RUN)
                 for c in split_commands(b)]
    runnable += [b.text for b in BLOCKS if b.kind == "python"]
    for key in KNOWN_FAILURES:
        n = sum(key in text for text in runnable)
        if n != 1:
            problems.append(f"KNOWN_FAILURES {key!r} matches {n} examples or commands, not 1")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("block", _params("python"))
def test_python_block(block, tmp_path):
    path = _block_file(block, tmp_path, ".py")
    proc = run([sys.executable, str(path)], tmp_path)
    assert proc.returncode == 0, _report(proc, f"README.md line {block.line} (python)")


@pytest.mark.parametrize("block", _params("pycon"))
def test_pycon_block(block, tmp_path_factory):
    res = doctest_results(block, tmp_path_factory)
    assert res["n"] == len(_examples(block)) == len(res["passed"]) + len(res["failed"]) > 0
    unexpected = [f for f in res["failed"] if not _known(f["source"])]
    assert not unexpected, "\n\n".join(
        f"README.md line {f['line']}: {f['source'].strip()}\n"
        f"README says:\n{f['want']}printed:\n{f['got']}" for f in unexpected)


@pytest.mark.parametrize("block, source", _known_example_params())
def test_pycon_known_failure(block, source, tmp_path_factory):
    res = doctest_results(block, tmp_path_factory)
    failed = [f for f in res["failed"] if f["source"] == source]
    assert source in res["passed"], (failed[0]["got"] if failed else "did not run")


_BASH = {}


@pytest.mark.parametrize("block, k", _command_params())
def test_bash_command(block, k, tmp_path_factory):
    """Command ``k`` of a bash block, after the commands before it (one folder a block)."""
    commands = split_commands(block)    # raises on a block that cannot be read (k == -1)
    state = _BASH.setdefault(block, {"dir": tmp_path_factory.mktemp(f"readme_L{block.line}"),
                                     "done": {}})
    for j in range(k + 1):
        if j not in state["done"]:
            cmd = commands[j]
            state["done"][j] = run(cmd.argv, state["dir"], stdin=cmd.stdin)
    proc = state["done"][k]
    assert proc.returncode == 0, _report(proc, f"README.md line {commands[k].line}: "
                                               f"{commands[k].text}")


# ------------------------------------------------------------------------ output blocks
def _table(text):
    """Rows of a table printed with aligned columns (two spaces or more between cells)."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


# the demo's training is float32: on another CPU a last digit may differ. These bounds are
# one validation sample (57 rows) of accuracy, 0.1 percentage point of the 12,288 hidden
# weights (12 weights), and 0.001 of penalty; dead units must match.
DEMO_TOLERANCE = {"val accuracy": 1 / 57 + 1e-9, "exact zeros %": 0.1, "|w| < 1e-3 %": 0.1,
                  "dead units": 0, "penalty": 1e-3}

_DEMO_TABLE = """
from sparsefit.report.demo import section_classifier
sections, text, rows, _ = section_classifier(seed=0, quick=False, progress=False)
print(sections[0].paragraphs[0])
print(text)
"""


def _paragraph_after(block):
    lines = README.read_text(encoding="utf-8").splitlines()
    rest = lines[block.line + len(block.text.splitlines()):]   # after the closing fence
    while rest and not rest[0].strip():
        rest = rest[1:]
    return " ".join(rest[:rest.index("")] if "" in rest else rest)


def check_demo_table(block, tmp_path):
    """The classifier table of `sparsefit demo` (seed 0, 15 epochs), from the function that
    prints it in the demo, with the demo's settings (about 5 s; the whole demo takes ~40 s)."""
    from sparsefit.cli import build_parser

    args = build_parser().parse_args(["demo"])
    assert (args.seed, args.quick) == (0, False)        # what `sparsefit demo` runs
    assert "15 epochs, seed 0" in _paragraph_after(block)   # what the README says it ran
    proc = run([sys.executable, "-c", _DEMO_TABLE], tmp_path)
    assert proc.returncode == 0, _report(proc, "the demo's section_classifier")
    paragraph, printed = proc.stdout.split("\n", 1)
    assert "15 epochs" in paragraph
    want, got = _table(block.text), _table(printed)
    head = got[0]
    assert head[-1] == "seconds" and want[0] == head[:-1], (want[0], head)
    # label columns (framework, method) first, then the numbers
    n_labels = next(i for i, c in enumerate(want[0]) if c in DEMO_TOLERANCE)
    assert [r[:n_labels] for r in want[1:]] == [r[:n_labels] for r in got[1:]]
    for w, g in zip(want[1:], got[1:]):
        for col, a, b in zip(want[0][n_labels:], w[n_labels:], g[n_labels:]):
            assert abs(float(a) - float(b)) <= DEMO_TOLERANCE[col], (
                f"{w[:n_labels]} {col}: README {a}, the demo prints {b}\n{printed}")


# substring of an output block -> its check
OUTPUTS = {"method       val accuracy  exact zeros %": check_demo_table}


@pytest.mark.parametrize("block", _params("output"))
def test_output_block(block, tmp_path):
    (key,) = _listed(block, OUTPUTS)
    OUTPUTS[key](block, tmp_path)
