"""Hostile input on the command line: one line, exit 2, no traceback, nothing obeyed.

Each case is an example from the hardening issue (#9) and stands for its class:
escape sequences shown on the terminal, crashes in ops and in --set, hangs,
and resources a small file could exhaust.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from graphstep import cli
from graphstep.limits import MAX_BLOCK_DEPTH, MAX_NODES, MAX_TRAIN_STEPS

GRAPHS = Path(__file__).parent.parent / "graphs"
CHAIN_RULE = str(GRAPHS / "chain_rule.yaml")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str, *words: str) -> None:
    assert err.startswith("graphstep: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not CONTROL.search(err), repr(err)
    for w in words:
        assert w in err, err


def write(tmp_path: Path, text: str, name: str = "g.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- escape sequences never reach the terminal

EVIL = 'name: "evil\\e]0;title\\a\\e[2J\\e]52;c;aGk=\\a"\ndescription: "d\\e[31m red\\u202e"\n'


@pytest.mark.parametrize(
    "argv",
    [["run"], ["run", "--steps"], ["summary"], ["validate"], ["train", "--steps", "2"]],
)
def test_escape_sequences_in_a_file_are_written_out_on_the_terminal(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, EVIL + "params: {w: 3}\ngraph:\n  f: w * w\n")
    code, out, err = run([*argv[:1], path, *argv[1:]], capsys)
    assert code == 0, err
    assert not CONTROL.search(out + err), repr(out + err)
    if argv[0] in ("run", "summary", "train") and argv[1:] != ["--steps"]:
        assert "evil\\x1b]0;title\\x07\\x1b[2J" in out


def test_an_error_quoting_a_file_string_writes_control_characters_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, 'inputs: {x: "\\e[2J\\e]0;pwned\\a"}\ngraph:\n  f: x * 2\n')
    code, _, err = run(["run", path], capsys)
    assert code == 2
    one_error(err, "got the text '\\x1b[2J\\x1b]0;pwned\\x07'")


def test_a_set_value_with_a_newline_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["run", "x * 2", "--set", "x=1\n2"], capsys)
    assert code == 2
    one_error(err, "--set x=1\\n2")


def test_a_file_name_with_escapes_is_written_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["run", str(tmp_path / "\x1b[2Jmissing.yaml")], capsys)
    assert code == 2
    one_error(err, "\\x1b[2Jmissing.yaml")


# -- crashes that were tracebacks


def test_a_block_output_that_is_a_list_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "inputs: {x: 1}\nblocks:\n  b:\n    args: [a]\n    graph: {o: a * 2}\n"
    path = write(tmp_path, text + "    output: [o]\ngraph:\n  f: b(x)\n")
    code, _, err = run(["run", path], capsys)
    assert code == 2
    one_error(err, f"{path}:6:13: a block's 'output' must be the name of one of its entries")


@pytest.mark.parametrize("attrs", ["pad=10**20", "stride=10**20", "pad=10**20, stride=10**20"])
def test_conv_with_a_huge_pad_or_stride_is_refused_or_computed(
    attrs: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = attrs.replace("10**20", "100000000000000000000")
    inputs = "inputs: {x: {shape: [1, 3, 3], init: ones}, w: {shape: [1, 1, 1, 1], init: ones}}\n"
    path = write(tmp_path, inputs + f"graph:\n  c: conv2d(x, w, {big})\n  f: sum(c)\n")
    # `run --json`: plain `run` shows a graph too big to compute as its summary, exit 0
    code, out, err = run(["run", "--json", path] if "pad" in attrs else ["run", path], capsys)
    if attrs == "pad=10**20":  # the output itself would be 2e20 × 2e20
        assert code == 2
        one_error(err, f"{path}:3:6: 'c' would hold 40,000,000,000,000,000,001,200,")
    elif "pad" in attrs:  # a 3×3 output, but the padded image would hold 4e40 numbers
        assert code == 2
        one_error(err, f"{path}:3:6: 'c' would need a temporary of", "the limit is 33,554,432")
    else:  # a stride past the image reads one window: the top-left pixel
        assert code == 0, err
        assert out.rstrip().endswith("f = 1")


WINDOW_IN_PADDING = """inputs:
  x: {shape: [1, 3, 3], init: arange}
  w: {shape: [1, 1, 2, 2], init: ones}
graph:
  c: conv2d(x, w, pad=3, stride=3)
  f: sum(c)
"""


def test_a_conv_window_wholly_in_the_padding_reads_zeros(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, WINDOW_IN_PADDING)
    code, out, err = run(["run", path, "--steps", "--into"], capsys)
    assert (code, err) == (0, "")
    assert "conv2d window [0,2,2]: Wᵀx = 1·0 + 1·0 + 1·0 + 1·0 = 0" in out
    assert out.rstrip().endswith("[[[1, 1, 0], [1, 1, 0], [0, 0, 0]]]")  # 0+1+3+4 = 8 = f
    svg = tmp_path / "c.svg"
    code, _, err = run(["export", path, "--expand", "c", "-o", str(svg)], capsys)
    assert (code, err) == (0, "") and svg.read_text().startswith("<?xml")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1" * 400, "number too large for float64"),
        ("1" * 5000, "invalid number: too long or too large to read"),
        ("[[[[[[[1]]]]]]]", "tensor nested more than 6 deep"),
        ("&a [1, 2]", "YAML anchors"),
        ("[&a [1, 2], *a]", "YAML alias '*a' refused"),
    ],
)
def test_bad_set_values_are_one_line(
    value: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["run", "x * 2", "--set", f"x={value}"], capsys)
    assert code == 2
    if words == "YAML anchors":  # an anchor alone is harmless: the value is read
        assert err.startswith("graphstep: error: <expr>:1:1: output 'f' has shape [2]")
        return
    one_error(err, words)


def test_a_set_value_of_aliases_is_refused_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    laughs = "[&a [1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], "
    laughs += "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b], [*c,*c,*c,*c,*c,*c,*c,*c,*c]]"
    code, _, err = run(["run", "x * 2", "--set", f"x={laughs}"], capsys)
    assert code == 2
    one_error(err, "YAML alias '*a' refused")


def test_shapes_whose_product_overflows_a_float_are_summarised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dim = 10**60
    path = write(tmp_path, f"params:\n  W: {{shape: [{dim}, {dim}, {dim}, {dim}, {dim}, {dim}]}}\n")
    path = write(tmp_path, Path(path).read_text() + "graph:\n  f: sum(W)\n")
    code, out, err = run(["summary", path], capsys)
    assert (code, err) == (0, "")
    assert f"parameters: {10**360:,}" in out
    code, out, err = run(["validate", path], capsys)
    assert (code, err) == (0, "") and "ok (2 nodes" in out


def test_training_steps_beyond_the_limit_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "params: {w: 1}\ngraph:\n  f: w * w\ntrain: {steps: 1e12}\n")
    code, _, err = run(["train", path], capsys)
    assert code == 2
    one_error(err, f"{path}:4:16: 'steps' is 1e+12; training runs at most {MAX_TRAIN_STEPS:,}")
    code, _, err = run(["train", CHAIN_RULE, "--steps", str(10**12)], capsys)
    assert code == 2
    one_error(err, f"expected a whole number from 1 to {MAX_TRAIN_STEPS:,}")


@pytest.mark.parametrize("target", ["", " "])
def test_an_empty_file_argument_is_refused_not_opened(
    target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run([target], capsys)
    assert code == 2
    one_error(err, "FILE is empty")


def test_blocks_nested_too_deeply_are_refused_with_a_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["inputs: {x: 1}", "blocks:", "  b0: {args: [a], graph: {o: a * 2}}"]
    lines += [f"  b{k}: {{args: [a], graph: {{o: b{k - 1}(a)}}}}" for k in range(1, 400)]
    path = write(tmp_path, "\n".join([*lines, "graph: {f: b399(x)}"]) + "\n")
    code, _, err = run(["validate", path], capsys)
    assert code == 2
    deepest = f"b{MAX_BLOCK_DEPTH}"
    one_error(err, f"{path}:{MAX_BLOCK_DEPTH + 3}:3: block '{deepest}' nests block calls")


def test_a_small_file_asking_for_millions_of_nodes_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["inputs: {x: 1}", "blocks:", "  b0: {args: [a], graph: {o: a * a}}"]
    for k in range(1, 10):
        calls = f"p: b{k - 1}(a), q: b{k - 1}(p), r: b{k - 1}(q), o: b{k - 1}(r)"
        lines.append(f"  b{k}: {{args: [a], graph: {{{calls}}}}}")
    text = "\n".join([*lines, "graph: {f: b9(x)}"]) + "\n"
    assert len(text) < 1000
    path = write(tmp_path, text)
    code, _, err = run(["run", path], capsys)
    assert code == 2
    one_error(err, f"{path}:13:12: with its block calls expanded", f"more than {MAX_NODES:,}")


# -- resources: temporaries are counted before they are allocated


@pytest.mark.parametrize(
    ("graph", "needs"),
    [
        ("c: conv2d(x, w, pad=5000, stride=5000)", 3 * 10003 * 10003),  # the padded image
        ("c: conv2d(big, k)", 64 * 64 * 449 * 449),  # im2col of a 512² image, a 64² kernel
        ("c: crop_resize(row, box, size=[1, 20000])", 1 * 1 + 20000 * 20000),  # dense weights
        ("c: maxpool(big, size=64, stride=1)", 64 * 64 * 449 * 449),  # what its windows read
    ],
)
def test_temporaries_count_against_the_limits(
    graph: str, needs: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = """inputs:
  x: {shape: [3, 3, 3]}
  w: {shape: [1, 3, 2, 2]}
  big: {shape: [1, 512, 512]}
  k: {shape: [1, 1, 64, 64]}
  row: {shape: [1, 20000]}
  box: [0, 0, 1, 20000]
"""
    path = write(tmp_path, inputs + f"graph:\n  {graph}\n  f: sum(c)\n")
    code, _, err = run(["run", "--json", path], capsys)
    assert code == 2
    one_error(err, f"{path}:9:6: 'c' would need a temporary of {needs:,} numbers")
    code, out, _ = run(["summary", path], capsys)
    assert code == 0 and "c " in out  # shapes alone: nothing is allocated


def test_run_json_is_streamed_and_reads_back_the_same(
    capsys: pytest.CaptureFixture[str],
) -> None:
    graph = cli.load_graph(str(GRAPHS / "conv_32x32x3.yaml"))
    trace = graph.trace()
    pieces = list(cli.run_json(graph, trace))
    assert max(len(p) for p in pieces) < 200_000  # never one string of every number
    data = json.loads("".join(pieces))
    node = graph.output
    assert data["output"] == node
    assert math.isclose(data["nodes"][node]["value"], float(trace.value(node)))
    code, out, _ = run(["run", str(GRAPHS / "conv_32x32x3.yaml"), "--json"], capsys)
    assert code == 0 and json.loads(out) == data


def test_check_of_a_large_graph_samples_within_a_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = write(
        tmp_path, "inputs:\n  x: {shape: [1000000], init: arange}\ngraph:\n  f: sum(x * x)\n"
    )
    lines = ["inputs:", "  x: {shape: [3000], init: arange}", "graph:", "  a0: x * 0.001"]
    lines += [f"  a{i}: tanh(a{i - 1}) + a0" for i in range(1, 1000)]
    long = write(tmp_path, "\n".join([*lines, "  f: sum(a999)"]) + "\n", "long.yaml")
    code, out, err = run(["check", big], capsys)
    assert (code, err) == (0, "")
    assert re.search(r"^x +\d+ of 1000000 ", out, re.M)
    code, out, err = run(["check", long], capsys)
    assert (code, err) == (0, "")
    assert "MISMATCH" not in out  # every node of the chain is checked (its time: bench/scale.py)


def test_blocks_whose_output_calls_a_block_do_not_collide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["inputs: {x: 1}", "blocks:", "  b0: {args: [a], graph: {o: a * 2}}"]
    lines += [f"  b{k}: {{args: [a], graph: {{p: b{k - 1}(a), o: b{k - 1}(p)}}}}" for k in (1, 2)]
    path = write(tmp_path, "\n".join([*lines, "graph: {f: b2(x)}"]) + "\n")
    code, out, err = run(["run", path], capsys)
    assert (code, err) == (0, "")
    assert out.rstrip().endswith("f = 16")  # 2⁴: four calls of b0
    assert "f/p/p" in out and "f/o/p" in out  # the output's call nests under its entry
