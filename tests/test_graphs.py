"""Graphs: residual, parallel, `from:`, several inputs and outputs build what the functional API builds by hand."""

from pathlib import Path

import numpy as np
import pytest

from factory.build.compiler import build_model, dry_build
from factory.build.keras_setup import import_keras
from factory.spec.loader import load
from tests.conftest import ROOT
from tests.test_compiler import configs  # each layer's class and config, names left out

keras = import_keras()
L = keras.layers
EXAMPLES = ROOT / "tests" / "graphs" / "issue11_examples.yaml"


def wiring(model):
    """Which layers (by position in model.layers) each layer takes: the graph's connectivity."""
    position = {id(layer): i for i, layer in enumerate(model.layers)}
    out = []
    for layer in model.layers:
        node = layer._inbound_nodes[0]
        out.append([position[id(t._keras_history[0])] for t in node.input_tensors])
    return out


def resnet_tiny_by_hand():
    x = inputs = keras.Input(shape=(28, 28, 1))
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(32, 3, padding="same")(x)
    y = L.BatchNormalization()(y)
    y = L.ReLU()(y)
    y = L.Conv2D(32, 3, padding="same")(y)
    x = L.Add()([x, y])
    y = L.Conv2D(64, 3, strides=2, padding="same")(x)
    s = L.Conv2D(64, 1, strides=2)(x)
    x = L.Add()([s, y])
    a = L.Conv2D(16, 1, padding="same")(x)
    b = L.Conv2D(16, 3, padding="same")(x)
    c = L.MaxPooling2D(pool_size=3, strides=1, padding="same")(x)
    x = L.Concatenate()([a, b, c])
    x = L.GlobalAveragePooling2D()(x)
    outputs = L.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def two_inputs_by_hand():
    image, extra = keras.Input(shape=(28, 28), name="image"), keras.Input(shape=(4,), name="extra")
    features = L.Dense(64, activation="relu", name="features")(L.Flatten()(image))
    x = L.Concatenate()([features, extra])
    label = L.Dense(10, activation="softmax", name="label")(x)
    size = L.Dense(1, name="size")(features)
    return keras.Model({"image": image, "extra": extra}, [label, size])  # `outputs: [label, size]`, in that order


BY_HAND = {"resnet_tiny": (resnet_tiny_by_hand, {"input": (28, 28, 1)}),
           "two_inputs": (two_inputs_by_hand, {"image": (28, 28), "extra": (4,)})}


def example(name):
    return load(EXAMPLES).experiment.resolved().models[name]


@pytest.mark.parametrize("name", list(BY_HAND))
def test_issue_examples_build_the_hand_written_functional_models(name):
    hand_written, shapes = BY_HAND[name]
    keras.utils.set_random_seed(3)
    model = build_model(name, example(name))
    keras.utils.set_random_seed(3)
    hand = hand_written()
    assert not isinstance(model, keras.Sequential)
    assert configs(model) == configs(hand)
    assert wiring(model) == wiring(hand)
    assert model.count_params() == hand.count_params()
    for mine, theirs in zip(model.get_weights(), hand.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    rng = np.random.default_rng(0)
    x = {k: rng.random((3, *s), dtype=np.float32) for k, s in shapes.items()}
    x = x["input"] if list(x) == ["input"] else x
    mine, theirs = model.predict(x, verbose=0), hand.predict(x, verbose=0)
    for a, b in zip(*(v if isinstance(v, list) else [v] for v in (mine, theirs)), strict=True):  # outputs in order
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_dry_build_of_a_graph_gives_figures_per_spec_layer():
    dry = dry_build("resnet_tiny", example("resnet_tiny"), [28, 28, 1])
    assert dry.params == resnet_tiny_by_hand().count_params() == sum(dry.layer_params)
    assert dry.layer_params[1] == 2 * (9 * 32 * 32 + 32) + 4 * 32  # two convs and a BatchNormalization
    assert dry.layer_shapes[2] == ((None, 28, 28, 32), (None, 14, 14, 64))
    assert dry.output_shape == (None, 10)
    two = dry_build("two_inputs", example("two_inputs"), {"image": [28, 28], "extra": [4]})
    assert two.output_shapes == {"label": (None, 10), "size": (None, 1)}


def located(spec_errors_or_issues):
    return [str(i) for i in spec_errors_or_issues]


WIRING_MISTAKES = """\
models:
  unknown:
    inputs: {image: [8, 8], extra: [4]}
    layers:
      - Flatten: {from: imag}
      - Dense: {units: 64, name: features}
      - Concatenate: {from: [featurs, extra]}
      - Dense: {units: 10}
  cycle:
    layers:
      - Dense: {units: 4, name: a, from: c}
      - Dense: {units: 4, name: b}
      - Dense: {units: 4, name: c}
      - Dense: {units: 4, from: b}
  unused:
    inputs: {image: [8, 8], extra: [4]}
    layers:
      - Flatten: {from: image}
      - Dense: {units: 64, name: features}
      - Dense: {units: 10, name: label}
      - Dense: {units: 1, from: features, name: size}
    outputs: [label, sise]
  unused_layer:
    inputs: {image: [8, 8]}
    layers:
      - Flatten: {from: image}
      - Dense: {units: 64, name: features}
      - Dense: {units: 10, name: label}
      - Dense: {units: 1, from: features, name: size}
  no_input:
    inputs: {image: [8, 8], extra: [4]}
    layers:
      - Flatten
      - Concatenate: {from: [extra]}
  scoped:
    layers:
      - Dense: {units: 4, name: a}
      - residual: {layers: [Dense: {units: 4, name: x}, Dense: {units: 4, from: a}], name: r}
      - Dense: {units: 4, from: x}
"""


def test_wiring_mistakes_are_located_with_did_you_mean_at_validation(write):
    from tests.conftest import SPEC_HEAD, spec_errors

    path = write(SPEC_HEAD + WIRING_MISTAKES)
    assert spec_errors(path) == [
        f"{path}:8:25: models.unknown.layers[0].Flatten.from: `from` names 'imag', which is no layer or input "
        "here; did you mean 'image'?",
        f"{path}:10:30: models.unknown.layers[2].Concatenate.from[0]: `from` names 'featurs', which is no layer "
        "or input here; did you mean 'features'?",
        f"{path}:14:9: models.cycle.layers[0]: the layers take each other's outputs in a cycle (each feeds the "
        "next): 'b' -> 'c' -> 'a' -> 'b'",
        f"{path}:25:22: models.unused.outputs[1]: `outputs` names 'sise', which is no layer or input here; "
        "did you mean 'size'?",
        f"{path}:31:9: models.unused_layer.layers[2]: the output of 'label' is not used: no layer takes it "
        "(`from:`) and `outputs` does not name it",
        f"{path}:36:9: models.no_input.layers[0]: this layer takes no input: the model has several inputs "
        "(image, extra); say which with `from:`",
        f"{path}:37:22: models.no_input.layers[1].Concatenate: Concatenate merges two or more inputs; name them "
        "with `from: [a, b]`",
        f"{path}:42:33: models.scoped.layers[2].Dense.from: `from` names 'x', which is named inside the residual "
        "at layers[1]: such a name is seen only inside it; outside, read the residual's output by its name "
        "(`from: r`)",
    ]


def test_an_unused_input_is_located_at_the_input(write):
    from tests.conftest import SPEC_HEAD, spec_errors

    path = write(SPEC_HEAD + """\
models:
  A:
    inputs: {image: [8, 8], extra: [4]}
    layers: [Flatten: {from: image}, Dense: 10]
""")
    assert spec_errors(path) == [f"{path}:6:36: models.A.inputs.extra: input 'extra' is not used: no layer "
                                 "takes it (`from: extra`)"]


SHAPE_MISTAKES = """\
models:
  skip:
    input_shape: [8, 8, 1]
    layers:
      - Conv2D: {filters: 8, kernel_size: 3, padding: same}
      - residual:
          layers: [Conv2D: {filters: 16, kernel_size: 3, strides: 2, padding: same}]
      - GlobalAveragePooling2D
      - Dense: 10
  merge:
    inputs: {a: [8, 8], b: [4]}
    layers:
      - Add: {from: [a, b]}
      - Flatten
      - Dense: 10
  branches:
    input_shape: [8, 8, 1]
    layers:
      - parallel:
          branches:
            - [Conv2D: {filters: 4, kernel_size: 3}]
            - [Conv2D: {filters: 4, kernel_size: 3, padding: same}]
      - Flatten
      - Dense: 10
"""


def test_shape_mistakes_of_a_graph_are_found_by_the_dry_build_at_the_construct(write):
    from factory.build.checks import check_models
    from factory.errors import SpecError
    from tests.conftest import SPEC_HEAD

    path = write(SPEC_HEAD + SHAPE_MISTAKES)
    loaded = load(path)
    issues = loaded.locate(SpecError(check_models(loaded.experiment.resolved(), None))).issues
    assert located(issues) == [
        f"{path}:9:9: models.skip.layers[1]: model skip: this residual's skip path has shape (None, 8, 8, 8) but "
        "its body's output has shape (None, 4, 4, 16), and `merge: add` needs one shape; give it a `shortcut:` "
        "that makes the skip path's shape (None, 4, 4, 16) (e.g. a Conv2D with kernel_size 1 and the body's "
        "filters and strides)",
        f"{path}:16:9: models.merge.layers[0]: model merge cannot merge at Add: it gets shapes (None, 8, 8) and "
        "(None, 4), which do not fit (Inputs have incompatible shapes. Received shapes (8, 8) and (4,))",
        f"{path}:22:9: models.branches.layers[0]: model branches cannot merge its branches: Concatenate gets "
        "shapes (None, 6, 6, 4) and (None, 8, 8, 4), which do not fit (A `Concatenate` layer requires inputs "
        "with matching shapes except for the concatenation axis. Received: input_shape=[(None, 6, 6, 4), "
        "(None, 8, 8, 4)])",
    ]


def test_every_merging_layer_builds_as_written_by_hand(write):
    from tests.conftest import SPEC_HEAD

    path = write(SPEC_HEAD + """\
models:
  A:
    inputs: {a: [6], b: [6]}
    layers:
      - Subtract: {from: [a, b], name: sub}
      - Multiply: {from: [a, b], name: mul}
      - Average: {from: [a, b], name: avg}
      - Maximum: {from: [a, b], name: max}
      - Minimum: {from: [sub, mul], name: min}
      - Dot: {from: [avg, max], axes: 1, normalize: true, name: dot}
      - Add: {from: [min, max], name: add}
      - Concatenate: {axis: -1, from: [dot, add]}
      - Dense: 3
""")
    keras.utils.set_random_seed(1)
    model = build_model("A", load(path).experiment.resolved().models["A"])
    keras.utils.set_random_seed(1)
    a, b = keras.Input(shape=(6,), name="a"), keras.Input(shape=(6,), name="b")
    sub, mul = L.Subtract(name="sub")([a, b]), L.Multiply(name="mul")([a, b])
    avg, mx = L.Average(name="avg")([a, b]), L.Maximum(name="max")([a, b])
    mn = L.Minimum(name="min")([sub, mul])
    dot = L.Dot(axes=1, normalize=True, name="dot")([avg, mx])
    add = L.Add(name="add")([mn, mx])
    x = L.Concatenate(axis=-1)([dot, add])
    hand = keras.Model({"a": a, "b": b}, L.Dense(3)(x))
    assert configs(model) == configs(hand)
    assert wiring(model) == wiring(hand)
    x = {"a": np.ones((2, 6), np.float32), "b": np.arange(12, dtype=np.float32).reshape(2, 6)}
    np.testing.assert_allclose(model.predict(x, verbose=0), hand.predict(x, verbose=0), rtol=1e-6)


NESTED_IN_BLOCKS = """\
blocks:
  unit:
    params: [filters]
    layers:
      - Conv2D: {filters: "${filters}", kernel_size: 1, name: squeeze}
      - residual:
          layers:
            - parallel:
                branches:
                  - [Conv2D: {filters: "${filters}", kernel_size: 3, padding: same, name: wide}]
                  - [$bn]
                merge: add
          shortcut: [Conv2D: {filters: "${filters}", kernel_size: 1, from: squeeze}]
  bn:
    layers: [BatchNormalization: {}]
models:
  A:
    input_shape: [6, 6, 2]
    layers:
      - {$unit: {filters: 4}}
      - {$unit: {filters: 4}}
      - Flatten
      - Dense: 3
"""


def nested_by_hand():
    def unit(x, prefix):
        x = L.Conv2D(4, 1, name=f"{prefix}squeeze")(x)
        wide = L.Conv2D(4, 3, padding="same", name=f"{prefix}wide")(x)
        body = L.Add()([wide, L.BatchNormalization()(x)])
        return L.Add()([L.Conv2D(4, 1)(x), body])

    inputs = keras.Input(shape=(6, 6, 2))
    x = unit(unit(inputs, "unit_0_"), "unit_1_")
    return keras.Model(inputs, L.Dense(3)(L.Flatten()(x)))


def test_constructs_nest_and_work_in_blocks_each_use_with_its_own_layers(write):
    from tests.conftest import SPEC_HEAD

    path = write(SPEC_HEAD + NESTED_IN_BLOCKS)
    keras.utils.set_random_seed(5)
    model = build_model("A", load(path).experiment.resolved().models["A"])
    keras.utils.set_random_seed(5)
    hand = nested_by_hand()
    assert configs(model) == configs(hand)
    assert wiring(model) == wiring(hand)
    names = [layer.name for layer in model.layers]
    assert {"unit_0_squeeze", "unit_1_squeeze", "unit_0_wide", "unit_1_wide"} <= set(names)
    for mine, theirs in zip(model.get_weights(), hand.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_names_alike_in_two_constructs_get_their_construct_prefix(write):
    from tests.conftest import SPEC_HEAD

    path = write(SPEC_HEAD + """\
models:
  A:
    input_shape: [3]
    layers:
      - residual: {layers: [Dense: {units: 3, name: inner}]}
      - residual: {layers: [Dense: {units: 3, name: inner}], name: second}
      - Dense: {units: 2, name: out}
""")
    model = build_model("A", load(path).experiment.resolved().models["A"])
    assert [layer.name for layer in model.layers] == ["input", "residual0_inner", "add", "second_inner", "second",
                                                       "out"]


def test_a_name_used_once_in_a_block_stays_as_written(write):
    from tests.conftest import SPEC_HEAD, models_of

    path = write(SPEC_HEAD + """\
blocks:
  b: {layers: [Dense: {units: 4, name: hidden}]}
models:
  A: {input_shape: [3], layers: [$b, Dense: 2]}
  B: {input_shape: [3], layers: [$b, $b, Dense: 2]}
""")
    models = models_of(path)
    assert models["A"]["layers"][0] == {"Dense": {"units": 4, "name": "hidden"}}
    assert [m["Dense"]["name"] for m in models["B"]["layers"][:2]] == ["b_0_hidden", "b_1_hidden"]


def test_two_inputs_experiment_trains_on_data_the_test_makes(tmp_path, cli):
    import json
    import shutil
    import subprocess
    import sys

    subprocess.run([sys.executable, str(ROOT / "experiments" / "make_two_inputs.py"), str(tmp_path / "two_inputs.npz")],
                   check=True, capture_output=True)
    with np.load(tmp_path / "two_inputs.npz") as made, np.load(ROOT / "experiments" / "two_inputs.npz") as kept:
        assert sorted(made.files) == sorted(kept.files)
        for key in made.files:
            np.testing.assert_array_equal(made[key], kept[key])  # the checked-in copy is what the script makes
    spec = shutil.copy(ROOT / "experiments" / "two_inputs.yaml", tmp_path / "two_inputs.yaml")
    code, out, err = cli("run", spec, "--out", tmp_path / "out", "--set", "training.epochs=2")
    assert code == 0, err
    run = json.loads((tmp_path / "out" / "results.json").read_text())["runs"][0]
    assert run["status"] == "completed"
    assert {"loss", "label_accuracy", "size_mae", "val_loss", "val_label_loss", "val_size_loss",
            "val_label_accuracy", "val_size_mae"} <= set(run["history"])
    assert run["history"]["val_label_accuracy"][-1] > 0.5  # 10 classes: far above chance after 2 epochs
    table = (tmp_path / "out" / "comparison.md").read_text()
    assert "final val_label_accuracy" in table and "final val_size_mae" in table
    assert (tmp_path / "out" / "val_size_loss.png").is_file()


@pytest.mark.skipif(not (Path("/usr/share/datasets/fashion-mnist") / "train-images-idx3-ubyte.gz").is_file(),
                    reason="needs Debian's dataset-fashion-mnist (.ci/run installs it)")
def test_residual_cnn_experiment_runs_briefly(tmp_path, cli, monkeypatch):
    import json

    monkeypatch.delenv("FACTORY_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # so the Debian files are the ones found
    code, out, err = cli("run", ROOT / "experiments" / "residual_cnn.yaml", "--out", tmp_path / "out",
                         "--set", "training.epochs=1", "--set", "data.train_size=300", "--set", "data.test_size=100")
    assert code == 0, err
    run = json.loads((tmp_path / "out" / "results.json").read_text())["runs"][0]
    assert run["status"] == "completed" and run["params"] == 152_106


TWO = """\
name: t
data: {dataset: two.npz}
compile: {optimizer: adam, loss: {label: sparse_categorical_crossentropy, size: mse}}
models:
  A:
    inputs: {image: [8, 8], extra: %s}
    layers:
      - Flatten: {from: image}
      - Dense: {units: 8, name: features}
      - Concatenate: {from: [features, extra]}
      - Dense: {units: 10, activation: softmax, name: label}
      - Dense: {units: 1, from: features, name: size}
    outputs: [label, %s]
"""


def two_arrays(**changes):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 20), ("test", 10)):
        arrays |= {f"x_{split}_image": rng.random((n, 8, 8)), f"x_{split}_extra": rng.random((n, 4)),
                   f"y_{split}_label": rng.integers(0, 10, n), f"y_{split}_size": rng.random((n, 1))}
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


@pytest.mark.parametrize("arrays,extra,output,expected", [
    (two_arrays(x_test_extra=None), "[4]", "size",
     "{path}:2:17: data.dataset: {npz}: the arrays of x_train and x_test do not pair up (x_train_extra, "
     "x_train_image but x_test_image); write both splits of each name"),
    (two_arrays(), "[5]", "size",
     "{path}:6:36: models.A.inputs.extra: input 'extra' of model A has shape [5], but the data's x_train_extra "
     "has examples of shape [4]"),
    (two_arrays(y_train_size=None, y_test_size=None, y_train_sise=np.zeros((20, 1)), y_test_sise=np.zeros((10, 1))),
     "[4]", "size",
     "{path}:13:22: models.A.outputs[1]: the data has no y_train_size for output 'size' of model A; did you mean "
     "'sise'? (it has y_train_label, y_train_sise)"),
    (two_arrays(x_train_image=np.zeros((19, 8, 8))), "[4]", "size",
     "{path}:2:17: data.dataset: {npz}: the train arrays hold different numbers of examples (x_train_extra has 20, "
     "x_train_image has 19, y_train_label has 20, y_train_size has 20)"),
])
def test_missing_or_misshapen_arrays_for_several_inputs_are_located(write, cli, tmp_path, arrays, extra, output,
                                                                     expected):
    np.savez(tmp_path / "two.npz", **arrays)
    path = write(TWO % (extra, output))
    code, out, err = cli("run", path, "--out", tmp_path / "out")
    assert code == 2
    assert expected.format(path=path, npz=tmp_path / "two.npz") in err


def test_a_loss_per_output_names_the_outputs(write):
    from tests.conftest import spec_errors

    path = write((TWO % ("[4]", "size")).replace(
        "loss: {label: sparse_categorical_crossentropy, size: mse}}",
        "loss: {label: sparse_categorical_crossentropy, sise: mse}, metrics: {labl: [accuracy]}}").replace(
        "data: {dataset: two.npz}", "data: {dataset: digits}") + """\
  B:
    layers: [Flatten, Dense: 10]
    compile: {loss_weights: {a: 1.0}}
""")
    assert spec_errors(path) == [
        f"{path}:3:34: compile.loss: no loss for output(s) size of model A; or a loss per output is for a model "
        "with several `outputs:`; model B has one",
        f"{path}:3:81: compile.loss.sise: model A has no output 'sise'; did you mean 'size'?",
        f"{path}:3:96: compile.metrics: metrics per output are for a model with several `outputs:`; model B has one",
        f"{path}:3:103: compile.metrics.labl: model A has no output 'labl'; did you mean 'label'?",
        f"{path}:16:29: models.B.compile.loss_weights: loss weights per output are for a model with several "
        "`outputs:`; model B has one",
    ]


def test_names_alike_in_two_branches_are_scoped_to_each(write):
    from tests.conftest import SPEC_HEAD

    path = write(SPEC_HEAD + """\
models:
  A:
    input_shape: [3]
    layers:
      - parallel:
          branches:
            - [Dense: {units: 3, name: d}, Dense: {units: 3, from: d}]
            - [Dense: {units: 3, name: d}, Dense: {units: 3, from: d}]
      - Dense: {units: 2}
""")
    model = build_model("A", load(path).experiment.resolved().models["A"])
    names = [layer.name for layer in model.layers]
    assert "parallel0_branch0_d" in names and "parallel0_branch1_d" in names
    assert wiring(model)[names.index("dense_1")] == [names.index("parallel0_branch1_d")]


def test_named_arrays_travel_to_worker_processes_as_they_are(tmp_path):
    from factory.data import Dataset, load_arrays, save_arrays

    rng = np.random.default_rng(0)
    data = Dataset({"image": rng.random((5, 8, 8), dtype=np.float32), "extra": rng.random((5, 4), dtype=np.float32)},
                   {"label": np.arange(5), "size": rng.random((5, 1))},
                   {"image": rng.random((2, 8, 8), dtype=np.float32), "extra": rng.random((2, 4), dtype=np.float32)},
                   np.arange(2), "test arrays")
    back = load_arrays(save_arrays(data, tmp_path / "arrays"))
    assert back.input_shape == {"extra": (4,), "image": (8, 8)}
    for split in ("x_train", "y_train", "x_test"):
        assert sorted(getattr(back, split)) == sorted(getattr(data, split))
        for k, array in getattr(data, split).items():
            np.testing.assert_array_equal(getattr(back, split)[k], array)
    np.testing.assert_array_equal(back.y_test, data.y_test)  # the plain form mixes with the named one
    assert back.describe() == "5 training and 2 test examples of shape {'extra': (4,), 'image': (8, 8)} from test arrays"


def test_graph_specs_are_written_back_as_written_and_revalidate():
    from schemas import Experiment

    dumped = load(EXAMPLES).experiment.model_dump(mode="json")
    assert dumped["models"]["resnet_tiny"]["layers"][2] == {"residual": {
        "layers": [{"Conv2D": {"filters": 64, "kernel_size": 3, "strides": 2, "padding": "same"}}],
        "shortcut": [{"Conv2D": {"filters": 64, "kernel_size": 1, "strides": 2}}]}}
    assert dumped["models"]["two_inputs"]["layers"][2] == {"Concatenate": {"from": ["features", "extra"]}}
    assert dumped["models"]["two_inputs"]["inputs"] == {"image": [28, 28], "extra": [4]}
    assert Experiment.model_validate(dumped).model_dump(mode="json") == dumped


def test_a_misspelt_from_gets_did_you_mean_from(write):
    from tests.conftest import SPEC_HEAD, spec_errors

    path = write(SPEC_HEAD + "models:\n  A:\n    inputs: {image: [8, 8]}\n    layers: [Flatten: {frm: image}, Dense: 10]\n")
    assert spec_errors(path) == [f"{path}:7:24: models.A.layers[0].Flatten.frm: unknown key 'frm'; did you mean 'from'?"]


def test_a_merging_layer_without_a_list_to_merge_is_an_error_before_training(write):
    from factory.build.checks import check_models
    from factory.errors import SpecError
    from tests.conftest import SPEC_HEAD

    path = write(SPEC_HEAD + "models:\n  A:\n    input_shape: [4]\n    layers: [Dense: 4, Add: {}, Dense: 2]\n")
    loaded = load(path)
    issues = loaded.locate(SpecError(check_models(loaded.experiment.resolved(), None))).issues
    assert located(issues) == [f"{path}:7:24: models.A.layers[1]: model A: Add merges two or more inputs, but it "
                               "gets only the previous layer's; name them with `from: [a, b]`"]


def test_a_frozen_construct_freezes_every_layer_inside(write):
    from tests.conftest import SPEC_HEAD

    path = write(SPEC_HEAD + """\
models:
  A:
    input_shape: [3]
    layers:
      - residual: {layers: [Dense: 3, BatchNormalization: {}], trainable: false}
      - Dense: 2
""")
    model = build_model("A", load(path).experiment.resolved().models["A"])
    assert [(type(layer).__name__, layer.trainable) for layer in model.layers[1:]] == [
        ("Dense", False), ("BatchNormalization", False), ("Add", False), ("Dense", True)]


def test_names_the_builder_makes_never_take_a_name_the_spec_gives(write):
    """A user's `input`, `add` or `residual2_inner` stays the user's; the builder's own names move aside."""
    from tests.conftest import SPEC_HEAD

    path = write(SPEC_HEAD + """\
models:
  A:
    input_shape: [8, 8]
    layers:
      - Flatten: {name: input}
      - Dense: {units: 4, name: add}
      - residual: {layers: [Dense: {units: 4, name: inner}]}
      - residual: {layers: [Dense: {units: 4, name: inner}]}
      - Dense: {units: 2, name: residual2_inner}
""")
    model = build_model("A", load(path).experiment.resolved().models["A"])
    assert [layer.name for layer in model.layers] == ["input_1", "input", "add", "residual2_inner_1", "add_1",
                                                       "residual3_inner", "add_2", "residual2_inner"]


def test_repeated_outputs_and_names_inside_a_construct_are_located(write):
    from tests.conftest import SPEC_HEAD, spec_errors

    path = write(SPEC_HEAD + """\
models:
  A:
    input_shape: [8, 8]
    layers:
      - Flatten: {name: f}
      - residual: {layers: [Dense: {units: 64, name: inner}]}
      - Dense: {units: 10, from: f, name: label}
    outputs: [label, label]
  B:
    input_shape: [8, 8]
    layers:
      - Flatten
      - residual: {layers: [Dense: {units: 64, name: inner}]}
    outputs: [inner]
  C:
    input_shape: [8, 8]
    layers:
      - Flatten: {name: f}
      - residual: {layers: [Dense: {units: 64}], from: []}
""")
    errors = spec_errors(path)
    assert f"{path}:11:22: models.A.outputs[1]: `outputs` names 'label' twice (also at outputs[0]); list each " \
           "output once" in errors
    assert f"{path}:17:15: models.B.outputs[0]: `outputs` names 'inner', which is named inside the residual at " \
           "layers[1]: such a name is seen only inside it; outside, read the residual's output once you give it " \
           "a `name:`" in errors
    assert any(e.startswith(f"{path}:22:56: models.C.layers[1].residual.from: ") and "at least 1 item" in e
               for e in errors)


def test_arrays_pair_by_their_exact_prefix():
    """`x_train_my_train` pairs with `x_test_my_train`, not with a `x_test_my_test` by replacement."""
    from factory.data import several
    from factory.errors import SpecError

    arrays = {"x_train": {"image": np.zeros((4, 3)), "my_train": np.zeros((4, 2))},
              "x_test": {"image": np.zeros((2, 3)), "my_train": np.zeros((2, 2))},
              "y_train": np.zeros(4), "y_test": np.zeros(2)}
    several.check("tr.npz", arrays)
    arrays["x_test"]["my_train"] = np.zeros((2, 5))
    with pytest.raises(SpecError, match=r"x_train_my_train's examples have shape \(2,\) but x_test_my_train's "
                                        r"have shape \(5,\)"):
        several.check("tr.npz", arrays)


def test_one_output_on_data_with_an_array_per_output_is_located():
    from types import SimpleNamespace

    from factory.data.several import model_issues

    data = SimpleNamespace(x_train=np.zeros((4, 3)), y_train={"label": np.zeros(4), "size": np.zeros(4)})
    issues = model_issues("A", SimpleNamespace(inputs=None, outputs=["label"]), data)
    assert [(i.loc, i.message) for i in issues] == [(
        ("models", "A", "outputs"), "the data has one array per output (y_train_label, y_train_size), but model A "
        "has one output: list every output with `outputs:`, or write plain y_train and y_test for a model of one "
        "output")]


def test_loss_weights_left_out_weigh_one_and_unknown_ones_are_located(write, tmp_path):
    from factory.build.compiler import compile_model
    from tests.conftest import spec_errors

    np.savez(tmp_path / "two.npz", **two_arrays())
    spec = TWO % ("[4]", "size") + "    compile: {loss_weights: {size: 0.5}}\n"
    model_spec = load(write(spec)).experiment.resolved().models["A"]
    model = build_model("A", model_spec)
    compile_model(model, model_spec.compile)
    rng = np.random.default_rng(0)
    x = {"image": rng.random((8, 8, 8)), "extra": rng.random((8, 4))}
    y = {"label": rng.integers(0, 10, 8), "size": rng.random((8, 1))}
    got = model.evaluate(x, y, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(got["label_loss"] + 0.5 * got["size_loss"], rel=1e-5)
    errors = spec_errors(write(TWO % ("[4]", "size") + "    compile: {loss_weights: {sise: 0.5}}\n"))
    assert any("models.A.compile.loss_weights.sise: model A has no output 'sise'; did you mean 'size'?" in e
               for e in errors)


def test_attention_layers_take_query_value_and_key_as_written_by_hand(write):
    from tests.conftest import SPEC_HEAD

    path = write(SPEC_HEAD + """\
models:
  A:
    input_shape: [4, 8]
    layers:
      - Dense: {units: 8, name: x}
      - Attention: {from: [x, x], name: self}
      - AdditiveAttention: {from: [self, x, x], name: additive}
      - MultiHeadAttention: {num_heads: 2, key_dim: 4, from: [additive, x], name: mha}
      - MultiHeadAttention: {num_heads: 2, key_dim: 4, from: [mha, x, self]}
""")
    keras.utils.set_random_seed(5)
    model = build_model("A", load(path).experiment.resolved().models["A"])
    keras.utils.set_random_seed(5)
    inputs = keras.Input((4, 8))
    x = L.Dense(8)(inputs)
    attended = L.Attention()([x, x])
    additive = L.AdditiveAttention()([attended, x, x])
    mha = L.MultiHeadAttention(num_heads=2, key_dim=4)(additive, x)
    hand = keras.Model(inputs, L.MultiHeadAttention(num_heads=2, key_dim=4)(mha, x, attended))
    assert configs(model) == configs(hand) and wiring(model) == wiring(hand)
    for mine, theirs in zip(model.get_weights(), hand.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    data = np.random.default_rng(0).random((2, 4, 8), dtype=np.float32)
    np.testing.assert_allclose(model.predict(data, verbose=0), hand.predict(data, verbose=0), rtol=1e-5)


def test_attention_without_query_and_value_is_located(write):
    from tests.conftest import SPEC_HEAD, spec_errors

    path = write(SPEC_HEAD + """\
models:
  A:
    input_shape: [4, 8]
    layers:
      - MultiHeadAttention: {num_heads: 2, key_dim: 4}
""")
    assert spec_errors(path) == [
        f"{path}:8:29: models.A.layers[0].MultiHeadAttention: MultiHeadAttention takes a query and a value (and a "
        "key): name them with `from: [query, value]` (`from: [x, x]` attends x to itself)"]


def test_a_one_input_model_reads_its_input_by_the_name_input(write):
    from tests.conftest import SPEC_HEAD

    path = write(SPEC_HEAD + """\
models:
  A:
    input_shape: [3]
    layers:
      - Dense: {units: 4, name: a}
      - Dense: {units: 4, from: input, name: b}
      - Add: {from: [a, b]}
""")
    model = build_model("A", load(path).experiment.resolved().models["A"])
    assert wiring(model) == [[], [0], [0], [1, 2]]


def test_a_wrapper_in_a_graph_holds_the_layer_written(write):
    """Bidirectional in a graph model gets its LSTM built from the spec, as in a plain list (not a config)."""
    keras = import_keras()
    path = write("""\
name: g
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
models:
  rnn:
    input_shape: [8, 8]
    layers:
      - Bidirectional: {layer: {LSTM: {units: 8, return_sequences: true}}, merge_mode: sum, name: bi}
      - residual:
          layers: [Dense: 8]
      - GlobalAveragePooling1D
      - Dense: {units: 10, activation: softmax}
""")
    model = build_model("rnn", load(path).experiment.resolved().models["rnn"])
    bi = model.get_layer("bi")
    assert isinstance(bi, keras.layers.Bidirectional) and bi.merge_mode == "sum"
    assert isinstance(bi.forward_layer, keras.layers.LSTM) and bi.forward_layer.units == 8
    x = keras.Input((8, 8))
    y = keras.layers.Bidirectional(keras.layers.LSTM(8, return_sequences=True), merge_mode="sum")(x)
    y = keras.layers.Add()([y, keras.layers.Dense(8)(y)])
    y = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling1D()(y))
    assert model.count_params() == keras.Model(x, y).count_params()


def test_one_loss_for_every_output_takes_loss_weights_per_output(write, cli, tmp_path):
    import json

    np.savez(tmp_path / "two.npz", **two_arrays())
    spec = (TWO % ("[4]", "size")).replace("loss: {label: sparse_categorical_crossentropy, size: mse}}",
                                          "loss: mse, loss_weights: {label: 0.0}}")
    spec = spec.replace("Dense: {units: 10, activation: softmax, name: label}", "Dense: {units: 1, name: label}")
    code, out, err = cli("run", write(spec), "--out", tmp_path / "out", "--set", "training.epochs=1")
    assert code == 0, err
    history = json.loads((tmp_path / "out" / "results.json").read_text())["runs"][0]["history"]
    # label weighs 0: the total is the size output's loss alone
    assert history["val_loss"][0] == pytest.approx(history["val_size_loss"][0], rel=1e-5)
    assert history["val_label_loss"][0] > 0


def test_a_y_array_no_output_uses_is_located(write, cli, tmp_path):
    np.savez(tmp_path / "two.npz", **two_arrays(y_train_other=np.zeros(20), y_test_other=np.zeros(10)))
    path = write(TWO % ("[4]", "size"))
    code, out, err = cli("run", path, "--out", tmp_path / "out")
    assert code == 2
    assert (f"{path}:13:14: models.A.outputs: the data's y_train_other is no output of model A (its outputs: "
            "label, size): list it in `outputs:`, or leave it out of the data") in err, err
