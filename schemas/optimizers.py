"""Optimizers: `adam`, `{Adam: 0.01}` or `{Adam: {learning_rate: 1.0e-3}}` (Keras class names)."""

from typing import Optional

from pydantic import Field

from schemas.base import KerasArgs, keras_union
from schemas.types import NonNegativeFloat, PositiveFloat, Rate


class Optimizer(KerasArgs):
    """Base of the optimizer argument models: what every Keras optimizer takes."""
    main_argument = "learning_rate"
    learning_rate: PositiveFloat = Field(0.001, description="step size")
    weight_decay: Optional[NonNegativeFloat] = Field(None, description="decoupled weight decay")
    clipnorm: Optional[PositiveFloat] = Field(None, description="clip each gradient to this norm")
    clipvalue: Optional[PositiveFloat] = Field(None, description="clip each gradient value to +-this")
    global_clipnorm: Optional[PositiveFloat] = Field(None, description="clip all gradients to this global norm")


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum."""
    learning_rate: PositiveFloat = Field(0.01, description="step size")
    momentum: NonNegativeFloat = Field(0.0, description="momentum factor")
    nesterov: bool = Field(False, description="use Nesterov momentum")


class Adam(Optimizer):
    """Adam."""
    beta_1: Rate = Field(0.9, description="decay of the first-moment estimate")
    beta_2: Rate = Field(0.999, description="decay of the second-moment estimate")
    epsilon: PositiveFloat = Field(1e-7, description="numerical stability constant")
    amsgrad: bool = Field(False, description="use the AMSGrad variant")


class AdamW(Adam):
    """Adam with decoupled weight decay."""
    weight_decay: NonNegativeFloat = Field(0.004, description="decoupled weight decay")


class RMSprop(Optimizer):
    """RMSprop; Keras's default optimizer in `compile`."""
    rho: Rate = Field(0.9, description="decay of the squared-gradient average")
    momentum: NonNegativeFloat = Field(0.0, description="momentum factor")
    epsilon: PositiveFloat = Field(1e-7, description="numerical stability constant")
    centered: bool = Field(False, description="normalize by the gradient's estimated variance")


class Adagrad(Optimizer):
    """Adagrad."""
    initial_accumulator_value: NonNegativeFloat = Field(0.1, description="starting accumulator value")
    epsilon: PositiveFloat = Field(1e-7, description="numerical stability constant")


class Adadelta(Optimizer):
    """Adadelta."""
    rho: Rate = Field(0.95, description="decay rate")
    epsilon: PositiveFloat = Field(1e-7, description="numerical stability constant")


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm)."""
    beta_1: Rate = Field(0.9, description="decay of the first-moment estimate")
    beta_2: Rate = Field(0.999, description="decay of the weighted infinity norm")
    epsilon: PositiveFloat = Field(1e-7, description="numerical stability constant")


class Nadam(Optimizer):
    """Adam with Nesterov momentum."""
    beta_1: Rate = Field(0.9, description="decay of the first-moment estimate")
    beta_2: Rate = Field(0.999, description="decay of the second-moment estimate")
    epsilon: PositiveFloat = Field(1e-7, description="numerical stability constant")


class Lion(Optimizer):
    """Lion (sign of interpolated momentum)."""
    beta_1: Rate = Field(0.9, description="interpolation factor of the update")
    beta_2: Rate = Field(0.99, description="decay of the momentum")


OPTIMIZERS = (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Lion)

# Keras's string names (`optimizer="adam"`).
OPTIMIZER_ALIASES = {cls.__name__.lower(): cls.__name__ for cls in OPTIMIZERS}

OptimizerSpec = keras_union("optimizer", OPTIMIZERS, OPTIMIZER_ALIASES)
