"""The confirmation of a search: the best trial and the base model, re-trained over `confirm_seeds`.

One search picks its winner from single runs, so part of its lead can be a lucky seed. Both models
are trained again over the same seeds as an ordinary experiment (`confirm.yaml`, into `confirm/`,
with the usual comparison table and paired test), and the verdict says whether the gain in the
objective is beyond seed-to-seed noise.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from factory.atomic import write_json, write_text
from factory.results import stats
from factory.search.outputs import best_spec, write_outputs
from factory.spec.loader import Loaded, load
from factory.train.progress import say


def confirm_spec(loaded: Loaded, name: str, best: dict, study) -> dict:
    """An experiment of the base model and the best trial, both over `confirm_seeds`, as plain data."""
    search = loaded.experiment.models[name].search
    spec = best_spec(study, loaded, best)
    (trial,) = spec["models"].values()
    base = loaded.experiment.resolved().models[name].model_copy(update={"search": None})
    base = base.model_dump(mode="json", exclude_none=True)
    for model in (base, trial):
        model["training"]["seeds"] = list(search.confirm_seeds)
    spec["name"] = f"{loaded.experiment.name}-confirm"
    spec["models"] = {name: base, best["name"]: trial}
    return spec


def confirm(loaded: Loaded, name: str, summary: dict, out: Path, resume: bool, workers: int, backend: str,
            address: str | None) -> int:
    """Train base and best over the seeds into `out/confirm/`; add the verdict to search.json and the report."""
    import optuna

    from factory.search.pruning import JOURNAL, storage
    from factory.train.runner import run_experiment

    study = optuna.load_study(study_name=name, storage=storage(str(out / JOURNAL)))
    best, metric = summary["best"], summary["objective"]
    write_text(out / "confirm.yaml", "# the base model and the best trial of the search, over confirm_seeds\n"
               + yaml.safe_dump(confirm_spec(loaded, name, best, study), sort_keys=False, allow_unicode=True))
    say(f"\nconfirming: {name} (the base) and {best['name']} over seeds "
        f"{', '.join(map(str, loaded.experiment.models[name].search.confirm_seeds))}")
    code = run_experiment(load(out / "confirm.yaml"), out / "confirm", resume=resume, workers=workers,
                          backend=backend, address=address)
    runs = json.loads((out / "confirm" / "results.json").read_text(encoding="utf-8"))["runs"]
    comparison = stats.paired(runs, name, best["name"], metric)
    text = stats.verdict(metric, comparison, name, best["name"])
    better = comparison["n"] > 0 and (comparison["mean"] < 0) == stats.lower_is_better(metric)
    beyond = better and comparison["p"] is not None and comparison["p"] < stats.SIGNIFICANCE
    gain = "the gain is beyond seed noise" if beyond else "the gain is NOT beyond seed noise"
    summary["confirmation"] = {"base": name, "best": best["name"], "metric": metric, "comparison": comparison,
                               "verdict": text, "beyond_noise": beyond,
                               "text": f"{text}\n{gain} (the whole comparison: confirm/report.html)"}
    write_outputs(study, loaded, name, out, summary["confirmation"])
    say(f"confirmation: {text}: {gain}")
    return code
