"""Gradient descent on a graph's params, with its loss history and, for classifiers, accuracy.

The update itself, W ← W − lr·∂L/∂W, is `Session.train_step`: one place
decides it, whether a user trains from the command line, from Python or in the
TUI. This module is the loop around it and the measure of how well it went.

Accuracy is defined where the loss is a classification loss: the output is
`cross_entropy(logits, target)` or `hinge(scores, target)`, or is built from
such nodes (`loss: ce + 0.01 * norm(W)`, or one loss per region of an R-CNN).
It is the fraction of examples whose largest logit is at the target class
(`argmax(logits) == target`, a tie going to the first largest, as numpy's
argmax), counted over the rows of every such node's batch, with the params
as they stand after the last step. Elsewhere accuracy is None.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import GraphstepError, excerpt
from .limits import MAX_TRAIN_STEPS
from .session import Session, untrainable

if TYPE_CHECKING:
    from .graph import Graph
    from .trace import Trace

DEFAULT_LR = 0.1
DEFAULT_STEPS = 100
CLASSIFICATION_LOSSES = ("cross_entropy", "hinge")


@dataclass(frozen=True)
class TrainResult:
    """How training went.

    `losses` holds one loss per step, the one that step computed and descended
    from (so `losses[0]` is the loss before any training), as a training log
    shows it; `final_loss` is the loss after the last step, and `accuracy` is
    measured there too.
    """

    losses: tuple[float, ...]
    accuracy: float | None
    final_loss: float


def settings(graph: Graph, steps: int | None = None, lr: float | None = None) -> tuple[int, float]:
    """The steps and rate to train with: given, else the file's `train:`, else the defaults.

    A graph without params is refused first: asking how long to train it would be no help.
    """
    if not graph.params:
        raise untrainable(graph)
    count: object = steps
    if steps is None:
        count = graph.train.get("steps", DEFAULT_STEPS)
        if isinstance(count, float) and count.is_integer():  # YAML may write 1e3 for 1000
            count = int(count)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_TRAIN_STEPS:
        raise GraphstepError(
            f"the number of steps must be a whole number from 0 to {MAX_TRAIN_STEPS:,}, "
            f"got {excerpt(repr(count))}"
        )
    given = graph.train.get("lr", DEFAULT_LR) if lr is None else lr
    try:
        rate = float(given)
    except (TypeError, ValueError, OverflowError):
        rate = math.nan
    if isinstance(given, bool) or not math.isfinite(rate) or rate <= 0:
        raise GraphstepError(
            f"the learning rate must be a positive number, got {excerpt(repr(given))}"
        )
    return count, rate


def train(
    graph: Graph,
    steps: int | None = None,
    lr: float | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Gradient descent: `steps` steps with rate `lr` (defaults: the file's train:, else
    DEFAULT_STEPS and DEFAULT_LR).

    `on_step(step, loss)` is called after every step with the loss after it, for a progress bar.
    """
    steps, rate = settings(graph, steps, lr)
    session = Session(graph)
    for k in range(1, steps + 1):
        loss = session.train_step(rate)
        if on_step is not None:
            on_step(k, loss)
    return TrainResult(tuple(session.losses[:-1]), accuracy(session.trace), session.trace.loss)


def classifiers(graph: Graph) -> list[str]:
    """The classification loss nodes the output is built from, in topological order."""
    return [
        n
        for n in graph.order
        if n in graph.ancestors_of_output and graph.nodes[n].op in CLASSIFICATION_LOSSES
    ]


def accuracy(trace: Trace) -> float | None:
    """The share of examples whose largest logit is the target class; None if not a classifier."""
    graph = trace.graph
    right = total = 0
    for node in classifiers(graph):
        logits_name, target_name = graph.nodes[node].inputs[:2]
        predicted = np.argmax(trace.value(logits_name), axis=-1)
        hits = np.asarray(predicted == trace.value(target_name))
        right += int(hits.sum())
        total += hits.size
    return right / total if total else None
