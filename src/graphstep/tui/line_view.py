"""The scroll views on the Line API (graph, inspector, timeline): what a step repaints.

A step should repaint what it changed and no more. `LineView.refresh_rows`
marks just those rows dirty, as few regions as the rows allow;
`resize_content` gives the view a new length without a layout of the screen;
and its scrollbars are drawn straight into strips:

Textual's scrollbar renders itself as a rich renderable and then goes line by
line through the styling every widget's lines go through: about 0.1 ms a
line, so a 30-line bar cost more than the rows of the graph it scrolls. A
step that scrolls the graph and the timeline repaints three bars. This one
is Textual's own (the same thumb, colours and mouse actions: the segments
come from its renderer, meta included), its lines made once per position.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.strip import Strip

PLAIN = Style()  # Textual's line filters (NO_COLOR) need a style on every segment


class StripScrollBar(ScrollBar):
    """A scrollbar whose lines are its renderer's segments, kept until it moves or resizes."""

    _drawn: tuple[tuple[object, ...], list[Strip]] | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        bar = self.render()
        if not isinstance(bar, ScrollBarRender):
            return super().render_lines(crop)
        width, height = self.size
        key = (self.size, bar.virtual_size, bar.window_size, bar.position, bar.style)
        if self._drawn is None or self._drawn[0] != key:
            self._drawn = (key, self._strips(bar, width, height))
        strips = self._drawn[1][crop.y : crop.bottom]
        return [strip.crop(crop.x, crop.right) for strip in strips]

    def _strips(self, bar: ScrollBarRender, width: int, height: int) -> list[Strip]:
        style = bar.style
        assert not isinstance(style, str)  # ScrollBar.render gives it a Style
        assert style.bgcolor is not None and style.color is not None
        segments = bar.render_bar(
            size=height if self.vertical else width,
            virtual_size=bar.virtual_size,
            window_size=bar.window_size,
            position=bar.position,
            thickness=width if self.vertical else height,
            vertical=self.vertical,
            back_color=style.bgcolor,
            bar_color=style.color,
        ).segments
        if not self.vertical:
            segments = [s for s in segments if s.text != "\n"]
        base = self.rich_style  # under the renderer's styles, as a widget's content has it
        segments = list(Segment.apply_style(segments, base))
        if self.vertical:
            strips = [Strip([segment], width) for segment in segments]
        else:
            strips = [Strip(segments, width)] * height
        background = self.background_colors[1]
        filters = self.get_line_filters()
        for line_filter in filters:
            strips = [strip.apply_filter(line_filter, background) for strip in strips]
        return strips


class LineView(ScrollView):
    """A scroll view whose scrollbars are StripScrollBars (Widget makes its bars on first use,
    in these two properties), and whose rows can be repainted a few at a time."""

    def resize_content(self, size: Size) -> None:
        """A new virtual size, without laying out the screen again.

        Assigning `virtual_size` lays out the whole screen (15–25 ms with this
        app's widgets). While the scrollbars stay, updating them is all a new size
        needs (what Textual does after a layout); if one appears or goes, its own
        reactive asks for the layout.
        """
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)

    def refresh_rows(self, rows: Iterable[int]) -> None:
        """Repaint these rows of the view (0 is its top row, wherever it is scrolled to)."""
        width = self.scrollable_content_region.width
        regions: list[Region] = []
        for y in sorted(rows):
            last = regions[-1] if regions else None
            if last is not None and last.bottom == y:
                regions[-1] = Region(0, last.y, width, last.height + 1)
            else:
                regions.append(Region(0, y, width, 1))
        if regions:
            self.refresh(*regions)

    @property
    def vertical_scrollbar(self) -> ScrollBar:
        if self._vertical_scrollbar is None:
            self._vertical_scrollbar = self._bar(True, self.scrollbar_size_vertical)
        return self._vertical_scrollbar

    @property
    def horizontal_scrollbar(self) -> ScrollBar:
        if self._horizontal_scrollbar is None:
            self._horizontal_scrollbar = self._bar(False, self.scrollbar_size_horizontal)
        return self._horizontal_scrollbar

    def _bar(self, vertical: bool, thickness: int) -> StripScrollBar:
        """A scrollbar, hidden until Textual shows it, as Widget makes its own."""
        name = "vertical" if vertical else "horizontal"
        bar = StripScrollBar(vertical=vertical, name=name, thickness=thickness)
        bar.display = False
        self.app._start_widget(self, bar)
        return bar
