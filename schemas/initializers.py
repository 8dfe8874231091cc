"""Weight initializers: `he_normal`, `HeNormal`, or `{HeNormal: {seed: 42}}` (Keras class names)."""

from typing import Literal, Optional

from pydantic import Field

from schemas.base import KerasArgs, keras_union
from schemas.types import Finite, PositiveFloat, Seed


class Initializer(KerasArgs):
    """Base of the initializer argument models."""


class Zeros(Initializer):
    """All zeros."""


class Ones(Initializer):
    """All ones."""


class Constant(Initializer):
    """A constant value."""
    main_argument = "value"
    value: Finite = Field(description="the value of every weight")  # Keras cannot rebuild a Constant without it


class Seeded(Initializer):
    """The seed every random initializer takes (not an initializer itself)."""
    seed: Optional[Seed] = None


class Normal(Seeded):
    """The arguments of the normal initializers (not an initializer itself)."""
    mean: Finite = Field(0.0, description="mean")
    stddev: PositiveFloat = Field(0.05, description="standard deviation")


class RandomNormal(Normal):
    """Normal distribution."""


class RandomUniform(Seeded):
    """Uniform distribution on [minval, maxval]."""
    minval: Finite = Field(-0.05, description="lower bound")
    maxval: Finite = Field(0.05, description="upper bound")


class TruncatedNormal(Normal):
    """Normal distribution cut at two standard deviations."""


class GlorotNormal(Seeded):
    """Glorot (Xavier) normal: stddev sqrt(2 / (fan_in + fan_out))."""


class GlorotUniform(Seeded):
    """Glorot (Xavier) uniform; the default of Dense and Conv2D kernels."""


class HeNormal(Seeded):
    """He normal: stddev sqrt(2 / fan_in); suits ReLU."""


class HeUniform(Seeded):
    """He uniform: limit sqrt(6 / fan_in)."""


class LecunNormal(Seeded):
    """LeCun normal: stddev sqrt(1 / fan_in); suits SELU."""


class LecunUniform(Seeded):
    """LeCun uniform: limit sqrt(3 / fan_in)."""


class VarianceScaling(Seeded):
    """The general form of the Glorot, He and LeCun initializers."""
    scale: PositiveFloat = Field(1.0, description="scaling factor")
    mode: Literal["fan_in", "fan_out", "fan_avg"] = Field("fan_in", description="which fan to scale by")
    distribution: Literal["truncated_normal", "untruncated_normal", "uniform"] = Field(
        "truncated_normal", description="the distribution drawn from")


class Orthogonal(Seeded):
    """A random orthogonal matrix."""
    gain: Finite = Field(1.0, description="multiplicative factor")


class Identity(Initializer):
    """The identity matrix (2D weights only)."""
    gain: Finite = Field(1.0, description="multiplicative factor")


INITIALIZERS = (Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, GlorotNormal,
                GlorotUniform, HeNormal, HeUniform, LecunNormal, LecunUniform, VarianceScaling,
                Orthogonal, Identity)

# The snake_case names Keras also accepts (`kernel_initializer="he_normal"`).
INITIALIZER_ALIASES = {
    "zeros": "Zeros", "zero": "Zeros", "ones": "Ones", "one": "Ones", "constant": "Constant",
    "random_normal": "RandomNormal", "normal": "RandomNormal", "random_uniform": "RandomUniform",
    "uniform": "RandomUniform", "truncated_normal": "TruncatedNormal",
    "glorot_normal": "GlorotNormal", "glorot_uniform": "GlorotUniform", "he_normal": "HeNormal",
    "he_uniform": "HeUniform", "lecun_normal": "LecunNormal", "lecun_uniform": "LecunUniform",
    "variance_scaling": "VarianceScaling", "orthogonal": "Orthogonal", "identity": "Identity",
}

InitializerSpec = keras_union("initializer", INITIALIZERS, INITIALIZER_ALIASES)
