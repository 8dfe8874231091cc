"""Callbacks: the built-in `keras.callbacks` a spec can list under `training.callbacks`, and what they may monitor.

Only callbacks that need no Python function and write no files of their own: the runner owns the
output folder (it keeps the best epoch with `keep: best` and the resume state itself), and
TerminateOnNaN is always on. `tests/test_keras_drift.py` lists every other Keras callback with the
reason it is left out, so a new one in Keras is noticed.
"""


from typing import Literal, Optional

from pydantic import Field

from schemas.base import KerasArgs, keras_union, suggestion
from schemas.types import Finite, NonNegativeFloat, NonNegativeInt, Rate

Mode = Literal["auto", "min", "max"]
Verbose = Literal[0, 1]


class Monitoring(KerasArgs):
    """Base of the callbacks that watch one logged figure each epoch."""
    monitor: str = Field("val_loss", description="the figure to watch: loss, val_loss, a metric or val_<metric>")
    mode: Mode = Field("auto", description="min, max, or auto: max for accuracy-like figures, else min")
    verbose: Verbose = Field(0, description="1: print a line when it acts")


class EarlyStopping(Monitoring):
    """Stop training when the monitored figure has stopped improving; the run is complete, only shorter."""
    min_delta: NonNegativeFloat = Field(0, description="a smaller change is no improvement")
    patience: NonNegativeInt = Field(0, description="epochs without improvement before stopping")
    baseline: Optional[Finite] = Field(None, description="stop unless the figure beats this")
    restore_best_weights: bool = Field(False, description="end with the weights of the best epoch")
    start_from_epoch: NonNegativeInt = Field(0, description="epochs to wait before watching")


class ReduceLROnPlateau(Monitoring):
    """Multiply the learning rate by `factor` when the monitored figure has stopped improving.

    Beside a learning-rate schedule it multiplies the whole schedule: from then on the rate is the
    schedule's times the factors so far (`factory.train.callbacks`).
    """
    factor: Rate = Field(0.1, gt=0, description="new learning rate = learning rate * factor (below 1); beside a "
                                                "schedule, the whole schedule is multiplied from then on")
    patience: NonNegativeInt = Field(10, description="epochs without improvement before lowering it")
    min_delta: NonNegativeFloat = Field(0.0001, description="a smaller change is no improvement")
    cooldown: NonNegativeInt = Field(0, description="epochs to wait after lowering it before watching again")
    min_lr: NonNegativeFloat = Field(0.0, description="never lower it below this; beside a schedule this bounds "
                                                      "the lowering only: the schedule's own decay may go below")


class SwapEMAWeights(KerasArgs):
    """Evaluate (and save) with the optimizer's moving average of the weights; needs `use_ema: true`."""
    swap_on_epoch: bool = Field(False, description="also use the averaged weights at each epoch's end")


CALLBACKS = (EarlyStopping, ReduceLROnPlateau, SwapEMAWeights)

CallbackSpec = keras_union("callback", CALLBACKS)


def history_names(metrics: list[str], validation: bool = True) -> list[str]:
    """The figures a run logs each epoch that a callback can `monitor`, given `compile.metrics`.

    Keras logs a metric under the name written in `compile.metrics` (`acc` as acc, `mse` as mse; a
    test checks each name against Keras); every run of this tool validates, so the `val_` names
    are there unless `validation` is False. `learning_rate` too: the runner logs it at each epoch's
    end before the spec's callbacks read the logs (`factory.train.callbacks`).
    """
    names = ["loss", *metrics]
    return names + ([f"val_{n}" for n in names] if validation else []) + ["learning_rate"]


def monitor_problem(monitor: str, reported: list[str]) -> Optional[str]:
    """Why `monitor` cannot work (the run will not report it, with a "did you mean"), or None."""
    if monitor in reported:
        return None
    return (f"monitor '{monitor}' is not a figure this run reports ({', '.join(reported)})"
            f"{suggestion(monitor, reported)}")


def callback_problems(compile, training) -> list[tuple[tuple, str]]:
    """A merged (compile, training)'s callback mistakes as (location below `training`, message).

    A `monitor` the run will not report, and SwapEMAWeights without the optimizer's `use_ema`.
    """
    reported = history_names(list(compile.metrics))
    problems = []
    for i, entry in enumerate(training.callbacks):
        args, key = entry.args, type(entry.args).__name__
        message = monitor_problem(args.monitor, reported) if isinstance(args, Monitoring) else None
        if message:
            problems.append((("callbacks", i, key, "monitor"), message))
        if isinstance(args, SwapEMAWeights) and not getattr(compile.optimizer.args, "use_ema", False):
            problems.append((("callbacks", i, key), "SwapEMAWeights needs the optimizer's moving average: "
                                                    "set `use_ema: true` on the optimizer"))
    return problems
