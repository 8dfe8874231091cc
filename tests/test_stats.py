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
    assert "data:image/png;base64,iVBORw==" in page and "Failed runs" in page and "B seed 0:" in page


def test_paired_t_test_against_numbers_computed_by_hand():
    runs = [run("A", s, [1.0, v]) for s, v in enumerate([0.50, 0.60, 0.55])]
    runs += [run("B", s, [1.0, v]) for s, v in enumerate([0.60, 0.80, 0.70])]  # differences .10 .20 .15
    result = stats.paired(runs, "A", "B", "val_loss")
    assert result["n"] == 3 and result["mean"] == pytest.approx(0.15) and result["std"] == pytest.approx(0.05)
    # t = 0.15 / (0.05 / sqrt 3) = 5.196; two-sided p with 2 degrees of freedom = 0.0351
    assert result["t"] == pytest.approx(5.196152, rel=1e-6) and result["p"] == pytest.approx(0.035098, abs=1e-5)
    assert stats.verdict("val_loss", result, "A", "B") == "val_loss: B worse than A beyond seed noise (p=0.035)"


def test_noise_and_single_seed_verdicts():
    runs = [run("A", s, [v]) for s, v in enumerate([0.5, 0.7])] + [run("B", s, [v]) for s, v in enumerate([0.6, 0.6])]
    noisy = stats.paired(runs, "A", "B", "val_loss")
    assert noisy["p"] == pytest.approx(1.0)
    assert stats.verdict("val_loss", noisy, "A", "B") == "val_loss: within seed-to-seed noise (p=1.000)"
    one = stats.paired(runs[:1] + runs[2:3], "A", "B", "val_loss")
    assert stats.verdict("val_loss", one, "A", "B").startswith("val_loss: one seed")


def test_pair_rows_say_what_differs():
    layers = {"A": [{"Dense": {"units": 4, "activation": "relu"}}],
              "B": [{"Dense": {"units": 4}}, {"BatchNormalization": {}}, {"Activation": {"activation": "relu"}}]}
    runs = [run(m, s, [0.5 + 0.1 * (m == "B") + 0.01 * s]) for m in "AB" for s in range(3)]
    rows = stats.pair_rows(runs, {n: {"layers": layers[n]} for n in layers})
    assert rows[0]["differs"] == "Dense: -activation=relu, +BatchNormalization, +Activation(relu)"
    assert rows[0]["metrics"]["val_loss"]["mean"] == pytest.approx(0.1)
    assert "| B vs A | Dense: -activation=relu, +BatchNormalization, +Activation(relu) | 3 | +0.1000 on every seed |" \
        in stats.pair_markdown(rows)


# issue 10: scipy declared, Holm correction, no p = 0 ---------------------------------------------


def test_scipy_is_a_declared_dependency():
    import tomllib

    from tests.conftest import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.split(">")[0].split("=")[0].strip() == "scipy" for d in project["dependencies"])


def test_paired_p_equals_scipys_paired_t_test():
    from scipy.stats import ttest_rel

    a, b = [0.41, 0.52, 0.47, 0.44, 0.50], [0.45, 0.51, 0.53, 0.49, 0.58]
    runs = [run("A", s, [v]) for s, v in enumerate(a)] + [run("B", s, [v]) for s, v in enumerate(b)]
    result = stats.paired(runs, "A", "B", "val_loss")
    expected = ttest_rel(b, a)
    assert result["t"] == pytest.approx(expected.statistic, rel=1e-9)
    assert result["p"] == pytest.approx(expected.pvalue, rel=1e-9)


def test_holm_against_a_worked_example():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 -> kept non-decreasing: 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, None, 0.6]) == [pytest.approx(1.0), None, pytest.approx(1.0)]  # 2 tests, capped at 1
    assert stats.holm([0.02]) == [0.02]


def three_models():
    """B - A: .10 .20 .15 on seeds 0-2 (p = 0.0351 alone); C and B within noise of the others."""
    a, b, c = [0.50, 0.60, 0.55], [0.60, 0.80, 0.70], [0.58, 0.61, 0.77]
    return [run(m, s, [1.0, v]) for m, values in zip("ABC", (a, b, c)) for s, v in enumerate(values)]


def test_many_pairs_are_holm_adjusted_and_say_so():
    rows = stats.pair_rows(three_models(), {"A": {}, "B": {}, "C": {}})
    b_vs_a = next(r for r in rows if (r["a"], r["b"]) == ("A", "B"))["metrics"]["val_loss"]
    ps = [r["metrics"]["val_loss"]["p"] for r in rows]
    assert b_vs_a["p"] == pytest.approx(0.035098, abs=1e-5) and b_vs_a["p"] == min(ps)
    assert b_vs_a["family"] == 3 and b_vs_a["p_holm"] == pytest.approx(3 * 0.035098, abs=1e-4)
    verdict = next(r for r in rows if (r["a"], r["b"]) == ("A", "B"))["verdicts"]["val_loss"]
    # unadjusted, p = 0.035 would read "B worse than A beyond seed noise"; over 3 pairs it is not
    assert verdict == "val_loss: within seed-to-seed noise (Holm p=0.105 over 3 pairs)"
    assert "(p=0.035, Holm p=0.105)" in stats.pair_markdown(rows)
    assert "Holm-adjusted" in stats.pair_table(rows)[0][-1]


def test_a_difference_identical_on_every_seed_has_no_p_value():
    runs = [run(m, s, [0.5 + 0.01 * s + (0.1 if m == "B" else 0.0)]) for m in "AB" for s in range(3)]
    result = stats.paired(runs, "A", "B", "val_loss")
    assert result["identical"] and result["p"] is None
    text = stats.verdict("val_loss", result, "A", "B")
    assert text == "val_loss: B worse than A by 0.1, an identical difference on every seed (no noise to test against)"
    rows = stats.pair_rows(runs, {"A": {}, "B": {}})
    assert "p=0" not in stats.pair_markdown(rows) and "p=" not in rows[0]["verdict"]
    same = stats.paired([run(m, s, [0.5 + 0.01 * s]) for m in "AB" for s in range(3)], "A", "B", "val_loss")
    assert stats.verdict("val_loss", same, "A", "B") == "val_loss: the same on every seed"


# issue 16: verdicts name their metric; the metrics of the histories --------------------------------


def runs_with(metric, values_a, values_b):
    """Runs whose histories hold val_loss and `metric` (val_<name>), as Keras logs `metrics: [name]`."""
    def one(model, seed, value, loss):
        return {"model": model, "seed": seed, "status": "completed", "params": 10, "seconds_per_epoch": 1.0,
                "error": None, "history": {"loss": [loss], metric[4:]: [value], "val_loss": [loss], metric: [value]}}
    return ([one("A", s, v, 0.5 + 0.02 * s) for s, v in enumerate(values_a)]
            + [one("B", s, v, 0.5 + 0.03 * s) for s, v in enumerate(values_b)])


def test_every_compared_metric_gets_a_verdict_naming_it():
    runs = runs_with("val_sparse_categorical_accuracy", [0.80, 0.82, 0.81], [0.85, 0.88, 0.86])
    rows = stats.pair_rows(runs, {"A": {}, "B": {}})
    assert list(rows[0]["verdicts"]) == ["val_loss", "val_sparse_categorical_accuracy"]
    # accuracy differences .05 .06 .05: t = 0.05333 / (0.005774 / sqrt 3) = 16.0, p (2 df) = 0.00388
    assert rows[0]["verdicts"]["val_sparse_categorical_accuracy"] == \
        "val_sparse_categorical_accuracy: B better than A beyond seed noise (p=0.004)"
    assert rows[0]["verdicts"]["val_loss"].startswith("val_loss: ")
    line = stats.pair_line(rows[0])
    assert line.startswith("B vs A: ") and "; val_sparse_categorical_accuracy: B better" in line
    headings = stats.pair_table(rows)[0]
    assert "Δ final val_sparse_categorical_accuracy" in headings and "Δ final val_accuracy" not in headings


@pytest.mark.parametrize("metric", ["val_sparse_categorical_accuracy", "val_acc", "val_auc"])
def test_table_and_plots_show_the_metric_the_histories_hold(metric, tmp_path):
    from factory.results.plots import write_plots

    runs = runs_with(metric, [0.80, 0.82], [0.85, 0.88])
    rows = stats.comparison_rows(runs, {"A": {}, "B": {}})
    headings, cells = stats.table(rows)
    column = headings.index(f"final {metric}")
    assert [row[column] for row in cells] == ["0.8100 ± 0.0141", "0.8650 ± 0.0212"]
    assert "final val_accuracy" not in headings and f"final_{metric}_mean" in stats.csv_text(rows)
    written = write_plots(runs, {"A": {}, "B": {}}, tmp_path)
    assert [p.name for p in written] == ["val_loss.png", f"{metric}.png", "loss.png"]


def test_which_metrics_are_better_lower():
    from schemas.names import METRICS

    lower = {m for m in METRICS if stats.lower_is_better(f"val_{m}")}
    assert lower == {"bce", "binary_crossentropy", "categorical_crossentropy", "categorical_hinge",
                     "false_negatives", "false_positives", "hinge", "kl_divergence", "log_cosh_error", "mae",
                     "mape", "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error",
                     "mean_squared_logarithmic_error", "mse", "msle", "poisson", "root_mean_squared_error",
                     "sparse_categorical_crossentropy", "squared_hinge"}
    assert stats.lower_is_better("val_loss") and not stats.lower_is_better("val_acc")


def test_legend_says_a_model_differs_by_its_optimizer():
    from factory.results.plots import legend_labels

    layers = [{"Dense": {"units": 10}}]
    models = {"A": {"label": None, "layers": layers, "compile": {"optimizer": {"Adam": {"learning_rate": 0.001}}},
                    "training": {"epochs": 5, "seeds": [0]}, "data": {"dataset": "digits"}},
              "B": {"label": None, "layers": layers, "compile": {"optimizer": {"Adam": {"learning_rate": 0.003}}},
                    "training": {"epochs": 5, "seeds": [0, 1]}, "data": {"dataset": "digits"}}}
    assert legend_labels(models) == {
        "A": "A", "B": "B: compile.optimizer: Adam(learning_rate=0.001) -> Adam(learning_rate=0.003)"}
    rows = stats.pair_rows([], models)
    assert rows[0]["differs"] == "compile.optimizer: Adam(learning_rate=0.001) -> Adam(learning_rate=0.003)"


def test_report_shows_the_whole_reason_of_a_failed_run():
    failed = {**run("B", 0, [1.0], status="failed"),
              "error": "ValueError in epoch 1: Exception encountered when calling Sequential.call().\n\n"
                       "Input 0 of layer \"dense\" is incompatible: expected axis -1 to have value 64 <here>"}
    page = render("t", stats.comparison_rows([failed], {"B": {}}), [failed], {}, "name: t\n", {})
    assert ("<pre class='reason'>ValueError in epoch 1: Exception encountered when calling Sequential.call().\n\n"
            "Input 0 of layer &quot;dense&quot; is incompatible: expected axis -1 to have value 64 &lt;here&gt;</pre>"
            in page)


# review items 3 and 12: what a verdict can and cannot say --------------------------------------


def test_disjoint_seeds_and_one_seed_in_common_are_said_so():
    a = [run("A", s, [0.5 + 0.01 * s * s]) for s in (0, 1, 2)]
    disjoint = stats.paired(a + [run("B", s, [0.6 + 0.01 * s]) for s in (3, 4, 5)], "A", "B", "val_loss")
    assert stats.verdict("val_loss", disjoint, "A", "B") == "val_loss: no seed in common (A: 0, 1, 2; B: 3, 4, 5)"
    one = stats.paired(a + [run("B", s, [0.6 + 0.01 * s]) for s in (2, 3, 4)], "A", "B", "val_loss")
    assert stats.verdict("val_loss", one, "A", "B") == (
        "val_loss: one seed in common (2), cannot tell from seed noise (train both over the same seeds)")
    both_one = stats.paired(a[:1] + [run("B", 0, [0.6])], "A", "B", "val_loss")
    assert stats.verdict("val_loss", both_one, "A", "B") == (
        "val_loss: one seed, cannot tell from seed noise (train over several seeds)")
    assert stats.verdict("val_loss", stats.paired(a, "A", "B", "val_loss"), "A", "B") == (
        "val_loss: not recorded by both")


def test_losses_of_different_loss_functions_get_no_verdict():
    layers = [{"Dense": {"units": 1}}]
    models = {"A": {"label": None, "layers": layers, "compile": {"optimizer": "adam", "loss": "mse"}},
              "B": {"label": None, "layers": layers, "compile": {"optimizer": "adam", "loss": "mae"}}}
    runs = [run("A", s, [0.9, 0.05 + 0.001 * s * s]) for s in range(3)]
    runs += [run("B", s, [0.9, 0.20 + 0.002 * s]) for s in range(3)]  # "B worse beyond noise" if compared
    row = stats.pair_rows(runs, models)[0]
    assert row["verdicts"]["val_loss"] == "val_loss: different losses (A: mse, B: mae): not comparable"
    assert row["verdicts"]["val_accuracy"] == "val_accuracy: the same on every seed"  # the others still compared
    assert row["metrics"]["val_loss"]["p"] is None and "beyond" not in row["verdict"]
    assert "| B vs A | compile.loss: mse -> mae | 3 | not comparable | +0.0000 on every seed |" in stats.pair_markdown([row])
    table = stats.markdown(stats.comparison_rows(runs, models))
    assert "val_loss is each model's own loss (A: mse, B: mae): not comparable between them" in table
    same = {n: {**m, "compile": {"loss": "mse"}} for n, m in models.items()}
    assert "beyond seed noise" in stats.pair_rows(runs, same)[0]["verdicts"]["val_loss"]
    assert "own loss" not in stats.markdown(stats.comparison_rows(runs, same))


def test_loss_plots_say_the_models_have_different_losses():
    from factory.results.plots import own_losses

    models = {"A": {"compile": {"loss": "mse"}}, "B": {"compile": {"loss": {"Huber": {"delta": 2.0}}}}}
    assert own_losses(models, "val_loss") == {"A": "mse", "B": "Huber(delta=2.0)"}
    assert own_losses(models, "val_mae") is None
    assert own_losses({"A": {"compile": {"loss": "mse"}}, "B": {"compile": {"loss": "mse"}}}, "loss") is None
    runs = [run(m, 0, [0.5, 0.4]) for m in "AB"]
    assert metric_figure(runs, models, "val_loss").startswith(b"\x89PNG")


def test_two_spellings_of_one_loss_are_one_loss():
    """`mse` and `mean_squared_error` are one function in Keras: the usual verdict, no 'not comparable'."""
    from factory.results.plots import own_losses

    models = {"A": {"compile": {"loss": "mse"}}, "B": {"compile": {"loss": "mean_squared_error"}}}
    runs = [run(m, s, [0.5 + 0.1 * (m == "B") + 0.01 * s * (1 + (m == "B"))]) for m in "AB" for s in range(3)]
    row = stats.pair_rows(runs, models)[0]
    assert "not_comparable" not in row["metrics"]["val_loss"] and row["metrics"]["val_loss"]["p"] is not None
    assert stats.losses_note([{"model": "A", "loss": "mse"}, {"model": "B", "loss": "mean_squared_error"}]) is None
    assert own_losses(models, "val_loss") is None
    models["B"]["compile"]["loss"] = "mae"
    assert stats.pair_rows(runs, models)[0]["metrics"]["val_loss"]["not_comparable"]
    assert own_losses(models, "val_loss") == {"A": "mse", "B": "mae"}
