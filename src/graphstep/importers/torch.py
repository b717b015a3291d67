"""PyTorch modules → GraphSpec, through `torch.export` and its core ATen op set.

The module is copied and run in float64 (`model.double()` on the copy), exported with
`torch.export.export`, decomposed with `run_decompositions` to the core ATen ops (losses
kept whole: `nll_loss_forward`, `mse_loss`), and every ATen node is mapped onto
graphstep's own ops, which compute it from then on. Names follow the ONNX importer's
rule (`layer1.0.conv1.weight` → `layer1_0_conv1_weight`, the original kept in
`GraphSpec.sources`); a module's output is named after the module, and a module of
more than one node becomes a group of the graph (collapsed in the views until
expanded), from `torch.export`'s `nn_module_stack`.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import logging
import re
import sys
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..arrays import check_size
from ..errors import GraphstepError, Loc
from ..expr import Const, Expr, Name
from ..graph import Graph
from ..limits import MAX_NODES
from ..spec import LeafKind, LeafSpec
from . import ModelOptions, a_type
from .groups import ImportedModel, ModuleGroup
from .onnx import _call, _Import, _Names, _pair, _Tensor, _visible

INSTALL_HINT = "pip install 'graphstep[torch]' (the CPU build will do)"
AS_ONNX = {
    "_softmax": "Softmax",
    "_log_softmax": "LogSoftmax",
    "softmax.int": "Softmax",
    "log_softmax.int": "LogSoftmax",
}  # for the default loss
KEPT_WHOLE = ("nll_loss_forward", "mse_loss")  # losses left undecomposed, mapped whole
LOSSES = (*KEPT_WHOLE, "cross_entropy_loss", "nll_loss_nd")
WRAPPED = "model"  # the submodule name of the model inside the module that adds the loss

Loss = Callable[[Any], Any] | str | None


def require_torch() -> Any:
    """The torch module, or the error that says how to install it."""
    try:
        import torch
    except ImportError:
        raise GraphstepError(
            "PyTorch is not installed; importing a PyTorch model needs it", hint=INSTALL_HINT
        ) from None
    return torch


def from_torch(model: Any, example_inputs: Any, loss: Loss = None) -> Graph:
    """A PyTorch module as a graph: its module hierarchy as the graph's groups."""
    return import_torch(model, example_inputs, loss).graph()


def import_torch(
    model: Any, example_inputs: Any, loss: Loss = None, *, where: str | None = None
) -> ImportedModel:
    """Export, decompose and map a module; `loss` is a function of its output, an expression
    over its outputs' names (`output` is the first), or None for the default loss. Errors
    name `where` (the model's class by default)."""
    return export(model, example_inputs, loss, where=where).convert()


def export(
    model: Any, example_inputs: Any, loss: Loss = None, *, where: str | None = None
) -> _TorchImport:
    """torch.export's program of a float64 copy of the model (its loss on top), not yet
    decomposed or mapped."""
    torch = require_torch()
    where = where or type(model).__name__
    if not isinstance(model, torch.nn.Module):
        raise GraphstepError(
            f"the model is a {type(model).__name__}, not a torch.nn.Module", file=where
        )
    _check_loss(loss, "the loss", where)
    inputs = _example_inputs(torch, example_inputs, where)
    copied = copy.deepcopy(model).double()
    options = ModelOptions(loss=loss if isinstance(loss, str) else None)
    wrapped = callable(loss)
    if callable(loss):
        copied = _WithLoss(torch, copied, loss)
    with _quiet():
        try:
            program = torch.export.export(copied, inputs)
        except Exception as e:  # torch raises many kinds; each becomes one line
            raise _export_error(e, where) from None
    return _TorchImport(
        where,
        program,
        options,
        inputs=inputs,
        input_names=_parameter_names(model, len(inputs)),
        title=type(model).__name__,
        wrapped=wrapped,
    )


def _parameter_names(model: Any, count: int) -> tuple[str, ...]:
    """The names of forward's positional parameters, for the inputs of a wrapped model."""
    import inspect

    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return ()
    names = tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return names[:count] if len(names) >= count else ()


def _example_inputs(torch: Any, given: Any, where: str) -> tuple[Any, ...]:
    inputs = given if isinstance(given, tuple | list) else (given,)
    out = []
    for k, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor):
            raise GraphstepError(
                f"example input {k} is a {type(x).__name__}, not a tensor",
                file=where,
                hint="example_inputs is a tuple of tensors, as model(*example_inputs) takes",
            )
        check_size(tuple(x.shape), f"example input {k}", where)
        if 0 in x.shape:
            raise GraphstepError(
                f"example input {k} is empty (shape {list(x.shape)})",
                file=where,
                hint="a tensor needs at least one number",
            )
        out.append(x.detach().double() if x.is_floating_point() else x.detach())
    return tuple(out)


def _check_loss(loss: object, what: str, where: str) -> None:
    """Refuse a loss that is neither a function of the output, an expression, nor None."""
    if loss is not None and not callable(loss) and not isinstance(loss, str):
        raise GraphstepError(
            f"{what} is {a_type(loss)}, not a function of the model's output or an expression "
            "over its outputs",
            file=where,
            hint="e.g. lambda out: F.cross_entropy(out, y), or 'sum(output)'",
        )


def _WithLoss(torch: Any, model: Any, loss: Callable[[Any], Any]) -> Any:
    """The model with its loss on top, so one export holds both."""

    class WithLoss(torch.nn.Module):  # type: ignore[misc]  # torch is untyped here
        def __init__(self) -> None:
            super().__init__()
            self.add_module(WRAPPED, model)

        def forward(self, *xs: Any) -> Any:
            return loss(getattr(self, WRAPPED)(*xs))

    return WithLoss()


@contextmanager
def _quiet() -> Iterator[None]:
    """torch logs its graphs and guards while exporting; the user sees graphstep's errors."""
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def _export_error(e: Exception, where: str) -> GraphstepError:
    text = str(e)
    call = re.search(r'The following call raised this error:\s*File "([^"]+)", line (\d+)', text)
    code = re.search(r"The following call raised this error:\s*File [^\n]*\n\s*(.+)", text)
    place = {"file": call.group(1), "line": int(call.group(2))} if call else {"file": where}
    if "data-dependent" in text or type(e).__name__ == "GuardOnDataDependentSymNode":
        line = f" ({_visible(code.group(1).strip())[:120]})" if code else ""
        return GraphstepError(
            "torch.export cannot capture the model: its forward branches on the values of a "
            f"tensor{line}, which change from one input to the next",
            hint="branch on shapes only, or use torch.cond; graphstep steps through one "
            "fixed graph",
            **place,
        )
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(e).__name__)
    return GraphstepError(
        f"torch.export cannot capture the model: {_visible(first)[:300]}",
        hint="graphstep imports what torch.export.export(model, example_inputs) captures",
        **place,
    )


# ---------------------------------------------------------------------------
# The mapping


@dataclass
class _TorchImport(_Import):
    """The ONNX importer's names, leaves, entries and loss, fed from an ExportedProgram."""

    inputs: tuple[Any, ...] = ()
    input_names: tuple[str, ...] = ()
    title: str = "model"
    wrapped: bool = False
    stacks: dict[str, tuple[tuple[str, str, str], ...]] = field(default_factory=dict)
    aliases: dict[str, Any] = field(default_factory=dict)  # fx name → a tuple or a pass-through
    user_inputs: set[str] = field(default_factory=set)  # their fx names
    originals: dict[str, str] = field(default_factory=dict)  # placeholder → the model's name
    returns: dict[str, str] = field(default_factory=dict)  # module call → the entry it returns

    def __post_init__(self) -> None:
        self.names = _Names("")  # `output` stays free: in a loss expression, the first output

    def convert(self) -> ImportedModel:
        """Decompose the exported program to the core ATen ops and map every node."""
        self.model = self.decomposed()
        graph = self.model.graph
        nodes = list(graph.nodes)
        if len(nodes) > MAX_NODES:
            raise self.fail(f"the exported model has {len(nodes):,} nodes; at most {MAX_NODES:,}")
        self.check_supported_ops(nodes)
        exits = self.module_exits(nodes)
        placeholders = self.placeholders()
        for node in nodes:
            if node.op == "placeholder":
                self.tensors[node.name] = placeholders[node.name]
            elif node.op == "call_function":
                self.call(node, exits.get(node.name))
        outputs = [self.output_name(o) for o in self.user_outputs(nodes)]
        if self.wrapped:
            loss = outputs[0]
            if self.tensors[loss].shape != ():
                raise self.fail(
                    f"the loss has shape {list(self.tensors[loss].shape)}; it must be one number",
                    hint="reduce it, e.g. with .mean()",
                )
            output = self.named_loss(str(self.tensors[loss].name))
            self.notes.append(f"loss: {self.entries[output].text}, the function given")
        else:
            output = self.loss(outputs)
        spec = self.spec(self.title, f"PyTorch {self.title} via torch.export", output)
        data = frozenset(
            t.name for k, t in self.tensors.items() if k in self.user_inputs and t.name
        )
        return ImportedModel(spec, self.groups(), data)

    def decomposed(self) -> Any:
        """The program in core ATen ops; as exported when graphstep maps every op of it whole
        already (conv2d, linear, batch_norm in eval, ...), which spares a retrace."""
        if all(_direct(n) for n in self.model.graph.nodes if n.op == "call_function"):
            return self.model
        torch = require_torch()
        table = torch.export.default_decompositions()
        for name in KEPT_WHOLE:
            table.pop(getattr(torch.ops.aten, name).default, None)
        with _quiet():
            return self.model.run_decompositions(table)

    def named_loss(self, name: str) -> str:
        """The loss function's result, renamed `loss` when it is the last entry (so nothing
        else reads it)."""
        if name not in self.entries or list(self.entries)[-1] != name:
            return name
        final = self.names.fresh("loss")
        self.entries[final] = self.entries.pop(name)._replace(name=final)
        self.sources.pop(name, None)
        return final

    # -- what cannot be mapped, all at once ---------------------------------------

    def check_supported_ops(self, nodes: Sequence[Any]) -> None:
        counts: Counter[str] = Counter()
        first: dict[str, str] = {}
        for node in nodes:
            if node.op in ("placeholder", "output"):
                continue
            kind = _kind(node) if node.op == "call_function" else str(node.op)
            if kind not in MAPPED:
                counts[kind] += 1
                first.setdefault(kind, _source_line(node))
        if not counts:
            return
        listed = ", ".join(
            f"{kind} ×{n}" + (f" ({first[kind]})" if first[kind] else "")
            for kind, n in counts.most_common()
        )
        hints = [HINTS[k] for k in counts if k in HINTS]
        raise self.fail(
            f"no graphstep op for {listed}",
            hint="; ".join(hints) or "the README lists the ATen ops graphstep maps",
        )

    # -- leaves ------------------------------------------------------------------

    def placeholders(self) -> dict[str, _Tensor]:
        """Every placeholder as a tensor with its value; each becomes a leaf when first read."""
        signature = self.model.graph_signature
        state = self.model.state_dict
        constants = self.model.constants
        users = iter(range(len(self.inputs)))
        placeholders = {n.name: n for n in self.model.graph.nodes if n.op == "placeholder"}
        out: dict[str, _Tensor] = {}
        for spec in signature.input_specs:
            kind = spec.kind.name
            target = spec.target
            original = self.module_path(str(target))
            if kind == "USER_INPUT":
                k = next(users)
                value = self.inputs[k]
                original = self.input_names[k] if self.input_names else spec.arg.name
                self.user_inputs.add(spec.arg.name)
            elif kind in ("PARAMETER", "BUFFER"):
                value = state[target]
            elif kind == "CONSTANT_TENSOR":
                value = constants[target]
                if _is_target(placeholders[spec.arg.name]):
                    original = "target"
            else:
                raise self.fail(f"the exported model reads a {kind.lower()}, which is unsupported")
            out[spec.arg.name] = self.placeholder(original, value, param=kind == "PARAMETER")
            self.originals[spec.arg.name] = original
        return out

    def placeholder(self, original: str, value: Any, param: bool) -> _Tensor:
        shape = tuple(int(n) for n in value.shape)
        check_size(shape, f"'{_visible(original)}'", self.path)
        if value.dtype.is_complex or str(value.dtype) == "torch.bool":
            raise self.fail(f"'{_visible(original)}' holds {value.dtype} values, unsupported")
        array = value.detach().cpu().double().numpy().copy()
        array.flags.writeable = False
        return _Tensor(shape, array, param=param)

    def module_path(self, path: str) -> str:
        """A name inside the model as the user knows it: without the wrapper that adds the
        loss ('' for the model itself)."""
        if not self.wrapped:
            return path
        return "" if path == WRAPPED else path.removeprefix(WRAPPED + ".")

    def leaf(self, fx_name: str) -> Expr:
        """A placeholder as a leaf, declared when first read: params are params, user inputs,
        buffers (batch norm's running statistics) and constants are inputs with values."""
        t = self.tensors[fx_name]
        if t.name is None:
            original = self.originals[fx_name]
            name = self.names.add(original)
            self.remember(name, original)
            kind = LeafKind.PARAM if t.param else LeafKind.INPUT
            self.declare_leaf(LeafSpec(name, kind, Loc(), value=t.value))
            t.name = name
        return Name(t.name, Loc())

    # -- nodes -------------------------------------------------------------------

    def arg(self, value: Any) -> Expr:  # type: ignore[override]
        """An argument of an ATen node: a node's expression, or a number."""
        if isinstance(value, bool | int | float):
            return Const(float(value), Loc())
        name = getattr(value, "name", None)
        if name in self.aliases:
            alias = self.aliases[name]
            if isinstance(alias, list):
                raise self.fail(f"'{name}' is a tuple of tensors, read without an index")
            return alias
        t = self.tensors[str(name)]
        if t.name is None and t.value is not None:
            return self.leaf(str(name))
        return Name(str(t.name), Loc())

    def shape_of_fx(self, value: Any) -> tuple[int, ...]:
        return tuple(int(n) for n in value.meta["val"].shape)

    def call(self, node: Any, module: tuple[str, str] | None) -> None:
        kind = _kind(node)
        if kind == "getitem":
            self.getitem(node, module)
            return
        arguments = _arguments(node)
        where = _source_line(node) or node.name
        try:
            result = MAPPED[kind](self, node, arguments)
        except GraphstepError as e:
            e.message = f"{kind} at {where}: {e.message}"
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise self.fail(
                f"{kind} at {where}: graphstep cannot map it ({type(e).__name__}: "
                f"{_visible(str(e))[:200]})",
                hint="this is a bug in graphstep's mapping; please report it with the model",
            ) from None
        if isinstance(result, list):
            self.aliases[node.name] = result
        elif result is None:  # a pass-through: the same tensor under another name
            self.aliases[node.name] = self.arg(node.args[0])
        else:
            self.add_entry(node, result, module)

    def getitem(self, node: Any, module: tuple[str, str] | None) -> None:
        source, index = node.args
        parts = self.aliases.get(source.name)
        if not isinstance(parts, list) or parts[index] is None:
            raise self.fail(f"'{node.name}' reads output {index} of '{source.name}', unsupported")
        self.add_entry(node, parts[index], module)

    def add_entry(self, node: Any, expr: Expr, module: tuple[str, str] | None) -> None:
        """The entry of an fx node, named after the module it is the result of, if any."""
        original = node.name
        if module is not None:
            path, key = module
            call = key.rpartition("@")[2] if "@" in key else ""
            wanted = f"{path}@{call}" if call else path
            original = wanted if wanted not in self.names.of else node.name
        kind = _kind(node)
        self.entry(original, expr, AS_ONNX.get(kind, kind))
        name = self.names.of[original]
        self.tensors[node.name] = self.tensors[original]
        self.producers[node.name] = self.producers[original]
        want = self.shape_of_fx(node)
        if self.tensors[node.name].shape != want:
            raise self.fail(
                f"'{node.name}' ({_kind(node)}) comes out {list(self.tensors[node.name].shape)} "
                f"in graphstep and {list(want)} in torch",
                hint="this is a bug in graphstep's mapping; please report it with the model",
            )
        self.stacks[name] = self.stack(node)
        if module is not None:
            self.returns[module[1]] = name

    def stack(self, node: Any) -> tuple[tuple[str, str, str], ...]:
        """The module calls around a node, outermost first, as (key, path, class name); the
        model itself (and the module that adds the loss) left out."""
        out = []
        for key, (path, kind) in dict(node.meta.get("nn_module_stack") or {}).items():
            path = self.module_path(str(path))
            if path:
                out.append((str(key), path, _class_name(kind)))
        return tuple(out)

    def user_outputs(self, nodes: Sequence[Any]) -> list[Any]:
        output = next(n for n in nodes if n.op == "output")
        specs = self.model.graph_signature.output_specs
        values = list(output.args[0])
        return [v for v, s in zip(values, specs, strict=True) if s.kind.name == "USER_OUTPUT"]

    def output_name(self, value: Any) -> str:
        """The key of an output in `tensors`, made an entry if it is only an alias."""
        name = str(value.name)
        if name in self.tensors and self.tensors[name].name is not None:
            return name
        expr = self.arg(value)
        if isinstance(expr, Name) and not isinstance(self.aliases.get(name), list):
            self.tensors[name] = _Tensor(self.builder.shapes[expr.id], name=expr.id)
            return name
        raise self.fail(f"the model's output '{_visible(name)}' is not a tensor graphstep computes")

    # -- modules -------------------------------------------------------------------

    def module_exits(self, nodes: Sequence[Any]) -> dict[str, tuple[str, str]]:
        """fx node → (module path, key) of the outermost module call it is the one result of."""
        members: dict[str, list[Any]] = {}
        paths: dict[str, str] = {}
        for node in nodes:
            if node.op == "call_function":
                for key, (path, _) in dict(node.meta.get("nn_module_stack") or {}).items():
                    members.setdefault(str(key), []).append(node)
                    paths[str(key)] = self.module_path(str(path))
        exits: dict[str, tuple[str, str]] = {}
        for key, inside in members.items():  # outermost first: the stacks list them so
            names = {n.name for n in inside}
            leaving = [n.name for n in inside if any(u.name not in names for u in n.users)]
            if paths[key] and len(leaving) == 1 and leaving[0] not in exits:
                exits[leaving[0]] = (paths[key], key)
        return exits

    def groups(self) -> tuple[ModuleGroup, ...]:
        """Module calls with more than one entry, keyed by the entry each returns."""
        members: dict[str, list[str]] = {}
        kinds: dict[str, str] = {}
        for name, stack in self.stacks.items():
            if name not in self.entries:  # a log_softmax that cross_entropy took in
                continue
            for key, _, kind in stack:
                members.setdefault(key, []).append(name)
                kinds[key] = kind
        return tuple(
            ModuleGroup(call, kinds[key], tuple(members[key]))
            for key, call in self.returns.items()
            if len(members.get(key, ())) > 1
        )


# ---------------------------------------------------------------------------
# ATen ops → graphstep expressions. A mapper returns an expression (one entry), a list
# (a tuple result, read by getitem; None where unsupported) or None (the input itself).

Mapper = Callable[[_TorchImport, Any, dict[str, Any]], Expr | list[Expr | None] | None]


def _kind(node: Any) -> str:
    """`aten.addmm.default` → `addmm`, `aten.add.Tensor` → `add.Tensor`; getitem as is."""
    target = node.target
    if getattr(target, "__name__", "") == "getitem" and not hasattr(target, "_schema"):
        return "getitem"
    name = str(target).removeprefix("aten.")
    return name.removesuffix(".default")


def _arguments(node: Any) -> dict[str, Any]:
    """The node's arguments by their schema names, defaults filled in."""
    out: dict[str, Any] = {}
    for k, a in enumerate(node.target._schema.arguments):
        if k < len(node.args):
            out[a.name] = node.args[k]
        elif a.name in node.kwargs:
            out[a.name] = node.kwargs[a.name]
        else:
            out[a.name] = a.default_value if a.has_default_value() else None
    return out


def _source_line(node: Any) -> str:
    """Where the user's code made a node, as torch.export recorded it: `model.py:12`."""
    frames = re.findall(r'File "([^"]+)", line (\d+)', node.meta.get("stack_trace") or "")
    torch_dir = str(Path(require_torch().__file__).parent)
    ours = str(Path(__file__).parent.parent)
    mine = [(f, n) for f, n in frames if not f.startswith((torch_dir, ours, "<"))]
    if not mine:
        return ""
    f, n = mine[-1]
    return f"{_visible(Path(f).name)}:{n}"


def _is_target(node: Any) -> bool:
    """Whether a tensor the loss function captured is what its losses compare against."""
    users = list(node.users)
    return bool(users) and all(
        _kind(u) in LOSSES and _arguments(u).get("target") is node for u in users
    )


def _class_name(kind: Any) -> str:
    text = getattr(kind, "__name__", None) or str(kind)
    return text.rsplit(".", 1)[-1]


def _unary(func: str) -> Mapper:
    return lambda imp, node, a: _call(func, imp.arg(a["self"]))


def _binary(func: str) -> Mapper:
    def mapper(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
        other = imp.arg(a["other"])
        alpha = a.get("alpha")
        if alpha not in (None, 1):
            other = _call("mul", other, Const(float(alpha), Loc()))
        return _call(func, imp.arg(a["self"]), other)

    return mapper


def _same(imp: _TorchImport, node: Any, a: dict[str, Any]) -> None:
    return None


def _reshape(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr | None:
    shape = list(imp.shape_of_fx(node))
    if shape == list(imp.shape_of_fx(a["self"])):
        return None
    return _call("reshape", imp.arg(a["self"]), shape=shape)


def _permute(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    return _call("transpose", imp.arg(a["self"]), perm=[int(d) for d in a["dims"]])


def _addmm(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    product: Expr = _call("matmul", imp.arg(a["mat1"]), imp.arg(a["mat2"]))
    if a["alpha"] != 1:
        product = _call("mul", product, Const(float(a["alpha"]), Loc()))
    bias = imp.arg(a["self"])
    if a["beta"] != 1:
        bias = _call("mul", bias, Const(float(a["beta"]), Loc()))
    return _call("add", product, bias)


def _matmul_any(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    return _call("matmul", imp.arg(a["self"]), imp.arg(a["other"]))


def _matmul(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    return _call("matmul", imp.arg(a["self"]), imp.arg(a["mat2"]))


def _two(value: Any) -> list[int]:
    """An ATen size argument (an int, or a list of one or two) as [down, across]; [] if empty."""
    given = [int(v) for v in value] if isinstance(value, list | tuple) else [int(value)]
    return given * 2 if len(given) == 1 else given


def _window(kernel: Any, stride: Any, padding: Any, dilation: Any) -> dict[str, Any]:
    """size, stride, pad and dilation as graphstep writes them; an empty stride is the size."""
    size = _two(kernel)
    out: dict[str, Any] = {"size": _pair(size), "stride": _pair(_two(stride) or size)}
    if any(_two(padding)):
        out["pad"] = _pair(_two(padding))
    if _two(dilation) != [1, 1]:
        out["dilation"] = _pair(_two(dilation))
    return out


def _image(imp: _TorchImport, node: Any, x: Any) -> None:
    if len(imp.shape_of_fx(x)) != 4:
        raise imp.fail(
            f"graphstep convolves and pools (N, C, H, W) images only, got shape "
            f"{list(imp.shape_of_fx(x))}",
            hint="1-D and 3-D layers are not supported",
        )


def _convolution(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    if a.get("transposed"):
        raise imp.fail("transposed convolutions are not supported")
    _image(imp, node, a["input"])
    w = imp.shape_of_fx(a["weight"])
    extra = _window(w[2:], a["stride"], a["padding"], a["dilation"])
    del extra["size"]
    if extra["stride"] == 1:
        del extra["stride"]
    if a["groups"] != 1:
        extra["groups"] = int(a["groups"])
    args = [imp.arg(a["input"]), imp.arg(a["weight"])]
    if a["bias"] is not None:
        args.append(imp.arg(a["bias"]))
    return _call("conv2d", *args, **extra)


def _max_pool(imp: _TorchImport, node: Any, a: dict[str, Any]) -> list[Expr | None]:
    _image(imp, node, a["self"])
    extra = _window(a["kernel_size"], a["stride"], a["padding"], a["dilation"])
    if a["ceil_mode"]:
        extra["ceil"] = 1
    return [_call("maxpool", imp.arg(a["self"]), **extra), None]


def _avg_pool(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    _image(imp, node, a["self"])
    if a["divisor_override"] is not None:
        raise imp.fail("avg_pool2d with divisor_override is not supported")
    extra = _window(a["kernel_size"], a["stride"], a["padding"], 1)
    if a["ceil_mode"]:
        extra["ceil"] = 1
    if a["count_include_pad"] and "pad" in extra:
        extra["count_pad"] = 1
    return _call("avgpool", imp.arg(a["self"]), **extra)


def _adaptive_avg_pool(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    _image(imp, node, a["self"])
    h, w = imp.shape_of_fx(a["self"])[2:]
    oh, ow = (int(n) for n in a["output_size"])
    if h % oh or w % ow:
        raise imp.fail(f"adaptive pooling of {h}×{w} to {oh}×{ow} has windows of unequal size")
    size = _pair([h // oh, w // ow])
    return _call("avgpool", imp.arg(a["self"]), size=size, stride=size)


def _batch_norm(imp: _TorchImport, node: Any, a: dict[str, Any]) -> list[Expr | None]:
    if a["weight"] is None or a["bias"] is None:
        raise imp.fail("batch norm without affine weights is not supported", hint="affine=True")
    roles = ("input", "weight", "bias", "running_mean", "running_var")
    norm = _call("batchnorm", *(imp.arg(a[r]) for r in roles), epsilon=float(a["eps"]))
    return [norm, None, None]


def _reduce(func: str) -> Mapper:
    def mapper(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
        ndim = len(imp.shape_of_fx(a["self"]))
        dims = a.get("dim")
        extra: dict[str, Any] = {}
        if dims:
            extra["axis"] = sorted({int(d) % ndim for d in dims})
        if a.get("keepdim"):
            extra["keepdims"] = 1
        return _call(func, imp.arg(a["self"]), **extra)

    return mapper


def _softmax(func: str) -> Mapper:
    return lambda imp, node, a: _call(func, imp.arg(a["self"]), axis=int(a["dim"]))


def _cat(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    return _call("concat", *(imp.arg(t) for t in a["tensors"]), axis=int(a["dim"]))


def _slice(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr | None:
    size = imp.shape_of_fx(a["self"])
    dim = int(a["dim"]) % len(size)
    start, end, step = slice(a["start"], a["end"], a["step"]).indices(size[dim])
    if imp.shape_of_fx(node) == size:
        return None
    extra = {"starts": [start], "ends": [end], "axes": [dim]}
    if step != 1:
        extra["steps"] = [step]
    return _call("slice", imp.arg(a["self"]), **extra)


def _select(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    size = imp.shape_of_fx(a["self"])
    dim = int(a["dim"]) % len(size)
    index = int(a["index"]) % size[dim]
    taken = _call("slice", imp.arg(a["self"]), starts=[index], ends=[index + 1], axes=[dim])
    return _call("reshape", taken, shape=list(imp.shape_of_fx(node)))


def _clamp(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    low = a.get("min", a.get("min_val"))
    high = a.get("max", a.get("max_val"))
    extra = {k: float(v) for k, v in (("low", low), ("high", high)) if v is not None}
    return _call("clip", imp.arg(a["self"]), **extra)


def _pow(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    return _call("pow", imp.arg(a["self"]), p=float(a["exponent"]))


def _nll_loss(imp: _TorchImport, node: Any, a: dict[str, Any]) -> list[Expr | None]:
    """nll_loss(log_softmax(z), t) is cross_entropy(z, t): one node whose gradient reads as
    softmax − onehot; the log_softmax it read is dropped when nothing else reads it."""
    source = a["self"]
    if _kind(source) not in ("_log_softmax", "log_softmax.int") or int(source.args[1]) % 2 != 1:
        raise imp.fail(
            "nll_loss is supported on log_softmax over classes only",
            hint="use F.cross_entropy(logits, target)",
        )
    if len(source.users) == 1:
        dropped = imp.names.of.get(source.name)
        imp.entries.pop(dropped or "", None)
        imp.sources.pop(dropped or "", None)
    return [_cross_entropy(imp, source.args[0], a), None]


def _cross_entropy(imp: _TorchImport, logits: Any, a: dict[str, Any]) -> Expr:
    """cross_entropy(logits, target) with torch's reduction: a mean, or a sum of N rows."""
    if a["weight"] is not None:
        raise imp.fail("class weights in the loss are not supported")
    if a.get("label_smoothing"):
        raise imp.fail("label smoothing is not supported")
    target = a["target"]
    known = imp.tensors[target.name].value if target.name in imp.tensors else None
    if known is not None and a["ignore_index"] in known:
        raise imp.fail(f"the target holds the ignored class {a['ignore_index']}, unsupported")
    loss: Expr = _call("cross_entropy", imp.arg(logits), imp.arg(target))
    reduction = int(a["reduction"])
    if reduction == 0:
        raise imp.fail("a loss without reduction is not one number", hint="reduction='mean'")
    if reduction == 2:
        rows = imp.shape_of_fx(logits)[0] if len(imp.shape_of_fx(logits)) == 2 else 1
        loss = _call("mul", loss, Const(float(rows), Loc()))
    return loss


def _linear(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    y: Expr = _call("matmul", imp.arg(a["input"]), _call("transpose", imp.arg(a["weight"])))
    return y if a["bias"] is None else _call("add", y, imp.arg(a["bias"]))


def _eval_batch_norm(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    norm = _batch_norm(imp, node, a)[0]
    assert norm is not None
    return norm


def _transpose(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    perm = list(range(len(imp.shape_of_fx(a["self"]))))
    i, j = int(a["dim0"]) % len(perm), int(a["dim1"]) % len(perm)
    perm[i], perm[j] = perm[j], perm[i]
    return _call("transpose", imp.arg(a["self"]), perm=perm)


def _mse_loss(imp: _TorchImport, node: Any, a: dict[str, Any]) -> Expr:
    reduction = int(a["reduction"])
    if reduction == 0:
        raise imp.fail("a loss without reduction is not one number", hint="reduction='mean'")
    square = _call("pow", _call("sub", imp.arg(a["self"]), imp.arg(a["target"])), p=2.0)
    return _call("mean" if reduction == 1 else "sum", square)


# ops of the exported program that graphstep maps whole, before decomposition; when every
# op of a model is one of these (or of MAPPED, below), run_decompositions is not needed
WHOLE: dict[str, Mapper] = {
    "conv2d": _convolution,
    "linear": _linear,
    "batch_norm": _eval_batch_norm,
    "max_pool2d": lambda imp, node, a: _max_pool(imp, node, a)[0],
    "adaptive_avg_pool2d": _adaptive_avg_pool,
    "flatten.using_ints": _reshape,
    "matmul": _matmul_any,
    "transpose.int": _transpose,
    "t": lambda imp, node, a: _call("transpose", imp.arg(a["self"])),
    "contiguous": _same,
    "dropout": _same,
    "cross_entropy_loss": lambda imp, node, a: _cross_entropy(imp, a["self"], a),
    "log_softmax.int": _softmax("log_softmax"),
    "softmax.int": _softmax("softmax"),
    "nll_loss_nd": lambda imp, node, a: _nll_loss(imp, node, a)[0],
}
WHOLE_WHEN: dict[str, Callable[[dict[str, Any]], bool]] = {
    "batch_norm": lambda a: not a["training"],
    "dropout": lambda a: not a["train"],
    "cross_entropy_loss": lambda a: a["target"].meta["val"].dtype.is_floating_point is False,
}


def _direct(node: Any) -> bool:
    """Whether graphstep maps an op of the exported program as it stands."""
    kind = _kind(node)
    if kind not in MAPPED:
        return False
    when = WHOLE_WHEN.get(kind)
    return when is None or bool(when(_arguments(node)))


MAPPED: dict[str, Mapper] = {
    "convolution": _convolution,
    "addmm": _addmm,
    "mm": _matmul,
    "bmm": _matmul,
    "permute": _permute,
    "view": _reshape,
    "_unsafe_view": _reshape,
    "reshape": _reshape,
    "squeeze.dims": _reshape,
    "squeeze.dim": _reshape,
    "squeeze": _reshape,
    "unsqueeze": _reshape,
    "clone": _same,
    "alias": _same,
    "_to_copy": _same,
    "relu": _unary("relu"),
    "sigmoid": _unary("sigmoid"),
    "tanh": _unary("tanh"),
    "exp": _unary("exp"),
    "log": _unary("log"),
    "abs": _unary("abs"),
    "neg": _unary("neg"),
    "sqrt": _unary("sqrt"),
    "rsqrt": lambda imp, node, a: _call("pow", imp.arg(a["self"]), p=-0.5),
    "reciprocal": lambda imp, node, a: _call("pow", imp.arg(a["self"]), p=-1.0),
    "leaky_relu": lambda imp, node, a: _call(
        "leaky_relu", imp.arg(a["self"]), alpha=float(a["negative_slope"])
    ),
    "hardtanh": _clamp,
    "clamp": _clamp,
    "add.Tensor": _binary("add"),
    "add.Scalar": _binary("add"),
    "sub.Tensor": _binary("sub"),
    "sub.Scalar": _binary("sub"),
    "mul.Tensor": _binary("mul"),
    "mul.Scalar": _binary("mul"),
    "div.Tensor": _binary("div"),
    "div.Scalar": _binary("div"),
    "pow.Tensor_Scalar": _pow,
    "pow.Tensor_Tensor": lambda imp, node, a: _call(
        "power", imp.arg(a["self"]), imp.arg(a["exponent"])
    ),
    "maximum": lambda imp, node, a: _call("max", imp.arg(a["self"]), imp.arg(a["other"])),
    "minimum": lambda imp, node, a: _call("min", imp.arg(a["self"]), imp.arg(a["other"])),
    "max_pool2d_with_indices": _max_pool,
    "avg_pool2d": _avg_pool,
    "_adaptive_avg_pool2d": _adaptive_avg_pool,
    "_native_batch_norm_legit_no_training": _batch_norm,
    "mean.dim": _reduce("mean"),
    "mean": _reduce("mean"),
    "sum.dim_IntList": _reduce("sum"),
    "sum": _reduce("sum"),
    "_softmax": _softmax("softmax"),
    "_log_softmax": _softmax("log_softmax"),
    "cat": _cat,
    "slice.Tensor": _slice,
    "select.int": _select,
    "nll_loss_forward": _nll_loss,
    "mse_loss": _mse_loss,
    "getitem": _same,
    **WHOLE,
}

HINTS = {
    "_native_batch_norm_legit_functional": "batch norm in training mode: call model.eval() first",
    "native_dropout": "dropout in training mode: call model.eval() first",
    "cond": "torch.cond keeps both branches; graphstep steps through one fixed graph",
}


# ---------------------------------------------------------------------------
# A user's file: `graphstep torch FILE.py:FACTORY`


def import_file(target: str, loss: str | None = None) -> ImportedModel:
    """`FILE.py:FACTORY` imported; `loss` (an expression) when the factory gives none."""
    model, inputs, given = load_factory(target)
    if given is not None and loss is not None:
        raise GraphstepError(
            "--loss: the factory already returns a loss", hint="leave --loss out, or return two"
        )
    return import_torch(model, inputs, given if given is not None else loss, where=target)


def load_factory(target: str) -> tuple[Any, Any, Loss]:
    """Run FILE.py (the user's own code, as python would) and call FACTORY in it, which
    returns (model, example_inputs) or (model, example_inputs, loss)."""
    path_text, _, factory = target.rpartition(":")
    if not path_text or not factory.isidentifier():
        raise GraphstepError(
            f"'{_visible(target)}' is not FILE.py:FACTORY",
            hint="e.g. graphstep torch models.py:make_model",
        )
    path = Path(path_text)
    if not path.is_file():
        raise GraphstepError(f"no such file: {_visible(path_text)}")
    require_torch()
    spec = importlib.util.spec_from_file_location(f"graphstep_user_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise GraphstepError(f"cannot import {_visible(path_text)} as Python", file=path_text)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
        if not callable(getattr(module, factory, None)):
            raise GraphstepError(
                f"{_visible(path.name)} has no function '{factory}'",
                file=path_text,
                hint="FACTORY names a function in the file",
            )
        made = getattr(module, factory)()
    except GraphstepError:
        raise
    except Exception as e:  # the user's code: its error, where it happened in their file
        raise _user_error(e, path, path_text) from None
    except SystemExit as e:  # sys.exit() in the user's code ends its run, not graphstep
        raise GraphstepError(
            f"running it called sys.exit({_visible(repr(e.code))[:80]})",
            file=path_text,
            hint="the file is imported and FACTORY called: keep a script's exit under "
            "if __name__ == '__main__':",
        ) from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    if not isinstance(made, tuple) or len(made) not in (2, 3):
        raise GraphstepError(
            f"{factory}() returned a {type(made).__name__}",
            file=path_text,
            hint="return (model, example_inputs) or (model, example_inputs, loss)",
        )
    if len(made) == 2:
        return made[0], made[1], None
    _check_loss(made[2], f"the third thing {factory}() returned", path_text)
    return made


def _user_error(e: Exception, path: Path, shown: str) -> GraphstepError:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == path]
    line = frames[-1].lineno if frames else None
    message = _visible(f"{type(e).__name__}: {e}".splitlines()[0])[:300]
    return GraphstepError(f"running it raised {message}", file=shown, line=line)
