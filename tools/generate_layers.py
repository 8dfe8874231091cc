"""Write schemas/layers_keras.py: every built-in Keras layer's arguments, read from the installed Keras.

Run it once per Keras release (`python tools/generate_layers.py`), review the diff and commit the
result. The generated module is plain data and imports nothing, so validating a spec never imports
TensorFlow; `tests/test_keras_drift.py` fails as soon as the installed Keras and the file disagree.

Each argument's type is picked from the tables below: by class and argument (`CLASS_ARGUMENT_TYPES`),
by argument name (`ARGUMENT_TYPES`, then the `_initializer` / `_regularizer` / `_constraint`
suffixes), else by the type of Keras's default (a bool default makes a bool). A random layer's factor
gets the bounds of the layer's own `_FACTOR_BOUNDS` (`FACTOR_BOUNDS`); arguments with a rule Keras
checks when it builds the layer (a range, or a rule between arguments) get a rule type by name
(`CLASS_ARGUMENT_TYPES`, `PER_RANK`), so `factory validate` reports it; tests/test_layer_rules.py
probes them against the installed Keras. An argument none of
these covers stops the tool with its name: add it to a table (the type names are
`schemas.layers_types.ARGUMENT_TYPES`'s) and run it again. A layer to leave out goes in `EXCLUDED`
with the reason, which the drift test and error messages show.
"""

from __future__ import annotations

import argparse
import inspect
import pprint
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from schemas import layers as hand_written  # noqa: E402  (the layers written by hand in schemas/layers.py)
from schemas.layers_types import ARGUMENT_TYPES as KNOWN_TYPES  # noqa: E402

# Layers that are not in the spec language, and why (shown to a user who writes one).
EXCLUDED = {
    "Lambda": "it runs a Python function, and a spec cannot run code",
    "TFSMLayer": "it loads a saved TensorFlow program from a path, and a spec cannot run code",
    "FlaxLayer": "it wraps a Python (Flax) module, and a spec cannot run code",
    "JaxLayer": "it wraps Python (JAX) functions, and a spec cannot run code",
    "TorchModuleWrapper": "it wraps a Python (PyTorch) module, and a spec cannot run code",
    "Layer": "it is the base class of all layers, not a layer",
    "Wrapper": "it is the base class of Bidirectional and TimeDistributed; use those",
    "InputSpec": "it describes inputs; it is not a layer",
    "InputLayer": "write `Input: [shape]` or `input_shape:` on the model",
    "RNN": "it takes a cell object; use SimpleRNN, LSTM, GRU or the ConvLSTM layers",
    "SimpleRNNCell": "a cell is run by an RNN layer; use SimpleRNN",
    "LSTMCell": "a cell is run by an RNN layer; use LSTM",
    "GRUCell": "a cell is run by an RNN layer; use GRU",
    "StackedRNNCells": "it takes cell objects; stack SimpleRNN, LSTM or GRU layers with return_sequences",
    "Pipeline": "it takes layer objects; write the layers one after another",
    "MaxNumBoundingBoxes": "it acts on bounding boxes, which the spec's data never holds",
    # merging layers are written with the graph syntax (from: [a, b]); see schemas/layers.py
    "Add": "merging", "Subtract": "merging", "Multiply": "merging", "Average": "merging",
    "Maximum": "merging", "Minimum": "merging", "Concatenate": "merging", "Dot": "merging",
}

# Arguments no spec sets: every layer's own (in schemas.layers.Layer), precision and
# quantization settings, and pre-trained weights (arrays a YAML file does not carry).
IGNORED_ARGUMENTS = {"name", "dtype", "trainable", "autocast", "lora_rank", "lora_alpha",
                     "quantization_config", "gptq_unpacked_column_size", "weights", "input_tensor",
                     "reverse_dtype", "backward_layer"}

ARGUMENT_TYPES = {
    "units": "PositiveInt", "filters": "PositiveInt", "kernel_size": "IntOrTuple", "strides": "IntOrTuple",
    "dilation_rate": "IntOrTuple", "pool_size": "IntOrTuple", "size": "IntOrTuple",
    "output_size": "IntOrTuple", "output_padding": "OptionalNonNegativeIntOrTuple",
    "padding": "Padding", "data_format": "DataFormat", "groups": "PositiveInt",
    "depth_multiplier": "PositiveInt", "activation": "Activation", "recurrent_activation": "Activation",
    "rate": "Rate", "dropout": "Rate", "recurrent_dropout": "Rate", "seed": "Seed",
    "noise_shape": "NoiseShape", "stddev": "NonNegativeFloat", "l1": "NonNegativeFloat",
    "l2": "NonNegativeFloat", "axis": "Axes", "epsilon": "PositiveFloat", "momentum": "Rate",
    "renorm_momentum": "Rate", "renorm_clipping": "RenormClipping",
    "use_cudnn": "UseCudnn", "merge_mode": "MergeMode", "n": "PositiveInt", "dims": "Shape",
    "target_shape": "Shape", "cropping": "PairPerAxis", "input_dim": "PositiveInt",
    "output_dim": "PositiveInt", "num_heads": "PositiveInt", "key_dim": "PositiveInt",
    "value_dim": "OptionalPositiveInt", "head_dim": "PositiveInt", "num_query_heads": "PositiveInt",
    "num_key_value_heads": "PositiveInt", "output_shape": "OptionalShape", "attention_axes": "OptionalAxes",
    "sliding_window": "OptionalPositiveInt", "flash_attention": "OptionalBool", "score_mode": "ScoreMode",
    "mask_value": "float", "height": "PositiveInt", "width": "PositiveInt",
    "interpolation": "Interpolation", "fill_mode": "FillMode", "fill_value": "float",
    "factor": "Factor", "height_factor": "Factor", "width_factor": "OptionalFactor",
    "x_factor": "Factor", "y_factor": "Factor", "value_range": "Range",
    "brightness_factor": "OptionalFactor", "contrast_factor": "OptionalFactor",
    "saturation_factor": "OptionalFactor", "hue_factor": "OptionalFactor",
    "max_tokens": "OptionalPositiveInt", "num_oov_indices": "NonNegativeInt", "num_bins": "PositiveInt",
    "num_tokens": "OptionalPositiveInt", "output_mode": "OutputMode", "idf_weights": "Floats",
    "salt": "Salt", "bin_boundaries": "Floats", "mean": "OptionalFloats", "variance": "OptionalFloats",
    "standardize": "Standardize", "split": "Split", "ngrams": "NGrams",
    "output_sequence_length": "OptionalPositiveInt", "encoding": "str", "shared_axes": "NoiseShape",
    "max_value": "OptionalNonNegativeFloat", "negative_slope": "NonNegativeFloat", "threshold": "float",
    "equation": "str", "bias_axes": "OptionalStr", "tile_grid_size": "IntOrTuple",
    "clip_limit": "PositiveFloat", "bins": "PositiveInt", "num_chains": "PositiveInt",
    "chain_depth": "IntOrTuple", "num_ops": "PositiveInt", "alpha": "float", "sigma": "Factor",
    "scale": "float", "offset": "float", "window": "Window", "fft_length": "OptionalPositiveInt",
    "sequence_stride": "PositiveInt", "sequence_length": "OptionalPositiveInt",
    "sampling_rate": "PositiveInt", "num_mel_bins": "PositiveInt", "min_freq": "NonNegativeFloat",
    "max_freq": "OptionalNonNegativeFloat", "top_db": "NonNegativeFloat", "mag_exp": "PositiveFloat",
    "min_power": "PositiveFloat", "ref_power": "PositiveFloat", "frame_length": "PositiveInt",
    "frame_step": "OptionalPositiveInt", "scaling": "Scaling", "addition_factor": "Factor",
    "threshold_factor": "Factor", "logit_soft_cap": "OptionalNonNegativeFloat", "oov_method": "OovMethod",
}

# Where one argument name means different things in different layers.
CLASS_ARGUMENT_TYPES = {
    ("Conv1D", "padding"): "ConvPadding",  # causal: Conv1D only (Keras refuses it on the other 1D convolutions)
    ("ZeroPadding1D", "padding"): "PairPerAxis1", ("ZeroPadding2D", "padding"): "PairPerAxis2",
    ("ZeroPadding3D", "padding"): "PairPerAxis3", ("Cropping1D", "cropping"): "PairPerAxis1",
    ("Cropping2D", "cropping"): "PairPerAxis2", ("Cropping3D", "cropping"): "PairPerAxis3",
    ("UpSampling1D", "size"): "PositiveInt",
    ("Hashing", "output_mode"): "HashingOutputMode", ("HashedCrossing", "output_mode"): "CrossingOutputMode",
    ("CategoryEncoding", "output_mode"): "EncodingOutputMode",
    ("Normalization", "axis"): "OptionalAxes", ("Normalization", "variance"): "Variance",
    ("StringLookup", "vocabulary"): "Strings",
    ("TextVectorization", "vocabulary"): "Strings", ("IntegerLookup", "vocabulary"): "Integers",
    ("StringLookup", "mask_token"): "OptionalStr", ("StringLookup", "oov_token"): "str",
    ("IntegerLookup", "mask_token"): "OptionalInt", ("IntegerLookup", "oov_token"): "int",
    ("IntegerLookup", "vocabulary_dtype"): "VocabularyDtype",
    ("Discretization", "epsilon"): "PositiveFloat", ("Hashing", "mask_value"): "StrOrInt",
    ("RandomErasing", "fill_value"): "OptionalFloat",
    ("RandomFlip", "mode"): "FlipMode", ("STFTSpectrogram", "mode"): "SpectrogramMode",
    ("STFTSpectrogram", "padding"): "Padding",
    ("AugMix", "alpha"): "PositiveFloat", ("MixUp", "alpha"): "PositiveFloat",
    ("ReversibleEmbedding", "logit_soft_cap"): "OptionalNonNegativeFloat", ("EinsumDense", "output_shape"): "EinsumShape",
    ("Masking", "mask_value"): "float",
    # rules Keras checks when it builds the layer (schemas/layers_types.py; tests/test_layer_rules.py probes them)
    ("Discretization", "bin_boundaries"): "BinBoundaries", ("Discretization", "num_bins"): "NumBins",
    ("Discretization", "output_mode"): "HashingOutputMode", ("Discretization", "sparse"): "HashingSparse",
    ("Hashing", "sparse"): "HashingSparse", ("IntegerLookup", "sparse"): "LookupSparse",
    ("StringLookup", "sparse"): "LookupSparse", ("IntegerLookup", "salt"): "FarmhashSalt",
    ("IntegerLookup", "pad_to_max_tokens"): "PadToMaxTokens",
    ("StringLookup", "pad_to_max_tokens"): "PadToMaxTokens", ("IntegerLookup", "max_tokens"): "MaxTokens",
    ("StringLookup", "max_tokens"): "MaxTokens", ("TextVectorization", "max_tokens"): "MaxTokens",
    ("TextVectorization", "pad_to_max_tokens"): "PadToMaxTokens", ("TextVectorization", "sparse"): "LookupSparse",
    ("CategoryEncoding", "num_tokens"): "RequiredPositiveInt",
    ("GroupQueryAttention", "num_key_value_heads"): "KeyValueHeads", ("Permute", "dims"): "Permutation",
    ("ContrastLimitedAdaptiveHistogramEqualization", "tile_grid_size"): "Pair",
    ("AugMix", "chain_depth"): "PositiveInt", ("MelSpectrogram", "fft_length"): "PositiveInt",
    ("STFTSpectrogram", "fft_length"): "FftLength",
    ("AdaptiveMaxPooling1D", "output_size"): "AdaptiveMaxSize1",
    ("AdaptiveMaxPooling2D", "output_size"): "AdaptiveMaxSize2",
    ("AdaptiveMaxPooling3D", "output_size"): "AdaptiveMaxSize3",
    ("RandomTranslation", "width_factor"): "SignedFactor",  # required, unlike RandomZoom's
    ("RandomZoom", "height_factor"): "ZoomFactor", ("RandomZoom", "width_factor"): "OptionalZoomFactor",
    ("Solarization", "addition_factor"): "UnitFactor", ("Solarization", "threshold_factor"): "UnitFactor",
    ("RandomColorJitter", "contrast_factor"): "OptionalUnitFactor",
    ("RandomColorJitter", "hue_factor"): "OptionalUnitFactor",
    ("RandomErasing", "scale"): "UnitFactor", ("RandomElasticTransform", "scale"): "UnitFactor",
    ("RandomPerspective", "scale"): "Probability", ("RandomGaussianBlur", "kernel_size"): "OddIntOrTuple2",
    ("RandomGrayscale", "factor"): "Probability",  # one number only (Keras compares it with 0 and 1)
    ("Rescaling", "scale"): "FloatOrFloats", ("Rescaling", "offset"): "FloatOrFloats",
    ("RandomPosterization", "factor"): "PosterizationBits", ("AlphaDropout", "rate"): "Rate",
    ("GaussianDropout", "rate"): "Rate",
}

# Arguments a scalar sets when they are not the first, required one (`UpSampling2D: 2`, `ZeroPadding2D: 1`).
MAIN_WHEN_OPTIONAL = {"pool_size", "size", "padding", "cropping", "axis", "mode", "groups", "mask_value", "factor"}


def keras_layers(keras) -> dict[str, type]:
    """The public layer classes of `keras.layers` by the name they are exported under."""
    return {n: c for n, c in vars(keras.layers).items() if n[:1].isupper() and inspect.isclass(c)}


CLASS_ARGUMENT_TYPES.update({(name, "interpolation"): "AugmentInterpolation" for name in (
    "AugMix", "RandAugment", "RandomElasticTransform", "RandomPerspective", "RandomRotation", "RandomShear",
    "RandomTranslation", "RandomZoom")})

# Arguments with one number per spatial axis: a 1D / 2D / 3D layer (by its name) takes a list of that length
PER_AXIS = {"kernel_size", "strides", "dilation_rate", "pool_size", "output_size", "size"}
# Arguments whose type of a 1D / 2D / 3D layer is this name and the rank (each checked against another argument)
PER_RANK = {"output_padding": "OutputPadding"}


# A random layer's factor checked against the layer's own bounds (Keras's `_FACTOR_BOUNDS`)
FACTOR_BOUNDS = {(0, 1): "UnitFactor", (-1, 1): "SignedFactor"}
VALUE_RANGES = {"value_range": "ValueRange"}  # [low, high] of the images' values: Keras divides by high - low


def argument_type(cls_name: str, arg: str, default, required: bool = False, arguments: tuple = (),
                  factor_bounds: tuple | None = None) -> str | None:
    """The type name of argument `arg` of Keras layer `cls_name` (`arguments`: the names of all its arguments;
    `factor_bounds`: the layer's `_FACTOR_BOUNDS`, where its factors are checked against them)."""
    if (cls_name, arg) in CLASS_ARGUMENT_TYPES:
        return CLASS_ARGUMENT_TYPES[(cls_name, arg)]
    plain = ARGUMENT_TYPES.get(arg)
    if plain in ("Factor", "OptionalFactor") and tuple(factor_bounds or ()) in FACTOR_BOUNDS:
        return plain.replace("Factor", FACTOR_BOUNDS[tuple(factor_bounds)])
    if arg in VALUE_RANGES:
        return VALUE_RANGES[arg]
    rank = re.search(r"([123])D(Transpose)?$", cls_name)
    if arg in PER_AXIS and rank:
        return ("Optional" if default is None and not required else "") + "IntOrTuple" + rank.group(1)
    if arg in PER_RANK and rank:
        return PER_RANK[arg] + rank.group(1)
    if arg == "groups" and "filters" in arguments:  # a convolution's: the filters split into groups
        return "Groups"
    if isinstance(default, bool):
        return "bool"
    if arg in ARGUMENT_TYPES:
        return ARGUMENT_TYPES[arg]
    for suffix, kind in (("_initializer", "Initializer"), ("_regularizer", "Regularizer"),
                         ("_constraint", "Constraint")):
        if arg.endswith(suffix):
            return kind if default is not None or kind != "Initializer" else "OptionalInitializer"
    if isinstance(default, float):
        return "float"
    return None


def descriptions(doc: str) -> dict[str, str]:
    """Each argument's description from a Google-style docstring's `Args:` section, first sentence."""
    out: dict[str, str] = {}
    lines = (doc or "").splitlines()
    inside, indent, current = False, None, None
    for line in lines:
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:"):
            inside, indent = True, None
            continue
        if not inside:
            continue
        if not stripped:
            continue
        width = len(line) - len(line.lstrip())
        if indent is None:
            indent = width
        if width < indent:
            inside = False
            continue
        match = re.match(r"(\w+)(?: \([^)]*\))?: ?(.*)", stripped)
        if width == indent and match:
            current = match.group(1)
            out[current] = match.group(2)
        elif current:
            out[current] += " " + stripped
    return {k: _first_sentence(v) for k, v in out.items()}


def _first_sentence(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    end = re.search(r"(?<!e\.g)(?<!i\.e)(?<!a\.k\.a)\.(\s|$)", text)
    text = text[:end.start()] if end else text
    return text[:200]


def as_data(value):
    if isinstance(value, tuple):
        return [as_data(v) for v in value]
    return value


def generate(keras) -> tuple[dict, dict, list[str]]:
    """(layers, aliases, problems): the table of every layer this tool supports, and what stopped it."""
    hand = {c.__name__ for c in hand_written.HAND_WRITTEN} | {c.keras_class for c in hand_written.HAND_WRITTEN}
    layers: dict = {}
    aliases: dict = {}
    problems: list[str] = []
    classes = keras_layers(keras)
    for export_name, cls in sorted(classes.items()):
        # the class's own name, unless Keras exports it under another only (GroupedQueryAttention)
        name = cls.__name__ if classes.get(cls.__name__) is cls else export_name
        if name in EXCLUDED or export_name in EXCLUDED:
            continue
        if export_name != name:
            aliases[export_name] = name
            continue
        if name in hand:
            continue
        doc = inspect.getdoc(cls) or ""
        described = descriptions(doc)
        args = []
        params = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in IGNORED_ARGUMENTS]
        for p in params:
            default = ... if p.default is inspect.Parameter.empty else as_data(p.default)
            tp = argument_type(name, p.name, None if default is ... else default, required=default is ...,
                               arguments=tuple(q.name for q in params),
                               factor_bounds=getattr(cls, "_FACTOR_BOUNDS", None))
            if tp is None:
                problems.append(f"{name}.{p.name} (default {default!r}): add its type to ARGUMENT_TYPES "
                                "or CLASS_ARGUMENT_TYPES")
                continue
            if tp not in KNOWN_TYPES:
                problems.append(f"{name}.{p.name}: type {tp!r} is not in schemas.layers_types.ARGUMENT_TYPES")
            args.append((p.name, tp, default, described.get(p.name, "")))
        main = None
        if params and (params[0].default is inspect.Parameter.empty or params[0].name in MAIN_WHEN_OPTIONAL):
            main = params[0].name
        summary = _first_sentence(doc.split("\n\n")[0]) if doc else name
        layers[name] = (summary, main, tuple(args))
    return layers, aliases, problems


HEADER = '''"""Every built-in Keras layer's arguments (besides those in schemas/layers.py), as plain data.

GENERATED by `python tools/generate_layers.py` from Keras {version}: do not edit by hand; change the
tool's tables and run it again. Each entry is `ClassName: (summary, main argument, arguments)`, each
argument `(name, type name in schemas.layers_types.ARGUMENT_TYPES, Keras's default or ... if
required, description)`. `ALIASES` are Keras's other export names of the same classes.
"""

'''


def entry_text(item) -> str:
    """One layer of the table, one argument a line, so a new Keras release reads as a small diff."""
    name, (summary, main, args) = item
    lines = [f"    {name!r}: ({summary!r}, {main!r}, (\n"]
    lines += [f"        ({a!r}, {t!r}, {'...' if d is ... else repr(d)}, {text!r}),\n" for a, t, d, text in args]
    return "".join(lines) + "    )),\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="generate_layers", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "schemas" / "layers_keras.py"), help="the module to write")
    args = parser.parse_args(argv)
    import keras

    layers, aliases, problems = generate(keras)
    if problems:
        print("cannot generate; arguments without a type:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    text = (HEADER.format(version=keras.__version__) + "LAYERS = {\n" + "".join(map(entry_text, layers.items()))
            + "}\n\n"
            + "ALIASES = " + pprint.pformat(aliases, width=110) + "\n\n"
            + "EXCLUDED = " + pprint.pformat({k: v for k, v in EXCLUDED.items() if v != "merging"}, width=110) + "\n")
    Path(args.out).write_text(text.replace("Ellipsis", "..."))
    print(f"wrote {args.out}: {len(layers)} layers, {len(aliases)} aliases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
