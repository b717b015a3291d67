"""The graph: a networkx DAG of named nodes with ordered inputs and a deterministic order.

Each node keeps its inputs in order, and each input is an edge of its own
(keyed by the input's position), so `x * x` has two edges that both carry
gradient. Shapes are inferred here, from shapes alone, without allocating.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from math import prod
from typing import TYPE_CHECKING, Any, NamedTuple

import networkx as nx
import numpy as np

from .arrays import read_npz_member
from .errors import GraphstepError, Loc, did_you_mean
from .expr import Call, Const, Expr, Name
from .format import data_size
from .limits import (
    MAX_BLOCK_DEPTH,
    MAX_NODES,
    MAX_NUMBERS_OPTION,
    MAX_TEMPORARY_ELEMENTS,
    max_numbers,
    max_tensor_numbers,
)
from .ops import OPS, Array, Op, OpError, is_composite
from .spec import BlockSpec, EntrySpec, GraphSpec, Init, LeafSpec, leaf_shape

if TYPE_CHECKING:
    from .session import Session
    from .trace import Trace

LEAF_OPS = ("input", "param", "const")


class Node(NamedTuple):
    """One node of the DAG: a leaf (input, param, const) or an op applied to named inputs.
    Immutable, as a frozen dataclass would be; a NamedTuple because a model makes thousands."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: Mapping[str, Any]
    shape: tuple[int, ...]
    loc: Loc
    entry: str  # the named entry this node belongs to (itself, unless generated)
    generated: bool = False  # a sub-expression's node, named by graphstep
    group: str | None = None  # the block call this node is part of

    @property
    def is_leaf(self) -> bool:
        return self.op in LEAF_OPS

    @property
    def is_composite(self) -> bool:
        return not self.is_leaf and is_composite(OPS[self.op])

    @property
    def size(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class PlannedOp:
    """One op node of the plan, with everything the trace's inner loop needs at hand."""

    index: int
    op: Op
    inputs: tuple[int, ...]
    attrs: Mapping[str, Any]
    receives: tuple[bool, ...]  # which inputs accumulate a gradient (constants do not)


@dataclass(frozen=True)
class Plan:
    """The trace's program: the op nodes in topological order, by integer index."""

    names: tuple[str, ...]  # every node, in topological order
    index: Mapping[str, int]
    ops: tuple[PlannedOp, ...]
    scalars: tuple[int, ...]  # nodes of shape (), checked for non-finite values in one go
    tensors: tuple[int, ...]


@dataclass
class Graph:
    """A computational graph: the DAG, its nodes, leaf values and the output."""

    name: str
    description: str
    file: str
    output: str
    nodes: dict[str, Node]  # in declaration order
    order: list[str]  # topological; declaration order breaks ties
    leaf_values: dict[str, Any]  # the spec's literal values / initializers, not yet numpy
    train: dict[str, float] = field(default_factory=dict)
    leaves: dict[str, LeafSpec] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # block call → its nodes
    calls: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # → block, args
    sources: dict[str, str] = field(default_factory=dict)  # a node → its name in an imported model
    _leaf_arrays: dict[str, Array] = field(default_factory=dict, repr=False)
    _size_checked: bool = field(default=False, repr=False)

    def __iter__(self) -> Iterator[Node]:
        return (self.nodes[n] for n in self.order)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def inputs(self) -> list[str]:
        return [n for n in self.order if self.nodes[n].op == "input"]

    @property
    def params(self) -> list[str]:
        return [n for n in self.order if self.nodes[n].op == "param"]

    @cached_property
    def forward_order(self) -> list[str]:
        return [n for n in self.order if not self.nodes[n].is_leaf]

    @cached_property
    def dag(self) -> nx.MultiDiGraph[str]:
        """The nodes as a networkx graph, one edge per input (keyed by its position), for
        networkx's algorithms; made when first asked for, since tracing never needs it."""
        dag: nx.MultiDiGraph[str] = nx.MultiDiGraph(name=self.name)
        for node in self.nodes.values():
            dag.add_node(node.name, op=node.op, shape=node.shape, node=node)
        for node in self.nodes.values():
            for i, src in enumerate(node.inputs):
                dag.add_edge(src, node.name, key=i)
        return dag

    @cached_property
    def ancestors_of_output(self) -> frozenset[str]:
        found = {self.output}
        for name in reversed(self.order):  # a node's inputs come before it
            if name in found:
                found.update(self.nodes[name].inputs)
        return frozenset(found)

    @cached_property
    def consumers(self) -> dict[str, list[tuple[str, int]]]:
        """For each node, the (consumer, input position) pairs that read it, in order."""
        out: dict[str, list[tuple[str, int]]] = {n: [] for n in self.order}
        for n in self.order:
            for i, src in enumerate(self.nodes[n].inputs):
                out[src].append((n, i))
        return out

    @cached_property
    def plan(self) -> Plan:
        index = {n: i for i, n in enumerate(self.order)}
        ops = tuple(
            PlannedOp(
                index[n],
                OPS[node.op],
                tuple(index[s] for s in node.inputs),
                dict(node.attrs),
                tuple(self.nodes[s].op != "const" for s in node.inputs),
            )
            for n in self.order
            if not (node := self.nodes[n]).is_leaf
        )
        shapes = [self.nodes[n].shape for n in self.order]
        return Plan(
            tuple(self.order),
            index,
            ops,
            scalars=tuple(i for i, s in enumerate(shapes) if s == ()),
            tensors=tuple(i for i, s in enumerate(shapes) if s != ()),
        )

    def display(self, name: str) -> str:
        """How a node is named in formulas: constants by their value."""
        node = self.nodes[name]
        if node.op == "const":
            return f"{self.leaf_values[name]:g}"
        return name

    def formula(self, name: str) -> str:
        """`x + y` for q = x + y; empty for a leaf."""
        node = self.nodes[name]
        if node.is_leaf:
            return ""
        return OPS[node.op].formula([self.display(s) for s in node.inputs], **node.attrs)

    def parameter_count(self) -> int:
        return sum(self.nodes[n].size for n in self.params)

    def input_shapes(self, node: Node) -> tuple[tuple[int, ...], ...]:
        return tuple(self.nodes[i].shape for i in node.inputs)

    def check_size_once(self) -> None:
        """check_size, remembered: a graph's shapes never change."""
        if not self._size_checked:
            self.check_size()
            self._size_checked = True

    def check_size(self) -> None:
        """Refuse, before allocating anything, a graph whose tensors would not fit."""
        total = 0
        tensor_limit, limit = max_tensor_numbers(), max_numbers()
        hint = (
            f"'graphstep summary' counts shapes and parameters without allocating; "
            f"{MAX_NUMBERS_OPTION} N raises the limit (it defaults to half the available memory)"
        )
        for node in self:
            scratch = (
                0 if node.is_leaf else OPS[node.op].scratch(*self.input_shapes(node), **node.attrs)
            )
            for amount, most, what, why in (
                (
                    node.size,
                    tensor_limit,
                    f"hold {node.size:,} numbers (shape {list(node.shape)})",
                    hint,
                ),
                (
                    scratch,
                    MAX_TEMPORARY_ELEMENTS,
                    f"need a temporary of {scratch:,} numbers",
                    "a smaller window, padding or output size, or a larger stride",
                ),
            ):
                if amount > most:
                    raise GraphstepError.at(
                        f"'{node.name}' would {what}; the limit is {most:,}", node.loc, hint=why
                    ).in_file(self.file)
            total += node.size
        if 2 * total > limit:
            raise GraphstepError(
                f"the graph's values and gradients would hold {2 * total:,} numbers "
                f"({data_size(16 * total)}); the limit is {limit:,}",
                file=self.file,
                hint=hint,
            )

    def leaf_array(self, name: str) -> Array:
        """The initial value of a leaf, as float64 numpy: made once, read-only, shared by traces."""
        array = self._leaf_arrays.get(name)
        if array is None:
            node = self.nodes[name]
            if node.op == "const":
                array = np.float64(self.leaf_values[name])
            else:
                array = materialize(self.leaves[name])
                array.flags.writeable = False
            self._leaf_arrays[name] = array
        return array

    if TYPE_CHECKING:  # conveniences that reach up the layers: graphstep/__init__.py adds them

        def trace(self, values: Mapping[str, Any] | None = None) -> Trace:
            """Forward and backward once; `values` overrides leaves (inputs or params)."""

        def session(self) -> Session:
            """A cursor over the timeline of this graph's trace."""


def materialize(leaf: LeafSpec) -> np.ndarray:
    if leaf.value is not None:
        return np.asarray(leaf.value, dtype=np.float64)
    opts = dict(leaf.options)
    seed = int(opts.get("seed", zlib.crc32(leaf.name.encode())))
    rng = np.random.default_rng(seed)
    shape = leaf.shape
    match leaf.init:
        case Init.ZEROS:
            return np.zeros(shape)
        case Init.ONES:
            return np.ones(shape)
        case Init.NORMAL:
            return rng.normal(0.0, float(opts.get("std", 0.1)), shape)
        case Init.UNIFORM:
            return rng.uniform(float(opts.get("low", -1.0)), float(opts.get("high", 1.0)), shape)
        case Init.ARANGE:
            return np.arange(prod(shape), dtype=np.float64).reshape(shape)
        case Init.FILE:
            array = read_npz_member(str(opts["file"]), str(opts["key"]), str(opts["file"]))
            if array.shape != shape:
                raise GraphstepError.at(
                    f"'{opts['key']}' changed shape since the graph was read", leaf.loc
                )
            return array
    raise GraphstepError.at(f"unknown init '{leaf.init}'", leaf.loc)


@dataclass(frozen=True)
class _Scope:
    """How names resolve while lowering entries: at the top, or inside one block call."""

    local: Mapping[str, str]  # a block's args and entries → the nodes they name
    visible: Collection[str]  # names that stand for themselves (leaves; at the top, entries)
    prefix: str = ""  # "f1/" for the nodes of block call f1
    call: str | None = None  # the block call's node, which is its output
    calls: tuple[str, ...] = ()  # the block calls being inlined, outermost first
    stack: tuple[str, ...] = ()  # their blocks' names

    @property
    def group(self) -> str | None:
        return self.calls[-1] if self.calls else None

    def node_name(self, entry: str, output: str | None) -> str:
        if self.call is not None and entry == output:
            return self.call
        return self.prefix + entry


class Builder:
    """Leaves and entries → nodes, each entry resolved, checked, lowered and shaped once.

    `build` hands it a whole spec; an importer hands it each leaf and entry as it makes them
    and reads the shapes back (`entry` returns the entry's), so nothing is walked twice."""

    def __init__(self, blocks: Mapping[str, BlockSpec] | None = None) -> None:
        self.blocks: Mapping[str, BlockSpec] = blocks or {}
        self.leaf_nodes: dict[str, Node] = {}  # the leaves, which come first in a graph's nodes
        self.nodes: dict[str, Node] = {}  # the entries' nodes, in the order added
        self.leaf_values: dict[str, Any] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.lowered = 0  # nodes made so far, block calls expanded
        self.groups: dict[str, list[str]] = {}
        # a block call → the calls it is nested in, outermost first, and itself
        self.enclosing: dict[str, tuple[str, ...]] = {}
        self.calls: dict[str, tuple[str, tuple[str, ...]]] = {}  # a block call → block, args
        self.block_orders: dict[str, list[EntrySpec]] = {}
        self.signatures: dict[tuple[Any, ...], tuple[Mapping[str, Any], tuple[int, ...]]] = {}
        self.top = _Scope({}, self.shapes)  # an importer's entries read what is added before

    def leaf(self, leaf: LeafSpec) -> tuple[int, ...]:
        shape = leaf_shape(leaf)
        node = Node(leaf.name, str(leaf.kind), (), {}, shape, leaf.loc, leaf.name)
        if len(self.leaf_nodes) + len(self.nodes) >= MAX_NODES:
            raise GraphstepError.at(f"more than {MAX_NODES:,} nodes", node.loc)
        if leaf.name in self.leaf_nodes:
            raise GraphstepError.at(f"'{leaf.name}' is defined twice", node.loc)
        self.leaf_nodes[leaf.name] = node
        self.leaf_values[leaf.name] = leaf.value
        self.shapes[leaf.name] = shape
        return shape

    def entry(self, entry: EntrySpec) -> tuple[int, ...]:
        """Lower and add one top-level entry that reads only names added before it. An op over
        names added before, as most of an importer's entries are, is one node, made at once."""
        expr = entry.expr
        if type(expr) is Call and len(entry.parts) == len(expr.args) + 1 and expr.func in OPS:
            ins = tuple([a.id for a in expr.args if type(a) is Name])
            shapes = tuple(map(self.shapes.get, ins))
            if len(ins) == len(expr.args) and None not in shapes:
                full, shape = self.typed(expr, shapes)  # type: ignore[arg-type]
                self.add(Node(entry.name, expr.func, ins, full, shape, expr.loc, entry.name))
                self.shapes[entry.name] = shape
                self.lowered += 1
                return shape
        for node in self.lower(entry, self.top, None):
            self.add(node)
        return self.shapes[entry.name]

    def shape_of(self, expr: Expr) -> tuple[int, ...]:
        """The shape an expression over the names added so far would have, lowering nothing:
        for an importer that shapes what it makes by what it makes."""
        if isinstance(expr, Name):
            return self.shapes[expr.id]
        if isinstance(expr, Const):
            return ()
        return self.typed(expr, tuple(self.shape_of(a) for a in expr.args))[1]

    def add(self, node: Node) -> str:
        if len(self.leaf_nodes) + len(self.nodes) >= MAX_NODES:
            raise GraphstepError.at(f"more than {MAX_NODES:,} nodes", node.loc)
        if node.name in self.nodes or node.name in self.leaf_nodes:
            raise GraphstepError.at(f"'{node.name}' is defined twice", node.loc)
        self.nodes[node.name] = node
        for group in self.enclosing.get(node.group or "", ()):
            self.groups.setdefault(group, []).append(node.name)
        return node.name

    def build(self, spec: GraphSpec) -> Graph:
        for leaf in spec.leaves.values():
            self.leaf(leaf)
        if spec.blocks:
            self.check_block_recursion()
            self.check_block_sizes(spec)
            self.check_block_names()
        known = frozenset(spec.leaves) | frozenset(spec.entries)
        if spec.output not in known:
            raise GraphstepError.at(
                f"output '{spec.output}' is not defined",
                spec.output_loc,
                hint=did_you_mean(spec.output, known),
            )
        # Entries are lowered in dependency order (a shape needs its inputs' shapes) but
        # added in file order, which breaks the ties of the topological sort.
        top = _Scope({}, known)
        lowered = {
            name: self.lower(spec.entries[name], top, spec.output)
            for name in _dependency_order(list(spec.entries.values()), set(spec.entries))
        }
        for name in spec.entries:
            for node in lowered[name]:
                self.add(node)
        return self.graph(spec)

    def check_block_names(self) -> None:
        """Every name in a block is one of its args, its entries, or the file's leaves, whether
        or not the block is called."""
        for block in self.blocks.values():
            known = set(block.args) | {e.name for e in block.entries}
            scope = _Scope(
                dict.fromkeys(known, ""), frozenset(self.leaf_nodes), stack=(block.name,)
            )
            for entry in block.entries:
                for ref in _names(entry):
                    self.resolve(ref, scope, entry.name)

    def block_calls(self) -> nx.DiGraph[str]:
        """Which block calls which: an edge from caller to callee."""
        calls: nx.DiGraph[str] = nx.DiGraph()
        for block in self.blocks.values():
            calls.add_node(block.name)
            for entry in block.entries:
                calls.add_edges_from(
                    (block.name, c.func) for c in _calls(entry) if c.func in self.blocks
                )
        return calls

    def check_block_sizes(self, spec: GraphSpec) -> None:
        """Refuse, before inlining anything, blocks nested too deeply or calls that would make
        too many nodes: each call copies its block, so blocks calling blocks multiply them, and
        a file of a few hundred bytes could ask for millions."""
        calls = self.block_calls()
        depth: dict[str, int] = {}
        size: dict[str, int] = {}
        for name in reversed(list(nx.topological_sort(calls))):  # callees first
            block = self.blocks[name]
            depth[name] = 1 + max((depth[c] for c in calls.successors(name)), default=0)
            if depth[name] > MAX_BLOCK_DEPTH:
                raise GraphstepError.at(
                    f"block '{name}' nests block calls {depth[name]} deep; "
                    f"the limit is {MAX_BLOCK_DEPTH}",
                    block.loc,
                    hint="call fewer blocks inside blocks",
                )
            size[name] = sum(_node_count(e, size) for e in block.entries)
        total = len(spec.leaves)
        for entry in spec.entries.values():
            total += _node_count(entry, size)
            if total > MAX_NODES:
                raise GraphstepError.at(
                    f"with its block calls expanded, the graph has more than {MAX_NODES:,} "
                    f"nodes by '{entry.name}' ({total:,})",
                    entry.loc,
                    hint="each block call copies the block's nodes",
                )

    def check_block_recursion(self) -> None:
        calls = {
            block.name: [c.func for e in block.entries for c in _calls(e) if c.func in self.blocks]
            for block in self.blocks.values()
        }
        try:
            topological(calls)
        except Cycle as e:
            names = e.names
            raise GraphstepError.at(
                f"block recursion: {' → '.join(names)}",
                self.blocks[names[0]].loc,
                hint="a block may call other blocks, never itself (directly or not)",
            ) from None

    def resolve(self, ref: Name, scope: _Scope, where: str) -> str:
        local = scope.local.get(ref.id)
        if local is not None:
            return local
        if ref.id in scope.visible:
            return ref.id
        choices = set(scope.local) | set(scope.visible)
        inside = f"block '{scope.stack[-1]}'" if scope.stack else f"'{where}'"
        raise GraphstepError.at(
            f"undefined name '{ref.id}' in {inside}",
            ref.loc,
            hint=did_you_mean(ref.id, choices)
            or (
                "inside a block, names are its args, its entries, and the file's inputs and params"
                if scope.stack
                else "declare it under inputs:, params: or graph:"
            ),
        )

    def lower(self, entry: EntrySpec, scope: _Scope, output: str | None) -> list[Node]:
        """One entry → its nodes: generated sub-expressions (post-order), then the entry."""
        made: list[Node] = []
        entry_name = scope.node_name(entry.name, output)
        group = scope.group
        shapes = self.shapes
        generated = 0  # sub-expressions named so far: `entry.1`, `entry.2`, …
        done: list[str] = []  # the nodes of the sub-expressions walked, their parents' inputs last
        for expr in entry.parts:  # post-order without recursion: a long chain is flat
            top = expr is entry.expr
            if isinstance(expr, Name):
                ref = self.resolve(expr, scope, entry.name)
                if not top:
                    done.append(ref)
                    continue
                node = Node(
                    entry_name,
                    "identity",
                    (ref,),
                    {},
                    shapes[ref],
                    expr.loc,
                    entry_name,
                    False,
                    group,
                )
            else:
                if top:
                    name = entry_name
                else:
                    generated += 1
                    name = f"{entry_name}.{generated}"
                if isinstance(expr, Const):
                    self.leaf_values[name] = expr.value
                    node = Node(name, "const", (), {}, (), expr.loc, entry_name, not top, group)
                else:
                    start = len(done) - len(expr.args)
                    ins = tuple(done[start:])
                    del done[start:]
                    if expr.func in self.blocks:
                        # A block's output that calls a block takes the outer call's name; its
                        # nodes nest under the entry's own name, apart from the outer block's.
                        inner = f"{scope.prefix}{entry.name}/" if name == scope.call else f"{name}/"
                        block = self.blocks[expr.func]
                        done.append(self.inline(block, expr, ins, name, scope, made, inner))
                        continue
                    full, shape = self.typed(expr, tuple(map(shapes.__getitem__, ins)))
                    node = Node(
                        name, expr.func, ins, full, shape, expr.loc, entry_name, not top, group
                    )
            shapes[node.name] = node.shape
            made.append(node)
            self.lowered += 1
            if self.lowered > MAX_NODES:  # blocks calling blocks can multiply the nodes
                raise GraphstepError.at(f"more than {MAX_NODES:,} nodes", node.loc)
            done.append(node.name)
        return made

    def inline(
        self,
        block: BlockSpec,
        call: Call,
        args: tuple[str, ...],
        name: str,
        outer: _Scope,
        made: list[Node],
        prefix: str,
    ) -> str:
        """A block call: the block's entries become nodes `prefix + entry`; its output is
        `name`."""
        if call.attrs:
            raise GraphstepError.at(f"block '{block.name}' takes no keywords", call.loc)
        if len(args) != len(block.args):
            raise GraphstepError.at(
                f"block '{block.name}' takes {len(block.args)} argument"
                f"{'s' if len(block.args) != 1 else ''} ({', '.join(block.args)}), got {len(args)}",
                call.loc,
            )
        local = dict(zip(block.args, args, strict=True))
        scope = _Scope(
            local,
            frozenset(self.leaf_nodes),
            prefix=prefix,
            call=name,
            calls=(*outer.calls, name),
            stack=(*outer.stack, block.name),
        )
        self.enclosing[name] = scope.calls
        self.calls[name] = (block.name, args)
        for entry in block.entries:
            local[entry.name] = scope.node_name(entry.name, block.output)
        for entry in self.block_order(block):
            try:
                made.extend(self.lower(entry, scope, block.output))
            except GraphstepError as e:  # the body may be fine: say which call made it fail
                e.message += f", in the call '{name}' at line {call.loc.line}"
                raise
        return name

    def block_order(self, block: BlockSpec) -> list[EntrySpec]:
        """A block's entries in dependency order, found once per block, not once per call."""
        order = self.block_orders.get(block.name)
        if order is None:
            by_name = {e.name: e for e in block.entries}
            names = _dependency_order(list(block.entries), set(by_name))
            order = self.block_orders[block.name] = [by_name[n] for n in names]
        return order

    def typed(
        self, call: Call, ins: tuple[tuple[int, ...], ...]
    ) -> tuple[Mapping[str, Any], tuple[int, ...]]:
        """The op's keywords (its defaults with the call's) and its output's shape for `call` over
        inputs of shapes `ins`. An op's rules are pure, and a model repeats a few signatures, so
        each is worked out once; the keywords by their repr, which tells 1 from 1.0 and [1] from
        (1,). The nodes of one signature share its keywords, which nothing changes."""
        key = (call.func, repr(call.attrs) if call.attrs else (), ins)
        known = self.signatures.get(key)
        if known is None:
            op = OPS[call.func]
            full = self.attrs(op, call, len(ins))
            known = self.signatures[key] = (full, self.shape(op, list(ins), full, call.loc))
        return known

    def attrs(self, op: Op, call: Call, n_inputs: int) -> dict[str, Any]:
        """The op's keywords with the call's, checked: its inputs' count, its keywords' names."""
        n_min = len(op.args) - op.optional
        if op.variadic and n_inputs:
            pass
        elif not n_min <= n_inputs <= len(op.args):
            want = str(len(op.args)) if not op.optional else f"{n_min} to {len(op.args)}"
            raise GraphstepError.at(
                f"{op.name}() takes {want} inputs ({', '.join(op.args)}), got {n_inputs}",
                call.loc,
            )
        if not call.attrs:
            return dict(op.attrs)
        given = dict(call.attrs)
        for key in given:
            if key not in op.attrs:
                raise GraphstepError.at(
                    f"{op.name}() has no keyword '{key}'",
                    call.loc,
                    hint=did_you_mean(key, list(op.attrs))
                    or (f"its keywords: {', '.join(op.attrs)}" if op.attrs else "it takes none"),
                )
        return {**op.attrs, **given}

    def shape(
        self, op: Op, ins: list[tuple[int, ...]], attrs: dict[str, Any], loc: Loc
    ) -> tuple[int, ...]:
        try:
            shape = op.shape(*ins, **attrs)
        except OpError as e:
            raise GraphstepError.at(f"{op.name}: {e}", loc, hint=e.hint) from None
        except (TypeError, ValueError) as e:
            raise GraphstepError.at(f"{op.name}: bad arguments ({e})", loc) from None
        return tuple(map(int, shape))

    def graph(self, spec: GraphSpec) -> Graph:
        """The graph of `spec`, whose leaves and entries have all been added."""
        nodes = {**self.leaf_nodes, **self.nodes}
        order = topological({name: node.inputs for name, node in nodes.items()})
        out = nodes[spec.output]
        if out.shape != ():
            raise GraphstepError.at(
                f"output '{spec.output}' has shape {list(out.shape)}; "
                "backprop starts from a scalar",
                spec.output_loc,
                hint=f"reduce it, e.g. sum({spec.output}) or mean({spec.output})",
            )
        return Graph(
            name=spec.name,
            description=spec.description,
            file=spec.file,
            output=spec.output,
            nodes=nodes,
            order=order,
            leaf_values=self.leaf_values,
            train=spec.train,
            leaves=dict(spec.leaves),
            groups={g: tuple(names) for g, names in self.groups.items()},
            calls=self.calls,
            sources=dict(spec.sources),
        )


def _calls(entry: EntrySpec) -> Iterator[Call]:
    return (e for e in entry.parts if isinstance(e, Call))


class Cycle(Exception):
    """A dependency cycle, as the names along it: each reads the next; the last is the first."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(" → ".join(names))
        self.names = names


def topological(reads: Mapping[str, Iterable[str]]) -> list[str]:
    """The names of `reads` (each → the names it reads; others are ignored) so that each comes
    after what it reads, ties broken by the order of `reads`: networkx's
    lexicographical_topological_sort with the declaration order as key, in linear time.

    Only when the sort is stuck is a cycle looked for: among the names left, each reads another
    one left, so walking from one to what it reads must come back to a name already seen.
    """
    names = list(reads)
    if _in_order(reads):
        return names
    rank = {n: i for i, n in enumerate(names)}
    waiting = [0] * len(names)
    readers: list[list[int]] = [[] for _ in names]
    for i, n in enumerate(names):
        for dep in reads[n]:
            j = rank.get(dep)
            if j is not None:
                waiting[i] += 1
                readers[j].append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(names[i])
        for r in readers[i]:
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready, r)
    if len(order) == len(names):
        return order
    seen: dict[int, int] = {}  # a name left → where the walk met it
    walk: list[int] = []
    i = next(k for k, w in enumerate(waiting) if w)
    while i not in seen:
        seen[i] = len(walk)
        walk.append(i)
        i = next(rank[d] for d in reads[names[i]] if d in rank and waiting[rank[d]])
    loop = walk[seen[i] :]
    start = loop.index(min(loop))  # from its first-declared name: the same cycle, the same text
    loop = loop[start:] + loop[:start]
    raise Cycle([names[k] for k in [*loop, loop[0]]])


def _in_order(reads: Mapping[str, Iterable[str]]) -> bool:
    """Whether each name comes after every name of `reads` it reads: then the sort is the
    declaration order itself (the smallest ready name is always the next one)."""
    seen: set[str] = set()
    for name, deps in reads.items():
        for dep in deps:
            if dep not in seen and dep in reads:
                return False
        seen.add(name)
    return True


def _node_count(entry: EntrySpec, blocks: Mapping[str, int]) -> int:
    """How many nodes an entry's expression becomes, given how many each block call makes;
    walked without recursion, so a flat chain of thousands of terms is counted too."""
    if isinstance(entry.expr, Name):
        return 1  # an entry naming another is an identity node
    total = 0
    for e in entry.parts:
        if isinstance(e, Const):
            total += 1
        elif isinstance(e, Call):
            total += blocks.get(e.func, 1)
    return total


def _dependency_order(entries: list[EntrySpec], local: set[str]) -> list[str]:
    """Entries sorted so that each comes after those it uses; a cycle is an error."""
    reads = {e.name: [r.id for r in _names(e) if r.id in local] for e in entries}
    try:
        return topological(reads)
    except Cycle as e:
        names = [e.names[0], *reversed(e.names[:-1])]  # each used by the next
        by_name = {e.name: e for e in entries}
        first = min(names, key=lambda n: by_name[n].loc.line or 0)
        raise GraphstepError.at(
            f"cycle: {' → '.join(names)}",
            by_name[first].loc,
            hint="a graph is acyclic: every name may use only names not depending on it",
        ) from None


def _names(entry: EntrySpec) -> Iterator[Name]:
    return (e for e in entry.parts if isinstance(e, Name))


def build(spec: GraphSpec) -> Graph:
    """GraphSpec → Graph; errors carry the spec's file."""
    try:
        return Builder(spec.blocks).build(spec)
    except GraphstepError as e:
        raise e.in_file(spec.file) from None
