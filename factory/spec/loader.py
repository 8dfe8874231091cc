"""Load an experiment: read the YAML safely, apply `--set` to the file as written, compose, validate.

This is the Python API for specs: `load(path)` returns a `Loaded` experiment or raises `SpecError`
with every mistake of the file at once (composition mistakes, the validation mistakes of the
models they do not break, and those in what a broken model writes itself), each with its file,
line and column. `load_spec` also accepts a library file (models and blocks, no name or data) and
checks it as one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ValidationError

from factory.errors import Issue, Loc, Position, SpecError, did_you_mean
from factory.spec import blocks, extends
from factory.spec.compose import Composed, compose, compose_library, is_library
from factory.spec.document import Document
from factory.spec.overrides import apply_overrides
from factory.spec.yaml_reader import read_file
from schemas import Compile, Experiment, Training, names
from schemas.composition import EXPERIMENT_ONLY
from schemas.experiment import Library, WrittenModel, is_folder
from schemas.introspect import keys_accepted, without_tags

LIBRARY_NOTE = (f" (a file without {', '.join(EXPERIMENT_ONLY[:-1])} or {EXPERIMENT_ONLY[-1]} is checked as a "
                "library of models and blocks)")
SETTINGS = {"compile": Compile, "training": Training}  # the sections a model merges onto the experiment's
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


@dataclass(frozen=True)
class LoadedLibrary:
    """A validated library file: models and blocks for experiments to include."""

    library: Library
    document: Document
    path: Path


def load(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Loaded:
    """Read, override, compose and validate an experiment file. Raises `SpecError` listing every mistake."""
    loaded = load_spec(path, overrides)
    if isinstance(loaded, LoadedLibrary):
        raise SpecError([Issue("this is a library file (models and blocks, no name or data): include it "
                               "from an experiment (`include: {lib: FILE}`) to train its models",
                               source=str(path))])
    return loaded


def load_spec(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Loaded | LoadedLibrary:
    """`load`, or for a library file (no name or data; models and/or blocks) the library, checked as one."""
    document = read_file(path)
    if overrides:
        document = apply_overrides(document, overrides)
    if is_library(document.data):
        composed = compose_library(document)
        return LoadedLibrary(validate_composed(composed, Library), composed.document, Path(path))
    composed = compose(document)
    experiment = validate_composed(composed, Experiment)
    loaded = Loaded(experiment, composed.document, Path(path))
    data_path = loaded.data_path()
    if data_path is not None and not data_path.is_file() and not is_folder(experiment.data.dataset, str(Path(path).parent)):
        raise loaded.locate(SpecError([Issue(f"no such data file: {data_path}", loc=("data", "dataset"))]))
    return loaded


def _base(document: Document) -> str | None:
    """The folder a spec's relative paths start from (its file's), for the schema's folder check."""
    return str(Path(document.source).parent) if document.source else None


def validate_composed(composed: Composed, schema: type[BaseModel]) -> Any:
    """The composed document validated against `schema`; else SpecError with every mistake, in file order.

    The mistakes are those of composition and the validation mistakes outside the models they broke.
    """
    issues = list(composed.issues)
    result = None
    try:
        result = validate(composed.document, schema, {"written": _written_settings(composed.written),
                                                      "base": _base(composed.document)})
    except SpecError as e:
        issues += [i for i in e.issues if not _in_broken(i.loc, composed)]
    for name in sorted(composed.broken):
        issues += _own_mistakes(composed.written, name)
    if issues:
        main = composed.document.source
        raise SpecError(sorted(issues, key=lambda i: (
            (0, i.position.line, i.position.column) if i.position and i.position.source == main else (1, 0, 0))))
    return result


def _own_mistakes(written: Document | None, name: str) -> list[Issue]:
    """The mistakes in what broken model `name` writes itself, which depend on no parent or block.

    Its label, description, plot style, input shape, compile and training, and every layer it writes
    (its `layers:` and the `with:` layers of its edits, each checked as a layer): fixing its
    extends, edit, blocks or sweep must not reveal more mistakes that were there all along.
    """
    loc = ("models", name)
    raw = written.get(loc) if written is not None else None
    if not isinstance(raw, dict):
        return []
    model = written.at(loc)
    edits = raw.get("edit") if isinstance(raw.get("edit"), list) else []
    lists = [("layers",)] + [("edit", k, "with") for k, change in enumerate(edits) if _adds_layers(change)]
    issues = []
    for where in lists:
        try:
            validate(_own_layers(model, where), WrittenModel)
        except SpecError as e:
            issues += [replace(i, loc=loc + (where + i.loc[1:] if i.loc[:1] == ("layers",) else i.loc))
                       for i in e.issues]
    return issues


def _adds_layers(change: Any) -> bool:
    """Whether an edit is one operation whose `with:` is a list of layers (replace, insert_before, insert_after)."""
    if not isinstance(change, dict) or not isinstance(change.get("with"), list):
        return False
    ops = [op for op in extends.EDIT_OPERATIONS if op in change]
    return len(ops) == 1 and ops[0] in extends.TAKES_LAYERS


def _own_layers(model: Document, where: tuple) -> Document:
    """The model's own keys with the layer list at `where` as `layers: {index: layer}`, uses of blocks
    left out (keeping each layer's index keeps its location); for an edit's `with:`, its layers alone."""
    layers = model.get(where)
    whole = where == ("layers",)  # the model's own keys too; for an edit, its layers alone
    data = {k: v for k, v in model.data.items() if whole and k != "layers"}
    tables = [{k: v for k, v in table.items() if whole and k and k[0] != "layers"}
              for table in (model.positions, model.key_positions, model.texts)]
    if isinstance(layers, list):
        data["layers"] = {i: layer for i, layer in enumerate(layers) if blocks.reference(layer)[0] is None}
        n = len(where)
        for table, written in zip(tables, (model.positions, model.key_positions, model.texts)):
            table.update({("layers",) + k[n:]: v for k, v in written.items() if k[:n] == where})
    return Document(data, model.source, *tables)


def _written_settings(written: Document | None) -> dict[str, dict[str, list]]:
    """{model: {section: the compile/training keys the model writes itself}}, before extends merged in more."""
    models = written.get(("models",)) if written is not None else None
    if not isinstance(models, dict):
        return {}
    return {name: {k: list(model[k]) for k in SETTINGS if isinstance(model.get(k), dict)}
            for name, model in models.items() if isinstance(model, dict)}


def _in_broken(loc: Loc, composed: Composed) -> bool:
    """Whether a validation mistake is about a model left out because its composition failed."""
    if loc[:1] != ("models",) or not composed.broken:
        return False
    return len(loc) == 1 or loc[1] in composed.broken


def validate(document: Document, schema: type[BaseModel] = Experiment, context: dict | None = None) -> Any:
    """Validate a document against the spec schema (with Pydantic's validation `context`); every error
    becomes a located issue."""
    if not isinstance(document.data, dict):
        kind = type(document.data).__name__ if document.data is not None else "nothing"
        kind = {"list": "a list", "str": "a single string", "int": "a number", "float": "a number",
                "bool": "a boolean"}.get(kind, kind)
        raise SpecError([Issue(f"an experiment is a mapping (name, data, compile, training, models), "
                               f"not {kind}", position=document.positions.get(()),
                               source=document.source)])
    try:
        return schema.model_validate(document.data, context=context)
    except ValidationError as exc:
        raise SpecError(_issues(exc, document, schema)) from None


def _issues(exc: ValidationError, document: Document, schema: type[BaseModel]) -> list[Issue]:
    grouped: dict[tuple, list[str]] = {}
    positions: dict[tuple, Position | None] = {}
    for err in exc.errors(include_url=False):
        raw = tuple(err["loc"])
        loc = _user_loc(document.data, without_tags(schema, raw))
        message = _message(err, raw, loc, document, schema)
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
    """Pydantic's location (its union tags already taken out) as the user wrote it: other names of
    union members Pydantic puts in the path are left out too."""
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


def _message(err: dict, raw: tuple, loc: Loc, document: Document, schema: type[BaseModel]) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        name = raw[-1]
        hint = did_you_mean(name, keys_accepted(schema, raw[:-1]))
        if not hint and schema is Library and len(raw) == 1 and did_you_mean(name, EXPERIMENT_ONLY):
            # a misspelt `name:` or `data:` is what made the file a library
            hint = did_you_mean(name, EXPERIMENT_ONLY) + LIBRARY_NOTE
        return f"unknown key '{name}'" + hint
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
