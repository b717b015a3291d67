"""A graph (an imported ONNX model, say) written back as a graph file a user can edit.

The YAML holds the entries as expressions; leaves with values go into an .npz
archive beside it and are named there by the stored-leaf form
`{file: NAME.npz, key: LEAF}`. Both files are written together, as export
writes (files.write_all): both targets checked, then both staged, then both
moved into place; a refusal writes neither.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import GraphstepError
from .expr import Call, Const, Expr, Name
from .files import write_all
from .format import visible
from .spec import GraphSpec, Init, LeafKind, LeafSpec


def expression(expr: Expr) -> str:
    """An expression as graph-file text that reads back to the same numbers (repr, not %g)."""
    match expr:
        case Name(id=name):
            return name
        case Const(value=v):
            return number(float(v))
        case Call(func=func, args=args, attrs=attrs):
            inner = [expression(a) for a in args] + [f"{k}={_attribute(v)}" for k, v in attrs]
            return f"{func}({', '.join(inner)})"
    raise AssertionError(expr)


def _attribute(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_attribute(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):
        return number(value)
    return str(value)


INFINITY = "1e999"  # a literal the expression parser reads as float('inf')


def number(x: float) -> str:
    """A number as graph-file text that reads back to the same float: repr, or ±1e999 for an
    infinity (`inf` would read as a name); NaN has no such literal and is refused."""
    if math.isnan(x):
        raise GraphstepError(
            "a NaN constant cannot be written in a graph file",
            hint="a graph file's numbers are finite or ±infinity",
        )
    if math.isinf(x):
        return INFINITY if x > 0 else f"-{INFINITY}"
    return repr(x)


def _stored(value: Any) -> np.ndarray:
    """A leaf's value as saved: float32 when that keeps every number exactly (imported weights
    were float32), float64 otherwise."""
    array = np.asarray(value, dtype=np.float64)
    narrow = array.astype(np.float32)
    return narrow if np.array_equal(narrow, array, equal_nan=True) else array


def write_graph_file(spec: GraphSpec, out: str) -> str:
    """`spec` as the graph file `out` and its leaves' values as `out`'s stem + .npz; returns
    the archive's path."""
    target = Path(out)
    if spec.blocks:
        raise GraphstepError(
            "convert writes a graph without blocks; this one has blocks",
            file=spec.file,
            hint="a graph file with blocks is already a graph file to edit",
        )
    if target.suffix.lower() not in (".yaml", ".yml"):
        raise GraphstepError(f"'{out}' must end in .yaml", hint="e.g. -o model.yaml")
    archive = target.with_suffix(".npz")
    arrays: dict[str, np.ndarray] = {}
    sections: dict[str, dict[str, Any]] = {"inputs": {}, "params": {}}
    for leaf in spec.leaves.values():
        sections["inputs" if leaf.kind is LeafKind.INPUT else "params"][leaf.name] = _leaf(
            leaf, archive.name, arrays
        )
    document: dict[str, Any] = {"name": spec.name, "description": spec.description}
    document.update({k: v for k, v in sections.items() if v})
    document["graph"] = {name: _entry(name, e.expr, spec.file) for name, e in spec.entries.items()}
    document["output"] = spec.output
    header = "".join(
        f"# {name}: {visible(original)}\n"
        for name, original in spec.sources.items()
        if name != original
    )
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    names = "# names in the model this file was converted from:\n" if header else ""
    write_all([(archive, buffer.getvalue()), (target, (names + header + text).encode("utf-8"))])
    return str(archive)


def _entry(name: str, expr: Expr, file: str | None) -> str:
    try:
        return expression(expr)
    except GraphstepError as e:
        raise GraphstepError(f"entry '{name}': {e.message}", file=file, hint=e.hint) from None


def _leaf(leaf: LeafSpec, archive: str, arrays: dict[str, np.ndarray]) -> Any:
    if leaf.value is not None:
        arrays[leaf.name] = _stored(leaf.value)
        return {"file": archive, "key": leaf.name}
    if leaf.init is Init.FILE:
        from .arrays import read_npz_member

        opts = dict(leaf.options)
        arrays[leaf.name] = _stored(
            read_npz_member(str(opts["file"]), str(opts["key"]), str(opts["file"]))
        )
        return {"file": archive, "key": leaf.name}
    return {"shape": list(leaf.shape), "init": str(leaf.init), **dict(leaf.options)}
