"""Import Keras (TensorFlow backend) quietly; only the compiler, runner and data download call this."""

import os


def import_keras():
    """Return the `keras` module with TensorFlow's start-up chatter turned down."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep INFO/WARNING C++ logs off the terminal
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras  # noqa: PLC0415 - deliberately lazy: importing TensorFlow costs seconds

    return keras
