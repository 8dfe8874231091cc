"""What a search leaves in its output folder: trials.csv/.md, the plots, best.yaml, search.json, report.html.

Made from the study (Optuna's trials and the plain data each trial keeps in its user attributes),
so they are remade from the journal after an interrupted or resumed search.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import yaml

from factory.atomic import write_json, write_text
from factory.results import stats
from factory.search import space
from factory.spec.loader import Loaded

STATES = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


def trial_rows(study) -> list[dict]:
    """One plain row per trial, in trial order."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        state = "interrupted" if a.get("interrupted") else STATES.get(t.state.name, t.state.name.lower())
        value = t.value if t.value is not None else (t.intermediate_values[t.last_step]
                                                     if t.last_step is not None else None)
        rows.append({"trial": t.number, "name": a.get("name", f"t{t.number}"), "state": state,
                     "value": value, "pruned_epoch": a.get("pruned_epoch"), "epochs": a.get("epochs"),
                     "seconds": a.get("seconds"), "wall_seconds": a.get("wall_seconds"), "label": a.get("label", ""),
                     "keras_backend": a.get("keras_backend"), "values": json.loads(a.get("values", "{}")),
                     "error": a.get("error")})
    return rows


def write_outputs(study, loaded: Loaded, name: str, out: Path, confirmation: dict | None = None) -> dict:
    """Write every file of the search into `out`; return the summary written to search.json."""
    from factory.search.plots import history_plot, importance_plot

    search = loaded.experiment.models[name].search
    rows = trial_rows(study)
    maximize = space.direction(search) == "maximize"
    headings, cells = _table(rows, search.metric)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([headings, *cells])
    write_text(out / "trials.csv", text.getvalue())
    write_text(out / "trials.md", f"# Search of model {name}\n\n" + stats.markdown_table(headings, cells))
    plots = [history_plot(out / "optimisation_history.png", rows, search.metric, maximize)]
    importances = _importances(study)
    if importances:
        plots.append(importance_plot(out / "parameter_importance.png", importances))
    completed = [r for r in rows if r["state"] == "completed"]
    best = (max if maximize else min)(completed, key=lambda r: r["value"]) if completed else None
    if best is not None:
        _write_best(study, loaded, best, out)
    counts = {s: sum(r["state"] == s for r in rows) for s in ("completed", "pruned", "failed", "interrupted")}
    summary = {"model": name, "objective": search.metric, "direction": space.direction(search), "trials": rows,
               "counts": counts, "best": best, "importances": importances, "confirmation": confirmation}
    write_json(out / "search.json", summary)
    write_search_report(out, summary, headings, cells, plots)
    return summary


def write_search_report(out: Path, summary: dict, headings, cells, plots) -> None:
    from factory.results.report import write_search_report as write

    best, counts = summary["best"], summary["counts"]
    intro = (f"{len(summary['trials'])} trials of model {summary['model']} "
             f"({', '.join(f'{n} {s}' for s, n in counts.items() if n)}); objective {summary['objective']} "
             f"({summary['direction']}d)."
             + (f" Best: {best['name']} ({best['label']}), {summary['objective']} {best['value']:.4f}; "
                "its spec is best.yaml." if best else " No trial completed."))
    confirmation = (summary["confirmation"] or {}).get("text") or "not run (confirm_seeds is empty, or the search " \
                                                                  "did not finish)"
    write(out / "report.html", f"Search of model {summary['model']}", intro, headings, cells, plots, confirmation)


def _table(rows: list[dict], metric: str) -> tuple[list[str], list[list[str]]]:
    paths = list(dict.fromkeys(p for r in rows for p in r["values"]))
    headings = ["trial", "name", "state", metric, "pruned at epoch", "epochs", "seconds", *paths, "error"]
    cells = []
    for r in rows:
        value = "" if r["value"] is None or not math.isfinite(r["value"]) else f"{r['value']:.4f}"
        shown = [_cell(r["values"].get(p)) for p in paths]
        error = (r["error"] or "").splitlines()[0][:120] if r["error"] else ""
        cells.append([str(r["trial"]), r["name"], r["state"], value, str(r["pruned_epoch"] or ""),
                      str(r["epochs"] if r["epochs"] is not None else ""),
                      f"{r['seconds']:.1f}" if r["seconds"] is not None else "", *shown, error])
    return headings, cells


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


def _importances(study) -> dict[str, float]:
    """Optuna's parameter importances; empty when too few trials completed to estimate them."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {}
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError):  # e.g. every completed trial has the same values
        return {}


def best_spec(study, loaded: Loaded, best: dict) -> dict:
    """The best trial's experiment as plain data: `factory run` on it trains that trial again."""
    spec = json.loads(study.trials[best["trial"]].user_attrs["spec"])
    spec["name"] = f"{loaded.experiment.name}-best"
    data_file = loaded.data_path()
    if data_file is not None:  # best.yaml lives in the output folder, not beside the spec
        spec["data"]["dataset"] = str(data_file)
    return spec


def _write_best(study, loaded: Loaded, best: dict, out: Path) -> None:
    spec = best_spec(study, loaded, best)
    (model,) = spec["models"].values()
    head = (f"# The best trial of the search of {loaded.path}: {best['name']} ({best['label']}),\n"
            f"# final {best['value']:.6g}. `python -m factory run best.yaml` trains it again at seed "
            f"{model['training']['seeds'][0]}.\n")
    write_text(out / "best.yaml", head + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
