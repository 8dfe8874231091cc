"""Measure training-speed levers one at a time on the seed's model B (full Fashion-MNIST).

    python benchmarks/levers.py [--epochs 2] [--train-size 60000]

Prints seconds per epoch (median of epochs 2..n, so tracing is excluded) and the final val_loss,
so a lever that changes the mathematics shows up as a different val_loss.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from factory.build.keras_setup import import_keras  # noqa: E402


def model_b(keras):
    L = keras.layers
    return keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(64), L.BatchNormalization(),
                             L.Activation("relu"), L.Dense(32), L.BatchNormalization(), L.Activation("relu"),
                             L.Dense(10, activation="softmax")])


def measure(keras, data, name, epochs, spe=1, val_batch=None, dataset=False, jit=False):
    x, y, xv, yv = data
    keras.utils.set_random_seed(0)
    model = model_b(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=spe, jit_compile=jit)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    if dataset:
        import tensorflow as tf

        train = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(len(x), seed=0).batch(32).prefetch(2)
        val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(val_batch or 32).cache().prefetch(2)
        h = model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=[Timer()])
    else:
        h = model.fit(x, y, batch_size=32, validation_data=(xv, yv), validation_batch_size=val_batch,
                      epochs=epochs, verbose=0, callbacks=[Timer()])
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    print(f"{name:<44} {steady:6.2f} s/epoch (first {times[0]:.2f})  val_loss {h.history['val_loss'][-1]:.6f}",
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=60000)
    parser.add_argument("--threads", type=int, default=None, help="intra/inter-op threads (default TF's)")
    args = parser.parse_args()
    keras = import_keras()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from factory.data import load_data
    from schemas import Data

    d = load_data(Data(dataset="fashion_mnist", train_size=args.train_size))
    data = (d.x_train, d.y_train, d.x_test, d.y_test)
    print(f"threads: {args.threads or 'TensorFlow default'}, cores: {os.cpu_count()}")
    measure(keras, data, "plain fit (the hand-written script)", args.epochs)
    measure(keras, data, "steps_per_execution=64", args.epochs, spe=64)
    measure(keras, data, "steps_per_execution=256", args.epochs, spe=256)
    measure(keras, data, "spe=64 + validation_batch_size=1024", args.epochs, spe=64, val_batch=1024)
    measure(keras, data, "spe=64 + val 1024 + tf.data cache/prefetch", args.epochs, spe=64, val_batch=1024,
            dataset=True)
    measure(keras, data, "spe=64 + XLA (jit_compile=True)", args.epochs, spe=64, jit=True)


if __name__ == "__main__":
    main()
