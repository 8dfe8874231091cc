"""Export a tf.keras model as a spec in the contract syntax, leaving out arguments at their defaults.

`model_to_spec(model)` returns the spec of a Sequential model (`{"input_shape": [...], "layers":
[...]}`, a plain list) or of a Functional one: its layers in an order that keeps straight runs
as runs, a merge that is clearly x merged with f(x) as `residual` and branches from one layer
merged as `parallel`, `from:` only where a layer does not read the entry before it, a `name:`
only on the layers something reads by name, and `inputs:` / `outputs:` only where a plain
`input_shape` and "the last layer" do not say it; a model used as a layer is written as its
layers. Building the spec gives the same layer configs (names aside), the same connectivity and
the same parameter count. `factory export MODEL.keras` prints it as a library file
(`models: {NAME: ...}`) to `include`. A default is what a freshly constructed layer of the same
class (with the same required arguments) reports, so "left out" means exactly "Keras would use the
same value". A layer or an argument the spec language cannot express is a `SpecError` naming it;
every such layer of a model is reported at once. An input or output name the spec language does not
take (`in put`, `_b`) is written renamed (`in_put`, `b`), its `from:` uses too. Inputs and outputs
keep their order: `inputs:` and `outputs:` are written in the model's order, and the rebuilt model
takes its inputs and gives its outputs in that order. An input of another dtype than float32 (token
ids: int32) is written with it (`input_dtype:`, or `{shape, dtype}` in `inputs:`). What a
preprocessing layer learned by `adapt` is written as its constructor's arguments (`vocabulary`,
`idf_weights`, `mean` and `variance`, `bin_boundaries`): the rebuild gives the same outputs, though a
Normalization given its mean holds it as a constant, not as adapt's non-trainable weights.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.errors import Issue, SpecError, first_line
from factory.build.keras_graph import Graph, graph_of
from factory.build.keras_setup import import_keras
from schemas import INITIALIZERS, LAYERS, REGULARIZERS
from schemas.constraints import CONSTRAINTS
from schemas.layers_keras import EXCLUDED

_LAYERS = {cls.keras_class: cls for cls in LAYERS}
_OBJECTS = {cls.keras_class: cls for cls in (*INITIALIZERS, *REGULARIZERS, *CONSTRAINTS)}
# not part of a spec; a lookup layer's vocabulary_size is a record of its vocabulary (given or adapted)
_IGNORED = {"name", "dtype", "input_shape", "batch_input_shape", "autocast", "vocabulary_size"}
SPEC_DTYPE = "float32"  # every model the spec language builds; a layer of another dtype cannot be exported


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        return _keras_object(value)
    return value


def _keras_module(keras, spec) -> Any:
    if spec in INITIALIZERS:
        return keras.initializers
    return keras.regularizers if spec in REGULARIZERS else keras.constraints


def _keras_object(config: dict) -> Any:
    """`{"class_name": "HeNormal", "config": {"seed": 42}, ...}` -> `{HeNormal: {seed: 42}}` or `HeNormal`.

    A layer inside a layer (Bidirectional's `layer`) is exported as a layer.
    """
    name = config["class_name"]
    keras = import_keras()
    if name in _LAYERS and config.get("module", "keras.layers").startswith("keras"):
        # Bidirectional sets its layer's zero_output_for_mask from return_sequences: not the layer's own
        inner = {k: v for k, v in config["config"].items() if k != "zero_output_for_mask"}
        return layer_to_spec(keras.layers.deserialize({**config, "config": inner}))
    spec = _OBJECTS.get(name)
    if spec is None:
        raise SpecError([Issue(f"{name} cannot be expressed in the spec language")])
    module = _keras_module(keras, spec)
    fresh = module.get({"class_name": name, "config": {k: config["config"][k] for k in spec.model_fields
                                                       if spec.model_fields[k].is_required()}}).get_config()
    args = {k: _plain(v) for k, v in config["config"].items()
            if k in spec.model_fields and (spec.model_fields[k].is_required() or fresh.get(k) != v)}
    return {name: args} if args else name


def _dtype_name(dtype: Any) -> str | None:
    """`float16` from a layer config's dtype: a DTypePolicy config (Keras 3) or a plain name."""
    if isinstance(dtype, dict):
        return (dtype.get("config") or {}).get("name")
    return dtype


def _layer_args(layer, where: str) -> tuple[str, dict]:
    """(Keras class, arguments that differ from their defaults) of one layer; `where` names it in errors."""
    keras_class = type(layer).__name__
    spec = _LAYERS.get(keras_class)
    builtin = type(layer).__module__.startswith("keras.")
    if spec is None or not builtin:
        why = EXCLUDED.get(keras_class) if builtin else None  # refused on purpose (Lambda), and why
        if why is None:
            why = ("it is not one of Keras's built-in layers" if not builtin
                   else "the spec language has no such layer")
        raise SpecError([Issue(f"{where} ({keras_class}) cannot be expressed in the spec language: {why}")])
    config = _with_learned_state(layer, layer.get_config(), where)
    dtype = _dtype_name(config.get("dtype"))
    if dtype not in (None, SPEC_DTYPE):  # dropping it would export another model, silently
        raise SpecError([Issue(f"{where} ({keras_class}): dtype {dtype} cannot be expressed in the spec "
                               f"language (its models are {SPEC_DTYPE})")])
    kept = {k: config[k] for k in _required(type(layer), spec) if k in config}
    kept.update({k: config[k] for k in _ALWAYS_WRITTEN.get(keras_class, ()) if config.get(k) is not None})
    while True:  # a default can hang on another argument (MaxPooling2D's strides on pool_size)
        fresh = _fresh_config(layer, kept)
        differing = {k: v for k, v in config.items()
                     if k not in _IGNORED and k not in kept and _unnamed(fresh.get(k, object())) != _unnamed(v)}
        if not differing:
            break
        kept.update(differing)
    args = {}
    for key, value in config.items():
        if key in _IGNORED or key not in kept:
            continue
        if key not in spec.model_fields or key in spec.spec_only:
            raise SpecError([Issue(f"{where} ({keras_class}): {key}={_shown(value)} cannot be expressed in "
                                   "the spec language")])
        try:
            args[key] = _plain(value)
        except SpecError as e:
            raise SpecError([Issue(f"{where} ({keras_class}).{key}: {e.issues[0].message}")]) from None
    return keras_class, args


def _with_learned_state(layer, config: dict, where: str) -> dict:
    """`config` with the state an adapted preprocessing layer learned written out as its arguments.

    Keras's config of an adapted layer leaves that state out (`vocabulary: None`, `mean: None`):
    the spec would rebuild an empty layer (another parameter count, or one that relearns from other
    data). Written out, the export rebuilds a layer that gives the same outputs. A layer never
    adapted is left as it is: the spec says the same.
    """
    if hasattr(layer, "get_vocabulary"):  # StringLookup, IntegerLookup, TextVectorization
        return _with_learned_vocabulary(layer, config, where)
    learned = _LEARNED.get(type(layer).__name__)
    return config if learned is None else learned(layer, config, where)


def _with_learned_vocabulary(layer, config: dict, where: str) -> dict:
    """The vocabulary a lookup or TextVectorization learned, and in tf-idf mode its idf weights."""
    if config.get("vocabulary") is not None:
        return config
    learned = [v.item() if hasattr(v, "item") else v for v in layer.get_vocabulary(include_special_tokens=False)]
    if not learned:
        return config  # never adapted: the spec says the same
    if config.get("output_mode") != "tf_idf":
        return {**config, "vocabulary": learned}
    # Keras pads the given weights in front with their mean for the special tokens, as adapt does
    special = len(layer.get_vocabulary(include_special_tokens=True)) - len(learned)
    weights = getattr(layer, "_lookup_layer", layer).idf_weights  # TextVectorization holds a lookup layer
    return {**config, "vocabulary": learned,
            "idf_weights": [float(w) for w in _numpy(weights)[special:special + len(learned)]]}


def _with_learned_moments(layer, config: dict, where: str) -> dict:
    """An adapted Normalization's mean and variance, as the constructor takes them.

    Keras holds given values as constants, not weights: the rebuild gives the same outputs without
    adapt's non-trainable weights (mean, variance, count; 2n+1 parameters). A layer not built, or
    still at Keras's initial state (mean 0, variance 1: never adapted), is written bare.
    """
    if config.get("axis") == ():
        config = {**config, "axis": None}  # Keras reports axis=None (one mean for all) as (); the spec says null
    if config.get("mean") is not None or getattr(layer, "adapt_mean", None) is None:
        return config
    mean, variance = _numpy(layer.adapt_mean), _numpy(layer.adapt_variance)
    if not mean.any() and (variance == 1).all():
        return config
    while mean.ndim > 1 and mean.shape[0] == 1:  # Keras aligns given values with the kept axes from the right
        mean, variance = mean[0], variance[0]
    if mean.ndim > 1:
        raise SpecError([Issue(f"{where} (Normalization): the mean and variance it learned by adapt have shape "
                               f"{list(mean.shape)} (axis {_plain(config.get('axis'))}): the spec language takes "
                               "them as one number or one list only")])
    return {**config, "mean": mean.tolist(), "variance": variance.tolist()}


def _with_learned_boundaries(layer, config: dict, where: str) -> dict:
    """An adapted Discretization's bin boundaries, in place of the `num_bins` it learned them for
    (Keras takes one of the two; its own `from_config` keeps the boundaries too)."""
    if config.get("num_bins") is None or config.get("bin_boundaries") is None:
        return config
    return {**config, "num_bins": None, "bin_boundaries": [float(b) for b in config["bin_boundaries"]]}


# Every other Keras layer with `adapt` (tests check the list against Keras)
_LEARNED = {"Normalization": _with_learned_moments, "Discretization": _with_learned_boundaries}
# Arguments written whenever they are set, never compared with a fresh layer's: Keras refuses a
# Discretization built with neither and a CategoryEncoding without num_tokens (no "fresh" one to compare with)
_ALWAYS_WRITTEN = {"Discretization": ("bin_boundaries", "num_bins"), "CategoryEncoding": ("num_tokens",)}


def _numpy(value):
    import numpy as np

    return np.asarray(import_keras().ops.convert_to_numpy(value))


def _shown(value: Any) -> str:
    """A config value for a message: a Keras object's config by its class (`an LSTM`), not its whole dict."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        return f"a {value['class_name']} of its own"  # Bidirectional's backward_layer: the spec copies `layer`
    return repr(value)


def _required(keras_class: type, spec) -> set[str]:
    """Arguments without a default, in the spec or in Keras (AveragePooling2D requires `pool_size`)."""
    import inspect

    parameters = inspect.signature(keras_class.__init__).parameters.values()
    return ({k for k, f in spec.model_fields.items() if f.is_required()}
            | {p.name for p in parameters if p.default is p.empty and p.name != "self"
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)})


_FRESH: dict[tuple, dict] = {}  # (class, arguments) -> config: a deep model repeats a few layers hundreds of times


def _fresh_config(layer, required: dict) -> dict:
    """The config a layer of the same class built from `required` alone reports: Keras's defaults."""
    key = (type(layer), repr(sorted(required.items())))
    if key not in _FRESH:
        _FRESH[key] = _build_fresh(layer, required)
    return _FRESH[key]


def _build_fresh(layer, required: dict) -> dict:
    config = dict(required)
    for key in ("layer", "backward_layer"):  # a wrapper's layers are configs to deserialize, as from_config does
        if isinstance(config.get(key), dict):
            config[key] = import_keras().layers.deserialize(config[key])
    return type(layer)(**config).get_config()


def _unnamed(value: Any) -> Any:
    """A config value with the names of the layers inside it left out (Bidirectional's backward layer
    is named after its own, so two equal ones differ by name only)."""
    if isinstance(value, dict) and isinstance(value.get("config"), dict) and "class_name" in value:
        return {**value, "config": {k: _unnamed(v) for k, v in value["config"].items() if k != "name"}}
    return value


def _entry(keras_class: str, args: dict) -> dict:
    """`{Dense: 64}` where the main argument is the only one, else `{Dense: {...}}`."""
    main = _LAYERS[keras_class].main_argument if keras_class in _LAYERS else None
    if main and list(args) == [main] and args[main] is not None:  # `Normalization: null` would read as bare
        return {keras_class: args[main]}
    return {keras_class: args}


def layer_to_spec(layer, index: int = 0) -> dict:
    """One layer in the contract syntax, arguments at their defaults left out."""
    return _entry(*_layer_args(layer, f"layer {index}"))


def model_to_spec(model) -> dict:
    """A Sequential model as `{"input_shape": [...], "layers": [...]}`, a Functional one as a graph spec."""
    keras = import_keras()
    if isinstance(model, keras.Sequential) and not any(isinstance(layer, keras.Model) for layer in model.layers):
        spec: dict[str, Any] = {}
        try:
            spec["input_shape"] = [int(d) for d in model.input_shape[1:]]
            if str(model.inputs[0].dtype) != SPEC_DTYPE:
                spec["input_dtype"] = str(model.inputs[0].dtype)
        except (AttributeError, ValueError, TypeError):
            pass  # a model never built has no input shape: the data will give it
        spec["layers"] = [layer_to_spec(layer, i) for i, layer in enumerate(model.layers)]
        return spec
    return graph_to_spec(graph_of(model))


def graph_to_spec(graph: Graph) -> dict:
    """The spec of a Functional model's graph (see the module's docstring for its form)."""
    issues, args = [], {}
    for name, layer in graph.layers.items():
        try:
            args[name] = _layer_args(layer, f"layer {name!r}")
        except SpecError as e:
            issues += e.issues
    for name, shape in graph.inputs.items():
        if any(d is None for d in shape):
            issues.append(Issue(f"input {name!r} has a free axis {_shape_text(shape)}: the spec language's "
                                "input shapes are fixed"))
    if issues:
        raise SpecError(issues)
    order = reading_order(graph)
    constructs = find_constructs(graph, args)
    inside = {n for r in constructs.values() for path in r.paths for n in path}
    order = [name for name in order if name not in inside]
    previous = next(iter(graph.inputs)) if len(graph.inputs) == 1 else None
    reads: dict[str, Any] = {}  # layer -> its `from:`, where it does not read the entry before it
    for name in order:
        sources = [constructs[name].source] if name in constructs else graph.sources[name]
        if name in graph.merged and name not in constructs:
            reads[name] = list(sources)
        elif sources != [previous]:
            reads[name] = sources[0]
        previous = name
    outputs = None if graph.outputs == order[-1:] else list(graph.outputs)
    named = {s for r in reads.values() for s in (r if isinstance(r, list) else [r])} | set(outputs or ())
    new = _safe_names(graph, named)
    spelt = dict.fromkeys([*graph.inputs, *sorted(n for n in named if n not in new)])
    new.update(_identifiers(list(spelt), set(graph.layers) | set(new.values())))
    spec: dict[str, Any] = {}
    dtypes = {name: graph.input_dtypes.get(name, SPEC_DTYPE) for name in graph.inputs}
    if len(graph.inputs) == 1 and not named & set(graph.inputs):
        spec["input_shape"] = [int(d) for d in next(iter(graph.inputs.values()))]
        if next(iter(dtypes.values())) != SPEC_DTYPE:
            spec["input_dtype"] = next(iter(dtypes.values()))
    else:
        spec["inputs"] = {new.get(name, name): _input_entry(shape, dtypes[name])
                          for name, shape in graph.inputs.items()}
    layers = []
    for name in order:
        if name in constructs:
            keras_class, layer_args = constructs[name].kind, constructs[name].spec(args)
        else:
            keras_class, layer_args = args[name]
        layer_args = dict(layer_args)
        if name in reads:
            read = reads[name]
            layer_args["from"] = [new.get(r, r) for r in read] if isinstance(read, list) else new.get(read, read)
        if name in named:
            layer_args["name"] = new.get(name, name)
        layers.append(_entry(keras_class, layer_args))
    spec["layers"] = layers
    if outputs is not None:
        spec["outputs"] = [new.get(o, o) for o in outputs]
    return spec


# The merging layers `residual` and `parallel` build for their `merge:` (schemas.constructs.MERGES, reversed)
_MERGES = {"Add": "add", "Concatenate": "concatenate", "Multiply": "multiply", "Average": "average",
                    "Maximum": "maximum", "Minimum": "minimum"}


@dataclass(frozen=True)
class _Construct:
    """`residual` (paths: [shortcut, body], the shortcut empty for x itself) or `parallel` (paths: the
    branches): lists of layers from `source`, merged by `merge` in the order of `paths`."""

    kind: str
    source: str
    paths: list[list[str]]
    merge: str

    def spec(self, args: dict) -> dict:
        def written(path):
            return [_entry(*args[n]) for n in path]

        if self.kind == "parallel":
            out: dict[str, Any] = {"branches": [written(p) for p in self.paths]}
            return out if self.merge == "concatenate" else {**out, "merge": self.merge}
        shortcut, body = self.paths
        out = {"layers": written(body)}
        if shortcut:
            out["shortcut"] = written(shortcut)
        return out if self.merge == "add" else {**out, "merge": self.merge}


def find_constructs(graph: Graph, args: dict) -> dict[str, _Construct]:
    """The merges that are clearly a `residual` or a `parallel`, by the merge's name.

    A merge is one when it is a default merging layer (`Add()`, as the constructs build them) and
    each of its inputs is a chain of layers from one same x, every layer of a chain read by the
    next one only, and, but for a concatenation, all of one shape (no broadcast): x merged with f(x) (`residual`, x itself first), or with a shortcut chain first
    (`residual` with `shortcut`, where the merge is not concatenate), or three or more chains, or
    two concatenated (`parallel`). The order of the inputs is kept, so `Add([f(x), x])` is no
    `residual` (which merges [x, f(x)]) and stays written with `from:`.
    """
    readers: dict[str, int] = {}
    for sources in graph.sources.values():
        for source in sources:
            readers[source] = readers.get(source, 0) + 1
    for output in graph.outputs:
        readers[output] = readers.get(output, 0) + 1  # an output is read from outside: never inside a chain

    def chain(end: str) -> tuple[list[str], str]:
        """The layers of the chain that ends at `end`, first to last, and what its first layer reads."""
        layers, name = [], end
        while (name in graph.layers and name not in graph.merged and readers.get(name) == 1
               and len(graph.sources[name]) == 1):
            layers.insert(0, name)
            name = graph.sources[name][0]
        return layers, name

    found = {}
    for name in graph.merged:
        keras_class, merge_args = args[name]
        if keras_class not in _MERGES or merge_args:
            continue
        paths = [chain(source) for source in graph.sources[name]]
        if len({start for _, start in paths}) != 1 or not paths[-1][0]:
            continue
        source, merge = paths[0][1], _MERGES[keras_class]
        shapes = {_output_shape(graph, s) for s in graph.sources[name]}
        if merge != "concatenate" and len(shapes) != 1:
            continue  # a broadcast (squeeze-and-excitation's x * s(x)): the constructs merge one shape only
        if len(paths) == 2 and (not paths[0][0] or merge != "concatenate"):
            found[name] = _Construct("residual", source, [p for p, _ in paths], merge)
        elif all(p for p, _ in paths):
            found[name] = _Construct("parallel", source, [p for p, _ in paths], merge)
    return found


def _safe_names(graph: Graph, named: set[str]) -> dict[str, str]:
    """New names for the kept layer names that Keras could also give an unnamed layer of the rebuilt model.

    Keras names a layer without a name after its class and a counter (`dense`, `dense_1`): a kept
    `dense_1` would clash with the second unnamed Dense of the rebuild, so it becomes `dense_1_out`.
    """
    from keras.src.utils.naming import to_snake_case  # how Keras makes its automatic names

    bases = {to_snake_case(type(layer).__name__) for layer in graph.layers.values()} | {"input_layer"}
    automatic = re.compile(rf"({'|'.join(map(re.escape, sorted(bases)))})(_\d+)?")
    taken = set(graph.layers) | set(graph.inputs)
    new = {}
    for name in sorted(named - set(graph.inputs)):
        if automatic.fullmatch(name):
            candidate = f"{name}_out"
            while candidate in taken:
                candidate += "_"
            taken.add(candidate)
            new[name] = candidate
    return new


# The names `inputs:` and `outputs:` take (schemas.experiment's Identifier)
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


def _identifiers(names: list[str], taken: set[str]) -> dict[str, str]:
    """New names for those of `names` the spec does not take: other characters become `_`, a leading
    `_` or `.` goes (`in put` -> `in_put`, `_b` -> `b`), and a name already taken gets a `_` more."""
    taken = taken | set(names)
    new = {}
    for name in names:
        if _IDENTIFIER.fullmatch(name):
            continue
        candidate = re.sub(r"[^A-Za-z0-9_.+-]", "_", name).lstrip("_.+-")[:60] or "input"
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        new[name] = candidate
    return new


def _input_entry(shape: list, dtype: str) -> Any:
    """`[28, 28]` for a float32 input of `inputs:`, else `{shape: [...], dtype: int32}`."""
    shape = [int(d) for d in shape]
    return shape if dtype == SPEC_DTYPE else {"shape": shape, "dtype": dtype}


def _output_shape(graph: Graph, name: str) -> tuple:
    if name in graph.inputs:
        return (None, *graph.inputs[name])
    return tuple(graph.layers[name].output.shape)


def _shape_text(shape) -> str:
    return "[" + ", ".join("null" if d is None else str(d) for d in shape) + "]"


def reading_order(graph: Graph) -> list[str]:
    """The layers in an order a reader follows: each next layer reads the latest layer it can.

    A topological order in which, among the layers whose inputs are all written, the one reading
    the most recently written layer comes next (ties: Keras's order), so a chain continues until
    it merges, and a side branch (a shortcut, a squeeze-and-excitation) is written whole before
    the layer that merges it. A layer nothing reads that is an output waits until nothing else
    can come, so that the single output is the last entry.
    """
    position = {name: i for i, name in enumerate(graph.layers)}
    written = {name: -1 for name in graph.inputs}  # name -> when it was written
    readers: dict[str, list[str]] = {}
    waiting = {}
    for name, sources in graph.sources.items():
        waiting[name] = len(set(sources))
        for source in set(sources):
            readers.setdefault(source, []).append(name)
    ready = {name for name, sources in graph.sources.items() if all(s in written for s in sources)}
    order = []
    while ready:
        def priority(name):
            sink = name in graph.outputs and not readers.get(name)
            return (not sink, max(written[s] for s in graph.sources[name]), -position[name])

        name = max(ready, key=priority)
        ready.remove(name)
        written[name] = len(order)
        order.append(name)
        for reader in readers.get(name, ()):
            if all(s in written for s in graph.sources[reader]):
                ready.add(reader)
    return order


def export_file(path: Path, name: str | None = None) -> str:
    """The YAML library file for the model saved at `path` (loaded with Keras's safe mode on)."""
    keras = import_keras()
    if not Path(path).is_file():
        raise SpecError([Issue("no such file", source=str(path))])
    if Path(path).suffix == ".keras" and not zipfile.is_zipfile(path):  # Keras would say "File not found"
        raise SpecError([Issue("not a readable .keras file (a .keras model is a zip archive; this one is "
                               "corrupt or truncated)", source=str(path))])
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # noqa: BLE001 - any failure to load is the file's problem, told plainly
        raise SpecError([Issue(f"cannot load it with Keras's safe mode: {first_line(e)}",
                               source=str(path))]) from None
    try:
        spec = model_to_spec(model)
    except SpecError as e:
        raise SpecError([Issue(i.message, source=str(path)) for i in e.issues]) from None
    return library_yaml(name or model.name, spec)


def _bare(layer: dict) -> Any:
    """`Flatten` for `{Flatten: {}}`, here and in the layer lists of a `residual` or `parallel`."""
    (key, args), = layer.items()
    if args == {}:
        return key
    if isinstance(args, dict):
        lists = {k: [_bare(entry) for entry in v] for k, v in args.items() if k in ("layers", "shortcut")}
        if "branches" in args:
            lists["branches"] = [[_bare(entry) for entry in branch] for branch in args["branches"]]
        if isinstance(args.get("layer"), dict):  # a wrapper's layer (TimeDistributed's Flatten)
            lists["layer"] = _bare(args["layer"])
        return {key: {**args, **lists}}
    return layer


def library_yaml(name: str, spec: dict) -> str:
    """`spec` as a library file (`models: {name: spec}`), in block style throughout as README's specs.

    A layer without arguments is written as its bare name (`- Flatten`), so no `{}` is left in
    flow style (inside a `residual` too); lists are indented under their key.
    """
    import yaml

    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow=False, indentless=False):
            return super().increase_indent(flow, False)  # `layers:` then `  - Dense: ...`, as README writes

        def ignore_aliases(self, data):
            return True  # two equal values are written twice, never as a YAML alias

    document = {"models": {name: {**spec, "layers": [_bare(layer) for layer in spec.get("layers", [])]}}}
    return yaml.dump(document, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
