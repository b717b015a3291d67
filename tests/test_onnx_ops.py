"""The ops and attributes imported networks need, on cases small enough to check by hand,
and the windows the debugger steps through for them."""

from __future__ import annotations

import numpy as np
import pytest

import graphstep
from graphstep.composite import windows
from graphstep.ops import OPS


def run(op: str, *inputs: np.ndarray, **attrs: object) -> np.ndarray:
    return OPS[op].forward(*inputs, **{**OPS[op].attrs, **attrs})


def test_maxpool_padding_is_never_the_maximum() -> None:
    x = -np.arange(1.0, 10.0).reshape(3, 3)  # all negative: zero padding would win
    out = run("maxpool", x, size=2, stride=2, pad=1)
    np.testing.assert_array_equal(out, [[-1, -2], [-4, -5]])


def test_avgpool_divides_by_the_pixels_inside_or_by_the_whole_window() -> None:
    x = np.ones((2, 2))
    np.testing.assert_array_equal(run("avgpool", x, size=2, stride=2, pad=1), np.ones((2, 2)))
    np.testing.assert_array_equal(
        run("avgpool", x, size=2, stride=2, pad=1, count_pad=1), np.full((2, 2), 0.25)
    )


def test_ceil_mode_keeps_the_partial_last_window() -> None:
    x = np.arange(25.0).reshape(5, 5)
    assert run("maxpool", x, size=2, stride=2).shape == (2, 2)
    out = run("maxpool", x, size=2, stride=2, ceil=1)
    np.testing.assert_array_equal(out, [[6, 8, 9], [16, 18, 19], [21, 23, 24]])


def test_grouped_conv_reads_only_its_groups_channels() -> None:
    x = np.stack([np.full((3, 3), c) for c in (1.0, 2.0, 10.0, 20.0)])  # 4 channels
    w = np.ones((2, 2, 1, 1))  # two filters, each over 2 channels
    out = run("conv2d", x, w, groups=2)
    np.testing.assert_array_equal(out[0], np.full((3, 3), 3.0))
    np.testing.assert_array_equal(out[1], np.full((3, 3), 30.0))


def test_dilated_conv_reads_every_other_pixel() -> None:
    x = np.arange(25.0).reshape(1, 5, 5)
    w = np.ones((1, 1, 2, 2))
    out = run("conv2d", x, w, dilation=2)  # x[i, j] + x[i, j+2] + x[i+2, j] + x[i+2, j+2]
    assert out.shape == (1, 3, 3)
    assert out[0, 0, 0] == 0 + 2 + 10 + 12


GROUPED = """
inputs:
  x: {shape: [4, 5, 5], init: arange}
params:
  w: {shape: [2, 2, 2, 2], init: ones}
graph:
  c: conv2d(x, w, groups=2, dilation=2, pad=[1, 0, 0, 1])
  p: maxpool(c, size=2, stride=1, pad=1, ceil=1)
  f: sum(p)
"""


@pytest.mark.parametrize("node", ["c", "p"])
def test_every_window_computes_what_forward_computed(node: str) -> None:
    graph = graphstep.load(GROUPED)
    trace = graph.trace()
    wins = windows(graph, node)
    assert wins is not None
    source = trace.value(graph.nodes[node].inputs[0])
    out = trace.value(node)
    w = trace.value("w")
    for k in range(len(wins)):
        position = wins.position(k)
        patch = wins.patch(source, position)
        if node == "p":
            assert patch.max() == out[position]
        else:
            assert np.sum(patch * w[position[0]]) == out[position]


def test_a_grouped_window_names_its_group() -> None:
    session = graphstep.load(GROUPED).session()
    session.step()
    session.step_into()
    assert session.current.text.endswith("= 74  (group 0: channels 0–1)")
    lines = [s.text for s in session.timeline.inner_steps(1)]
    assert lines[16].endswith("(group 1: channels 2–3)")


def test_a_padded_maxpool_window_lists_only_the_pixels_inside() -> None:
    session = graphstep.load(GROUPED).session()
    session.goto(2)
    session.step_into()
    assert session.current.text.endswith("max(74) = 74 (the padding left out)")


def test_lrn_matches_its_definition() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 5, 2, 2))
    size, alpha, beta, bias = 3, 0.2, 0.75, 1.5
    expected = np.empty_like(x)
    for c in range(5):
        lo, hi = max(0, c - 1), min(5, c + 2)
        square = np.sum(x[:, lo:hi] ** 2, axis=1)
        expected[:, c] = x[:, c] / (bias + alpha / size * square) ** beta
    out = run("lrn", x, size=size, alpha=alpha, beta=beta, bias=bias)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_batchnorm_normalizes_each_channel() -> None:
    x = np.array([[[[1.0]], [[4.0]]]])  # (1, 2, 1, 1)
    out = run(
        "batchnorm",
        x,
        np.array([2.0, 1.0]),
        np.array([0.5, 0.0]),
        np.array([0.0, 2.0]),
        np.array([1.0, 4.0]),
        epsilon=0.0,
    )
    np.testing.assert_allclose(out.ravel(), [2.0 * 1.0 + 0.5, (4.0 - 2.0) / 2.0])


def test_new_ops_are_written_in_yaml_by_their_names() -> None:
    graph = graphstep.load(
        "inputs:\n  a: [[1, -2], [3, -4]]\ngraph:\n"
        "  t: transpose(a)\n"
        "  c: concat(a, t, axis=0)\n"
        "  s: slice(c, starts=[1], ends=[3], axes=[0])\n"
        "  k: clip(s, low=-1, high=2)\n"
        "  f: sum(leaky_relu(k, alpha=0.5))\n"
    )
    trace = graph.trace()
    np.testing.assert_array_equal(trace.value("s"), [[3, -4], [1, 3]])
    np.testing.assert_array_equal(trace.value("k"), [[2, -1], [1, 2]])
    assert trace.loss == 2 - 0.5 + 1 + 2
