"""The player page's size: the diagram's pieces once, keyframes and per-step deltas, so it
grows with nodes + steps, not nodes × steps (issue #12)."""

from __future__ import annotations

import sys
from pathlib import Path

from player_data import page_data, step_codes, variants

import graphstep
from graphstep.render.html import page, reel
from graphstep.render.svg import stops
from graphstep.scene import Flow, Look

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from shapes import layered_nodes


def test_the_reel_gives_every_step_the_codes_of_its_scene() -> None:
    graph = graphstep.load(layered_nodes(150))
    pics, scenes, _ = stops(graph)
    data = page_data(page(pics, scenes))
    codes = list(step_codes(data))
    assert len(codes) == len(scenes) == 2 * len(graph.nodes) - 25 + 1  # 25 inputs: no forward
    for scene, got in zip(scenes, codes, strict=True):
        assert got == pics.codes(scene), scene.caption
    assert variants(data) == [list(p.variants) for p in pics.pieces]


def test_keyframes_hold_about_as_many_codes_as_the_deltas() -> None:
    graph = graphstep.load(layered_nodes(150))
    pics, scenes, _ = stops(graph)
    r = reel(pics, scenes)
    changes = sum(len(d) for d in r.deltas) // 2
    assert len(r.keyframes) == -(-len(scenes) // r.every) > 2
    assert all(len(k) == len(pics.pieces) for k in r.keyframes)
    keyframe_codes = len(r.keyframes) * len(pics.pieces)
    assert changes / 2 <= keyframe_codes <= changes + len(pics.pieces)
    # a seek reads at most one keyframe and `every` deltas: about two keyframes' worth
    assert r.every * changes / len(scenes) <= 1.5 * len(pics.pieces)
    assert r.deltas[0] == []
    assert all(len(d) < 60 for d in r.deltas)  # a step changes its node's few pieces


def test_a_piece_has_a_variant_per_look_not_per_step() -> None:
    pics, scenes, _ = stops(graphstep.load(layered_nodes(150)))
    assert max(len(p.variants) for p in pics.pieces) == max(len(Look), len(Flow)) == 5
    assert len(scenes) > 200


def test_the_page_grows_linearly_with_the_graph() -> None:
    sizes = {}
    for nodes in (100, 300):
        graph = graphstep.load(layered_nodes(nodes))
        sizes[len(graph.nodes)] = len(page(*stops(graph)[:2]).encode())
    (small, a), (big, b) = sorted(sizes.items())
    assert big / small == 299 / 99
    # steps and pieces grow 3×; their product would grow 9×
    assert b / a < 1.1 * big / small
    assert b / big < 3_000  # bytes a node, all steps included
