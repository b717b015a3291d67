"""Every bound that a graph file can push against, in one place.

A graph file is hostile input: each loop and allocation it can drive is
checked against one of these before it starts. The README's limits table
lists them.
"""

from __future__ import annotations

MAX_FILE_BYTES = 1_000_000  # a graph file, or graph text handed to graphstep.load
MAX_YAML_DEPTH = 32  # nesting of YAML mappings and lists
MAX_EXPRESSION_CHARS = 10_000  # one expression
MAX_EXPRESSION_DEPTH = 64  # nesting inside one expression
MAX_NODES = 200_000  # nodes of a graph, counted while blocks expand
MAX_TENSOR_ELEMENTS = 1 << 24  # 16.7 million float64 numbers, 128 MiB
MAX_TOTAL_ELEMENTS = 1 << 26  # every value and gradient of one graph together
MAX_TEMPORARY_ELEMENTS = 1 << 25  # the largest scratch array of one op, or the numbers it reads
MAX_TRAIN_STEPS = 100_000  # gradient-descent steps of one `train`
MAX_BLOCK_DEPTH = 16  # blocks calling blocks calling blocks…
