"""Exports: one diagram (SVG, PNG, DOT), every step for slides, and the HTML player."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from player_data import drawn, step_codes, variants

import graphstep
from graphstep.cli import main
from graphstep.graph import Graph
from graphstep.render import export_all_steps, export_html, export_svg
from graphstep.render import svg as svg_module
from graphstep.render.dot import GRAD_COLOR, VALUE_COLOR

GRAPHS = Path(__file__).parent.parent / "graphs"
HOSTILE = "x\"];<script>alert('&')</script>"


def load(name: str) -> Graph:
    return graphstep.load(GRAPHS / f"{name}.yaml")


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# --- one diagram ---------------------------------------------------------------------------------


def test_export_svg_defaults_to_the_last_step(tmp_path: Path) -> None:
    out = export_svg(load("chain_rule"), tmp_path / "f.svg")
    svg = out.read_text()
    ET.fromstring(svg)
    assert "∂f/∂x" in svg and "7/7 backward x" in svg


def numbers(svg: str, color: str) -> list[str]:
    root = ET.fromstring(svg)
    return [
        t.text or ""
        for t in root.iter("{http://www.w3.org/2000/svg}text")
        if t.get("fill") == color
    ]


def test_export_svg_at_a_step(tmp_path: Path) -> None:
    svg = export_svg(load("chain_rule"), tmp_path / "f.svg", step=0).read_text()
    assert "-12" not in numbers(svg, VALUE_COLOR)
    assert numbers(svg, GRAD_COLOR) == []


def test_export_of_a_session_draws_its_cursor(tmp_path: Path) -> None:
    s = load("chain_rule").session()
    s.step()
    svg = export_svg(s, tmp_path / "f.svg").read_text()
    assert "1/7 forward q" in svg
    assert "3" in numbers(svg, VALUE_COLOR) and "-12" not in numbers(svg, VALUE_COLOR)


def test_a_step_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(graphstep.GraphstepError, match="step 99 does not exist") as caught:
        export_svg(load("chain_rule"), tmp_path / "f.svg", step=99)
    assert caught.value.hint == "the steps of chain-rule are 0 to 7"
    assert list(tmp_path.iterdir()) == []


def test_export_png(tmp_path: Path) -> None:
    out = export_svg(load("mlp_3_4_2"), tmp_path / "f.png", format="png")
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_export_png_without_rsvg_convert_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graphstep.render import png

    real = png.shutil.which
    monkeypatch.setattr(png.shutil, "which", lambda n: None if n == "rsvg-convert" else real(n))
    with pytest.raises(png.RsvgMissing, match="rsvg-convert") as caught:
        export_svg(load("chain_rule"), tmp_path / "f.png", format="png", step=3)
    assert caught.value.hint is not None and "apt-get install librsvg2-bin" in caught.value.hint
    assert leftovers(tmp_path) == []


def test_export_dot_is_the_step_in_graphviz_language(tmp_path: Path) -> None:
    out = export_svg(load("chain_rule"), tmp_path / "f.dot", format="dot", step=5, rankdir="LR")
    source = out.read_text()
    assert 'rankdir="LR"' in source and VALUE_COLOR in source and "#fe00" not in source
    done = subprocess.run(["dot", "-Tjson0"], input=source.encode(), capture_output=True)
    assert done.returncode == 0
    assert len(json.loads(done.stdout)["objects"]) == 5


@pytest.mark.parametrize(
    "name",
    sorted(p.stem for p in GRAPHS.glob("*.yaml") if p.stem != "fc_vs_conv"),  # too big
)
def test_every_cell_of_an_exported_dot_fits_its_text(tmp_path: Path, name: str) -> None:
    # Graphviz warns "cell size too small for content" when a fixed cell is shorter than
    # its font's line: the user running our DOT saw it for every graph
    graph = load(name)
    for step in (1, len(graph.session().timeline) - 1):
        out = export_svg(graph, tmp_path / f"{step}.dot", format="dot", step=step)
        done = subprocess.run(["dot", "-Tsvg"], input=out.read_bytes(), capture_output=True)
        assert done.returncode == 0 and done.stderr.decode() == ""


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(graphstep.GraphstepError, match="unknown format"):
        export_svg(load("add"), tmp_path / "f.gif", format="gif")


def test_a_failed_export_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "f.png"
    out.write_bytes(b"old")

    def interrupted(svg: str) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(svg_module, "svg_to_png", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_svg(load("add"), out, format="png")
    assert out.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_an_interrupted_write_leaves_no_half_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = svg_module.os.replace

    def crash(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(svg_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        export_svg(load("add"), tmp_path / "f.svg")
    monkeypatch.setattr(svg_module.os, "replace", real)
    assert list(tmp_path.iterdir()) == []


# --- every step ----------------------------------------------------------------------------------


def test_all_steps_writes_one_svg_per_step_plus_the_start(tmp_path: Path) -> None:
    g = load("chain_rule")
    paths = export_all_steps(g, tmp_path / "slides")
    steps = len(g.forward_order) + len(g.ancestors_of_output)  # 2 forward, 5 backward
    assert len(paths) == steps + 1 == 8
    assert [p.name for p in paths] == [f"{i:03d}.svg" for i in range(8)]
    assert sorted(p.name for p in (tmp_path / "slides").iterdir()) == [p.name for p in paths]
    svgs = [p.read_text() for p in paths]
    sizes = set()
    for svg in svgs:
        root = ET.fromstring(svg)
        sizes.add((root.get("width"), root.get("height")))
    assert len(sizes) == 1  # the same size on every slide: nothing jumps
    for before, after in itertools.pairwise(svgs):
        assert before != after


def test_all_steps_of_an_expanded_pool(tmp_path: Path) -> None:
    g = load("pool_4x4")
    paths = export_all_steps(g, tmp_path, expanded={"m"}, rankdir="LR")
    assert len(paths) == len(g.session().timeline)
    for p in paths:
        ET.fromstring(p.read_text())


def test_all_steps_replaces_an_earlier_export(tmp_path: Path) -> None:
    export_all_steps(load("mlp_3_4_2"), tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    paths = export_all_steps(load("add"), tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([p.name for p in paths] + ["notes.txt"])
    assert leftovers(tmp_path) == []


def test_an_interrupted_all_steps_export_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = svg_module.Pictures.svg
    calls = []

    def svg_then_interrupt(self: svg_module.Pictures, *args: object, **kwargs: object) -> str:
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(svg_module.Pictures, "svg", svg_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        export_all_steps(load("chain_rule"), tmp_path / "slides")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "000.svg").write_text("old")
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        export_all_steps(load("chain_rule"), tmp_path / "kept")
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["000.svg"]
    assert (tmp_path / "kept" / "000.svg").read_text() == "old"


# --- the HTML player -----------------------------------------------------------------------------


class Page(HTMLParser):
    """Every tag and attribute of a page, and the text of its scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)


def player(graph: Graph, tmp_path: Path, **options: object) -> tuple[str, Page, dict]:
    out = export_html(graph, tmp_path / "player.html", **options)  # type: ignore[arg-type]
    html = out.read_text()
    page = Page()
    page.feed(html)
    data_tag = next(i for i, (t, a) in enumerate(page.tags) if a.get("id") == "graphstep-data")
    assert page.tags[data_tag][1].get("type") == "application/json"
    data = json.loads(page.scripts[0])
    return html, page, data


def test_the_player_holds_every_step(tmp_path: Path) -> None:
    g = load("chain_rule")
    _html, page, data = player(g, tmp_path)
    timeline = g.session().timeline
    assert len(data["steps"]) == len(data["deltas"]) == len(timeline) == 8
    pieces = variants(data)
    for i, (step, codes) in enumerate(zip(data["steps"], step_codes(data), strict=True)):
        assert step["text"].startswith(f"{i}/7 ")
        assert len(codes) == len(pieces)
        assert all(c < len(pieces[k]) for k, c in enumerate(codes))
    texts = [s["text"] for s in data["steps"]]
    assert "7/7 backward x: ∂f/∂x = ∂f/∂q · ∂(x + y)/∂x = -4 · 1 = -4" in texts
    assert "ArrowLeft" in page.scripts[1] and "ArrowRight" in page.scripts[1]
    assert any(tag == "input" and attrs.get("type") == "range" for tag, attrs in page.tags)


def test_the_player_draws_each_step_as_the_svg_export_does(tmp_path: Path) -> None:
    g = load("mlp_3_4_2")
    _, _, data = player(g, tmp_path)
    pics = svg_module.pictures(g)
    bodies = list(drawn(data))
    for i in (0, 5, len(data["steps"]) - 1):
        body = bodies[i]
        svg = data["open"] + data["head"] + body + "</g></svg>"
        ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))
        assert data["head"] + body in pics.svg(pics.scene(i))


def test_the_player_needs_no_network(tmp_path: Path) -> None:
    html, page, _ = player(load("pool_4x4"), tmp_path, expanded={"m"})
    for banned in ("http:", "https:", "//", "@import", "url("):
        assert banned not in html
    for tag, attrs in page.tags:
        assert "src" not in attrs and "href" not in attrs, tag
        assert tag not in ("link", "img", "iframe", "object", "embed")
    assert re.search(r"src\s*=", html, re.IGNORECASE) is None


def test_hostile_names_cannot_inject_into_the_player(tmp_path: Path) -> None:
    g = graphstep.parse("(x + y) * z", x=-2, y=5, z=-4)
    g.name = g.description = HOSTILE + "</script><!--"
    _html, page, data = player(g, tmp_path)
    scripts = [t for t, _ in page.tags if t == "script"]
    assert len(scripts) == 2  # the data and the player, nothing else
    assert HOSTILE + "</script><!--" in "".join(page.text)  # shown as text
    assert data["steps"][0]["text"].startswith("0/")


def test_the_cli_exports(tmp_path: Path) -> None:
    chain = str(GRAPHS / "chain_rule.yaml")
    assert main(["export", chain, "-o", str(tmp_path / "f.svg"), "--step", "2"]) == 0
    assert "2/7 forward f: f = q * z" in (tmp_path / "f.svg").read_text()
    assert main(["export", chain, "--all-steps", str(tmp_path / "steps")]) == 0
    assert len(list((tmp_path / "steps").iterdir())) == 8
    pool = str(GRAPHS / "pool_4x4.yaml")
    assert main(["export", pool, "--html", str(tmp_path / "p.html"), "--expand", "m"]) == 0
    assert main(["export", pool, "-o", str(tmp_path / "p.png"), "--rankdir", "LR"]) == 0
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_unwritable_targets_are_refused_with_their_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(graphstep.GraphstepError, match="is not a directory"):
        export_all_steps(load("add"), tmp_path / "file")
    with pytest.raises(graphstep.GraphstepError, match=r"cannot write .*missing.*f\.svg"):
        export_svg(load("add"), tmp_path / "missing" / "f.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_all_steps_refuses_a_directory_in_the_way_before_writing_anything(tmp_path: Path) -> None:
    target = tmp_path / "slides"
    (target / "005.svg").mkdir(parents=True)
    with pytest.raises(graphstep.GraphstepError, match="is in the way: it is not a file"):
        export_all_steps(graphstep.load(GRAPHS / "chain_rule.yaml"), target)
    assert sorted(p.name for p in target.iterdir()) == ["005.svg"]
