"""Adapt a model's preprocessing layers to the training split before training, in whatever process trains it.

Normalization, TextVectorization, StringLookup, IntegerLookup and Discretization learn their state
(mean and variance, a vocabulary, bin boundaries) from data with `layer.adapt`. `prepare_model` runs
in `train_one`, so the serial backend, worker processes and Ray tasks all adapt the same way, on
the training split only (never the test split), after building and before compiling. A layer the
spec already gives its state (`mean`/`variance`, `vocabulary`, `bin_boundaries`) is left as given.
The state is part of the layer, so the saved `.keras` model carries it.
"""

from __future__ import annotations

from factory.data.feeding import streamed, training_inputs

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


def prepare_model(keras, model, data):
    """`model` with each preprocessing layer that needs it adapted on `data`'s training split, in order.

    A layer deeper in the model is adapted on what the layers before it make of the training inputs
    (those before it already adapted). Returns the model to compile: `model`, or for a table (data
    with an `encoder`) one model of raw columns, the encoder in front of `model`.
    """
    encoder = data.encoder(keras) if hasattr(data, "encoder") else None  # a table's raw columns -> one row
    front = [encoder] if encoder is not None else []
    layers = list(model.layers)
    for i, layer in enumerate(layers):
        if needs_adapt(layer):
            layer.adapt(_inputs_of(front + layers[:i], data))
    if encoder is None:
        return model
    return keras.Model(encoder.input, model(encoder.output), name=model.name)  # saved whole: takes raw rows


def _inputs_of(before: list, data):
    """The training inputs as the layers `before` turn them: the raw inputs when there are none."""
    inputs = training_inputs(data, ADAPT_BATCH)
    if not before:
        return inputs
    import tensorflow as tf

    if not streamed(data):
        inputs = tf.data.Dataset.from_tensor_slices(inputs).batch(ADAPT_BATCH)

    def through(x):
        for layer in before:
            x = layer(x, training=False)
        return x

    return inputs.map(through)
