"""Mistakes between a model and its data are located errors before any training, with the fix."""

import numpy as np
import pytest

from factory.build.checks import check_against_data
from factory.data import DEBIAN_FASHION_MNIST, Dataset, load_data
from factory.errors import SpecError, format_loc
from factory.spec.loader import load
from tests.conftest import EXPERIMENTS

HEAD = """\
name: mistake
data: {dataset: %s}
compile: {optimizer: adam, loss: %s}
models:
  A:
"""

# (name, dataset, loss, the model's lines, the expected located message after "<path>:")
CASES = [
    ("input_shape", "digits", "sparse_categorical_crossentropy", """\
    input_shape: [28, 28]
    layers:
      - Flatten
      - Dense: {units: 10, activation: softmax}
""", "6:18: models.A.input_shape: model A takes inputs of shape [28, 28], but the data's examples have "
     "shape [8, 8] (scikit-learn's digits); write `input_shape: [8, 8]` or leave it out to take the data's"),
    ("units", "digits", "sparse_categorical_crossentropy", """\
    layers:
      - Flatten
      - Dense: {units: 16, activation: relu}
      - Dense: {units: 5, activation: softmax}
""", "9:24: models.A.layers[2].Dense.units: model A's output has 5 values per example, but the labels go "
     "up to 9 (10 classes): write `units: 10`"),
    ("loss", "digits", "categorical_crossentropy", """\
    layers:
      - Flatten
      - Dense: {units: 10, activation: softmax}
""", "6:5: models.A.compile.loss: categorical_crossentropy takes one-hot labels, but the labels are class "
     "numbers (0 to 9): use `loss: sparse_categorical_crossentropy`"),
    ("channel", "images.npz", "sparse_categorical_crossentropy", """\
    layers:
      - Conv2D: {filters: 4, kernel_size: 3}
      - Flatten
      - Dense: {units: 10, activation: softmax}
""", "7:9: models.A.layers[0]: model A cannot be built at layer 0 (Conv2D): it needs a channel axis that "
     "its input [28, 28] lacks; write `input_shape: [28, 28, 1]` on the model, or put "
     "`Reshape: [28, 28, 1]` before it"),
    ("flatten", "digits", "sparse_categorical_crossentropy", """\
    layers:
      - Dense: {units: 16, activation: relu}
      - Dense: {units: 10, activation: softmax}
""", "7:9: models.A.layers[0]: model A's output has shape (None, 8, 10), but "
     "sparse_categorical_crossentropy needs one row of 10 per example, (None, 10): add a Flatten as the "
     "first layer (the layers from there on act on the last axis only)"),
]


@pytest.fixture
def spec_file(write, tmp_path):
    """spec_file(case) -> the path of the case's experiment, with a 28x28 image file beside it."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "images.npz", x_train=rng.random((20, 28, 28)), y_train=np.arange(20) % 10,
             x_test=rng.random((10, 28, 28)), y_test=np.arange(10))

    def _spec_file(case):
        name, dataset, loss, model, _ = case
        return write(HEAD % (dataset, loss) + model, name=f"{name}.yaml")

    return _spec_file


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_show_reports_the_mistake_located_with_its_fix(case, spec_file, cli):
    path = spec_file(case)
    code, out, err = cli("show", path)
    assert code == 2 and "Traceback" not in err
    assert err.splitlines() == [f"{path}:{case[4]}"]
    assert out == ""  # nothing built or summarised


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_check_against_data_finds_the_mistake(case, spec_file):
    loaded = load(spec_file(case))
    experiment = loaded.experiment.resolved()
    data = load_data(experiment.data, loaded.path.parent)
    issues = check_against_data("A", experiment.models["A"], data)
    assert [str(i) for i in loaded.locate(SpecError(issues)).issues] == [f"{loaded.path}:{case[4]}"]


def test_the_fixes_the_messages_give_are_accepted(write, tmp_path):
    fixed = {
        "input_shape": "    input_shape: [8, 8]\n    layers: [Flatten, {Dense: {units: 10, activation: softmax}}]\n",
        "channel_input_shape": "    input_shape: [28, 28, 1]\n    layers: [{Conv2D: {filters: 2, kernel_size: 3}}, "
                               "Flatten, {Dense: 10}]\n",
        "channel_reshape": "    layers: [{Reshape: [28, 28, 1]}, {Conv2D: {filters: 2, kernel_size: 3}}, Flatten, "
                           "{Dense: 10}]\n",
        "flatten": "    layers: [Flatten, {Dense: 16}, {Dense: 10}]\n",
    }
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "images.npz", x_train=rng.random((4, 28, 28)), y_train=np.arange(4),
             x_test=rng.random((2, 28, 28)), y_test=np.arange(2) + 8)
    for name, model in fixed.items():
        dataset = "images.npz" if name.startswith("channel") else "digits"
        loaded = load(write(HEAD % (dataset, "sparse_categorical_crossentropy") + model, name=f"{name}.yaml"))
        experiment = loaded.experiment.resolved()
        data = load_data(experiment.data, loaded.path.parent)
        assert check_against_data("A", experiment.models["A"], data) == [], name


def test_one_hot_labels_need_a_categorical_loss_and_as_many_outputs(write):
    loaded = load(write(HEAD % ("digits", "sparse_categorical_crossentropy")
                        + "    layers: [Flatten, {Dense: 10}]\n"))
    spec = loaded.experiment.resolved().models["A"]
    eye = np.eye(4, dtype=np.float32)
    data = Dataset(np.zeros((4, 8, 8), np.float32), eye, np.zeros((4, 8, 8), np.float32), eye, "one-hot")
    assert [i.message for i in check_against_data("A", spec, data)] == [
        "sparse_categorical_crossentropy takes class numbers, but the labels are rows of 4: use "
        "`loss: categorical_crossentropy`"]
    categorical = spec.model_copy(update={"compile": spec.compile.model_copy(update={"loss": "categorical_crossentropy"})})
    assert [i.message for i in check_against_data("A", categorical, data)] == [
        "model A's output has 10 values per example, but the labels are one-hot rows of 4: write `units: 4`"]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_the_experiments_fit_their_data(path):
    loaded = load(path)
    experiment = loaded.experiment.resolved()
    if experiment.data.dataset == "fashion_mnist" and not DEBIAN_FASHION_MNIST.is_dir():
        pytest.skip(f"Fashion-MNIST is not installed in {DEBIAN_FASHION_MNIST}")
    data = load_data(experiment.data, loaded.path.parent)
    for name, spec in experiment.models.items():
        assert check_against_data(name, spec, data) == [], name


def test_show_without_the_data_here_checks_what_it_can_and_downloads_nothing(write, cli, monkeypatch, tmp_path):
    from factory import data as data_module

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACTORY_DATA_DIR", raising=False)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    from factory.build.keras_setup import import_keras

    def download():
        raise AssertionError("show downloaded the data")

    monkeypatch.setattr(import_keras().datasets.fashion_mnist, "load_data", download)
    path = write("name: x\ndata: {dataset: fashion_mnist}\ncompile: {loss: sparse_categorical_crossentropy}\n"
                 "models: {A: {input_shape: [28, 28], layers: [Flatten, {Dense: 10}]}}\n")
    code, out, err = cli("show", path)
    assert code == 0 and "model A: 7,850 parameters" in out
    assert err == ("note: fashion_mnist is not on this machine: models not checked against the data "
                   "(`run` downloads it and checks them)\n")


def test_show_reports_every_model_s_mistakes_at_once(write, cli):
    path = write("""\
    name: two
    data: {dataset: digits}
    compile: {loss: sparse_categorical_crossentropy}
    models:
      A: {layers: [Flatten, {Dense: 5}]}
      B: {layers: [Flatten, {Dense: 1000000000000}, {Dense: 10}]}
    """)
    code, out, err = cli("show", path)
    lines = err.splitlines()
    assert code == 2 and len(lines) == 2 and out == ""
    assert lines[0].startswith(f"{path}:5:33: models.A.layers[1].Dense.units: model A's output has 5 values")
    assert lines[1].startswith(f"{path}:6:33: models.B.layers[1].Dense.units: model B would have 75,000,000,000,010 "
                               "parameters")


def test_labels_that_are_not_class_numbers_are_named_so(write):
    loaded = load(write(HEAD % ("digits", "sparse_categorical_crossentropy") + "    layers: [Flatten, {Dense: 1}]\n"))
    spec = loaded.experiment.resolved().models["A"]
    y = np.array([0.5, 1.5], np.float32)
    data = Dataset(np.zeros((2, 8, 8), np.float32), y, np.zeros((2, 8, 8), np.float32), y, "regression")
    assert [i.message for i in check_against_data("A", spec, data)] == [
        "sparse_categorical_crossentropy takes class numbers, but the labels are numbers that are not whole: "
        "use a regression loss (mse)"]


def test_check_models_is_every_mistake_of_every_model(write):
    from factory.build.checks import check_models

    loaded = load(write("""\
    name: two
    data: {dataset: digits}
    compile: {loss: sparse_categorical_crossentropy}
    models:
      A: {layers: [Flatten, {Dense: 5}]}
      B: {layers: [Flatten, {Dense: 1000000000000}, {Dense: 10}]}
      C: {layers: [Flatten, {Dense: 10}]}
    """))
    experiment = loaded.experiment.resolved()
    issues = check_models(experiment, load_data(experiment.data))
    assert [format_loc(i.loc) for i in issues] == ["models.A.layers[1].Dense.units", "models.B.layers[1].Dense.units"]
    assert "model B would have 75,000,000,000,010 parameters" in issues[1].message


@pytest.fixture
def no_data_here(monkeypatch, tmp_path):
    """No built-in set on this machine; returns the list of downloads `show` asked Keras for."""
    from factory import data as data_module
    from factory.build.keras_setup import import_keras

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACTORY_DATA_DIR", raising=False)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    data_module._cache.clear()
    downloads = []

    def download():
        downloads.append("mnist")
        raise OSError("network unreachable")

    monkeypatch.setattr(import_keras().datasets.mnist, "load_data", download)
    return downloads


def test_show_downloads_only_for_a_model_without_an_input_shape_and_locates_a_failure(write, cli, no_data_here):
    path = write("name: x\ndata: {dataset: mnist}\ncompile: {loss: sparse_categorical_crossentropy}\n"
                 "models: {A: {layers: [Flatten, {Dense: 10}]}}\n")
    code, out, err = cli("show", path)
    assert no_data_here == ["mnist"]  # README: show downloads the data only when a model needs its shape
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith(f"{path}:2:17: data.dataset: MNIST is not on this machine and could not be downloaded "
                          "(OSError: network unreachable)")


def test_show_with_input_shapes_downloads_nothing(write, cli, no_data_here):
    path = write("name: x\ndata: {dataset: mnist}\ncompile: {loss: sparse_categorical_crossentropy}\n"
                 "models: {A: {input_shape: [28, 28], layers: [Flatten, {Dense: 10}]}}\n")
    code, out, err = cli("show", path)
    assert no_data_here == [] and code == 0 and "model A: 7,850 parameters" in out


def test_show_reports_a_bad_data_file_even_when_every_input_shape_is_given(write, cli, tmp_path):
    np.savez(tmp_path / "text.npz", x_train=np.array([["a", "b"]] * 4), y_train=np.arange(4),
             x_test=np.zeros((2, 2)), y_test=np.arange(2))
    path = write("name: x\ndata: {dataset: text.npz}\ncompile: {loss: mse}\n"
                 "models: {A: {input_shape: [2], layers: [{Dense: 1}]}}\n")
    code, out, err = cli("show", path)
    assert code == 2 and out == ""
    assert err.splitlines() == [f"{path}:2:17: data.dataset: {tmp_path / 'text.npz'}: x_train holds text (<U1), "
                                "not numbers"]
