"""Gradient descent: every trainable example learns; the smallest network learns its patterns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import graphstep
from graphstep.train import accuracy, classifiers, train

GRAPHS = Path(__file__).parent.parent / "graphs"
TRAINABLE = ("mlp_3_4_2", "smallest_nn", "conv_32x32x3", "filters", "rcnn")


def load(name: str) -> graphstep.Graph:
    return graphstep.load(GRAPHS / f"{name}.yaml")


@pytest.mark.parametrize("name", TRAINABLE)
def test_train_step_lowers_the_loss_of_every_trainable_example(name: str) -> None:
    g = load(name)
    s = g.session()
    before = s.trace.loss
    after = s.train_step(float(g.train.get("lr", 0.1)))
    assert after < before


@pytest.mark.parametrize("name", TRAINABLE)
def test_training_changes_params_and_never_inputs(name: str) -> None:
    g = load(name)
    s = g.session()
    start = {n: s.trace.value(n).copy() for n in g.inputs + g.params}
    s.train_step(0.01)
    for n in g.inputs:
        np.testing.assert_array_equal(s.trace.value(n), start[n])
    assert any(not np.array_equal(s.trace.value(p), start[p]) for p in g.params)


def test_smallest_nn_learns_its_patterns_to_100_percent() -> None:
    result = train(load("smallest_nn"), 500)
    assert result.accuracy == 1.0
    assert len(result.losses) == 500
    assert result.losses[0] == pytest.approx(load("smallest_nn").trace().loss)
    assert result.final_loss < 0.05 < result.losses[0]
    assert all(b < a for a, b in zip(result.losses, result.losses[1:], strict=False))


def test_smallest_nn_is_a_coin_toss_before_training() -> None:
    g = load("smallest_nn")
    assert classifiers(g) == ["loss"]
    assert accuracy(g.trace()) < 1.0


def test_train_reports_every_step_and_takes_the_files_rate() -> None:
    g = load("mlp_3_4_2")
    seen: list[tuple[int, float]] = []
    result = train(g, 3, on_step=lambda k, loss: seen.append((k, loss)))
    assert [k for k, _ in seen] == [1, 2, 3]
    assert seen[-1][1] == result.final_loss
    assert list(result.losses[1:]) == [loss for _, loss in seen[:-1]]
    s = g.session()
    s.train_step(0.5)  # mlp_3_4_2's train: {lr: 0.5}
    assert s.trace.loss == result.losses[1]


def test_accuracy_is_none_without_a_classification_loss() -> None:
    assert train(load("mlp_3_4_2"), 1).accuracy is None


def test_accuracy_compares_the_argmax_of_the_logits_with_the_target() -> None:
    g = graphstep.load(
        "inputs:\n  t: [0, 2, 1]\n"
        "params:\n  z: {value: [[3, 1, 0], [0, 1, 5], [1, 1, 0]]}\n"
        "graph:\n  loss: cross_entropy(z, t)\noutput: loss\n"
    )
    assert accuracy(g.trace()) == pytest.approx(2 / 3)  # row 2 ties: argmax picks class 0, not 1


def test_accuracy_finds_the_classification_loss_inside_a_regularized_output() -> None:
    g = graphstep.load(
        "inputs:\n  t: [1]\n  x: [[1, 2]]\n"
        "params:\n  W: {value: [[1, 0], [0, 1]]}\n"
        "graph:\n  z: x @ W\n  loss: cross_entropy(z, t) + 0.01 * norm(W)\noutput: loss\n"
    )
    assert classifiers(g) == ["loss.1"]
    assert accuracy(g.trace()) == 1.0


def test_rcnn_accuracy_counts_each_region_as_an_example() -> None:
    g = load("rcnn")
    assert classifiers(g) == ["loss1.1", "loss2.1", "loss3.1"]
    result = train(g, 300)
    assert result.accuracy == 1.0
    assert result.final_loss < result.losses[0]


@pytest.mark.parametrize(("steps", "lr"), [(-1, 0.1), (2, 0.0), (2, float("nan")), (2, -1.0)])
def test_train_refuses_bad_steps_and_rates(steps: int, lr: float) -> None:
    with pytest.raises(graphstep.GraphstepError):
        train(load("smallest_nn"), steps, lr)
