"""Pictures: the DOT of a graph, its one layout, and its SVG at every step."""

from __future__ import annotations

import itertools
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import graphstep
from graphstep.composite import Region
from graphstep.drawing import diagram, fit
from graphstep.graph import Graph
from graphstep.render import GraphvizMissing, Layout, to_svg
from graphstep.render import layout as layout_module
from graphstep.render import svg as svg_module
from graphstep.render.dot import GRAD_COLOR, PENS, VALUE_COLOR, Sentinel, escape, to_dot
from graphstep.render.layout import layout
from graphstep.render.svg import NORM_LEGEND, Pictures, pictures
from graphstep.scene import Look, regions_at
from graphstep.session import NodeState

GRAPHS = Path(__file__).parent.parent / "graphs"
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "x\"];<script>alert('&')</script>"


def load(name: str) -> Graph:
    return graphstep.load(GRAPHS / f"{name}.yaml")


def texts(svg: str) -> list[str]:
    """Every text of an SVG, parsed as XML (which fails on anything malformed)."""
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def colored(svg: str, color: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text") if t.get("fill") == color]


def renamed(graph: Graph, old: str, new: str) -> Graph:
    """The same graph with node `old` called `new`, a name no graph file could give."""

    def swap(name: str) -> str:
        return new if name == old else name

    nodes = {
        swap(n): node._replace(name=swap(node.name), inputs=tuple(swap(i) for i in node.inputs))
        for n, node in graph.nodes.items()
    }
    leaves = {swap(n): leaf._replace(name=swap(n)) for n, leaf in graph.leaves.items()}
    return Graph(
        name=graph.name,
        description=graph.description,
        file=graph.file,
        output=swap(graph.output),
        nodes=nodes,
        order=[swap(n) for n in graph.order],
        leaf_values={swap(n): v for n, v in graph.leaf_values.items()},
        train=graph.train,
        leaves=leaves,
    )


@pytest.fixture
def dot_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every Graphviz run, by its output formats."""
    runs: list[list[str]] = []
    real = layout_module._run

    def counted(source: str, formats: list[str], *options: str, **budget: float) -> bytes:
        runs.append(list(formats))
        return real(source, formats, *options, **budget)

    monkeypatch.setattr(layout_module, "_run", counted)
    svg_module._cache.clear()
    layout_module._cache.clear()
    return runs


# --- the chain rule, step by step ----------------------------------------------------------------


def test_chain_rule_every_step_parses_and_differs_from_the_one_before() -> None:
    s = load("chain_rule").session()
    pictures_ = [to_svg(s, step=i) for i in range(len(s.timeline))]
    for svg in pictures_:
        ET.fromstring(svg)
    for before, after in itertools.pairwise(pictures_):
        assert before != after  # every step changes some node's state


def test_chain_rule_start_shows_only_the_leaves() -> None:
    svg = to_svg(load("chain_rule"), step=0)
    values = colored(svg, VALUE_COLOR)
    assert {"-2", "5", "-4"} <= set(values)
    assert "3" not in values and "-12" not in values  # q and f are pending
    assert colored(svg, GRAD_COLOR) == []


def test_chain_rule_last_step_shows_the_seeds_numbers() -> None:
    svg = to_svg(load("chain_rule"))
    values, grads = colored(svg, VALUE_COLOR), colored(svg, GRAD_COLOR)
    assert {"-2", "5", "-4", "3", "-12"} <= set(values)
    # ∂f/∂q = ∂f/∂x = ∂f/∂y = -4, ∂f/∂z = 3, ∂f/∂f = 1, on nodes and edges alike
    assert grads.count("-4") >= 3 + 3 and "3" in grads and "1" in grads
    assert {"∂f/∂x =", "∂f/∂q =", "∂f/∂z ="} <= set(grads)
    assert "7/7 backward x: ∂f/∂x = ∂f/∂q · ∂(x + y)/∂x = -4 · 1 = -4" in texts(svg)


def test_a_gradient_appears_on_its_edge_at_its_tails_backward_step() -> None:
    g = load("chain_rule")
    pics = pictures(g)
    q_step = pics.timeline.backward_index["q"]
    edge = next(w for w in pics.diagram.wires if (w.tail_name, w.head_name) == ("q", "f"))

    def edge_grads(step: int) -> list[str]:
        root = ET.fromstring(pics.svg(pics.scene(step)))
        group = next(e for e in root.iter(f"{SVG}g") if e.get("id") == edge.id)
        return [t.text or "" for t in group.iter(f"{SVG}text") if t.get("fill") == GRAD_COLOR]

    assert edge_grads(q_step - 1) == []
    assert edge_grads(q_step) == ["-4"]


def test_looks_agree_with_the_sessions_node_states_at_every_step() -> None:
    expected = {
        NodeState.PENDING: {Look.PENDING},
        NodeState.CURRENT: {Look.FORWARD, Look.BACKWARD},
        NodeState.COMPUTED: {Look.COMPUTED},
        NodeState.GRAD: {Look.GRAD},
    }
    for name in ("chain_rule", "mlp_3_4_2", "pool_4x4"):
        s = load(name).session()
        pics = pictures(s)
        for i in range(len(s.timeline)):
            s.goto(i)
            looks = pics.scene(i).looks()
            for pid, part in pics.diagram.parts.items():
                assert looks[pid] in expected[s.state(part.name)], (name, i, part.name)


def test_a_step_into_a_composite_marks_the_windows_done_current_and_pending() -> None:
    s = load("pool_4x4").session()
    s.step()
    s.step_into()
    s.step_into()  # the second window of m, [0,1]
    pics = pictures(s, expanded={"m"})
    looks = pics.scene(s.position, s.inner).looks()
    by_name = {p.name: looks[pid] for pid, p in pics.diagram.parts.items()}
    assert by_name["m/m[0,0]"] == Look.COMPUTED
    assert by_name["m/m[0,1]"] == Look.FORWARD
    assert by_name["m/m[1,0]"] == Look.PENDING
    svg = to_svg(s, expanded={"m"})
    assert "maxpool window [0,1]: max(2, 4, 7, 8) = 8" in " ".join(texts(svg))


def test_node_looks_are_drawn_in_their_own_fill_and_line_style() -> None:
    pens = list(PENS.values())
    fills = {p.fill for p in pens if p is not PENS[Look.BACKWARD]}
    assert len(fills) == 4  # pending, current, computed, gradient known
    styles = {(p.width, p.dashed) for p in pens if p is not PENS[Look.BACKWARD]}
    assert len(styles) == 4  # also apart in greyscale
    svg = to_svg(load("chain_rule"), step=3)  # f's forward step: q computed, f current
    for look in (Look.COMPUTED, Look.FORWARD):
        assert PENS[look].svg() in svg
    assert Sentinel.FILL not in svg and Sentinel.VALUE not in svg


def test_expanded_pool_is_a_cluster_of_its_windows_and_pixels() -> None:
    svg = to_svg(load("pool_4x4"), expanded={"m"})
    root = ET.fromstring(svg)
    clusters = [g for g in root.iter(f"{SVG}g") if g.get("class") == "cluster"]
    assert len(clusters) == 1
    words = texts(svg)
    assert "m = maxpool(x): 4 of 4 windows" in words
    assert {"m[0,0] = max", "m[1,1] = max", "x[0,0]", "x[3,3]"} <= set(words)
    assert {"6", "8", "3", "4"} <= set(colored(svg, VALUE_COLOR))


def test_expanded_conv_shows_a_bounded_region_of_one_channel() -> None:
    g = load("conv_32x32x3")
    d = diagram(g, g.trace(), {"maps"})
    (frame,) = d.frames
    assert len(frame.parts) <= 40
    assert "16 of 4,704 windows, one output channel" in frame.label
    assert len(frame.rows) == 4 and all(len(windows) == 4 for _, windows in frame.rows)


def test_expanding_a_node_that_is_not_composite_is_refused() -> None:
    with pytest.raises(graphstep.GraphstepError, match="not a composite"):
        to_svg(load("chain_rule"), expanded={"q"})


def test_constants_are_drawn_small_and_carry_no_numbers() -> None:
    g = graphstep.parse("2 * x", x=3)
    d = diagram(g, g.trace())
    (const,) = [p for p in d.parts.values() if p.kind == "const"]
    assert const.card.title == "2" and not const.card.numbers
    svg = to_svg(g)
    assert "2" in texts(svg)


BLOCKS = """
inputs: {r1: [1, 2], r2: [3, 4]}
params: {w: [0.5, -1]}
blocks:
  inner:
    args: [v]
    graph: {s: sum(v * w)}
    output: s
  outer:
    args: [v]
    graph: {t: tanh(inner(v))}
    output: t
graph:
  f1: outer(r1)
  f2: outer(r2)
  loss: f1 + f2
output: loss
"""


def test_block_calls_are_one_node_until_expanded() -> None:
    g = graphstep.load(BLOCKS)
    source = to_dot(diagram(g))
    assert "cluster_b" not in source
    assert "f1 = outer(r1)" in source and "f2 = outer(r2)" in source
    assert layout(g).boxes.keys() == set(g.nodes) - set(g.groups["f1"]) - set(g.groups["f2"]) | {
        "f1",
        "f2",
    }
    # one wire per source into a collapsed call, carrying back the sum of what it carries
    wires = [w for w in diagram(g, g.trace()).wires if w.head_name == "f1"]
    assert [w.tail_name for w in wires] == ["r1", "w"]
    t = g.trace()
    np.testing.assert_allclose(wires[1].grad, t.contribution("f1.1.1", 1))


def test_expanded_block_calls_are_nested_clusters() -> None:
    g = graphstep.load(BLOCKS)
    expanded = frozenset({"f1", "f1.1", "f2"})
    root = ET.fromstring(to_svg(g, expanded=expanded))
    clusters = {
        "".join(t.itertext())
        for c in root.iter(f"{SVG}g")
        if c.get("class") == "cluster"
        for t in c.iter(f"{SVG}text")
    }
    assert {"f1", "f1.1", "f2"} <= clusters
    source = to_dot(diagram(g, expanded=expanded))
    outer = source.index("label=<f1>")
    assert source.index("label=<f1.1>") > outer  # inner(v) inside outer(r1)
    assert source.index("label=<f1.1>") < source.index("\n  }", outer)
    frames = {c.name: c for c in layout(g, expanded).clusters}
    assert set(frames) == {"f1", "f1.1", "f2"}
    assert set(frames["f1.1"].nodes) == {"f1.1.1", "f1.1"}


# --- escaping ------------------------------------------------------------------------------------


def test_escape_leaves_no_markup() -> None:
    assert escape('<b a="1">&\'') == "&lt;b a=&quot;1&quot;&gt;&amp;&#x27;"


def test_hostile_names_cannot_inject_into_dot_or_svg() -> None:
    g = renamed(graphstep.parse("(x + y) * z", x=-2, y=5, z=-4), "x", HOSTILE)
    g.name = g.description = HOSTILE
    source = to_dot(diagram(g, g.trace()))
    drawn = json.loads(
        subprocess.run(["dot", "-Tjson0"], input=source.encode(), capture_output=True).stdout
    )
    assert len(drawn["objects"]) == 5 and len(drawn["edges"]) == 4  # nothing added
    assert {o["id"] for o in drawn["objects"]} == {f"n{i}" for i in range(5)}
    svg = to_svg(g)
    root = ET.fromstring(svg)
    assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("script", "foreignObject")]
    assert HOSTILE in texts(svg)  # drawn, as text
    assert f"f.1 = {HOSTILE} + y" in texts(svg)
    assert root.find(f"{SVG}title").text == HOSTILE  # type: ignore[union-attr]


# --- layout --------------------------------------------------------------------------------------


def test_layout_boxes_every_node_top_left_in_points() -> None:
    g = load("chain_rule")
    result = layout(g)
    assert isinstance(result, Layout)
    assert set(result.boxes) == set(g.nodes)
    for box in result.boxes.values():
        assert box.x >= 0 and box.y >= 0 and box.width > 0 and box.height > 0
        assert box.x + box.width <= result.width + 0.01
        assert box.y + box.height <= result.height + 0.01
    # top to bottom: the inputs above q, q above f
    assert result.boxes["x"].y < result.boxes["q"].y < result.boxes["f"].y
    routes = {(e.tail, e.head, e.position) for e in result.edges}
    assert routes == {("x", "q", 0), ("y", "q", 1), ("q", "f", 0), ("z", "f", 1)}
    for edge in result.edges:
        assert len(edge.points) >= 4 and edge.label is not None


def test_left_to_right_layout_runs_left_to_right() -> None:
    result = layout(load("chain_rule"), rankdir="LR")
    assert result.boxes["x"].x < result.boxes["q"].x < result.boxes["f"].x


def test_x_times_x_has_two_routes() -> None:
    result = layout(graphstep.parse("x * x", x=3))
    assert sorted(e.position for e in result.edges) == [0, 1]


def test_layout_of_an_expanded_composite_has_its_cluster() -> None:
    result = layout(load("pool_4x4"), {"m"})
    (cluster,) = result.clusters
    assert cluster.name == "m" and "m/m[0,0]" in cluster.nodes
    assert "m" not in result.boxes and "m/x[0,0]" in result.boxes
    inner = cluster.box
    for name in cluster.nodes:
        box = result.boxes[name]
        assert inner.x <= box.x and box.x + box.width <= inner.x + inner.width + 0.01


def test_layout_does_not_depend_on_the_numbers() -> None:
    g = load("mlp_3_4_2")
    without = layout(g)
    layout_module._cache.clear()
    s = g.session()
    with_numbers = pictures(s).layout
    assert without.boxes == with_numbers.boxes


def test_layout_is_cached_per_graph_expansion_and_direction(dot_runs: list[list[str]]) -> None:
    g = load("pool_4x4")
    assert layout(g) is layout(g)
    assert layout(g, {"m"}) is layout(g, {"m"})
    assert layout(g, rankdir="LR") is not layout(g)
    assert len(dot_runs) == 3


def test_layout_is_computed_once_for_every_step(dot_runs: list[list[str]]) -> None:
    s = load("mlp_3_4_2").session()
    for i in range(len(s.timeline)):
        ET.fromstring(to_svg(s, step=i))
    while not s.at_end:
        s.step()
        to_svg(s)
    assert dot_runs == [["svg", "json0"]]
    layout(s.graph)  # the layout came with the pictures' one run
    assert len(dot_runs) == 1


def test_a_new_trace_draws_anew(dot_runs: list[list[str]]) -> None:
    s = load("chain_rule").session()
    to_svg(s)
    s.set_input("x", 10)
    svg = to_svg(s, step=len(s.timeline) - 1)
    assert "15" in colored(svg, VALUE_COLOR)  # q = 10 + 5
    assert len(dot_runs) == 2


def test_missing_graphviz_raises_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    layout_module._cache.clear()
    svg_module._cache.clear()
    with pytest.raises(GraphvizMissing) as caught:
        layout(load("chain_rule"))
    assert isinstance(caught.value, graphstep.GraphstepError)
    assert "apt-get install graphviz" in caught.value.hint
    assert "brew install graphviz" in caught.value.hint


def test_missing_graphviz_is_found_through_shutil_which(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout_module.shutil, "which", lambda name: None)
    svg_module._cache.clear()
    with pytest.raises(GraphvizMissing, match="'dot'"):
        to_svg(load("add"))


def test_a_graph_shows_itself_in_jupyter_as_svg() -> None:
    svg = load("chain_rule")._repr_svg_()
    assert svg is not None and "-12" in colored(svg, VALUE_COLOR)
    assert load("fc_vs_conv")._repr_svg_() is None  # too big to trace: Jupyter shows its repr


# --- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "chars", "text"),
    [(-4.0, 9, "-4"), (1 / 3, 9, "0.333333"), (-1 / 3, 7, "-0.3333"), (1.23456e-5, 9, "1.235e-05")],
)
def test_numbers_fit_their_cells(x: float, chars: int, text: str) -> None:
    assert fit(x, chars) == text


def test_pictures_of_one_trace_are_shared() -> None:
    s = load("add").session()
    assert pictures(s) is pictures(s)
    assert isinstance(pictures(s), Pictures)


SLIDING = """
inputs: {x: {shape: [1, 10, 10], init: arange}}
params: {w: {shape: [1, 1, 3, 3], init: ones}}
graph:
  c: conv2d(x, w)
  loss: sum(c)
"""


def test_an_expanded_conv_draws_the_region_of_the_window_being_stepped() -> None:
    s = graphstep.load(SLIDING).session()
    assert "c[0,0,0]" in to_svg(s, expanded=["c"])  # 64 windows: the top-left 4×4 by default
    s.step()
    s.step_into()
    for _ in range(20):
        s.step()
    assert s.current.window == (0, 2, 4)
    assert regions_at(s.timeline, s.current, ["c"]) == {"c": Region((0,), 0, 4, 4, 4)}
    svg = to_svg(s, expanded=["c"])
    assert "c[0,2,4]" in svg and "c[0,0,0]" not in svg
    assert texts(svg)[-2].startswith("1.21/")  # the caption: the inner step drawn
    assert texts(svg)[-1] == NORM_LEGEND  # the edges show norms
    frames = layout(s.graph, ["c"], regions=regions_at(s.timeline, s.current, ["c"])).clusters
    assert [c.name for c in frames] == ["c"]
    assert "c/c[0,3,7]" in frames[0].nodes


def test_graphstep_to_svg_draws_a_session_at_its_cursor() -> None:
    s = graphstep.load(GRAPHS / "chain_rule.yaml").session()
    s.goto(2)
    svg = graphstep.to_svg(s)
    assert "-12" in texts(svg)
    assert texts(svg)[-1].startswith("2/7 forward f: f = q * z = 3 * -4 = -12")
    assert s._repr_svg_() == svg
