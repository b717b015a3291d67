"""A graph (an imported ONNX model, say) written back as a graph file a user can edit.

The YAML holds the entries as expressions; leaves with values go into an .npz
archive beside it and are named there by the stored-leaf form
`{file: NAME.npz, key: LEAF}`. Both files are written atomically: an error
leaves neither half-written.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import GraphstepError
from .expr import Call, Const, Expr, Name
from .format import visible
from .spec import GraphSpec, Init, LeafKind, LeafSpec


def expression(expr: Expr) -> str:
    """An expression as graph-file text that reads back to the same numbers (repr, not %g)."""
    match expr:
        case Name(id=name):
            return name
        case Const(value=v):
            return repr(float(v))
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
        return repr(value)
    return str(value)


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
    document["graph"] = {name: expression(e.expr) for name, e in spec.entries.items()}
    document["output"] = spec.output
    header = "".join(
        f"# {name}: {visible(original)}\n"
        for name, original in spec.sources.items()
        if name != original
    )
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    _write_atomically(archive, buffer.getvalue())
    names = "# names in the model this file was converted from:\n" if header else ""
    _write_atomically(target, (names + header + text).encode("utf-8"))
    return str(archive)


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


def _write_atomically(path: Path, data: bytes) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise GraphstepError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
