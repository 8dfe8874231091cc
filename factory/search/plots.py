"""The search's figures (PNG): the optimisation history and the parameter importances."""

from __future__ import annotations

import io
from pathlib import Path

from factory.atomic import write_bytes


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    return plt


def history_plot(path: Path, rows: list[dict], metric: str, maximize: bool) -> Path:
    """Each trial's objective (pruned trials at their last reported value) and the best so far."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for state, marker, colour in (("completed", "o", "tab:blue"), ("pruned", "x", "tab:gray")):
        points = [(r["trial"], r["value"]) for r in rows if r["state"] == state and r["value"] is not None]
        if points:
            ax.scatter(*zip(*points), marker=marker, color=colour, label=state)
    best, line = None, []
    for r in rows:
        if r["state"] == "completed":
            best = r["value"] if best is None else (max if maximize else min)(best, r["value"])
        line.append((r["trial"], best))
    line = [p for p in line if p[1] is not None]
    if line:
        ax.step(*zip(*line), where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"Optimisation history ({'maximised' if maximize else 'minimised'})")
    ax.legend()
    return _save(fig, plt, path)


def importance_plot(path: Path, importances: dict[str, float]) -> Path:
    """One bar per searched path: its share of the objective's variation (Optuna's fANOVA)."""
    plt = _plt()
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(7, 1 + 0.5 * len(names)))
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance (share of the objective's variation)")
    ax.set_title("Parameter importance")
    fig.tight_layout()
    return _save(fig, plt, path)


def _save(fig, plt, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return path
