"""`search:` on a model: the contract YAML, located space errors, a pruned search, kill and --resume,
parallel trials (worker processes and local Ray), best.yaml reproducing its trial, the confirmation."""

import json
import signal
import textwrap

import pytest

from factory.cli import main
from factory.spec.loader import load
from tests.conftest import ROOT
from tests.test_backends import _python, needs_jax
from tests.test_faults import start, wait_for

optuna = pytest.importorskip("optuna")

ISSUE_MODEL = """\
  mlp:
    compile: {optimizer: {Adam: {learning_rate: 1.0e-3}}}
    layers:
      - Flatten: {input_shape: [28, 28]}
      - Dense: {units: 128, activation: relu}
      - Dropout: 0.2
      - Dense: {units: 10, activation: softmax}
    search:
      trials: 30
      objective: val_loss                 # minimised; {val_accuracy: max} to maximise
      sampler: tpe                        # tpe | random | cmaes | grid
      pruner: median                      # none | median | hyperband
      space:                              # paths as in `sweep:`; values are distributions
        "layers.1.Dense.units": {int: [32, 512], log: true}
        "layers.2.Dropout": {float: [0.0, 0.5]}
        "layers.1.Dense.activation": {choice: [relu, gelu, tanh]}
        "compile.optimizer.Adam.learning_rate": {float: [1.0e-4, 1.0e-2], log: true}
      confirm_seeds: [0, 1, 2, 3, 4]      # re-train the best and the base over these seeds
"""

DIGITS = """\
name: digits-search
data: {dataset: digits, train_size: 300}
compile: {loss: sparse_categorical_crossentropy, metrics: [accuracy], optimizer: {Adam: {learning_rate: 1.0e-3}}}
training: {epochs: 3, batch_size: 32}
models:
  mlp:
    layers:
      - Flatten
      - Dense: {units: 16, activation: relu}
      - Dropout: 0.2
      - Dense: {units: 10, activation: softmax}
    search:
      trials: 6
      sampler: random
      pruner: median
      space:
        "layers.1.Dense.units": {int: [4, 32], log: true}
        "layers.2.Dropout": {float: [0.0, 0.5]}
        "compile.optimizer.Adam.learning_rate": {float: [1.0e-4, 3.0e-2], log: true}
      confirm_seeds: []
"""


def run(*args) -> int:
    return main(["run", *map(str, args)])


def search_json(out):
    return json.loads((out / "search.json").read_text())


def states(out):
    return [t["state"] for t in search_json(out)["trials"]]


def test_the_issue_yaml_validates_verbatim(write):
    spec = write("name: s\ndata: {dataset: fashion_mnist}\ncompile: {loss: sparse_categorical_crossentropy}\n"
                 "models:\n" + ISSUE_MODEL)
    from factory.search.space import direction

    search = load(spec).experiment.models["mlp"].search
    assert (search.trials, search.metric, direction(search), search.sampler, search.pruner) == \
           (30, "val_loss", "minimize", "tpe", "median")
    assert search.space["layers.1.Dense.units"].log and search.confirm_seeds == [0, 1, 2, 3, 4]
    from factory.search import space

    space.check(load(spec), "mlp")  # every path is a field, every bound a value it takes
    maximise = load(spec, ["models.mlp.search.objective={val_accuracy: max}"]).experiment.models["mlp"].search
    assert (maximise.metric, direction(maximise)) == ("val_accuracy", "maximize")


def test_a_bad_space_is_a_located_error_before_any_trial(write, tmp_path, capsys):
    bad = DIGITS.replace('"layers.1.Dense.units": {int: [4, 32], log: true}',
                         '"layers.1.Dense.unit": {int: [4, 32]}\n        "layers.9.Dense.units": {int: [4, 32]}')
    bad = bad.replace('{float: [0.0, 0.5]}', '{float: [0.5, 1.5]}').replace("pruner: median", "objective: val_acc")
    out = tmp_path / "out"
    assert run(write(bad), "--out", out) == 2
    err = capsys.readouterr().err
    assert "spec.yaml:15:18: models.mlp.search.objective: 'val_acc' is not recorded for model mlp" in err
    assert "did you mean 'val_accuracy'?" in err
    assert ("spec.yaml:17:39: models.mlp.search.space.layers.1.Dense.unit: layers[1].Dense.unit: unknown key "
            "'unit'; did you mean 'units'?") in err
    assert ("spec.yaml:18:9: models.mlp.search.space.layers.9.Dense.units: 'layers.9.Dense.units' is not a "
            "field of model mlp") in err
    assert "models.mlp.search.space.layers.2.Dropout: layers[2].Dropout: input should be less than 1, got 1.5" in err
    assert "Traceback" not in err and not out.exists()


def test_validate_checks_the_space_without_tensorflow_or_optuna(write):
    import subprocess
    import sys

    spec = write("name: s\ndata: {dataset: fashion_mnist}\ncompile: {loss: sparse_categorical_crossentropy}\n"
                 "models:\n" + ISSUE_MODEL.replace("layers.2.Dropout", "layers.7.Dropout"))
    code = ("import sys; from factory.cli import main; code = main(['validate', sys.argv[1]]); "
            "print(code, 'tensorflow' in sys.modules, 'optuna' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.split() == ["2", "False", "False"], result.stderr
    assert "'layers.7.Dropout' is not a field of model mlp" in result.stderr


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A 6-trial search with the median pruner, in this process."""
    folder = tmp_path_factory.mktemp("search")
    spec = folder / "spec.yaml"
    spec.write_text(DIGITS)
    assert run(spec, "--out", folder / "out", "--workers", "1") == 0
    return spec, folder / "out"


def test_six_trials_with_pruning(searched):
    _, out = searched
    summary = search_json(out)
    trials = summary["trials"]
    assert [t["name"] for t in trials] == [f"mlp-t0{k}" for k in range(6)]
    assert {t["state"] for t in trials} <= {"completed", "pruned"}
    pruned = [t for t in trials if t["state"] == "pruned"]
    assert pruned and all(1 <= t["pruned_epoch"] < 3 and t["epochs"] == t["pruned_epoch"] for t in pruned)
    assert all(t["epochs"] == 3 for t in trials if t["state"] == "completed")
    assert trials[0]["label"].startswith("units=") and "Dropout=" in trials[0]["label"]
    assert (out / "trials.csv").read_text().count("\n") == 7
    assert (out / "optimisation_history.png").stat().st_size > 1000
    assert (out / "parameter_importance.png").stat().st_size > 1000
    assert set(summary["importances"]) == {"layers.1.Dense.units", "layers.2.Dropout",
                                           "compile.optimizer.Adam.learning_rate"}
    report = (out / "report.html").read_text()
    assert "table class='sortable'" in report and "addEventListener('click'" in report
    best = min((t for t in trials if t["state"] == "completed"), key=lambda t: t["value"])
    assert summary["best"]["name"] == best["name"]


def test_best_yaml_reproduces_its_trial(searched, tmp_path):
    _, out = searched
    best = search_json(out)["best"]
    assert run(out / "best.yaml", "--out", tmp_path / "again", "--workers", "1") == 0
    (again,) = json.loads((tmp_path / "again" / "results.json").read_text())["runs"]
    assert again["model"] == best["name"] and again["history"]["val_loss"][-1] == best["value"]


def test_cmaes_sampler_with_the_hyperband_pruner(write, tmp_path):
    spec = DIGITS.replace("sampler: random", "sampler: cmaes").replace("pruner: median", "pruner: hyperband")
    spec = spec.replace("trials: 6", "trials: 3").replace("epochs: 3", "epochs: 2")
    out = tmp_path / "out"
    assert run(write(spec), "--out", out, "--workers", "1") == 0
    trials = search_json(out)["trials"]
    assert len(trials) == 3 and all(t["state"] in ("completed", "pruned") for t in trials)
    assert len({t["label"] for t in trials}) == 3


def test_failed_trials_are_recorded_and_the_grid_goes_on(write, tmp_path):
    spec = DIGITS.replace("sampler: random", "sampler: grid").replace("pruner: median", "pruner: none")
    spec = spec.replace('''        "layers.1.Dense.units": {int: [4, 32], log: true}
        "layers.2.Dropout": {float: [0.0, 0.5]}
        "compile.optimizer.Adam.learning_rate": {float: [1.0e-4, 3.0e-2], log: true}''',
                        '''        "compile.optimizer": {choice: [adam, {SGD: {learning_rate: 1.0e+30}}]}''')
    out = tmp_path / "out"
    assert run(write(spec), "--out", out, "--workers", "1") == 0  # 6 trials asked, the grid has 2
    trials = search_json(out)["trials"]
    assert sorted(t["state"] for t in trials) == ["completed", "failed"]
    failed = next(t for t in trials if t["state"] == "failed")
    assert failed["values"] == {"compile.optimizer": {"SGD": {"learning_rate": 1e30}}}
    assert "loss became nan" in failed["error"] or "loss became inf" in failed["error"]


def test_sigkill_then_resume_reaches_exactly_trials(write, tmp_path):
    spec, out = write(DIGITS.replace("epochs: 3", "epochs: 2")), tmp_path / "out"
    journal = out / "study.journal"

    def finished():
        if not journal.exists():
            return 0
        from factory.search.pruning import storage

        study = optuna.load_study(study_name="mlp", storage=storage(str(journal)))
        return sum(t.state.is_finished() for t in study.trials)

    process = start(spec, out, "--workers", "1")
    wait_for(lambda: finished() >= 2, process, timeout=300)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = search_trials = None
    from factory.search.pruning import storage

    before = {t.number: t.params for t in optuna.load_study(study_name="mlp", storage=storage(str(journal))).trials
              if t.state.is_finished()}
    assert run(spec, "--out", out, "--resume", "--workers", "1") == 0
    search_trials = search_json(out)["trials"]
    counted = [t for t in search_trials if t["state"] in ("completed", "pruned", "failed")]
    assert len(counted) == 6
    assert [t["state"] for t in search_trials].count("interrupted") <= 1
    study = optuna.load_study(study_name="mlp", storage=storage(str(journal)))
    assert all(study.trials[n].params == params for n, params in before.items())  # kept, not trained again
    count = len(study.trials)
    assert run(spec, "--out", out, "--resume", "--workers", "1") == 0  # finished: nothing more to train
    assert len(optuna.load_study(study_name="mlp", storage=storage(str(journal))).trials) == count
    assert run(spec, "--out", out) == 2  # a study there and no --resume: refused, never mixed


def test_parallel_trials_in_worker_processes(write, tmp_path, monkeypatch):
    spec = DIGITS.replace("trials: 6", "trials: 4")
    out = tmp_path / "out"
    assert run(write(spec), "--out", out, "--workers", "2") == 0
    trials = search_json(out)["trials"]
    assert len(trials) == 4 and all(t["state"] in ("completed", "pruned") for t in trials)
    assert all(len(json.loads(optuna_history(out, t["trial"]))["val_loss"]) == t["epochs"] for t in trials)
    assert_reported_from_the_tasks(out, trials)


@needs_jax
def test_trials_train_on_the_models_keras_backend(write, tmp_path):
    spec = write(DIGITS.replace("trials: 6", "trials: 2").replace("epochs: 3", "epochs: 1"))
    out = tmp_path / "out"
    run = ["run", str(spec), "--out", str(out), "--workers", "1", "--keras-backend", "jax"]
    done = _python(f"import sys; from factory.cli import main; rc = main({run!r}); "
                   "print('exit', rc, 'tensorflow' in sys.modules)")  # a fresh process: the trials train in it
    assert done.stdout.split()[-3:] == ["exit", "0", "False"], done.stdout + done.stderr
    assert [t["keras_backend"] for t in search_json(out)["trials"]] == ["jax", "jax"]


def assert_reported_from_the_tasks(out, trials):
    """Every epoch a trial trained was reported to the study by the process that trained it."""
    from factory.search.pruning import storage

    study = optuna.load_study(study_name="mlp", storage=storage(str(out / "study.journal")))
    assert all(sorted(study.trials[t["trial"]].intermediate_values) == list(range(1, t["epochs"] + 1))
               for t in trials)


def test_parallel_trials_as_local_ray_tasks(write, tmp_path):
    pytest.importorskip("ray")
    spec = DIGITS.replace("trials: 6", "trials: 4").replace("epochs: 3", "epochs: 2")
    out = tmp_path / "out"
    assert run(write(spec), "--out", out, "--workers", "2", "--backend", "ray") == 0
    trials = search_json(out)["trials"]
    assert len(trials) == 4 and all(t["state"] in ("completed", "pruned") for t in trials)
    assert_reported_from_the_tasks(out, trials)


def optuna_history(out, number):
    from factory.search.pruning import storage

    return optuna.load_study(study_name="mlp", storage=storage(str(out / "study.journal"))).trials[number] \
        .user_attrs["history"]


def test_confirmation_trains_base_and_best_over_the_seeds(write, tmp_path):
    spec = DIGITS.replace("trials: 6", "trials: 3").replace("confirm_seeds: []", "confirm_seeds: [0, 1, 2]")
    spec = spec.replace("pruner: median", "pruner: none\n      objective: val_accuracy")  # maximised, a bare name
    out = tmp_path / "out"
    assert run(write(spec), "--out", out, "--workers", "1") == 0
    summary = search_json(out)
    confirmation, best = summary["confirmation"], summary["best"]["name"]
    assert summary["direction"] == "maximize"
    assert summary["best"]["value"] == max(t["value"] for t in summary["trials"] if t["state"] == "completed")
    runs = json.loads((out / "confirm" / "results.json").read_text())["runs"]
    assert sorted((r["model"], r["seed"]) for r in runs) == sorted((m, s) for m in ("mlp", best) for s in (0, 1, 2))
    assert confirmation["comparison"]["seeds"] == [0, 1, 2]
    assert confirmation["verdict"].startswith("val_accuracy: ")
    comparison = confirmation["comparison"]
    assert confirmation["beyond_noise"] == (comparison["mean"] > 0 and comparison["p"] is not None
                                            and comparison["p"] < 0.05)
    gain = "the gain is beyond seed noise" if confirmation["beyond_noise"] else "the gain is NOT beyond seed noise"
    assert gain in confirmation["text"] and "Confirmation" in (out / "report.html").read_text()
    assert confirmation["verdict"] in (out / "report.html").read_text()
    assert "mlp-" in (out / "confirm" / "comparison.md").read_text()


def test_a_bare_objective_is_minimised_for_losses_and_maximised_otherwise(write):
    from factory.search.space import direction

    spec = write("name: s\ndata: {dataset: fashion_mnist}\ncompile: {loss: sparse_categorical_crossentropy}\n"
                 "models:\n" + ISSUE_MODEL)
    directions = {objective: direction(load(spec, [f"models.mlp.search.objective={objective}"])
                                       .experiment.models["mlp"].search)
                  for objective in ("val_loss", "val_accuracy", "val_mae", "auc", "{val_loss: max}",
                                    "{val_accuracy: min}")}
    assert directions == {"val_loss": "minimize", "val_accuracy": "maximize", "val_mae": "minimize",
                          "auc": "maximize", "{val_loss: max}": "maximize", "{val_accuracy: min}": "minimize"}


def test_the_verdict_follows_the_search_direction():
    from factory.search.confirm import judge

    lower = {"n": 3, "mean": -0.1, "std": 0.01, "p": 0.004, "identical": False, "seeds": [0, 1, 2]}
    assert judge(lower, "val_loss", "minimize", "mlp", "t1") == \
        (True, "val_loss: t1 better than mlp beyond seed noise (p=0.004)")
    assert judge(lower, "val_accuracy", "maximize", "mlp", "t1") == \
        (False, "val_accuracy: t1 worse than mlp beyond seed noise (p=0.004)")
    assert judge({**lower, "p": 0.3}, "val_loss", "minimize", "mlp", "t1") == \
        (False, "val_loss: within seed-to-seed noise (p=0.300)")
    same_gain = {**lower, "p": None, "identical": True}  # no noise to test against: a gain on every seed
    assert judge(same_gain, "val_loss", "minimize", "mlp", "t1") == \
        (True, "val_loss: t1 better than mlp by 0.1, an identical difference on every seed (no noise to test against)")
    assert judge(same_gain, "val_accuracy", "maximize", "mlp", "t1")[0] is False


def test_several_trials_at_once_use_the_constant_liar_and_a_resumed_sampler_a_new_seed(write):
    from factory.search.study import _sampler

    search = load(write(DIGITS.replace("sampler: random", "sampler: tpe"))).experiment.models["mlp"].search
    assert _sampler(optuna, search, 0, workers=2)._constant_liar
    assert not _sampler(optuna, search, 0, workers=1)._constant_liar
    draws = [_sampler(optuna, search, asked)._random_sampler._rng.rng.random() for asked in (0, 0, 2)]
    assert draws[0] == draws[1] != draws[2]


def test_resume_proposes_new_points_and_refuses_a_changed_experiment(write, tmp_path, capsys):
    spec = write(DIGITS.replace("trials: 6", "trials: 2").replace("epochs: 3", "epochs: 1")
                 .replace("pruner: median", "pruner: none"))
    out = tmp_path / "out"
    assert run(spec, "--out", out, "--workers", "1") == 0
    assert run(spec, "--out", out, "--workers", "1", "--resume", "--set", "models.mlp.search.trials=4") == 0
    values = [json.dumps(t["values"], sort_keys=True) for t in search_json(out)["trials"]]
    assert len(values) == 4 and set(values[2:]).isdisjoint(values[:2])  # not the first two again
    capsys.readouterr()
    changed = ["--set", "models.mlp.search.trials=5", "--set", "training.epochs=2", "--set", "data.train_size=200",
               "--set", "models.mlp.layers.1.Dense.activation=tanh"]
    assert run(spec, "--out", out, "--workers", "1", "--resume", *changed) == 2
    err = capsys.readouterr().err
    assert f"cannot resume in {out}: the experiment changed since that search: " in err
    assert "data.train_size: 300 -> 200" in err and "training.epochs: 1 -> 2" in err
    assert "models.mlp.layers: [" in err and '"activation": "tanh"}' in err
    assert len(search_json(out)["trials"]) == 4


def test_what_a_search_cannot_do_is_a_located_error_before_any_trial(write, tmp_path, capsys):
    spec = DIGITS.replace('"layers.1.Dense.units": {int: [4, 32], log: true}',
                          '"layers.1.Dense.units": {float: [4, 32]}\n        "training.seeds": {choice: [[5], [6]]}')
    spec = spec.replace("models:\n", "tracking: {tensorboard: true}\nmodels:\n  other:\n    layers: [Flatten, "
                                      "{Dense: {units: 10, activation: softmax}}]\n")
    out = tmp_path / "out"
    assert run(write(spec), "--out", out) == 2
    err = capsys.readouterr().err
    assert not out.exists() and "Traceback" not in err
    assert ("spec.yaml:8:5: models.other: a search trains its model alone: model other would never train "
            "(searched: mlp); put it in an experiment of its own") in err
    assert "spec.yaml:5:25: tracking.tensorboard: a search does not log to TensorBoard" in err
    assert ("spec.yaml:21:27: models.mlp.search.space.training.seeds: 'training.seeds' cannot be searched: the search sets "
            "training.seeds itself") in err
    assert ("spec.yaml:20:41: models.mlp.search.space.layers.1.Dense.units: layers[1].Dense.units: input should be a valid integer"
            in err) and "{int: [low, high]} for whole ones" in err
    assert run(write(DIGITS), "--out", out, "--tensorboard") == 2
    assert "--tensorboard: a search does not log to TensorBoard" in capsys.readouterr().err


BACKEND_SPACE = DIGITS.replace('        "layers.1.Dense.units": {int: [4, 32], log: true}\n',
                               '        "training.keras_backend": {choice: [jax]}\n'
                               '        "layers.1.Dense.units": {int: [4, 32], log: true}\n')


@needs_jax
def test_a_space_over_backends_gives_processes_only_to_the_backends_it_chooses(write):
    from factory.build.keras_setup import imported_backend
    from factory.search.study import _keras_backends

    # the model's own backend (tensorflow) is no trial's: it gets no process, and the driver takes jax
    # (unless Keras already runs in this process, as after other tests: then the trials go to workers)
    assert _keras_backends(load(write(BACKEND_SPACE)), "mlp") == (("jax",), imported_backend() or "jax")
    both = load(write(BACKEND_SPACE.replace("choice: [jax]", "choice: [jax, tensorflow]")))
    assert _keras_backends(both, "mlp")[0] == ("jax", "tensorflow")


def test_a_space_backend_not_installed_is_located_at_its_value(write, monkeypatch):
    from factory.build import keras_setup
    from factory.errors import SpecError
    from factory.search.study import _keras_backends

    monkeypatch.setattr(keras_setup, "installed", lambda backend: backend != "torch")
    path = write(BACKEND_SPACE.replace("choice: [jax]", "choice: [jax, torch]"))
    with pytest.raises(SpecError) as e:
        _keras_backends(load(path), "mlp")
    assert [str(i) for i in e.value.issues] == [
        f"{path}:17:50: models.mlp.search.space.training.keras_backend.choice[1]: Keras backend torch is not "
        "installed here: pip install torch (its CPU build: --index-url https://download.pytorch.org/whl/cpu) "
        "(see README, Backends)"]
