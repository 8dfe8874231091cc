"""Weight regularizers: `l2`, `{l1: 0.1}`, or `{L1L2: {l1: 0.01, l2: 0.001}}` (Keras class names)."""

from typing import Literal

from pydantic import Field

from schemas.base import KerasArgs, keras_union
from schemas.types import NonNegativeFloat


class Regularizer(KerasArgs):
    """Base of the regularizer argument models."""


class L1(Regularizer):
    """L1 penalty: l1 * sum(|w|)."""
    main_argument = "l1"
    l1: NonNegativeFloat = Field(0.01, description="strength of the L1 penalty")


class L2(Regularizer):
    """L2 penalty: l2 * sum(w ** 2)."""
    main_argument = "l2"
    l2: NonNegativeFloat = Field(0.01, description="strength of the L2 penalty")


class L1L2(Regularizer):
    """Both penalties: l1 * sum(|w|) + l2 * sum(w ** 2)."""
    l1: NonNegativeFloat = Field(0.0, description="strength of the L1 penalty")
    l2: NonNegativeFloat = Field(0.0, description="strength of the L2 penalty")


class OrthogonalRegularizer(Regularizer):
    """Encourages orthogonal rows (or columns) of the weights."""
    main_argument = "factor"
    factor: NonNegativeFloat = Field(0.01, description="strength of the penalty")
    mode: Literal["rows", "columns"] = Field("rows", description="which vectors to make orthogonal")


REGULARIZERS = (L1, L2, L1L2, OrthogonalRegularizer)

# Lower-case names from Keras and from books; `l1_l2` (Keras 2's function) becomes L1L2.
REGULARIZER_ALIASES = {"l1": "L1", "l2": "L2", "l1_l2": "L1L2", "l1l2": "L1L2",
                       "orthogonal_regularizer": "OrthogonalRegularizer"}

RegularizerSpec = keras_union("regularizer", REGULARIZERS, REGULARIZER_ALIASES)
