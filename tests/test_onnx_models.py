"""Small real architectures built with onnx.helper: graphstep's forward against ONNX's
ReferenceEvaluator (float32 tolerance), its gradients against finite differences along
random directions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import graphstep

RNG = np.random.default_rng(0)


def weight(name: str, *shape: int, scale: float = 0.3) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.normal(0, scale, shape).astype(np.float32), name)


def positive(name: str, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.uniform(0.5, 1.5, shape).astype(np.float32), name)


def ints(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def model(nodes, inputs, outputs, initializers, opset: int = 17) -> onnx.ModelProto:  # type: ignore[no-untyped-def]
    graph = helper.make_graph(nodes, "net", inputs, outputs, initializers)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(m)
    return m


def image(name: str, *shape: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def batchnorm(prefix: str, x: str, y: str, c: int) -> tuple[onnx.NodeProto, list]:  # type: ignore[type-arg]
    inits = [positive(f"{prefix}.g", c), weight(f"{prefix}.b", c), weight(f"{prefix}.m", c)]
    inits.append(positive(f"{prefix}.v", c))
    node = helper.make_node("BatchNormalization", [x, *(i.name for i in inits)], [y], epsilon=1e-3)
    return node, inits


def residual_block() -> onnx.ModelProto:
    bn1, i1 = batchnorm("bn1", "c1", "b1", 4)
    bn2, i2 = batchnorm("bn2", "c2", "b2", 4)
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        bn1,
        helper.make_node("Relu", ["b1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        bn2,
        helper.make_node("Add", ["b2", "x"], ["s"]),
        helper.make_node("Relu", ["s"], ["y"]),
    ]
    inits = [weight("w1", 4, 4, 3, 3), weight("w2", 4, 4, 3, 3), *i1, *i2]
    return model(nodes, [image("x", 1, 4, 5, 5)], [image("y", 1, 4, 5, 5)], inits)


def inception_block() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["x", "a"], ["p1"]),
        helper.make_node("Conv", ["x", "b", "bb"], ["p2"], auto_pad="SAME_UPPER"),
        helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["m", "c"], ["p3"]),
        helper.make_node("Concat", ["p1", "p2", "p3"], ["cat"], axis=1),
        helper.make_node("Relu", ["cat"], ["y"]),
    ]
    inits = [
        weight("a", 2, 3, 1, 1),
        weight("b", 3, 3, 3, 3),
        weight("bb", 3),
        weight("c", 2, 3, 1, 1),
    ]
    return model(nodes, [image("x", 1, 3, 6, 6)], [image("y", 1, 7, 6, 6)], inits)


def shuffle_block() -> onnx.ModelProto:
    """A grouped conv, then ShuffleNet's channel shuffle with its shape computed by the graph:
    Shape → Gather → Unsqueeze → Concat → Reshape, Transpose, Reshape."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["g"], group=2, pads=[1, 1, 1, 1]),
        helper.make_node("Shape", ["g"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
        helper.make_node("Concat", ["n1", "split_dims"], ["five"], axis=0),
        helper.make_node("Reshape", ["g", "five"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["t", "back"], ["y"]),
    ]
    inits = [
        weight("w", 4, 2, 3, 3),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
        ints("axes0", [0]),
        ints("split_dims", [2, 2, 4, 4]),
        ints("back", [0, -1, 4, 4]),
    ]
    return model(nodes, [image("x", 1, 4, 4, 4)], [image("y", 1, 4, 4, 4)], inits)


def mlp() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("Gemm", ["f", "w1", "b1"], ["h"], transB=1),
        helper.make_node("Tanh", ["h"], ["a"]),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["z"], alpha=0.5, beta=2.0),
        helper.make_node("Softmax", ["z"], ["y"]),
    ]
    inits = [weight("w1", 6, 12), weight("b1", 6), weight("w2", 6, 3), weight("b2", 3)]
    return model(nodes, [image("x", 2, 3, 2, 2)], [image("y", 2, 3)], inits)


MODELS = {
    "residual": residual_block,
    "inception": inception_block,
    "shuffle": shuffle_block,
    "mlp": mlp,
}


def saved(tmp_path: Path, name: str) -> tuple[str, onnx.ModelProto]:
    m = MODELS[name]()
    path = tmp_path / f"{name}.onnx"
    onnx.save(m, path)
    return str(path), m


@pytest.mark.parametrize("name", MODELS)
def test_forward_matches_the_reference_evaluator(tmp_path: Path, name: str) -> None:
    path, m = saved(tmp_path, name)
    graph = graphstep.load(path)
    trace = graph.trace()
    x = trace.value(graph.inputs[0])
    (expected,) = ReferenceEvaluator(m).run(None, {"x": x.astype(np.float32)})
    np.testing.assert_allclose(trace.value("y"), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_gradients_match_finite_differences_along_random_directions(
    tmp_path: Path, name: str
) -> None:
    path, _ = saved(tmp_path, name)
    graph = graphstep.load(path, loss="sum(output * output)")
    trace = graph.trace()
    rng = np.random.default_rng(1)
    for leaf in [*graph.params, *graph.inputs]:
        base = graph.leaf_array(leaf)
        direction = rng.normal(size=base.shape)
        eps = 1e-6
        up = graph.trace({leaf: base + eps * direction}).loss
        down = graph.trace({leaf: base - eps * direction}).loss
        numeric = (up - down) / (2 * eps)
        grad = trace.grad(leaf)
        assert grad is not None
        analytic = float(np.sum(grad * direction))
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7), leaf


def test_the_shape_sub_graph_is_folded_away(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, "shuffle")
    graph = graphstep.load(path)
    ops = [graph.nodes[n].op for n in graph.forward_order]
    assert ops[:4] == ["conv2d", "reshape", "transpose", "reshape"]
    assert graph.nodes["r"].shape == (1, 2, 2, 4, 4)
    assert graph.nodes["g"].attrs["groups"] == 2


def test_classifier_default_loss_is_cross_entropy_of_the_softmax_input(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, "mlp")
    graph = graphstep.load(path)
    trace = graph.trace()
    z = trace.value("z")
    top = z.argmax(axis=1)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    assert trace.loss == pytest.approx(-log_p[[0, 1], top].mean())
    assert np.abs(trace.grad("w1")).max() > 0


def test_the_initializers_are_params_and_the_input_is_an_input(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, "residual")
    graph = graphstep.load(path)
    assert graph.inputs == ["x"]
    assert set(graph.params) == {"w1", "w2"} | {
        f"bn{i}_{k}" for i in (1, 2) for k in ("g", "b", "m", "v")
    }
    assert graph.sources["bn1_g"] == "bn1.g"
