"""What a new user meets in the first hour (issue 13): paths, notation, widths, messages."""

from __future__ import annotations

from pathlib import Path

import pytest

import graphstep
from graphstep import cli
from graphstep.spec import source_kind

GRAPHS = Path(__file__).parent.parent / "graphs"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# A mistyped path is a missing file, not an expression


@pytest.mark.parametrize("command", ["run", "validate", "check", "summary", "train"])
def test_a_path_without_its_suffix_is_a_missing_file(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = str(GRAPHS / "chain_rule")
    code, out, err = run([command, target], capsys)
    assert code == 2 and out == ""
    assert err == (
        f"graphstep: error: {target}: no such file (hint: did you mean {target}.yaml?)\n"
    )


def test_a_misspelt_file_name_suggests_the_close_one(capsys: pytest.CaptureFixture[str]) -> None:
    target = str(GRAPHS / "chain_rul.yaml")
    code, _, err = run(["run", target], capsys)
    assert code == 2
    assert f"did you mean {GRAPHS / 'chain_rule.yaml'}?" in err


def test_a_slash_without_spaces_is_a_path_and_the_hint_says_how_to_divide(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["run", "x/y"], capsys)
    assert code == 2
    assert "x/y: no such file (hint: an expression needs spaces around '/': x / y)" in err
    code, out, _ = run(["run", "x / y", "--set", "x=6", "--set", "y=3"], capsys)
    assert code == 0 and out.rstrip().endswith("f = 2")


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("graphs/chain_rule.yaml", "path"),
        ("graphs/chain_rule", "path"),
        ("nothing/here.yml", "path"),
        ("(x + y) * z", "expression"),
        ("x-y", "expression"),
        ("2.5", "expression"),
        ("relu(w @ x)", "expression"),
        ("inputs: {x: 1}", "text"),
        ("graph:\n  f: x\n", "text"),
    ],
)
def test_one_function_tells_paths_text_and_expressions_apart(target: str, kind: str) -> None:
    assert source_kind(target) == kind


def test_the_api_loads_paths_and_expressions_as_the_command_line_does() -> None:
    assert float(graphstep.load(GRAPHS / "chain_rule.yaml").trace().grad("x")) == -4.0
    assert float(graphstep.load("x * 3 + 1").trace().value("f")) == 1.0
    with pytest.raises(graphstep.GraphstepError) as caught:
        graphstep.load(str(GRAPHS / "chain_rule"))
    assert caught.value.message == "no such file"
    assert caught.value.hint == f"did you mean {GRAPHS / 'chain_rule'}.yaml?"


def test_help_says_when_an_argument_is_an_expression(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "an expression only when it cannot be a path" in out


# Our documents' words stay out; the description is marked once values change


def test_descriptions_and_help_speak_of_the_lecture_not_our_documents(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--help"]) == 0
    shown = [capsys.readouterr().out]
    shown += [graphstep.load(p).description for p in sorted(GRAPHS.glob("*.yaml"))]
    shown.append((Path(__file__).parent.parent / "README.md").read_text())
    for text in shown:
        for word in ("seed's", "seed lecture", "SPEC"):
            assert word not in text


def test_the_html_page_sets_backticks_as_code(tmp_path: Path) -> None:
    from graphstep.render import export_html

    page = export_html(graphstep.load(GRAPHS / "rcnn.yaml"), tmp_path / "r.html").read_text()
    description = page.split('<p class="description">')[1].split("</p>")[0]
    assert "`" not in description
    assert "<code>graphstep train graphs/rcnn.yaml</code>" in description


def test_html_prose_escapes_inside_and_outside_code() -> None:
    from graphstep.render.html import prose

    assert prose("a `<b>` & c") == "a <code>&lt;b&gt;</code> &amp; c"
    assert prose("one ` alone") == "one ` alone"


def test_html_prose_reads_line_breaks_as_markdown_does() -> None:
    from graphstep.render.html import prose

    # a description's newlines are not written out as "\n": a line break is a space, a blank
    # line a new paragraph
    assert prose("first line\nsecond `x`\n\n  \nnext") == (
        "first line second <code>x</code><br>next"
    )
    assert prose("a\x1bb") == "a\\x1bb"  # other control characters stay visible


def test_after_an_input_changes_the_description_is_marked_as_the_files() -> None:
    from graphstep.tui.inspector import _step_text

    session = graphstep.load(GRAPHS / "chain_rule.yaml").session()
    assert "the file's description" not in _step_text(session, session.current).plain
    session.set_input("x", 1.0)
    text = _step_text(session, session.current).plain
    assert "the file's description, written for the file's values (changed since: x)" in text
    assert session.changed == ("x",)


# Continue and reverse continue say where they stopped


def test_reverse_continue_says_start_of_the_backward_phase_then_the_start() -> None:
    from graphstep.tui.app import stop_message

    session = graphstep.load(GRAPHS / "chain_rule.yaml").session()
    session.goto(7)
    session.reverse_continue()
    assert (session.position, stop_message(session, reverse=True)) == (
        3,
        "start of the backward phase (step 3)",
    )
    session.reverse_continue()
    assert stop_message(session, reverse=True) == "back at the start (step 0)"
    session.continue_()
    assert stop_message(session, reverse=False) == "end of the forward phase (step 2)"


def test_continue_inside_a_block_call_visits_its_other_breakpoints_in_order() -> None:
    session = graphstep.load(GRAPHS / "rcnn.yaml").session()
    members = session.graph.groups["loss1"]
    warped, conv = members[0], members[2]  # loss1/warped, loss1/features/a
    session.add_breakpoint(warped, phase="backward")
    session.add_breakpoint(conv, phase="backward")
    session.goto(session.timeline.n_forward)
    stops = []
    for move in [session.continue_] * 3 + [session.reverse_continue] * 3:
        move()
        stops.append((session.current.node, session.inner is not None))
    assert stops == [
        (conv, True),  # reached first going backward, though set second
        (warped, True),
        (session.timeline.node_at(session.timeline.end), False),  # no more: the last step
        (warped, True),
        (conv, True),
        (session.timeline.node_at(session.timeline.n_forward + 1), False),
    ]


# run fits the terminal


@pytest.mark.parametrize("name", ["mlp_3_4_2", "rcnn", "conv_32x32x3", "smallest_nn"])
def test_run_fits_80_columns_and_wide_shows_every_number(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(["run", str(GRAPHS / f"{name}.yaml")], capsys)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    code, wide, _ = run(["run", "--wide", str(GRAPHS / f"{name}.yaml")], capsys)
    assert code == 0 and max(len(line) for line in wide.splitlines()) > 80


def test_a_fitted_table_summarises_a_long_tensor_by_its_range(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = run(["run", str(GRAPHS / "mlp_3_4_2.yaml")], capsys)
    rows = {line.split()[0]: line for line in out.splitlines()[3:] if line.strip()}
    assert "  -0.651579 … 0.452678  " in rows["W1"]  # W1's smallest and largest weights
    assert "  [0.5, -1, 2]  " in rows["x"]  # what fits is shown whole
    _, wide, _ = run(["run", "--wide", str(GRAPHS / "mlp_3_4_2.yaml")], capsys)
    assert "[[-0.0721775, -0.0601205, -0.0697945, -0.0931223]" in wide


def test_options_may_follow_an_expression_given_after_dashes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["run", "--", "-x * y", "--steps", "--set", "x=2", "--set", "y=3"], capsys)
    assert code == 0
    assert out.splitlines()[:2] == [
        "1 forward f.1: f.1 = -x = -2",
        "2 forward f: f = f.1 * y = -2 * 3 = -6",
    ]


# Every example runs as given


FC_VS_CONV = str(GRAPHS / "fc_vs_conv.yaml")
NOT_COMPUTED = "not computed: 'W_fc' would hold 1,600,000,000 numbers"


@pytest.mark.parametrize(
    "argv",
    [["run"], ["run", "--steps"], ["check"], ["train"], ["export", "-o", "never.svg"]],
    ids=["run", "steps", "check", "train", "export"],
)
def test_a_graph_too_big_to_compute_gets_its_summary_and_one_line_why(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run([*argv, FC_VS_CONV], capsys)
    assert code == 0 and err == ""
    assert "W_fc      param    [40000×40000]        1,600,000,000 (1.6 billion)" in out
    assert sum(NOT_COMPUTED in line for line in out.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_train_uses_the_files_rate_and_a_default_number_of_steps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["train", "--json", str(GRAPHS / "conv_32x32x3.yaml")], capsys)
    import json

    losses = json.loads(out)["losses"]
    assert code == 0 and len(losses) == 100
    assert losses[0] == pytest.approx(0.183777, rel=1e-5)
    assert losses[-1] < losses[0] / 10


def test_train_on_a_graph_without_params_says_so_before_asking_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["train", str(GRAPHS / "chain_rule.yaml")], capsys)
    assert code == 2
    assert err == (
        "graphstep: error: chain-rule has no params to train "
        "(hint: declare trainable leaves under params:)\n"
    )


def test_the_tui_opens_a_graph_too_big_to_compute_on_its_summary() -> None:
    import asyncio

    from graphstep.summary import not_computed
    from graphstep.tui.summary import SummaryApp

    graph = graphstep.load(FC_VS_CONV)
    reason = not_computed(graph)
    assert reason is not None

    async def look() -> str:
        app = SummaryApp(graph, reason)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            text = str(app.query_one("#reason").render()) + str(app.query_one("#summary").render())
            await pilot.press("q")
        return text

    text = asyncio.run(look())
    assert "1,600,000,000 (1.6 billion)" in text and NOT_COMPUTED in text


# The inspector at 60×20


@pytest.mark.parametrize("steps", [0, 15])
def test_the_inspectors_text_wraps_clear_of_its_scrollbar_at_60_by_20(steps: int) -> None:
    import asyncio

    from graphstep.tui import GraphstepApp
    from graphstep.tui.inspector import Inspector

    async def look() -> tuple[int, list[str], bool]:
        app = GraphstepApp(graphstep.load(GRAPHS / "mlp_3_4_2.yaml"))
        async with app.run_test(size=(100, 30)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.resize_terminal(60, 20)  # a user shrinking the window, as reported
            await pilot.pause()
            for _ in range(steps):
                await pilot.press("n")
            await pilot.pause()
            inspector = app.query_one(Inspector)
            width = inspector.scrollable_content_region.width
            built = [strip.text for strip in inspector._lines]  # before the screen crops them
            return width, built, inspector.show_vertical_scrollbar

    width, lines, scrolled = asyncio.run(look())
    assert scrolled  # the text is taller than the screen: the case that clipped
    assert max(len(line.rstrip()) for line in lines) <= width


# Small things


def test_an_api_error_without_a_file_is_just_its_message() -> None:
    session = graphstep.load(GRAPHS / "chain_rule.yaml").session()
    with pytest.raises(graphstep.GraphstepError) as caught:
        session.goto(99)
    assert str(caught.value) == "there is no step 99 (hint: steps run from 0 to 7)"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["validate", "x * 2"], "x * 2: ok (3 nodes, 0 parameters, output f [])"),
        (["check", "relu(x)"], "all 2 gradients match"),
        (["check", "relu(x)"], "1 element sits at a kink"),
    ],
)
def test_counts_agree_with_their_nouns(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(argv, capsys)
    assert code == 0 and words in out


def test_one_parameter_is_singular() -> None:
    from graphstep.format import plural

    assert [plural(1, "parameter"), plural(0, "parameter"), plural(2_000, "node")] == [
        "1 parameter",
        "0 parameters",
        "2,000 nodes",
    ]


def test_the_square_has_a_plain_local_gradient() -> None:
    lines = [s.text for s in graphstep.parse("x ** 2", x=3).session().timeline.steps]
    assert lines[-1] == "∂f/∂x = ∂f/∂f · ∂(x ** 2)/∂x = 1 · 2·x = 1 · 6 = 6"


# PNG is the SVG, at a sane size


def png_size(data: bytes) -> tuple[int, int]:
    import struct

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def svg_pixels(svg: str) -> tuple[float, float]:
    import re

    w, h = re.search(r'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups()  # type: ignore[union-attr]
    return float(w) * 4 / 3, float(h) * 4 / 3


def test_the_png_is_the_svg_at_twice_its_size_caption_included(tmp_path: Path) -> None:
    from graphstep.render import export_svg

    graph = graphstep.load(GRAPHS / "chain_rule.yaml")
    svg = export_svg(graph, tmp_path / "f.svg", step=4).read_text()
    png = export_svg(graph, tmp_path / "f.png", step=4, format="png").read_bytes()
    assert "∂f/∂f · ∂(q * z)/∂q" in svg  # the step's caption is part of the SVG
    w, h = svg_pixels(svg)
    assert png_size(png) == (pytest.approx(2 * w, abs=1), pytest.approx(2 * h, abs=1))


def test_a_big_png_is_scaled_so_its_longer_side_is_8192_pixels(tmp_path: Path) -> None:
    from graphstep.render import export_svg
    from graphstep.render.png import MAX_SIDE

    graph = graphstep.load(GRAPHS / "rcnn.yaml")
    svg = export_svg(graph, tmp_path / "r.svg").read_text()
    png = export_svg(graph, tmp_path / "r.png", format="png").read_bytes()
    w, h = svg_pixels(svg)
    assert 2 * max(w, h) > MAX_SIDE == 8192
    assert max(png_size(png)) == pytest.approx(MAX_SIDE, abs=2)
    assert png_size(png)[0] / png_size(png)[1] == pytest.approx(w / h, rel=0.01)


def test_a_png_too_big_for_librsvg_at_twice_the_size_still_renders() -> None:
    from graphstep.render.png import svg_to_png

    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="30000pt" height="300pt" '
        'viewBox="0 0 30000 300"><rect width="30000" height="300" fill="#0072b2"/></svg>'
    )
    assert png_size(svg_to_png(svg)) == (8192, 82)


def test_a_fitted_cell_counts_non_finite_numbers_as_format_does() -> None:
    import numpy as np

    from graphstep.cli import tensor_cell

    assert tensor_cell(np.full(20, np.nan), 30) == "nan×20"
    assert tensor_cell(np.array([1.0, np.inf, *[0.5] * 20]), 30) == "0.5 … 1 inf×1"
    assert tensor_cell(np.array([0.123456, -7.5]), 30) == "[0.123456, -7.5]"  # small: numbers
    assert tensor_cell(np.arange(30.0), 8) == "0 … 29"
