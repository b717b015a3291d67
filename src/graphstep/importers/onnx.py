"""ONNX models → GraphSpec: the same plain description a YAML file gives.

The model is parsed with the `onnx` package (never by hand) and every node is
mapped onto graphstep's own ops, which compute it from then on. Sub-graphs that
only compute shapes or constants (Shape → Gather → Concat → Reshape, Constant,
ConstantOfShape of a constant shape) are folded here, with numpy, so the user
steps through the data flow, not the bookkeeping.

Names: an ONNX name becomes an identifier by replacing every run of characters
other than ASCII letters, digits and `_` with one `_` and trimming `_` at both
ends; one that is then empty or starts with a digit gets `t_` in front, a
keyword or a function name gets `_` behind, and a name already taken gets
`_2`, `_3`, … behind, in the model's order (inputs, initializers, node outputs),
so the mapping is one-to-one. `GraphSpec.sources` keeps every original name.
"""

from __future__ import annotations

import keyword
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, numpy_helper
from onnx.external_data_helper import ExternalDataInfo
from onnx.helper import tensor_dtype_to_np_dtype

from ..arrays import check_size, fits
from ..errors import GraphstepError, Loc, did_you_mean
from ..expr import Call, Const, Expr, Name, parse_expression, walk
from ..format import visible
from ..graph import Builder
from ..limits import (
    MAX_ATTRIBUTE_VALUES,
    MAX_MODEL_BYTES,
    MAX_NODES,
    MAX_NUMBERS_OPTION,
    MAX_SCOPE_DEPTH,
    max_numbers,
    max_tensor_numbers,
)
from ..spec import EntrySpec, GraphSpec, Init, LeafKind, LeafSpec, entry_spec, functions
from . import ModelOptions
from .groups import ImportedModel, ModuleGroup, scope_groups

OUTPUT = "output"  # in --loss, the first output, whatever its name
_NOWHERE = Loc()  # an imported node was written nowhere in a graph file


# ---------------------------------------------------------------------------
# Reading the protobuf, external data included


def read_model(path: str) -> Any:
    """The ModelProto of `path`, its external data read from its own folder only."""

    p = Path(path)
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise GraphstepError(f"'{path}' is not a regular file")
        if size > MAX_MODEL_BYTES:
            raise GraphstepError(
                f"the model file is {size:,} bytes; ONNX protobufs are limited to "
                f"{MAX_MODEL_BYTES:,}",
                hint="larger models keep their weights in external data files",
            )
        data = p.read_bytes()
    except FileNotFoundError:
        raise GraphstepError(f"no such file: {path}") from None
    except OSError as e:
        raise GraphstepError(f"cannot read {path}: {e.strerror}") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # protobuf's DecodeError, whose module has no type stubs
        raise GraphstepError(
            "not a valid ONNX model: the protobuf is truncated or malformed",
            file=path,
            hint="re-export the model, or check that the download finished",
        ) from None
    if not model.HasField("graph") or not model.graph.node:
        raise GraphstepError(
            "not an ONNX model: no graph with nodes in it", file=path, hint="is it an ONNX file?"
        )
    _read_external_data(model, p)
    return model


def _read_external_data(model: Any, path: Path) -> None:
    """Fill in initializers kept in external files: each must name a file inside the model's
    folder (no absolute path, no `..`, no link out of it), and its bytes must be there."""

    folder = path.resolve().parent
    _check_weights(sum(math.prod(t.dims) for t in model.graph.initializer), str(path))
    for tensor in model.graph.initializer:
        if tensor.data_location != TensorProto.EXTERNAL:  # uses_external_data, for each weight
            continue
        where = f"initializer '{_visible(tensor.name)}'"
        try:  # onnx refuses a negative or non-numeric offset or length with a ValueError
            info = ExternalDataInfo(tensor)
        except ValueError as e:
            raise GraphstepError(
                f"{where}: its external data is malformed: {_visible(str(e))[:200]}",
                file=str(path),
            ) from None
        location = str(info.location or "")
        target = (folder / location.replace("\0", "")).resolve()
        if (
            not location
            or "\0" in location
            or Path(location).is_absolute()
            or ".." in Path(location).parts
            or folder not in target.parents
        ):
            raise GraphstepError(
                f"{where} points outside the model's folder: '{_visible(location)}'",
                file=str(path),
                hint="external data files must sit beside the model; nothing else is read",
            )
        check_size(tuple(tensor.dims), where, str(path))
        # at most the bytes its dims can hold (16 a number, complex128's), whatever it promises
        most = 16 * math.prod(int(d) for d in tensor.dims) + 1
        expected = int(info.length) if info.length else None
        if target.exists() and not target.is_file():  # a fifo would block the read forever
            raise GraphstepError(
                f"{where}: its external data '{_visible(location)}' is not a regular file",
                file=str(path),
            )
        try:
            with target.open("rb") as f:
                f.seek(min(int(info.offset or 0), MAX_MODEL_BYTES * 1024))
                raw = f.read(most if expected is None else min(expected, most))
        except FileNotFoundError:
            raise GraphstepError(
                f"{where}: its external data file '{location}' is missing", file=str(path)
            ) from None
        except OSError as e:
            raise GraphstepError(
                f"{where}: cannot read '{location}': {e.strerror}", file=str(path)
            ) from None
        if expected is not None and len(raw) != expected:
            raise GraphstepError(
                f"{where}: '{location}' holds {len(raw):,} bytes where {expected:,} were promised",
                file=str(path),
            )
        tensor.raw_data = raw
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT


def _check_weights(total: int, path: str) -> None:
    """Refuse weights over the budget of numbers, by their declared shapes: before any is read
    from an external file or widened to float64."""
    if total > max_numbers():
        raise GraphstepError(
            f"the model's weights hold {total:,} numbers ({8 * total / 1e9:.3g} GB in "
            f"float64); the limit is {max_numbers():,}",
            file=path,
            hint=f"{MAX_NUMBERS_OPTION} N raises it",
        )


class _Weight(NamedTuple):
    """An initializer's name and shape, read once from its TensorProto."""

    name: str
    shape: tuple[int, ...]
    proto: Any


_SMALL_BYTES = 1 << 16  # initializers up to this size are widened to float64 together


def _read_only(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    array = values.reshape(shape)
    array.flags.writeable = False
    return array


class _Node(NamedTuple):
    """A NodeProto's fields, read once: each read of a protobuf field makes a new wrapper,
    and the mappers read a node's inputs many times."""

    op_type: str
    domain: str
    input: tuple[str, ...]
    output: tuple[str, ...]
    attribute: Sequence[Any]  # the AttributeProtos, read when a node has any
    proto: Any

    @property
    def name(self) -> str:
        return str(self.proto.name)


def _nodes(graph: Any) -> list[_Node]:
    return [_Node(n.op_type, n.domain, n.input[:], n.output[:], n.attribute, n) for n in graph.node]


# ---------------------------------------------------------------------------
# Names


_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")


class _Names:
    """ONNX names → identifiers, one-to-one (the rule in the module's docstring)."""

    def __init__(self, first_output: str) -> None:
        self.taken: set[str] = set() if first_output == OUTPUT else {OUTPUT}
        self.of: dict[str, str] = {}
        self.functions = functions()

    def add(self, original: str) -> str:
        if original in self.of:
            return self.of[original]
        plain = original.isascii() and original.isidentifier()  # no run to replace
        base = (original if plain else _NOT_IDENTIFIER.sub("_", original)).strip("_")
        if not base or base[0].isdigit():
            base = f"t_{base}"
        if keyword.iskeyword(base) or base in self.functions:
            base += "_"
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        self.of[original] = name
        return name

    def fresh(self, wanted: str) -> str:
        """A name for a node of graphstep's own (the loss), not taken by the model."""
        name, k = wanted, 1
        while name in self.taken:
            k += 1
            name = f"{wanted}_{k}"
        self.taken.add(name)
        return name


# ---------------------------------------------------------------------------
# The importer


@dataclass(slots=True)
class _Tensor:
    """A tensor of the model as the import sees it: a constant (folded) or a node's output."""

    shape: tuple[int, ...]
    value: np.ndarray | None = None  # known at import: a constant, a shape, an initializer
    param: bool = False  # a float initializer: a param when the data flow reads it
    name: str | None = None  # the graphstep name, once it is a leaf or an entry


@dataclass
class _Import:
    path: str
    model: Any
    options: ModelOptions
    tensors: dict[str, _Tensor] = field(default_factory=dict)
    leaves: dict[str, LeafSpec] = field(default_factory=dict)
    entries: dict[str, EntrySpec] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    producers: dict[str, str] = field(default_factory=dict)  # tensor → op type that made it
    builder: Builder = field(default_factory=Builder)  # the graph, built as the spec is made
    opset: int = 13
    consumed: set[str] = field(default_factory=set)  # every tensor a node reads
    refs: dict[str, Expr] = field(default_factory=dict)  # a tensor → how an expression reads it
    folded_total: int = 0  # numbers in the constants folded so far

    def __post_init__(self) -> None:
        outputs = self.model.graph.output
        self.names = _Names(outputs[0].name if outputs else "")

    def fail(self, message: str, hint: str | None = None) -> GraphstepError:
        return GraphstepError(message, file=self.path, hint=hint)

    # -- leaves -------------------------------------------------------------

    def run(self) -> ImportedModel:
        graph = self.model.graph
        self.opset = next(
            (o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 13
        )
        if len(graph.node) > MAX_NODES:
            raise self.fail(f"the model has {len(graph.node):,} nodes; at most {MAX_NODES:,}")
        nodes = _nodes(graph)
        self.check_supported(nodes)
        weights = [_Weight(t.name, tuple(t.dims), t) for t in graph.initializer]
        initializers = {w.name for w in weights}
        dims = dict(self.options.dims)
        used_dims: set[str] = set()
        for value_info in graph.input:
            if value_info.name in initializers:
                continue
            self.declare_input(value_info, dims, used_dims)
        unknown = set(dims) - used_dims
        if unknown:
            named = sorted(self.dim_names(graph))
            raise self.fail(
                f"--dim {sorted(unknown)[0]}: the model has no dynamic dimension of that name",
                hint=f"its dynamic dimensions: {', '.join(named)}" if named else "it has none",
            )
        self.check_total(weights)
        self.declare_initializers(weights)
        self.consumed = {i for node in nodes for i in node.input}
        for node in nodes:
            self.node(node)
        outputs = [o.name for o in graph.output]
        output = self.loss(outputs)
        name = re.sub(r"\s+", " ", graph.name or Path(self.path).stem)[:80] or "model"
        data = frozenset(n for n, leaf in self.leaves.items() if leaf.kind is LeafKind.INPUT)
        groups = self.scope_groups(nodes, outputs)
        spec = self.spec(name, self.description(), output)
        return ImportedModel(spec, groups, data, self.builder.graph(spec))

    def scope_groups(
        self, nodes: Sequence[_Node], outputs: Sequence[str]
    ) -> tuple[ModuleGroup, ...]:
        """The scopes in the node names (`/layer1/layer1.0/conv1/Conv`: its name minus the last
        segment) as groups; folded nodes are in none."""
        names = [node.name for node in nodes]
        if not any("/" in name for name in names):  # no scopes: nothing to look at
            return ()
        scopes: dict[str, tuple[str, ...]] = {}
        readers: dict[str, list[str]] = {}
        for node, node_name in zip(nodes, names, strict=True):
            made = [t.name for o in node.output if (t := self.tensors.get(o)) and t.name]
            if not made:  # folded: a constant, not an entry
                continue
            scope = tuple(s for s in node_name.split("/")[:-1] if s)[:MAX_SCOPE_DEPTH]
            for name in made:
                scopes[name] = scope
            for i in node.input:
                t = self.tensors.get(i)
                if t is not None and t.name in self.entries:
                    readers.setdefault(t.name, []).extend(made)
        returned = frozenset(t.name for o in outputs if (t := self.tensors.get(o)) and t.name)
        return scope_groups(scopes, readers, returned)

    def spec(self, name: str, description: str, output: str) -> GraphSpec:
        """What the import made, as a GraphSpec; the description ends with the loss chosen."""
        return GraphSpec(
            name=name,
            description=f"{description}; {self.notes[-1]}",
            file=self.path,
            leaves=self.leaves,
            entries=self.entries,
            output=output,
            output_loc=_NOWHERE,
            notes=tuple(self.notes),
            sources=self.sources,
        )

    def description(self) -> str:
        producer = self.model.producer_name
        version = self.model.producer_version
        by = f" from {producer} {version}".rstrip() if producer else ""
        return f"ONNX model{by} (opset {self.opset})"

    def check_supported(self, nodes: Sequence[_Node]) -> None:
        counts: Counter[str] = Counter()
        first: dict[str, str] = {}
        for i, node in enumerate(nodes):
            kind = (
                node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
            )
            if kind not in MAPPED and kind not in FOLDED:
                counts[kind] += 1
                first.setdefault(kind, node.name or f"#{i}")
        if counts:
            listed = ", ".join(
                f"{_visible(kind)} ×{n} (first: '{_visible(first[kind])}')"
                for kind, n in counts.most_common()
            )
            raise self.fail(
                f"unsupported ONNX operators: {listed}",
                hint="graphstep computes every node with its own ops; the README lists them",
            )

    def check_total(self, weights: Sequence[_Weight]) -> None:
        """Refuse, before any weight is widened to float64, weights over the budget; and a
        name given to two of them."""
        _check_weights(sum(math.prod(w.shape) for w in weights), self.path)
        seen: set[str] = set()
        for w in weights:
            if w.name in seen:
                raise self.fail(
                    f"initializer '{_visible(w.name)}' is defined twice",
                    hint="an ONNX graph names every tensor once (onnx.checker says more)",
                )
            seen.add(w.name)

    def dim_names(self, graph: Any) -> set[str]:
        return {
            d.dim_param
            for v in graph.input
            for d in v.type.tensor_type.shape.dim
            if d.HasField("dim_param")
        }

    def declare_input(self, value_info: Any, dims: Mapping[str, int], used: set[str]) -> None:

        kind = value_info.type.WhichOneof("value")
        elem = value_info.type.tensor_type.elem_type
        if kind != "tensor_type" or elem not in FLOAT_TYPES:
            type_name = TensorProto.DataType.Name(elem) if kind == "tensor_type" else kind
            raise self.fail(
                f"input '{_visible(value_info.name)}' holds {type_name} values; graphstep "
                "differentiates float tensors only",
            )
        shape: list[int] = []
        defaulted: list[str] = []
        for d in value_info.type.tensor_type.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param in dims:
                shape.append(dims[d.dim_param])
                used.add(d.dim_param)
            else:
                shape.append(1)
                defaulted.append(d.dim_param or "?")
        shape_t = tuple(shape)
        check_size(shape_t, f"input '{_visible(value_info.name)}'", self.path)
        name = self.names.add(value_info.name)
        self.remember(name, value_info.name)
        self.declare_leaf(
            LeafSpec(
                name,
                LeafKind.INPUT,
                _NOWHERE,
                shape=shape_t,
                init=Init.UNIFORM,
                options=(("low", 0.0), ("high", 1.0)),
            )
        )
        self.tensors[value_info.name] = _Tensor(shape_t, name=name)
        self.refs[value_info.name] = Name(name, _NOWHERE)
        note = f"input {name} {list(shape_t)} has no value: uniform in [0, 1), seeded by its name"
        if defaulted:
            note += f"; dynamic dimensions {', '.join(sorted(set(defaulted)))} set to 1 (--dim)"
        self.notes.append(note + f"; give it one with --set {name}=FILE.npy")

    def declare_initializers(self, weights: Sequence[_Weight]) -> None:
        """The initializers as constants of the import. Raw float data, the common case, is
        checked against its shape and widened to float64 in one numpy call per type for all
        the small ones (each a read-only view of the result); the rest one by one."""
        small: dict[np.dtype[np.floating], list[tuple[_Tensor, bytes]]] = {}
        limit = max_tensor_numbers()
        for name, shape, tensor in weights:
            if not fits(shape, limit):
                check_size(shape, f"initializer '{_visible(name)}'", self.path)
            data_type = tensor.data_type
            dtype = RAW_FLOATS.get(data_type)
            raw = tensor.raw_data if dtype is not None else b""
            if raw and dtype is not None:
                if len(raw) != math.prod(shape) * dtype.itemsize:
                    raise self.fail(
                        f"initializer '{_visible(name)}' holds {len(raw) / dtype.itemsize:,g} "
                        f"numbers for shape {list(shape)}"
                    )
                t = self.tensors[name] = _Tensor(shape, param=True)
                if len(raw) <= _SMALL_BYTES:
                    small.setdefault(dtype, []).append((t, raw))
                else:
                    t.value = _read_only(np.frombuffer(raw, dtype).astype(np.float64), shape)
                continue
            where = f"initializer '{_visible(name)}'"
            try:
                array = numpy_helper.to_array(tensor)
            except (ValueError, TypeError) as e:
                raise self.fail(f"{where} cannot be read: {_visible(str(e))[:200]}") from None
            if array.shape != shape:
                raise self.fail(f"{where} holds {array.size:,} numbers for shape {list(shape)}")
            if array.dtype.kind not in "biuf":  # strings, complex numbers
                raise self.fail(
                    f"{where} holds {TensorProto.DataType.Name(data_type)} values; graphstep "
                    "reads numbers only"
                )
            if data_type in FLOAT_TYPES:
                value = _read_only(np.asarray(array, dtype=np.float64), shape)
                self.tensors[name] = _Tensor(shape, value, param=True)
            else:
                self.tensors[name] = _Tensor(shape, np.asarray(array))
        for dtype, parts in small.items():
            values = np.frombuffer(b"".join(raw for _, raw in parts), dtype).astype(np.float64)
            values.flags.writeable = False
            start = 0
            for t, raw in parts:
                end = start + len(raw) // dtype.itemsize
                t.value = values[start:end].reshape(t.shape)  # read-only, as `values` is
                start = end

    def remember(self, name: str, original: str) -> None:
        if name != original:
            self.sources[name] = original

    # -- reading a node's inputs ----------------------------------------------

    def tensor(self, onnx_name: str, node: Any) -> _Tensor:
        t = self.tensors.get(onnx_name)
        if t is None:
            raise self.fail(
                f"node '{_label(node)}' ({node.op_type}) reads '{_visible(onnx_name)}', "
                "which nothing before it produces",
                hint="the model's nodes must be in topological order (onnx.checker says more)",
            )
        return t

    def constant(self, node: Any, i: int, what: str) -> np.ndarray:
        """An input that must be known at import: a shape, axes, a bound."""
        t = self.tensor(node.input[i], node)
        if t.value is None:
            raise self.fail(
                f"node '{_label(node)}' ({node.op_type}): its {what} "
                f"('{_visible(node.input[i])}') is computed from the data, not a constant",
                hint="graphstep folds only shapes and constants known at import",
            )
        return t.value

    def optional_constant(self, node: Any, i: int, what: str) -> np.ndarray | None:
        if len(node.input) <= i or not node.input[i]:
            return None
        return self.constant(node, i, what)

    def arg(self, node: Any, i: int) -> Expr:
        """Input i as an expression: a node's name, a leaf for a constant tensor or a parameter,
        or a number for a scalar constant."""
        onnx_name = node.input[i]
        ref = self.refs.get(onnx_name)
        if ref is not None:
            return ref
        t = self.tensor(onnx_name, node)  # else: an error
        assert t.value is not None
        if not t.param and t.value.ndim == 0:
            ref = self.refs[onnx_name] = Const(float(t.value), _NOWHERE)
            return ref
        if t.value.size == 0:  # as in a graph file, whose shapes are positive
            raise self.fail(
                f"node '{_label(node)}' ({node.op_type}) reads '{_visible(onnx_name)}', which "
                f"is empty (shape {list(t.value.shape)})",
                hint="every tensor graphstep computes holds at least one number",
            )
        name = self.names.add(onnx_name)
        self.remember(name, onnx_name)
        if t.param:  # widened to float64 when declared
            self.declare_leaf(LeafSpec(name, LeafKind.PARAM, _NOWHERE, t.value))
        else:
            value = np.asarray(t.value, dtype=np.float64)
            self.declare_leaf(LeafSpec(name, LeafKind.INPUT, _NOWHERE, value))
        t.name = name
        ref = self.refs[onnx_name] = Name(name, _NOWHERE)
        return ref

    def shape_of(self, node: Any, i: int) -> tuple[int, ...]:
        return self.tensor(node.input[i], node).shape

    # -- nodes ----------------------------------------------------------------

    def node(self, node: _Node) -> None:
        kind = node.op_type
        mapper = MAPPED.get(kind)
        if kind in FOLDED or (kind in FOLDABLE and self.constant_inputs(node)):
            self.fold(node)
            return
        if mapper is None:
            raise self.fail(
                f"node '{_label(node)}' ({kind}) works on the data; graphstep supports it "
                "only where it computes a shape or a constant",
            )
        try:
            attrs = _attributes(node) if node.attribute else {}
            outputs = mapper(self, node, attrs)
        except GraphstepError as e:
            raise _named(e, node) from None
        except MALFORMED as e:
            raise self.fail(_malformed(node, e), hint=CHECKER_HINT) from None
        try:
            for onnx_name, expr in zip(node.output, outputs, strict=False):
                if onnx_name:
                    self.entry(onnx_name, expr, kind)
        except GraphstepError as e:  # a shape that does not fit: say which node
            raise _named(e, node).in_file(self.path) from None
        extra = [o for o in node.output[len(outputs) :] if o] if len(node.output) > 1 else ()
        if extra and any(self.used_later(o) for o in extra):
            raise self.fail(
                f"node '{_label(node)}' ({kind}): its output '{_visible(extra[0])}' "
                "is not supported",
            )

    def constant_inputs(self, node: _Node) -> bool:
        """Whether every input of a node is known at import and not a weight: then it folds."""
        known = False
        for onnx_name in node.input:
            if onnx_name:
                t = self.tensors.get(onnx_name)
                if t is None or t.value is None or t.param:
                    return False
                known = True
        return known

    def used_later(self, onnx_name: str) -> bool:
        return onnx_name in self.consumed or any(
            o.name == onnx_name for o in self.model.graph.output
        )

    def entry(self, onnx_name: str, expr: Expr, kind: str) -> None:
        if onnx_name in self.tensors:
            raise self.fail(
                f"'{_visible(onnx_name)}' is produced twice",
                hint="an ONNX graph assigns every tensor once (onnx.checker says more)",
            )
        name = self.names.add(onnx_name)
        if name != onnx_name:
            self.sources[name] = onnx_name
        entry = self.entries[name] = EntrySpec(name, expr, _NOWHERE, None, walk(expr))
        shape = self.builder.entry(entry)
        self.tensors[onnx_name] = _Tensor(shape, name=name)
        self.refs[onnx_name] = Name(name, _NOWHERE)
        self.producers[onnx_name] = kind

    def declare_leaf(self, leaf: LeafSpec) -> None:
        self.leaves[leaf.name] = leaf
        self.builder.leaf(leaf)

    def declare_entry(self, entry: EntrySpec) -> tuple[int, ...]:
        """The entry added to the spec and lowered into the graph at once; its shape."""
        self.entries[entry.name] = entry
        return self.builder.entry(entry)

    # -- folding ----------------------------------------------------------------

    def fold(self, node: Any) -> None:
        kind = node.op_type
        try:
            values = self.folded(node)
        except GraphstepError as e:
            raise _named(e, node) from None
        except MALFORMED as e:
            raise self.fail(_malformed(node, e), hint=CHECKER_HINT) from None
        for onnx_name, value in zip(node.output, values, strict=False):
            if onnx_name:
                value = np.asarray(value)
                if value.dtype.kind not in "biuf":  # strings, complex numbers, objects
                    made = "complex" if value.dtype.kind == "c" else "text"
                    raise self.fail(
                        f"node '{_label(node)}' ({kind}) makes {made} values; graphstep folds "
                        "real numbers only"
                    )
                self.fold_numbers(value.shape, f"node '{_label(node)}' ({kind})")
                self.tensors[onnx_name] = _Tensor(value.shape, value)

    def folded(self, node: Any) -> list[np.ndarray]:
        """The values of a node's outputs, computed at import (shapes, constants)."""
        attrs = _attributes(node) if node.attribute else {}
        kind = node.op_type
        if kind == "Shape":  # of anything: shapes are static once dims are chosen
            shape = self.shape_of(node, 0)
            return [np.array(shape[attrs.get("start", 0) : attrs.get("end")], dtype=np.int64)]
        if kind == "Size":
            return [np.asarray(math.prod(self.shape_of(node, 0)), dtype=np.int64)]
        if kind == "Constant":
            return [_constant_value(self, node, attrs)]
        inputs = [
            self.constant(node, i, "input") if name else None for i, name in enumerate(node.input)
        ]
        with np.errstate(all="ignore"):  # 0/0 and the like fold to nan or inf, as computed
            return FOLDABLE[kind](self, attrs, inputs)

    def fold_numbers(self, shape: Sequence[int], what: str) -> None:
        """Count a folded constant against the budget of numbers, refusing it first if it would
        go over: a small file cannot ask for gigabytes of constants one tensor at a time."""
        size = math.prod(shape)
        if self.folded_total + size > max_numbers():
            raise self.fail(
                f"{what}: the model's folded constants would hold "
                f"{self.folded_total + size:,} numbers; the limit is {max_numbers():,}",
                hint=f"{MAX_NUMBERS_OPTION} N raises it",
            )
        self.folded_total += size

    # -- the loss -------------------------------------------------------------

    def loss(self, outputs: Sequence[str]) -> str:
        mapped = [self.tensors[o].name for o in outputs if o in self.tensors]
        if not outputs or any(m is None for m in mapped) or len(mapped) != len(outputs):
            raise self.fail("the model's outputs are constants or missing; nothing to step through")
        names: list[str] = [m for m in mapped if m is not None]
        first = names[0]
        loss_name = self.names.fresh("loss")
        expr: Expr
        if self.options.loss is not None:
            expr = self.user_loss(self.options.loss, names)
            try:
                shape = self.declare_entry(
                    entry_spec(loss_name, expr, Loc(1, 1), self.options.loss)
                )
            except GraphstepError as e:
                raise e.in_file("--loss") from None
            if shape != ():
                text = self.options.loss
                raise GraphstepError.at(
                    f"the loss has shape {list(shape)}; backprop starts from a scalar",
                    Loc(1, 1),
                    hint=f"reduce it, e.g. sum({text}) or mean({text})",
                ).in_file("--loss")
            self.notes.append(f"loss: {self.options.loss}")
            return loss_name
        first_onnx = outputs[0]
        scores = first
        producer = self.producers.get(first_onnx)
        if producer in ("Softmax", "LogSoftmax"):
            call = self.entries[first].expr
            if isinstance(call, Call) and isinstance(call.args[0], Name):
                scores = call.args[0].id
        shape = self.builder.shapes[scores]
        classes = [n for n in shape if n != 1]
        if (len(shape) >= 1 and len(classes) == 1 and classes[0] > 1) or (
            len(shape) >= 2 and shape[0] > 1 and len([n for n in shape[1:] if n != 1]) == 1
        ):
            rows = shape[0] if len(shape) >= 2 and shape[0] > 1 else 1
            k = math.prod(shape) // rows
            target: Expr = Name(scores, _NOWHERE)
            if shape != (rows, k):
                flat = self.names.fresh("scores")
                reshaped = Call("reshape", (target,), (("shape", [rows, k]),), _NOWHERE)
                self.declare_entry(entry_spec(flat, reshaped, _NOWHERE))
                target = Name(flat, _NOWHERE)
            expr = Call(
                "cross_entropy", (target, Call("argmax", (target,), (), _NOWHERE)), (), _NOWHERE
            )
            self.notes.append(
                f"loss: cross-entropy of {scores} against its top class (the default for a "
                f"classifier; choose another with --loss)"
            )
        else:
            expr = Call(
                "mean",
                (Call("pow", (Name(first, _NOWHERE),), (("p", 2.0),), _NOWHERE),),
                (),
                _NOWHERE,
            )
            self.notes.append(
                f"loss: mean({first} ** 2) (the default for a model that is not a classifier; "
                "choose another with --loss)"
            )
        self.declare_entry(entry_spec(loss_name, expr, _NOWHERE))
        return loss_name

    def user_loss(self, text: str, outputs: Sequence[str]) -> Expr:
        try:
            expr = parse_expression(text, functions())
        except GraphstepError as e:
            e.file = "--loss"
            raise
        allowed = {*outputs, OUTPUT, *self.entries}

        def resolve(e: Expr) -> Expr:
            match e:
                case Name(id=name, loc=loc) if name == OUTPUT:
                    return Name(outputs[0], loc)
                case Name(id=name, loc=loc):
                    if name not in allowed:
                        known = name in self.leaves
                        raise GraphstepError.at(
                            f"'{name}' is an input or a weight of the model; a loss is made "
                            "of its outputs and the tensors its nodes compute"
                            if known
                            else f"'{name}' is not a tensor of the model",
                            loc,
                            hint=did_you_mean(name, allowed)
                            or f"its outputs: output (the first), {', '.join(outputs)}",
                        ).in_file("--loss")
                    return e
                case Call(args=args):
                    return Call(e.func, tuple(resolve(a) for a in args), e.attrs, e.loc)
            return e

        return resolve(expr)


# What a node whose attributes or inputs are not what its operator needs raises on the way:
# a missing attribute, a list too short, a rank of 0, infinite bounds, bytes that do not fit
MALFORMED = (KeyError, IndexError, ValueError, TypeError, ArithmeticError)
CHECKER_HINT = "onnx.checker.check_model(model, full_check=True) says what the operator needs"


def _malformed(node: _Node, e: Exception) -> str:
    what = (
        f"it has no attribute or input {_visible(str(e))[:80]}, which the operator needs"
        if isinstance(e, KeyError)
        else f"its attributes or inputs do not fit the operator ({type(e).__name__}: "
        f"{_visible(str(e))[:160]})"
    )
    return f"node '{_label(node)}' ({node.op_type}): {what}"


def _named(e: GraphstepError, node: _Node) -> GraphstepError:
    """An error raised while a node is mapped or folded, prefixed with the node it concerns."""
    if not e.message.startswith("node "):
        e.message = f"node '{_label(node)}' ({node.op_type}): {e.message}"
    return e


def _label(node: Any) -> str:
    """A node as errors name it: its name, else its first output's."""
    return _visible(node.name or (node.output[0] if node.output else node.op_type))


def _visible(text: str) -> str:
    return visible(text)


FLOAT_TYPES = (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
RAW_FLOATS: dict[int, np.dtype[np.floating]] = {
    1: np.dtype("<f4"),
    11: np.dtype("<f8"),
}  # little-endian


_ONE_VALUE = {  # an attribute's type → the field that holds its value
    AttributeProto.FLOAT: "f",
    AttributeProto.INT: "i",
    AttributeProto.STRING: "s",
    AttributeProto.TENSOR: "t",
    AttributeProto.SPARSE_TENSOR: "sparse_tensor",
    AttributeProto.GRAPH: "g",
    AttributeProto.TYPE_PROTO: "tp",
}
_LIST_VALUE = {
    AttributeProto.FLOATS: "floats",
    AttributeProto.INTS: "ints",
    AttributeProto.STRINGS: "strings",
    AttributeProto.TENSORS: "tensors",
    AttributeProto.SPARSE_TENSORS: "sparse_tensors",
    AttributeProto.GRAPHS: "graphs",
    AttributeProto.TYPE_PROTOS: "type_protos",
}


def _attributes(node: _Node) -> dict[str, Any]:
    """A node's attributes, each read from the one field its type names (what
    onnx.helper.get_attribute_value returns, without its chain of tests); text as str."""
    out: dict[str, Any] = {}
    for a in node.attribute:
        if a.ref_attr_name:  # inside an ONNX function only: a value given by its caller
            raise GraphstepError(
                f"node '{_label(node)}' ({node.op_type}): its attribute '{_visible(a.name)}' "
                f"stands for '{_visible(a.ref_attr_name)}' of an enclosing function",
                hint="graphstep reads a model's main graph, whose attributes have values",
            )
        kind = a.type
        value: Any = None  # UNDEFINED, as onnx reads it
        if kind in _ONE_VALUE:
            value = getattr(a, _ONE_VALUE[kind])
            if kind == AttributeProto.STRING:
                value = value.decode("utf-8", "replace")
            elif kind == AttributeProto.TENSOR:
                _attribute_tensor(node, a.name, value)
        elif kind in _LIST_VALUE:
            values = getattr(a, _LIST_VALUE[kind])
            if len(values) > MAX_ATTRIBUTE_VALUES:  # measured before a list is made of them
                raise GraphstepError(
                    f"node '{_label(node)}' ({node.op_type}): its attribute "
                    f"'{_visible(a.name)}' lists {len(values):,} values; at most "
                    f"{MAX_ATTRIBUTE_VALUES:,}",
                    hint="a large constant belongs in an initializer or a tensor value",
                )
            if kind == AttributeProto.TENSORS:
                for t in values:
                    _attribute_tensor(node, a.name, t)
            value = list(values)
            if kind == AttributeProto.STRINGS:
                value = [v.decode("utf-8", "replace") for v in value]
        out[a.name] = value
    return out


def _attribute_tensor(node: _Node, name: str, tensor: Any) -> None:
    """A tensor an attribute holds (a Constant's value, ConstantOfShape's fill): measured, and
    its data in the model itself; only initializers are read from external files."""
    where = f"node '{_label(node)}' ({node.op_type}): its attribute '{_visible(name)}'"
    if tensor.data_location == TensorProto.EXTERNAL:
        raise GraphstepError(
            f"{where} keeps its tensor in an external file",
            hint="graphstep reads external data for initializers only, from the model's folder",
        )
    check_size(tuple(tensor.dims), where)


def _constant_value(imp: _Import, node: Any, attrs: dict[str, Any]) -> np.ndarray:

    if "value" in attrs:
        t = node.attribute[[a.name for a in node.attribute].index("value")].t
        check_size(tuple(t.dims), f"constant '{_visible(node.output[0])}'", imp.path)
        value = numpy_helper.to_array(t)
        return np.asarray(value, dtype=np.float64) if t.data_type in FLOAT_TYPES else value
    for key, dtype in (
        ("value_float", np.float64),
        ("value_floats", np.float64),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in attrs:
            return np.asarray(attrs[key], dtype=dtype)
    raise imp.fail(f"Constant '{_visible(node.output[0])}' has no value graphstep can read")


# ---------------------------------------------------------------------------
# Data-flow ops: each returns the expressions of the node's outputs


Mapper = Callable[[_Import, Any, dict[str, Any]], list[Expr]]


def _call(func: str, *args: Expr, **attrs: Any) -> Call:
    return Call(func, tuple(args), tuple(attrs.items()), _NOWHERE)


def _unary(func: str) -> Mapper:
    def mapper(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
        return [Call(func, (imp.arg(node, 0),), (), _NOWHERE)]

    return mapper


def _binary(func: str) -> Mapper:
    def mapper(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
        return [Call(func, (imp.arg(node, 0), imp.arg(node, 1)), (), _NOWHERE)]

    return mapper


def _variadic(func: str) -> Mapper:
    def mapper(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
        args = [imp.arg(node, i) for i in range(len(node.input)) if node.input[i]]
        expr = args[0] if len(args) > 1 else _call("identity", args[0])
        for a in args[1:]:
            expr = _call(func, expr, a)
        return [expr]

    return mapper


def _pair(values: Sequence[int]) -> Any:
    a, b = int(values[0]), int(values[1])
    return a if a == b else [a, b]


def _pads(values: Sequence[int]) -> Any:
    t, left, b, r = (int(v) for v in values)
    if t == left == b == r:
        return t
    return [t, left, b, r]


def _image(imp: _Import, node: Any) -> tuple[int, ...]:
    """x's shape as (N, C, H, W); a 1-D (N, C, L) input is an image one row high."""
    shape = imp.shape_of(node, 0)
    if len(shape) == 3:
        return (shape[0], shape[1], 1, shape[2])
    if len(shape) != 4:
        raise imp.fail(
            f"node '{_label(node)}' ({node.op_type}) works on a {len(shape) - 2}-D input; "
            "graphstep supports 1-D (N, C, L) and 2-D (N, C, H, W) only",
            hint="3-D convolutions and pools are not supported",
        )
    return shape


def _lift(attrs: dict[str, Any], one_d: bool) -> dict[str, Any]:
    """A 1-D layer's attributes for the same layer over an image one row high."""
    if not one_d:
        return attrs
    out = dict(attrs)
    for key in ("kernel_shape", "strides", "dilations"):
        if key in attrs:
            out[key] = [1, *attrs[key]]
    if "pads" in attrs:
        out["pads"] = [0, attrs["pads"][0], 0, attrs["pads"][1]]
    return out


def _rows(x: Expr, shape: Sequence[int], one_d: bool) -> Expr:
    """x (N, C, L) as (N, C, 1, L) for a 1-D layer; x itself otherwise."""
    return _call("reshape", x, shape=[shape[0], shape[1], 1, shape[-1]]) if one_d else x


def _window_attrs(
    imp: _Import, node: Any, attrs: dict[str, Any], kernel: Sequence[int]
) -> dict[str, Any]:
    """stride, pad and dilation as graphstep writes them, auto_pad worked out."""
    shape = _image(imp, node)
    strides = list(attrs.get("strides", [1, 1]))
    dilations = list(attrs.get("dilations", [1, 1]))
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0, 0, 0, 0]
        for d in range(2):
            size = shape[2 + d]
            reach = dilations[d] * (kernel[d] - 1) + 1
            total = max((math.ceil(size / strides[d]) - 1) * strides[d] + reach - size, 0)
            small, large = total // 2, total - total // 2
            pads[d], pads[d + 2] = (small, large) if auto == "SAME_UPPER" else (large, small)
    elif auto == "VALID":
        pads = [0, 0, 0, 0]
    out: dict[str, Any] = {}
    if strides != [1, 1]:
        out["stride"] = _pair(strides)
    if any(pads):
        out["pad"] = _pads(pads)
    if dilations != [1, 1]:
        out["dilation"] = _pair(dilations)
    return out


def _finish_1d(imp: _Import, expr: Call, one_d: bool) -> Expr:
    """Drop the row axis a 1-D layer was lifted to: (N, F, 1, Lo) → (N, F, Lo)."""
    if not one_d:
        return expr
    n, f, _, lo = imp.builder.shape_of(expr)
    return _call("reshape", expr, shape=[n, f, lo])


def _conv(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    x = imp.shape_of(node, 0)
    _image(imp, node)
    one_d = len(x) == 3
    w = imp.shape_of(node, 1)
    attrs = _lift(attrs, one_d)
    kernel = [1, w[2]] if one_d else list(w[2:])
    extra = _window_attrs(imp, node, attrs, kernel)
    if attrs.get("group", 1) != 1:
        extra["groups"] = int(attrs["group"])
    weights = imp.arg(node, 1)
    if one_d:
        weights = _call("reshape", weights, shape=[w[0], w[1], 1, w[2]])
    args = [_rows(imp.arg(node, 0), x, one_d), weights]
    if len(node.input) > 2 and node.input[2]:
        args.append(imp.arg(node, 2))
    return [_finish_1d(imp, _call("conv2d", *args, **extra), one_d)]


def _pool(func: str) -> Mapper:
    def mapper(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
        x = imp.shape_of(node, 0)
        _image(imp, node)
        one_d = len(x) == 3
        attrs = _lift(attrs, one_d)
        kernel = list(attrs["kernel_shape"])
        extra = _window_attrs(imp, node, attrs, kernel)
        extra = {"size": _pair(kernel), "stride": extra.pop("stride", 1), **extra}
        if attrs.get("ceil_mode"):
            extra["ceil"] = 1
        if attrs.get("count_include_pad"):
            extra["count_pad"] = 1
        if attrs.get("storage_order"):
            raise imp.fail(f"node '{_label(node)}' (MaxPool): storage_order 1 is not supported")
        pooled = _call(func, _rows(imp.arg(node, 0), x, one_d), **extra)
        return [_finish_1d(imp, pooled, one_d)]

    return mapper


def _global_pool(func: str) -> Mapper:
    def mapper(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
        x = imp.shape_of(node, 0)
        shape = _image(imp, node)
        one_d = len(x) == 3
        pooled = _call(func, _rows(imp.arg(node, 0), x, one_d), size=_pair(shape[2:]))
        return [_finish_1d(imp, pooled, one_d)]

    return mapper


def _batchnorm(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    if attrs.get("training_mode"):
        raise imp.fail(
            f"node '{_label(node)}' (BatchNormalization): training mode is not supported",
            hint="export the model in eval mode (model.eval() in PyTorch)",
        )
    args = [imp.arg(node, i) for i in range(5)]
    extra = {"epsilon": float(attrs.get("epsilon", 1e-5))}
    return [_call("batchnorm", *args, **extra)]


def _softmax(func: str) -> Mapper:
    def mapper(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
        shape = imp.shape_of(node, 0)
        x = imp.arg(node, 0)
        if imp.opset >= 13:
            return [_call(func, x, axis=int(attrs.get("axis", -1)))]
        axis = int(attrs.get("axis", 1)) % len(shape)  # before opset 13: over a flattened tail
        if axis == len(shape) - 1:
            return [_call(func, x, axis=-1)]
        flat = [math.prod(shape[:axis]), math.prod(shape[axis:])]
        inner = _call(func, _call("reshape", x, shape=flat), axis=-1)
        return [_call("reshape", inner, shape=list(shape))]

    return mapper


def _gemm(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    a, b = imp.arg(node, 0), imp.arg(node, 1)
    if attrs.get("transA"):
        a = _call("transpose", a)
    if attrs.get("transB"):
        b = _call("transpose", b)
    y: Expr = _call("matmul", a, b)
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    if alpha != 1.0:
        y = _call("mul", y, Const(alpha, _NOWHERE))
    if len(node.input) > 2 and node.input[2]:
        c = imp.arg(node, 2)
        if beta != 1.0:
            c = _call("mul", c, Const(beta, _NOWHERE))
        y = _call("add", y, c)
    return [y]


def _pow(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    exponent = imp.tensor(node.input[1], node)
    if exponent.value is not None and not exponent.param and exponent.value.size == 1:
        p = float(np.asarray(exponent.value).reshape(()))
        if np.ndim(exponent.value) == 0 or exponent.value.ndim <= len(imp.shape_of(node, 0)):
            return [_call("pow", imp.arg(node, 0), p=p)]
    return [_call("power", imp.arg(node, 0), imp.arg(node, 1))]


def _clip(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    """clip(x, low=, high=) for constant bounds; min(max(x, lo), hi) for bounds from the data."""
    bounds: dict[str, Any] = {"low": attrs.get("min"), "high": attrs.get("max")}
    dynamic: dict[str, Expr] = {}
    if imp.opset >= 11:
        for i, key in ((1, "low"), (2, "high")):
            if len(node.input) <= i or not node.input[i]:
                bounds[key] = None
                continue
            t = imp.tensor(node.input[i], node)
            if t.value is not None and not t.param:
                bounds[key] = float(np.ravel(t.value)[0])
            else:
                bounds[key] = None
                dynamic[key] = imp.arg(node, i)
    x: Expr = imp.arg(node, 0)
    extra = {k: float(v) for k, v in bounds.items() if v is not None}
    if extra or not dynamic:
        x = _call("clip", x, **extra)
    if "low" in dynamic:
        x = _call("max", x, dynamic["low"])
    if "high" in dynamic:
        x = _call("min", x, dynamic["high"])
    return [x]


def _reshape_to(imp: _Import, node: Any, shape: Sequence[int]) -> list[Expr]:
    return [_call("reshape", imp.arg(node, 0), shape=[int(n) for n in shape])]


def _reshape(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    x = imp.shape_of(node, 0)
    wanted = [int(n) for n in imp.constant(node, 1, "shape").ravel().tolist()]
    if 0 in wanted and not attrs.get("allowzero"):
        wanted = [x[i] if n == 0 and i < len(x) else n for i, n in enumerate(wanted)]
    if -1 in wanted and wanted.count(-1) == 1:
        known = math.prod(n for n in wanted if n != -1)
        if known and math.prod(x) % known == 0:
            wanted[wanted.index(-1)] = math.prod(x) // known
    return _reshape_to(imp, node, wanted)


def _flatten(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    x = imp.shape_of(node, 0)
    axis = int(attrs.get("axis", 1))
    axis = axis + len(x) if axis < 0 else axis
    return _reshape_to(imp, node, [math.prod(x[:axis]), math.prod(x[axis:])])


def _axes_of(imp: _Import, node: Any, attrs: dict[str, Any], ndim: int) -> list[int] | None:
    axes = attrs.get("axes")
    if axes is None:
        given = imp.optional_constant(node, 1, "axes")
        axes = None if given is None else [int(a) for a in np.ravel(given)]
    if axes is None:
        return None
    return [int(a) % ndim for a in axes] if ndim else []


def _squeeze(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    x = imp.shape_of(node, 0)
    axes = _axes_of(imp, node, attrs, len(x))
    if axes is None:
        axes = [d for d, n in enumerate(x) if n == 1]
    return _reshape_to(imp, node, [n for d, n in enumerate(x) if d not in axes])


def _unsqueeze(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    """Axes of size 1 inserted; the axes count in the output's rank (attribute or input)."""
    x = list(imp.shape_of(node, 0))
    given = attrs.get("axes")
    if given is None:
        given = [int(a) for a in np.ravel(imp.constant(node, 1, "axes"))]
    rank = len(x) + len(given)
    for a in sorted(int(a) % rank for a in given):
        x.insert(a, 1)
    return _reshape_to(imp, node, x)


def _transpose(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    perm = attrs.get("perm")
    extra = {} if perm is None else {"perm": [int(p) for p in perm]}
    return [_call("transpose", imp.arg(node, 0), **extra)]


def _concat(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    args = [imp.arg(node, i) for i in range(len(node.input)) if node.input[i]]
    return [_call("concat", *args, axis=int(attrs["axis"]))]


def _split(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    x = imp.shape_of(node, 0)
    axis = int(attrs.get("axis", 0)) % len(x)
    sizes = attrs.get("split")
    if sizes is None:
        given = imp.optional_constant(node, 1, "split")
        sizes = None if given is None else [int(s) for s in np.ravel(given)]
    if sizes is None:
        n = len(node.output)
        whole = x[axis]
        step = -(-whole // n)
        sizes = [min(step, whole - k * step) for k in range(n)]
    if sum(sizes) != x[axis] or any(s <= 0 for s in sizes):
        raise imp.fail(f"node '{_label(node)}' (Split): parts {list(sizes)} do not split {x[axis]}")
    starts = np.cumsum([0, *sizes[:-1]])
    source = imp.arg(node, 0)
    return [
        _call("slice", source, starts=[int(s)], ends=[int(s + n)], axes=[axis])
        for s, n in zip(starts, sizes, strict=True)
    ]


def _reduce(func: str) -> Mapper:
    def mapper(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
        x = imp.shape_of(node, 0)
        axes = _axes_of(imp, node, attrs, len(x))
        if axes is None or not axes:
            if attrs.get("noop_with_empty_axes"):
                return [_call("identity", imp.arg(node, 0))]
            axes = list(range(len(x)))
        keep = int(attrs.get("keepdims", 1))
        extra: dict[str, Any] = {"axis": sorted(set(axes))}
        if keep:
            extra["keepdims"] = 1
        return [_call(func, imp.arg(node, 0), **extra)]

    return mapper


def _leaky(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    return [_call("leaky_relu", imp.arg(node, 0), alpha=float(attrs.get("alpha", 0.01)))]


def _lrn(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    extra = {
        "size": int(attrs["size"]),
        "alpha": float(attrs.get("alpha", 1e-4)),
        "beta": float(attrs.get("beta", 0.75)),
        "bias": float(attrs.get("bias", 1.0)),
    }
    return [_call("lrn", imp.arg(node, 0), **extra)]


def _dropout(imp: _Import, node: Any, attrs: dict[str, Any]) -> list[Expr]:
    training = imp.optional_constant(node, 2, "training_mode")
    if training is not None and bool(np.ravel(training)[0]):
        raise imp.fail(
            f"node '{_label(node)}' (Dropout): training mode is not supported",
            hint="export the model in eval mode",
        )
    return [_call("identity", imp.arg(node, 0))]


MAPPED: dict[str, Mapper] = {
    "Conv": _conv,
    "BatchNormalization": _batchnorm,
    "Relu": _unary("relu"),
    "LeakyRelu": _leaky,
    "Sigmoid": _unary("sigmoid"),
    "Tanh": _unary("tanh"),
    "Softmax": _softmax("softmax"),
    "LogSoftmax": _softmax("log_softmax"),
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _global_pool("avgpool"),
    "GlobalMaxPool": _global_pool("maxpool"),
    "LRN": _lrn,
    "Dropout": _dropout,
    "Gemm": _gemm,
    "MatMul": _binary("matmul"),
    "Add": _binary("add"),
    "Sub": _binary("sub"),
    "Mul": _binary("mul"),
    "Div": _binary("div"),
    "Pow": _pow,
    "Neg": _unary("neg"),
    "Abs": _unary("abs"),
    "Exp": _unary("exp"),
    "Log": _unary("log"),
    "Sqrt": _unary("sqrt"),
    "Clip": _clip,
    "Sum": _variadic("add"),
    "Max": _variadic("max"),
    "Min": _variadic("min"),
    "Concat": _concat,
    "Split": _split,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Identity": _unary("identity"),
    "ReduceMean": _reduce("mean"),
    "ReduceSum": _reduce("sum"),
}


# ---------------------------------------------------------------------------
# Folding: shape and constant bookkeeping, computed once at import with numpy


Folder = Callable[[_Import, dict[str, Any], list[Any]], list[np.ndarray]]


def _sized(imp: _Import, shape: Sequence[int], what: str) -> tuple[int, ...]:
    """A shape a node asks for, measured before anything of that size is made: against the
    per-tensor limit, and with the constants folded so far against the budget."""
    dims = tuple(int(n) for n in shape)
    check_size(dims, what, imp.path)
    if imp.folded_total + math.prod(dims) > max_numbers():
        imp.fold_numbers(dims, what)  # the error
    return dims


def _fold_constant_of_shape(
    imp: _Import, attrs: dict[str, Any], ins: list[Any]
) -> list[np.ndarray]:

    shape = _sized(imp, [int(n) for n in np.ravel(ins[0])], "ConstantOfShape")
    value = attrs.get("value")
    fill = numpy_helper.to_array(value).ravel()[0] if value is not None else np.float32(0)
    return [np.full(shape, fill)]


def _fold_expand(imp: _Import, attrs: dict[str, Any], ins: list[Any]) -> list[np.ndarray]:
    target = np.broadcast_shapes(np.shape(ins[0]), tuple(int(n) for n in np.ravel(ins[1])))
    _sized(imp, target, "Expand")
    return [np.broadcast_to(ins[0], target).copy()]


def _fold_range(imp: _Import, attrs: dict[str, Any], ins: list[Any]) -> list[np.ndarray]:
    start, limit, delta = (np.ravel(v)[0] for v in ins[:3])
    if delta == 0:
        raise GraphstepError("Range with delta 0 never ends")
    _sized(imp, (max(math.ceil((limit - start) / delta), 0),), "Range")
    return [np.arange(start, limit, delta)]


def _fold_slice(imp: _Import, attrs: dict[str, Any], ins: list[Any]) -> list[np.ndarray]:
    x = np.asarray(ins[0])
    starts: Any = attrs.get("starts", None if len(ins) < 2 else np.ravel(ins[1]))
    ends: Any = attrs.get("ends", None if len(ins) < 3 else np.ravel(ins[2]))
    axes: Any = attrs.get("axes", None if len(ins) < 4 or ins[3] is None else np.ravel(ins[3]))
    steps = None if len(ins) < 5 or ins[4] is None else np.ravel(ins[4])
    index = [slice(None)] * x.ndim
    for k, (s, e) in enumerate(zip(starts, ends, strict=True)):
        a = int(axes[k]) % x.ndim if axes is not None else k
        index[a] = slice(int(s), int(e), 1 if steps is None else int(steps[k]))
    return [x[tuple(index)]]


def _fold_squeeze(imp: _Import, attrs: dict[str, Any], ins: list[Any]) -> list[np.ndarray]:
    x = np.asarray(ins[0])
    axes = attrs.get("axes", None if len(ins) < 2 or ins[1] is None else np.ravel(ins[1]))
    return [np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes))]


def _fold_unsqueeze(imp: _Import, attrs: dict[str, Any], ins: list[Any]) -> list[np.ndarray]:
    x = np.asarray(ins[0])
    axes: Any = attrs.get("axes", None if len(ins) < 2 else np.ravel(ins[1]))
    rank = x.ndim + len(axes)
    shape = list(x.shape)
    for a in sorted(int(a) % rank for a in axes):
        shape.insert(a, 1)
    return [x.reshape(shape)]


def _fold_reshape(imp: _Import, attrs: dict[str, Any], ins: list[Any]) -> list[np.ndarray]:
    x = np.asarray(ins[0])
    shape = [int(n) for n in np.ravel(ins[1])]
    if not attrs.get("allowzero"):
        shape = [x.shape[i] if n == 0 else n for i, n in enumerate(shape)]
    return [x.reshape(shape)]


def _fold_cast(imp: _Import, attrs: dict[str, Any], ins: list[Any]) -> list[np.ndarray]:

    to = np.dtype(tensor_dtype_to_np_dtype(int(attrs["to"])))
    return [np.asarray(ins[0]).astype(np.float64 if to.kind == "f" else to)]


def _fold_gather(imp: _Import, attrs: dict[str, Any], ins: list[Any]) -> list[np.ndarray]:
    data, indices = np.asarray(ins[0]), np.asarray(ins[1], dtype=np.int64)
    axis = int(attrs.get("axis", 0)) % max(1, data.ndim)
    _sized(imp, (*data.shape[:axis], *indices.shape, *data.shape[axis + 1 :]), "Gather")
    return [np.take(data, indices, axis=axis)]


def _fold_concat(imp: _Import, attrs: dict[str, Any], ins: list[Any]) -> list[np.ndarray]:
    parts = [np.atleast_1d(v) for v in ins if v is not None]
    _sized(imp, (sum(p.size for p in parts),), "Concat")
    return [np.concatenate(parts, axis=int(attrs["axis"]))]


def _fold_binary(fn: Callable[[Any, Any], Any]) -> Folder:
    def folder(imp: _Import, attrs: dict[str, Any], ins: list[Any]) -> list[np.ndarray]:
        _sized(imp, np.broadcast_shapes(np.shape(ins[0]), np.shape(ins[1])), "a folded result")
        return [np.asarray(fn(np.asarray(ins[0]), np.asarray(ins[1])))]

    return folder


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return np.trunc(a / b).astype(a.dtype)
    return a / b


FOLDED = ("Shape", "Size", "Constant", "ConstantOfShape", "Range", "Cast", "Gather", "Expand")
FOLDABLE: dict[str, Folder] = {
    "ConstantOfShape": _fold_constant_of_shape,
    "Expand": _fold_expand,
    "Range": _fold_range,
    "Cast": _fold_cast,
    "Gather": _fold_gather,
    "Concat": _fold_concat,
    "Slice": _fold_slice,
    "Squeeze": _fold_squeeze,
    "Unsqueeze": _fold_unsqueeze,
    "Reshape": _fold_reshape,
    "Identity": lambda imp, attrs, ins: [np.asarray(ins[0])],
    "Add": _fold_binary(np.add),
    "Sub": _fold_binary(np.subtract),
    "Mul": _fold_binary(np.multiply),
    "Div": _fold_binary(_int_div),
    "Neg": lambda imp, attrs, ins: [-np.asarray(ins[0])],
    "Sqrt": lambda imp, attrs, ins: [np.sqrt(np.asarray(ins[0], dtype=np.float64))],
    "Transpose": lambda imp, attrs, ins: [np.transpose(ins[0], attrs.get("perm"))],
    "Flatten": lambda imp, attrs, ins: [
        np.reshape(ins[0], (math.prod(np.shape(ins[0])[: attrs.get("axis", 1)]), -1))
    ],
}


def import_model(model: Any, path: str, options: ModelOptions) -> ImportedModel:
    """A parsed ModelProto (its external data already in place) as a GraphSpec, with the
    scopes of its node names as groups."""
    return _Import(path, model, options).run()


def load_onnx(path: str, options: ModelOptions) -> ImportedModel:
    """An ONNX model file as a GraphSpec and its groups; every error names the file."""
    try:
        return import_model(read_model(path), path, options)
    except GraphstepError as e:
        raise e.in_file(path) from None
    except MemoryError:
        raise GraphstepError(
            "the model does not fit in memory",
            file=path,
            hint=f"{MAX_NUMBERS_OPTION} lowers what graphstep will try to hold",
        ) from None
