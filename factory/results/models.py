"""Each model's display and comparison information, read from the plain results.json dict."""

from __future__ import annotations

from typing import Any

RESULTS = "results.json"  # the file `factory run` writes into its output folder and `compare` reads


def model_info(results: dict) -> dict[str, dict]:
    """Per model name, in the experiment's order: what tables, plots and differences need.

    Each entry has `label` (None where the spec gives none), `color`, `linestyle` (None: a default
    style), `layers` (the written syntax, a leading `Input` left out), the model's `inputs` and
    `outputs` where the spec names them (None otherwise), and its `input_shape`, `input_dtype`,
    `compile` and `training` with the experiment's `data`, so differences cover every setting, not
    only layers. `input_shape` is where the model's input shape was given (the model, an `Input`
    layer or the first layer's `input_shape`), else the data's (`data_fingerprint` in results.json),
    else None. `results` is the dict of results.json (`results["experiment"]` the resolved experiment).
    """
    experiment = results["experiment"]
    data_shape = (((results.get("data_fingerprint") or {}).get("x_train") or {}).get("shape") or [None])[1:] or None
    out = {}
    for name, spec in experiment["models"].items():
        layers, given = _split_input(spec.get("layers") or [])
        out[name] = {"label": spec.get("label"), "color": spec.get("color"), "linestyle": spec.get("linestyle"),
                     "layers": layers, "input_shape": spec.get("input_shape") or given or data_shape,
                     "input_dtype": spec.get("input_dtype"),  # null: the data's (float32 but for text)
                     "inputs": spec.get("inputs"), "outputs": spec.get("outputs"),
                     "compile": spec.get("compile") or {}, "training": spec.get("training") or {},
                     "data": experiment.get("data") or {}}
    return out


def _split_input(layers: list) -> tuple[list, Any]:
    """The layers without a leading `Input` layer, and the input shape it or the first layer gives."""
    if not layers or not isinstance(layers[0], dict) or len(layers[0]) != 1:
        return layers, None
    (kind, args), = layers[0].items()
    if kind == "Input":  # the model's input, not a layer: `Input: [8, 8]` is `input_shape: [8, 8]`
        return layers[1:], args.get("shape") if isinstance(args, dict) else args
    return layers, args.get("input_shape") if isinstance(args, dict) else None
