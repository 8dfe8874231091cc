"""`factory compare DIR...`: the runs of several output folders in one table and one set of plots."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from factory.results import stats
from factory.atomic import write_text
from factory.errors import Issue, SpecError
from factory.results.plots import write_plots
from factory.train.runner import RESULTS


def read_results(folder: Path) -> dict:
    path = Path(folder) / RESULTS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError([Issue(f"{folder} has no {RESULTS}: is it an output folder of `factory run`?")]) from None
    except (OSError, ValueError) as e:
        raise SpecError([Issue(f"cannot read {path}: {e}")]) from None


def merge(folders: Sequence[Path]) -> tuple[list[dict], dict[str, dict], dict[str, list]]:
    """All runs, models and their layers, renamed `<folder>/<model>` where a name occurs in several folders."""
    loaded = [(Path(f), read_results(f)) for f in folders]
    counts: dict[str, int] = {}
    for _, results in loaded:
        for name in results["experiment"]["models"]:
            counts[name] = counts.get(name, 0) + 1
    runs, models, layers = [], {}, {}
    for folder, results in loaded:
        prefix = results["experiment"].get("name") or folder.name
        if sum(1 for f, r in loaded if (r["experiment"].get("name") or f.name) == prefix) > 1:
            prefix = str(folder)
        for name, spec in results["experiment"]["models"].items():
            shown = f"{prefix}/{name}" if counts[name] > 1 else name
            models[shown] = {"label": f"{spec.get('label') or name}" + (f" ({prefix})" if counts[name] > 1 else ""),
                             "color": spec.get("color") if counts[name] == 1 else None,
                             "linestyle": spec.get("linestyle") if counts[name] == 1 else None}
            layers[shown] = models[shown]["layers"] = spec.get("layers") or []
            runs += [{**r, "model": shown} for r in results["runs"] if r["model"] == name]
    return runs, models, layers


def compare_folders(folders: Sequence[Path], out: Path) -> int:
    runs, models, layers = merge(folders)
    rows = stats.comparison_rows(runs, models)
    pairs = stats.pair_rows(runs, models, layers)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "comparison.md", "# Comparison of " + ", ".join(map(str, folders)) + "\n\n"
               + stats.markdown(rows) + "\n## Differences between models\n\n" + stats.pair_markdown(pairs))
    write_text(out / "comparison.csv", stats.csv_text(rows))
    plots = write_plots(runs, models, out)
    print(stats.plain_text(rows))
    for pair in pairs:
        print(f"{pair['b']} vs {pair['a']}: {pair['differs']}: {pair['verdict']}")
    print(f"\nwritten to {out}/: comparison.md, comparison.csv, " + ", ".join(p.name for p in plots),
          file=sys.stderr)
    return 0
