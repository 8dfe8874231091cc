"""One Keras layer from one spec layer's arguments: what the Sequential and the graph builders share."""

from __future__ import annotations

from schemas.layers import Wrapper


def build_layer(keras, args):
    """The Keras layer for one spec layer's arguments; a wrapper's own layer (Bidirectional's LSTM) is built first.

    Keras takes the held layer as a layer object, not a config, so it is built here by the same rule.
    """
    arguments = args.keras_arguments()
    if isinstance(args, Wrapper):
        arguments["layer"] = build_layer(keras, args.layer.args)
    return getattr(keras.layers, args.keras_class)(**arguments)
