"""Statistics, tables and plots from plain run data, checked against numbers computed by hand."""

import pytest

from factory import stats
from factory.plots import metric_figure
from factory.report import render


def run(model, seed, val_loss, status="completed"):
    return {"model": model, "seed": seed, "status": status, "params": 100, "seconds_per_epoch": 1.5,
            "history": {"val_loss": val_loss, "loss": val_loss, "val_accuracy": [0.5] * len(val_loss)},
            "error": None if status == "completed" else "boom"}


def test_mean_std_by_hand():
    assert stats.mean_std([1.0, 2.0, 4.0]) == {"mean": pytest.approx(7 / 3), "std": pytest.approx(1.527525, abs=1e-6), "n": 3}
    assert stats.mean_std([3.0]) == {"mean": 3.0, "std": 0.0, "n": 1}
    assert stats.mean_std([])["n"] == 0


def test_epochs_to_converge():
    assert stats.epochs_to_converge([1.0, 0.6, 0.52, 0.5, 0.55]) == 3  # 0.52 <= 0.5 * 1.05
    assert stats.epochs_to_converge([0.4, 0.5]) == 1
    assert stats.epochs_to_converge([float("nan")]) is None


def test_comparison_rows_and_table():
    runs = [run("A", 0, [0.9, 0.5, 0.6]), run("A", 1, [0.8, 0.7, 0.4]), run("B", 0, [1.0], status="failed")]
    rows = stats.comparison_rows(runs, {"A": {"label": "ReLU"}, "B": {"label": "BN"}})
    a, b = rows
    assert a["final_val_loss"]["mean"] == pytest.approx(0.5) and a["best_epoch"]["mean"] == pytest.approx(2.5)
    assert a["epochs_to_converge"]["mean"] == pytest.approx(2.5)  # epochs 2 and 3
    assert (b["seeds"], b["failed"]) == (0, 1)
    md = stats.markdown(rows)
    assert "| A | ReLU | 100 | 2 | 0.5000 ± 0.1414 | 0.4500 ± 0.0707 |" in md
    assert "| B | BN | - | 0 (1 failed) | - |" in md


def test_plot_is_a_png_per_model_and_none_without_data():
    runs = [run("A", 0, [0.9, 0.5]), run("A", 1, [0.8, 0.7]), run("B", 0, [0.7, 0.6])]
    png = metric_figure(runs, {"A": {"label": "ReLU"}, "B": {"label": "BN", "color": "green", "linestyle": ":"}}, "val_loss")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert metric_figure(runs, {"A": {}}, "accuracy") is None


def test_report_escapes_and_embeds():
    runs = [run("A", 0, [0.9]), run("B", 0, [1.0], status="failed")]
    rows = stats.comparison_rows(runs, {"A": {"label": "<b>ReLU</b>"}, "B": {}})
    page = render("t", rows, runs, {"val_loss": b"\x89PNG"}, "name: t\n", {"keras": "3"})
    assert "&lt;b&gt;ReLU&lt;/b&gt;" in page and "<b>ReLU</b>" not in page
    assert "data:image/png;base64,iVBORw==" in page and "Failed runs" in page and "B seed 0: boom" in page
