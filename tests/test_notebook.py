"""In Jupyter: a session shows itself as the player, and so does graphstep.show(graph).

A real notebook is executed by a real kernel (nbclient, ipykernel), and its output
cells are read as a notebook would display them.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from pathlib import Path

import nbformat
import pytest
from chromium import Page, executable
from nbclient import NotebookClient

import graphstep

GRAPHS = Path(__file__).parent.parent / "graphs"


def execute(*sources: str) -> list[dict[str, object]]:
    """Each cell's first display output, as the notebook file holds it after a run."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    return [cell.outputs[0]["data"] for cell in notebook.cells]


def player_data(cell_html: str) -> dict[str, object]:
    """The steps inside the player page that an output cell's iframe holds."""
    srcdoc = re.search(r'srcdoc="([^"]*)"', cell_html)
    assert srcdoc is not None
    page = html.unescape(srcdoc.group(1))
    found = re.search(r'<script type="application/json" id="graphstep-data">(.*?)</script>', page)
    assert found is not None and "<script>" in page  # the data and the player's own script
    return json.loads(found.group(1))


def test_a_session_and_show_display_the_player_in_a_notebook() -> None:
    chain = str(GRAPHS / "chain_rule.yaml")
    session_cell, show_cell = execute(
        f"import graphstep\nsession = graphstep.load({chain!r}).session()\nsession",
        f"graphstep.show(graphstep.load({str(GRAPHS / 'pool_4x4.yaml')!r}))",
    )
    for cell in (session_cell, show_cell):
        assert '<iframe class="graphstep-player"' in cell["text/html"]
        assert 'sandbox="allow-scripts"' in cell["text/html"]
    steps = player_data(session_cell["text/html"])["steps"]
    assert len(steps) == 8
    assert steps[4]["text"] == "4/7 backward q: ∂f/∂q = ∂f/∂f · ∂(q * z)/∂q = 1 · z = 1 · -4 = -4"
    assert len(player_data(show_cell["text/html"])["steps"]) == 12


def test_a_session_too_big_to_draw_falls_back_to_its_text() -> None:
    graph = graphstep.load(GRAPHS / "fc_vs_conv.yaml")
    assert graph._repr_svg_() is None


CLICKED_ARM = """void (window.clicked = new Promise(done => {
  document.addEventListener("pointerdown", () => done(true), { once: true });
  setTimeout(() => done(false), 1000);
}))"""
CLICKED = "window.clicked"


@pytest.mark.skipif(executable() is None, reason="Debian's chromium is not installed")
def test_the_player_in_an_output_cell_steps_without_errors(tmp_path: Path) -> None:
    cell = graphstep.load(GRAPHS / "chain_rule.yaml").session()._repr_html_()
    assert cell is not None
    path = tmp_path / "cell.html"
    path.write_text(f"<!DOCTYPE html><html><body><h1>a notebook</h1>{cell}</body></html>")

    async def drive() -> tuple[list[str], list[str], str]:
        async with Page(1100, 900) as page:
            await page.open(path)
            await asyncio.sleep(0.5)
            assert len(page.frames) == 1  # the sandboxed player, a process of its own
            for _ in range(5):  # a loaded machine may route the first click past the new frame
                await page.evaluate(CLICKED_ARM, page.frames[0])
                for kind in ("mousePressed", "mouseReleased"):
                    await page.send(
                        "Input.dispatchMouseEvent",
                        type=kind,
                        x=500,
                        y=400,
                        button="left",
                        clickCount=1,
                    )
                if await page.evaluate(CLICKED, page.frames[0]):
                    break
            for _ in range(3):
                await page.key("ArrowRight", 39)
            await asyncio.sleep(0.5)
            counter = await page.evaluate(
                "document.getElementById('counter').textContent", page.frames[0]
            )
            return page.errors, page.requests, counter

    errors, requests, counter = asyncio.run(drive())
    assert counter == "step 3 of 7"  # the keys stepped the player inside the cell
    assert errors == []
    assert requests == [path.resolve().as_uri()]
