"""Benchmark: real-size graphs, as ratios measured side by side in one run (issue #12).

1. Load (file text → Graph) of layered scalar DAGs of 1k, 3k and 10k nodes:
   time per node at 10k / at 1k (target ≤ 1.5), and the load of 10k nodes
   against libyaml's bare parse of the same text (target ≤ 10×).
2. `check` (every gradient against finite differences) of the same graphs:
   time per node at 10k / at 1k (target ≤ 1.5).
3. Export of one step of the shared-weight chain `aN: a(N-1) * k` of 100 and
   500 products, against the same export of a chain whose products read a
   weight each (the shape the shared weight's stubs make): target ≤ 2×.
   Without stubs `dot` does not finish the 500-product chain in 12 minutes.
4. The full layout (diagram, `dot`, parsing) of the 3k-node DAG against `dot`
   alone on the bare graph, no labels (target ≤ 3×).
5. The HTML player's size for the 1k, 3k and 10k-node DAGs (every step): bytes per
   node at 3k against at 1k (target ≤ 3; linear in nodes + steps gives 1, the old
   steps × pieces page gave 3), and at most 10 MB at 3k.

GC is off while timing; each figure is the best of a few runs.
Run: .venv/bin/python bench/scale.py
"""

from __future__ import annotations

import gc
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml
from shapes import layered_nodes, own_weights_yaml, shared_weight_yaml
from timing import best_of as _best_of

import graphstep
from graphstep.gradcheck import check_gradients
from graphstep.render import export_html, export_svg
from graphstep.render import layout as layout_module
from graphstep.render.layout import DotTimeout
from graphstep.render.svg import stops

SIZES = (1_000, 3_000, 10_000)


def best_of(fn: Callable[[], object], repeats: int = 1) -> float:
    """timing.best_of with the garbage of earlier rows collected first, and GC off inside."""
    gc.collect()
    gc.disable()
    try:
        return _best_of(fn, repeats)
    finally:
        gc.enable()


def verdict(ratio: float, target: float) -> str:
    return f"{ratio:6.2f}  (target ≤ {target:g}: {'ok' if ratio <= target else 'MISSED'})"


def bare_parse(text: str) -> object:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # safe: no Python objects
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_and_check() -> None:
    print("nodes    load      per node   check     per node")
    loads, checks, bare = {}, {}, 0.0
    for size in SIZES:
        text = layered_nodes(size)
        graph = graphstep.load(text)
        n = len(graph.nodes)
        loads[size] = best_of(lambda text=text: graphstep.load(text), 3) / n
        trace = graph.trace()
        checks[size] = best_of(lambda g=graph, t=trace: list(check_gradients(g, t)), 3) / n
        if size == SIZES[-1]:
            bare = best_of(lambda text=text: bare_parse(text), 3) / n
        print(
            f"{n:>6,}  {loads[size] * n:6.2f} s  {loads[size] * 1e6:6.1f} µs  "
            f"{checks[size] * n:6.2f} s  {checks[size] * 1e6:6.1f} µs"
        )
    first, last = SIZES[0], SIZES[-1]
    print(f"load per node, {last:,} / {first:,}:   {verdict(loads[last] / loads[first], 1.5)}")
    print(f"load / libyaml's bare parse, {last:,}: {verdict(loads[last] / bare, 10)}")
    print(f"check per node, {last:,} / {first:,}:  {verdict(checks[last] / checks[first], 1.5)}")


def shared_weight() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "step.svg"
        for ops in (100, 500):
            shared = best_of(
                lambda ops=ops: export_svg(graphstep.load(shared_weight_yaml(ops)), out)
            )
            own = best_of(lambda ops=ops: export_svg(graphstep.load(own_weights_yaml(ops)), out))
            print(
                f"shared weight, {ops} products: export {shared:5.2f} s, "
                f"a weight each {own:5.2f} s, ratio {verdict(shared / own, 2)}"
            )


def layout_3k() -> None:
    graph = graphstep.load(layered_nodes(3_000))
    ids = {name: f"n{i}" for i, name in enumerate(graph.order)}
    bare = (
        "digraph {\n"
        + "".join(
            f"{ids[src]} -> {ids[name]};\n"
            for name in graph.order
            for src in graph.nodes[name].inputs
        )
        + "}\n"
    )
    plain = best_of(
        lambda: subprocess.run(
            ["dot", "-Tjson0"], input=bare.encode(), capture_output=True, check=True
        )
    )

    def full() -> None:
        layout_module._cache.clear()
        laid = layout_module.layout(graph)
        assert not laid.fallback, laid.fallback

    ours = best_of(full)
    print(
        f"layout of {len(graph.nodes):,} nodes: {ours:5.2f} s, bare dot {plain:5.2f} s, "
        f"ratio {verdict(ours / plain, 3)}"
    )


def html_sizes() -> None:
    print("nodes    steps   pieces  HTML       per node")
    per_node, total = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            graph = graphstep.load(layered_nodes(size))
            try:
                out = export_html(graph, Path(tmp) / "player.html")
            except DotTimeout as e:  # pictures come from `dot` alone
                print(f"{len(graph.nodes):>6,}  no page: {e}")
                continue
            pics, scenes, _ = stops(graph)  # the pictures the export made, from the cache
            total[size] = out.stat().st_size
            per_node[size] = total[size] / len(graph.nodes)
            print(
                f"{len(graph.nodes):>6,}  {len(scenes):>6,}  {len(pics.pieces):>6,}  "
                f"{total[size] / 1e6:6.2f} MB  {per_node[size]:6,.0f} B"
            )
    print(f"HTML per node, 3,000 / 1,000:    {verdict(per_node[3_000] / per_node[1_000], 3)}")
    print(f"HTML at 3,000 nodes, MB:         {verdict(total[3_000] / 1e6, 10)}")
    if 10_000 in per_node:
        print(f"HTML per node, 10,000 / 1,000:   {per_node[10_000] / per_node[1_000]:6.2f}")


def main() -> None:
    load_and_check()
    shared_weight()
    layout_3k()
    html_sizes()


if __name__ == "__main__":
    main()
