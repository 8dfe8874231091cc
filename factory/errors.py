"""The one error type for user mistakes: located issues, printed as `path:line:col: where: message`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

from schemas.base import suggestion as did_you_mean  # noqa: F401 - one implementation, TF-free

Loc = tuple  # a dotted location as a tuple of keys and list indices: ("models", "B", "layers", 3)


@dataclass(frozen=True)
class Position:
    """Where something stands in a source: a file (or `<--set ...>`) and a 1-based line and column.

    `chain` holds the places that led here when the value came from another file or a block:
    the `extends:` or `$block` reference that pulled it in, outermost first.
    """

    source: str
    line: int
    column: int
    chain: tuple["Position", ...] = ()

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}"

    def via(self, *places: "Position") -> "Position":
        """The same position, reached through `places` (outermost first) and then its own chain."""
        return replace(self, chain=tuple(places) + self.chain)


@dataclass(frozen=True)
class Issue:
    """One user mistake: what is wrong, at which dotted location, and where in which file."""

    message: str
    loc: Loc = ()
    position: Position | None = None
    source: str | None = None  # the file, when no line applies (an empty file, a missing file)

    def __str__(self) -> str:
        where = str(self.position) if self.position else (self.source or "")
        parts = [p for p in (where, format_loc(self.loc), self.message) if p]
        text = ": ".join(parts)
        if self.position and self.position.chain:
            text += " (used from " + " -> ".join(str(p) for p in self.position.chain) + ")"
        return text


class SpecError(Exception):
    """Every mistake a user can make in a spec, a command line or a data source ends as this error.

    It carries all the issues found at once; the CLI prints one line per issue and exits 2.
    Anything else that escapes is a bug in this tool.
    """

    def __init__(self, issues: Iterable[Issue] | str):
        if isinstance(issues, str):
            issues = [Issue(issues)]
        self.issues: list[Issue] = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    def located(self, locate: "Locator") -> "SpecError":
        """The same issues with a position filled in wherever `locate` knows the location."""
        return SpecError(
            i if i.position else replace(i, position=locate(i.loc)) for i in self.issues
        )


class Locator:
    """Finds the source position of a dotted location, falling back to its nearest known parent."""

    def __init__(self, positions: Mapping[Loc, Position] | None = None):
        self.positions = dict(positions or {})

    def __call__(self, loc: Loc) -> Position | None:
        loc = tuple(loc)
        while True:
            if loc in self.positions:
                return self.positions[loc]
            if not loc:
                return None
            loc = loc[:-1]


def first_line(error: BaseException) -> str:
    """The first non-blank line of an exception's message, stripped; the class name if it has none.

    Never empty, so `f"cannot load it: {first_line(e)}"` always says something.
    """
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)


def format_loc(loc: Sequence) -> str:
    """`("models", "B", "layers", 3, "Dense", "units")` -> `models.B.layers[3].Dense.units`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
