"""Importers: models made elsewhere, as the same GraphSpec a graph file gives.

This package's own module loads nothing heavy: `is_onnx` and `ModelOptions` are
here so that a command can ask without importing the onnx package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ONNX_MAGIC = b"\x08"  # ModelProto's first field: ir_version, a varint (field 1, wire type 0)


@dataclass(frozen=True)
class ModelOptions:
    """What the user chooses about an imported model: its loss and its dynamic dimensions."""

    loss: str | None = None
    dims: tuple[tuple[str, int], ...] = ()


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
