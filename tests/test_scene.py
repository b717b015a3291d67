"""One scene per step: the SVG, the HTML player and the terminal show the same numbers and states.

The consistency tests read what each view emits — the SVG's elements, the
player's data, the terminal rasterizer's runs as shown — never the scene itself.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from player_data import drawn, page_data

import graphstep
from graphstep.drawing import Diagram, diagram
from graphstep.render import html as html_module
from graphstep.render.dot import GRAD_COLOR, VALUE_COLOR
from graphstep.render.layout import layout
from graphstep.render.raster import Ink, Raster, Role, rasterize, shown
from graphstep.render.svg import scene_at, stops, to_svg
from graphstep.scene import Flow, Scene, regions_at
from graphstep.session import NodeState

GRAPHS = Path(__file__).parent.parent / "graphs"
SVG = "{http://www.w3.org/2000/svg}"

Drawn = tuple[dict[str, str], set[tuple[str, str, str]]]  # node states; (wire, kind, text)


def load(name: str) -> graphstep.Graph:
    return graphstep.load(GRAPHS / f"{name}.yaml")


def read_svg(svg: str) -> Drawn:
    """The node states (`class="node grad"`) and edge numbers of an SVG, by name and wire id."""
    root = ET.fromstring(svg)
    states: dict[str, str] = {}
    labels: set[tuple[str, str, str]] = set()
    for g in root.iter(f"{SVG}g"):
        kind, *state = (g.get("class") or "").split()
        if kind == "node" and state:
            title = g.find(f"{SVG}title")
            assert title is not None and title.text is not None
            states[title.text] = state[0]
        elif kind == "edge":
            for text in g.iter(f"{SVG}text"):
                fill = {VALUE_COLOR: "value", GRAD_COLOR: "grad"}.get(text.get("fill") or "")
                if fill is not None and text.text:
                    labels.add((g.get("id") or "", fill, text.text))
    return states, labels


def read_player(page: str) -> Iterator[Drawn]:
    """Each step of a player page, drawn as the player draws it: the pieces its codes choose."""
    data = page_data(page)
    for body in drawn(data):
        opening = data["open"].replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1)
        yield read_svg(opening + data["head"] + body + "</g></svg>")


def read_terminal(raster: Raster, scene: Scene) -> tuple[Drawn, set[str]]:
    """What the terminal shows in a scene: each box's state (its name's ink), each edge label
    that is not masked; and the wires the raster had room to label."""
    states: dict[str, str] = {}
    labels: set[tuple[str, str, str]] = set()
    room: set[str] = set()
    for row in raster.rows:
        for run in row:
            text, ink = shown(run, scene)
            if run.role is Role.NAME:
                assert isinstance(ink, NodeState)
                states[run.owner] = str(ink)
            elif run.role in (Role.EDGE_VALUE, Role.EDGE_GRAD):
                room.add(run.owner)
                kind = "value" if run.role is Role.EDGE_VALUE else "grad"
                if ink is not Ink.MASKED and text.strip():
                    labels.add((run.owner, kind, text.strip()))
    return (states, labels), room


def terminal(graph: graphstep.Graph, s: graphstep.Session, expanded: frozenset[str]) -> Raster:
    """The terminal's raster, made as the TUI's worker makes it."""
    regions = regions_at(s.timeline, s.current, expanded)
    laid = layout(graph, expanded, trace=s.trace, regions=regions)
    return rasterize(laid, terminal_diagram(s, expanded))


def terminal_diagram(s: graphstep.Session, expanded: frozenset[str]) -> Diagram:
    return diagram(s.graph, s.trace, expanded)


CASES = [
    *(
        pytest.param(path.stem, frozenset(), id=path.stem)
        for path in sorted(GRAPHS.glob("*.yaml"))
        if path.stem != "fc_vs_conv"  # its 1.6 billion weights are refused: see below
    ),
    pytest.param("pool_4x4", frozenset({"m", "a"}), id="pool_4x4-expanded"),
    pytest.param("conv_32x32x3", frozenset({"maps"}), id="conv_32x32x3-expanded"),
]


@pytest.mark.parametrize(("name", "expanded"), CASES)
def test_svg_player_and_terminal_show_the_same_numbers_and_states(
    name: str, expanded: frozenset[str]
) -> None:
    graph = load(name)
    s = graph.session()
    pics, scenes, _ = stops(s, expanded, into=True)
    player = list(read_player(html_module.page(pics, scenes)))
    d = terminal_diagram(s, expanded)
    raster = terminal(graph, s, expanded)
    labelled_somewhere = set()
    assert len(scenes) == len(player) > 1
    for scene, from_player in zip(scenes, player, strict=True):
        from_svg = read_svg(pics.svg(scene))
        assert from_player == from_svg, scene.caption
        (states, labels), room = read_terminal(raster, Scene(d, s.timeline, *_at(scene)))
        svg_states, svg_labels = from_svg
        assert svg_states and svg_states == {n: states[n] for n in svg_states}, scene.caption
        assert labels == {label for label in svg_labels if label[0] in room}, scene.caption
        labelled_somewhere |= {label[0] for label in svg_labels}
    assert labelled_somewhere, "no edge carries a number"
    if expanded:
        assert any(scene.inner is not None for scene in scenes)


def _at(scene: Scene) -> tuple[int, int | None]:
    return scene.position, scene.inner


def test_a_graph_too_big_to_trace_is_refused_by_every_view() -> None:
    graph = load("fc_vs_conv")
    with pytest.raises(graphstep.GraphstepError, match="1,600,000,000 numbers"):
        to_svg(graph)
    with pytest.raises(graphstep.GraphstepError, match="1,600,000,000 numbers"):
        graph.session()


def test_chain_rule_step_4_shows_minus_four_on_q_to_f_only_in_svg_and_terminal() -> None:
    """Step 4 is backward q: ∂f/∂q = ∂f/∂f · ∂f/∂q = 1 · z = -4. Its explanation reads the edge
    q → f, whose term it sums: the -4 appears there, and nowhere else yet."""
    graph = load("chain_rule")
    s = graph.session()
    s.goto(4)
    assert s.current.text == "∂f/∂q = ∂f/∂f · ∂(q * z)/∂q = 1 · z = 1 · -4 = -4"
    pics, scene = scene_at(s)
    states, labels = read_svg(pics.svg(scene))
    wire = {(w.tail_name, w.head_name): w.id for w in pics.diagram.wires}
    grads = {(w, text) for w, kind, text in labels if kind == "grad"}
    assert grads == {(wire["q", "f"], "-4")}
    values = {(w, text) for w, kind, text in labels if kind == "value"}
    assert values == {
        (wire["x", "q"], "-2"),
        (wire["y", "q"], "5"),
        (wire["z", "f"], "-4"),
        (wire["q", "f"], "3"),
    }
    assert states == {
        "x": "computed",
        "y": "computed",
        "z": "computed",
        "q": "current",
        "f": "grad",
    }
    raster = terminal(graph, s, frozenset())
    d = terminal_diagram(s, frozenset())
    (t_states, t_labels), room = read_terminal(raster, Scene(d, s.timeline, 4))
    assert room == set(wire.values())  # every edge of the chain rule has its label drawn
    assert (t_states, t_labels) == (states, labels)
    # and the step's emphasis: the edge its explanation reads, and no other
    flows = Scene(d, s.timeline, 4).flows()
    assert [w for w, f in flows.items() if f.active] == [wire["q", "f"]]
    assert flows[wire["q", "f"]] is Flow.GRAD_ACTIVE


def test_a_node_inside_a_collapsed_block_call_shows_as_the_call_being_current() -> None:
    graph = graphstep.load(
        "name: blocks\ninputs: {r1: [1, 2]}\nparams: {W: [[1, 0], [0, 1]]}\n"
        "blocks:\n  lin: {args: [v], graph: {h: W @ v, o: relu(h)}, output: o}\n"
        "graph: {f1: lin(r1), loss: sum(f1)}\noutput: loss\n"
    )
    s = graph.session()
    s.step()
    s.step_into()
    pics, scene = scene_at(s)
    assert s.current.node == "f1/h" and scene.current == "f1"
    states, _ = read_svg(pics.svg(scene))
    assert states["f1"] == "current" and states["loss"] == "pending"


@pytest.mark.parametrize("name", ["chain_rule", "mlp_3_4_2", "pool_4x4", "rcnn"])
def test_a_moves_delta_is_exactly_what_changed(name: str) -> None:
    s = load(name).session()
    pics, scene = scene_at(s, expanded={"m"} if name == "pool_4x4" else ())
    moves = [s.step_into] * 40 + [s.back] * 7 + [s.step_over] * 3 + [lambda: s.goto(2)]
    moves += [s.step_into] * 30
    for move in moves:
        move()
        after = pics.scene(s.position, s.inner)
        delta = after.delta(scene)
        looks_before, looks_after = scene.looks(), after.looks()
        flows_before, flows_after = scene.flows(), after.flows()
        assert dict(delta.looks) == {
            k: v for k, v in looks_after.items() if looks_before[k] is not v
        }, after.caption
        assert dict(delta.flows) == {
            k: v for k, v in flows_after.items() if flows_before[k] is not v
        }, after.caption
        scene = after


def test_one_step_changes_a_few_parts_however_big_the_graph() -> None:
    s = load("rcnn").session()
    _, scene = scene_at(s)
    for _ in range(len(s.timeline) - 1):
        after = scene.moved(scene.position + 1)
        delta = after.delta(scene)
        assert len(delta.looks) <= 2 * len(s.timeline.members(after.position)) + 2
        scene = after


def test_an_edge_out_of_an_expanded_composite_follows_the_whole_output() -> None:
    """Its value is complete at the last window; its gradient is known before the windows
    share it out, so it stays on through the backward windows."""
    s = load("pool_4x4").session()
    pics, _ = scene_at(s, expanded={"m"})
    (wire,) = [w for w in pics.diagram.wires if w.ltail is not None]
    assert (wire.tail_name, wire.head_name) == ("m", "loss.1")
    forward = [pics.scene(1, k).flow(wire.id) for k in range(4)]
    assert forward == [Flow.PENDING] * 3 + [Flow.VALUE]
    assert pics.scene(1).flow(wire.id) is Flow.VALUE
    backward_step = s.timeline.backward_index["m"]
    backward = [pics.scene(backward_step, k).flow(wire.id) for k in range(4)]
    assert backward == [Flow.GRAD_ACTIVE] * 4
    _, labels = read_svg(pics.svg(pics.scene(backward_step, 1)))
    assert (wire.id, "grad", "‖·‖ 2") in labels  # ‖[[1, 1], [1, 1]]‖
