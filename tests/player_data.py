"""The player page's data read back as the player reads it: each piece's variants, and the
variant of every piece at each step.

The page stores the variants as fragments (html.py's Fragments), and a keyframe every
`every` steps with each step's delta (html.py's Reel); a test that checks what a step
draws rebuilds them here, as player.js does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any


def page_data(page: str) -> dict[str, Any]:
    """The JSON data of a player page."""
    found = re.search(r'<script type="application/json" id="graphstep-data">(.*?)</script>', page)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def step_codes(data: dict[str, Any]) -> Iterator[list[int]]:
    """The variant of every piece at each step, in order."""
    codes: list[int] = []
    for i, delta in enumerate(data["deltas"]):
        if i % data["every"] == 0:
            codes = [int(c) for c in data["keyframes"][i // data["every"]]]
        else:
            codes = list(codes)
            for k, code in zip(delta[0::2], delta[1::2], strict=True):
                codes[k] = code
        yield codes


def variants(data: dict[str, Any]) -> list[list[str]]:
    """Every piece's variants, joined from their fragments."""
    shared = data["shared"]
    return [
        ["".join(own[n] if n >= 0 else shared[-1 - n] for n in numbers) for numbers in each]
        for own, each in data["pieces"]
    ]


def drawn(data: dict[str, Any]) -> Iterator[str]:
    """The drawing (inside the SVG's first group) at each step."""
    pieces = variants(data)
    for codes in step_codes(data):
        yield "".join(p[c] for p, c in zip(pieces, codes, strict=True))
