"""Graph files: text → a plain description of named entries.

The spec layer knows YAML and `ast` (through expr.py), not numpy. YAML is read
with a safe loader that records where every key and value was written and
refuses duplicate keys, so every later error can point at a line and column.
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
import keyword
import math
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeAlias

import yaml

if TYPE_CHECKING:
    import numpy as np

from .errors import GraphstepError, Loc, did_you_mean, excerpt
from .expr import Expr, Name, Origin, parse_expression, unparse, walk
from .limits import MAX_FILE_BYTES, MAX_TRAIN_STEPS, MAX_YAML_DEPTH

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "inputs",
    "params",
    "graph",
    "output",
    "expr",
    "train",
    "blocks",
)
LEAF_KEYS = ("value", "shape", "init", "seed", "std", "low", "high", "file", "key")
TRAIN_KEYS = ("lr", "steps")
GRAPH_SUFFIXES = (".yaml", ".yml", ".onnx")
EXPRESSION_FILE = "<expr>"  # the file name errors in an expression given for FILE carry
TEXT_FILE = "<string>"  # ... and in graph text handed to graphstep.load


class Located(dict[Any, Any]):
    """A YAML mapping that remembers where each key and each value was written.

    Keys and values are whatever YAML read; the spec's builders check them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.key_locs: dict[Any, Loc] = {}
        self.value_origins: dict[Any, Origin] = {}
        self.loc = Loc(1, 1)

    def key_loc(self, key: Any) -> Loc:
        return self.key_locs.get(key, self.loc)

    def value_loc(self, key: Any) -> Loc:
        origin = self.value_origins.get(key)
        return Loc(origin.line, origin.column) if origin else self.key_loc(key)


class _Refusals:
    """Safe YAML whose mappings are `Located` and refuse duplicate keys.

    Aliases (`*name`) are refused: they can stand for exponentially much data
    ("billion laughs"), and a graph file never needs them. Nesting is bounded,
    so a hostile file cannot exhaust the recursion of the composer.
    """

    _depth = 0  # how deeply the node being composed is nested

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        # a mixin: the parser it is mixed with (pyyaml's or libyaml's) has peek_event
        event: yaml.Event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent):
            raise GraphstepError.at(
                f"YAML alias '*{event.anchor}' refused",
                _mark_loc(event.start_mark),
                hint="write the value out; graph files use no anchors or aliases",
            )
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise GraphstepError.at(
                    f"YAML nested too deeply (more than {MAX_YAML_DEPTH} levels)",
                    _mark_loc(event.start_mark),
                )
            # a mixin: the Composer it is mixed with has compose_node
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


class _Loader(_Refusals, yaml.SafeLoader):
    """In pure Python: slower, but its messages and marks name a problem best."""


_Fast: type[_Loader] = _Loader
try:  # libyaml's scanner and parser, in C: most of the time of reading a big file
    from yaml._yaml import CParser
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    class _CLoader(_Refusals, Composer, SafeConstructor, Resolver, CParser):
        """_Loader on libyaml's events: composed in Python, so the refusals see every node."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _Fast = _CLoader  # type: ignore[assignment]
except ImportError:  # PyYAML built without libyaml
    pass


class _Mark(Protocol):
    """Where YAML read something, 0-based (pyyaml's Mark, or its C extension's)."""

    line: int
    column: int


def _mark_loc(mark: _Mark | None) -> Loc:
    return Loc() if mark is None else Loc(mark.line + 1, mark.column + 1)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    mapping = Located()
    mapping.loc = _mark_loc(node.start_mark)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        loc = _mark_loc(key_node.start_mark)
        if not isinstance(key, str | int | float | bool) or key is None:
            raise GraphstepError.at("mapping keys must be plain names", loc)
        if key in mapping:
            first = mapping.key_locs[key]
            raise GraphstepError.at(
                f"duplicate key '{key}' (first at line {first.line})",
                loc,
                hint="every name is assigned once",
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_locs[key] = loc
        start = value_node.start_mark
        quoted = 1 if getattr(value_node, "style", None) in ("'", '"') else 0
        if getattr(value_node, "style", None) in ("|", ">"):
            mapping.value_origins[key] = Origin(start.line + 2, 1)
        else:
            mapping.value_origins[key] = Origin(start.line + 1, start.column + 1 + quoted)
    return mapping


for _loader in (_Loader, _Fast):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


Numbers = float | list["Numbers"]  # a leaf's value as written: a number or nested lists of them
# ... or an array, as an importer reads it from a model (spec itself never makes one)
LeafValue: TypeAlias = "Numbers | np.ndarray"


class LeafKind(StrEnum):
    INPUT = "input"
    PARAM = "param"


class Init(StrEnum):
    """How a leaf given by its shape is filled (`init:` in a graph file)."""

    ZEROS = "zeros"
    ONES = "ones"
    NORMAL = "normal"
    UNIFORM = "uniform"
    ARANGE = "arange"
    FILE = "file"  # a stored leaf, {file: X.npz, key: K}: not written as an init


INITS = tuple(i for i in Init if i is not Init.FILE)


class LeafSpec(NamedTuple):
    """An input or a parameter: a literal value, or a shape with an initializer. Immutable, a
    NamedTuple because an imported model makes thousands."""

    name: str
    kind: LeafKind
    loc: Loc
    value: LeafValue | None = None  # when written out, or read by an importer
    shape: tuple[int, ...] = ()
    init: Init | None = None
    options: tuple[tuple[str, Any], ...] = ()  # seed, std, low, high


class EntrySpec(NamedTuple):
    """One named entry of `graph:`: `name: expression`. Immutable, a NamedTuple because an
    imported model makes thousands; made by `entry_spec`, which walks its parts."""

    name: str
    expr: Expr
    loc: Loc
    written: str | None  # the expression as a file wrote it; None when an importer made it
    # every sub-expression, arguments first and the whole last (`expr.walk`), walked once for
    # the several passes of building a graph
    parts: tuple[Expr, ...]

    @property
    def text(self) -> str:
        """The expression as text: as written, else as graphstep writes it, made when asked
        (an imported model's thousands of entries are rarely all shown)."""
        return unparse(self.expr) if self.written is None else self.written


def entry_spec(name: str, expr: Expr, loc: Loc, written: str | None = None) -> EntrySpec:
    return EntrySpec(name, expr, loc, written, walk(expr))


@dataclass(frozen=True)
class BlockSpec:
    """A user-defined composite: a sub-graph called like a function."""

    name: str
    args: tuple[str, ...]
    entries: tuple[EntrySpec, ...]
    output: str
    loc: Loc
    output_loc: Loc


@dataclass
class GraphSpec:
    name: str
    description: str
    file: str
    leaves: dict[str, LeafSpec]
    entries: dict[str, EntrySpec]
    output: str
    output_loc: Loc
    train: dict[str, float] = field(default_factory=dict)
    blocks: dict[str, BlockSpec] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # what an importer chose for the user (default inputs, the loss)
    sources: dict[str, str] = field(default_factory=dict)  # a name → the imported model's name


def read_source(path: str) -> str:
    """A graph file's text, refusing what is not a small UTF-8 text file."""
    p = Path(path)
    try:
        if p.is_dir():
            raise GraphstepError(f"'{excerpt(path)}' is a directory, not a graph file")
        if p.exists() and not p.is_file():  # a device, a fifo: reading could never end
            raise GraphstepError(f"'{excerpt(path)}' is not a regular file")
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise GraphstepError(
                f"file is {size:,} bytes; graph files are limited to {MAX_FILE_BYTES:,}"
            )
        with p.open("rb") as f:  # read no more than the limit, whatever stat said
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise GraphstepError(f"file is larger than {MAX_FILE_BYTES:,} bytes, the limit")
    except FileNotFoundError:
        raise GraphstepError("no such file", file=path, hint=_nearby(p)) from None
    except OSError as e:
        raise GraphstepError(f"cannot read {excerpt(path)}: {e.strerror}") from None
    except ValueError:  # a NUL in the name, from Python
        raise GraphstepError("a file name cannot hold a NUL character") from None
    if b"\0" in data:
        raise GraphstepError("binary file, not a YAML graph", line=1, column=1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise GraphstepError("file is not UTF-8 text", line=line, column=1) from None


_PATH_LIKE = re.compile(r"[\w.~/\\-]+")
_MAX_NEIGHBOURS = 10_000  # directory entries looked at for a did-you-mean hint


def source_kind(target: str) -> str:
    """What a FILE argument or `graphstep.load`'s argument is: "path", "text" or "expression".

    The one place that decides. An argument is an expression only when it
    cannot be a path: an existing file, a name ending in .yaml/.yml, a name
    whose .yaml file exists, and a word of path characters with a `/` or a
    suffix (`graphs/chain_rule`) are paths, so a mistyped path is reported as
    a missing file instead of being read as `graphs / chain_rule`. Graph text
    (YAML) has a newline or a key's colon (`x: 1`), which no expression has.
    """
    if "\n" in target:
        return "text"
    if target.lower().endswith(GRAPH_SUFFIXES) or _exists(target):
        return "path"
    if re.search(r":(\s|$)", target):
        return "text"
    if _PATH_LIKE.fullmatch(target) and (
        re.search(r"[/\\]|\.[A-Za-z][A-Za-z0-9]*$", target)
        or any(_exists(target + suffix) for suffix in GRAPH_SUFFIXES)
    ):
        return "path"
    return "expression"


def read_spec(target: str) -> GraphSpec:
    """The GraphSpec of a graph file's path, of graph text, or of an expression (inputs 0)."""
    kind = source_kind(target)
    if kind == "expression":
        return expression_spec(target, {}, EXPRESSION_FILE)
    if kind == "text":
        return load_spec(target, TEXT_FILE, name="graph")
    try:
        return load_spec(read_source(target), target)
    except GraphstepError as e:
        raise e.in_file(target) from None


def _exists(path: str) -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def _nearby(path: Path) -> str:
    """A hint naming the graph file a missing `path` probably meant."""
    if not path.suffix:
        for suffix in GRAPH_SUFFIXES:
            if _exists(f"{path}{suffix}"):
                return f"did you mean {path}{suffix}?"
    try:
        names = [p.name for p in itertools.islice(path.parent.iterdir(), _MAX_NEIGHBOURS)]
    except OSError:
        names = []
    graphs = [n for n in names if n.lower().endswith(GRAPH_SUFFIXES)]
    close = difflib.get_close_matches(path.name, sorted(graphs), n=1, cutoff=0.6)
    if close:
        return f"did you mean {path.parent / close[0]}?"
    if "/" in str(path) and not path.suffix:
        return f"an expression needs spaces around '/': {str(path).replace('/', ' / ')}"
    return "check the path"


def _load_yaml(text: str) -> Any:
    """YAML text through the safe, located loader; every YAML error as a GraphstepError."""
    try:
        try:
            return _load(_Fast, text)
        except yaml.YAMLError:  # libyaml says less about where and what: ask PyYAML's parser
            return _load(_Loader, text)
    except yaml.MarkedYAMLError as e:
        message = (e.problem or e.context or "invalid YAML").strip()
        if "could not determine a constructor" in str(e):
            message = f"YAML tag refused: {e.problem.split('tag ')[-1] if e.problem else ''}"
            message = message.strip()
        raise GraphstepError.at(
            f"invalid YAML: {message}",
            _mark_loc(e.problem_mark or e.context_mark),
            hint="graph files are plain YAML",
        ) from None
    except yaml.YAMLError as e:
        raise GraphstepError(f"invalid YAML: {e}") from None
    except (ValueError, OverflowError) as e:  # a number YAML reads but Python cannot hold
        raise GraphstepError(
            f"invalid number: too long or too large to read ({type(e).__name__})"
        ) from None
    except RecursionError:
        raise GraphstepError("YAML nested too deeply") from None


def read_value(text: str) -> Any:
    """A leaf's value written as YAML text (`--set`, the TUI's `i`): a number or a nested list.

    Read by the same loader as graph files, so aliases are refused and nesting
    is bounded: a short value cannot stand for exponentially much data.
    """
    if len(text) > MAX_FILE_BYTES:
        raise GraphstepError(f"value longer than {MAX_FILE_BYTES:,} characters")
    return _literal(_load_yaml(text), Loc())


def parse_yaml(text: str) -> Located:
    if len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise GraphstepError(f"graph text longer than {MAX_FILE_BYTES:,} bytes")
    data = _load_yaml(text)
    if data is None:
        raise GraphstepError(
            "empty graph file", line=1, column=1, hint="a graph needs 'graph:' or 'expr:'"
        )
    if not isinstance(data, Located):
        raise GraphstepError(
            "a graph file is a YAML mapping", line=1, column=1, hint="see graphs/chain_rule.yaml"
        )
    return data


def _load(loader_class: type[_Loader], text: str) -> Any:
    loader = loader_class(text)  # a SafeLoader: no Python tags, no arbitrary objects
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def functions() -> set[str]:
    from .ops import OPS

    return set(OPS)


def load_spec(text: str, file: str, name: str | None = None) -> GraphSpec:
    """Parse a graph file's text into a GraphSpec; errors carry `file`."""
    try:
        return _build(parse_yaml(text), file, name)
    except GraphstepError as e:
        raise e.in_file(file) from None


def expression_spec(text: str, values: dict[str, Any], file: str = EXPRESSION_FILE) -> GraphSpec:
    """A one-expression graph: its free names are inputs (values from `values`, else 0)."""
    try:
        expr = parse_expression(text, functions())
        names = _free_names(expr)
        taken: dict[str, Loc] = {}
        for n in names:
            _check_name(n, Loc(1, 1), taken)
        for n in values:
            if n not in names:
                raise GraphstepError(
                    f"'{n}' is not a name of the expression",
                    hint=did_you_mean(n, names) or f"its names: {', '.join(names) or 'none'}",
                )
        out = next(o for o in ("f", "out", "result", "output") if o not in names)
        leaves = {
            n: LeafSpec(
                n, LeafKind.INPUT, Loc(1, 1), value=_literal(_plain(values.get(n, 0.0)), Loc())
            )
            for n in names
        }
        entries = {out: entry_spec(out, expr, Loc(1, 1), text.strip())}
        return GraphSpec(out, text.strip(), file, leaves, entries, out, Loc(1, 1))
    except GraphstepError as e:
        raise e.in_file(file) from None


def _plain(value: Any) -> Any:
    """A value from Python (numpy arrays and scalars too) as plain numbers and lists."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


def _free_names(expr: Expr) -> list[str]:
    return list(dict.fromkeys(e.id for e in walk(expr) if isinstance(e, Name)))


def _check_name(name: Any, loc: Loc, taken: dict[str, Loc]) -> str:
    if isinstance(name, str) and name != unicodedata.normalize("NFKC", name):
        raise GraphstepError.at(
            f"'{name}' is not written in normal form",
            loc,
            hint=f"Python reads it as '{unicodedata.normalize('NFKC', name)}': write that",
        )
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise GraphstepError.at(
            f"'{name}' is not a valid name", loc, hint="names are identifiers such as x, W1, h_2"
        )
    if name in functions():
        raise GraphstepError.at(
            f"'{name}' is the name of a function", loc, hint=f"call it {name}_ or {name}1"
        )
    if name in taken:
        raise GraphstepError.at(
            f"'{name}' is assigned twice (first at line {taken[name].line})",
            loc,
            hint="every name is assigned once",
        )
    taken[name] = loc
    return name


def _check_block_name(
    name: Any, loc: Loc, inner: dict[str, Loc], taken: dict[str, Loc], block: str
) -> None:
    """A block's arg or entry: a valid name, once in the block, and no file-level name."""
    if isinstance(name, str) and name in taken:
        raise GraphstepError.at(
            f"'{name}' in block '{block}' clashes with the file's '{name}' "
            f"(line {taken[name].line})",
            loc,
            hint="inside a block, the file's inputs and params are visible; rename one of them",
        )
    _check_name(name, loc, inner)


def _mapping(data: Located, key: str) -> Located:
    value = data.get(key)
    if value is None:
        return Located()
    if not isinstance(value, Located):
        raise GraphstepError.at(f"'{key}' must be a mapping of names", data.value_loc(key))
    return value


def _build(data: Located, file: str, name: str | None) -> GraphSpec:
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise GraphstepError.at(
                f"unknown key '{key}'",
                data.key_loc(key),
                hint=did_you_mean(str(key), TOP_LEVEL_KEYS)
                or f"top-level keys are {', '.join(TOP_LEVEL_KEYS)}",
            )
    taken: dict[str, Loc] = {}
    leaves: dict[str, LeafSpec] = {}
    for kind, key in ((LeafKind.INPUT, "inputs"), (LeafKind.PARAM, "params")):
        section = _mapping(data, key)
        for leaf_name, raw in section.items():
            loc = section.key_loc(leaf_name)
            _check_name(leaf_name, loc, taken)
            leaves[leaf_name] = _leaf(leaf_name, kind, raw, loc, section.value_loc(leaf_name))
            if leaves[leaf_name].init is Init.FILE:
                leaves[leaf_name] = _stored_leaf(leaves[leaf_name], file)
    blocks = _blocks(data, taken)
    fns = functions() | set(blocks)
    entries: dict[str, EntrySpec] = {}
    if "expr" in data:
        if "graph" in data or "output" in data:
            raise GraphstepError.at(
                "'expr' replaces 'graph' and 'output'; give one or the other", data.key_loc("expr")
            )
        out = "f" if "f" not in taken else "out"
        entries[out] = _entry(out, data, "expr", fns)
        output, output_loc = out, data.key_loc("expr")
    else:
        if "graph" not in data:
            raise GraphstepError(
                "no 'graph' or 'expr'", line=1, column=1, hint="add graph: {f: x * y}"
            )
        section = _mapping(data, "graph")
        if not section:
            raise GraphstepError.at("'graph' is empty", data.key_loc("graph"))
        for entry_name in section:
            _check_name(entry_name, section.key_loc(entry_name), taken)
            entries[entry_name] = _entry(entry_name, section, entry_name, fns)
        output, output_loc = _output(data, entries)
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise GraphstepError.at(f"'{key}' must be text", data.value_loc(key))
    return GraphSpec(
        name=str(data.get("name") or name or Path(file).stem),
        description=str(data.get("description") or ""),
        file=file,
        leaves=leaves,
        entries=entries,
        output=output,
        output_loc=output_loc,
        train=_train(data),
        blocks=blocks,
    )


def _output(data: Located, entries: dict[str, EntrySpec]) -> tuple[str, Loc]:
    if "output" not in data:
        last = list(entries)[-1]
        return last, entries[last].loc
    output = data["output"]
    loc = data.value_loc("output")
    if not isinstance(output, str):
        raise GraphstepError.at("'output' must be the name of an entry", loc)
    return output, loc


def _entry(name: str, section: Located, key: str, fns: set[str]) -> EntrySpec:
    text = section[key]
    loc = section.value_loc(key)
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise GraphstepError.at(
            f"the entry '{name}' must be an expression such as 'x * y'",
            loc,
            hint="quote an expression that YAML reads as something else",
        )
    text = str(text)
    origin = section.value_origins.get(key, Origin(loc.line or 1, loc.column or 1))
    return entry_spec(name, parse_expression(text, fns, origin), loc, text.strip())


def _leaf(name: str, kind: LeafKind, raw: Any, loc: Loc, value_loc: Loc) -> LeafSpec:
    if isinstance(raw, Located):
        for key in raw:
            if key not in LEAF_KEYS:
                raise GraphstepError.at(
                    f"unknown key '{key}' for {kind} '{name}'",
                    raw.key_loc(key),
                    hint=did_you_mean(str(key), LEAF_KEYS) or f"use one of {', '.join(LEAF_KEYS)}",
                )
        if "file" in raw:
            extra = [k for k in raw if k not in ("file", "key")]
            if extra:
                raise GraphstepError.at(
                    f"'{extra[0]}' cannot go with 'file'", raw.key_loc(extra[0])
                )
            stored, key = raw["file"], raw.get("key", name)
            if not isinstance(stored, str) or not isinstance(key, str) or not stored:
                raise GraphstepError.at(
                    "'file' and 'key' must be text", raw.value_loc("file"), hint=STORED_HINT
                )
            return LeafSpec(
                name,
                kind,
                raw.value_loc("file"),
                init=Init.FILE,
                options=(("file", stored), ("key", key)),
            )
        if "value" in raw:
            extra = [k for k in raw if k != "value"]
            if extra:
                raise GraphstepError.at(
                    f"'{extra[0]}' cannot go with 'value'", raw.key_loc(extra[0])
                )
            return LeafSpec(name, kind, loc, value=_literal(raw["value"], raw.value_loc("value")))
        if "shape" not in raw:
            raise GraphstepError.at(
                f"{kind} '{name}' needs 'value' or 'shape'", value_loc, hint="e.g. {shape: [4, 3]}"
            )
        shape = _shape(raw["shape"], raw.value_loc("shape"))
        default = Init.NORMAL if kind is LeafKind.PARAM else Init.ZEROS
        init = raw.get("init", default)
        if init not in INITS:
            raise GraphstepError.at(
                f"unknown init '{init}'",
                raw.value_loc("init"),
                hint=did_you_mean(str(init), INITS) or f"use one of {', '.join(INITS)}",
            )
        options = []
        for key in ("seed", "std", "low", "high"):
            if key in raw:
                v = raw[key]
                if key == "seed":
                    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**63:
                        raise GraphstepError.at(
                            "'seed' must be a whole number ≥ 0", raw.value_loc(key)
                        )
                else:
                    v = _number(v, f"'{key}'", raw.value_loc(key))
                options.append((key, v))
        chosen = dict(options)
        if chosen.get("std", 0.0) < 0:
            raise GraphstepError.at("'std' must not be negative", raw.value_loc("std"))
        if chosen.get("low", -1.0) >= chosen.get("high", 1.0):
            where = raw.value_loc("high" if "high" in raw else "low")
            raise GraphstepError.at("'low' must be below 'high'", where)
        return LeafSpec(name, kind, loc, shape=shape, init=Init(init), options=tuple(options))
    return LeafSpec(name, kind, loc, value=_literal(raw, value_loc))


STORED_HINT = "e.g. {file: weights.npz, key: W1}: an array saved by numpy.savez beside the graph"


def _stored_leaf(leaf: LeafSpec, graph_file: str) -> LeafSpec:
    """A leaf stored in an .npz archive in the graph file's own folder (the current directory
    for graph text): the path may not leave that folder; the shape is read from the array's
    header and checked against the limits, and nothing is read until the graph runs."""
    from .arrays import npz_member_shape

    opts = dict(leaf.options)
    stored, key = str(opts["file"]), str(opts["key"])
    folder = (Path(graph_file).parent if Path(graph_file).is_file() else Path.cwd()).resolve()
    target = (folder / stored).resolve()
    if Path(stored).is_absolute() or ".." in Path(stored).parts or folder not in target.parents:
        raise GraphstepError.at(
            f"'{stored}' is outside the graph file's folder",
            leaf.loc,
            hint="stored arrays sit beside the graph file; name them by a relative path",
        )
    if target.suffix.lower() != ".npz":
        raise GraphstepError.at(f"'{stored}' is not an .npz archive", leaf.loc, hint=STORED_HINT)
    try:
        shape = npz_member_shape(str(target), key, graph_file)
    except GraphstepError as e:
        raise GraphstepError.at(e.message, leaf.loc, hint=e.hint) from None
    return LeafSpec(
        leaf.name,
        leaf.kind,
        leaf.loc,
        shape=shape,
        init=Init.FILE,
        options=(("file", str(target)), ("key", key)),
    )


def _shape(raw: Any, loc: Loc) -> tuple[int, ...]:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in raw
    ):
        raise GraphstepError.at(
            "'shape' must be a list of positive whole numbers", loc, hint="e.g. shape: [4, 3]"
        )
    if len(raw) > 6:
        raise GraphstepError.at(f"{len(raw)} dimensions; at most 6 are supported", loc)
    return tuple(raw)


def _literal(raw: Any, loc: Loc, depth: int = 0) -> Numbers:
    """A number or a rectangular nested list of numbers, checked but not converted to numpy."""
    if isinstance(raw, bool) or raw is None:
        raise GraphstepError.at(f"expected a number or a list of numbers, got {raw!r}", loc)
    if isinstance(raw, int | float):
        try:
            return float(raw)
        except OverflowError:
            raise GraphstepError.at(
                "number too large for float64", loc, hint="the largest is about 1.8e308"
            ) from None
    if isinstance(raw, str):
        try:
            return float(raw)  # .nan, inf written as strings
        except ValueError:
            raise GraphstepError.at(
                f"expected a number, got the text '{raw[:40]}'",
                loc,
                hint="inputs hold numbers; expressions go under 'graph:'",
            ) from None
    if isinstance(raw, list):
        if depth >= 6:
            raise GraphstepError.at("tensor nested more than 6 deep", loc)
        if not raw:
            raise GraphstepError.at("empty list: a tensor needs at least one number", loc)
        items = [_literal(r, loc, depth + 1) for r in raw]
        shapes = {_nested_shape(i) for i in items}
        if len(shapes) != 1:
            raise GraphstepError.at(
                "ragged tensor: rows have different lengths", loc, hint="every row needs as many"
            )
        return items
    what = "a mapping" if isinstance(raw, dict) else type(raw).__name__
    raise GraphstepError.at(f"expected a number or a list of numbers, got {what}", loc)


def _number(raw: Any, what: str, loc: Loc) -> float:
    """A finite number; YAML 1.1 reads `1e-3` (no dot) as text, which is taken as a number too."""
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = float(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise GraphstepError.at(f"{what} must be a number", loc)
    try:
        number = float(raw)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise GraphstepError.at(f"{what} must be a finite number", loc)
    return number


def _nested_shape(value: Numbers) -> tuple[int, ...]:
    if isinstance(value, list):
        return (len(value), *_nested_shape(value[0]))
    return ()


def leaf_shape(leaf: LeafSpec) -> tuple[int, ...]:
    if leaf.value is None:
        return leaf.shape
    if isinstance(leaf.value, float | list):
        return _nested_shape(leaf.value)
    return tuple(leaf.value.shape)  # an imported array


def _train(data: Located) -> dict[str, float]:
    raw = data.get("train")
    if raw is None:
        return {}
    if not isinstance(raw, Located):
        raise GraphstepError.at(
            "'train' must be a mapping such as {lr: 0.1}", data.value_loc("train")
        )
    out: dict[str, float] = {}
    for key, value in raw.items():
        if key not in TRAIN_KEYS:
            raise GraphstepError.at(
                f"unknown key '{key}' in 'train'",
                raw.key_loc(key),
                hint=did_you_mean(str(key), TRAIN_KEYS) or "train takes lr and steps",
            )
        number = _number(value, f"'{key}'", raw.value_loc(key))
        if number <= 0 or (key == "steps" and number != int(number)):
            kind = "a positive whole number" if key == "steps" else "a positive number"
            raise GraphstepError.at(f"'{key}' must be {kind}", raw.value_loc(key))
        if key == "steps" and number > MAX_TRAIN_STEPS:
            raise GraphstepError.at(
                f"'steps' is {number:g}; training runs at most {MAX_TRAIN_STEPS:,} steps",
                raw.value_loc(key),
            )
        out[key] = int(number) if key == "steps" else number
    return out


def _blocks(data: Located, taken: dict[str, Loc]) -> dict[str, BlockSpec]:
    section = _mapping(data, "blocks")
    blocks: dict[str, BlockSpec] = {}
    for block_name, raw in section.items():
        loc = section.key_loc(block_name)
        _check_name(block_name, loc, taken)
        if not isinstance(raw, Located):
            raise GraphstepError.at(f"block '{block_name}' must be a mapping", loc)
        for key in raw:
            if key not in ("args", "graph", "output"):
                raise GraphstepError.at(
                    f"unknown key '{key}' in block '{block_name}'",
                    raw.key_loc(key),
                    hint=did_you_mean(str(key), ("args", "graph", "output"))
                    or "a block has args, graph and output",
                )
        args = raw.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise GraphstepError.at("'args' must be a list of names", raw.value_loc("args"))
        blocks[block_name] = BlockSpec(block_name, tuple(args), (), "", loc, loc)
    fns = functions() | set(blocks)
    for block_name, raw in section.items():
        block = blocks[block_name]
        inner: dict[str, Loc] = {}
        for a in block.args:
            _check_block_name(a, raw.value_loc("args"), inner, taken, block_name)
        body = _mapping(raw, "graph")
        if not body:
            raise GraphstepError.at(f"block '{block_name}' has no 'graph'", block.loc)
        entries = []
        for entry_name in body:
            _check_block_name(entry_name, body.key_loc(entry_name), inner, taken, block_name)
            entries.append(_entry(entry_name, body, entry_name, fns))
        output = raw.get("output", entries[-1].name)
        if not isinstance(output, str):
            raise GraphstepError.at(
                "a block's 'output' must be the name of one of its entries",
                raw.value_loc("output"),
            )
        if output not in body:
            raise GraphstepError.at(
                f"block output '{output}' is not an entry of the block",
                raw.value_loc("output") if "output" in raw else block.loc,
                hint=did_you_mean(str(output), list(body)),
            )
        out_loc = raw.value_loc("output") if "output" in raw else block.loc
        blocks[block_name] = BlockSpec(
            block_name, block.args, tuple(entries), output, block.loc, out_loc
        )
    return blocks
