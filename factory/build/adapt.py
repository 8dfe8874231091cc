"""Adapt a model's preprocessing layers to the training split before training, in whatever process trains it.

Normalization, TextVectorization, StringLookup, IntegerLookup and Discretization learn their state
(mean and variance, a vocabulary, bin boundaries) from data with `layer.adapt`. `prepare_model` runs
in `train_one`, so the serial backend, worker processes and Ray tasks all adapt the same way, on
the training split only (never the test split), after building and before compiling. A layer the
spec already gives its state (`mean`/`variance`, `vocabulary`, `bin_boundaries`) is left as given.
The state is part of the layer, so the saved `.keras` model carries it.
"""

from __future__ import annotations

import numpy as np

from factory.build import keras_setup
from factory.data.feeding import streamed, training_inputs
from factory.errors import Issue, SpecError

# Layers that learn from data, and the arguments that give their state instead.
ADAPTED = {"Normalization": ("mean", "variance"), "TextVectorization": ("vocabulary",),
           "StringLookup": ("vocabulary",), "IntegerLookup": ("vocabulary",), "Discretization": ("bin_boundaries",)}
ADAPT_BATCH = 256  # examples per batch while adapting; the state does not depend on it


def needs_adapt(layer) -> bool:
    """Whether `layer` learns its state with `adapt` and the spec did not give that state."""
    given = ADAPTED.get(type(layer).__name__)
    if given is None:
        return False
    config = layer.get_config()
    return all(config.get(key) is None for key in given)


def prepare_model(keras, model, data, validation_split: float | None = None):
    """`model` with each preprocessing layer that needs it adapted on `data`'s training split, in order.

    A layer deeper in the model is adapted on what the layers before it make of the training inputs
    (those before it already adapted). A layer inside TimeDistributed is adapted on the time steps;
    one inside another wrapper is refused. With `validation_split` (arrays only) the rows Keras
    holds out for validation are left out. Returns the model to compile: `model`, or for a table
    (data with an `encoder`) one model of raw columns, the encoder in front of `model`.
    """
    encoder = data.encoder(keras) if hasattr(data, "encoder") else None  # a table's raw columns -> one row
    front = [encoder] if encoder is not None else []
    layers = list(model.layers)
    for i, layer in enumerate(layers):
        inner = getattr(layer, "layer", None)  # a Wrapper's layer
        if needs_adapt(layer):
            layer.adapt(_inputs_of(front + layers[:i], data, validation_split))
        elif inner is not None and needs_adapt(inner):
            if type(layer).__name__ != "TimeDistributed":
                raise SpecError([Issue(f"{type(inner).__name__} inside {type(layer).__name__} ('{layer.name}') "
                                       "cannot be adapted there: put it before the wrapper, or give its state "
                                       f"({', '.join(ADAPTED[type(inner).__name__])})",
                                       loc=("models", model.name, "layers"))])
            steps = _inputs_of(front + layers[:i], data, validation_split, batched=True)  # (batch, time, ...) -> time steps
            if isinstance(steps, np.ndarray):
                inner.adapt(steps.reshape(-1, *steps.shape[2:]))
            else:
                import tensorflow as tf

                inner.adapt(steps.map(lambda x: tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))))
    if encoder is None:
        return model
    return keras.Model(encoder.input, model(encoder.output), name=model.name)  # saved whole: takes raw rows


def _inputs_of(before: list, data, validation_split: float | None = None, batched: bool = False):
    """The training inputs as the layers `before` turn them: the raw inputs when there are none."""
    inputs = training_inputs(data, ADAPT_BATCH, validation_split)
    if not before and not batched:
        return inputs
    if keras_setup.imported_backend() != "tensorflow":
        return _eagerly_through(before, inputs)
    import tensorflow as tf

    if not streamed(data):
        inputs = tf.data.Dataset.from_tensor_slices(inputs).batch(ADAPT_BATCH)

    def through(x):
        for layer in before:
            x = layer(x, training=False)
        return x

    return inputs.map(through)


def _eagerly_through(before: list, inputs) -> np.ndarray:
    """The inputs as the layers `before` turn them, batch by batch, as one array: on JAX or PyTorch.

    Keras layers on those backends cannot run inside a tf.data graph (`Dataset.map` traces them
    with symbolic TensorFlow tensors), so they run eagerly here on the arrays (or on the stream's
    batches as arrays); `adapt` then reads the one array on every backend.
    """
    from keras import ops

    if isinstance(inputs, (np.ndarray, dict)):
        rows = len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)
        batches = ({k: a[i:i + ADAPT_BATCH] for k, a in inputs.items()} if isinstance(inputs, dict)
                   else inputs[i:i + ADAPT_BATCH] for i in range(0, rows, ADAPT_BATCH))
    else:  # a stream
        batches = inputs.as_numpy_iterator() if hasattr(inputs, "as_numpy_iterator") else iter(inputs)
    made = []
    for x in batches:
        for layer in before:
            x = layer(x, training=False)
        made.append(ops.convert_to_numpy(x))
    return np.concatenate(made)
