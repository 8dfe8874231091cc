"""The files a run leaves beside results.json: comparison tables, plots and the report.

Made from the plain results.json document alone (as `json.load` returns it), never from Keras
objects, so they can be remade or tested without training.
"""

from __future__ import annotations

from pathlib import Path

from factory.atomic import write_text
from factory.results import stats


def model_info(results: dict) -> dict[str, dict]:
    """Each model's label, plot style and layers, from the resolved experiment in `results`."""
    return {name: {"label": spec.get("label") or name, "color": spec.get("color"),
                   "linestyle": spec.get("linestyle"), "layers": spec.get("layers") or []}
            for name, spec in results["experiment"]["models"].items()}


def write_artifacts(out: Path, results: dict) -> list[Path]:
    """Write comparison.md/.csv, the plots and report.html into `out`; return the paths written."""
    import yaml

    from factory.results.plots import write_plots
    from factory.results.report import write_report

    out = Path(out)
    runs, info = results["runs"], model_info(results)
    rows = stats.comparison_rows(runs, info)
    pairs = stats.pair_rows(runs, info, {n: m["layers"] for n, m in info.items()})
    title = f"Experiment {results['experiment'].get('name', '')}".rstrip()
    write_text(out / "comparison.md", f"# {title}\n\n" + stats.markdown(rows)
               + ("\n## Differences between models\n\n" + stats.pair_markdown(pairs) if pairs else ""))
    write_text(out / "comparison.csv", stats.csv_text(rows))
    plots = write_plots(runs, info, out)
    spec_yaml = yaml.safe_dump(results["experiment"], sort_keys=False, allow_unicode=True)
    write_report(out / "report.html", title, rows, runs, plots, spec_yaml, results.get("versions", {}), pairs)
    return [out / "comparison.md", out / "comparison.csv", *plots, out / "report.html"]


def summary_text(results: dict) -> str:
    """The comparison table and each pair's verdict as plain text, for the terminal."""
    runs, info = results["runs"], model_info(results)
    rows = stats.comparison_rows(runs, info)
    pairs = stats.pair_rows(runs, info, {n: m["layers"] for n, m in info.items()})
    return "\n".join([stats.plain_text(rows)] + [f"{p['b']} vs {p['a']}: {p['differs']}: {p['verdict']}"
                                                  for p in pairs])
