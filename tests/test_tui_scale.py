"""The terminal UI on big graphs: the current node's neighbourhood first, the whole drawing
from a child process later, a node list that finds, previews and jumps.

The neighbourhood bound is lowered so that graphs of a few hundred nodes take the path of a
10,000-node one, and the whole layout is held back until a test lets it through, so what
the screen shows meanwhile is checked, not raced.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_tui import drive, graph_text, running, screen_text, settle
from textual.pilot import Pilot

import graphstep
from graphstep.drawing import diagram, folds
from graphstep.errors import GraphstepError
from graphstep.limits import NEIGHBOURHOOD_STEPS
from graphstep.render.layout import layout_of
from graphstep.render.raster import rasterize, rasterize_apart
from graphstep.scene import Look
from graphstep.tui import graph_view
from graphstep.tui.dialogs import FindScreen
from graphstep.tui.graph_view import GraphView
from graphstep.tui.node_list import NodeList, node_index

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from shapes import doubling_blocks_yaml, layered_nodes, shared_weight_yaml

NEAR = 20


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Neighbourhoods of NEAR boxes; the whole layout waits until the event is set."""
    gate = threading.Event()
    whole = graph_view.rasterize_apart

    def later(*args: Any) -> Any:
        if len(args) < 7:  # the whole drawing, not a neighbourhood (`only`)
            gate.wait(60)
        return whole(*args)

    monkeypatch.setattr(graph_view, "NEIGHBOURHOOD_PARTS", NEAR)
    monkeypatch.setattr(graph_view, "rasterize_apart", later)
    yield gate
    gate.set()


async def near_shown(pilot: Pilot) -> GraphView:
    view = pilot.app.query_one(GraphView)
    for _ in range(500):
        if view.laid is not None:
            break
        await pilot.pause(0.02)
    await pilot.pause()
    return view


def boxes(view: GraphView) -> set[str]:
    assert view.raster is not None
    return set(view.raster.boxes)


@drive
async def test_a_big_graph_opens_on_the_first_steps_neighbourhood(held: threading.Event) -> None:
    graph = graphstep.load(layered_nodes(300))
    app = graphstep.tui.GraphstepApp(graph)
    async with app.run_test(size=(110, 36)) as pilot:
        view = await near_shown(pilot)
        first = app.session.timeline.node_at(1)
        assert not view.whole
        assert first in boxes(view) and NEAR <= len(boxes(view)) <= NEAR + NEIGHBOURHOOD_STEPS + 1
        assert first is not None and f"╭─ {first} " in graph_text(pilot)
        note = f"around {first}: {len(boxes(view))} boxes of a graph of 299 nodes; laying out"
        assert note in screen_text(pilot)
        await pilot.press("n", "n")  # the keys work while the whole is laid out
        assert app.session.position == 2
        assert app.session.current.node in boxes(view)
        held.set()
        await settle(pilot)
        assert view.whole and len(boxes(view)) == 299
        assert "laying out the rest" not in screen_text(pilot)
        assert f"╭─ {app.session.current.node} " in graph_text(pilot)


@drive
async def test_a_step_out_of_the_neighbourhood_lays_out_the_one_around_it(
    held: threading.Event,
) -> None:
    graph = graphstep.load(layered_nodes(300))
    app = graphstep.tui.GraphstepApp(graph)
    async with app.run_test(size=(110, 36)) as pilot:
        await near_shown(pilot)
        await pilot.press("g", "2", "5", "0", "enter")
        far = app.session.current.node
        view = app.query_one(GraphView)
        for _ in range(500):
            if far in boxes(view):
                break
            await pilot.pause(0.02)
        await pilot.pause()  # the app's answer to LayoutReady: the note
        assert far in boxes(view) and not view.whole
        assert f"around {far}:" in screen_text(pilot)
        assert f"╭─ {far} " in graph_text(pilot)  # scrolled into view
        held.set()


@drive
async def test_the_next_neighbourhood_is_laid_out_before_a_step_leaves_the_one_shown(
    held: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = graphstep.load(layered_nodes(300))
    app = graphstep.tui.GraphstepApp(graph)
    recentred: list[str] = []
    recentre = GraphView._recentre

    def counted(view: GraphView, key: Any, centre: str) -> Any:
        recentred.append(centre)
        return recentre(view, key, centre)

    monkeypatch.setattr(GraphView, "_recentre", counted)
    async with app.run_test(size=(110, 36)) as pilot:
        view = await near_shown(pilot)
        for _ in range(3 * NEIGHBOURHOOD_STEPS):
            await pilot.press("n")
            current = app.session.current.node
            assert current in boxes(view), f"step {app.session.position} is not drawn yet"
            for _ in range(500):  # what was laid out ahead comes in
                if not view._centring:
                    break
                await pilot.pause(0.02)
            await pilot.pause()
        assert not view.whole
        assert 2 <= len(recentred) <= 4  # one per neighbourhood left, each around the cursor
        assert recentred[0] == app.session.timeline.node_at(
            NEIGHBOURHOOD_STEPS - graph_view.LOOK_AHEAD
        )
        held.set()


@drive
async def test_slash_lists_every_node_and_enter_jumps_to_its_step() -> None:
    graph = graphstep.load(layered_nodes(300))
    async with running(graph) as pilot:
        await pilot.press("slash")
        screen = pilot.app.screen
        assert isinstance(screen, FindScreen)
        assert "299 of 299" in screen_text(pilot)
        await pilot.press(*"a9_1")
        listed = screen.query_one(NodeList)
        names = [graph.order[k] for k in listed.rows]
        assert names[:2] == ["a9_1", "a9_10"] and set(names) == {
            n for n in graph.order if "a9_1" in n
        }
        assert pilot.app.selected == "a9_1"  # the graph follows the list as one types
        await pilot.press("down")
        assert pilot.app.selected == "a9_10"
        await pilot.press("enter")
        await settle(pilot)
        s = pilot.app.session
        assert pilot.app.selected == "a9_10"
        assert s.position == s.timeline.forward_index["a9_10"] > 200
        assert "╭─ a9_10 " in graph_text(pilot)


@drive
async def test_escape_leaves_the_node_list_where_one_was() -> None:
    async with running(graphstep.load(layered_nodes(100))) as pilot:
        await pilot.press("slash", *"a2_3")
        assert pilot.app.selected == "a2_3"
        await pilot.press("escape")
        assert pilot.app.selected is None and pilot.app.session.position == 0


@drive
async def test_finding_a_shared_weight_marks_its_copy_beside_every_use() -> None:
    graph = graphstep.load(shared_weight_yaml(12))
    async with running(graph) as pilot:
        await pilot.press("slash", "k", "enter")
        await settle(pilot)
        view = pilot.app.query_one(GraphView)
        assert pilot.app.selected == "k"
        assert view._marked == {"k"} | {f"k@a{i}" for i in range(1, 12)}
        assert pilot.app.session.position == 0  # a leaf has no step of its own


def test_the_node_index_matches_exact_then_prefix_then_inside() -> None:
    graph = graphstep.load(layered_nodes(10_000))
    index = node_index(graph, graph.session().timeline)
    found = [index.names[k] for k in index.matches("A1_2")]
    assert found == ["a1_2", "a1_20", "a1_21", "a1_22", "a1_23", "a1_24"]
    inside = [index.names[k] for k in index.matches("_24")]
    assert inside[:3] == ["a0_24", "a1_24", "a2_24"] and len(inside) == 399
    assert index.about[graph.order.index("a1_3")] == "mul: a0_3 * a0_4"
    assert index.steps[graph.order.index("a1_3")] == graph.session().timeline.forward_index["a1_3"]
    assert len(index.matches("")) == len(graph.order) == 9_999


@drive
async def test_x_on_a_collapsed_call_opens_it_and_the_layout_is_kept() -> None:
    graph = graphstep.load(doubling_blocks_yaml(3))
    async with running(graph) as pilot:
        view = pilot.app.query_one(GraphView)
        assert boxes(view) == {"x", "k", "f"}
        first = view.laid
        pilot.app.selected = "f"
        await pilot.press("x")
        await settle(pilot)
        assert "f" in {c.name for c in view.graph_layout.clusters}  # type: ignore[union-attr]
        assert {"x", "k", "f/p3", "f"} <= boxes(view)  # f's inner calls, collapsed
        await pilot.press("x")  # collapsed again: the first layout, at once, no worker
        assert view.laid is first and boxes(view) == {"x", "k", "f"}


STAGES = """
name: stages
inputs: {x: 0.5}
params: {w: 0.9}
blocks:
  layer:
    args: [v]
    graph:
      h: tanh(v * w)
  head:
    args: [v]
    graph:
      o: v * v
graph:
  l1: layer(x)
  l2: layer(l1)
  l3: layer(l2)
  l4: layer(l3)
  loss: head(l4)
output: loss
"""


def test_identical_consecutive_calls_make_one_run() -> None:
    graph = graphstep.load(STAGES)
    assert folds(graph, frozenset()) == {"l1": ("l1", "l2", "l3", "l4")}
    assert folds(graph, frozenset({"l1"})) == {"l2": ("l2", "l3", "l4")}
    d = diagram(graph, graph.trace(), folded=True)
    card = d.parts[d.ids["l1"]].card
    assert card.formula == "layer(x) × 4" and card.subtitle == "4 calls · 8 nodes"
    assert float(card.value) == pytest.approx(float(graph.trace().value("l4")))


@drive
async def test_f_folds_identical_consecutive_calls_into_one_box_times_n() -> None:
    async with running(graphstep.load(STAGES)) as pilot:
        view = pilot.app.query_one(GraphView)
        assert boxes(view) == {"x", "w", "l1", "l2", "l3", "l4", "loss"}
        await pilot.press("f")
        await settle(pilot)
        assert boxes(view) == {"x", "w", "l1", "loss"}
        assert "layer(x) × 4" in graph_text(pilot)
        await pilot.press("n", "n", "n")  # in the run's third call: its box is in sight,
        assert view.scene is not None and view.scene.current == "l1"
        assert view.scene.look_of("l1") is Look.PENDING  # its output (l4's) still unknown
        assert "= ?" in graph_text(pilot) and "0.276233" not in graph_text(pilot)
        await pilot.press("n")
        assert view.scene.look_of("l1") is Look.FORWARD  # the run's last call: its value
        assert graph_text(pilot).count("0.276233") == 3  # in the box, on both edges out
        await pilot.press("f")
        await settle(pilot)
        assert "l4" in boxes(view) and "× 4" not in graph_text(pilot)


@drive
async def test_selecting_a_node_inside_a_collapsed_call_lays_out_nothing_more(
    held: threading.Event,
) -> None:
    graph = graphstep.load(doubling_blocks_yaml(7))
    assert len(graph.nodes) > 2 * NEAR
    app = graphstep.tui.GraphstepApp(graph)
    async with app.run_test(size=(110, 36)) as pilot:
        view = await near_shown(pilot)
        hidden = next(n for n in graph.order if n.startswith("f/q7/"))
        app.selected = hidden
        await pilot.pause()
        assert view.shown_as(hidden) == "f" and "f" in boxes(view)
        assert not [w for w in app.workers if w.group == "near"]
        held.set()


@drive
async def test_a_click_on_one_copy_of_a_shared_weight_marks_every_copy() -> None:
    async with running(graphstep.load(shared_weight_yaml(12)), size=(110, 60)) as pilot:
        view = pilot.app.query_one(GraphView)
        assert view.raster is not None
        view.scroll_to_node("k@a3")
        await pilot.pause()
        box = view.raster.boxes["k@a3"]
        x = box.x + 2 - view.scroll_offset.x + view.indent
        y = box.y + 1 - view.scroll_offset.y
        await pilot.click(GraphView, offset=(x, y))
        assert pilot.app.selected == "k"
        assert view._marked == {"k"} | {f"k@a{i}" for i in range(1, 12)}


def test_a_raster_made_in_a_child_process_is_the_one_made_here() -> None:
    graph = graphstep.load(layered_nodes(100))
    trace = graph.trace()
    apart = rasterize_apart(graph, trace, frozenset(), {}, False, lambda: False)
    assert apart is not None
    d = diagram(graph, trace)
    laid = layout_of(d)
    here = rasterize(laid, d)
    assert len(apart.raster.rows) == len(here.rows) == here.height
    assert all(apart.raster.rows[y] == here.rows[y] for y in range(here.height))
    assert apart.raster.boxes == here.boxes and apart.fallback == laid.fallback == ""
    assert apart.layout.boxes == laid.boxes and apart.layout.edges == laid.edges


def test_a_cancelled_layout_kills_its_child_and_returns_nothing() -> None:
    graph = graphstep.load(layered_nodes(300))
    assert rasterize_apart(graph, graph.trace(), frozenset(), {}, False, lambda: True) is None


def test_an_error_in_the_child_process_is_raised_here(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = graphstep.load(layered_nodes(100))
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GraphstepError, match="Graphviz's 'dot' program was not found") as caught:
        rasterize_apart(graph, graph.trace(), frozenset(), {}, False, lambda: False)
    assert caught.value.hint is not None and "apt-get install graphviz" in caught.value.hint
