"""Pictures of images: image-shaped tensors drawn as small bitmaps in SVG, windows outlined."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from chromium import Page, executable
from PIL import Image
from test_render import HOSTILE, renamed

import graphstep
from graphstep import colormap
from graphstep import limits as limits_module
from graphstep.drawing import diagram, tiles
from graphstep.graph import Graph
from graphstep.render import export_html, image, to_svg
from graphstep.render.svg import NORM_LEGEND, pictures
from graphstep.tui import heatmap

GRAPHS = Path(__file__).parent.parent / "graphs"
SVG = "{http://www.w3.org/2000/svg}"

POOL = """
name: pool-image
inputs:
  x: {shape: [12, 10], init: uniform, low: 0, high: 1, seed: 3}
graph:
  m: maxpool(x, size=2)
  loss: sum(m)
output: loss
"""

CONV = """
name: conv-image
inputs:
  image: {shape: [3, 12, 12], init: uniform, low: 0, high: 1, seed: 0}
params:
  w: {shape: [2, 3, 3, 3], init: normal, std: 0.5, seed: 1}
graph:
  maps: conv2d(image, w)
  loss: sum(maps * maps)
output: loss
"""


def node_group(svg: str, graph: Graph, name: str) -> ET.Element:
    """The <g> of the node drawn for `name` (found by its <title>)."""
    root = ET.fromstring(svg)
    for g in root.iter(f"{SVG}g"):
        title = g.find(f"{SVG}title")
        if "node" in g.attrib.get("class", "") and title is not None and title.text == name:
            return g
    raise AssertionError(f"no node {name}")


def images(group: ET.Element, which: str = "value") -> list[ET.Element]:
    return [
        im
        for g in group.iter(f"{SVG}g")
        if g.attrib.get("class") == f"picture {which}"
        for im in g.iter(f"{SVG}image")
    ]


def decoded(element: ET.Element, side: int | None = None) -> np.ndarray:
    """A picture's PNG; a small image's (`side` pixels high), each number's square read once."""
    uri = element.attrib["href"]
    assert uri.startswith("data:image/png;base64,")
    png = base64.b64decode(uri.split(",", 1)[1])
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    if side is None:
        return pixels
    factor = pixels.shape[0] // side
    assert factor * side == pixels.shape[0] and pixels.shape[1] % factor == 0
    assert np.array_equal(
        pixels, np.repeat(np.repeat(pixels[::factor, ::factor], factor, 0), factor, 1)
    )
    return pixels[::factor, ::factor]


def test_an_image_is_drawn_as_a_picture_and_a_small_matrix_as_numbers() -> None:
    g = graphstep.load(POOL)
    svg = to_svg(g)
    assert len(images(node_group(svg, g, "x"))) == 1
    assert len(images(node_group(svg, g, "x"), "gradient")) == 1  # the last step: ∂loss/∂x
    assert images(node_group(svg, g, "m")) == []  # 6×5: a summary, not a picture
    pool = graphstep.load(GRAPHS / "pool_4x4.yaml")
    small = to_svg(pool)
    assert "<image" not in small  # 4×4: a table of numbers
    assert "7" in [t.text for t in ET.fromstring(small).iter(f"{SVG}text")]


def test_the_threshold_is_both_sides_at_least_8() -> None:
    assert tiles((7, 30)) is None
    assert tiles((3, 8, 7)) is None
    assert tiles((8, 8)) == (((),), False)
    assert tiles((3, 32, 32)) == (((),), True)
    assert tiles((1, 28, 28)) == (((0,),), False)
    assert tiles((2, 6, 28, 28)) == (tuple((0, c) for c in range(6)), False)
    assert tiles((20, 10, 10)) == (tuple((c,) for c in range(8)), False)  # 8 of 20 channels
    assert tiles((3, 5, 5), threshold=False) == (((),), True)  # a patch


def test_a_long_thin_tensor_stays_numbers() -> None:
    # 8 × 100,000 as a 64-point picture would be a line 0.005 points high
    assert tiles((8, 128)) == (((),), False) and tiles((128, 8)) == (((),), False)
    assert tiles((8, 129)) is None and tiles((8, 100_000)) is None
    assert tiles((4, 2000, 100)) is None


def test_pixels_are_the_grey_map_of_a_non_negative_image() -> None:
    g = graphstep.load(POOL)
    x = g.trace().value("x")
    svg = to_svg(g, step=0)
    (tile,) = images(node_group(svg, g, "x"))
    assert decoded(tile).shape == (60, 50, 3)  # grown 5 times: 64 pixels at most
    pixels = decoded(tile, 12)
    grey = np.rint(x / x.max() * 255).astype(np.uint8)
    assert pixels.shape == (12, 10, 3)
    assert np.array_equal(pixels, np.stack([grey] * 3, axis=-1))
    assert pixels[np.unravel_index(x.argmax(), x.shape)].tolist() == [255, 255, 255]


def test_a_gradient_and_signed_filters_are_diverging_and_rgb_is_its_own_colours() -> None:
    g = graphstep.load(CONV)
    trace = g.trace()
    svg = to_svg(g)
    (rgb,) = images(node_group(svg, g, "image"))
    assert np.array_equal(
        decoded(rgb, 12),
        np.rint(np.moveaxis(trace.value("image"), 0, -1) * 255).astype(np.uint8),
    )
    w = trace.value("w")
    filters = images(node_group(svg, g, "w"))
    assert len(filters) == 2  # a row of two filters, each in colour (3 input channels)
    for k, tile in enumerate(filters):
        t = np.moveaxis(w[k], 0, -1)
        expected = np.rint(np.clip((t - w.min()) / (w.max() - w.min()), 0, 1) * 255)
        assert np.array_equal(decoded(tile, 3), expected.astype(np.uint8))
    grad = trace.grad("maps")
    (first, second) = images(node_group(svg, g, "maps"), "gradient")
    pixels = decoded(first, 10)
    big = np.unravel_index(np.abs(grad[0]).argmax(), grad[0].shape)
    top = grad[0][big] / np.abs(grad).max()
    end = colormap.POSITIVE if top > 0 else colormap.NEGATIVE
    expected = np.rint(np.array(colormap.ZERO) + (np.array(end) - colormap.ZERO) * abs(top))
    assert pixels[big].tolist() == expected.astype(int).tolist()
    assert len(images(node_group(svg, g, "maps"))) == 2 and second is not None


def test_the_tui_heatmap_uses_the_same_maps() -> None:
    values = np.array([[-2.0, 0.0, 1.0, np.nan]])
    assert heatmap.colours(values) == [
        [colormap.NEGATIVE, colormap.ZERO, (142, 79, 48), colormap.NONFINITE]
    ]
    # (48 + (235 - 48)/2, 48 + (110 - 48)/2, 56 + (40 - 56)/2) = (141.5, 79, 48), rounded to even
    (signed,) = heatmap.planes(values)
    assert signed.map is colormap.Map.DIVERGING
    (image_plane,) = heatmap.planes(np.array([[0.0, 2.0, 4.0]]))
    assert image_plane.map is colormap.Map.GREY  # no negative value: grey, as in the pictures
    assert heatmap.colours(image_plane.values, None, image_plane.map) == [
        [(0, 0, 0), (128, 128, 128), (255, 255, 255)]
    ]
    (gradient,) = heatmap.planes(np.array([[0.0, 2.0, 4.0]]), gradient=True)
    assert gradient.map is colormap.Map.DIVERGING


def test_the_window_is_outlined_where_it_is_at_an_inner_step() -> None:
    g = graphstep.load(POOL)
    session = g.session()
    m = session.timeline.forward_index["m"]
    inner = 7  # windows of 2×2 on a 6×5 grid: the 8th is row 1, column 2
    svg = to_svg(session, step=m, inner=inner)
    (tile,) = images(node_group(svg, g, "x"))
    x0, y0 = float(tile.attrib["x"]), float(tile.attrib["y"])
    width, height = float(tile.attrib["width"]), float(tile.attrib["height"])
    root = ET.fromstring(svg)
    (window,) = [e for e in root.iter(f"{SVG}g") if e.attrib.get("class") == "mark window"]
    rect = window.find(f"{SVG}rect")
    assert rect is not None
    found = [float(rect.attrib[k]) for k in ("x", "y", "width", "height")]
    expected = [x0 + 4 * width / 10, y0 + 2 * height / 12, 2 * width / 10, 2 * height / 12]
    assert found == pytest.approx(expected, abs=0.01)
    assert [e for e in root.iter(f"{SVG}g") if e.attrib.get("class") == "mark cell"] == []
    # m (6×5) is no picture: no cell to mark; the same bitmap at every window
    other = to_svg(session, step=m, inner=0)
    assert images(node_group(other, g, "x"))[0].attrib["href"] == tile.attrib["href"]


def test_the_output_cell_is_marked_on_an_output_picture() -> None:
    g = graphstep.load(CONV)  # maps: 2×10×10, pictures
    session = g.session()
    step = session.timeline.forward_index["maps"]
    inner = 100 + 23  # filter 1, row 2, column 3
    svg = to_svg(session, step=step, inner=inner)
    root = ET.fromstring(svg)
    (cell,) = [e for e in root.iter(f"{SVG}g") if e.attrib.get("class") == "mark cell"]
    tiles_of_maps = images(node_group(svg, g, "maps"))
    second = tiles_of_maps[1]
    rect = cell.find(f"{SVG}rect")
    assert rect is not None
    w = float(second.attrib["width"]) / 10
    assert float(rect.attrib["x"]) == pytest.approx(float(second.attrib["x"]) + 3 * w, abs=0.01)
    assert float(rect.attrib["width"]) == pytest.approx(w, abs=0.01)
    (window,) = [e for e in root.iter(f"{SVG}g") if e.attrib.get("class") == "mark window"]
    assert window.find(f"{SVG}rect") is not None  # over the RGB image: all its channels


def test_every_step_is_well_formed_xml_and_the_bitmap_is_encoded_once() -> None:
    g = graphstep.load(POOL)
    pics = pictures(g, ("m",))
    start = pics.scene(0)
    uris: dict[str, set[str]] = {"value": set(), "gradient": set()}
    for position in range(pics.last + 1):
        for k in [None, *range(len(pics.timeline.inner_steps(position)))]:
            svg = pics.svg(start.moved(position, k))
            ET.fromstring(svg)
            for which, found in uris.items():
                found.update(im.attrib["href"] for im in images(node_group(svg, g, "x"), which))
    assert [len(found) for found in uris.values()] == [1, 1]  # one bitmap for every window
    patches = [p for p in pics.diagram.parts.values() if p.kind == "patch"]
    assert len(patches) == 16 and all(p.card.picture for p in patches)  # m's 2×2 windows


def test_expanded_conv_patches_show_their_patch() -> None:
    g = graphstep.load(GRAPHS / "conv_32x32x3.yaml")
    d = diagram(g, g.trace(), ("maps",))
    patches = [p for p in d.parts.values() if p.kind == "patch"]
    assert patches
    first = patches[0].card.picture
    assert first is not None and first.rgb and first.side == (5, 5)
    image_value = g.trace().value("image")
    expected = colormap.colouring(image_value, rgb=True).apply(image_value[:, 0:5, 0:5])
    assert np.array_equal(first.colours()[0], expected)
    svg = to_svg(g, expanded=("maps",))
    assert svg.count("<image") >= len(patches)


def test_a_big_image_is_shrunk_and_the_pictures_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    g = graphstep.load(POOL.replace("[12, 10]", "[224, 224]"))
    (tile,) = images(node_group(to_svg(g, step=0), g, "x"))
    assert decoded(tile).shape == (64, 64, 3)
    assert image.bitmap(np.zeros((224, 100, 3), np.uint8), (64, 29)).shape == (64, 29, 3)
    monkeypatch.setattr("graphstep.drawing.MAX_PICTURE_PIXELS", 64 * 64)
    d = diagram(g, g.trace())
    assert d.parts[d.ids["x"]].card.picture is None  # value and gradient: 2 × 64 × 64
    assert limits_module.MAX_THUMBNAIL_SIDE == 64


def test_the_norm_legend_appears_when_an_edge_shows_a_norm() -> None:
    chain = graphstep.load(GRAPHS / "chain_rule.yaml")
    assert NORM_LEGEND not in to_svg(chain)  # scalars only
    mlp = graphstep.load(GRAPHS / "mlp_3_4_2.yaml")
    last = ET.fromstring(to_svg(mlp)).findall(f"{SVG}text")[-1]
    assert last.text == NORM_LEGEND


def test_a_hostile_name_is_still_escaped_beside_a_picture() -> None:
    g = renamed(graphstep.load(POOL), "x", HOSTILE)
    g.name = HOSTILE
    svg = to_svg(g)
    root = ET.fromstring(svg)
    assert not [e for e in root.iter() if e.tag.split("}")[-1] in ("script", "foreignObject")]
    assert len(images(node_group(svg, g, HOSTILE))) == 1
    assert not re.search(r"<script", svg)


MARKED = """(() => {
  const box = e => {
    const r = e.getBoundingClientRect();
    return [r.left, r.top, r.width, r.height];
  };
  const x = [...document.querySelectorAll("g.node > title")].find(t => t.textContent === "x");
  const image = x.parentNode.querySelector("g.picture.value image");
  const marks = document.querySelectorAll("g.mark.window rect");
  return {
    image: image ? box(image) : null,
    window: marks.length ? box(marks[1]) : null,
    counter: document.getElementById("counter").textContent,
  };
})()"""


@pytest.mark.skipif(
    executable() is None,
    reason="Debian's chromium is not installed: `make test` installs it (apt-get install chromium)",
)
def test_the_player_outlines_the_window_on_the_picture(tmp_path: Path) -> None:
    path = export_html(graphstep.load(POOL), tmp_path / "pool.html", expanded=["m"], into=True)

    async def drive() -> list[dict[str, object]]:
        seen = []
        async with Page(1280, 900) as page:
            await page.open(path)
            seen.append(await page.evaluate(MARKED))  # the start: no window
            for _ in range(2 + 7):  # step 1, then the 8th of the windows drawn (4 a row)
                await page.key("ArrowRight", 39)
            await asyncio.sleep(0.8)
            seen.append(await page.evaluate(MARKED))
            assert page.errors == []
            fetched = [url for url in page.requests if not url.startswith("data:")]
            assert fetched == [path.resolve().as_uri()]  # the pictures are inside the page
        return seen

    start, inner = asyncio.run(drive())
    assert start["window"] is None and start["image"] is not None
    x0, y0, width, height = inner["image"]  # type: ignore[misc]
    left, top, w, h = inner["window"]  # type: ignore[misc]
    # window [1, 3] of 6×5 reads rows 2–3 and columns 6–7 of the 12×10 image
    assert inner["counter"] == "step 9 of 37"  # stops 0 to 37: the steps, and 16 windows twice
    assert [left, top, w, h] == pytest.approx(
        [x0 + 6 * width / 10, y0 + 2 * height / 12, 2 * width / 10, 2 * height / 12], abs=0.6
    )


def test_a_huge_image_is_read_at_every_few_pixels_before_it_is_coloured() -> None:
    g = graphstep.load(POOL.replace("[12, 10]", "[2048, 1024]"))
    shown = diagram(g, g.trace()).parts
    picture = next(p.card.picture for p in shown.values() if p.name == "x")
    assert picture is not None and picture.bitmap == (64, 32)
    (colours,) = picture.colours()
    assert colours.shape == (256, 128, 3)  # every 8th pixel: 4 read for each of the bitmap's
    x = g.trace().value("x")
    assert colours[1, 1, 0] == round(x[8, 8] / x.max() * 255)


def test_a_nan_pixel_is_magenta_and_dot_output_keeps_the_room_empty() -> None:
    g = graphstep.load(POOL)
    session = g.session()
    x = session.trace.value("x").copy()
    x[3, 4] = np.nan
    session.set_input("x", x)
    pics = pictures(session)
    (tile,) = images(node_group(pics.svg(pics.scene(0)), g, "x"))
    pixels = decoded(tile, 12)
    assert pixels[3, 4].tolist() == list(colormap.NONFINITE)
    assert pixels[0, 0].tolist() == [round(x[0, 0] / np.nanmax(x) * 255)] * 3
    dot = pics.dot(pics.scene(pics.last))
    assert "#fe0006" not in dot and "#fe0007" not in dot
    assert dot.count('WIDTH="54" HEIGHT="64"') == 2  # x's value and gradient: room, no picture
