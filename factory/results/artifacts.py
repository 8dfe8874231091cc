"""The files beside results.json: comparison tables, plots and the report, for `run` and `compare`.

Made from the plain results.json document alone (as `json.load` returns it), never from Keras
objects, so they can be remade or tested without training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from factory.atomic import write_text
from factory.results import stats
from factory.results.models import model_info


def write_comparison(out: Path, title: str, runs: Sequence[dict], models: dict[str, dict], pairs: list[dict],
                     pairs_heading: str = "Differences between models") -> tuple[list[dict], list[Path]]:
    """comparison.md, comparison.csv and one plot per metric; return the table rows and the paths written."""
    from factory.results.plots import write_plots

    out = Path(out)
    rows = stats.comparison_rows(runs, models)
    write_text(out / "comparison.md", f"# {title}\n\n" + stats.markdown(rows)
               + (f"\n## {pairs_heading}\n\n" + stats.pair_markdown(pairs) if pairs else ""))
    write_text(out / "comparison.csv", stats.csv_text(rows))
    plots = write_plots(runs, models, out)
    return rows, [out / "comparison.md", out / "comparison.csv", *plots]


def write_artifacts(out: Path, results: dict) -> list[Path]:
    """Write an experiment's comparison files and report.html into `out`; return the paths written."""
    import yaml

    from factory.results.report import write_report

    out = Path(out)
    runs, info = results["runs"], model_info(results)
    pairs = stats.pair_rows(runs, info)
    title = f"Experiment {results['experiment'].get('name', '')}".rstrip()
    rows, written = write_comparison(out, title, runs, info, pairs)
    plots = [p for p in written if p.suffix == ".png"]
    spec_yaml = yaml.safe_dump(results["experiment"], sort_keys=False, allow_unicode=True)
    write_report(out / "report.html", title, rows, runs, plots, spec_yaml, results.get("versions", {}), pairs)
    return [*written, out / "report.html"]


def summary_text(results: dict) -> str:
    """The comparison table and each pair's verdicts as plain text, for the terminal."""
    runs, info = results["runs"], model_info(results)
    rows = stats.comparison_rows(runs, info)
    return "\n".join([stats.plain_text(rows)] + [stats.pair_line(p) for p in stats.pair_rows(runs, info)])
