"""The command line of SPEC §3, run in-process through cli.main (and once as `python -m`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphstep
from graphstep import cli
from graphstep.ops import OPS

GRAPHS = Path(__file__).parent.parent / "graphs"
CHAIN_RULE = str(GRAPHS / "chain_rule.yaml")
RUNNABLE = sorted(p.name for p in GRAPHS.glob("*.yaml") if p.name != "fc_vs_conv.yaml")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "graph.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def table_rows(out: str) -> dict[str, list[str]]:
    """The run table's rows by node name, cells split on runs of two or more spaces."""
    import re

    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("node ")) + 2
    rows = {}
    for line in lines[start:]:
        if not line.strip():
            break
        cells = re.split(r" {2,}", line)
        rows[cells[0]] = cells
    return rows


# run


def test_run_prints_every_node_in_topological_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["run", CHAIN_RULE], capsys)
    assert code == 0
    rows = table_rows(out)
    assert list(rows) == ["x", "y", "z", "q", "f"]
    assert rows["q"] == ["q", "add", "x, y", "[]", "3", "-4"]
    assert rows["x"] == ["x", "input", "[]", "-2", "-4"]  # a leaf has no inputs
    assert out.rstrip().endswith("f = -12")


def test_run_shows_tensors_compactly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["run", str(GRAPHS / "pool_4x4.yaml")], capsys)
    assert code == 0
    rows = table_rows(out)
    assert rows["m"][1:] == ["maxpool", "x", "[2×2]", "[[6, 8], [3, 4]]", "[[1, 1], [1, 1]]"]
    code, out, _ = run(["run", "--wide", str(GRAPHS / "conv_32x32x3.yaml")], capsys)
    assert table_rows(out)["maps"][4].startswith("[6×28×28] min ")


def test_run_json_is_the_spec_schema_exactly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["run", CHAIN_RULE, "--json"], capsys)
    assert code == 0
    scalar = {"inputs": [], "shape": []}
    assert json.loads(out) == {
        "graph": "chain-rule",
        "output": "f",
        "forward_order": ["q", "f"],
        "backward_order": ["f", "q", "z", "y", "x"],
        "nodes": {
            "x": {"op": "input", **scalar, "value": -2.0, "grad": -4.0},
            "y": {"op": "input", **scalar, "value": 5.0, "grad": -4.0},
            "z": {"op": "input", **scalar, "value": -4.0, "grad": 3.0},
            "q": {"op": "add", "inputs": ["x", "y"], "shape": [], "value": 3.0, "grad": -4.0},
            "f": {"op": "mul", "inputs": ["q", "z"], "shape": [], "value": -12.0, "grad": 1.0},
        },
    }


def test_run_json_has_generated_nodes_nested_lists_and_null_gradients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "inputs:\n  x: [[1, 2], [3, 4]]\n  unused: 7\n"
        "graph:\n  d: 2 * x + x ** 3\n  f: sum(d)\n  other: unused * 2\noutput: f\n",
    )
    code, out, _ = run(["run", path, "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    nodes: dict[str, Any] = report["nodes"]
    assert set(nodes) == {"x", "unused", "d.1", "d.2", "d.3", "d", "f", "other.1", "other"}
    assert nodes["d.1"] == {"op": "const", "inputs": [], "shape": [], "value": 2.0, "grad": None}
    assert nodes["x"]["value"] == [[1.0, 2.0], [3.0, 4.0]]
    assert nodes["x"]["grad"] == [[5.0, 14.0], [29.0, 50.0]]  # 2 + 3x²
    assert nodes["unused"]["grad"] is None and nodes["other"]["grad"] is None
    assert "unused" not in report["backward_order"]
    assert report["forward_order"] == ["d.2", "d.3", "d", "f", "other"]


def test_run_json_writes_non_finite_numbers_as_strings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["run", "sum(log(x) * y)", "--set", "x=[0, -1]", "--set", "y=[1, 1]", "--json"]
    code, out, err = run(argv, capsys)
    assert code == 1
    nodes = json.loads(out)["nodes"]
    assert nodes["f.1"]["value"] == ["-inf", "nan"]
    assert nodes["f"]["value"] == "nan"
    assert nodes["x"]["grad"] == ["inf", -1.0]
    assert (
        err
        == "graphstep: <expr>:1:5: anomaly: 'f.1' first produced a non-finite value (nan/-inf)\n"
    )


def test_run_expression_with_set_gives_the_seeds_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["run", "(x + y) * z", "--set", "x=-2", "--set", "y=5", "--set", "z=-4", "--json"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    nodes = json.loads(out)["nodes"]
    assert nodes["f"]["value"] == -12.0
    assert [nodes[n]["grad"] for n in ("x", "y", "z")] == [-4.0, -4.0, 3.0]


def test_set_value_must_keep_the_shape_the_file_gives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["run", CHAIN_RULE, "--set", "z=[1, 2]"], capsys)
    assert code == 2
    assert err == (
        "graphstep: error: --set z=[1, 2]: the value has shape [2]; z is [] "
        "(hint: give z a value of its shape)\n"
    )
    mlp = str(Path(CHAIN_RULE).parent / "mlp_3_4_2.yaml")
    code, _, err = run(["run", mlp, "--set", "W1=[[1, 2, 3]]"], capsys)
    assert code == 2
    assert "the value has shape [1, 3]; W1 is [4, 3]" in err


def test_set_value_of_an_expression_gives_the_leaf_its_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["run", "sum(x * 2)", "--set", "x=[1, 2]", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["nodes"]["x"]["grad"] == [2.0, 2.0]


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["run"], ["run", CHAIN_RULE, "--set", "x"], ["train", CHAIN_RULE, "--steps", "0"]):
        code, _, err = run(argv, capsys)
        assert code == 2
        assert err.startswith("graphstep: error: ") and err.count("\n") == 1, err


def test_a_bare_word_that_is_no_file_is_an_unknown_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["rnu"], capsys)
    assert (code, err) == (
        2,
        "graphstep: error: unknown command 'rnu' (did you mean 'run'?) (hint: graphstep --help)\n",
    )
    code, _, err = run(["frobnicate"], capsys)
    assert code == 2 and "unknown command 'frobnicate' (and no such file)" in err


def test_set_changes_a_value_in_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["run", CHAIN_RULE, "--set", "z=2", "--json"], capsys)
    assert code == 0
    nodes = json.loads(out)["nodes"]
    assert nodes["f"]["value"] == 6.0
    assert nodes["x"]["grad"] == 2.0


def test_run_steps_prints_the_transcript_numbered_from_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["run", CHAIN_RULE, "--steps"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "1 forward q: q = x + y = -2 + 5 = 3"
    assert lines[-1] == "7 backward x: ∂f/∂x = ∂f/∂q · ∂(x + y)/∂x = -4 · 1 = -4"


def test_run_steps_into_lists_the_windows_of_composites(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pool = str(GRAPHS / "pool_4x4.yaml")
    _, over, _ = run(["run", pool, "--steps"], capsys)
    code, into, _ = run(["run", pool, "--steps", "--into"], capsys)
    assert code == 0
    assert len(into.splitlines()) == len(over.splitlines()) + 4 * 4  # 2 pools × 4 windows × 2
    assert "max(1, 1, 5, 6) = 6" in into


def test_into_without_steps_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["run", CHAIN_RULE, "--into"], capsys)
    assert code == 2
    assert "--into" in err


def test_log_of_a_negative_number_exits_1_naming_the_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "inputs:\n  x: -1\ngraph:\n  l: log(x)\n  f: l * 2\n")
    code, out, err = run(["run", path], capsys)
    assert code == 1
    assert "l     log" in out  # the table is printed
    assert err == f"graphstep: {path}:4:6: anomaly: 'l' first produced a non-finite value (nan)\n"


# check


@pytest.mark.parametrize("name", RUNNABLE)
def test_check_passes_on_every_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", str(GRAPHS / name)], capsys)
    assert code == 0, out
    assert "gradients match central finite differences" in out


def test_check_exits_1_on_a_wrong_gradient(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mul = OPS["mul"]
    right = mul.backward

    def twice_as_steep(g: np.ndarray, out: np.ndarray, a: np.ndarray, b: np.ndarray) -> Any:
        ga, gb = right(g, out, a, b)
        return 2 * ga, gb

    monkeypatch.setattr(mul, "backward", twice_as_steep)
    code, out, _ = run(["check", CHAIN_RULE], capsys)
    assert code == 1
    rows = table_rows(out)
    assert rows["q"][-1].startswith("MISMATCH")
    assert rows["z"][-1] == "ok"
    assert "gradient mismatch at x, y, q" in out


def test_check_tells_a_kink_from_a_mismatch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", "relu(x) + relu(y) * 2", "--set", "x=0", "--set", "y=3"], capsys)
    assert code == 0
    rows = table_rows(out)
    assert rows["x"][-1] == "ok, 1 at a kink"
    assert rows["y"][-1] == "ok"


def test_check_checks_every_leaf_element(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", str(GRAPHS / "conv_32x32x3.yaml")], capsys)
    assert code == 0
    rows = table_rows(out)
    assert rows["image"][1] == "3072"
    assert rows["w"][1] == "450"
    assert rows["maps"][1] == "64 of 4704"


def test_check_exits_1_on_an_anomaly(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["check", "1 / x"], capsys)
    assert code == 1
    assert "anomaly: 'f' first produced a non-finite value (inf)" in err


# summary and validate


def test_summary_counts_parameters_per_node_and_in_all(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["summary", str(GRAPHS / "mlp_3_4_2.yaml")], capsys)
    assert code == 0
    assert "parameters: 26 (W1 12, b1 4, W2 8, b2 2)" in out
    rows = table_rows(out)
    assert rows["W1"][1:] == ["param", "[4×3]", "12", "12"]
    assert rows["z1.1"][-1] == "12 (W1)"


def test_summary_of_an_expression(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["summary", "sum(W @ x)", "--set", "W=[[1, 2, 3]]", "--set", "x=[1, 1, 1]"], capsys
    )
    assert code == 0
    assert table_rows(out)["f.1"][1:3] == ["matmul", "[1]"]


def test_validate_accepts_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    paths = sorted(str(p) for p in GRAPHS.glob("*.yaml"))
    code, out, err = run(["validate", *paths], capsys)
    assert code == 0 and err == ""
    assert len(out.splitlines()) == len(paths)
    assert (
        f"{GRAPHS / 'fc_vs_conv.yaml'}: ok (18 nodes, 1,604,002,100 (1.6 billion) parameters" in out
    )


def test_validate_reports_a_bad_file_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "graph:\n  f: x +\n")
    code, out, err = run(["validate", bad, CHAIN_RULE], capsys)
    assert code == 2
    assert err.startswith(f"graphstep: error: {bad}:2:")
    assert out == f"{CHAIN_RULE}: ok (5 nodes, 0 parameters, output f [])\n"


# train


def test_train_reaches_full_accuracy_on_the_smallest_network(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        ["train", str(GRAPHS / "smallest_nn.yaml"), "--steps", "500", "--json"], capsys
    )
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"losses", "accuracy"}
    assert len(report["losses"]) == 500
    assert report["accuracy"] == 1.0
    assert report["losses"][-1] < report["losses"][0] / 10


def test_train_prints_the_loss_curve(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["train", str(GRAPHS / "mlp_3_4_2.yaml"), "--steps", "40"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "mlp-3-4-2: 40 steps of gradient descent"
    assert lines[1].startswith("loss  1.00735 → ")
    assert lines[2].strip()[0] == "█" and lines[2].strip()[-1] == "▁"
    assert "accuracy" not in out  # ‖y − ŷ‖ is not a classification loss


def test_train_without_params_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["train", CHAIN_RULE, "--steps", "3"], capsys)
    assert code == 2
    assert err.startswith("graphstep: error: ") and "no params" in err


def test_train_rejects_a_negative_learning_rate(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["train", str(GRAPHS / "mlp_3_4_2.yaml"), "--lr", "-1"], capsys)
    assert code == 2
    assert "expected a positive number" in err


# export and the TUI


def test_export_writes_an_svg_at_a_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "chain.svg"
    code, _, _ = run(["export", CHAIN_RULE, "-o", str(out), "--step", "3"], capsys)
    assert code == 0
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_export_dot_by_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pool.dot"
    code, _, _ = run(
        ["export", str(GRAPHS / "pool_4x4.yaml"), "-o", str(out), "--expand", "m"], capsys
    )
    assert code == 0
    assert "digraph" in out.read_text()


def test_export_all_steps_writes_one_svg_per_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(["export", CHAIN_RULE, "--all-steps", str(tmp_path / "slides")], capsys)
    assert code == 0
    assert len(list((tmp_path / "slides").glob("*.svg"))) == 8  # the start and 7 steps


def test_export_html_writes_one_self_contained_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "chain.html"
    code, out, _ = run(["export", CHAIN_RULE, "--html", str(page)], capsys)
    assert code == 0
    assert out == f"wrote {page}\n"
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert 'src="http' not in html and 'href="http' not in html


def test_export_needs_exactly_one_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["export", CHAIN_RULE], capsys)
    assert code == 2
    assert "give one of -o OUT, --all-steps DIR or --html OUT.html" in err


def test_export_refuses_to_expand_a_node_that_is_not_composite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "export",
        str(GRAPHS / "pool_4x4.yaml"),
        "-o",
        str(tmp_path / "p.svg"),
        "--expand",
        "mm",
    ]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "did you mean 'm'?" in err


def test_export_without_graphviz_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run(["export", CHAIN_RULE, "-o", str(tmp_path / "c.svg")], capsys)
    assert code == 2
    assert err.startswith("graphstep: error: Graphviz's 'dot' program was not found (hint: ")
    assert "graphviz" in err and err.count("\n") == 1


def test_no_arguments_opens_the_bundled_chain_rule_in_the_tui(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[graphstep.Graph] = []
    monkeypatch.setattr("graphstep.tui.run_tui", opened.append)
    assert cli.main([]) == 0
    assert cli.main([str(GRAPHS / "pool_4x4.yaml")]) == 0
    assert cli.main(["tui", CHAIN_RULE]) == 0
    assert [g.name for g in opened] == ["chain-rule", "pool-4x4", "chain-rule"]


# usage, interrupts, python -m


def test_misspelt_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["rnu", CHAIN_RULE], capsys)
    assert code == 2
    assert "unknown command 'rnu' (did you mean 'run'?)" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", CHAIN_RULE, "--set", "x"],
        ["train", CHAIN_RULE, "--steps", "0"],
        ["--bogus"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "error" in err and "Traceback" not in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for command in cli.COMMANDS:
        assert command in out


def test_keyboard_interrupt_exits_130_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_run", interrupted)
    code, out, err = run(["run", CHAIN_RULE], capsys)
    assert (code, out, err) == (130, "", "")


def test_python_m_graphstep_runs_the_chain_rule() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "graphstep", "run", CHAIN_RULE, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["nodes"]["x"]["grad"] == -4.0


def test_python_m_graphstep_reports_bad_input_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "graph:\n  f: x.__class__\n")
    done = subprocess.run(
        [sys.executable, "-m", "graphstep", "check", path],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"graphstep: error: {path}:2:6: attribute lookups ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
