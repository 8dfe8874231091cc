"""Statistics, tables and plots from plain run data, checked against numbers computed by hand."""

import pytest

from factory.results import stats
from factory.results.plots import metric_figure
from factory.results.report import render


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


def test_legends_say_what_differs_where_a_model_has_no_label():
    from factory.results.plots import legend_labels

    models = {"A": {"label": "A", "layers": [{"Dense": {"units": 4, "activation": "relu"}}]},
              "B": {"label": "B", "layers": [{"Dense": {"units": 4}}, {"BatchNormalization": {}},
                                             {"Activation": {"activation": "relu"}}]},
              "C": {"label": "mine", "layers": []}}
    assert legend_labels(models) == {"A": "A", "B": "B: Dense: -activation=relu, +BatchNormalization (+1 more)",
                                     "C": "mine"}


def test_report_escapes_and_embeds():
    runs = [run("A", 0, [0.9]), run("B", 0, [1.0], status="failed")]
    rows = stats.comparison_rows(runs, {"A": {"label": "<b>ReLU</b>"}, "B": {}})
    page = render("t", rows, runs, {"val_loss": b"\x89PNG"}, "name: t\n", {"keras": "3"})
    assert "&lt;b&gt;ReLU&lt;/b&gt;" in page and "<b>ReLU</b>" not in page
    assert "data:image/png;base64,iVBORw==" in page and "Failed runs" in page and "B seed 0: boom" in page


def test_paired_t_test_against_numbers_computed_by_hand():
    runs = [run("A", s, [1.0, v]) for s, v in enumerate([0.50, 0.60, 0.55])]
    runs += [run("B", s, [1.0, v]) for s, v in enumerate([0.60, 0.80, 0.70])]  # differences .10 .20 .15
    result = stats.paired(runs, "A", "B", "val_loss")
    assert result["n"] == 3 and result["mean"] == pytest.approx(0.15) and result["std"] == pytest.approx(0.05)
    # t = 0.15 / (0.05 / sqrt 3) = 5.196; two-sided p with 2 degrees of freedom = 0.0351
    assert result["t"] == pytest.approx(5.196152, rel=1e-6) and result["p"] == pytest.approx(0.035098, abs=1e-5)
    assert stats.verdict("val_loss", result, "A", "B") == "B worse than A beyond seed noise (p=0.035)"


def test_noise_and_single_seed_verdicts():
    runs = [run("A", s, [v]) for s, v in enumerate([0.5, 0.7])] + [run("B", s, [v]) for s, v in enumerate([0.6, 0.6])]
    noisy = stats.paired(runs, "A", "B", "val_loss")
    assert noisy["p"] == pytest.approx(1.0) and stats.verdict("val_loss", noisy, "A", "B").startswith("within seed-to-seed noise")
    one = stats.paired(runs[:1] + runs[2:3], "A", "B", "val_loss")
    assert stats.verdict("val_loss", one, "A", "B").startswith("one seed")


def test_pair_rows_say_what_differs():
    layers = {"A": [{"Dense": {"units": 4, "activation": "relu"}}],
              "B": [{"Dense": {"units": 4}}, {"BatchNormalization": {}}, {"Activation": {"activation": "relu"}}]}
    runs = [run(m, s, [0.5 + 0.1 * (m == "B") + 0.01 * s]) for m in "AB" for s in range(3)]
    rows = stats.pair_rows(runs, {"A": {}, "B": {}}, layers)
    assert rows[0]["differs"] == "Dense: -activation=relu, +BatchNormalization, +Activation(relu)"
    assert rows[0]["val_loss"]["mean"] == pytest.approx(0.1) and rows[0]["val_loss"]["p"] == 0.0
    assert "| B vs A | Dense: -activation=relu, +BatchNormalization, +Activation(relu) | +0.1000 ± 0.0000 (p=0.000) |" in stats.pair_markdown(rows)
