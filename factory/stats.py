"""Plain-data statistics of finished runs: per-model summaries over seeds and the comparison rows.

Everything here takes and returns plain dicts and lists (what `results.json` holds), so tables,
plots and reports can be made and tested without TensorFlow.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

CONVERGED_WITHIN = 0.05  # "converged" = val_loss within 5% of the run's best


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    """`{"mean", "std", "n"}`; std is the sample standard deviation (0 for one value)."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n}


def completed(runs: Iterable[dict], model: str) -> list[dict]:
    return [r for r in runs if r["model"] == model and r["status"] == "completed"]


def summarize(runs: Sequence[dict], models: Sequence[str]) -> dict[str, dict]:
    """Per model, per metric: mean, std and n over seeds of the final epoch's value."""
    out = {}
    for model in models:
        done = completed(runs, model)
        metrics = sorted({k for r in done for k in r["history"]})
        out[model] = {m: mean_std([r["history"][m][-1] for r in done if r["history"].get(m)])
                      for m in metrics}
    return out


def epochs_to_converge(val_loss: Sequence[float], within: float = CONVERGED_WITHIN) -> int | None:
    """The first epoch (1-based) whose val_loss is within `within` of the run's best."""
    finite = [v for v in val_loss if math.isfinite(v)]
    if not finite:
        return None
    best = min(finite)
    limit = best + abs(best) * within
    return next(i + 1 for i, v in enumerate(val_loss) if math.isfinite(v) and v <= limit)


def comparison_rows(runs: Sequence[dict], models: dict[str, dict]) -> list[dict]:
    """One row per model: the figures of the comparison table, each as mean/std/n over seeds.

    `models` maps a model name to its display info (`label`); runs are `results.json` entries.
    """
    rows = []
    for name, info in models.items():
        done = completed(runs, name)
        failed = [r for r in runs if r["model"] == name and r["status"] == "failed"]
        per_run: dict[str, list] = {k: [] for k in (
            "final_val_loss", "best_val_loss", "best_epoch", "final_val_accuracy",
            "epochs_to_converge", "seconds_per_epoch")}
        for r in done:
            h = r["history"]
            vl = h.get("val_loss") or []
            if vl:
                per_run["final_val_loss"].append(vl[-1])
                best = min(range(len(vl)), key=lambda i: vl[i])
                per_run["best_val_loss"].append(vl[best])
                per_run["best_epoch"].append(best + 1)
                e = epochs_to_converge(vl)
                if e is not None:
                    per_run["epochs_to_converge"].append(e)
            if h.get("val_accuracy"):
                per_run["final_val_accuracy"].append(h["val_accuracy"][-1])
            per_run["seconds_per_epoch"].append(r["seconds_per_epoch"])
        params = next((r["params"] for r in done), None)
        rows.append({"model": name, "label": info.get("label") or name, "params": params,
                     "seeds": len(done), "failed": len(failed),
                     **{k: mean_std(v) for k, v in per_run.items()}})
    return rows


COLUMNS = [  # (row key, heading, decimals)
    ("final_val_loss", "final val_loss", 4),
    ("best_val_loss", "best val_loss", 4),
    ("best_epoch", "best epoch", 1),
    ("final_val_accuracy", "final val_accuracy", 4),
    ("epochs_to_converge", "epochs to within 5% of best", 1),
    ("seconds_per_epoch", "s/epoch", 2),
]


def format_stat(stat: dict, decimals: int) -> str:
    if not stat or stat["n"] == 0:
        return "-"
    if stat["n"] == 1:
        value = stat["mean"]
        return f"{value:.0f}" if decimals == 1 and float(value).is_integer() else f"{value:.{decimals}f}"
    return f"{stat['mean']:.{decimals}f} ± {stat['std']:.{decimals}f}"


def table(rows: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """Headings and text cells of the comparison table."""
    headings = ["model", "label", "params", "seeds"] + [h for _, h, _ in COLUMNS]
    cells = []
    for row in rows:
        seeds = str(row["seeds"]) + (f" ({row['failed']} failed)" if row["failed"] else "")
        params = f"{row['params']:,}" if row["params"] is not None else "-"
        cells.append([row["model"], row["label"], params, seeds]
                     + [format_stat(row[k], d) for k, _, d in COLUMNS])
    return headings, cells


def markdown(rows: Sequence[dict]) -> str:
    headings, cells = table(rows)
    lines = ["| " + " | ".join(headings) + " |", "|" + "|".join("---" for _ in headings) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def plain_text(rows: Sequence[dict]) -> str:
    headings, cells = table(rows)
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headings)]
    line = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headings), line(["-" * w for w in widths])] + [line(r) for r in cells])


def csv_text(rows: Sequence[dict]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    header = ["model", "label", "params", "seeds", "failed"]
    for key, _, _ in COLUMNS:
        header += [f"{key}_mean", f"{key}_std"]
    writer.writerow(header)
    for row in rows:
        cells = [row["model"], row["label"], row["params"], row["seeds"], row["failed"]]
        for key, _, _ in COLUMNS:
            cells += [row[key]["mean"], row[key]["std"]]
        writer.writerow(["" if c is None else c for c in cells])
    return buf.getvalue()
