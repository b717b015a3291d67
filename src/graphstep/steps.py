"""The timeline: every step of the forward and the backward pass, explained with its numbers.

Step 0 is the start (only the leaves are known). Then one forward step per op
node in topological order, then one backward step per node that has a
gradient, in reverse topological order: the first is ∂L/∂L = 1, and each
finalizes ∂L/∂node as the sum over its consumers of upstream · local, e.g.
`∂f/∂x = ∂f/∂q · ∂(x + y)/∂x = -4 · 1 = -4`: the local factor is written over
the consumer's formula, never as ∂q/∂x, which would read like a total
derivative. A composite step (conv, pool) also has inner steps, one per
window, forward and backward.

Everything is read from the trace, which is computed once; nothing here
recomputes a value. Step texts are built when first asked for and then kept,
so making a timeline costs one pass over the node names, and a step costs the
same wherever it is. Inner steps are built one window at a time from index
arithmetic: a 4,704-window conv holds no text until a window is visited.

The explanations come from the ops themselves (`Op.formula`, `Op.local`).
Where an op is evaluated at a point it is not differentiable at (relu or abs
at 0, a tie of max/min or of a max-pool window, the norm of 0), the step says
so and names the convention the gradient follows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, overload

import numpy as np

from .composite import Windows, backward_text, forward_text, windows
from .format import index as position_text
from .format import tensor
from .ops import OPS

if TYPE_CHECKING:
    from .graph import Graph
    from .trace import Trace

SUBSTITUTE = 4  # inputs with at most this many elements are written into the formula
START_LEAVES = 8  # the start step names at most this many leaves
INNER_CACHE = 1024  # window texts kept per composite step


class Phase(StrEnum):
    START = "start"
    FORWARD = "forward"
    BACKWARD = "backward"


@dataclass(frozen=True)
class Step:
    """One step of the timeline: what is computed, and the line that explains it.

    `window` and `inner` are set on the inner steps of a composite (the output
    position of the window, and its ordinal); `note` names a non-differentiable
    point and its convention, and is also part of `text`.
    """

    index: int
    phase: Phase
    node: str | None
    text: str
    window: tuple[int, ...] | None = None
    inner: int | None = None
    note: str | None = None

    @property
    def number(self) -> str:
        """`7`; an inner step `3.2` (its ordinal from 1)."""
        return str(self.index) if self.inner is None else f"{self.index}.{self.inner + 1}"

    @property
    def line(self) -> str:
        """The transcript line: `7 backward x: ∂f/∂x = …`, inner steps numbered `3.2`."""
        return f"{self.number} {self.about}"

    @property
    def about(self) -> str:
        """The line without its number: `backward x: ∂f/∂x = …`, `start: …`."""
        if self.index == 0:
            return f"start: {self.text}"
        return f"{self.phase} {self.node}: {self.text}"


class Timeline:
    """The steps of one trace, built lazily; `steps[0]` is the start."""

    def __init__(self, trace: Trace) -> None:
        graph = trace.graph
        self.trace = trace
        self.graph = graph
        self.call_of = outermost_calls(graph)
        forward, forward_members = self._collapse(graph.forward_order)
        with_grad = [n for n in reversed(graph.order) if trace.grad(n) is not None]
        backward, backward_members = self._collapse(with_grad)
        self._nodes: list[str | None] = [None, *forward, *backward]
        self.n_forward = len(forward)
        # A block call is one step; its nodes are its inner steps, in the pass's order.
        self._members: dict[int, tuple[str, ...]] = {}
        self._member_order: dict[int, dict[str, int]] = {}
        self.forward_index: dict[str, int] = {n: 0 for n in graph.order}
        self.backward_index: dict[str, int] = {}
        for i, n in enumerate(forward, 1):
            self.forward_index[n] = i
            if n in forward_members:
                self._members[i] = forward_members[n]
                self.forward_index.update((m, i) for m in forward_members[n])
        for i, n in enumerate(backward, self.n_forward + 1):
            self.backward_index[n] = i
            if n in backward_members:
                self._members[i] = backward_members[n]
                self.backward_index.update((m, i) for m in backward_members[n])
        self.steps: Sequence[Step] = _Lazy(len(self._nodes), self._build)
        self._inner: dict[int, Sequence[Step]] = {}
        self._windows: dict[str, Windows | None] = {}

    def _collapse(self, order: Sequence[str]) -> tuple[list[str], dict[str, tuple[str, ...]]]:
        """`order` with each outermost block call's nodes folded into the call's one step.

        The step stands where the call's own node (the block's output) stands:
        in the forward pass after all the nodes it depends on, in the backward
        pass before them.
        """
        members: dict[str, list[str]] = {}
        for n in order:
            call = self.call_of.get(n)
            if call is not None:
                members.setdefault(call, []).append(n)
        anchor = {c: c if c in ms else ms[0] for c, ms in members.items()}
        steps = []
        for n in order:
            call = self.call_of.get(n)
            if call is None:
                steps.append(n)
            elif anchor[call] == n:
                steps.append(call)
        return steps, {c: tuple(ms) for c, ms in members.items()}

    def members(self, index: int) -> tuple[str, ...]:
        """The nodes of the block call stepped at `index`, in stepping order; () otherwise."""
        return self._members.get(index, ())

    def member_index(self, index: int, node: str) -> int | None:
        """Which inner step of the block call at `index` computes `node`, if one does."""
        order = self._member_order.get(index)
        if order is None:
            order = self._member_order[index] = {m: k for k, m in enumerate(self.members(index))}
        return order.get(node)

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def end(self) -> int:
        return len(self._nodes) - 1

    def at(self, index: int, inner: int | None = None) -> Step:
        """Step `index`, or its inner step `inner` (a window, or a node of a block call)."""
        return self.steps[index] if inner is None else self.inner_steps(index)[inner]

    def node_at(self, index: int) -> str | None:
        return self._nodes[index]

    def phase(self, index: int) -> Phase:
        if index == 0:
            return Phase.START
        return Phase.FORWARD if index <= self.n_forward else Phase.BACKWARD

    def windows(self, node: str) -> Windows | None:
        if node not in self._windows:
            self._windows[node] = windows(self.graph, node)
        return self._windows[node]

    def is_composite(self, index: int) -> bool:
        node = self._nodes[index]
        return node is not None and (self.graph.nodes[node].is_composite or index in self._members)

    def inner_steps(self, index: int) -> Sequence[Step]:
        """A composite step's windows in row-major order, a block call's nodes; else empty."""
        if index in self._inner:
            return self._inner[index]
        node = self._nodes[index]
        members = self._members.get(index)
        wins = (
            self.windows(node)
            if node is not None and not members and self.is_composite(index)
            else None
        )
        if members:
            inner: Sequence[Step] = _Lazy(
                len(members), lambda k: self._member_step(index, members, k)
            )
        elif wins is None:
            inner = ()
        else:
            phase = self.phase(index)
            describe = forward_text if phase is Phase.FORWARD else backward_text

            def build(k: int, wins: Windows = wins) -> Step:
                position = wins.position(k)
                body = describe(wins, self.trace, position)
                text = f"{wins.kind} window {position_text(position)}: {body}"
                return Step(index, phase, wins.node, text, position, k)

            inner = _Lazy(len(wins), build, limit=INNER_CACHE)
        self._inner[index] = inner
        return inner

    def _build(self, i: int) -> Step:
        phase = self.phase(i)
        node = self._nodes[i]
        if node is None:
            return Step(0, phase, None, self._start_text())
        if i in self._members and phase is Phase.FORWARD:
            main, note = self._call_forward(node), None
        else:
            main, note = self._forward(node) if phase is Phase.FORWARD else self._backward(node)
        text = main if note is None else f"{main}  ⚠ {note}"
        return Step(i, phase, node, text, note=note)

    def _call_forward(self, call: str) -> str:
        """`f1 = cnn(region1) = [36] … (block call: 4 nodes inside)`."""
        block, args = self.graph.calls[call]
        count = len(self._members[self.forward_index[call]])
        value = tensor(self.trace.value(call))
        return f"{call} = {block}({', '.join(args)}) = {value}  (block call: {count} nodes inside)"

    def _member_step(self, index: int, members: tuple[str, ...], k: int) -> Step:
        phase = self.phase(index)
        node = members[k]
        main, note = self._forward(node) if phase is Phase.FORWARD else self._backward(node)
        text = main if note is None else f"{main}  ⚠ {note}"
        return Step(index, phase, node, text, inner=k, note=note)

    def _start_text(self) -> str:
        graph, trace = self.graph, self.trace
        leaves = graph.inputs + graph.params
        shown = [f"{n} = {tensor(trace.value(n))}" for n in leaves[:START_LEAVES]]
        if len(leaves) > START_LEAVES:
            shown.append(f"… and {len(leaves) - START_LEAVES} more")
        return "the leaves are known: " + ", ".join(shown) if shown else "nothing is known yet"

    def _forward(self, name: str) -> tuple[str, str | None]:
        """`q = x + y = -2 + 5 = 3`: the formula, its numbers (when small), the value."""
        graph, trace = self.graph, self.trace
        node = graph.nodes[name]
        symbolic = graph.formula(name)
        parts = [f"{name} = {symbolic}"]
        values = [trace.value(i) for i in node.inputs]
        result = tensor(trace.value(name))
        if all(v.size <= SUBSTITUTE for v in values):
            numeric = OPS[node.op].formula([tensor(v) for v in values], **node.attrs)
            if numeric not in (symbolic, result):  # not `-x = -2 = -2`
                parts.append(numeric)
        parts.append(result)
        anomaly = trace.anomaly
        note = None
        if anomaly is not None and anomaly.node == name and anomaly.phase == "forward":
            note = f"the first non-finite value ({anomaly.what}): an anomaly"
        return " = ".join(parts), note

    def _backward(self, name: str) -> tuple[str, str | None]:
        """`∂f/∂x = ∂f/∂q · ∂(x + y)/∂x = -4 · 1 = -4`: the chain rule's sum over the consumers."""
        graph, trace = self.graph, self.trace
        out = graph.output
        if name == out:
            return f"∂{out}/∂{out} = 1", None
        symbols: list[str] = []  # ∂f/∂q · ∂(x + y)/∂x
        spelled: list[str] = []  # -4 · 1(x > 0): the upstream's numbers, the op's local text
        numbers: list[str] = []  # -4 · 1: the local's numbers too, where it has them
        notes: list[str] = []
        for consumer, position in graph.consumers[name]:
            if trace.contribution(consumer, position) is None:
                continue
            upstream = tensor(trace.grad(consumer))
            local, value = self._local(consumer, position)
            symbols.append(f"∂{out}/∂{consumer} · {self._local_symbol(consumer, name)}")
            spelled.append(f"{upstream} · {local}")
            numbers.append(f"{upstream} · {value}")
            note = self._kink(consumer, position)
            if note is not None and note not in notes:
                notes.append(note)
        parts = [f"∂{out}/∂{name}", " + ".join(symbols)]
        if spelled != numbers:
            parts.append(" + ".join(spelled))
        parts.append(" + ".join(numbers))
        parts.append(tensor(trace.grad(name)))
        anomaly = trace.anomaly
        if anomaly is not None and anomaly.node == name and anomaly.phase == "backward":
            notes.append(f"the first non-finite gradient ({anomaly.what}): an anomaly")
        return " = ".join(parts), "; ".join(notes) or None

    def _local_symbol(self, consumer: str, name: str) -> str:
        """The local factor written over the consumer's formula, `∂(q * z)/∂q`, so it cannot
        be read as the total derivative ∂f/∂q when the consumer is the output f itself."""
        formula = self.graph.formula(consumer)
        if not formula.endswith(")") or not formula[0].isalpha():
            formula = f"({formula})"
        return f"∂{formula}/∂{self.graph.display(name)}"

    def _local(self, consumer: str, position: int) -> tuple[str, str]:
        """∂consumer/∂input as the op writes it, and as a number where the consumer is a scalar.

        For a scalar consumer the local derivative is the op's backward with an
        upstream of 1, exact even at ties and kinks; for a tensor consumer it is
        a Jacobian, which only the op's own text can say briefly.
        """
        graph, trace = self.graph, self.trace
        node = graph.nodes[consumer]
        op = OPS[node.op]
        names = [graph.display(i) for i in node.inputs]
        symbolic = _grouped(op.local(position, names, consumer, **node.attrs))
        out = trace.value(consumer)
        if out.ndim:
            return symbolic, symbolic
        inputs = [trace.value(i) for i in node.inputs]
        with np.errstate(all="ignore"):
            parts = op.backward(np.ones(()), out, *inputs, **node.attrs)
        part = parts[position]
        return symbolic, symbolic if part is None else tensor(part)

    def _kink(self, consumer: str, position: int) -> str | None:
        node = self.graph.nodes[consumer]
        check = KINKS.get(node.op)
        if check is None:
            return None
        inputs = [self.trace.value(i) for i in node.inputs]
        return check(self, consumer, inputs, position)


def outermost_calls(graph: Graph) -> dict[str, str]:
    """Each node inside a block call → the outermost call it belongs to."""
    nested = {m for c, members in graph.groups.items() for m in members if m != c}
    outer: dict[str, str] = {}
    for call, members in graph.groups.items():
        if call not in nested:
            outer.update((m, call) for m in members)
    return outer


def _grouped(text: str) -> str:
    """A local derivative that is itself a sum, in parentheses, so `up · (a + b)` reads right."""
    if any(op in text for op in (" + ", " - ", " − ", ", ")):
        return f"({text})"
    return text


def _where(mask: np.ndarray) -> str:
    count = int(np.count_nonzero(mask))
    return "" if np.ndim(mask) == 0 else f" ({count} element{'s' * (count != 1)})"


def _relu(t: Timeline, consumer: str, inputs: list[np.ndarray], position: int) -> str | None:
    at = inputs[0] == 0
    if not at.any():
        return None
    return f"relu at 0{_where(at)}: relu'(0) = 0 by convention, as in torch"


def _abs(t: Timeline, consumer: str, inputs: list[np.ndarray], position: int) -> str | None:
    at = inputs[0] == 0
    if not at.any():
        return None
    return f"abs at 0{_where(at)}: |x|'(0) = sign(0) = 0 by convention, as in torch"


def _tie(t: Timeline, consumer: str, inputs: list[np.ndarray], position: int) -> str | None:
    at = np.asarray(inputs[0] == inputs[1])
    if not at.any():
        return None
    op = t.graph.nodes[consumer].op
    return f"{op} tie{_where(at)}: the gradient is split 0.5 / 0.5, as torch.maximum"


def _pool(t: Timeline, consumer: str, inputs: list[np.ndarray], position: int) -> str | None:
    wins = t.windows(consumer)
    ties = 0 if wins is None else wins.ties(inputs[0])
    if not ties:
        return None
    plural = "s" * (ties != 1)
    return (
        f"maxpool tie in {ties} window{plural}: the first maximum in row-major order "
        "gets the gradient, as max_pool2d"
    )


def _norm(t: Timeline, consumer: str, inputs: list[np.ndarray], position: int) -> str | None:
    if t.trace.value(consumer) != 0:
        return None
    return "norm at 0: its gradient x/‖x‖ is undefined; 0 by convention, as in torch"


# Ops with points where they are not differentiable, and the check that flags them.
KINKS: dict[str, Callable[[Timeline, str, list[np.ndarray], int], str | None]] = {
    "relu": _relu,
    "abs": _abs,
    "max": _tie,
    "min": _tie,
    "maxpool": _pool,
    "norm": _norm,
}


class _Lazy(Sequence[Step]):
    """A sequence whose items are built on first access and kept (up to `limit` of them)."""

    def __init__(self, length: int, build: Callable[[int], Step], limit: int | None = None) -> None:
        self._length = length
        self._build = build
        self._limit = limit
        self._cache: dict[int, Step] = {}

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, i: int) -> Step: ...
    @overload
    def __getitem__(self, i: slice) -> list[Step]: ...
    def __getitem__(self, i: int | slice) -> Step | list[Step]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._length))]
        if i < 0:
            i += self._length
        if not 0 <= i < self._length:
            raise IndexError(f"step {i} of {self._length}")
        step = self._cache.get(i)
        if step is None:
            if self._limit is not None and len(self._cache) >= self._limit:
                self._cache.clear()
            step = self._cache[i] = self._build(i)
        return step

    def __iter__(self) -> Iterator[Step]:
        return (self[i] for i in range(self._length))


def transcript(timeline: Timeline, into: bool = False) -> list[str]:
    """One line per step from 1, e.g. `7 backward x: ∂f/∂x = ∂f/∂q · ∂(x + y)/∂x = -4 · 1 = -4`.

    With `into`, each composite step is followed by its windows, indented and
    numbered `n.1`, `n.2`, ….
    """
    lines = []
    for i in range(1, len(timeline)):
        lines.append(timeline.steps[i].line)
        if into:
            lines.extend(f"  {inner.line}" for inner in timeline.inner_steps(i))
    return lines
