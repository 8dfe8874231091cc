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
from factory.search.space import direction
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


def judge(comparison: dict, metric: str, direction: str, base: str, best: str) -> tuple[bool, str]:
    """Whether `best` beats `base` beyond seed noise in the search's `direction`, and the verdict saying so.

    `comparison` is `stats.paired(runs, base, best, metric)`. Better and worse follow the direction
    the search optimised, never a guess from the metric's name. A difference identical on every
    seed has no noise to test against: a gain then is beyond noise (p is None there).
    """
    n, mean = comparison["n"], comparison["mean"]
    if comparison.get("not_comparable") or n < 2:  # these verdicts say nothing of better or worse
        return False, stats.verdict(metric, comparison, base, best)
    better = mean > 0 if direction == "maximize" else mean < 0
    word = "better" if better else "worse"
    if comparison.get("identical"):
        if mean == 0:
            return False, f"{metric}: the same on every seed"
        return better, (f"{metric}: {best} {word} than {base} by {abs(mean):.4g}, an identical difference on every "
                        "seed (no noise to test against)")
    p = comparison["p"]
    shown = "<0.001" if p < 0.001 else f"{p:.3f}"
    if p >= stats.SIGNIFICANCE:
        return False, f"{metric}: within seed-to-seed noise (p={shown})"
    return better, f"{metric}: {best} {word} than {base} beyond seed noise (p={shown})"


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
    beyond, text = judge(comparison, metric, direction(loaded.experiment.models[name].search), name, best["name"])
    gain = "the gain is beyond seed noise" if beyond else "the gain is NOT beyond seed noise"
    summary["confirmation"] = {"base": name, "best": best["name"], "metric": metric, "comparison": comparison,
                               "verdict": text, "beyond_noise": beyond,
                               "text": f"{text}\n{gain} (the whole comparison: confirm/report.html)"}
    write_outputs(study, loaded, name, out, summary["confirmation"])
    say(f"confirmation: {text}: {gain}")
    return code
