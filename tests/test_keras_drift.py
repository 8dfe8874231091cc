"""The hand-kept schema against the installed Keras: argument names, defaults and name lists."""

import inspect

import pytest

from factory.build.keras_setup import import_keras
from schemas import INITIALIZERS, LAYERS, OPTIMIZERS, REGULARIZERS, names
from schemas.base import KerasArgs
from schemas.initializers import INITIALIZER_ALIASES
from schemas.optimizers import OPTIMIZER_ALIASES
from schemas.regularizers import REGULARIZER_ALIASES

keras = import_keras()

KINDS = [(LAYERS, keras.layers, keras.layers.Layer), (INITIALIZERS, keras.initializers, None),
         (REGULARIZERS, keras.regularizers, None), (OPTIMIZERS, keras.optimizers, keras.optimizers.Optimizer)]
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
        if field.is_required():
            continue
        if default is inspect.Parameter.empty:
            continue
        ours = field.default
        if isinstance(default, tuple):
            default = list(default)
            ours = [ours] * len(default) if isinstance(ours, int) else ours
        if isinstance(default, str) and isinstance(ours, str):
            assert ours.lower().replace("_", "") == default.lower().replace("_", ""), (spec.__name__, name)
        else:
            assert ours == default, f"{spec.__name__}.{name}: spec default {ours!r}, Keras {default!r}"


def test_main_arguments_are_fields():
    for classes, _, _ in KINDS:
        for cls in classes:
            assert cls.main_argument is None or cls.main_argument in cls.model_fields, cls


def test_activation_names_match_keras():
    from keras.src import activations

    assert set(names.ACTIVATIONS) == {k for k in activations.ALL_OBJECTS_DICT if k.islower()}
    for name in names.ACTIVATIONS:
        keras.activations.get(name)


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
