"""Build the Keras functional model of a graph spec: residual, parallel, `from:`, several inputs and outputs.

`schemas.graph.plan` wires the spec into nodes (validation already refused a wiring mistake);
here each node becomes the Keras layer its spec names, called on its sources' outputs. A merge
that Keras refuses (shapes that do not fit) is a `SpecError` at the construct or the merging
layer, naming both shapes; a residual whose body changes the shape without a `shortcut` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from factory.build.keras_setup import KERAS_CONSTRUCTION_ERRORS, fresh_layer_names
from factory.build.layers import build_layer
from factory.errors import Issue, SpecError, first_line
from schemas import Model
from schemas.constructs import ELEMENTWISE, Residual
from schemas.graph import Graph, plan
from schemas.layers import Wrapper

Shapes = Mapping[str, Sequence[int]] | Sequence[int]  # per input name, or the one input's


@dataclass(frozen=True)
class Assembled:
    """A functional model and, per node of its graph, the Keras layer built for it (None for an input)."""

    model: Any
    graph: Graph
    layers: dict[int, Any]
    tensors: dict[int, Any]


def wired(name: str, spec: Model) -> Graph:
    """`spec`'s graph; a wiring mistake (normally refused at validation) is a located `SpecError`."""
    graph, problems = plan(spec)
    if graph is None:
        raise SpecError([Issue(message, loc=("models", name) + loc) for loc, message in problems])
    return graph


def assemble(keras, name: str, spec: Model, shapes: Shapes, input_dtype: str | None = None) -> Assembled:
    """Build the functional model of `spec`; `shapes` gives each input's shape (or the one input's).

    An input's dtype is the spec's (`{shape, dtype}` in `inputs:`, or `input_dtype:`), else
    `input_dtype` (the data's), else float32.
    """
    graph = wired(name, spec)
    layers: dict[int, Any] = {}
    tensors: dict[int, Any] = {}
    # names Keras must not give an unnamed layer (`add` when a layer is named `add`): the spec's and inputs'
    reserved = {node.name for node in graph.nodes if node.name is not None} | set(graph.inputs)
    with fresh_layer_names():
        for i in graph.order:
            node = graph.nodes[i]
            if node.is_input:
                input_name = next(n for n, j in graph.inputs.items() if j == i)
                shape = shapes[input_name] if isinstance(shapes, Mapping) else shapes
                dtype = spec.input_dtypes.get(input_name) or spec.input_dtype or input_dtype
                tensors[i] = keras.Input(shape=tuple(shape), name=input_name, dtype=dtype)
                continue
            arguments = node.args.keras_arguments()
            if isinstance(node.args, Wrapper):  # Keras takes the held layer as a layer: built by the same rule
                arguments["layer"] = build_layer(keras, node.args.layer.args)
            if node.name is not None:
                arguments["name"] = node.name  # scoped: a name inside a construct gets its prefix
            if not node.trainable:
                arguments["trainable"] = False
            taken = [tensors[s] for s in node.sources]
            if node.takes_list and len(taken) < 2 and node.construct is None:
                raise SpecError([Issue(f"model {name}: {node.args.keras_class} merges two or more inputs, but it "
                                       "gets only the previous layer's; name them with `from: [a, b]`",
                                       loc=("models", name) + node.loc)])
            _check_skip(name, node, taken)
            try:
                layer = _layer(getattr(keras.layers, node.args.keras_class), arguments, reserved)
                tensors[i] = (layer(*taken) if node.positional else
                              layer(taken if node.takes_list else taken[0]))
            except KERAS_CONSTRUCTION_ERRORS as e:
                raise SpecError([_build_issue(name, node, taken, e)]) from None
            layers[i] = layer
        # inputs as a list in the written order (Keras sorts a dict's; data by name still finds them)
        inputs = [tensors[j] for j in graph.inputs.values()]
        outputs = {n: tensors[j] for n, j in graph.outputs.items()}
        model = keras.Model(inputs=inputs[0] if len(inputs) == 1 else inputs, outputs=_one_or_all(outputs),
                            name=name)
    return Assembled(model, graph, layers, tensors)


def _layer(keras_class, arguments: dict, reserved: set[str]) -> Any:
    """`keras_class(**arguments)`; an unnamed layer whose automatic name is `reserved` is made again, so
    that Keras's counter gives it the next name (`add_1` where a layer is named `add`).

    Adds the layer's name to `reserved`, so that no later layer takes it.
    """
    layer = keras_class(**arguments)
    while "name" not in arguments and layer.name in reserved:
        layer = keras_class(**arguments)
    reserved.add(layer.name)
    return layer


def _one_or_all(tensors: dict) -> Any:
    """One tensor for one output, so a plain array trains it; else a list in the spec's order.

    Not a dict: Keras orders a dict's outputs by name. Each output is named after its layer
    (`model.output_names`), so losses, metrics and data given per output name still find theirs.
    """
    return next(iter(tensors.values())) if len(tensors) == 1 else list(tensors.values())


def _shape(tensor) -> tuple:
    return tuple(tensor.shape)


def _check_skip(name: str, node, taken: list) -> None:
    """A residual without `shortcut` whose body changes the shape cannot be merged elementwise: say why."""
    construct = node.construct
    if not isinstance(construct, Residual) or construct.shortcut is not None or len(taken) != 2:
        return
    skip, body = (_shape(t) for t in taken)
    if construct.merge in ELEMENTWISE and skip != body:
        raise SpecError([Issue(
            f"model {name}: this residual's skip path has shape {skip} but its body's output has shape "
            f"{body}, and `merge: {construct.merge}` needs one shape; give it a `shortcut:` that makes "
            f"the skip path's shape {body} (e.g. a Conv2D with kernel_size 1 and the body's filters and "
            f"strides)", loc=("models", name) + node.loc)])


def _build_issue(name: str, node, taken: list, error: Exception) -> Issue:
    loc = ("models", name) + node.loc
    shapes = " and ".join(str(_shape(t)) for t in taken)
    if node.construct is not None:
        what = f"its {'branches' if node.construct.kind == 'parallel' else 'skip path and body'}"
        return Issue(f"model {name} cannot merge {what}: {node.args.keras_class} gets shapes {shapes}, which "
                     f"do not fit ({first_line(error)})", loc=loc)
    if node.takes_list:
        return Issue(f"model {name} cannot merge at {node.args.keras_class}: it gets shapes {shapes}, which "
                     f"do not fit ({first_line(error)})", loc=loc)
    return Issue(f"model {name} cannot be built at {'.'.join(map(str, node.loc))} ({node.args.keras_class}) "
                 f"on input of shape {shapes}: {first_line(error)}", loc=loc)


def dry(keras, name: str, spec: Model, shapes: Shapes, input_dtype: str | None = None):
    """`compiler.dry_build`'s figures for a graph (called inside its no-allocation scope), as its fields.

    A spec layer that is a construct counts every Keras layer inside it; its shapes are those its
    input and its merge have.
    """
    built = assemble(keras, name, spec, shapes, input_dtype)
    graph = built.graph
    params = [0] * len(spec.layers)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i in graph.order:
        node = graph.nodes[i]
        if node.is_input:
            continue
        params[node.entry] += int(built.layers[i].count_params())
        first.setdefault(node.entry, i)
        last[node.entry] = i
    input_tensor = next(iter(built.tensors[j] for j in graph.inputs.values()))
    shapes_per_layer = []
    for entry in range(len(spec.layers)):
        if entry not in first:  # a leading Input
            shapes_per_layer.append((_shape(input_tensor), _shape(input_tensor)))
            continue
        source = graph.nodes[first[entry]].sources[0]
        shapes_per_layer.append((_shape(built.tensors[source]), _shape(built.tensors[last[entry]])))
    outputs = {n: _shape(built.tensors[j]) for n, j in graph.outputs.items()}
    return dict(params=int(built.model.count_params()), output_shape=next(iter(outputs.values())),
                layer_params=params, layer_shapes=shapes_per_layer, output_shapes=outputs)
