"""Safe YAML reading: plain data (dicts, lists, scalars) plus the line and column of every value.

Built on PyYAML's pure-Python event parser, never on a constructor that can make objects:
tags other than YAML's own plain types are errors, aliases are shared (never copied) and
their expanded size is bounded, nesting depth is bounded, and duplicate keys are errors that
name both lines. Every problem becomes an `Issue` with a position; nothing here raises
anything but `SpecError`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events
from yaml.nodes import ScalarNode

from factory.errors import Issue, Loc, Position, SpecError
from factory.spec.document import Document

MAX_BYTES = 2 * 1024 * 1024  # specs are a few kilobytes; a bigger file is refused unread
MAX_DEPTH = 64  # a spec nests about six levels deep
MAX_VALUES = 100_000  # values after expanding aliases: bounds what later steps may copy

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str": "str",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "str",  # a date in a spec is only ever a label
    "tag:yaml.org,2002:merge": "merge",
}
_CONTAINER_TAGS = {None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
# YAML 1.1 wants a dot in a float (`1.0e-3`); users write `1e-3` and mean a number.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(\d[\d_]*(\.\d*)?|\.\d+)[eE][-+]?\d+$")
_MERGE = object()


def read_file(path: str | os.PathLike) -> Document:
    """Read a YAML file safely; raise `SpecError` for a missing, huge, binary or malformed file."""
    source = os.fspath(path)
    try:
        size = os.path.getsize(source)
        if size > MAX_BYTES:
            raise SpecError([Issue(
                f"file is {size:,} bytes; a spec may be at most {MAX_BYTES:,} bytes", source=source)])
        with open(source, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise SpecError([Issue("is a folder, not a spec file", source=source)]) from None
    except FileNotFoundError:
        raise SpecError([Issue("no such file", source=source)]) from None
    except OSError as e:
        raise SpecError([Issue(f"cannot read: {e.strerror}", source=source)]) from None
    return read_bytes(raw, source)


def read_bytes(raw: bytes, source: str) -> Document:
    """Decode UTF-8 strictly (a bad byte is a located error), then read the text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecError([Issue(
            f"invalid UTF-8 byte 0x{raw[e.start]:02x}: save the file as UTF-8",
            position=Position(source, line, column))]) from None
    return read_text(text.removeprefix("\ufeff"), source)


def read_text(text: str, source: str) -> Document:
    """Parse one YAML document into plain data with positions; raise `SpecError` on any problem."""
    builder = _Builder(source)
    try:
        builder.build(yaml.SafeLoader(text))
    except _Stop:
        pass
    except yaml.MarkedYAMLError as e:
        builder.issues.append(_marked_issue(e, source))
    except yaml.reader.ReaderError as e:
        builder.issues.append(Issue(_reader_message(e), position=_offset_position(text, e.position, source)))
    except yaml.YAMLError as e:  # pragma: no cover - every PyYAML error we know of is one of the above
        builder.issues.append(Issue(f"not valid YAML: {e}", source=source))
    if builder.issues:
        raise SpecError(builder.issues)
    return Document(builder.root, source, builder.positions, builder.key_positions, builder.texts)


class _Stop(Exception):
    """Raised inside the builder when reading further would be unsafe or pointless."""


@dataclass
class _Frame:
    kind: str  # "map" or "seq"
    value: Any
    loc: Loc
    anchor: str | None
    weight: int = 1
    key: Any = None
    has_key: bool = False
    key_position: Position | None = None
    merges: list = field(default_factory=list)


class _Builder:
    def __init__(self, source: str):
        self.source = source
        self.issues: list[Issue] = []
        self.positions: dict[Loc, Position] = {}
        self.key_positions: dict[Loc, Position] = {}
        self.texts: dict[Loc, str] = {}
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.total = 0

    def pos(self, mark) -> Position:
        return Position(self.source, mark.line + 1, mark.column + 1)

    def build(self, loader: yaml.SafeLoader) -> None:
        documents = 0
        while True:
            event = loader.get_event()
            if isinstance(event, events.StreamEndEvent):
                break
            if isinstance(event, events.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    self.issues.append(Issue(
                        "a spec file holds one YAML document; found a second one (`---`)",
                        position=self.pos(event.start_mark)))
                    raise _Stop
            elif isinstance(event, (events.MappingStartEvent, events.SequenceStartEvent)):
                self.start(event, loader)
            elif isinstance(event, (events.MappingEndEvent, events.SequenceEndEvent)):
                self.end()
            elif isinstance(event, events.ScalarEvent):
                self.scalar(event, loader)
            elif isinstance(event, events.AliasEvent):
                self.alias(event)
        if documents == 0 or (self.root is None and not self.issues):
            self.issues.append(Issue(
                "the file is empty: an experiment is a mapping with name, data, compile, "
                "training and models", source=self.source))

    # containers --------------------------------------------------------------------------------

    def start(self, event, loader) -> None:
        if len(self.stack) >= MAX_DEPTH:
            self.issues.append(Issue(
                f"nested more than {MAX_DEPTH} levels deep; a spec needs far fewer",
                position=self.pos(event.start_mark)))
            raise _Stop
        self.check_tag(event.tag, event.start_mark, container=True)
        loc = self.child_loc(event.start_mark)
        kind = "map" if isinstance(event, events.MappingStartEvent) else "seq"
        self.stack.append(_Frame(kind, {} if kind == "map" else [], loc, event.anchor))
        self.positions.setdefault(loc, self.pos(event.start_mark))

    def end(self) -> None:
        frame = self.stack.pop()
        for merged, mark in frame.merges:  # `<<: *base`: explicit keys win over merged ones
            for source in merged if isinstance(merged, list) else [merged]:
                if not isinstance(source, dict):
                    self.issues.append(Issue("`<<` merges only mappings", position=mark))
                    continue
                for k, v in source.items():
                    frame.value.setdefault(k, v)
        self.add(frame.value, frame.weight, frame.anchor)

    def child_loc(self, mark) -> Loc:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if top.kind == "seq":
            return top.loc + (len(top.value),)
        if not top.has_key:
            self.issues.append(Issue("keys must be plain names, not mappings or lists",
                                     position=self.pos(mark)))
            raise _Stop
        return top.loc + (top.key,) if top.key is not _MERGE else top.loc

    def add(self, value: Any, weight: int, anchor: str | None) -> None:
        self.total += weight
        if self.total > MAX_VALUES:
            self.issues.append(Issue(
                f"the document expands to more than {MAX_VALUES:,} values through aliases "
                "(an alias bomb?)", source=self.source))
            raise _Stop
        if anchor:
            self.anchors[anchor] = (value, weight)
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        top.weight += weight
        if top.kind == "seq":
            top.value.append(value)
            return
        key = top.key
        top.has_key, top.key = False, None
        if key is _MERGE:
            top.merges.append((value, top.key_position))
        elif key in top.value:
            first = self.key_positions.get(top.loc + (key,))
            where = f" (first at line {first.line})" if first else ""
            self.issues.append(Issue(f"duplicate key '{key}'{where}", loc=top.loc + (key,),
                                     position=top.key_position))
        else:
            top.value[key] = value
            self.key_positions[top.loc + (key,)] = top.key_position

    # scalars and aliases -------------------------------------------------------------------------

    def scalar(self, event, loader) -> None:
        top = self.stack[-1] if self.stack else None
        is_key = top is not None and top.kind == "map" and not top.has_key
        value = self.construct(event, loader)
        if is_key:
            top.key, top.has_key, top.key_position = value, True, self.pos(event.start_mark)
            if event.anchor:
                self.anchors[event.anchor] = (value, 1)
            return
        loc = self.child_loc(event.start_mark)
        self.positions[loc] = self.pos(event.start_mark)
        if event.implicit[0]:
            self.texts[loc] = event.value
        self.add(value, 1, event.anchor)

    def construct(self, event, loader) -> Any:
        if event.tag in (None, "!") or event.implicit[0]:
            tag = loader.resolve(ScalarNode, event.value, event.implicit)
        else:
            tag = event.tag
        if not self.check_tag(tag, event.start_mark, container=False):
            return None
        kind = _PLAIN_TAGS[tag]
        if kind == "merge":
            return _MERGE
        if kind == "str":
            if event.implicit[0] and event.style is None and _EXPONENT_FLOAT.match(event.value):
                return float(event.value.replace("_", ""))
            return event.value
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return loader.construct_object(node, deep=True) if kind != "null" else None
        except (yaml.YAMLError, ValueError) as e:
            self.issues.append(Issue(f"cannot read {event.value!r} as {kind}: {e}",
                                     position=self.pos(event.start_mark)))
            return None

    def check_tag(self, tag: str | None, mark, container: bool) -> bool:
        allowed = _CONTAINER_TAGS if container else _PLAIN_TAGS
        if tag in allowed:
            return True
        shown = tag.replace("tag:yaml.org,2002:", "!!") if tag else tag
        self.issues.append(Issue(
            f"the YAML tag '{shown}' is not allowed: a spec is plain data (mappings, lists, "
            "strings, numbers, booleans), and no tag can make it run code or build objects",
            position=self.pos(mark)))
        return False

    def alias(self, event) -> None:
        if event.anchor not in self.anchors:  # pragma: no cover - the parser rejects these itself
            self.issues.append(Issue(f"unknown alias *{event.anchor}", position=self.pos(event.start_mark)))
            raise _Stop
        value, weight = self.anchors[event.anchor]
        top = self.stack[-1] if self.stack else None
        if top is not None and top.kind == "map" and not top.has_key:
            if isinstance(value, (dict, list)):
                self.issues.append(Issue("keys must be plain names, not mappings or lists",
                                         position=self.pos(event.start_mark)))
                raise _Stop
            top.key, top.has_key, top.key_position = value, True, self.pos(event.start_mark)
            return
        self.positions.setdefault(self.child_loc(event.start_mark), self.pos(event.start_mark))
        self.add(value, weight, None)


def _marked_issue(e: yaml.MarkedYAMLError, source: str) -> Issue:
    mark = e.problem_mark or e.context_mark
    message = (e.problem or e.context or "not valid YAML").strip()
    if "\t" in message or "'\\t'" in message:
        message += " (YAML indents with spaces, never tabs)"
    if e.context and e.context_mark and e.problem_mark and e.context_mark.line != e.problem_mark.line:
        message += f" ({e.context} at line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
    position = Position(source, mark.line + 1, mark.column + 1) if mark else None
    return Issue(message, position=position, source=source)


def _reader_message(e: yaml.reader.ReaderError) -> str:
    char = e.character
    code = ord(char) if isinstance(char, str) else char
    if code == 0:
        return "NUL byte in the file: a spec is a text file"
    return f"character U+{code:04X} is not allowed in YAML"


def _offset_position(text: str, offset: int, source: str) -> Position:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Position(source, line, column)
