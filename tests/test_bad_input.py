"""Malformed and hostile graph files: each is refused with one line naming FILE:LINE:COL, exit 2.

Every file in tests/bad/ is one case of CASES, run through the command line
in-process; binary, empty and oversized files are generated in tmp_path.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from graphstep import cli

BAD = Path(__file__).parent / "bad"

# file stem → (LINE:COL, words the message must contain)
CASES: dict[str, tuple[str, str]] = {
    "cycle": ("4:6", "cycle: a → b → a"),
    "undefined_name": ("5:10", "undefined name 'yy' in 'q' (hint: did you mean 'y'?)"),
    "duplicate_key": ("4:3", "duplicate key 'x' (first at line 2)"),
    "eval_import": ("4:6", "unknown function '__import__'"),
    "dunder_attribute": ("4:6", "attribute lookups"),
    "open_file": ("4:6", "unknown function 'open'"),
    "python_tag": ("2:6", "YAML tag refused"),
    "matmul_mismatch": ("6:6", "matmul: a is [4, 3] and b is [4]"),
    "conv_channels": ("6:9", "conv2d: x has 3 channels but w expects 1"),
    "non_scalar_output": ("5:9", "output 'f' has shape [3]"),
    "huge_shape": ("2:3", "'W' would hold 1,000,000,000,000,000 numbers"),
    "unknown_op": ("4:6", "unknown function 'sigmod' (hint: did you mean 'sigmoid'?)"),
    "unknown_keyword": ("4:6", "maxpool() has no keyword 'sise' (hint: did you mean 'size'?)"),
    "lambda": ("4:8", "lambdas are not allowed"),
    "comprehension": ("4:10", "comprehensions are not allowed"),
    "subscript": ("4:6", "subscripts are not allowed"),
    "walrus": ("4:7", "':=' assignments are not allowed"),
    "starred": ("4:10", "starred arguments are not allowed"),
    "dict_keyword": ("4:24", "'**' arguments are not allowed"),
    "unknown_top_level_key": ("3:1", "unknown key 'grpah' (hint: did you mean 'graph'?)"),
    "bad_leaf_value": ("2:6", "expected a number, got the text 'hello'"),
    "boolean_value": ("2:6", "expected a number or a list of numbers, got True"),
    "ragged_tensor": ("2:6", "ragged tensor"),
    "bad_init": ("2:28", "unknown init 'gaussian'"),
    "missing_graph": ("1:1", "no 'graph' or 'expr'"),
    "bad_name": ("4:3", "'my-node' is not a valid name"),
    "reassigned_name": ("5:3", "'x' is assigned twice (first at line 2)"),
    "function_as_name": ("2:3", "'relu' is the name of a function"),
    "not_a_mapping": ("1:1", "a graph file is a YAML mapping"),
    "invalid_yaml": ("3:2", "invalid YAML"),
    "syntax_error": ("5:9", "syntax error"),
    "string_constant": ("4:10", "str constants are not allowed"),
    "undefined_output": ("5:9", "output 'g' is not defined"),
    "wrong_arity": ("5:6", "relu() takes 1 inputs (x), got 2"),
    "variable_exponent": ("5:11", "the exponent of ** must be a number"),
    "bad_class_index": ("5:9", "target 5 is not a class index of logits with 3 classes"),
    "block_recursion": ("4:3", "block recursion: twice → twice"),
    "deep_parens": ("4:206", "too many nested parentheses"),
    "deep_yaml": ("2:36", "YAML nested too deeply"),
    "yaml_alias": ("3:6", "YAML alias '*row' refused"),
}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def assert_one_error_line(err: str, where: str, words: str) -> None:
    """One line `graphstep: error: WHERE: …` holding `words`, and no traceback."""
    assert err.startswith(f"graphstep: error: {where}: "), err
    assert words in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_every_bad_file_is_a_case() -> None:
    assert {p.stem for p in BAD.glob("*.yaml")} == set(CASES)
    assert len(CASES) >= 25


@pytest.mark.parametrize("stem", sorted(CASES))
def test_bad_file_is_refused_at_its_location(stem: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / f"{stem}.yaml"
    location, words = CASES[stem]
    # --json: a graph too big to compute is otherwise shown by its summary, not refused
    code, err = run(["run", "--json", str(path)], capsys)
    assert code == 2
    assert_one_error_line(err, f"{path}:{location}", words)


def test_python_tag_runs_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tag.yaml").write_text(
        'inputs:\n  x: !!python/object/apply:os.system ["touch pwned"]\ngraph:\n  f: x\n'
    )
    code, err = run(["run", "tag.yaml"], capsys)
    assert code == 2
    assert_one_error_line(err, "tag.yaml:2:6", "YAML tag refused")
    assert not (tmp_path / "pwned").exists()


def test_validate_reports_every_bad_file_on_its_own_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = [str(BAD / f"{stem}.yaml") for stem in sorted(CASES)]
    code, err = run(["validate", *paths], capsys)
    lines = err.splitlines()
    assert code == 2
    # huge_shape and bad_class_index are well-formed: only running them fails
    assert len(lines) == len(CASES) - 2
    assert all(line.startswith("graphstep: error: ") for line in lines)


def test_huge_shape_is_counted_by_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["summary", str(BAD / "huge_shape.yaml")]) == 0
    assert "1,000,000,000,000,000 (1,000 trillion)" in capsys.readouterr().out


# files made here: empty, binary, not UTF-8, too big, a directory, missing


@pytest.mark.parametrize(
    ("content", "location", "words"),
    [
        (b"", "1:1", "empty graph file"),
        (b"\n\n# only a comment\n", "1:1", "empty graph file"),
        (b"inputs:\n  x: 1\x00\x01\x02\xff", "1:1", "binary file"),
        (b"inputs:\n  x: 1\ngraph:\n  f: x \xff\xfe\n", "4:1", "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "1:1", "binary file"),
    ],
    ids=["empty", "comment-only", "binary", "latin-1", "png"],
)
def test_unreadable_file_is_refused(
    content: bytes,
    location: str,
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "graph.yaml"
    path.write_bytes(content)
    code, err = run(["run", str(path)], capsys)
    assert code == 2
    assert_one_error_line(err, f"{path}:{location}", words)


def test_oversized_file_is_refused_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("graph:\n  f: 1\n" + "#" * 2_000_000)
    code, err = run(["run", str(path)], capsys)
    assert code == 2
    assert_one_error_line(err, str(path), "limited to 1,000,000")


def test_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["run", str(tmp_path)], capsys)
    assert code == 2
    assert_one_error_line(err, str(tmp_path), "is a directory")


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_a_file_that_never_ends_is_refused_without_reading(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "endless.yaml"
    if kind == "device":
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)
    code, err = run(["run", str(path)], capsys)
    assert code == 2
    assert err == f"graphstep: error: {path}: '{path}' is not a regular file\n"


def test_missing_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nothing.yaml"
    code, err = run(["check", str(path)], capsys)
    assert code == 2
    assert_one_error_line(err, str(path), "no such file")


def test_missing_file_without_a_yaml_suffix_is_a_missing_file_not_an_expression(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = run(["run", "graph.txt"], capsys)
    assert code == 2
    assert_one_error_line(err, "graph.txt", "no such file")


# expressions given in place of FILE, and --set values


@pytest.mark.parametrize(
    ("expression", "location", "words"),
    [
        ("x.__class__", "1:1", "attribute lookups"),
        ("__import__('os')", "1:1", "unknown function '__import__'"),
        ("x + (y := 2)", "1:6", "':=' assignments"),
        ("x +* y", "1:4", "syntax error"),
        ("x" + " + x" * 3000, "1:1", "longer than"),
        ("(" * 500 + "x" + ")" * 500, "1:201", "too many nested parentheses"),
        ("-" * 200 + "x", "1:66", "nested more than 64 deep"),
    ],
    ids=["attribute", "import", "walrus", "syntax", "long", "parens", "unary"],
)
def test_bad_expression_is_refused_at_its_column(
    expression: str, location: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(["run", "--", expression], capsys)
    assert code == 2
    assert_one_error_line(err, f"<expr>:{location}", words)


@pytest.mark.parametrize(
    ("assignment", "words"),
    [
        ("x=abc", "expected a number, got the text 'abc'"),
        ("x=[1, [2]]", "ragged tensor"),
        ("x=[]", "empty list"),
        ("x=true", "expected a number or a list of numbers, got True"),
        ("x={a: 1}", "expected a number or a list of numbers, got a mapping"),
        ("w=1", "'w' is not an input or a param"),
    ],
)
def test_bad_set_value_is_refused(
    assignment: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(["run", "x * y", "--set", assignment], capsys)
    assert code == 2
    assert_one_error_line(err, f"--set {assignment}", words)


def test_set_value_of_the_wrong_shape_is_a_shape_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = run(["run", "W @ x", "--set", "W=[[1, 2], [3, 4]]", "--set", "x=[1, 2, 3]"], capsys)
    assert code == 2
    assert_one_error_line(err, "<expr>:1:1", "inner dimensions 2 and 3 differ")


def test_error_message_is_one_line_even_when_yaml_says_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tabs.yaml"
    path.write_text("inputs:\n\tx: 1\n")
    code, err = run(["validate", str(path)], capsys)
    assert code == 2
    assert re.fullmatch(rf"graphstep: error: {re.escape(str(path))}:2:1: [^\n]+\n", err)


def test_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    """Nine aliases deep, 30 wide: 729 million numbers if expanded ("billion laughs")."""
    row = "[" + ", ".join(["1"] * 30) + "]"
    lines = ["inputs:", f"  a0: &a0 {row}"]
    for i in range(1, 6):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 30) + "]")
    lines += ["  x: [" + ", ".join(["*a5"] * 30) + "]", "graph:", "  f: sum(x)"]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    done = subprocess.run(
        [sys.executable, "-m", "graphstep", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_memory,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"graphstep: error: {path}:3:12: YAML alias '*a0' refused")
    assert done.stderr.count("\n") == 1
