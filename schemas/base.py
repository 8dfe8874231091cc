"""The base classes of every spec model, and the builder of unions keyed by Keras class names.

A Keras object in a spec (a layer, an initializer, a regularizer, an optimizer) is written as
the Keras class name with its arguments: `{HeNormal: {seed: 42}}`, a scalar for the main argument
(`Dense: 64`), or just the name (`he_normal`, `- Flatten`). `keras_union` turns a registry of
argument classes into one Pydantic discriminated union that accepts exactly those forms and
describes them in the JSON Schema.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, ClassVar, ForwardRef, Iterable, Literal, Mapping, Optional, Sequence, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    WithJsonSchema,
    create_model,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas import legacy


class Spec(BaseModel):
    """Base of every spec model: unknown keys, loose types (`"64"` for 64) and mutation are errors."""

    # defer_build: each class is validated as part of Experiment; building its own validator at
    # import too would cost a third of `factory validate`'s time
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


def suggestion(name: object, candidates: Iterable[str]) -> str:
    """`; did you mean 'x'?` when a candidate is close to `name` (but not `name` itself), else ''.

    The one "did you mean" of the project; `factory.errors.did_you_mean` is this function. A Keras 2
    name (`lr`) gets its Keras 3 name where that is a candidate, with the reason (schemas.legacy).
    """
    if not isinstance(name, str):
        return ""
    candidates = list(candidates)
    if name in legacy.KERAS2_NAMES and legacy.KERAS2_NAMES[name][0] in candidates:
        new, why = legacy.KERAS2_NAMES[name]
        return f"; did you mean '{new}'? ({why})"
    by_lower = {c.lower(): c for c in candidates}
    if name.lower() in by_lower and by_lower[name.lower()] != name:
        return f"; did you mean '{by_lower[name.lower()]}'?"
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean '{by_lower[close[0]]}'?" if close else ""


def names(kind: str, known: Sequence[str]) -> Any:
    """A string type that accepts only `known` names, with a "did you mean" for near misses."""
    known_set = frozenset(known)

    def check(value: str) -> str:
        if value not in known_set:
            raise PydanticCustomError(
                "unknown_name", "unknown {kind} '{value}'{hint}",
                {"kind": kind, "value": value, "hint": suggestion(value, sorted(known_set))
                 or "; known: " + ", ".join(sorted(known_set))})
        return value

    return Annotated[str, AfterValidator(check), WithJsonSchema({"type": "string", "enum": sorted(known_set)})]


def _legacy_properties(schema: dict, cls: type) -> None:
    """Describe the accepted old spellings (schemas.legacy) in the JSON Schema too."""
    for old, new in legacy.RENAMED_ARGUMENTS.get(cls.__name__, {}).items():
        if new in schema.get("properties", {}):
            schema["properties"][old] = {**schema["properties"][new], "deprecated": True,
                                         "description": f"old spelling of {new}"}


class KerasArgs(Spec):
    """The arguments of one Keras class; a subclass is named after the Keras class it stands for.

    Field names are Keras's own argument names and field defaults are Keras's defaults (a test
    checks both against the real constructors). Only the arguments a user gave reach Keras.
    """

    model_config = ConfigDict(json_schema_extra=_legacy_properties)

    keras_class: ClassVar[str]  # the Keras class built; the spec class's name unless set
    main_argument: ClassVar[Optional[str]] = None  # what a scalar sets: `Dense: 64` -> units=64
    spec_only: ClassVar[frozenset[str]] = frozenset()  # fields this tool uses, not passed to Keras

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "keras_class" not in cls.__dict__:
            cls.keras_class = cls.__name__

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, data: Any) -> Any:
        if data is None or isinstance(data, cls):
            return {} if data is None else data
        if isinstance(data, dict):
            try:
                return legacy.translate(cls.__name__, data)
            except ValueError as e:
                raise PydanticCustomError("conflicting_spellings", str(e)) from None
        if cls.main_argument is not None:
            return {cls.main_argument: data}
        raise PydanticCustomError(
            "arguments_expected",
            "{name} takes a mapping of its arguments (`{name}: {empty}` for none), not {got}",
            {"name": cls.__name__, "got": repr(data), "empty": "{}"})

    @model_serializer(mode="plain")
    def _as_written(self) -> dict:
        """Only the arguments the user gave, in the spec syntax (nested objects as `{Name: args}`)."""
        return {k: _written(getattr(self, k)) for k in self.given()}

    def given(self) -> list[str]:
        """Names of the arguments the user gave, in field order."""
        return [k for k in type(self).model_fields if k in self.model_fields_set]

    def keras_arguments(self) -> dict[str, Any]:
        """The arguments the user gave, as Keras takes them (nested Keras objects as config dicts)."""
        return {k: _to_keras(getattr(self, k)) for k in self.given() if k not in self.spec_only}

    def keras_config(self) -> dict[str, Any]:
        """`{"class_name": ..., "config": ...}`, the form `keras.<kind>.get()` deserializes."""
        return {"class_name": self.keras_class, "config": self.keras_arguments()}


class KerasEntry(Spec):
    """A one-key mapping `{ClassName: arguments}` as a user writes it; `.args` is the argument model."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    @property
    def args(self) -> KerasArgs:
        return getattr(self, next(iter(self.model_fields_set)))

    def keras_config(self) -> dict[str, Any]:
        return self.args.keras_config()

    @model_serializer(mode="plain")
    def _as_written(self) -> dict:
        return {type(self.args).__name__: self.args.model_dump()}


def _written(value: Any) -> Any:
    if isinstance(value, (KerasEntry, KerasArgs)):
        return value.model_dump()
    if isinstance(value, list):
        return [_written(v) for v in value]
    return value


def _to_keras(value: Any) -> Any:
    if isinstance(value, (KerasEntry, KerasArgs)):
        return value.keras_config()
    if isinstance(value, list):
        return [_to_keras(v) for v in value]
    return value


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


def a_or_an(word: str) -> str:
    """`an optimizer`, `a Dense`, `an Input`: the word with its indefinite article."""
    return f"{'an' if word[:1].upper() in 'AEIOU' else 'a'} {word}"


_CODE_HINTS = ("lambda", ".", ":", "(", "/", "\\")


def _required(cls: type[KerasArgs]) -> list[str]:
    return [k for k, f in cls.model_fields.items() if f.is_required()]


def _main_argument_type(cls: type[KerasArgs]) -> Any:
    """The type of `cls`'s main argument with its constraints, for the scalar shorthand's JSON Schema.

    A field's annotation alone drops its constraints (`units: PositiveInt` keeps `gt=0` in the field's
    metadata), so `Dense: 0` would pass in an editor while validation refuses it.
    """
    field = cls.model_fields[cls.main_argument]
    return Annotated[(field.annotation, *field.metadata,
                      Field(description=f"{cls.main_argument}: {field.description or 'the main argument'}"))]


def _field_schema(cls: type[KerasArgs], name: str) -> dict:
    """The JSON Schema of one argument of `cls`, constraints included (no description)."""
    field = cls.model_fields[name]
    if isinstance(field.annotation, (str, ForwardRef)):
        return {}  # a recursive type (a wrapper's `layer`): its key is all that completion needs
    tp = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(tp).json_schema()


def _completes_to_mapping(cls: type[KerasArgs]) -> Any:
    """JSON Schema extras so an editor's completion of `Name` inserts `Name:` and its required arguments.

    yaml-language-server inserts a property as a mapping (with the compensated indentation of a list
    item) only when the property's own schema has `properties`; the class's schema behind `anyOf`
    is not looked at. Listing the required arguments there changes nothing for validation (an object
    must match the class anyway). A class that needs no arguments is completed by its bare name
    instead: offering both under one label makes the server merge them into `Flatten: Flatten`.
    """
    required = _required(cls)

    def extra(schema: dict) -> None:
        if not required:
            schema["doNotSuggest"] = True
            return
        schema["properties"] = {k: _field_schema(cls, k) for k in required}
        schema["required"] = required

    return extra


def keras_union(kind: str, classes: Sequence[type[KerasArgs]], aliases: Mapping[str, str] | None = None,
                plural: str | None = None, refused: Mapping[str, str] | None = None) -> Any:
    """One discriminated union of `classes`, keyed by class name (or an alias such as `he_normal`).

    Accepts `Name`, `{Name: {arguments}}`, `{Name: scalar}` for the main argument, and `{Name: null}`.
    An unknown name is one error with a "did you mean"; names that look like Python code get an
    error saying a spec cannot run code; a Keras name in `refused` ({name: why}) gets its reason.
    """
    refused = dict(refused or {})
    aliases = dict(aliases or {})
    registry = {c.__name__: c for c in classes}
    keys_of = {n: [n] + [a for a, target in aliases.items() if target == n] for n in registry}
    tag_of = {key: n for n, keys in keys_of.items() for key in keys}
    plural = plural or kind + "s"

    members = []
    for name, cls in registry.items():
        # The forms an editor accepts. A scalar sets the main argument, so it stands alone only when
        # nothing else is required; `{Name: null}` (like the bare name) means no arguments.
        required = _required(cls)
        forms: list[Any] = [cls]
        if cls.main_argument and set(required) <= {cls.main_argument}:
            forms.append(_main_argument_type(cls))
        if not required:
            forms.append(None)
        written = Union[tuple(forms)]
        arg_type = Annotated[cls, BeforeValidator(_none_is_empty, json_schema_input_type=written)]
        fields = {key: (arg_type, Field(None, description=f"{name} ({kind}) with its arguments",
                                        json_schema_extra=_completes_to_mapping(cls)))
                  for key in keys_of[name]}
        entry = create_model(f"{name}Entry", __base__=KerasEntry, __doc__=cls.__doc__, **fields)
        members.append(Annotated[entry, Tag(name)])
    # a bare name means "no arguments": only for classes that need none (`Flatten`, not `Dense`)
    bare = tuple(key for key, n in tag_of.items() if not _required(registry[n]))

    def discriminate(value: Any) -> str | None:
        if isinstance(value, KerasEntry):
            return type(value.args).__name__
        if isinstance(value, dict) and len(value) == 1:
            return tag_of.get(next(iter(value)))
        return None

    def normalize(value: Any) -> Any:
        if isinstance(value, KerasEntry):
            return value
        if isinstance(value, str):
            value = {value: None}
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "keras_object_type", "expected {a_kind}: a name or a one-key mapping `Name: arguments`, "
                "got {got}", {"a_kind": a_or_an(kind), "got": "nothing (null)" if value is None else repr(value)})
        if len(value) != 1:
            raise PydanticCustomError(
                "keras_object_keys", "a {kind} is a one-key mapping `Name: arguments`; this one has "
                "{n} keys ({keys}): is an argument indented too little?",
                {"kind": kind, "n": len(value), "keys": ", ".join(map(str, value))})
        key = next(iter(value))
        if key not in tag_of:
            text = str(key)
            if any(h in text.lower() for h in _CODE_HINTS):
                raise PydanticCustomError(
                    "code_not_allowed", "'{key}' is not {a_kind} this tool knows; a spec cannot name "
                    "Python code (no Lambda layers, modules or functions)",
                    {"key": text, "a_kind": a_or_an(kind)})
            if text in refused:
                raise PydanticCustomError("unknown_keras_object", "Keras's {kind} '{key}' is not supported here: "
                                          "{why}", {"kind": kind, "key": text, "why": refused[text]})
            hint = suggestion(key, list(tag_of)) or f"; known {plural}: " + ", ".join(registry)
            raise PydanticCustomError("unknown_keras_object", "unknown {kind} '{key}'{hint}",
                                      {"kind": kind, "key": text, "hint": hint})
        return value

    union = Annotated[Union[tuple(members)], Discriminator(discriminate)]
    written_forms = Union[(Literal[bare], *[m.__origin__ for m in members])]
    return Annotated[union, BeforeValidator(normalize, json_schema_input_type=written_forms)]
