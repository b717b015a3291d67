"""The trace: every node's value and gradient, computed once, in float64.

Forward runs the plan in topological order; backward runs it in reverse,
each op's vector-Jacobian product sending one contribution along each input
edge. The contributions are kept, so a step can show the chain rule's sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import GraphstepError, excerpt
from .ops import Array, OpError

if TYPE_CHECKING:
    from .graph import Graph


class Pass(StrEnum):
    """The two passes of a trace."""

    FORWARD = "forward"
    BACKWARD = "backward"


@dataclass(frozen=True)
class Anomaly:
    """The node that first produced a non-finite value (forward) or gradient (backward)."""

    node: str
    phase: Pass
    what: str  # "nan", "inf", "-inf" or a mix

    def __str__(self) -> str:
        kind = "value" if self.phase is Pass.FORWARD else "gradient"
        return f"'{self.node}' first produced a non-finite {kind} ({self.what})"


def _nonfinite_kind(number: Array) -> str:
    v = np.asarray(number)
    kinds = []
    if np.isnan(v).any():
        kinds.append("nan")
    if np.isposinf(v).any():
        kinds.append("inf")
    if np.isneginf(v).any():
        kinds.append("-inf")
    return "/".join(kinds)


def _all_finite(
    arrays: list[Array | None], scalars: tuple[int, ...], tensors: tuple[int, ...]
) -> bool:
    """One vectorized check over the scalars, one per tensor; no numpy call per scalar node."""
    values = [v for i in scalars if (v := arrays[i]) is not None]
    if values and not np.isfinite(np.array(values, dtype=np.float64)).all():
        return False
    return all((a := arrays[i]) is None or np.isfinite(a).all() for i in tensors)


class Trace:
    """Values, gradients and per-edge contributions of every node of a graph."""

    def __init__(
        self,
        graph: Graph,
        values: list[Array | None],
        grads: list[Array | None],
        contributions: dict[tuple[int, int], Array],
        unchecked: tuple[int, ...] | None = None,
    ) -> None:
        """`unchecked`: the tensor nodes whose values and gradients may not be finite (None:
        every tensor node); the others were found finite as they were made."""
        self.graph = graph
        self._values = values
        self._grads = grads
        self._contributions = contributions
        self._index = graph.plan.index
        self.anomaly = self._find_anomaly(graph.plan.tensors if unchecked is None else unchecked)

    @classmethod
    def compute(cls, graph: Graph, overrides: Mapping[str, Any] | None = None) -> Trace:
        graph.check_size_once()
        plan = graph.plan
        values: list[Array | None] = [None] * len(plan.names)
        for i, name in enumerate(plan.names):
            if graph.nodes[name].is_leaf:
                values[i] = graph.leaf_array(name)
        for name, value in (overrides or {}).items():
            values[plan.index[name]] = leaf_override(graph, name, value)
        # an op's tensor is checked for non-finite numbers as it is made, while it is in cache:
        # a scan of every tensor afterwards reads them all from memory once more
        tensors = frozenset(plan.tensors)
        finite = True
        with np.errstate(all="ignore"):
            try:
                for step in plan.ops:
                    ins = step.inputs
                    if len(ins) == 2:
                        v = step.op.forward(values[ins[0]], values[ins[1]], **step.attrs)
                    else:
                        v = step.op.forward(*[values[j] for j in ins], **step.attrs)
                    values[step.index] = v
                    if finite and step.index in tensors:
                        finite = bool(np.isfinite(v).all())
            except OpError as e:
                node = graph.nodes[plan.names[step.index]]
                raise GraphstepError.at(f"{step.op.name}: {e}", node.loc, hint=e.hint).in_file(
                    graph.file
                ) from None
            grads, contributions, finite_grads = cls._backward(graph, values, tensors)
        leaves = tuple(i for i in plan.tensors if graph.nodes[plan.names[i]].is_leaf)
        return cls(graph, values, grads, contributions, leaves if finite and finite_grads else None)

    @staticmethod
    def _backward(
        graph: Graph, values: list[Array | None], tensors: frozenset[int]
    ) -> tuple[list[Array | None], dict[tuple[int, int], Array], bool]:
        """Gradients, contributions, and whether every op's tensor gradient is finite (each
        checked when it is complete: when its op reads it)."""
        plan = graph.plan
        grads: list[Array | None] = [None] * len(values)
        out = plan.index[graph.output]
        grads[out] = np.ones_like(values[out])
        contributions: dict[tuple[int, int], Array] = {}
        finite = True
        for step in reversed(plan.ops):
            i = step.index
            g = grads[i]
            if g is None:
                continue
            if finite and i in tensors:
                finite = bool(np.isfinite(g).all())
            ins = step.inputs
            if len(ins) == 2:
                parts = step.op.backward(g, values[i], values[ins[0]], values[ins[1]], **step.attrs)
            else:
                parts = step.op.backward(g, values[i], *[values[j] for j in ins], **step.attrs)
            for k, j in enumerate(ins):
                part = parts[k]
                if part is None:
                    continue
                contributions[i, k] = part
                if step.receives[k]:
                    prev = grads[j]
                    grads[j] = part if prev is None else prev + part
        return grads, contributions, finite

    def _find_anomaly(self, tensors: tuple[int, ...]) -> Anomaly | None:
        plan = self.graph.plan
        if _all_finite(self._values, plan.scalars, tensors) and _all_finite(
            self._grads, plan.scalars, tensors
        ):
            return None
        names = self.graph.plan.names
        for name, v in zip(names, self._values, strict=True):
            if v is not None and not np.isfinite(v).all():  # every value is known after forward
                return Anomaly(name, Pass.FORWARD, _nonfinite_kind(v))
        for i in range(len(names) - 1, -1, -1):
            g = self._grads[i]
            if g is not None and not np.isfinite(g).all():
                return Anomaly(names[i], Pass.BACKWARD, _nonfinite_kind(g))
        return None

    def value(self, name: str) -> np.ndarray:
        return np.asarray(self._values[self._lookup(name)])

    def grad(self, name: str) -> np.ndarray | None:
        """∂L/∂name, or None where the output does not depend on it (or not differentiably)."""
        g = self._grads[self._lookup(name)]
        return None if g is None else np.asarray(g)

    def contribution(self, consumer: str, position: int) -> np.ndarray | None:
        """∂L/∂consumer · ∂consumer/∂input, sent along the consumer's `position`-th input."""
        part = self._contributions.get((self._lookup(consumer), position))
        return None if part is None else np.asarray(part)

    def all_values(self) -> dict[str, Any]:
        """Every node's value by name in one call, for analyses that read them all (the doctor)."""
        return dict(zip(self.graph.plan.names, self._values, strict=True))

    def all_grads(self) -> dict[str, Any]:
        """Every node's gradient by name (None where there is none), in one call."""
        return dict(zip(self.graph.plan.names, self._grads, strict=True))

    def contributions_by_index(self) -> Mapping[tuple[int, int], Any]:
        """Every edge's contribution by (the consumer's index in graph.plan, position), read
        only and not copied."""
        return MappingProxyType(self._contributions)

    @property
    def loss(self) -> float:
        return float(self.value(self.graph.output))

    def _lookup(self, name: str) -> int:
        try:
            return self._index[name]
        except (KeyError, TypeError):  # TypeError: not hashable, so no name either
            raise GraphstepError(f"no node named {excerpt(repr(name))}") from None


def leaf_override(graph: Graph, name: str, value: Any) -> np.ndarray:
    """A user-given value for an input or a param, checked against the node's shape."""
    node = graph.nodes.get(name) if isinstance(name, str) else None
    if node is None or node.op not in ("input", "param"):
        known = graph.inputs + graph.params
        from .errors import did_you_mean

        raise GraphstepError(
            f"{excerpt(repr(name))} is not an input or a param of {graph.name}",
            hint=did_you_mean(str(name), known) or f"its leaves: {', '.join(known)}",
        )
    if value is None:
        raise GraphstepError(f"no value given for '{name}'")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise GraphstepError(
            f"the value for '{name}' is not numeric: {excerpt(repr(value))}"
        ) from None
    if array.shape != node.shape:
        if array.size == 1 and node.shape == ():
            return array.reshape(())
        raise GraphstepError(
            f"the value for '{name}' has shape {list(array.shape)}; it needs {list(node.shape)}"
        )
    return array
