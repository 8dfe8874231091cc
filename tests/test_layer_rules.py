"""The rules Keras checks when it builds a layer are checked by `factory validate`, at the argument.

`test_every_value_the_schema_accepts_builds` is the probe that found them: for each layer argument
with such a rule it tries boundary values, reversed and equal pairs, negatives and mixed-case text,
and every value the schema accepts must build and run in the installed Keras. A Keras release with a
new rule fails it (add a type in schemas/layers_types.py, regenerate with tools/generate_layers.py).
The rejection tests check that each refused value is a located error in Keras's own words.
"""

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from factory.build.layers import build_layer
from schemas import layers_keras
from tests import test_keras_drift as drift
from tests.conftest import SPEC_HEAD, spec_errors

keras = drift.keras

# The types that carry a rule (schemas/layers_types.py), and the arguments that hold one
RULE_TYPES = {"UnitFactor", "OptionalUnitFactor", "SignedFactor", "OptionalSignedFactor", "ZoomFactor",
              "OptionalZoomFactor", "ValueRange", "RequiredPositiveInt", "BinBoundaries", "NumBins", "LookupSparse",
              "HashingSparse", "FarmhashSalt", "PadToMaxTokens", "KeyValueHeads", "Permutation", "Pair",
              "AdaptiveMaxSize1", "AdaptiveMaxSize2", "AdaptiveMaxSize3", "MaxTokens", "OddIntOrTuple2",
              "PosterizationBits", "FftLength", "Variance", "Groups", "OutputPadding1", "OutputPadding2", "OutputPadding3",
              "Probability", "IntOrTuple1", "IntOrTuple2", "IntOrTuple3"}
PROBED = sorted({(layer, arg) for layer, (_, _, args) in layers_keras.LAYERS.items() for arg, tp, _, _ in args
                 if tp in RULE_TYPES and not (tp.startswith("IntOrTuple") and arg not in ("output_size", "size"))})

NUMBERS = [0, 1, 2, 3, -1, -2, 9, 100, 0.0, 0.5, 1.0, 1.5, -0.5, -1.0, 2.0, 1e-9, 255.0]
LISTS = [[], [0], [1], [2], [-1], [0.5], [1, 2], [2, 1], [0.5, 0.2], [0.2, 0.5], [-0.5, 0.5], [0.5, -0.5],
         [-1.5, 1.5], [0, 0], [1, 1], [2, 2], [3, 3], [0, 1], [1, 0], [-1, 0], [-1, -1], [0, 255], [255, 0], [1, 1, 1],
         [2, 2, 2], [3, 3, 3], [2, 1, 3], [1, 3, 2], [[1, 1], [1, 1]], [None, 1], [0.5, 0.5, 0.5]]
TEXTS = ["", "a", "same", "SAME", "Same", "one_hot", "ONE_HOT", "farmhash", "int", "count", "tf_idf"]
CANDIDATES = NUMBERS + LISTS + TEXTS + [None, True, False]
LAYER = TypeAdapter(drift.LayerSpec)


def _base(cls) -> dict:
    required = [k for k, f in cls.model_fields.items() if f.is_required()]
    own = drift.SAMPLE_ARGUMENTS_OF.get(cls.__name__, {})
    return {**{k: drift.SAMPLE_ARGUMENTS[k] for k in required if k not in own}, **own}


# Other arguments set beside the probed one, so that each of its values is tried where it can build
PARTNERS = {("Discretization", "num_bins"): {"bin_boundaries": None},
            ("IntegerLookup", "salt"): {"oov_method": "farmhash"},
            ("IntegerLookup", "sparse"): {"output_mode": "one_hot"}, ("StringLookup", "sparse"): {"output_mode": "one_hot"},
            ("TextVectorization", "sparse"): {"output_mode": "count"}, ("Hashing", "sparse"): {"output_mode": "count"},
            ("Discretization", "sparse"): {"output_mode": "count"}, ("IntegerLookup", "max_tokens"): {"vocabulary": None},
            ("StringLookup", "max_tokens"): {"vocabulary": None}, ("TextVectorization", "max_tokens"): {"vocabulary": None},
            ("IntegerLookup", "pad_to_max_tokens"): {"max_tokens": 9, "output_mode": "count"},
            ("StringLookup", "pad_to_max_tokens"): {"max_tokens": 9, "output_mode": "count"},
            ("TextVectorization", "pad_to_max_tokens"): {"max_tokens": 9, "output_mode": "count"}}


# Keras errors that depend on the data, which validation does not see: the input's shape (`show` and `run`
# report these at the layer when they build the model on the data), or a layer not yet adapted to it
DATA_ERRORS = ("the number of input channels must be evenly divisible", "call `adapt(dataset)`",
               "table not initialized", "is incompatible with the layer: expected ndim")


def _builds(name: str, arguments: dict) -> str | None:
    """None if the layer builds and runs on a sample batch, else Keras's error."""
    try:
        spec = LAYER.validate_python({name: arguments}).args
        layer = build_layer(keras, spec)
        x = drift.sample_input(name, getattr(keras.layers, spec.keras_class).__module__)
        layer(x, x) if name in drift.TWO_ARGUMENT_CALLS else layer(x)
    except ValidationError:
        raise
    except Exception as e:  # noqa: BLE001 - the probe reports whatever Keras raises, with the value
        if any(text in str(e).lower() for text in DATA_ERRORS):
            return None
        return f"{type(e).__name__}: {str(e)[:300]}"
    return None


@pytest.mark.parametrize("layer,argument", PROBED, ids=lambda v: str(v))
def test_every_value_the_schema_accepts_builds(layer, argument):
    from schemas.layers import layer_class

    cls = layer_class(layer)
    base = {**_base(cls), **PARTNERS.get((layer, argument), {})}
    refused_by_keras, accepted = [], 0
    for value in CANDIDATES:
        arguments = {k: v for k, v in {**base, argument: value}.items() if v is not None or k == argument}
        try:
            LAYER.validate_python({layer: arguments})
        except ValidationError:
            continue  # refused by the schema, at validate time
        accepted += 1
        error = _builds(layer, arguments)
        if error:
            refused_by_keras.append(f"{argument}={json.dumps(value)}: {error}")
    assert accepted, f"{layer}.{argument}: the probe tried no value the schema accepts"
    assert refused_by_keras == [], f"{layer}: the schema accepts what Keras refuses:\n" + "\n".join(refused_by_keras)


@pytest.mark.parametrize("text,message", [
    ("RandomZoom: {height_factor: [-1.5, 0.5]}", "RandomZoom.height_factor: the `height_factor` argument should be a "
     "number (or a list of two numbers) in the range (-1, 1]. Received: height_factor=[-1.5, 0.5]"),
    ("RandomZoom: {height_factor: -1}", "in the range (-1, 1]"),
    ("RandomRotation: {factor: 1.5}", "RandomRotation.factor: the `factor` argument should be a number (or a list of "
     "two numbers) in the range [-1, 1]. Received: factor=1.5"),
    ("RandomTranslation: {height_factor: 0.1, width_factor: [0.2, 2.0]}", "RandomTranslation.width_factor: the "
     "`width_factor` argument should be a number (or a list of two numbers) in the range [-1, 1]"),
    ("RandomContrast: {factor: -0.5}", "RandomContrast.factor: the `factor` argument should be a number (or a list of "
     "two numbers) in the range [0, 1]. Received: factor=-0.5"),
    ("AugMix: {value_range: [1, 1]}", "AugMix.value_range: the range is empty: its lower and upper values must differ"),
    ("Normalization: {mean: [0.5]}", "Normalization.variance: when setting values directly, both `mean` and "
     "`variance` must be set. Received: mean=[0.5] and variance=None"),
    ("Normalization: {variance: 1.0}", "Normalization.variance: when setting values directly, both `mean` and "
     "`variance` must be set. Received: mean=None and variance=1.0"),
    ("Normalization: {mean: [0.5, 0.1], variance: 1.0}", "Normalization.variance: when setting values directly, "
     "`mean` and `variance` must have the same shape. Received: mean shape (2,) and variance shape ()"),
    ("Conv1D: {filters: 4, kernel_size: 3, groups: 3}", "Conv1D.groups: the number of filters must be evenly "
     "divisible by the number of groups. Received: groups=3, filters=4"),
    ("Conv2DTranspose: {filters: 4, kernel_size: 3, strides: [2, 1], output_padding: [1, 1]}",
     "Conv2DTranspose.output_padding: `output_padding` must be strictly less than `strides` for all dimensions. "
     "At dimension 1, `output_padding` is 1 but `strides` is 1"),
    ("Conv3DTranspose: {filters: 4, kernel_size: 3, output_padding: [0, 0]}", "Conv3DTranspose.output_padding: "),
    ("CategoryEncoding: {output_mode: count}", "CategoryEncoding.num_tokens: `num_tokens` must be set to use this layer"),
    ("Discretization: {output_mode: int}", "Discretization.num_bins: you need to set either `num_bins` or `bin_boundaries`."),
    ("Discretization: {bin_boundaries: [0.0, 1.0], num_bins: 3}", "Discretization.num_bins: both `num_bins` and "
     "`bin_boundaries` should not be set"),
    ("Discretization: {bin_boundaries: [1.0, 0.0]}", "Discretization.bin_boundaries: expected sorted boundaries"),
    ("Hashing: {num_bins: 3, sparse: true}", "Hashing.sparse: `sparse` may only be true if `output_mode` is 'one_hot', "
     "'multi_hot', 'count'. Received: sparse=True and output_mode=int"),
    ("IntegerLookup: {salt: 3}", "IntegerLookup.salt: `salt` can only be used when `oov_method='farmhash'`"),
    ("StringLookup: {pad_to_max_tokens: true}", "StringLookup.pad_to_max_tokens: if pad_to_max_tokens is True, must "
     "set `max_tokens`"),
    ("TextVectorization: {max_tokens: 1}", "TextVectorization.max_tokens: input should be greater than 1"),
    ("GroupQueryAttention: {head_dim: 4, num_query_heads: 4, num_key_value_heads: 3}",
     "GroupQueryAttention.num_key_value_heads: `num_query_heads` must be divisible by `num_key_value_heads`"),
    ("Permute: [2, 3]", "Permute: invalid permutation argument `dims` for Permute Layer. The set of indices in "
     "`dims` must be consecutive and start from 1. Received dims=[2, 3]"),
    ("AdaptiveMaxPooling2D: [2, 1]", "AdaptiveMaxPooling2D: an output size of 1 crashes Keras's adaptive "
     "max pooling"),
    ("AdaptiveAveragePooling1D: [2, 2]", "AdaptiveAveragePooling1D: input should be a valid integer, got a list; or list should have at most 1 item"),
    ("UpSampling2D: [2, 2, 2]", "UpSampling2D: input should be a valid integer, got a list; or list should have at most 2 items"),
    ("RandomGaussianBlur: {kernel_size: 4}", "RandomGaussianBlur.kernel_size: kernel_size must be an odd number"),
    ("RandomPosterization: 9", "RandomPosterization: input should be less than or equal to 8"),
    ("Solarization: {addition_factor: -0.5}", "Solarization.addition_factor: the `addition_factor` argument should be "
     "a number (or a list of two numbers) in the range [0, 1]"),
    ("ContrastLimitedAdaptiveHistogramEqualization: {tile_grid_size: 4}",
     "ContrastLimitedAdaptiveHistogramEqualization.tile_grid_size: input should be a valid list"),
    ("AugMix: {chain_depth: [1, 2]}", "AugMix.chain_depth: input should be a valid integer"),
    ("STFTSpectrogram: {frame_length: 256, fft_length: 128}", "STFTSpectrogram.fft_length: `fft_length` should be "
     "not less than `frame_length`. Received fft_length=128, frame_length=256"),
])
def test_a_value_keras_refuses_is_a_located_error_at_validate(write, text, message):
    path = write(SPEC_HEAD + "models:\n  A:\n    input_shape: [8, 8]\n    layers:\n      - Flatten\n      - " + text + "\n")
    errors = spec_errors(path)
    assert any(message in e for e in errors), errors
    assert all(e.startswith(f"{path}:9:") for e in errors), errors  # at the layer's line in the file
