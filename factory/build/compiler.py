"""Compile specs into tf.keras models: one Keras layer per spec layer, built by Keras itself.

Layer classes are looked up by the names the schema validated against its closed registry, and
every nested Keras object (initializer, regularizer, optimizer) is passed as the config dict that
Keras's own `get()` deserializes. A model that validates but cannot be built (a Conv2D after a
Flatten) raises `SpecError` naming the model and the layer.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from factory.errors import Issue, SpecError, first_line
from factory.build import graph as graph_build
from factory.build.keras_setup import KERAS_CONSTRUCTION_ERRORS, fresh_layer_names, import_keras
from factory.build.layers import build_layer
from schemas import Compile, Model
from schemas.graph import is_graph
from schemas.layers import Input

DEFAULT_STEPS_PER_EXECUTION = 64  # batches per compiled call; changes speed only (see README)
BYTES_PER_PARAMETER = 16  # float32 weights + gradients + two optimizer slots (Adam's m and v)
MEMORY_SHARE = 0.5  # a model may need at most this share of the machine's memory


def build_model(name: str, spec: Model, input_shape: Sequence[int] | None = None, input_dtype: str | None = None):
    """Build the Keras `Sequential` model for `spec` (a functional model for a graph: schemas.graph);
    `input_shape` is used if the spec gives none (for several inputs: a shape per input name).

    The model is first assembled without allocating any weight (`check_model`), to report a layer
    that cannot be built and to refuse a model too large for this machine's memory. `input_dtype`
    is the data's ("string" for texts), float32 if not given.
    """
    shape = _input_shape(name, spec, input_shape)
    check_size(name, spec, dry_build(name, spec, shape, input_dtype))
    return _assemble(import_keras(), name, spec, shape, input_dtype)


def check_model(name: str, spec: Model, input_shape: Sequence[int] | None = None) -> list[int]:
    """Raise `SpecError` for a model that cannot be built or would not fit; allocates no weight.

    Returns the input shape the model will have. A model too large is reported at the layer with
    the most parameters, which is nearly always the one to make smaller.
    """
    shape = _input_shape(name, spec, input_shape)
    check_size(name, spec, dry_build(name, spec, shape))
    return shape


def check_size(name: str, spec: Model, dry: "DryBuild") -> None:
    """Raise `SpecError` if the model `dry` describes would not fit in this machine's memory."""
    needed, memory = dry.params * BYTES_PER_PARAMETER, _memory_bytes()
    if memory and needed > memory * MEMORY_SHARE:
        i = max(range(len(dry.layer_params)), key=dry.layer_params.__getitem__)
        raise SpecError([Issue(
            f"model {name} would have {dry.params:,} parameters, needing about {_size(needed)} for "
            f"weights, gradients and optimizer state: more than {MEMORY_SHARE:.0%} of this machine's "
            f"{_size(memory)}; this layer alone has {dry.layer_params[i]:,} parameters: make it smaller",
            loc=main_argument_loc(name, spec, i))])


def _input_shape(name: str, spec: Model, input_shape: Sequence[int] | None = None) -> list[int] | dict:
    """The shape the model's input will have: the spec's own, else `input_shape` (the data's)."""
    if spec.inputs:  # several inputs, each declared
        return spec.input_shapes
    shape = spec.declared_input_shape or (list(input_shape) if input_shape is not None else None)
    if shape is None:
        raise SpecError([Issue(f"model {name} has no input shape: give `input_shape:` on the model "
                               "or its first layer", loc=("models", name))])
    return list(shape)


@dataclass(frozen=True)
class DryBuild:
    """What a model would be, learnt without allocating a weight."""

    params: int
    output_shape: tuple  # with the batch axis as None
    layer_params: list[int]  # per spec layer, index for index (an Input layer has 0)
    layer_shapes: list[tuple[tuple, tuple]]  # per spec layer: its input and output shapes
    output_shapes: dict[str, tuple] = field(default_factory=dict)  # a graph's: per output name


def dry_build(name: str, spec: Model, shape: Sequence[int], input_dtype: str | None = None) -> DryBuild:
    """Assemble the model without allocating any weight; raise `SpecError` for a layer that cannot be built.

    Shapes come from Keras's own symbolic build, so they are the shapes training will see.
    """
    keras = import_keras()
    with _without_side_effects():
        if is_graph(spec):
            return DryBuild(**graph_build.dry(keras, name, spec, shape, input_dtype))
        model = _assemble(keras, name, spec, shape, input_dtype)
        skipped = len(spec.layers) - len(model.layers)  # a leading Input is not a layer
        first = (None, *shape)
        shapes = [(first, first)] * skipped + [(_shape(layer.input), _shape(layer.output))
                                               for layer in model.layers]
        return DryBuild(params=int(model.count_params()), output_shape=tuple(model.output_shape),
                        layer_params=[0] * skipped + [int(layer.count_params()) for layer in model.layers],
                        layer_shapes=shapes)


def _shape(tensor) -> tuple:
    """A layer input's shape; a recurrent layer after a masking one (Embedding's mask_zero) lists its input first."""
    return tuple((tensor[0] if isinstance(tensor, (list, tuple)) else tensor).shape)


def input_rank(args) -> int | None:
    """The rank (batch axis included) that the Keras layer for `args` requires, if it requires one
    (None too for a layer Keras refuses to construct: its own error is the one to report)."""
    keras = import_keras()
    try:
        with _without_side_effects():
            spec = build_layer(keras, args).input_spec
    except KERAS_CONSTRUCTION_ERRORS:
        return None
    spec = spec[0] if isinstance(spec, (list, tuple)) else spec
    return None if spec is None else (spec.ndim or spec.min_ndim)


@contextlib.contextmanager
def _without_side_effects() -> Iterator[None]:
    """Construct and build Keras layers without allocating weights or moving any random state.

    Keras creates variables lazily inside `StatelessScope(initialize_variables=False)` and keeps
    them on a global list for a later scope to initialize; removing ours keeps a huge model from
    ever being allocated (a test trains a normal model afterwards to prove it). Constructing
    layers draws default seeds from Python's `random`, so its state (and numpy's) is restored: the
    real build after `set_random_seed` must get the weights a script would get.
    """
    keras = import_keras()
    import random

    import numpy as np
    from keras.src.backend.common import global_state  # no public API drops deferred variables

    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    before = len(pending)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        del pending[before:]
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def main_argument_loc(name: str, spec: Model, i: int) -> tuple:
    """`models.A.layers[1].Dense.units`: where layer `i`'s size is written (its main argument)."""
    entry = spec.layers[i]
    loc = ("models", name, "layers", i, next(iter(entry.model_fields_set)))
    main = entry.args.main_argument
    return loc + (main,) if main else loc


def _assemble(keras, name: str, spec: Model, shape: Sequence[int] | Mapping[str, Sequence[int]],
              input_dtype: str | None = None):
    if is_graph(spec):
        return graph_build.assemble(keras, name, spec, shape, input_dtype).model
    layers = list(spec.layers)
    with fresh_layer_names():
        model = keras.Sequential(name=name)
        model.add(keras.Input(shape=tuple(shape), dtype=spec.input_dtype or input_dtype))  # the spec's, else the data's
        if isinstance(layers[0].args, Input):
            layers = layers[1:]  # its shape is the Input above
        offset = len(spec.layers) - len(layers)
        for i, entry in enumerate(layers, start=offset):
            args = entry.args
            try:
                model.add(build_layer(keras, args))
            except KERAS_CONSTRUCTION_ERRORS as e:
                raise SpecError([Issue(f"model {name} cannot be built at layer {i} ({args.keras_class}): "
                                       f"{first_line(e)}", loc=("models", name, "layers", i))]) from None
    return model


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} PiB"  # pragma: no cover


def compile_model(model, spec: Compile, steps_per_execution: int | None = None) -> None:
    """Compile `model` as `spec` says; `steps_per_execution` defaults to a fast value."""
    keras = import_keras()
    optimizer = keras.optimizers.get(spec.optimizer.keras_config())
    several = not isinstance(model, keras.Sequential) and len(model.outputs) > 1
    metrics = spec.metrics
    if several and not isinstance(metrics, dict):  # several outputs: each gets the list
        metrics = {output: list(metrics) for output in model.output_names}
    loss, metrics = compile_objects(keras, spec.model_copy(update={"metrics": metrics}))
    loss_weights = spec.loss_weights
    if several and loss_weights is not None:  # an output left out weighs 1, as the schema says
        loss_weights = {output: loss_weights.get(output, 1.0) for output in model.output_names}
        if not isinstance(loss, dict):  # one loss for every output: Keras wants as many losses as weights
            loss = {output: loss for output in model.output_names}
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=loss_weights,
                  steps_per_execution=spec.steps_per_execution or steps_per_execution
                  or DEFAULT_STEPS_PER_EXECUTION)


def compile_objects(keras, spec: Compile) -> tuple[Any, Any]:
    """`spec`'s loss and metrics as `model.compile` takes them (per output name where the spec maps them).

    Raises `SpecError`, located at compile.loss / compile.metrics, for each one whose Keras constructor
    refuses its arguments (`{F1Score: {threshold: 2.0}}`).
    """
    issues = []

    def build(module, written, loc):
        try:
            return _keras_object(module, written)
        except KERAS_CONSTRUCTION_ERRORS as e:
            kind = "loss" if module is keras.losses else "metric"
            issues.append(Issue(f"Keras cannot make the {kind} {written.args.keras_class}: {first_line(e)}",
                                loc=("compile", *loc)))

    loss = ({output: build(keras.losses, one, ("loss", output)) for output, one in spec.loss.items()}
            if isinstance(spec.loss, dict) else build(keras.losses, spec.loss, ("loss",)))
    metrics = ({output: [build(keras.metrics, m, ("metrics", output, i)) for i, m in enumerate(ms)]
                for output, ms in spec.metrics.items()} if isinstance(spec.metrics, dict)
               else [build(keras.metrics, m, ("metrics", i)) for i, m in enumerate(spec.metrics)])
    if issues:
        raise SpecError(issues)
    return loss, metrics


def _keras_object(module, written):
    """A loss or metric as `model.compile` takes it: a name as written (compile resolves `acc` itself),
    a class with arguments built by Keras's own `get` from its config."""
    return written if isinstance(written, str) or written is None else module.get(written.keras_config())
