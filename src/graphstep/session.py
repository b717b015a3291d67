"""The session: a cursor over the timeline, with breakpoints, watches and gradient descent.

The trace is computed once; a move only changes `position` (the top-level
step, 0 … len(timeline) − 1) and `inner` (the window inside a composite step,
or None), so every move costs the same wherever it is and whatever the graph.

Stepping, as a debugger user expects it:

- `step()` goes to the next step and enters nothing. Inside a composite it
  goes to the next window, and past the last window it leaves the composite
  for the next top-level step.
- `step_into()` on a composite step enters its first window; anywhere else it
  is `step()`.
- `step_over()` is `step()` without ever entering: from a top-level step it
  always goes to the next top-level step.
- `step_out()` leaves the composite for its own top-level step; at the top
  level there is nothing to leave and it does not move.
- `back()` and `step()` undo each other: `back()` right after `step()` returns
  to where that step started (into the last window of a composite the step
  just left, too), and `step()` right after `back()` returns likewise.
  Otherwise `back()` goes one step earlier without entering: window k to
  window k − 1, the first window out to its composite's top-level step, step n
  to step n − 1.
- `continue_()` runs to the next breakpoint hit or anomaly (when
  `break_on_anomaly`), or else to the end of the current phase: the last
  forward step, and from there the last backward step. `reverse_continue()`
  is its mirror: back to the previous hit, or else to the first backward step,
  and from there to step 0. Both run over top-level steps and leave a composite;
  inside a block call, its inner steps still ahead are looked at first.
- `goto(n)` jumps to top-level step n.

A breakpoint is on a node, optionally for one phase, optionally with a
condition over the node's `value` and `grad`, such as `abs(grad) > 10`. The
condition language: numbers, `value`, `grad`, arithmetic `+ - * / **`,
comparisons (chained too), `and`, `or`, `not`, and the functions `abs`,
`max`, `min` (one argument: over all elements; two: elementwise), `any` and
`all`. A tensor condition holds where it holds for any element (wrap it in
`all(...)` to ask for every one). `grad` is known only in the backward phase:
in the forward phase a condition that reads it does not hold. Conditions are
parsed with `ast` into that whitelist and evaluated by walking the tree with
numpy, never by `eval`. Watches use the same language over node names, with
`grad(name)` for a gradient.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial, reduce
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import GraphstepError, did_you_mean, excerpt
from .limits import MAX_EXPRESSION_CHARS, MAX_EXPRESSION_DEPTH, MAX_TENSOR_ELEMENTS
from .steps import Phase, Step, Timeline
from .trace import Anomaly, Trace, leaf_override

if TYPE_CHECKING:
    from .graph import Graph


class NodeState(StrEnum):
    PENDING = "pending"
    CURRENT = "current"
    COMPUTED = "computed"
    GRAD = "grad"  # the gradient is known


# --- conditions and watches: a whitelisted expression, walked with numpy ------------------------

COMPARE: dict[type[ast.cmpop], Callable[..., Any]] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
BINARY: dict[type[ast.operator], Callable[..., Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
UNARY: dict[type[ast.unaryop], Callable[..., Any]] = {
    ast.USub: np.negative,
    ast.UAdd: np.positive,
    ast.Not: np.logical_not,
}
FUNCTIONS: dict[str, tuple[int, int]] = {  # name -> (fewest, most) arguments
    "abs": (1, 1),
    "max": (1, 2),
    "min": (1, 2),
    "any": (1, 1),
    "all": (1, 1),
}
CONDITION_NAMES = frozenset({"value", "grad"})


class Unknown(Exception):
    """A name whose number is not known at the cursor (or not at all, like a missing gradient)."""


Resolve = Callable[[str, bool], np.ndarray]  # (name, gradient wanted) -> the array


@dataclass(frozen=True)
class Expression:
    """A parsed condition or watch: its text and its checked tree."""

    text: str
    tree: ast.expr = field(compare=False, repr=False)
    names: frozenset[str] = field(compare=False)  # the names it reads

    def evaluate(self, resolve: Resolve) -> np.ndarray:
        """The expression's value; Unknown if it reads a number not known."""
        with np.errstate(all="ignore"):
            try:
                return np.asarray(_walk(self.tree, resolve), dtype=np.float64)
            except (ValueError, TypeError, OverflowError, MemoryError) as e:
                raise GraphstepError(f"cannot evaluate '{excerpt(self.text)}': {e}") from None

    def holds(self, resolve: Resolve) -> bool:
        """True where the result is true for any element; False when it reads an unknown number."""
        try:
            return bool(np.any(self.evaluate(resolve)))
        except Unknown:
            return False


def compile_expression(
    text: str, names: Collection[str], what: str = "condition", grad_function: bool = False
) -> Expression:
    """`text` parsed into the whitelist; GraphstepError with the column of whatever is not allowed.

    `names` are the names it may read; `grad_function` admits `grad(name)`.
    """
    if not isinstance(text, str):
        raise GraphstepError(
            f"a {what} is text such as 'abs(grad) > 10', not {excerpt(repr(text))}"
        )
    if not text.strip():
        raise GraphstepError(f"the {what} is empty", hint="e.g. abs(grad) > 10")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise GraphstepError(f"the {what} is longer than {MAX_EXPRESSION_CHARS:,} characters")
    indent = len(text) - len(text.lstrip())
    body = text.strip()
    try:
        tree = ast.parse(body, mode="eval").body
    except SyntaxError as e:
        at_end = len(body) + 1  # Python gives no offset when the text ends too soon
        raise GraphstepError(
            f"bad {what} '{excerpt(text)}': {e.msg}", column=indent + (e.offset or at_end)
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise GraphstepError(
            f"the {what} '{excerpt(text)}' is nested too deeply",
            hint=f"at most {MAX_EXPRESSION_DEPTH} levels",
        ) from None
    read: set[str] = set()
    _check(tree, text, indent, set(names), what, grad_function, read, 0)
    return Expression(text, tree, frozenset(read))


def _check(
    node: ast.AST,
    text: str,
    indent: int,
    names: set[str],
    what: str,
    grad_function: bool,
    read: set[str],
    depth: int,
) -> None:
    def fail(message: str, hint: str | None = None) -> GraphstepError:
        column = indent + getattr(node, "col_offset", 0) + 1
        return GraphstepError(f"{message} in {what} '{excerpt(text)}'", column=column, hint=hint)

    def check(child: ast.AST) -> None:
        _check(child, text, indent, names, what, grad_function, read, depth + 1)

    if depth > MAX_EXPRESSION_DEPTH:
        raise fail(f"nested more than {MAX_EXPRESSION_DEPTH} deep")
    match node:
        case ast.Constant(value=v):
            if isinstance(v, complex) or not isinstance(v, int | float):
                raise fail(f"the constant {excerpt(repr(v))} is not a number")
            try:
                float(v)
            except OverflowError:
                raise fail(
                    "a number too large for float64", "the largest is about 1.8e308"
                ) from None
        case ast.Name(id=n):
            if n not in names:
                hint = did_you_mean(n, names) or f"it can read {', '.join(sorted(names))}"
                raise fail(f"unknown name '{n}'", hint)
            read.add(n)
        case ast.UnaryOp(op=op, operand=operand) if type(op) in UNARY:
            check(operand)
        case ast.BinOp(left=left, op=op, right=right) if type(op) in BINARY:
            check(left)
            check(right)
        case ast.BoolOp(values=operands):
            for operand in operands:
                check(operand)
        case ast.Compare(left=left, ops=ops, comparators=rest) if all(
            type(o) in COMPARE for o in ops
        ):
            for operand in (left, *rest):
                check(operand)
        case ast.Call(func=ast.Name(id="grad"), args=[ast.Name(id=n)], keywords=[]) if (
            grad_function
        ):
            if n not in names:
                raise fail(f"unknown node '{n}'", did_you_mean(n, names))
            read.add(n)
        case ast.Call(func=ast.Name(id=f), args=args, keywords=keywords) if f in FUNCTIONS:
            fewest, most = FUNCTIONS[f]
            if keywords or not fewest <= len(args) <= most:
                count = str(fewest) if fewest == most else f"{fewest} or {most}"
                raise fail(f"{f}() takes {count} argument{'s' * (most > 1)}")
            for a in args:
                check(a)
        case ast.Call():
            allowed = sorted(FUNCTIONS) + (["grad"] if grad_function else [])
            raise fail("this call is not allowed", f"the functions: {', '.join(allowed)}")
        case _:
            raise fail(
                f"'{type(node).__name__}' is not allowed",
                "numbers, names, + - * / **, comparisons, and/or/not, abs max min any all",
            )


def _elementwise(f: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """`f(a, b)` with numpy broadcasting, refused before it would build a result too large."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b))  # ValueError: shapes do not fit
    if math.prod(shape) > MAX_TENSOR_ELEMENTS:
        raise GraphstepError(
            f"broadcasting shapes {list(np.shape(a))} and {list(np.shape(b))} would give "
            f"{math.prod(shape):,} numbers; the limit is {MAX_TENSOR_ELEMENTS:,}"
        )
    return f(a, b)


def _walk(node: ast.expr, resolve: Resolve) -> Any:
    match node:
        case ast.Constant(value=int() | float() as number):
            return np.float64(number)
        case ast.Name(id=n):
            return resolve(n, False)
        case ast.UnaryOp(op=op, operand=operand):
            return UNARY[type(op)](_walk(operand, resolve))
        case ast.BinOp(left=left, op=op, right=right):
            return _elementwise(BINARY[type(op)], _walk(left, resolve), _walk(right, resolve))
        case ast.BoolOp(op=both, values=operands):
            combine = np.logical_and if isinstance(both, ast.And) else np.logical_or
            return reduce(partial(_elementwise, combine), (_walk(v, resolve) for v in operands))
        case ast.Compare(left=left, ops=ops, comparators=rest):
            result: Any = True
            lhs = _walk(left, resolve)
            for comparison, right in zip(ops, rest, strict=True):
                rhs = _walk(right, resolve)
                holds = _elementwise(COMPARE[type(comparison)], lhs, rhs)
                result = _elementwise(np.logical_and, result, holds)
                lhs = rhs
            return result
        case ast.Call(func=ast.Name(id="grad"), args=[ast.Name(id=n)]):
            return resolve(n, True)
        case ast.Call(func=ast.Name(id=f), args=args):
            arrays: list[Any] = [_walk(a, resolve) for a in args]
            match f, len(arrays):
                case "abs", _:
                    return np.abs(arrays[0])
                case "any", _:
                    return np.any(arrays[0])
                case "all", _:
                    return np.all(arrays[0])
                case "max", 1:
                    return np.max(arrays[0])
                case "max", _:
                    return _elementwise(np.maximum, *arrays)
                case "min", 1:
                    return np.min(arrays[0])
                case "min", _:
                    return _elementwise(np.minimum, *arrays)
    raise AssertionError(f"unchecked node {type(node).__name__}")  # _check admits nothing else


# --- breakpoints and watches ----------------------------------------------------------------------


@dataclass(frozen=True)
class Breakpoint:
    """Stop at `node`'s step (in `phase`, or in either), when `condition` holds (if any)."""

    node: str
    phase: Phase | None = None
    condition: Expression | None = None

    def __str__(self) -> str:
        text = self.node if self.phase is None else f"{self.node} ({self.phase})"
        return text if self.condition is None else f"{text} if {self.condition.text}"


@dataclass(frozen=True)
class Watch:
    """An expression over node names, shown at every position once its numbers are known."""

    expression: Expression

    @property
    def text(self) -> str:
        return self.expression.text


def untrainable(graph: Graph) -> GraphstepError:
    """The error for training a graph without params, wherever training is asked for."""
    return GraphstepError(
        f"{graph.name} has no params to train", hint="declare trainable leaves under params:"
    )


# --- the session ----------------------------------------------------------------------------------


class Session:
    """A cursor over one graph's timeline; see the module docstring for how moves behave."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.trace: Trace = Trace.compute(graph)
        self.timeline = Timeline(self.trace)
        self.break_on_anomaly = True
        self.version = 0  # bumped whenever values change (set_input, train_step)
        self.losses: list[float] = [self.trace.loss]  # before training, then after each step
        self.stopped_by: Breakpoint | Anomaly | None = None  # why the last continue stopped
        self._position = 0
        self._inner: int | None = None
        self._undo: tuple[int, int | None] | None = None  # where back() returns after step()
        self._redo: tuple[int, int | None] | None = None  # where step() returns after back()
        self._overrides: dict[str, np.ndarray] = {}
        self._breakpoints: list[Breakpoint] = []
        self._watches: list[Watch] = []
        self._anomaly_step = self._find_anomaly_step()

    # -- where the cursor is

    @property
    def position(self) -> int:
        return self._position

    @property
    def inner(self) -> int | None:
        return self._inner

    @property
    def current(self) -> Step:
        return self.timeline.at(self._position, self._inner)

    @property
    def phase(self) -> Phase:
        return self.timeline.phase(self._position)

    @property
    def at_end(self) -> bool:
        return self._position == self.timeline.end and self._inner is None

    def value_known(self, node: str) -> bool:
        forward = self._forward_index(node)
        offset = self._inside(node)
        if offset is not None and self.phase is Phase.FORWARD:
            return offset <= 0
        return forward <= self._position

    def grad_known(self, node: str) -> bool:
        self._forward_index(node)  # a GraphstepError for anything that is not a node
        offset = self._inside(node)
        if offset is not None and self.phase is Phase.BACKWARD:
            return offset <= 0
        index = self.timeline.backward_index.get(node)
        return index is not None and index <= self._position

    def _inside(self, node: str) -> int | None:
        """Stepping inside a block call: how far `node` stands after the current inner node."""
        if self._inner is None:
            return None
        k = self.timeline.member_index(self._position, node)
        return None if k is None else k - self._inner

    def state(self, node: str) -> NodeState:
        self._forward_index(node)  # a GraphstepError for anything that is not a node
        if self._position and node == self.current.node:
            return NodeState.CURRENT
        if self.grad_known(node):
            return NodeState.GRAD
        if self.value_known(node):
            return NodeState.COMPUTED
        return NodeState.PENDING

    def _forward_index(self, node: str) -> int:
        try:
            return self.timeline.forward_index[node]
        except (KeyError, TypeError):
            raise self._unknown(node) from None

    def _unknown(self, node: str) -> GraphstepError:
        return GraphstepError(
            f"no node named '{node}' in {self.graph.name}",
            hint=did_you_mean(node, list(self.graph.nodes)),
        )

    # -- moves

    def _move(
        self,
        position: int,
        inner: int | None,
        undo: tuple[int, int | None] | None = None,
        redo: tuple[int, int | None] | None = None,
    ) -> Step:
        self._position, self._inner = position, inner
        self._undo, self._redo = undo, redo
        return self.current

    def _here(self) -> tuple[int, int | None]:
        return self._position, self._inner

    def step(self) -> Step:
        if self._redo is not None:
            return self._move(*self._redo)
        p, k = self._here()
        if k is not None:
            if k + 1 < len(self.timeline.inner_steps(p)):
                return self._move(p, k + 1)
            return self._move(min(p + 1, self.timeline.end), None, undo=(p, k))
        if p < self.timeline.end:
            return self._move(p + 1, None)
        return self._move(p, k, undo=(p, k))  # at the end, back() undoes this step too: stays

    def back(self) -> Step:
        if self._undo is not None:
            return self._move(*self._undo)
        p, k = self._here()
        if k is not None:
            if k > 0:
                return self._move(p, k - 1)
            return self._move(p, None, redo=(p, 0))
        if p > 0:
            return self._move(p - 1, None)
        return self.current

    def step_into(self) -> Step:
        p, k = self._here()
        if k is None and len(self.timeline.inner_steps(p)):
            return self._move(p, 0)
        return self.step()

    def step_over(self) -> Step:
        p, k = self._here()
        if k is None:
            return self._move(p + 1, None) if p < self.timeline.end else self.current
        return self.step()

    def step_out(self) -> Step:
        if self._inner is None:
            return self.current
        return self._move(self._position, None)

    def goto(self, n: int) -> Step:
        if not isinstance(n, int | np.integer) or not 0 <= n <= self.timeline.end:
            raise GraphstepError(
                f"there is no step {n}", hint=f"steps run from 0 to {self.timeline.end}"
            )
        return self._move(int(n), None)

    def continue_(self) -> Step:
        """Run to the next breakpoint hit or anomaly, else to the end of the current phase."""
        p = self._position
        last = self.timeline.n_forward if p < self.timeline.n_forward else self.timeline.end
        return self._run(range(p, last + 1), last, forward=True)

    def reverse_continue(self) -> Step:
        """Run back to the previous hit, else to the first backward step, and from there to 0."""
        p = self._position
        first = self.timeline.n_forward + 1
        stop = first if p > first else 0
        return self._run(range(p, stop - 1, -1), stop, forward=False)

    def _run(self, positions: range, stop: int, forward: bool) -> Step:
        self.stopped_by = None
        for q in positions:
            reason, inner = self._hit(q, forward)
            if reason is not None:
                self.stopped_by = reason
                return self._move(q, inner)
        return self._move(max(stop, 0), None)

    def _hit(self, q: int, forward: bool) -> tuple[Breakpoint | Anomaly | None, int | None]:
        """What stops a continue at step q, and the inner step of a block call it stops at.

        At the cursor's own step only the call's inner steps still ahead in the
        direction of travel count (none when the cursor is on the step itself),
        and of several hits in one call the first reached wins.
        """
        here = q == self._position
        if here and self._inner is None:
            return None, None
        if self.break_on_anomaly and q == self._anomaly_step and not here:
            return self.trace.anomaly, None
        node = self.timeline.node_at(q)
        if node is None:
            return None, None
        phase = self.timeline.phase(q)
        hits: list[tuple[int, Breakpoint]] = []
        for bp in self._breakpoints:
            inner = self.timeline.member_index(q, bp.node)
            if (bp.node != node and inner is None) or bp.phase not in (None, phase):
                continue
            order = -1 if inner is None else inner  # the call's own step comes before its inner
            if here and (order <= (self._inner or 0) if forward else order >= (self._inner or 0)):
                continue
            if bp.condition is None or bp.condition.holds(self._node_scope(bp.node, phase)):
                hits.append((order, bp))
        if not hits:
            return None, None
        order, bp = min(hits, key=lambda h: h[0]) if forward else max(hits, key=lambda h: h[0])
        return bp, None if order < 0 else order

    def _node_scope(self, node: str, phase: Phase) -> Resolve:
        def resolve(name: str, gradient: bool) -> np.ndarray:
            if name == "value":
                return self.trace.value(node)
            grad = self.trace.grad(node)
            if phase is not Phase.BACKWARD or grad is None:
                raise Unknown(name)
            return grad

        return resolve

    def _find_anomaly_step(self) -> int | None:
        anomaly = self.trace.anomaly
        if anomaly is None:
            return None
        if anomaly.phase == "forward":
            return self.timeline.forward_index.get(anomaly.node) or None
        return self.timeline.backward_index.get(anomaly.node)

    # -- breakpoints

    @property
    def breakpoints(self) -> tuple[Breakpoint, ...]:
        return tuple(self._breakpoints)

    def add_breakpoint(
        self, node: str, phase: Phase | str | None = None, condition: str | None = None
    ) -> Breakpoint:
        """A breakpoint on `node`; a bad node name, phase or condition is a GraphstepError."""
        if not isinstance(node, str):
            raise GraphstepError(f"a breakpoint is on a node's name, not {node!r}")
        self._forward_index(node)
        bp = Breakpoint(
            node,
            self._phase(phase),
            None if condition is None else compile_expression(condition, CONDITION_NAMES),
        )
        if bp not in self._breakpoints:
            self._breakpoints.append(bp)
        return bp

    def remove_breakpoint(self, node: str, phase: Phase | str | None = None) -> int:
        """Remove `node`'s breakpoints (only those of `phase` if given); how many were removed."""
        wanted = self._phase(phase)
        keep = [
            bp
            for bp in self._breakpoints
            if bp.node != node or (wanted is not None and bp.phase != wanted)
        ]
        removed = len(self._breakpoints) - len(keep)
        self._breakpoints = keep
        return removed

    def toggle_breakpoint(self, node: str, phase: Phase | str | None = None) -> bool:
        """Remove `node`'s breakpoints if it has any, else add a plain one; True if one is set."""
        if self.remove_breakpoint(node, phase):
            return False
        self.add_breakpoint(node, phase)
        return True

    @staticmethod
    def _phase(phase: Phase | str | None) -> Phase | None:
        if phase is None:
            return None
        if phase in (Phase.FORWARD, Phase.BACKWARD):
            return Phase(phase)
        raise GraphstepError(
            f"a breakpoint's phase is 'forward' or 'backward', not {phase!r}",
            hint="leave it out to stop in both phases",
        )

    # -- watches

    def watch(self, expr: str) -> Watch:
        """Watch an expression over node names (`q`, `abs(grad(x))`); shown once it is known."""
        names = [n for n in self.graph.nodes if n.isidentifier()]
        watch = Watch(compile_expression(expr, names, "watch", grad_function=True))
        if watch not in self._watches:
            self._watches.append(watch)
        return watch

    def unwatch(self, expr: str) -> None:
        self._watches = [w for w in self._watches if w.text != expr]

    @property
    def watches(self) -> tuple[Watch, ...]:
        return tuple(self._watches)

    def watch_values(self) -> dict[str, np.ndarray | None]:
        """Each watch's value at the cursor; None while a number it reads is not known yet."""
        out: dict[str, np.ndarray | None] = {}
        for w in self._watches:
            try:
                out[w.text] = w.expression.evaluate(self._cursor_scope)
            except Unknown:
                out[w.text] = None
        return out

    def _cursor_scope(self, name: str, gradient: bool) -> np.ndarray:
        if gradient:
            grad = self.trace.grad(name)
            if grad is None or not self.grad_known(name):
                raise Unknown(name)
            return grad
        if not self.value_known(name):
            raise Unknown(name)
        return self.trace.value(name)

    # -- changing values

    @property
    def changed(self) -> tuple[str, ...]:
        """The leaves whose values differ from the file's (set_input, train_step), in order."""
        return tuple(n for n in self.graph.order if n in self._overrides)

    def set_input(self, name: str, value: Any) -> Step:
        """Give a leaf a new value and recompute; the cursor stays where it is."""
        array = leaf_override(self.graph, name, value)
        self._recompute({**self._overrides, name: array})
        return self.current

    def train_step(self, lr: float) -> float:
        """One step of gradient descent, W ← W − lr·∂L/∂W on every param; the loss after it.

        Only params change, never inputs; the cursor stays where it is.
        """
        if not self.graph.params:
            raise untrainable(self.graph)
        try:
            lr = float(lr)
        except (TypeError, ValueError, OverflowError):
            lr = math.nan
        if not (math.isfinite(lr) and lr > 0):
            raise GraphstepError("the learning rate must be a positive number", hint="e.g. 0.1")
        updates = {
            p: self.trace.value(p) - lr * grad
            for p in self.graph.params
            if (grad := self.trace.grad(p)) is not None
        }
        self._recompute({**self._overrides, **updates})
        self.losses.append(self.trace.loss)
        return self.trace.loss

    def _recompute(self, overrides: dict[str, np.ndarray]) -> None:
        trace = Trace.compute(self.graph, overrides)
        self._overrides = overrides
        self.trace = trace
        self.timeline = Timeline(trace)
        self._anomaly_step = self._find_anomaly_step()
        self._position = min(self._position, self.timeline.end)
        if self._inner is not None and self._inner >= len(
            self.timeline.inner_steps(self._position)
        ):
            self._inner = None
        self._undo = self._redo = None
        self.version += 1
