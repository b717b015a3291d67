"""Random expressions: each either traces with gradients equal to central finite differences,
or is refused with a GraphstepError — nothing else.

Expressions combine + - * / max relu tanh over three scalar inputs and small
constants. Points where a kink op (relu, max) would switch branch within the
finite-difference step, or where a divisor is near zero, are assumed away:
there the function has no derivative for finite differences to measure.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import graphstep
from graphstep import GraphstepError

NAMES = ("a", "b", "c")
STEP = 1e-6

leaves = st.sampled_from(NAMES) | st.floats(-3, 3, allow_nan=False).map(lambda v: f"{v:.3g}")


def combined(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(st.sampled_from("+-*/"), children, children).map(
        lambda t: f"({t[1]} {t[0]} {t[2]})"
    )
    maximum = st.tuples(children, children).map(lambda t: f"max({t[0]}, {t[1]})")
    unary = st.tuples(st.sampled_from(["relu", "tanh", "-"]), children).map(
        lambda t: f"{t[0]}({t[1]})"
    )
    return binary | maximum | unary


expressions = st.recursive(leaves, combined, max_leaves=12)
inputs = st.fixed_dictionaries({n: st.floats(-3, 3, allow_nan=False) for n in NAMES})


def branches(graph: graphstep.Graph, trace: graphstep.Trace) -> list[float]:
    """Which side of its kink each relu and max is on (sign of x, of a − b)."""
    signs = []
    for node in graph:
        ins = [float(trace.value(i)) for i in node.inputs]
        if node.op == "relu":
            signs.append(np.sign(ins[0]))
        elif node.op == "max":
            signs.append(np.sign(ins[0] - ins[1]))
    return signs


@settings(max_examples=300, deadline=None)
@given(expression=expressions, values=inputs)
def test_random_expression_traces_with_finite_difference_gradients_or_is_refused(
    expression: str, values: dict[str, float]
) -> None:
    try:
        graph = graphstep.parse(expression, **values)
        trace = graph.trace()
    except GraphstepError:
        return
    assume(trace.anomaly is None)
    for node in graph:
        v = float(trace.value(node.name))
        assume(abs(v) < 1e6)
        if node.op == "div":
            assume(abs(float(trace.value(node.inputs[1]))) > 0.1)
    scale = max(1.0, *(abs(float(trace.value(n))) for n in graph.order))
    for name in graph.inputs:
        x = values[name]
        h = STEP * max(1.0, abs(x))
        up = graph.trace(values={name: x + h})
        down = graph.trace(values={name: x - h})
        assume(branches(graph, up) == branches(graph, trace) == branches(graph, down))
        numeric = (up.loss - down.loss) / (2 * h)
        grad = trace.grad(name)
        analytic = 0.0 if grad is None else float(grad)
        assert abs(analytic - numeric) <= 1e-6 * scale + 1e-4 * abs(numeric), (
            f"∂f/∂{name} of {expression} at {values}: backprop {analytic}, numeric {numeric}"
        )


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("abcxyz()+-*/@,.=:[]0123456789 _'\"")), max_size=40)
)
def test_any_text_is_an_expression_or_a_graphstep_error(text: str) -> None:
    try:
        graphstep.parse(text).trace()
    except GraphstepError as e:
        assert e.line is None or e.line >= 1
