"""Expressions: Python's `ast`, admitted through a whitelist, turned into a small tree.

Nothing here evaluates anything: the tree is a plain description (calls of
ops by name, names, numeric constants) that the graph layer turns into nodes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import GraphstepError, Loc, did_you_mean
from .limits import MAX_EXPRESSION_CHARS, MAX_EXPRESSION_DEPTH

BINARY_OPS: dict[type[ast.operator], str] = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.Div: "div",
    ast.MatMult: "matmul",
    ast.Pow: "pow",
}


# Immutable values, as frozen dataclasses would be, but NamedTuples: an imported model makes
# thousands of them, and a tuple is made several times faster.


class Name(NamedTuple):
    id: str
    loc: Loc


class Const(NamedTuple):
    value: float
    loc: Loc


class Call(NamedTuple):
    """An op (or a block) applied to arguments; `attrs` are its keyword constants."""

    func: str
    args: tuple[Expr, ...]
    attrs: tuple[tuple[str, Any], ...]
    loc: Loc


Expr = Name | Const | Call


@dataclass(frozen=True)
class Origin:
    """Where an expression's text starts in its file, to place errors at the right column."""

    line: int = 1
    column: int = 1


class _Reader:
    def __init__(self, text: str, origin: Origin, functions: set[str]) -> None:
        self.text = text
        self.origin = origin
        self.functions = functions

    def loc(self, node: ast.AST) -> Loc:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        if line == 1:
            return Loc(self.origin.line, self.origin.column + col)
        return Loc(self.origin.line + line - 1, col + 1)

    def fail(self, message: str, node: ast.AST, hint: str | None = None) -> GraphstepError:
        return GraphstepError.at(message, self.loc(node), hint=hint)

    def read(self, node: ast.AST, depth: int = 0) -> Expr:
        if depth > MAX_EXPRESSION_DEPTH:
            raise self.fail(
                f"expression nested more than {MAX_EXPRESSION_DEPTH} deep",
                node,
                hint="name intermediate results as entries of their own",
            )
        match node:
            case ast.BinOp(op=op) if type(op) in BINARY_OPS:
                return self.chain(node, depth)
            case ast.UnaryOp(op=ast.USub(), operand=ast.Constant() as c):
                return Const(-self.number(c), self.loc(node))
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return Call("neg", (self.read(operand, depth + 1),), (), self.loc(node))
            case ast.UnaryOp(op=ast.UAdd(), operand=operand):
                return self.read(operand, depth + 1)
            case ast.Constant():
                return Const(self.number(node), self.loc(node))
            case ast.Name(id=name):
                return Name(name, self.loc(node))
            case ast.Call():
                return self.call(node, depth)
        raise self.refuse(node)

    def chain(self, node: ast.BinOp, depth: int) -> Expr:
        """`a + b - c * d …`: Python nests it to the left, one level per operator; read
        without recursion, as one level. Only a left operand in parentheses (it starts
        after its parent does) is nested for real, and read as such."""
        spine = [node]
        while (
            isinstance(left := spine[-1].left, ast.BinOp)
            and type(left.op) in BINARY_OPS
            and (left.lineno, left.col_offset) == (node.lineno, node.col_offset)
        ):
            spine.append(left)
        result = self.read(spine[-1].left, depth + 1)
        for binop in reversed(spine):
            name = BINARY_OPS[type(binop.op)]
            if name == "pow":
                p = self.constant(binop.right, "the exponent of **")
                result = Call("pow", (result,), (("p", p),), self.loc(binop))
            else:
                result = Call(
                    name, (result, self.read(binop.right, depth + 1)), (), self.loc(binop)
                )
        return result

    def call(self, node: ast.Call, depth: int) -> Call:
        if not isinstance(node.func, ast.Name):
            raise self.refuse(node.func)
        func = node.func.id
        if func not in self.functions:
            raise self.fail(
                f"unknown function '{func}'",
                node.func,
                hint=did_you_mean(func, self.functions) or "see the README for the list of ops",
            )
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail("starred arguments are not allowed", arg)
        args = tuple(self.read(a, depth + 1) for a in node.args)
        attrs: list[tuple[str, Any]] = []
        for kw in node.keywords:
            if kw.arg is None:
                raise self.fail("'**' arguments are not allowed", kw.value)
            if any(kw.arg == k for k, _ in attrs):
                raise self.fail(f"keyword '{kw.arg}' given twice", kw.value)
            attrs.append((kw.arg, self.attribute(kw.value)))
        return Call(func, args, tuple(attrs), self.loc(node))

    def number(self, node: ast.Constant) -> float:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{type(value).__name__} constants are not allowed here", node)
        try:
            return float(value)
        except OverflowError:
            raise self.fail("number too large for float64", node) from None

    def constant(self, node: ast.AST, what: str) -> float:
        match node:
            case ast.Constant():
                return self.number(node)
            case ast.UnaryOp(op=ast.USub(), operand=ast.Constant() as c):
                return -self.number(c)
        raise self.fail(f"{what} must be a number", node)

    def attribute(self, node: ast.AST) -> Any:
        """A keyword's value: a number, a string, or a list of numbers."""
        match node:
            case ast.Constant(value=str() as s):
                return s
            case ast.Constant(value=int() as i) if not isinstance(i, bool):
                return i
            case ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=int() as i)):
                return -i
            case ast.List(elts=elts) | ast.Tuple(elts=elts):
                return [self.attribute(e) for e in elts]
            case ast.Name():
                raise self.fail(
                    "a keyword's value is a constant (a number, text or a list), not a name",
                    node,
                    hint="pass nodes as arguments: blocks and ops take them by position",
                )
        return self.constant(node, "a keyword argument")

    def refuse(self, node: ast.AST) -> GraphstepError:
        what = {
            ast.Attribute: "attribute lookups",
            ast.Subscript: "subscripts",
            ast.Lambda: "lambdas",
            ast.ListComp: "comprehensions",
            ast.SetComp: "comprehensions",
            ast.DictComp: "comprehensions",
            ast.GeneratorExp: "comprehensions",
            ast.NamedExpr: "':=' assignments",
            ast.Starred: "starred expressions",
            ast.Compare: "comparisons",
            ast.BoolOp: "'and' / 'or'",
            ast.IfExp: "conditional expressions",
            ast.Await: "await expressions",
            ast.JoinedStr: "f-strings",
        }.get(type(node), f"'{type(node).__name__}' expressions")
        hint = "graph expressions use + - * / ** @, numbers, names and the ops' functions"
        return self.fail(f"{what} are not allowed in a graph expression", node, hint=hint)


def parse_expression(text: str, functions: set[str], origin: Origin = Origin()) -> Expr:
    """Parse one graph expression; raise GraphstepError pointing at the offending token."""
    if not isinstance(text, str):
        raise GraphstepError.at("an expression must be a string", Loc(origin.line, origin.column))
    if len(text) > MAX_EXPRESSION_CHARS:
        raise GraphstepError.at(
            f"expression longer than {MAX_EXPRESSION_CHARS} characters",
            Loc(origin.line, origin.column),
        )
    if not text.strip():
        raise GraphstepError.at("empty expression", Loc(origin.line, origin.column))
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        col = origin.column + (e.offset or 1) - 1 if (e.lineno or 1) == 1 else e.offset or 1
        line = origin.line + (e.lineno or 1) - 1
        raise GraphstepError.at(f"syntax error: {e.msg}", Loc(line, col)) from None
    except (RecursionError, MemoryError, ValueError):
        raise GraphstepError.at(
            "expression too deeply nested or malformed",
            Loc(origin.line, origin.column),
            hint="name intermediate results as entries of their own",
        ) from None
    offset = len(text) - len(text.lstrip())
    origin = Origin(origin.line, origin.column + offset)
    return _Reader(text, origin, functions).read(tree.body)


def walk(expr: Expr) -> tuple[Expr, ...]:
    """Every sub-expression after its arguments (left to right), the whole one last; without
    recursion, so a chain of thousands of terms is no deeper than one of two."""
    if not isinstance(expr, Call):
        return (expr,)
    if Call not in map(type, expr.args):  # names and numbers, as most are
        return (*expr.args, expr)
    out: list[Expr] = []
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        e, ready = stack.pop()
        if ready or not isinstance(e, Call):
            out.append(e)
            continue
        stack.append((e, True))
        stack.extend((a, False) for a in reversed(e.args))
    return tuple(out)


def unparse(expr: Expr) -> str:
    """The expression as text, for labels and explanations."""
    match expr:
        case Name(id=name):
            return name
        case Const(value=v):
            return f"{v:g}"
        case Call(func=func, args=args, attrs=attrs):
            inner = [unparse(a) for a in args] + [f"{k}={v!r}" for k, v in attrs]
            return f"{func}({', '.join(inner)})"
