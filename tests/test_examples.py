"""The numbers of the seed lecture, as graphs/ gives them (SPEC §6)."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

import graphstep
from graphstep import cli

GRAPHS = Path(__file__).parent.parent / "graphs"
BUNDLED = Path(graphstep.__file__).parent / "examples" / "chain_rule.yaml"
EXAMPLES = (
    "chain_rule",
    "mul",
    "add",
    "max",
    "mlp_3_4_2",
    "smallest_nn",
    "pool_4x4",
    "conv_32x32x3",
    "filters",
    "fc_vs_conv",
)


def load(name: str) -> graphstep.Graph:
    return graphstep.load(GRAPHS / f"{name}.yaml")


def trace(name: str) -> graphstep.Trace:
    return load(name).trace()


def scalar(array: np.ndarray | None) -> float:
    assert array is not None
    return float(array)


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_has_a_name_and_a_description(name: str) -> None:
    graph = load(name)
    assert graph.name and "_" not in graph.name
    assert len(graph.description.split()) >= 15


def test_every_example_of_the_spec_is_in_graphs() -> None:
    assert set(EXAMPLES) <= {p.stem for p in GRAPHS.glob("*.yaml")}


def test_bundled_example_is_graphs_chain_rule() -> None:
    assert BUNDLED.read_bytes() == (GRAPHS / "chain_rule.yaml").read_bytes()


# chain rule: f = (x + y) z at (-2, 5, -4)


def test_chain_rule_forward_gives_q_three_and_f_minus_twelve() -> None:
    t = trace("chain_rule")
    assert scalar(t.value("q")) == 3
    assert scalar(t.value("f")) == -12


def test_chain_rule_gives_minus_four_for_q() -> None:
    assert scalar(trace("chain_rule").grad("q")) == -4


def test_chain_rule_gives_minus_four_for_x() -> None:
    assert scalar(trace("chain_rule").grad("x")) == -4


def test_chain_rule_gives_minus_four_for_y() -> None:
    assert scalar(trace("chain_rule").grad("y")) == -4


def test_chain_rule_gives_three_for_z() -> None:
    assert scalar(trace("chain_rule").grad("z")) == 3


def test_chain_rule_orders_forward_then_backward_as_the_slide() -> None:
    graph = load("chain_rule")
    assert graph.forward_order == ["q", "f"]
    assert cli.backward_order(graph, graph.trace()) == ["f", "q", "z", "y", "x"]


# the three gates


def test_mul_gives_y_for_x_and_x_for_y() -> None:
    t = trace("mul")
    assert scalar(t.grad("x")) == scalar(t.value("y")) == -4
    assert scalar(t.grad("y")) == scalar(t.value("x")) == 3


def test_add_gives_one_for_both_inputs() -> None:
    t = trace("add")
    assert scalar(t.grad("x")) == 1
    assert scalar(t.grad("y")) == 1


def test_max_of_four_and_two_gives_one_for_x_and_zero_for_y() -> None:
    t = trace("max")
    assert scalar(t.value("f")) == 4
    assert scalar(t.grad("x")) == 1
    assert scalar(t.grad("y")) == 0


# the 3-4-2 network


def test_mlp_has_the_slides_shapes() -> None:
    graph = load("mlp_3_4_2")
    shapes = {n: graph.nodes[n].shape for n in ("x", "W1", "b1", "h", "W2", "b2", "yhat")}
    assert shapes == {
        "x": (3,),
        "W1": (4, 3),
        "b1": (4,),
        "h": (4,),
        "W2": (2, 4),
        "b2": (2,),
        "yhat": (2,),
    }
    assert graph.params == ["W1", "b1", "W2", "b2"]


def test_mlp_loss_is_the_norm_of_y_minus_yhat() -> None:
    t = trace("mlp_3_4_2")
    assert t.loss == pytest.approx(np.linalg.norm(t.value("y") - t.value("yhat")))


def test_mlp_gradient_descent_step_lowers_the_loss() -> None:
    graph = load("mlp_3_4_2")
    lr = graph.train["lr"]
    before = graph.trace()
    stepped = {p: graph.leaf_array(p) - lr * before.grad(p) for p in graph.params}
    after = graph.trace(values=stepped)
    assert after.loss < before.loss


def test_mlp_w1_gradient_matches_the_chain_rule_by_hand() -> None:
    t = trace("mlp_3_4_2")
    x, y, yhat, h = (t.value(n) for n in ("x", "y", "yhat", "h"))
    dyhat = (yhat - y) / np.linalg.norm(y - yhat)
    dz2 = dyhat * yhat * (1 - yhat)
    dz1 = (t.value("W2").T @ dz2) * h * (1 - h)
    np.testing.assert_allclose(t.grad("W1"), np.outer(dz1, x))


# the smallest network


def test_smallest_nn_has_nine_inputs_and_three_classes() -> None:
    graph = load("smallest_nn")
    assert graph.nodes["W"].shape == (9, 3)
    assert graph.nodes["X"].shape[1] == 9
    assert set(np.unique(graph.leaf_array("target"))) == {0.0, 1.0, 2.0}


def test_smallest_nn_starts_near_chance() -> None:
    assert trace("smallest_nn").loss == pytest.approx(np.log(3), abs=0.1)


def test_smallest_nn_gradient_descent_by_hand_classifies_every_pattern() -> None:
    graph = load("smallest_nn")
    values = {p: graph.leaf_array(p) for p in graph.params}
    for _ in range(int(graph.train["steps"])):
        t = graph.trace(values=values)
        values = {p: values[p] - graph.train["lr"] * t.grad(p) for p in graph.params}
    t = graph.trace(values=values)
    predicted = t.value("scores").argmax(axis=1)
    np.testing.assert_array_equal(predicted, t.value("target"))


def test_smallest_nn_train_reaches_100_percent_in_500_steps() -> None:
    from graphstep.train import train

    result = train(load("smallest_nn"), 500)
    assert result.accuracy == 1.0
    assert result.final_loss < result.losses[0] / 10


# pooling


def test_pool_4x4_max_is_6_8_3_4() -> None:
    np.testing.assert_array_equal(trace("pool_4x4").value("m"), [[6, 8], [3, 4]])


def test_pool_4x4_avg_is_3_25_5_25_2_2() -> None:
    np.testing.assert_array_equal(trace("pool_4x4").value("a"), [[3.25, 5.25], [2, 2]])


def test_pool_4x4_gradient_goes_to_each_max_and_a_quarter_everywhere() -> None:
    expected = np.full((4, 4), 0.25)
    for i, j in ((1, 1), (1, 3), (2, 0), (3, 3)):  # 6, 8, 3, 4
        expected[i, j] += 1
    np.testing.assert_array_equal(trace("pool_4x4").grad("x"), expected)


# the convolutional layer


def test_conv_32x32x3_gives_six_28x28_activation_maps() -> None:
    graph = load("conv_32x32x3")
    assert graph.nodes["image"].shape == (3, 32, 32)
    assert graph.nodes["maps"].shape == (6, 28, 28)
    assert graph.trace().value("maps").shape == (6, 28, 28)


def test_conv_32x32x3_has_76_parameters_per_filter_and_456_in_all() -> None:
    graph = load("conv_32x32x3")
    w, b = graph.nodes["w"].shape, graph.nodes["b"].shape
    assert (w, b) == ((6, 3, 5, 5), (6,))
    per_filter = int(np.prod(w[1:])) + 1
    assert per_filter == 76
    assert graph.parameter_count() == 6 * per_filter == 456


def test_conv_32x32x3_output_is_a_dot_product_plus_bias_per_window() -> None:
    t = trace("conv_32x32x3")
    image, w, b = t.value("image"), t.value("w"), t.value("b")
    window = image[:, 7:12, 3:8]
    assert t.value("maps")[2, 7, 3] == pytest.approx(float(w[2].ravel() @ window.ravel() + b[2]))


# the seed's hand-made filters


def test_filters_edge_filter_responds_three_at_the_vertical_edge() -> None:
    response = trace("filters").value("response")
    np.testing.assert_array_equal(response[0], np.tile([0, 3, 3, 0], (4, 1)))


def test_filters_box_filter_gives_each_windows_mean_brightness() -> None:
    response = trace("filters").value("response")
    np.testing.assert_allclose(response[1], np.tile([0, 0.33, 0.66, 0.99], (4, 1)))


# fully connected vs locally connected vs convolutional


def summary_text(name: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["summary", str(GRAPHS / f"{name}.yaml")]) == 0
    return out.getvalue()


def row(text: str, node: str) -> str:
    return next(line for line in text.splitlines() if line.split()[:1] == [node])


@pytest.mark.parametrize(
    ("param", "count"),
    [
        ("W_fc", "1,600,000,000 (1.6 billion)"),
        ("W_local", "4,000,000 (4 million)"),
        ("W_conv", "100"),
        ("W_conv20", "2,000"),
    ],
)
def test_fc_vs_conv_summary_counts_the_seeds_parameters(param: str, count: str) -> None:
    assert row(summary_text("fc_vs_conv"), param).split("  ")[-1].strip() == count


def test_fc_vs_conv_layers_have_40k_hidden_units_each() -> None:
    graph = load("fc_vs_conv")
    assert graph.nodes["image"].shape == (1, 200, 200)
    for layer in ("fc", "local", "conv"):
        assert graph.nodes[layer].size == 40_000
    assert graph.nodes["conv20"].shape == (20, 200, 200)


def test_fc_vs_conv_summary_allocates_nothing() -> None:
    import tracemalloc

    tracemalloc.start()
    summary_text("fc_vs_conv")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50_000_000


def test_conv_summary_shows_six_filters_of_76() -> None:
    assert "456 (w, b: 6 filters × 76)" in row(summary_text("conv_32x32x3"), "maps")
