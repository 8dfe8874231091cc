"""Layers, keyed by their Keras class names: `Dense: 64`, `Dropout: 0.25`, `{Conv2D: {filters: 32, ...}}`.

Every built-in Keras layer that takes no Python code is here. The layers of the first version and
those that hold other layers (Bidirectional, TimeDistributed) are written by hand below; all the
others come from `schemas/layers_keras.py`, a table generated from Keras's own signatures by
`tools/generate_layers.py` (plain data: validation never imports TensorFlow). A new Keras
release's layer is added by running that tool (adding any new argument name to its type table)
and committing the regenerated table; `tests/test_keras_drift.py` checks every entry's names,
defaults and that it builds. A hand-written class is one class here, named after the Keras class,
fields named after its arguments with Keras's defaults, and one entry in `HAND_WRITTEN`.
"""

from typing import Annotated, Any, Literal, Optional

from pydantic import BeforeValidator, Field

from schemas import layers_keras, names
from schemas.base import KerasArgs, keras_union, names as name_type
from schemas.constraints import ConstraintSpec
from schemas.initializers import InitializerSpec
from schemas.legacy import tuple_as_text
from schemas.regularizers import RegularizerSpec
from schemas.layers_types import ARGUMENT_TYPES
from schemas.types import (Axis, DataFormat, Finite, IntOrPair, NonNegativeFloat, Padding,
                           PositiveFloat, PositiveInt, Rate, Seed, Shape)

ActivationName = name_type("activation", names.ACTIVATIONS)
Initializer = InitializerSpec
Regularizer = Optional[RegularizerSpec]
Constraint = Optional[ConstraintSpec]


class Layer(KerasArgs):
    """Base of the layer argument models: what every Keras layer takes."""

    spec_only = frozenset({"input_shape"})
    name: Optional[str] = Field(None, description="the layer's name (Keras makes one if not given)")
    trainable: bool = Field(True, description="whether training updates the layer's weights")
    input_shape: Optional[Shape] = Field(
        None, description="Keras 2 style input shape, without the batch axis; accepted on the first "
                          "layer only, where it becomes the model's Input")


class Input(Layer):
    """The model's input: its shape without the batch axis (`Input: [28, 28]`)."""
    keras_class = "InputLayer"
    main_argument = "shape"
    shape: Shape = Field(description="input shape without the batch axis")


class Flatten(Layer):
    """Flattens every axis but the batch axis."""
    data_format: DataFormat = Field(None, description="channels_last or channels_first")


class Dense(Layer):
    """Fully connected layer: activation(x @ kernel + bias)."""
    main_argument = "units"
    units: PositiveInt = Field(description="number of output units")
    activation: Optional[ActivationName] = Field(None, description="activation; none (linear) if not given")
    use_bias: bool = Field(True, description="whether to add a bias")
    kernel_initializer: Initializer = Field("glorot_uniform", description="initializer of the kernel")
    bias_initializer: Initializer = Field("zeros", description="initializer of the bias")
    kernel_regularizer: Regularizer = Field(None, description="penalty on the kernel")
    bias_regularizer: Regularizer = Field(None, description="penalty on the bias")
    activity_regularizer: Regularizer = Field(None, description="penalty on the output")
    kernel_constraint: Constraint = Field(None, description="constraint on the kernel after each update")
    bias_constraint: Constraint = Field(None, description="constraint on the bias after each update")


class Dropout(Layer):
    """Sets a fraction `rate` of inputs to zero during training."""
    main_argument = "rate"
    rate: Rate = Field(description="fraction of inputs dropped, in [0, 1)")
    noise_shape: Optional[list[PositiveInt]] = Field(None, description="shape of the dropout mask")
    seed: Optional[Seed] = None


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise during training."""
    main_argument = "stddev"
    stddev: NonNegativeFloat = Field(description="standard deviation of the noise")
    seed: Optional[Seed] = None


class BatchNormalization(Layer):
    """Normalizes each feature over the batch, then scales and shifts it."""
    axis: Axis = Field(-1, description="the feature axis")
    momentum: Rate = Field(0.99, description="momentum of the moving averages")
    epsilon: PositiveFloat = Field(0.001, description="added to the variance for stability")
    center: bool = Field(True, description="learn an offset (beta)")
    scale: bool = Field(True, description="learn a scale (gamma)")
    beta_initializer: Initializer = Field("zeros", description="initializer of beta")
    gamma_initializer: Initializer = Field("ones", description="initializer of gamma")
    moving_mean_initializer: Initializer = Field("zeros", description="initializer of the moving mean")
    moving_variance_initializer: Initializer = Field("ones", description="initializer of the moving variance")
    beta_regularizer: Regularizer = Field(None, description="penalty on beta")
    gamma_regularizer: Regularizer = Field(None, description="penalty on gamma")
    beta_constraint: Constraint = Field(None, description="constraint on beta after each update")
    gamma_constraint: Constraint = Field(None, description="constraint on gamma after each update")
    renorm: bool = Field(False, description="batch renormalization: correct the batch statistics towards the moving ones")
    renorm_clipping: ARGUMENT_TYPES["RenormClipping"] = Field(
        None, description="with renorm: bounds of the corrections, keys rmax, rmin, dmax")
    renorm_momentum: Rate = Field(0.99, description="with renorm: momentum of the statistics it corrects towards")
    synchronized: bool = Field(False, description="under a distribution strategy, statistics over every replica's batch")


class LayerNormalization(Layer):
    """Normalizes each example over its features."""
    axis: Axis = Field(-1, description="the axis normalized")
    epsilon: PositiveFloat = Field(0.001, description="added to the variance for stability")
    center: bool = Field(True, description="learn an offset (beta)")
    scale: bool = Field(True, description="learn a scale (gamma)")
    beta_initializer: Initializer = Field("zeros", description="initializer of beta")
    gamma_initializer: Initializer = Field("ones", description="initializer of gamma")
    beta_regularizer: Regularizer = Field(None, description="penalty on beta")
    gamma_regularizer: Regularizer = Field(None, description="penalty on gamma")
    beta_constraint: Constraint = Field(None, description="constraint on beta after each update")
    gamma_constraint: Constraint = Field(None, description="constraint on gamma after each update")


class Activation(Layer):
    """Applies an activation function (`Activation: relu`)."""
    main_argument = "activation"
    activation: ActivationName = Field(description="the activation function")


class ReLU(Layer):
    """Rectified linear unit, optionally capped and leaky."""
    max_value: Optional[NonNegativeFloat] = Field(None, description="upper cap of the output")
    negative_slope: NonNegativeFloat = Field(0.0, description="slope below the threshold")
    threshold: Finite = Field(0.0, description="values below this are damped")


class LeakyReLU(Layer):
    """ReLU with a small slope for negative inputs (`LeakyReLU: 0.2`; Keras 2's `alpha` is accepted)."""
    main_argument = "negative_slope"
    negative_slope: NonNegativeFloat = Field(0.3, description="slope for negative inputs")


class ELU(Layer):
    """Exponential linear unit."""
    main_argument = "alpha"
    alpha: Finite = Field(1.0, description="scale of the negative part")


class PReLU(Layer):
    """Leaky ReLU with a learned slope."""
    alpha_initializer: Initializer = Field("Zeros", description="initializer of the slopes")
    alpha_regularizer: Regularizer = Field(None, description="penalty on the slopes")
    alpha_constraint: Constraint = Field(None, description="constraint on the slopes after each update")
    shared_axes: Optional[list[PositiveInt]] = Field(None, description="axes that share one slope")


class Softmax(Layer):
    """Softmax over an axis."""
    main_argument = "axis"
    axis: Axis = Field(-1, description="the axis normalized")


class Reshape(Layer):
    """Reshapes to `target_shape` (without the batch axis; one entry may be -1)."""
    main_argument = "target_shape"
    target_shape: Annotated[list[int], BeforeValidator(tuple_as_text)] = Field(
        min_length=1, description="the new shape; -1 once for 'the rest'")


class Conv2D(Layer):
    """2D convolution over (height, width, channels) inputs."""
    main_argument = "filters"
    filters: PositiveInt = Field(description="number of output channels")
    kernel_size: IntOrPair = Field(description="height and width of the window (one number for both)")
    strides: IntOrPair = Field(1, description="step of the window")
    padding: Padding = Field("valid", description="valid (no padding) or same")
    data_format: DataFormat = Field(None, description="channels_last or channels_first")
    dilation_rate: IntOrPair = Field(1, description="dilation of the window")
    groups: PositiveInt = Field(1, description="number of channel groups")
    activation: Optional[ActivationName] = Field(None, description="activation; none (linear) if not given")
    use_bias: bool = Field(True, description="whether to add a bias")
    kernel_initializer: Initializer = Field("glorot_uniform", description="initializer of the kernel")
    bias_initializer: Initializer = Field("zeros", description="initializer of the bias")
    kernel_regularizer: Regularizer = Field(None, description="penalty on the kernel")
    bias_regularizer: Regularizer = Field(None, description="penalty on the bias")
    activity_regularizer: Regularizer = Field(None, description="penalty on the output")
    kernel_constraint: Constraint = Field(None, description="constraint on the kernel after each update")
    bias_constraint: Constraint = Field(None, description="constraint on the bias after each update")


class Pooling2D(Layer):
    """The arguments Keras's 2D pooling layers share (not a layer itself)."""
    main_argument = "pool_size"
    pool_size: IntOrPair = Field(2, description="height and width of the window")
    strides: Optional[IntOrPair] = Field(None, description="step of the window (pool_size if not given)")
    padding: Padding = Field("valid", description="valid (no padding) or same")
    data_format: DataFormat = Field(None, description="channels_last or channels_first")


class MaxPooling2D(Pooling2D):
    """Maximum over windows."""


class AveragePooling2D(Pooling2D):
    """Average over windows."""
    pool_size: IntOrPair = Field(description="height and width of the window (Keras gives it no default)")


class GlobalPooling2D(Layer):
    """The arguments Keras's global 2D pooling layers share (not a layer itself)."""
    data_format: DataFormat = Field(None, description="channels_last or channels_first")
    keepdims: bool = Field(False, description="keep the pooled axes with length 1")


class GlobalAveragePooling2D(GlobalPooling2D):
    """Average over height and width."""


class GlobalMaxPooling2D(GlobalPooling2D):
    """Maximum over height and width."""


class Wrapper(Layer):
    """The argument of the layers that hold another layer (not a layer itself)."""
    layer: "LayerSpec" = Field(description="the layer it holds, written as any layer: `{LSTM: {units: 32}}`")


class Bidirectional(Wrapper):
    """Runs a recurrent layer forwards and backwards and merges the two outputs."""
    merge_mode: Optional[Literal["sum", "mul", "concat", "ave"]] = Field(
        "concat", description="how the two directions' outputs are merged (none: a list of both)")


class TimeDistributed(Wrapper):
    """Applies its layer to every time step (axis 1) of the input."""


class SpectralNormalization(Wrapper):
    """Divides its layer's kernel by the kernel's largest singular value (spectral norm) at each step."""
    power_iterations: PositiveInt = Field(1, description="power-iteration steps per update of the norm estimate")


HAND_WRITTEN = (Input, Flatten, Dense, Dropout, GaussianNoise, BatchNormalization, LayerNormalization,
                Activation, ReLU, LeakyReLU, ELU, PReLU, Softmax, Reshape, Conv2D, MaxPooling2D,
                AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Bidirectional, TimeDistributed,
                SpectralNormalization)


def _generated(name: str, summary: str, main: Optional[str], arguments: tuple) -> type[Layer]:
    """The spec class of one entry of schemas/layers_keras.py."""
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": name, "__doc__": summary,
                                 "main_argument": main, "__annotations__": {}}
    for arg, type_name, default, description in arguments:
        namespace["__annotations__"][arg] = ARGUMENT_TYPES[type_name]
        namespace[arg] = Field(default, description=description or arg.replace("_", " "))
    return type(name, (Layer,), namespace)


GENERATED = tuple(_generated(name, *entry) for name, entry in layers_keras.LAYERS.items())
LAYERS = HAND_WRITTEN + GENERATED
# Keras's other names of the same classes (MaxPool2D, Convolution1D, ...), and the names it also exports
LAYER_ALIASES = dict(layers_keras.ALIASES)

LayerSpec = keras_union("layer", LAYERS, LAYER_ALIASES, refused=layers_keras.EXCLUDED)
