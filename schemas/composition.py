"""The composition forms (include, blocks, extends, edit, sweep, `$block`) in the JSON Schema.

`factory.spec.compose` expands these before validation, so the Pydantic models never see them; this
adds them to the JSON Schema that editors use, so a composed experiment gets completion and
checking too.
"""

from __future__ import annotations

from typing import Any

EDIT = {
    "type": "object",
    "description": "one change to the parent's layers; positions are the parent's layer indices "
                   "(negative from the end) or a layer's name",
    "properties": {
        "replace": {"type": ["integer", "string"], "description": "replace this layer by `with`"},
        "remove": {"type": ["integer", "string"], "description": "remove this layer"},
        "set": {"type": ["integer", "string"], "description": "change arguments of this layer to `with`"},
        "insert_before": {"type": ["integer", "string"], "description": "insert `with` before this layer"},
        "insert_after": {"type": ["integer", "string"], "description": "insert `with` after this layer"},
        "with": {"description": "layers (replace, insert) or arguments (set)"},
    },
    "additionalProperties": False,
    "minProperties": 1,
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


def add_composition(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the composition forms to the experiment JSON Schema (in place); return it."""
    schema["properties"].update(ROOT)
    model = schema["$defs"]["Model"]
    model["properties"].update(MODEL)
    model["required"] = [r for r in model.get("required", []) if r != "layers"]
    layers = model["properties"]["layers"]
    layers["items"] = {"anyOf": [layers["items"], *BLOCK_USE]}
    return schema
