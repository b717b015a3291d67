"""Benchmark: what the hardening costs, and what a hostile file can still cost.

1. `run --json` streamed against the old way (Python lists of every number,
   then one json.dumps), on a 1024×1024 input: the same bytes, measured side
   by side; the peak memory of each (tracemalloc) is printed too, and the
   streamed peak must be at most a tenth of the old one.
2. Refusing a file under 1 KB that asks for 2^18 block calls, 400 blocks
   nested, or a conv whose padding holds 10^8 numbers: each must take at
   most 2 seconds (they used to take minutes, or gigabytes).

GC is off while timing; the best of several runs is kept.

Run: .venv/bin/python bench/hostile.py
"""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from collections.abc import Callable

from timing import best_of

import graphstep
from graphstep import cli

MEMORY_TARGET = 0.1
REFUSAL_SECONDS = 2.0

JSON_GRAPH = "inputs:\n  x: {shape: [1024, 1024], init: arange}\ngraph:\n  f: sum(x * x)\n"


def listed(graph: graphstep.Graph, trace: graphstep.Trace) -> str:
    """The old `run --json`: every number a Python float in nested lists, then dumped at once."""
    nodes = {}
    for node in graph:
        grad = trace.grad(node.name)
        nodes[node.name] = {
            "op": node.op,
            "inputs": list(node.inputs),
            "shape": list(node.shape),
            "value": cli.json_numbers(trace.value(node.name).tolist()),
            "grad": None if grad is None else cli.json_numbers(grad.tolist()),
        }
    document = {
        "graph": graph.name,
        "output": graph.output,
        "forward_order": list(graph.forward_order),
        "backward_order": cli.backward_order(graph, trace),
        "nodes": nodes,
    }
    return json.dumps(document, allow_nan=False)


def streamed(graph: graphstep.Graph, trace: graphstep.Trace) -> int:
    """The new `run --json`, written to nowhere: the pieces are made and dropped."""
    return sum(len(piece) for piece in cli.run_json(graph, trace))


def peak(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    fn()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return top


def blocks(levels: int, calls: int) -> str:
    lines = ["inputs: {x: 1}", "blocks:", "  b0: {args: [a], graph: {o: a * a}}"]
    for k in range(1, levels + 1):
        body = ", ".join(f"c{i}: b{k - 1}({'a' if i == 0 else f'c{i - 1}'})" for i in range(calls))
        lines.append(f"  b{k}: {{args: [a], graph: {{{body}, o: -c{calls - 1}}}}}")
    return "\n".join([*lines, f"graph: {{f: b{levels}(x)}}"]) + "\n"


HOSTILE = {
    "2^18 block calls": blocks(9, 4),
    "400 nested blocks": blocks(400, 1),
    "padding of 10^8": (
        "inputs: {x: {shape: [1, 3, 3]}, w: {shape: [1, 1, 2, 2]}}\n"
        "graph:\n  c: conv2d(x, w, pad=5000, stride=5000)\n  f: sum(c)\n"
    ),
}


def refuse(text: str) -> None:
    try:
        graphstep.load(text).trace()
    except graphstep.GraphstepError:
        return
    raise AssertionError("a hostile file was accepted")


def main() -> int:
    gc.disable()
    graph = graphstep.load(JSON_GRAPH)
    trace = graph.trace()
    assert streamed(graph, trace) == len(listed(graph, trace))
    old = best_of(lambda: listed(graph, trace), 3)
    new = best_of(lambda: streamed(graph, trace), 3)
    old_peak, new_peak = peak(lambda: listed(graph, trace)), peak(lambda: streamed(graph, trace))
    print(f"run --json, 2 × 1,048,576 numbers: lists {old:.2f} s, streamed {new:.2f} s")
    print(f"  time ratio streamed/lists {new / old:.2f}")
    print(f"  peak memory: lists {old_peak / 1e6:.0f} MB, streamed {new_peak / 1e6:.1f} MB")
    ratio = new_peak / old_peak
    print(f"  memory ratio streamed/lists {ratio:.3f} (target ≤ {MEMORY_TARGET})")
    ok = ratio <= MEMORY_TARGET
    for label, text in HOSTILE.items():
        seconds = best_of(lambda text=text: refuse(text), 3)
        print(f"refusing {label} ({len(text)} bytes): {seconds:.2f} s (target ≤ {REFUSAL_SECONDS})")
        ok &= seconds <= REFUSAL_SECONDS
    gc.enable()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
