"""Import Keras (TensorFlow backend) quietly; only the compiler, runner and data download call this."""

import collections
import contextlib
import logging
import os
import sys
from typing import Iterator

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


@contextlib.contextmanager
def fresh_layer_names() -> Iterator[None]:
    """Number Keras's automatic layer names from scratch inside, as in a script building one model.

    Keras numbers names (`dense`, `dense_1`, ...) with one per-process counter, so a model's layer
    names would depend on what was built before it. The counter is swapped for a fresh one and
    restored afterwards (a name holds no randomness: the weights a seed gives do not change).
    `keras.backend.clear_session()` would reset it too, but also the random seed state, dtype
    policy and TensorFlow graph of everything else in the process.
    """
    import_keras()
    from keras.src.backend.common import global_state  # the counter has no public accessor

    key = "object_name_uids"  # the attribute keras.src.utils.naming.uniquify counts in
    saved = global_state.get_global_attribute(key)
    global_state.set_global_attribute(key, collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute(key, saved)
