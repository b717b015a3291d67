"""The Python API misused: every mistake is a GraphstepError that says what was wrong.

Arguments of the wrong type or size, to every public entry point, and
expressions (breakpoint conditions, watches) that are huge or deeply chained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import graphstep
from graphstep.composite import Region, expansion
from graphstep.render import export_all_steps, export_html, export_svg
from graphstep.train import train

GRAPHS = Path(__file__).parent.parent / "graphs"
WEIRD: list[Any] = [None, 1.5, -1, 10**400, "", "\0", "nope", [], {1: 2}, object(), math.nan, True]


@pytest.fixture(scope="module")
def mlp() -> graphstep.Graph:
    return graphstep.load(GRAPHS / "mlp_3_4_2.yaml")


@pytest.fixture(scope="module")
def pool() -> graphstep.Graph:
    return graphstep.load(GRAPHS / "pool_4x4.yaml")


def misuses(mlp: graphstep.Graph, pool: graphstep.Graph, w: Any) -> dict[str, Callable[[], Any]]:
    s = mlp.session()
    leaf = mlp.inputs[0]
    return {
        "load": lambda: graphstep.load(w),
        "parse": lambda: graphstep.parse(w),
        "parse value": lambda: graphstep.parse("x * 2", x=w),
        "trace": lambda: mlp.trace(w),
        "trace value": lambda: mlp.trace({leaf: w}),
        "value": lambda: mlp.trace().value(w),
        "grad": lambda: mlp.trace().grad(w),
        "goto": lambda: s.goto(w),
        "train_step": lambda: s.train_step(w),
        "add_breakpoint": lambda: s.add_breakpoint(w),
        "phase": lambda: s.add_breakpoint(mlp.output, phase=w),
        "condition": lambda: s.add_breakpoint(mlp.output, condition=w),
        "toggle_breakpoint": lambda: s.toggle_breakpoint(w),
        "watch": lambda: s.watch(w),
        "state": lambda: s.state(w),
        "value_known": lambda: s.value_known(w),
        "grad_known": lambda: s.grad_known(w),
        "set_input name": lambda: s.set_input(w, 1),
        "set_input value": lambda: s.set_input(leaf, w),
        "to_svg": lambda: graphstep.to_svg(w),
        "to_svg step": lambda: graphstep.to_svg(mlp, step=w),
        "to_svg expanded": lambda: graphstep.to_svg(mlp, expanded=w),
        "to_svg rankdir": lambda: graphstep.to_svg(mlp, rankdir=w),
        "export_svg": lambda: export_svg(mlp, w),
        "export_html": lambda: export_html(mlp, w),
        "export_all_steps": lambda: export_all_steps(mlp, w),
        "expansion node": lambda: expansion(pool, pool.trace(), w),
        "expansion region": lambda: expansion(pool, pool.trace(), "m", w),
        "Region": lambda: Region(0, w),
        "Region.moved": lambda: Region().moved(w),
        "train steps": lambda: train(mlp, w),
        "train lr": lambda: train(mlp, 1, w),
    }


@pytest.mark.parametrize("w", WEIRD, ids=[repr(w)[:12] for w in WEIRD])
def test_every_misuse_is_a_graphstep_error(
    w: Any, mlp: graphstep.Graph, pool: graphstep.Graph, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    wrong = []
    for name, call in misuses(mlp, pool, w).items():
        try:
            call()
        except graphstep.GraphstepError as e:
            assert "\n" not in str(e)
        except Exception as e:  # the point: nothing else may escape
            wrong.append(f"{name}: {type(e).__name__}: {e}")
    assert wrong == []


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ("value > " + "9" * 10_000, "longer than 10,000 characters"),
        ("value > " + "9" * 4400, "Exceeds the limit"),
        ("value > " + "9" * 400, "a number too large for float64"),
        ("value" + " + 1" * 2000 + " > 0", "nested more than 64 deep"),
        ("(" * 300 + "value" + ")" * 300 + " > 0", "too many nested parentheses"),
        ("not " * 2000 + "value", "nested"),
    ],
    ids=["long", "digits", "overflow", "chain", "parentheses", "not"],
)
def test_huge_or_chained_conditions_and_watches_are_refused(
    condition: str, words: str, mlp: graphstep.Graph
) -> None:
    s = mlp.session()
    with pytest.raises(graphstep.GraphstepError, match=words):
        s.add_breakpoint(mlp.output, condition=condition)
    with pytest.raises(graphstep.GraphstepError, match=words):
        s.watch(condition.replace("value", mlp.output))


def test_a_watch_broadcasting_to_billions_of_numbers_is_refused() -> None:
    g = graphstep.load(
        "inputs:\n  a: {shape: [4096, 1]}\n  b: {shape: [1, 4096]}\n  c: {shape: [4096, 1, 1]}\n"
        "graph:\n  f: sum(a) + sum(b) + sum(c)\n"
    )
    s = g.session()
    s.watch("a * b")  # 16.7 million numbers: allowed
    s.watch("a * b * c")
    s.goto(s.timeline.end)
    with pytest.raises(graphstep.GraphstepError, match="would give 68,719,476,736 numbers"):
        s.watch_values()


def test_region_written_as_the_readme_writes_it() -> None:
    g = graphstep.load(GRAPHS / "conv_32x32x3.yaml")
    conv = next(n for n in g.order if g.nodes[n].op == "conv2d")
    region = Region(2, 4, 8)
    assert region.channel == (2,)
    drawn = expansion(g, g.trace(), conv, region.moved(1, 1))
    assert (2, 5, 9) in drawn.windows and f"{conv}[2,5,9]" in drawn.graph


def test_back_is_the_inverse_of_step_at_every_position() -> None:
    g = graphstep.load(GRAPHS / "pool_4x4.yaml")
    s = g.session()
    seen = []
    while True:
        here = (s.position, s.inner)
        seen.append(here)
        s.step()
        s.back()
        assert (s.position, s.inner) == here
        s.step_into() if s.inner is None and s.timeline.inner_steps(s.position) else s.step()
        if (s.position, s.inner) == here:
            break
    assert len(seen) > 10


def dynamic_model(tmp_path: Path) -> str:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return str(path)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"dims": {"batch": "8"}}, "dimension 'batch' must be a whole number from 1 to"),
        ({"dims": {"batch": 0}}, "not 0"),
        ({"dims": {"batch": -2}}, "not -2"),
        ({"dims": {"batch": 1.5}}, "not 1.5"),
        ({"dims": {"batch": True}}, "not True"),
        ({"dims": {"batch": 2**63}}, "not a larger number"),
        ({"dims": {"batch": 10**5000}}, "not a larger number"),
        ({"dims": {1: 2}}, "dims names a dimension by its text, not an int"),
        ({"dims": [("batch", 2)]}, "dims maps dimension names to sizes, not a list"),
        ({"dims": "batch=2"}, "dims maps dimension names to sizes, not a str"),
        ({"loss": 123}, "loss is an expression over the model's outputs (text), not an int"),
        ({"loss": ["sum(y)"]}, "not a list"),
    ],
)
def test_load_checks_an_onnx_models_dims_and_loss(
    tmp_path: Path, options: dict[str, Any], words: str
) -> None:
    with pytest.raises(graphstep.GraphstepError) as caught:
        graphstep.load(dynamic_model(tmp_path), **options)
    assert words in str(caught.value)


def test_load_takes_good_dims(tmp_path: Path) -> None:
    graph = graphstep.load(dynamic_model(tmp_path), dims={"batch": 4}, loss="sum(output)")
    assert graph.trace().value("x").shape == (4, 3)
