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


def markdown_table(headings: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headings) + " |", "|" + "|".join("---" for _ in headings) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def markdown(rows: Sequence[dict]) -> str:
    return markdown_table(*table(rows))


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


# paired comparisons over seeds --------------------------------------------------------------------

SIGNIFICANCE = 0.05
MAX_ALL_PAIRS = 8  # beyond this many models, each is compared with the first only


def final_values(runs: Sequence[dict], model: str, metric: str) -> dict[int, float]:
    return {r["seed"]: r["history"][metric][-1] for r in completed(runs, model) if r["history"].get(metric)}


def paired(runs: Sequence[dict], a: str, b: str, metric: str) -> dict[str, Any]:
    """Final `metric` of b minus a over the seeds both completed, with a two-sided paired t-test.

    The same seed gives both models the same data order, so pairing by seed removes that part of
    the noise; `p` is the chance of a mean difference this large if the models were equal.
    """
    fa, fb = final_values(runs, a, metric), final_values(runs, b, metric)
    seeds = sorted(set(fa) & set(fb))
    diffs = [fb[s] - fa[s] for s in seeds]
    out = {**mean_std(diffs), "seeds": seeds, "p": None}
    n = out["n"]
    if n >= 2:
        if out["std"] == 0:
            out["p"] = 1.0 if out["mean"] == 0 else 0.0
        else:
            from scipy.stats import t as student_t  # scipy comes with scikit-learn

            t = out["mean"] / (out["std"] / math.sqrt(n))
            out["p"] = float(2 * student_t.sf(abs(t), df=n - 1))
            out["t"] = t
    return out


def verdict(metric: str, comparison: dict, a: str, b: str) -> str:
    if comparison["n"] < 2:
        return "one seed: cannot tell from seed noise (train over several seeds)"
    p, mean = comparison["p"], comparison["mean"]
    if p is None or p >= SIGNIFICANCE:
        return f"within seed-to-seed noise (p={p:.2f})"
    better = (mean < 0) == metric.endswith("loss")
    return f"{b} {'better' if better else 'worse'} than {a} beyond seed noise (p={p:.3f})"


def pair_rows(runs: Sequence[dict], models: dict[str, dict], layers: dict[str, list] | None = None,
              metrics: Sequence[str] = ("val_loss", "val_accuracy")) -> list[dict]:
    """Paired comparisons of models: every pair for a few models, else each against the first."""
    from factory.results.differences import describe

    names = list(models)
    if len(names) <= MAX_ALL_PAIRS:
        pairs = [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]
    else:
        pairs = [(names[0], other) for other in names[1:]]
    rows = []
    for a, b in pairs:
        row = {"a": a, "b": b, "differs": describe(layers[a], layers[b]) if layers else ""}
        for metric in metrics:
            row[metric] = paired(runs, a, b, metric)
        primary = next((m for m in metrics if row[m]["n"]), metrics[0])
        row["verdict"] = verdict(primary, row[primary], a, b)
        rows.append(row)
    return rows


def _signed(stat: dict, decimals: int = 4) -> str:
    if not stat["n"]:
        return "-"
    text = f"{stat['mean']:+.{decimals}f}"
    if stat["n"] > 1:
        text += f" ± {stat['std']:.{decimals}f}"
    return text + (f" (p={stat['p']:.3f})" if stat.get("p") is not None else "")


def pair_table(rows: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    headings = ["models", "what differs (from the specs)", "Δ final val_loss", "Δ final val_accuracy",
                "seeds", "verdict (paired t-test over seeds)"]
    cells = [[f"{r['b']} vs {r['a']}", r["differs"], _signed(r["val_loss"]), _signed(r["val_accuracy"]),
              str(r["val_loss"]["n"] or r["val_accuracy"]["n"]), r["verdict"]] for r in rows]
    return headings, cells


def pair_markdown(rows: Sequence[dict]) -> str:
    return markdown_table(*pair_table(rows))
