# ruff: noqa: E402  (bench/ comes off sys.path before onnx is imported; see below)
"""Benchmark: importing and running ONNX models, side by side with onnx's own tools.

1. Import (parse, fold, build) of a 1,000-node model versus onnx.load plus
   onnx.shape_inference on the same file: the ratio must be at most 2. graphstep's side
   is `graphstep.load`, all a user waits for before a trace; `graph.dag`, the networkx
   view that nothing on the way to a trace asks for, is made on first use and timed apart.
   Each side's result is freed after its clock stops (disposing of it is no part of loading).
   Beside it, the floor of any importer written in Python: onnx.load, then each node's
   fields and each weight read once into Python objects, nothing built.
2. Forward of a ResNet-style network at 1×3×224×224 versus
   onnx.reference.ReferenceEvaluator on the same model: at most 0.5. ONNX
   Runtime's time (float32, one thread) is printed beside them for reference.
   Forward + backward versus the forward alone: at most 3.
3. Peak memory of a forward + backward (tracemalloc, which numpy reports to)
   next to the bytes that float64 values and gradients need: at most 1.5.

GC is off while timing; each time is the best of several runs (the import's two sides in turns).
Run: .venv/bin/python bench/onnx_models.py [--vgg19]  (--vgg19 also loads, traces and
steps a VGG-19 with random weights: 143 million parameters).
"""

from __future__ import annotations

import dataclasses
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

# This file's own name would hide the onnx package: import it with bench/ off the path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

sys.path.insert(0, str(HERE))
from timing import best_of

import graphstep
from graphstep.trace import Trace

RNG = np.random.default_rng(0)
TARGETS = {"import": 2.0, "forward": 0.5, "backward": 3.0, "memory": 1.5}


def weight(name: str, *shape: int) -> onnx.TensorProto:
    scale = np.sqrt(2.0 / max(1, int(np.prod(shape[1:]))))
    return numpy_helper.from_array((RNG.normal(0, scale, shape)).astype(np.float32), name)


def chain(blocks: int = 200, width: int = 16) -> onnx.ModelProto:
    """blocks × (MatMul, Add, Relu, Shape, Reshape): 1,000 nodes, a fifth of them folded."""
    nodes, inits = [], [numpy_helper.from_array(np.array(0, dtype=np.int64), "zero")]
    x = "x"
    for k in range(blocks):
        inits += [weight(f"w{k}", width, width), weight(f"b{k}", width)]
        nodes += [
            helper.make_node("MatMul", [x, f"w{k}"], [f"m{k}"]),
            helper.make_node("Add", [f"m{k}", f"b{k}"], [f"a{k}"]),
            helper.make_node("Relu", [f"a{k}"], [f"r{k}"]),
            helper.make_node("Shape", [f"r{k}"], [f"s{k}"]),
            helper.make_node("Reshape", [f"r{k}", f"s{k}"], [f"h{k}"]),
        ]
        x = f"h{k}"
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, width])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [4, width])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def resnet(width: int = 32, classes: int = 100) -> onnx.ModelProto:
    """A ResNet-style network at 224×224: a 7×7 stride-2 stem, a max-pool, two residual
    blocks (conv-bn-relu-conv-bn, add, relu), a stride-2 block with a 1×1 projection,
    global average pooling and a Gemm classifier."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def conv_bn(x: str, out: str, cin: int, cout: int, k: int, stride: int = 1) -> str:
        inits.append(weight(f"{out}.w", cout, cin, k, k))
        bn = [f"{out}.{p}" for p in ("g", "b", "m", "v")]
        inits.extend(
            numpy_helper.from_array(v.astype(np.float32), n)
            for n, v in zip(
                bn,
                (
                    RNG.uniform(0.5, 1.5, cout),
                    RNG.normal(0, 0.1, cout),
                    RNG.normal(0, 0.1, cout),
                    RNG.uniform(0.5, 1.5, cout),
                ),
                strict=True,
            )
        )
        pad = k // 2
        nodes.append(
            helper.make_node(
                "Conv", [x, f"{out}.w"], [f"{out}.c"], strides=[stride] * 2, pads=[pad] * 4
            )
        )
        nodes.append(helper.make_node("BatchNormalization", [f"{out}.c", *bn], [out]))
        return out

    def relu(x: str, out: str) -> str:
        nodes.append(helper.make_node("Relu", [x], [out]))
        return out

    def block(x: str, name: str, cin: int, cout: int, stride: int) -> str:
        h = relu(conv_bn(x, f"{name}.1", cin, cout, 3, stride), f"{name}.r")
        h = conv_bn(h, f"{name}.2", cout, cout, 3)
        skip = x if stride == 1 and cin == cout else conv_bn(x, f"{name}.p", cin, cout, 1, stride)
        nodes.append(helper.make_node("Add", [h, skip], [f"{name}.s"]))
        return relu(f"{name}.s", f"{name}.o")

    x = relu(conv_bn("image", "stem", 3, width, 7, 2), "stem.r")
    nodes.append(
        helper.make_node(
            "MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4
        )
    )
    x = block("pool", "b1", width, width, 1)
    x = block(x, "b2", width, width, 1)
    x = block(x, "b3", width, 2 * width, 2)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"]))
    inits += [weight("fc.w", classes, 2 * width), weight("fc.b", classes)]
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1))
    graph = helper.make_graph(
        nodes,
        "resnet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def vgg19() -> onnx.ModelProto:
    """VGG-19 at 1×3×224×224 with random weights: 16 convs, 5 max-pools, 3 Gemms."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    x, cin = "image", 3
    for stage, (cout, convs) in enumerate(((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))):
        for k in range(convs):
            name = f"s{stage}.{k}"
            inits += [weight(f"{name}.w", cout, cin, 3, 3), weight(f"{name}.b", cout)]
            nodes.append(
                helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [f"{name}.c"], pads=[1] * 4)
            )
            nodes.append(helper.make_node("Relu", [f"{name}.c"], [f"{name}.r"]))
            x, cin = f"{name}.r", cout
        nodes.append(
            helper.make_node("MaxPool", [x], [f"p{stage}"], kernel_shape=[2, 2], strides=[2, 2])
        )
        x = f"p{stage}"
    nodes.append(helper.make_node("Flatten", [x], ["flat"]))
    x, fan_in = "flat", 512 * 7 * 7
    for k, out in enumerate((4096, 4096, 1000)):
        inits += [weight(f"fc{k}.w", out, fan_in), weight(f"fc{k}.b", out)]
        nodes.append(helper.make_node("Gemm", [x, f"fc{k}.w", f"fc{k}.b"], [f"fc{k}"], transB=1))
        if k < 2:
            nodes.append(helper.make_node("Relu", [f"fc{k}"], [f"fc{k}.r"]))
        x, fan_in = (f"fc{k}.r" if k < 2 else f"fc{k}"), out
    graph = helper.make_graph(
        nodes,
        "vgg19",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 1000])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def timed(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    gc.collect()
    gc.disable()
    try:
        return best_of(fn, repeats)
    finally:
        gc.enable()


def alternately(a, b, repeats: int, between=None) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The best times of `a` and `b` run in turns, so that a change in the machine's load
    falls on both sides alike; `between` runs after each, off the clock."""
    best_a = best_b = float("inf")
    for _ in range(repeats):
        best_a = min(best_a, timed(a, 1))
        if between:
            between()
        best_b = min(best_b, timed(b, 1))
        if between:
            between()
    return best_a, best_b


def forward_only(graph: graphstep.Graph) -> None:
    """The forward pass alone: every op in topological order, as the trace computes it."""
    plan = graph.plan
    values: list[object] = [None] * len(plan.names)
    for i, name in enumerate(plan.names):
        if graph.nodes[name].is_leaf:
            values[i] = graph.leaf_array(name)
    for step in plan.ops:
        values[step.index] = step.op.forward(*[values[j] for j in step.inputs], **step.attrs)


def main() -> int:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "chain.onnx")
        onnx.save(chain(), path)

        made: list[object] = []  # each side's result, kept until its clock has stopped

        def ours() -> None:
            made.append(graphstep.load(path))

        def theirs() -> None:
            made.append(onnx.shape_inference.infer_shapes(onnx.load(path)))

        def reading() -> None:  # the least any importer in Python does: read it all once
            graph = onnx.load(path).graph
            for n in graph.node:
                (n.op_type, tuple(n.input), tuple(n.output), n.name, tuple(n.attribute))
            for t in graph.initializer:
                numpy_helper.to_array(t).astype(np.float64)

        t_ours, t_theirs = alternately(ours, theirs, 15, between=made.clear)
        t_read, t_base = alternately(reading, theirs, 15, between=made.clear)
        results["import"] = t_ours / t_theirs
        loaded = graphstep.load(path)
        t_dag = timed(lambda: dataclasses.replace(loaded).dag, 10)  # a copy makes it anew
        print(
            f"import of a 1,000-node model: graphstep {t_ours * 1e3:.1f} ms, "
            f"onnx.load + shape_inference {t_theirs * 1e3:.1f} ms, "
            f"ratio {results['import']:.2f} (target ≤ {TARGETS['import']}); "
            f"graph.dag on first use {t_dag * 1e3:.1f} ms more"
        )
        print(
            f"  the floor: onnx.load and reading every node's fields and weight (float64) into "
            f"Python, nothing built, {t_read * 1e3:.1f} ms, ratio {t_read / t_base:.2f}"
        )

        path = str(Path(folder) / "resnet.onnx")
        model = resnet()
        onnx.save(model, path)
        graph = graphstep.load(path)
        image = graph.leaf_array("image")
        feeds = {"image": image.astype(np.float32)}
        reference = ReferenceEvaluator(model)
        # the forward and the trace in turns, so that a change in the machine's load falls on both
        t_fwd, t_both = alternately(
            lambda: forward_only(graph), lambda: Trace.compute(graph, None), 7
        )
        t_ref = timed(lambda: reference.run(None, feeds), 1)
        results["forward"] = t_fwd / t_ref
        ort_text = ""
        try:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            t_ort = timed(lambda: session.run(None, feeds), 5)
            ort_text = f", ONNX Runtime (float32, 1 thread) {t_ort * 1e3:.0f} ms"
        except ImportError:
            ort_text = ", ONNX Runtime not installed"
        print(
            f"ResNet-style forward at 1×3×224×224: graphstep {t_fwd * 1e3:.0f} ms, "
            f"ReferenceEvaluator {t_ref * 1e3:.0f} ms{ort_text}; "
            f"ratio {results['forward']:.2f} (target ≤ {TARGETS['forward']})"
        )
        results["backward"] = t_both / t_fwd
        print(
            f"forward + backward {t_both * 1e3:.0f} ms, {results['backward']:.2f}× the forward "
            f"(target ≤ {TARGETS['backward']})"
        )
        gc.collect()
        tracemalloc.start()
        trace = Trace.compute(graph, None)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        held = sum(graph.nodes[n].size for n in graph.order)
        held += sum(graph.nodes[n].size for n in graph.order if trace.grad(n) is not None)
        results["memory"] = peak / (8 * held)
        print(
            f"peak memory of forward + backward {peak / 1e6:.0f} MB, float64 values and "
            f"gradients {8 * held / 1e6:.0f} MB ({held:,} numbers): ratio {results['memory']:.2f} "
            f"(target ≤ {TARGETS['memory']})"
        )
        del trace
        if "--vgg19" in sys.argv:
            run_vgg19(Path(folder))
    failed = [k for k, v in results.items() if v > TARGETS[k]]
    if failed:
        print(f"over target: {', '.join(failed)}")
    return 1 if failed else 0


def run_vgg19(folder: Path) -> None:
    path = str(folder / "vgg19.onnx")
    onnx.save(vgg19(), path)
    start = time.perf_counter()
    graph = graphstep.load(path)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    session = graph.session()  # forward and backward, once
    session.continue_()
    session.continue_()
    traced = time.perf_counter() - start
    print(
        f"VGG-19: {graph.parameter_count():,} parameters; loaded in {loaded:.1f} s, traced and "
        f"stepped to step {session.position} of {len(session.timeline) - 1} in {traced:.1f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
