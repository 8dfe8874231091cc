"""What `model.fit` is given for a dataset: arrays with a batch size, or streamed batches.

Arrays (the built-in sets, .npz, .csv, tables) are passed as they always were, so their curves do
not change; a streamed dataset (a folder) passes its `tf.data` pipelines, batched and shuffled by
itself with the run's seed.
"""

from __future__ import annotations


def streamed(data) -> bool:
    """Whether `data` streams its examples (has `stream`) instead of holding arrays."""
    return hasattr(data, "stream")


def fit_arguments(data, training, seed: int) -> dict:
    """The data arguments of `model.fit` for `data` under the `training` settings of a run at `seed`."""
    if streamed(data):
        return {"x": data.stream("train", training.batch_size, training.shuffle, seed),
                "shuffle": False,  # the stream shuffles itself (Keras would warn that it ignores shuffle)
                "validation_data": data.stream("test", training.batch_size)}
    validation = ({"validation_split": training.validation_split} if training.validation_split
                  else {"validation_data": (data.x_test, data.y_test)})
    return {"x": data.x_train, "y": data.y_train, "batch_size": training.batch_size,
            "shuffle": training.shuffle, **validation}


def training_inputs(data, batch_size: int = 256, validation_split: float | None = None):
    """The training split's inputs alone, in file order, for `adapt`: a stream, or the array itself.

    With `validation_split` the last share of the arrays, which Keras's `fit` holds out for
    validation as it does (`int(rows * (1 - split))` rows train), is left out.
    """
    if streamed(data):
        return data.stream("train", batch_size, labels=False)
    if not validation_split:
        return data.x_train
    x = data.x_train
    rows = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)  # several inputs: arrays by name
    cut = int(rows * (1 - validation_split))
    return {k: a[:cut] for k, a in x.items()} if isinstance(x, dict) else x[:cut]
