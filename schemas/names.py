"""Names Keras resolves by string: activations, losses, metrics, and this tool's datasets.

Kept by hand so that validation never imports TensorFlow; `tests/test_keras_drift.py` checks every
list against the installed Keras in both directions, so they cannot drift apart.
"""

ACTIVATIONS = (
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu",
    "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu",
    "relu6", "selu", "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign",
    "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink",
    "threshold",
)

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


def same_loss(a: object, b: object) -> bool:
    """Whether two written losses are one loss function (`mse` and `mean_squared_error` are)."""
    return LOSS_ALIASES.get(a, a) == LOSS_ALIASES.get(b, b) if isinstance(a, str) and isinstance(b, str) else a == b


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
