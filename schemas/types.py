"""Constrained value types shared by the spec models (positive counts, rates, shapes, ...)."""

from typing import Annotated, Literal, Optional, Union

from pydantic import Field

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Seed = Annotated[int, Field(ge=0, description="random seed")]
Finite = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
Shape = Annotated[list[PositiveInt], Field(min_length=1)]
IntOrPair = Union[PositiveInt, Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]]
Padding = Literal["valid", "same"]
DataFormat = Optional[Literal["channels_last", "channels_first"]]
Axis = int
