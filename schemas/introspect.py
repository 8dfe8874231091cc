"""Which keys a location of the spec accepts: feeds "did you mean" for unknown keys."""

from __future__ import annotations

import typing
from typing import Any, Iterable

from pydantic import BaseModel

from schemas import legacy
from schemas.base import KerasArgs, KerasEntry


def _expand(tp: Any) -> Iterable[Any]:
    """The concrete types behind Annotated / Optional / Union."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _expand(typing.get_args(tp)[0])
    elif origin is typing.Union:
        for arg in typing.get_args(tp):
            yield from _expand(arg)
    else:
        yield tp


def keys_accepted(root: type[BaseModel], loc: tuple) -> list[str]:
    """The field names (and accepted old spellings) of the spec models found at `loc` below `root`.

    `loc` is Pydantic's raw error location, which includes the tags of discriminated unions.
    """
    current = set(_expand(root))
    for seg in loc:
        following = set()
        for tp in current:
            origin = typing.get_origin(tp)
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                if issubclass(tp, KerasEntry) and seg in tp.model_fields:
                    following.add(tp)  # the union's tag step keeps us on the entry
                if seg in tp.model_fields:
                    following.update(_expand(tp.model_fields[seg].annotation))
            elif origin is list and isinstance(seg, int):
                following.update(_expand(typing.get_args(tp)[0]))
            elif origin is dict and isinstance(seg, (str, int)):  # dict[int, ...]: layers by index
                following.update(_expand(typing.get_args(tp)[1]))
        current = following
    keys: list[str] = []
    for tp in current:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            keys.extend(tp.model_fields)
            if issubclass(tp, KerasArgs):
                keys.extend(legacy.RENAMED_ARGUMENTS.get(tp.__name__, {}))
    return list(dict.fromkeys(keys))
