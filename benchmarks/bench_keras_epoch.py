"""Seconds per epoch of the seed's model A written in plain Keras, on one backend: the floor factory's epochs stand on.

    python benchmarks/bench_keras_epoch.py --keras-backend jax [--steps-per-execution 64] [--no-validation]

Full Fashion-MNIST from Debian's dataset-fashion-mnist, batch 32, seed 0, 4 epochs; prints each
epoch's wall time (the first includes compilation). No factory code is imported, so comparing its
figures with `factory run`'s `seconds_per_epoch` shows what factory adds to an epoch.
"""

import argparse
import gzip
import os
import time

DATA = "/usr/share/datasets/fashion-mnist/"


def arrays(name, offset, shape):
    import numpy as np

    with gzip.open(DATA + name) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset).reshape(shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras-backend", default="tensorflow")
    parser.add_argument("--steps-per-execution", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--no-validation", action="store_true")
    args = parser.parse_args()
    os.environ["KERAS_BACKEND"] = args.keras_backend  # before Keras is imported
    import keras

    x = arrays("train-images-idx3-ubyte.gz", 16, (-1, 28, 28)).astype("float32") / 255
    y = arrays("train-labels-idx1-ubyte.gz", 8, (-1,))
    x_test = arrays("t10k-images-idx3-ubyte.gz", 16, (-1, 28, 28)).astype("float32") / 255
    y_test = arrays("t10k-labels-idx1-ubyte.gz", 8, (-1,))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=args.steps_per_execution)

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            print(f"{args.keras_backend} epoch {epoch + 1}: {time.perf_counter() - self.start:.3f} s", flush=True)

    model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0, callbacks=[EpochTimes()],
              validation_data=None if args.no_validation else (x_test, y_test))


if __name__ == "__main__":
    main()
