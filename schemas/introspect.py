"""Which keys a location of the spec accepts: feeds "did you mean" for unknown keys."""


import typing
from typing import Any, Iterable, Iterator

from pydantic import BaseModel

from schemas import legacy
from schemas.base import KerasArgs, KerasEntry, LazyKerasUnion


def _expand(tp: Any) -> Iterable[Any]:
    """The concrete types behind Annotated / Optional / Union."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        lazy = [m for m in typing.get_args(tp)[1:] if isinstance(m, LazyKerasUnion)]
        yield from lazy or _expand(typing.get_args(tp)[0])
    elif origin is typing.Union:
        for arg in typing.get_args(tp):
            yield from _expand(arg)
    else:
        yield tp


def _field_type(field: Any) -> Any:
    """A field's type with the metadata Pydantic keeps apart (a lazy union is metadata of `layer: LayerSpec`)."""
    return typing.Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def _steps(root: type[BaseModel], loc: tuple) -> Iterator[tuple[bool, set]]:
    """For each segment of Pydantic's raw `loc` below `root`: whether it is a union's tag, and the
    spec types reached after it.

    A Keras union member's tag is its class name, followed by the entry's field (`Dense` then
    `Dense`, `HeNormal` then `he_normal`): only a class name followed by a field of its entry is a
    tag, so a key `Dense` written inside a Dense's arguments is a key there, and a location our
    own validators give (`Flatten` then `input_shape`, no tag) is read as written.
    """
    current = {(tp, False) for tp in _expand(root)}  # (type, its tag already passed)
    for i, seg in enumerate(loc):
        following: set = set()
        is_tag = False
        after = loc[i + 1] if i + 1 < len(loc) else None
        for tp, tagged in current:
            origin = typing.get_origin(tp)
            if isinstance(tp, LazyKerasUnion):  # a member validated on its own: no tag in the path
                member = tp.member(seg)
                if member is not None:
                    following.update((t, False) for t in _expand(_field_type(member.model_fields[seg])))
            elif isinstance(tp, type) and issubclass(tp, BaseModel):
                if issubclass(tp, KerasEntry) and not tagged and seg == next(iter(tp.model_fields)) \
                        and after in tp.model_fields:
                    following.add((tp, True))  # the union's tag step keeps us on the entry
                    is_tag = True
                elif seg in tp.model_fields:
                    following.update((t, False) for t in _expand(_field_type(tp.model_fields[seg])))
            elif origin is list and isinstance(seg, int):
                following.update((t, False) for t in _expand(typing.get_args(tp)[0]))
            elif origin is dict and isinstance(seg, (str, int)):  # dict[int, ...]: layers by index
                following.update((t, False) for t in _expand(typing.get_args(tp)[1]))
        yield is_tag, following
        current = following


def without_tags(root: type[BaseModel], loc: tuple) -> tuple:
    """Pydantic's raw `loc` below `root` without the tags of the discriminated unions it passes."""
    return tuple(seg for seg, (is_tag, _) in zip(loc, _steps(root, loc)) if not is_tag)


def keys_accepted(root: type[BaseModel], loc: tuple) -> list[str]:
    """The field names (and accepted old spellings) of the spec models found at `loc` below `root`.

    `loc` is Pydantic's raw error location, which includes the tags of discriminated unions.
    """
    reached = [types for _, types in _steps(root, loc)]
    current = reached[-1] if reached else {(tp, False) for tp in _expand(root)}
    keys: list[str] = []
    for tp, _ in current:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            keys.extend(f.alias or k for k, f in tp.model_fields.items())  # `from` is the field `from_`
            if issubclass(tp, KerasArgs):
                keys.extend(legacy.RENAMED_ARGUMENTS.get(tp.__name__, {}))
    return list(dict.fromkeys(keys))
