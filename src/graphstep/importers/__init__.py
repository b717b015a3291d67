"""Importers: models made elsewhere, as the same GraphSpec a graph file gives.

This package's own module loads nothing heavy: `is_onnx` and `ModelOptions` are
here so that a command can ask without importing the onnx package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GraphstepError, excerpt
from ..limits import MAX_DIMENSION

ONNX_MAGIC = b"\x08"  # ModelProto's first field: ir_version, a varint (field 1, wire type 0)


@dataclass(frozen=True)
class ModelOptions:
    """What the user chooses about an imported model: its loss and its dynamic dimensions."""

    loss: str | None = None
    dims: tuple[tuple[str, int], ...] = ()


def dimension(name: str, value: Any) -> int:
    """The size of the dynamic dimension `name`, checked: a whole number from 1 to
    MAX_DIMENSION (the tensors it sizes are measured against the limits later)."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DIMENSION:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_DIMENSION:
        given = "a larger number"  # repr of a huge int may itself fail
    else:
        given = excerpt(repr(value))
    raise GraphstepError(
        f"dimension '{excerpt(name)}' must be a whole number from 1 to {MAX_DIMENSION:,}, "
        f"not {given}"
    )


def model_options(loss: Any, dims: Any) -> ModelOptions:
    """The options of `graphstep.load` for an ONNX model, each checked."""
    if loss is not None and not isinstance(loss, str):
        raise GraphstepError(
            f"loss is an expression over the model's outputs (text), not {a_type(loss)}",
            hint="e.g. loss='sum(output)'",
        )
    dims = {} if dims is None else dims
    if not isinstance(dims, Mapping):
        raise GraphstepError(
            f"dims maps dimension names to sizes, not {a_type(dims)}",
            hint="e.g. dims={'batch': 8}",
        )
    for name in dims:
        if not isinstance(name, str):
            raise GraphstepError(
                f"dims names a dimension by its text, not {a_type(name)}",
                hint="e.g. dims={'batch': 8}",
            )
    return ModelOptions(loss, tuple((name, dimension(name, n)) for name, n in dims.items()))


def a_type(value: Any) -> str:
    """`a list`, `an int`: what was given instead, for a message."""
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def is_onnx(path: str) -> bool:
    """Whether a file is an ONNX model: by its suffix, or by its content (a protobuf that opens
    with ModelProto's ir_version) whatever its name."""
    if path.lower().endswith(".onnx"):
        return True
    try:
        if not Path(path).is_file():  # a fifo or a device could block a read forever
            return False
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[:1] == ONNX_MAGIC and 0 < head[1] < 0x80
