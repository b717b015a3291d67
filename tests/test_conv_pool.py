"""conv2d, local2d, maxpool and avgpool on cases small enough to work by hand."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from graphstep.ops import OPS, OpError, Shape

SEED_POOL = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)
NINE = np.arange(1.0, 10.0).reshape(1, 3, 3)  # [[1 2 3] [4 5 6] [7 8 9]], one channel


def run(op: str, *inputs: np.ndarray, **attrs: Any) -> np.ndarray:
    return OPS[op].forward(*inputs, **{**OPS[op].attrs, **attrs})


def grads(op: str, g: np.ndarray, *inputs: np.ndarray, **attrs: Any) -> tuple[Any, ...]:
    full = {**OPS[op].attrs, **attrs}
    return tuple(OPS[op].backward(g, OPS[op].forward(*inputs, **full), *inputs, **full))


def test_seed_pool_max_is_6_8_3_4() -> None:
    np.testing.assert_array_equal(run("maxpool", SEED_POOL, size=2), [[6, 8], [3, 4]])


def test_seed_pool_avg_is_3_25_5_25_2_2() -> None:
    np.testing.assert_array_equal(run("avgpool", SEED_POOL, size=2), [[3.25, 5.25], [2, 2]])


def test_maxpool_routes_each_gradient_to_its_windows_argmax() -> None:
    (gx,) = grads("maxpool", np.array([[10.0, 20.0], [30.0, 40.0]]), SEED_POOL, size=2)
    expected = np.zeros((4, 4))
    expected[1, 1], expected[1, 3], expected[2, 0], expected[3, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(gx, expected)


def test_maxpool_gives_a_tie_to_the_first_maximum_in_row_major_order() -> None:
    x = np.array([[1.0, 1.0, 0.0, 5.0], [1.0, 1.0, 5.0, 2.0]])
    (gx,) = grads("maxpool", np.array([[1.0, 1.0]]), x, size=2)
    np.testing.assert_array_equal(gx, [[1, 0, 0, 1], [0, 0, 0, 0]])


def test_overlapping_maxpool_adds_up_at_a_shared_maximum() -> None:
    x = np.array([[0.0, 1.0, 0.0], [2.0, 9.0, 3.0], [0.0, 4.0, 0.0]])
    np.testing.assert_array_equal(run("maxpool", x, size=2, stride=1), [[9, 9], [9, 9]])
    (gx,) = grads("maxpool", np.array([[1.0, 2.0], [3.0, 4.0]]), x, size=2, stride=1)
    np.testing.assert_array_equal(gx, [[0, 0, 0], [0, 10, 0], [0, 0, 0]])


def test_maxpool_sends_nothing_from_a_nan_window_and_an_infinite_gradient_only_to_its_maximum() -> (
    None
):
    x = np.array([[1.0, math.nan, 5.0, 4.0], [0.0, 2.0, 5.0, 1.0]])
    out = run("maxpool", x, size=2)
    assert math.isnan(out[0, 0]) and out[0, 1] == 5
    (gx,) = grads("maxpool", np.array([[7.0, math.inf]]), x, size=2)
    np.testing.assert_array_equal(gx, [[0, 0, math.inf, 0], [0, 0, 0, 0]])


def test_side_by_side_avgpool_spreads_each_window_and_skips_the_dropped_edge() -> None:
    (gx,) = grads("avgpool", np.array([[4.0, 8.0]]), np.zeros((3, 5)), size=2)
    np.testing.assert_array_equal(gx, [[1, 1, 2, 2, 0], [1, 1, 2, 2, 0], [0, 0, 0, 0, 0]])


def test_overlapping_avgpool_counts_each_pixel_once_per_window() -> None:
    (gx,) = grads("avgpool", np.ones((2, 2)), np.zeros((3, 3)), size=2, stride=1)
    np.testing.assert_array_equal(gx, [[0.25, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 0.25]])


def test_pool_drops_a_partial_window_and_keeps_batch_and_channels() -> None:
    assert OPS["maxpool"].shape((2, 3, 5, 5), size=2, stride=None) == (2, 3, 2, 2)
    assert OPS["avgpool"].shape((3, 7, 7), size=3, stride=2) == (3, 3, 3)


def test_conv2d_with_a_2x2_filter_on_a_3x3_image_by_hand() -> None:
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])  # not symmetric: a flipped kernel would differ
    b = np.array([1.0])
    # out[0, 0] = 1·1 + 2·2 + 4·3 + 5·4 + 1 = 38, and so on
    np.testing.assert_array_equal(run("conv2d", NINE, w, b), [[[38, 48], [68, 78]]])
    gx, gw, gb = grads("conv2d", np.ones((1, 2, 2)), NINE, w, b)
    np.testing.assert_array_equal(gw, [[[[12, 16], [24, 28]]]])  # each weight's window sum
    np.testing.assert_array_equal(gb, [4])
    np.testing.assert_array_equal(gx, [[[1, 3, 2], [4, 10, 6], [3, 7, 4]]])


def test_conv2d_with_stride_2_and_pad_1_by_hand() -> None:
    ones = np.ones((3, 3))
    centre = np.zeros((3, 3))
    centre[1, 1] = 1.0
    w = np.stack([ones, centre])[:, None]  # (2, 1, 3, 3)
    out = run("conv2d", NINE, w, stride=2, pad=1)
    # padded 5×5, windows at rows/columns 0 and 2: corners of the image
    np.testing.assert_array_equal(out[0], [[12, 16], [24, 28]])
    np.testing.assert_array_equal(out[1], [[1, 3], [7, 9]])
    gx, gw = grads("conv2d", np.ones((2, 2, 2)), NINE, w, stride=2, pad=1)
    # the ones filter covers the middle row and column twice; the centre tap hits the corners
    np.testing.assert_array_equal(gx[0], [[2, 2, 2], [2, 4, 2], [2, 2, 2]])
    # each weight sums the four windows at its tap: the centre tap sees 1 + 3 + 7 + 9
    np.testing.assert_array_equal(gw[1, 0], [[5, 10, 5], [10, 20, 10], [5, 10, 5]])


def test_pad_same_keeps_the_size_and_centres_the_kernel() -> None:
    edge = np.array([[[[-1.0, 0.0, 1.0]]]])  # the seed's [-1 0 1] filter, 1×3
    x = np.array([[[0.0, 0.0, 1.0, 1.0]] * 2])  # a vertical edge between columns 1 and 2
    out = run("conv2d", x, edge, pad="same")
    np.testing.assert_array_equal(out, [[[0, 1, 1, -1], [0, 1, 1, -1]]])
    assert OPS["conv2d"].padding((1, 2, 4), (1, 1, 1, 3), pad="same") == (0, 1)


def naive_conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """torch.nn.functional.conv2d by its definition, one output at a time."""
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    n, f, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    ho, wo = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    out = np.zeros((n, f, ho, wo))
    for a, k, i, j in np.ndindex(out.shape):
        patch = xp[a, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
        out[a, k, i, j] = np.sum(patch * w[k]) + b[k]
    return out


@pytest.mark.parametrize(("stride", "pad"), [(1, 0), (2, 1), (3, 2), (2, 0)])
def test_conv2d_matches_its_definition_on_a_batch(stride: int, pad: int) -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 3, 7, 8)), rng.normal(size=(4, 3, 3, 2)), rng.normal(size=4)
    out = run("conv2d", x, w, b, stride=stride, pad=pad)
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, stride, pad), rtol=1e-12)
    np.testing.assert_allclose(run("conv2d", x[1], w, b, stride=stride, pad=pad), out[1])


def test_local2d_with_shared_filters_equals_conv2d() -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    shared_w = np.broadcast_to(w[:, None, None], (4, 3, 3, 3, 3, 3)).copy()
    shared_b = np.broadcast_to(b[:, None, None], (4, 3, 3)).copy()
    np.testing.assert_allclose(
        run("local2d", x, shared_w, shared_b, stride=2, pad=1),
        run("conv2d", x, w, b, stride=2, pad=1),
    )


def test_local2d_uses_each_positions_own_filter() -> None:
    w = np.zeros((1, 2, 2, 1, 2, 2))
    w[0, 0, 0, 0, 0, 0] = 1.0  # top-left output reads its window's top-left pixel
    w[0, 1, 1, 0, 1, 1] = 2.0  # bottom-right output: twice its window's bottom-right pixel
    np.testing.assert_array_equal(run("local2d", NINE, w), [[[1, 0], [0, 18]]])


@pytest.mark.parametrize(
    ("op", "shapes", "attrs"),
    [
        ("conv2d", ((3, 5, 6), (2, 3, 3, 2), (2,)), {"stride": 2, "pad": 1}),
        ("conv2d", ((2, 1, 5, 5), (2, 1, 3, 3)), {"pad": "same"}),
        ("local2d", ((2, 5, 5), (1, 2, 2, 2, 3, 3)), {"stride": 2}),
        ("maxpool", ((2, 5, 5),), {"size": 3, "stride": 1}),
        ("avgpool", ((4, 4),), {}),
    ],
)
def test_each_output_is_its_window_of_the_padded_input(
    op: str, shapes: tuple[Shape, ...], attrs: dict[str, Any]
) -> None:
    """The windows the debugger steps through compute exactly what forward computed."""
    full = {**OPS[op].attrs, **attrs}
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=s) for s in shapes]
    out = OPS[op].forward(*inputs, **full)
    ho, wo = OPS[op].grid(*shapes, **full)
    assert out.shape[-2:] == (ho, wo)
    ph, pw = OPS[op].padding(*shapes, **full)
    x = inputs[0]
    xp = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)])
    for i, j in np.ndindex(ho, wo):
        rows, cols = OPS[op].window(i, j, *shapes, **full)
        patch = xp[..., rows, cols]
        if op == "maxpool":
            expected = patch.max(axis=(-2, -1))
        elif op == "avgpool":
            expected = patch.mean(axis=(-2, -1))
        else:
            w = inputs[1] if op == "conv2d" else inputs[1][:, i, j]
            expected = np.einsum("...cij,fcij->...f", patch, w)
            if len(inputs) == 3:
                expected = expected + (inputs[2] if op == "conv2d" else inputs[2][:, i, j])
        np.testing.assert_allclose(out[..., i, j], expected)


def test_window_outside_the_grid_is_an_index_error() -> None:
    with pytest.raises(IndexError):
        OPS["maxpool"].window(2, 0, (4, 4), size=2, stride=None)


def test_conv_32x32x3_with_six_5x5_filters_has_456_parameters() -> None:
    x, w, b = (3, 32, 32), (6, 3, 5, 5), (6,)
    assert OPS["conv2d"].shape(x, w, b, stride=1, pad=0) == (6, 28, 28)
    assert math.prod(w[1:]) + 1 == 76
    assert math.prod(w) + math.prod(b) == 456
    assert OPS["conv2d"].grid(x, w, b, stride=1, pad=0) == (28, 28)


def test_locally_connected_10x10_over_40k_outputs_has_4_million_weights() -> None:
    x, w = (1, 209, 209), (1, 200, 200, 1, 10, 10)
    assert OPS["local2d"].shape(x, w, stride=1, pad=0) == (1, 200, 200)
    assert math.prod(w) == 4_000_000


BAD = [
    ("conv2d", ((4, 5, 5), (2, 3, 3, 3)), {}, "x has 4 channels but w expects 3"),
    ("conv2d", ((5, 5), (2, 1, 3, 3)), {}, "x must be"),
    ("conv2d", ((1, 5, 5), (1, 3, 3)), {}, "w must be"),
    ("conv2d", ((1, 5, 5), (2, 1, 3, 3), (3,)), {}, "one bias per filter"),
    ("conv2d", ((1, 2, 2), (1, 1, 3, 3)), {}, "3×3 window is larger than the 2×2 input"),
    ("conv2d", ((1, 5, 5), (1, 1, 3, 3)), {"stride": 0}, "stride must be a positive integer"),
    ("conv2d", ((1, 5, 5), (1, 1, 3, 3)), {"stride": 1.5}, "stride must be a positive integer"),
    ("conv2d", ((1, 5, 5), (1, 1, 3, 3)), {"pad": -1}, "pad must be"),
    ("conv2d", ((1, 5, 5), (1, 1, 3, 3)), {"pad": "valid"}, "pad must be"),
    ("conv2d", ((1, 5, 5), (1, 1, 3, 3)), {"pad": "same", "stride": 2}, "needs stride 1"),
    ("conv2d", ((1, 5, 5), (1, 1, 2, 2)), {"pad": "same"}, "odd size"),
    ("local2d", ((1, 5, 5), (1, 2, 2, 1, 3, 3)), {}, "2×2 output.*gives 3×3"),
    ("local2d", ((1, 5, 5), (1, 3, 3, 1, 3, 3), (1,)), {}, "one bias per output"),
    ("local2d", ((1, 5, 5), (1, 1, 3, 3)), {}, "w must be"),
    ("maxpool", ((5,),), {}, "x must be"),
    ("maxpool", ((1, 1, 1, 4, 4),), {}, "x must be"),
    ("maxpool", ((3, 3),), {"size": 4}, "window is larger"),
    ("avgpool", ((4, 4),), {"size": 0}, "size must be a positive integer"),
    ("avgpool", ((4, 4),), {"stride": -2}, "stride must be a positive integer"),
]


@pytest.mark.parametrize(("op", "shapes", "attrs", "message"), BAD)
def test_bad_shapes_and_attributes_raise_op_error(
    op: str, shapes: tuple[Shape, ...], attrs: dict[str, Any], message: str
) -> None:
    with pytest.raises(OpError, match=message):
        OPS[op].shape(*shapes, **{**OPS[op].attrs, **attrs})


def test_relu_gradient_at_zero_is_zero() -> None:
    (gx,) = grads("relu", np.array(1.0), np.array(0.0))
    assert gx == 0.0


def test_max_tie_splits_the_gradient_evenly() -> None:
    ga, gb = grads("max", np.array(1.0), np.array(3.0), np.array(3.0))
    assert (ga, gb) == (0.5, 0.5)


def test_max_of_4_and_2_sends_the_gradient_to_4() -> None:
    ga, gb = grads("max", np.array(1.0), np.array(4.0), np.array(2.0))
    assert (ga, gb) == (1.0, 0.0)
