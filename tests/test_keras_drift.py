"""The hand-kept and generated schema against the installed Keras: argument names, defaults, name lists,
and that every layer, constraint, loss and metric the spec accepts builds in Keras."""

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

from factory.build.keras_setup import import_keras
from schemas import INITIALIZERS, LAYERS, OPTIMIZERS, REGULARIZERS, names
from schemas.base import KerasArgs
from schemas.callbacks import CALLBACKS
from schemas.schedules import SCHEDULES
from schemas.initializers import INITIALIZER_ALIASES
from schemas.optimizers import OPTIMIZER_ALIASES
from schemas.regularizers import REGULARIZER_ALIASES

keras = import_keras()

from schemas import constraints, losses, metrics as metric_specs  # noqa: E402

KINDS = [(LAYERS, keras.layers, keras.layers.Layer), (INITIALIZERS, keras.initializers, None),
         (REGULARIZERS, keras.regularizers, None), (OPTIMIZERS, keras.optimizers, keras.optimizers.Optimizer),
         (SCHEDULES, keras.optimizers.schedules, None), (CALLBACKS, keras.callbacks, None),
         (constraints.CONSTRAINTS, keras.constraints, None), (losses.LOSSES, keras.losses, None),
         (metric_specs.METRICS, keras.metrics, None)]
CASES = [(cls, module, base) for classes, module, base in KINDS for cls in classes]


def signature_of(cls):
    return inspect.signature(cls.__init__).parameters


@pytest.mark.parametrize("spec,module,base", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_every_field_is_a_keras_argument_with_the_keras_default(spec: type[KerasArgs], module, base):
    keras_cls = getattr(module, spec.keras_class)
    params = dict(signature_of(base)) if base is not None else {}
    params.update(signature_of(keras_cls))
    for name, field in spec.model_fields.items():
        if name in spec.spec_only:
            continue
        assert name in params, f"{spec.__name__}.{name} is not an argument of keras {spec.keras_class}"
        default = params[name].default
        # the spec may require more than Keras (Input's shape, Constant's value), never less
        assert field.is_required() or default is not inspect.Parameter.empty, \
            f"{spec.__name__}.{name}: Keras requires it, the spec gives it a default"
        if field.is_required():
            continue
        if default is inspect.Parameter.empty:
            continue
        ours = field.default
        if isinstance(default, tuple):
            default = _as_lists(default)
            ours = [ours] * len(default) if isinstance(ours, int) else ours
        if isinstance(default, str) and isinstance(ours, str):
            assert ours.lower().replace("_", "") == default.lower().replace("_", ""), (spec.__name__, name)
        else:
            assert ours == default, f"{spec.__name__}.{name}: spec default {ours!r}, Keras {default!r}"


def _as_lists(value):
    return [_as_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


def test_main_arguments_are_fields():
    for classes, _, _ in KINDS:
        for cls in classes:
            assert cls.main_argument is None or cls.main_argument in cls.model_fields, cls


def test_activation_names_match_keras():
    from keras.src import activations

    keras_names = {k for k in activations.ALL_OBJECTS_DICT if k.islower()}
    assert set(names.ACTIVATIONS) | set(names.ACTIVATIONS_WITH_ARGUMENTS) == keras_names
    x = keras.ops.ones((2, 4))  # even: glu halves the last axis
    for name in names.ACTIVATIONS:
        keras.activations.get(name)(x)  # a name alone works
    for name in names.ACTIVATIONS_WITH_ARGUMENTS:
        with pytest.raises(TypeError, match="missing .* required positional argument"):
            keras.activations.get(name)(x)


def test_loss_names_match_keras():
    from keras.src import losses

    assert set(names.LOSSES) == {k for k in losses.ALL_OBJECTS_DICT if k.islower()}
    for name in names.LOSSES:
        keras.losses.get(name)


def test_metric_names_match_keras():
    from keras.src import metrics

    internal = {"mean", "sum", "metric"}  # building blocks, not metrics to compile

    def by_name(name):
        try:
            keras.metrics.get(name)
            return True
        except (TypeError, ValueError):
            return False  # needs arguments (IoU, PrecisionAtRecall, ...)

    assert set(names.KERAS_METRICS) == {k for k in metrics.ALL_OBJECTS_DICT if k.islower() and by_name(k)} - internal


def test_every_accepted_metric_name_is_one_compile_takes():
    """Each name the spec accepts, aliases included, resolves as `model.compile(metrics=[name])` resolves it."""
    import numpy as np
    from keras.src.trainers.compile_utils import get_metric

    assert set(names.METRICS) == set(names.KERAS_METRICS) | set(names.METRIC_ALIASES)
    y_true, y_pred = np.eye(3, dtype="float32")[[0, 1, 2, 1]], np.full((4, 3), 1 / 3, dtype="float32")
    for name in names.METRICS:
        assert isinstance(get_metric(name, y_true, y_pred), keras.metrics.Metric), name
    for alias in names.METRIC_ALIASES:
        with pytest.raises(ValueError):
            keras.metrics.get(alias)  # an alias of compile's only: the reason it is listed apart


def test_acc_trains_and_is_reported_under_the_name_written():
    import numpy as np

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=list(names.METRIC_ALIASES))
    x, y = np.zeros((8, 4), dtype="float32"), np.arange(8) % 3
    history = model.fit(x, y, validation_data=(x, y), epochs=1, verbose=0).history
    assert {"acc", "val_acc"} <= set(history)


def test_initializer_names_cover_keras():
    from keras.src import initializers

    internal = {"Initializer", "initializer", "STFT", "STFTInitializer", "stft", "IdentityInitializer",
                "OrthogonalInitializer"}
    ours = {c.__name__ for c in INITIALIZERS} | set(INITIALIZER_ALIASES)
    assert ours == set(initializers.ALL_OBJECTS_DICT) - internal
    for cls in INITIALIZERS:
        required = {k: 1.0 for k, f in cls.model_fields.items() if f.is_required()}
        keras.initializers.get({"class_name": cls.keras_class, "config": required})
    by_class = {c.__name__: c for c in INITIALIZERS}
    for name, target in INITIALIZER_ALIASES.items():
        if not any(f.is_required() for f in by_class[target].model_fields.values()):
            keras.initializers.get(name)  # a bare name is valid in the spec, so Keras must take it


def test_regularizer_and_optimizer_names_resolve_in_keras():
    from keras.src import optimizers, regularizers

    from pydantic import TypeAdapter

    from schemas.regularizers import RegularizerSpec

    for name, target in REGULARIZER_ALIASES.items():
        # what Keras itself means by the name: get() knows l1l2, the module attribute l1_l2
        keras_means = regularizers.ALL_OBJECTS_DICT.get(name) or getattr(keras.regularizers, name)
        assert keras_means is getattr(keras.regularizers, target), name
        ours = TypeAdapter(RegularizerSpec).validate_python(name)  # the alias as a spec writes it
        built = keras.regularizers.get(ours.keras_config())
        assert type(built) is keras_means and built.get_config() == keras_means().get_config(), name
    assert {c.__name__ for c in REGULARIZERS} == set(regularizers.ALL_OBJECTS_DICT) - {"Regularizer", "regularizer", "l1", "l2", "l1l2", "orthogonal_regularizer"}
    for name in OPTIMIZER_ALIASES:
        assert name in optimizers.ALL_OBJECTS_DICT
        keras.optimizers.get(name)


def test_dataset_names_match_the_loaders():
    from factory.data import DATASETS, FILE_LOADERS
    from factory.data.tables import TABLE_SUFFIXES

    assert set(names.DATASETS) == set(DATASETS)
    assert set(names.DATA_FILE_SUFFIXES) == set(FILE_LOADERS) | set(TABLE_SUFFIXES)


def test_each_loss_alias_is_the_same_function_in_keras():
    from schemas.names import LOSS_ALIASES, LOSSES

    for short, long in LOSS_ALIASES.items():
        assert short in LOSSES and long in LOSSES
        assert keras.losses.get(short) is keras.losses.get(long), short


# --- every layer: the generated table is current, every Keras layer is accounted for, each builds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import generate_layers  # noqa: E402

from factory.build.compiler import build_layer  # noqa: E402
from schemas import layers_keras  # noqa: E402
from schemas.layers import HAND_WRITTEN, LAYER_ALIASES, MERGING_LAYERS, LayerSpec  # noqa: E402


def test_the_generated_layer_table_is_what_the_installed_keras_gives():
    """A new Keras release with a new layer, argument or default fails here: run tools/generate_layers.py."""
    layers, aliases, problems = generate_layers.generate(keras)
    assert problems == []
    assert layers == layers_keras.LAYERS, "run `python tools/generate_layers.py` and review the diff"
    assert aliases == layers_keras.ALIASES


def test_every_public_keras_layer_is_accepted_or_refused_with_a_reason():
    ours = {c.keras_class for c in LAYERS} | set(LAYER_ALIASES)
    refused = set(generate_layers.EXCLUDED)  # with its reason (merging layers: the graph syntax's)
    public = set(generate_layers.keras_layers(keras))
    assert public - ours - refused == set()
    assert ours <= public
    for alias, target in LAYER_ALIASES.items():
        assert getattr(keras.layers, alias) is getattr(keras.layers, target)


def test_hand_written_layers_take_every_keras_argument():
    """Only the arguments no spec sets (precision, LoRA, pre-trained weights, ...) are left out."""
    for cls in HAND_WRITTEN:
        keras_cls = getattr(keras.layers, cls.keras_class)
        params = {p for p in signature_of(keras_cls) if p not in ("self", "kwargs")}
        missing = params - set(cls.model_fields) - generate_layers.IGNORED_ARGUMENTS
        if cls.__name__ == "Input":
            missing -= {"batch_size", "sparse", "ragged", "batch_shape", "optional"}  # InputLayer's own
        assert missing == set(), cls.__name__


# Arguments a layer needs to be constructed, by argument name (a layer's own entry below wins).
SAMPLE_ARGUMENTS = {
    "units": 4, "filters": 4, "kernel_size": 3, "rate": 0.5, "stddev": 0.1, "n": 2, "input_dim": 10,
    "output_dim": 4, "num_heads": 2, "key_dim": 4, "head_dim": 4, "num_query_heads": 2,
    "num_key_value_heads": 1, "height": 4, "width": 4, "scale": 0.5, "factor": 0.1, "num_bins": 4,
    "output_size": 2, "activation": "relu", "height_factor": 0.1, "width_factor": 0.1, "dims": [2, 1],
    "target_shape": [15], "shape": [4], "layer": {"Dense": 4}, "pool_size": 2,
}
SAMPLE_ARGUMENTS_OF = {
    "Bidirectional": {"layer": {"LSTM": 4}}, "Dot": {"axes": 1}, "TimeDistributed": {"layer": {"Dense": 4}},
    "GroupNormalization": {"groups": 3}, "EinsumDense": {"equation": "ab,bc->ac", "output_shape": 4},
    "StringLookup": {"vocabulary": ["a", "b"]}, "IntegerLookup": {"vocabulary": [1, 2]},
    "TextVectorization": {"vocabulary": ["a", "b"]}, "CategoryEncoding": {"num_tokens": 4},
    "Discretization": {"bin_boundaries": [0.0, 1.0]}, "Normalization": {"mean": 0.0, "variance": 1.0},
    "RandomPosterization": {"factor": 4}, "RandomColorJitter": {"brightness_factor": 0.1},
    "ConvLSTM3D": {"filters": 2, "kernel_size": 2},
}
rng = np.random.default_rng(0)
VECTORS, SEQUENCES, IMAGES = rng.random((2, 4)), rng.random((2, 5, 3)), rng.random((2, 16, 16, 3)) * 255
# Inputs by layer, where the rule in `sample_input` does not fit.
SAMPLE_INPUTS = {
    "Embedding": np.array([[1, 2, 3]]), "ReversibleEmbedding": np.array([[1, 2, 3]]),
    "StringLookup": np.array([["a", "b", "c"]]), "IntegerLookup": np.array([[1, 2, 3]]),
    "TextVectorization": np.array(["a b c", "b"]), "Hashing": np.array([["a", "b"]]),
    "CategoryEncoding": np.array([[0, 1, 3]]), "HashedCrossing": (np.array([1, 2]), np.array([3, 4])),
    "MelSpectrogram": rng.random((2, 4096)).astype("float32"), "STFTSpectrogram": rng.random((2, 1024, 1)),
    "Attention": [SEQUENCES, SEQUENCES], "AdditiveAttention": [SEQUENCES, SEQUENCES],
    "Reshape": SEQUENCES, "Permute": SEQUENCES, "Masking": SEQUENCES, "RepeatVector": VECTORS,
    "GroupNormalization": SEQUENCES, "Bidirectional": SEQUENCES, "TimeDistributed": SEQUENCES,
    "SimpleRNN": SEQUENCES, "LSTM": SEQUENCES, "GRU": SEQUENCES,
}
TWO_ARGUMENT_CALLS = {"MultiHeadAttention", "GroupQueryAttention"}  # call(query, value)


def sample_input(name: str, module: str):
    if name in SAMPLE_INPUTS:
        return SAMPLE_INPUTS[name]
    if name.startswith("ConvLSTM"):
        n = int(name[len("ConvLSTM")])
        return rng.random((2, 3) + (6,) * n + (2,))
    if "image_preprocessing" in module or name in ("Rescaling", "CenterCrop"):
        return IMAGES
    if name.endswith(("1D", "1DTranspose")):
        return rng.random((2, 8, 3))
    if name.endswith(("2D", "2DTranspose")):
        return rng.random((2, 8, 8, 3))
    if name.endswith(("3D", "3DTranspose")):
        return rng.random((2, 6, 6, 6, 2))
    if name in TWO_ARGUMENT_CALLS:
        return SEQUENCES
    return VECTORS


# merging layers take several inputs: tests/test_graphs.py builds each against the hand-written model
@pytest.mark.parametrize("cls", [c for c in LAYERS if c.__name__ != "Input" and c not in MERGING_LAYERS],
                         ids=lambda c: c.__name__)
def test_every_layer_builds_from_its_spec(cls):
    """Each layer, written with its required arguments, validates, is built by the compiler and runs on a batch."""
    from pydantic import TypeAdapter

    required = [k for k, f in cls.model_fields.items() if f.is_required()]
    own = SAMPLE_ARGUMENTS_OF.get(cls.__name__, {})
    arguments = {**{k: SAMPLE_ARGUMENTS[k] for k in required if k not in own}, **own}
    entry = TypeAdapter(LayerSpec).validate_python({cls.__name__: arguments})
    layer = build_layer(keras, entry.args)
    keras_cls = getattr(keras.layers, cls.keras_class)
    assert type(layer) is keras_cls
    x = sample_input(cls.__name__, keras_cls.__module__)
    from schemas.layers import Merge

    out = (layer([x, x]) if issubclass(cls, Merge)  # a merging layer is called on the list of its inputs
           else layer(x, x) if cls.__name__ in TWO_ARGUMENT_CALLS else layer(x))
    assert out is not None


# Keras callbacks a spec cannot list, and why (a new callback in Keras fails the test below until it
# is added to schemas.callbacks or here).
CALLBACKS_LEFT_OUT = {
    "Callback": "the base class", "CallbackList": "Keras's container", "History": "always on: the history",
    "ProgbarLogger": "this tool prints its own progress", "TerminateOnNaN": "always on",
    "BackupAndRestore": "the runner's own resume state (--resume)", "CSVLogger": "writes a file",
    "ModelCheckpoint": "writes files (keep: best keeps the best epoch)", "OrbaxCheckpoint": "writes files",
    "TensorBoard": "writes files (tracking is its own issue)", "RemoteMonitor": "sends over the network",
    "LambdaCallback": "needs Python functions", "LearningRateScheduler": "needs a Python function "
                                                                         "(a schedule is written as learning_rate)",
}


def test_every_keras_callback_is_in_the_spec_or_left_out_with_a_reason():
    ours = {c.__name__ for c in CALLBACKS}
    keras_callbacks = {n for n in dir(keras.callbacks) if isinstance(getattr(keras.callbacks, n), type)}
    assert ours | set(CALLBACKS_LEFT_OUT) == keras_callbacks
    assert not ours & set(CALLBACKS_LEFT_OUT)


def test_every_callback_argument_is_in_the_spec():
    for cls in CALLBACKS:
        keras_args = set(signature_of(getattr(keras.callbacks, cls.keras_class))) - {"self", "kwargs"}
        assert keras_args == set(cls.model_fields), cls.__name__


def test_every_keras_schedule_is_in_the_spec_with_every_argument():
    import numpy as np

    from factory.train.callbacks import keras_callback  # noqa: F401 - the runner's module imports

    schedules = {n for n in dir(keras.optimizers.schedules)
                 if isinstance(getattr(keras.optimizers.schedules, n), type)} - {"LearningRateSchedule"}
    assert {c.__name__ for c in SCHEDULES} == schedules
    for cls in SCHEDULES:
        assert set(signature_of(getattr(keras.optimizers.schedules, cls.__name__))) - {"self", "name"} \
            == set(cls.model_fields), cls.__name__
    # a schedule inside an optimizer's config is deserialized by Keras itself, with the spec's arguments
    from pydantic import TypeAdapter

    from schemas.optimizers import OptimizerSpec

    spec = TypeAdapter(OptimizerSpec).validate_python(
        {"SGD": {"learning_rate": {"PiecewiseConstantDecay": {"boundaries": [5], "values": [0.5, 0.25]}}}})
    optimizer = keras.optimizers.get(spec.keras_config())
    schedule = optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.PiecewiseConstantDecay)
    assert [float(np.asarray(schedule(s))) for s in (0, 5, 6)] == [0.5, 0.5, 0.25]


def test_every_optimizer_argument_keras_has_is_in_the_spec():
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    shared = set(signature_of(BaseOptimizer)) - {"self", "name", "kwargs"}
    for cls in OPTIMIZERS:
        keras_args = set(signature_of(getattr(keras.optimizers, cls.keras_class))) - {"self", "name", "kwargs"}
        assert keras_args | shared == set(cls.model_fields), cls.__name__


def test_metrics_are_logged_under_the_name_written():
    """What `monitor:` is checked against (schemas.callbacks.history_names): Keras logs each metric
    under the name `compile.metrics` gives it."""
    import numpy as np
    from keras.src.trainers.compile_utils import get_metric

    y_true, y_pred = np.eye(3, dtype="float32")[[0, 1, 2, 1]], np.full((4, 3), 1 / 3, dtype="float32")
    for name in names.METRICS:
        assert get_metric(name, y_true, y_pred).name == name




# --- constraints, losses and metrics with arguments


def test_constraint_names_cover_keras_and_build():
    from keras.src import constraints as keras_constraints

    ours = {c.__name__ for c in constraints.CONSTRAINTS} | set(constraints.CONSTRAINT_ALIASES)
    assert ours == set(keras_constraints.ALL_OBJECTS_DICT) - {"Constraint", "constraint"}
    for alias, target in constraints.CONSTRAINT_ALIASES.items():
        assert type(keras.constraints.get(alias)) is getattr(keras.constraints, target)
    for cls in constraints.CONSTRAINTS:
        built = keras.constraints.get(cls().keras_config())
        assert built(np.ones((3, 2), dtype="float32")) is not None


def _sample(cls) -> dict:
    """The required arguments of a loss or metric class, with values Keras takes."""
    values = {"num_classes": 3, "target_class_ids": [0, 1], "recall": 0.5, "precision": 0.5,
              "sensitivity": 0.5, "specificity": 0.5}
    return {k: values[k] for k, f in cls.model_fields.items() if f.is_required()}


@pytest.mark.parametrize("kind", ["losses", "metrics"])
def test_every_keras_loss_and_metric_class_is_accepted_and_builds(kind):
    from pydantic import TypeAdapter

    from keras.src import losses as keras_losses, metrics as keras_metrics

    spec_module, keras_module, registry = {
        "losses": (losses, keras.losses, keras_losses.ALL_OBJECTS_DICT),
        "metrics": (metric_specs, keras.metrics, keras_metrics.ALL_OBJECTS_DICT)}[kind]
    classes = spec_module.LOSSES if kind == "losses" else spec_module.METRICS
    aliases = spec_module.LOSS_CLASS_ALIASES if kind == "losses" else spec_module.METRIC_CLASS_ALIASES
    internal = {"Loss", "LossFunctionWrapper", "Metric", "MeanMetricWrapper", "Mean", "Sum"}  # bases, or take a function
    keras_classes = {k for k, v in registry.items() if k[:1].isupper() and inspect.isclass(v)} - internal
    assert {c.__name__ for c in classes} | set(aliases) == keras_classes
    spec_type = losses.LossSpec if kind == "losses" else metric_specs.MetricSpec
    for cls in classes:
        written = TypeAdapter(spec_type).validate_python({cls.__name__: _sample(cls)})
        built = keras_module.get(written.keras_config())
        assert type(built) is getattr(keras_module, cls.keras_class)
    for alias, target in aliases.items():
        assert registry[alias] is getattr(keras_module, target)


def test_each_loss_class_computes_the_function_names_says():
    for cls_name, function in names.LOSS_CLASS_FUNCTIONS.items():
        assert getattr(keras.losses, cls_name)().fn is keras.losses.get(function), cls_name
    assert set(names.LOSS_CLASS_FUNCTIONS) == set(losses.LOSS_CLASSES)


def test_bidirectional_takes_every_recurrent_layer():
    """schemas.layers.RECURRENT_LAYERS, the layers Bidirectional may hold, are Keras's public RNN subclasses."""
    from schemas.layers import RECURRENT_LAYERS

    public = {n for n, c in vars(keras.layers).items() if isinstance(c, type) and issubclass(c, keras.layers.RNN)}
    assert set(RECURRENT_LAYERS) == public - {"RNN"}
