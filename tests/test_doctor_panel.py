"""The TUI's doctor panel, driven through Textual's Pilot: d opens it, Enter jumps."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from textual.widgets import OptionList

import graphstep
from graphstep.steps import Phase
from graphstep.tui import GraphstepApp
from graphstep.tui.doctor_panel import DoctorScreen

DEAD = """
name: dead
inputs: {x: 1.5, y: 2}
params: {w: -1, v: 3}
graph:
  u: relu(w * x)
  f: 2 * u + v * y
output: f
"""


@dataclass
class Seen:
    app: GraphstepApp
    listed: list[str]  # the panel's lines, as shown
    open_after: bool  # the panel is still up after the keys


def panel(keys: list[str]) -> Seen:
    async def drive() -> Seen:
        app = GraphstepApp(graphstep.load(DEAD))
        async with app.run_test(size=(110, 36)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("d")
            await pilot.pause()
            options = app.screen.query_one(OptionList)
            listed = [
                str(options.get_option_at_index(i).prompt) for i in range(options.option_count)
            ]
            await pilot.press(*keys)
            await pilot.pause()
            return Seen(app, listed, isinstance(app.screen, DoctorScreen))

    return asyncio.run(drive())


def test_d_lists_the_findings_worst_first() -> None:
    seen = panel([])
    assert [line.splitlines()[0] for line in seen.listed] == [
        "warning zero-grad w · step 10",
        "warning dead u · step 2",
    ]
    assert seen.listed[1].splitlines()[1] == (
        "  dead ReLU: 1 of 1 unit has input ≤ 0; no gradient passes it"
    )
    assert seen.open_after


def test_enter_jumps_to_the_node_and_its_step() -> None:
    seen = panel(["down", "enter"])
    session = seen.app.session
    assert not seen.open_after
    assert seen.app.selected == "u"
    assert session.position == session.timeline.forward_index["u"] == 2
    assert session.current.phase is Phase.FORWARD and session.current.node == "u"


def test_enter_on_a_zero_gradient_goes_to_where_it_is_cut() -> None:
    seen = panel(["enter"])
    session = seen.app.session
    assert seen.app.selected == "w"
    # where the chain rule multiplies ∂f/∂u = 2 by relu's 0: u.1's backward step
    assert session.position == session.timeline.backward_index["u.1"] == 10


def test_escape_closes_without_moving() -> None:
    seen = panel(["escape"])
    assert not seen.open_after
    assert seen.app.session.position == 0 and seen.app.selected is None
