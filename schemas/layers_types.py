"""The argument types of the generated layers (schemas/layers_keras.py names them by these keys).

`ARGUMENT_TYPES` maps a type name to its annotation; `tools/generate_layers.py` picks the name for
each Keras argument from its own table (by argument name, by class and argument, or by the type
of the Keras default), so the generated table stays plain data and this is the one place where a
type is defined. Some types carry a rule Keras checks only when it builds the layer (a factor's range,
Normalization's mean with its variance, groups dividing filters): they raise it in Keras's words at
validation, located at the argument (see "Rules Keras's constructors check" below).
"""

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, WithJsonSchema

from schemas import names
from schemas.base import names as name_type
from schemas.constraints import ConstraintSpec
from schemas.initializers import InitializerSpec
from schemas.legacy import tuple_as_text
from schemas.regularizers import RegularizerSpec
from schemas.types import (DataFormat, Finite, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt,
                           Rate, Seed)


def _tuple_ok(tp: Any) -> Any:
    """`tp` with Python's tuple syntax refused with "write a list" (YAML reads `(3, 3)` as text)."""
    return Annotated[tp, BeforeValidator(tuple_as_text)]


ActivationName = name_type("activation", names.ACTIVATIONS, refused={
    name: "needs arguments besides the input, which a name cannot give (Keras fails at the first call); "
          "use the layer `ReLU: {threshold: ...}`" for name in names.ACTIVATIONS_WITH_ARGUMENTS})
Ints = Annotated[list[int], Field(min_length=1)]
PositiveInts = Annotated[list[PositiveInt], Field(min_length=1)]
# one number for every spatial axis, or one per axis
IntOrTuple = _tuple_ok(Union[PositiveInt, PositiveInts])
NonNegativeIntOrTuple = _tuple_ok(Union[NonNegativeInt, Annotated[list[NonNegativeInt], Field(min_length=1)]])
# ZeroPadding / Cropping: one number, one per axis, or a (before, after) pair per axis
PairPerAxis = _tuple_ok(Union[NonNegativeInt, list[Union[NonNegativeInt,
                                                          Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]]]])
# kernel_size, strides, pool_size, dilation_rate of a 1D / 2D / 3D layer: one number or one per spatial axis
IntOrTuple1, IntOrTuple2, IntOrTuple3 = (
    _tuple_ok(Union[PositiveInt, Annotated[list[PositiveInt], Field(min_length=n, max_length=n)]]) for n in (1, 2, 3))
_Pair = Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]
# of a 1D layer: one number or (before, after); of a 2D / 3D one: one number, one per axis, or a pair per axis
PairPerAxis1 = _tuple_ok(Union[NonNegativeInt, _Pair])
PairPerAxis2, PairPerAxis3 = (
    _tuple_ok(Union[NonNegativeInt, Annotated[list[NonNegativeInt], Field(min_length=n, max_length=n)],
                    Annotated[list[_Pair], Field(min_length=n, max_length=n)]]) for n in (2, 3))
Range = Annotated[list[Finite], Field(min_length=2, max_length=2)]
# a random layer's factor: one number f for [-f, f] (or [0, f]), or the [lower, upper] pair
Factor = _tuple_ok(Union[Finite, Range])
# Resizing, UpSampling2D (Keras's list also has gaussian, lanczos, mitchellcubic: refused when called)
Interpolation = Literal["nearest", "bilinear", "bicubic", "area", "lanczos3", "lanczos5"]


# --- Rules Keras's constructors check between arguments or on a value's range, checked here so that
# `factory validate` reports them at the argument (found by probing every layer with values the types
# accept; tests/test_layer_rules.py runs that probe against the installed Keras). A rule that reads
# another argument sees it through `info.data` when it comes earlier in the signature and was valid.


def _earlier(info: ValidationInfo, name: str) -> tuple[bool, Any]:
    """(whether `name`, an earlier argument, is known and valid, its value)."""
    return name in info.data, info.data.get(name)


def _shape(value: Any) -> tuple:
    return (len(value),) if isinstance(value, list) else ()


def _variance_with_mean(variance: Any, info: ValidationInfo) -> Any:
    known, mean = _earlier(info, "mean")
    if not known:
        return variance
    if (mean is None) != (variance is None):
        raise ValueError("When setting values directly, both `mean` and `variance` must be set. "
                         f"Received: mean={mean} and variance={variance}")
    if mean is not None and _shape(mean) != _shape(variance):
        raise ValueError("When setting values directly, `mean` and `variance` must have the same shape. "
                         f"Received: mean shape {_shape(mean)} and variance shape {_shape(variance)}")
    return variance


# Normalization's variance: given with the mean (or neither), of the same shape (validated also when left
# out, so that a mean alone is refused)
Variance = Annotated[Optional[Union[Finite, list[Finite]]], AfterValidator(_variance_with_mean),
                     Field(validate_default=True)]


def _divides_filters(groups: int, info: ValidationInfo) -> int:
    known, filters = _earlier(info, "filters")
    if known and filters % groups:
        raise ValueError("The number of filters must be evenly divisible by the number of groups. "
                         f"Received: groups={groups}, filters={filters}")
    return groups


Groups = Annotated[PositiveInt, AfterValidator(_divides_filters)]  # of a convolution: filters % groups == 0


def _output_padding(rank: int) -> Any:
    """A transposed convolution's output_padding: one number or one per axis, each less than its stride."""
    def below_strides(padding: Any, info: ValidationInfo) -> Any:
        known, strides = _earlier(info, "strides")
        if padding is None or not known:
            return padding
        paddings = padding if isinstance(padding, list) else [padding] * rank
        stride_list = strides if isinstance(strides, list) else [strides] * rank
        for axis, (p, s) in enumerate(zip(paddings, stride_list)):
            if p >= s:
                raise ValueError("`output_padding` must be strictly less than `strides` for all dimensions. "
                                 f"At dimension {axis}, `output_padding` is {p} but `strides` is {s}")
        return padding
    per_axis = Annotated[list[NonNegativeInt], Field(min_length=rank, max_length=rank)]
    return Annotated[Optional[_tuple_ok(Union[NonNegativeInt, per_axis])], AfterValidator(below_strides)]


OutputPadding1, OutputPadding2, OutputPadding3 = (_output_padding(n) for n in (1, 2, 3))

def _factor(low: float, high: float, low_open: bool = False) -> Any:
    """A random layer's factor (a number, or a [lower, upper] pair) with every number in Keras's range."""
    shown = f"{'(' if low_open else '['}{low}, {high}]"

    def within(value: Any, info: ValidationInfo) -> Any:
        numbers = value if isinstance(value, list) else [value]
        if any(x < low or x > high or (low_open and x == low) for x in numbers):
            raise ValueError(f"The `{info.field_name}` argument should be a number (or a list of two numbers) "
                             f"in the range {shown}. Received: {info.field_name}={value}")
        return value
    number = {"type": "number", "exclusiveMinimum" if low_open else "minimum": low, "maximum": high}
    # the same bounds for editors (the check above gives the message in Keras's words)
    schema = {"anyOf": [number, {"type": "array", "items": number, "minItems": 2, "maxItems": 2}]}
    return Annotated[Factor, AfterValidator(within), WithJsonSchema(schema)]


# by Keras's bounds of the layer (its `_FACTOR_BOUNDS`, or its own check: RandomZoom's is (-1, 1])
UnitFactor, SignedFactor, ZoomFactor = _factor(0, 1), _factor(-1, 1), _factor(-1, 1, low_open=True)


def _distinct_ends(value: list) -> list:
    if value[0] == value[1]:
        raise ValueError(f"the range is empty: its lower and upper values must differ (Keras divides by their "
                         f"difference). Received: value_range={value}")
    return value


ValueRange = Annotated[_tuple_ok(Range), AfterValidator(_distinct_ends)]  # the values images hold, [low, high]


def _required_here(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        raise ValueError(f"`{info.field_name}` must be set to use this layer")
    return value


# Keras's default is None, but the layer refuses to be built without it (CategoryEncoding's num_tokens)
RequiredPositiveInt = Annotated[Optional[PositiveInt], AfterValidator(_required_here), Field(validate_default=True)]


def _one_of_bins(num_bins: Any, info: ValidationInfo) -> Any:
    known, boundaries = _earlier(info, "bin_boundaries")
    if known and (num_bins is None) == (boundaries is None):
        raise ValueError("You need to set either `num_bins` or `bin_boundaries`." if num_bins is None else
                         "Both `num_bins` and `bin_boundaries` should not be set. "
                         f"Received: `num_bins={num_bins}` and `bin_boundaries={boundaries}`")
    return num_bins


def _sorted(boundaries: Any) -> Any:
    if boundaries is not None and boundaries != sorted(boundaries):
        raise ValueError(f"Expected sorted boundaries. Received: bin_boundaries={boundaries}")
    return boundaries


# Discretization: the bins by their count or by their boundaries (sorted), exactly one of the two
BinBoundaries = Annotated[Optional[list[Finite]], AfterValidator(_sorted)]
NumBins = Annotated[Optional[PositiveInt], AfterValidator(_one_of_bins), Field(validate_default=True)]


def _sparse_for(modes: tuple[str, ...]) -> Any:
    def check(sparse: bool, info: ValidationInfo) -> bool:
        known, mode = _earlier(info, "output_mode")
        if sparse and known and mode not in modes:
            raise ValueError(f"`sparse` may only be true if `output_mode` is {', '.join(map(repr, modes))}. "
                             f"Received: sparse=True and output_mode={mode}")
        return sparse
    return Annotated[bool, AfterValidator(check)]


def _farmhash_salt(salt: Any, info: ValidationInfo) -> Any:
    known, method = _earlier(info, "oov_method")
    if salt is not None and known and method != "farmhash":
        raise ValueError(f"`salt` can only be used when `oov_method='farmhash'`. Received: oov_method={method}")
    return salt


def _pad_needs_max_tokens(pad: bool, info: ValidationInfo) -> bool:
    known, max_tokens = _earlier(info, "max_tokens")
    if pad and known and max_tokens is None:
        raise ValueError("If pad_to_max_tokens is True, must set `max_tokens`. Received: max_tokens=None")
    return pad


def _divides_query_heads(heads: int, info: ValidationInfo) -> int:
    known, query_heads = _earlier(info, "num_query_heads")
    if known and query_heads % heads:
        raise ValueError("`num_query_heads` must be divisible by `num_key_value_heads`. "
                         f"Received: num_query_heads={query_heads}, num_key_value_heads={heads}")
    return heads


def _no_axis_of_one(size: Any) -> Any:
    if 1 in (size if isinstance(size, list) else [size]):
        raise ValueError("an output size of 1 crashes Keras's adaptive max pooling on TensorFlow (a floating "
                         "point exception kills the process); use GlobalMaxPooling, or a size of 2 or more")
    return size


def _odd(size: Any) -> Any:
    if any(n % 2 == 0 for n in (size if isinstance(size, list) else [size])):
        raise ValueError(f"kernel_size must be an odd number. Received: kernel_size={size}")
    return size


def _adaptive_max_size(tp: Any, rank: int) -> Any:
    """An adaptive max pooling's output size: 2 or more on every axis (the same bounds for editors)."""
    size = {"type": "integer", "minimum": 2}
    schema = {"anyOf": [size, {"type": "array", "items": size, "minItems": rank, "maxItems": rank}]}
    return Annotated[tp, AfterValidator(_no_axis_of_one), WithJsonSchema(schema)]


def _not_below_frame_length(fft_length: Any, info: ValidationInfo) -> Any:
    known, frame_length = _earlier(info, "frame_length")
    if fft_length is not None and known and fft_length < frame_length:
        raise ValueError("`fft_length` should be not less than `frame_length`. "
                         f"Received fft_length={fft_length}, frame_length={frame_length}")
    return fft_length


def _permutation(dims: list) -> list:
    if sorted(dims) != list(range(1, len(dims) + 1)):
        raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set of indices in `dims` "
                         f"must be consecutive and start from 1. Received dims={dims}")
    return dims


ARGUMENT_SALT = Optional[Union[NonNegativeInt, Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]]]

ARGUMENT_TYPES: dict[str, Any] = {
    "bool": bool,
    "int": int,
    "float": Finite,
    "str": str,
    "PositiveInt": PositiveInt,
    "OptionalPositiveInt": Optional[PositiveInt],
    "NonNegativeInt": NonNegativeInt,
    "OptionalNonNegativeInt": Optional[NonNegativeInt],
    "OptionalInt": Optional[int],
    "PositiveFloat": PositiveFloat,
    "NonNegativeFloat": NonNegativeFloat,
    "OptionalNonNegativeFloat": Optional[NonNegativeFloat],
    "OptionalFloat": Optional[Finite],
    "Rate": Rate,
    "Seed": Optional[Seed],
    "IntOrTuple": IntOrTuple,
    "OptionalIntOrTuple": Optional[IntOrTuple],
    "IntOrTuple1": IntOrTuple1, "IntOrTuple2": IntOrTuple2, "IntOrTuple3": IntOrTuple3,
    "OptionalIntOrTuple1": Optional[IntOrTuple1], "OptionalIntOrTuple2": Optional[IntOrTuple2],
    "OptionalIntOrTuple3": Optional[IntOrTuple3],
    "OptionalNonNegativeIntOrTuple": Optional[NonNegativeIntOrTuple],
    "OutputPadding1": OutputPadding1, "OutputPadding2": OutputPadding2, "OutputPadding3": OutputPadding3,
    "Variance": Variance,
    "UnitFactor": UnitFactor, "OptionalUnitFactor": Optional[UnitFactor],
    "SignedFactor": SignedFactor, "OptionalSignedFactor": Optional[SignedFactor],
    "ZoomFactor": ZoomFactor, "OptionalZoomFactor": Optional[ZoomFactor],
    "ValueRange": ValueRange,
    "RequiredPositiveInt": RequiredPositiveInt,
    "BinBoundaries": BinBoundaries, "NumBins": NumBins,
    "LookupSparse": _sparse_for(("one_hot", "multi_hot", "count", "tf_idf")),
    "HashingSparse": _sparse_for(("one_hot", "multi_hot", "count")),
    "FarmhashSalt": Annotated[ARGUMENT_SALT, AfterValidator(_farmhash_salt)],
    "PadToMaxTokens": Annotated[bool, AfterValidator(_pad_needs_max_tokens)],
    "KeyValueHeads": Annotated[PositiveInt, AfterValidator(_divides_query_heads)],
    "Permutation": _tuple_ok(Annotated[list[int], Field(min_length=1), AfterValidator(_permutation)]),
    "AdaptiveMaxSize1": _adaptive_max_size(IntOrTuple1, 1),
    "AdaptiveMaxSize2": _adaptive_max_size(IntOrTuple2, 2),
    "AdaptiveMaxSize3": _adaptive_max_size(IntOrTuple3, 3),
    "MaxTokens": Optional[Annotated[int, Field(gt=1)]],  # Keras: "it must be greater than 1"
    "OddIntOrTuple2": Annotated[IntOrTuple2, AfterValidator(_odd)],  # RandomGaussianBlur's kernel
    "PosterizationBits": Annotated[PositiveInt, Field(le=8)],
    "FftLength": Annotated[Optional[PositiveInt], AfterValidator(_not_below_frame_length)],  # STFTSpectrogram's  # Keras: in the range [1, 8]
    "Pair": _tuple_ok(Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]),
    "Groups": Groups,
    "PairPerAxis": PairPerAxis,
    "PairPerAxis1": PairPerAxis1, "PairPerAxis2": PairPerAxis2, "PairPerAxis3": PairPerAxis3,
    "Axis": int,
    "Axes": _tuple_ok(Union[int, Ints]),
    "OptionalAxes": Optional[_tuple_ok(Union[int, Ints])],
    "Shape": _tuple_ok(Annotated[list[int], Field(min_length=1)]),
    "OptionalShape": Optional[_tuple_ok(Union[PositiveInt, PositiveInts])],
    "FloatOrFloats": _tuple_ok(Union[Finite, Annotated[list[Finite], Field(min_length=1)]]),  # one, or per channel
    # EinsumDense: None for an axis the input decides
    "EinsumShape": _tuple_ok(Union[PositiveInt, Annotated[list[Optional[PositiveInt]], Field(min_length=1)]]),
    "NoiseShape": Optional[_tuple_ok(list[Optional[PositiveInt]])],
    "DataFormat": DataFormat,
    "ConvPadding": Literal["valid", "same", "causal"],
    "Padding": Literal["valid", "same"],
    "Activation": Optional[ActivationName],
    "Initializer": InitializerSpec,
    "OptionalInitializer": Optional[InitializerSpec],
    "Regularizer": Optional[RegularizerSpec],
    "Constraint": Optional[ConstraintSpec],
    "MergeMode": Optional[Literal["sum", "mul", "concat", "ave"]],
    "Interpolation": Interpolation,
    "AugmentInterpolation": Literal["nearest", "bilinear"],  # the random transforms' own list
    "FillMode": Literal["reflect", "wrap", "constant", "nearest"],
    "Factor": Factor,
    "OptionalFactor": Optional[Factor],
    "Range": _tuple_ok(Range),
    "FlipMode": Literal["horizontal", "vertical", "horizontal_and_vertical"],
    "OutputMode": Literal["int", "one_hot", "multi_hot", "count", "tf_idf", "binary"],
    "HashingOutputMode": Literal["int", "one_hot", "multi_hot", "count"],
    "CrossingOutputMode": Literal["int", "one_hot"],
    "EncodingOutputMode": Literal["one_hot", "multi_hot", "count", "binary"],
    "Strings": Optional[list[str]],
    "Integers": Optional[list[int]],
    "Floats": Optional[list[Finite]],
    "OptionalFloats": Optional[Union[Finite, list[Finite]]],
    "OptionalStr": Optional[str],
    "StrOrInt": Optional[Union[str, int]],
    "Salt": ARGUMENT_SALT,
    "Standardize": Optional[Literal["lower_and_strip_punctuation", "lower", "strip_punctuation"]],
    "Split": Optional[Literal["whitespace", "character"]],
    "NGrams": Optional[Union[PositiveInt, PositiveInts]],
    "ScoreMode": Literal["dot", "concat"],
    "UseCudnn": Union[Literal["auto"], bool],
    "OptionalBool": Optional[bool],
    "VocabularyDtype": Literal["int64"],  # Keras: "Only vocabulary_dtype='int64' is supported at this time"
    "Window": Optional[Literal["hann", "hamming"]],
    "SpectrogramMode": Literal["log", "magnitude", "psd", "real", "imag", "angle", "stft"],
    "Scaling": Optional[Literal["density", "spectrum"]],
    "RenormClipping": Optional[dict[Literal["rmax", "rmin", "dmax"], Finite]],
    "OovMethod": Literal["floormod", "farmhash"],
    # losses and metrics
    "Reduction": Optional[Literal["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"]],
    "Smoothing": Annotated[Finite, Field(ge=0, le=1)],
    "Probability": Annotated[Finite, Field(ge=0, le=1)],
    "OptionalThresholds": Optional[Union[Annotated[Finite, Field(ge=0, le=1)], list[Annotated[Finite, Field(ge=0, le=1)]]]],
    "Curve": Literal["ROC", "PR"],
    "ManyThresholds": Annotated[int, Field(gt=1)],  # a curve needs two thresholds at least
    "OptionalThreshold": Optional[Annotated[Finite, Field(gt=0, le=1)]],  # F1Score's (0, 1]
    "Summation": Literal["interpolation", "minoring", "majoring"],
    "Average": Optional[Literal["micro", "macro", "weighted"]],
    "ClassAggregation": Optional[Literal["uniform_average", "variance_weighted_average"]],
    "ClassIds": Annotated[list[NonNegativeInt], Field(min_length=1)],
    "MetricName": Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")],
    "OptionalMetricName": Optional[Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]],
}
