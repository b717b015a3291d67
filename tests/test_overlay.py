"""The doctor's overlay: every view colours a node as overlay.py says, once the cursor knows it.

On the doctor's pathological graphs: the 20-layer sigmoid chain, whose sigmoids
shrink the gradient (gain σ'(z) < 1: the orange side of the diverging map), and
the dead ReLU layer (dead fraction 1: the map's far end).
"""

from __future__ import annotations

import asyncio
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from chromium import Page, executable
from player_data import page_data
from player_data import variants as player_variants
from rich.style import Style
from test_doctor import SIGMOID_LAYERS, sigmoid, sigmoid_chain
from test_tui import drive, running, screen_text, settle
from textual.pilot import Pilot

import graphstep
from graphstep import cli
from graphstep.doctor import diagnose
from graphstep.drawing import diagram
from graphstep.errors import GraphstepError
from graphstep.overlay import DEAD_COLOURS, GAIN_COLOURS, NEUTRAL, Mode, colour_by
from graphstep.render.html import export_html
from graphstep.render.layout import layout
from graphstep.render.raster import Role, rasterize, tint
from graphstep.render.svg import export_svg, to_svg
from graphstep.scene import Scene
from graphstep.steps import Timeline
from graphstep.tui.graph_view import GraphView
from graphstep.tui.legend import OverlayLegend

SVG = "{http://www.w3.org/2000/svg}"

DEAD_LAYER = """
name: dead-layer
inputs: {x: [[1, 2], [3, 4]]}
params:
  W: {value: [[-1, -1], [-2, -1]]}
  V: {value: [1, 1]}
graph:
  h: relu(x @ W)
  f: sum(h @ V)
output: f
"""

# h1 = sigmoid(1.05 · 0.5 − 0.1): its gain is σ'(0.425) = 0.604681 · 0.395319 = 0.239042,
# at (log10 0.239042 + 1) / 2 = 0.189237 of the scale 0.1 … 10, i.e. 0.756949 of the way
# from the first stop of the diverging map (#f1a340) to the second (#fee0b6):
# (241 + 13 · 0.7569, 163 + 61 · 0.7569, 64 + 118 · 0.7569) = (251, 209, 153).
H1_GAIN = 0.2390423
H1_COLOUR = "#fbd199"


def fills(svg: str) -> dict[str, str]:
    """Each node's name → the fill of its box, as the SVG draws it."""
    out = {}
    for g in ET.fromstring(svg).iter(f"{SVG}g"):
        if (g.get("class") or "").split(" ")[0] != "node":
            continue
        title = g.find(f"{SVG}title")
        shape = g.find(f"{SVG}path")
        if shape is None:
            shape = g.find(f"{SVG}polygon")
        assert title is not None and title.text and shape is not None
        out[title.text] = shape.get("fill", "")
    return out


def legend_texts(svg: str) -> list[str]:
    """The texts of the SVG's legend, in order."""
    root = ET.fromstring(svg)
    group = root.findall(f"{SVG}g")[-1]
    return [t.text or "" for t in group.iter(f"{SVG}text")]


def sigmoid_gains() -> list[float]:
    """σ'(z_k) of each layer of the chain, by hand."""
    h, out = 0.5, []
    for k in range(1, SIGMOID_LAYERS + 1):
        s = sigmoid((1 + 0.05 * k) * h - 0.1 * k)
        out.append(s * (1 - s))
        h = s
    return out


# ---------------------------------------------------------------------------
# the numbers and their colours


def test_every_sigmoid_of_the_chain_is_coloured_as_shrinking_the_gradient() -> None:
    graph = sigmoid_chain()
    trace = graph.trace()
    ov = colour_by(Mode.GAIN, trace)
    assert (ov.low, ov.high) == (0.1, 10.0)  # a decade either side of 1
    gains = sigmoid_gains()
    assert [ov.values[f"h{k}"] for k in range(1, 21)] == pytest.approx(gains, rel=1e-12)
    assert gains[0] == pytest.approx(H1_GAIN, rel=1e-6)
    shown = fills(to_svg(graph, overlay="gain"))  # the last step: every gradient known
    assert shown["h1"] == H1_COLOUR
    for k, gain in enumerate(gains, start=1):
        assert gain < 1
        position = (math.log10(gain) + 1) / 2
        assert ov.position(gain) == pytest.approx(position, rel=1e-12)
        assert shown[f"h{k}"] == ov.colour(gain)
        r, _, b = (int(shown[f"h{k}"][i : i + 2], 16) for i in (1, 3, 5))
        assert r > b  # orange: shrinking
    # an add sends its gradient to both inputs, ‖(g, g)‖ / ‖g‖ = √2: purple, growing
    assert ov.values["h1.2"] == pytest.approx(math.sqrt(2), rel=1e-12)
    r, _, b = (int(shown["h1.2"][i : i + 2], 16) for i in (1, 3, 5))
    assert b > r
    # leaves have no gain: neutral
    assert shown["w1"] == shown["x"] == NEUTRAL


def test_the_dead_relu_layer_is_drawn_dead_from_its_forward_step_on() -> None:
    graph = graphstep.load(DEAD_LAYER)
    session = graph.session()
    timeline = session.timeline
    ov = colour_by(Mode.DEAD, session.trace)
    assert ov.values == {"h": 1.0}
    assert ov.colour(1.0) == DEAD_COLOURS[-1] == "#f03b20"
    computed = timeline.forward_index["h"]
    before = fills(to_svg(session, step=computed - 1, overlay="dead"))
    after = fills(to_svg(session, step=computed, overlay="dead"))
    assert before["h"] == NEUTRAL
    assert after["h"] == "#f03b20"
    assert after["f"] == after["W"] == NEUTRAL  # not a relu, sigmoid or tanh
    # its gain is 0: it sends nothing back; 0 sits at the low end of the scale
    gain = colour_by(Mode.GAIN, session.trace)
    assert gain.values["h"] == 0.0
    last = fills(to_svg(session, step=timeline.end, overlay="gain"))
    assert last["h"] == GAIN_COLOURS[0] == "#f1a340"


def test_a_gradient_is_coloured_from_its_backward_step_on() -> None:
    graph = sigmoid_chain()
    session = graph.session()
    step = session.timeline.backward_index["h1"]
    before = fills(to_svg(session, step=step - 1, overlay="grad"))
    at = fills(to_svg(session, step=step, overlay="grad"))
    assert before["h1"] == NEUTRAL and before["h2"] != NEUTRAL
    ov = colour_by(Mode.GRAD, session.trace)
    norm = abs(float(session.trace.grad("h1")))
    assert ov.values["h1"] == norm
    assert at["h1"] == ov.colour(norm) != NEUTRAL


def test_the_legends_ends_are_the_decades_around_the_numbers() -> None:
    trace = sigmoid_chain().trace()
    d = diagnose(trace)
    smallest = min(d.grad_norms.values())  # ∂h20/∂w1
    assert smallest == pytest.approx(abs(float(trace.grad("w1"))))
    assert 1e-11 < smallest < 1e-10
    assert max(d.grad_norms.values()) == 1.0  # ∂h20/∂h20
    ends = {
        m: (colour_by(m, trace, d).legend.low, colour_by(m, trace, d).legend.high) for m in Mode
    }
    assert ends == {Mode.GRAD: ("1e-11", "1"), Mode.GAIN: ("0.1", "10"), Mode.DEAD: ("0%", "100%")}
    texts = legend_texts(to_svg(sigmoid_chain(), overlay="grad"))
    assert texts[:3] == ["|gradient| ‖∂L/∂node‖, log scale", "1e-11", "1"]
    assert any(t.startswith("grey: gradient not known yet") for t in texts)


def test_the_terminal_and_the_svg_colour_every_node_alike_at_every_step() -> None:
    graph = graphstep.load(DEAD_LAYER)
    session = graph.session()
    trace, timeline = session.trace, session.timeline
    d = diagram(graph, trace)
    raster = rasterize(layout(graph, frozenset(), trace=trace), d)
    boxes = {run.owner: run for row in raster.rows for run in row if run.role is Role.NAME}
    for mode in Mode:
        ov = colour_by(mode, trace)
        for step in range(len(timeline)):
            scene = Scene(d, timeline, step)
            svg = fills(to_svg(session, step=step, overlay=mode))
            terminal = {name: tint(run, scene, ov) for name, run in boxes.items()}
            assert terminal == {n: svg[n] for n in terminal}, (mode, step)


def test_a_bad_overlay_from_python_is_refused() -> None:
    with pytest.raises(GraphstepError, match="unknown overlay 'loss'"):
        to_svg(graphstep.load(DEAD_LAYER), overlay="loss")


# ---------------------------------------------------------------------------
# pictures: DOT, PNG, the player


def test_dot_fills_the_dead_layer_and_carries_the_legend(tmp_path: Path) -> None:
    out = tmp_path / "dead.dot"
    assert cli.main(["export", DEAD_LAYER, "--overlay", "dead", "-o", str(out)]) == 0
    text = out.read_text()
    node = next(line for line in text.splitlines() if "<B>h = relu(h.1)</B>" in line)
    assert 'fillcolor="#f03b20"' in node
    assert 'labelloc="b"' in text and "<B>dead fraction" in text
    assert ">0%</TD>" in text and "> 100%</TD>" in text


def test_png_export_with_an_overlay(tmp_path: Path) -> None:
    out = tmp_path / "gain.png"
    assert cli.main(["export", DEAD_LAYER, "--overlay", "gain", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_player_has_the_same_colours_and_the_legend(tmp_path: Path) -> None:
    graph = sigmoid_chain()
    page = export_html(graph, tmp_path / "chain.html", overlay="gain").read_text()
    variants = [
        v for piece in player_variants(page_data(page)) for v in piece if "<title>h1</title>" in v
    ]
    assert len(variants) == 5  # one per look
    assert sum(f'fill="{H1_COLOUR}"' in v for v in variants) == 2  # gradient known, current
    assert sum(f'fill="{NEUTRAL}"' in v for v in variants) == 3
    assert '<svg class="overlay-legend"' in page and ">0.1</text>" in page


FILL_OF = """(() => {
  const title = [...document.querySelectorAll("#diagram g.node > title")]
    .find(t => t.textContent === %s);
  return title.parentNode.querySelector("path, polygon").getAttribute("fill");
})()"""


@pytest.mark.skipif(executable() is None, reason="Debian's chromium is not installed")
def test_the_player_in_a_browser_colours_a_node_at_the_step_the_svg_does(tmp_path: Path) -> None:
    graph = graphstep.load(DEAD_LAYER)
    path = export_html(graph, tmp_path / "dead.html", overlay="dead")
    computed = graph.session().timeline.forward_index["h"]

    async def drive() -> list[str]:
        seen = []
        async with Page(1024, 700) as page:
            await page.open(path)
            for _ in range(computed - 1):
                await page.key("ArrowRight", 39)
            seen.append(await page.evaluate(FILL_OF % '"h"'))
            await page.key("ArrowRight", 39)
            seen.append(await page.evaluate(FILL_OF % '"h"'))
            assert page.errors == []
        return seen

    session = graph.session()
    expected = [
        fills(to_svg(session, step=step, overlay="dead"))["h"] for step in (computed - 1, computed)
    ]
    assert asyncio.run(drive()) == expected == [NEUTRAL, "#f03b20"]


def test_a_bad_overlay_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.svg"
    assert cli.main(["export", DEAD_LAYER, "--overlay", "loss", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("graphstep: error: ")
    assert "invalid choice: 'loss'" in err and "grad" in err
    assert not out.exists()


def test_export_svg_writes_the_overlay(tmp_path: Path) -> None:
    path = export_svg(sigmoid_chain(), tmp_path / "c.svg", overlay=Mode.GAIN)
    assert fills(path.read_text())["h1"] == H1_COLOUR


# ---------------------------------------------------------------------------
# the terminal UI


def legend_of(pilot: Pilot) -> str:
    widget = pilot.app.query_one(OverlayLegend)
    return str(widget.render()) if widget.display else ""


def background(pilot: Pilot, node: str, text: str) -> str | None:
    """The background the graph view draws behind `text` in the box of `node`."""
    view = pilot.app.query_one(GraphView)
    assert view.raster is not None
    box = view.raster.boxes[node]
    for y in range(box.y, box.bottom):
        line = view.render_line(y - view.scroll_offset.y)
        for segment in line:
            if text in segment.text:
                style = segment.style or Style()
                return None if style.bgcolor is None else style.bgcolor.triplet.hex  # type: ignore[union-attr]
    raise AssertionError(f"{text} is not on screen in {node}")


@drive
async def test_capital_o_cycles_the_overlay_and_its_legend() -> None:
    async with running(sigmoid_chain(), size=(120, 40)) as pilot:
        assert legend_of(pilot) == ""
        seen = []
        for _ in range(4):
            await pilot.press("O")
            await settle(pilot)
            seen.append(legend_of(pilot))
        assert seen[0].startswith("overlay grad  1e-11 ") and " 1  |gradient|" in seen[0]
        assert seen[1].startswith("overlay gain  0.1 ") and " 10  gain" in seen[1]
        assert seen[2].startswith("overlay dead  0% ") and " 100%  dead fraction" in seen[2]
        assert seen[3] == ""
        assert "overlay grad" not in screen_text(pilot)


@drive
async def test_the_terminal_shows_the_sigmoids_gain_once_its_gradient_is_known() -> None:
    graph = sigmoid_chain()
    async with running(graph, size=(120, 40)) as pilot:
        await pilot.press("O", "O")  # gain
        pilot.app.selected = "h1"  # scrolled into view
        await settle(pilot)
        assert background(pilot, "h1", "sigmoid(h1.2)") == NEUTRAL  # step 0: no gradient yet
        step = pilot.app.session.timeline.backward_index["h1"]
        await pilot.press("g", *str(step), "enter")
        await settle(pilot)
        assert pilot.app.session.position == step
        assert background(pilot, "h1", "sigmoid(h1.2)") == H1_COLOUR
        assert background(pilot, "h1", "h1") == H1_COLOUR  # the name too
        await pilot.press("O")  # dead: the sigmoids are all alive
        await settle(pilot)
        assert background(pilot, "h1", "sigmoid(h1.2)") == DEAD_COLOURS[0]
        assert Timeline(pilot.app.session.trace).forward_index["h1"] < step


@drive
async def test_e_exports_what_the_overlay_shows(tmp_path: Path) -> None:
    graph = graphstep.load(DEAD_LAYER)
    async with running(graph, export_dir=tmp_path) as pilot:
        await pilot.press("O", "O", "O")  # dead
        step = pilot.app.session.timeline.forward_index["h"]
        await pilot.press("g", *str(step), "enter", "e")
        await settle(pilot)
        svg = (tmp_path / f"dead-layer-step{step:03d}.svg").read_text()
        assert fills(svg)["h"] == "#f03b20"
        assert legend_texts(svg)[1:3] == ["0%", "100%"]


@drive
async def test_under_no_color_the_legend_still_names_the_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    async with running(graphstep.load(DEAD_LAYER)) as pilot:
        await pilot.press("O", "O")
        await settle(pilot)
        text = screen_text(pilot)
        assert "overlay gain  0.1 " in text and "orange: shrinks the gradient" in text
        assert "relu(h.1)" in text  # the graph is drawn as ever
