"""The command line: the only module that prints and chooses exit codes.

Every subcommand loads a graph (a file, or an expression standing in for one),
asks the layers before it for numbers, and prints them. Exit codes: 0 success,
1 a check failed or a number is not finite, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TextIO

import networkx as nx
import numpy as np
import yaml

from . import __version__
from . import format as fmt
from .arrays import ARRAY_SUFFIXES, read_array
from .errors import GraphstepError, did_you_mean
from .graph import Graph, build
from .importers import ModelOptions, is_onnx
from .limits import set_max_numbers
from .ops import OPS
from .spec import GraphSpec, expression_spec, leaf_shape, load_spec, read_source
from .trace import Trace

OK, FAILED, BAD_INPUT, INTERRUPTED = 0, 1, 2, 130
COMMANDS = ("tui", "run", "check", "export", "train", "summary", "validate", "convert", "torch")
EXPRESSION_FILE = "<expr>"
BUNDLED_EXAMPLE = Path(__file__).parent / "examples" / "chain_rule.yaml"

# Central finite differences: step h·max(1, |x|); a gradient matches when
# |analytic − numeric| ≤ ATOL·max(1, |L|) + RTOL·|numeric|.
FD_STEP = 1e-5
FD_ATOL = 1e-7
FD_RTOL = 1e-4
FD_MAX_INTERMEDIATE = 64  # elements checked per intermediate node (every leaf element is)


class UsageError(Exception):
    """A command line that argparse accepted but that does not make sense."""


# ---------------------------------------------------------------------------
# Loading: a file or an expression, with --set values


def is_expression(target: str) -> bool:
    """FILE is an expression when it names no existing path and has no .yaml/.yml suffix."""
    if target.lower().endswith((".yaml", ".yml", ".onnx")):
        return False
    try:
        return not Path(target).exists()
    except (OSError, ValueError):
        return True


def parse_assignment(text: str) -> tuple[str, str]:
    """`NAME=VALUE` from --set, split at the first '='."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{text}'")
    return name.strip(), value


def leaf_value(name: str, text: str) -> Any:
    """A --set value: a .npy or ONNX TensorProto .pb file, or YAML: a number or a (nested)
    list of numbers."""
    where = f"--set {name}={text}"
    if text.lower().endswith(ARRAY_SUFFIXES):
        try:
            return read_array(text)
        except GraphstepError as e:
            e.file = where
            raise
    hint = "a number or a list, e.g. --set x=-2 or --set x='[1, 2]'"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raise GraphstepError("not a number or a list of numbers", file=where, hint=hint) from None
    if not _numeric(raw):
        raise GraphstepError("not a number or a list of numbers", file=where, hint=hint)
    try:
        array = np.asarray(raw, dtype=np.float64)
    except ValueError:
        raise GraphstepError("ragged list: rows have different lengths", file=where) from None
    if array.size == 0:
        raise GraphstepError("empty list: a tensor needs at least one number", file=where)
    return array.tolist()


def _numeric(raw: Any) -> bool:
    if isinstance(raw, list):
        return all(_numeric(r) for r in raw)
    if isinstance(raw, str):
        try:
            float(raw)  # nan, inf
        except ValueError:
            return False
        return True
    return isinstance(raw, int | float) and not isinstance(raw, bool)


def with_values(spec: GraphSpec, sets: Sequence[tuple[str, str]]) -> GraphSpec:
    """The spec with leaves given by --set; a value's shape becomes the leaf's shape."""
    leaves = dict(spec.leaves)
    for name, text in sets:
        if name not in leaves:
            raise GraphstepError(
                f"'{name}' is not an input or a param of {spec.name}",
                file=f"--set {name}={text}",
                hint=did_you_mean(name, list(leaves))
                or (f"its leaves: {', '.join(leaves)}" if leaves else "it has no leaves"),
            )
        value = leaf_value(name, text)
        declared = leaf_shape(leaves[name])
        given = np.shape(value)
        if spec.file != EXPRESSION_FILE and given != declared:
            raise GraphstepError(
                f"the value has shape {list(given)}; {name} is {list(declared)}",
                file=f"--set {name}={text}",
                hint=f"give {name} a value of its shape",
            )
        leaves[name] = replace(leaves[name], value=value, shape=(), init=None, options=())
    return replace(spec, leaves=leaves)


def load_graph(
    target: str, sets: Sequence[tuple[str, str]] = (), model: ModelOptions | None = None
) -> Graph:
    """A graph from a file (YAML or ONNX), or from an expression whose free names are inputs
    (0 unless --set)."""
    spec = graph_spec(target, sets, model)
    graph = build(spec)
    if spec.notes:
        try:
            graph.check_size_once()
        except GraphstepError:
            return graph  # the size is the news; the error will say it
        given = {name for name, _ in sets}
        for note in spec.notes:
            if not any(note.startswith(f"input {name} ") for name in given):
                print(f"graphstep: note: {fmt.visible(note)}", file=sys.stderr)
    return graph


def graph_spec(
    target: str, sets: Sequence[tuple[str, str]] = (), model: ModelOptions | None = None
) -> GraphSpec:
    """load_graph's spec, before it is built; an ONNX model is recognised by its content."""
    if not is_expression(target) and is_onnx(target):
        from .importers.onnx import load_onnx  # the onnx package loads only for a model

        return with_values(load_onnx(target, model or ModelOptions()), sets)
    if model is not None and model != ModelOptions():
        raise UsageError("--loss and --dim are for ONNX models; a graph file names its output")
    if is_expression(target):
        try:
            spec = expression_spec(target, {}, EXPRESSION_FILE)
        except GraphstepError as e:
            if re.fullmatch(r"[\w.~/\\-]+", target) and re.search(r"[./\\]\w", target):
                e.hint = f"there is no file '{target}', so it was read as an expression"
            raise
    else:
        try:
            spec = load_spec(read_source(target), target)
        except GraphstepError as e:
            raise e.in_file(target) from None
    return with_values(spec, sets)


# ---------------------------------------------------------------------------
# Output helpers


def table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Left-aligned columns, the header underlined."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

    print(line(rows[0]), file=out)
    print("  ".join("─" * w for w in widths), file=out)
    for row in rows[1:]:
        print(line(row), file=out)


def count(n: int) -> str:
    """`1,600,000,000 (1.6 billion)`: digits grouped, and big counts in words."""
    text = f"{n:,}"
    for size, word in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million")):
        if n >= size:
            scaled = n / size
            return (
                f"{text} ({scaled:.3g} {word})"
                if scaled < 1000
                else f"{text} ({scaled:,.0f} {word})"
            )
    return text


def json_numbers(value: Any) -> Any:
    """A float or nested lists of floats, with non-finite numbers as "nan", "inf", "-inf"."""
    if isinstance(value, list):
        return [json_numbers(v) for v in value]
    x = float(value)
    if math.isfinite(x):
        return x
    return fmt.number(x)


def report_anomaly(graph: Graph, trace: Trace) -> None:
    anomaly = trace.anomaly
    assert anomaly is not None
    node = graph.nodes[anomaly.node]
    where = ":".join(str(p) for p in (graph.file, node.loc.line, node.loc.column) if p)
    print(f"graphstep: {where}: anomaly: {anomaly}", file=sys.stderr)


# ---------------------------------------------------------------------------
# run


def headline(graph: Graph) -> str:
    """The graph's name and the first sentence of its description."""
    text = " ".join(graph.description.split())
    sentence = text.split(". ")[0].rstrip(".")
    return f"{graph.name}: {sentence}" if sentence else graph.name


def run_table(graph: Graph, trace: Trace) -> list[list[str]]:
    rows = [["node", "op", "inputs", "shape", "value", "gradient"]]
    for node in graph:
        grad = trace.grad(node.name)
        rows.append(
            [
                node.name,
                node.op,
                ", ".join(graph.display(i) for i in node.inputs),
                fmt.shape(node.shape),
                fmt.tensor(trace.value(node.name)),
                "—" if grad is None else fmt.tensor(grad),
            ]
        )
    return rows


def backward_order(graph: Graph, trace: Trace) -> list[str]:
    """Every node with a gradient, in reverse topological order: the backward steps."""
    return [n for n in reversed(graph.order) if trace.grad(n) is not None]


def run_json(graph: Graph, trace: Trace) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for node in graph:
        grad = trace.grad(node.name)
        nodes[node.name] = {
            "op": node.op,
            "inputs": list(node.inputs),
            "shape": list(node.shape),
            "value": json_numbers(trace.value(node.name).tolist()),
            "grad": None if grad is None else json_numbers(grad.tolist()),
        }
        if node.name in graph.sources:
            nodes[node.name]["source"] = graph.sources[node.name]
    return {
        "graph": graph.name,
        "output": graph.output,
        "forward_order": list(graph.forward_order),
        "backward_order": backward_order(graph, trace),
        "nodes": nodes,
    }


def cmd_run(args: argparse.Namespace) -> int:
    if args.into and not args.steps:
        raise UsageError("--into lists the inner steps of --steps; give --steps too")
    graph = load_graph(args.file, args.set or (), model_options(args))
    trace = graph.trace()
    if args.json:
        print(json.dumps(run_json(graph, trace), allow_nan=False))
    elif args.steps:
        from .steps import Timeline, transcript

        for line in transcript(Timeline(trace), into=args.into):
            print(line)
    else:
        print(headline(graph))
        table(run_table(graph, trace), sys.stdout)
        print(f"\n{graph.output} = {fmt.tensor(trace.value(graph.output))}")
    if trace.anomaly is not None:
        report_anomaly(graph, trace)
        return FAILED
    return OK


# ---------------------------------------------------------------------------
# check: gradients against central finite differences


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


def downstream(graph: Graph, name: str) -> list[str]:
    """The op nodes whose values depend on `name`, in topological order."""
    below = nx.descendants(graph.dag, name)
    return [n for n in graph.forward_order if n in below]


def recompute_loss(
    graph: Graph, values: dict[str, np.ndarray], name: str, value: np.ndarray, after: list[str]
) -> float:
    """The output's value when node `name` holds `value` and everything after it is recomputed."""
    changed = {name: value}
    for n in after:
        node = graph.nodes[n]
        ins = [changed.get(i, values[i]) for i in node.inputs]
        changed[n] = OPS[node.op].forward(*ins, **node.attrs)
    return float(changed.get(graph.output, values[graph.output]))


def loss_at(
    graph: Graph,
    values: dict[str, np.ndarray],
    name: str,
    after: list[str],
    base: np.ndarray,
    element: int,
    v: float,
) -> float:
    """The output's value when element `element` of node `name` is set to `v`."""
    changed = base.copy()
    changed.flat[element] = v
    return recompute_loss(graph, values, name, changed, after)


def elements_to_check(graph: Graph, name: str) -> np.ndarray:
    """Every element of a leaf; up to FD_MAX_INTERMEDIATE spread over an intermediate."""
    size = graph.nodes[name].size
    if graph.nodes[name].is_leaf or size <= FD_MAX_INTERMEDIATE:
        return np.arange(size)
    return np.unique(np.linspace(0, size - 1, FD_MAX_INTERMEDIATE).astype(int))


@dataclass(frozen=True)
class Differences:
    """Central, left and right finite differences of the loss along one element."""

    central: float
    left: float
    right: float

    @property
    def jump(self) -> float:
        return abs(self.right - self.left)


def differences(f: Callable[[float], float], x: float, h: float, fx: float) -> Differences:
    above, below = f(x + h), f(x - h)
    return Differences((above - below) / (2 * h), (fx - below) / h, (above - fx) / h)


def check_gradients(graph: Graph, trace: Trace) -> Iterator[GradientCheck]:
    """Each gradient against central differences, telling kinks from mismatches.

    Where the central difference disagrees, it is taken again with a step 100
    times smaller: near a kink or a sharp curve that agrees. If it still does
    not, and the left and right differences still differ by as much, the loss
    has a kink right there (relu at 0, a tie of max): no derivative exists to
    compare with, and the element counts as a kink. Otherwise it is a mismatch.
    """
    values = {n: trace.value(n) for n in graph.order}
    loss = trace.loss
    scale = max(1.0, abs(loss))
    with np.errstate(all="ignore"):
        for name in graph.order:
            grad = trace.grad(name)
            if grad is None:
                continue
            after = downstream(graph, name)
            base = np.array(values[name], dtype=np.float64)
            analytic = np.broadcast_to(grad, base.shape)
            worst_abs = worst_rel = 0.0
            kinks = mismatches = 0
            picked = elements_to_check(graph, name)
            for e in picked:
                f = partial(loss_at, graph, values, name, after, base, int(e))
                x, a = float(base.flat[e]), float(analytic.flat[e])
                h = FD_STEP * max(1.0, abs(x))
                coarse = differences(f, x, h, loss)
                d = coarse
                if not abs(a - d.central) <= FD_ATOL * scale + FD_RTOL * abs(d.central):
                    d = differences(f, x, h / 100, loss)
                    tol = FD_ATOL * scale + FD_RTOL * abs(d.central)
                    if not abs(a - d.central) <= tol:
                        if coarse.jump > tol and d.jump > coarse.jump / 2:
                            kinks += 1
                            continue
                        mismatches += 1
                err = abs(a - d.central)
                worst_abs = max(worst_abs, err)
                worst_rel = max(worst_rel, err / max(abs(a), abs(d.central)) if err else 0.0)
            yield GradientCheck(
                name, len(picked), base.size, worst_abs, worst_rel, kinks, mismatches
            )


def cmd_check(args: argparse.Namespace) -> int:
    graph = load_graph(args.file, args.set or (), model_options(args))
    trace = graph.trace()
    if trace.anomaly is not None:
        report_anomaly(graph, trace)
        return FAILED
    rows = [["node", "elements", "max abs error", "max rel error", "result"]]
    results = list(check_gradients(graph, trace))
    for r in results:
        checked = str(r.of) if r.checked == r.of else f"{r.checked} of {r.of}"
        if r.mismatches:
            verdict = f"MISMATCH at {r.mismatches}"
        else:
            verdict = f"ok, {r.kinks} at a kink" if r.kinks else "ok"
        rows.append([r.node, checked, f"{r.abs_error:.1e}", f"{r.rel_error:.1e}", verdict])
    table(rows, sys.stdout)
    bad = [r.node for r in results if not r.ok]
    if bad:
        print(
            f"\ngradient mismatch at {', '.join(bad)}: "
            "backprop and central finite differences disagree"
        )
        return FAILED
    print(f"\nall {len(results)} gradients match central finite differences")
    kinks = sum(r.kinks for r in results)
    if kinks:
        print(
            f"{kinks} elements sit at a kink (relu at 0, a tie of max or maxpool), "
            "where the loss has no derivative for finite differences to check"
        )
    return OK


# ---------------------------------------------------------------------------
# summary: shapes and parameter counts from shapes alone


def filters_note(graph: Graph, node_name: str) -> str:
    """`6 filters × 76` for a conv2d or local2d node whose weights are params."""
    node = graph.nodes[node_name]
    if node.op not in ("conv2d", "local2d") or graph.nodes[node.inputs[1]].op != "param":
        return ""
    w = graph.nodes[node.inputs[1]].shape
    filters = math.prod(w[:-3])
    per = math.prod(w[-3:])
    if len(node.inputs) > 2 and graph.nodes[node.inputs[2]].op == "param":
        per += 1
    return f"{filters:,} filter{'s' if filters != 1 else ''} × {per:,}"


def summary_rows(graph: Graph) -> list[list[str]]:
    rows = [["node", "op", "shape", "numbers", "parameters"]]
    for node in graph:
        if node.op == "param":
            params = count(node.size)
        else:
            used = [i for i in dict.fromkeys(node.inputs) if graph.nodes[i].op == "param"]
            params = ""
            if used:
                total = sum(graph.nodes[i].size for i in used)
                note = filters_note(graph, node.name)
                params = f"{count(total)} ({', '.join(used)}{': ' + note if note else ''})"
        rows.append([node.name, node.op, fmt.shape(node.shape), count(node.size), params])
    return rows


def cmd_summary(args: argparse.Namespace) -> int:
    graph = load_graph(args.file, args.set or (), model_options(args))
    print(f"{graph.name}: {len(graph)} nodes, output {graph.output}")
    table(summary_rows(graph), sys.stdout)
    params = graph.params
    total = graph.parameter_count()
    parts = ", ".join(f"{p} {graph.nodes[p].size:,}" for p in params)
    print(f"\nparameters: {count(total)}" + (f" ({parts})" if parts else ""))
    numbers = 2 * sum(node.size for node in graph)
    print(f"a trace holds {count(numbers)} numbers (values and gradients, {_bytes(8 * numbers)})")
    return OK


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:,.3g} TB" if n < 1000 else f"{n:,.0f} TB"


# ---------------------------------------------------------------------------
# validate


def cmd_validate(args: argparse.Namespace) -> int:
    failed = False
    for target in args.files:
        try:
            graph = load_graph(target)
        except GraphstepError as e:
            print_error(e)
            failed = True
            continue
        except (MemoryError, RecursionError):
            print_error(too_big(target))
            failed = True
            continue
        out = graph.nodes[graph.output]
        print(
            f"{target}: ok ({len(graph)} nodes, {count(graph.parameter_count())} parameters, "
            f"output {graph.output} {fmt.shape(out.shape)})"
        )
    return BAD_INPUT if failed else OK


# ---------------------------------------------------------------------------
# train


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """The loss curve in one line of block characters, resampled to at most `width`."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    return "".join(
        SPARKS[round((v - lo) / span * (len(SPARKS) - 1))] if math.isfinite(v) else "?"
        for v in values
    )


class ProgressBar:
    """`[#####.....] 250/500 loss 0.0123` on stderr, redrawn in place, only on a terminal."""

    def __init__(self, total: int, out: TextIO, width: int = 30) -> None:
        self.total = total
        self.out = out
        self.width = width
        self.shown = out.isatty()
        self.last = -math.inf

    def update(self, done: int, loss: float) -> None:
        now = time.monotonic()
        if not self.shown or (now - self.last < 0.05 and done < self.total):
            return
        self.last = now
        filled = self.width * done // max(1, self.total)
        bar = "#" * filled + "." * (self.width - filled)
        self.out.write(f"\r[{bar}] {done}/{self.total} loss {fmt.number(loss)}")
        self.out.flush()

    def close(self) -> None:
        if self.shown and self.last > -math.inf:
            self.out.write("\n")
            self.out.flush()


def cmd_train(args: argparse.Namespace) -> int:
    from .train import train

    graph = load_graph(args.file, args.set or (), model_options(args))
    steps = args.steps if args.steps is not None else graph.train.get("steps")
    if steps is None:
        raise UsageError(f"how many steps? give --steps N (or train: {{steps: N}} in {args.file})")
    bar = ProgressBar(int(steps), sys.stderr)
    try:
        result = train(graph, int(steps), args.lr, on_step=bar.update)
    finally:
        bar.close()
    losses = [float(x) for x in result.losses]
    if args.json:
        report = {"losses": json_numbers(losses), "accuracy": result.accuracy}
        print(json.dumps(report, allow_nan=False))
    else:
        curve = sparkline(losses)
        print(f"{graph.name}: {len(losses)} steps of gradient descent")
        print(f"loss  {fmt.number(losses[0])} → {fmt.number(result.final_loss)}")
        print(f"      {curve}")
        gap = " " * max(1, len(curve) - len("step 1") - len(str(len(losses))))
        print(f"      step 1{gap}{len(losses)}")
        if result.accuracy is not None:
            print(f"accuracy {result.accuracy:.0%}")
    if not all(math.isfinite(x) for x in [*losses, result.final_loss]):
        print("graphstep: the loss is not finite (hint: lower the learning rate)", file=sys.stderr)
        return FAILED
    return OK


# ---------------------------------------------------------------------------
# export


def cmd_export(args: argparse.Namespace) -> int:
    from . import render

    targets = [args.output, args.all_steps, args.html]
    if sum(t is not None for t in targets) != 1:
        raise UsageError("give one of -o OUT, --all-steps DIR or --html OUT.html")
    if args.output is None and (args.step is not None or args.format is not None):
        raise UsageError("--step and --format go with -o OUT")
    graph = load_graph(args.file, args.set or (), model_options(args))
    expanded = frozenset(args.expand or ())
    for name in expanded:
        if name not in graph.groups and (
            name not in graph.nodes or not graph.nodes[name].is_composite
        ):
            composites = [n for n in graph.order if graph.nodes[n].is_composite]
            composites += list(graph.groups)
            raise GraphstepError(
                f"--expand {name}: not a composite node or block call of {graph.name}",
                hint=did_you_mean(name, composites)
                or (f"its composites: {', '.join(composites)}" if composites else "it has none"),
            )
    options = {"expanded": expanded, "rankdir": args.rankdir}
    if args.all_steps is not None:
        paths = render.export_all_steps(graph, Path(args.all_steps), **options)
        print(f"wrote {len(paths)} diagrams to {args.all_steps}")
    elif args.html is not None:
        render.export_html(graph, Path(args.html), **options)
        print(f"wrote {args.html}")
    else:
        fmt_name = args.format or (Path(args.output).suffix.lstrip(".").lower() or "svg")
        if fmt_name not in ("svg", "png", "dot"):
            raise UsageError(f"unknown format '{fmt_name}': use --format svg, png or dot")
        render.export_svg(graph, Path(args.output), step=args.step, format=fmt_name, **options)
        print(f"wrote {args.output}")
    return OK


# ---------------------------------------------------------------------------
# tui


def cmd_tui(args: argparse.Namespace) -> int:
    from .tui import run_tui

    target = args.file or str(BUNDLED_EXAMPLE)
    run_tui(load_graph(target, args.set or (), model_options(args)))
    return OK


# ---------------------------------------------------------------------------
# The parser and main


def _file_argument(parser: argparse.ArgumentParser, nargs: str | None = None) -> None:
    parser.add_argument(
        "file",
        metavar="FILE",
        nargs=nargs,
        help="a graph file (.yaml), an ONNX model, or an expression such as '(x + y) * z'",
    )


def _set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        type=parse_assignment,
        help="give an input or param a value: a number or a list, read as YAML, "
        "or a .npy or ONNX TensorProto .pb file (repeatable)",
    )
    _model_options(parser)


# ---------------------------------------------------------------------------
# ONNX models: --loss, --dim, --max-numbers, and convert


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loss",
        metavar="EXPR",
        help="ONNX: the scalar backprop starts from, over the model's outputs "
        "('output' is the first), e.g. 'sum(output)'",
    )
    parser.add_argument(
        "--dim",
        metavar="NAME=N",
        action="append",
        type=parse_dim,
        help="ONNX: the size of a dynamic dimension, e.g. --dim batch=8 (default 1; repeatable)",
    )
    parser.add_argument(
        "--max-numbers",
        metavar="N",
        type=_positive_int,
        help="the most float64 numbers a graph's values and gradients may hold "
        "(default: half the available memory, in numbers)",
    )


def parse_dim(text: str) -> tuple[str, int]:
    name, value = parse_assignment(text)
    return name, _positive_int(value)


def model_options(args: argparse.Namespace) -> ModelOptions:
    return ModelOptions(loss=args.loss, dims=tuple(args.dim or ()))


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import write_graph_file

    spec = graph_spec(args.file, args.set or (), model_options(args))
    graph = build(spec)
    written = write_graph_file(spec, args.output)
    print(f"wrote {args.output} and {written} ({count(graph.parameter_count())} parameters)")
    return OK


# ---------------------------------------------------------------------------
# PyTorch models: graphstep torch FILE.py:FACTORY


def cmd_torch(args: argparse.Namespace) -> int:
    from .importers.torch import import_file

    imported = import_file(args.target, args.loss)
    if args.save:
        from .convert import write_graph_file

        written = write_graph_file(imported.spec, args.save)
        params = count(build(imported.spec).parameter_count())
        print(f"wrote {args.save} and {written} ({params} parameters)")
        return OK
    from .tui import run_tui

    run_tui(imported.graph())
    return OK


def _torch_parser(sub: Any) -> None:
    p = sub.add_parser(
        "torch",
        help="a PyTorch model: runs FILE.py, calls FACTORY, opens the model",
        description="Imports FILE.py (your own code, run as Python runs it: only give it "
        "files you trust), calls FACTORY(), which returns (model, example_inputs) or "
        "(model, example_inputs, loss), and opens the model in the terminal UI. Needs "
        "PyTorch: pip install 'graphstep[torch]'.",
    )
    p.add_argument("target", metavar="FILE.py:FACTORY", help="e.g. models.py:make_model")
    p.add_argument(
        "--save",
        metavar="FILE.yaml",
        help="write the graph file instead (weights in FILE.npz beside it), as convert does",
    )
    p.add_argument(
        "--loss",
        metavar="EXPR",
        help="when FACTORY returns no loss: the scalar over the model's outputs "
        "('output' is the first), e.g. 'sum(output)'",
    )
    p.add_argument(
        "--max-numbers",
        metavar="N",
        type=_positive_int,
        help="the most float64 numbers the model's values and gradients may hold",
    )
    p.set_defaults(handler=cmd_torch, parser=p)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error (main prints it)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (hint: {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="graphstep",
        description="A step-through debugger and visualizer for computational graphs.",
        epilog="'graphstep FILE' opens FILE in the terminal UI; "
        "'graphstep' alone opens the seed's chain-rule example.",
    )
    parser.add_argument("--version", action="version", version=f"graphstep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("tui", help="step through a graph in the terminal UI")
    _file_argument(p, nargs="?")
    _set_option(p)
    p.set_defaults(handler=cmd_tui, parser=p)

    p = sub.add_parser("run", help="forward and backward, as a table, JSON or a transcript")
    _file_argument(p)
    _set_option(p)
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="every node as JSON")
    shown.add_argument("--steps", action="store_true", help="the transcript, one line per step")
    p.add_argument("--into", action="store_true", help="with --steps: composites' inner steps too")
    p.set_defaults(handler=cmd_run, parser=p)

    p = sub.add_parser("check", help="compare every gradient with central finite differences")
    _file_argument(p)
    _set_option(p)
    p.set_defaults(handler=cmd_check, parser=p)

    p = sub.add_parser("export", help="diagrams: SVG/PNG/DOT, one per step, or an HTML page")
    _file_argument(p)
    _set_option(p)
    p.add_argument("-o", "--output", metavar="OUT", help="the diagram at one step")
    p.add_argument("--step", type=int, metavar="N", help="the step to draw (default: the last)")
    p.add_argument("--format", choices=("svg", "png", "dot"), help="default: from OUT's suffix")
    p.add_argument("--all-steps", metavar="DIR", help="one numbered SVG per step, for slides")
    p.add_argument("--html", metavar="OUT", help="one self-contained page stepping with ←/→")
    p.add_argument(
        "--expand",
        metavar="NODE",
        action="append",
        help="draw a composite or a block call expanded (repeatable)",
    )
    p.add_argument("--rankdir", choices=("LR", "TB"), default="TB", help="layout direction")
    p.set_defaults(handler=cmd_export, parser=p)

    p = sub.add_parser("train", help="gradient descent on the params")
    _file_argument(p)
    _set_option(p)
    p.add_argument("--steps", type=_positive_int, metavar="N", help="default: train.steps")
    p.add_argument("--lr", type=_positive_float, metavar="LR", help="default: train.lr")
    p.add_argument("--json", action="store_true", help='{"losses": [...], "accuracy": ...}')
    p.set_defaults(handler=cmd_train, parser=p)

    p = sub.add_parser("summary", help="shapes and parameter counts, from shapes alone")
    _file_argument(p)
    _set_option(p)
    p.set_defaults(handler=cmd_summary, parser=p)

    p = sub.add_parser("validate", help="parse and type-check only")
    p.add_argument("files", metavar="FILE", nargs="+", help="graph files or expressions")
    p.set_defaults(handler=cmd_validate, parser=p)

    p = sub.add_parser("convert", help="an ONNX model (or any graph) as YAML, weights in .npz")
    _file_argument(p)
    _set_option(p)
    p.add_argument("-o", "--output", metavar="OUT.yaml", required=True, help="the graph file")
    p.set_defaults(handler=cmd_convert, parser=p)
    _torch_parser(sub)
    return parser


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got '{text}'")
    return n


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not x > 0 or not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"expected a positive number, got '{text}'")
    return x


def with_command(argv: list[str]) -> list[str]:
    """`graphstep [FILE]` is `graphstep tui [FILE]`; a misspelt command is refused, not opened."""
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version")):
        return argv
    if argv and not argv[0].startswith("-") and is_expression(argv[0]):
        hint = did_you_mean(argv[0], COMMANDS)
        if hint and len(argv) > 1:
            raise UsageError(f"unknown command '{argv[0]}' ({hint})")
        if argv[0].isidentifier():  # a bare word is no graph worth opening: a typo
            what = f"({hint})" if hint else "(and no such file)"
            raise UsageError(f"unknown command '{argv[0]}' {what}")
        if not argv[0].strip():
            raise UsageError("FILE is empty: give a graph file or an expression")
    return ["tui", *argv]


def too_big(target: str | None) -> GraphstepError:
    """Python ran out of memory or stack on an input: refused like any other bad input."""
    file = None if target is None else EXPRESSION_FILE if is_expression(target) else target
    return GraphstepError("too large or nested too deeply to process", file=file)


def print_error(error: GraphstepError) -> None:
    """`graphstep: error: FILE:LINE:COL: message (hint: …)`, on one line.

    An error of the environment (Graphviz missing) or of a whole graph (no
    params to train) names no file; it is printed without a location.
    """
    text = str(error) if error.file is not None else error.message
    if error.file is None and error.hint:
        text += f" (hint: {error.hint})"
    print(f"graphstep: error: {' '.join(text.splitlines())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(with_command(list(sys.argv[1:] if argv is None else argv)))
    except SystemExit as e:  # argparse: --help, --version and usage errors (2)
        return e.code if isinstance(e.code, int) else BAD_INPUT
    except UsageError as e:
        return usage_error(parser, e)
    handler: Callable[[argparse.Namespace], int] = args.handler
    set_max_numbers(getattr(args, "max_numbers", None))
    try:
        return handler(args)
    except UsageError as e:
        return usage_error(args.parser, e)
    except GraphstepError as e:
        print_error(e)
        return BAD_INPUT
    except (MemoryError, RecursionError):
        print_error(too_big(getattr(args, "file", None)))
        return BAD_INPUT
    except KeyboardInterrupt:
        return INTERRUPTED


def usage_error(parser: argparse.ArgumentParser, error: UsageError) -> int:
    message = str(error)
    if "(hint:" not in message:
        message += f" (hint: {parser.prog} --help)"
    print(f"graphstep: error: {message}", file=sys.stderr)
    return BAD_INPUT
