"""Fuzzing the command line with generated graph files (hypothesis, a fixed budget).

Every generated file — YAML structure, names, values and expressions, often
wrong and sometimes hostile — must keep the promise of the README's "Bad
input": exit 0, 1 (an anomaly) or 2 with one line `graphstep: error: …`; no
traceback; no control character on the terminal; no file written outside the
directory the command was pointed at.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphstep import cli

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
NAMES = ["x", "y", "w", "b", "f", "q", "h_2", "W1"]
HOSTILE = ["[@click=app.quit]", "\x1b[2J", "\x1b]0;t\x07", "a\u202eb", "../x", "/etc/x", "ﬁ", ""]
FUNCTIONS = [
    "relu",
    "sigmoid",
    "tanh",
    "exp",
    "log",
    "abs",
    "sum",
    "mean",
    "softmax",
    "norm",
    "flatten",
    "reshape",
    "max",
    "min",
    "conv2d",
    "maxpool",
    "avgpool",
    "local2d",
    "crop_resize",
    "cross_entropy",
    "hinge",
    "smooth_l1",
    "blk",
    "__import__",
    "open",
]
KEYWORDS = ["stride", "pad", "size", "axis", "shape", "nope"]

numbers = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([10**20, -(10**20), 2**70, "1" * 400, "1e999", "nan", "abc", True, None]),
)
keyword_values = st.one_of(
    st.integers(-2, 6),
    st.sampled_from([0, 10**20, "same", "'same'", "[2, 2]", "[1, 20000]", "[-1]", "x", "1.5"]),
)


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    atom = st.one_of(
        st.sampled_from([*NAMES, "nope", "2", "0.5", "-3", "1" * 40, "1e400"]),
        st.sampled_from(["x.y", "x[0]", "lambda: 1", "(x", "x if y else w", "'s'", "x;y"]),
    )
    if depth > 3 or draw(st.booleans()):
        return draw(atom)
    kind = draw(st.sampled_from(["binary", "call", "unary"]))
    if kind == "binary":
        op = draw(st.sampled_from(["+", "-", "*", "/", "**", "@", "<", "and"]))
        return f"({draw(expressions(depth + 1))} {op} {draw(expressions(depth + 1))})"
    if kind == "unary":
        return f"-{draw(expressions(depth + 1))}"
    args = draw(st.lists(expressions(depth + 1), max_size=3))
    kwargs = draw(st.dictionaries(st.sampled_from(KEYWORDS), keyword_values, max_size=2))
    inner = [*args, *(f"{k}={v}" for k, v in kwargs.items())]
    return f"{draw(st.sampled_from(FUNCTIONS))}({', '.join(map(str, inner))})"


values = st.recursive(numbers, lambda inner: st.lists(inner, min_size=0, max_size=3), max_leaves=8)
leaves = st.one_of(
    values,
    st.fixed_dictionaries(
        {"shape": st.lists(st.sampled_from([1, 2, 3, 4, 32, 10**9, 0, -1]), max_size=7)},
        optional={
            "init": st.sampled_from(["zeros", "ones", "normal", "uniform", "arange", "bogus"]),
            "seed": st.sampled_from([0, 1, -1, 2**70]),
            "std": numbers,
        },
    ),
)
names = st.one_of(st.sampled_from(NAMES), st.sampled_from([*HOSTILE, "sum", "1x", "x y"]))


SANE_INPUTS = {
    "x": 0.5,
    "y": [1.0, -2.0, 3.0],
    "t": 1,
    "img": {"shape": [1, 5, 5], "init": "arange"},
    "k": {"shape": [2, 1, 2, 2], "init": "ones"},
    "box": [0, 0, 4, 4],
}
BLOCKS = ["relu(a) * W", "a * a", "tanh(a) + 1e308 * a", "log(a - 5)", "a / 0"]
SANE = [
    "sum(relu(y) * x * W)",
    "sum(conv2d(img, k, stride={s}, pad={p}))",
    "sum(maxpool(img, size={z}, stride={s}))",
    "sum(avgpool(img, size={z}))",
    "sum(crop_resize(img, box, size=[{z}, {z}]))",
    "cross_entropy(y * x, t)",
    "hinge(y, t) + x ** {e}",
    "log(x) * exp(x) / {n}",
    "norm(y - x) + mean(softmax(y, axis={a}))",
    "max(x, {n}) + min(x, y)",
    "sum(reshape(img, shape=[{z}, -1]))",
    "sum(blk(y))",
    "sum(blk(blk(y)))",
]


@st.composite
def sane_files(draw: st.DrawFn) -> dict[str, Any]:
    """A graph that mostly builds, so generated values reach the ops, steps and views."""
    pick = {
        "s": st.sampled_from([1, 2, 3, 10**20]),
        "p": st.sampled_from([0, 1, 3, "'same'", 5000, 10**20]),
        "z": st.sampled_from([1, 2, 3, 6, 20000]),
        "e": st.sampled_from([0, 2, -1, 0.5, 1e308]),
        "n": numbers.map(str),
        "a": st.sampled_from([0, -1, 5]),
    }
    chosen = draw(st.lists(st.sampled_from(SANE), min_size=1, max_size=3, unique=True))
    graph = {
        f"e{i}": template.format(**{k: draw(v) for k, v in pick.items()})
        for i, template in enumerate(chosen)
    }
    graph["f"] = " + ".join(graph)
    inputs = dict(SANE_INPUTS)
    if draw(st.booleans()):
        inputs["x"] = draw(numbers)
    doc: dict[str, Any] = {
        "name": draw(st.sampled_from(HOSTILE)),
        "description": draw(st.sampled_from(HOSTILE)),
        "inputs": inputs,
        "params": {"W": {"shape": [3], "init": "normal"}},
        "blocks": {"blk": {"args": ["a"], "graph": {"o": draw(st.sampled_from(BLOCKS))}}},
        "graph": graph,
        "output": "f",
    }
    if draw(st.booleans()):
        doc["train"] = {"lr": draw(st.sampled_from([0.1, 1e308])), "steps": 3}
    return doc


@st.composite
def wild_files(draw: st.DrawFn) -> dict[str, Any]:
    """Anything in the shape of a graph file: names, values and expressions mostly wrong."""
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["name"] = draw(st.sampled_from([*HOSTILE, "plain"]))
    doc["inputs"] = draw(st.dictionaries(names, leaves, max_size=3))
    if draw(st.booleans()):
        doc["params"] = draw(st.dictionaries(names, leaves, max_size=2))
    if draw(st.integers(0, 5)) == 0:
        doc["expr"] = draw(expressions())
    else:
        doc["graph"] = draw(st.dictionaries(names, expressions(), min_size=1, max_size=4))
        if draw(st.booleans()):
            doc["output"] = draw(st.one_of(names, st.just(["f"])))
    if draw(st.integers(0, 3)) == 0:
        body = draw(st.dictionaries(st.sampled_from(["o", "p", "x"]), expressions(), max_size=2))
        doc["blocks"] = {
            "blk": {"args": draw(st.sampled_from([["a"], [], "a", [1]])), "graph": body}
        }
    if draw(st.integers(0, 9)) == 0:
        doc[draw(st.sampled_from(["grpah", "\x1b[2J", "eval"]))] = 1
    return doc


COMMANDS = [
    ["run"],
    ["run", "--json"],
    ["run", "--steps", "--into"],
    ["summary"],
    ["validate"],
    ["train", "--steps", "2"],
    ["export", "-o", "out/d.svg"],
]


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(doc=st.one_of(sane_files(), wild_files()), command=st.sampled_from(COMMANDS))
def test_every_generated_file_keeps_the_bad_input_promise(
    doc: dict[str, Any], command: list[str]
) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        Path("g.yaml").write_text(text, encoding="utf-8")
        Path("out").mkdir()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([command[0], "g.yaml", *command[1:]])
        shown = out.getvalue() + err.getvalue()
        assert code in (0, 1, 2), (code, shown)
        assert "Traceback" not in shown, shown
        assert not CONTROL.search(shown), repr(shown)
        if code == 2:
            assert err.getvalue().startswith("graphstep: error: "), err.getvalue()
            assert err.getvalue().count("\n") == 1, err.getvalue()
        elif code == 1:
            assert all(line.startswith("graphstep: ") for line in err.getvalue().splitlines())
        assert sorted(os.listdir(".")) == ["g.yaml", "out"]
        assert set(os.listdir("out")) <= {"d.svg"}
