"""Every bound that a graph file can push against, in one place.

A graph file is hostile input: each loop and allocation it can drive is
checked against one of these before it starts. The README's limits table
lists them.
"""

from __future__ import annotations

from functools import cache

MAX_FILE_BYTES = 1_000_000  # a graph file, or graph text handed to graphstep.load
MAX_YAML_DEPTH = 32  # nesting of YAML mappings and lists
MAX_EXPRESSION_CHARS = 10_000  # one expression
MAX_EXPRESSION_DEPTH = 64  # nesting inside one expression
MAX_NODES = 200_000  # nodes of a graph, counted while blocks expand
MAX_TENSOR_ELEMENTS = 1 << 24  # 16.7 million float64 numbers, 128 MiB
MAX_TOTAL_ELEMENTS = 1 << 26  # every value and gradient of one graph together
MAX_TEMPORARY_ELEMENTS = 1 << 25  # the largest scratch array of one op, or the numbers it reads
MAX_TRAIN_STEPS = 100_000  # gradient-descent steps of one `train`
MAX_DIMENSION = 2**63 - 1  # an ONNX model's dynamic dimension (--dim): int64's largest
MAX_BLOCK_DEPTH = 16  # blocks calling blocks calling blocks…
MAX_SCOPE_DEPTH = 16  # levels of an ONNX node name's scopes that become groups; deeper, flat
MAX_EXPORT_BYTES = 500_000_000  # export --all-steps writes no more, unless --force
MAX_WHY_EXPANSIONS = 1_000_000  # partial paths the --why search takes off its queue
MAX_THUMBNAIL_SIDE = 64  # pixels a side of a tensor's picture in SVG; larger images are shrunk
MAX_PICTURE_PIXELS = 400_000  # pixels of all the pictures of one drawing (3 bytes each, raw)
NEIGHBOURHOOD_PARTS = 60  # boxes the terminal UI lays out first around the current node,
NEIGHBOURHOOD_STEPS = 24  # and the nodes of the steps ahead
MAX_PATH_NODES = 64  # nodes of a path a doctor finding lists; longer ones skip their middle

# Real models (an ImageNet network holds hundreds of millions of numbers) are bounded by the
# machine, not by a fixed number: the default budget for all the values and gradients of a
# graph is half the memory available when graphstep starts, in float64 numbers, and the
# command line's --max-numbers replaces it. A file that asks for more is refused, with its
# size and the option named, before anything is allocated.
MAX_NUMBERS_OPTION = "--max-numbers"
NUMBER_BYTES = 16  # the widest number a tensor file can store (complex128), in bytes
MAX_MODEL_BYTES = 2**31  # an ONNX protobuf (protobuf's own limit); external data files aside
MAX_ATTRIBUTE_VALUES = 1 << 20  # entries of one ONNX attribute's list (kernel_shape, value_floats)


@cache
def available_memory() -> int:
    """Bytes of memory available now (MemAvailable of /proc/meminfo), or 4 GiB if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 << 30


_budget: list[int] = []  # the --max-numbers override, when given


def max_numbers() -> int:
    """How many float64 numbers the values and gradients of one graph may hold together."""
    if _budget:
        return _budget[-1]
    return max(MAX_TOTAL_ELEMENTS, available_memory() // 2 // 8)


def max_tensor_numbers() -> int:
    """How many numbers one tensor may hold: the fixed bound, or half the budget if larger."""
    return max(MAX_TENSOR_ELEMENTS, max_numbers() // 2)


def set_max_numbers(n: int | None) -> None:
    """Replace the memory-derived budget (the command line's --max-numbers); None restores it."""
    _budget[:] = [] if n is None else [n]
