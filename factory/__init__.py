"""factory: declarative YAML experiments that build, train and compare tf.keras models.

Python API (TensorFlow is imported only by the functions that build or train):

    from factory import load, build_model
    loaded = load("experiments/abc.yaml")
    experiment = loaded.experiment.resolved()
    model = build_model("A", experiment.models["A"])
"""

__version__ = "0.1.0"

from factory.errors import SpecError  # noqa: E402
from factory.spec.loader import load  # noqa: E402


def build_model(name, spec, input_shape=None):
    """Build one model of an experiment as a tf.keras model (imports TensorFlow)."""
    from factory.build.compiler import build_model as _build

    return _build(name, spec, input_shape)


__all__ = ["SpecError", "load", "build_model", "__version__"]
