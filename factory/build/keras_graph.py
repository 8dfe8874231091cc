"""A built Keras model's graph as names: each layer's inputs, the model's inputs and outputs.

Read from Keras's own serialization of a Functional model (`model.get_config()`: every layer with
its `inbound_nodes`), so it covers whatever Keras can save. A Sequential model is a chain. A model
used as a layer inside another (a `Sequential` of augmentation layers) is read as its layers, in
place. A graph the spec language cannot write (a layer called twice, a layer with several
outputs, a call with arguments besides its inputs) is a `SpecError` naming the layer; all such
layers are reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from factory.errors import Issue, SpecError


@dataclass
class Graph:
    """A model's layers in Keras's order, and for each the names of the layers or inputs feeding it."""

    inputs: dict[str, list]  # input name -> shape without the batch axis (None for a free axis)
    layers: dict[str, Any] = field(default_factory=dict)  # name -> Keras layer, in Keras's (topological) order
    sources: dict[str, list[str]] = field(default_factory=dict)  # layer name -> what feeds it, in order
    merged: set[str] = field(default_factory=set)  # layers called on a list of tensors (merging layers)
    outputs: list[str] = field(default_factory=list)  # the model's outputs, by layer name
    input_dtypes: dict[str, str] = field(default_factory=dict)  # input name -> Keras's dtype (int32, float32)


def graph_of(model) -> Graph:
    """The graph of a built Sequential or Functional model (`SpecError` for anything else)."""
    from factory.build.keras_setup import import_keras

    keras = import_keras()
    issues: list[Issue] = []
    if isinstance(model, keras.Sequential):
        inputs, calls, outputs = _chain(model)
    elif _is_functional(model):
        inputs, calls, outputs = _calls(model, issues)
    else:
        raise SpecError([Issue(f"model {model.name!r} is a subclassed {type(model).__name__}: its graph is "
                               "Python code, so only Sequential and Functional models can be read")])
    graph = Graph(inputs=inputs, input_dtypes=_input_dtypes(model, inputs))
    taken = set(inputs) | {layer.name for layer, _, _ in calls}
    inside: dict[str, list[str]] = {}  # a model used as a layer -> its outputs, by their names here

    def resolve(name: str, index: int, reader: str) -> str:
        if name in inside:  # a model used as a layer: its output `index`, unless reading it failed
            return inside[name][index] if index < len(inside[name]) else name
        if index != 0:
            issues.append(Issue(f"layer {reader!r} reads output number {index} of {name!r}: a spec reads a "
                                "layer's only output"))
        return name

    for layer, refs, merged in calls:
        sources = [resolve(name, index, layer.name) for name, index in refs]
        if isinstance(layer, keras.Model):
            inside[layer.name] = _inline(graph, layer, sources, taken, issues)
            continue
        graph.layers[layer.name] = layer
        graph.sources[layer.name] = sources
        if merged:
            graph.merged.add(layer.name)
    graph.outputs = [resolve(name, index, "(the model's outputs)") for name, index in outputs]
    if issues:
        raise SpecError(issues)
    return graph


def _inline(graph: Graph, model, sources: list[str], taken: set[str], issues: list[Issue]) -> list[str]:
    """Add the layers of `model`, a model used as a layer reading `sources`, to `graph`; its outputs' names.

    A layer whose name the outer model already uses is renamed `<model>_<layer>`.
    """
    try:
        inner = graph_of(model)
    except SpecError as e:
        issues.extend(e.issues)
        return []
    if len(inner.inputs) != len(sources):
        issues.append(Issue(f"layer {model.name!r} (a model inside the model) has {len(inner.inputs)} inputs "
                            f"but is called on {len(sources)}"))
        return []
    names = dict(zip(inner.inputs, sources))
    for name in inner.layers:
        new = name if name not in taken else f"{model.name}_{name}"
        while new in taken:
            new += "_"
        taken.add(new)
        names[name] = new
    for name, layer in inner.layers.items():
        graph.layers[names[name]] = layer
        graph.sources[names[name]] = [names[s] for s in inner.sources[name]]
        if name in inner.merged:
            graph.merged.add(names[name])
    return [names[o] for o in inner.outputs]


def _input_dtypes(model, inputs: dict) -> dict[str, str]:
    """Each input's dtype, by the names of `inputs` (a Sequential never built has none yet: {})."""
    if _is_functional(model):  # by its input layer, whatever the order of `model.inputs`
        return {name: str(model.get_layer(name).output.dtype) for name in inputs}
    try:
        return {name: str(model.inputs[0].dtype) for name in inputs}
    except (AttributeError, ValueError, IndexError):
        return {}


def _is_functional(model) -> bool:
    from keras.src.models.functional import Functional  # the public API has no name for the class

    return isinstance(model, Functional)


Call = tuple[Any, list[tuple[str, int]], bool]  # (layer, the (name, output index) it reads, on a list?)


def _chain(model) -> tuple[dict, list[Call], list[tuple[str, int]]]:
    try:
        shape = list(model.input_shape[1:])
    except (AttributeError, ValueError):
        shape = None  # never built: the data will give it
    calls, previous = [], "input"
    for layer in model.layers:
        calls.append((layer, [(previous, 0)], False))
        previous = layer.name
    return {"input": shape}, calls, [(previous, 0)]


def _calls(model, issues: list[Issue]) -> tuple[dict, list[Call], list[tuple[str, int]]]:
    """A Functional model's inputs, each layer's one call, and its outputs, from its config."""
    config = model.get_config()
    by_name = {layer.name: layer for layer in model.layers}
    inputs = {name: list(by_name[name].batch_shape[1:]) for name, *_ in _history_list(config["input_layers"])}
    calls = []
    for entry in config["layers"]:
        name, nodes = entry["name"], entry["inbound_nodes"]
        if name in inputs:
            continue
        if len(nodes) != 1:
            issues.append(Issue(f"layer {name!r} ({entry['class_name']}) is called {len(nodes)} times (a shared "
                                "layer): a spec builds one layer per entry"))
            continue
        refs, merged, problem = _call(nodes[0])
        if problem:
            issues.append(Issue(f"layer {name!r} ({entry['class_name']}) {problem}"))
            continue
        calls.append((by_name[name], refs, merged))
    outputs = config["output_layers"]
    if isinstance(outputs, dict):  # named outputs: keys that are not their layers' names would be lost
        renamed = [k for k, v in outputs.items() if k != v[0]]
        if renamed:
            issues.append(Issue(f"output {renamed[0]!r} is not named after its layer {outputs[renamed[0]][0]!r}: "
                                "a spec names each output by its layer"))
        outputs = list(outputs.values())
    return inputs, calls, [(name, index) for name, _, index in _history_list(outputs)]


def _history_list(value) -> list[list]:
    """`["name", 0, 0]`, a list or a dict of them -> a list of them (Keras writes one input without a list)."""
    if isinstance(value, dict):
        return list(value.values())
    if value and isinstance(value[0], str):
        return [value]
    return list(value)


def _tensor(value) -> list | None:
    """The `keras_history` of a serialized tensor, or None for anything else."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return value["config"]["keras_history"]
    return None


def _call(node: dict) -> tuple[list[tuple[str, int]], bool, str | None]:
    """What one call of a layer reads: ((name, output index) per input, called on a list?, the problem)."""
    args, kwargs = list(node.get("args") or ()), node.get("kwargs") or {}
    # Keras records the training flag a layer's call defaulted to while the model was assembled
    # (Dropout: False); a model's own call passes its flag over it, so only True says something
    extra = {k: v for k, v in kwargs.items() if v is not None and not (k == "training" and v is False)}
    if extra:
        return [], False, (f"is called with {', '.join(f'{k}={v!r}' for k, v in extra.items())}: a spec calls "
                           "a layer on its inputs only")
    if len(args) == 1 and _tensor(args[0]) is not None:
        histories, merged = [_tensor(args[0])], False
    elif len(args) == 1 and isinstance(args[0], (list, tuple)) and all(_tensor(a) is not None for a in args[0]):
        histories, merged = [_tensor(a) for a in args[0]], True
    else:
        return [], False, "is called with several separate arguments: a spec passes a layer one input or one list"
    return [(name, index) for name, _, index in histories], merged, None
