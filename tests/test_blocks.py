"""Blocks: user-defined composites called like functions, their parameters shared."""

from __future__ import annotations

import numpy as np
import pytest

import graphstep
from graphstep import GraphstepError

SHARED = """
inputs:
  r1: [[1, 2], [3, 4]]
  r2: [[0, 1], [1, 0]]
params:
  w: [[0.5, -1], [2, 1]]
blocks:
  lin:
    args: [v]
    graph:
      h: w * v
      out: sum(tanh(h))
    output: out
  two:
    args: [a, b]
    graph:
      s: lin(a) + lin(b)
graph:
  f1: lin(r1)
  f2: two(r2, r1)
  L: f1 + f2
output: L
"""


def finite_difference(graph: graphstep.Graph, name: str, eps: float = 1e-6) -> np.ndarray:
    base = graph.trace().value(name)
    grad = np.zeros_like(base)
    for index in np.ndindex(base.shape):
        up, down = base.copy(), base.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (graph.trace({name: up}).loss - graph.trace({name: down}).loss) / (2 * eps)
    return grad


def test_block_calls_become_grouped_nodes_named_after_the_call() -> None:
    g = graphstep.load(SHARED)
    assert g.groups["f1"] == ("f1/h", "f1.1", "f1")
    assert set(g.groups["f2.1"]) < set(g.groups["f2"])
    assert g.nodes["f1/h"].group == "f1"
    assert g.nodes["f1"].op == "sum"


def test_block_forward_value_by_hand() -> None:
    t = graphstep.load(SHARED).trace()
    w = np.array([[0.5, -1], [2, 1]])
    r1, r2 = np.array([[1, 2], [3, 4]]), np.array([[0, 1], [1, 0]])
    lin = lambda v: np.tanh(w * v).sum()  # noqa: E731
    assert t.value("f1") == pytest.approx(lin(r1))
    assert t.value("L") == pytest.approx(2 * lin(r1) + lin(r2))


def test_shared_parameter_gradient_is_the_sum_over_calls() -> None:
    g = graphstep.load(SHARED)
    t = g.trace()
    w = np.array([[0.5, -1], [2, 1]])
    r1, r2 = np.array([[1, 2], [3, 4]]), np.array([[0, 1], [1, 0]])
    per_call = lambda v: v * (1 - np.tanh(w * v) ** 2)  # noqa: E731
    np.testing.assert_allclose(t.grad("w"), 2 * per_call(r1) + per_call(r2))
    np.testing.assert_allclose(t.grad("w"), finite_difference(g, "w"), rtol=1e-6, atol=1e-8)


def test_block_arguments_receive_gradients() -> None:
    g = graphstep.load(SHARED)
    np.testing.assert_allclose(g.trace().grad("r2"), finite_difference(g, "r2"), rtol=1e-6)


@pytest.mark.parametrize(
    ("change", "message", "line", "column"),
    [
        (("out: sum(tanh(h))", "out: sum(tanh(h)) + lin(v)"), "block recursion: lin → lin", 8, 3),
        (("s: lin(a) + lin(b)", "s: lin(a) + two(b, a)"), "block recursion: two → two", 14, 3),
        (("f1: lin(r1)", "f1: lin(r1, r2)"), "block 'lin' takes 1 argument (v), got 2", 19, 7),
        (("f1: lin(r1)", "f1: lni(r1)"), "unknown function 'lni'", 19, 7),
        (("h: w * v", "h: ww * v"), "undefined name 'ww' in block 'lin'", 11, 10),
        (("args: [v]", "args: [r1]"), "'r1' in block 'lin' clashes with the file's 'r1'", 9, 11),
        (("h: w * v", "w: 2 * v"), "'w' in block 'lin' clashes with the file's 'w'", 11, 7),
        (("output: out", "output: result"), "block output 'result' is not an entry", 13, 13),
        (("  f1: lin(r1)", "  lin: lin(r1)"), "'lin' is assigned twice", 19, 3),
        (("f1: lin(r1)", "f1: lin(r1, size=2)"), "block 'lin' takes no keywords", 19, 7),
    ],
)
def test_block_errors_are_located(
    change: tuple[str, str], message: str, line: int, column: int
) -> None:
    with pytest.raises(GraphstepError) as info:
        graphstep.load(SHARED.replace(*change))
    assert message in info.value.message
    assert (info.value.line, info.value.column) == (line, column)


def test_indirect_recursion_is_refused() -> None:
    text = """
inputs: {x: 1}
blocks:
  a:
    args: [v]
    graph: {o: b(v)}
  b:
    args: [v]
    graph: {o: a(v) * 2}
graph:
  f: a(x)
"""
    with pytest.raises(GraphstepError, match=r"block recursion: a → b → a"):
        graphstep.load(text)


def test_block_call_is_one_step_when_stepped_over() -> None:
    s = graphstep.load(SHARED).session()
    s.step()
    assert s.current.node == "f1"
    assert s.current.text.startswith("f1 = lin(r1) = ")
    assert "(block call: 3 nodes inside)" in s.current.text
    s.step_over()
    assert s.current.node == "f2"
    assert s.value_known("f1/h") and s.value_known("f1.1")


def test_stepping_into_a_block_call_walks_its_nodes() -> None:
    s = graphstep.load(SHARED).session()
    s.step()
    inner = [s.step_into().node]
    while s.inner is not None:
        inner.append(s.step().node)
    assert inner[:-1] == ["f1/h", "f1.1", "f1"]
    assert inner[-1] == "f2"


def test_states_inside_a_block_call_follow_the_inner_cursor() -> None:
    s = graphstep.load(SHARED).session()
    s.step()
    s.step_into()
    assert s.state("f1/h") == "current"
    assert s.state("f1.1") == "pending" and not s.value_known("f1")
    s.step()
    assert s.state("f1/h") == "computed" and s.state("f1.1") == "current"
    assert s.current.text == (
        "f1.1 = tanh(f1/h) = tanh([[0.5, -2], [6, 4]])"
        " = [[0.462117, -0.964028], [0.999988, 0.999329]]"
    )


def test_block_call_backward_step_and_its_inner_gradients() -> None:
    g = graphstep.load(SHARED)
    s = g.session()
    index = s.timeline.backward_index["f1"]
    s.goto(index)
    assert s.current.node == "f1" and s.current.phase == "backward"
    nodes = [step.node for step in s.timeline.inner_steps(index)]
    assert nodes == ["f1", "f1.1", "f1/h"]
    assert s.timeline.backward_index["f1/h"] == index


def test_breakpoint_on_a_node_inside_a_block_call_stops_inside_it() -> None:
    s = graphstep.load(SHARED).session()
    s.add_breakpoint("f2.2/h", phase="forward")
    step = s.continue_()
    assert step.node == "f2.2/h"
    assert s.position == s.timeline.forward_index["f2"] and s.inner is not None


def test_block_transcript_lists_inner_nodes_with_into() -> None:
    from graphstep.steps import transcript

    lines = transcript(graphstep.load(SHARED).session().timeline, into=True)
    assert lines[0].startswith("1 forward f1: f1 = lin(r1) = ")
    assert lines[1] == (
        "  1.1 forward f1/h: f1/h = w * r1 = [[0.5, -1], [2, 1]] * [[1, 2], [3, 4]]"
        " = [[0.5, -2], [6, 4]]"
    )


def test_blocks_that_double_at_every_level_stop_at_the_node_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import graphstep.graph

    monkeypatch.setattr(graphstep.graph, "MAX_NODES", 1000)
    lines = ["inputs: {x: 1}", "blocks:"]
    for k in range(12):  # 2**12 calls if nothing counted them before inlining
        lines += [f"  b{k}:", "    args: [a]", f"    graph: {{o: b{k + 1}(a) + b{k + 1}(a)}}"]
    lines += ["  b12:", "    args: [a]", "    graph: {o: a * 2}", "graph:", "  f: b0(x)"]
    with pytest.raises(GraphstepError, match="more than 1,000 nodes"):
        graphstep.load("\n".join(lines) + "\n")


def test_a_block_never_called_is_checked_too() -> None:
    text = "inputs: {x: [1, 2]}\nblocks:\n  unused:\n    args: [v]\n    graph: {o: v * nope}\n"
    with pytest.raises(GraphstepError, match="undefined name 'nope' in block 'unused'") as info:
        graphstep.load(text + "graph:\n  f: sum(x)\n")
    assert (info.value.line, info.value.column) == (5, 20)


def test_a_shape_error_inside_a_block_names_the_call_that_caused_it() -> None:
    text = """
inputs: {x: [1, 2], m: [[1, 2], [3, 4], [5, 6]]}
blocks:
  lin:
    args: [v]
    graph: {o: sum(m @ v)}
graph:
  f: lin(x)
  g: lin(m)
  h: f + g
"""
    with pytest.raises(GraphstepError) as info:
        graphstep.load(text)
    assert info.value.message.endswith("inner dimensions 2 and 3 differ, in the call 'g' at line 9")
    assert (info.value.line, info.value.column) == (6, 20)
