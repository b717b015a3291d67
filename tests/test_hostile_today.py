"""Hostile input against what landed on 30 November: pictures of images, the overlay, the
player's page and the ONNX import's raw data."""

from __future__ import annotations

import os
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphstep
from graphstep.cli import main
from graphstep.colormap import colouring
from graphstep.drawing import edge_text
from graphstep.errors import GraphstepError
from graphstep.overlay import colour_by

GRAPHS = Path(__file__).resolve().parent.parent / "graphs"


def test_rgb_picture_of_the_largest_floats_is_black_to_white_without_overflow() -> None:
    a = np.zeros((3, 8, 8))
    a[:, 0, 0] = -1e308
    a[:, 0, 1] = 1e308
    paint = colouring(a, rgb=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = paint.apply(a)
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert out[1, 1].tolist() == [128, 128, 128]  # 0 is half way


def _onnx_model(path: Path, w: onnx.TensorProto) -> str:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def _external(**entries: str) -> onnx.TensorProto:
    w = TensorProto()
    w.name, w.data_type, w.data_location = "w", TensorProto.FLOAT, TensorProto.EXTERNAL
    w.dims.extend([2, 3])
    for key, value in entries.items():
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    return w


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ({"location": "w.bin", "offset": "abc"}, "external data is malformed: invalid literal"),
        ({"location": "w.bin", "offset": "-5"}, "external data is malformed: External data off"),
        ({"location": "w.bin", "length": "-1"}, "external data is malformed: External data len"),
        ({"location": "w\0.bin"}, "points outside the model's folder: 'w\\x00.bin'"),
        ({"location": "w.bin", "length": str(10**12)}, "24 bytes where 1,000,000,000,000 were"),
        ({"location": "w.bin", "offset": str(2**70)}, "cannot reshape array of size 0"),
    ],
)
def test_malformed_external_data_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entries: dict[str, str], says: str
) -> None:
    (tmp_path / "w.bin").write_bytes(np.arange(6, dtype="<f4").tobytes())
    path = _onnx_model(tmp_path / "m.onnx", _external(**entries))
    code = main(["run", path])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("graphstep: error: ") and err.count("\n") == 1
    assert says in err


def test_a_string_initializer_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = helper.make_tensor("w", TensorProto.STRING, [2, 3], vals=[b"a"] * 6)
    code = main(["run", _onnx_model(tmp_path / "m.onnx", w)])
    err = capsys.readouterr().err
    assert code == 2
    assert "initializer 'w' holds STRING values; graphstep reads numbers only" in err


@pytest.mark.parametrize("mode", ["bogus", "GAIN", 3, None])
def test_colour_by_an_unknown_mode_is_a_graphstep_error(mode: object) -> None:
    trace = graphstep.load(str(GRAPHS / "chain_rule.yaml")).trace()
    with pytest.raises(GraphstepError, match=r"overlay|mode"):
        colour_by(mode, trace)  # type: ignore[arg-type]


def test_an_all_zero_colour_gradient_is_mid_grey_not_black() -> None:
    zero = np.zeros((3, 8, 8))
    out = colouring(zero, signed=True, rgb=True).apply(zero)
    assert out.reshape(-1, 3).tolist() == [[128, 128, 128]] * 64


def test_an_empty_conv_weight_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])],
        "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((0, 3, 3, 3), np.float32), "w")],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code = main(["export", str(path), "-o", str(tmp_path / "m.svg")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[-1].startswith("graphstep: error: ")
    assert "reads 'w', which is empty (shape [0, 3, 3, 3])" in err
    assert not (tmp_path / "m.svg").exists()


def test_an_edge_norm_past_1e154_is_finite_and_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert edge_text(np.array([1e200, 1e200])) == "‖·‖ 1.4e+200"
        assert edge_text(np.array([1e308, 1e308])) == "‖·‖ 1.4e+308"  # 1.41e308 < max
        assert edge_text(np.array([3.0, 4.0])) == "‖·‖ 5"


@contextmanager
def _alarm() -> Iterator[None]:
    """A read that waits for a fifo's writer fails after 20 s instead of hanging the suite."""

    def waited(*_: object) -> None:
        raise RuntimeError("graphstep waited for the fifo's writer")

    before = signal.signal(signal.SIGALRM, waited)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)


def test_external_data_in_a_fifo_is_refused_not_waited_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(tmp_path / "w.bin")  # opening it to read would wait for a writer forever
    path = _onnx_model(tmp_path / "m.onnx", _external(location="w.bin"))
    with _alarm():
        code = main(["run", path])
    err = capsys.readouterr().err
    assert code == 2
    assert "initializer 'w': its external data 'w.bin' is not a regular file" in err


def test_a_fifo_given_as_an_array_is_refused_not_waited_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo("x.npy")
    os.mkfifo("w.npz")
    Path("g.yaml").write_text("inputs:\n  x: {file: w.npz}\ngraph:\n  f: sum(x)\noutput: f\n")
    with _alarm():
        assert main(["run", str(GRAPHS / "chain_rule.yaml"), "--set", "x=x.npy"]) == 2
        assert main(["run", "g.yaml"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "graphstep: error: --set x=x.npy: 'x.npy' is not a regular file",
        "graphstep: error: g.yaml:2:13: 'w.npz' is not a regular file",
    ]


def test_the_inspector_writes_out_control_characters_of_the_name_and_description() -> None:
    from graphstep.tui.inspector import _step_text

    text = 'name: "evil\\e]0;title\\a\\u202e"\ndescription: "d\\e[31m red\\u202e"\nexpr: 2 * 3\n'
    session = graphstep.load(text).session()
    shown = _step_text(session, session.timeline.at(0)).plain
    assert "evil\\x1b]0;title\\x07" in shown and "d\\x1b[31m red" in shown
    assert not any(c in shown for c in "\x1b\x07\u202e")
