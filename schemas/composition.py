"""The composition forms (include, blocks, extends, edit, sweep, `$block`) in the JSON Schema.

`factory.spec.compose` expands these before validation, so the Pydantic models never see them; this
adds them to the JSON Schema that editors use, so a composed experiment gets completion and
checking too.
"""


from typing import Any

POSITION = {"type": ["integer", "string"],
            "description": "a layer of the parent: its index (negative from the end) or its name"}
LAYERS = {"type": "array", "items": {"$ref": "#/$defs/LayerWritten"},
          "description": "layers (or `$block` uses), as in a model's `layers`"}


def _edit(operation: str, description: str, with_: dict | None) -> dict:
    """One edit form: `{operation: position}`, with `with:` when the operation takes one."""
    # the title labels the form in an editor's completion
    form = {"type": "object", "title": f"{operation} edit", "description": description,
            "additionalProperties": False, "properties": {operation: POSITION}, "required": [operation]}
    if with_ is not None:
        form["properties"]["with"] = with_
        form["required"].append("with")
    return form


# Each operation has its own form, so `{replace: 0, with: {Dense: 99}}` (a mapping, not a list) and
# `{remove: 1, with: [...]}` are errors in an editor too; exactly one operation per edit.
EDIT = {
    "description": "one change to the parent's layers; positions are the parent's layer indices "
                   "(negative from the end) or a layer's name",
    "anyOf": [
        _edit("replace", "replace this layer by the layers in `with`", LAYERS),
        _edit("insert_before", "insert the layers in `with` before this layer", LAYERS),
        _edit("insert_after", "insert the layers in `with` after this layer", LAYERS),
        _edit("set", "change arguments of this layer to those in `with`",
              {"type": "object", "minProperties": 1, "description": "arguments and their new values, "
                                                                    "e.g. {units: 16}"}),
        _edit("remove", "remove this layer", None),
    ],
}
MODEL = {
    "extends": {"type": "string", "description": "start from this model: `A`, or `lib.A` from an included file"},
    "edit": {"type": "array", "items": EDIT, "description": "changes to the layers of the model it extends"},
    "sweep": {"type": "object", "additionalProperties": {"type": "array", "minItems": 1},
              "description": "field path (e.g. layers.1.Dense.units) -> values: one variant per combination"},
}
ROOT = {
    "include": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "other spec files by a short name: a path relative to this file, "
                               "or pkg://package/path inside an installed package"},
    "blocks": {"type": "object", "description": "named, parameterised lists of layers, used as `$name`",
               "additionalProperties": {
                   "type": "object", "required": ["layers"], "additionalProperties": False,
                   "properties": {"params": {"type": ["object", "array"],
                                             "description": "parameter -> default (a list: all required)"},
                                  "layers": {"type": "array", "description": "layers; ${param} is replaced"},
                                  "description": {"type": "string"}}}},
}
BLOCK_USE = [
    {"type": "string", "pattern": r"^\$[A-Za-z_]", "description": "a block, without parameters"},
    {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
     "patternProperties": {r"^\$[A-Za-z_]": {"type": ["object", "null"]}},
     "description": "a block with its parameters"},
]


# What only an experiment has: a file with none of these is a library of models and blocks to include.
EXPERIMENT_ONLY = ("name", "data", "compile", "training")


def add_composition(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the composition forms and the library form to the experiment JSON Schema (in place); return it.

    An experiment needs `name`, `data` and `models`; a library file (no name, data, compile or
    training) needs only models or blocks, whose models are checked like an experiment's.
    """
    schema["properties"].update(ROOT)
    required = schema.pop("required")
    schema["if"] = {"anyOf": [{"required": [key]} for key in EXPERIMENT_ONLY]}
    schema["then"] = {"required": required}
    schema["else"] = {"anyOf": [{"required": ["models"]}, {"required": ["blocks"]}]}
    model = schema["$defs"]["Model"]
    model["properties"].update(MODEL)
    model["required"] = [r for r in model.get("required", []) if r != "layers"]
    # a model that extends another may add no layers
    model["anyOf"] = [{"required": ["layers"]}, {"required": ["extends"]}]
    layers = model["properties"]["layers"]
    schema["$defs"]["LayerWritten"] = {"anyOf": [layers["items"], *BLOCK_USE]}
    layers["items"] = {"$ref": "#/$defs/LayerWritten"}
    return schema
