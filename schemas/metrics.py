"""Metrics: a name `model.compile` resolves (`accuracy`, `mae`) or a class with arguments
(`{SparseTopKCategoricalAccuracy: {k: 3}}`, `{AUC: {curve: PR}}`), keyed by Keras class names.

A metric is reported (history, tables, plots) under its `name`: Keras's default for the class
(`sparse_top_k_categorical_accuracy`) unless the spec gives one, so two metrics of one class need
names of their own: `name_problems` refuses a name taken twice, `loss`, `val_...` and `<output>_loss`. `METRIC_CLASSES` is a plain table like schemas/losses.py's; the drift test checks
and builds every entry. A new Keras metric is one row here.
"""

import functools
import re
from collections.abc import Iterable

from schemas import names
from schemas.base import KerasArgs, args_class, lazy_keras_union, name_or_keras_object
from schemas.layers_types import ARGUMENT_TYPES


class Metric(KerasArgs):
    """Base of the metric argument models."""


def _name(default):
    return ("name", "MetricName" if default else "OptionalMetricName", default,
            "the name it is reported under (history, tables, plots)")


_FROM_LOGITS = ("from_logits", "bool", False, "the model outputs logits rather than probabilities")
_SMOOTHING = ("label_smoothing", "Smoothing", 0, "moves the labels towards 1/classes by this fraction")
_AXIS = ("axis", "int", -1, "the axis compared")
_THRESHOLDS = ("thresholds", "OptionalThresholds", None, "threshold(s) above which an output counts as 1 (0.5)")
_CLASS_ID = ("class_id", "OptionalNonNegativeInt", None, "compute it for this class only")
_NUM_THRESHOLDS = ("num_thresholds", "PositiveInt", 200, "thresholds used to approximate the curve")
_IGNORE = ("ignore_class", "OptionalInt", None, "a class number left out")
_NUM_CLASSES = ("num_classes", "PositiveInt", ..., "number of classes")
_IDS = ("target_class_ids", "ClassIds", ..., "the classes whose IoU is averaged")


def _plain(summary: str, name: str, *arguments: tuple) -> tuple:
    return (summary, None, (_name(name), *arguments))


def _at(summary: str, given: str, also: str) -> tuple:
    return (summary, given, ((given, "Probability", ..., f"the {also} to reach"), _NUM_THRESHOLDS, _CLASS_ID, _name(None)))


# Keras class: (summary, main argument, arguments)
METRIC_CLASSES = {
    "Accuracy": _plain("How often outputs equal labels exactly", "accuracy"),
    "BinaryAccuracy": _plain("How often outputs above the threshold match labels 0 or 1", "binary_accuracy",
                             ("threshold", "Probability", 0.5, "outputs above it count as 1")),
    "CategoricalAccuracy": _plain("How often the top output is the one-hot label's class", "categorical_accuracy"),
    "SparseCategoricalAccuracy": _plain("How often the top output is the labelled class", "sparse_categorical_accuracy"),
    "TopKCategoricalAccuracy": ("How often the one-hot label's class is among the top k outputs", "k", (
        ("k", "PositiveInt", 5, "how many top outputs count"), _name("top_k_categorical_accuracy"))),
    "SparseTopKCategoricalAccuracy": ("How often the labelled class is among the top k outputs", "k", (
        ("k", "PositiveInt", 5, "how many top outputs count"), _name("sparse_top_k_categorical_accuracy"),
        ("from_sorted_ids", "bool", False, "the outputs are class numbers sorted by score"))),
    "AUC": ("Area under the ROC or precision-recall curve", None, (
        ("num_thresholds", "ManyThresholds", 200, "thresholds used to approximate the curve (2 or more)"),
        ("curve", "Curve", "ROC", "ROC or PR"),
        ("summation_method", "Summation", "interpolation", "how the area is summed"), _name(None),
        ("thresholds", "Floats", None, "the thresholds themselves, instead of num_thresholds"),
        ("multi_label", "bool", False, "one curve per label, averaged"),
        ("num_labels", "OptionalPositiveInt", None, "labels, with multi_label"),
        ("label_weights", "Floats", None, "weights of the labels, with multi_label"), _FROM_LOGITS)),
    "Precision": ("Fraction of predicted positives that are positive", None, (
        _THRESHOLDS, ("top_k", "OptionalPositiveInt", None, "only the top k outputs count"), _CLASS_ID, _name(None))),
    "Recall": ("Fraction of positives predicted positive", None, (
        _THRESHOLDS, ("top_k", "OptionalPositiveInt", None, "only the top k outputs count"), _CLASS_ID, _name(None))),
    "TruePositives": _plain("Count of true positives", None, _THRESHOLDS),
    "TrueNegatives": _plain("Count of true negatives", None, _THRESHOLDS),
    "FalsePositives": _plain("Count of false positives", None, _THRESHOLDS),
    "FalseNegatives": _plain("Count of false negatives", None, _THRESHOLDS),
    "PrecisionAtRecall": _at("Best precision where recall is at least `recall`", "recall", "recall"),
    "RecallAtPrecision": _at("Best recall where precision is at least `precision`", "precision", "precision"),
    "SensitivityAtSpecificity": _at("Best sensitivity where specificity is at least `specificity`", "specificity",
                                    "specificity"),
    "SpecificityAtSensitivity": _at("Best specificity where sensitivity is at least `sensitivity`", "sensitivity",
                                    "sensitivity"),
    "F1Score": _plain("Harmonic mean of precision and recall", "f1_score",
                      ("average", "Average", None, "how per-class scores are averaged (none: one per class)"),
                      ("threshold", "OptionalThreshold", None, "outputs above it count as 1 (none: the top output)")),
    "FBetaScore": _plain("Weighted harmonic mean of precision and recall", "fbeta_score",
                         ("average", "Average", None, "how per-class scores are averaged"),
                         ("beta", "PositiveFloat", 1.0, "weight of recall relative to precision"),
                         ("threshold", "OptionalThreshold", None, "outputs above it count as 1")),
    "R2Score": _plain("Coefficient of determination", "r2_score",
                      ("class_aggregation", "ClassAggregation", "uniform_average", "how per-output scores are combined"),
                      ("num_regressors", "NonNegativeInt", 0, "regressors, for the adjusted R2")),
    "MeanIoU": ("Mean intersection over union of the classes", "num_classes", (
        _NUM_CLASSES, _name(None), _IGNORE, ("sparse_y_true", "bool", True, "labels are class numbers"),
        ("sparse_y_pred", "bool", True, "outputs are class numbers"), _AXIS)),
    "IoU": ("Intersection over union of some classes", None, (
        _NUM_CLASSES, _IDS, _name(None), _IGNORE, ("sparse_y_true", "bool", True, "labels are class numbers"),
        ("sparse_y_pred", "bool", True, "outputs are class numbers"), _AXIS)),
    "BinaryIoU": ("Intersection over union of the classes 0 and 1", None, (
        ("target_class_ids", "ClassIds", [0, 1], "the classes averaged"),
        ("threshold", "Probability", 0.5, "outputs above it count as 1"), _name(None))),
    "OneHotIoU": ("Intersection over union of some classes, one-hot labels", None, (
        _NUM_CLASSES, _IDS, _name(None), _IGNORE, ("sparse_y_pred", "bool", False, "outputs are class numbers"), _AXIS)),
    "OneHotMeanIoU": ("Mean intersection over union, one-hot labels", "num_classes", (
        _NUM_CLASSES, _name(None), _IGNORE, ("sparse_y_pred", "bool", False, "outputs are class numbers"), _AXIS)),
    "MeanSquaredError": _plain("Mean of squared differences", "mean_squared_error"),
    "MeanAbsoluteError": _plain("Mean of absolute differences", "mean_absolute_error"),
    "MeanAbsolutePercentageError": _plain("Mean of absolute differences in percent", "mean_absolute_percentage_error"),
    "MeanSquaredLogarithmicError": _plain("Mean of squared differences of log(1 + x)", "mean_squared_logarithmic_error"),
    "RootMeanSquaredError": _plain("Root of the mean squared difference", "root_mean_squared_error"),
    "LogCoshError": _plain("Logarithm of the hyperbolic cosine of the differences", "logcosh"),
    "CosineSimilarity": _plain("Cosine similarity of labels and outputs", "cosine_similarity", _AXIS),
    "PearsonCorrelation": _plain("Pearson correlation of labels and outputs", "pearson_correlation", _AXIS),
    "ConcordanceCorrelation": _plain("Concordance correlation of labels and outputs", "concordance_correlation", _AXIS),
    "Hinge": _plain("Hinge loss", "hinge"),
    "SquaredHinge": _plain("Squared hinge loss", "squared_hinge"),
    "CategoricalHinge": _plain("Categorical hinge loss", "categorical_hinge"),
    "KLDivergence": _plain("Kullback-Leibler divergence", "kl_divergence"),
    "Poisson": _plain("Poisson loss", "poisson"),
    "BinaryCrossentropy": _plain("Binary cross-entropy", "binary_crossentropy", _FROM_LOGITS, _SMOOTHING),
    "CategoricalCrossentropy": _plain("Categorical cross-entropy", "categorical_crossentropy", _FROM_LOGITS,
                                      _SMOOTHING, _AXIS),
    "SparseCategoricalCrossentropy": _plain("Sparse categorical cross-entropy", "sparse_categorical_crossentropy",
                                            _FROM_LOGITS, _IGNORE, _AXIS),
}
# Keras's short names of the same classes (its deserializer knows them; keras.metrics does not export them)
METRIC_CLASS_ALIASES = {"BCE": "BinaryCrossentropy", "MSE": "MeanSquaredError", "MAE": "MeanAbsoluteError",
                        "MAPE": "MeanAbsolutePercentageError", "MSLE": "MeanSquaredLogarithmicError"}


@functools.cache
def metric_class(name: str) -> type[Metric]:
    """The spec class of the metric `name`, built on first use."""
    return args_class(Metric, name, *METRIC_CLASSES[name], types=ARGUMENT_TYPES, module=__name__)


MetricObject = lazy_keras_union("metric", tuple(METRIC_CLASSES), metric_class, METRIC_CLASS_ALIASES)
MetricSpec = name_or_keras_object("metric", names.METRICS, MetricObject)


def reported_name(metric: object) -> str:
    """The name a validated metric is reported under: the name as written, the class's `name`, or (a class
    whose name defaults to None, as AUC) Keras's own default, its class name in snake case."""
    if isinstance(metric, str):
        return metric
    args = metric.args
    if args.name is not None:
        return args.name
    return re.sub("([a-z])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", args.keras_class)).lower()


def name_problems(metrics: object, outputs: Iterable[str] = ()) -> list[tuple[tuple, str]]:
    """(location below `metrics`, message) for each metric whose reported name the history already has:
    `loss`, a `val_` name, `<output>_loss`, or another metric's name in the same list (Keras would rename
    it `name_1`, and the tables could not say which is which)."""
    if isinstance(metrics, dict):  # one list per output: Keras prefixes each with its output's name
        return [((output, *loc), message) for output, ms in metrics.items()
                for loc, message in name_problems(ms, outputs)]
    taken = {"loss"} | {f"{output}_loss" for output in outputs}
    problems, seen = [], {}
    for i, metric in enumerate(metrics):
        name = reported_name(metric)
        loc = (i,) if isinstance(metric, str) else (i, next(iter(metric.model_fields_set)), "name")
        if name in taken:
            problems.append((loc, f"a metric named '{name}' would replace the loss in the history; give it "
                                  "another `name:`"))
        elif name.startswith("val_"):
            problems.append((loc, f"a metric named '{name}' would be mistaken for a validation value; give it "
                                  "a name without `val_`"))
        elif name in seen:
            problems.append((loc, f"metrics[{seen[name]}] is already reported as '{name}'; give each metric of "
                                  "one class its own `name:` (as `name: top3`)"))
        seen.setdefault(name, i)
    return problems


def __getattr__(name: str):
    """`METRICS`, every metric class, built on first access (the drift test uses it)."""
    if name == "METRICS":
        return tuple(metric_class(n) for n in METRIC_CLASSES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
