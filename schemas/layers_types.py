"""The argument types of the generated layers (schemas/layers_keras.py names them by these keys).

`ARGUMENT_TYPES` maps a type name to its annotation; `tools/generate_layers.py` picks the name for
each Keras argument from its own table (by argument name, by class and argument, or by the type
of the Keras default), so the generated table stays plain data and this is the one place where a
type is defined.
"""

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BeforeValidator, Field

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


ActivationName = name_type("activation", names.ACTIVATIONS)
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
    "Salt": Optional[Union[NonNegativeInt, Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]]],
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
