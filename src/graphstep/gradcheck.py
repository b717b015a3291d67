"""Every gradient of a trace against central finite differences, in time linear in the graph.

Nudging one element of a node changes the nodes downstream of it. The first
`DOWNSTREAM` of them (in topological order) are recomputed with their ops'
forward functions; past them, the change reaches the loss along the edges
that leave that set, and is carried there by the gradient backprop sent
along each such edge (`Trace.contribution`). Those gradients are checked in
turn, so every link of the chain rule meets a finite difference, while each
element costs a bounded number of op evaluations, however long the graph.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .graph import Graph, PlannedOp
    from .ops import Array
    from .trace import Trace

# Central finite differences: step h·max(1, |x|) (h·|x| where that leaves the function's
# domain); a gradient matches when |analytic − numeric| ≤ ATOL·max(1, |L|) + RTOL·|numeric|.
STEP = 1e-5
ATOL = 1e-7
RTOL = 1e-4
MAX_INTERMEDIATE = 64  # elements checked per intermediate node (every leaf element is)
BUDGET = 1 << 31  # numbers recomputed by a whole check: past it, a big node is sampled
OP_COST = 1024  # an op's call costs as much as computing this many numbers
DOWNSTREAM = 16  # op nodes recomputed per nudge; past them, backprop's edge gradients


@dataclass(frozen=True)
class GradientCheck:
    """One node's gradient against finite differences, over the elements checked."""

    node: str
    checked: int
    of: int
    abs_error: float  # the worst |backprop − central difference| where the loss is smooth
    rel_error: float
    kinks: int  # no derivative there: the left and right differences disagree
    mismatches: int

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


@dataclass(frozen=True)
class Differences:
    """Central, left and right finite differences of the loss along one element."""

    central: float
    left: float
    right: float

    @property
    def jump(self) -> float:
        return abs(self.right - self.left)

    @property
    def finite(self) -> bool:
        return bool(np.isfinite([self.central, self.left, self.right]).all())


def differences(change: Callable[[float], float], x: float, h: float) -> Differences:
    """From the loss's change when the element moves from x to x + h and to x − h."""
    above, below = change(x + h), change(x - h)
    return Differences((above - below) / (2 * h), -below / h, above / h)


@dataclass(frozen=True)
class Reach:
    """Where a nudge of one node goes: the ops recomputed (topological order), and the edges
    leaving them, each with the gradient backprop sent along it (∂L/∂ that input)."""

    ops: tuple[PlannedOp, ...]
    edges: tuple[tuple[int, np.ndarray], ...]  # (the edge's tail, by plan index; its gradient)
    output: bool  # the loss itself is among the nodes recomputed


class Checker:
    """The plan's values and consumers, read once, and the loss's change for a nudge."""

    def __init__(self, graph: Graph, trace: Trace) -> None:
        plan = graph.plan
        self.graph = graph
        self.trace = trace
        self.values: list[Any] = [trace.value(n) for n in plan.names]
        self.by_index = {op.index: op for op in plan.ops}
        self.consumers: list[list[tuple[int, int]]] = [[] for _ in plan.names]
        for op in plan.ops:
            for position, j in enumerate(op.inputs):
                self.consumers[j].append((op.index, position))
        self.output = plan.index[graph.output]

    def reach(self, node: int) -> Reach:
        """The first DOWNSTREAM descendants in topological order: a heap of the frontier."""
        inside = {node}
        frontier = [c for c, _ in self.consumers[node]]
        heapq.heapify(frontier)
        ops: list[PlannedOp] = []
        while frontier and len(ops) < DOWNSTREAM:
            c = heapq.heappop(frontier)
            if c in inside:
                continue
            inside.add(c)
            ops.append(self.by_index[c])
            for d, _ in self.consumers[c]:
                if d not in inside:
                    heapq.heappush(frontier, d)
        names = self.graph.plan.names
        edges = []
        for tail in inside:
            for head, position in self.consumers[tail]:
                if head not in inside:
                    grad = self.trace.contribution(names[head], position)
                    if grad is not None:
                        edges.append((tail, grad))
        return Reach(tuple(ops), tuple(edges), self.output in inside)

    def change(self, node: int, reach: Reach, value: Array) -> float:
        """The loss's change, to first order past the recomputed ops, when `node` holds
        `value`."""
        values = self.values
        changed: dict[int, Array] = {node: value}
        for op in reach.ops:
            ins = [changed.get(j, values[j]) for j in op.inputs]
            changed[op.index] = op.op.forward(*ins, **op.attrs)
        total = 0.0
        for tail, grad in reach.edges:
            total += float((grad * (changed[tail] - values[tail])).sum())
        if reach.output:
            total += float(changed[self.output] - values[self.output])
        return total


def elements_to_check(graph: Graph, name: str, cost: int, budget: int) -> np.ndarray:
    """Every element of a leaf; up to MAX_INTERMEDIATE spread over an intermediate; and no
    more than `budget` recomputed numbers allow, an element costing up to four
    recomputations of `cost` numbers (none at all where one would cost more)."""
    node = graph.nodes[name]
    most = min(node.size if node.is_leaf else MAX_INTERMEDIATE, budget // (4 * cost))
    if node.size <= most:
        return np.arange(node.size)
    return np.unique(np.linspace(0, node.size - 1, most).astype(int))


def check_gradients(graph: Graph, trace: Trace) -> Iterator[GradientCheck]:
    """Each gradient against central differences, telling kinks from mismatches.

    Where the central difference disagrees, it is taken again with a step 100
    times smaller: near a kink or a sharp curve that agrees. If it still does
    not, and the left and right differences still differ by as much, the loss
    has a kink right there (relu at 0, a tie of max): no derivative exists to
    compare with, and the element counts as a kink. Otherwise it is a mismatch;
    so is a difference that is not finite (an error of inf).
    """
    checker = Checker(graph, trace)
    scale = max(1.0, abs(trace.loss))
    share = BUDGET // max(1, sum(trace.grad(n) is not None for n in graph.order))
    with np.errstate(all="ignore"):
        for name in graph.order:
            grad = trace.grad(name)
            if grad is not None:
                yield _check_node(checker, name, grad, scale, share)


def _check_node(
    checker: Checker, name: str, grad: np.ndarray, scale: float, budget: int
) -> GradientCheck:
    node = checker.graph.plan.index[name]
    reach = checker.reach(node)
    names = checker.graph.plan.names
    cost = sum(max(checker.graph.nodes[names[op.index]].size, OP_COST) for op in reach.ops) or 1
    base = np.array(checker.values[node], dtype=np.float64)
    analytic = np.broadcast_to(grad, base.shape)
    worst_abs = worst_rel = 0.0
    kinks = mismatches = 0
    picked = elements_to_check(checker.graph, name, cost, budget)
    for e in picked.tolist():

        def change(v: float, e: int = e) -> float:
            nudged = base.copy()
            nudged.flat[e] = v
            return checker.change(node, reach, nudged)

        x, a = float(base.flat[e]), float(analytic.flat[e])
        h = STEP * max(1.0, abs(x))
        coarse = differences(change, x, h)
        if not coarse.finite and x != 0:  # x ± h left the function's domain (log near 0)
            h = STEP * abs(x)
            coarse = differences(change, x, h)
        d = coarse
        if not abs(a - d.central) <= ATOL * scale + RTOL * abs(d.central):
            d = differences(change, x, h / 100)
            tol = ATOL * scale + RTOL * abs(d.central)
            if not abs(a - d.central) <= tol:
                if d.finite and coarse.jump > tol and d.jump > coarse.jump / 2:
                    kinks += 1
                    continue
                mismatches += 1
        if not d.finite:
            worst_abs = worst_rel = math.inf
            continue
        err = abs(a - d.central)
        worst_abs = max(worst_abs, err)
        worst_rel = max(worst_rel, err / max(abs(a), abs(d.central)) if err else 0.0)
    return GradientCheck(name, len(picked), base.size, worst_abs, worst_rel, kinks, mismatches)
