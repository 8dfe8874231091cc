"""Export a tf.keras model as a spec in the contract syntax, leaving out arguments at their defaults.

`model_to_spec(model)` returns `{"input_shape": [...], "layers": [...]}` for a Sequential model;
`factory export MODEL.keras` prints it as a library file (`models: {NAME: ...}`) to `include`.
A default is what a freshly constructed layer of the same class (with the same required
arguments) reports, so "left out" means exactly "Keras would use the same value". A layer or an
argument the spec language cannot express is a `SpecError` naming it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from factory.errors import Issue, SpecError, first_line
from factory.build.keras_setup import import_keras
from schemas import INITIALIZERS, LAYERS, REGULARIZERS

_LAYERS = {cls.keras_class: cls for cls in LAYERS}
_OBJECTS = {cls.keras_class: cls for cls in (*INITIALIZERS, *REGULARIZERS)}
_IGNORED = {"name", "dtype", "input_shape", "batch_input_shape", "autocast"}  # not part of a spec
SPEC_DTYPE = "float32"  # every model the spec language builds; a layer of another dtype cannot be exported


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        return _keras_object(value)
    return value


def _keras_object(config: dict) -> Any:
    """`{"class_name": "HeNormal", "config": {"seed": 42}, ...}` -> `{HeNormal: {seed: 42}}` or `HeNormal`."""
    name = config["class_name"]
    spec = _OBJECTS.get(name)
    if spec is None:
        raise SpecError([Issue(f"{name} cannot be expressed in the spec language")])
    keras = import_keras()
    module = keras.initializers if spec in INITIALIZERS else keras.regularizers
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


def layer_to_spec(layer, index: int = 0) -> dict:
    """One layer in the contract syntax, arguments at their defaults left out."""
    keras_class = type(layer).__name__
    spec = _LAYERS.get(keras_class)
    if spec is None:
        raise SpecError([Issue(f"layer {index} ({keras_class}) cannot be expressed in the spec language "
                               f"(it has {', '.join(sorted(_LAYERS))})")])
    config = layer.get_config()
    dtype = _dtype_name(config.get("dtype"))
    if dtype not in (None, SPEC_DTYPE):  # dropping it would export another model, silently
        raise SpecError([Issue(f"layer {index} ({keras_class}): dtype {dtype} cannot be expressed in the spec "
                               f"language (its models are {SPEC_DTYPE})")])
    required = {k: config[k] for k, f in spec.model_fields.items() if f.is_required() and k in config}
    defaults = type(layer)(**required).get_config()
    args = {}
    for key, value in config.items():
        if key in _IGNORED or (key not in required and defaults.get(key, object()) == value):
            continue
        if key not in spec.model_fields or key in spec.spec_only:
            raise SpecError([Issue(f"layer {index} ({keras_class}): {key}={value!r} cannot be expressed in "
                                   "the spec language")])
        try:
            args[key] = _plain(value)
        except SpecError as e:
            raise SpecError([Issue(f"layer {index} ({keras_class}).{key}: {e.issues[0].message}")]) from None
    if spec.main_argument and list(args) == [spec.main_argument]:
        return {keras_class: args[spec.main_argument]}  # `Dense: 64`
    return {keras_class: args}


def model_to_spec(model) -> dict:
    """A Sequential tf.keras model as `{"input_shape": [...], "layers": [...]}`."""
    keras = import_keras()
    if not isinstance(model, keras.Sequential):
        raise SpecError([Issue(f"only Sequential models can be exported; this is a {type(model).__name__}")])
    spec: dict[str, Any] = {}
    try:
        spec["input_shape"] = [int(d) for d in model.input_shape[1:]]
    except (AttributeError, ValueError, TypeError):
        pass  # a model never built has no input shape: the data will give it
    spec["layers"] = [layer_to_spec(layer, i) for i, layer in enumerate(model.layers)]
    return spec


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


def library_yaml(name: str, spec: dict) -> str:
    """`spec` as a library file (`models: {name: spec}`), in block style throughout as README's specs.

    A layer without arguments is written as its bare name (`- Flatten`), so no `{}` is left in
    flow style; lists are indented under their key.
    """
    import yaml

    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow=False, indentless=False):
            return super().increase_indent(flow, False)  # `layers:` then `  - Dense: ...`, as README writes

    layers = [next(iter(layer)) if list(layer.values()) == [{}] else layer for layer in spec.get("layers", [])]
    document = {"models": {name: {**spec, "layers": layers}}}
    return yaml.dump(document, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
