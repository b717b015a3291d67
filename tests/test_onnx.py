"""ONNX models from the command line and the API: recognised by content, inputs and dims,
the loss, convert to YAML + .npz, and hostile models refused in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphstep
from graphstep.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def tensor(name: str, *shape: int | str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def save(path: Path, nodes, inputs, outputs, inits=(), opset: int = 17) -> str:  # type: ignore[no-untyped-def]
    graph = helper.make_graph(nodes, "net", inputs, outputs, list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return str(path)


def classifier(tmp_path: Path, name: str = "model.onnx") -> str:
    """scores = x @ W.1 + b, probabilities = softmax(scores); x is (batch, 3)."""
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2) / 10, "W.1")
    b = numpy_helper.from_array(np.array([0.5, -0.5], dtype=np.float32), "b")
    nodes = [
        helper.make_node("MatMul", ["input.1", "W.1"], ["/fc/MatMul"]),
        helper.make_node("Add", ["/fc/MatMul", "b"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["probabilities"], axis=-1),
    ]
    inputs = [tensor("input.1", "batch", 3)]
    return save(tmp_path / name, nodes, inputs, [tensor("probabilities", "batch", 2)], [w, b])


def test_names_become_identifiers_one_to_one_and_keep_their_source(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Relu", ["a.b"], ["a_b"]),
        helper.make_node("Neg", ["a_b"], ["sum"]),
        helper.make_node("Abs", ["sum"], ["1x"]),
    ]
    path = save(tmp_path / "n.onnx", nodes, [tensor("a.b", 2)], [tensor("1x", 2)])
    graph = graphstep.load(path)
    assert graph.inputs == ["a_b"]
    assert {"a_b_2", "sum_", "t_1x"} <= set(graph.nodes)
    assert graph.sources == {"a_b": "a.b", "a_b_2": "a_b", "sum_": "sum", "t_1x": "1x"}


def test_model_is_recognised_by_content_whatever_its_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(classifier(tmp_path))
    renamed = tmp_path / "weights.bin"
    path.rename(renamed)
    code, out, err = run(["run", str(renamed), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["nodes"]["input_1"]["source"] == "input.1"
    assert report["nodes"]["scores"]["shape"] == [1, 2]
    assert "input input_1 [1, 3] has no value" in err
    assert "cross-entropy of scores against its top class" in err


def test_default_loss_is_cross_entropy_against_the_top_class(tmp_path: Path) -> None:
    graph = graphstep.load(classifier(tmp_path), dims={"batch": 2})
    trace = graph.trace({"input_1": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])})
    scores = trace.value("scores")  # [[0.5, -0.4], [0.9, 0.0]]
    np.testing.assert_allclose(scores, [[0.5, -0.4], [0.9, 0.0]], atol=1e-7)
    top = np.log(np.exp(scores).sum(axis=1)) - scores.max(axis=1)
    assert trace.loss == pytest.approx(top.mean())
    assert np.abs(trace.grad("W_1")).sum() > 0  # never the zero gradient of sum(softmax)


def test_loss_option_takes_an_expression_over_the_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = classifier(tmp_path)
    graph = graphstep.load(path, loss="sum(output * output)")
    trace = graph.trace()
    assert trace.loss == pytest.approx(float(np.sum(trace.value("probabilities") ** 2)))
    code, _, err = run(["run", path, "--loss", "sum(scores)"], capsys)
    assert code == 0, err
    code, _, err = run(["run", path, "--loss", "sum(probs)"], capsys)
    assert code == 2
    assert "graphstep: error: --loss:1:5: 'probs' is not a tensor of the model" in err
    assert "probabilities" in err


def test_dim_sets_a_dynamic_dimension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = classifier(tmp_path)
    code, out, err = run(["run", path, "--dim", "batch=4", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["nodes"]["input_1"]["shape"] == [4, 3]
    code, _, err = run(["run", path, "--dim", "time=4"], capsys)
    assert code == 2
    assert "no dynamic dimension of that name (hint: its dynamic dimensions: batch)" in err


def test_set_takes_npy_and_tensor_proto_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = classifier(tmp_path)
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "x.pb").write_bytes(numpy_helper.from_array(x).SerializeToString())
    for given in ("x.npy", "x.pb"):
        code, out, err = run(
            ["run", path, "--set", f"input_1={tmp_path / given}", "--json"], capsys
        )
        assert code == 0, err
        assert json.loads(out)["nodes"]["input_1"]["value"] == [[1.0, 2.0, 3.0]]
        assert "has no value" not in err
    np.save(tmp_path / "wrong.npy", np.zeros((2, 2)))
    code, _, err = run(["run", path, "--set", f"input_1={tmp_path / 'wrong.npy'}"], capsys)
    assert code == 2
    assert "the value has shape [2, 2]; input_1 is [1, 3]" in err
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = run(["run", path, "--set", f"input_1={tmp_path / 'objects.npy'}"], capsys)
    assert code == 2
    assert "holds object values, not numbers" in err


def test_convert_writes_yaml_and_npz_that_give_the_same_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = classifier(tmp_path)
    out = tmp_path / "out" / "model.yaml"
    out.parent.mkdir()
    code, _, err = run(["convert", path, "-o", str(out)], capsys)
    assert code == 0, err
    assert (tmp_path / "out" / "model.npz").is_file()
    assert "file: model.npz" in out.read_text()
    assert "# W_1: W.1" in out.read_text()
    imported = graphstep.load(path).trace()
    converted = graphstep.load(out).trace()
    assert converted.loss == imported.loss
    np.testing.assert_array_equal(converted.grad("W_1"), imported.grad("W_1"))


def test_stored_leaf_reads_only_from_the_graph_files_folder(tmp_path: Path) -> None:
    np.savez(tmp_path / "w.npz", W=np.ones((2, 2)))
    inside = tmp_path / "g"
    inside.mkdir()
    graph_file = inside / "g.yaml"
    graph_file.write_text("params:\n  W: {file: ../w.npz, key: W}\ngraph:\n  f: sum(W)\n")
    with pytest.raises(graphstep.GraphstepError, match="outside the graph file's folder"):
        graphstep.load(graph_file)
    np.savez(inside / "w.npz", W=np.ones((2, 2)))
    graph_file.write_text("params:\n  W: {file: w.npz, key: V}\ngraph:\n  f: sum(W)\n")
    with pytest.raises(graphstep.GraphstepError, match=r"'V' is not in w\.npz.*its arrays: W"):
        graphstep.load(graph_file)
    graph_file.write_text("params:\n  W: {file: w.npz}\ngraph:\n  f: sum(W * W)\n")
    assert graphstep.load(graph_file).trace().loss == 4.0


def test_stored_leaf_is_measured_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.savez(tmp_path / "w.npz", W=np.ones((2, 3)))
    graph_file = tmp_path / "g.yaml"
    graph_file.write_text("params:\n  W: {file: w.npz}\ngraph:\n  f: sum(W)\n")
    code, out, err = run(["summary", str(graph_file), "--max-numbers", "10"], capsys)
    assert code == 0, err
    assert "W" in out and "6" in out
    code, _, err = run(["run", "--json", str(graph_file), "--max-numbers", "10"], capsys)
    assert code == 2
    assert "the limit is 10" in err and "--max-numbers N raises the limit" in err


# ---------------------------------------------------------------------------
# hostile models


def error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphstep: error: ")
    return lines[0]


def test_truncated_protobuf_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = Path(classifier(tmp_path)).read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    line = error_line(["run", str(cut)], capsys)
    assert "the protobuf is truncated or malformed" in line


def test_unsupported_operators_are_listed_with_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = [
        helper.make_node("Erf", ["x"], ["e1"], name="first_erf"),
        helper.make_node("HardSwish", ["e1"], ["h"]),
        helper.make_node("Erf", ["h"], ["y"]),
    ]
    path = save(tmp_path / "u.onnx", nodes, [tensor("x", 2)], [tensor("y", 2)])
    line = error_line(["validate", path], capsys)
    assert "unsupported ONNX operators: Erf ×2 (first: 'first_erf'), HardSwish ×1" in line


def test_an_attribute_standing_for_a_functions_attribute_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = helper.make_node("LeakyRelu", ["x"], ["y"])
    alpha = node.attribute.add()
    alpha.name, alpha.ref_attr_name, alpha.type = "alpha", "slope", onnx.AttributeProto.FLOAT
    path = save(tmp_path / "r.onnx", [node], [tensor("x", 2)], [tensor("y", 2)])
    line = error_line(["run", path], capsys)
    assert "(LeakyRelu): its attribute 'alpha' stands for 'slope' of an enclosing function" in line


def test_attributes_are_read_as_onnx_reads_them() -> None:
    from graphstep.importers.onnx import _attributes, _nodes

    weights = numpy_helper.from_array(np.arange(3, dtype=np.float32), "t")
    body = helper.make_graph([], "body", [], [])
    node = helper.make_node(
        "Any", ["x"], ["y"], f=0.5, i=-3, s="same_upper", t=weights, g=body,
        floats=[1.5, -2.0], ints=[1, 0, -1], strings=["a", "é"], tensors=[weights], graphs=[body],
    )  # fmt: skip
    empty = node.attribute.add()
    empty.name = "undefined"
    graph = helper.make_graph([node], "g", [], [])
    got = _attributes(_nodes(graph)[0])
    want = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    want["s"], want["strings"] = "same_upper", ["a", "é"]
    assert got == want
    assert got["ints"] == [1, 0, -1] and got["f"] == 0.5 and got["undefined"] is None


def external(name: str, *dims: int) -> onnx.TensorProto:
    t = TensorProto()
    t.name, t.data_type = name, TensorProto.FLOAT
    t.dims.extend(dims)
    return t


def test_external_data_outside_the_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(4, dtype=np.float32).tobytes())
    folder = tmp_path / "m"
    folder.mkdir()
    for location, message in (
        ("../secret.bin", "points outside the model's folder: '../secret.bin'"),
        (str(secret), "points outside the model's folder"),
        ("missing.bin", "its external data file 'missing.bin' is missing"),
    ):
        w = external("w", 4)
        w.data_location = TensorProto.EXTERNAL
        entry = w.external_data.add()
        entry.key, entry.value = "location", location
        nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
        path = save(folder / "e.onnx", nodes, [tensor("x", 4)], [tensor("y", 4)], [w])
        assert message in error_line(["run", path], capsys)


def test_a_link_out_of_the_models_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "secret.bin").write_bytes(np.ones(4, dtype=np.float32).tobytes())
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "w.bin").symlink_to(tmp_path / "secret.bin")
    w = external("w", 4)
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", "w.bin"
    nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
    path = save(folder / "e.onnx", nodes, [tensor("x", 4)], [tensor("y", 4)], [w])
    assert "points outside the model's folder: 'w.bin'" in error_line(["run", path], capsys)


def test_external_data_beside_the_model_is_read(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    w = external("w", 4)
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    nodes = [helper.make_node("Mul", ["x", "w"], ["y"])]
    path = save(tmp_path / "e.onnx", nodes, [tensor("x", 4)], [tensor("y", 4)], [w])
    graph = graphstep.load(path)
    np.testing.assert_array_equal(graph.leaf_array("w"), [0, 1, 2, 3])


def test_a_tiny_file_asking_for_a_huge_tensor_is_refused_before_allocating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["big"]),
        helper.make_node("Add", ["x", "big"], ["y"]),
    ]
    path = save(tmp_path / "c.onnx", nodes, [tensor("x", 1)], [tensor("y", 1)], [shape])
    assert os.path.getsize(path) < 1000
    line = error_line(["run", path], capsys)
    assert "ConstantOfShape would hold 1,099,511,627,776 numbers" in line
    assert "--max-numbers" in line
    path = save(
        tmp_path / "d.onnx",
        [helper.make_node("Relu", ["x"], ["y"])],
        [tensor("x", 100000, 100000)],
        [tensor("y", 100000, 100000)],
    )
    assert "would hold 10,000,000,000 numbers" in error_line(["summary", path], capsys)


def test_a_model_over_the_size_limit_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = classifier(tmp_path)
    line = error_line(["run", "--json", path, "--dim", "batch=100", "--max-numbers", "500"], capsys)
    assert "the limit is 500" in line and "--max-numbers" in line


def test_weights_over_the_budget_are_refused_before_they_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = classifier(tmp_path)
    line = error_line(["summary", path, "--max-numbers", "5"], capsys)
    assert "the model's weights hold 8 numbers" in line and "--max-numbers" in line


def test_loss_and_dims_are_for_models_only(capsys: pytest.CaptureFixture[str]) -> None:
    line = error_line(["run", "(x + y) * z", "--loss", "f"], capsys)
    assert "--loss and --dim are for ONNX models" in line


def test_the_graph_built_while_importing_is_the_one_its_spec_builds(tmp_path: Path) -> None:
    from graphstep.graph import build
    from graphstep.importers import ModelOptions
    from graphstep.importers.onnx import load_onnx

    imported = load_onnx(classifier(tmp_path), ModelOptions(dims=(("batch", 4),)))
    assert imported.built is not None
    again = build(imported.spec)
    assert imported.built.order == again.order
    assert imported.built.nodes == again.nodes
    assert list(imported.built.nodes) == list(again.nodes)  # leaves first, as a file lists them
    assert imported.built.nodes["scores"].shape == (4, 2)


def test_a_loss_that_does_not_fit_the_outputs_is_placed_in_the_loss_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = error_line(["run", classifier(tmp_path), "--loss", "sum(output @ output)"], capsys)
    assert line.startswith("graphstep: error: --loss:1:5: matmul: "), line


def test_weights_small_and_large_are_read_exactly_and_read_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    big = rng.normal(size=(129, 128)).astype(np.float32)  # over 64 KiB: widened on its own
    small = [rng.normal(size=(128,)).astype(np.float32) for _ in range(3)]  # widened together
    inits = [numpy_helper.from_array(big, "W")]
    inits += [numpy_helper.from_array(b, f"b{k}") for k, b in enumerate(small)]
    inits.append(numpy_helper.from_array(np.array([1, 128], dtype=np.int64), "shape"))
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"])]
    for k in range(3):
        nodes.append(helper.make_node("Add", [nodes[-1].output[0], f"b{k}"], [f"a{k}"]))
    nodes.append(helper.make_node("Reshape", ["a2", "shape"], ["y"]))
    path = save(tmp_path / "w.onnx", nodes, [tensor("x", 1, 129)], [tensor("y", 1, 128)], inits)
    graph = graphstep.load(path)
    for name, want in [("W", big), *((f"b{k}", b) for k, b in enumerate(small))]:
        got = graph.leaf_array(name)
        assert got.dtype == np.float64 and got.shape == want.shape
        assert np.array_equal(got, want.astype(np.float64))
        assert not got.flags.writeable
    assert "shape" not in graph.nodes  # a shape is folded into reshape, not a leaf
    x = graph.leaf_array("x")
    expected = x @ big.astype(np.float64) + sum(b.astype(np.float64) for b in small)
    assert np.allclose(graph.trace().value("y"), expected)


def test_a_node_whose_shapes_do_not_fit_is_named_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = numpy_helper.from_array(np.ones((4, 2), dtype=np.float32), "W")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="fc")]
    path = save(tmp_path / "m.onnx", nodes, [tensor("x", 1, 3)], [tensor("y", 1, 2)], [w])
    line = error_line(["run", path], capsys)
    assert line.startswith(f"graphstep: error: {path}: node 'fc' (MatMul): matmul: a is [1, 3]")


# ---------------------------------------------------------------------------
# hostile arrays: empty ones, and .pb data that does not match its dims


def test_an_empty_stored_leaf_is_refused_where_its_header_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.savez(tmp_path / "w.npz", E=np.zeros((0,)), F=np.zeros((2, 0)))
    graph_file = tmp_path / "g.yaml"
    graph_file.write_text("inputs:\n  x: {file: w.npz, key: E}\ngraph:\n  f: mean(x)\noutput: f\n")
    line = error_line(["check", str(graph_file)], capsys)
    assert line == (
        f"graphstep: error: {graph_file}:2:13: 'E' in w.npz is empty (shape [0]) "
        "(hint: a tensor needs at least one number)"
    )
    graph_file.write_text("inputs:\n  x: {file: w.npz, key: F}\ngraph:\n  f: mean(x)\noutput: f\n")
    assert "'F' in w.npz is empty (shape [2, 0])" in error_line(
        ["summary", str(graph_file)], capsys
    )


def test_set_refuses_an_empty_array_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = classifier(tmp_path)
    np.save(tmp_path / "e.npy", np.zeros((0, 3)))
    pb = tmp_path / "e.pb"
    pb.write_bytes(numpy_helper.from_array(np.zeros((0, 3), np.float32)).SerializeToString())
    for name in ("e.npy", "e.pb"):
        line = error_line(["run", path, "--set", f"input_1={tmp_path / name}"], capsys)
        assert "is empty (shape [0, 3])" in line


def test_set_pb_data_is_compared_with_its_dims_before_it_is_expanded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = classifier(tmp_path)
    packed = TensorProto(data_type=TensorProto.INT64, dims=[1, 3])
    packed.int64_data.extend([0] * 3_000_000)  # 3 MB packed, 24 MB once expanded
    short = numpy_helper.from_array(np.ones((1, 3), np.float32))
    short.raw_data = short.raw_data[:5]
    cases = {
        "packed.pb": (packed, "holds 3,000,000 numbers of data; its dims [1, 3] need 3"),
        "short.pb": (short, "holds 5 bytes of data; its dims [1, 3] need 12"),
    }
    for name, (proto, words) in cases.items():
        (tmp_path / name).write_bytes(proto.SerializeToString())
        line = error_line(["run", path, "--set", f"input_1={tmp_path / name}"], capsys)
        assert words in line, line
    import graphstep.arrays as arrays

    def unconverted(tensor: object) -> None:
        raise AssertionError("to_array reached")

    monkeypatch.setattr(numpy_helper, "to_array", unconverted)
    with pytest.raises(graphstep.GraphstepError, match="3,000,000 numbers"):
        arrays.read_array(str(tmp_path / "packed.pb"))


def test_set_pb_file_is_measured_before_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import graphstep.arrays as arrays

    big = tmp_path / "big.pb"
    with big.open("wb") as f:  # sparse: 1 GB on paper, nothing on disk
        f.truncate(1 << 30)
    read: list[int] = []
    real_open = Path.open

    def spy(self: Path, *args: object, **kwargs: object) -> object:
        handle = real_open(self, *args, **kwargs)  # type: ignore[call-overload]
        if self == big:
            real_read = handle.read
            handle.read = lambda n=-1: read.append(n) or real_read(n)  # type: ignore[method-assign]
        return handle

    monkeypatch.setattr(Path, "open", spy)
    monkeypatch.setattr(arrays, "max_tensor_numbers", lambda: 1000)
    with pytest.raises(graphstep.GraphstepError, match="holds more than 1,016,000 bytes"):
        arrays.read_array(str(big))
    assert read == [1_016_001]


# ---------------------------------------------------------------------------
# convert: both targets checked before either is written; infinities written as numbers


def test_convert_checks_both_targets_before_writing_either(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = classifier(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "out.yaml").mkdir()
    (tmp_path / "d" / "out.npz").write_text("OLD")
    line = error_line(["convert", path, "-o", str(tmp_path / "d" / "out.yaml")], capsys)
    assert line == (
        f"graphstep: error: '{tmp_path / 'd' / 'out.yaml'}' is not a regular file "
        "(hint: give the name of a file to write)"
    )
    assert (tmp_path / "d" / "out.npz").read_text() == "OLD"
    (tmp_path / "f").mkdir()
    os.mkfifo(tmp_path / "f" / "out.npz")
    line = error_line(["convert", path, "-o", str(tmp_path / "f" / "out.yaml")], capsys)
    assert f"'{tmp_path / 'f' / 'out.npz'}' is not a regular file" in line
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["out.npz"]
    assert not (tmp_path / "f" / "out.npz").is_file()
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["out.npz", "out.yaml"]


def test_convert_follows_a_link_and_writes_files_as_open_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = classifier(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    victim = tmp_path / "elsewhere" / "model.yaml"
    victim.write_text("old\n")
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "model.yaml"
    link.symlink_to(victim)
    old_mask = os.umask(0o022)
    try:
        code, _, err = run(["convert", path, "-o", str(link)], capsys)
    finally:
        os.umask(old_mask)
    assert code == 0, err
    assert link.is_symlink() and "file: model.npz" in victim.read_text()
    archive = tmp_path / "out" / "model.npz"
    assert oct(archive.stat().st_mode & 0o777) == oct(victim.stat().st_mode & 0o777) == "0o644"
    assert graphstep.load(link).trace().loss == graphstep.load(path).trace().loss


def test_convert_writes_infinities_that_read_back_and_refuses_nan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = numpy_helper.from_array(np.eye(3, dtype=np.float32) / 4, "w")
    nodes = [
        helper.make_node("Gemm", ["x", "w"], ["g"], alpha=float("inf")),
        helper.make_node("Clip", ["x"], ["c"], min=float("-inf"), max=0.5),
        helper.make_node("Sub", ["g", "c"], ["y"]),
    ]
    x = numpy_helper.from_array(np.array([[1.0, 0.5, -2.0]], np.float32), "x")
    model = save(tmp_path / "inf.onnx", nodes, [], [tensor("y", 1, 3)], [w, x], opset=6)
    out = tmp_path / "inf.yaml"
    code, _, err = run(["convert", model, "-o", str(out)], capsys)
    assert code == 0, err
    text = out.read_text()
    assert "1e999)" in text and "low=-1e999" in text
    converted, imported = graphstep.load(out).trace(), graphstep.load(model).trace()
    np.testing.assert_array_equal(converted.value("y"), imported.value("y"))
    np.testing.assert_array_equal(converted.value("y"), [[np.inf, np.inf, -np.inf]])
    nodes[0] = helper.make_node("Gemm", ["x", "w"], ["g"], alpha=float("nan"))
    model = save(tmp_path / "nan.onnx", nodes, [], [tensor("y", 1, 3)], [w, x], opset=6)
    line = error_line(["convert", model, "-o", str(tmp_path / "nan.yaml")], capsys)
    assert "entry 'g': a NaN constant cannot be written in a graph file" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "inf.npz",
        "inf.onnx",
        "inf.yaml",
        "nan.onnx",
    ]
