"""The finite-difference check: right answers, wrong gradients caught, and bounded work per node."""

from __future__ import annotations

import numpy as np

import graphstep
from graphstep.gradcheck import DOWNSTREAM, Checker, check_gradients


def chain(n: int) -> graphstep.Graph:
    lines = ["inputs: {x: 0.3, k: 0.9}", "graph:", "  a0: x * k"]
    lines += [
        f"  a{i}: tanh(a{i - 1}) * k" if i % 2 else f"  a{i}: a{i - 1} * k" for i in range(1, n)
    ]
    return graphstep.load("\n".join(lines) + "\n")


def test_log_near_zero_checks_with_a_step_relative_to_x() -> None:
    graph = graphstep.load("inputs: {x: 1.0e-300}\ngraph: {f: log(x)}\n")
    results = {r.node: r for r in check_gradients(graph, graph.trace())}
    assert results["x"].ok
    assert results["x"].rel_error < 1e-6
    assert np.isfinite(results["x"].abs_error)


def test_every_gradient_of_a_long_chain_matches() -> None:
    graph = chain(200)
    results = list(check_gradients(graph, graph.trace()))
    assert [r.node for r in results] == graph.order  # every node has a gradient here
    assert all(r.ok for r in results)
    assert max(r.rel_error for r in results) < 1e-6


def test_a_wrong_gradient_is_caught_at_its_node_however_far_from_the_loss() -> None:
    graph = chain(100)
    trace = graph.trace()
    index = graph.plan.index["a5"]
    trace._grads[index] = trace._grads[index] * 1.01
    bad = [r.node for r in check_gradients(graph, trace) if not r.ok]
    assert bad == ["a5"]


def test_each_nudge_recomputes_at_most_the_bound() -> None:
    graph = chain(1000)
    checker = Checker(graph, graph.trace())
    k_index = graph.plan.index["k"]
    reaches = [checker.reach(graph.plan.index[n]) for n in ("x", "k", "a0", "a998", "a999")]
    assert [len(r.ops) for r in reaches] == [DOWNSTREAM, DOWNSTREAM, DOWNSTREAM, 2, 0]
    assert reaches[-1].output and not reaches[0].output
    # k is read by 1,000 products: past the bound, their edges carry the rest of its effect
    recomputed = [op for op in reaches[1].ops if k_index in op.inputs]
    assert len(reaches[1].edges) == 1000 - len(recomputed) + 1
