"""The HTML player in a real browser: Debian's chromium, headless, over the DevTools protocol.

→ moves the step, the current node is brought into the window, the wheel zooms, a drag
pans, fit keeps labels readable; and the page logs no error and asks for nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from chromium import Page, executable
from player_data import page_data

import graphstep
from graphstep.render import export_html
from graphstep.render.svg import Changes, stops

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from shapes import layered_nodes

GRAPHS = Path(__file__).parent.parent / "graphs"

pytestmark = pytest.mark.skipif(
    executable() is None,
    reason="Debian's chromium is not installed: `make test` installs it (apt-get install chromium)",
)

IN_VIEW = """(() => {
  const name = %s;
  const node = [...document.querySelectorAll("g.node > title")]
    .find(t => t.textContent === name).parentNode.getBoundingClientRect();
  const box = document.getElementById("diagram").getBoundingClientRect();
  return {
    node: [node.left, node.top, node.right, node.bottom],
    box: [box.left, box.top, box.right, box.bottom],
    window: [innerWidth, innerHeight],
    counter: document.getElementById("counter").textContent,
  };
})()"""

SCALE = """(() => {
  const t = document.querySelector("#diagram .canvas").style.transform;
  const [, x, y, s] = t.match(/translate\\(([-\\d.e]+)px, ([-\\d.e]+)px\\) scale\\(([\\d.e]+)\\)/);
  return [parseFloat(x), parseFloat(y), parseFloat(s)];
})()"""


def page_of(name: str, tmp_path: Path) -> Path:
    return export_html(graphstep.load(GRAPHS / f"{name}.yaml"), tmp_path / f"{name}.html")


def inside(rect: list[float], box: list[float]) -> bool:
    return rect[0] >= box[0] and rect[1] >= box[1] and rect[2] <= box[2] and rect[3] <= box[3]


async def step_to(page: Page, steps: int) -> None:
    for _ in range(steps):
        await page.key("ArrowRight", 39)
    await asyncio.sleep(0.8)  # the smooth scroll and the eased move take 0.35 s


def test_arrow_right_steps_and_the_current_node_comes_into_view(tmp_path: Path) -> None:
    path = page_of("mlp_3_4_2", tmp_path)
    graph = graphstep.load(GRAPHS / "mlp_3_4_2.yaml")
    timeline = graph.session().timeline

    async def drive() -> list[dict[str, object]]:
        seen = []
        async with Page(1024, 700) as page:
            await page.open(path)
            at = 0
            for target in (1, 8, 15, 22):  # z1.1, the loss, z1 and x: all over the diagram
                await step_to(page, target - at)
                at = target
                where = await page.evaluate(IN_VIEW % repr(timeline.node_at(target)))
                where["step"] = target
                seen.append(where)
            assert page.errors == []
            assert page.requests == [path.resolve().as_uri()]  # the page itself, nothing else
        return seen

    for where in asyncio.run(drive()):
        assert where["counter"] == f"step {where['step']} of 22"
        node, box = where["node"], where["box"]
        width, height = where["window"]
        assert inside(node, box), where  # in the diagram's window ...
        assert inside(node, [0, 0, width, height]), where  # ... and on the screen


def test_the_wheel_zooms_about_the_pointer_and_a_drag_pans(tmp_path: Path) -> None:
    path = page_of("mlp_3_4_2", tmp_path)

    async def drive() -> tuple[list[float], list[float], list[float]]:
        async with Page(1024, 700) as page:
            await page.open(path)
            before = await page.evaluate(SCALE)
            box = await page.evaluate(
                "(() => { const d = document.getElementById('diagram');"
                " const b = d.getBoundingClientRect();"
                " return [b.left + d.clientLeft, b.top + d.clientTop]; })()"
            )
            x, y = box[0] + 300, box[1] + 200
            await page.wheel(x, y, -200)  # towards the reader: zoom in
            zoomed = await page.evaluate(SCALE)
            await page.drag((x, y), (x - 150, y - 90))
            panned = await page.evaluate(SCALE)
            assert page.errors == []
        return before, zoomed, panned

    before, zoomed, panned = asyncio.run(drive())
    assert zoomed[2] > before[2] * 1.2
    # the point under the pointer stays put: (300 - x) / s is the same before and after
    assert (300 - zoomed[0]) / zoomed[2] == pytest.approx((300 - before[0]) / before[2], abs=0.5)
    assert panned[2] == zoomed[2]
    assert (panned[0] - zoomed[0], panned[1] - zoomed[1]) == pytest.approx((-150, -90), abs=1)


def test_fit_keeps_the_labels_of_a_wide_graph_readable(tmp_path: Path) -> None:
    path = page_of("rcnn", tmp_path)

    async def drive() -> tuple[list[float], list[float]]:
        async with Page(1280, 800) as page:
            await page.open(path)
            fitted = await page.evaluate(SCALE)
            await page.key("-", 189)
            await page.key("-", 189)
            await asyncio.sleep(0.5)
            await page.key("f", 70)
            refitted = await page.evaluate(SCALE)
            assert page.errors == []
        return fitted, refitted

    fitted, refitted = asyncio.run(drive())
    assert fitted[2] == pytest.approx(0.75)  # rcnn is 6,300 px wide: as small as stays readable
    assert refitted[2] == pytest.approx(0.75)


def test_a_small_graph_fits_whole_at_its_own_size(tmp_path: Path) -> None:
    path = page_of("chain_rule", tmp_path)

    async def drive() -> list[float]:
        async with Page(1280, 800) as page:
            await page.open(path)
            return await page.evaluate(SCALE)

    assert asyncio.run(drive())[2] == 1


def test_an_expanded_composite_is_followed_by_its_cluster(tmp_path: Path) -> None:
    graph = graphstep.load(GRAPHS / "pool_4x4.yaml")
    path = export_html(graph, tmp_path / "pool.html", expanded=("m",))
    corner = """(() => {
      const title = [...document.querySelectorAll("g.cluster > title")]
        .find(t => t.textContent === "m");
      const c = title.parentNode.getBoundingClientRect();
      const b = document.getElementById("diagram").getBoundingClientRect();
      return [c.left - b.left, c.top - b.top, b.width, b.height];
    })()"""

    async def drive() -> list[float]:
        async with Page(900, 600) as page:
            await page.open(path)
            await page.key("End", 35)  # the last step: x, the other end of the diagram
            await asyncio.sleep(0.6)
            await page.key("Home", 36)
            await step_to(page, 1)  # step 1: m, the maxpool drawn as a cluster
            assert page.errors == []
            return await page.evaluate(corner)

    left, top, width, height = asyncio.run(drive())
    assert 0 <= left < width / 2 and 0 <= top < height / 2  # its top-left corner in view


FRAME = "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"

DRAWN = """(() => {
  const expected = %s;  /* piece id → the SVG of its variant at this step, from svg.py */
  const svg = document.querySelector("#diagram svg");
  const scratch = document.createElementNS(svg.namespaceURI, "g");
  const wrong = [];
  for (const [id, text] of Object.entries(expected)) {
    scratch.innerHTML = text;
    const found = svg.querySelectorAll(`svg > g > g[id="${id}"]`);
    if (found.length !== 1 || found[0].outerHTML !== scratch.firstElementChild.outerHTML) {
      wrong.push(id);
    }
  }
  return {
    wrong: wrong,
    groups: svg.querySelectorAll("svg > g > g").length,
    counter: document.getElementById("counter").textContent,
    slider: document.getElementById("slider").getBoundingClientRect().toJSON(),
  };
})()"""


def test_seeking_far_and_back_draws_each_step_as_its_scene(tmp_path: Path) -> None:
    """A 200-node graph has several keyframes: the slider seeks from one, → adds a delta,
    ← seeks again; each time every piece in the page is the variant its scene picks."""
    graph = graphstep.load(layered_nodes(200))
    pics, scenes, _ = stops(graph)
    changing = [p for p in pics.pieces if p.changes is not Changes.STATIC]

    def expected(step: int) -> str:
        codes = pics.codes(scenes[step])
        chosen = {p.id: p.variants[c] for p, c in zip(pics.pieces, codes, strict=True)}
        return DRAWN % json.dumps({p.id: chosen[p.id] for p in changing})

    path = export_html(graph, tmp_path / "layered.html")
    data = page_data(path.read_text())
    last = len(scenes) - 1
    assert len(data["keyframes"]) >= 3 and data["every"] > 1

    async def drive() -> list[tuple[int, dict[str, object]]]:
        seen = []
        async with Page(1024, 700) as page:
            await page.open(path)

            async def check() -> None:
                await page.evaluate(FRAME)  # the slider draws at the next frame
                shown = await page.evaluate(DRAWN % "{}")
                step = int(str(shown["counter"]).split()[1])
                seen.append((step, await page.evaluate(expected(step))))

            slider = (await page.evaluate(DRAWN % "{}"))["slider"]
            y = slider["y"] + slider["height"] / 2
            start, end = slider["x"] + 8, slider["x"] + slider["width"] - 8
            await page.drag((start, y), (start + (end - start) * 0.8, y))  # far: ~4/5 along
            await check()
            await page.key("ArrowRight", 39)  # one delta
            await check()
            await page.key("ArrowLeft", 37)  # back: a seek
            await page.key("ArrowLeft", 37)
            await check()
            await page.key("End", 35)
            await check()
            await page.drag((end, y), (start + (end - start) * 0.1, y))  # and far back
            await check()
            assert page.errors == []
        return seen

    seen = asyncio.run(drive())
    steps = [step for step, _ in seen]
    far = steps[0]
    assert far > 2 * data["every"] and far % data["every"]  # past two keyframes, between two
    assert steps == [far, far + 1, far - 1, last, steps[-1]]
    assert 0 < steps[-1] < data["every"] * 2
    groups = {shown["groups"] for _, shown in seen}
    assert len(groups) == 1  # no piece lost or doubled on the way
    for step, shown in seen:
        assert shown["counter"] == f"step {step} of {last}"
        assert shown["wrong"] == [], step
