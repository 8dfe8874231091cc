"""Compile specs into tf.keras models: one Keras layer per spec layer, built by Keras itself.

Layer classes are looked up by the names the schema validated against its closed registry, and
every nested Keras object (initializer, regularizer, optimizer) is passed as the config dict that
Keras's own `get()` deserializes. A model that validates but cannot be built (a Conv2D after a
Flatten) raises `SpecError` naming the model and the layer.
"""

from __future__ import annotations

from typing import Sequence

from factory.errors import Issue, SpecError
from factory.keras_setup import import_keras
from schemas import Compile, Model
from schemas.layers import Input

DEFAULT_STEPS_PER_EXECUTION = 64  # batches per compiled call; changes speed only (see README)


def build_model(name: str, spec: Model, input_shape: Sequence[int] | None = None):
    """Build the Keras `Sequential` model for `spec`; `input_shape` is used if the spec gives none."""
    keras = import_keras()
    layers = list(spec.layers)
    shape = spec.declared_input_shape or (list(input_shape) if input_shape is not None else None)
    if shape is None:
        raise SpecError([Issue(f"model {name} has no input shape: give `input_shape:` on the model "
                               "or its first layer", loc=("models", name))])
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=tuple(shape)))
    if isinstance(layers[0].args, Input):
        layers = layers[1:]  # its shape is the Input above
    offset = len(spec.layers) - len(layers)
    for i, entry in enumerate(layers, start=offset):
        args = entry.args
        where = ("models", name, "layers", i)
        try:
            layer = getattr(keras.layers, args.keras_class)(**args.keras_arguments())
            model.add(layer)
        except (ValueError, TypeError) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SpecError([Issue(f"model {name} cannot be built at layer {i} ({args.keras_class}): "
                                   f"{reason}", loc=where)]) from None
    return model


def compile_model(model, spec: Compile, steps_per_execution: int | None = None) -> None:
    """Compile `model` as `spec` says; `steps_per_execution` defaults to a fast value."""
    keras = import_keras()
    optimizer = keras.optimizers.get(spec.optimizer.keras_config())
    model.compile(optimizer=optimizer, loss=spec.loss, metrics=list(spec.metrics),
                  steps_per_execution=spec.steps_per_execution or steps_per_execution
                  or DEFAULT_STEPS_PER_EXECUTION)
