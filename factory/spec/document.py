"""Positioned data: plain YAML data plus the file, line and column of every value and key.

`Document` is the one type every step of reading a spec works on: the YAML reader makes one per
file, overrides and composition cut pieces out of documents and put pieces into them, and the
validator locates its errors through one. A piece cut out of a document keeps the positions of
the original values, reached through `chain` when it came from another file or a block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from factory.errors import Loc, Locator, Position


@dataclass
class Document:
    """Data and where each value (and each mapping key) stands; locations are rooted at ()."""

    data: Any
    source: str = ""  # the file the data was read from ("" for a piece built in memory)
    positions: dict[Loc, Position] = field(default_factory=dict)
    key_positions: dict[Loc, Position] = field(default_factory=dict)
    texts: dict[Loc, str] = field(default_factory=dict)  # source text of each plain scalar

    def locator(self) -> Locator:
        return Locator(self.positions)

    def key_locator(self) -> Locator:
        return Locator({**self.positions, **self.key_positions})

    def get(self, loc: Loc, default: Any = None) -> Any:
        """The value at `loc`, or `default` where the path does not exist."""
        data = self.data
        for seg in loc:
            if isinstance(data, dict) and seg in data:
                data = data[seg]
            elif isinstance(data, list) and isinstance(seg, int) and not isinstance(seg, bool) \
                    and 0 <= seg < len(data):
                data = data[seg]
            else:
                return default
        return data

    def has(self, loc: Loc) -> bool:
        missing = object()
        return self.get(loc, missing) is not missing

    def at(self, loc: Loc, chain: tuple = ()) -> "Document":
        """A copy of the subtree at `loc` (rooted at ()), its positions reached through `chain`.

        The copy shares nothing with this document, YAML aliases included: changing one place
        of it never changes another.
        """
        n = len(loc)

        def pick(table, wrap=True):
            return {k[n:]: (v.via(*chain) if wrap and chain else v) for k, v in table.items() if k[:n] == loc}

        return Document(unshared(self.get(loc)), self.source, pick(self.positions),
                        pick(self.key_positions), pick(self.texts, False))

    def items(self, loc: Loc, chain: tuple = ()) -> list["Document"]:
        """`[self.at(loc + (i,), chain) for each item i of the list at loc]`, in one pass over the tables.

        Taking the items one `at` at a time scans every table once per item: quadratic in a long list.
        """
        value = self.get(loc)
        n = len(loc)
        buckets: list[tuple[dict, dict, dict]] = [({}, {}, {}) for _ in value]
        for t, (table, wrap) in enumerate(((self.positions, True), (self.key_positions, True), (self.texts, False))):
            for k, v in table.items():
                if len(k) > n and k[:n] == loc and type(k[n]) is int and 0 <= k[n] < len(value):
                    buckets[k[n]][t][k[n + 1:]] = v.via(*chain) if wrap and chain else v
        return [Document(unshared(item), self.source, *bucket) for item, bucket in zip(value, buckets)]

    def copy(self) -> "Document":
        """The whole document, sharing nothing with this one."""
        return self.at(())

    def put(self, loc: Loc, piece: "Document") -> None:
        """Set `piece` at `loc` (its parent must exist), replacing whatever was there."""
        if not loc:
            self.data = piece.data
            self.positions, self.key_positions = dict(piece.positions), dict(piece.key_positions)
            self.texts = dict(piece.texts)
            return
        parent = self.data
        for seg in loc[:-1]:
            parent = parent[seg]
        new_key = isinstance(parent, dict) and loc[-1] not in parent
        parent[loc[-1]] = piece.data
        n = len(loc)
        for table, new in ((self.positions, piece.positions), (self.key_positions, piece.key_positions),
                           (self.texts, piece.texts)):
            if not new_key:  # a key just added has nothing below it to remove: no scan (sweeps add hundreds)
                for k in [k for k in table if k[:n] == loc and (k != loc or table is not self.key_positions)]:
                    del table[k]
            table.update({loc + k: v for k, v in new.items()})

    def drop(self, key: str) -> None:
        """Remove a top-level key and the positions below it."""
        self.data.pop(key, None)
        for table in (self.positions, self.key_positions, self.texts):
            for k in [k for k in table if k[:1] == (key,)]:
                del table[k]

    def where(self, loc: Loc, keys: bool = False) -> Position | None:
        """The position of `loc`, or of its nearest parent with one; with `keys`, a key's own position."""
        return (self.key_locator() if keys else self.locator())(loc)

    @classmethod
    def list_of(cls, items: list["Document"], source: str = "") -> "Document":
        """One list of the pieces' data, each keeping its positions under its index."""
        out = cls([], source)
        for i, item in enumerate(items):
            out.data.append(item.data)
            for table, new in ((out.positions, item.positions), (out.key_positions, item.key_positions),
                               (out.texts, item.texts)):
                table.update({(i,) + k: v for k, v in new.items()})
        return out


_SEGMENT = re.compile(r'"([^"]*)"|\'([^\']*)\'|([^.]+)')
_INDEX = re.compile(r"[0-9]+")


def parse_path(text: str) -> Loc:
    """A dotted path as `--set` and `sweep` write it: `models."mlp-0.5".layers.1` -> ("models", "mlp-0.5", "layers", 1).

    A key that holds dots is quoted; a quoted number is a key, an unquoted one a list index. Only
    ASCII digits make an index (`str.isdigit` also takes `²`, which `int` refuses, and `١`).
    """
    path = []
    for m in _SEGMENT.finditer(text.strip()):
        double, single, plain = m.groups()
        if plain is None:
            path.append(double if double is not None else single)
        else:
            plain = plain.strip()
            path.append(int(plain) if _INDEX.fullmatch(plain) else plain)
    return tuple(path)


def unshared(value: Any) -> Any:
    """A copy of plain data in which no two places are the same object (YAML aliases are shared).

    The reader bounds the expanded size of a document, so this copy is bounded too.
    """
    if isinstance(value, dict):
        return {k: unshared(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unshared(v) for v in value]
    return value
