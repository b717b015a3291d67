"""Every op's backward against central finite differences, from one list of cases.

A new op is tested by adding a line to CASES; test_every_op_has_a_case fails
until it is there.
"""

from __future__ import annotations

import math
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from graphstep.ops import OPS, OpError, Shape


@dataclass(frozen=True)
class Case:
    op: str
    shapes: tuple[Shape, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    positive: bool = False  # every input > 0 (log, fractional powers)
    fixed: dict[int, list[Any] | float] = field(default_factory=dict)  # class indices, boxes

    @property
    def id(self) -> str:
        shapes = ",".join("x".join(map(str, s)) or "()" for s in self.shapes)
        attrs = ",".join(f"{k}={v}" for k, v in self.attrs.items())
        return f"{self.op}[{shapes}]{'[' + attrs + ']' if attrs else ''}"


CASES = [
    Case("add", ((3, 4), (4,))),
    Case("add", ((), (2, 3))),
    Case("add", ((3, 1), (1, 4))),
    Case("sub", ((2, 3), (2, 1))),
    Case("sub", ((2,), ())),
    Case("mul", ((2, 3), ())),
    Case("mul", ((3, 1), (1, 4))),
    Case("div", ((2, 3), (3,))),
    Case("div", ((), (2, 1))),
    Case("neg", ((2, 3),)),
    Case("pow", ((2, 3),), {"p": 3.0}),
    Case("pow", ((4,),), {"p": 0.5}, positive=True),
    Case("max", ((3, 1), (1, 4))),
    Case("max", ((), ())),
    Case("min", ((2, 3), (2, 3))),
    Case("min", ((2, 3), ())),
    Case("identity", ((2, 3),)),
    Case("relu", ((3, 4),)),
    Case("relu", ((),)),
    Case("sigmoid", ((2, 3),)),
    Case("tanh", ((2, 3),)),
    Case("exp", ((5,),)),
    Case("log", ((2, 3),), positive=True),
    Case("abs", ((3, 4),)),
    Case("matmul", ((2, 3), (3, 4))),
    Case("matmul", ((4, 3), (3,))),
    Case("matmul", ((3,), (3, 2))),
    Case("matmul", ((3,), (3,))),
    Case("matmul", ((2, 2, 3), (3, 4))),
    Case("matmul", ((3,), (2, 3, 4))),
    Case("matmul", ((2, 4, 3), (3,))),
    Case("matmul", ((2, 1, 2, 3), (3, 3, 2))),
    Case("sum", ((2, 3, 4),)),
    Case("sum", ((2, 3, 4),), {"axis": 1}),
    Case("sum", ((2, 3, 4),), {"axis": [0, 2]}),
    Case("sum", ((),)),
    Case("mean", ((2, 3, 4),)),
    Case("mean", ((2, 3, 4),), {"axis": -1}),
    Case("mean", ((2, 3, 4),), {"axis": [2, 0]}),
    Case("softmax", ((5,),)),
    Case("softmax", ((2, 3, 4),), {"axis": 1}),
    Case("flatten", ((2, 3, 4),)),
    Case("flatten", ((2, 3, 2, 2),)),
    Case("reshape", ((2, 3, 4),), {"shape": [4, -1]}),
    Case("reshape", ((6,),), {"shape": [2, 3]}),
    Case("cross_entropy", ((4,), ()), fixed={1: 2.0}),
    Case("cross_entropy", ((3, 5), (3,)), fixed={1: [0.0, 4.0, 2.0]}),
    Case("norm", ((2, 3),)),
    Case("norm", ((),)),
    Case("conv2d", ((3, 5, 5), (2, 3, 3, 3), (2,))),
    Case("conv2d", ((1, 4, 4), (2, 1, 2, 2))),
    Case("conv2d", ((2, 3, 6, 6), (4, 3, 3, 3), (4,)), {"stride": 2, "pad": 1}),
    Case("conv2d", ((2, 5, 5), (3, 2, 3, 3), (3,)), {"pad": "same"}),
    Case("conv2d", ((1, 4, 5), (2, 1, 1, 3), (2,)), {"pad": "same"}),
    Case("conv2d", ((2, 7, 6), (2, 2, 3, 2)), {"stride": 2}),
    Case("local2d", ((2, 5, 5), (3, 3, 3, 2, 3, 3), (3, 3, 3))),
    Case("local2d", ((2, 2, 4, 4), (2, 2, 2, 2, 3, 3), (2, 2, 2)), {"stride": 2, "pad": 1}),
    Case("local2d", ((1, 4, 4), (2, 4, 4, 1, 3, 3)), {"pad": "same"}),
    Case("maxpool", ((4, 4),)),
    Case("maxpool", ((2, 5, 5),), {"size": 3, "stride": 1}),
    Case("maxpool", ((2, 3, 6, 6),)),
    Case("maxpool", ((3, 7, 7),), {"size": 3, "stride": 2}),
    Case("avgpool", ((4, 4),)),
    Case("avgpool", ((2, 5, 5),), {"size": 3, "stride": 1}),
    Case("avgpool", ((2, 3, 6, 6),)),
    Case("avgpool", ((3, 7, 7),), {"size": 3, "stride": 2}),
    Case("crop_resize", ((2, 5, 6), (4,)), {"size": [3, 4]}, fixed={1: [0.3, 0.7, 3.1, 4.4]}),
    Case("crop_resize", ((4, 4), (4,)), {"size": [5, 3]}, fixed={1: [-1.3, 0.6, 3.2, 5.7]}),
    Case("hinge", ((4,), ()), fixed={0: [0.2, 1.9, -0.6, 1.1], 1: 1.0}),  # margins -0.7 -1.5 0.2
    Case(
        "hinge",
        ((3, 4), (3,)),
        fixed={
            0: [[1.3, 0.1, 0.9, -0.4], [0.5, 2.0, -1.0, 0.8], [-0.3, 0.4, 0.6, 0.2]],
            1: [0.0, 3.0, 2.0],  # every margin at least 0.1 from the kink at 0
        },
    ),
    Case("conv2d", ((2, 4, 5, 5), (6, 2, 3, 3), (6,)), {"groups": 2}),
    Case("conv2d", ((1, 7, 6), (2, 1, 2, 2)), {"dilation": [2, 1], "stride": [1, 2]}),
    Case("conv2d", ((2, 5, 4), (3, 2, 3, 2), (3,)), {"pad": [1, 0, 2, 1]}),
    # x's gradient as the correlation of g with the flipped filters (stride 1, F·H·W ≤ C·Ho·Wo)
    Case("conv2d", ((2, 4, 5, 5), (4, 2, 3, 3), (4,)), {"groups": 2, "pad": 1}),
    Case("conv2d", ((1, 3, 7, 6), (2, 3, 3, 2)), {"dilation": [2, 1], "pad": [2, 1]}),
    Case("conv2d", ((2, 3, 5, 4), (3, 3, 3, 2), (3,)), {"pad": [1, 0, 2, 1]}),
    Case("maxpool", ((2, 5, 5),), {"size": 3, "stride": 2, "pad": 1}),
    Case("maxpool", ((1, 2, 6, 5),), {"size": [3, 2], "stride": 2, "ceil": 1}),
    Case("avgpool", ((2, 5, 5),), {"size": 3, "stride": 2, "pad": [1, 1, 0, 0]}),
    Case("avgpool", ((2, 5, 5),), {"size": 2, "stride": 2, "pad": 1, "count_pad": 1}),
    Case("avgpool", ((1, 6, 5),), {"size": 3, "stride": 2, "ceil": 1}),
    Case("avgpool", ((2, 5, 5),), {"size": 2, "ceil": 1}),  # side by side, a partial last one
    Case("avgpool", ((1, 3, 4, 4),), {"size": 4}),  # one window: global average pooling
    Case("maxpool", ((1, 2, 7, 7),), {"size": 3, "stride": 1, "dilation": 2, "pad": 1}),
    Case("batchnorm", ((2, 3, 2, 2), (3,), (3,), (3,), (3,)), {"epsilon": 0.01}, positive=True),
    Case("leaky_relu", ((3, 4),), {"alpha": 0.2}),
    Case("sqrt", ((2, 3),), positive=True),
    Case("clip", ((3, 4),), {"low": -0.9, "high": 1.1}),
    Case("clip", ((5,),), {"low": 0.0}),
    Case("power", ((2, 3), (3,)), positive=True),
    Case("log_softmax", ((2, 5),)),
    Case("log_softmax", ((2, 3, 4),), {"axis": 1}),
    Case("lrn", ((2, 5, 2, 2),), {"size": 3, "alpha": 0.5, "beta": 0.75, "bias": 1.0}),
    Case("lrn", ((1, 4, 2, 3),), {"size": 2, "alpha": 0.3, "beta": 0.6, "bias": 2.0}),
    Case("argmax", ((3, 4),)),
    Case("concat", ((2, 3), (2, 1), (2, 2)), {"axis": 1}),
    Case("concat", ((4,),)),
    Case("transpose", ((2, 3, 4),), {"perm": [1, 2, 0]}),
    Case("transpose", ((2, 3),)),
    Case("slice", ((4, 5),), {"starts": [1, -1], "ends": [3, 0], "axes": [0, 1], "steps": [1, -2]}),
    Case("sum", ((2, 3, 4),), {"axis": [1], "keepdims": 1}),
    Case("mean", ((2, 3, 4),), {"axis": [0, 2], "keepdims": 1}),
    Case("smooth_l1", ((), ()), fixed={0: 0.4, 1: -1.1}),  # d = 1.5
    Case(
        "smooth_l1",
        ((2, 3), (2, 3)),
        fixed={
            0: [[0.9, -0.2, 2.5], [-1.0, 0.35, 0.6]],
            1: [[0.4, 0.1, 0.5], [0.7, 0.3, -0.8]],  # d = 0.5 -0.3 2 -1.7 0.05 1.4
        },
    ),
]


def inputs_of(case: Case, seed: int = 0) -> list[np.ndarray]:
    """Random inputs with all values distinct and at least 0.5 from zero.

    Distinct values keep max, min and maxpool away from ties, and the distance
    from zero keeps relu and abs away from their kinks, where finite differences
    and the (sub)gradient disagree.
    """
    rng = np.random.default_rng(seed)
    sizes = [math.prod(s) for s in case.shapes]
    magnitudes = rng.permutation(np.linspace(0.5, 1.5, sum(sizes)))
    values = magnitudes if case.positive else magnitudes * rng.choice([-1.0, 1.0], sum(sizes))
    parts = np.split(values, np.cumsum(sizes)[:-1])
    arrays = []
    for i, (shape, part) in enumerate(zip(case.shapes, parts, strict=True)):
        given = case.fixed.get(i)
        arrays.append(np.array(given if given is not None else part.reshape(shape), dtype=float))
    return arrays


def attrs_of(case: Case) -> dict[str, Any]:
    """Defaults, then the case's keywords: what the engine passes."""
    return {**OPS[case.op].attrs, **case.attrs}


def finite_difference(case: Case, inputs: list[np.ndarray], i: int, g: np.ndarray) -> np.ndarray:
    """∂/∂inputs[i] of sum(g · forward(inputs)), by central differences."""
    op, attrs, eps = OPS[case.op], attrs_of(case), 1e-6
    grad = np.zeros_like(inputs[i])
    for k in np.ndindex(inputs[i].shape):
        moved = []
        for step in (eps, -eps):
            shifted = [x.copy() for x in inputs]
            shifted[i][k] += step
            moved.append(np.sum(g * op.forward(*shifted, **attrs)))
        grad[k] = (moved[0] - moved[1]) / (2 * eps)
    return grad


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_backward_matches_finite_differences(case: Case) -> None:
    op, attrs = OPS[case.op], attrs_of(case)
    inputs = inputs_of(case)
    out = op.forward(*inputs, **attrs)
    g = np.random.default_rng(1).normal(size=np.shape(out))
    grads = op.backward(g, out, *inputs, **attrs)
    assert len(grads) == len(inputs)
    for i, (x, grad) in enumerate(zip(inputs, grads, strict=True)):
        if not op.carries_grad(i):
            assert grad is None
            continue
        assert np.shape(grad) == x.shape
        np.testing.assert_allclose(
            grad, finite_difference(case, inputs, i, g), rtol=1e-5, atol=1e-7
        )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_shape_rule_agrees_with_forward(case: Case) -> None:
    op, attrs = OPS[case.op], attrs_of(case)
    assert op.shape(*case.shapes, **attrs) == np.shape(op.forward(*inputs_of(case), **attrs))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_local_gradient_is_text_over_the_input_names(case: Case) -> None:
    op, attrs = OPS[case.op], attrs_of(case)
    names = [f"in{i}" for i in range(len(case.shapes))]
    for i in range(len(names)):
        text = op.local(i, names, "out", **attrs)
        assert isinstance(text, str) and text
    assert op.formula(names, **attrs)


def test_every_op_has_a_case() -> None:
    assert set(OPS) == {case.op for case in CASES}


def test_local_gradients_read_like_the_slides() -> None:
    assert OPS["relu"].local(0, ["x"], "r") == "1(x > 0)"
    assert OPS["sigmoid"].local(0, ["x"], "s") == "s·(1 − s)"
    assert OPS["tanh"].local(0, ["x"], "t") == "1 − t²"
    assert OPS["exp"].local(0, ["x"], "e") == "e"
    assert OPS["log"].local(0, ["x"], "l") == "1/x"
    assert OPS["norm"].local(0, ["d"], "L") == "d/L"
    assert [OPS["matmul"].local(i, ["W", "x"], "h") for i in (0, 1)] == ["xᵀ", "Wᵀ"]
    assert OPS["avgpool"].local(0, ["a"], "p", size=2, stride=None) == "1/4"
    assert OPS["conv2d"].local(2, ["x", "w", "b"], "c", stride=1, pad=0) == "1"


def test_formulas_hide_default_attributes() -> None:
    assert OPS["matmul"].formula(["W", "x"]) == "W @ x"
    assert OPS["sum"].formula(["x"], axis=None) == "sum(x)"
    assert OPS["sum"].formula(["x"], axis=[0, 1]) == "sum(x, axis=[0, 1])"
    assert OPS["conv2d"].formula(["x", "w", "b"], stride=2, pad="same") == (
        'conv2d(x, w, b, stride=2, pad="same")'
    )
    assert OPS["maxpool"].formula(["a"], size=2, stride=None) == "maxpool(a)"


def test_relu_and_abs_have_zero_gradient_at_zero() -> None:
    x = np.array([-1.0, 0.0, 2.0])
    g = np.ones(3)
    (relu_grad,) = OPS["relu"].backward(g, OPS["relu"].forward(x), x)
    (abs_grad,) = OPS["abs"].backward(g, OPS["abs"].forward(x), x)
    np.testing.assert_array_equal(relu_grad, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(abs_grad, [-1.0, 0.0, 1.0])


def test_norm_has_zero_gradient_at_zero() -> None:
    x = np.zeros((2, 2))
    out = OPS["norm"].forward(x)
    assert out == 0.0
    np.testing.assert_array_equal(
        OPS["norm"].backward(np.float64(1.0), out, x)[0], np.zeros((2, 2))
    )


def test_norm_of_three_four_is_five() -> None:
    x = np.array([3.0, 4.0])
    out = OPS["norm"].forward(x)
    assert out == 5.0
    np.testing.assert_allclose(OPS["norm"].backward(np.float64(2.0), out, x)[0], [1.2, 1.6])


def test_cross_entropy_of_uniform_logits_is_log_k() -> None:
    ce = OPS["cross_entropy"]
    logits = np.zeros((2, 4))
    target = np.array([1.0, 3.0])
    out = ce.forward(logits, target)
    assert out == pytest.approx(math.log(4))
    grad, none = ce.backward(np.float64(1.0), out, logits, target)
    assert none is None
    np.testing.assert_allclose(grad, [[0.125, -0.375, 0.125, 0.125], [0.125, 0.125, 0.125, -0.375]])


@pytest.mark.parametrize("target", [1.5, -1.0, 3.0, float("nan")])
def test_cross_entropy_refuses_a_target_that_is_not_a_class_index(target: float) -> None:
    with pytest.raises(OpError, match="not a class index"):
        OPS["cross_entropy"].forward(np.zeros(3), np.array(target))


def test_softmax_does_not_overflow() -> None:
    out = OPS["softmax"].forward(np.array([1000.0, 1000.0]), axis=-1)
    np.testing.assert_array_equal(out, [0.5, 0.5])
    assert OPS["sigmoid"].forward(np.array(-1000.0)) == 0.0


BAD_SHAPES = [
    ("matmul", ((2, 3), (4, 5)), {}, "inner dimensions 3 and 4 differ"),
    ("matmul", ((), (3,)), {}, "needs tensors"),
    ("matmul", ((2, 2, 3), (3, 3, 4)), {}, "do not broadcast"),
    ("sum", ((2, 3),), {"axis": 2}, "axis 2 is out of range"),
    ("mean", ((2, 3),), {"axis": [0, -2]}, "names an axis twice"),
    ("sum", ((2, 3),), {"axis": 1.5}, "axis must be an integer"),
    ("softmax", ((),), {"axis": -1}, "scalar"),
    ("softmax", ((2, 3),), {"axis": [0, 1]}, "one integer"),
    ("reshape", ((2, 3),), {"shape": [4, 2]}, "has 6 elements, shape \\[4, 2\\] holds 8"),
    ("reshape", ((2, 3),), {"shape": [4, -1]}, "not a multiple"),
    ("reshape", ((2, 3),), {"shape": [-1, -1]}, "more than one -1"),
    ("reshape", ((2, 3),), {"shape": None}, "missing"),
    ("cross_entropy", ((3,), (3,)), {}, "single class index"),
    ("cross_entropy", ((4, 3), (3,)), {}, "4 class indices"),
    ("cross_entropy", ((2, 3, 4), (2, 3)), {}, "logits must be"),
    ("add", ((2, 3), (4,)), {}, "do not broadcast"),
    ("crop_resize", ((2, 3, 4, 4), (4,)), {"size": [2, 2]}, "img must be"),
    ("crop_resize", ((3, 0, 4), (4,)), {"size": [2, 2]}, "is empty"),
    ("crop_resize", ((3, 4, 4), (2, 2)), {"size": [2, 2]}, "box must be 4 numbers"),
    ("crop_resize", ((3, 4, 4), (5,)), {"size": [2, 2]}, "box must be 4 numbers"),
    ("crop_resize", ((3, 4, 4), (4,)), {}, "size is missing"),
    ("crop_resize", ((3, 4, 4), (4,)), {"size": [2]}, "two positive integers"),
    ("crop_resize", ((3, 4, 4), (4,)), {"size": [0, 2]}, "two positive integers"),
    ("crop_resize", ((3, 4, 4), (4,)), {"size": [2.5, 2]}, "two positive integers"),
    ("crop_resize", ((3, 4, 4), (4,)), {"size": 7}, "two positive integers"),
    ("hinge", ((3,), (3,)), {}, "single class index"),
    ("hinge", ((4, 3), (3,)), {}, "4 class indices"),
    ("hinge", ((2, 3, 4), (2, 3)), {}, "scores must be"),
    ("smooth_l1", ((2, 3), (3,)), {}, "same shape"),
    ("smooth_l1", ((2, 3), (3, 2)), {}, "same shape"),
    ("smooth_l1", ((0, 3), (0, 3)), {}, "empty"),
]


@pytest.mark.parametrize(("op", "shapes", "attrs", "message"), BAD_SHAPES)
def test_bad_shapes_raise_op_error(
    op: str, shapes: tuple[Shape, ...], attrs: dict[str, Any], message: str
) -> None:
    with pytest.raises(OpError, match=message):
        OPS[op].shape(*shapes, **{**OPS[op].attrs, **attrs})


HUGE = 100_000
HOSTILE = [
    ("add", ((HUGE, HUGE), (HUGE,)), {}, (HUGE, HUGE)),
    ("relu", ((HUGE, HUGE),), {}, (HUGE, HUGE)),
    ("matmul", ((HUGE, HUGE), (HUGE, HUGE)), {}, (HUGE, HUGE)),
    ("sum", ((HUGE, HUGE),), {"axis": 0}, (HUGE,)),
    ("softmax", ((HUGE, HUGE),), {}, (HUGE, HUGE)),
    ("flatten", ((HUGE, HUGE),), {}, (HUGE * HUGE,)),
    ("reshape", ((HUGE, HUGE),), {"shape": [-1, 10]}, (HUGE * HUGE // 10, 10)),
    ("cross_entropy", ((HUGE, HUGE), (HUGE,)), {}, ()),
    ("norm", ((HUGE, HUGE),), {}, ()),
    ("conv2d", ((3, HUGE, HUGE), (6, 3, 5, 5), (6,)), {}, (6, HUGE - 4, HUGE - 4)),
    ("local2d", ((1, HUGE, HUGE), (1, HUGE, HUGE, 1, 1, 1)), {}, (1, HUGE, HUGE)),
    ("maxpool", ((HUGE, HUGE),), {}, (HUGE // 2, HUGE // 2)),
    ("avgpool", ((HUGE, HUGE),), {"size": 3, "stride": 1}, (HUGE - 2, HUGE - 2)),
    ("crop_resize", ((3, HUGE, HUGE), (4,)), {"size": [7, 7]}, (3, 7, 7)),
    ("crop_resize", ((HUGE, HUGE), (4,)), {"size": [HUGE, HUGE]}, (HUGE, HUGE)),
    ("hinge", ((HUGE, HUGE), (HUGE,)), {}, ()),
    ("smooth_l1", ((HUGE, HUGE), (HUGE, HUGE)), {}, ()),
]


@pytest.mark.parametrize(("op", "shapes", "attrs", "expected"), HOSTILE)
def test_shape_rules_allocate_nothing_on_huge_shapes(
    op: str, shapes: tuple[Shape, ...], attrs: dict[str, Any], expected: Shape
) -> None:
    tracemalloc.start()
    try:
        shape = OPS[op].shape(*shapes, **{**OPS[op].attrs, **attrs})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert shape == expected
    assert peak < 100_000


@pytest.mark.parametrize(
    ("op", "x", "attrs"),
    [
        ("relu", [-1.0, 0.0, 2.0, 3.0], {}),
        ("clip", [-2.0, 0.5, 3.0, -0.5], {"low": -1.0, "high": 1.0}),
    ],
)
def test_an_infinite_gradient_stays_out_of_the_cells_a_gate_closes(
    op: str, x: list[float], attrs: dict[str, float]
) -> None:
    """As PyTorch's threshold_backward: 0 where the gate is shut, whatever reaches it (inf · 0
    would be a NaN the gradient doctor would then blame on the wrong node)."""
    xs = np.array(x)
    g = np.array([np.inf, np.nan, np.inf, -np.inf])
    (ours,) = OPS[op].backward(g, OPS[op].forward(xs, **attrs), xs, **attrs)
    shut = OPS[op].forward(xs, **attrs) != xs if op == "clip" else xs <= 0
    assert (ours[shut] == 0).all()
    np.testing.assert_array_equal(ours[~shut], g[~shut])
