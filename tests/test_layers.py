"""Imports run one way: no module imports one above it in the layer list (docs/ARCHITECTURE.md).

Every import counts, at the top of a module or inside a function, except those
under `if TYPE_CHECKING:`, which are never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "graphstep"

# lowest first; a module may import its own layer and those below it
LAYERS: list[tuple[str, ...]] = [
    ("errors", "limits", "format"),
    ("ops",),  # the op registry: what names the spec knows, how the graph computes
    ("expr", "spec"),
    ("graph",),
    ("trace",),
    ("composite",),
    ("steps",),
    ("session",),
    ("drawing", "scene", "train"),
    ("render", "tui"),
    ("cli", "__init__", "__main__"),
]
LAYER = {name: k for k, names in enumerate(LAYERS) for name in names}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def top(path: Path) -> str:
    """The layer name of a module: `render` for render/svg.py, `graph` for graph.py."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported(path: Path) -> list[tuple[str, int]]:
    """The graphstep modules `path` imports when it runs, with their lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(PACKAGE).parent.parts
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING",)
        for n in ast.walk(node)
    }
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            else:
                base = package[: len(package) - (node.level - 1)]
                module = [*base, *(node.module.split(".") if node.module else [])]
                names = [".".join(["graphstep", *module])] if module else []
                if not module:  # `from . import format`; `from . import __version__` is __init__'s
                    names = [
                        f"graphstep.{a.name if a.name in LAYER else '__init__'}" for a in node.names
                    ]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("graphstep.") and name.count(".") >= 1:
                out.append((name.split(".")[1], node.lineno))
    return out


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    own = LAYER[top(path)]
    above = [
        f"{path.name}:{line} imports {name}" for name, line in imported(path) if LAYER[name] > own
    ]
    assert not above


def test_every_module_has_a_layer() -> None:
    assert {top(p) for p in modules()} <= set(LAYER)


def test_the_layer_reader_sees_relative_and_function_level_imports() -> None:
    found = imported(PACKAGE / "cli.py")
    assert ("render", found[[n for n, _ in found].index("render")][1]) in found  # in a function
    assert {"errors", "graph", "spec"} <= {name for name, _ in imported(PACKAGE / "cli.py")}
    assert {"scene", "errors"} <= {name for name, _ in imported(PACKAGE / "render" / "svg.py")}


@pytest.mark.parametrize(
    ("library", "home"),
    [("textual", "tui"), ("subprocess", "render")],
)
def test_only_its_own_package_imports_a_library(library: str, home: str) -> None:
    """Only tui/ imports Textual; only render/ runs programs (Graphviz's dot, rsvg-convert)."""
    users = set()
    for path in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            if any(n.split(".")[0] == library for n in names):
                users.add(top(path))
    assert users == {home}
