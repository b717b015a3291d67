"""The gradient doctor: where a gradient dies, explodes or turns NaN, and why.

Everything here reads a finished trace (values, gradients and what each edge
sent back) and its timeline (the step where each node is computed); nothing
is printed. `diagnose` gives the findings, worst first; `provenance` answers
"why is ∂L/∂W what it is" with the paths from the loss that carry most of it.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np

from . import format as fmt
from .errors import GraphstepError, did_you_mean
from .graph import Graph
from .limits import MAX_PATH_NODES, MAX_WHY_EXPANSIONS
from .norms import l2, l2_by
from .ops import OPS, Op, OpError
from .steps import Timeline, outermost_calls
from .trace import Trace

# Thresholds, each stated once. Gradients are in units of ∂L/∂L = 1.
VANISH = 1e-3  # a chain whose gains multiply to this or less: three orders of magnitude
EXPLODE = 1e3
ZERO_GRAD = 1e-12  # a gradient is "zero" when 0, or this small next to what its edges sent
DEAD_FRACTION = 0.9  # a relu, sigmoid or tanh node is reported when this share of units is off
SATURATED_SLOPE = 1e-3  # a sigmoid or tanh unit is saturated where its slope is below this
CHECK_STEPS = (1e-5, 1e-7)  # relative steps of the per-node check: coarse, then fine
CHECK_RTOL = 1e-4
CHECK_SEED = 0
CUTS_SHOWN = 3  # cuts named in a zero-gradient finding
EPS = float(np.finfo(np.float64).eps)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Kind(StrEnum):
    NONFINITE = "nonfinite"
    GRADCHECK = "gradcheck"
    VANISHING = "vanishing"
    EXPLODING = "exploding"
    ZERO_GRAD = "zero-grad"
    DEAD = "dead"
    SATURATED = "saturated"
    ONE_HOT = "one-hot"
    UNSELECTED = "unselected"


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}
_KIND_RANK = {k: i for i, k in enumerate(Kind)}


@dataclass(frozen=True)
class Finding:
    """One diagnosis: the node, the step that shows it, its numbers and a one-line reason."""

    kind: Kind
    severity: Severity
    node: str
    step: int | None  # the timeline's step to jump to; None where there is none
    phase: str  # the phase of that step: "start" (a leaf), "forward" or "backward"
    reason: str
    numbers: Mapping[str, float]
    path: tuple[str, ...] = ()  # the route to the loss, or the cut, or the chain


@dataclass(frozen=True)
class Layer:
    """A block call or a named entry: its gradient's norm next to its weights'."""

    name: str
    output: str  # the node the layer's gradient is measured at
    nodes: int
    step: int | None  # the output's backward step
    grad_norm: float | None  # ‖∂L/∂output‖
    gain: float | None  # ‖∂L/∂(the layer's data inputs)‖ / ‖∂L/∂output‖
    weight_norm: float | None  # ‖params the layer reads‖
    weight_grad_norm: float | None


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]  # worst first
    layers: tuple[Layer, ...]  # in topological order
    gains: Mapping[str, float]  # each op node with a nonzero gradient: its gain
    dead: Mapping[str, float]  # relu, sigmoid, tanh nodes: the share of units off or saturated
    grad_norms: Mapping[str, float]  # each node with a gradient: ‖∂L/∂node‖ (nan, inf kept)

    @property
    def has_error(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)


@dataclass(frozen=True)
class ProvenancePath:
    """One route from the loss to W and how much of ∂L/∂W it carries."""

    nodes: tuple[str, ...]  # the loss first, W last
    share: float  # the fraction of ∂L/∂W this path brings (the shares of all paths sum to 1)
    amount: float  # for scalars, the product of the local derivatives along the path


@dataclass(frozen=True)
class Provenance:
    node: str
    grad_norm: float
    paths: tuple[ProvenancePath, ...]  # largest |share| first
    searched: int  # partial paths taken off the queue


def diagnose(trace: Trace, timeline: Timeline | None = None) -> Diagnosis:
    """Every finding of the six kinds, worst first, with the layers' norms."""
    with np.errstate(all="ignore"):
        doctor = _Doctor(trace, timeline or Timeline(trace))
        findings = [
            *doctor.nonfinite(),
            *doctor.gradient_checks(),
            *doctor.chains(),
            *doctor.zero_gradients(),
            *doctor.units(),
        ]
        layers = tuple(doctor.layers())
    order = trace.graph.plan.index

    def rank(f: Finding) -> tuple[int, int, int, int, str]:
        """Worst first; non-finite origins in the order the passes meet them: forward first."""
        backward = f.kind is Kind.NONFINITE and f.phase == "backward"
        where = -order[f.node] if backward else order[f.node]
        return _SEVERITY_RANK[f.severity], _KIND_RANK[f.kind], backward, where, f.reason

    findings.sort(key=rank)
    return Diagnosis(tuple(findings), layers, doctor.gains, doctor.dead, doctor.grad_norms)


def _worst_runs(
    size: int, to: np.ndarray, start: np.ndarray, weight: np.ndarray, sign: float
) -> tuple[list[float], list[int], list[int]]:
    """Over the edges start → to (by `to`, last node first), for each node j the path from
    the loss's side ending at j whose weights, times `sign`, sum to the least, restarting
    where the sum turns positive: three lists by node, the sum, the node before j on that
    path, and its number of edges (0: no path ends there)."""
    total, prev, length = [0.0] * size, [-1] * size, [0] * size
    for j, c, w in zip(to.tolist(), start.tolist(), (sign * weight).tolist(), strict=True):
        run = total[c]
        if length[c] == 0 or run > 0:
            t, n = w, 1
        else:
            t, n = run + w, length[c] + 1
        if length[j] == 0 or t < total[j]:
            total[j], prev[j], length[j] = t, c, n
    return total, prev, length


def _toward(graph: Graph, through: frozenset[str] | None) -> dict[str, str]:
    """For each node from which the loss is reached (through nodes of `through` only, if
    given), the next node on a shortest path there: one breadth-first search back from it."""
    hop = {graph.output: graph.output}
    queue = deque([graph.output])
    while queue:
        n = queue.popleft()
        for src in graph.nodes[n].inputs:
            if src not in hop and (through is None or src in through):
                hop[src] = n
                queue.append(src)
    return hop


def _walk(start: str, hop: Mapping[str, str], end: str) -> tuple[str, ...]:
    """start → hop[start] → … → end, with the middle left out past MAX_PATH_NODES nodes."""
    path = [start]
    while path[-1] != end and len(path) < MAX_PATH_NODES - 2:
        path.append(hop[path[-1]])
    if path[-1] != end:
        path += ["…", end]
    return tuple(path)


def _norms(arrays: Sequence[Any], scalars: bool) -> list[float]:
    """‖a‖ of each array; when all are scalars, in one numpy call."""
    if scalars:
        return np.abs(np.array(arrays, dtype=np.float64)).tolist()
    return [l2(a) for a in arrays]


def _finite(a: Any) -> bool:
    return bool(np.isfinite(a).all())


class _Doctor:
    """The trace's numbers, gathered once per edge for the analyses that share them."""

    def __init__(self, trace: Trace, timeline: Timeline) -> None:
        self.trace = trace
        self.timeline = timeline
        self.graph: Graph = trace.graph
        graph = self.graph
        self.values: Mapping[str, Any] = trace.all_values()
        self.params = graph.params  # a property that walks every node: read once
        self.grads: Mapping[str, Any] = trace.all_grads()
        plan = graph.plan
        names = plan.names
        self.scalar = frozenset(names[i] for i in plan.scalars)
        shapeless = np.zeros(len(names), dtype=bool)
        shapeless[list(plan.scalars)] = True
        # per node, by index: ‖∂L/∂node‖, nan where there is none
        grads = list(self.grads.values())
        with_grad = [i for i, g in enumerate(grads) if g is not None]
        norms = _norms([grads[i] for i in with_grad], bool(shapeless[with_grad].all()))
        self.up = np.full(len(names), np.nan)
        self.up[with_grad] = norms
        self.grad_norms = dict(zip([names[i] for i in with_grad], norms, strict=True))
        # What each edge sent back, constants apart: (consumer, position) → the contribution
        # by the plan's indices; and, as arrays over those edges, the consumer's and the
        # input's index and the contribution's norm.
        reads = {step.index: (step.inputs, step.receives) for step in plan.ops}
        self.parts: dict[tuple[int, int], Any] = {}
        into: list[int] = []
        for (i, k), part in trace.contributions_by_index().items():
            inputs, receives = reads[i]
            if part is not None and receives[k]:
                self.parts[i, k] = part
                into.append(inputs[k])
        self.consumer = np.array([i for i, _ in self.parts], dtype=np.intp)
        self.input = np.array(into, dtype=np.intp)
        self.size = np.array(_norms(list(self.parts.values()), bool(shapeless[into].all())))
        # the largest contribution each node received, by index
        self.sent = np.zeros(len(names))
        np.maximum.at(self.sent, self.input, self.size)
        passed = l2_by(self.consumer, self.size, len(names))
        gain = passed / self.up
        op = np.zeros(len(names), dtype=bool)
        op[list(reads)] = True
        keep = np.flatnonzero(op & (self.up > 0) & np.isfinite(self.up) & np.isfinite(gain))
        self.gains: Mapping[str, float] = dict(
            zip([names[i] for i in keep], gain[keep].tolist(), strict=True)
        )
        self.dead: dict[str, float] = {}
        self._routes: dict[frozenset[str] | None, dict[str, str]] = {}

    def part(self, consumer: str, position: int) -> Any:
        """What `consumer` sent back along its input `position`; None where nothing was."""
        return self.parts.get((self.graph.plan.index[consumer], position))

    @cached_property
    def trained(self) -> frozenset[str]:
        """The params and every node computed from one."""
        graph = self.graph
        found = set(self.params)
        for n in graph.forward_order:
            if not found.isdisjoint(graph.nodes[n].inputs):
                found.add(n)
        return frozenset(found)

    # -- where the timeline shows a node

    def forward_step(self, node: str) -> tuple[int | None, str]:
        step = self.timeline.forward_index.get(node)
        return step, "start" if step == 0 else "forward"  # a leaf is known at the start

    def backward_step(self, node: str) -> tuple[int | None, str]:
        step = self.timeline.backward_index.get(node)
        if step is None:
            return self.forward_step(node)
        return step, "backward"

    def finding(
        self,
        kind: Kind,
        severity: Severity,
        node: str,
        where: tuple[int | None, str],
        reason: str,
        numbers: Mapping[str, float],
        path: Sequence[str] = (),
    ) -> Finding:
        return Finding(kind, severity, node, where[0], where[1], reason, numbers, tuple(path))

    # -- 1. non-finite origins

    def nonfinite(self) -> Iterator[Finding]:
        if self.trace.anomaly is None:
            return
        graph = self.graph
        finite = {n: _finite(self.values[n]) for n in graph.order}
        bad = frozenset(n for n, ok in finite.items() if not ok)
        for name in graph.order:
            node = graph.nodes[name]
            if finite[name] or not all(finite[i] for i in node.inputs):
                continue
            ins = [self.values[i] for i in node.inputs]
            cause = _forward_cause(node.op, ins, dict(node.attrs), self.values[name])
            shown = ", ".join(
                f"{graph.display(i)} = {fmt.tensor(v)}"
                for i, v in zip(node.inputs, ins, strict=True)
            )
            path = self._route(name, bad)
            yield self.finding(
                Kind.NONFINITE,
                Severity.ERROR,
                name,
                self.forward_step(name),
                f"the {node.op} {name} is given as {_kinds(self.values[name])}"
                if node.is_leaf
                else f"{node.op} gives {_kinds(self.values[name])} from finite inputs: {cause}"
                + (f" ({shown})" if shown else ""),
                _summary("value", self.values[name]),
                path,
            )
        for c in reversed(graph.forward_order):
            g = self.grads[c]
            node = graph.nodes[c]
            if g is None or not _finite(g) or not finite[c]:
                continue
            if not all(finite[i] for i in node.inputs):
                continue
            for k, j in enumerate(node.inputs):
                part = self.part(c, k)
                if part is None or _finite(part):
                    continue
                ins = [self.values[i] for i in node.inputs]
                cause = _backward_cause(node.op, k, ins, dict(node.attrs), g)
                yield self.finding(
                    Kind.NONFINITE,
                    Severity.ERROR,
                    j,
                    self.backward_step(j),
                    f"the gradient {c} sends back to {j} is {_kinds(part)} though ∂L/∂{c} and "
                    f"every value are finite: {cause}",
                    {**_summary("upstream", g), **_summary("input", ins[k])},
                    (j, *self._route(c)),
                )
        for j in graph.order:
            g = self.grads[j]
            if g is None or _finite(g) or not finite[j]:
                continue
            parts = [self.part(c, k) for c, k in graph.consumers[j]]
            if all(p is None or _finite(p) for p in parts):
                yield self.finding(
                    Kind.NONFINITE,
                    Severity.ERROR,
                    j,
                    self.backward_step(j),
                    f"∂L/∂{j} is {_kinds(g)}: its finite contributions overflow when summed",
                    _summary("gradient", g),
                    self._route(j),
                )

    def _route(self, start: str, through: frozenset[str] | None = None) -> tuple[str, ...]:
        """A shortest path from `start` to the loss (through nodes of `through` only, if given;
        else any route there); empty where there is none."""
        hop = self._routes.get(through)
        if hop is None:
            hop = _toward(self.graph, through)
            self._routes[through] = hop
        if start not in hop and through is not None:
            return self._route(start)
        return _walk(start, hop, self.graph.output) if start in hop else ()

    # -- 6. each node's backward against its own forward

    def gradient_checks(self) -> Iterator[Finding]:
        """Every op node checked; scalar nodes of an elementwise op in one batch per op."""
        graph = self.graph
        rng = np.random.default_rng(CHECK_SEED)
        batches: dict[tuple[str, str], list[str]] = {}
        results: dict[str, Mismatch] = {}
        scalar = self.scalar
        elementwise = {name for name, op in OPS.items() if op.elementwise}
        for name in graph.forward_order:
            node = graph.nodes[name]
            op = OPS[node.op]
            if node.op in elementwise and name in scalar and scalar.issuperset(node.inputs):
                key = (node.op, repr(sorted(node.attrs.items())) if node.attrs else "")
                batches.setdefault(key, []).append(name)
                continue
            ins = [self.values[i] for i in node.inputs]
            out = self.values[name]
            if self.trace.anomaly is not None and not (
                _finite(out) and all(_finite(v) for v in ins)
            ):
                continue
            checked = _check(op, ins, out, dict(node.attrs), rng, batched=False)
            if checked:
                results[name] = checked[0]
        for names in batches.values():
            node = graph.nodes[names[0]]
            reads = [graph.nodes[n].inputs for n in names]
            ins = [
                np.array([self.values[r[k]] for r in reads], dtype=np.float64)
                for k in range(len(node.inputs))
            ]
            out = np.array([self.values[n] for n in names], dtype=np.float64)
            rows = np.isfinite(out) & np.logical_and.reduce([np.isfinite(v) for v in ins])
            if not rows.all():
                names = [n for n, ok in zip(names, rows, strict=True) if ok]
                ins, out = [v[rows] for v in ins], out[rows]
            checked = _check(OPS[node.op], ins, out, dict(node.attrs), rng, batched=True)
            results.update((names[row], found) for row, found in (checked or {}).items())
        for name, result in results.items():
            yield self.finding(
                Kind.GRADCHECK,
                Severity.ERROR,
                name,
                self.backward_step(name),
                f"{graph.nodes[name].op}'s backward disagrees with central differences of its "
                f"forward along a random direction: {fmt.number(result.analytic)} by backward, "
                f"{fmt.number(result.numeric)} by differences",
                {
                    "analytic": result.analytic,
                    "numeric": result.numeric,
                    "rel_error": result.rel_error,
                },
            )

    # -- 2. vanishing and exploding

    def chains(self) -> Iterator[Finding]:
        """The worst run of shrinking (growing) gains along the backward pass, if large.

        Kadane's maximum-subarray over the DAG: best[j] is the most negative
        sum of log10 gains over the edges of a path ending at j, restarting
        wherever the running sum turns positive. Zero gains (a dead unit, an
        unselected max) are cuts, reported as such, not as vanishing; edges into
        inputs are left out, since data is not trained.
        """
        names = self.graph.order
        gains = np.log10(self.size / self.up[self.consumer])
        data = np.zeros(len(names), dtype=bool)  # not trained: left out
        data[[self.graph.plan.index[n] for n in self.graph.inputs]] = True
        kept = np.isfinite(gains) & ~data[self.input]
        # consumers come after their inputs in topological order: the edges by their input,
        # last first, visit every edge into a node after all those into its consumers
        by = np.argsort(-self.input[kept], kind="stable")
        edges = (self.input[kept][by], self.consumer[kept][by], gains[kept][by])
        for sign, kind, bound in ((1, Kind.VANISHING, VANISH), (-1, Kind.EXPLODING, EXPLODE)):
            sums, prev, count = _worst_runs(len(names), *edges, sign)
            last = min(range(len(names)), key=sums.__getitem__)
            length = count[last]
            if length == 0 or sums[last] > sign * math.log10(bound):
                continue
            steps = [last]
            while len(steps) <= length:
                steps.append(prev[steps[-1]])
            chain = [names[i] for i in reversed(steps)]
            if len(chain) > MAX_PATH_NODES:
                chain = [*chain[: MAX_PATH_NODES - 2], "…", chain[-1]]
            end = names[last]
            total = sign * sums[last]
            start = chain[0]
            factor = 10.0**total
            per = 10.0 ** (total / length)
            verb = "shrinks" if kind is Kind.VANISHING else "grows"
            yield self.finding(
                kind,
                Severity.WARNING,
                end,
                self.backward_step(end),
                f"the gradient {verb} by a factor of {fmt.number(factor)} over {length} "
                f"step{'s' if length != 1 else ''} from {start} to {end} "
                f"(×{fmt.number(per)} per node on average)",
                {
                    "factor": factor,
                    "length": float(length),
                    "gain_per_node": per,
                    "grad_norm_start": self.grad_norms[start],
                    "grad_norm_end": self.grad_norms[end],
                },
                chain,
            )

    def layers(self) -> Iterator[Layer]:
        """Each outermost block call, and each named entry outside them, as one layer."""
        graph = self.graph
        calls = outermost_calls(graph)
        layer_of = {n: calls.get(n, graph.nodes[n].entry) for n in graph.forward_order}
        members: dict[str, list[str]] = {}
        params: dict[str, dict[str, None]] = {}
        trained = set(self.params)
        for n, layer in layer_of.items():
            members.setdefault(layer, []).append(n)
            if not trained.isdisjoint(inputs := graph.nodes[n].inputs):
                params.setdefault(layer, {}).update(dict.fromkeys(trained.intersection(inputs)))
        received = self._received(layer_of, list(members), trained)
        norms = {p: (l2(self.values[p]), self.grad_norms.get(p, 0.0)) for p in self.params}
        for (name, nodes), sent in zip(members.items(), received, strict=True):
            output = name if name in layer_of else nodes[-1]
            up = self.grad_norms.get(output)
            gain = sent / up if sent is not None and up and math.isfinite(up) else None
            read = params.get(name, {})
            yield Layer(
                name,
                output,
                len(nodes),
                self.timeline.backward_index.get(output),
                up,
                gain,
                math.hypot(*(norms[p][0] for p in read)) if read else None,
                math.hypot(*(norms[p][1] for p in read)) if read else None,
            )

    def _received(
        self, layer_of: Mapping[str, str], layers: Sequence[str], trained: AbstractSet[str]
    ) -> list[float | None]:
        """For each layer, ‖what it sends back to the data it reads from outside‖ (params
        apart; None where it reads none): over the edges into another layer's node or a leaf,
        the contributions to one node summed, then the norm of those sums together."""
        names = self.graph.plan.names
        index = self.graph.plan.index
        ids = {name: i for i, name in enumerate(layers)}
        layer = np.full(len(names), -1, dtype=np.intp)  # leaves: in no layer
        layer[[index[n] for n in layer_of]] = [ids[g] for g in layer_of.values()]
        param = np.zeros(len(names), dtype=bool)
        param[[index[p] for p in trained]] = True
        mine, theirs = layer[self.consumer], layer[self.input]
        out = np.flatnonzero((mine != theirs) & ~param[self.input])
        # one key per (layer, node it sends to); a key with several edges sums them first
        keys, where, count = np.unique(
            mine[out] * len(names) + self.input[out], return_inverse=True, return_counts=True
        )
        sums = np.zeros(len(keys))
        sums[where] = self.size[out]  # right for a key with one edge; the others follow
        parts = list(self.parts.values())
        for k in np.flatnonzero(count > 1).tolist():
            edges = out[where == k].tolist()
            sums[k] = l2(sum(parts[e] for e in edges))
        total = l2_by(keys // len(names), sums, len(layers)).tolist()
        reads = np.bincount(keys // len(names), minlength=len(layers)).tolist()
        return [t if r else None for t, r in zip(total, reads, strict=True)]

    # -- 4. zero gradients explained

    def zero_gradients(self) -> Iterator[Finding]:
        zero = []
        for p in self.params:
            if self.grads[p] is None:
                yield self.finding(
                    Kind.ZERO_GRAD,
                    Severity.WARNING,
                    p,
                    self.forward_step(p),
                    f"{p} gets no gradient: the loss does not depend on it",
                    {},
                )
            elif self.is_zero(p):
                zero.append(p)
        if not zero:
            return
        cuts, hop = self._cuts(zero)
        for p in zero:
            found = cuts[p]
            said = "; ".join(f"at {c}: {why}" for c, why in found[:CUTS_SHOWN])
            if len(found) > CUTS_SHOWN:
                said += "; and more"
            path = _walk(p, hop, found[0][0]) if found else (p,)
            # the step where the cut's chain rule multiplies by 0: its input's
            shown = path[-2] if len(path) > 1 and path[-2] != "…" else path[-1]
            largest = float(np.max(np.abs(self.grads[p])))
            yield self.finding(
                Kind.ZERO_GRAD,
                Severity.WARNING,
                p,
                self.backward_step(shown),
                f"∂L/∂{p} is 0 (largest |element| {fmt.number(largest)}): every path to the "
                f"loss is cut — {said or 'no path carries a gradient'}",
                {"max_abs_grad": largest},
                path,
            )

    def is_zero(self, name: str) -> bool:
        """∂L/∂name is 0, or only what is left of contributions that cancel."""
        g = self.grads[name]
        if g is None:
            return False
        largest = float(np.max(np.abs(g)))
        sent = float(self.sent[self.graph.plan.index[name]])
        return largest == 0 or largest <= ZERO_GRAD * sent

    def _cuts(
        self, starts: Sequence[str]
    ) -> tuple[dict[str, list[tuple[str, str]]], dict[str, str]]:
        """Where the gradient towards each node below `starts` is cut, found by following the
        edges' contributions towards the loss: for each node whose gradient is zero, up to
        CUTS_SHOWN + 1 cuts (node, why), and the next node on the way to the first of them.
        One pass over the nodes, consumers first, each node's cuts built from theirs."""
        graph = self.graph
        region = set(starts)
        for n in graph.order:  # everything a zero-gradient param feeds
            if n not in region and any(i in region for i in graph.nodes[n].inputs):
                region.add(n)
        cuts: dict[str, list[tuple[str, str]]] = {}
        hop: dict[str, str] = {}
        for n in reversed(graph.order):
            if n not in region or not self.is_zero(n):
                continue
            parts = [(c, k, self.part(c, k)) for c, k in graph.consumers[n]]
            if any(p is not None and np.max(np.abs(p)) > 0 for _, _, p in parts):
                cuts[n] = [(n, "the gradients its consumers send back cancel out")]
                continue
            found: dict[str, str] = {}
            for c, k, part in parts:
                if self.grads[c] is None:
                    continue  # c does not reach the loss either: a dead end, not a cut
                if part is not None and c in cuts:
                    below = dict(cuts[c])
                elif part is None:
                    below = {c: f"{graph.nodes[c].op} carries no gradient to its input {k + 1}"}
                else:
                    below = {c: _cut_cause(graph, self.values, c, k)}
                if below and n not in hop:
                    hop[n] = c
                for cut, why in below.items():
                    found.setdefault(cut, why)
                if len(found) > CUTS_SHOWN:
                    break
            cuts[n] = list(found.items())[: CUTS_SHOWN + 1]
        return cuts, hop

    # -- 3. dead and saturated units

    def units(self) -> Iterator[Finding]:
        graph = self.graph
        scalars: dict[str, list[str]] = {"relu": [], "sigmoid": [], "tanh": []}
        for name in graph.forward_order:
            node = graph.nodes[name]
            if node.op in scalars and node.shape == ():
                scalars[node.op].append(name)
                continue
            match node.op:
                case "relu" | "sigmoid" | "tanh":
                    yield from self._off(name, self._units_off(node.op, name))
                case "softmax":
                    yield from self._one_hot(name, self.values[name], node.attrs["axis"])
                case "max" | "min":
                    yield from self._unselected(name)
                case "maxpool":
                    yield from self._pool_unselected(name)
        for op, names in scalars.items():
            if names:
                off = self._units_off(op, names).tolist()
                for name, dead in zip(names, off, strict=True):
                    self.dead[name] = float(dead)
                    if dead:
                        yield from self._off(name, np.asarray(dead))

    def _units_off(self, op: str, names: str | list[str]) -> np.ndarray:
        """Where a relu's input is ≤ 0, or a sigmoid's or tanh's slope is below SATURATED_SLOPE;
        for a list of scalar nodes, one element each."""
        if op == "relu":
            inputs = [
                self.graph.nodes[n].inputs[0]
                for n in ([names] if isinstance(names, str) else names)
            ]
            x = (
                self.values[inputs[0]]
                if isinstance(names, str)
                else np.array([self.values[i] for i in inputs])
            )
            return np.asarray(x <= 0)
        out = (
            self.values[names]
            if isinstance(names, str)
            else np.array([self.values[n] for n in names])
        )
        slope = out * (1.0 - out) if op == "sigmoid" else 1.0 - out * out
        return np.asarray(slope < SATURATED_SLOPE)

    def _off(self, name: str, off: np.ndarray) -> Iterator[Finding]:
        """Units that pass (almost) no gradient; over a batch, those off for every example."""
        op = self.graph.nodes[name].op
        batch = off.shape[0] if off.ndim in (2, 4) else None
        if batch is not None:
            off = np.asarray(off.all(axis=0))
        share = float(off.mean()) if off.size else 0.0
        self.dead[name] = share
        if share < DEAD_FRACTION:
            return
        count, size = int(off.sum()), off.size
        across = f" across the batch of {batch}" if batch is not None else ""
        kind = Kind.DEAD if op == "relu" else Kind.SATURATED
        one = count == 1
        label, what, passes = (
            ("dead ReLU", "has input ≤ 0" if one else "have input ≤ 0", "no gradient passes")
            if op == "relu"
            else (
                f"saturated {op}",
                "is saturated" if one else "are saturated",
                "almost no gradient passes",
            )
        )
        yield self.finding(
            kind,
            Severity.WARNING if share == 1 else Severity.INFO,
            name,
            self.forward_step(name),
            f"{label}: {count} of {size} unit{'s' if size != 1 else ''} {what}{across}; "
            f"{passes} {'it' if one else 'them'}",
            {"fraction": share, "units": float(size)},
        )

    def _one_hot(self, name: str, out: np.ndarray, axis: int) -> Iterator[Finding]:
        top = np.max(out, axis=axis)
        rows = np.atleast_1d(1.0 - top <= EPS)
        count = int(rows.sum())
        if not count:
            return
        yield self.finding(
            Kind.ONE_HOT,
            Severity.WARNING if count == rows.size else Severity.INFO,
            name,
            self.forward_step(name),
            f"softmax: {count} of {rows.size} row{'s' if rows.size != 1 else ''} one-hot to "
            "machine precision; its gradient there is 0",
            {"rows": float(count), "of": float(rows.size)},
        )

    def _unselected(self, name: str) -> Iterator[Finding]:
        node = self.graph.nodes[name]
        a, b = (self.values[i] for i in node.inputs)
        a_wins = a > b if node.op == "max" else a < b
        for k, chosen in enumerate((a_wins | (a == b), ~a_wins)):
            src = node.inputs[k]
            if self.graph.nodes[src].op == "const" or np.asarray(chosen).any():
                continue
            trained = src in self.trained
            yield self.finding(
                Kind.UNSELECTED,
                Severity.WARNING if trained else Severity.INFO,
                src,
                self.forward_step(name),
                f"{node.op}({', '.join(node.inputs)}) never selects {src}: "
                f"it gets no gradient through {name}",
                {"elements": float(np.size(chosen))},
                (src, name),
            )

    def _pool_unselected(self, name: str) -> Iterator[Finding]:
        """Positions of a batch (N > 1) that no example's window ever takes as its maximum."""
        node = self.graph.nodes[name]
        x, out = self.values[node.inputs[0]], self.values[name]
        if x.ndim != 4 or x.shape[0] < 2:
            return
        taken = np.asarray(OPS["maxpool"].backward(np.ones_like(out), out, x, **node.attrs)[0])
        never = ~(taken > 0).any(axis=0)
        count = int(never.sum())
        if not count:
            return
        yield self.finding(
            Kind.UNSELECTED,
            Severity.INFO,
            node.inputs[0],
            self.forward_step(name),
            f"maxpool {name}: {count} of {never.size} input positions are never a window's "
            f"maximum across the batch of {x.shape[0]}: they get no gradient",
            {"positions": float(count), "of": float(never.size)},
            (node.inputs[0], name),
        )


@dataclass(frozen=True)
class Mismatch:
    """A node's backward against central differences of its forward, along one direction,
    where they disagree."""

    analytic: float  # ⟨backward(u), v⟩
    numeric: float  # ⟨u, (f(x + hv) − f(x − hv)) / 2h⟩

    @property
    def rel_error(self) -> float:
        return abs(self.analytic - self.numeric) / max(abs(self.analytic), abs(self.numeric))


def _check(
    op: Op,
    ins: Sequence[Any],
    out: Any,
    attrs: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    batched: bool,
) -> dict[int, Mismatch] | None:
    """An op's backward against central differences of its forward along a random direction:
    ⟨backward(u), v⟩ against ⟨u, (f(x + hv) − f(x − hv)) / 2h⟩, with h relative to |x|.

    Where they disagree the step is taken 100 times smaller; if they still do and
    the left and right differences stay apart, the direction crosses a kink (relu
    at 0, a tie of max): there is no derivative to compare, and the node passes.
    `batched`: every input is a vector of the scalar inputs of many nodes of one
    elementwise op, each element checked on its own. The mismatches by row (0 when
    not batched); None where the op cannot be evaluated there.
    """

    def total(a: Any) -> np.ndarray:
        return np.asarray(a if batched else np.sum(a), dtype=np.float64)

    moved = [op.carries_grad(k) for k in range(len(ins))]
    if not any(moved):
        return None
    directions = [
        rng.standard_normal(np.shape(v))
        * np.maximum(1.0, np.abs(v) if batched else np.max(np.abs(v)))
        if m
        else None
        for v, m in zip(ins, moved, strict=True)
    ]
    u = rng.standard_normal(np.shape(out))
    try:
        parts = op.backward(u, out, *ins, **attrs)
        analytic = sum(
            (
                total(p * d)
                for p, d in zip(parts, directions, strict=True)
                if p is not None and d is not None
            ),
            np.zeros(np.shape(out) if batched else ()),
        )
        base = total(u * out)
        scale = total(np.abs(u * out))
        steps = []
        for h in CHECK_STEPS:
            above = total(u * op.forward(*_moved(ins, directions, h), **attrs))
            below = total(u * op.forward(*_moved(ins, directions, -h), **attrs))
            numeric = (above - below) / (2 * h)
            tol = (
                CHECK_RTOL * np.maximum(np.abs(numeric), np.abs(analytic))
                + 64 * EPS * (1 + scale) / h
            )
            jump = np.abs((above - base) / h - (base - below) / h)
            agree = (np.abs(numeric - analytic) <= tol) | ~np.isfinite(numeric)
            steps.append((numeric, tol, jump, agree))
            if agree.all():
                break
    except (OpError, ValueError, FloatingPointError):
        return None
    if len(steps) == 1:
        numeric, *_ = steps[0]
        ok = np.ones(np.shape(numeric), dtype=bool)
    else:
        (coarse, coarse_tol, coarse_jump, coarse_ok), (fine, _, fine_jump, fine_ok) = steps
        kink = (coarse_jump > coarse_tol) & (fine_jump > coarse_jump / 2)
        ok = coarse_ok | fine_ok | kink
        numeric = np.where(coarse_ok, coarse, fine)
    analytic, numeric = np.atleast_1d(analytic), np.atleast_1d(numeric)
    return {
        int(row): Mismatch(float(analytic[row]), float(numeric[row]))
        for row in np.flatnonzero(~np.atleast_1d(ok))
    }


def _moved(ins: Sequence[Any], directions: Sequence[Any], h: float) -> list[Any]:
    return [v if d is None else v + h * d for v, d in zip(ins, directions, strict=True)]


def _kinds(v: Any) -> str:
    v = np.asarray(v)
    kinds = [
        label
        for label, mask in (("nan", np.isnan(v)), ("inf", np.isposinf(v)), ("-inf", np.isneginf(v)))
        if mask.any()
    ]
    return "/".join(kinds)


def _summary(label: str, v: Any) -> dict[str, float]:
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0:
        return {label: float(v)}
    finite = v[np.isfinite(v)]
    out = {f"{label}_nonfinite": float(v.size - finite.size)}
    if finite.size:
        out[f"{label}_min"] = float(finite.min())
        out[f"{label}_max"] = float(finite.max())
    return out


def _forward_cause(op: str, ins: Sequence[Any], attrs: Mapping[str, Any], out: Any) -> str:
    """Why an op made a NaN or an infinity out of finite numbers."""
    match op:
        case "log":
            x = np.asarray(ins[0])
            if (x < 0).any():
                return f"log of a negative number (min {fmt.number(x.min())})"
            return "log of 0"
        case "div":
            a, b = np.broadcast_arrays(*ins)
            if ((b == 0) & (a == 0)).any():
                return "0 / 0"
            if (b == 0).any():
                return "division by zero"
        case "exp":
            return f"exp overflow: its input reaches {fmt.number(np.max(ins[0]))} (above 709.78)"
        case "pow":
            a, p = np.asarray(ins[0]), float(attrs["p"])
            if (a < 0).any() and p != int(p):
                return f"a negative number to the power {fmt.number(p)}"
            if (a == 0).any() and p < 0:
                return f"0 to the negative power {fmt.number(p)}"
    if np.isnan(out).any():
        return f"{op} of finite numbers is not a number here"
    return "overflow: the result exceeds the largest float64 (1.8e308)"


def _backward_cause(op: str, k: int, ins: Sequence[Any], attrs: Mapping[str, Any], g: Any) -> str:
    """Why an op's local derivative, times a finite upstream gradient, is not finite."""
    x = np.asarray(ins[k])
    match op:
        case "pow" if (x == 0).any() and float(attrs["p"]) < 1:
            return f"the slope of a ** {fmt.number(attrs['p'])} is infinite at a = 0"
        case "div" if k == 1:
            return "−a/b² overflows: b is nearly 0"
        case "div":
            return "1/b overflows: b is nearly 0"
        case "log":
            return "1/x overflows: x is nearly 0"
    return f"∂{op}/∂input {k + 1} is not finite at these inputs"


def _cut_cause(graph: Graph, values: Mapping[str, Any], c: str, k: int) -> str:
    """Why consumer c, whose own gradient is not zero, sends none back along input k."""
    node = graph.nodes[c]
    src = node.inputs[k]
    match node.op:
        case "relu":
            return f"dead ReLU: its input {src} is ≤ 0 everywhere"
        case "max" | "min":
            return f"{node.op} never selects {src}"
        case "maxpool":
            return f"no element of {src} is its window's maximum where the gradient is"
        case "mul" | "matmul":
            other = node.inputs[1 - k]
            if graph.nodes[other].op == "const":
                return f"multiplied by the constant {graph.display(other)}"
            if not np.any(values[other]):
                return f"multiplied by {other}, which is 0"
        case "sigmoid" | "tanh":
            return f"saturated {node.op}: its slope is 0 in float64"
        case "pow":
            return "a ** 0 is constant"
    return f"∂{c}/∂{src} is 0 here ({node.op})"


def provenance(trace: Trace, target: str, top: int = 10) -> Provenance:
    """The `top` paths from the loss to `target` that carry the most of ∂L/∂target.

    Each edge c → j is weighted by its share of ∂L/∂j, ⟨contribution, ∂L/∂j⟩ / ‖∂L/∂j‖²
    (the shares into a node sum to 1, so the products along all paths do too);
    for scalars a path's share times ∂L/∂target is the product of its local
    derivatives. A best-first search expands partial paths from the loss in
    the order of the largest share they can still reach (known exactly, from a
    dynamic programme over the DAG), so the paths come out largest first
    without enumerating the rest.
    """
    graph = trace.graph
    if target not in graph.nodes:
        raise GraphstepError(
            f"--why {target}: no node named '{target}' in {graph.name}",
            hint=did_you_mean(target, list(graph.nodes)) or "graphstep run FILE lists the nodes",
        )
    g_target = trace.grad(target)
    if g_target is None:
        return Provenance(target, 0.0, (), 0)
    below = nx.descendants(graph.dag, target) | {target}
    order = [n for n in graph.order if n in below]
    # log|share| and sign of each edge c → j inside the region, from c's side
    out_edges: dict[str, list[tuple[str, float, float]]] = {n: [] for n in order}
    with np.errstate(all="ignore"):
        for j in order:
            g = trace.grad(j)
            total = 0.0 if g is None else float(np.sum(g * g))
            if not (total > 0 and math.isfinite(total)):
                continue  # j does not reach the loss, or its gradient is 0 or not finite
            for c, k in graph.consumers[j]:
                part = trace.contribution(c, k) if c in below else None
                if part is None:
                    continue
                share = float(np.sum(part * g)) / total
                if share != 0 and math.isfinite(share):
                    out_edges[c].append((j, math.log(abs(share)), math.copysign(1.0, share)))
    # reach[n]: the largest log|share product| from n down to the target
    reach: dict[str, float] = {target: 0.0}
    for c in order:
        options = [w + reach[j] for j, w, _ in out_edges[c] if j in reach]
        if options:
            reach[c] = max(options)
    found: list[ProvenancePath] = []
    searched = 0
    g_norm = l2(g_target)
    scalar = np.ndim(g_target) == 0
    if graph.output in reach:
        # (−bound, tie-break, node, log|share| so far, sign, parent path)
        queue: list[tuple[float, int, str, float, float, Any]] = [
            (-reach[graph.output], 0, graph.output, 0.0, 1.0, None)
        ]
        tick = 1
        while queue and len(found) < top and searched < MAX_WHY_EXPANSIONS:
            _, _, n, logged, sign, parent = heapq.heappop(queue)
            searched += 1
            chain = (n, parent)
            if n == target:
                nodes = _unlink(chain)
                share = sign * math.exp(logged)
                amount = share * float(g_target) if scalar else share * g_norm
                found.append(ProvenancePath(nodes, share, amount))
                continue
            for j, w, s in out_edges[n]:
                if j in reach:
                    heapq.heappush(
                        queue, (-(logged + w + reach[j]), tick, j, logged + w, sign * s, chain)
                    )
                    tick += 1
    return Provenance(target, g_norm, tuple(found), searched)


def _unlink(chain: Any) -> tuple[str, ...]:
    nodes = []
    while chain is not None:
        nodes.append(chain[0])
        chain = chain[1]
    return tuple(reversed(nodes))
