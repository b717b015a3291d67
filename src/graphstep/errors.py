"""The one error type of graphstep: raised deep, formatted once at the edge (cli.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Loc:
    """Where something was written: 1-based line and column in a file (or in an expression)."""

    line: int | None = None
    column: int | None = None


class GraphstepError(Exception):
    """Anything a user can get wrong, with where it happened and how to fix it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.hint = hint

    @classmethod
    def at(cls, message: str, loc: Loc | None, *, hint: str | None = None) -> GraphstepError:
        loc = loc or Loc()
        return cls(message, line=loc.line, column=loc.column, hint=hint)

    def in_file(self, file: str) -> GraphstepError:
        """The same error, placed in `file` unless it already names one."""
        if self.file is None:
            self.file = file
        return self

    @property
    def location(self) -> str:
        """`FILE:LINE:COL`; without a file `line 3, column 5`; empty when nothing is known."""
        if self.file is None:
            if self.line is None:
                return ""
            column = f", column {self.column}" if self.column is not None else ""
            return f"line {self.line}{column}"
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest of `choices` to a misspelt `name`, if any is close."""
    import difflib

    if not isinstance(name, str):  # a misuse from Python: no name to be close to
        return None
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def excerpt(text: str, limit: int = 200) -> str:
    """The start of a user's text, to quote it in a message of one readable line."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
