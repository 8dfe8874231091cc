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

import functools
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BeforeValidator, Field, model_validator

from schemas import constructs, layers_keras
from schemas.base import KerasArgs, args_class, fail_at, lazy_keras_union
from schemas.constraints import ConstraintSpec
from schemas.initializers import InitializerSpec
from schemas.legacy import tuple_as_text
from schemas.regularizers import RegularizerSpec
from schemas.layers_types import ARGUMENT_TYPES, ActivationName
from schemas.types import (Axis, DataFormat, Finite, IntOrPair, NonNegativeFloat, Padding,
                           PositiveFloat, PositiveInt, Rate, Seed, Shape)


Initializer = InitializerSpec
Regularizer = Optional[RegularizerSpec]
LayerName = Annotated[str, Field(min_length=1, description="a layer's or an input's name")]
Constraint = Optional[ConstraintSpec]
RenormClipping = ARGUMENT_TYPES["RenormClipping"]
Groups = ARGUMENT_TYPES["Groups"]  # filters must divide by it


class Layer(KerasArgs):
    """Base of the layer argument models: what every Keras layer takes."""

    spec_only = frozenset({"input_shape", "from_"})
    name: Optional[str] = Field(None, description="the layer's name (Keras makes one if not given)")
    trainable: bool = Field(True, description="whether training updates the layer's weights")
    input_shape: Optional[Shape] = Field(
        None, description="Keras 2 style input shape, without the batch axis; accepted on the first "
                          "layer only, where it becomes the model's Input")
    from_: Optional[Union[LayerName, Annotated[list[LayerName], Field(min_length=1)]]] = Field(
        None, alias="from", description="the layer or input (a list of them for a merging layer) whose "
                                        "output this layer takes; the previous layer's if not given")

    def keras_arguments(self) -> dict[str, Any]:
        """As `KerasArgs.keras_arguments`, with the lists Keras takes only as tuples made tuples (TextVectorization's
        `ngrams: [1, 2]`: "ngrams must be None, an integer, or a tuple of integers")."""
        arguments = super().keras_arguments()
        return {k: tuple(v) if k in _TUPLE_ONLY and isinstance(v, list) else v for k, v in arguments.items()}


_TUPLE_ONLY = frozenset({"ngrams"})


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


# positive lengths, or null where the mask takes the input's own length (the batch axis): Keras's None
NoiseShape = ARGUMENT_TYPES["NoiseShape"]


class Dropout(Layer):
    """Sets a fraction `rate` of inputs to zero during training."""
    main_argument = "rate"
    rate: Rate = Field(description="fraction of inputs dropped, in [0, 1)")
    noise_shape: NoiseShape = Field(None, description="shape of the dropout mask; null for an axis as long as "
                                                      "the input's ([null, 1, 1, 1]: whole examples dropped)")
    seed: Optional[Seed] = None


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise during training."""
    main_argument = "stddev"
    stddev: Annotated[float, Field(ge=0, le=1)] = Field(description="standard deviation of the noise, "
                                                                    "0 to 1 (Keras refuses more)")
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
    renorm_clipping: RenormClipping = Field(
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
    threshold: NonNegativeFloat = Field(0.0, description="values below this are damped (0 or more: Keras "
                                                         "refuses a negative one)")


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
    groups: Groups = Field(1, description="number of channel groups; filters (and the "
                                                            "input channels) must divide by it")
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

    @model_validator(mode="after")
    def _held_layer(self) -> "Wrapper":
        """The held layer is called by the wrapper, never on the model's input: an Input or an `input_shape`
        there would be dropped without a word."""
        args, key = self.layer.args, next(iter(self.layer.model_fields_set))
        wrapper = type(self).__name__
        if isinstance(args, Input):
            fail_at([(("layer", key), f"{wrapper} cannot hold an Input: write the Input as the model's first "
                                      "layer, before the wrapper")])
        if args.input_shape is not None:
            fail_at([(("layer", key, "input_shape"), f"input_shape belongs on the model or on the {wrapper} "
                                                     "itself, not on the layer it holds")])
        return self


# Merging layers: they take a list of inputs (`from: [a, b]`), so a model using one is a graph.
# `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum` combine inputs of one shape element
# by element; `Concatenate` joins them along an axis; `Dot` takes the dot product of two along axes.

class Merge(Layer):
    """The arguments Keras's merging layers share (not a layer itself)."""


class Add(Merge):
    """Sum of the inputs, element by element (all of one shape)."""


class Subtract(Merge):
    """The first input minus the second (exactly two, of one shape)."""


class Multiply(Merge):
    """Product of the inputs, element by element (all of one shape)."""


class Average(Merge):
    """Mean of the inputs, element by element (all of one shape)."""


class Maximum(Merge):
    """Maximum of the inputs, element by element (all of one shape)."""


class Minimum(Merge):
    """Minimum of the inputs, element by element (all of one shape)."""


class Concatenate(Merge):
    """The inputs joined along `axis` (equal on every other axis)."""
    main_argument = "axis"
    axis: Axis = Field(-1, description="the axis joined along")


DotAxes = Union[int, Annotated[list[int], Field(min_length=2, max_length=2)]]


class Dot(Merge):
    """Dot product of two inputs along `axes` (one axis for both, or one per input)."""
    main_argument = "axes"
    axes: DotAxes = Field(description="the axis (or [axis of the first, axis of the second]) summed over")
    normalize: bool = Field(False, description="L2-normalize along `axes` first (cosine similarity)")


MERGING_LAYERS = (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot)

class Bidirectional(Wrapper):
    """Runs a recurrent layer forwards and backwards and merges the two outputs."""
    merge_mode: Optional[Literal["sum", "mul", "concat", "ave"]] = Field(
        "concat", description="how the two directions' outputs are merged (none: a list of both)")

    @model_validator(mode="after")
    def _recurrent(self) -> "Bidirectional":
        """Keras runs only a recurrent layer backwards (anything else fails deep in its constructor)."""
        held = self.layer.args.keras_class
        if held not in RECURRENT_LAYERS:
            fail_at([(("layer", next(iter(self.layer.model_fields_set))),
                      f"Bidirectional holds a recurrent layer ({', '.join(RECURRENT_LAYERS)}), not {held}")])
        return self


RECURRENT_LAYERS = ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")


class TimeDistributed(Wrapper):
    """Applies its layer to every time step (axis 1) of the input."""


class SpectralNormalization(Wrapper):
    """Divides its layer's kernel by the kernel's largest singular value (spectral norm) at each step."""
    power_iterations: PositiveInt = Field(1, description="power-iteration steps per update of the norm estimate")


HAND_WRITTEN = (Input, Flatten, Dense, Dropout, GaussianNoise, BatchNormalization, LayerNormalization,
                Activation, ReLU, LeakyReLU, ELU, PReLU, Softmax, Reshape, Conv2D, MaxPooling2D,
                AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Bidirectional, TimeDistributed,
                SpectralNormalization)


_BY_NAME = {cls.__name__: cls for cls in HAND_WRITTEN + MERGING_LAYERS + constructs.CONSTRUCTS}
LAYER_NAMES = tuple(_BY_NAME) + tuple(layers_keras.LAYERS)
# Keras's other names of the same classes (MaxPool2D, Convolution1D, ...)
LAYER_ALIASES = dict(layers_keras.ALIASES)
# What a scalar sets, by every name a layer is written with (`Dense: 64`), without building any class
LAYER_MAIN_ARGUMENTS = {**{n: c.main_argument for n, c in _BY_NAME.items()},
                        **{n: entry[1] for n, entry in layers_keras.LAYERS.items()}}
LAYER_MAIN_ARGUMENTS.update({alias: LAYER_MAIN_ARGUMENTS[name] for alias, name in LAYER_ALIASES.items()})


@functools.cache
def layer_class(name: str) -> type[Layer]:
    """The spec class of the layer `name` (a class name, not an alias), built on first use."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    return args_class(Layer, name, *layers_keras.LAYERS[name], types=ARGUMENT_TYPES, module=__name__)


# Built lazily: the ~120 layer classes and their validators cost more than all the rest of
# `factory validate`, and a spec uses a few of them.
LayerSpec = lazy_keras_union("layer", LAYER_NAMES, layer_class, {**LAYER_ALIASES, **constructs.CONSTRUCT_ALIASES},
                             refused=layers_keras.EXCLUDED)
constructs.resolve_layer_spec(LayerSpec)
for _wrapper in (Wrapper, Bidirectional, TimeDistributed, SpectralNormalization):
    _wrapper.model_rebuild()  # resolves `layer: "LayerSpec"` (cheap: the union is lazy)


def __getattr__(name: str) -> Any:
    """`LAYERS`, every Keras layer's spec class (not the constructs), built on first access (export and
    the drift test use it)."""
    if name == "LAYERS":
        return tuple(layer_class(n) for n in LAYER_NAMES if n not in constructs.CONSTRUCT_ALIASES.values())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
