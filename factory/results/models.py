"""Each model's display and comparison information, read from the plain results.json dict."""

from __future__ import annotations

RESULTS = "results.json"  # the file `factory run` writes into its output folder and `compare` reads


def model_info(results: dict) -> dict[str, dict]:
    """Per model name, in the experiment's order: what tables, plots and differences need.

    Each entry has `label` (None where the spec gives none), `color`, `linestyle` (None: a default
    style), `layers` (the written syntax), and the model's resolved `input_shape`, `compile` and
    `training` with the experiment's `data`, so differences cover every setting, not only layers.
    `results` is the dict of results.json (`results["experiment"]` the resolved experiment).
    """
    experiment = results["experiment"]
    return {name: {"label": spec.get("label"), "color": spec.get("color"), "linestyle": spec.get("linestyle"),
                   "layers": spec.get("layers") or [], "input_shape": spec.get("input_shape"),
                   "compile": spec.get("compile") or {}, "training": spec.get("training") or {},
                   "data": experiment.get("data") or {}}
            for name, spec in experiment["models"].items()}
