"""Window steps are exportable: `--step N.K`, and `--into` for `--all-steps` and `--html`."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import graphstep
from graphstep.cli import main
from graphstep.render import to_svg

GRAPHS = Path(__file__).parent.parent / "graphs"
POOL = str(GRAPHS / "pool_4x4.yaml")
CONV = str(GRAPHS / "conv_32x32x3.yaml")
SVG = "{http://www.w3.org/2000/svg}"


def caption(path: Path) -> str:
    root = ET.parse(path).getroot()
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == "caption"][-1]


def states(path: Path) -> dict[str, str]:
    out = {}
    for g in ET.parse(path).getroot().iter(f"{SVG}g"):
        kind, *state = (g.get("class") or "").split()
        title = g.find(f"{SVG}title")
        if kind == "node" and state and title is not None and title.text:
            out[title.text] = state[0]
    return out


def test_step_n_k_draws_the_kth_window_of_step_n(tmp_path: Path) -> None:
    out = tmp_path / "w.svg"
    assert main(["export", POOL, "--expand", "m", "--step", "1.2", "-o", str(out)]) == 0
    assert caption(out) == "1.2/11 forward m: maxpool window [0,1]: max(2, 4, 7, 8) = 8"
    drawn = states(out)
    assert drawn["m/m[0,0]"] == "computed"
    assert drawn["m/m[0,1]"] == "current"
    assert drawn["m/m[1,0]"] == "pending" and drawn["m/m[1,1]"] == "pending"


def test_a_window_outside_the_first_region_is_drawn_with_its_region(tmp_path: Path) -> None:
    out = tmp_path / "w.svg"
    assert main(["export", CONV, "--expand", "maps", "--step", "1.30", "-o", str(out)]) == 0
    assert caption(out).startswith("1.30/9 forward maps: conv2d window [0,1,1]:")
    drawn = states(out)
    assert drawn["maps/maps[0,1,1]"] == "current"
    assert drawn["maps/maps[0,0,0]"] == "computed"  # the region of rows 0–3 holds it
    assert drawn["maps/maps[0,1,2]"] == "pending"


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("1.5", "step 1 has no inner step 1.5 (hint: its inner steps are 1.1 to 1.4"),
        ("3.1", "step 3 has no inner steps"),
        ("1.0", "expected a step N or an inner step N.K (K from 1), got '1.0'"),
        ("12", "step 12 does not exist (hint: the steps of pool-4x4 are 0 to 11)"),
    ],
)
def test_an_inner_step_that_does_not_exist_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, message: str
) -> None:
    out = tmp_path / "w.svg"
    assert main(["export", POOL, "--step", step, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_all_steps_into_adds_each_expanded_composites_windows_in_order(tmp_path: Path) -> None:
    out = tmp_path / "slides"
    assert main(["export", POOL, "--expand", "m", "--all-steps", str(out), "--into"]) == 0
    names = sorted(p.name for p in out.iterdir())
    windows = ["001_01.svg", "001_02.svg", "001_03.svg", "001_04.svg"]
    assert names[:6] == ["000.svg", "001.svg", *windows]
    assert len(names) == 12 + 2 * 4  # m forward and backward; a is not expanded
    assert caption(out / "001_04.svg").startswith("1.4/11 forward m: maxpool window [1,1]")
    back = next(n for n in names if n != "001_01.svg" and n.endswith("_01.svg"))
    assert "backward m: maxpool window [0,0]" in caption(out / back)
    # a second export without --into removes the window slides of the first
    assert main(["export", POOL, "--expand", "m", "--all-steps", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{i:03d}.svg" for i in range(12)]


def test_a_big_composite_exports_the_windows_drawn_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "slides"
    assert main(["export", CONV, "--expand", "maps", "--all-steps", str(out), "--into"]) == 0
    err = capsys.readouterr().err
    assert err == (
        "graphstep: note: maps: the export steps into the 16 windows drawn (channel [0], "
        "rows 0–3, columns 0–3) of its 4,704; 'graphstep export --step N.K' draws any other\n"
    )
    assert len(list(out.iterdir())) == 10 + 2 * 16


def test_html_into_has_the_window_steps_with_the_transcripts_text(tmp_path: Path) -> None:
    out = tmp_path / "p.html"
    assert main(["export", POOL, "--expand", "m", "--html", str(out), "--into"]) == 0
    page = out.read_text(encoding="utf-8")
    found = re.search(r'id="graphstep-data">(.*?)</script>', page)
    assert found is not None
    texts = [s["text"] for s in json.loads(found.group(1))["steps"]]
    assert len(texts) == 12 + 8
    transcript = graphstep.load(POOL).session().timeline
    window = transcript.inner_steps(1)[1]
    assert texts[3] == f"1.2/11 {window.line.split(' ', 1)[1]}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all-steps", "d", "--into"], "give --expand NODE too"),
        (["-o", "x.svg", "--into", "--expand", "m"], "for one inner step: --step N.K"),
    ],
)
def test_into_without_a_place_to_step_into_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["export", POOL, *args]) == 2
    assert message in capsys.readouterr().err


def test_to_svg_takes_an_inner_step_counted_from_0() -> None:
    g = graphstep.load(POOL)
    svg = to_svg(g, step=1, inner=1, expanded=["m"])
    assert "1.2/11 forward m: maxpool window [0,1]" in svg
    with pytest.raises(graphstep.GraphstepError, match="does not exist"):
        to_svg(g, step=1.5)  # type: ignore[arg-type]
    with pytest.raises(graphstep.GraphstepError, match="needs its step"):
        to_svg(g, inner=1)
