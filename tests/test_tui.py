"""The terminal UI, driven as a user drives it: keys and clicks through Textual's Pilot.

Each test starts the app headless on a small graph, waits for the layout
worker, presses keys and reads both the session and the screen's text.
"""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from textual._compositor import Compositor
from textual.geometry import Region
from textual.pilot import Pilot
from textual.scrollbar import ScrollBar
from textual.widget import Widget
from textual.widgets import Input

import graphstep
from graphstep.render.raster import Run
from graphstep.tui import GraphstepApp
from graphstep.tui.dialogs import FindScreen, GotoScreen, HelpScreen, SetInputScreen
from graphstep.tui.graph_view import GraphView
from graphstep.tui.heatmap import Plane, number_grid, pixel_grid
from graphstep.tui.inspector import Inspector
from graphstep.tui.key_bar import KeyBar
from graphstep.tui.line_view import LineView
from graphstep.tui.painted_rows import PaintedRows, _Piece
from graphstep.tui.timeline import TimelineView

CHAIN = """
name: chain-rule
inputs: {x: -2, y: 5, z: -4}
graph:
  q: x + y
  f: q * z
output: f
"""

POOL = """
name: pool-4x4
inputs:
  x: [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]
graph:
  m: maxpool(x, size=2)
  a: avgpool(x, size=2)
  loss: sum(m) + sum(a)
output: loss
"""

FIT = """
name: fit
inputs: {x: 2, y: 3}
params: {w: {value: 0.5}}
graph:
  d: w * x - y
  loss: d * d
output: loss
train: {lr: 0.05}
"""


def drive(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test on its own event loop (the project does not use pytest-asyncio)."""

    @functools.wraps(test)
    def run(*args: object, **kwargs: object) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


NAN = """
name: nan
inputs: {x: -1, y: 2}
graph:
  a: x * y
  b: log(a)
  c: b + y
output: c
"""


def chain_of(n: int) -> graphstep.Graph:
    """A long chain, taller than any screen: a0 → a1 → … → loss."""
    lines = ["name: long", "inputs: {a0: 0.5}", "graph:"]
    lines += [f"  a{i}: tanh(a{i - 1}) + a0" for i in range(1, n)]
    lines += [f"  loss: a{n - 1} * a{n - 1}", "output: loss"]
    return graphstep.load("\n".join(lines) + "\n")


@asynccontextmanager
async def running(
    graph: graphstep.Graph, size: tuple[int, int] = (110, 36), **options: object
) -> AsyncIterator[Pilot]:
    app = GraphstepApp(graph, **options)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        yield pilot


async def settle(pilot: Pilot) -> None:
    """Let the workers (layout, export) finish and the screen catch up."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def screen_text(pilot: Pilot) -> str:
    """The whole screen as plain text, as the user sees it (Textual's own screenshot path)."""
    app = pilot.app
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def graph_text(pilot: Pilot) -> str:
    view = pilot.app.query_one(GraphView)
    return "\n".join(view.render_line(y).text for y in range(view.size.height))


def session(pilot: Pilot) -> graphstep.session.Session:
    return pilot.app.session


# -- every binding changes the session as it should


@drive
async def test_n_and_right_arrow_step_forward() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("n")
        assert session(pilot).position == 1
        await pilot.press("right")
        assert session(pilot).position == 2
        assert session(pilot).current.node == "f"


@drive
async def test_p_and_left_arrow_step_back() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("n", "n", "n")
        await pilot.press("p")
        assert session(pilot).position == 2
        await pilot.press("left")
        assert session(pilot).position == 1


@drive
async def test_s_steps_into_a_pool_window_by_window_and_o_steps_out() -> None:
    async with running(graphstep.load(POOL)) as pilot:
        await pilot.press("n", "s")
        assert (session(pilot).position, session(pilot).inner) == (1, 0)
        await pilot.press("n")
        assert session(pilot).inner == 1
        await pilot.press("o")
        assert (session(pilot).position, session(pilot).inner) == (1, None)


@drive
async def test_c_continues_to_a_breakpoint_and_shift_c_reverses() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        pilot.app.selected = "f"
        await pilot.press("b")
        assert [bp.node for bp in session(pilot).breakpoints] == ["f"]
        pilot.app.selected = None
        await pilot.press("c")
        assert session(pilot).position == 2  # f, forward
        await pilot.press("c")
        assert session(pilot).position == 3  # f, backward: ∂f/∂f
        await pilot.press("C")
        assert session(pilot).position == 2


@drive
async def test_c_without_breakpoints_runs_to_the_end_of_each_phase() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("c")
        assert session(pilot).position == session(pilot).timeline.n_forward
        await pilot.press("c")
        assert session(pilot).at_end
        await pilot.press("C")
        assert session(pilot).position == session(pilot).timeline.n_forward + 1


@drive
async def test_c_stops_at_the_anomaly_and_the_status_bar_names_it() -> None:
    async with running(graphstep.load(NAN)) as pilot:
        assert "'b' first produced a non-finite value (nan)" in screen_text(pilot)
        await pilot.press("c")
        assert session(pilot).current.node == "b"
        assert session(pilot).position < session(pilot).timeline.n_forward


@drive
async def test_b_toggles_a_breakpoint_and_marks_it_in_graph_and_timeline() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("n")  # the current node, q, is the target
        await pilot.press("b")
        assert [bp.node for bp in session(pilot).breakpoints] == ["q"]
        await settle(pilot)
        assert "●─ q" in graph_text(pilot)
        assert pilot.app.query_one(TimelineView).render_line(1).text.startswith("●")
        await pilot.press("b")
        assert session(pilot).breakpoints == ()


@drive
async def test_g_goes_to_the_step_typed() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("g")
        assert isinstance(pilot.app.screen, GotoScreen)
        await pilot.press("5", "enter")
        assert session(pilot).position == 5
        assert not isinstance(pilot.app.screen, GotoScreen)


@drive
async def test_g_refuses_a_step_that_does_not_exist() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("g", "9", "9", "enter")
        assert isinstance(pilot.app.screen, GotoScreen)
        await pilot.press("escape")
        assert session(pilot).position == 0


@drive
async def test_slash_finds_a_node_and_selects_it() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("slash")
        assert isinstance(pilot.app.screen, FindScreen)
        await pilot.press("z", "enter")
        assert pilot.app.selected == "z"
        await pilot.press("b")
        assert [bp.node for bp in session(pilot).breakpoints] == ["z"]


@drive
async def test_x_expands_a_pool_into_its_windows_and_collapses_it() -> None:
    async with running(graphstep.load(POOL)) as pilot:
        pilot.app.selected = "m"
        await pilot.press("x")
        await settle(pilot)
        assert pilot.app.expanded == {"m"}
        view = pilot.app.query_one(GraphView)
        assert view.graph_layout is not None
        assert [c.name for c in view.graph_layout.clusters] == ["m"]
        assert "m/m[0,1]" in view.graph_layout.boxes
        assert "╭─ m[0,1] ─" in "\n".join(
            "".join(run.text for run in row) for row in pilot.app.query_one(GraphView).raster.rows
        )
        await pilot.press("x")
        await settle(pilot)
        assert pilot.app.expanded == frozenset()
        assert view.graph_layout.clusters == ()


BLOCKS = """
name: blocks
inputs: {r1: [1, 2], r2: [3, 4]}
params: {w: [0.5, -1]}
blocks:
  lin:
    args: [v]
    graph: {h: w * v, out: sum(tanh(h))}
graph:
  f1: lin(r1)
  f2: lin(r2)
  loss: f1 + f2
output: loss
"""


@drive
async def test_a_block_call_is_one_box_until_x_expands_it_into_a_frame() -> None:
    async with running(graphstep.load(BLOCKS)) as pilot:
        view = pilot.app.query_one(GraphView)
        assert view.graph_layout is not None
        assert "f1/h" not in view.graph_layout.boxes and "f1" in view.graph_layout.boxes
        assert "lin(r1)" in graph_text(pilot) or "lin(r1)" in screen_text(pilot)
        await pilot.press("n", "s")
        await settle(pilot)
        assert session(pilot).current.node == "f1/h"
        assert view.scene is not None
        assert view.scene.current == "f1"  # the call's box is the current one
        assert view.scene.look_of("f1").state == "current"
        await pilot.press("x")
        await settle(pilot)
        assert pilot.app.expanded == {"f1"}
        assert [c.name for c in view.graph_layout.clusters] == ["f1"]
        assert {"f1/h", "f1.1", "f1"} <= set(view.graph_layout.boxes)
        assert view.scene.current == "f1/h"
        assert view.scene.look_of("f1/h").state == "current"
        assert view.scene.look_of("f1.1").state == "pending"


SLIDING = """
name: sliding
inputs: {x: {shape: [1, 10, 10], init: arange}}
params: {w: {shape: [1, 1, 3, 3], init: ones}}
graph:
  c: conv2d(x, w)
  loss: sum(c)
"""


@drive
async def test_an_expanded_conv_follows_the_window_into_the_next_region() -> None:
    async with running(graphstep.load(SLIDING)) as pilot:
        view = pilot.app.query_one(GraphView)
        await pilot.press("n", "s", "x")
        await settle(pilot)
        assert "c/c[0,0,0]" in view.graph_layout.boxes
        assert "c/c[0,0,4]" not in view.graph_layout.boxes
        await pilot.press(*"nnnn")  # window [0,0,4]: past the first 4×4 region
        await settle(pilot)
        assert session(pilot).current.window == (0, 0, 4)
        assert "c/c[0,0,4]" in view.graph_layout.boxes
        assert "c/c[0,0,0]" not in view.graph_layout.boxes
        assert view.scene is not None and view.scene.current == "c/c[0,0,4]"
        await pilot.press("p")  # back into the first region
        await settle(pilot)
        assert "c/c[0,0,3]" in view.graph_layout.boxes


@drive
async def test_x_on_a_node_that_is_not_a_composite_changes_nothing() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("n", "x")
        assert pilot.app.expanded == frozenset()


@drive
async def test_e_exports_the_current_step_as_svg(tmp_path: Path) -> None:
    async with running(graphstep.load(CHAIN), export_dir=tmp_path) as pilot:
        await pilot.press("n", "e")
        await settle(pilot)
        svg = (tmp_path / "chain-rule-step001.svg").read_text()
        assert "<svg" in svg


@drive
async def test_shift_e_exports_every_step(tmp_path: Path) -> None:
    async with running(graphstep.load(CHAIN), export_dir=tmp_path) as pilot:
        await pilot.press("E")
        await settle(pilot)
        files = sorted(p.name for p in (tmp_path / "chain-rule-steps").glob("*.svg"))
        assert len(files) == len(session(pilot).timeline)
        assert files[0] == "000.svg"


@drive
async def test_i_sets_an_input_and_everything_is_recomputed() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        pilot.app.selected = "x"
        await pilot.press("i")
        assert isinstance(pilot.app.screen, SetInputScreen)
        box = pilot.app.screen.query_one(Input)
        assert box.value == "x = -2"
        box.value = "x = 1"
        await pilot.press("enter")
        await settle(pilot)
        assert float(session(pilot).trace.value("f")) == -24.0
        await pilot.press("c")
        assert "= -24" in graph_text(pilot)


@drive
async def test_i_with_a_bad_value_says_why_and_stays_open() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("i")
        pilot.app.screen.query_one(Input).value = "x = [1, 2]"
        await pilot.press("enter")
        assert isinstance(pilot.app.screen, SetInputScreen)
        assert "shape" in screen_text(pilot)
        await pilot.press("escape")
        assert float(session(pilot).trace.value("x")) == -2.0


@drive
async def test_t_takes_a_gradient_step_and_shows_the_loss_history() -> None:
    async with running(graphstep.load(FIT)) as pilot:
        before = session(pilot).trace.loss
        await pilot.press("t", "t")
        await settle(pilot)
        losses = session(pilot).losses
        assert len(losses) == 3
        assert losses[-1] < before
        assert f"loss {graphstep.format.number(losses[-1])}" in screen_text(pilot)


@drive
async def test_t_without_params_changes_nothing() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("t")
        assert session(pilot).losses == [-12.0]


@drive
async def test_question_mark_lists_every_key() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        text = screen_text(pilot)
        for words in ("step into", "reverse continue", "breakpoint", "export", "pan the graph"):
            assert words in text
        await pilot.press("escape")
        assert not isinstance(pilot.app.screen, HelpScreen)


@drive
async def test_q_quits() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not pilot.app.is_running


@drive
async def test_brackets_select_neighbouring_nodes_and_escape_clears() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("right_square_bracket")
        assert pilot.app.selected == "x"
        await pilot.press("right_square_bracket")
        assert pilot.app.selected == "y"
        await pilot.press("left_square_bracket")
        assert pilot.app.selected == "x"
        await pilot.press("escape")
        assert pilot.app.selected is None


# -- the screen shows the numbers at the right steps


@drive
async def test_chain_rule_shows_q_then_f_then_the_gradient_of_x() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        assert "= ?" in graph_text(pilot)  # q and f are not computed at the start
        assert "= 3" not in graph_text(pilot)
        await pilot.press("n")
        text = screen_text(pilot)
        assert "q = x + y = -2 + 5 = 3" in text
        assert "= 3" in graph_text(pilot)
        assert "= -12" not in graph_text(pilot)
        await pilot.press("n")
        assert "f = q * z = 3 * -4 = -12" in screen_text(pilot)
        assert "= -12" in graph_text(pilot)
        await pilot.press("g", "7", "enter")
        assert session(pilot).current.node == "x"
        text = screen_text(pilot)
        assert "∂f/∂x = ∂f/∂q · ∂(x + y)/∂x = -4 · 1 = -4" in text
        assert "backward step 7/7" in text


@drive
async def test_the_timeline_hides_numbers_of_steps_not_reached() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        timeline = pilot.app.query_one(TimelineView)
        assert timeline.render_line(1).text.rstrip().endswith("q = x + y")
        await pilot.press("n")
        assert timeline.render_line(1).text.rstrip().endswith("= 3")


@drive
async def test_stepping_into_pool_shows_the_window_and_its_values() -> None:
    async with running(graphstep.load(POOL)) as pilot:
        await pilot.press("n", "s")
        text = screen_text(pilot)
        assert "max(1, 1, 5, 6) = 6" in text
        assert "window [0,0]" in text
        await pilot.press("n")
        text = screen_text(pilot)
        assert "max(2, 4, 7, 8) = 8" in text
        assert "┃ 2   4 ┃" in text  # the window outlined in x
        assert "┃ 7   8 ┃" in text


@drive
async def test_stepping_into_avgpool_shows_the_means() -> None:
    async with running(graphstep.load(POOL)) as pilot:
        await pilot.press("n", "n", "s", "n")
        assert "mean(2, 4, 7, 8) = 5.25" in screen_text(pilot)


# -- mouse, panning, resizing, colours


@drive
async def test_clicking_a_node_selects_it() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        view = pilot.app.query_one(GraphView)
        raster = view.raster
        assert raster is not None
        box = raster.boxes["q"]
        offset = (box.x + view.indent + 2 - view.scroll_offset.x, box.y + 2 - view.scroll_offset.y)
        await pilot.click(GraphView, offset=offset)
        assert pilot.app.selected == "q"


@drive
async def test_clicking_a_window_of_an_expanded_pool_selects_the_pool() -> None:
    async with running(graphstep.load(POOL)) as pilot:
        pilot.app.selected = "m"
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("escape")
        view = pilot.app.query_one(GraphView)
        view.scroll_to_node("m/m[0,0]")
        await pilot.pause()
        box = view.raster.boxes["m/m[0,0]"]
        offset = (box.x + view.indent + 2 - view.scroll_offset.x, box.y + 2 - view.scroll_offset.y)
        await pilot.click(GraphView, offset=offset)
        assert pilot.app.selected == "m"


@drive
async def test_clicking_a_node_in_the_overview_selects_it_and_zooms_back() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        await pilot.press("z")
        view = pilot.app.query_one(GraphView)
        box = view.raster.boxes["f"]
        await pilot.click(GraphView, offset=(box.x + view.indent, box.y))
        assert pilot.app.selected == "f"
        assert not view.overview_mode


@drive
async def test_clicking_a_timeline_step_jumps_there() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        timeline = pilot.app.query_one(TimelineView)
        await pilot.click(TimelineView, offset=(10, 4 - timeline.scroll_offset.y))
        assert session(pilot).position == 4


@drive
async def test_the_key_bar_shows_the_focused_keys_and_a_click_presses_one() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        bar = pilot.app.query_one(KeyBar)
        line = screen_text(pilot).splitlines()[-1]
        assert line.startswith("n next p back s into o out c continue b break / find")
        assert line.rstrip().endswith("? help q quit")
        assert [key.display for key in bar.keys][:3] == ["n", "p", "s"]
        at = line.index("n next")
        await pilot.hover(KeyBar, offset=(at + 3, 0))
        assert bar.tooltip == "next step (→ too)"  # the binding's own tooltip
        await pilot.click(KeyBar, offset=(at + 3, 0))
        await pilot.click(KeyBar, offset=(at, 0))
        assert session(pilot).position == 2
        await pilot.click(KeyBar, offset=(at + len("n next"), 0))  # the gap between two keys
        assert session(pilot).position == 2
        pilot.app.query_one(TimelineView).focus()
        await pilot.pause()
        assert screen_text(pilot).splitlines()[-1].startswith("⏎ jump here n next")
        await pilot.click(KeyBar, offset=(0, 0))  # Enter: the timeline jumps to its cursor
        assert session(pilot).position == pilot.app.query_one(TimelineView).cursor == 2


@drive
async def test_the_key_bar_crops_a_narrow_line_and_a_hovered_key_keeps_its_colour() -> None:
    async with running(graphstep.load(CHAIN), size=(60, 20)) as pilot:
        line = screen_text(pilot).splitlines()[-1]
        assert line == "n next p back s into o out c continue b break / find x expan"
        bar = pilot.app.query_one(KeyBar)
        plain = bar.render()
        bar.hover = 4  # c continue
        lit = bar.render()
        at = plain.plain.index("c continue")
        assert lit.get_style_at_offset(pilot.app.console, at).color == (
            plain.get_style_at_offset(pilot.app.console, at).color
        )
        assert lit.get_style_at_offset(pilot.app.console, at).bgcolor != (
            plain.get_style_at_offset(pilot.app.console, at).bgcolor
        )
        await pilot.hover(KeyBar, offset=(line.index("x expan"), 0))
        assert bar.tooltip == "expand or collapse a conv or pool node"
        pilot.app.query_one(TimelineView).focus()
        await pilot.pause()
        await pilot.hover(KeyBar, offset=(0, 0))
        assert bar.keys[0].display == "⏎" and bar.tooltip is None  # no more than "jump here"


@drive
async def test_the_note_under_the_graph_wraps_to_the_graphs_column() -> None:
    note_text = "graphstep's own layered layout: 9,999 boxes are more than dot lays out in seconds"
    for size, lines in (((120, 40), 2), ((200, 50), 1)):
        async with running(graphstep.load(CHAIN), size=size) as pilot:
            view = pilot.app.query_one(GraphView)
            view.post_message(GraphView.LayoutReady(note_text))
            await pilot.pause()
            await pilot.pause()
            note = pilot.app.query_one("#layout-note")
            assert note.size.height == lines and note.size.width == view.outer_size.width
            shown = screen_text(pilot).splitlines()[note.region.y : note.region.bottom]
            assert " ".join(row[: note.size.width].strip() for row in shown) == note_text


@drive
async def test_a_resize_lays_out_for_the_new_size_and_keeps_the_step_in_sight() -> None:
    async with running(chain_of(40), size=(120, 40)) as pilot:
        for _ in range(6):
            await pilot.press("n")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        timeline = pilot.app.query_one(TimelineView)
        assert pilot.app.screen.has_class("narrow") and pilot.app.screen.has_class("short")
        assert timeline.outer_size.height == 5
        top, height = timeline.scroll_offset.y, timeline.scrollable_content_region.height
        assert top <= session(pilot).position < top + height
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert not pilot.app.screen.has_class("narrow") and timeline.outer_size.height == 8


@drive
async def test_page_down_on_the_timeline_passes_no_step_unseen() -> None:
    async with running(chain_of(40)) as pilot:
        timeline = pilot.app.query_one(TimelineView)
        timeline.focus()
        await pilot.press("home", "pagedown")
        height = timeline.scrollable_content_region.height
        assert timeline.cursor == timeline.scroll_offset.y == height - 1
        await pilot.press("pagedown", "pageup")
        assert timeline.cursor == timeline.scroll_offset.y == height - 1


@drive
async def test_the_graph_keeps_the_focus_while_a_layout_is_made() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        view = pilot.app.query_one(GraphView)
        view.post_message(GraphView.LayoutStarted())
        await pilot.pause()
        assert pilot.app.focused is view and view._cover_widget is not None  # the spinner
        view.post_message(GraphView.LayoutReady(""))
        await pilot.pause()
        assert pilot.app.focused is view and view._cover_widget is None


@drive
async def test_a_step_repaints_nothing_on_the_bottom_line() -> None:
    """Not the key bar, and not a timeline row below the timeline's last (which it asked for
    when it refreshed its new line before scrolling to it)."""
    async with running(chain_of(40)) as pilot:
        compositor, bottom = pilot.app.screen._compositor, pilot.app.size.height - 1
        dirty: list[Region] = []
        rendered = []
        partial, render = Compositor.render_partial_update, KeyBar.render
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                Compositor,
                "render_partial_update",
                lambda self: dirty.extend(self._dirty_regions) or partial(self),
            )
            patch.setattr(KeyBar, "render", lambda self: rendered.append(1) or render(self))
            for key in "n" * 30 + "p" * 10:
                await pilot.press(key)
        timeline = pilot.app.query_one(TimelineView)
        assert session(pilot).position == 20 and timeline.scroll_offset.y > 0  # it scrolled
        assert dirty and compositor is pilot.app.screen._compositor
        assert max(region.bottom for region in dirty) <= bottom
        assert rendered == []


@drive
async def test_enter_on_the_timeline_jumps_to_its_cursor() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        pilot.app.query_one(TimelineView).focus()
        await pilot.press("down", "down", "enter")
        assert session(pilot).position == 2


@drive
async def test_a_large_graph_pans_with_h_j_k_l_and_has_an_overview() -> None:
    async with running(chain_of(30), size=(80, 24)) as pilot:
        view = pilot.app.query_one(GraphView)
        start = view.scroll_offset.y
        await pilot.press("j", "j")
        assert view.scroll_offset.y == start + 6
        await pilot.press("k")
        assert view.scroll_offset.y == start + 3
        await pilot.press("z")
        assert view.overview_mode
        assert "a15" in graph_text(pilot) or "█" in graph_text(pilot)
        await pilot.press("z")
        assert not view.overview_mode


@drive
async def test_stepping_scrolls_the_current_node_into_view() -> None:
    async with running(chain_of(30), size=(80, 24)) as pilot:
        await pilot.press("g", "5", "0", "enter")
        await pilot.pause()
        assert session(pilot).current.node == "a25"
        assert "─ a25 " in graph_text(pilot)


@drive
async def test_resizing_to_60_by_20_does_not_crash() -> None:
    async with running(graphstep.load(POOL)) as pilot:
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        await pilot.press("n", "s", "n", "o", "n")
        await pilot.pause()
        assert pilot.app.size == (60, 20)
        assert "step 2/11" in screen_text(pilot)


@drive
async def test_no_color_keeps_the_screen_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    async with running(graphstep.load(CHAIN)) as pilot:
        assert pilot.app.no_color
        await pilot.press("n")
        assert "q = x + y = -2 + 5 = 3" in screen_text(pilot)


# -- a step repaints only what changed


def painted(pilot: Pilot) -> str:
    """The screen as last painted, styles included: each widget's lines as they were drawn
    (Textual keeps them until a refresh marks them dirty)."""
    width, height = pilot.app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        record=True,
        force_terminal=True,
        color_system="truecolor",
    )
    console.print(pilot.app.screen._compositor.render_update(full=True))
    return console.export_text(styles=True)


POOL_KEYS = [*"nnnnnsnnox", "right_square_bracket", "b", *"nnn", "escape", *"ppppppppp", "C"]
# steps that scroll, jumps back over lines the timeline has drawn, panning, the overview
LONG_KEYS = [*"nnnnnnnn", "g", "2", "enter", "g", "5", "0", "enter", *"ppp", "l", "j", "z"]


@pytest.mark.parametrize(
    ("make", "size", "keys"),
    [
        pytest.param(lambda: graphstep.load(POOL), (100, 32), POOL_KEYS, id="pool"),
        pytest.param(lambda: chain_of(30), (80, 24), LONG_KEYS, id="long-chain"),
    ],
)
@drive
async def test_every_step_paints_the_screen_a_whole_repaint_would(
    make: Callable[[], graphstep.Graph], size: tuple[int, int], keys: list[str]
) -> None:
    async with running(make(), size=size) as pilot:
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
            shown = painted(pilot)
            for widget in pilot.app.screen.query("*"):
                widget.refresh()
            await pilot.pause()
            assert painted(pilot) == shown, f"stale lines after {key}"
            for view in pilot.app.query(LineView):
                for bar in (view.vertical_scrollbar, view.horizontal_scrollbar):
                    ours = bar.render_lines(bar.size.region)
                    bar._styles_cache.clear()  # Textual's own scrollbar, drawn afresh
                    assert ours == ScrollBar.render_lines(bar, bar.size.region), key


@drive
async def test_a_step_repaints_the_rows_of_the_graph_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        view = pilot.app.query_one(GraphView)
        repainted: list[int] = []
        restyled: list[Run | None] = []
        refresh_rows, restyle = LineView.refresh_rows, PaintedRows._restyle

        def counted(self: LineView, rows: Iterable[int]) -> None:
            rows = list(rows)
            if self is view:
                repainted.extend(rows)
            refresh_rows(self, rows)

        def styled(self: PaintedRows, piece: _Piece, c: int) -> None:
            restyled.extend(piece.runs[i] for i in piece.stale)
            restyle(self, piece, c)

        monkeypatch.setattr(LineView, "refresh_rows", counted)
        monkeypatch.setattr(PaintedRows, "_restyle", styled)
        offset = view.scroll_offset
        await pilot.press("n")  # q is computed: its box and the edges into it change
        await pilot.pause()
        assert view.scroll_offset == offset
        assert view.raster is not None
        rows = {y + offset.y for y in repainted}
        q, x = view.raster.boxes["q"], view.raster.boxes["x"]
        assert set(range(q.y, q.bottom)) <= rows  # q: current now
        assert not rows & set(range(x.y, x.bottom))  # x: computed before and after
        assert len(repainted) == 15 < view.size.height == 26  # q, its edges in and out
        owners = {run.owner for run in restyled if run is not None}
        assert "q" in owners and "x" not in owners  # of those rows, only what changed
        assert len(restyled) < sum(len(view.raster.rows[y + offset.y]) for y in repainted)


@pytest.mark.parametrize("no_color", [False, True])
@drive
async def test_the_graphs_rows_are_what_textuals_styling_of_each_line_gives(
    monkeypatch: pytest.MonkeyPatch, no_color: bool
) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    async with running(chain_of(30), size=(80, 24)) as pilot:
        view = pilot.app.query_one(GraphView)
        for keys in ([], ["n"] * 9, ["tab"], ["l", "l", "j"], ["p"] * 4, ["b"]):
            await pilot.press(*keys)
            await settle(pilot)
            region = view.size.region
            ours = view.render_lines(region)
            view._styles_cache.clear()
            theirs = Widget.render_lines(view, region)  # each line through Textual's styling
            assert [line.simplify() for line in ours] == [line.simplify() for line in theirs]
            assert len({line.cell_length for line in ours}) == 1
            assert sum(line.text.strip() != "" for line in ours) > 5  # boxes, not blank rows


@drive
async def test_a_click_on_the_graphs_scrollbar_below_its_thumb_scrolls_a_page() -> None:
    async with running(chain_of(30), size=(80, 24)) as pilot:
        view = pilot.app.query_one(GraphView)
        bar = view.vertical_scrollbar
        assert view.scroll_offset.y == 0 and bar.size.height == 16
        await pilot.click(bar, offset=(0, 14))
        await pilot.pause()
        assert view.scroll_offset.y == 16


@drive
async def test_the_inspector_keeps_a_steps_lines_until_the_values_change() -> None:
    async with running(graphstep.load(CHAIN)) as pilot:
        inspector = pilot.app.query_one(Inspector)

        def shown() -> str:
            return "\n".join(inspector.render_line(y).text for y in range(inspector.size.height))

        await pilot.press("n")
        first = shown()
        assert "q = x + y = -2 + 5 = 3" in first
        await pilot.press("n", "p")  # back at step 1: its lines as kept
        assert shown() == first
        assert pilot.app.set_input("x", "3") is None  # new values: step 1 reads them
        await settle(pilot)
        assert "q = x + y = 3 + 5 = 8" in shown()


# -- heatmaps


def test_a_small_tensor_is_numbers_with_the_window_outlined() -> None:
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)
    lines = [s.text for s in number_grid(Plane("", x, (slice(2, 4), slice(2, 4))))]
    assert lines[0].startswith("  1   1   2   4")
    assert lines[2] == "        ┏━━━━━━━┓"
    assert lines[3] == "  3   2 ┃ 1   0 ┃"
    assert lines[5] == "        ┗━━━━━━━┛"


def test_a_large_tensor_is_half_block_pixels_cropped_around_the_window() -> None:
    image = np.arange(64 * 64, dtype=float).reshape(64, 64)
    lines = pixel_grid(Plane("", image, (slice(40, 45), slice(50, 55))), width=30)
    assert len(lines) <= 12
    assert all(s.cell_length <= 30 for s in lines)
    assert {"▀", "▄"} & set("".join(s.text for s in lines))
