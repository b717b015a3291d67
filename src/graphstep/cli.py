"""The command line: the only module that prints and chooses exit codes.

Every subcommand loads a graph (a file, or an expression standing in for one),
asks the layers before it for numbers, and prints them. Exit codes: 0 success,
1 a check failed or a number is not finite, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import numpy as np

from . import __version__
from . import format as fmt
from .arrays import ARRAY_SUFFIXES, read_array
from .errors import GraphstepError, did_you_mean, excerpt
from .gradcheck import check_gradients
from .graph import Graph, build
from .importers import ModelOptions, dimension, is_onnx
from .importers.groups import ImportedModel
from .limits import MAX_EXPORT_BYTES, MAX_TRAIN_STEPS, set_max_numbers
from .spec import EXPRESSION_FILE, GraphSpec, leaf_shape, read_spec, read_value, source_kind
from .summary import count, not_computed, summary_lines
from .trace import Trace

if TYPE_CHECKING:
    from .doctor import Diagnosis, Provenance

OK, FAILED, BAD_INPUT, INTERRUPTED, BROKEN_PIPE, TERMINATED = 0, 1, 2, 130, 141, 143
COMMANDS = (
    "tui",
    "run",
    "check",
    "doctor",
    "export",
    "train",
    "summary",
    "validate",
    "serve",
    "convert",
    "torch",
)
BUNDLED_EXAMPLE = Path(__file__).parent / "examples" / "chain_rule.yaml"


class UsageError(Exception):
    """A command line that argparse accepted but that does not make sense."""


# ---------------------------------------------------------------------------
# Loading: a file or an expression, with --set values


def parse_assignment(text: str) -> tuple[str, str]:
    """`NAME=VALUE` from --set, split at the first '='."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got '{excerpt(text)}'")
    return name.strip(), value


def leaf_value(name: str, text: str) -> Any:
    """A --set value: a .npy or ONNX TensorProto .pb file, or YAML: a number or a (nested)
    list of numbers."""
    where = f"--set {name}={excerpt(text)}"
    if text.lower().endswith(ARRAY_SUFFIXES):
        try:
            return read_array(text)
        except GraphstepError as e:
            e.file = where
            raise
    try:
        return read_value(text)
    except GraphstepError as e:
        e.file = f"--set {name}={excerpt(text)}"
        e.hint = "a number or a list, e.g. --set x=-2 or --set x='[1, 2]'"
        raise


def with_values(spec: GraphSpec, sets: Sequence[tuple[str, str]]) -> GraphSpec:
    """The spec with leaves given by --set; a value's shape becomes the leaf's shape."""
    leaves = dict(spec.leaves)
    for name, text in sets:
        if name not in leaves:
            raise GraphstepError(
                f"'{name}' is not an input or a param of {spec.name}",
                file=f"--set {name}={excerpt(text)}",
                hint=did_you_mean(name, list(leaves))
                or (f"its leaves: {', '.join(leaves)}" if leaves else "it has no leaves"),
            )
        value = leaf_value(name, text)
        declared = leaf_shape(leaves[name])
        given = np.shape(value)
        if spec.file != EXPRESSION_FILE and given != declared:
            raise GraphstepError(
                f"the value has shape {list(given)}; {name} is {list(declared)}",
                file=f"--set {name}={excerpt(text)}",
                hint=f"give {name} a value of its shape",
            )
        leaves[name] = leaves[name]._replace(value=value, shape=(), init=None, options=())
    return replace(spec, leaves=leaves)


def load_graph(
    target: str, sets: Sequence[tuple[str, str]] = (), model: ModelOptions | None = None
) -> Graph:
    """A graph from a file (YAML or ONNX), or from an expression whose free names are inputs
    (0 unless --set)."""
    imported = graph_spec(target, sets, model)
    spec, graph = imported.spec, imported.graph()
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
) -> ImportedModel:
    """load_graph's spec, before it is built, with an ONNX model's scopes as groups (a graph
    file has none: its block calls group themselves); an ONNX model is recognised by its
    content."""
    if source_kind(target) == "path" and is_onnx(target):
        from .importers.onnx import load_onnx  # the onnx package loads only for a model

        imported = load_onnx(target, model or ModelOptions())
        if not sets:
            return imported
        # new leaf values: the graph the importer built is built again from them
        return replace(imported, spec=with_values(imported.spec, sets), built=None)
    if model is not None and model != ModelOptions():
        raise UsageError("--loss and --dim are for ONNX models; a graph file names its output")
    return ImportedModel(with_values(read_spec(target), sets), (), frozenset())


# ---------------------------------------------------------------------------
# Output helpers


def table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Left-aligned columns, the header underlined."""
    for line in fmt.table(rows):
        print(fmt.visible(line), file=out)


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
    print(fmt.visible(f"graphstep: {where}: anomaly: {anomaly}"), file=sys.stderr)


# ---------------------------------------------------------------------------
# run


def headline(graph: Graph) -> str:
    """The graph's name and the first sentence of its description."""
    text = " ".join(graph.description.split())
    sentence = text.split(". ")[0].rstrip(".")
    return fmt.visible(f"{graph.name}: {sentence}" if sentence else graph.name)


def run_table(graph: Graph, trace: Trace, width: int | None = None) -> list[list[str]]:
    """Every node's row; with a `width`, the table fits it.

    A value or gradient too long for its half of what the other columns leave
    is summarised (shape, min, max), and a cell still too long is cut with `…`.
    """
    rows = [["node", "op", "inputs", "shape", "value", "gradient"]]
    tensors: list[tuple[np.ndarray, np.ndarray | None]] = []
    for node in graph:
        rows.append(
            [
                node.name,
                node.op,
                ", ".join(graph.display(i) for i in node.inputs),
                fmt.shape(node.shape),
            ]
        )
        tensors.append((trace.value(node.name), trace.grad(node.name)))
    room = None
    if width is not None:  # the inputs give way first, then the tensors
        left = width - 2 * len(rows[0]) - sum(max(len(row[i]) for row in rows) for i in (0, 1, 3))
        inputs = max(MIN_INPUTS_CELL, min(max(len(r[2]) for r in rows), left - 2 * TENSOR_CELL))
        for row in rows[1:]:
            row[2] = clip(row[2], inputs)
        room = max(MIN_TENSOR_CELL, (left - inputs) // 2)
    for row, (value, grad) in zip(rows[1:], tensors, strict=True):
        row.append(tensor_cell(value, room))
        row.append("—" if grad is None else tensor_cell(grad, room))
    return rows


TENSOR_CELL = 21  # room for a range such as `-0.332093 … 0.606035`
MIN_TENSOR_CELL = 10  # `-0.14 … 1`: never cut narrower
MIN_INPUTS_CELL = 6  # `loss…`


def tensor_cell(a: np.ndarray, room: int | None) -> str:
    """A tensor as `format.tensor` writes it; a big one or one past `room` characters as its
    range, then cut.

    The range `-0.651579 … 0.991` leaves out the shape, which has a column of its own,
    and falls back to three, then two significant digits before anything is cut.
    """
    text = fmt.tensor(a)
    if room is None or (len(text) <= room and (a.ndim == 0 or a.size <= fmt.SMALL)):
        return text
    finite = a[np.isfinite(a)]
    tail = fmt.non_finite(a)
    for number in (fmt.number, lambda x: f"{float(x):.3g}", lambda x: f"{float(x):.2g}"):
        span = f"{number(finite.min())} … {number(finite.max())}" if finite.size else ""
        text = f"{span} {tail}".strip()
        if len(text) <= room:
            return text
    return clip(text, room)


def clip(text: str, room: int) -> str:
    return text if len(text) <= room else text[: room - 1] + "…"


def backward_order(graph: Graph, trace: Trace) -> list[str]:
    """Every node with a gradient, in reverse topological order: the backward steps."""
    return [n for n in reversed(graph.order) if trace.grad(n) is not None]


JSON_CHUNK = 4096  # numbers formatted at a time: the output never exists whole in memory


def run_json(graph: Graph, trace: Trace) -> Iterator[str]:
    """SPEC's JSON of a run, in pieces: a tensor of millions of numbers is streamed, since
    Python lists of every number would take gigabytes."""
    yield "{" + ", ".join(
        f"{json.dumps(key)}: {json.dumps(value)}"
        for key, value in (
            ("graph", graph.name),
            ("output", graph.output),
            ("forward_order", list(graph.forward_order)),
            ("backward_order", backward_order(graph, trace)),
        )
    )
    yield ', "nodes": {'
    for k, node in enumerate(graph):
        grad = trace.grad(node.name)
        head = {"op": node.op, "inputs": list(node.inputs), "shape": list(node.shape)}
        if node.name in graph.sources:
            head["source"] = graph.sources[node.name]
        yield f"{', ' if k else ''}{json.dumps(node.name)}: {json.dumps(head)[:-1]}"
        yield ', "value": '
        yield from json_tensor(trace.value(node.name))
        yield ', "grad": '
        yield from ("null",) if grad is None else json_tensor(grad)
        yield "}"
    yield "}}"


def json_tensor(a: np.ndarray) -> Iterator[str]:
    """A tensor as nested JSON lists, a row at a time, a long row in chunks."""
    if a.ndim == 0:
        yield json.dumps(json_numbers(float(a)))
    elif a.ndim == 1:
        yield "["
        for start in range(0, len(a), JSON_CHUNK):
            chunk = a[start : start + JSON_CHUNK]
            numbers = chunk.tolist() if np.isfinite(chunk).all() else json_numbers(chunk.tolist())
            yield (", " if start else "") + json.dumps(numbers)[1:-1]
        yield "]"
    else:
        yield "["
        for i, row in enumerate(a):
            if i:
                yield ", "
            yield from json_tensor(row)
        yield "]"


def shown_summary_instead(graph: Graph) -> bool:
    """For a graph too big to compute: its summary and why, in place of what was asked."""
    reason = not_computed(graph)
    if reason is None:
        return False
    for line in summary_lines(graph):
        print(fmt.visible(line))
    print(fmt.visible(reason))
    return True


def cmd_run(args: argparse.Namespace) -> int:
    if args.into and not args.steps:
        raise UsageError("--into lists the inner steps of --steps; give --steps too")
    if args.wide and (args.steps or args.json):
        raise UsageError("--wide widens the table; --steps and --json are never cut")
    graph = load_graph(args.file, args.set or (), model_options(args))
    if not args.json and shown_summary_instead(graph):
        return OK
    trace = graph.trace()
    if args.json:
        sys.stdout.writelines(run_json(graph, trace))
        print()
    elif args.steps:
        from .steps import Timeline, transcript

        for line in transcript(Timeline(trace), into=args.into):
            print(fmt.visible(line))
    else:
        width = None if args.wide else shutil.get_terminal_size().columns
        shown = headline(graph) if width is None else clip(headline(graph), width)
        print(fmt.visible(shown))
        table(run_table(graph, trace, width), sys.stdout)
        print(f"\n{graph.output} = {fmt.tensor(trace.value(graph.output))}")
    if trace.anomaly is not None:
        report_anomaly(graph, trace)
        return FAILED
    return OK


# ---------------------------------------------------------------------------
# check: gradients against central finite differences


def cmd_check(args: argparse.Namespace) -> int:
    graph = load_graph(args.file, args.set or (), model_options(args))
    if shown_summary_instead(graph):
        return OK
    trace = graph.trace()
    if trace.anomaly is not None:
        report_anomaly(graph, trace)
        return FAILED
    rows = [["node", "elements", "max abs error", "max rel error", "result"]]
    results = list(check_gradients(graph, trace))
    for r in results:
        checked = str(r.of) if r.checked == r.of else f"{r.checked} of {r.of}"
        if not r.checked:
            verdict = "too large to check"
        elif r.mismatches:
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
    n = sum(1 for r in results if r.checked)
    agree = "the gradient matches" if n == 1 else f"all {fmt.plural(n, 'gradient')} match"
    print(f"\n{agree} central finite differences")
    if n < len(results):
        print(
            f"{fmt.plural(len(results) - n, 'node')} too large to check: each finite "
            "difference would recompute too much of the graph"
        )
    kinks = sum(r.kinks for r in results)
    if kinks:
        print(
            f"{fmt.plural(kinks, 'element')} {'sits' if kinks == 1 else 'sit'} at a kink "
            "(relu at 0, a tie of max or maxpool), "
            "where the loss has no derivative for finite differences to check"
        )
    return OK


# ---------------------------------------------------------------------------
# summary: shapes and parameter counts from shapes alone


def cmd_summary(args: argparse.Namespace) -> int:
    for line in summary_lines(load_graph(args.file, args.set or (), model_options(args))):
        print(fmt.visible(line))
    return OK


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
            f"{fmt.visible(target)}: ok ({fmt.plural(len(graph), 'node')}, "
            f"{fmt.plural(n := graph.parameter_count(), 'parameter', count(n))}, "
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


def cmd_train(args: argparse.Namespace) -> int:
    from .train import settings, train

    graph = load_graph(args.file, args.set or (), model_options(args))
    if shown_summary_instead(graph):
        return OK
    steps, rate = settings(graph, args.steps, args.lr)
    with training_bar(steps) as update:
        result = train(graph, steps, rate, on_step=update)
    losses = [float(x) for x in result.losses]
    if args.json:
        report = {"losses": json_numbers(losses), "accuracy": result.accuracy}
        print(json.dumps(report, allow_nan=False))
    else:
        curve = sparkline(losses)
        print(f"{fmt.visible(graph.name)}: {fmt.plural(len(losses), 'step')} of gradient descent")
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


@contextmanager
def training_bar(total: int) -> Iterator[Callable[[int, float], None]]:
    """rich's progress bar on stderr, with the loss, only on a terminal; yields its update."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(file=sys.stderr)
    columns = (BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"))
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("training", total=total, loss="")

        def update(done: int, loss: float) -> None:
            progress.update(task, completed=done, loss=fmt.number(loss))

        yield update


# ---------------------------------------------------------------------------
# export


def cmd_export(args: argparse.Namespace) -> int:
    from . import render

    targets = [args.output, args.all_steps, args.html]
    if sum(t is not None for t in targets) != 1:
        raise UsageError("give one of -o OUT, --all-steps DIR or --html OUT.html")
    if args.output is None and (args.step is not None or args.format is not None):
        raise UsageError("--step and --format go with -o OUT")
    if args.all_steps is None and (args.steps is not None or args.force):
        raise UsageError("--steps and --force go with --all-steps DIR")
    if args.into and args.output is not None:
        raise UsageError("--into goes with --all-steps or --html; for one inner step: --step N.K")
    if args.into and not args.expand:
        raise UsageError("--into steps into the expanded composites: give --expand NODE too")
    graph = load_graph(args.file, args.set or (), model_options(args))
    if shown_summary_instead(graph):
        print("no diagram written: there are no numbers to draw")
        return OK
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
    options = {"expanded": expanded, "rankdir": args.rankdir, "overlay": args.overlay}
    from .render.layout import dot_warning

    warning = dot_warning(graph, expanded)
    if warning:
        print(f"graphstep: {warning}", file=sys.stderr)
    if args.all_steps is not None:
        from .render.svg import ExportTooLarge

        budget = None if args.force else MAX_EXPORT_BYTES
        try:
            paths = render.export_all_steps(
                graph,
                Path(args.all_steps),
                steps=args.steps,
                budget=budget,
                into=args.into,
                **options,
            )
        except ExportTooLarge as e:
            e.hint = (
                "pass --force to write it anyway, export one page with --html OUT.html, "
                "or a range of steps such as --steps 10-40"
            )
            raise
        print(f"wrote {fmt.plural(len(paths), 'diagram')} to {fmt.visible(args.all_steps)}")
    elif args.html is not None:
        render.export_html(graph, Path(args.html), into=args.into, **options)
        print(f"wrote {fmt.visible(args.html)}")
    else:
        fmt_name = args.format or (Path(args.output).suffix.lstrip(".").lower() or "svg")
        if fmt_name not in ("svg", "png", "dot"):
            raise UsageError(f"unknown format '{fmt_name}': use --format svg, png or dot")
        step, inner = args.step or (None, None)
        path = Path(args.output)
        render.export_svg(graph, path, step=step, inner=inner, format=fmt_name, **options)
        print(f"wrote {fmt.visible(args.output)}")
    if args.into:
        for note in render.stops(graph, into=True, **options)[2]:
            print(f"graphstep: note: {fmt.visible(note)}", file=sys.stderr)
    return OK


def _step(text: str) -> tuple[int, int | None]:
    """`--step 5` is step 5; `--step 5.3` its third inner step (window or node), as numbered
    by `run --steps --into`."""
    match = re.fullmatch(r"(\d{1,9})(?:\.(\d{1,9}))?", text.strip())
    if match is None or (match.group(2) is not None and int(match.group(2)) < 1):
        raise argparse.ArgumentTypeError(
            f"expected a step N or an inner step N.K (K from 1), got '{fmt.visible(text)}'"
        )
    inner = match.group(2)
    return int(match.group(1)), None if inner is None else int(inner) - 1


# ---------------------------------------------------------------------------
# doctor: where a gradient dies, explodes or turns NaN, and why

WHY_TOP = 10  # paths listed by doctor --why
DOCTOR_SHOWN = 50  # findings printed as text (--json lists them all)
LAYERS_SHOWN = 40  # layers printed as text


def _doctor_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="diagnose vanishing, exploding, dead and NaN gradients")
    _file_argument(p)
    _set_option(p)
    p.add_argument("--json", action="store_true", help="the findings and layers as JSON")
    p.add_argument(
        "--why",
        metavar="W",
        help=f"the {WHY_TOP} paths from the loss that carry the most of the gradient of W",
    )
    p.set_defaults(handler=cmd_doctor, parser=p)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose, provenance

    graph = load_graph(args.file, args.set or (), model_options(args))
    trace = graph.trace()
    if args.why is not None:
        found = provenance(trace, args.why, top=WHY_TOP)
        if args.json:
            print(json.dumps(why_json(found), allow_nan=False))
        else:
            print_why(graph, trace, found)
        return OK
    diagnosis = diagnose(trace)
    if args.json:
        print(json.dumps(doctor_json(graph, trace, diagnosis), allow_nan=False))
    else:
        print_diagnosis(graph, diagnosis)
    return FAILED if diagnosis.has_error else OK


def _json_number(x: float | None) -> Any:
    return None if x is None else json_numbers(x)


def doctor_json(graph: Graph, trace: Trace, diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "graph": graph.name,
        "output": graph.output,
        "loss": json_numbers(trace.loss),
        "errors": sum(f.severity == "error" for f in diagnosis.findings),
        "findings": [
            {
                "kind": str(f.kind),
                "severity": str(f.severity),
                "node": f.node,
                "step": f.step,
                "phase": f.phase,
                "reason": f.reason,
                "numbers": {k: json_numbers(v) for k, v in f.numbers.items()},
                "path": list(f.path),
            }
            for f in diagnosis.findings
        ],
        "layers": [
            {
                "name": layer.name,
                "output": layer.output,
                "nodes": layer.nodes,
                "step": layer.step,
                "grad_norm": _json_number(layer.grad_norm),
                "gain": _json_number(layer.gain),
                "weight_norm": _json_number(layer.weight_norm),
                "weight_grad_norm": _json_number(layer.weight_grad_norm),
            }
            for layer in diagnosis.layers
        ],
        "gains": {name: json_numbers(gain) for name, gain in diagnosis.gains.items()},
        "dead": {name: json_numbers(share) for name, share in diagnosis.dead.items()},
    }


def why_json(found: Provenance) -> dict[str, Any]:
    return {
        "node": found.node,
        "grad_norm": json_numbers(found.grad_norm),
        "paths": [
            {
                "nodes": list(p.nodes),
                "share": json_numbers(p.share),
                "amount": json_numbers(p.amount),
            }
            for p in found.paths
        ],
        "searched": found.searched,
    }


def route(path: Sequence[str], arrow: str = " → ", keep: int = 5) -> str:
    """A path of node names, the middle of a long one elided."""
    names = [fmt.visible(n) for n in path]
    if len(names) > 2 * keep + 1:
        names = [*names[:keep], f"… {len(names) - 2 * keep} more …", *names[-keep:]]
    return arrow.join(names)


def _maybe(x: float | None) -> str:
    return "—" if x is None else fmt.number(x)


def print_diagnosis(graph: Graph, diagnosis: Diagnosis) -> None:
    findings = diagnosis.findings
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
    said = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    print(
        f"{fmt.visible(graph.name)}: {len(findings)} finding{'s' if len(findings) != 1 else ''}"
        + (f" ({said})" if said else ": every gradient is finite, checked and flows")
    )
    for f in findings[:DOCTOR_SHOWN]:
        step = "no step" if f.step is None else f"step {f.step} {f.phase}"
        print(f"{f.severity:<8} {f.kind:<10} {fmt.visible(f.node)}  [{step}]")
        print(f"    {fmt.visible(f.reason)}")
        if f.path:
            print(f"    path: {route(f.path)}")
    if len(findings) > DOCTOR_SHOWN:
        print(f"… and {len(findings) - DOCTOR_SHOWN} more (--json lists them all)")
    layers = diagnosis.layers
    if layers:
        print()
        rows = [["layer", "nodes", "step", "‖∂L/∂out‖", "gain", "‖W‖", "‖∂L/∂W‖"]]
        for layer in layers[:LAYERS_SHOWN]:
            rows.append(
                [
                    fmt.visible(layer.name),
                    str(layer.nodes),
                    "—" if layer.step is None else str(layer.step),
                    _maybe(layer.grad_norm),
                    _maybe(layer.gain),
                    _maybe(layer.weight_norm),
                    _maybe(layer.weight_grad_norm),
                ]
            )
        table(rows, sys.stdout)
        if len(layers) > LAYERS_SHOWN:
            print(f"… and {len(layers) - LAYERS_SHOWN} more layers (--json lists them all)")


def print_why(graph: Graph, trace: Trace, found: Provenance) -> None:
    name = fmt.visible(found.node)
    grad = trace.grad(found.node)
    if grad is None:
        loss = fmt.visible(graph.output)
        print(f"∂{loss}/∂{name} does not exist: the loss does not depend on {name}")
        return
    print(f"∂{fmt.visible(graph.output)}/∂{name} = {fmt.tensor(grad)}")
    if not found.paths:
        print("no path carries any of it (graphstep doctor FILE explains zero gradients)")
        return
    scalar = grad.ndim == 0
    n = len(found.paths)
    print(f"the {n} path{'s' if n != 1 else ''} carrying the most of it:")
    rows = [["share", "product of local derivatives" if scalar else "amount", "path"]]
    for p in found.paths:
        rows.append([f"{p.share:.1%}", fmt.number(p.amount), route(p.nodes)])
    table(rows, sys.stdout)


# ---------------------------------------------------------------------------
# tui


def cmd_tui(args: argparse.Namespace) -> int:
    from .tui import run_tui

    target = str(BUNDLED_EXAMPLE) if args.file is None else args.file
    run_tui(load_graph(target, args.set or (), model_options(args)))
    return OK


# ---------------------------------------------------------------------------
# serve


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    target = str(BUNDLED_EXAMPLE) if args.file is None else args.file
    load_graph(target, args.set or ())  # a bad file is reported here, not in the browser

    def ready(url: str) -> None:
        print(f"graphstep: serving {fmt.visible(target)} at {url} (Ctrl+C stops)", flush=True)

    serve(target, args.set or (), args.port, ready)
    return OK


# ---------------------------------------------------------------------------
# The parser and main


def _file_argument(parser: argparse.ArgumentParser, nargs: str | None = None) -> None:
    parser.add_argument(
        "file",
        metavar="FILE",
        nargs=nargs,
        help="a graph file (.yaml), an ONNX model, or an expression such as '(x + y) * z': "
        "an argument is an expression only when it cannot be a path "
        "(graphs/chain_rule is a missing file)",
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
    digits = value.strip()
    size = int(digits) if digits.isdecimal() and len(digits) < 30 else value
    try:
        return name, dimension(name, size)
    except GraphstepError as e:
        raise argparse.ArgumentTypeError(e.message) from None


def model_options(args: argparse.Namespace) -> ModelOptions:
    return ModelOptions(loss=args.loss, dims=tuple(args.dim or ()))


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import write_graph_file

    spec = graph_spec(args.file, args.set or (), model_options(args)).spec
    graph = build(spec)
    written = write_graph_file(spec, args.output)
    files = f"{fmt.visible(args.output)} and {fmt.visible(str(written))}"
    print(f"wrote {files} ({count(graph.parameter_count())} parameters)")
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
        "'graphstep' alone opens the chain rule example from lecture.",
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
    p.add_argument(
        "--wide",
        action="store_true",
        help="the table at full width: every number, whatever the terminal's width",
    )
    p.set_defaults(handler=cmd_run, parser=p)

    p = sub.add_parser("check", help="compare every gradient with central finite differences")
    _file_argument(p)
    _set_option(p)
    p.set_defaults(handler=cmd_check, parser=p)

    p = sub.add_parser("export", help="diagrams: SVG/PNG/DOT, one per step, or an HTML page")
    _file_argument(p)
    _set_option(p)
    p.add_argument("-o", "--output", metavar="OUT", help="the diagram at one step")
    p.add_argument(
        "--step",
        type=_step,
        metavar="N[.K]",
        help="the step to draw (default: the last); N.K its K-th window or node",
    )
    p.add_argument("--format", choices=("svg", "png", "dot"), help="default: from OUT's suffix")
    p.add_argument("--all-steps", metavar="DIR", help="one numbered SVG per step, for slides")
    p.add_argument(
        "--steps", type=_step_range, metavar="A-B", help="with --all-steps: steps A to B only"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help=f"with --all-steps: write past {MAX_EXPORT_BYTES // 10**6:,} MB",
    )
    p.add_argument("--html", metavar="OUT", help="one self-contained page stepping with ←/→")
    p.add_argument(
        "--into",
        action="store_true",
        help="with --all-steps or --html: the inner steps of the expanded composites too",
    )
    p.add_argument(
        "--expand",
        metavar="NODE",
        action="append",
        help="draw a composite or a block call expanded (repeatable)",
    )
    p.add_argument("--rankdir", choices=("LR", "TB"), default="TB", help="layout direction")
    p.add_argument(
        "--overlay",
        choices=("grad", "gain", "dead"),
        help="colour the nodes by the doctor's |gradient|, gain or dead fraction, with a legend",
    )
    p.set_defaults(handler=cmd_export, parser=p)

    p = sub.add_parser("train", help="gradient descent on the params")
    _file_argument(p)
    _set_option(p)
    p.add_argument("--steps", type=_train_steps, metavar="N", help="default: train.steps")
    p.add_argument("--lr", type=_positive_float, metavar="LR", help="default: train.lr")
    p.add_argument("--json", action="store_true", help='{"losses": [...], "accuracy": ...}')
    p.set_defaults(handler=cmd_train, parser=p)

    p = sub.add_parser("summary", help="shapes and parameter counts, from shapes alone")
    _file_argument(p)
    _set_option(p)
    p.set_defaults(handler=cmd_summary, parser=p)

    p = sub.add_parser("serve", help="the terminal UI in a web browser, on this machine only")
    _file_argument(p, nargs="?")
    _set_option(p)
    p.add_argument(
        "--port", type=_port, default=8000, metavar="N", help="the port on 127.0.0.1 (8000)"
    )
    p.set_defaults(handler=cmd_serve, parser=p)
    _doctor_parser(sub)

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


def _step_range(text: str) -> range:
    """`10-40` (both included) or one step, `7`."""
    first, dash, last = text.partition("-")
    try:
        a, b = int(first), int(last) if dash else int(first)
    except ValueError:
        a, b = -1, -1
    if a < 0 or b < a:
        raise argparse.ArgumentTypeError(f"expected a range of steps such as 10-40, got '{text}'")
    return range(a, b + 1)


def _train_steps(text: str) -> int:
    try:
        n = int(text) if len(text) < 20 else 0
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_TRAIN_STEPS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_TRAIN_STEPS:,}, got '{excerpt(text)}'"
        )
    return n


def _positive_int(text: str) -> int:
    try:
        n = int(text) if len(text) < 20 else 0
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got '{excerpt(text)}'")
    return n


def _port(text: str) -> int:
    port = _positive_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got '{text}'")
    return port


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not x > 0 or not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"expected a positive number, got '{excerpt(text)}'")
    return x


def with_command(argv: list[str]) -> list[str]:
    """`graphstep [FILE]` is `graphstep tui [FILE]`; a misspelt command is refused, not opened."""
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version")):
        return argv
    if argv and not argv[0].strip():
        raise UsageError("FILE is empty: give a graph file or an expression")
    if argv and not argv[0].startswith("-") and source_kind(argv[0]) == "expression":
        hint = did_you_mean(argv[0], COMMANDS)
        if hint and len(argv) > 1:
            raise UsageError(f"unknown command '{argv[0]}' ({hint})")
        if argv[0].isidentifier():  # a bare word is no graph worth opening: a typo
            what = f"({hint})" if hint else "(and no such file)"
            raise UsageError(f"unknown command '{argv[0]}' {what}")
    return ["tui", *argv]


def options_after_file(argv: list[str]) -> list[str]:
    """`run -- "-x * y" --steps`: `--` marks the one FILE after it, and options still follow.

    argparse would read everything after `--` as FILE; moving FILE to the end
    keeps it protected and lets the options after it be options. `validate`
    takes many files, so after its `--` everything stays a file.
    """
    if "--" not in argv or argv[0] == "validate":
        return argv
    k = argv.index("--")
    if k + 1 >= len(argv):
        return argv
    return [*argv[:k], *argv[k + 2 :], "--", argv[k + 1]]


def too_big(target: str | None) -> GraphstepError:
    """Python ran out of memory or stack on an input: refused like any other bad input."""
    file = target
    if target is not None and source_kind(target) == "expression":
        file = EXPRESSION_FILE
    return GraphstepError("too large or nested too deeply to process", file=file)


def print_error(error: GraphstepError) -> None:
    """`graphstep: error: FILE:LINE:COL: message (hint: …)`, on one line.

    An error of the environment (Graphviz missing) or of a whole graph (no
    params to train) names no file; it is printed without a location.
    """
    text = str(error) if error.file is not None else error.message
    if error.file is None and error.hint:
        text += f" (hint: {error.hint})"
    print(f"graphstep: error: {fmt.visible(text)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(
            options_after_file(with_command(list(sys.argv[1:] if argv is None else argv)))
        )
    except SystemExit as e:  # argparse: --help, --version and usage errors (2)
        return e.code if isinstance(e.code, int) else BAD_INPUT
    except UsageError as e:
        return usage_error(parser, e)
    handler: Callable[[argparse.Namespace], int] = args.handler
    set_max_numbers(getattr(args, "max_numbers", None))
    try:
        with terminate_as_exception():
            return handler(args)
    except UsageError as e:
        return usage_error(args.parser, e)
    except GraphstepError as e:
        print_error(e)
        return BAD_INPUT
    except (MemoryError, RecursionError):
        print_error(too_big(getattr(args, "file", None)))
        return BAD_INPUT
    except BrokenPipeError:  # `graphstep run … | head`: the reader has what it wanted
        silence_stdout()
        return BROKEN_PIPE
    except OSError as e:
        print_error(os_error(e))
        return BAD_INPUT
    except KeyboardInterrupt:
        return INTERRUPTED
    except Terminated:
        return TERMINATED


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so every `finally` cleans up."""


@contextmanager
def terminate_as_exception() -> Iterator[None]:
    """While a command runs, SIGTERM raises Terminated (in the main thread only, as Python's
    signal handlers run there); the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit cannot fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def os_error(error: OSError) -> GraphstepError:
    """An operating-system error no layer anticipated, as one line naming its file."""
    reason = error.strerror or str(error)
    if error.filename is None:
        return GraphstepError(reason)
    return GraphstepError(reason, file=str(error.filename))


def usage_error(parser: argparse.ArgumentParser, error: UsageError) -> int:
    message = str(error)
    if "(hint:" not in message:
        message += f" (hint: {parser.prog} --help)"
    print(f"graphstep: error: {fmt.visible(message)}", file=sys.stderr)
    return BAD_INPUT
