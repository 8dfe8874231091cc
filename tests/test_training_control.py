"""Training control: callbacks, learning-rate schedules, keep best, precision, determinism, class weights.

Schema tests need no TensorFlow; the others train tiny real models on scikit-learn's digits.
"""

import json
import math
import os

import numpy as np
import pytest

from factory.errors import SpecError
from factory.results import stats
from factory.results.plots import metric_figure
from factory.spec.loader import load
from tests.conftest import spec_errors

# The issue's contract, verbatim, inside a whole experiment.
CONTRACT = """\
compile:
  optimizer:
    AdamW:
      learning_rate:
        CosineDecay: {initial_learning_rate: 1.0e-4, decay_steps: 9000, warmup_target: 1.0e-3, warmup_steps: 900}
      weight_decay: 1.0e-4
      clipnorm: 1.0
training:
  epochs: 30
  callbacks:
    - EarlyStopping: {monitor: val_loss, patience: 3, restore_best_weights: true}
    - ReduceLROnPlateau: {monitor: val_loss, factor: 0.5, patience: 2, min_lr: 1.0e-5}
  keep: best                  # the saved model: best (lowest monitored value) | last (default)
  precision: mixed_bfloat16   # float32 (default) | mixed_float16 | mixed_bfloat16
  class_weight: balanced      # or {0: 1.0, 1: 3.0}
  deterministic: true         # TensorFlow's op determinism on
"""

WHOLE = """\
name: t
data: {dataset: digits}
models:
  A:
    compile: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}
    layers: [Flatten, {Dense: {units: 10, activation: softmax}}]
"""


def test_the_issues_contract_validates_as_written(write):
    """ReduceLROnPlateau beside a CosineDecay schedule included: it lowers the whole schedule."""
    exp = load(write(WHOLE + CONTRACT)).experiment.resolved()
    a = exp.models["A"]
    optimizer = a.compile.optimizer.keras_config()
    assert optimizer["class_name"] == "AdamW" and optimizer["config"]["clipnorm"] == 1.0
    assert optimizer["config"]["learning_rate"]["config"] == {
        "initial_learning_rate": 1.0e-4, "decay_steps": 9000, "warmup_target": 1.0e-3, "warmup_steps": 900}
    t = a.training
    assert [e.keras_config() for e in t.callbacks] == [
        {"class_name": "EarlyStopping", "config": {"monitor": "val_loss", "patience": 3, "restore_best_weights": True}},
        {"class_name": "ReduceLROnPlateau", "config": {"monitor": "val_loss", "factor": 0.5, "patience": 2,
                                                       "min_lr": 1.0e-5}}]
    assert (t.keep, t.precision, t.class_weight, t.deterministic) == ("best", "mixed_bfloat16", "balanced", True)
    other = load(write(WHOLE + CONTRACT.replace("balanced ", "{0: 1.0, 1: 3.0}"))).experiment.resolved()
    assert other.models["A"].training.class_weight == {0: 1.0, 1: 3.0}


def test_the_resolved_experiment_survives_json(write):
    """Workers and --resume read the experiment back from JSON, where class numbers are text keys."""
    from schemas import Experiment

    exp = load(write(WHOLE + CONTRACT.replace("balanced ", "{0: 1.0, 1: 3.0}"))).experiment.resolved()
    again = Experiment.model_validate(json.loads(json.dumps(exp.model_dump(mode="json"))))
    assert again == exp


def test_a_monitor_the_run_does_not_report_is_located_with_did_you_mean(write):
    text = WHOLE + CONTRACT.replace("monitor: val_loss, patience: 3", "monitor: val_acc, patience: 3")
    assert spec_errors(write(text)) == [
        f"{write(text)}:17:32: training.callbacks[0].EarlyStopping.monitor: monitor 'val_acc' is not a "
        "figure this run reports (loss, accuracy, val_loss, val_accuracy, learning_rate); did you mean 'val_accuracy'?"]


def test_a_monitor_is_checked_against_each_models_own_metrics(write):
    text = WHOLE.replace("metrics: [accuracy]", "metrics: [mse]") + """\
  B:
    compile: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}
    training: {callbacks: [{ReduceLROnPlateau: {monitor: val_mse}}]}
    layers: [Flatten, {Dense: {units: 10, activation: softmax}}]
training:
  callbacks: [{EarlyStopping: {monitor: val_accuracy}}]
"""
    errors = spec_errors(write(text))
    assert len(errors) == 2, errors
    assert "training.callbacks[0].EarlyStopping.monitor: model A: monitor 'val_accuracy' is not a figure this " \
           "run reports (loss, mse, val_loss, val_mse, learning_rate)" in errors[1]
    assert "models.B.training.callbacks[0].ReduceLROnPlateau.monitor: monitor 'val_mse' is not a figure this run " \
           "reports (loss, accuracy, val_loss, val_accuracy, learning_rate)" in errors[0]


@pytest.mark.parametrize("schedule,message", [
    ("{CosineDecay: {initial_learning_rate: 0.1, decay_steps: 100, warmup_target: 1.0, warmup_steps: 200}}",
     "learning_rate.CosineDecay.warmup_steps: warmup_steps (200) exceed decay_steps (100): both count optimizer "
     "steps (batches)"),
    ("{CosineDecay: {initial_learning_rate: 0.1, decay_steps: 100, warmup_steps: 20}}",
     "learning_rate.CosineDecay.warmup_steps: warmup_steps (20) without warmup_target"),
    ("{PiecewiseConstantDecay: {boundaries: [10, 20], values: [0.1, 0.01]}}",
     "learning_rate.PiecewiseConstantDecay.values: values needs one more entry than boundaries"),
    ("{PiecewiseConstantDecay: {boundaries: [20, 10], values: [0.1, 0.01, 0.001]}}",
     "learning_rate.PiecewiseConstantDecay.boundaries: boundaries must increase, got [20, 10]"),
    ("{CosineDecy: {initial_learning_rate: 0.1, decay_steps: 10}}",
     "learning_rate: unknown learning-rate schedule 'CosineDecy'; did you mean 'CosineDecay'?"),
    ("'1e-3'", "learning_rate: expected a number or a learning-rate schedule, got '1e-3' (text): write the number "
               "without quotes"),
    ("-0.1", "learning_rate: input should be greater than 0, got -0.1"),
])
def test_schedule_mistakes_are_located(write, schedule, message):
    text = WHOLE + f"compile:\n  optimizer: {{SGD: {{learning_rate: {schedule}}}}}\n"
    errors = spec_errors(write(text))
    assert len(errors) == 1 and f": compile.optimizer.SGD.{message}" in errors[0], errors


def test_piecewise_constant_decay_reports_all_its_mistakes(write):
    text = WHOLE + "compile:\n  optimizer: {SGD: {learning_rate: {PiecewiseConstantDecay: {boundaries: [20, 10], values: [0.1, 0.2]}}}}\n"
    errors = spec_errors(write(text))
    assert len(errors) == 2, errors
    assert "PiecewiseConstantDecay.boundaries: boundaries must increase, got [20, 10]" in errors[0]
    assert "PiecewiseConstantDecay.values: values needs one more entry than boundaries: 2 boundaries, 2 values" in errors[1]


def test_every_schedule_and_optimizer_argument_is_accepted(write):
    schedules = ["{CosineDecayRestarts: {initial_learning_rate: 0.1, first_decay_steps: 10, t_mul: 1.5}}",
                 "{ExponentialDecay: {initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.9, staircase: true}}",
                 "{InverseTimeDecay: {initial_learning_rate: 0.1, decay_steps: 10, decay_rate: 0.5}}",
                 "{PolynomialDecay: {initial_learning_rate: 0.1, decay_steps: 10, power: 2.0, cycle: true}}",
                 "{PiecewiseConstantDecay: {boundaries: [10], values: [0.1, 0.01]}}", "0.01"]
    for schedule in schedules:
        text = WHOLE + (f"compile:\n  optimizer: {{Adam: {{learning_rate: {schedule}, use_ema: true, ema_momentum: 0.9,"
                        " ema_overwrite_frequency: 5, loss_scale_factor: 2.0, gradient_accumulation_steps: 2,"
                        " global_clipnorm: 1.0}}\ntraining: {callbacks: [{SwapEMAWeights: {swap_on_epoch: true}}]}\n")
        load(write(text))


def test_a_quoted_class_number_is_that_class_and_any_other_text_is_refused(write):
    quoted = load(write(WHOLE + "training: {class_weight: {\"0\": 1.0, 1: 2.0}}\n")).experiment.resolved()
    assert quoted.models["A"].training.class_weight == {0: 1.0, 1: 2.0}  # as results.json's JSON keys read back
    errors = spec_errors(write(WHOLE + "training: {class_weight: {\"1\": 1.0, \"01\": 2.0}}\n"))
    assert len(errors) == 1 and "training.class_weight.01: input should be a valid integer" in errors[0], errors


def test_swap_ema_weights_needs_use_ema(write):
    errors = spec_errors(write(WHOLE + "training: {callbacks: [SwapEMAWeights]}\n"))
    assert errors[0].endswith("training.callbacks[0]: SwapEMAWeights needs the optimizer's moving average: "
                              "set `use_ema: true` on the optimizer")


def test_training_field_mistakes(write):
    errors = spec_errors(write(WHOLE + "training: {keep: first, precision: float16, class_weight: balancd,"
                                       " callbacks: [{ModelCheckpoint: {filepath: x}}]}\n"))
    text = "\n".join(errors)
    assert "training.keep: input should be 'last' or 'best', got 'first' (text)" in text
    assert "training.precision: input should be 'float32', 'mixed_float16' or 'mixed_bfloat16'" in text
    assert "training.class_weight: input should be 'balanced', got 'balancd' (text)" in text
    assert "training.callbacks[0]: unknown callback 'ModelCheckpoint'; known callbacks: EarlyStopping, " \
           "ReduceLROnPlateau, SwapEMAWeights" in text


# plain-data results: runs of different lengths ------------------------------------------------------

def run(seed, val_loss, stopped=False, kept=None):
    return {"model": "A", "seed": seed, "status": "completed", "params": 10, "seconds_per_epoch": 1.0,
            "history": {"val_loss": val_loss, "loss": val_loss, "learning_rate": [0.1] * len(val_loss)},
            "epochs_completed": len(val_loss), "stopped_early": stopped, "keep": "best" if kept else "last",
            "kept_epoch": kept}


def test_runs_of_different_lengths_make_one_row_and_one_curve():
    runs = [run(0, [0.9, 0.5, 0.6], stopped=True, kept=2), run(1, [0.8, 0.7, 0.6, 0.4, 0.45], kept=4)]
    row, = stats.comparison_rows(runs, {"A": {"label": "A"}})
    assert row["final_val_loss"]["mean"] == pytest.approx(0.525)  # each run's own last epoch
    assert row["stopped_at"] == {"mean": 3.0, "std": 0.0, "n": 1}
    assert row["kept_epoch"]["mean"] == pytest.approx(3.0)
    headings, cells = stats.table([row])
    # one of the two seeds stopped: the cell says so, not "3" as if both had
    assert "stopped at epoch" in headings and cells[0][headings.index("stopped at epoch")] == "3 (1 of 2 seeds)"
    assert cells[0][headings.index("kept epoch")] == "3.0 ± 1.4"
    both = [run(0, [0.9, 0.5, 0.6], stopped=True), run(1, [0.8, 0.7, 0.6, 0.4], stopped=True)]
    row_both, = stats.comparison_rows(both, {"A": {"label": "A"}})
    headings, cells = stats.table([row_both])
    assert cells[0][headings.index("stopped at epoch")] == "3.5 ± 0.7"
    assert metric_figure(runs, {"A": {"label": "A"}}, "val_loss")[:4] == b"\x89PNG"
    assert not stats.learning_rate_changes(runs)
    plain, = stats.comparison_rows([run(0, [0.9, 0.5])], {"A": {"label": "A"}})
    assert "stopped at epoch" not in stats.table([plain])[0] and "kept epoch" not in stats.table([plain])[0]


def test_the_curve_of_runs_of_different_lengths_averages_the_runs_that_reached_each_epoch(monkeypatch):
    from factory.results import plots

    drawn = {}
    real = plots._matplotlib

    def spy():
        plt = real()
        original = plt.Axes.plot

        def plot(self, x, y, *args, **kwargs):
            drawn["x"], drawn["y"] = list(x), list(y)
            return original(self, x, y, *args, **kwargs)

        monkeypatch.setattr(plt.Axes, "plot", plot)
        return plt

    monkeypatch.setattr(plots, "_matplotlib", spy)
    metric_figure([run(0, [1.0, 0.5]), run(1, [0.8, 0.7, 0.4])], {"A": {"label": "A"}}, "val_loss")
    assert drawn["x"] == [1, 2, 3] and drawn["y"] == pytest.approx([0.9, 0.6, 0.4])


# tiny real training -------------------------------------------------------------------------------

TRAIN = """\
name: t
data: {dataset: digits, train_size: 400}
compile: {optimizer: {SGD: 0.05}, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
training: {epochs: 4, batch_size: 50}
models:
  A:
    layers: [Flatten, {Dense: {units: 16, activation: relu}}, {Dense: {units: 10, activation: softmax}}]
"""


def train(write, tmp_path, text, *overrides, name="out"):
    from factory.train.runner import run_experiment

    code = run_experiment(load(write(text), overrides), tmp_path / name, workers=1)
    assert code == 0
    return json.loads((tmp_path / name / "results.json").read_text())


def test_early_stopping_shortens_a_run_which_is_complete(write, tmp_path):
    # min_delta larger than any change: no epoch after the first improves, so patience 1 stops after epoch 2
    results = train(write, tmp_path, TRAIN, "training.epochs=6",
                    "training.callbacks=[{EarlyStopping: {monitor: val_loss, patience: 1, min_delta: 10}}]")
    r, = results["runs"]
    assert r["status"] == "completed" and r["stopped_early"] and r["epochs_completed"] == 2
    assert len(r["history"]["val_loss"]) == 2 and (tmp_path / "out" / r["model_file"]).is_file()
    assert "| stopped at epoch |" in (tmp_path / "out" / "comparison.md").read_text().replace(" s/epoch |", "")


def test_a_callback_can_monitor_the_learning_rate_the_run_logs(write, tmp_path):
    # a constant rate never improves (mode max): patience 0 stops after epoch 2
    results = train(write, tmp_path, TRAIN, "training.callbacks=[{EarlyStopping: {monitor: learning_rate, "
                                            "mode: max, patience: 0}}]")
    r, = results["runs"]
    assert r["stopped_early"] and r["epochs_completed"] == 2


def test_reduce_lr_on_plateau_lowers_the_recorded_learning_rate(write, tmp_path):
    # mode max on the training loss: a falling loss never improves, so the rate halves from epoch 2 on
    results = train(write, tmp_path, TRAIN, "training.callbacks=[{ReduceLROnPlateau: {monitor: loss, mode: max, "
                                            "factor: 0.5, patience: 0}}]")
    assert results["runs"][0]["history"]["learning_rate"] == pytest.approx([0.05, 0.05, 0.025, 0.0125])
    assert (tmp_path / "out" / "learning_rate.png").is_file()  # plotted, since it changed


def test_cosine_decay_records_the_schedule_evaluated_by_hand(write, tmp_path):
    from factory.train.callbacks import steps_per_epoch

    schedule = "{CosineDecay: {initial_learning_rate: 0.001, decay_steps: 20, warmup_target: 0.1, warmup_steps: 10, alpha: 0.1}}"
    results = train(write, tmp_path, TRAIN, f"compile.optimizer={{SGD: {{learning_rate: {schedule}}}}}")
    spec = load(write(TRAIN)).experiment.resolved().models["A"]
    steps = steps_per_epoch(spec, 400)
    assert steps == 8

    def by_hand(step):  # Keras's documented formula: linear warmup, then cosine to alpha * warmup_target
        if step < 10:
            return 0.001 + (0.1 - 0.001) * step / 10
        fraction = min(step - 10, 20) / 20
        return 0.1 * ((1 - 0.1) * 0.5 * (1 + math.cos(math.pi * fraction)) + 0.1)

    expected = [by_hand(steps * epoch) for epoch in range(1, 5)]
    assert results["runs"][0]["history"]["learning_rate"] == pytest.approx(expected, rel=1e-5)
    assert (tmp_path / "out" / "learning_rate.png").is_file()


def test_every_schedule_scaled_is_keras_schedule_times_the_factor():
    """What ReduceLROnPlateau beside a schedule rests on: each schedule names all its rates, so its
    scaled config is, at every step, the factor times the schedule (PolynomialDecay's default
    end_learning_rate and CosineDecay's warmup_target included)."""
    from factory.build.keras_setup import import_keras
    from schemas.schedules import SCHEDULES

    keras = import_keras()
    written = {"CosineDecay": {"initial_learning_rate": 0.01, "decay_steps": 40, "alpha": 0.1, "warmup_target": 0.2,
                               "warmup_steps": 10},
               "CosineDecayRestarts": {"initial_learning_rate": 0.1, "first_decay_steps": 7, "alpha": 0.05},
               "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.8},
               "InverseTimeDecay": {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5},
               "PolynomialDecay": {"initial_learning_rate": 0.1, "decay_steps": 30, "power": 2.0},
               "PiecewiseConstantDecay": {"boundaries": [5, 20], "values": [0.1, 0.05, 0.001]}}
    assert set(written) == {c.__name__ for c in SCHEDULES}
    for cls in SCHEDULES:
        spec = cls.model_validate(written[cls.__name__])
        schedule = keras.optimizers.schedules.deserialize(spec.keras_config())
        scaled = keras.optimizers.schedules.deserialize(spec.scaled_keras_config(0.3))
        for step in (0, 3, 8, 15, 25, 60):
            rate, lowered = (float(keras.ops.convert_to_numpy(s(step))) for s in (schedule, scaled))
            assert lowered == pytest.approx(0.3 * rate, rel=1e-6), (cls.__name__, step)


def schedule_rates(keras, config: dict, steps: list[int]) -> list[float]:
    """A CosineDecay evaluated by Keras at `steps`."""
    schedule = keras.optimizers.schedules.CosineDecay(**config)
    return [float(keras.ops.convert_to_numpy(schedule(step))) for step in steps]


WARMUP = {"initial_learning_rate": 0.001, "decay_steps": 40, "warmup_target": 0.1, "warmup_steps": 10}
LOAD_WITHOUT_FACTORY = """import json, sys

class Refuse:  # as on a machine without this package
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("factory", "schemas"):
            raise ImportError(name)

sys.meta_path.insert(0, Refuse())
import keras

model = keras.models.load_model(sys.argv[1])
print(json.dumps(model.optimizer.get_config()["learning_rate"]))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_reduce_lr_on_plateau_beside_a_schedule_multiplies_the_whole_schedule(write, tmp_path, backend):
    """The rate is the schedule evaluated by Keras times the plateaus' factors so far; min_lr bounds
    a reduction, not the schedule's decay; a plateau that never comes changes nothing; the saved
    model holds the lowered schedule as a plain Keras one, loaded without this package."""
    import subprocess
    import sys

    from factory.build.keras_setup import import_keras

    keras = import_keras()
    s8, s16, s24, s32 = schedule_rates(keras, WARMUP, [8, 16, 24, 32])  # 8 steps per epoch
    min_lr = 0.375 * s24  # the second reduction, to a quarter of s24, stops at 0.375 of it
    layers = "    layers: [Flatten, {Dense: {units: 16, activation: relu}}, {Dense: {units: 10, activation: softmax}}]\n"
    text = TRAIN.replace("{SGD: 0.05}", f"{{SGD: {{learning_rate: {{CosineDecay: {json.dumps(WARMUP)}}}}}}}") + (
        "  idle:\n    training: {callbacks: [{ReduceLROnPlateau: {monitor: val_loss, patience: 100}}]}\n" + layers +
        # no epoch after the first improves val_loss by 100: epochs 2, 3 and 4 are plateaus
        "  acting:\n    training: {callbacks: [{ReduceLROnPlateau: {monitor: val_loss, min_delta: 100, patience: 0, "
        f"factor: 0.5, min_lr: {min_lr!r}}}}}]}}\n" + layers +
        # the train step itself must take the lowered schedule: with a millionth, the weights stand still
        "  frozen:\n    training: {callbacks: [{ReduceLROnPlateau: {monitor: val_loss, min_delta: 100, patience: 0, "
        "factor: 1.0e-6}}]}\n" + layers)
    results = train(write, tmp_path, text, f"training.keras_backend={backend}")
    plain, idle, acting, frozen = results["runs"]
    assert {r["keras_backend"] for r in results["runs"]} == {backend}
    assert plain["history"]["learning_rate"] == pytest.approx([s8, s16, s24, s32], rel=1e-5)
    assert idle["history"] == plain["history"]  # bit for bit
    rates = acting["history"]["learning_rate"]
    assert rates == pytest.approx([s8, s16, 0.5 * s24, 0.375 * s32], rel=1e-5)
    assert rates[3] < min_lr  # the schedule decays on below min_lr
    still, moving = frozen["history"]["val_loss"], plain["history"]["val_loss"]
    assert still[1:] == pytest.approx([still[1]] * 3, rel=1e-5) and moving[2] < moving[1] * 0.999, (still, moving)

    loaded = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_FACTORY, str(tmp_path / "out" / acting["model_file"])],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert loaded.returncode == 0, loaded.stderr
    saved = json.loads(loaded.stdout.splitlines()[-1])
    assert saved["class_name"] == "CosineDecay" and saved["module"] == "keras.optimizers.schedules"
    config = saved["config"]
    assert (config["decay_steps"], config["warmup_steps"], config["alpha"]) == (40, 10, 0.0)
    assert (config["initial_learning_rate"], config["warmup_target"]) == pytest.approx((0.375e-3, 0.0375), rel=1e-5)


LAYERS = "    layers: [Flatten, {Dense: {units: 16, activation: relu}}, {Dense: {units: 10, activation: softmax}}]\n"


def model(name: str, *plateaus: str, optimizer: str | None = None) -> str:
    """A model of TRAIN's layers with these ReduceLROnPlateau configs (and its own optimizer)."""
    callbacks = ", ".join(f"{{ReduceLROnPlateau: {{{p}}}}}" for p in plateaus)
    compile_ = f"    compile: {{optimizer: {optimizer}}}\n" if optimizer else ""
    return f"  {name}:\n{compile_}    training: {{callbacks: [{callbacks}]}}\n" + LAYERS


# no epoch after the first improves by 100: each epoch from the second on is a plateau
HALVE = "monitor: val_loss, min_delta: 100, patience: 0, factor: 0.5"
HALVE_ON_LOSS = HALVE.replace("val_loss", "loss")
# a millionth once (then a cooldown longer than the run): the weights stand still from then on
FREEZE = "monitor: val_loss, min_delta: 100, patience: 0, factor: 1.0e-6, cooldown: 100"
COSINE = f"{{SGD: {{learning_rate: {{CosineDecay: {json.dumps(WARMUP)}}}}}}}"


def test_two_plateaus_beside_a_schedule_compose_as_on_a_constant_rate(write, tmp_path):
    """Each multiplies the rate the one before it left, on one scale of the schedule: two halvings
    in one epoch quarter the schedule as they quarter a constant rate, and a millionth from one
    is not undone by the other's halving (the weights stand still, as on a constant rate)."""
    from factory.build.keras_setup import import_keras

    keras = import_keras()
    s8, s16, s24, s32 = schedule_rates(keras, WARMUP, [8, 16, 24, 32])
    text = TRAIN.replace("  A:\n" + LAYERS, "") + model("constant", HALVE, HALVE_ON_LOSS) + model(
        "scheduled", HALVE, HALVE_ON_LOSS, optimizer=COSINE) + model("frozen", FREEZE, HALVE_ON_LOSS, optimizer=COSINE)
    constant, scheduled, frozen = train(write, tmp_path, text)["runs"]
    assert constant["history"]["learning_rate"] == pytest.approx([0.05, 0.05, 0.0125, 0.003125], rel=1e-5)
    assert scheduled["history"]["learning_rate"] == pytest.approx([s8, s16, 0.25 * s24, 0.0625 * s32], rel=1e-5)
    rates, still = frozen["history"]["learning_rate"], frozen["history"]["val_loss"]
    assert rates == pytest.approx([s8, s16, 0.5e-6 * s24, 0.25e-6 * s32], rel=1e-5)
    assert still[2:] == pytest.approx([still[1]] * 2, rel=1e-5) and still[1] < still[0] * 0.999, still


def test_the_recorded_rate_is_the_one_the_epoch_trained_with_also_with_two_plateaus(write, tmp_path):
    """Keras's ReduceLROnPlateau logs the optimizer's rate, which the one before it lowered already:
    epoch 2 trained at 0.05 (its val_loss fell), and the history says 0.05, not 5e-8."""
    text = TRAIN.replace("  A:\n" + LAYERS, "") + model("constant", FREEZE, HALVE_ON_LOSS)
    r, = train(write, tmp_path, text)["runs"]
    assert r["history"]["learning_rate"] == pytest.approx([0.05, 0.05, 2.5e-8, 1.25e-8], rel=1e-5)
    still = r["history"]["val_loss"]
    assert still[2:] == pytest.approx([still[1]] * 2, rel=1e-5) and still[1] < still[0] * 0.999, still


def test_a_plateau_lowers_the_schedule_of_mixed_float16s_loss_scale_optimizer(write, tmp_path):
    """mixed_float16 wraps the optimizer in a LossScaleOptimizer: the lowered schedule reaches the
    inner optimizer, so the weights stand still after a millionth."""
    from factory.build.keras_setup import import_keras

    keras = import_keras()
    s8, s16, s24, s32 = schedule_rates(keras, WARMUP, [8, 16, 24, 32])
    text = TRAIN.replace("  A:\n" + LAYERS, "") + model("mixed", FREEZE, optimizer=COSINE).replace(
        "training: {", "training: {precision: mixed_float16, ")
    r, = train(write, tmp_path, text)["runs"]
    assert (r["status"], r["precision"]) == ("completed", "mixed_float16")
    assert r["history"]["learning_rate"] == pytest.approx([s8, s16, 1e-6 * s24, 1e-6 * s32], rel=1e-3)
    still = r["history"]["val_loss"]
    assert still[2:] == pytest.approx([still[1]] * 2, rel=1e-5) and still[1] < still[0] * 0.999, still


def test_the_issues_contract_trains_with_its_plateau_lowering_the_schedule(write, tmp_path):
    """The contract as written (AdamW with clipnorm, mixed_bfloat16, balanced class weights, op
    determinism, keep best), on 400 digits for 4 epochs, its plateau forced from epoch 2 on."""
    from factory.build.keras_setup import import_keras

    keras = import_keras()
    text = WHOLE.replace("{dataset: digits}", "{dataset: digits, train_size: 400}") + CONTRACT
    callbacks = ("[{EarlyStopping: {monitor: val_loss, patience: 3, restore_best_weights: true}}, {ReduceLROnPlateau: "
                 "{monitor: val_loss, factor: 0.5, patience: 0, min_delta: 100, min_lr: 1.0e-5}}]")
    results = train(write, tmp_path, text, "training.epochs=4", "training.batch_size=50", f"training.callbacks={callbacks}")
    r, = results["runs"]
    assert (r["status"], r["precision"], r["keep"], r["epochs_completed"]) == ("completed", "mixed_bfloat16", "best", 4)
    config = {"initial_learning_rate": 1.0e-4, "decay_steps": 9000, "warmup_target": 1.0e-3, "warmup_steps": 900}
    s8, s16, s24, s32 = schedule_rates(keras, config, [8, 16, 24, 32])
    assert r["history"]["learning_rate"] == pytest.approx([s8, s16, 0.5 * s24, 0.25 * s32], rel=1e-5)


@pytest.mark.parametrize("keeping", [
    "training.keep=best",
    # keep: last, but Keras's EarlyStopping restores the best epoch's weights: that epoch is the one saved
    "training.callbacks=[{EarlyStopping: {monitor: val_loss, patience: 20, restore_best_weights: true}}]"])
def test_keep_best_saves_the_best_epochs_weights_and_the_table_says_which(write, tmp_path, keeping):
    from factory.build.keras_setup import import_keras
    from factory.data import load_data

    keras = import_keras()
    # a rate too large for SGD: val_loss jumps about, so the best epoch is not the last
    results = train(write, tmp_path, TRAIN, keeping, "training.epochs=8", "compile.optimizer={SGD: 1.5}")
    r, = results["runs"]
    val_loss = r["history"]["val_loss"]
    best = min(range(len(val_loss)), key=val_loss.__getitem__) + 1
    assert r["kept_epoch"] == best and best < 8, val_loss
    model = keras.models.load_model(tmp_path / "out" / r["model_file"])
    data = load_data(load(write(TRAIN)).experiment.data, tmp_path)
    loss = model.evaluate(data.x_test, data.y_test, verbose=0)[0]
    assert loss == pytest.approx(val_loss[best - 1], rel=1e-4)
    assert "| kept epoch |" in (tmp_path / "out" / "comparison.md").read_text().replace(" s/epoch |", "")


def test_precision_is_per_run_recorded_and_restored(write, tmp_path):
    from factory.build.keras_setup import import_keras

    keras = import_keras()
    text = TRAIN + """\
  M:
    training: {precision: mixed_bfloat16}
    layers: [Flatten, {Dense: {units: 16, activation: relu}}, {Dense: {units: 10, activation: softmax}}]
"""
    results = train(write, tmp_path, text, "training.epochs=1")
    assert [(r["model"], r["precision"], r["status"]) for r in results["runs"]] == [
        ("A", "float32", "completed"), ("M", "mixed_bfloat16", "completed")]
    mixed = keras.models.load_model(tmp_path / "out" / "models" / "M-seed0.keras")
    plain = keras.models.load_model(tmp_path / "out" / "models" / "A-seed0.keras")
    assert mixed.layers[-2].dtype_policy.name == "mixed_bfloat16"
    assert plain.layers[-2].dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == "float32"  # restored for whatever runs next


def test_deterministic_runs_give_bit_identical_histories(write, tmp_path):
    first = train(write, tmp_path, TRAIN, "training.deterministic=true", name="one")
    second = train(write, tmp_path, TRAIN, "training.deterministic=true", name="two")
    assert first["runs"][0]["history"] == second["runs"][0]["history"]


def test_op_determinism_is_on_during_a_deterministic_run_only_and_a_users_is_kept(write, tmp_path):
    """CPU kernels are deterministic anyway, so identical histories prove little: check the switch itself."""
    from tensorflow.python.framework import config as tf_config  # is_op_determinism_enabled is not public

    from factory.build.keras_setup import import_keras
    from factory.data import load_data
    from factory.train.task import train_one

    keras = import_keras()
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(tf_config.is_op_determinism_enabled())

    loaded = load(write(TRAIN), ["training.deterministic=true", "training.epochs=1"])
    spec, data = loaded.experiment.resolved().models["A"], load_data(loaded.experiment.data, tmp_path)
    assert not tf_config.is_op_determinism_enabled()
    record, _ = train_one(keras, "A", spec, 0, data, "A", lambda s: "", callbacks=[Watch()])
    assert record["status"] == "completed" and seen == [True]
    assert not tf_config.is_op_determinism_enabled()  # off again for the next run
    tf_config.enable_op_determinism()  # the user's own, before the run
    try:
        train_one(keras, "A", spec, 0, data, "A", lambda s: "", callbacks=[Watch()])
        assert seen == [True, True] and tf_config.is_op_determinism_enabled()
    finally:
        tf_config.disable_op_determinism()


def test_balanced_class_weights_by_hand():
    from factory.train.callbacks import class_weights

    y = np.array([0, 0, 0, 1, 2, 2])
    assert class_weights("balanced", y) == {0: 6 / 9, 1: 2.0, 2: 1.0}
    assert class_weights("balanced", np.eye(3)[y]) == {0: 6 / 9, 1: 2.0, 2: 1.0}  # one-hot rows
    assert class_weights({1: 3.0}, y) == {1: 3.0} and class_weights(None, y) is None


def test_class_weights_train_and_a_class_the_data_lacks_is_refused_before_training(write, tmp_path):
    results = train(write, tmp_path, TRAIN, "training.class_weight=balanced", "training.epochs=1")
    assert results["runs"][0]["status"] == "completed"
    from factory.train.runner import run_experiment

    path = write(TRAIN + "    training: {class_weight: {0: 1.0, 12: 3.0}}\n")
    with pytest.raises(SpecError) as e:
        run_experiment(load(path), tmp_path / "refused", workers=1)
    assert [str(i) for i in e.value.issues] == [
        f"{path}:8:43: models.A.training.class_weight[12]: model A: class_weight for class 12, which the training "
        "labels do not have (they have classes 0 to 9)"]
    assert not (tmp_path / "refused" / "results.json").exists()
    inherited = write(TRAIN.replace("batch_size: 50}", "batch_size: 50, class_weight: {0: 1.0, 12: 3.0}}"),
                      name="inherited.yaml")
    with pytest.raises(SpecError) as e:
        run_experiment(load(inherited), tmp_path / "refused", workers=1)
    assert [str(i) for i in e.value.issues] == [
        f"{inherited}:4:66: training.class_weight[12]: model A: class_weight for class 12, which the training "
        "labels do not have (they have classes 0 to 9)"]


def test_show_prints_the_steps_per_epoch_that_decay_steps_counts(write, cli):
    code, out, _ = cli("show", write(TRAIN + "    training: {validation_split: 0.2}\n"))
    assert code == 0
    assert ("model A: 7 steps per epoch (400 training examples less validation_split 0.2, batch_size 50); "
            "decay_steps and warmup_steps count these: 10 epochs = 70 steps") in out
    code, out, _ = cli("show", write(TRAIN), "--set", "compile.optimizer={SGD: {gradient_accumulation_steps: 3}}")
    assert ("model A: 8 steps per epoch (400 training examples, batch_size 50; every batch counts, also with "
            "gradient_accumulation_steps 3); decay_steps and warmup_steps count these: 10 epochs = 80 steps") in out


def test_a_schedule_counts_every_batch_also_with_gradient_accumulation():
    """What `show`'s steps per epoch rests on: 8 batches accumulated by 4 advance a schedule by 8 steps."""
    from factory.build.keras_setup import import_keras

    keras = import_keras()
    schedule = keras.optimizers.schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(schedule, gradient_accumulation_steps=4), "mse")
    model.fit(np.zeros((64, 2)), np.zeros((64, 1)), batch_size=8, epochs=1, verbose=0)
    rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert rate == pytest.approx(0.5 ** 8)
