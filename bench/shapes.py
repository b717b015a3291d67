"""Graph files of real sizes, generated: the benchmarks' and the tests' fixtures.

Nothing big is committed; each function returns YAML text for `graphstep.load`.
"""

from __future__ import annotations

KINDS = ("add", "mul", "tanh", "sub")


def layered_yaml(width: int, layers: int) -> str:
    """`width` inputs, then `layers` layers of `width` scalar ops, each reading two nodes
    of the layer before; summed into one loss at the end."""
    lines = ["name: layered", "inputs:"]
    lines += [f"  a0_{i}: {((i * 7) % 11 - 5) / 4}" for i in range(width)]
    lines.append("graph:")
    for k in range(1, layers + 1):
        kind = KINDS[k % len(KINDS)]
        for i in range(width):
            a, b = f"a{k - 1}_{i}", f"a{k - 1}_{(i + 1) % width}"
            expr = {"add": f"{a} + {b}", "mul": f"{a} * {b}", "sub": f"{a} - {b}"}.get(
                kind, f"tanh({a})"
            )
            lines.append(f"  a{k}_{i}: {expr}")
    last = [f"a{layers}_{i}" for i in range(width)]
    lines.append(f"  loss: {' + '.join(last)}")
    lines.append("output: loss")
    return "\n".join(lines) + "\n"


def layered_nodes(nodes: int) -> str:
    """A layered DAG of about `nodes` nodes, 25 wide (25 inputs, the rest in layers)."""
    return layered_yaml(25, max(1, (nodes - 26) // 25))


def chain_yaml(ops: int) -> str:
    """A scalar chain: `ops` alternating products and tanh, from one input."""
    lines = ["name: chain", "inputs: {x: 0.5, k: 1.01}", "graph:", "  a0: x * k"]
    lines += [
        f"  a{i}: tanh(a{i - 1})" if i % 2 else f"  a{i}: a{i - 1} * k" for i in range(1, ops)
    ]
    return "\n".join(lines) + "\n"


def shared_weight_yaml(ops: int) -> str:
    """`a0: x * k`, `aN: a(N-1) * k`: one parameter read by every one of `ops` products."""
    lines = ["name: shared-weight", "inputs: {x: 1}", "params: {k: 0.99}", "graph:", "  a0: x * k"]
    lines += [f"  a{i}: a{i - 1} * k" for i in range(1, ops)]
    return "\n".join(lines) + "\n"


def own_weights_yaml(ops: int) -> str:
    """The shared-weight chain's drawing without the sharing: each product reads a parameter
    of its own, so one box beside each, as stubs draw the shared one."""
    lines = ["name: own-weights", "inputs: {x: 1}", "params:"]
    lines += [f"  k{i}: 0.99" for i in range(ops)]
    lines += ["graph:", "  a0: x * k0"]
    lines += [f"  a{i}: a{i - 1} * k{i}" for i in range(1, ops)]
    return "\n".join(lines) + "\n"


def doubling_blocks_yaml(depth: int) -> str:
    """Block `d0` called 2**depth times: `d{k}` calls `d{k-1}` twice, the top calls `d{depth}`."""
    lines = ["name: doubling", "inputs: {x: 0.5}", "params: {k: 0.9}", "blocks:"]
    lines += ["  d0:", "    args: [v]", "    graph:", "      y: tanh(v) * k"]
    for level in range(1, depth + 1):
        lines += [f"  d{level}:", "    args: [v]", "    graph:"]
        lines += [f"      p{level}: d{level - 1}(v)", f"      q{level}: d{level - 1}(p{level})"]
    lines += ["graph:", f"  f: d{depth}(x)"]
    return "\n".join(lines) + "\n"
