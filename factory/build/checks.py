"""Check each model against the data it will train on, before any training: shapes, classes and loss.

`check_against_data` finds, from the dry build (no weight allocated), the mistakes that Keras
would otherwise report in epoch 1 with a raw message: an input shape the data does not have, a
layer that needs a channel axis the data lacks, an output that does not fit the labels (too few
units, extra axes left by a missing Flatten), and a loss that expects the other label format.
Each issue says what to write instead, at a dotted location the loader turns into file:line:col.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from factory.build.compiler import check_model, dry_build, input_rank, main_argument_loc
from factory.data import Dataset
from factory.errors import Issue, SpecError
from schemas import Model
from schemas.layers import Input

# Losses that take one class number per example, and losses that take one-hot rows.
SPARSE_LOSSES = frozenset({"sparse_categorical_crossentropy"})
ONE_HOT_LOSSES = frozenset({"categorical_crossentropy", "categorical_focal_crossentropy",
                            "categorical_hinge"})


@dataclass(frozen=True)
class Labels:
    """What the labels look like: class numbers (`classes` of them) or rows (`classes` wide)."""

    sparse: bool
    classes: int  # class numbers: max label + 1; rows: their width
    described: str  # for messages: "class numbers (0 to 9)", "rows of 4", "numbers that are not whole"


def check_models(experiment, data: Dataset | None) -> list[Issue]:
    """Every mistake of every model of a resolved `experiment`, found without allocating a weight.

    Each model is checked against `data` (`check_against_data`), and, where that finds nothing,
    for its size (`compiler.check_model`). With `data` None (not on this machine) only the
    size and the build are checked, on the shapes the spec declares.
    """
    issues: list[Issue] = []
    for name, spec in experiment.models.items():
        found = check_against_data(name, spec, data) if data is not None else []
        if not found:
            try:
                check_model(name, spec, data.input_shape if data is not None else None)
            except SpecError as e:
                found = e.issues
        issues += found
    return issues


def check_against_data(name: str, spec: Model, data: Dataset) -> list[Issue]:
    """The mistakes between model `name` (a resolved spec: `.compile` filled) and `data`; [] if none.

    Allocates no weight (the model is assembled by the compiler's dry build) and trains nothing;
    call it once per model before any training. A model that cannot be built at all is reported
    as the compiler reports it, with the fix when the cause is a missing channel axis.
    """
    shape = list(data.input_shape)
    declared = spec.declared_input_shape
    if declared is not None and not _same_shape(declared, shape):
        return [Issue(f"model {name} takes inputs of shape {list(declared)}, but the data's examples "
                      f"have shape {shape} ({data.source}); write `input_shape: {shape}` or leave "
                      "it out to take the data's", loc=_input_shape_loc(name, spec))]
    shape = list(declared) if declared is not None else shape
    try:
        dry = dry_build(name, spec, shape)
    except SpecError as e:
        return [_channel_hint(name, spec, shape, issue) for issue in e.issues]
    return _output_issues(name, spec, dry, _labels(data))


def _same_shape(declared, data_shape) -> bool:
    """Equal, or equal but for a trailing axis of 1, which Keras adds or drops itself."""
    a, b = list(declared), list(data_shape)
    return a == b or a == b + [1] or a + [1] == b


def _input_shape_loc(name: str, spec: Model) -> tuple:
    first = spec.layers[0]
    key = next(iter(first.model_fields_set))
    if spec.input_shape is not None:
        return ("models", name, "input_shape")
    if isinstance(first.args, Input):
        return ("models", name, "layers", 0, key)
    return ("models", name, "layers", 0, key, "input_shape")


def _channel_hint(name: str, spec: Model, shape: list[int], issue: Issue) -> Issue:
    """The build error, plus the fix when the failing layer needs one axis more than it gets."""
    i = issue.loc[3] if len(issue.loc) > 3 and isinstance(issue.loc[3], int) else None
    if i is None:
        return issue
    before = [entry for entry in spec.layers[:i] if not isinstance(entry.args, Input)]
    incoming = ([None, *shape] if not before else
                list(dry_build(name, spec.model_copy(update={"layers": spec.layers[:i]}), shape).output_shape))
    if input_rank(spec.layers[i].args) != len(incoming) + 1:
        return issue
    target = [*incoming[1:], 1]
    fix = f"put `Reshape: {target}` before it"
    if not before:
        fix = f"write `input_shape: {target}` on the model, or {fix}"
    return Issue(f"model {name} cannot be built at layer {i} ({spec.layers[i].args.keras_class}): it needs "
                 f"a channel axis that its input {incoming[1:]} lacks; {fix}", loc=issue.loc)


def _labels(data: Dataset) -> Labels:
    y = np.concatenate([np.asarray(data.y_train).reshape(len(data.y_train), -1),
                        np.asarray(data.y_test).reshape(len(data.y_test), -1)])
    whole = y.size == 0 or bool(np.all(np.equal(np.mod(y, 1), 0)))
    if y.shape[1] == 1 and whole:
        classes = int(y.max(initial=0)) + 1
        return Labels(sparse=True, classes=classes, described=f"class numbers (0 to {classes - 1})")
    return Labels(sparse=False, classes=y.shape[1],
                  described=f"rows of {y.shape[1]}" if y.shape[1] > 1 else "numbers that are not whole")


def _output_issues(name: str, spec: Model, dry, labels: Labels) -> list[Issue]:
    loss = spec.compile.loss
    loss_loc = ("models", name, "compile", "loss")
    if loss in ONE_HOT_LOSSES and labels.sparse:
        return [Issue(f"{loss} takes one-hot labels, but the labels are {labels.described}: use "
                      "`loss: sparse_categorical_crossentropy`", loc=loss_loc)]
    if loss in SPARSE_LOSSES and not labels.sparse:
        fix = "use `loss: categorical_crossentropy`" if labels.classes > 1 else "use a regression loss (mse)"
        return [Issue(f"{loss} takes class numbers, but the labels are {labels.described}: {fix}",
                      loc=loss_loc)]
    if loss not in SPARSE_LOSSES | ONE_HOT_LOSSES:
        return []  # other losses take labels of many forms; Keras checks them
    output = list(dry.output_shape)
    wanted = [None, labels.classes]
    if len(output) != 2:
        start = _last_axis_run(dry)
        if start == 0 and isinstance(spec.layers[0].args, Input):
            start = 1  # the Flatten goes after the Input
        where = "as the first layer" if start == 0 else f"before layer {start}"
        return [Issue(f"model {name}'s output has shape {tuple(output)}, but {loss} needs one row of "
                      f"{labels.classes} per example, {tuple(wanted)}: add a Flatten {where} (the layers "
                      "from there on act on the last axis only)", loc=("models", name, "layers", start))]
    if output[1] != labels.classes and (output[1] < labels.classes or not labels.sparse):
        i = _last_resizing_layer(dry)
        loc = main_argument_loc(name, spec, i)
        main = spec.layers[i].args.main_argument
        fix = f"write `{main}: {labels.classes}`" if main else f"give layer {i} {labels.classes} outputs"
        what = (f"the labels go up to {labels.classes - 1} ({labels.classes} classes)" if labels.sparse
                else f"the labels are one-hot rows of {labels.classes}")
        return [Issue(f"model {name}'s output has {output[1]} values per example, but {what}: {fix}",
                      loc=loc)]
    return []


def _last_axis_run(dry) -> int:
    """The first layer of the final run of layers that change at most the last axis."""
    start = len(dry.layer_shapes)
    while start > 0:
        before, after = dry.layer_shapes[start - 1]
        if len(before) != len(after) or before[:-1] != after[:-1]:
            break
        start -= 1
    return start


def _last_resizing_layer(dry) -> int:
    """The last layer that sets the width of the output's last axis (Dense: units, Conv2D: filters)."""
    for i in range(len(dry.layer_shapes) - 1, -1, -1):
        before, after = dry.layer_shapes[i]
        if before[-1] != after[-1]:
            return i
    return len(dry.layer_shapes) - 1
