"""A built Keras model's graph as names: each layer's inputs, the model's inputs and outputs.

Read from Keras's own serialization of a Functional model (`model.get_config()`: every layer with
its `inbound_nodes`), so it covers whatever Keras can save. A Sequential model is a chain. A graph
the spec language cannot write (a layer called twice, a layer with several outputs, a call with
arguments besides its inputs) is a `SpecError` naming the layer; all such layers are reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from factory.errors import Issue, SpecError


@dataclass
class Graph:
    """A model's layers in Keras's order, and for each the names of the layers or inputs feeding it."""

    inputs: dict[str, list]  # input name -> shape without the batch axis (None for a free axis)
    layers: list[Any]  # the Keras layers, inputs left out, in Keras's (topological) order
    sources: dict[str, list[str]] = field(default_factory=dict)  # layer name -> what feeds it, in order
    merged: set[str] = field(default_factory=set)  # layers called on a list of tensors (merging layers)
    outputs: list[str] = field(default_factory=list)  # the model's outputs, by layer name


def graph_of(model) -> Graph:
    """The graph of a built Sequential or Functional model (`SpecError` for anything else)."""
    from factory.build.keras_setup import import_keras

    keras = import_keras()
    if isinstance(model, keras.Sequential):
        return _chain(model)
    if not _is_functional(model):
        raise SpecError([Issue(f"model {model.name!r} is a subclassed {type(model).__name__}: its graph is "
                               "Python code, so only Sequential and Functional models can be read")])
    config = model.get_config()
    by_name = {layer.name: layer for layer in model.layers}
    issues: list[Issue] = []
    inputs = {}
    for name, *_ in _history_list(config["input_layers"]):
        inputs[name] = [d for d in by_name[name].batch_shape[1:]]
    graph = Graph(inputs=inputs, layers=[by_name[c["name"]] for c in config["layers"] if c["name"] not in inputs])
    for entry in config["layers"]:
        name, nodes = entry["name"], entry["inbound_nodes"]
        if name in inputs:
            continue
        if len(nodes) != 1:
            issues.append(Issue(f"layer {name!r} ({entry['class_name']}) is called {len(nodes)} times (a shared "
                                "layer): a spec builds one layer per entry"))
            continue
        sources, merged, problem = _call(nodes[0])
        if problem:
            issues.append(Issue(f"layer {name!r} ({entry['class_name']}) {problem}"))
            continue
        graph.sources[name] = sources
        if merged:
            graph.merged.add(name)
    outputs = config["output_layers"]
    if isinstance(outputs, dict):  # named outputs: keys that are not their layers' names would be lost
        renamed = [k for k, v in outputs.items() if k != v[0]]
        if renamed:
            issues.append(Issue(f"output {renamed[0]!r} is not named after its layer {outputs[renamed[0]][0]!r}: "
                                "a spec names each output by its layer"))
        outputs = list(outputs.values())
    graph.outputs = [name for name, *_ in _history_list(outputs)]
    for name, node, index in [h for h in _history_list(outputs)]:
        if index != 0:
            issues.append(Issue(f"output {name!r} is a layer's output number {index}: a spec reads a layer's only output"))
    if issues:
        raise SpecError(issues)
    return graph


def _is_functional(model) -> bool:
    from keras.src.models.functional import Functional  # the public API has no name for the class

    return isinstance(model, Functional)


def _chain(model) -> Graph:
    shape = list(model.input_shape[1:]) if _built(model) else None
    inputs = {"input": shape}
    graph = Graph(inputs=inputs, layers=list(model.layers))
    previous = "input"
    for layer in model.layers:
        graph.sources[layer.name] = [previous]
        previous = layer.name
    graph.outputs = [previous]
    return graph


def _built(model) -> bool:
    try:
        model.input_shape
    except (AttributeError, ValueError):
        return False
    return True


def _history_list(value) -> list[list]:
    """`["name", 0, 0]` or a list of them -> a list of them (Keras writes one input without a list)."""
    if value and isinstance(value[0], str):
        return [value]
    return list(value)


def _tensor(value) -> list | None:
    """The `keras_history` of a serialized tensor, or None for anything else."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return value["config"]["keras_history"]
    return None


def _call(node: dict) -> tuple[list[str], bool, str | None]:
    """What one call of a layer reads: (source names, called on a list?, the problem if unwritable)."""
    args, kwargs = list(node.get("args") or ()), node.get("kwargs") or {}
    # Keras records the training flag a layer's call defaulted to while the model was assembled
    # (Dropout: False); a model's own call passes its flag over it, so only True says something
    extra = {k: v for k, v in kwargs.items() if v is not None and not (k == "training" and v is False)}
    if extra:
        return [], False, f"is called with {', '.join(f'{k}={v!r}' for k, v in extra.items())}: a spec calls a layer on its inputs only"
    if len(args) == 1 and _tensor(args[0]) is not None:
        histories, merged = [_tensor(args[0])], False
    elif len(args) == 1 and isinstance(args[0], (list, tuple)) and all(_tensor(a) is not None for a in args[0]):
        histories, merged = [_tensor(a) for a in args[0]], True
    else:
        return [], False, "is called with several separate arguments: a spec passes a layer one input or one list"
    for name, _, index in histories:
        if index != 0:
            return [], False, f"reads output number {index} of {name!r}: a spec reads a layer's only output"
    return [name for name, *_ in histories], merged, None
