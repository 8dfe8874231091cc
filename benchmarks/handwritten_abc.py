"""The seed chapter's A/B/C experiment written by hand in tf.keras (its typos fixed): the baseline.

    python benchmarks/handwritten_abc.py --epochs 10 [--train-size N] [--seeds 0 1] --out vl.json

Reads the same Fashion-MNIST files factory finds ($FACTORY_DATA_DIR or Debian's package), trains
A, B and C with `keras.utils.set_random_seed(seed)` before each, and writes every model's val_loss
per epoch as JSON, for benchmarks/bench_abc.py to compare with factory's.
"""

import argparse
import gzip
import json
import os

import numpy as np
import tensorflow as tf

keras = tf.keras


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-size", type=int, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--out", required=True)
    args = p.parse_args()
    folder = os.environ.get("FACTORY_DATA_DIR") or "/usr/share/datasets/fashion-mnist"
    x_train = idx(f"{folder}/train-images-idx3-ubyte.gz")[:args.train_size] / 255.0
    y_train = idx(f"{folder}/train-labels-idx1-ubyte.gz")[:args.train_size]
    x_test = idx(f"{folder}/t10k-images-idx3-ubyte.gz") / 255.0
    y_test = idx(f"{folder}/t10k-labels-idx1-ubyte.gz")

    L = keras.layers
    models = {
        "A": lambda: keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(64, activation="relu"),
                                       L.Dense(32, activation="relu"), L.Dense(10, activation="softmax")]),
        "B": lambda: keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(64), L.BatchNormalization(),
                                       L.Activation("relu"), L.Dense(32), L.BatchNormalization(),
                                       L.Activation("relu"), L.Dense(10, activation="softmax")]),
        "C": lambda: keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(64), L.BatchNormalization(),
                                       L.LeakyReLU(negative_slope=0.2), L.Dense(32), L.BatchNormalization(),
                                       L.LeakyReLU(negative_slope=0.2), L.Dense(10, activation="softmax")]),
    }
    val_loss = {}
    for name, build in models.items():
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)
            model = build()
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            history = model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=args.epochs,
                                batch_size=32, verbose=2)
            val_loss[f"{name}/{seed}"] = history.history["val_loss"]
    with open(args.out, "w") as f:
        json.dump(val_loss, f)


if __name__ == "__main__":
    main()
