"""Import Keras quietly, on the Keras backend a run asks for; only the compiler, runner and data download call this.

Keras reads its backend (`KERAS_BACKEND`) once, when it is first imported, so a process trains on
one backend: the runner gives runs on another backend a worker process of their own.
"""

import collections
import contextlib
import importlib.util
import logging
import os
import sys
from typing import Iterator

from factory.build.native_logs import fd2_silenced

DEFAULT_BACKEND = "tensorflow"
# The package each backend needs, as pip installs it; schemas.experiment.KerasBackend lists the same names.
DISTRIBUTIONS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
INSTALL = {"tensorflow": "pip install tensorflow", "jax": "pip install 'factory[jax]'",
           "torch": "pip install torch (its CPU build: --index-url https://download.pytorch.org/whl/cpu)"}

# What Keras's constructors raise for arguments they refuse (NotImplementedError: RandomZoom's
# interpolation; AttributeError, KeyError: a value of the wrong kind deep inside). Caught around one
# constructor call at a time and reported at that layer, loss or metric; never our own code's errors.
KERAS_CONSTRUCTION_ERRORS = (ValueError, TypeError, NotImplementedError, AttributeError, KeyError, IndexError)

_keras = None
_preferred = DEFAULT_BACKEND  # what `import_keras()` without a backend imports; the runner sets it
_own_process = False  # set by `own_process()`: nothing but factory runs in this process

# Packages Keras imports when they are installed, for features factory never uses: scikit-learn for
# its scikit-learn wrappers (which also loads SciPy's statistics), matplotlib for its image-gallery
# plots, pandas to accept DataFrames in `fit` (factory hands Keras NumPy arrays only). Together
# 1.1 s of a 2.0 s `import keras` on JAX, measured on the 2-core machine.
KERAS_OPTIONAL_IMPORTS = ("sklearn", "matplotlib", "pandas")


def own_process() -> None:
    """Say that this process runs factory only (the command line, a worker process), so Keras may load lean.

    In such a process `import_keras` imports Keras without `KERAS_OPTIONAL_IMPORTS` (each then
    imports as usual when anything asks for it later: the digits loader, the plots), and on JAX keeps
    the compiled programs for the next process (`factory.build.xla_cache`). A process that uses
    factory as a library (a notebook) never calls this: there Keras and JAX behave as they always do.
    """
    global _own_process
    _own_process = True


def prefer(backend: str) -> None:
    """Make `backend` the one a later `import_keras()` without a backend imports (e.g. a dataset download)."""
    global _preferred
    _preferred = backend


def installed(backend: str) -> bool:
    """Whether `backend`'s package can be imported here (looked up, not imported: that costs seconds)."""
    return importlib.util.find_spec(DISTRIBUTIONS[backend]) is not None


def imported_backend() -> str | None:
    """The backend this process's Keras runs on, or None before Keras is imported (by us or anyone)."""
    keras = _keras or sys.modules.get("keras")
    return None if keras is None else keras.backend.backend()


def import_keras(backend: str | None = None, threads: int | None = None):
    """Return the `keras` module on `backend` (default: the one already imported, else `prefer`'s, TensorFlow).

    The first call decides for the whole process; asking for another backend afterwards is a
    RuntimeError (a bug: such a run belongs in a worker process). `threads` caps the backend's
    thread pools (worker processes share the cores). TensorFlow prints C++ log lines (oneDNN, CUDA
    probing) straight to file descriptor 2 while it loads, before any Python setting can stop them;
    they are silenced during the import and the first device query only. Python exceptions still
    propagate as usual.
    """
    global _keras
    if _keras is None and "keras" in sys.modules:  # imported before us (a notebook): its backend stays
        _keras = sys.modules["keras"]
    if _keras is not None:
        if backend is not None and backend != _keras.backend.backend():
            raise RuntimeError(f"Keras already runs on {_keras.backend.backend()} in this process; "
                               f"a run on {backend} needs a process of its own")
        return _keras
    backend = backend or _preferred
    os.environ["KERAS_BACKEND"] = backend  # the spec decides, not a variable left in the shell
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with fd2_silenced(), _unimportable(KERAS_OPTIONAL_IMPORTS if _own_process else ()):
        import keras  # noqa: PLC0415 - deliberately lazy: importing a backend costs seconds

        if backend == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # e.g. retracing notes between models
    if backend != "tensorflow" and "tensorflow" not in sys.modules:
        _tensorflow_unseen()
    if threads is not None:
        _limit_threads(backend, threads)
    if backend == "jax" and _own_process:  # after the thread limit: its check may start JAX's CPU client
        from factory.build.xla_cache import keep_compiled_programs

        keep_compiled_programs()
    _keras = keras
    return keras


@contextlib.contextmanager
def _unimportable(packages: tuple[str, ...]) -> Iterator[None]:
    """Inside, `import` of each of `packages` not imported yet raises ImportError (which Keras catches); afterwards it imports."""
    absent = [name for name in packages if name not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # Python's own marker for "not importable": `import name` raises ImportError
    try:
        yield
    finally:
        for name in absent:
            if sys.modules.get(name, "") is None:
                del sys.modules[name]


def _tensorflow_unseen() -> None:
    """Keep Keras on JAX or PyTorch from importing TensorFlow (seconds) just to ask whether it is there.

    Saving a model asks `isinstance(obj, tf.TensorShape)` when TensorFlow is "available", and
    Keras's lazy module imports all of TensorFlow to find out. A process that never imported
    TensorFlow holds no TensorFlow object, so the answer is no without asking; code that really
    uses TensorFlow still imports it (the lazy module's attributes do).
    """
    from keras.src.utils import module_utils  # the lazy module has no public switch

    module_utils.tensorflow._available = False


def _limit_threads(backend: str, threads: int) -> None:
    if backend == "jax":
        _start_xla_on(threads)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)


def _start_xla_on(threads: int) -> None:
    """Have JAX's CPU client size its thread pools for `threads` cores, then let every thread run on any core.

    XLA takes the pool size from the cores the process may run on when the client starts, and has
    no flag for it: with `XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`, four threads still shared a
    matrix product on a 2-core machine, as without it; started on one core, one thread did. So the
    client starts while this thread may use `threads` cores, and afterwards every thread of the
    process (the pool's inherited the narrow set) may use all of them again, as before.
    """
    every = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else set()
    if threads >= len(every):
        return  # elsewhere than Linux, or the share is every core: nothing to narrow
    os.sched_setaffinity(0, sorted(every)[:threads])
    try:
        import jax

        jax.devices()  # starts the CPU client and its thread pools
    finally:
        for thread in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(thread), every)
            except OSError:  # a thread that ended meanwhile
                pass


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
