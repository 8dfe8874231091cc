"""Names Keras resolves by string: activations, losses, metrics, and this tool's datasets.

Kept by hand so that validation never imports TensorFlow; `tests/test_keras_drift.py` checks every
list against the installed Keras in both directions, so they cannot drift apart.
"""

ACTIVATIONS = (
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu",
    "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu",
    "relu6", "selu", "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign",
    "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink",
)

# Keras activations that need arguments besides the input, so no name alone can use them (Keras fails
# at the first call: "threshold() missing 2 required positional arguments"); ReLU: {threshold: ...} is
# the layer that takes them. tests/test_keras_drift.py checks this against Keras.
ACTIVATIONS_WITH_ARGUMENTS = ("threshold",)

LOSSES = (
    "bce", "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "circle", "cosine_similarity", "ctc",
    "dice", "hinge", "huber", "kl_divergence", "kld", "log_cosh", "mae", "mape",
    "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "mse", "msle", "poisson", "sparse_categorical_crossentropy",
    "squared_hinge", "tversky",
)

# Short names Keras gives the same loss function (keras.losses.get returns one function for both);
# tests/test_keras_drift.py checks each pair against Keras.
LOSS_ALIASES = {"bce": "binary_crossentropy", "kld": "kl_divergence", "mae": "mean_absolute_error",
                "mape": "mean_absolute_percentage_error", "mse": "mean_squared_error",
                "msle": "mean_squared_logarithmic_error"}


# The function each loss class computes (keras.losses.get(Class)().fn is keras.losses.get(function); tested)
LOSS_CLASS_FUNCTIONS = {
    "BinaryCrossentropy": "binary_crossentropy", "BinaryFocalCrossentropy": "binary_focal_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "CategoricalFocalCrossentropy": "categorical_focal_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy", "MeanSquaredError": "mean_squared_error",
    "MeanAbsoluteError": "mean_absolute_error", "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
    "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error", "Huber": "huber", "LogCosh": "log_cosh",
    "Hinge": "hinge", "SquaredHinge": "squared_hinge", "CategoricalHinge": "categorical_hinge",
    "Poisson": "poisson", "KLDivergence": "kl_divergence", "CosineSimilarity": "cosine_similarity",
    "CTC": "ctc", "Circle": "circle", "Dice": "dice", "Tversky": "tversky",
}


def loss_function(loss: object) -> object:
    """The loss function a written loss computes, by its Keras name: `mse` and `mean_squared_error` ->
    mean_squared_error; `{SparseCategoricalCrossentropy: {from_logits: true}}` (or its spec object) ->
    sparse_categorical_crossentropy. The arguments are dropped: the label rules of factory/build/checks.py
    depend on the function only. Whether two losses' values compare is `schemas.losses.same_loss`'s question."""
    if hasattr(loss, "model_dump"):  # a spec object; results.json holds the same as plain data
        loss = loss.model_dump()
    if isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss))
    if not isinstance(loss, str):
        return loss
    loss = LOSS_CLASS_FUNCTIONS.get(loss, loss)
    return LOSS_ALIASES.get(loss, loss)


# Metrics Keras can build from the name alone (IoU and the "X at Y" metrics need arguments).
KERAS_METRICS = (
    "accuracy", "auc", "bce", "binary_accuracy", "binary_crossentropy", "binary_io_u",
    "categorical_accuracy", "categorical_crossentropy", "categorical_hinge",
    "concordance_correlation", "cosine_similarity", "f1_score", "f_beta_score", "false_negatives",
    "false_positives", "hinge", "kl_divergence", "log_cosh_error", "mae", "mape",
    "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
    "mean_squared_logarithmic_error", "mse", "msle", "pearson_correlation", "poisson", "precision", "r2_score", "recall",
    "root_mean_squared_error", "sparse_categorical_accuracy", "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy", "squared_hinge",
    "top_k_categorical_accuracy", "true_negatives", "true_positives",
)

# Names `model.compile` takes besides those: Keras's compile maps `acc`, like `accuracy`, to the
# accuracy that fits the labels and the output (keras/src/trainers/compile_utils.py, get_metric).
# The metric keeps the name written: `acc` is reported as acc and val_acc.
METRIC_ALIASES = ("acc",)
METRICS = KERAS_METRICS + METRIC_ALIASES

# Built-in datasets; `factory.data.DATASETS` implements each (a test checks they match).
DATASETS = ("digits", "fashion_mnist", "mnist")
DATA_FILE_SUFFIXES = (".npz", ".csv", ".parquet")
