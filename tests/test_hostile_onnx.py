"""Hostile ONNX models: what a review of the importer found, each one line and exit 2.

Malformed nodes (a missing attribute, a list too short, a rank of 0), constants that
read external files or ask for gigabytes from a few bytes, attribute lists built
without a bound, weights read before their total was measured.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_onnx import run, save, tensor

import graphstep
from graphstep import GraphstepError
from graphstep.importers import onnx as onnx_importer
from graphstep.limits import set_max_numbers


@pytest.fixture
def budget() -> Iterator[None]:
    """A budget of 1,000 numbers, as `--max-numbers 1000` sets it."""
    set_max_numbers(1000)
    yield
    set_max_numbers(None)


def refused(path: str) -> str:
    with pytest.raises(GraphstepError) as e:
        graphstep.load(path)
    return str(e.value)


@pytest.mark.parametrize(
    ("node", "x", "said"),
    [
        pytest.param(
            helper.make_node("MaxPool", ["x"], ["y"], name="pool"),
            (1, 1, 4, 4),
            "node 'pool' (MaxPool): it has no attribute or input 'kernel_shape'",
            id="maxpool-without-kernel",
        ),
        pytest.param(
            helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2]),
            (1, 1, 4, 4),
            "node 'y' (MaxPool): its attributes or inputs do not fit the operator (IndexError",
            id="kernel-too-short",
        ),
        pytest.param(
            helper.make_node("Concat", ["x", "x"], ["y"]),
            (2, 2),
            "node 'y' (Concat): it has no attribute or input 'axis'",
            id="concat-without-axis",
        ),
        pytest.param(
            helper.make_node("LRN", ["x"], ["y"]),
            (1, 2, 3, 3),
            "node 'y' (LRN): it has no attribute or input 'size'",
            id="lrn-without-size",
        ),
        pytest.param(
            helper.make_node("Softmax", ["x"], ["y"]),
            (),
            "node 'y' (Softmax): its attributes or inputs do not fit the operator",
            id="softmax-of-a-scalar",
        ),
    ],
)
def test_a_malformed_node_is_one_line_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    node: onnx.NodeProto,
    x: tuple[int, ...],
    said: str,
) -> None:
    opset = 11 if node.op_type == "Softmax" else 17
    path = save(tmp_path / "m.onnx", [node], [tensor("x", *x)], [tensor("y", *x)], opset=opset)
    assert said in refused(path)
    code, out, err = run(["run", path], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"graphstep: error: {path}: {said[:20]}")
    assert "onnx.checker" in err  # the hint: what says more


def external(name: str, size: int, location: str) -> TensorProto:
    """A float tensor of `size` numbers whose data is said to be in the file `location`."""
    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[size])
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", location
    return t


def constant_from_file(tmp_path: Path, location: str) -> str:
    value = external("v", 4, location)
    nodes = [
        helper.make_node("Constant", [], ["c"], value=value),
        helper.make_node("Add", ["x", "c"], ["y"]),
    ]
    return save(tmp_path / "m.onnx", nodes, [tensor("x", 4)], [tensor("y", 4)])


@pytest.mark.parametrize("location", ["secret.bin", "../secret.bin", "/etc/passwd"])
def test_a_constant_node_never_reads_an_external_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    (tmp_path / "secret.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    (tmp_path / "model").mkdir()
    path = constant_from_file(tmp_path / "model", location)
    monkeypatch.chdir(tmp_path)  # where onnx would look for a relative location
    said = refused(path)
    assert "node 'c' (Constant): its attribute 'value' keeps its tensor in an external file" in said


def test_text_constants_are_refused_before_they_are_multiplied_out(tmp_path: Path) -> None:
    text = helper.make_tensor("s", TensorProto.STRING, [1], vals=[b"A"])
    times = numpy_helper.from_array(np.array([500_000_000], dtype=np.int64), "n")
    nodes = [
        helper.make_node("Constant", [], ["s"], value=text),
        helper.make_node("Constant", [], ["n"], value=times),
        helper.make_node("Mul", ["s", "n"], ["sn"]),
        helper.make_node("Shape", ["sn"], ["shape"]),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    path = save(tmp_path / "m.onnx", nodes, [tensor("x", 1)], [tensor("y", 1)])
    assert "node 's' (Constant) makes text values; graphstep folds real numbers only" in (
        refused(path)
    )


def gather_of(tmp_path: Path, rows: int, picks: int) -> str:
    """A Gather of `picks` rows of a (rows, 4096) constant: picks × 4096 numbers from a few."""
    shape = numpy_helper.from_array(np.array([rows, 4096], dtype=np.int64), "shape")
    index = numpy_helper.from_array(np.zeros(picks, dtype=np.int64), "index")
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=shape),
        helper.make_node("ConstantOfShape", ["shape"], ["table"]),
        helper.make_node("Constant", [], ["index"], value=index),
        helper.make_node("Gather", ["table", "index"], ["picked"], name="gather"),
        helper.make_node("Relu", ["x"], ["y"]),  # the data flow; the rest is folded at import
    ]
    return save(tmp_path / "m.onnx", nodes, [tensor("x", 2)], [tensor("y", 2)])


def test_folded_constants_are_measured_before_they_are_made(tmp_path: Path) -> None:
    try:
        set_max_numbers(10_000_000)  # a tensor may then hold 16,777,216
        said = refused(gather_of(tmp_path, 1, 1 << 14))  # 67 million numbers from 300 bytes
        assert "node 'gather' (Gather): Gather would hold 67,108,864 numbers" in said
        set_max_numbers(10_000)  # within a tensor's limit, over the budget with the table
        said = refused(gather_of(tmp_path, 1, 2))
        assert "node 'gather' (Gather): Gather: the model's folded constants would hold" in said
        assert "12,292 numbers; the limit is 10,000" in said
    finally:
        set_max_numbers(None)


def test_folded_constants_count_together(tmp_path: Path, budget: None) -> None:
    nodes = [
        helper.make_node(
            "Constant", [], [f"s{i}"], value=numpy_helper.from_array(np.array([400]), f"s{i}")
        )
        for i in range(3)
    ]
    nodes += [helper.make_node("ConstantOfShape", [f"s{i}"], [f"c{i}"]) for i in range(3)]
    nodes += [helper.make_node("Relu", ["x"], ["y"])]
    path = save(tmp_path / "m.onnx", nodes, [tensor("x", 2)], [tensor("y", 2)])
    said = refused(path)  # 400 and 400 fit in 1,000; the third does not
    assert "node 'c2' (ConstantOfShape)" in said and "would hold 1,203 numbers" in said


def test_an_attribute_list_is_measured_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_importer, "MAX_ATTRIBUTE_VALUES", 100)
    nodes = [helper.make_node("Relu", ["x"], ["y"], junk=list(range(101)))]
    path = save(tmp_path / "m.onnx", nodes, [tensor("x", 2)], [tensor("y", 2)])
    assert "node 'y' (Relu): its attribute 'junk' lists 101 values; at most 100" in refused(path)
    nodes = [helper.make_node("Relu", ["x"], ["y"], junk=list(range(100)))]
    assert graphstep.load(save(tmp_path / "m.onnx", nodes, [tensor("x", 2)], [tensor("y", 2)]))


def test_external_weights_are_measured_together_before_any_is_read(
    tmp_path: Path, budget: None
) -> None:
    weights = [external(f"w{i}", 400, "missing.bin") for i in range(3)]  # never opened
    nodes = [helper.make_node("Sum", ["x", "w0", "w1", "w2"], ["y"])]
    path = save(tmp_path / "m.onnx", nodes, [tensor("x", 400)], [tensor("y", 400)], weights)
    said = refused(path)
    assert "the model's weights hold 1,200 numbers" in said and "missing" not in said


def test_an_initializer_named_twice_is_an_error(tmp_path: Path) -> None:
    inits = [
        numpy_helper.from_array(np.ones(2, dtype=np.float32), "dup"),
        numpy_helper.from_array(np.ones(3, dtype=np.float32), "dup"),
    ]
    nodes = [helper.make_node("Add", ["x", "dup"], ["y"])]
    path = save(tmp_path / "m.onnx", nodes, [tensor("x", 2)], [tensor("y", 2)], inits)
    assert "initializer 'dup' is defined twice" in refused(path)


def test_a_loss_over_an_input_says_what_a_loss_is_made_of(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    path = save(tmp_path / "m.onnx", nodes, [tensor("x", 2)], [tensor("y", 2)])
    with pytest.raises(GraphstepError) as e:
        graphstep.load(path, loss="sum(x)")
    assert "'x' is an input or a weight of the model; a loss is made of its outputs" in str(e.value)


def test_folding_0_by_0_warns_nothing_and_folds_nan(tmp_path: Path) -> None:
    zero = numpy_helper.from_array(np.array([0.0], dtype=np.float32), "zero")
    nodes = [
        helper.make_node("Constant", [], ["zero"], value=zero),
        helper.make_node("Div", ["zero", "zero"], ["nan"]),
        helper.make_node("Add", ["x", "nan"], ["y"]),
    ]
    path = save(tmp_path / "m.onnx", nodes, [tensor("x", 1)], [tensor("y", 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would be an extra stderr line
        graph = graphstep.load(path)
    assert np.isnan(graph.trace().value("y")).all()


def test_a_loss_that_is_not_a_scalar_is_placed_on_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    path = save(tmp_path / "m.onnx", nodes, [tensor("x", 2)], [tensor("y", 2)])
    code, _, err = run(["run", path, "--loss", "output * 2"], capsys)
    assert code == 2
    assert err == (
        "graphstep: error: --loss:1:1: the loss has shape [2]; backprop starts from a scalar "
        "(hint: reduce it, e.g. sum(output * 2) or mean(output * 2))\n"
    )
