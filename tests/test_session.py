"""The session: a cursor that steps, steps into windows, stops at breakpoints and recomputes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import graphstep
from graphstep.session import Breakpoint, NodeState, Session
from graphstep.steps import Phase
from graphstep.trace import Anomaly

GRAPHS = Path(__file__).parent.parent / "graphs"
SUMMARY_ONLY = {"fc_vs_conv"}  # far too big to run; `summary` counts it from shapes alone
RUNNABLE = sorted(p.stem for p in GRAPHS.glob("*.yaml") if p.stem not in SUMMARY_ONLY)


def session(name: str) -> Session:
    return graphstep.load(GRAPHS / f"{name}.yaml").session()


def where(s: Session) -> tuple[int, int | None]:
    return s.position, s.inner


# --- step and back -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RUNNABLE)
def test_step_and_back_undo_each_other_at_every_position(name: str) -> None:
    """Visit every position, windows included, and check both orders of step and back there."""
    s = session(name)
    visited = 0
    while True:
        here = where(s)
        if not s.at_end:
            s.step()
            s.back()
            assert where(s) == here
        if here != (0, None):
            s.back()
            s.step()
            assert where(s) == here
        visited += 1
        s.step_into()
        if where(s) == here:
            break
    windows = sum(len(s.timeline.inner_steps(i)) for i in range(len(s.timeline)))
    assert visited == len(s.timeline) + windows


def test_chain_rule_steps_through_seven_steps_and_back_to_the_start() -> None:
    s = session("chain_rule")
    texts = [s.step().text for _ in range(7)]
    assert texts[-1] == "∂f/∂x = ∂f/∂q · ∂(x + y)/∂x = -4 · 1 = -4"
    assert s.at_end
    assert s.step().index == 7  # nothing after the end
    assert s.back().index == 7  # back() undoes that step too: it is step()'s inverse
    for expected in range(6, -1, -1):
        assert s.back().index == expected
    assert s.back().index == 0


def test_back_after_leaving_a_composite_returns_to_its_last_window() -> None:
    s = session("pool_4x4")
    s.goto(1)
    s.step_into()
    for _ in range(3):
        s.step()
    assert where(s) == (1, 3)
    s.step()
    assert where(s) == (2, None)
    assert s.back().window == (1, 1)
    assert where(s) == (1, 3)


def test_back_from_the_first_window_leaves_to_the_composite_step() -> None:
    s = session("pool_4x4")
    s.goto(1)
    s.step_into()
    assert s.back() == s.timeline.steps[1]
    assert where(s) == (1, None)
    s.back()
    assert where(s) == (0, None)


# --- into, over, out -----------------------------------------------------------------------------


def test_step_into_a_composite_enters_its_first_window_and_step_walks_them() -> None:
    s = session("pool_4x4")
    s.step()
    first = s.step_into()
    assert (first.node, first.window, first.inner) == ("m", (0, 0), 0)
    assert first.text == "maxpool window [0,0]: max(1, 1, 5, 6) = 6"
    assert [s.step().window for _ in range(3)] == [(0, 1), (1, 0), (1, 1)]
    after = s.step()
    assert where(s) == (2, None)
    assert after.node == "a"


def test_step_into_a_plain_step_is_a_step() -> None:
    s = session("chain_rule")
    assert s.step_into().node == "q"
    assert s.step_into().node == "f"
    assert s.inner is None


def test_step_over_never_enters_a_composite() -> None:
    s = session("pool_4x4")
    nodes = [s.step_over().node for _ in range(4)]
    assert nodes == ["m", "a", "loss.1", "loss.2"]
    assert s.inner is None


def test_step_over_inside_a_composite_moves_window_to_window() -> None:
    s = session("pool_4x4")
    s.step()
    s.step_into()
    assert s.step_over().window == (0, 1)


def test_step_out_leaves_the_composite_for_its_own_step() -> None:
    s = session("pool_4x4")
    s.step()
    s.step_into()
    s.step()
    out = s.step_out()
    assert where(s) == (1, None)
    assert out.text == "m = maxpool(x) = [[6, 8], [3, 4]]"
    assert s.step_out() == out  # nothing to leave at the top level


def test_step_into_the_backward_of_a_pool_shows_where_the_gradient_goes() -> None:
    s = session("pool_4x4")
    s.goto(s.timeline.backward_index["m"])
    window = s.step_into()
    assert window.phase is Phase.BACKWARD
    assert "→ x[1,1], the window's maximum (6)" in window.text


def test_goto_jumps_to_a_top_level_step() -> None:
    s = session("chain_rule")
    assert s.goto(4).node == "q"
    assert s.goto(0).phase is Phase.START
    for bad in (-1, 8):
        with pytest.raises(graphstep.GraphstepError, match="no step"):
            s.goto(bad)


# --- node states ---------------------------------------------------------------------------------


def test_chain_rule_node_states_follow_the_cursor() -> None:
    s = session("chain_rule")
    states = {n: s.state(n) for n in "xyzqf"}
    assert states == {
        "x": "computed",
        "y": "computed",
        "z": "computed",
        "q": "pending",
        "f": "pending",
    }
    s.goto(1)
    assert (s.state("q"), s.state("f")) == (NodeState.CURRENT, NodeState.PENDING)
    s.goto(2)
    assert (s.state("q"), s.state("f")) == (NodeState.COMPUTED, NodeState.CURRENT)
    s.goto(4)
    assert [s.state(n) for n in "fqzyx"] == ["grad", "current", "computed", "computed", "computed"]
    s.goto(7)
    assert [s.state(n) for n in "fqzy"] == ["grad"] * 4
    assert s.state("x") is NodeState.CURRENT
    assert s.value_known("q") and s.grad_known("x")
    s.goto(6)
    assert not s.grad_known("x")


def test_state_of_an_unknown_node_is_an_error_with_a_hint() -> None:
    s = session("chain_rule")
    with pytest.raises(graphstep.GraphstepError) as e:
        s.state("qq")
    assert e.value.hint == "did you mean 'q'?"


# --- continue and breakpoints --------------------------------------------------------------------


def test_continue_runs_to_the_end_of_forward_then_of_backward() -> None:
    s = session("chain_rule")
    assert s.continue_().index == 2
    assert s.continue_().index == 7
    assert s.continue_().index == 7
    assert s.stopped_by is None


def test_reverse_continue_runs_to_the_first_backward_step_then_to_the_start() -> None:
    s = session("chain_rule")
    s.goto(7)
    assert s.reverse_continue().index == 3
    assert s.reverse_continue().index == 0


def test_plain_breakpoint_stops_in_both_phases() -> None:
    s = session("chain_rule")
    bp = s.add_breakpoint("q")
    assert [s.continue_().index for _ in range(4)] == [1, 2, 4, 7]
    assert s.breakpoints == (bp,)
    s.goto(7)
    assert s.reverse_continue().index == 4
    assert s.stopped_by == bp


def test_breakpoint_per_phase_stops_only_in_that_phase() -> None:
    s = session("chain_rule")
    s.add_breakpoint("q", phase="backward")
    assert [s.continue_().index for _ in range(3)] == [2, 4, 7]


def test_conditional_breakpoint_on_the_gradient() -> None:
    s = session("chain_rule")
    s.add_breakpoint("x", condition="abs(grad) > 3")
    s.add_breakpoint("y", condition="grad > 0")  # ∂f/∂y = -4: never
    assert [s.continue_().index for _ in range(2)] == [2, 7]
    assert isinstance(s.stopped_by, Breakpoint)
    assert s.stopped_by.node == "x"


def test_condition_on_grad_does_not_hold_in_the_forward_phase() -> None:
    s = session("chain_rule")
    s.add_breakpoint("q", condition="grad < 0")
    s.add_breakpoint("f", condition="value == -12 and not value > 0")
    assert [s.continue_().index for _ in range(3)] == [2, 3, 4]


def test_condition_on_a_tensor_holds_where_any_element_does() -> None:
    s = session("pool_4x4")
    s.add_breakpoint("m", phase="forward", condition="value > 7")
    s.add_breakpoint("a", phase="forward", condition="all(value > 2)")
    s.add_breakpoint("a", phase="forward", condition="max(value) - min(value) == 3.25")
    assert s.continue_().index == 1
    assert s.continue_().index == 2
    assert str(s.stopped_by) == "a (forward) if max(value) - min(value) == 3.25"


@pytest.mark.parametrize(
    ("condition", "column", "message"),
    [
        ("foo > 1", 1, "unknown name 'foo'"),
        ("value.real > 1", 1, "'Attribute' is not allowed"),
        ("abs(grad) > __import__('os')", 13, "this call is not allowed"),
        ("grad > ", 7, "bad condition"),
        ("grad > > 1", 8, "bad condition"),
        ("(lambda: 1)() > 0", 1, "this call is not allowed"),
        ("value > 'a'", 9, "the constant 'a' is not a number"),
        ("max(value, grad, 1) > 0", 1, "max() takes 1 or 2 arguments"),
        ("  value[0] > 1", 3, "'Subscript' is not allowed"),
    ],
)
def test_bad_condition_is_refused_with_its_column(
    condition: str, column: int, message: str
) -> None:
    s = session("chain_rule")
    with pytest.raises(graphstep.GraphstepError, match=re.escape(message)) as e:
        s.add_breakpoint("q", condition=condition)
    assert e.value.column == column
    assert s.breakpoints == ()


def test_breakpoint_on_an_unknown_node_or_phase_is_an_error() -> None:
    s = session("chain_rule")
    with pytest.raises(graphstep.GraphstepError, match="no node named 'w'"):
        s.add_breakpoint("w")
    with pytest.raises(graphstep.GraphstepError, match="'forward' or 'backward'"):
        s.add_breakpoint("q", phase="start")


def test_remove_and_toggle_breakpoints() -> None:
    s = session("chain_rule")
    s.add_breakpoint("q", phase="forward")
    s.add_breakpoint("q", phase="backward")
    assert s.remove_breakpoint("q", phase="forward") == 1
    assert [bp.phase for bp in s.breakpoints] == [Phase.BACKWARD]
    assert s.toggle_breakpoint("q") is False
    assert s.breakpoints == ()
    assert s.toggle_breakpoint("f") is True
    assert s.continue_().index == 2


# --- anomalies -----------------------------------------------------------------------------------


def test_continue_breaks_on_the_log_of_a_negative_number() -> None:
    s = graphstep.parse("log(x) * 2 + y", x=-1, y=3).session()
    step = s.continue_()
    assert (step.index, step.node) == (1, "f.1")
    assert isinstance(s.stopped_by, Anomaly)
    assert s.stopped_by.what == "nan"
    assert s.continue_().index == 3  # then on to the end of the forward phase


def test_anomaly_break_can_be_turned_off() -> None:
    s = graphstep.parse("log(x) * 2 + y", x=-1, y=3).session()
    s.break_on_anomaly = False
    assert s.continue_().index == 3


def test_no_anomaly_break_on_a_healthy_graph() -> None:
    s = graphstep.parse("log(x) * 2 + y", x=1, y=3).session()
    assert s.continue_().index == 3
    assert s.stopped_by is None


# --- watches -------------------------------------------------------------------------------------


def test_watches_show_numbers_once_they_are_known() -> None:
    s = session("chain_rule")
    s.watch("q")
    s.watch("abs(grad(x)) + q")
    assert s.watch_values() == {"q": None, "abs(grad(x)) + q": None}
    s.goto(1)
    assert float(s.watch_values()["q"]) == 3
    s.goto(7)
    assert float(s.watch_values()["abs(grad(x)) + q"]) == 7
    s.unwatch("q")
    assert [w.text for w in s.watches] == ["abs(grad(x)) + q"]


def test_bad_watch_is_refused() -> None:
    s = session("chain_rule")
    with pytest.raises(graphstep.GraphstepError, match="unknown name 'qq'") as e:
        s.watch("qq + 1")
    assert e.value.hint == "did you mean 'q'?"


# --- changing values -----------------------------------------------------------------------------


def test_set_input_keeps_the_cursor_and_changes_downstream_values() -> None:
    s = session("chain_rule")
    s.goto(2)
    step = s.set_input("x", 1)
    assert s.position == 2
    assert step.text == "f = q * z = 6 * -4 = -24"
    assert float(s.trace.value("q")) == 6
    assert float(s.trace.grad("z")) == 6
    assert s.version == 1


def test_set_input_keeps_the_cursor_inside_a_window() -> None:
    s = session("pool_4x4")
    s.step()
    s.step_into()
    s.step()
    grid = [[1, 1, 2, 4], [5, 6, 7, 9], [3, 2, 1, 0], [1, 2, 3, 4]]
    assert s.set_input("x", grid).text == "maxpool window [0,1]: max(2, 4, 7, 9) = 9"
    assert where(s) == (1, 1)


def test_set_input_refuses_a_name_that_is_not_a_leaf() -> None:
    s = session("chain_rule")
    with pytest.raises(graphstep.GraphstepError, match="not an input or a param"):
        s.set_input("q", 2)
    with pytest.raises(graphstep.GraphstepError, match="shape"):
        s.set_input("x", [1, 2])
    assert s.version == 0


def test_train_step_changes_only_params_and_keeps_the_cursor() -> None:
    s = session("mlp_3_4_2")
    s.goto(5)
    before = {n: s.trace.value(n).copy() for n in ("x", "y", "W1", "b2")}
    grad_w1 = s.trace.grad("W1").copy()
    loss = s.train_step(0.5)
    assert loss < s.losses[0]
    assert s.losses == [s.losses[0], loss]
    np.testing.assert_array_equal(s.trace.value("x"), before["x"])
    np.testing.assert_array_equal(s.trace.value("y"), before["y"])
    np.testing.assert_allclose(s.trace.value("W1"), before["W1"] - 0.5 * grad_w1)
    assert s.position == 5
    assert s.version == 1


def test_train_step_without_params_is_an_error() -> None:
    with pytest.raises(graphstep.GraphstepError, match="no params"):
        session("chain_rule").train_step(0.1)
