"""Learning-rate schedules: `keras.optimizers.schedules` classes, written wherever a learning rate goes.

`learning_rate: 1.0e-3` is a constant; `learning_rate: {CosineDecay: {initial_learning_rate: 1.0e-4,
decay_steps: 9000}}` is a schedule, evaluated by Keras at each optimizer step. Steps are optimizer
steps (batches), not epochs: `factory show` prints a model's steps per epoch.

Every schedule is linear in its rates (`rates`), so `scaled_keras_config(factor)` is the same schedule
multiplied by `factor`: what ReduceLROnPlateau installs on a plateau (`factory.train.callbacks`).
"""


from typing import Annotated, Any, ClassVar, Optional

from pydantic import Field, model_validator

from schemas.base import KerasArgs, fail_at, keras_union
from schemas.types import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

Boundary = Annotated[int, Field(ge=0)]


class ScheduleArgs(KerasArgs):
    """Base of the schedule argument models."""

    # the arguments that are learning rates: the schedule's value at every step is linear in them
    rates: ClassVar[tuple[str, ...]]

    def keras_config(self) -> dict[str, Any]:
        # inside an optimizer's config Keras finds a schedule by its module, as it serializes one
        return {"module": "keras.optimizers.schedules", **super().keras_config()}

    def scaled_keras_config(self, factor: float) -> dict[str, Any]:
        """The Keras config of this schedule with every rate multiplied by `factor`: at every step its
        value is `factor` times this one's (a test checks each schedule against Keras).

        A rate left at its default is scaled too (Keras's default would not be), one not given
        (`warmup_target`: no warmup) stays absent.
        """
        config = self.keras_config()
        for name in self.rates:
            value = getattr(self, name)
            if value is not None:
                config["config"][name] = [v * factor for v in value] if isinstance(value, list) else value * factor
        return config


class Schedule(ScheduleArgs):
    """Base of the schedules that start from one learning rate."""
    rates = ("initial_learning_rate",)
    initial_learning_rate: PositiveFloat = Field(description="the learning rate at step 0")


class CosineDecay(Schedule):
    """Cosine decay from initial_learning_rate (or warmup_target after a linear warmup) to alpha times it."""
    rates = ("initial_learning_rate", "warmup_target")
    decay_steps: PositiveInt = Field(description="steps to decay over (after the warmup)")
    alpha: NonNegativeFloat = Field(0.0, description="the final learning rate, as a fraction of the start")
    warmup_target: Optional[PositiveFloat] = Field(None, description="the learning rate the warmup reaches; "
                                                                      "no warmup if not given")
    warmup_steps: NonNegativeInt = Field(0, description="steps of linear warmup from initial_learning_rate "
                                                        "to warmup_target")

    @model_validator(mode="after")
    def _warmup_within_decay(self) -> "CosineDecay":
        if self.warmup_steps > self.decay_steps:
            fail_at([(("warmup_steps",), f"warmup_steps ({self.warmup_steps}) exceed decay_steps "
                      f"({self.decay_steps}): both count optimizer steps (batches), and a warmup longer than "
                      "the decay is a mistake of units; `factory show` prints each model's steps per epoch")])
        if self.warmup_steps and self.warmup_target is None:
            fail_at([(("warmup_steps",), f"warmup_steps ({self.warmup_steps}) without warmup_target: Keras "
                      "skips the warmup then; give warmup_target, the learning rate to reach")])
        return self


class CosineDecayRestarts(Schedule):
    """Cosine decay with warm restarts (SGDR)."""
    first_decay_steps: PositiveInt = Field(description="steps of the first decay period")
    t_mul: PositiveFloat = Field(2.0, description="each period is this many times longer than the one before")
    m_mul: PositiveFloat = Field(1.0, description="each restart starts at this fraction of the one before")
    alpha: NonNegativeFloat = Field(0.0, description="the lowest learning rate, as a fraction of the start")


class ExponentialDecay(Schedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps)."""
    decay_steps: PositiveInt = Field(description="steps per factor of decay_rate")
    decay_rate: PositiveFloat = Field(description="the factor per decay_steps")
    staircase: bool = Field(False, description="decay in whole steps of decay_steps")


class InverseTimeDecay(Schedule):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps)."""
    decay_steps: PositiveInt = Field(description="steps per unit of decay")
    decay_rate: NonNegativeFloat = Field(description="how fast it decays")
    staircase: bool = Field(False, description="decay in whole steps of decay_steps")


class PolynomialDecay(Schedule):
    """Polynomial decay from initial_learning_rate to end_learning_rate over decay_steps."""
    rates = ("initial_learning_rate", "end_learning_rate")
    decay_steps: PositiveInt = Field(description="steps to decay over")
    end_learning_rate: NonNegativeFloat = Field(0.0001, description="the learning rate at the end")
    power: PositiveFloat = Field(1.0, description="the polynomial's power (1: linear)")
    cycle: bool = Field(False, description="start over after decay_steps")


class PiecewiseConstantDecay(ScheduleArgs):
    """values[0] until boundaries[0], values[1] until boundaries[1], ..., values[-1] after the last."""
    rates = ("values",)
    boundaries: list[Boundary] = Field(min_length=1, description="the steps where the learning rate changes, "
                                                                 "increasing")
    values: list[PositiveFloat] = Field(min_length=2, description="the learning rates: one more than boundaries")

    @model_validator(mode="after")
    def _one_more_value(self) -> "PiecewiseConstantDecay":
        problems = []  # both at once: every mistake of a file is reported together
        if len(self.values) != len(self.boundaries) + 1:
            problems.append((("values",), f"values needs one more entry than boundaries: {len(self.boundaries)} "
                                          f"boundaries, {len(self.values)} values"))
        if any(a >= b for a, b in zip(self.boundaries, self.boundaries[1:])):
            problems.append((("boundaries",), f"boundaries must increase, got {self.boundaries}"))
        if problems:
            fail_at(problems)
        return self


SCHEDULES = (CosineDecay, CosineDecayRestarts, ExponentialDecay, InverseTimeDecay, PolynomialDecay,
             PiecewiseConstantDecay)

LearningRate = keras_union("learning-rate schedule", SCHEDULES, number=PositiveFloat)
"""A learning rate: a positive number, or a schedule `{CosineDecay: {...}}`."""


def schedule_of(optimizer) -> Optional[ScheduleArgs]:
    """The learning-rate schedule of an optimizer spec (`schemas.optimizers`), or None for a number."""
    args = getattr(getattr(optimizer.args, "learning_rate", None), "args", None)
    return args if isinstance(args, ScheduleArgs) else None
