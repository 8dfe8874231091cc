"""`search:` on a model: an Optuna search over fields of the model (factory.search runs it).

    search:
      trials: 30
      objective: val_loss                 # minimised; {val_accuracy: max} to maximise
      sampler: tpe                        # tpe | random | cmaes | grid
      pruner: median                      # none | median | hyperband
      space:                              # paths as in `sweep:`; values are distributions
        "layers.1.Dense.units": {int: [32, 512], log: true}
        "layers.2.Dropout": {float: [0.0, 0.5]}
        "layers.1.Dense.activation": {choice: [relu, gelu, tanh]}
      confirm_seeds: [0, 1, 2, 3, 4]

Whether a path is a field of the model and each value fits it is checked against the composed
model (factory.search.space), before any trial: that needs the model, not just this section.
"""


from typing import Annotated, Any, Literal, Optional, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from schemas.base import Spec
from schemas.types import PositiveInt, Seed

KINDS = ("int", "float", "choice")  # the key that says which distribution an entry is


class IntRange(Spec):
    """Integers from low to high, both included."""

    model_config = {"serialize_by_alias": True}  # dumped as written: {int: [32, 512]}, which validates again

    range: list[int] = Field(alias="int", min_length=2, max_length=2, description="[low, high], both included")
    log: bool = Field(False, description="sample on a log scale (low must be at least 1)")
    step: Optional[PositiveInt] = Field(None, description="only low, low + step, ... (not with log)")

    @model_validator(mode="after")
    def _bounds(self) -> "IntRange":
        _check_bounds(self.range, self.log, self.step, 1)
        return self


class FloatRange(Spec):
    """Real numbers from low to high."""

    model_config = {"serialize_by_alias": True}

    range: list[float] = Field(alias="float", min_length=2, max_length=2, description="[low, high]")
    log: bool = Field(False, description="sample on a log scale (low must be above 0)")
    step: Optional[Annotated[float, Field(gt=0)]] = Field(None, description="only low, low + step, ... (not with log)")

    @model_validator(mode="after")
    def _bounds(self) -> "FloatRange":
        _check_bounds(self.range, self.log, self.step, None)
        return self


class Choice(Spec):
    """One of a list of values: numbers, names, or whole entries such as {Adam: {learning_rate: 0.01}}."""

    model_config = {"serialize_by_alias": True}

    values: list[Any] = Field(alias="choice", min_length=1, description="the values to choose from")


def _check_bounds(bounds: list, log: bool, step, smallest_log) -> None:
    low, high = bounds
    if not low < high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and step is not None:
        raise ValueError("log and step cannot both be given (Optuna samples a log scale without steps)")
    if log and (low <= 0 or (smallest_log is not None and low < smallest_log)):
        raise ValueError(f"a log scale needs low > 0, got {low}")


def _kind(value: Any) -> str | None:
    if isinstance(value, (IntRange, FloatRange, Choice)):  # when serializing
        return {IntRange: "int", FloatRange: "float", Choice: "choice"}[type(value)]
    if isinstance(value, dict):
        return next((k for k in KINDS if k in value), None)
    return None


Distribution = Annotated[
    Union[Annotated[IntRange, Tag("int")], Annotated[FloatRange, Tag("float")], Annotated[Choice, Tag("choice")]],
    Discriminator(_kind, custom_error_type="distribution",
                  custom_error_message="a search value is {int: [low, high]}, {float: [low, high]} or "
                                       "{choice: [values]}")]


class Search(Spec):
    """An Optuna study over fields of this model; each trial is the model with the trial's values set."""

    trials: PositiveInt = Field(description="trials to finish (completed, pruned or failed), --resume included")
    objective: Union[str, dict[str, Literal["min", "max"]]] = Field(
        "val_loss", description="the final value of this metric: a loss or error is minimised, any other metric "
                                "(accuracy, auc, ...) maximised; {metric: min} or {metric: max} says so")
    sampler: Literal["tpe", "random", "cmaes", "grid"] = Field("tpe", description="Optuna's sampler")
    pruner: Literal["none", "median", "hyperband"] = Field("median", description="stops hopeless trials early")
    space: dict[str, Distribution] = Field(min_length=1, description="a field of the model (a path as in "
                                                                     "`sweep:`) -> the values it takes")
    confirm_seeds: list[Seed] = Field([0, 1, 2, 3, 4], description="seeds to re-train the best and the base "
                                                                   "model over; [] skips the confirmation")
    seed: Seed = Field(0, description="the sampler's seed: the same seed proposes the same trials")

    @field_validator("objective")
    @classmethod
    def _one_objective(cls, value):
        if isinstance(value, dict) and len(value) != 1:
            raise ValueError(f"the objective is one metric, e.g. {{val_accuracy: max}}, not {len(value)}")
        return value

    @field_validator("confirm_seeds")
    @classmethod
    def _distinct_seeds(cls, seeds):
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must differ, got {seeds}")
        return seeds

    @property
    def metric(self) -> str:
        return self.objective if isinstance(self.objective, str) else next(iter(self.objective))

    @property
    def goal(self) -> str | None:
        """`min` or `max` where the objective says so; None for a bare metric name.

        The direction of a bare name follows the metric (factory.search.space.direction): schemas
        cannot know which metrics are losses.
        """
        return None if isinstance(self.objective, str) else next(iter(self.objective.values()))
