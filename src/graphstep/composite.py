"""The inner structure of composite nodes (conv2d, local2d, maxpool, avgpool).

A composite node is one node of the collapsed graph, but it is made of
windows: one output element per window position, each a max, a mean or a dot
product `Wᵀx + b` over the input pixels it reads. This module answers, for one
window at a time and by index arithmetic only, where that window is, which
numbers it reads and how to say so; nothing is built for all windows at once,
since a 6×28×28 conv has 4,704 of them.

Where the windows are is decided by the ops themselves (`grid`, `window`,
`padding`); this module only reads them. An expansion (the sub-graph a view
draws as a cluster) shows a bounded region of one output channel and never
more than `MAX_NODES` nodes; the region can be moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from math import prod
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from .errors import GraphstepError
from .format import index, number
from .ops import OPS, Op

if TYPE_CHECKING:
    from .graph import Graph
    from .trace import Trace

POOLS = ("maxpool", "avgpool")
SMALL_WINDOW = 9  # a conv window with at most this many weights is written out term by term
SMALL_POOL = 16  # a pool window with at most this many pixels is listed number by number
MAX_NODES = 40  # an expansion never draws more nodes than this
REGION_SIDE = 4  # the default region: up to 4×4 windows of one output channel


@dataclass(frozen=True)
class Windows:
    """Where each window of one composite node sits; positions are output indices.

    The output position of a pool is `(*channel, i, j)` and its window reads
    `x[*channel, rows, cols]`; a conv's is `(*batch, f, i, j)` and its window
    reads `x[*batch, channels, rows, cols]` with filter `w[f]` (`w[f, i, j]` for
    local2d), where `channels` are all of x's, or filter f's group of them.
    Rows and columns step by the dilation.
    """

    node: str
    kind: str  # the op's name
    shape: tuple[int, ...]  # the output's shape: one window per element
    kernel: tuple[int, int]
    stride: int
    pad: tuple[int, int]
    image: tuple[int, int]  # the unpadded input's H, W
    op: Op = field(compare=False, repr=False)
    shapes: tuple[tuple[int, ...], ...] = field(compare=False, repr=False)
    attrs: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def pooling(self) -> bool:
        return self.kind in POOLS

    @property
    def grid(self) -> tuple[int, int]:
        return self.shape[-2], self.shape[-1]

    def __len__(self) -> int:
        return prod(self.shape)

    def position(self, k: int) -> tuple[int, ...]:
        """The output position of the k-th window, in row-major order."""
        if not 0 <= k < len(self):
            raise IndexError(f"window {k} of {len(self)}")
        return tuple(int(i) for i in np.unravel_index(k, self.shape))

    def ordinal(self, position: tuple[int, ...]) -> int:
        return int(np.ravel_multi_index(position, self.shape))

    def span(self, position: tuple[int, ...]) -> tuple[slice, slice]:
        """The window's rows and columns in the unpadded input (they may reach into the padding);
        their steps are the dilation."""
        rows, cols = self.op.window(position[-2], position[-1], *self.shapes, **self.attrs)
        ph, pw = self.pad
        return (
            slice(rows.start - ph, rows.stop - ph, rows.step),
            slice(cols.start - pw, cols.stop - pw, cols.step),
        )

    def lead(self, position: tuple[int, ...]) -> tuple[Any, ...]:
        """x's index before rows and columns: a pool's channel, or a conv's batch and channels
        (all of them, or its filter's group)."""
        if self.pooling:
            return position[:-2]
        return (*position[:-3], self.channels(position[-3]))

    def channels(self, f: int) -> slice:
        """The input channels that filter f reads: all, or its group's with `groups`."""
        c = self.shapes[1][-3]
        if c == self.shapes[0][-3]:
            return slice(None)
        per_group = self.shapes[1][0] * c // self.shapes[0][-3]
        start = f // per_group * c
        return slice(start, start + c)

    def patch(self, x: np.ndarray, position: tuple[int, ...]) -> np.ndarray:
        """What the window reads: (kh, kw) for a pool, (C, kh, kw) for a conv; padding reads 0
        (−inf for maxpool, which never picks it)."""
        plane = np.asarray(x)[self.lead(position)]
        rows, cols = (np.arange(s.start, s.stop, s.step or 1) for s in self.span(position))
        (h, w) = self.image
        fill = float(getattr(self.op, "fill", 0.0))
        out = np.full((*plane.shape[:-2], len(rows), len(cols)), fill)
        r_in, c_in = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
        out[..., np.flatnonzero(r_in)[:, None], np.flatnonzero(c_in)[None, :]] = plane[
            ..., rows[r_in][:, None], cols[c_in][None, :]
        ]
        return out

    def filter_index(self, position: tuple[int, ...]) -> tuple[int, ...]:
        """Which filter (and bias) a conv window uses: `(f,)`, or `(f, i, j)` for local2d."""
        f = position[-3]
        return (f,) if self.kind == "conv2d" else (f, position[-2], position[-1])

    def region(self, name: str, position: tuple[int, ...]) -> str:
        """`x[0:2, 2:4]`, `x[0, 0:2, 2:4]`, `x[:, 1:4, 0:3]`: the pixels the window reads."""
        rows, cols = self.span(position)
        h, w = self.image
        parts = [_slice_text(i) for i in self.lead(position)]
        parts.append(_slice_text(_inside(rows, h)))
        parts.append(_slice_text(_inside(cols, w)))
        return f"{name}[{', '.join(parts)}]"

    def padded(self, position: tuple[int, ...]) -> bool:
        """Whether the window reaches into the zero padding around the input."""
        rows, cols = self.span(position)
        h, w = self.image
        return rows.start < 0 or cols.start < 0 or rows.stop > h or cols.stop > w

    def ties(self, x: np.ndarray) -> int:
        """How many pool windows have their maximum more than once (maxpool's tie convention)."""
        flat = self.all_patches(x)
        top = flat.max(axis=-1, keepdims=True)
        return int(((flat == top).sum(axis=-1) > 1).sum())

    def all_patches(self, x: np.ndarray) -> np.ndarray:
        """Every pool window at once, flattened: (..., Ho, Wo, kh·kw)."""
        patches: np.ndarray = self.op.patches(x, **self.attrs)  # type: ignore[attr-defined]
        return patches


def windows(graph: Graph, name: str) -> Windows | None:
    """The windows of a composite node, from its op's grid/window/padding; None for other nodes."""
    node = graph.nodes[name]
    if not node.is_composite:
        return None
    op = OPS[node.op]
    shapes = tuple(graph.nodes[i].shape for i in node.inputs)
    attrs = dict(node.attrs)
    ho, wo = op.grid(*shapes, **attrs)
    rows, cols = op.window(0, 0, *shapes, **attrs)
    kernel = (
        len(range(rows.start, rows.stop, rows.step or 1)),
        len(range(cols.start, cols.stop, cols.step or 1)),
    )
    if ho > 1:
        stride = op.window(1, 0, *shapes, **attrs)[0].start - rows.start
    elif wo > 1:
        stride = op.window(0, 1, *shapes, **attrs)[1].start - cols.start
    else:
        stride = 1
    pad = op.padding(*shapes, **attrs)
    pad = (pad, pad) if isinstance(pad, int) else (int(pad[0]), int(pad[1]))
    return Windows(
        node=name,
        kind=node.op,
        shape=node.shape,
        kernel=kernel,
        stride=int(stride),
        pad=pad,
        image=(shapes[0][-2], shapes[0][-1]),
        op=op,
        shapes=shapes,
        attrs=attrs,
    )


def forward_text(wins: Windows, trace: Trace, position: tuple[int, ...]) -> str:
    """`max(2, 4, 7, 8) = 8`, `mean(…) = 3.25`, `Wᵀx + b = 1·2 + -1·3 + 0.5 = -0.5`."""
    graph = trace.graph
    node = graph.nodes[wins.node]
    x_name = graph.display(node.inputs[0])
    out = number(trace.value(wins.node)[position])
    patch = wins.patch(trace.value(node.inputs[0]), position)
    if wins.pooling:
        fn = "max" if wins.kind == "maxpool" else "mean"
        if patch.size <= SMALL_POOL:
            if wins.padded(position) and wins.kind == "maxpool":  # its padding is never picked
                inside = [number(v) for v in patch.ravel() if v != -np.inf]
                return f"{fn}({', '.join(inside)}) = {out} (the padding left out)"
            return f"{fn}({', '.join(number(v) for v in patch.ravel())}) = {out}"
        return f"{fn} of {wins.region(x_name, position)} = {out}"
    f = wins.filter_index(position)
    weights = trace.value(node.inputs[1])[f]
    bias = trace.value(node.inputs[2])[f] if len(node.inputs) > 2 else None
    lhs = "Wᵀx + b" if bias is not None else "Wᵀx"
    if patch.size <= SMALL_WINDOW:
        terms = [
            f"{number(w)}·{number(v)}" for w, v in zip(weights.ravel(), patch.ravel(), strict=True)
        ]
        if bias is not None:
            terms.append(number(bias))
        return f"{lhs} = {' + '.join(terms)} = {out}{_group(wins, position)}"
    padded = ", zero-padded" if wins.padded(position) else ""
    return f"{lhs} over {wins.region(x_name, position)} ({patch.size} weights{padded}) = {out}"


def _group(wins: Windows, position: tuple[int, ...]) -> str:
    """`  (group 1: channels 2–3)` for a grouped conv's window; empty otherwise."""
    channels = wins.channels(position[-3])
    if channels.start is None:
        return ""
    group = channels.start // (channels.stop - channels.start)
    return f"  (group {group}: channels {channels.start}–{channels.stop - 1})"


def backward_text(wins: Windows, trace: Trace, position: tuple[int, ...]) -> str:
    """Where this window sends its gradient: the maximum, an even share, or x, w and b."""
    graph = trace.graph
    node = graph.nodes[wins.node]
    names = [graph.display(i) for i in node.inputs]
    grad = trace.grad(wins.node)
    g = 0.0 if grad is None else float(grad[position])
    head = f"∂{graph.output}/∂{wins.node}{index(position)} = {number(g)}"
    region = wins.region(names[0], position)
    if wins.kind == "maxpool":
        patch = wins.patch(trace.value(node.inputs[0]), position)
        first = int(np.argmax(patch))
        rows, cols = wins.span(position)
        kw = wins.kernel[1]
        pixel = (*wins.lead(position), rows.start + first // kw, cols.start + first % kw)
        top = patch.ravel()[first]
        text = (
            f"{head} → {names[0]}{index(pixel)}, the window's maximum ({number(top)}); "
            f"the other {patch.size - 1} get 0"
        )
        if int((patch == top).sum()) > 1:
            text += "; a tie: the first maximum in row-major order gets it, as max_pool2d"
        return text
    if wins.kind == "avgpool":
        n = wins.kernel[0] * wins.kernel[1]
        return f"{head} → 1/{n} of it, {number(g / n)}, to each of {region}"
    f = index(wins.filter_index(position))
    parts = [f"{region} += {number(g)}·{names[1]}{f}", f"{names[1]}{f} += {number(g)}·{region}"]
    if len(names) > 2:
        parts.append(f"{names[2]}{f} += {number(g)}")
    return f"{head} → " + "; ".join(parts)


@dataclass(frozen=True)
class Region:
    """Which windows an expansion shows: one output channel, `rows`×`cols` windows from (top, left).

    `channel` is the output position before (i, j): the channel of a pool, the
    (batch and) filter of a conv. `moved` shifts it; `expansion` clamps it to the grid.
    """

    channel: tuple[int, ...] = ()
    top: int = 0
    left: int = 0
    rows: int = REGION_SIDE
    cols: int = REGION_SIDE

    def moved(self, down: int = 0, right: int = 0) -> Region:
        return replace(self, top=self.top + down, left=self.left + right)

    @classmethod
    def around(cls, wins: Windows, position: tuple[int, ...]) -> Region:
        """The region (on a fixed tiling of the grid) that holds the window at `position`."""
        side = _side(wins)
        i, j = position[-2], position[-1]
        return cls(tuple(position[:-2]), i - i % side, j - j % side, side, side)


@dataclass(frozen=True)
class Expansion:
    """A composite node's windows as a small networkx graph, for a view to draw as a cluster.

    Nodes are named like elements (`m[0,1]`, `x[1,3]`, `x[:, 0:5, 0:5]`,
    `w[2]`): brackets never occur in graph names, so they cannot collide. Each
    node has `label`, `kind` (window, pixel, patch, weight, bias), `value` and
    `grad` (None where not a single number or not known); `sources` maps every
    node that reads the outer graph to the outer node it reads.
    """

    node: str
    graph: nx.DiGraph
    region: Region
    windows: tuple[tuple[int, ...], ...]
    total: int  # windows of the whole node, of which `windows` are shown
    sources: Mapping[str, str]

    def window_node(self, position: tuple[int, ...]) -> str:
        return f"{self.node}{index(position)}"


def _side(wins: Windows) -> int:
    # local2d draws a weight and a bias node per window, so it shows fewer windows
    return 3 if wins.kind == "local2d" else REGION_SIDE


def _clamp(wins: Windows, region: Region | None) -> Region:
    ho, wo = wins.grid
    side = _side(wins)
    lead = wins.shape[:-2]
    region = region or Region(tuple(0 for _ in lead))
    channel = tuple(min(max(int(c), 0), n - 1) for c, n in zip(region.channel, lead, strict=False))
    channel += tuple(0 for _ in lead[len(channel) :])
    rows = min(max(region.rows, 1), side, ho)
    cols = min(max(region.cols, 1), side, wo)
    top = min(max(region.top, 0), ho - rows)
    left = min(max(region.left, 0), wo - cols)
    return Region(channel, top, left, rows, cols)


def expansion(graph: Graph, trace: Trace, node: str, region: Region | None = None) -> Expansion:
    """The windows of `region` (default: the top-left of the first channel) as a bounded sub-graph.

    Small windows are drawn pixel by pixel when every pixel fits in the node
    budget; otherwise each window reads one patch node. A conv's filter and
    bias are one node each (per window for local2d, whose filters differ).
    """
    wins = windows(graph, node)
    if wins is None:
        raise GraphstepError(
            f"'{node}' is not a composite node", hint="conv2d, local2d, maxpool and avgpool are"
        )
    region = _clamp(wins, region)
    spec = graph.nodes[node]
    x_name = spec.inputs[0]
    x = trace.value(x_name)
    out = trace.value(node)
    grad = trace.grad(node)
    positions = tuple(
        (*region.channel, i, j)
        for i in range(region.top, region.top + region.rows)
        for j in range(region.left, region.left + region.cols)
    )
    dag = nx.DiGraph(name=node)
    sources: dict[str, str] = {}
    for p in positions:
        body = forward_text(wins, trace, p)
        dag.add_node(
            f"{node}{index(p)}",
            label=f"{node}{index(p)}: {body}",
            kind="window",
            position=p,
            value=float(out[p]),
            grad=None if grad is None else float(grad[p]),
        )
    pixels = {p: _pixels(wins, p) for p in positions}
    distinct = {px for group in pixels.values() for px in group}
    extra = 0 if wins.pooling else (2 if wins.kind == "conv2d" else 2 * len(positions))
    by_pixel = len(positions) + len(distinct) + extra <= MAX_NODES
    x_display = graph.display(x_name)
    x_grad = trace.grad(x_name)
    for p in positions:
        target = f"{node}{index(p)}"
        if by_pixel:
            for px in pixels[p]:
                name = f"{x_display}{index(px)}"
                if name not in dag:
                    dag.add_node(
                        name,
                        label=f"{name} = {number(x[px])}",
                        kind="pixel",
                        position=px,
                        value=float(x[px]),
                        grad=None if x_grad is None else float(x_grad[px]),
                    )
                    sources[name] = x_name
                dag.add_edge(name, target, value=float(x[px]))
        else:
            name = wins.region(x_display, p)
            label = name + (" (zero-padded)" if wins.padded(p) else "")
            dag.add_node(name, label=label, kind="patch", position=p, value=None, grad=None)
            sources[name] = x_name
            dag.add_edge(name, target, value=None)
        if not wins.pooling:
            for k, kind in ((1, "weight"), (2, "bias")):
                if k >= len(spec.inputs):
                    continue
                fi = wins.filter_index(p)
                name = f"{graph.display(spec.inputs[k])}{index(fi)}"
                if name not in dag:
                    value = trace.value(spec.inputs[k])[fi]
                    label = name if np.ndim(value) else f"{name} = {number(value)}"
                    scalar = float(value) if np.ndim(value) == 0 else None
                    dag.add_node(name, label=label, kind=kind, position=fi, value=scalar, grad=None)
                    sources[name] = spec.inputs[k]
                dag.add_edge(name, target, value=None)
    return Expansion(node, dag, region, positions, len(wins), sources)


def _pixels(wins: Windows, position: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The input elements (inside the image) that a window reads, in row-major order."""
    rows, cols = wins.span(position)
    h, w = wins.image
    lead = wins.lead(position)
    channels: list[tuple[int, ...]]
    if wins.pooling:
        channels = [tuple(lead)]
    else:
        group = lead[-1].indices(wins.shapes[0][-3])
        channels = [(*lead[:-1], k) for k in range(*group)]
    return [
        (*ch, r, col)
        for ch in channels
        for r in range(rows.start, rows.stop, rows.step or 1)
        if 0 <= r < h
        for col in range(cols.start, cols.stop, cols.step or 1)
        if 0 <= col < w
    ]


def _inside(span: slice, n: int) -> slice:
    """The part of a stepped span that lies inside 0..n."""
    step = span.step or 1
    start = span.start if span.start >= 0 else span.start - step * (span.start // step)
    return slice(start, min(span.stop, n), step)


def _slice_text(part: Any) -> str:
    if not isinstance(part, slice):
        return str(part)
    if part.start is None:
        return ":"
    step = f":{part.step}" if part.step not in (None, 1) else ""
    return f"{part.start}:{part.stop}{step}"
