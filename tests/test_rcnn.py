"""graphs/rcnn.yaml: the seed's R-CNN pipeline, checked by hand where it can be."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graphstep

RCNN = Path(__file__).parent.parent / "graphs" / "rcnn.yaml"
BLUE = np.array([0.1, 0.3, 1.0])
RED = np.array([1.0, 0.2, 0.2])


@pytest.fixture(scope="module")
def trace() -> graphstep.Trace:
    return graphstep.load(RCNN).trace()


def test_rcnn_image_holds_a_red_square_and_a_blue_bar(trace: graphstep.Trace) -> None:
    image = trace.value("image")
    assert image.shape == (3, 24, 24)
    np.testing.assert_allclose(image[:, 3:9, 3:9], np.broadcast_to(RED[:, None, None], (3, 6, 6)))
    np.testing.assert_allclose(
        image[:, 15:17, 5:19], np.broadcast_to(BLUE[:, None, None], (3, 2, 14))
    )
    assert image.sum() == pytest.approx(36 * RED.sum() + 28 * BLUE.sum())


def test_rcnn_square_proposal_warps_to_the_crop_itself(trace: graphstep.Trace) -> None:
    # box [2, 2, 10, 10] is 8×8 pixels: an 8×8 warp samples exactly the pixel centres
    np.testing.assert_allclose(trace.value("loss1/warped"), trace.value("image")[:, 2:10, 2:10])


def test_rcnn_bar_proposal_is_squashed_by_bilinear_sampling(trace: graphstep.Trace) -> None:
    # box [12, 2, 20, 22]: rows 12..19 exactly; columns sampled at 2.75, 5.25, ..., 20.25
    warped = trace.value("loss2/warped")
    np.testing.assert_allclose(warped[2, 3], [0, 1, 1, 1, 1, 1, 1, 0])
    np.testing.assert_allclose(warped[:, 4, 3], BLUE)
    assert np.all(warped[:, :3] == 0) and np.all(warped[:, 5:] == 0)


def test_rcnn_region_loss_is_svm_hinge_plus_smooth_l1(trace: graphstep.Trace) -> None:
    scores, deltas = trace.value("loss2/scores"), trace.value("loss2/deltas")
    hinge = sum(max(0.0, scores[j] - scores[2] + 1) for j in (0, 1))
    d = deltas - np.array([0.375, 0.15, -0.375, -0.15])
    smooth = np.where(np.abs(d) < 1, 0.5 * d**2, np.abs(d) - 0.5).mean()
    assert trace.value("loss2") == pytest.approx(hinge + smooth)
    total = sum(trace.value(f"loss{i}") for i in (1, 2, 3)) / 3
    assert trace.loss == pytest.approx(total)


def test_rcnn_shared_cnn_filters_sum_the_gradient_of_every_region(trace: graphstep.Trace) -> None:
    parts = [trace.contribution(f"loss{i}/features/a.1", 1) for i in (1, 2, 3)]
    np.testing.assert_allclose(trace.grad("K"), sum(parts))
    assert all(np.abs(p).sum() > 0 for p in parts)


def test_rcnn_block_calls_are_groups() -> None:
    g = graphstep.load(RCNN)
    assert {"loss1", "loss2", "loss3", "loss1/features"} <= set(g.groups)
    assert "loss1/features/p" in g.groups["loss1"]
    assert g.nodes["loss1/features/p"].group == "loss1/features"


def test_rcnn_gradient_descent_lowers_the_loss_and_classifies_the_regions() -> None:
    g = graphstep.load(RCNN)
    values = {p: g.trace().value(p) for p in g.params}
    first = g.trace(values).loss
    for _ in range(60):
        t = g.trace(values)
        values = {p: values[p] - 0.05 * t.grad(p) for p in g.params}
    t = g.trace(values)
    assert t.loss < first / 10
    assert [int(np.argmax(t.value(f"loss{i}/scores"))) for i in (1, 2, 3)] == [1, 2, 0]
