"""Comparison plots (PNG): one metric per epoch, every model on one figure, as the seed draws it.

Takes plain run data, never a Keras model. Each model gets its own colour and line style (or the
spec's `color` / `linestyle`); with several seeds, the mean line and a ±1 std band.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np

from factory.atomic import write_bytes

LINESTYLES = ["-", "--", "-.", ":"]
TITLES = {"val_loss": "Validation loss", "val_accuracy": "Validation accuracy", "loss": "Training loss",
          "accuracy": "Training accuracy"}


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    return plt


def legend_labels(models: dict[str, dict]) -> dict[str, str]:
    """Each model's legend text: its label, or, where it has none, what differs from the first model.

    `models` entries may carry `layers` (the written syntax); a label equal to the model's name
    counts as none.
    """
    from factory.results.differences import describe

    names = list(models)
    first = models[names[0]].get("layers") if names else None
    out = {}
    for name, info in models.items():
        label = info.get("label") or name
        if label == name and first is not None and info.get("layers") is not None and name != names[0]:
            label = f"{name}: {describe(first, info['layers'], limit=2)}"
        out[name] = label
    return out


def metric_figure(runs: Sequence[dict], models: dict[str, dict], metric: str, title: str | None = None) -> bytes | None:
    """PNG bytes of `metric` per epoch for every model, or None if no run recorded it."""
    series = []
    for i, (name, info) in enumerate(models.items()):
        curves = [r["history"][metric] for r in runs
                  if r["model"] == name and r["status"] == "completed" and r["history"].get(metric)]
        if curves:
            series.append((i, name, info, curves))
    if not series:
        return None
    plt = _matplotlib()
    palette = plt.get_cmap("tab10").colors
    legends = legend_labels(models)
    fig, ax = plt.subplots(figsize=(9, 6), dpi=100)
    for i, name, info, curves in series:
        length = min(len(c) for c in curves)
        values = np.array([c[:length] for c in curves], dtype=float)
        epochs = np.arange(1, length + 1)
        mean = values.mean(axis=0)
        color = info.get("color") or palette[i % len(palette)]
        style = info.get("linestyle") or LINESTYLES[i % len(LINESTYLES)]
        label = legends[name]
        if len(curves) > 1:
            std = values.std(axis=0, ddof=1)
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
            label += f" (mean ± std, {len(curves)} seeds)"
        ax.plot(epochs, mean, color=color, linestyle=style, linewidth=2, marker="o", markersize=3, label=label)
    ax.set_title(title or TITLES.get(metric, metric), fontsize=16)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(True, alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_plots(runs: Sequence[dict], models: dict[str, dict], folder: Path,
                metrics: Sequence[str] = ("val_loss", "val_accuracy", "loss")) -> list[Path]:
    """Write `<metric>.png` for each metric some run recorded; return the paths written."""
    written = []
    for metric in metrics:
        png = metric_figure(runs, models, metric)
        if png is not None:
            path = Path(folder) / f"{metric}.png"
            write_bytes(path, png)
            written.append(path)
    return written
