"""Benchmark: graphstep's trace against micrograd and PyTorch, side by side in one run.

1. A layered scalar DAG of about 9,000 nodes: graphstep's Graph.trace()
   (forward + backward, recording every value and gradient) against
   micrograd's forward + backward on the same DAG. Target: ratio ≤ 1.5.
2. A conv net (8×3×32×32 input, six 5×5 filters, relu, 2×2 maxpool, sum)
   forward + backward against PyTorch on the CPU with one thread. Target: ≤ 3.

Both sides use one thread. Run: .venv/bin/python bench/engine.py
(needs the bench extra: pip install -e '.[bench]').
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS on one thread, as torch
os.environ.setdefault("OMP_NUM_THREADS", "1")


from timing import best_of

import graphstep

WIDTH = 100
LAYERS = 59
KINDS = ("mul", "sub", "relu", "avg")  # mul: by a weight w_i near ±1


def weight(i: int) -> float:
    return (-1) ** i * (0.8 + 0.04 * ((i * 13) % 10))


def layered_yaml() -> str:
    lines = ["name: layered", "inputs:"]
    lines += [f"  n0_{i}: {((i * 37) % 17 - 8) / 5}" for i in range(WIDTH)]
    lines += [f"  w{i}: {weight(i)}" for i in range(WIDTH)]
    lines.append("graph:")
    for k in range(1, LAYERS):
        kind = KINDS[k % len(KINDS)]
        for i in range(WIDTH):
            a, b = f"n{k - 1}_{i}", f"n{k - 1}_{(i + 7) % WIDTH}"
            expr = {
                "sub": f"{a} - {b}",
                "mul": f"{a} * w{i}",
                "relu": f"relu({a})",
                "avg": f"0.5 * ({a} + {b})",
            }[kind]
            lines.append(f"  n{k}_{i}: {expr}")
    last = [f"n{LAYERS - 1}_{i}" for i in range(WIDTH)]
    lines.append(f"  s1: {last[0]} + {last[1]}")
    for i, name in enumerate(last[2:], start=2):
        lines.append(f"  s{i}: s{i - 1} + {name}")
    lines.append(f"output: s{WIDTH - 1}")
    return "\n".join(lines) + "\n"


def micrograd_pass() -> float:
    from micrograd.engine import Value

    prev = [Value(((i * 37) % 17 - 8) / 5) for i in range(WIDTH)]
    weights = [Value(weight(i)) for i in range(WIDTH)]
    for k in range(1, LAYERS):
        kind = KINDS[k % len(KINDS)]
        if kind == "sub":
            prev = [prev[i] - prev[(i + 7) % WIDTH] for i in range(WIDTH)]
        elif kind == "mul":
            prev = [prev[i] * weights[i] for i in range(WIDTH)]
        elif kind == "relu":
            prev = [p.relu() for p in prev]
        else:
            prev = [0.5 * (prev[i] + prev[(i + 7) % WIDTH]) for i in range(WIDTH)]
    out = prev[0] + prev[1]
    for p in prev[2:]:
        out = out + p
    out.backward()
    return out.data


def scalar_dag() -> None:
    import sys

    graph = graphstep.load(layered_yaml())
    sys.setrecursionlimit(100_000)  # micrograd's topological sort is recursive
    ours = graph.trace()
    assert abs(ours.loss - micrograd_pass()) < 1e-9, "the two engines disagree"
    t_ours = best_of(graph.trace, 7)
    t_theirs = best_of(micrograd_pass, 7)
    print(f"scalar DAG, {len(graph):,} nodes (forward + backward, best of 7)")
    print(f"  graphstep trace      {t_ours * 1e3:8.2f} ms")
    print(f"  micrograd            {t_theirs * 1e3:8.2f} ms")
    print(f"  ratio graphstep / micrograd = {t_ours / t_theirs:.2f}  (target ≤ 1.5)")


CONV_YAML = """
name: convnet
inputs:
  x: {shape: [8, 3, 32, 32], init: uniform, seed: 1}
params:
  w: {shape: [6, 3, 5, 5], init: normal, std: 0.1, seed: 2}
  b: {shape: [6], init: normal, std: 0.1, seed: 3}
graph:
  c: conv2d(x, w, b)
  r: relu(c)
  p: maxpool(r, size=2)
  loss: sum(p)
output: loss
"""


def conv_net() -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    graph = graphstep.load(CONV_YAML)
    ours = graph.trace()
    x = torch.tensor(ours.value("x"))
    w = torch.tensor(ours.value("w"), requires_grad=True)
    b = torch.tensor(ours.value("b"), requires_grad=True)

    def torch_pass() -> torch.Tensor:
        w.grad = b.grad = None
        out = torch.nn.functional.max_pool2d(torch.relu(torch.nn.functional.conv2d(x, w, b)), 2)
        loss = out.sum()
        loss.backward()
        return loss

    loss = torch_pass()
    assert abs(float(loss.detach()) - ours.loss) < 1e-8, "graphstep and torch disagree on the loss"
    assert np.allclose(w.grad.numpy(), ours.grad("w")), "graphstep and torch disagree on ∂L/∂w"
    t_ours = best_of(graph.trace, 20)
    t_theirs = best_of(torch_pass, 20)
    print("conv net 8×3×32×32, six 5×5 filters, relu, 2×2 maxpool (forward + backward, best of 20)")
    print(f"  graphstep trace      {t_ours * 1e3:8.2f} ms")
    print(f"  torch (1 thread)     {t_theirs * 1e3:8.2f} ms")
    print(f"  ratio graphstep / torch = {t_ours / t_theirs:.2f}  (target ≤ 3)")


if __name__ == "__main__":
    scalar_dag()
    print()
    conv_net()
