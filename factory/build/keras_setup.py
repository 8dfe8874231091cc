"""Import Keras (TensorFlow backend) quietly; only the compiler, runner and data download call this."""

import logging
import os
import sys

_keras = None


def import_keras():
    """Return the `keras` module, with TensorFlow's start-up chatter kept off the terminal.

    TensorFlow prints C++ log lines (oneDNN, CUDA probing) straight to file descriptor 2 while it
    loads, before any Python setting can stop them; they are silenced during the import and the
    first device query only. Python exceptions still propagate as usual.
    """
    global _keras
    if _keras is not None:
        return _keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: PLC0415 - deliberately lazy: importing TensorFlow costs seconds
            import tensorflow as tf

            tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # e.g. retracing notes between models
    _keras = keras
    return keras
