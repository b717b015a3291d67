"""`export --all-steps`: a size estimate before writing, a budget, and ranges of steps."""

from __future__ import annotations

from pathlib import Path

import pytest

import graphstep
from graphstep import cli
from graphstep.errors import GraphstepError
from graphstep.render import export_all_steps
from graphstep.render.svg import ExportTooLarge, pictures

EXAMPLE = Path(graphstep.__file__).with_name("examples") / "chain_rule.yaml"


def test_a_range_writes_those_steps_under_their_numbers(tmp_path: Path) -> None:
    paths = export_all_steps(graphstep.load(EXAMPLE), tmp_path / "out", steps=range(2, 5))
    assert [p.name for p in paths] == ["002.svg", "003.svg", "004.svg"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["002.svg", "003.svg", "004.svg"]
    assert "3/7 forward" not in paths[0].read_text()
    assert "2/7 forward f" in paths[0].read_text()


def test_the_estimate_is_refused_past_the_budget_before_anything_is_written(
    tmp_path: Path,
) -> None:
    graph = graphstep.load(EXAMPLE)
    pics = pictures(graph)
    one = len(pics.svg(pics.scene(7), True, 1).encode())
    with pytest.raises(ExportTooLarge, match=r"8 SVGs of about .* each would write") as info:
        export_all_steps(graph, tmp_path / "out", budget=8 * one - 1)
    assert abs(info.value.total - 8 * one) <= 8 * 200  # the largest picture probed, times 8
    assert not (tmp_path / "out").exists()
    assert len(export_all_steps(graph, tmp_path / "out", budget=10 * one)) == 8


def test_cli_names_the_size_and_the_ways_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "MAX_EXPORT_BYTES", 10_000)
    out = tmp_path / "steps"
    assert cli.main(["export", str(EXAMPLE), "--all-steps", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphstep: error: 8 SVGs of about ") and err.count("\n") == 1
    assert "more than the budget of 10 KB" in err
    assert "--force" in err and "--html" in err and "--steps 10-40" in err
    assert not out.exists()
    assert cli.main(["export", str(EXAMPLE), "--all-steps", str(out), "--force"]) == 0
    assert len(list(out.iterdir())) == 8
    assert cli.main(["export", str(EXAMPLE), "--all-steps", str(out), "--steps", "1-2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["001.svg", "002.svg"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--steps", "5-9"], "step 9 does not exist (hint: the steps of chain-rule are 0 to 7)"),
        (["--steps", "4-2"], "expected a range of steps such as 10-40, got '4-2'"),
        (["--steps", "x"], "expected a range of steps such as 10-40, got 'x'"),
    ],
)
def test_bad_ranges_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    out = tmp_path / "steps"
    assert cli.main(["export", str(EXAMPLE), "--all-steps", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not out.exists()


def test_steps_and_force_go_with_all_steps(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["export", str(EXAMPLE), "-o", "x.svg", "--steps", "1-2"]) == 2
    assert "--steps and --force go with --all-steps DIR" in capsys.readouterr().err


def test_a_range_past_the_graph_is_a_graphstep_error(tmp_path: Path) -> None:
    with pytest.raises(GraphstepError, match="step 8 does not exist"):
        export_all_steps(graphstep.load(EXAMPLE), tmp_path / "out", steps=range(6, 9))
