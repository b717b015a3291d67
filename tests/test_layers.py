"""Imports run one way: no module imports one in a layer above its own.

The layers are those of STYLE.md (spec → graph → trace → steps → session →
scene → views), with the modules that sit between them placed explicitly.
Every import counts: at the top of a module, inside a function, or under
TYPE_CHECKING, since each of them is a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import graphstep

PACKAGE = Path(graphstep.__file__).parent

# Lowest first. A module may import its own layer's modules and any below it; a package
# (ops/, render/, tui/) is one unit whose modules import each other freely.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "limits", "format", "arrays", "colormap", "norms", "files"),  # every layer's;
    # arrays reads .npy/.npz/.pb; colormap colours tensors for the TUI and the pictures alike;
    # norms: L2 norms safe past 1e154; files: written whole or not at all (export, convert)
    ("ops",),  # spec asks the registry which names are functions
    ("expr", "spec", "importers", "convert"),  # importers sit beside spec: they make GraphSpecs
    ("graph",),
    ("trace",),
    ("gradcheck", "summary"),  # finite differences against a trace; counts from shapes
    ("composite",),  # the windows of conv and pool, read from a trace
    ("steps",),
    ("doctor",),  # findings over a trace, with the steps to jump to
    ("session", "train"),
    ("drawing", "scene", "overlay"),  # what is drawn, the drawing at a cursor, its colours
    ("render",),
    ("tui",),  # draws with render's Graphviz layout
    ("serve", "onnx_backend"),  # the TUI through textual-serve; graphstep as an ONNX backend
    ("cli", "__init__", "__main__"),  # the command line, and the public API of `import graphstep`
)
LAYER = {unit: level for level, units in enumerate(LAYERS) for unit in units}

# Imports that still run upward, each with why: conveniences of the Python API that issue #10
# (part 3) places where the arrows run one way. Every entry must still happen
# (test_every_exception_is_still_needed): when one goes, so does its line here.
UPWARD: dict[tuple[str, str], str] = {
    ("graph", "trace"): "type only: Graph declares .trace(), which graphstep/__init__ attaches",
    ("graph", "session"): "type only: Graph declares .session(), attached the same way",
    ("importers", "graph"): "importers/groups.py builds an imported model's graph to give it "
    "its groups (PyTorch's module calls, ONNX's scopes)",
}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def unit(name: str) -> str:
    """`graphstep.ops.conv` → `ops`; the package itself → `__init__`."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every graphstep module that `path` imports."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "graphstep":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            if source.split(".")[0] != "graphstep":
                continue
            for alias in node.names:  # `from . import format` imports the module graphstep.format
                submodule = f"{source}.{alias.name}"
                yield node.lineno, submodule if is_module(submodule) else source


def upward_imports() -> set[tuple[str, str, str]]:
    """(importer, imported unit, where) for every import into a higher layer."""
    found = set()
    for path in modules():
        importer = unit(module_name(path))
        for line, name in imported(path):
            target = unit(name)
            known = importer in LAYER and target in LAYER  # else test_every_module_has_a_layer
            if known and LAYER[target] > LAYER[importer]:
                found.add((importer, target, f"{path.relative_to(PACKAGE)}:{line} imports {name}"))
    return found


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_has_a_layer(path: Path) -> None:
    assert unit(module_name(path)) in LAYER, (
        f"{path.relative_to(PACKAGE)}: add its module to LAYERS in tests/test_layers.py"
    )


def test_no_module_imports_a_higher_layer() -> None:
    wrong = sorted(where for a, b, where in upward_imports() if (a, b) not in UPWARD)
    assert wrong == []


def test_every_exception_is_still_needed() -> None:
    still = {(a, b) for a, b, _ in upward_imports()}
    assert sorted(set(UPWARD) - still) == []


def test_the_import_reader_resolves_relative_imports() -> None:
    cli = {name for _, name in imported(PACKAGE / "cli.py")}
    assert {"graphstep", "graphstep.format", "graphstep.graph", "graphstep.tui"} <= cli
    ops = {name for _, name in imported(PACKAGE / "ops" / "__init__.py")}
    assert {"graphstep.ops.conv", "graphstep.ops.registry"} <= ops
    assert unit("graphstep.ops.conv") == "ops"
    assert unit("graphstep") == "__init__"


@pytest.mark.parametrize(
    ("library", "home"), [("textual", "tui"), ("subprocess", "render"), ("graphviz", "render")]
)
def test_a_library_is_imported_only_by_its_layer(library: str, home: str) -> None:
    """Only tui/ imports Textual; only render/ runs Graphviz."""
    users = set()
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            if any(n.split(".")[0] == library for n in names):
                users.add(unit(module_name(path)))
    assert users <= {home}
