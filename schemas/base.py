"""The base classes of every spec model, and the builder of unions keyed by Keras class names.

A Keras object in a spec (a layer, an initializer, a regularizer, an optimizer) is written as
the Keras class name with its arguments: `{HeNormal: {seed: 42}}`, a scalar for the main argument
(`Dense: 64`), or just the name (`he_normal`, `- Flatten`). `keras_union` turns a registry of
argument classes into one Pydantic discriminated union that accepts exactly those forms and
describes them in the JSON Schema.
"""


import difflib
import typing
from typing import Annotated, Any, Callable, ClassVar, Iterable, Literal, Mapping, Optional, Sequence, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
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


def fail_at(problems: list[tuple[tuple, str]]) -> None:
    """Raise one validation error per (location, message), located below the current model."""
    raise ValidationError.from_exception_data("spec", [
        # pydantic formats a message's {placeholders} only from a context, and none is given: braces
        # (a YAML mapping in the message) stay as written, so they are not escaped
        {"type": PydanticCustomError("spec", message),
         "loc": loc, "input": None} for loc, message in problems])


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


def names(kind: str, known: Sequence[str], refused: Optional[dict[str, str]] = None) -> Any:
    """A string type that accepts only `known` names, with a "did you mean" for near misses; a name
    of `refused` (Keras has it, this tool cannot use it) is refused with its reason."""
    known_set = frozenset(known)
    refused = refused or {}

    def check(value: str) -> str:
        if value in refused:
            raise PydanticCustomError("refused_name", "{kind} '{value}' {why}",
                                      {"kind": kind, "value": value, "why": refused[value]})
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
        fields = type(self).model_fields  # a key that is a Python word has its field aliased (`from`)
        return {fields[k].alias or k: _written(getattr(self, k)) for k in self.given()}

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
    def args(self) -> "KerasArgs":
        return getattr(self, next(iter(self.model_fields_set)))

    def keras_config(self) -> dict[str, Any]:
        return self.args.keras_config()

    @model_serializer(mode="plain")
    def _as_written(self) -> dict:
        cls = type(self.args)  # written by its class name, or the key a spec class says it is written with
        return {getattr(cls, "written_as", None) or cls.__name__: self.args.model_dump()}


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


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


def a_or_an(word: str) -> str:
    """`an optimizer`, `a Dense`, `an Input`: the word with its indefinite article."""
    return f"{'an' if word[:1].upper() in 'AEIOU' else 'a'} {word}"


MAX_LISTED = 40  # an unknown name with no close match lists the known ones up to this many

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


_FIELDS_IN_PROGRESS: set = set()  # a field holding layers (`residual: {layers}`) reaches itself


def _field_schema(cls: type[KerasArgs], name: str) -> dict:
    """The JSON Schema of one argument of `cls`, constraints included (no description)."""
    if (cls, name) in _FIELDS_IN_PROGRESS:
        return {}
    if not cls.__pydantic_complete__:  # an annotation to resolve first (schemas.constructs: layer lists)
        cls.model_rebuild()
    field = cls.model_fields[name]
    if any(isinstance(m, LazyKerasUnion) for m in field.metadata):
        return {}  # a wrapper's `layer`, the union itself: its key is all that completion needs
    tp = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    _FIELDS_IN_PROGRESS.add((cls, name))
    try:
        schema = TypeAdapter(tp).json_schema()
        # definitions of its own (layers inside layers) would not resolve where this schema is put
        return {"type": schema["type"]} if "$defs" in schema and "type" in schema else \
            {} if "$defs" in schema else schema
    finally:
        _FIELDS_IN_PROGRESS.discard((cls, name))


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


def _entry_model(kind: str, name: str, cls: type[KerasArgs], keys: Sequence[str]) -> type[KerasEntry]:
    """The one-key mapping model `{Name: arguments}` of `cls`, with a field per accepted key (name, aliases)."""
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
              for key in keys}
    return create_model(f"{name}Entry", __base__=KerasEntry, __doc__=cls.__doc__, **fields)


def _name_checker(kind: str, tag_of: Mapping[str, str], known: Sequence[str], plural: str,
                  refused: Mapping[str, str], number: Any = None) -> Callable[[Any], Any]:
    """The check every written Keras object passes first: a name or a one-key mapping of a known name.

    Returns the value as `{Name: arguments}` (or the entry already built, or a number where `number`
    allows one); raises one precise error.
    """
    is_number = _number_test(number)

    def normalize(value: Any) -> Any:
        if isinstance(value, KerasEntry) or is_number(value):
            return value
        if isinstance(value, str) and number is not None and _is_number_text(value):
            raise PydanticCustomError("keras_object_type", "expected a number or {a_kind}, got '{got}' (text): "
                                      "write the number without quotes", {"a_kind": a_or_an(kind), "got": value})
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
            listed = ", ".join(known) if len(known) <= MAX_LISTED else \
                ", ".join(known[:MAX_LISTED]) + f", ... ({len(known)} in all; `factory schema` lists them)"
            hint = suggestion(key, list(tag_of)) or f"; known {plural}: " + listed
            raise PydanticCustomError("unknown_keras_object", "unknown {kind} '{key}'{hint}",
                                      {"kind": kind, "key": text, "hint": hint})
        return value

    return normalize


def _number_test(number: Any) -> Callable[[Any], bool]:
    """Whether a value is a number written in place of an object (only where `number` is a type)."""
    return lambda value: number is not None and isinstance(value, (int, float)) and not isinstance(value, bool)


def _keys(names: Iterable[str], aliases: Mapping[str, str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """({name: the keys it is written with}, {key: name}): each name and its aliases."""
    keys_of = {n: [n] + [a for a, target in aliases.items() if target == n] for n in names}
    return keys_of, {key: n for n, keys in keys_of.items() for key in keys}


def keras_union(kind: str, classes: Sequence[type[KerasArgs]], aliases: Mapping[str, str] | None = None,
                plural: str | None = None, refused: Mapping[str, str] | None = None, number: Any = None) -> Any:
    """One discriminated union of `classes`, keyed by class name (or an alias such as `he_normal`).

    Accepts `Name`, `{Name: {arguments}}`, `{Name: scalar}` for the main argument, and `{Name: null}`.
    An unknown name is one error with a "did you mean"; names that look like Python code get an
    error saying a spec cannot run code; a Keras name in `refused` ({name: why}) gets its reason.
    With `number` (a number type), a number is accepted too, as that type: a learning rate is a
    number or a schedule.
    """
    registry = {c.__name__: c for c in classes}
    keys_of, tag_of = _keys(registry, dict(aliases or {}))
    members = [Annotated[_entry_model(kind, name, cls, keys_of[name]), Tag(name)] for name, cls in registry.items()]
    # a bare name means "no arguments": only for classes that need none (`Flatten`, not `Dense`)
    bare = tuple(key for key, n in tag_of.items() if not _required(registry[n]))
    number_form = (number,) if number is not None else ()  # a number written in place of an object
    if number is not None:
        members.append(Annotated[number, Tag("number")])
    is_number = _number_test(number)

    def discriminate(value: Any) -> str | None:
        if is_number(value):
            return "number"
        if isinstance(value, KerasEntry):
            return type(value.args).__name__
        if isinstance(value, dict) and len(value) == 1:
            return tag_of.get(next(iter(value)))
        return None

    normalize = _name_checker(kind, tag_of, list(registry), plural or kind + "s", dict(refused or {}), number)
    union = Annotated[Union[tuple(members)], Discriminator(discriminate)]
    bare_form = (Literal[bare],) if bare else ()  # none where every class needs arguments (schedules)
    written_forms = Union[(*bare_form, *[m.__origin__ for m in members[:len(registry)]], *number_form)]
    return Annotated[union, BeforeValidator(normalize, json_schema_input_type=written_forms)]


class LazyKerasUnion:
    """A `keras_union` whose members are built on first use: for a registry so large (every Keras layer)
    that building all of it would make `factory validate` slow.

    `load(name)` gives the argument class of a name. Validation builds only the members a spec
    uses; the JSON Schema (editors, `factory schema`) builds the whole union once. Errors inside a
    member keep their location (Pydantic nests a member's own errors under the list item), and
    `schemas.introspect` steps into a member through `member(key)`.
    """

    def __init__(self, kind: str, names: Sequence[str], load: Callable[[str], type[KerasArgs]],
                 aliases: Mapping[str, str] | None = None,
                 refused: Mapping[str, str] | None = None, title: str | None = None):
        self.kind, self.names, self.load, self.title = kind, tuple(names), load, title or f"{kind.capitalize()}Spec"
        self.keys_of, self.tag_of = _keys(self.names, dict(aliases or {}))
        self.aliases = dict(aliases or {})
        self.normalize = _name_checker(kind, self.tag_of, self.names, kind + "s", dict(refused or {}))
        self._members: dict[str, type[KerasEntry]] = {}
        self._writing: set[int] = set()  # the JSON Schema documents writing the union now

    def member(self, key: Any) -> type[KerasEntry] | None:
        """The entry model `{Name: arguments}` for a key as written (a name or an alias), built once."""
        name = self.tag_of.get(key) if isinstance(key, str) else None
        if name is None:
            return None
        if name not in self._members:
            self._members[name] = _entry_model(self.kind, name, self.load(name), self.keys_of[name])
        return self._members[name]

    def classes(self) -> tuple[type[KerasArgs], ...]:
        """Every argument class of the registry (builds them all)."""
        return tuple(self.load(name) for name in self.names)

    def _validate(self, value: Any, info: Any) -> "KerasEntry":
        value = self.normalize(value)
        if isinstance(value, KerasEntry):
            return value
        return self.member(next(iter(value))).model_validate(value, context=info.context)

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.with_info_plain_validator_function(self._validate)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict:
        """A reference to the whole union, written once into the document's `$defs`."""
        from pydantic.json_schema import CoreRef

        generator = handler.generate_json_schema  # the document being written
        defs_ref, reference = generator.get_cache_defs_ref_schema(CoreRef(f"{__name__}.{self.title}:{id(self)}"))
        if defs_ref not in generator.definitions and id(generator) not in self._writing:
            self._writing.add(id(generator))  # a member holding this union (Bidirectional) refers back
            try:
                whole = keras_union(self.kind, self.classes(), self.aliases)
                generator.definitions[defs_ref] = generator.generate_inner(TypeAdapter(whole).core_schema)
            finally:
                self._writing.discard(id(generator))
        return reference


def args_class(base: type[KerasArgs], name: str, summary: str, main: Optional[str], arguments: Sequence[tuple],
               types: Mapping[str, Any], module: str) -> type[KerasArgs]:
    """A spec class from a table row: `arguments` are `(name, type name in types, default or ..., description)`.

    The tables (schemas/layers_keras.py, losses.py, metrics.py) stay plain data, cheap to import;
    a class is made only when a spec uses it (see `LazyKerasUnion`).
    """
    namespace: dict[str, Any] = {"__module__": module, "__qualname__": name, "__doc__": summary,
                                 "main_argument": main, "__annotations__": {}}
    for arg, type_name, default, description in arguments:
        namespace["__annotations__"][arg] = types[type_name]
        namespace[arg] = Field(default, description=description or arg.replace("_", " "))
    return type(name, (base,), namespace)


def name_or_keras_object(kind: str, known_names: Sequence[str], union: Any) -> Any:
    """A name Keras resolves by string (`sparse_categorical_crossentropy`) or a class with arguments
    from the lazy `union` (`{SparseCategoricalCrossentropy: {from_logits: true}}`).

    A name stays the text written (results and tables show it as today); a near miss of either
    kind gets one "did you mean" over both.
    """
    lazy = next(m for m in typing.get_args(union)[1:] if isinstance(m, LazyKerasUnion))
    known = frozenset(known_names)
    candidates = list(lazy.tag_of) + sorted(known)  # a case-only near miss prefers the name: `accuracy`

    def validate(value: Any, info: Any) -> Any:
        if isinstance(value, str) and value in known:
            return value
        if isinstance(value, str) and value not in lazy.tag_of:
            raise PydanticCustomError("unknown_name", "unknown {kind} '{value}'{hint}", {
                "kind": kind, "value": value, "hint": suggestion(value, candidates) or "; known: " + ", ".join(candidates)})
        return lazy._validate(value, info)

    class NameOrObject:
        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
            from pydantic_core import core_schema

            return core_schema.with_info_plain_validator_function(validate)

        @classmethod
        def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict:
            return {"anyOf": [{"type": "string", "enum": sorted(known)}, lazy.__get_pydantic_json_schema__(schema, handler)]}

    return Annotated[Any, lazy, NameOrObject]  # the last one validates; introspect finds `lazy`


def lazy_keras_union(*args: Any, **kwargs: Any) -> Any:
    """A union type whose members are built on first use (see `LazyKerasUnion`)."""
    return Annotated[KerasEntry, LazyKerasUnion(*args, **kwargs)]
