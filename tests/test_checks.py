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
    if experiment.data.dataset.endswith("/") and not (loaded.path.parent / experiment.data.dataset).is_dir():
        pytest.skip(f"{experiment.data.dataset} is made by a script (see the file's comment)")
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


# Losses against labels and outputs on digits (class numbers 0 to 9): (name, loss, layers, message after "<path>:")
LOSS_CASES = [
    ("bce_one_unit", "binary_crossentropy", "[Flatten, {Dense: {units: 1, activation: sigmoid}}]",
     "6:5: models.A.compile.loss: binary_crossentropy takes labels 0 or 1 (or probabilities between), but the "
     "labels are class numbers (0 to 9): use `loss: sparse_categorical_crossentropy`"),
    ("bce_softmax", "binary_focal_crossentropy", "[Flatten, {Dense: {units: 10, activation: softmax}}]",
     "6:5: models.A.compile.loss: binary_focal_crossentropy takes labels 0 or 1 (or probabilities between), but "
     "the labels are class numbers (0 to 9): use `loss: sparse_categorical_crossentropy`"),
    ("hinge", "squared_hinge", "[Flatten, {Dense: 1}]",
     "6:5: models.A.compile.loss: squared_hinge takes labels -1 or 1 (or 0 or 1), but the labels are class "
     "numbers (0 to 9): use `loss: sparse_categorical_crossentropy`"),
    ("mse_softmax", "mse", "[Flatten, {Dense: {units: 10, activation: softmax}}]",
     "6:39: models.A.layers[1].Dense.units: model A's output has 10 values per example, but mse compares it "
     "with one label per example: write `units: 1` for one value per example, or use "
     "`loss: sparse_categorical_crossentropy` for classes"),
    ("mae_no_flatten", "mae", "[{Dense: 1}]",
     "6:14: models.A.layers[0]: model A's output has shape (None, 8, 1), but mae compares it with one row of 1 "
     "per example, (None, 1): add a Flatten as the first layer (the layers from there on act on the last "
     "axis only)"),
]


@pytest.mark.parametrize("case", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_a_loss_that_does_not_fit_the_labels_or_the_output_is_located_with_its_fix(case, write, cli):
    name, loss, layers, message = case
    path = write(HEAD % ("digits", loss) + f"    layers: {layers}\n", name=f"{name}.yaml")
    code, out, err = cli("show", path)
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.splitlines() == [f"{path}:{message}"]


def test_regression_labels_from_a_csv_are_not_class_numbers(write, cli, tmp_path):
    """A CSV's labels that are not whole stay so, and a class loss says so (they were cut to 1, 1, 0, ...)."""
    (tmp_path / "reg.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i * 0.37:.2f}\n" for i in range(10)))
    path = write(HEAD % ("reg.csv", "sparse_categorical_crossentropy") + "    layers: [{Dense: 10}]\n")
    code, out, err = cli("show", path)
    assert code == 2 and err.splitlines() == [
        f"{path}:6:5: models.A.compile.loss: sparse_categorical_crossentropy takes class numbers, but the labels "
        "are numbers that are not whole: use a regression loss (mse)"]


def _data(y, x_shape=(4,)):
    """A Dataset whose training and test labels are both `y`."""
    y = np.asarray(y)
    x = np.zeros((len(y), *x_shape), np.float32)
    return Dataset(x, y, x, y, "labels")


def _model(write, loss, layers):
    loaded = load(write(HEAD % ("digits", loss) + f"    layers: {layers}\n"))
    return loaded.experiment.resolved().models["A"]


ONE_HOT = np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]
# Correct models: (loss, layers, labels); each is accepted, and Keras trains it.
ACCEPTED = [
    ("categorical_crossentropy", "[{Dense: {units: 3, activation: softmax}}]", ONE_HOT),
    ("kl_divergence", "[{Dense: {units: 3, activation: softmax}}]", ONE_HOT),
    ("binary_crossentropy", "[{Dense: {units: 1, activation: sigmoid}}]", [0, 1, 1, 0]),
    ("bce", "[{Dense: {units: 1, activation: sigmoid}}]", [[0.0], [1.0], [1.0], [0.0]]),
    ("binary_crossentropy", "[{Dense: {units: 1, activation: sigmoid}}]", [0.1, 0.9, 0.5, 0.0]),
    ("binary_crossentropy", "[{Dense: {units: 3, activation: sigmoid}}]", [[0, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 1]]),
    ("hinge", "[{Dense: {units: 1, activation: tanh}}]", [-1, 1, 1, -1]),
    ("squared_hinge", "[{Dense: 1}]", [0, 1, 1, 0]),
    ("mse", "[{Dense: 1}]", np.array([1.2011, 1.7818, -0.25, 3.5], np.float32)),
    ("mean_absolute_error", "[{Dense: 8}, {Dense: 1}]", [[3], [1], [2], [7]]),
    ("huber", "[{Dense: 2}]", np.array([[0.5, 1.5], [1.0, 2.0], [0.0, 0.0], [3.0, 1.0]], np.float32)),
    ("sparse_categorical_crossentropy", "[{Dense: {units: 2, activation: softmax}}]", [0, 1, 1, 0]),
    # a class number at each of 4 positions: the output scores every position, (None, 4, 3)
    ("sparse_categorical_crossentropy", "[{Reshape: [4, 1]}, {Dense: 4}, {Dense: {units: 3, activation: softmax}}]",
     [[0, 1, 2, 1], [2, 2, 0, 1], [1, 0, 0, 2], [0, 0, 1, 1]]),
]


@pytest.mark.parametrize("loss,layers,y", ACCEPTED, ids=[f"{c[0]}-{i}" for i, c in enumerate(ACCEPTED)])
def test_a_correct_model_for_its_loss_is_accepted_and_trains(write, loss, layers, y):
    from factory.build.compiler import build_model

    spec = _model(write, loss, layers)
    data = _data(y)
    assert check_against_data("A", spec, data) == []
    model = build_model("A", spec, data.input_shape)
    model.compile(optimizer="sgd", loss=loss)
    history = model.fit(data.x_train, data.y_train, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("loss,layers,y,message", [
    ("binary_crossentropy", "[{Dense: {units: 3, activation: sigmoid}}]", [0, 1, 1, 0],
     "model A's output has 3 values per example, but binary_crossentropy compares it with one label per example: "
     "write `units: 1` for one value per example, or use `loss: sparse_categorical_crossentropy` for classes"),
    ("mse", "[{Dense: 3}]", [0.5, 1.5, 2.0, 0.1],
     "model A's output has 3 values per example, but mse compares it with one label per example: write "
     "`units: 1` for one value per example"),
    ("poisson", "[{Dense: 1}]", ONE_HOT,
     "model A's output has 1 value per example, but poisson compares it with labels of 3 values per example: "
     "write `units: 3`"),
    ("binary_crossentropy", "[{Dense: 1}]", [-1, 1, 1, -1],
     "binary_crossentropy takes labels 0 or 1 (or probabilities between), but the labels are whole numbers "
     "from -1 to 1: use `loss: hinge`"),
    ("hinge", "[{Dense: 1}]", [0.5, 1.5, 2.0, 0.1],
     "hinge takes labels -1 or 1 (or 0 or 1), but the labels are numbers that are not whole: use a regression "
     "loss (mse)"),
    ("sparse_categorical_crossentropy", "[{Dense: 2}]", [-1, 1, 1, -1],
     "sparse_categorical_crossentropy takes class numbers, but the labels are whole numbers from -1 to 1: use "
     "`loss: hinge`"),
    ("sparse_categorical_crossentropy", "[{Dense: 4}, {Dense: {units: 3, activation: softmax}}]",
     [[0, 1, 2, 1], [2, 2, 0, 1], [1, 0, 0, 2], [0, 0, 1, 1]],
     "model A's output has shape (None, 3), but the labels are class numbers at each of (4,) positions (0 to 2), "
     "which sparse_categorical_crossentropy compares with a row of 3 scores per position, (None, 4, 3): make the "
     "last layers give that shape"),
    ("hinge", "[{Dense: 1}]", [-1, 0, 1, 1],
     "hinge takes labels -1 or 1 (or 0 or 1), but the labels are whole numbers from -1 to 1: use a regression "
     "loss (mse)"),
])
def test_labels_and_outputs_that_do_not_fit_the_loss(write, loss, layers, y, message):
    spec = _model(write, loss, layers)
    assert [i.message for i in check_against_data("A", spec, _data(y))] == [message]


def test_every_loss_is_in_one_group_of_the_checks():
    from factory.build import checks
    from schemas.names import LOSSES

    groups = [checks.SPARSE_LOSSES, checks.ONE_HOT_LOSSES, checks.BINARY_LOSSES, checks.HINGE_LOSSES,
              checks.POINTWISE_LOSSES, checks.UNCHECKED_LOSSES]
    assert sorted(loss for group in groups for loss in group) == sorted(LOSSES)


@pytest.mark.parametrize("model,message", [
    ("    layers: [{Input: [28, 28]}, Flatten, {Dense: {units: 10, activation: softmax}}]\n",
     "6:22: models.A.layers[0].Input: model A takes inputs of shape [28, 28], but the data's examples have shape "
     "[8, 8] (scikit-learn's digits); write `Input: [8, 8]` or leave the Input out to take the data's"),
    ("    layers: [{Flatten: {input_shape: [28, 28]}}, {Dense: {units: 10, activation: softmax}}]\n",
     "6:38: models.A.layers[0].Flatten.input_shape: model A takes inputs of shape [28, 28], but the data's "
     "examples have shape [8, 8] (scikit-learn's digits); write `input_shape: [8, 8]` or leave it out to take "
     "the data's"),
])
def test_the_input_shape_fix_is_written_where_the_shape_was_declared(write, cli, model, message):
    path = write(HEAD % ("digits", "sparse_categorical_crossentropy") + model)
    code, out, err = cli("show", path)
    assert code == 2 and err.splitlines() == [f"{path}:{message}"]


@pytest.mark.parametrize("first,fix", [
    ("{Input: [28, 28]}, ", "write `Input: [28, 28, 1]`, or put `Reshape: [28, 28, 1]` before it"),
    ("", "write `input_shape: [28, 28, 1]` on the model, or put `Reshape: [28, 28, 1]` before it"),
])
def test_the_channel_fix_is_written_where_the_shape_was_declared(write, spec_file, first, fix):
    spec_file(CASES[0])  # writes images.npz (28x28) beside the spec
    loaded = load(write(HEAD % ("images.npz", "sparse_categorical_crossentropy")
                        + f"    layers: [{first}{{Conv2D: {{filters: 2, kernel_size: 3}}}}, Flatten, {{Dense: 10}}]\n"))
    spec = loaded.experiment.resolved().models["A"]
    data = load_data(loaded.experiment.resolved().data, loaded.path.parent)
    [issue] = check_against_data("A", spec, data)
    assert issue.message.endswith(f"lacks; {fix}")


def test_the_fixes_for_an_input_layer_are_accepted(write, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "images.npz", x_train=rng.random((4, 28, 28)), y_train=np.arange(4),
             x_test=rng.random((2, 28, 28)), y_test=np.arange(2) + 8)
    for dataset, layers in [("digits", "[{Input: [8, 8]}, Flatten, {Dense: 10}]"),
                            ("images.npz", "[{Input: [28, 28, 1]}, {Conv2D: {filters: 2, kernel_size: 3}}, Flatten, "
                                           "{Dense: 10}]"),
                            ("images.npz", "[{Input: [28, 28]}, {Reshape: [28, 28, 1]}, "
                                           "{Conv2D: {filters: 2, kernel_size: 3}}, Flatten, {Dense: 10}]")]:
        loaded = load(write(HEAD % (dataset, "sparse_categorical_crossentropy") + f"    layers: {layers}\n"))
        experiment = loaded.experiment.resolved()
        data = load_data(experiment.data, loaded.path.parent)
        assert check_against_data("A", experiment.models["A"], data) == [], layers


def test_an_input_dtype_the_data_cannot_feed_is_located_before_training(write, cli, tmp_path):
    """Keras would fail only in epoch 1: a string input on numbers, a numeric input on a folder of text."""
    from tests.test_folders import make_texts

    path = write("name: x\ndata: {dataset: digits, scale: false, train_size: 50}\n"
                 "compile: {loss: sparse_categorical_crossentropy}\n"
                 "models:\n  s:\n    input_dtype: string\n    layers: [Flatten, Dense: 10]\n"
                 "  i:\n    input_dtype: int32\n    layers: [Flatten, Dense: 10]\n")
    code, out, err = cli("show", path)
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[0] == (f"{path}:6:18: models.s.input_dtype: model s: a string input, but scikit-learn's "
                                   "digits holds numbers; leave the dtype out or give a numeric one")
    assert "models.i" not in err  # ids from numbers: fine
    make_texts(tmp_path / "reviews")
    path = write("name: x\ndata: {dataset: reviews/}\ncompile: {loss: sparse_categorical_crossentropy}\n"
                 "models:\n  t:\n    input_dtype: float32\n"
                 "    layers: [TextVectorization: {max_tokens: 20, output_sequence_length: 4}, Dense: 2]\n", "t.yaml")
    code, out, err = cli("show", path)
    assert code == 2 and "Traceback" not in err
    assert f"{path}:6:18: models.t.input_dtype: model t: a float32 input, but " in err
    assert "holds text; write `string` (a lookup or TextVectorization layer turns text into numbers)" in err


def test_a_noise_shape_that_does_not_fit_the_input_is_located_before_training(write, cli):
    """Keras would fail only in epoch 1: one entry per axis (batch first), each null, 1 or the axis length."""
    path = write("name: x\ndata: {dataset: digits, train_size: 50}\ncompile: {loss: sparse_categorical_crossentropy}\n"
                 "models:\n"
                 "  rank:\n    layers: [Flatten, Dense: 32, Dropout: {rate: 0.5, noise_shape: [null, 1, 1]}, Dense: 10]\n"
                 "  length:\n    layers: [Flatten, Dense: 32, Dropout: {rate: 0.5, noise_shape: [null, 5]}, Dense: 10]\n"
                 "  ok:\n    layers: [Flatten, Dense: 32, Dropout: {rate: 0.5, noise_shape: [1, 32]}, Dense: 10]\n")
    code, out, err = cli("show", path)
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[:2] == [
        f"{path}:6:68: models.rank.layers[2].Dropout.noise_shape: model rank: noise_shape has 3 entries, but the "
        "layer's input has 2 axes (shape [null, 32], the batch axis first): give one per axis",
        f"{path}:8:75: models.length.layers[2].Dropout.noise_shape[1]: model length: noise_shape[1] is 5, but that "
        "axis of the layer's input is 32 (shape [null, 32]); write null, 1 (one mask value along the axis) or 32"]
    assert "models.ok" not in err


def test_an_input_with_a_dtype_and_no_array_is_named_as_missing(write, cli, tmp_path):
    """The dtype check looks only at arrays that are there; a missing one is the named-arrays check's."""
    np.savez(tmp_path / "two.npz", x_train_ids=np.zeros((8, 3), np.int64), x_test_ids=np.zeros((2, 3), np.int64),
             y_train=np.zeros(8, np.int64), y_test=np.zeros(2, np.int64))
    path = write("name: x\ndata: {dataset: two.npz, scale: false}\ncompile: {loss: sparse_categorical_crossentropy}\n"
                 "models:\n  m:\n    inputs: {ids: {shape: [3], dtype: int64}, extra: {shape: [2], dtype: float16}}\n"
                 "    layers: [Concatenate: {from: [ids, extra]}, Dense: 2]\n")
    code, out, err = cli("show", path)
    assert code == 2 and "Traceback" not in err and "x_train_extra" in err
