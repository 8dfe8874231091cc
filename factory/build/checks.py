"""Check each model against the data it will train on, before any training: shapes, classes and loss.

`check_against_data` finds, from the dry build (no weight allocated), the mistakes that Keras
would otherwise report in epoch 1 with a raw message, or never: an input shape the data does not
have, a layer that needs a channel axis the data lacks, a loss that takes other labels (class
numbers, one-hot rows, 0 or 1, -1 or 1), and an output that does not fit the labels (too few units
for the classes, a width other than the labels' for a loss that compares value by value, extra
axes left by a missing Flatten).
Each issue says what to write instead, at a dotted location the loader turns into file:line:col.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from factory.build.compiler import (DryBuild, check_model, check_size, compile_objects, dry_build, input_rank,
                                    main_argument_loc)
from factory.build.graph import wired
from factory.build.keras_setup import import_keras
from factory.data import Dataset, several
from factory.errors import Issue, SpecError
from schemas import Model
from schemas.graph import is_graph
from schemas.layers import Input
from schemas.names import loss_function

# Losses by the labels they take (every name in schemas.names.LOSSES is in one group; a test checks).
SPARSE_LOSSES = frozenset({"sparse_categorical_crossentropy"})  # one class number per example
ONE_HOT_LOSSES = frozenset({"categorical_crossentropy", "categorical_focal_crossentropy",
                            "categorical_hinge"})  # one-hot rows, as wide as the output
BINARY_LOSSES = frozenset({"bce", "binary_crossentropy", "binary_focal_crossentropy"})  # 0 or 1
HINGE_LOSSES = frozenset({"hinge", "squared_hinge"})  # -1 or 1 (Keras turns 0 or 1 into -1 or 1)
POINTWISE_LOSSES = frozenset({  # any numbers, compared value by value with the output
    "mean_squared_error", "mse", "mean_absolute_error", "mae", "mean_absolute_percentage_error", "mape",
    "mean_squared_logarithmic_error", "msle", "huber", "log_cosh", "poisson", "kl_divergence", "kld",
    "cosine_similarity"})
UNCHECKED_LOSSES = frozenset({"ctc", "dice", "tversky", "circle"})  # labels of their own forms
# Losses that compare the output with the labels value by value: the shapes must match.
SAME_SHAPE_LOSSES = BINARY_LOSSES | HINGE_LOSSES | POINTWISE_LOSSES


@dataclass(frozen=True)
class Labels:
    """What one example's label looks like, and the values the labels take."""

    shape: tuple[int, ...]  # one example's label: () for one number per example, (4,) for rows of 4
    whole: bool  # every label a whole number
    low: float
    high: float
    distinct: frozenset  # the values, when there are at most two of them; else empty

    @property
    def width(self) -> int:
        return int(np.prod(self.shape))

    @property
    def sparse(self) -> bool:
        """Class numbers: one whole number from 0 up per example."""
        return self.width == 1 and self.whole and self.low >= 0

    @property
    def per_position(self) -> bool:
        """Class numbers per position (a sequence labelled step by step): rows of whole numbers from 0
        that are not rows of 0 and 1, which are one-hot or multi-hot."""
        return self.width > 1 and self.whole and self.low >= 0 and not (self.distinct and self.distinct <= {0, 1})

    @property
    def classes(self) -> int:
        """Class numbers: the largest + 1; rows: their width."""
        return int(self.high) + 1 if self.sparse or self.per_position else self.width

    @property
    def described(self) -> str:
        """For messages: "class numbers (0 to 9)", "rows of 4", "numbers that are not whole"."""
        if self.sparse:
            return f"class numbers (0 to {self.classes - 1})"
        if self.width > 1:
            return f"rows of {self.width}"
        return f"whole numbers from {self.low:g} to {self.high:g}" if self.whole else "numbers that are not whole"

    @property
    def fitting_loss(self) -> str:
        """A loss made for labels like these, as the fix to suggest."""
        if self.sparse and self.classes > 1:
            return "`loss: sparse_categorical_crossentropy`"
        if self.distinct and self.distinct <= {-1, 1}:
            return "`loss: hinge`"
        if self.width > 1 and self.low >= 0 and self.high <= 1:
            return "`loss: categorical_crossentropy`"
        return "a regression loss (mse)"


@dataclass(frozen=True)
class LabelRule:
    """The labels a group of losses takes, in words and as a test."""

    takes: str
    accepts: Callable[[Labels], bool]


LABEL_RULES: dict[frozenset, LabelRule] = {
    SPARSE_LOSSES: LabelRule("class numbers", lambda labels: labels.sparse or labels.per_position),
    ONE_HOT_LOSSES: LabelRule("one-hot labels", lambda labels: not labels.sparse),
    BINARY_LOSSES: LabelRule("labels 0 or 1 (or probabilities between)",
                             lambda labels: labels.low >= 0 and labels.high <= 1),
    HINGE_LOSSES: LabelRule("labels -1 or 1 (or 0 or 1)",
                            lambda labels: bool(labels.distinct) and (labels.distinct <= {-1, 1}
                                                                      or labels.distinct <= {0, 1})),
}


def check_models(experiment, data: Dataset | None) -> list[Issue]:
    """Every mistake of every model of a resolved `experiment`, found without allocating a weight.

    Each model is checked against `data` (`check_against_data`), and, where that finds nothing,
    for its size (`compiler.check_size`, on the same dry build: each model is assembled once). With
    `data` None (not on this machine) only the size and the build are checked, on the shapes the
    spec declares.
    """
    issues: list[Issue] = []
    for name, spec in experiment.models.items():
        try:
            if data is None:
                check_model(name, spec)
                continue
            found, dry = _against_data(name, spec, data)
            found += class_weight_issues(name, spec, data, inherited=spec.training.class_weight
                                         == experiment.training.class_weight)
            if not found:
                check_size(name, spec, dry)  # on the same dry build: each model is assembled once
            issues += found
        except SpecError as e:
            issues += e.issues
        try:  # a loss or metric Keras refuses would otherwise stop the run after the first build
            compile_objects(import_keras(), spec.compile)
        except SpecError as e:
            issues += [issue for issue in e.issues if issue not in issues]  # the experiment's compile: once
    return issues


def class_labels(y) -> np.ndarray:
    """Each example's class: the label itself, or the index of a one-hot row's 1."""
    y = np.asarray(y)
    return y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y))


def class_weight_issues(name: str, spec: Model, data: Dataset, inherited: bool = False) -> list[Issue]:
    """A `class_weight` for a class the training labels do not have: Keras would fail in epoch 1.

    `inherited`: the experiment's `training:` writes it (located there, not under the model).
    """
    written = spec.training.class_weight
    if not isinstance(written, dict):
        return []
    present = {int(c) for c in np.unique(class_labels(data.y_train))}
    where = ("training",) if inherited else ("models", name, "training")
    return [Issue(f"model {name}: class_weight for class {c}, which the training labels do not have "
                  f"(they have {_classes(present)})", loc=(*where, "class_weight", c))
            for c in written if c not in present]


def _classes(present: set[int]) -> str:
    ordered = sorted(present)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 3:
        return f"classes {ordered[0]} to {ordered[-1]}"
    return "classes " + ", ".join(map(str, ordered))


def check_against_data(name: str, spec: Model, data: Dataset) -> list[Issue]:
    """The mistakes between model `name` (a resolved spec: `.compile` filled) and `data`; [] if none.

    Allocates no weight (the model is assembled by the compiler's dry build) and trains nothing;
    call it once per model before any training. A model that cannot be built at all is reported
    as the compiler reports it, with the fix when the cause is a missing channel axis.
    """
    return _against_data(name, spec, data)[0]


def _against_data(name: str, spec: Model, data: Dataset) -> tuple[list[Issue], DryBuild | None]:
    """`check_against_data`'s issues, and the dry build they were found on (None if it could not be made)."""
    kinds = _dtype_issues(name, spec, data)
    if kinds:
        return kinds, None
    if spec.inputs or spec.outputs or (not hasattr(data, "stream") and several.is_named(data.x_train, data.y_train)):
        named = several.model_issues(name, spec, data)  # inputs and outputs by name: the arrays match them
        if named:
            return named, None
    if spec.inputs:
        try:
            dry = dry_build(name, spec, spec.input_shapes)
        except SpecError as e:
            return e.issues, None
        return _noise_shape_issues(name, spec, dry) or _outputs_issues(name, spec, dry, data), dry
    shape = list(data.input_shape)
    declared = spec.declared_input_shape
    if declared is not None and not _same_shape(declared, shape):
        fix = (f"write `Input: {shape}` or leave the Input out" if isinstance(spec.layers[0].args, Input)
               else f"write `input_shape: {shape}` or leave it out")
        return [Issue(f"model {name} takes inputs of shape {list(declared)}, but the data's examples "
                      f"have shape {shape} ({data.source}); {fix} to take the data's",
                      loc=_input_shape_loc(name, spec))], None
    shape = list(declared) if declared is not None else shape
    if spec.training.validation_split and hasattr(data, "stream"):
        return [Issue(f"validation_split takes examples from arrays in memory, but {data.source} is fed by "
                      "tf.data: leave it out (the test split validates)",
                      loc=("models", name, "training", "validation_split"))], None
    try:
        dry = dry_build(name, spec, shape, getattr(data, "input_dtype", None))
    except SpecError as e:
        return [_channel_hint(name, spec, shape, issue) for issue in e.issues], None
    return _noise_shape_issues(name, spec, dry) or _outputs_issues(name, spec, dry, data), dry


def _dtype_issues(name: str, spec: Model, data: Dataset) -> list[Issue]:
    """An input whose written dtype the data cannot feed: a string input on numbers, a numeric one on text.

    Keras would only fail in epoch 1. A table's model reads the encoded row (numbers), a folder's
    stream what its `input_dtype` says; arrays are judged by their own dtype, input by input.
    """
    written = ([(None, ("input_dtype",), spec.input_dtype)] if spec.input_dtype else
               [(k, ("inputs", k, "dtype"), d) for k, d in spec.input_dtypes.items() if d])
    issues = []
    for input_name, at, dtype in written:
        if hasattr(data, "encoder") or hasattr(data, "stream"):
            text = getattr(data, "input_dtype", None) == "string"
        else:
            x = data.x_train.get(input_name) if isinstance(data.x_train, dict) and input_name else data.x_train
            if x is None or isinstance(x, dict):
                continue  # an array missing, or several for a one-input model: several.model_issues names that
            text = np.asarray(x[:0]).dtype.kind in "USO"
        if text != (dtype == "string"):
            held = "text" if text else "numbers"
            fix = ("leave the dtype out or give a numeric one" if dtype == "string" else
                   "write `string` (a lookup or TextVectorization layer turns text into numbers)")
            issues.append(Issue(f"model {name}: a {dtype} input, but {data.source} holds {held}; {fix}",
                                loc=("models", name, *at)))
    return issues


def _noise_shape_issues(name: str, spec: Model, dry: DryBuild) -> list[Issue]:
    """A dropout `noise_shape` that does not fit its layer's input: Keras would fail in epoch 1.

    It needs one entry per axis, batch axis included; each is null (the input's length), 1 (one
    mask value shared along the axis) or the axis's own length. Layers of the model's own list are
    checked (those inside a `residual`, `parallel` or wrapper are not).
    """
    issues = []
    for index, (layer, shapes) in enumerate(zip(spec.layers, dry.layer_shapes)):
        noise = getattr(layer.args, "noise_shape", None)
        given = shapes[0] if shapes else None
        if noise is None or not isinstance(given, tuple) or not all(isinstance(n, (int, type(None))) for n in given):
            continue
        loc = ("models", name, "layers", index, next(iter(layer.model_fields_set)), "noise_shape")
        shown = "[" + ", ".join("null" if n is None else str(n) for n in given) + "]"
        if len(noise) != len(given):
            issues.append(Issue(f"model {name}: noise_shape has {len(noise)} entries, but the layer's input has "
                                f"{len(given)} axes (shape {shown}, the batch axis first): give one per axis",
                                loc=loc))
            continue
        for axis, (n, length) in enumerate(zip(noise, given)):
            if n not in (None, 1, length):
                axis_is = (f"is {length}" if length is not None else "is the batch" if axis == 0
                           else "has no fixed length")  # only axis 0 is the batch; a free time axis is not
                issues.append(Issue(f"model {name}: noise_shape[{axis}] is {n}, but that axis of the layer's input "
                                    f"{axis_is} (shape {shown}); write null, "
                                    "1 (one mask value along the axis)" + ("" if length is None else f" or {length}"),
                                    loc=loc + (axis,)))
    return issues


def _outputs_issues(name: str, spec: Model, dry: DryBuild, data: Dataset) -> list[Issue]:
    """The label checks (`_output_issues`) for each output of the model, with its own loss and labels.

    An output of a graph is checked as if the model ended at the layer that makes it; a mistake in
    a loss given per output is located at that output's loss.
    """
    if not dry.output_shapes or len(dry.output_shapes) == 1 and not isinstance(data.y_train, dict):
        return _output_issues(name, spec, dry, _labels(data))
    graph = wired(name, spec)
    issues = []
    for output, shape in dry.output_shapes.items():
        entry = graph.nodes[graph.outputs[output]].entry
        loss = spec.compile.loss[output] if isinstance(spec.compile.loss, dict) else spec.compile.loss
        up_to = spec.model_copy(update={"layers": spec.layers[:entry + 1],
                                        "compile": spec.compile.model_copy(update={"loss": loss})})
        view = DryBuild(params=dry.params, output_shape=shape, layer_params=dry.layer_params[:entry + 1],
                        layer_shapes=dry.layer_shapes[:entry + 1])
        labels = _label_values(*(y[output] if isinstance(y, dict) else y for y in (data.y_train, data.y_test)))
        loss_at = ("models", name, "compile", "loss")
        for issue in _output_issues(name, up_to, view, labels):
            if isinstance(spec.compile.loss, dict) and issue.loc == loss_at:
                issue = Issue(f"output '{output}': {issue.message}", loc=loss_at + (output,))
            elif issue.loc[:3] == ("models", name, "layers"):
                issue = Issue(f"output '{output}': {issue.message}", loc=issue.loc)
            issues.append(issue)
    return issues


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


def _declare(spec: Model, shape: list[int]) -> str:
    """The fix "declare input shape `shape`", written where `spec` declares its input shape."""
    first = spec.layers[0].args
    if isinstance(first, Input):
        return f"write `Input: {shape}`"
    if spec.input_shape is None and first.input_shape is not None:
        return f"write `input_shape: {shape}` on layer 0"
    return f"write `input_shape: {shape}` on the model"


def _channel_hint(name: str, spec: Model, shape: list[int], issue: Issue) -> Issue:
    """The build error, plus the fix when the failing layer needs one axis more than it gets."""
    i = issue.loc[3] if len(issue.loc) > 3 and isinstance(issue.loc[3], int) else None
    if i is None or is_graph(spec):  # a graph's layers are not a chain to cut at layer i
        return issue
    before = [entry for entry in spec.layers[:i] if not isinstance(entry.args, Input)]
    incoming = ([None, *shape] if not before else
                list(dry_build(name, spec.model_copy(update={"layers": spec.layers[:i]}), shape).output_shape))
    if input_rank(spec.layers[i].args) != len(incoming) + 1:
        return issue
    target = [*incoming[1:], 1]
    fix = f"put `Reshape: {target}` before it"
    if not before:  # the shape can be declared instead, where the spec declares it
        fix = f"{_declare(spec, target)}, or {fix}"
    return Issue(f"model {name} cannot be built at layer {i} ({spec.layers[i].args.keras_class}): it needs "
                 f"a channel axis that its input {incoming[1:]} lacks; {fix}", loc=issue.loc)


def _labels(data: Dataset) -> Labels:
    return _label_values(data.y_train, data.y_test)


def _label_values(y_train, y_test) -> Labels:
    y = np.concatenate([np.asarray(y_train), np.asarray(y_test)])
    distinct = np.unique(y) if y.size else y
    return Labels(shape=tuple(y.shape[1:]), whole=bool(np.all(np.equal(np.mod(y, 1), 0))),
                  low=float(y.min(initial=0)), high=float(y.max(initial=0)),
                  distinct=frozenset(distinct.tolist()) if len(distinct) <= 2 else frozenset())


def _output_issues(name: str, spec: Model, dry, labels: Labels) -> list[Issue]:
    loss = loss_function(spec.compile.loss)  # `{SparseCategoricalCrossentropy: {...}}` takes class numbers too
    rule = next((rule for losses, rule in LABEL_RULES.items() if loss in losses), None)
    if rule is not None and not rule.accepts(labels):
        return [Issue(f"{_written_loss(spec)} takes {rule.takes}, but the labels are {labels.described}: use "
                      f"{labels.fitting_loss}", loc=("models", name, "compile", "loss"))]
    if loss in SPARSE_LOSSES and labels.per_position:
        return _per_position_issues(name, spec, dry, labels)
    if loss in SPARSE_LOSSES | ONE_HOT_LOSSES:
        return _class_output_issues(name, spec, dry, labels)
    if loss in SAME_SHAPE_LOSSES:
        return _same_shape_issues(name, spec, dry, labels)
    return []  # the losses with labels of their own forms; Keras checks them


def _written_loss(spec: Model) -> str:
    """The loss as the spec names it, for messages: `mse`, or the class of `{Huber: {delta: 2}}`."""
    loss = spec.compile.loss
    return loss if isinstance(loss, str) else type(loss.args).__name__


def _class_output_issues(name: str, spec: Model, dry, labels: Labels) -> list[Issue]:
    """A class loss needs one row per example, at least as wide as the classes (as wide as one-hot rows)."""
    output = list(dry.output_shape)
    if len(output) != 2:
        return [_flatten_issue(name, spec, dry, f"needs one row of {labels.classes} per example, "
                                                f"{(None, labels.classes)}")]
    if output[1] != labels.classes and (output[1] < labels.classes or not labels.sparse):
        what = (f"the labels go up to {labels.classes - 1} ({labels.classes} classes)" if labels.sparse
                else f"the labels are one-hot rows of {labels.classes}")
        fix, loc = _resize_fix(name, spec, dry, labels.classes)
        return [Issue(f"model {name}'s output has {_values(output[1])} per example, but {what}: {fix}", loc=loc)]
    return []


def _per_position_issues(name: str, spec: Model, dry, labels: Labels) -> list[Issue]:
    """Class numbers per position (labels (None, 5)) need a row of class scores per position ((None, 5, C))."""
    output = tuple(dry.output_shape[1:])
    if output[:-1] == labels.shape and output[-1] is not None and output[-1] >= labels.classes:
        return []
    wanted = (None, *labels.shape, labels.classes)
    return [Issue(f"model {name}'s output has shape {(None, *output)}, but the labels are class numbers at each "
                  f"of {labels.shape} positions (0 to {labels.classes - 1}), which "
                  f"{_written_loss(spec)} compares with a row of {labels.classes} scores per position, "
                  f"{wanted}: make the last layers give that shape",
                  loc=("models", name, "layers", len(spec.layers) - 1))]


def _same_shape_issues(name: str, spec: Model, dry, labels: Labels) -> list[Issue]:
    """A loss that compares value by value needs an output of the labels' shape (Keras adds or drops a trailing 1)."""
    loss = _written_loss(spec)
    output = tuple(dry.output_shape[1:])
    if _without_trailing_one(output) == _without_trailing_one(labels.shape):
        return []
    wanted = labels.shape or (1,)
    if len(output) == 1 and len(wanted) == 1:
        fix, loc = _resize_fix(name, spec, dry, wanted[0])
        if labels.width == 1:
            what, fix = "one label per example", f"{fix} for one value per example"
            if labels.sparse and labels.classes > 1:
                fix += ", or use `loss: sparse_categorical_crossentropy` for classes"
        else:
            what = f"labels of {_values(wanted[0])} per example"
        return [Issue(f"model {name}'s output has {_values(output[0])} per example, but {loss} compares it "
                      f"with {what}: {fix}", loc=loc)]
    if len(wanted) == 1:
        return [_flatten_issue(name, spec, dry, f"compares it with one row of {wanted[0]} per example, "
                                                f"{(None, *wanted)}")]
    last = len(spec.layers) - 1
    return [Issue(f"model {name}'s output has shape {(None, *output)}, but {loss} compares it with labels of "
                  f"shape {(None, *wanted)}: make the last layers give that shape",
                  loc=("models", name, "layers", last))]


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def _without_trailing_one(shape: tuple) -> tuple:
    return shape[:-1] if shape and shape[-1] == 1 else shape


def _flatten_issue(name: str, spec: Model, dry, needs: str) -> Issue:
    """An output with axes the labels lack: a Flatten is missing before the last-axis layers."""
    start = _last_axis_run(dry)
    if start == 0 and isinstance(spec.layers[0].args, Input):
        start = 1  # the Flatten goes after the Input
    where = "as the first layer" if start == 0 else f"before layer {start}"
    return Issue(f"model {name}'s output has shape {tuple(dry.output_shape)}, but {_written_loss(spec)} {needs}: "
                 f"add a Flatten {where} (the layers from there on act on the last axis only)",
                 loc=("models", name, "layers", start))


def _resize_fix(name: str, spec: Model, dry, width: int) -> tuple[str, tuple]:
    """How to give the output `width` values per example, and where: the last layer that sets it."""
    i = _last_resizing_layer(dry)
    main = spec.layers[i].args.main_argument
    fix = f"write `{main}: {width}`" if main else f"give layer {i} {width} outputs"
    return fix, main_argument_loc(name, spec, i)


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
