"""An imported model's hierarchy as groups of its graph, collapsed in the views like block calls.

Both importers find the groups their own way (PyTorch from `torch.export`'s module stacks,
ONNX from the scopes in its node names) and hand them to `grouped`, which places the weights.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..graph import Graph, build
from ..spec import GraphSpec

_NOT_MODULE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
MODULE_NAME_CHARS = 40  # a scope's name as shown on its box


@dataclass(frozen=True)
class ModuleGroup:
    """One call of a module whose nodes are grouped: `call = Block(args)`."""

    call: str  # the entry the module returns, which names the group
    module: str  # its class name, or for ONNX its scope's last segment
    members: tuple[str, ...]  # its entries, nested modules' included


@dataclass(frozen=True)
class ImportedModel:
    spec: GraphSpec
    groups: tuple[ModuleGroup, ...]
    data: frozenset[str]  # the leaves that are the model's inputs (not weights or buffers)
    built: Graph | None = None  # the graph of `spec`, when the importer built it as it went

    def graph(self) -> Graph:
        """The graph, its module calls grouped."""
        graph = build(self.spec) if self.built is None else self.built
        return grouped(graph, self.groups, self.data)


def scope_groups(
    scopes: Mapping[str, tuple[str, ...]],
    readers: Mapping[str, Sequence[str]],
    outputs: frozenset[str],
) -> tuple[ModuleGroup, ...]:
    """The scopes that hold more than one entry and have exactly one exit (an entry read outside
    the scope, or an output), keyed by that exit and named by the scope's last segment. A scope
    that holds every entry (the model itself) is none; where nested scopes share their exit, the
    outermost takes it. `scopes` lists the entries in the model's order: an entry → its scope
    path, outermost first; `readers`: an entry → the entries that read it."""
    members: dict[tuple[str, ...], list[str]] = {}
    for entry, scope in scopes.items():
        for depth in range(1, len(scope) + 1):
            members.setdefault(scope[:depth], []).append(entry)
    groups: dict[str, ModuleGroup] = {}
    for scope in sorted(members, key=len):  # outermost first
        inside = members[scope]
        if len(inside) < 2 or len(inside) == len(scopes):
            continue
        exits = [
            e
            for e in inside
            if e in outputs or any(scopes[r][: len(scope)] != scope for r in readers.get(e, ()))
        ]
        if len(exits) == 1 and exits[0] not in groups:
            name = _NOT_MODULE_NAME.sub("_", scope[-1])[:MODULE_NAME_CHARS] or "scope"
            groups[exits[0]] = ModuleGroup(exits[0], name, tuple(inside))
    return tuple(groups.values())


def grouped(graph: Graph, groups: Sequence[ModuleGroup], data: frozenset[str]) -> Graph:
    """The graph with each module call as a group of its nodes, like a block call. A weight or
    buffer read only inside one module call is part of it, out of sight while it is collapsed,
    as is what is made of weights alone (ONNX's Identity of a deduplicated initializer); one
    read by two calls (a shared weight) stays outside both."""
    if not groups:
        return graph
    of_entry: dict[str, list[str]] = {}
    for n in graph.order:
        of_entry.setdefault(graph.nodes[n].entry, []).append(n)
    members = {g.call: [n for m in g.members for n in of_entry.get(m, ())] for g in groups}
    around: dict[str, set[str]] = {}  # a node → the calls it is part of
    for call, inside in members.items():
        for n in inside:
            around.setdefault(n, set()).add(call)
    weights: set[str] = set()  # the nodes no data flows into
    for n in graph.order:
        node = graph.nodes[n]
        if n not in data and (node.is_leaf or (node.inputs and weights.issuperset(node.inputs))):
            weights.add(n)
    for n in reversed(graph.order):  # its readers placed before it
        if n not in weights or n in around:
            continue
        readers = [around.get(consumer, set()) for consumer, _ in graph.consumers[n]]
        for call in set.intersection(*readers) if readers else set():
            members[call].append(n)
            around.setdefault(n, set()).add(call)
    innermost = {n: min(calls, key=lambda c: len(members[c])) for n, calls in around.items()}
    nodes = dict(graph.nodes)  # an imported graph's nodes are in no group yet
    for name, call in innermost.items():
        nodes[name] = nodes[name]._replace(group=call)
    calls = {}
    for g in groups:
        held = set(members[g.call])
        args = [
            src
            for n in members[g.call]
            for src in graph.nodes[n].inputs
            if src not in held and src not in weights
        ]
        calls[g.call] = (g.module, tuple(dict.fromkeys(args)))
    order = {n: k for k, n in enumerate(graph.order)}
    return replace(
        graph,
        nodes=nodes,
        groups={c: tuple(sorted(m, key=order.__getitem__)) for c, m in members.items()},
        calls=calls,
    )
