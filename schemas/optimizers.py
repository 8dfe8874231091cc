"""Optimizers: `adam`, `{Adam: 0.01}` or `{Adam: {learning_rate: 1.0e-3}}` (Keras class names).

A learning rate is a number or a schedule (`schemas.schedules`): `{AdamW: {learning_rate: {CosineDecay: ...}}}`.
"""

from typing import Annotated, Optional

from pydantic import Field

from schemas.base import KerasArgs, lazy_keras_union
from schemas.schedules import LearningRate
from schemas.types import NonNegativeFloat, PositiveFloat, PositiveInt, Rate


class Optimizer(KerasArgs):
    """Base of the optimizer argument models: what every Keras optimizer takes."""
    main_argument = "learning_rate"
    learning_rate: LearningRate = Field(0.001, description="step size: a number or a schedule")
    weight_decay: Optional[NonNegativeFloat] = Field(None, description="decoupled weight decay")
    clipnorm: Optional[PositiveFloat] = Field(None, description="clip each gradient to this norm")
    clipvalue: Optional[PositiveFloat] = Field(None, description="clip each gradient value to +-this")
    global_clipnorm: Optional[PositiveFloat] = Field(None, description="clip all gradients to this global norm")
    use_ema: bool = Field(False, description="keep an exponential moving average of the weights "
                                             "(SwapEMAWeights evaluates with it)")
    ema_momentum: Rate = Field(0.99, description="momentum of the moving average, with use_ema")
    ema_overwrite_frequency: Optional[PositiveInt] = Field(
        None, description="every this many steps, overwrite the weights with their moving average (use_ema)")
    loss_scale_factor: Optional[PositiveFloat] = Field(
        None, description="multiply the loss by this before computing gradients (and divide them back)")
    gradient_accumulation_steps: Optional[Annotated[int, Field(ge=2)]] = Field(
        None, description="apply the gradients of this many batches at once")


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum."""
    learning_rate: LearningRate = Field(0.01, description="step size: a number or a schedule")
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

# Lazy: each optimizer holds the learning-rate union (a number or any schedule); building all nine
# for every `factory validate` cost a fifth of its time, and a spec uses one or two.
_BY_NAME = {cls.__name__: cls for cls in OPTIMIZERS}
OptimizerSpec = lazy_keras_union("optimizer", tuple(_BY_NAME), _BY_NAME.__getitem__, OPTIMIZER_ALIASES)
