"""The doctor's overlay: each drawn node coloured by its |gradient|, its gain or its dead fraction.

The numbers are the doctor's (doctor.py: `grad_norms`, `gains`, `dead`, and
the layers' gains for a collapsed block call); here they get a scale and a
colour, once, and every view reads the colour from here: the terminal
(render/raster.py), the SVG and the HTML player (render/svg.py's variants)
and the DOT (render/dot.py).

A colour shows only what is known at the cursor: a gradient and a gain from
the node's backward step on (the step that finalizes ∂L/∂node and what the
node sends back), a dead fraction from its forward step on. Before that, and
for a node the mode does not apply to, the node is drawn neutral. The scale is
the whole pass's, so a colour means the same number at every step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

import numpy as np

from . import format as fmt
from .doctor import Diagnosis, diagnose
from .drawing import Diagram, Kind
from .errors import GraphstepError, excerpt
from .scene import Look, Scene
from .steps import Timeline
from .trace import Trace

NEUTRAL = "#d4d4d4"  # no number for the mode at this step: in none of the maps below
LEGEND_STEPS = 16  # colours of a legend's bar
LOG_BOUND = 300  # a scale's ends stay within 1e-300 and 1e300, where float64 holds them


class Mode(StrEnum):
    """What the overlay colours by, in the order the TUI's key cycles through them."""

    GRAD = "grad"
    GAIN = "gain"
    DEAD = "dead"

    def known(self, look: Look) -> bool:
        """Is the node's number for this mode known at a look?"""
        return look.shows_value if self is Mode.DEAD else look.shows_grad


# ColorBrewer maps, colour-blind safe, and light enough that a node's numbers read on them.
# |gradient|: sequential YlGnBu, small (pale yellow) to large (blue).
GRAD_COLOURS = ("#ffffd9", "#edf8b1", "#c7e9b4", "#7fcdbb", "#41b6c4")
# gain: diverging PuOr around 1, shrinking (orange) to growing (purple).
GAIN_COLOURS = ("#f1a340", "#fee0b6", "#f7f7f7", "#d8daeb", "#998ec3")
# dead fraction: sequential YlOrRd, none (pale yellow) to every unit (red-orange).
DEAD_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20")


@dataclass(frozen=True)
class Legend:
    """What a legend shows: a title, a colour bar with the numbers at its ends, and what the
    colours and the neutral grey mean."""

    title: str
    low: str
    high: str
    bar: tuple[str, ...]  # LEGEND_STEPS colours, low end first
    meaning: str
    neutral: str


@dataclass(frozen=True)
class Overlay:
    """One mode's numbers by node, and its scale: `low` and `high` are the numbers at the ends
    (on a log scale for grad and gain: whole decades; 0 and 1 for dead)."""

    mode: Mode
    values: Mapping[str, float]  # by graph node
    calls: Mapping[str, float]  # a block call drawn collapsed: its layer's number
    low: float
    high: float

    def position(self, value: float) -> float:
        """Where a number sits on the scale, 0 (low end) to 1 (high end); 0 and below the low
        end sit at it, above the high end at it."""
        if self.mode is Mode.DEAD:
            t = value
        elif value <= 0:
            t = 0.0
        else:
            lo, hi = math.log10(self.low), math.log10(self.high)
            t = (math.log10(value) - lo) / (hi - lo)
        return min(1.0, max(0.0, t))

    def colour(self, value: float) -> str:
        return _mix(COLOURS[self.mode], self.position(value))

    def fill(self, d: Diagram, pid: str, look: Look) -> str:
        """A part's colour in a look: its number's, once the look knows it; else NEUTRAL. A
        collapsed block call shows its layer's number, a stub its leaf's; a constant and a
        window of an expanded composite have none."""
        if not self.mode.known(look):
            return NEUTRAL
        part = d.parts[pid]
        if part.kind is not Kind.NODE:
            return NEUTRAL
        if part.name in d.graph.groups and part.name not in d.expanded:
            return self._call_colours.get(part.name, NEUTRAL)
        return self._colours.get(part.source, NEUTRAL)

    @cached_property
    def _colours(self) -> dict[str, str]:
        """Each node's colour, worked out once: a view asks for a box's, run by run."""
        return {name: self.colour(v) for name, v in self.values.items()}

    @cached_property
    def _call_colours(self) -> dict[str, str]:
        return {name: self.colour(v) for name, v in self.calls.items()}

    def fills(self, scene: Scene) -> dict[str, str]:
        """Every part's colour in a scene (constants apart: they are drawn as they are)."""
        d = scene.diagram
        return {
            pid: self.fill(d, pid, look)
            for pid, look in scene.looks().items()
            if d.parts[pid].kind is not Kind.CONST
        }

    @property
    def legend(self) -> Legend:
        bar = tuple(_mix(COLOURS[self.mode], k / (LEGEND_STEPS - 1)) for k in range(LEGEND_STEPS))
        low, high = fmt.number(self.low), fmt.number(self.high)
        match self.mode:
            case Mode.GRAD:
                return Legend(
                    "|gradient| ‖∂L/∂node‖, log scale",
                    low,
                    high,
                    bar,
                    f"pale yellow: small ({low} or less, 0 included) · blue: large",
                    "grey: gradient not known yet at this step, or none (a constant, a node "
                    "the loss does not depend on), or not finite",
                )
            case Mode.GAIN:
                return Legend(
                    "gain ‖∂L/∂inputs‖ / ‖∂L/∂node‖, log scale",
                    low,
                    high,
                    bar,
                    "orange: shrinks the gradient (< 1; 0 at the low end) · white: passes it (1) "
                    "· purple: grows it (> 1)",
                    "grey: gradient not known yet at this step, or no gain (a leaf, a zero or "
                    "non-finite gradient)",
                )
            case Mode.DEAD:
                return Legend(
                    "dead fraction: units off (relu input ≤ 0) or saturated (sigmoid, tanh)",
                    "0%",
                    "100%",
                    bar,
                    "pale yellow: every unit alive · red-orange: every unit dead",
                    "grey: value not computed yet at this step, or not a relu, sigmoid or tanh",
                )


COLOURS: dict[Mode, tuple[str, ...]] = {
    Mode.GRAD: GRAD_COLOURS,
    Mode.GAIN: GAIN_COLOURS,
    Mode.DEAD: DEAD_COLOURS,
}


def overlay_mode(value: object) -> Mode | None:
    """An overlay asked for by name (`grad`, `gain`, `dead`), or None for none."""
    if value is None:
        return None
    if isinstance(value, str) and value in {m.value for m in Mode}:
        return Mode(value)
    raise GraphstepError(
        f"unknown overlay {excerpt(repr(value))}", hint="use grad, gain or dead (or None)"
    )


def colour_by(
    mode: Mode | str,
    trace: Trace,
    diagnosis: Diagnosis | None = None,
    timeline: Timeline | None = None,
) -> Overlay:
    """The overlay of one mode over a trace, from its diagnosis (made here if not given)."""
    chosen = overlay_mode(mode)
    if chosen is None:
        raise GraphstepError("colour_by needs a mode", hint="use grad, gain or dead")
    mode = chosen
    d = diagnosis or diagnose(trace, timeline)
    layers = {layer.name: layer for layer in d.layers if layer.name in trace.graph.groups}
    match mode:
        case Mode.GRAD:
            values = _finite(d.grad_norms)
            calls = _finite({n: layer.grad_norm for n, layer in layers.items()})
        case Mode.GAIN:
            values = _finite(d.gains)
            calls = _finite({n: layer.gain for n, layer in layers.items()})
        case Mode.DEAD:
            return Overlay(mode, dict(d.dead), {}, 0.0, 1.0)
    low, high = _decades([*values.values(), *calls.values()], centred=mode is Mode.GAIN)
    return Overlay(mode, values, calls, low, high)


def _finite(numbers: Mapping[str, float | None]) -> dict[str, float]:
    return {n: v for n, v in numbers.items() if v is not None and math.isfinite(v)}


def _decades(values: Sequence[float], centred: bool) -> tuple[float, float]:
    """The whole decades around the positive numbers; `centred`: as far below 1 as above it,
    and a decade at least either side, so that 1 is the middle and a gain of 0.8 looks mild."""
    numbers = np.asarray(values, dtype=np.float64)
    logs = np.clip(np.log10(numbers[numbers > 0]), -LOG_BOUND, LOG_BOUND)
    if centred:
        span = max(1, math.ceil(float(np.abs(logs).max()))) if logs.size else 1
        return 10.0**-span, 10.0**span
    if not logs.size:
        return 1.0, 10.0
    lo, hi = math.floor(float(logs.min())), math.ceil(float(logs.max()))
    return 10.0**lo, 10.0 ** max(hi, lo + 1)


def _mix(colours: Sequence[str], t: float) -> str:
    """The colour at t (0 to 1) along the stops, mixed linearly between the two around it."""
    at = t * (len(colours) - 1)
    k = min(int(at), len(colours) - 2)
    a, b = _rgb(colours[k]), _rgb(colours[k + 1])
    f = at - k
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b, strict=True))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
