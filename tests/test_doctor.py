"""The gradient doctor on constructed pathological graphs, each with its exact findings."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import graphstep
from graphstep import cli
from graphstep.doctor import Diagnosis, Kind, Severity, diagnose, provenance
from graphstep.ops import OPS, Op, Shape
from graphstep.steps import Timeline

GRAPHS = Path(__file__).parent.parent / "graphs"


def kinds(d: Diagnosis) -> list[tuple[str, str]]:
    return [(str(f.kind), f.node) for f in d.findings]


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


# ---------------------------------------------------------------------------
# vanishing and exploding

SIGMOID_LAYERS = 20


def sigmoid_chain(layers: int = SIGMOID_LAYERS) -> graphstep.Graph:
    lines = ["inputs: {x: 0.5}", "params:"]
    for k in range(1, layers + 1):
        lines += [f"  w{k}: {1 + 0.05 * k}", f"  b{k}: {-0.1 * k}"]
    lines.append("graph:")
    prev = "x"
    for k in range(1, layers + 1):
        lines.append(f"  h{k}: sigmoid(w{k} * {prev} + b{k})")
        prev = f"h{k}"
    lines.append(f"output: h{layers}")
    return graphstep.load("\n".join(lines) + "\n")


def test_twenty_sigmoid_layers_vanish_with_the_gain_of_each_layer() -> None:
    graph = sigmoid_chain()
    trace = graph.trace()
    d = diagnose(trace)
    assert kinds(d) == [("vanishing", "w1")]
    f = d.findings[0]
    assert f.severity is Severity.WARNING
    assert f.path[0] == "h20" and f.path[-1] == "w1" and len(f.path) == 3 * SIGMOID_LAYERS + 1
    # one chain of scalars: its gains multiply to |∂h20/∂w1|
    assert f.numbers["factor"] == pytest.approx(abs(float(trace.grad("w1"))), rel=1e-9)
    assert f.numbers["length"] == 3 * SIGMOID_LAYERS
    assert f.step == Timeline(trace).backward_index["w1"]
    # layer k passes ∂L/∂h_k back to h_{k-1} times σ'(z_k)·w_k
    h = 0.5
    expected = []
    for k in range(1, SIGMOID_LAYERS + 1):
        w, b = 1 + 0.05 * k, -0.1 * k
        s = sigmoid(w * h + b)
        expected.append(s * (1 - s) * w)
        h = s
    layers = {layer.name: layer for layer in d.layers}
    assert [layers[f"h{k}"].gain for k in range(1, 21)] == pytest.approx(expected, rel=1e-12)
    assert layers["h1"].weight_norm == pytest.approx(math.hypot(1.05, -0.1))
    grad = float(np.hypot(trace.grad("w1"), trace.grad("b1")))
    assert layers["h1"].weight_grad_norm == pytest.approx(grad, rel=1e-12)


def test_a_layer_reading_one_node_twice_sends_back_the_sum() -> None:
    # ∂(x·x)/∂x = 3 + 3 along two edges: the layer's gain is 6, not √(3² + 3²)
    graph = graphstep.load("inputs: {x: 3, y: 2}\ngraph: {g: x * x, f: g + y * y}\noutput: f\n")
    layers = {layer.name: layer for layer in diagnose(graph.trace()).layers}
    assert layers["g"].gain == 6.0
    assert layers["f"].gain == pytest.approx(math.hypot(1, 4))  # to g, and 2 + 2 to y


def test_a_long_chain_lists_its_ends_and_skips_its_middle() -> None:
    f = diagnose(sigmoid_chain(40).trace()).findings[0]
    assert f.numbers["length"] == 120
    assert len(f.path) == 64
    assert f.path[:2] == ("h40", "h40.2") and f.path[-2:] == ("…", "w1")


def test_a_badly_scaled_init_explodes() -> None:
    graph = graphstep.load(
        "inputs: {x: [1, 1, 1, 1]}\n"
        "params:\n"
        + "".join(
            f"  W{k}: {{shape: [4, 4], init: normal, std: 30, seed: {k}}}\n" for k in (1, 2, 3)
        )
        + "graph:\n  h1: W1 @ x\n  h2: W2 @ h1\n  h3: W3 @ h2\n  f: sum(h3)\noutput: f\n"
    )
    trace = graph.trace()
    d = diagnose(trace)
    assert kinds(d) == [("exploding", "W1")]
    f = d.findings[0]
    assert f.path == ("f", "h3", "h2", "h1", "W1")
    # each node on the chain has one consumer: the gains multiply to ‖∂L/∂W1‖
    assert f.numbers["factor"] == pytest.approx(float(np.linalg.norm(trace.grad("W1"))))
    assert f.numbers["factor"] > 1e3
    # the weight norms sit next to the gradient norms, layer by layer
    layers = {layer.name: layer for layer in d.layers}
    w2 = graph.trace().value("W2")
    assert layers["h2"].weight_norm == pytest.approx(float(np.linalg.norm(w2)))
    ratio = np.linalg.norm(trace.grad("x")) / np.linalg.norm(trace.grad("h1"))
    assert layers["h1"].gain == pytest.approx(float(ratio))  # what reaches its data, x


def scaled_layers(scale: float) -> graphstep.Graph:
    """Two linear layers read by a loss multiplied by `scale`: every gradient is `scale`
    times the one at scale 1, the values (and so every gain) the same."""
    return graphstep.load(
        "inputs: {x: [1, -2, 3, 0.5]}\n"
        "params:\n"
        "  W1: {shape: [4, 4], init: normal, std: 1, seed: 1}\n"
        "  W2: {shape: [4, 4], init: normal, std: 1, seed: 2}\n"
        f"  c: {scale!r}\n"
        "graph:\n  h1: W1 @ x\n  h2: W2 @ h1\n  f: c * sum(h2)\noutput: f\n"
    )


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_norms_of_huge_and_tiny_gradients_are_scaled_not_inf_or_zero(scale: float) -> None:
    # 4 numbers of 1e200 square to inf, of 1e-200 to 0: the doctor read the first as an
    # infinite gradient and the second as a zero one, a finding that is not there
    one, far = diagnose(scaled_layers(1.0).trace()), diagnose(scaled_layers(scale).trace())
    assert Kind.ZERO_GRAD not in {f.kind for f in far.findings}
    for node in ("h2", "h1", "W1", "W2", "x"):
        assert far.grad_norms[node] == pytest.approx(scale * one.grad_norms[node], rel=1e-12)
    # the layers below the loss pass on the same share of what they receive
    layers = {layer.name: layer for layer in far.layers}
    for layer in one.layers[:2]:
        assert layer.name in ("h1", "h2") and layer.weight_grad_norm
        assert layers[layer.name].gain == pytest.approx(layer.gain, rel=1e-12)
        got = layers[layer.name].weight_grad_norm
        assert got == pytest.approx(scale * layer.weight_grad_norm, rel=1e-12)
    assert far.gains["h2"] == pytest.approx(one.gains["h2"], rel=1e-12)


# ---------------------------------------------------------------------------
# non-finite origins


def test_log_of_x_minus_3_at_1_is_a_forward_origin() -> None:
    graph = graphstep.load("inputs: {x: 1}\ngraph:\n  y: log(x - 3)\n  f: y * 2\noutput: f\n")
    trace = graph.trace()
    d = diagnose(trace)
    assert kinds(d) == [("nonfinite", "y")]
    f = d.findings[0]
    assert f.severity is Severity.ERROR and d.has_error
    assert f.phase == "forward" and f.step == Timeline(trace).forward_index["y"] == 2
    assert "log of a negative number (min -2)" in f.reason
    assert f.path == ("y", "f")


def test_an_input_given_as_nan_is_its_own_origin() -> None:
    graph = graphstep.parse("log(x) * y", x=math.nan, y=2.0)
    d = diagnose(graph.trace())
    assert kinds(d) == [("nonfinite", "x")]
    assert d.findings[0].reason == "the input x is given as nan"
    assert d.findings[0].path == ("x", "f.1", "f")
    assert (d.findings[0].step, d.findings[0].phase) == (0, "start")


def test_x_over_its_norm_at_zero_is_zero_over_zero() -> None:
    graph = graphstep.load("inputs: {x: [0, 0]}\ngraph: {u: x / norm(x), f: sum(u)}\noutput: f\n")
    d = diagnose(graph.trace())
    assert kinds(d) == [("nonfinite", "u")]
    assert "0 / 0" in d.findings[0].reason


def test_sqrt_at_zero_is_a_backward_only_origin() -> None:
    graph = graphstep.load("inputs: {x: 0}\ngraph:\n  f: x ** 0.5\noutput: f\n")
    trace = graph.trace()
    assert float(trace.value("f")) == 0  # the forward pass is finite
    d = diagnose(trace)
    assert kinds(d) == [("nonfinite", "x")]
    f = d.findings[0]
    assert f.phase == "backward" and f.step == Timeline(trace).backward_index["x"]
    assert "infinite at a = 0" in f.reason
    assert f.path == ("x", "f")


def test_forward_origins_come_first_then_backward_ones_as_backprop_meets_them() -> None:
    graph = graphstep.load(
        "inputs: {x: 0, y: 0, z: 1}\n"
        "graph: {a: x ** 0.5, b: y ** 0.5, c: log(z - 2), f: a + 2 * b + c}\noutput: f\n"
    )
    d = diagnose(graph.trace())
    # c is nan forward; then ∂f/∂a and ∂f/∂b are finite but a ** 0.5 and b ** 0.5 send ∞ back
    assert [(f.node, f.phase) for f in d.findings] == [
        ("c", "forward"),
        ("y", "backward"),
        ("x", "backward"),
    ]


def test_sqrt_of_abs_names_the_inf_not_the_nan_it_causes_below() -> None:
    # ∂f/∂a = ∞ at a = |x| = 0; then abs sends back ∞ · sign(0) = 0 · ∞ = nan to x
    graph = graphstep.load("inputs: {x: 0}\ngraph:\n  a: abs(x)\n  f: a ** 0.5\noutput: f\n")
    trace = graph.trace()
    assert np.isnan(trace.grad("x"))
    assert kinds(diagnose(trace)) == [("nonfinite", "a")]


# ---------------------------------------------------------------------------
# dead units, unselected inputs and the zero gradients they explain


def test_a_dead_relu_layer_and_the_params_it_cuts() -> None:
    graph = graphstep.load(
        "inputs: {x: [[1, 2], [3, 4]]}\n"
        "params:\n  W: {value: [[-1, -1], [-2, -1]]}\n  V: {value: [1, 1]}\n"
        "graph:\n  h: relu(x @ W)\n  f: sum(h @ V)\noutput: f\n"
    )
    trace = graph.trace()
    d = diagnose(trace)
    assert sorted(kinds(d)) == [("dead", "h"), ("zero-grad", "V"), ("zero-grad", "W")]
    by = {(str(f.kind), f.node): f for f in d.findings}
    dead = by["dead", "h"]
    assert dead.numbers == {"fraction": 1.0, "units": 2.0}
    assert "2 of 2 units have input ≤ 0 across the batch of 2" in dead.reason
    w = by["zero-grad", "W"]
    assert w.path == ("W", "h.1", "h")
    assert "at h: dead ReLU: its input h.1 is ≤ 0 everywhere" in w.reason
    assert w.step == Timeline(trace).backward_index["h.1"]  # where ∂L/∂h · 1(h.1 > 0) is 0
    assert "at f.1: multiplied by h, which is 0" in by["zero-grad", "V"].reason


def test_a_param_reaching_the_loss_only_through_a_dead_unit() -> None:
    graph = graphstep.load(
        "inputs: {x: 1.5, y: 2}\nparams: {w: -1, v: 3}\n"
        "graph:\n  u: relu(w * x)\n  f: 2 * u + v * y\noutput: f\n"
    )
    d = diagnose(graph.trace())
    assert kinds(d) == [("zero-grad", "w"), ("dead", "u")]
    f = d.findings[0]
    assert f.path == ("w", "u.1", "u")
    assert f.numbers == {"max_abs_grad": 0.0}


def test_a_max_whose_one_input_is_never_selected() -> None:
    graph = graphstep.load(
        "inputs: {x: [1, 2], y: [3, 4.5]}\nparams: {w: 2}\n"
        "graph:\n  m: max(x * w, y)\n  f: sum(m)\noutput: f\n"
    )
    d = diagnose(graph.trace())
    assert kinds(d) == [("zero-grad", "w"), ("unselected", "m.1")]
    zero, unselected = d.findings
    assert "max never selects m.1" in zero.reason and zero.path == ("w", "m.1", "m")
    assert unselected.severity is Severity.WARNING  # m.1 depends on a param
    assert unselected.reason == "max(m.1, y) never selects m.1: it gets no gradient through m"


def test_a_maxpool_position_never_taken_across_the_batch() -> None:
    x = np.zeros((2, 1, 2, 2))
    x[:, 0, 0, 0] = [5, 6]
    x[0, 0, 1, 1] = 7  # the second example takes [0,0]; the first takes [1,1]
    graph = graphstep.parse("sum(maxpool(x, size=2))", x=x.tolist())
    d = diagnose(graph.trace())
    assert [(str(f.kind), f.numbers["positions"]) for f in d.findings] == [("unselected", 2.0)]


def test_saturated_sigmoid_and_one_hot_softmax() -> None:
    graph = graphstep.load(
        "inputs: {x: [[30, -40], [50, -60]]}\n"
        "graph:\n  s: sigmoid(x)\n  p: softmax(x * 2)\n  f: sum(s) + sum(p)\noutput: f\n"
    )
    d = diagnose(graph.trace())
    assert kinds(d) == [("saturated", "s"), ("one-hot", "p")]
    assert d.findings[0].numbers == {"fraction": 1.0, "units": 2.0}
    assert d.findings[1].numbers == {"rows": 2.0, "of": 2.0}
    assert d.dead["s"] == 1.0


# ---------------------------------------------------------------------------
# the per-node gradient check


class Cube(Op):
    """x³ with a deliberately wrong backward: 2x² instead of 3x²."""

    name = "cube"
    args = ("x",)

    def shape(self, x: Shape) -> Shape:
        return x

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x**3

    def backward(self, g: np.ndarray, out: np.ndarray, x: np.ndarray) -> Sequence[np.ndarray]:
        return (g * 2 * x * x,)

    def local(self, i: int, names: Sequence[str], out: str) -> str:
        return f"2·{names[0]}²"


def test_the_check_finds_exactly_the_op_with_a_wrong_local_gradient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(OPS, "cube", Cube())
    graph = graphstep.load(
        "inputs: {x: [0.5, -1, 2]}\nparams: {w: [1, 2, 3]}\n"
        "graph:\n  h: tanh(w * x)\n  c: cube(h + 1)\n  f: sum(c * w)\noutput: f\n"
    )
    d = diagnose(graph.trace())
    assert kinds(d) == [("gradcheck", "c")]
    f = d.findings[0]
    assert f.severity is Severity.ERROR
    assert f.numbers["analytic"] == pytest.approx(2 / 3 * f.numbers["numeric"], rel=1e-6)


def test_kinks_are_not_mismatches() -> None:
    graph = graphstep.load(
        "inputs: {x: [0, 0, 1], y: [0, 1, 1]}\n"
        "graph:\n  f: sum(relu(x) + max(x, y) + abs(x - y))\noutput: f\n"
    )
    assert [f for f in diagnose(graph.trace()).findings if f.kind is Kind.GRADCHECK] == []


@pytest.mark.parametrize(
    "name", sorted(p.name for p in GRAPHS.glob("*.yaml") if p.name != "fc_vs_conv.yaml")
)
def test_every_example_passes_the_check(name: str) -> None:
    d = diagnose(graphstep.load(GRAPHS / name).trace())
    assert not d.has_error


# ---------------------------------------------------------------------------
# --why: provenance


def test_why_splits_a_gradient_over_its_paths() -> None:
    # ∂f/∂x = y + z along two paths: 3 through x * y, -1 through x * z
    graph = graphstep.parse("x * y + x * z", x=2.0, y=3.0, z=-1.0)
    found = provenance(graph.trace(), "x")
    assert [(p.nodes, p.amount) for p in found.paths] == [
        (("f", "f.1", "x"), pytest.approx(3.0)),
        (("f", "f.2", "x"), pytest.approx(-1.0)),
    ]
    assert [p.share for p in found.paths] == pytest.approx([1.5, -0.5])


def test_why_ignores_what_does_not_reach_the_loss() -> None:
    graph = graphstep.load("inputs: {x: 2, y: 3}\ngraph: {unused: x * 5, f: x * y}\noutput: f\n")
    found = provenance(graph.trace(), "x")
    assert [(p.nodes, p.amount) for p in found.paths] == [(("f", "x"), 3.0)]


def test_why_finds_the_top_paths_of_a_ladder_without_enumerating_them() -> None:
    # 40 diamonds in a row: 2**40 paths from the loss to x
    lines = ["inputs: {x: 0.3}", "graph:"]
    prev = "x"
    for k in range(40):
        lines.append(f"  d{k}: {1 + k % 3} * {prev} + 0.5 * {prev}")
        prev = f"d{k}"
    lines.append(f"output: {prev}")
    found = provenance(graphstep.load("\n".join(lines) + "\n").trace(), "x", top=10)
    assert len(found.paths) == 10
    assert found.searched < 10_000
    shares = [abs(p.share) for p in found.paths]
    assert shares == sorted(shares, reverse=True)
    # the best path takes the larger factor at every diamond
    best = math.prod((1 + k % 3) for k in range(40))
    assert found.paths[0].amount == pytest.approx(best)


# ---------------------------------------------------------------------------
# the command line


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_doctor_json_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "log.yaml"
    path.write_text("inputs: {x: 1}\ngraph:\n  y: log(x - 3)\n  f: y * 2\noutput: f\n")
    code, out, err = run(["doctor", str(path), "--json"], capsys)
    assert code == 1 and err == ""
    report = json.loads(out)
    assert report["graph"] == "log" and report["loss"] == "nan" and report["errors"] == 1
    assert report["findings"] == [
        {
            "kind": "nonfinite",
            "severity": "error",
            "node": "y",
            "step": 2,
            "phase": "forward",
            "reason": report["findings"][0]["reason"],
            "numbers": {"value": "nan"},
            "path": ["y", "f"],
        }
    ]
    assert [layer["name"] for layer in report["layers"]] == ["y", "f"]
    assert report["gains"] == {"y.2": 1.0, "y": 0.5, "f": 2.0} and report["dead"] == {}


def test_doctor_text_exits_0_on_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["doctor", str(GRAPHS / "max.yaml")], capsys)
    assert code == 0
    assert out.splitlines()[:3] == [
        "max: 1 finding (1 info)",
        "info     unselected y  [step 1 forward]",
        "    max(x, y) never selects y: it gets no gradient through f",
    ]


def test_doctor_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["doctor", str(GRAPHS / "chain_rule.yaml"), "--why", "x", "--json"], capsys)
    assert code == 0
    assert json.loads(out) == {
        "node": "x",
        "grad_norm": 4.0,
        "paths": [{"nodes": ["f", "q", "x"], "share": 1.0, "amount": -4.0}],
        "searched": 3,
    }
    code, out, _ = run(["doctor", str(GRAPHS / "chain_rule.yaml"), "--why", "x"], capsys)
    assert "100.0%  -4" in out and "f → q → x" in out


def test_doctor_why_of_an_unknown_node(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["doctor", str(GRAPHS / "chain_rule.yaml"), "--why", "xx"], capsys)
    assert code == 2 and out == ""
    assert err == (
        "graphstep: error: --why xx: no node named 'xx' in chain-rule (hint: did you mean 'x'?)\n"
    )
