"""The timeline: the seed's chain rule line by line, fan-out sums, and windows of conv and pool."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import graphstep
from graphstep import steps as steps_module
from graphstep.composite import Region, expansion, windows
from graphstep.format import number, tensor
from graphstep.steps import Phase, Timeline, transcript

GRAPHS = Path(__file__).parent.parent / "graphs"

CHAIN_RULE = [
    "1 forward q: q = x + y = -2 + 5 = 3",
    "2 forward f: f = q * z = 3 * -4 = -12",
    "3 backward f: ∂f/∂f = 1",
    "4 backward q: ∂f/∂q = ∂f/∂f · ∂(q * z)/∂q = 1 · z = 1 · -4 = -4",
    "5 backward z: ∂f/∂z = ∂f/∂f · ∂(q * z)/∂z = 1 · q = 1 · 3 = 3",
    "6 backward y: ∂f/∂y = ∂f/∂q · ∂(x + y)/∂y = -4 · 1 = -4",
    "7 backward x: ∂f/∂x = ∂f/∂q · ∂(x + y)/∂x = -4 · 1 = -4",
]


def timeline(name: str) -> Timeline:
    return Timeline(graphstep.load(GRAPHS / f"{name}.yaml").trace())


def inner_texts(t: Timeline, node: str, phase: Phase) -> list[str]:
    index = t.forward_index[node] if phase is Phase.FORWARD else t.backward_index[node]
    return [s.text for s in t.inner_steps(index)]


# --- the chain rule ------------------------------------------------------------------------------


def test_chain_rule_transcript_number_for_number() -> None:
    assert transcript(timeline("chain_rule")) == CHAIN_RULE


def test_chain_rule_backward_x_is_minus_four() -> None:
    step = timeline("chain_rule").steps[7]
    assert (step.index, step.phase, step.node) == (7, Phase.BACKWARD, "x")
    assert step.text == "∂f/∂x = ∂f/∂q · ∂(x + y)/∂x = -4 · 1 = -4"


def test_chain_rule_from_an_expression_gives_the_same_numbers() -> None:
    t = Timeline(graphstep.parse("(x + y) * z", x=-2, y=5, z=-4).trace())
    assert t.steps[len(t) - 1].text.endswith("= -4 · 1 = -4")
    assert t.steps[2].text.endswith("= 3 * -4 = -12")


def test_chain_rule_starts_with_only_the_leaves_known() -> None:
    start = timeline("chain_rule").steps[0]
    assert (start.index, start.phase, start.node) == (0, Phase.START, None)
    assert start.text == "the leaves are known: x = -2, y = 5, z = -4"


def test_chain_rule_indices_place_every_node() -> None:
    t = timeline("chain_rule")
    assert len(t) == 8
    assert t.forward_index == {"x": 0, "y": 0, "z": 0, "q": 1, "f": 2}
    assert t.backward_index == {"f": 3, "q": 4, "z": 5, "y": 6, "x": 7}
    assert [t.phase(i) for i in (0, 1, 2, 3, 7)] == [
        Phase.START,
        Phase.FORWARD,
        Phase.FORWARD,
        Phase.BACKWARD,
        Phase.BACKWARD,
    ]


def test_mul_local_gradient_is_the_other_input() -> None:
    assert transcript(timeline("mul"))[-2:] == [
        "3 backward y: ∂f/∂y = ∂f/∂f · ∂(x * y)/∂y = 1 · x = 1 · 3 = 3",
        "4 backward x: ∂f/∂x = ∂f/∂f · ∂(x * y)/∂x = 1 · y = 1 · -4 = -4",
    ]


def test_max_sends_the_whole_gradient_to_the_larger_input() -> None:
    lines = transcript(timeline("max"))
    assert lines[-2].endswith("= 1 · 0 = 0")  # y = 2 lost
    assert lines[-1].endswith("= 1 · 1 = 1")  # x = 4 won
    assert "⚠" not in lines[-1]


# --- fan-out and constants -----------------------------------------------------------------------


def test_fan_out_sums_every_use_of_x() -> None:
    t = Timeline(graphstep.parse("x * x + (x + x)", x=3).trace())
    last = t.steps[len(t) - 1]
    assert last.node == "x"
    assert last.text == (
        "∂f/∂x = ∂f/∂f.1 · ∂(x * x)/∂x + ∂f/∂f.1 · ∂(x * x)/∂x"
        " + ∂f/∂f.2 · ∂(x + x)/∂x + ∂f/∂f.2 · ∂(x + x)/∂x"
        " = 1 · x + 1 · x + 1 · 1 + 1 · 1 = 1 · 3 + 1 · 3 + 1 · 1 + 1 · 1 = 8"
    )


def test_fan_out_over_two_named_consumers_shows_their_sum() -> None:
    g = graphstep.load("inputs: {x: 2}\ngraph:\n  a: 3 * x\n  b: x ** 2\n  f: a + b\noutput: f\n")
    t = Timeline(g.trace())
    assert t.steps[len(t) - 1].text == (
        "∂f/∂x = ∂f/∂a · ∂(3 * x)/∂x + ∂f/∂b · ∂(x ** 2)/∂x = 1 · 3 + 1 · 2·x = 1 · 3 + 1 · 4 = 7"
    )


def test_constants_have_no_backward_step() -> None:
    g = graphstep.parse("2 * x", x=5)
    t = Timeline(g.trace())
    assert t.steps[1].text == "f = 2 * x = 2 * 5 = 10"
    assert list(t.backward_index) == ["f", "x"]


# --- non-differentiable points -------------------------------------------------------------------


def test_relu_at_zero_is_flagged_with_its_convention() -> None:
    t = Timeline(graphstep.parse("relu(x)", x=0).trace())
    step = t.steps[len(t) - 1]
    assert step.text.startswith("∂f/∂x = ∂f/∂f · ∂relu(x)/∂x = 1 · 1(x > 0) = 1 · 0 = 0")
    assert step.note == "relu at 0: relu'(0) = 0 by convention, as in torch"


def test_max_tie_splits_the_gradient_and_says_so() -> None:
    t = Timeline(graphstep.parse("max(x, y)", x=2, y=2).trace())
    step = t.steps[len(t) - 1]
    assert step.text.startswith(
        "∂f/∂x = ∂f/∂f · ∂max(x, y)/∂x = 1 · (1(x > y) + ½·1(x = y)) = 1 · 0.5"
    )
    assert "split 0.5 / 0.5" in (step.note or "")


def test_maxpool_tie_sends_the_gradient_to_the_first_maximum() -> None:
    g = graphstep.load("inputs:\n  x: [[1, 3], [3, 2]]\ngraph:\n  m: sum(maxpool(x))\noutput: m\n")
    trace = g.trace()
    t = Timeline(trace)
    pool = t.backward_index["m.1"]
    assert [s.text for s in t.inner_steps(pool)] == [
        "maxpool window [0,0]: ∂m/∂m.1[0,0] = 1 → x[0,1], the window's maximum (3); "
        "the other 3 get 0; a tie: the first maximum in row-major order gets it, as max_pool2d"
    ]
    np.testing.assert_array_equal(trace.grad("x"), [[0, 1], [0, 0]])
    assert "maxpool tie in 1 window" in (t.steps[t.backward_index["x"]].note or "")


def test_anomaly_is_named_at_the_step_that_first_produced_it() -> None:
    t = Timeline(graphstep.parse("log(x) * 2", x=-1).trace())
    assert t.steps[1].text.startswith("f.1 = log(x) = log(-1) = nan")
    assert t.steps[1].note == "the first non-finite value (nan): an anomaly"
    assert t.steps[2].note is None


# --- pool_4x4: window by window ------------------------------------------------------------------


def test_pool_4x4_maxpool_windows_give_6_8_3_4() -> None:
    t = timeline("pool_4x4")
    assert inner_texts(t, "m", Phase.FORWARD) == [
        "maxpool window [0,0]: max(1, 1, 5, 6) = 6",
        "maxpool window [0,1]: max(2, 4, 7, 8) = 8",
        "maxpool window [1,0]: max(3, 2, 1, 2) = 3",
        "maxpool window [1,1]: max(1, 0, 3, 4) = 4",
    ]
    assert [s.window for s in t.inner_steps(1)] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [s.inner for s in t.inner_steps(1)] == [0, 1, 2, 3]


def test_pool_4x4_avgpool_windows_give_3_25_5_25_2_2() -> None:
    assert inner_texts(timeline("pool_4x4"), "a", Phase.FORWARD) == [
        "avgpool window [0,0]: mean(1, 1, 5, 6) = 3.25",
        "avgpool window [0,1]: mean(2, 4, 7, 8) = 5.25",
        "avgpool window [1,0]: mean(3, 2, 1, 2) = 2",
        "avgpool window [1,1]: mean(1, 0, 3, 4) = 2",
    ]


def test_pool_4x4_backward_sends_maxpool_gradient_to_each_argmax() -> None:
    assert inner_texts(timeline("pool_4x4"), "m", Phase.BACKWARD) == [
        "maxpool window [0,0]: ∂loss/∂m[0,0] = 1 → x[1,1], the window's maximum (6); "
        "the other 3 get 0",
        "maxpool window [0,1]: ∂loss/∂m[0,1] = 1 → x[1,3], the window's maximum (8); "
        "the other 3 get 0",
        "maxpool window [1,0]: ∂loss/∂m[1,0] = 1 → x[2,0], the window's maximum (3); "
        "the other 3 get 0",
        "maxpool window [1,1]: ∂loss/∂m[1,1] = 1 → x[3,3], the window's maximum (4); "
        "the other 3 get 0",
    ]


def test_pool_4x4_backward_shares_avgpool_gradient_evenly() -> None:
    texts = inner_texts(timeline("pool_4x4"), "a", Phase.BACKWARD)
    assert (
        texts[1]
        == "avgpool window [0,1]: ∂loss/∂a[0,1] = 1 → 1/4 of it, 0.25, to each of x[0:2, 2:4]"
    )


def test_pool_4x4_transcript_into_lists_windows_under_their_step() -> None:
    lines = transcript(timeline("pool_4x4"), into=True)
    assert lines[:3] == [
        "1 forward m: m = maxpool(x) = [[6, 8], [3, 4]]",
        "  1.1 forward m: maxpool window [0,0]: max(1, 1, 5, 6) = 6",
        "  1.2 forward m: maxpool window [0,1]: max(2, 4, 7, 8) = 8",
    ]
    assert len(lines) == len(transcript(timeline("pool_4x4"))) + 16


def test_non_composite_steps_have_no_inner_steps() -> None:
    t = timeline("pool_4x4")
    assert len(t.inner_steps(0)) == 0
    assert len(t.inner_steps(t.forward_index["loss"])) == 0


# --- conv windows --------------------------------------------------------------------------------


def test_filters_edge_window_writes_out_its_dot_product() -> None:
    t = timeline("filters")
    wins = t.inner_steps(t.forward_index["response"])
    assert len(wins) == 2 * 4 * 4
    assert wins[2].window == (0, 0, 2)
    assert wins[2].text == (
        "conv2d window [0,0,2]: Wᵀx = -1·0 + 0·1 + 1·1 + -1·0 + 0·1 + 1·1 + -1·0 + 0·1 + 1·1 = 3"
    )
    assert wins[16 + 1].text.endswith("= 0.33")  # the box filter: mean brightness


def test_conv_32_window_shows_its_value_not_75_products() -> None:
    t = timeline("conv_32x32x3")
    trace = t.trace
    wins = t.inner_steps(1)
    assert len(wins) == 6 * 28 * 28 == 4704
    last = wins[4703]
    assert last.window == (5, 27, 27)
    value = number(trace.value("maps")[5, 27, 27])
    assert (
        last.text
        == f"conv2d window [5,27,27]: Wᵀx + b over image[:, 27:32, 27:32] (75 weights) = {value}"
    )


def test_conv_window_value_is_its_filter_times_its_patch_plus_bias() -> None:
    t = timeline("conv_32x32x3")
    trace = t.trace
    image, w, b = trace.value("image"), trace.value("w"), trace.value("b")
    expected = float(np.sum(w[3] * image[:, 10:15, 4:9]) + b[3])
    wins = windows(trace.graph, "maps")
    assert wins is not None
    np.testing.assert_allclose(wins.patch(image, (3, 10, 4)), image[:, 10:15, 4:9])
    assert t.inner_steps(1)[wins.ordinal((3, 10, 4))].text.endswith(f"= {number(expected)}")


def test_conv_inner_steps_build_only_the_windows_visited(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[int, ...]] = []
    real = steps_module.forward_text

    def counting(wins, trace, position):  # type: ignore[no-untyped-def]
        built.append(position)
        return real(wins, trace, position)

    monkeypatch.setattr(steps_module, "forward_text", counting)
    t = timeline("conv_32x32x3")
    wins = t.inner_steps(1)
    assert len(wins) == 4704
    assert built == []
    wins[100]
    wins[100]
    assert built == [(0, 3, 16)]


def test_padded_conv_window_reads_zeros_from_the_border() -> None:
    g = graphstep.load(
        "inputs:\n  x: [[[1, 2], [3, 4]]]\nparams:\n  w: {value: [[[[1, 1], [1, 1]]]]}\n"
        "graph:\n  c: conv2d(x, w, pad=1)\n  s: sum(c)\noutput: s\n"
    )
    t = Timeline(g.trace())
    first = t.inner_steps(1)[0]
    assert first.text == "conv2d window [0,0,0]: Wᵀx = 1·0 + 1·0 + 1·0 + 1·1 = 1"
    back = t.inner_steps(t.backward_index["c"])[0].text
    assert back == (
        "conv2d window [0,0,0]: ∂s/∂c[0,0,0] = 1 → x[:, 0:1, 0:1] += 1·w[0]; "
        "w[0] += 1·x[:, 0:1, 0:1]"
    )


def test_local2d_window_uses_the_filter_of_its_own_position() -> None:
    g = graphstep.load(
        "inputs:\n  x: [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]\n"
        "params:\n  w: {shape: [1, 2, 2, 1, 2, 2], init: arange}\n"
        "  b: {shape: [1, 2, 2], init: ones}\n"
        "graph:\n  y: local2d(x, w, b)\n  s: sum(y)\noutput: s\n"
    )
    trace = g.trace()
    t = Timeline(trace)
    step = t.inner_steps(1)[3]
    assert step.window == (0, 1, 1)
    assert step.text == "local2d window [0,1,1]: Wᵀx + b = 12·5 + 13·6 + 14·8 + 15·9 + 1 = 386"
    assert float(trace.value("y")[0, 1, 1]) == 386


# --- expansions ----------------------------------------------------------------------------------


def test_pool_4x4_expansion_draws_every_pixel_and_window() -> None:
    g = graphstep.load(GRAPHS / "pool_4x4.yaml")
    e = expansion(g, g.trace(), "m")
    assert e.total == 4
    assert e.windows == ((0, 0), (0, 1), (1, 0), (1, 1))
    assert e.graph.number_of_nodes() == 4 + 16
    assert e.graph.nodes["m[0,1]"]["label"] == "m[0,1]: max(2, 4, 7, 8) = 8"
    assert e.graph.nodes["m[0,1]"]["value"] == 8
    assert sorted(e.graph.predecessors("m[0,1]")) == ["x[0,2]", "x[0,3]", "x[1,2]", "x[1,3]"]
    assert e.graph.nodes["x[1,3]"]["grad"] == 1.25
    assert set(e.sources.values()) == {"x"}


def test_conv_32_expansion_is_bounded_and_movable() -> None:
    g = graphstep.load(GRAPHS / "conv_32x32x3.yaml")
    trace = g.trace()
    e = expansion(g, trace, "maps")
    assert e.total == 4704
    assert len(e.windows) == 16
    assert e.graph.number_of_nodes() <= 40
    assert {"w[0]", "b[0]", "image[:, 0:5, 0:5]"} <= set(e.graph.nodes)
    region = replace(e.region.moved(down=4, right=100), channel=(2,))
    moved = expansion(g, trace, "maps", region)
    assert moved.windows[0] == (2, 4, 24)
    assert moved.windows[-1] == (2, 7, 27)
    assert "w[2]" in moved.graph


def test_expansion_region_around_a_window_holds_it() -> None:
    g = graphstep.load(GRAPHS / "conv_32x32x3.yaml")
    wins = windows(g, "maps")
    assert wins is not None
    region = Region.around(wins, (1, 13, 6))
    assert (region.channel, region.top, region.left) == ((1,), 12, 4)
    e = expansion(g, g.trace(), "maps", region)
    assert (1, 13, 6) in e.windows
    assert e.window_node((1, 13, 6)) in e.graph


def test_expansion_of_a_plain_node_is_an_error() -> None:
    g = graphstep.load(GRAPHS / "pool_4x4.yaml")
    with pytest.raises(graphstep.GraphstepError, match="not a composite"):
        expansion(g, g.trace(), "loss")


# --- format --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-4.0, "-4"),
        (3.25, "3.25"),
        (1 / 3, "0.333333"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (float("-inf"), "-inf"),
        (-0.0, "0"),
        (1e-9, "1e-09"),
    ],
)
def test_numbers_read_as_a_hand_computation_would(value: float, text: str) -> None:
    assert number(value) == text


def test_tensors_print_numbers_when_small_and_shape_and_range_when_large() -> None:
    assert tensor(np.array([[6.0, 8.0], [3.0, 4.0]])) == "[[6, 8], [3, 4]]"
    assert tensor(np.float64(-12)) == "-12"
    big = np.arange(6 * 28 * 28, dtype=float).reshape(6, 28, 28) - 1
    assert tensor(big) == "[6×28×28] min -1 max 4702"
    big[0, 0, 0] = np.nan
    assert tensor(big) == "[6×28×28] min 0 max 4702 nan×1"
