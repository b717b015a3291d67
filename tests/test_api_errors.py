"""The Python API refuses what the command line refuses, with GraphstepError and a place."""

from __future__ import annotations

import numpy as np
import pytest

import graphstep
from graphstep import GraphstepError


def test_parse_takes_numpy_values_with_their_shapes() -> None:
    t = graphstep.parse("sum(x * 2)", x=np.ones((2, 2))).trace()
    np.testing.assert_array_equal(t.grad("x"), np.full((2, 2), 2.0))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"x": 1, "y": 2}, "'y' is not a name of the expression"),
        ({"x": "abc"}, "expected a number, got the text 'abc'"),
        ({"x": 10**400}, "number too large for float64"),
        ({"x": 1j}, "expected a number or a list of numbers, got complex"),
        ({"x": [1, [2]]}, "ragged tensor"),
    ],
)
def test_parse_refuses_bad_values(values: dict[str, object], message: str) -> None:
    with pytest.raises(GraphstepError, match=message):
        graphstep.parse("x * 2", **values)


def test_expression_output_name_avoids_its_own_names() -> None:
    g = graphstep.parse("f + out", f=1, out=2)
    assert g.output == "result" and g.trace().loss == 3


@pytest.mark.parametrize(
    ("expression", "message", "column"),
    [
        ("sum(x, axis=0, axis=0)", "keyword 'axis' given twice", 21),
        ("x * 1" + "0" * 400, "number too large for float64", 5),
        ("relu * 2", "'relu' is the name of a function", 1),
        ("sum(reshape(x, shape=[1, 1, 1, 1, 1, 1, 1]))", "at most 6 are supported", 5),
    ],
)
def test_bad_expressions_are_located(expression: str, message: str, column: int) -> None:
    with pytest.raises(GraphstepError, match=message) as info:
        graphstep.parse(expression, x=1)
    assert (info.value.line, info.value.column) == (1, column)


def test_names_python_would_normalize_are_refused() -> None:
    with pytest.raises(GraphstepError, match="'ﬁ' is not written in normal form") as info:
        graphstep.load("inputs: {ﬁ: 1, fi: 2}\ngraph:\n  f: ﬁ * fi\n")
    assert info.value.hint == "Python reads it as 'fi': write that"


@pytest.mark.parametrize(
    ("leaf", "message"),
    [
        ("{shape: [2], init: normal, std: -1}", "'std' must not be negative"),
        ("{shape: [2], init: uniform, low: 5, high: 1}", "'low' must be below 'high'"),
        ("{shape: [2], init: uniform, low: .inf}", "'low' must be a finite number"),
        ("1" + "0" * 400, "number too large for float64"),
        ("1" + "0" * 5000, "invalid number: too long or too large to read"),
    ],
)
def test_bad_leaf_values_and_options_are_refused(leaf: str, message: str) -> None:
    with pytest.raises(GraphstepError, match=message):
        graphstep.load(f"params: {{W: {leaf}}}\ngraph:\n  f: sum(W)\n")


def test_train_settings_read_numbers_as_yaml_writes_them() -> None:
    g = graphstep.load("params: {w: 1}\ntrain: {lr: 1e-3, steps: 20}\ngraph:\n  f: w * w\n")
    assert g.train == {"lr": 0.001, "steps": 20}
    with pytest.raises(GraphstepError, match="'steps' must be a positive whole number"):
        graphstep.load("params: {w: 1}\ntrain: {steps: 2.5}\ngraph:\n  f: w * w\n")


def test_power_zero_has_no_slope_even_at_zero() -> None:
    t = graphstep.parse("sum(x ** 0)", x=[0.0, 1.0]).trace()
    np.testing.assert_array_equal(t.grad("x"), [0.0, 0.0])
    assert t.anomaly is None


def test_session_refuses_a_bad_learning_rate_and_breakpoint() -> None:
    s = graphstep.load("params: {w: 1}\ngraph:\n  f: w * w\n").session()
    for lr in ("a", -1, float("nan")):
        with pytest.raises(GraphstepError, match="the learning rate must be a positive number"):
            s.train_step(lr)  # type: ignore[arg-type]
    with pytest.raises(GraphstepError, match="a breakpoint is on a node's name"):
        s.add_breakpoint(None)  # type: ignore[arg-type]
    with pytest.raises(GraphstepError, match="no value given for 'w'"):
        s.set_input("w", None)
