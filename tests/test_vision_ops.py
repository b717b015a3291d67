"""crop_resize, hinge and smooth_l1 (the R-CNN example's ops) on cases worked by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from graphstep.ops import OPS, OpError

IMG = np.array([[1, 2, 0, 4], [3, 5, 7, 1], [0, 8, 2, 6], [4, 4, 9, 3]], dtype=float)
CS231N_SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])  # cat, car, frog


def run(op: str, *inputs: Any, **attrs: Any) -> np.ndarray:
    arrays = [np.asarray(x, dtype=float) for x in inputs]
    return OPS[op].forward(*arrays, **{**OPS[op].attrs, **attrs})


def grads(op: str, g: Any, *inputs: Any, **attrs: Any) -> tuple[Any, ...]:
    arrays = [np.asarray(x, dtype=float) for x in inputs]
    full = {**OPS[op].attrs, **attrs}
    out = OPS[op].forward(*arrays, **full)
    return tuple(OPS[op].backward(np.asarray(g, dtype=float), out, *arrays, **full))


def test_crop_resize_with_the_whole_image_as_box_gives_it_back() -> None:
    np.testing.assert_allclose(run("crop_resize", IMG, [0, 0, 4, 4], size=[4, 4]), IMG)
    stack = np.stack([IMG, 10 * IMG])
    np.testing.assert_allclose(run("crop_resize", stack, [0, 0, 4, 4], size=[4, 4]), stack)


def test_crop_resize_to_half_size_averages_each_2x2_block() -> None:
    # samples at pixel index 0.5 and 2.5: the centre of each block, ¼ of each of its pixels
    out = run("crop_resize", IMG, [0, 0, 4, 4], size=[2, 2])
    np.testing.assert_allclose(out, [[(1 + 2 + 3 + 5) / 4, 3], [4, 5]])


def test_crop_resize_to_half_size_spreads_each_gradient_over_its_block() -> None:
    gx, gbox = grads("crop_resize", [[1, 2], [3, 4]], IMG, [0, 0, 4, 4], size=[2, 2])
    assert gbox is None
    block = np.ones((2, 2)) / 4
    np.testing.assert_allclose(gx, np.block([[block, 2 * block], [3 * block, 4 * block]]))


def test_crop_resize_shifted_half_a_pixel_averages_neighbours_and_clamps_at_the_edge() -> None:
    # samples at 0.5, 1.5, 2.5, 3.5; 3.5 is past the last pixel centre and clamps to 3
    out = run("crop_resize", IMG, [0.5, 0.5, 4.5, 4.5], size=[4, 4])
    expected = [
        [(1 + 2 + 3 + 5) / 4, (2 + 0 + 5 + 7) / 4, (0 + 4 + 7 + 1) / 4, (4 + 1) / 2],
        [(3 + 5 + 0 + 8) / 4, (5 + 7 + 8 + 2) / 4, (7 + 1 + 2 + 6) / 4, (1 + 6) / 2],
        [(0 + 8 + 4 + 4) / 4, (8 + 2 + 4 + 9) / 4, (2 + 6 + 9 + 3) / 4, (6 + 3) / 2],
        [(4 + 4) / 2, (4 + 9) / 2, (9 + 3) / 2, 3],
    ]
    np.testing.assert_allclose(out, expected)


def test_crop_resize_weighs_the_nearer_pixel_more() -> None:
    # one row sampled at pixel index 0.25: ¾ of row 0 and ¼ of row 1
    out = run("crop_resize", IMG, [0.25, 0, 1.25, 4], size=[1, 4])
    np.testing.assert_allclose(out, [[1.5, 2.75, 1.75, 3.25]])


def test_crop_resize_upscaling_clamps_both_edges_and_collects_every_weight() -> None:
    # 2 pixels → 4 samples at −0.25, 0.25, 0.75, 1.25, clamped to 0, 0.25, 0.75, 1
    img = np.array([[0.0, 4.0]])
    np.testing.assert_allclose(run("crop_resize", img, [0, 0, 1, 2], size=[1, 4]), [[0, 1, 3, 4]])
    gx, _ = grads("crop_resize", np.ones((1, 4)), img, [0, 0, 1, 2], size=[1, 4])
    np.testing.assert_allclose(gx, [[1 + 0.75 + 0.25, 0.25 + 0.75 + 1]])


@pytest.mark.parametrize(
    "box", [[2, 0, 1, 4], [0, 3, 4, 3], [1, 1, 1, 1], [0, 0, float("nan"), 4], [0, 0, 4, np.inf]]
)
def test_crop_resize_refuses_an_empty_inverted_or_unbounded_box(box: list[float]) -> None:
    with pytest.raises(OpError, match="empty or inverted"):
        run("crop_resize", IMG, box, size=[2, 2])


def test_crop_resize_keeps_channels_and_reports_its_size() -> None:
    assert OPS["crop_resize"].shape((3, 32, 32), (4,), size=[7, 5]) == (3, 7, 5)
    assert OPS["crop_resize"].shape((32, 32), (4,), size=(7, 5)) == (7, 5)
    assert OPS["crop_resize"].formula(["img", "box"], size=[7, 7]) == (
        "crop_resize(img, box, size=[7, 7])"
    )


def test_hinge_of_the_cs231n_cat_is_2_9() -> None:
    # max(0, 5.1 − 3.2 + 1) + max(0, −1.7 − 3.2 + 1) = 2.9 + 0
    assert run("hinge", CS231N_SCORES[0], 0) == pytest.approx(2.9)
    gs, gt = grads("hinge", 1.0, CS231N_SCORES[0], 0)
    assert gt is None
    np.testing.assert_allclose(gs, [-1, 1, 0])


def test_hinge_of_the_cs231n_batch_is_the_mean_5_27() -> None:
    targets = [0, 1, 2]
    assert run("hinge", CS231N_SCORES, targets) == pytest.approx((2.9 + 0 + 12.9) / 3)
    gs, _ = grads("hinge", 1.0, CS231N_SCORES, targets)
    np.testing.assert_allclose(gs, np.array([[-1, 1, 0], [0, 0, 0], [1, 1, -2]]) / 3)


def test_hinge_has_zero_gradient_at_a_margin_of_exactly_zero() -> None:
    scores = np.array([1.0, 2.0, 0.0])  # 1 − 2 + 1 = 0: on the kink
    assert run("hinge", scores, 1) == 0.0
    np.testing.assert_array_equal(grads("hinge", 1.0, scores, 1)[0], [0, 0, 0])


@pytest.mark.parametrize("target", [1.5, -1.0, 3.0, float("nan")])
def test_hinge_refuses_a_target_that_is_not_a_class_index(target: float) -> None:
    with pytest.raises(OpError, match="not a class index of scores"):
        run("hinge", np.zeros(3), target)


def test_smooth_l1_is_quadratic_below_1_and_linear_above() -> None:
    # (0.5·0.5² + (2 − 0.5)) / 2 = (0.125 + 1.5) / 2
    a, b = [0.5, 2.0], [0.0, 0.0]
    assert run("smooth_l1", a, b) == pytest.approx(0.8125)
    ga, gb = grads("smooth_l1", 1.0, a, b)
    np.testing.assert_allclose(ga, [0.25, 0.5])  # clip(d, −1, 1) / 2
    np.testing.assert_allclose(gb, [-0.25, -0.5])


def test_smooth_l1_local_gradient_is_the_clipped_difference() -> None:
    assert OPS["smooth_l1"].local(0, ["p", "t"], "L") == "clip(p − t, −1, 1)/size(p)"
    assert OPS["smooth_l1"].local(1, ["p", "t"], "L") == "−clip(p − t, −1, 1)/size(p)"
    assert OPS["hinge"].local(1, ["s", "y"], "L") == "none (class indices carry no gradient)"
    assert OPS["crop_resize"].local(1, ["img", "box"], "c", size=[7, 7]) == (
        "none (the box carries no gradient)"
    )
