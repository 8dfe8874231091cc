"""Constrained value types shared by the spec models (positive counts, rates, shapes, ...)."""

from typing import Annotated, Literal, Optional, Union

from pydantic import BeforeValidator, Field

from schemas.legacy import tuple_as_text

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Seed = Annotated[int, Field(ge=0, description="random seed")]
Finite = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
# `(28, 28)` is Python's way to write these, and YAML reads it as text: say to write a list
Shape = Annotated[list[PositiveInt], Field(min_length=1), BeforeValidator(tuple_as_text)]
IntOrPair = Annotated[Union[PositiveInt, Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]],
                      BeforeValidator(tuple_as_text)]
Padding = Literal["valid", "same"]
DataFormat = Optional[Literal["channels_last", "channels_first"]]
Axis = int
