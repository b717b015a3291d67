"""Layouts that scale: shared leaves as stubs, edge labels as xlabels, the layered fallback."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

import graphstep
from graphstep import drawing
from graphstep.drawing import STUB_USES, diagram
from graphstep.render import layout as layout_module
from graphstep.render.dot import XLABEL_WIRES, to_dot
from graphstep.render.layout import layered, layout

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from shapes import doubling_blocks_yaml, layered_nodes, shared_weight_yaml


def test_a_weight_read_by_many_is_drawn_beside_each_use() -> None:
    graph = graphstep.load(shared_weight_yaml(12))
    d = diagram(graph, None, numbers=False)
    names = sorted(p.name for p in d.parts.values() if p.source == "k")
    assert names == sorted(["k"] + [f"k@a{i}" for i in range(1, 12)])
    assert all(p.card.title == "k" for p in d.parts.values() if p.source == "k")
    tails = {(w.tail_name, w.head_name) for w in d.wires if w.tail_name.startswith("k")}
    assert tails == {("k", "a0")} | {(f"k@a{i}", f"a{i}") for i in range(1, 12)}
    # the stubs' edges weigh nothing, so the chain stays straight with the stubs beside it
    assert to_dot(d).count('weight="0"') == 12
    laid = layout(graph)
    assert {laid.boxes[f"a{i}"].center[0] for i in range(12)} == {laid.boxes["a0"].center[0]}
    assert laid.stubs == {f"k@a{i}": "k" for i in range(1, 12)}
    assert set(laid.stubs) < set(laid.boxes)


def test_a_leaf_read_by_a_few_is_drawn_once() -> None:
    graph = graphstep.load(shared_weight_yaml(STUB_USES))
    d = diagram(graph, None, numbers=False)
    assert [p.name for p in d.parts.values() if p.source == "k"] == ["k"]
    assert 'weight="0"' not in to_dot(d)


def test_many_edges_carry_xlabels_that_the_layout_reads() -> None:
    graph = graphstep.load(shared_weight_yaml(XLABEL_WIRES))
    d = diagram(graph, None, numbers=False)
    source = to_dot(d)
    assert len(d.wires) > XLABEL_WIRES
    assert source.count("xlabel=<") == len(d.wires) and source.count(" label=<") == len(d.parts)
    laid = layout(graph)
    assert all(e.label is not None for e in laid.edges)
    small = to_dot(diagram(graphstep.load(shared_weight_yaml(10)), None, numbers=False))
    assert "xlabel" not in small


def test_shared_weight_chain_of_500_lays_out_with_dot() -> None:
    laid = layout(graphstep.load(shared_weight_yaml(500)))
    assert laid.fallback == ""
    assert len(laid.boxes) == 1001  # x, 500 products, k beside each
    assert laid.width < 1000  # a column with stubs beside it, not a staircase


def test_a_graph_too_big_for_dot_gets_the_layered_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout_module, "DOT_PARTS", 500)
    layout_module._cache.clear()
    graph = graphstep.load(layered_nodes(1000))
    laid = layout(graph)
    assert "own layered layout" in laid.fallback and "999 boxes" in laid.fallback
    assert len(laid.boxes) == len(graph.nodes) and len(laid.edges) == graph.dag.number_of_edges()
    # every edge runs down, from its tail's layer to a lower one, and no two boxes overlap
    for e in laid.edges:
        assert laid.boxes[e.tail].y + laid.boxes[e.tail].height < laid.boxes[e.head].y
    by_row: dict[float, list[tuple[float, float]]] = {}
    for b in laid.boxes.values():
        by_row.setdefault(b.y + b.height / 2, []).append((b.x, b.x + b.width))
    for row in by_row.values():
        row.sort()
        assert all(a[1] < b[0] for a, b in itertools.pairwise(row))
    assert laid.width < 25 * 300  # 25 wide: the layers do not drift sideways


def test_dot_past_its_budget_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout_module, "DOT_BUDGET", 0.001)
    layout_module._cache.clear()
    laid = layout(graphstep.load(layered_nodes(200)), rankdir="LR")
    assert laid.fallback.endswith("dot took more than 0 s")
    assert laid.rankdir == "LR"
    for e in laid.edges:  # left to right
        assert laid.boxes[e.tail].x + laid.boxes[e.tail].width < laid.boxes[e.head].x


def test_leaves_sit_one_layer_above_their_first_reader() -> None:
    graph = graphstep.load("inputs: {x: 1, y: 2}\ngraph:\n  a: x * 2\n  b: a * 3\n  c: b * y\n")
    laid = layered(diagram(graph, None, numbers=False), "TB", "test")
    assert laid.boxes["y"].center[1] == laid.boxes["b"].center[1]  # y is read by c, below b
    assert laid.boxes["x"].center[1] < laid.boxes["a"].center[1] < laid.boxes["b"].center[1]


def test_parents_of_8192_block_calls_are_the_enclosing_calls() -> None:
    graph = graphstep.load(doubling_blocks_yaml(13))
    parents = drawing._parents(graph)
    assert len(parents) == 8192
    assert parents["f"] is None
    assert parents["f/p13"] == "f"
    assert parents["f/p13/p12"] == "f/p13"
    laid = layout(graph, expanded=["f", "f/p13"])
    assert sorted(c.name for c in laid.clusters) == ["f", "f/p13"]


def test_export_warns_before_a_long_wait_for_dot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from graphstep import cli

    path = tmp_path / "chain.yaml"
    path.write_text(shared_weight_yaml(30))
    monkeypatch.setattr(layout_module, "DOT_PARTS", 50)
    assert cli.main(["export", str(path), "-o", str(tmp_path / "out.svg")]) == 0
    err = capsys.readouterr().err
    assert err == (
        "graphstep: 61 boxes: Graphviz's dot may take minutes to lay them out "
        "(it is stopped after 300 s); the terminal UI lays out any size at once\n"
    )
    monkeypatch.setattr(layout_module, "DOT_PARTS", 4000)
    assert cli.main(["export", str(path), "-o", str(tmp_path / "out.svg")]) == 0
    assert capsys.readouterr().err == ""


def test_a_neighbourhood_reads_the_whole_graph_once_and_draws_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    graph = graphstep.load(layered_nodes(600))
    trace = graphstep.Trace.compute(graph)
    walks: list[str] = []
    shown_as = drawing.shown_as

    def counted(*args: object, **kwargs: object) -> dict[str, str]:
        walks.append("shown_as")
        return shown_as(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(drawing, "shown_as", counted)
    drawn = []
    for seed in ("a3_0", "a10_7", "a20_24"):
        only = drawing.neighbourhood(graph, frozenset(), False, [seed], 30)
        assert seed in only and len(only) == 31
        drawn.append(diagram(graph, trace, only=only))
    assert walks == ["shown_as"]  # the whole graph's tables, made once for the three
    drawing._kept_tables.clear()  # made afresh: the same drawings
    for before, seed in zip(drawn, ("a3_0", "a10_7", "a20_24"), strict=True):
        again = diagram(
            graph, trace, only=drawing.neighbourhood(graph, frozenset(), False, [seed], 30)
        )
        assert again.parts == before.parts and again.wires == before.wires
        assert again.ids == before.ids
    other = graphstep.load(layered_nodes(100))  # another graph: its own tables
    assert "a20_24" not in diagram(other, only={"a1_0"}).ids
