"""ONNX models: the scopes in their node names (`/layer1/layer1.0/conv1/MatMul`) as groups,
collapsed like block calls and module calls until expanded."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from test_tui import drive, running, settle

import graphstep
from graphstep import cli
from graphstep.importers import ModelOptions
from graphstep.importers.groups import ModuleGroup, scope_groups
from graphstep.importers.onnx import load_onnx
from graphstep.limits import MAX_SCOPE_DEPTH
from graphstep.tui.graph_view import GraphView

WIDTH = 4
BLOCK = [  # (scope, op, inputs, output) of one residual block, `{p}` its prefix, `{x}` its input
    ("conv1/MatMul", "MatMul", ["{x}", "{p}_w1"], "{p}_mm1"),
    ("relu/Relu", "Relu", ["{p}_mm1"], "{p}_r1"),
    ("conv2/MatMul", "MatMul", ["{p}_r1", "{p}_w2"], "{p}_mm2"),
    ("Constant", "Constant", [], "{p}_half"),
    ("Mul", "Mul", ["{p}_mm2", "{p}_half"], "{p}_scaled"),
    ("Add", "Add", ["{p}_scaled", "{x}"], "{p}_sum"),
    ("relu_1/Relu", "Relu", ["{p}_sum"], "{p}_out"),
]


def resnetish(path: Path, named: bool = True) -> Path:
    """x → layer1.0 → layer1.1 → fc, then a head whose two ops are both read outside it."""
    rng = np.random.default_rng(0)
    nodes, weights = [], []
    x = "x"
    for k in range(2):
        p = f"l{k}"
        for scope, op, ins, out in BLOCK:
            name = f"/layer1/layer1.{k}/{scope}" if named else ""
            attrs = {}
            if op == "Constant":
                attrs["value"] = numpy_helper.from_array(np.asarray(0.5, np.float32))
            inputs = [i.format(p=p, x=x) for i in ins]
            nodes.append(helper.make_node(op, inputs, [out.format(p=p)], name=name, **attrs))
        for w in ("w1", "w2"):
            array = rng.normal(size=(WIDTH, WIDTH)).astype(np.float32)
            weights.append(numpy_helper.from_array(array, f"{p}_{w}"))
        x = f"{p}_out"
    # as PyTorch's exporter reads a deduplicated initializer: through an Identity in no scope
    weights[-1].name = "l1_w2_init"
    nodes.insert(0, helper.make_node("Identity", ["l1_w2_init"], ["l1_w2"], name="Identity_0"))
    weights += [
        numpy_helper.from_array(rng.normal(size=(WIDTH, 3)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(rng.normal(size=(3,)).astype(np.float32), "fc_b"),
    ]
    nodes += [
        helper.make_node("Gemm", [x, "fc_w", "fc_b"], ["logits"], name="/fc/Gemm" * named),
        helper.make_node("Relu", ["logits"], ["pos"], name="/head/Relu" * named),
        helper.make_node("Sigmoid", ["logits"], ["gate"], name="/head/Sigmoid" * named),
        helper.make_node("Mul", ["pos", "gate"], ["y"], name="/Mul" * named),
    ]
    graph = helper.make_graph(
        nodes,
        "resnetish",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def block_entries(k: int) -> tuple[str, ...]:
    return tuple(f"l{k}_{e}" for e in ("mm1", "r1", "mm2", "scaled", "sum", "out"))


def test_a_scope_with_one_exit_is_a_group_named_by_its_last_segment(tmp_path: Path) -> None:
    imported = load_onnx(str(resnetish(tmp_path / "m.onnx")), ModelOptions())
    assert imported.groups == (
        # layer1's exit is also layer1.1's: the outer scope takes it, as for PyTorch modules
        ModuleGroup("l1_out", "layer1", block_entries(0) + block_entries(1)),
        ModuleGroup("l0_out", "layer1.0", block_entries(0)),
    )  # head (two exits), fc and conv1 (one entry each) are none; the Constants are in none
    assert imported.data == {"x"}
    graph = imported.graph()
    assert graph.calls == {"l1_out": ("layer1", ("x",)), "l0_out": ("layer1.0", ("x",))}

    def nodes_of(k: int) -> set[str]:  # the block's entries' nodes: `l0_scaled.1` is its 0.5
        return {n for n in graph.order if graph.nodes[n].entry in block_entries(k)}

    assert "l0_scaled.1" in nodes_of(0)
    assert set(graph.groups["l0_out"]) == nodes_of(0) | {"l0_w1", "l0_w2"}
    assert set(graph.groups["l1_out"]) == nodes_of(0) | nodes_of(1) | {
        "l0_w1",
        "l0_w2",
        "l1_w1",
        "l1_w2",  # the Identity, made of a weight alone, goes with its only reader
        "l1_w2_init",
    }
    assert graph.nodes["l0_w1"].group == "l0_out"  # its weights inside the innermost group
    assert graph.nodes["l1_mm1"].group == "l1_out"
    assert graph.nodes["fc_w"].group is None and graph.nodes["pos"].group is None
    assert "logits" not in graph.groups and "pos" not in graph.groups


def test_the_rule_on_its_own() -> None:
    scopes = {"a": ("s",), "b": ("s",), "c": ("t",), "d": ("t",), "e": ()}
    readers = {"a": ["b"], "b": ["c", "d"], "c": ["e"], "d": ["e"]}
    assert scope_groups(scopes, readers, frozenset({"e"})) == (
        ModuleGroup("b", "s", ("a", "b")),
    )  # t has two exits
    assert scope_groups(scopes, readers, frozenset({"a", "e"})) == ()  # s now has two
    whole = {"a": ("m",), "b": ("m",)}
    assert scope_groups(whole, {"a": ["b"]}, frozenset({"b"})) == ()  # the model itself
    odd = {"a": ("x[red]\x1b\n",), "b": ("x[red]\x1b\n",), "c": ()}
    (group,) = scope_groups(odd, {"a": ["b"], "b": ["c"]}, frozenset({"c"}))
    assert group.module == "x_red_"  # shown on a box: only plain characters


def test_the_numbers_do_not_change_with_the_groups(tmp_path: Path) -> None:
    with_scopes = graphstep.load(resnetish(tmp_path / "named.onnx"))
    without = graphstep.load(resnetish(tmp_path / "plain.onnx", named=False))
    assert with_scopes.groups and not without.groups
    x = np.array([[1.0, 0.5, -0.3, 0.8]])
    a, b = with_scopes.trace({"x": x}), without.trace({"x": x})
    w = {
        t.name: numpy_helper.to_array(t).astype(np.float64)
        for t in onnx.load(str(tmp_path / "named.onnx")).graph.initializer
    }
    w["l1_w2"] = w.pop("l1_w2_init")
    h = x
    for k in range(2):
        r = np.maximum(h @ w[f"l{k}_w1"], 0.0)
        h = np.maximum(0.5 * (r @ w[f"l{k}_w2"]) + h, 0.0)
    logits = h @ w["fc_w"] + w["fc_b"]
    np.testing.assert_allclose(a.value("y"), np.maximum(logits, 0) / (1 + np.exp(-logits)))
    for name in without.order:
        np.testing.assert_array_equal(a.value(name), b.value(name))
        ga, gb = a.grad(name), b.grad(name)
        assert (ga is None) == (gb is None)
        if ga is not None and gb is not None:
            np.testing.assert_array_equal(ga, gb)
    assert np.abs(np.asarray(a.grad("l0_w1"))).sum() > 0


def test_convert_writes_the_model_without_groups(tmp_path: Path) -> None:
    model = resnetish(tmp_path / "m.onnx")
    out = tmp_path / "m.yaml"
    assert cli.main(["convert", str(model), "-o", str(out)]) == cli.OK
    assert graphstep.load(out).groups == {}
    assert float(graphstep.load(out).trace().value("loss")) == float(
        graphstep.load(model).trace().value("loss")
    )


def test_one_step_as_svg_shows_the_collapsed_box(tmp_path: Path) -> None:
    out = tmp_path / "step.svg"
    model = str(resnetish(tmp_path / "m.onnx"))
    assert cli.main(["export", model, "--step", "1", "-o", str(out)]) == cli.OK
    svg = out.read_text(encoding="utf-8")
    titles = set(re.findall(r"<title>([^<→]*)</title>", svg))
    assert {"x", "l1_out", "fc_w", "logits", "pos", "gate", "y"} <= titles
    assert not titles & {"l0_out", "l0_mm1", "l1_mm1", "l0_w1", "l1_w2"}  # inside the box
    assert "layer1(x) = [[" in svg and "(block call: 13 nodes inside)" in svg
    # the box counts what the step steps through: the 13 ops, not the 6 weights and
    # constants grouped with them
    assert "block call · 13 nodes" in svg and "· 19 nodes" not in svg


@drive
async def test_the_tui_draws_a_scope_as_one_box_until_x_expands_it(tmp_path: Path) -> None:
    graph = graphstep.load(resnetish(tmp_path / "m.onnx"))
    async with running(graph) as pilot:
        view = pilot.app.query_one(GraphView)
        assert view.graph_layout is not None
        boxes = set(view.graph_layout.boxes)
        assert "l1_out" in boxes and "logits" in boxes
        assert not boxes & {"l0_out", "l0_mm1", "l1_mm1", "l0_w1"}
        await pilot.press("n")
        await settle(pilot)
        assert pilot.app.session.current.node == "l1_out"
        assert "layer1(x)" in pilot.app.session.current.text
        await pilot.press("x")
        await settle(pilot)
        assert pilot.app.expanded == {"l1_out"}
        boxes = set(view.graph_layout.boxes)
        assert {"l0_out", "l1_mm1", "l1_w1", "l1_out"} <= boxes
        assert not boxes & {"l0_mm1", "l0_w1"}  # layer1.0 stays collapsed inside layer1


def test_scopes_past_the_depth_limit_are_flat(tmp_path: Path) -> None:
    """A scope inside a scope … 30 deep, each level with an exit of its own: the first
    MAX_SCOPE_DEPTH levels are groups, the deeper ones are not looked at."""
    deep = 30
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="/s" * deep + "/A"),
        helper.make_node("Relu", ["a"], [f"w{deep}"], name="/s" * deep + "/B"),
    ]
    for d in range(deep - 1, 0, -1):
        nodes.append(helper.make_node("Relu", [f"w{d + 1}"], [f"w{d}"], name="/s" * d + "/W"))
    nodes.append(helper.make_node("Relu", ["w1"], ["y"], name="Final"))
    graph = helper.make_graph(
        nodes,
        "deep",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    path = tmp_path / "deep.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    groups = load_onnx(str(path), ModelOptions()).groups
    assert MAX_SCOPE_DEPTH == 16
    assert [g.call for g in groups] == [f"w{d}" for d in range(1, MAX_SCOPE_DEPTH + 1)]
    assert {g.module for g in groups} == {"s"}
    assert len(groups[-1].members) == 2 + deep - MAX_SCOPE_DEPTH


def test_tensorflow_names_without_a_leading_slash(tmp_path: Path) -> None:
    """`model/dense/MatMul`: `model` holds the whole model and is no group; each dense is."""
    rng = np.random.default_rng(1)
    weights = [
        numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
        for name, shape in [("k0", (3, 3)), ("b0", (3,)), ("k1", (3, 2)), ("b1", (2,))]
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "k0"], ["m0"], name="model/dense/MatMul"),
        helper.make_node("Add", ["m0", "b0"], ["a0"], name="model/dense/BiasAdd"),
        helper.make_node("Relu", ["a0"], ["r0"], name="model/dense/Relu"),
        helper.make_node("MatMul", ["r0", "k1"], ["m1"], name="model/dense_1/MatMul"),
        helper.make_node("Add", ["m1", "b1"], ["y"], name="model/dense_1/BiasAdd"),
    ]
    graph = helper.make_graph(
        nodes,
        "tf",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        weights,
    )
    path = tmp_path / "tf.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    imported = load_onnx(str(path), ModelOptions())
    assert imported.groups == (
        ModuleGroup("r0", "dense", ("m0", "a0", "r0")),
        ModuleGroup("y", "dense_1", ("m1", "y")),
    )
    g = imported.graph()
    assert g.calls == {"r0": ("dense", ("x",)), "y": ("dense_1", ("r0",))}
    assert {"k0", "b0"} <= set(g.groups["r0"]) and {"k1", "b1"} <= set(g.groups["y"])
