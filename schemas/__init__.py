"""The spec language: Pydantic models of experiments, models, layers and Keras objects.

Imports pydantic and the standard library only, never TensorFlow, so validating a spec is fast.
"""

from schemas.experiment import Compile, Data, Experiment, Model, Training
from schemas.layers import LAYERS, LayerSpec
from schemas.initializers import INITIALIZERS, INITIALIZER_ALIASES, InitializerSpec
from schemas.regularizers import REGULARIZERS, REGULARIZER_ALIASES, RegularizerSpec
from schemas.optimizers import OPTIMIZERS, OPTIMIZER_ALIASES, OptimizerSpec

__all__ = ["Compile", "Data", "Experiment", "Model", "Training", "LAYERS", "LayerSpec",
           "INITIALIZERS", "INITIALIZER_ALIASES", "InitializerSpec", "REGULARIZERS",
           "REGULARIZER_ALIASES", "RegularizerSpec", "OPTIMIZERS", "OPTIMIZER_ALIASES", "OptimizerSpec"]
