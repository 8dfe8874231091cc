"""Load an experiment: read the YAML safely, compose it, apply `--set` overrides, validate, locate errors.

This is the Python API for specs: `load(path)` returns a `Loaded` experiment or raises `SpecError`
with every mistake of the file at once, each with its file, line and column.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from pydantic import ValidationError

from factory.spec.compose import compose
from factory.errors import Issue, Loc, Position, SpecError, did_you_mean
from factory.spec.yaml_reader import Document, read_file, read_text
from schemas import Experiment, names
from schemas.introspect import keys_accepted

_OVERRIDE = re.compile(r"^\s*([A-Za-z0-9_.+-]+?)\s*=(.*)$", re.S)
_YAML_WORDS = {"true", "false", "True", "False", "TRUE", "FALSE"}


@dataclass(frozen=True)
class Loaded:
    """A validated experiment with the document it came from (for locating later errors)."""

    experiment: Experiment
    document: Document
    path: Path

    def locate(self, error: SpecError) -> SpecError:
        """Fill in file positions for issues that carry only a dotted location (e.g. build errors)."""
        return error.located(self.document.locator())

    def data_path(self) -> Path | None:
        """The data file named by `data.dataset`, resolved against the spec's folder; None for built-ins."""
        dataset = self.experiment.data.dataset
        if dataset in names.DATASETS:
            return None
        return (self.path.parent / dataset).resolve()


def load(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Loaded:
    """Read, compose, override and validate an experiment file. Raises `SpecError` listing every mistake."""
    document = compose(read_file(path))
    if overrides:
        document = apply_overrides(document, overrides)
    experiment = validate(document)
    loaded = Loaded(experiment, document, Path(path))
    data_path = loaded.data_path()
    if data_path is not None and not data_path.is_file():
        raise loaded.locate(SpecError([Issue(f"no such data file: {data_path}", loc=("data", "dataset"))]))
    return loaded


def validate(document: Document) -> Experiment:
    """Validate a document against the spec schema; every error becomes a located issue."""
    if not isinstance(document.data, dict):
        kind = type(document.data).__name__ if document.data is not None else "nothing"
        kind = {"list": "a list", "str": "a single string", "int": "a number", "float": "a number",
                "bool": "a boolean"}.get(kind, kind)
        raise SpecError([Issue(f"an experiment is a mapping (name, data, compile, training, models), "
                               f"not {kind}", position=document.positions.get(()),
                               source=document.source)])
    try:
        return Experiment.model_validate(document.data)
    except ValidationError as exc:
        raise SpecError(_issues(exc, document)) from None


def _issues(exc: ValidationError, document: Document) -> list[Issue]:
    grouped: dict[tuple, list[str]] = {}
    positions: dict[tuple, Position | None] = {}
    for err in exc.errors(include_url=False):
        raw = tuple(err["loc"])
        loc = _user_loc(document.data, raw)
        message = _message(err, raw, loc, document)
        is_key = err["type"] == "extra_forbidden"
        locate = document.key_locator() if is_key else document.locator()
        key = (loc, is_key)
        if message not in grouped.setdefault(key, []):
            grouped[key].append(message)
        positions[key] = locate(loc)
    issues = [Issue("; or ".join(msgs) if len(msgs) > 1 else msgs[0], loc=loc, position=positions[(loc, k)],
                    source=document.source) for (loc, k), msgs in grouped.items()]
    return sorted(issues, key=lambda i: (i.position.line, i.position.column) if i.position else (0, 0))


def _user_loc(data: Any, raw: tuple) -> Loc:
    """Pydantic's location without the union tags it inserts: the path as the user wrote it."""
    out: list = []
    current = data
    for i, seg in enumerate(raw):
        if isinstance(current, dict) and seg in current:
            out.append(seg)
            current = current[seg]
        elif isinstance(current, list) and isinstance(seg, int) and 0 <= seg < len(current):
            out.append(seg)
            current = current[seg]
        elif isinstance(current, dict) and i == len(raw) - 1 and isinstance(seg, str):
            out.append(seg)  # a missing key: name it
            current = None
        # anything else is a union tag or member name Pydantic put in the path: skip it
    return tuple(out)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"'{value}' (text)"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def _message(err: dict, raw: tuple, loc: Loc, document: Document) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        name = raw[-1]
        return f"unknown key '{name}'" + did_you_mean(name, keys_accepted(Experiment, raw[:-1]))
    if kind == "missing":
        return f"missing required key '{raw[-1]}'"
    if kind.startswith("value_error") or kind.startswith("assertion_error"):
        msg = msg.removeprefix("Value error, ")
    if kind in {"unknown_name", "unknown_keras_object", "code_not_allowed", "keras_object_keys",
                "keras_object_type", "unknown_dataset", "spec", "duplicate_seeds",
                "arguments_expected", "conflicting_spellings"}:
        return msg
    text = document.texts.get(loc)
    message = f"{msg[0].lower()}{msg[1:]}, got {_describe(value)}"
    if isinstance(value, bool) and text is not None and text not in _YAML_WORDS:
        message += f" (YAML reads `{text}` as {str(value).lower()}; quote it, '{text}', if you mean the text)"
    elif isinstance(value, str) and kind in {"int_type", "float_type"}:
        message += " (write the number without quotes)"
    return message


# --set overrides -----------------------------------------------------------------------------------


def apply_overrides(document: Document, overrides: Iterable[str]) -> Document:
    """Apply `key.path=value` overrides (the value read as YAML) to a copy of the document.

    Positions under an overridden key point into the `--set` argument, so a bad value there gets
    the same located error as a bad value in the file.
    """
    data = copy.deepcopy(document.data) if isinstance(document.data, dict) else {}
    positions, key_positions, texts = dict(document.positions), dict(document.key_positions), dict(document.texts)
    issues: list[Issue] = []
    for text in overrides:
        source = f"<--set {text}>"
        match = _OVERRIDE.match(text)
        if not match:
            issues.append(Issue("expected key.path=value, e.g. training.epochs=1", source=source))
            continue
        path_text, value_text = match.group(1), match.group(2)
        offset = text.index("=") + 1
        try:
            value_doc = read_text(value_text if value_text.strip() else "null", source)
        except SpecError as e:
            issues.extend(_shift(i, offset) for i in e.issues)
            continue
        path = tuple(int(p) if p.isdigit() else p for p in path_text.split("."))
        error = _set(data, path, value_doc.data)
        if error:
            issues.append(Issue(error, loc=path, position=Position(source, 1, 1)))
            continue
        for table in (positions, key_positions, texts):
            for loc in [loc for loc in table if loc[:len(path)] == path]:
                del table[loc]
        key_positions[path] = Position(source, 1, 1)
        for loc, pos in value_doc.positions.items():
            positions[path + loc] = Position(source, 1, pos.column + offset) if pos.line == 1 else pos
        for loc, value in value_doc.texts.items():
            texts[path + loc] = value
    if issues:
        raise SpecError(issues)
    return Document(data, document.source, positions, key_positions, texts)


def _set(data: dict, path: tuple, value: Any) -> str | None:
    current: Any = data
    for i, seg in enumerate(path[:-1]):
        if isinstance(current, dict):
            if not isinstance(current.get(seg), (dict, list)):
                if seg in current and current[seg] is not None:
                    return f"cannot set below '{seg}': it is {_describe(current[seg])}, not a mapping"
                current[seg] = {}
            current = current[seg]
        elif isinstance(current, list):
            if not isinstance(seg, int) or not 0 <= seg < len(current):
                return f"'{seg}' is not an index of this list of {len(current)} item(s)"
            current = current[seg]
        else:  # pragma: no cover - guarded above
            return "cannot set below a scalar"
    last = path[-1]
    if isinstance(current, list):
        if not isinstance(last, int) or not 0 <= last < len(current):
            return f"'{last}' is not an index of this list of {len(current)} item(s)"
    current[last] = value
    return None


def _shift(issue: Issue, offset: int) -> Issue:
    pos = issue.position
    if pos is None or pos.line != 1:
        return issue
    return Issue(issue.message, issue.loc, Position(pos.source, 1, pos.column + offset), issue.source)
