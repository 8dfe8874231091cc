"""Losses: a name Keras resolves (`sparse_categorical_crossentropy`, `mse`) or a class with arguments
(`{SparseCategoricalCrossentropy: {from_logits: true}}`, `{Huber: {delta: 2.0}}`), keyed by Keras class names.

`LOSS_CLASSES` is a plain table (as schemas/layers_keras.py), made into spec classes only when a
spec uses one; `tests/test_keras_drift.py` checks every entry's names and defaults against Keras and
builds each. A new Keras loss is one row here (and its function in `names.LOSS_CLASS_FUNCTIONS`).
"""

import functools

from schemas import names
from schemas.base import KerasArgs, args_class, lazy_keras_union, name_or_keras_object
from schemas.layers_types import ARGUMENT_TYPES


class Loss(KerasArgs):
    """Base of the loss argument models."""


_REDUCTION = ("reduction", "Reduction", "sum_over_batch_size", "how the per-example losses are combined")
_FROM_LOGITS = ("from_logits", "bool", False, "the model outputs logits (no softmax/sigmoid) rather than probabilities")
_SMOOTHING = ("label_smoothing", "Smoothing", 0.0, "moves the labels towards 1/classes by this fraction")
_AXIS = ("axis", "int", -1, "the class axis")

# Keras class: (summary, main argument, arguments)
LOSS_CLASSES = {
    "BinaryCrossentropy": ("Cross-entropy of labels 0 or 1", None, (_FROM_LOGITS, _SMOOTHING, _AXIS, _REDUCTION)),
    "BinaryFocalCrossentropy": ("Binary cross-entropy weighted towards hard examples", None, (
        ("apply_class_balancing", "bool", False, "weight the classes by alpha"),
        ("alpha", "float", 0.25, "weight of class 1 when balancing"),
        ("gamma", "NonNegativeFloat", 2.0, "focusing strength"), _FROM_LOGITS, _SMOOTHING, _AXIS, _REDUCTION)),
    "CategoricalCrossentropy": ("Cross-entropy of one-hot labels", None, (_FROM_LOGITS, _SMOOTHING, _AXIS, _REDUCTION)),
    "CategoricalFocalCrossentropy": ("Categorical cross-entropy weighted towards hard examples", None, (
        ("alpha", "float", 0.25, "weight of the classes"), ("gamma", "NonNegativeFloat", 2.0, "focusing strength"),
        _FROM_LOGITS, _SMOOTHING, _AXIS, _REDUCTION)),
    "SparseCategoricalCrossentropy": ("Cross-entropy of class numbers", None, (
        _FROM_LOGITS, ("ignore_class", "OptionalInt", None, "a class number left out of the loss"),
        _REDUCTION, _AXIS)),
    "MeanSquaredError": ("Mean of squared differences", None, (_REDUCTION,)),
    "MeanAbsoluteError": ("Mean of absolute differences", None, (_REDUCTION,)),
    "MeanAbsolutePercentageError": ("Mean of absolute differences in percent of the labels", None, (_REDUCTION,)),
    "MeanSquaredLogarithmicError": ("Mean of squared differences of log(1 + x)", None, (_REDUCTION,)),
    "Huber": ("Squared error for small differences, absolute error for large ones", "delta", (
        ("delta", "PositiveFloat", 1.0, "where squared turns into absolute"), _REDUCTION)),
    "LogCosh": ("Logarithm of the hyperbolic cosine of the differences", None, (_REDUCTION,)),
    "Hinge": ("Hinge loss of labels -1 or 1", None, (_REDUCTION,)),
    "SquaredHinge": ("Squared hinge loss of labels -1 or 1", None, (_REDUCTION,)),
    "CategoricalHinge": ("Hinge loss of one-hot labels", None, (_REDUCTION,)),
    "Poisson": ("Poisson loss of counts", None, (_REDUCTION,)),
    "KLDivergence": ("Kullback-Leibler divergence of distributions", None, (_REDUCTION,)),
    "CosineSimilarity": ("Negative cosine similarity of labels and outputs", "axis", (_AXIS, _REDUCTION)),
    "CTC": ("Connectionist temporal classification loss", None, (_REDUCTION,)),
    "Circle": ("Circle loss for metric learning", None, (
        ("gamma", "PositiveFloat", 80.0, "scale"), ("margin", "float", 0.4, "relaxation margin"),
        ("remove_diagonal", "bool", True, "leave out each example's pair with itself"), _REDUCTION)),
    "Dice": ("Dice loss for segmentation", None, (_REDUCTION, ("axis", "OptionalAxes", None, "axes reduced"))),
    "Tversky": ("Tversky loss for segmentation", None, (
        ("alpha", "float", 0.5, "weight of false positives"), ("beta", "float", 0.5, "weight of false negatives"),
        _REDUCTION, ("axis", "OptionalAxes", None, "axes reduced"))),
}
# (keras.losses.MSE, BCE, ... are functions, not classes: the names `mse`, `bce` stand for them)
LOSS_CLASS_ALIASES: dict[str, str] = {}
# The keys a loss class is written with: a one-key mapping with one of these is a loss, not a loss per output
LOSS_CLASS_KEYS = frozenset(LOSS_CLASSES) | frozenset(LOSS_CLASS_ALIASES)


@functools.cache
def loss_class(name: str) -> type[Loss]:
    """The spec class of the loss `name`, built on first use."""
    return args_class(Loss, name, *LOSS_CLASSES[name], types=ARGUMENT_TYPES, module=__name__)


LossObject = lazy_keras_union("loss", tuple(LOSS_CLASSES), loss_class, LOSS_CLASS_ALIASES)
LossSpec = name_or_keras_object("loss", names.LOSSES, LossObject)


# Arguments that leave a loss's values unchanged: from_logits only moves the softmax/sigmoid into the loss
_SAME_VALUES = frozenset({"from_logits"})


def loss_values(loss: object) -> object:
    """What decides a written loss's values: its function and every argument other than from_logits that
    differs from Keras's default (`reduction: sum`, `label_smoothing`, Huber's `delta` change the scale).
    A per-output mapping gives one such value per output."""
    if hasattr(loss, "model_dump"):
        loss = loss.model_dump()
    if isinstance(loss, dict) and len(loss) == 1 and next(iter(loss)) in names.LOSS_CLASS_FUNCTIONS:
        (name, arguments), = loss.items()
        fields = loss_class(name).model_fields
        if not isinstance(arguments, dict):  # `{Huber: 2.0}`: a scalar is the main argument
            arguments = {} if arguments is None else {loss_class(name).main_argument: arguments}
        changed = sorted((k, repr(v)) for k, v in arguments.items()
                         if k not in _SAME_VALUES and not (k in fields and fields[k].default == v))
        return (names.loss_function(name), tuple(changed))
    if isinstance(loss, dict):
        return {k: loss_values(v) for k, v in loss.items()}
    return (names.loss_function(loss), ())


def same_loss(a: object, b: object) -> bool:
    """Whether two written losses give comparable values: one loss function with the same value-changing
    arguments (`mse` and `mean_squared_error` are, and so are `sparse_categorical_crossentropy` and
    `{SparseCategoricalCrossentropy: {from_logits: true}}`; `{...: {reduction: sum}}` is not)."""
    return loss_values(a) == loss_values(b)


def __getattr__(name: str):
    """`LOSSES`, every loss class, built on first access (the drift test uses it)."""
    if name == "LOSSES":
        return tuple(loss_class(n) for n in LOSS_CLASSES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
