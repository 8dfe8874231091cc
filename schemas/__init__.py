"""The spec language: Pydantic models of experiments, models, layers and Keras objects.

Imports pydantic and the standard library only, never TensorFlow, so validating a spec is fast.
"""

from schemas.experiment import Compile, Data, Experiment, Model, Training
from schemas.layers import LayerSpec
from schemas.initializers import INITIALIZERS, INITIALIZER_ALIASES, InitializerSpec
from schemas.regularizers import REGULARIZERS, REGULARIZER_ALIASES, RegularizerSpec
from schemas.optimizers import OPTIMIZERS, OPTIMIZER_ALIASES, OptimizerSpec



def __getattr__(name: str):
    """`LAYERS` is built on first access: validating a spec builds only the layers it uses."""
    if name == "LAYERS":
        from schemas import layers

        return layers.LAYERS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def json_schema() -> dict:
    """The JSON Schema of spec files as users write them: experiments and libraries, composition forms included."""
    from schemas.composition import add_composition

    schema = add_composition(Experiment.model_json_schema())
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


__all__ = ["json_schema", "Compile", "Data", "Experiment", "Model", "Training", "LAYERS", "LayerSpec",
           "INITIALIZERS", "INITIALIZER_ALIASES", "InitializerSpec", "REGULARIZERS",
           "REGULARIZER_ALIASES", "RegularizerSpec", "OPTIMIZERS", "OPTIMIZER_ALIASES", "OptimizerSpec"]
