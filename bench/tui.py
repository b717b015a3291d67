"""How long a step takes in the terminal UI: from a key press to the updated screen.

Headless (App.run_test): send the key `n` (or `p`) as the terminal would,
wait until the app and every widget have processed the messages it caused,
and paint the frame (the screen's update, written to the headless driver).
Pilot.press itself sleeps to detect idleness (about 20 ms per call), which
would swamp what is measured, so the key is sent and awaited directly. The layout is
computed once before timing starts; a step must cost the same on a 50-node
and a 1,000-node graph (ratio at most 2), and under 16 ms (one frame at 60 Hz)
on the small one.

    .venv/bin/python bench/tui.py
"""

from __future__ import annotations

import asyncio
import statistics
import time

from textual import events

import graphstep
from graphstep.tui import GraphstepApp

SIZE = (120, 40)
STEPS = 120


def layered(nodes: int) -> graphstep.Graph:
    """A scalar graph of about `nodes` nodes: a chain with skip connections, ops mixed."""
    lines = ["name: layered", "inputs: {a: 0.5, b: -0.25, c: 1.5}", "graph:"]
    names = ["a", "b", "c"]
    ops = ("{p} * {q}", "{p} + {q}", "tanh({p})", "{p} - {q}", "sigmoid({p})")
    for i in range(nodes - 4):
        p, q = names[-1], names[-3]
        lines.append(f"  n{i}: {ops[i % len(ops)].format(p=p, q=q)}")
        names.append(f"n{i}")
    lines += [f"  loss: {names[-1]} * {names[-1]}", "output: loss"]
    return graphstep.load("\n".join(lines) + "\n")


async def measure(graph: graphstep.Graph) -> dict[str, float]:
    app = GraphstepApp(graph)
    async with app.run_test(size=SIZE) as pilot:
        started = time.perf_counter()
        await app.workers.wait_for_complete()
        await pilot.pause()
        layout_s = time.perf_counter() - started

        async def press(key: str) -> float:
            """The key as the terminal sends it; done when the frame has gone to the driver."""
            t0 = time.perf_counter()
            app._driver.send_message(events.Key(key, key))
            for _ in range(2):  # the key's messages, then those they post (scrolling, layout)
                await pilot._wait_for_screen()
                app.screen._on_timer_update()  # what the screen's update timer does: paint
            return (time.perf_counter() - t0) * 1000

        for _ in range(5):  # warm up: first renders fill Textual's caches
            await press("n")
        await pilot.press("g", *str(0), "enter")
        forward = [await press("n") for _ in range(STEPS)]
        backward = [await press("p") for _ in range(STEPS)]
        times = forward + backward
        return {
            "nodes": len(graph.nodes),
            "steps": len(app.session.timeline),
            "layout_s": layout_s,
            "median_ms": statistics.median(times),
            "p90_ms": statistics.quantiles(times, n=10)[-1],
            "mean_ms": statistics.fmean(times),
        }


def main() -> None:
    results = {}
    for n in (50, 1000):
        r = asyncio.run(measure(layered(n)))
        results[n] = r
        print(
            f"{r['nodes']:>5} nodes, {r['steps']:>5} steps: layout + raster {r['layout_s']:.2f} s; "
            f"per step median {r['median_ms']:.2f} ms, mean {r['mean_ms']:.2f} ms, "
            f"p90 {r['p90_ms']:.2f} ms"
        )
    ratio = results[1000]["median_ms"] / results[50]["median_ms"]
    small = results[50]["median_ms"]
    print(f"per-step(1000) / per-step(50) = {ratio:.2f} (must be ≤ 2)")
    print(f"small graph per step {small:.2f} ms (must be < 16 ms)")
    ok = ratio <= 2 and small < 16
    print("OK" if ok else "TOO SLOW")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
