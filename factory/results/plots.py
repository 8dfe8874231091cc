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
from schemas.losses import same_loss

LINESTYLES = ["-", "--", "-.", ":"]
TITLES = {"val_loss": "Validation loss", "val_accuracy": "Validation accuracy", "loss": "Training loss",
          "accuracy": "Training accuracy", "learning_rate": "Learning rate (at each epoch's end)"}


def title(metric: str) -> str:
    """A figure's title: `Validation loss`, `Validation sparse_categorical_accuracy`, `Training loss`."""
    if metric in TITLES:
        return TITLES[metric]
    return f"Validation {metric[4:]}" if metric.startswith("val_") else f"Training {metric}"


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    return plt


def legend_labels(models: dict[str, dict]) -> dict[str, str]:
    """Each model's legend text: its label, or, where it has none, what differs from the first model.

    `models` entries are as `factory.results.models.model_info` gives them: `layers` (the written
    syntax) and the `compile`, `training` and `data` settings, so a model differing only by its
    optimizer says so. A label equal to the model's name counts as none.
    """
    from factory.results.differences import describe_models

    names = list(models)
    first = models[names[0]] if names else None
    out = {}
    for name, info in models.items():
        label = info.get("label") or name
        if label == name and name != names[0] and first.get("layers") is not None and info.get("layers") is not None:
            label = f"{name}: {describe_models(first, info, limit=2)}"
        out[name] = label
    return out


def own_losses(models: dict[str, dict], metric: str) -> dict[str, str] | None:
    """Per model, its loss function as the spec writes it, where `metric` is the loss and the models
    were trained on different ones (then the curves share no unit); else None."""
    from factory.results.differences import show_value

    if metric not in ("loss", "val_loss"):
        return None
    written = {name: (info.get("compile") or {}).get("loss") for name, info in models.items()
               if (info.get("compile") or {}).get("loss") is not None}
    first = next(iter(written.values()), None)
    if all(same_loss(loss, first) for loss in written.values()):
        return None
    return {name: show_value(loss) for name, loss in written.items()}


def metric_figure(runs: Sequence[dict], models: dict[str, dict], metric: str, heading: str | None = None) -> bytes | None:
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
    losses = own_losses(models, metric)
    fig, ax = plt.subplots(figsize=(9, 6), dpi=100)
    for i, name, info, curves in series:
        # Runs stopped early are shorter: each epoch's mean and band are over the runs that reached it,
        # and the curve ends where the longest run ended.
        length = max(len(c) for c in curves)
        values = np.array([c + [np.nan] * (length - len(c)) for c in curves], dtype=float)
        epochs = np.arange(1, length + 1)
        mean = np.nanmean(values, axis=0)
        color = info.get("color") or palette[i % len(palette)]
        style = info.get("linestyle") or LINESTYLES[i % len(LINESTYLES)]
        label = legends[name] + (f" [loss: {losses[name]}]" if losses and name in losses else "")
        if len(curves) > 1:
            std = np.array([np.std(col[~np.isnan(col)], ddof=1) if np.sum(~np.isnan(col)) > 1 else 0.0
                            for col in values.T])
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
            label += f" (mean ± std, {len(curves)} seeds)"
        ax.plot(epochs, mean, color=color, linestyle=style, linewidth=2, marker="o", markersize=3, label=label)
    ax.set_title(heading or title(metric) + (" (different losses: not comparable)" if losses else ""), fontsize=16)
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
                metrics: Sequence[str] | None = None) -> list[Path]:
    """Write `<metric>.png` for each metric some run recorded; return the paths written.

    `metrics` defaults to val_loss, every validation metric the runs recorded (`val_accuracy`,
    `val_sparse_categorical_accuracy`, ...), the training loss, and the learning rate where it changed.
    """
    from factory.results.stats import learning_rate_changes, validation_metrics

    written = []
    defaults = ["val_loss", *validation_metrics(runs), "loss"]
    if learning_rate_changes(runs):
        defaults.append("learning_rate")
    for metric in metrics or defaults:
        png = metric_figure(runs, models, metric)
        if png is not None:
            path = Path(folder) / f"{metric}.png"
            write_bytes(path, png)
            written.append(path)
    return written
