"""Weight constraints: `non_neg`, `{MaxNorm: 3}`, `{MinMaxNorm: {min_value: 0, max_value: 1}}` (Keras class names)."""

from typing import Annotated, Union

from pydantic import Field

from schemas.base import KerasArgs, keras_union
from schemas.types import Finite, NonNegativeFloat, PositiveFloat

# The axis (or axes) over which a norm is computed: 0 for a Dense kernel's columns, [0, 1, 2] for a Conv2D's filters
NormAxis = Union[int, Annotated[list[int], Field(min_length=1)]]


class Constraint(KerasArgs):
    """Base of the constraint argument models."""


class MaxNorm(Constraint):
    """Rescales each weight vector whose norm exceeds `max_value` back to that norm."""
    main_argument = "max_value"
    max_value: PositiveFloat = Field(2, description="the largest norm a weight vector may have")
    axis: NormAxis = Field(0, description="the axis (or axes) the norm is computed over")


class MinMaxNorm(Constraint):
    """Keeps the norm of each weight vector between `min_value` and `max_value`."""
    min_value: NonNegativeFloat = Field(0.0, description="the smallest norm")
    max_value: NonNegativeFloat = Field(1.0, description="the largest norm")
    rate: Annotated[Finite, Field(ge=0, le=1)] = Field(
        1.0, description="1 applies the constraint at once; less moves the norm part of the way each step")
    axis: NormAxis = Field(0, description="the axis (or axes) the norm is computed over")


class NonNeg(Constraint):
    """Sets negative weights to zero."""


class UnitNorm(Constraint):
    """Rescales each weight vector to norm 1."""
    main_argument = "axis"
    axis: NormAxis = Field(0, description="the axis (or axes) the norm is computed over")


CONSTRAINTS = (MaxNorm, MinMaxNorm, NonNeg, UnitNorm)

# The snake_case names Keras also accepts (`kernel_constraint="non_neg"`).
CONSTRAINT_ALIASES = {"max_norm": "MaxNorm", "min_max_norm": "MinMaxNorm", "non_neg": "NonNeg",
                      "unit_norm": "UnitNorm"}

ConstraintSpec = keras_union("constraint", CONSTRAINTS, CONSTRAINT_ALIASES)
