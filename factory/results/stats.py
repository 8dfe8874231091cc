"""Plain-data statistics of finished runs: per-model summaries over seeds and the comparison rows.

Everything here takes and returns plain dicts and lists (what `results.json` holds), so tables,
plots and reports can be made and tested without TensorFlow.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from schemas.losses import same_loss

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


def validation_metrics(runs: Sequence[dict]) -> list[str]:
    """The `val_<metric>` names besides val_loss that completed runs recorded, in Keras's logging order.

    Tables, plots and pairs show these, so `metrics: [sparse_categorical_accuracy]` (or `acc`, `auc`,
    ...) appears as written in `compile.metrics`, not only `accuracy`.
    """
    seen: dict[str, None] = {}
    for r in runs:
        if r["status"] == "completed":
            seen.update((k, None) for k in r["history"] if k.startswith("val_") and k != "val_loss")
    return list(seen)


def comparison_rows(runs: Sequence[dict], models: dict[str, dict]) -> list[dict]:
    """One row per model: the figures of the comparison table, each as mean/std/n over seeds.

    `models` maps a model name to its display info (`label`); runs are `results.json` entries.
    Each row has `final_<metric>` for every validation metric the runs recorded (`metrics` lists them).
    """
    metrics = validation_metrics(runs)
    rows = []
    for name, info in models.items():
        done = completed(runs, name)
        failed = [r for r in runs if r["model"] == name and r["status"] == "failed"]
        per_run: dict[str, list] = {k: [] for k in (
            "final_val_loss", "best_val_loss", "best_epoch", *(f"final_{m}" for m in metrics),
            "epochs_to_converge", "stopped_at", "kept_epoch", "seconds_per_epoch")}
        for r in done:
            h = r["history"]
            if r.get("stopped_early"):  # runs of one model may end at different epochs: each counts its own
                per_run["stopped_at"].append(r["epochs_completed"])
            # kept_epoch: shown with keep: best, or where EarlyStopping restored an earlier epoch's weights
            if r.get("kept_epoch") is not None and (r.get("keep") == "best" or r["kept_epoch"] != r["epochs_completed"]):
                per_run["kept_epoch"].append(r["kept_epoch"])
            vl = h.get("val_loss") or []
            if vl:
                per_run["final_val_loss"].append(vl[-1])
                best = min(range(len(vl)), key=lambda i: vl[i])
                per_run["best_val_loss"].append(vl[best])
                per_run["best_epoch"].append(best + 1)
                e = epochs_to_converge(vl)
                if e is not None:
                    per_run["epochs_to_converge"].append(e)
            for m in metrics:
                if h.get(m):
                    per_run[f"final_{m}"].append(h[m][-1])
            if r.get("seconds_per_epoch") is not None:
                per_run["seconds_per_epoch"].append(r["seconds_per_epoch"])
        params = next((r["params"] for r in done), None)
        rows.append({"model": name, "label": info.get("label") or name, "params": params,
                     "loss": (info.get("compile") or {}).get("loss"),
                     "seeds": len(done), "failed": len(failed), "metrics": metrics,
                     **{k: mean_std(v) for k, v in per_run.items()}})
    return rows


def columns(rows: Sequence[dict]) -> list[tuple[str, str, int]]:
    """The figures of the table as (row key, heading, decimals): val_loss, each validation metric, speed."""
    metrics = rows[0]["metrics"] if rows else []
    # shown only where some run stopped early or kept its best epoch (older results have neither)
    control = [(key, heading, 1) for key, heading in (("stopped_at", "stopped at epoch"), ("kept_epoch", "kept epoch"))
               if any(row.get(key, {}).get("n") for row in rows)]
    return ([("final_val_loss", "final val_loss", 4), ("best_val_loss", "best val_loss", 4),
             ("best_epoch", "best epoch", 1)]
            + [(f"final_{m}", f"final {m}", 4) for m in metrics]
            + [("epochs_to_converge", "epochs to within 5% of best", 1), *control, ("seconds_per_epoch", "s/epoch", 2)])


def learning_rate_changes(runs: Sequence[dict]) -> bool:
    """Whether some completed run's recorded learning rate changed between epochs (then it is plotted)."""
    return any(len(set(r["history"].get("learning_rate") or [])) > 1 for r in runs if r["status"] == "completed")


def format_stat(stat: dict, decimals: int) -> str:
    if not stat or stat["n"] == 0:
        return "-"
    if stat["n"] == 1:
        value = stat["mean"]
        return f"{value:.0f}" if decimals == 1 and float(value).is_integer() else f"{value:.{decimals}f}"
    return f"{stat['mean']:.{decimals}f} ± {stat['std']:.{decimals}f}"


def table(rows: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """Headings and text cells of the comparison table."""
    figures = columns(rows)
    headings = ["model", "label", "params", "seeds"] + [h for _, h, _ in figures]
    cells = []
    for row in rows:
        seeds = str(row["seeds"]) + (f" ({row['failed']} failed)" if row["failed"] else "")
        params = f"{row['params']:,}" if row["params"] is not None else "-"
        cells.append([row["model"], row["label"], params, seeds]
                     + [_cell(row, k, d) for k, _, d in figures])
    return headings, cells


def _cell(row: dict, key: str, decimals: int) -> str:
    """A figure's cell; "stopped at epoch" says how many seeds stopped where not all did ("5 (1 of 3 seeds)")."""
    text = format_stat(row[key], decimals)
    stopped = (row.get(key) or {}).get("n") or 0
    if key == "stopped_at" and 0 < stopped < row["seeds"]:
        text += f" ({stopped} of {row['seeds']} seeds)"
    return text


def markdown_table(headings: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headings) + " |", "|" + "|".join("---" for _ in headings) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def losses_note(rows: Sequence[dict]) -> str | None:
    """A warning when the models were trained on different loss functions, whose values share no unit."""
    from factory.results.differences import show_value

    losses = {row["model"]: row.get("loss") for row in rows if row.get("loss") is not None}
    if all(same_loss(v, next(iter(losses.values()))) for v in losses.values()):
        return None
    each = ", ".join(f"{name}: {show_value(loss)}" for name, loss in losses.items())
    return f"val_loss is each model's own loss ({each}): not comparable between them."


def markdown(rows: Sequence[dict]) -> str:
    note = losses_note(rows)
    return markdown_table(*table(rows)) + (f"\n{note}\n" if note else "")


def plain_text(rows: Sequence[dict]) -> str:
    headings, cells = table(rows)
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headings)]
    line = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    note = losses_note(rows)
    return "\n".join([line(headings), line(["-" * w for w in widths])] + [line(r) for r in cells]
                     + ([note] if note else []))


def csv_text(rows: Sequence[dict]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    figures = columns(rows)
    header = ["model", "label", "params", "seeds", "failed"]
    for key, _, _ in figures:
        header += [f"{key}_mean", f"{key}_std"]
    writer.writerow(header)
    for row in rows:
        cells = [row["model"], row["label"], row["params"], row["seeds"], row["failed"]]
        for key, _, _ in figures:
            cells += [row[key]["mean"], row[key]["std"]]
        writer.writerow(["" if c is None else c for c in cells])
    return buf.getvalue()


# paired comparisons over seeds --------------------------------------------------------------------

SIGNIFICANCE = 0.05  # applied to Holm-adjusted p-values
MAX_ALL_PAIRS = 8  # beyond this many models, each is compared with the first only
_SAME = 1e-12  # differences closer than this (relative) are the same number, told apart only by rounding

# Parts of metric names where a lower value is better (losses, errors, false counts); every other
# metric Keras names (accuracy, auc, precision, r2_score, ...) is better higher. A test checks the
# split over every metric name the spec language knows.
_LOWER_IS_BETTER = ("loss", "error", "crossentropy", "hinge", "divergence", "poisson", "bce", "mae", "mse",
                    "mape", "msle", "false_", "logcosh")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of `metric` (`val_loss`, `val_mae`, `val_accuracy`, ...) is the better one."""
    name = metric.removeprefix("val_")
    return any(part in name for part in _LOWER_IS_BETTER)


def final_values(runs: Sequence[dict], model: str, metric: str) -> dict[int, float]:
    """Per seed, the last value of `metric` in the completed runs of `model` (finite values only)."""
    return {r["seed"]: r["history"][metric][-1] for r in completed(runs, model)
            if r["history"].get(metric) and math.isfinite(r["history"][metric][-1])}


def paired(runs: Sequence[dict], a: str, b: str, metric: str) -> dict[str, Any]:
    """Final `metric` of b minus a over the seeds both completed, with a two-sided paired t-test.

    The same seed gives both models the same data order, so pairing by seed removes that part of
    the noise; `p` is the chance of a mean difference this large if the models were equal. When
    every seed gives the same difference (`identical`), there is no noise to test against and `p`
    is None: a t-test would divide by zero and claim p = 0.
    """
    fa, fb = final_values(runs, a, metric), final_values(runs, b, metric)
    seeds = sorted(set(fa) & set(fb))
    diffs = [fb[s] - fa[s] for s in seeds]
    out = {**mean_std(diffs), "seeds": seeds, "p": None, "identical": False,
           "seeds_a": sorted(fa), "seeds_b": sorted(fb)}
    n = out["n"]
    if n >= 2:
        if max(diffs) - min(diffs) <= _SAME * max(1.0, *(abs(d) for d in diffs)):
            out["identical"] = True
        else:
            from scipy.stats import t as student_t

            t = out["mean"] / (out["std"] / math.sqrt(n))
            out["p"] = float(2 * student_t.sf(abs(t), df=n - 1))
            out["t"] = t
    return out


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the given order; None (no test) stays None and is not counted.

    The smallest of m p-values is multiplied by m, the next by m - 1, ..., each at least the one
    before and at most 1; a difference is beyond noise when its adjusted p is below 0.05. This keeps
    the chance of any false "beyond noise" among the pairs at 5%, where unadjusted p-values over
    many pairs would find some by chance.
    """
    ranked = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(ranked):
        running = max(running, min(1.0, (len(ranked) - rank) * p))
        adjusted[i] = running
    return adjusted


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _tested(comparison: dict) -> str:
    """`p=0.012` alone, or `Holm p=0.035 over 3 pairs` where several pairs were tested."""
    if comparison.get("family", 1) > 1:
        return f"Holm p={_p(comparison['p_holm'])} over {comparison['family']} pairs"
    return f"p={_p(comparison['p'])}"


def verdict(metric: str, comparison: dict, a: str, b: str) -> str:
    """What the difference in `metric` (b minus a) says, the metric named first: `val_loss: B worse ...`."""
    n, mean = comparison["n"], comparison["mean"]
    if comparison.get("not_comparable"):
        return f"{metric}: {comparison['not_comparable']}"
    seeds_a, seeds_b = comparison.get("seeds_a", []), comparison.get("seeds_b", [])
    if n == 0:
        if seeds_a and seeds_b:  # both recorded it, on different seeds: there is nothing to pair
            return f"{metric}: no seed in common ({a}: {_seeds(seeds_a)}; {b}: {_seeds(seeds_b)})"
        return f"{metric}: not recorded by both"
    if n == 1:
        if max(len(seeds_a), len(seeds_b)) > 1:
            return (f"{metric}: one seed in common ({_seeds(comparison['seeds'])}), cannot tell from seed noise "
                    "(train both over the same seeds)")
        return f"{metric}: one seed, cannot tell from seed noise (train over several seeds)"
    better = (mean < 0) == lower_is_better(metric)
    if comparison.get("identical"):
        if abs(mean) <= _SAME:
            return f"{metric}: the same on every seed"
        return (f"{metric}: {b} {'better' if better else 'worse'} than {a} by {abs(mean):.4g}, "
                "an identical difference on every seed (no noise to test against)")
    p = comparison.get("p_holm", comparison["p"])
    if p >= SIGNIFICANCE:
        return f"{metric}: within seed-to-seed noise ({_tested(comparison)})"
    return f"{metric}: {b} {'better' if better else 'worse'} than {a} beyond seed noise ({_tested(comparison)})"


def _seeds(seeds: Sequence[int]) -> str:
    return ", ".join(map(str, seeds))


# The metrics whose values are the compiled loss itself: two models trained on different loss
# functions (mse, mae) have values in different units, so no difference between them means anything.
_LOSS_METRICS = ("val_loss", "loss")


def _not_comparable(models: dict[str, dict], a: str, b: str) -> str | None:
    """Why the loss values of `a` and `b` cannot be compared (their compile.loss differs), or None."""
    from factory.results.differences import show_value

    la, lb = ((models[n].get("compile") or {}).get("loss") for n in (a, b))
    if la is None or lb is None or same_loss(la, lb):
        return None
    return f"different losses ({a}: {show_value(la)}, {b}: {show_value(lb)}): not comparable"


def all_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair of a few models; beyond MAX_ALL_PAIRS models, each against the first."""
    names = list(names)
    if len(names) <= MAX_ALL_PAIRS:
        return [(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]
    return [(names[0], other) for other in names[1:]]


def compare_pairs(runs: Sequence[dict], models: dict[str, dict], pairs: Sequence[tuple[str, str]],
                  metrics: Sequence[str] | None = None) -> list[dict]:
    """Paired comparisons (b minus a) of the given pairs, Holm-adjusted over the pairs, per metric.

    Each row: `a`, `b`, `differs` (from the specs: layers, compile, training, data), `metrics`
    (per metric: the `paired` figures with `p_holm` and `family`, the number of pairs tested),
    `verdicts` (per metric, each naming its metric) and `verdict` (them joined by "; ").
    `metrics` defaults to val_loss and every validation metric the runs recorded.
    """
    from factory.results.differences import describe_models

    metrics = list(metrics) if metrics else ["val_loss", *validation_metrics(runs)]
    rows = []
    for a, b in pairs:
        why = _not_comparable(models, a, b)
        rows.append({"a": a, "b": b, "differs": describe_models(models[a], models[b]),
                     "metrics": {m: {**mean_std([]), "seeds": [], "p": None, "identical": False, "not_comparable": why}
                                 if why and m in _LOSS_METRICS else paired(runs, a, b, m) for m in metrics}})
    for m in metrics:  # each metric is its own family of tests, corrected over the pairs
        comparisons = [row["metrics"][m] for row in rows]
        adjusted = holm([c["p"] for c in comparisons])
        family = sum(p is not None for p in adjusted)
        for comparison, p in zip(comparisons, adjusted):
            if p is not None:
                comparison.update(p_holm=p, family=family)
    for row in rows:
        row["verdicts"] = {m: verdict(m, c, row["a"], row["b"]) for m, c in row["metrics"].items()}
        row["verdict"] = "; ".join(row["verdicts"].values())
    return rows


def pair_rows(runs: Sequence[dict], models: dict[str, dict], metrics: Sequence[str] | None = None) -> list[dict]:
    """Paired comparisons of the models of one experiment: every pair for a few, else each against the first.

    `models` entries are as `factory.results.models.model_info` gives them.
    """
    return compare_pairs(runs, models, all_pairs(models), metrics)


def pair_line(row: dict) -> str:
    """The terminal line of a pair: `B vs A: what differs: val_loss: ...; val_accuracy: ...`."""
    return f"{row['b']} vs {row['a']}: {row['differs']}: {row['verdict']}"


def _signed(stat: dict, decimals: int = 4) -> str:
    if stat.get("not_comparable"):
        return "not comparable"
    if not stat["n"]:
        return "-"
    text = f"{stat['mean']:+.{decimals}f}"
    if stat.get("identical"):
        return text + " on every seed"
    if stat["n"] > 1:
        text += f" ± {stat['std']:.{decimals}f}"
    if stat.get("p") is not None:
        text += f" (p={_p(stat['p'])}" + (f", Holm p={_p(stat['p_holm'])})" if stat.get("family", 1) > 1 else ")")
    return text


def pair_table(rows: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    metrics = list(rows[0]["metrics"]) if rows else []
    headings = (["models", "what differs (from the specs)", "seeds"] + [f"Δ final {m}" for m in metrics]
                + ["verdict (paired t-test over seeds, Holm-adjusted over the pairs)"])
    cells = [[f"{r['b']} vs {r['a']}", r["differs"], str(max((c["n"] for c in r["metrics"].values()), default=0))]
             + [_signed(r["metrics"][m]) for m in metrics] + [r["verdict"]] for r in rows]
    return headings, cells


def pair_markdown(rows: Sequence[dict]) -> str:
    return markdown_table(*pair_table(rows))
