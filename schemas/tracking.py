"""The `tracking:` section: where runs are logged besides the output folder (TensorBoard, MLflow).

Tracking records what trains; it changes no result. `tensorboard: true` (or a mapping of Keras's
`TensorBoard` callback options) and `mlflow: true` (or a mapping with the store and experiment).
"""


from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BeforeValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from schemas.base import Spec, suggestion
from schemas.types import PositiveInt


class TensorBoard(Spec):
    """Options of `keras.callbacks.TensorBoard`, by Keras's own names; the log folder is the tool's.

    The defaults write epoch-level scalars only: Keras's own defaults, except `write_graph`, which
    Keras turns on and which costs a graph trace per run that the comparison does not need.
    """

    update_freq: Union[Literal["epoch", "batch"], PositiveInt] = Field(
        "epoch", description="epoch: scalars once per epoch; batch or N: also every (N) batches")
    histogram_freq: Annotated[int, Field(ge=0)] = Field(
        0, description="every N epochs, histograms of the weights (0: none)")
    write_graph: bool = Field(False, description="write the model's graph (Keras's default is true)")
    write_images: bool = Field(False, description="write the weights as images (with histogram_freq)")
    write_steps_per_second: bool = Field(False, description="write the training speed too")
    profile_batch: Union[Annotated[int, Field(ge=0)], list[Annotated[int, Field(ge=0)]]] = Field(
        0, description="profile this batch, or [first, last] batches (0: no profiling)")

    @field_validator("update_freq", mode="before")
    @classmethod
    def _frequency_word(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("epoch", "batch"):
            raise PydanticCustomError("spec", "update_freq is epoch, batch or a number of batches, got '{value}'{hint}",
                                      {"value": value, "hint": suggestion(value, ["epoch", "batch"])})
        return value


class MLflow(Spec):
    """Where MLflow keeps the runs: one parent run per experiment, one child run per (model, seed)."""

    tracking_uri: Optional[str] = Field(
        None, description="an MLflow tracking URI (sqlite:///mlflow.db, http://host:5000, a folder); "
                          "default: sqlite:///<output folder>/mlflow.db")
    experiment: Optional[str] = Field(None, min_length=1,
                                      description="the MLflow experiment's name; default: the experiment's name")


def _switch(kind: str) -> Any:
    """`true` means the default options, `false` (or nothing) off; anything else but a mapping is an error."""

    def read(value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return None
        if value is None or isinstance(value, (dict, Spec)):
            return value
        raise PydanticCustomError("spec", "expected true, false or a mapping of {kind} options, got {got}",
                                  {"kind": kind, "got": repr(value)})

    return read


# A switch, not a union: `true` reads as the default options, so a mistake inside the mapping is one
# error at its key (with "did you mean") rather than one per union member.
TensorBoardSetting = Annotated[Optional[TensorBoard], BeforeValidator(
    _switch("TensorBoard"), json_schema_input_type=Union[bool, TensorBoard, None])]
MLflowSetting = Annotated[Optional[MLflow], BeforeValidator(
    _switch("MLflow"), json_schema_input_type=Union[bool, MLflow, None])]


class Tracking(Spec):
    """Logging of every run to TensorBoard and/or MLflow (nothing by default)."""

    tensorboard: TensorBoardSetting = Field(
        None, description="true, or Keras TensorBoard options: event files under <output folder>/tensorboard/, "
                           "one folder per (model, seed), with the HParams dashboard")
    mlflow: MLflowSetting = Field(
        None, description="true, or {tracking_uri, experiment}: one MLflow parent run per experiment, a child "
                          "run per (model, seed) (pip install 'factory[mlflow]')")

