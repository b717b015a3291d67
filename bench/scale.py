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
6. The terminal UI, headless (Textual's App.run_test, the keys sent as the terminal
   sends them, each frame painted as the screen's update timer paints it): the time
   from starting the app (its session already computed) to the first frame that
   shows the current node's neighbourhood, 10k nodes / 50 nodes (target ≤ 3); and
   at 10k, while the whole layout is still being made in its child process,
   key → frame for `n` and `p`, p90 of 120 keys, the best of 3 runs taken in turns
   (target ≤ 16 ms), beside the same on the
   50-node graph and on a bare Textual app (a header, a line, the footer), which
   say what any frame costs on this machine at the moment.

GC is off while timing; each figure is the best of a few runs.
Run: .venv/bin/python bench/scale.py
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import yaml
from shapes import layered_nodes, own_weights_yaml, shared_weight_yaml
from textual import events
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Footer, Header, Static
from timing import best_of as _best_of

import graphstep
from graphstep.gradcheck import check_gradients
from graphstep.limits import NEIGHBOURHOOD_PARTS
from graphstep.render import export_html, export_svg
from graphstep.render import layout as layout_module
from graphstep.render.layout import DotTimeout
from graphstep.render.svg import stops
from graphstep.tui import GraphstepApp
from graphstep.tui.graph_view import GraphView

SIZES = (1_000, 3_000, 10_000)
RUNS = 3  # of each TUI measure, the best taken


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


async def first_frame(graph: graphstep.Graph, keys: int = 0) -> tuple[float, list[float]]:
    """Seconds from starting the app to a painted frame with the neighbourhood of the
    current (or first) node; then `keys` presses of n (and as many of p) while the whole
    layout is still on its way, each in milliseconds from key to painted frame."""
    app = GraphstepApp(graph)  # the session: values, gradients, timeline (bench/session.py)
    started = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(GraphView)
        timeline = app.session.timeline
        centre = timeline.node_at(1) if len(timeline) > 1 else None
        while view.raster is None or (centre or "") not in view.raster.boxes:
            await asyncio.sleep(0.002)
        await pilot._wait_for_screen()
        app.screen._on_timer_update()  # paint, as the screen's update timer does
        seconds = time.perf_counter() - started
        times = [await press(pilot, key) for key in "n" * keys + "p" * keys]
        if keys and view.whole and len(graph.nodes) > 2 * NEIGHBOURHOOD_PARTS:
            raise SystemExit("the whole layout was ready before the keys were timed")
        app.exit()
    return seconds, times


async def press(pilot: Pilot[None], key: str) -> float:
    """Milliseconds from a key, sent as the terminal sends it, to its frame painted."""
    app = pilot.app
    t0 = time.perf_counter()
    app._driver.send_message(events.Key(key, key))
    for _ in range(2):  # the key's messages, then those they post
        await pilot._wait_for_screen()
        app.screen._on_timer_update()
    return (time.perf_counter() - t0) * 1000


class Bare(App[None]):
    """Textual's floor on this machine: a header, one line, the footer; a key rewrites the
    line. Measured beside ours, it says what any frame costs here at the moment."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="line")
        yield Footer()

    def on_key(self, event: events.Key) -> None:
        self.query_one(Static).update(f"{event.key} {time.perf_counter()}")


async def bare_frames(keys: int) -> list[float]:
    app = Bare()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        return [await press(pilot, key) for key in "n" * keys + "p" * keys]


def tui() -> None:
    small, big = graphstep.load(layered_nodes(50)), graphstep.load(layered_nodes(10_000))
    firsts = {}
    for graph in (small, big):
        runs = []
        for _ in range(RUNS):
            gc.collect()
            gc.disable()
            try:
                runs.append(asyncio.run(first_frame(graph))[0])
            finally:
                gc.enable()
        firsts[len(graph.nodes)] = min(runs)
    (n_small, t_small), (n_big, t_big) = sorted(firsts.items())
    print(
        f"TUI first frame (neighbourhood): {n_small:,} nodes {t_small:5.2f} s, "
        f"{n_big:,} nodes {t_big:5.2f} s, ratio {verdict(t_big / t_small, 3)}"
    )
    # p90 of 120 keys, best of RUNS runs taken in turns (the 50-node graph, the 10k one, the
    # bare app): this VM's speed drifts by 2x within seconds, and a run that meets a slow
    # stretch says more of the VM than of the app; each run's figure is printed too
    p90: dict[str, list[float]] = {"small": [], "big": [], "bare": []}
    for _ in range(RUNS):
        for name, frames in (
            ("small", lambda: first_frame(small, keys=60)),
            ("big", lambda: first_frame(big, keys=60)),
            ("bare", lambda: _no_first(bare_frames(60))),
        ):
            gc.collect()
            gc.disable()
            try:
                _, times = asyncio.run(frames())
            finally:
                gc.enable()
            p90[name].append(statistics.quantiles(times, n=10)[-1])
    best = {name: min(runs) for name, runs in p90.items()}
    n_small, n_big = len(small.nodes), len(big.nodes)
    print(
        f"TUI key → frame p90, ms (best of {RUNS}): {n_small:,} nodes {best['small']:.1f}; "
        f"{n_big:,} nodes with the whole layout still running {verdict(best['big'], 16)}; "
        f"{n_big:,} / {n_small:,}: {best['big'] / best['small']:.2f}; a bare Textual app "
        f"(header, a line, footer) {best['bare']:.1f}, {n_big:,} / bare: "
        f"{best['big'] / best['bare']:.1f} (the last two say what any frame costs on this "
        "machine now)"
    )
    print(
        "  each run, in turns: "
        + "; ".join(
            f"{name} " + ", ".join(f"{ms:.1f}" for ms in runs) for name, runs in p90.items()
        )
    )


async def _no_first(frames: Awaitable[list[float]]) -> tuple[float, list[float]]:
    return 0.0, await frames


def main() -> None:
    load_and_check()
    shared_weight()
    layout_3k()
    html_sizes()
    tui()


if __name__ == "__main__":
    main()
