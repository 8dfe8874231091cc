"""Seconds per epoch with EarlyStopping + ReduceLROnPlateau vs without: callbacks should cost nothing.

    python benchmarks/bench_callbacks.py [--rounds 3] [--epochs 4] [--train-size 10000]

The same model (experiments/schedules.yaml's `plateau`), trained through the runner's own
`train_one` with its callbacks and with none (the learning-rate recorder stays on in both), in
one process, alternating (with, without, with, ...). Each run's epochs after the first (the
first traces the graph) are timed; prints the medians, the fastest runs (on a shared machine, the
least disturbed) and the ratios with/without (target <= 1.05). On a busy machine those swing by
2x from run to run, so it also prints the time spent inside the two callbacks' own hooks per
epoch, measured around each call: their cost, whatever else the machine does.
EarlyStopping's patience exceeds the epochs, so both do the same number of epochs.
"""

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timer(epochs: list[float]):
    """The runner's `eta` hook, used to collect each epoch's seconds (it shows no time left)."""

    def eta(seconds: float) -> str:
        epochs.append(seconds)
        return "-"

    return eta


HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end")


def timing_hooks(spent: list[float]):
    """Wrap the spec's callbacks (EarlyStopping, ReduceLROnPlateau) that `TrainingControl` builds so
    that every call of their hooks adds its seconds to `spent[0]`."""
    import time

    from factory.train import callbacks

    real = callbacks.keras_callback

    def timed(hook):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return hook(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        return call

    def keras_callback(keras, config, schedule=None):
        callback = real(keras, config, schedule)
        for name in HOOKS:
            setattr(callback, name, timed(getattr(callback, name)))
        return callback

    callbacks.keras_callback = keras_callback


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--train-size", type=int, default=10000)
    args = p.parse_args()

    from factory.build.keras_setup import import_keras
    from factory.data import load_data
    from factory.spec.loader import load
    from factory.train.task import train_one

    keras = import_keras()
    spec_path = ROOT / "experiments" / "schedules.yaml"
    sets = [f"training.epochs={args.epochs}", f"data.train_size={args.train_size}"]
    with_callbacks = load(spec_path, [*sets, "models.plateau.training.callbacks=[{EarlyStopping: {monitor: val_loss, "
                                             f"patience: {args.epochs + 1}}}}}, {{ReduceLROnPlateau: {{monitor: val_loss, "
                                             "patience: 1}}]"]).experiment
    without = load(spec_path, [*sets, "models.plateau.training.callbacks=[]"]).experiment
    data = load_data(with_callbacks.data, spec_path.parent)
    seconds = {"with": [], "without": []}
    spent = [0.0]
    timing_hooks(spent)
    for round_ in range(1, args.rounds + 1):
        for name, experiment in (("with", with_callbacks), ("without", without)):
            spec = experiment.resolved().models["plateau"]
            spec = spec.model_copy(update={"training": spec.training.model_copy(update={"keep": "last"})})
            epochs: list[float] = []
            record, _ = train_one(keras, "plateau", spec, 0, data, name, eta=timer(epochs))
            assert record["status"] == "completed" and len(epochs) == args.epochs, record
            per_epoch = statistics.median(epochs[1:])
            seconds[name].append(per_epoch)
            print(f"round {round_}: {name:<8} {per_epoch:.3f} s/epoch", flush=True)
    hooks = spent[0] / (args.rounds * args.epochs)
    print(f"inside EarlyStopping's and ReduceLROnPlateau's hooks: {hooks * 1000:.3f} ms per epoch, "
          f"{hooks / statistics.median(seconds['without']):.5%} of the median epoch without them")
    for name, pick in (("median", statistics.median), ("fastest", min)):  # the fastest: least disturbed by other load
        a, b = pick(seconds["with"]), pick(seconds["without"])
        print(f"{name} s/epoch: with EarlyStopping + ReduceLROnPlateau {a:.3f}, without {b:.3f}; ratio {a / b:.3f}")


if __name__ == "__main__":
    main()
