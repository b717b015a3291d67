"""A hostile graph file in the terminal UI: its name is shown, never obeyed.

Textual markup in a name must read literally in a notification (no live
`@click` link), control characters must be written out, and the export keys
must write plain file names into the chosen directory, whatever the name says.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from test_tui import drive, settle  # the pilot helpers of the TUI's own tests
from textual.pilot import Pilot
from textual.widgets._toast import Toast

import graphstep
from graphstep import format as fmt
from graphstep.tui import GraphstepApp
from graphstep.tui.app import run_tui

MARKUP = "[@click=app.quit]quit[/]"


def named(name: str, params: bool = False) -> graphstep.Graph:
    leaves = "params: {w: 2}\n" if params else "inputs: {x: 2}\n"
    body = "w * w" if params else "x * x"
    return graphstep.load(f"name: {json.dumps(name)}\n{leaves}graph:\n  f: {body}\n")


@asynccontextmanager
async def running(graph: graphstep.Graph, **options: object) -> AsyncIterator[Pilot]:
    app = GraphstepApp(graph, **options)
    async with app.run_test(size=(110, 36), notifications=True) as pilot:
        await settle(pilot)
        yield pilot


@drive
async def test_markup_in_a_name_reads_literally_in_a_notification() -> None:
    async with running(named(MARKUP)) as pilot:
        await pilot.press("t")  # "NAME has no params to train"
        await settle(pilot)
        toasts = list(pilot.app.screen.query(Toast))
        assert toasts, "the notification is shown"
        content = toasts[-1].render()
        assert f"{MARKUP} has no params to train" in str(content)
        spans = getattr(content, "spans", [])
        assert not any("@click" in str(getattr(span, "style", "")) for span in spans)
        notes = list(pilot.app._notifications)
        assert notes and not notes[-1].markup
        await pilot.click(Toast)
        await settle(pilot)
        assert pilot.app.is_running, "clicking the name does not quit the app"


@drive
async def test_control_characters_in_a_name_are_written_out_in_the_ui() -> None:
    async with running(named("evil\x1b]0;title\x07")) as pilot:
        await pilot.press("t")
        await settle(pilot)
        message = list(pilot.app._notifications)[-1].message
        assert message == "evil\\x1b]0;title\\x07 has no params to train"


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("../escape", "_escape"),
        ("/elsewhere/x", "_elsewhere_x"),
        ("..", "graph"),
        ("", "graph"),
        ("a\x1bb c", "a_b_c"),
        ("chain-rule", "chain-rule"),
    ],
)
def test_a_graph_name_becomes_a_plain_file_name(name: str, stem: str) -> None:
    assert fmt.file_stem(name) == stem


@drive
async def test_export_keys_write_inside_the_chosen_directory(tmp_path: Path) -> None:
    inside = tmp_path / "inside"
    inside.mkdir()
    victim = tmp_path / "victim-steps"
    victim.mkdir()
    (victim / "000.svg").write_text("keep me")
    async with running(named("../victim"), export_dir=inside) as pilot:
        await pilot.press("n", "e", "E")
        await settle(pilot)
    assert (victim / "000.svg").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inside", "victim-steps"]
    written = sorted(p.name for p in inside.iterdir())
    assert written == ["_victim-step001.svg", "_victim-steps"]
    assert len(list((inside / "_victim-steps").glob("*.svg"))) == 4


def test_the_tui_without_a_terminal_is_refused_at_once() -> None:
    with pytest.raises(graphstep.GraphstepError, match="the terminal UI needs a terminal"):
        run_tui(named("x"))  # pytest's stdin is not a terminal
