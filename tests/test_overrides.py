"""`--set` on the file as written: it changes exactly what editing the file at that place would."""

import textwrap

import pytest

from factory.errors import SpecError
from factory.spec.loader import load
from tests.conftest import ROOT

HEAD = """\
name: t
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
"""


def models_of(path, *overrides):
    return {n: m.model_dump(mode="json") for n, m in load(path, overrides).experiment.resolved().models.items()}


def errors_of(path, *overrides):
    with pytest.raises(SpecError) as e:
        load(path, overrides)
    return [str(i) for i in e.value.issues]


def test_an_override_changes_one_place_not_every_use_of_a_yaml_alias(write):
    path = write(HEAD + textwrap.dedent("""\
        models:
          A: {training: &t {epochs: 3}, input_shape: [8, 8], layers: [Flatten, Dense: 10]}
          B: {training: *t, input_shape: [8, 8], layers: [Flatten, Dense: 10]}
        """))
    models = models_of(path, "models.A.training.epochs=1")
    assert (models["A"]["training"]["epochs"], models["B"]["training"]["epochs"]) == (1, 3)


def test_an_override_of_a_parent_reaches_the_models_that_extend_it():
    models = models_of(ROOT / "experiments" / "abc.yaml", "models.A.layers.3.Dense.activation=sigmoid")
    assert {n: m["layers"][-1]["Dense"]["activation"] for n, m in models.items()} == {
        "A": "sigmoid", "B": "sigmoid", "C": "sigmoid"}


def test_overrides_of_include_a_new_model_and_a_sweep(write):
    write("models:\n  A: {input_shape: [8, 8], layers: [Flatten, Dense: 10]}\n", "one.yaml")
    write("models:\n  A: {input_shape: [8, 8], layers: [Flatten, Dense: 32, Dense: 10]}\n", "two.yaml")
    path = write(HEAD + "include: {lib: one.yaml}\nmodels:\n  A: {extends: lib.A}\n")
    assert len(models_of(path, "include.lib=two.yaml")["A"]["layers"]) == 3
    assert list(models_of(path, "models.D={extends: A, label: copy}")) == ["A", "D"]
    models = models_of(path, "models.A.sweep={layers.1.Dense.units: [4, 8]}")
    assert {n: m["layers"][1]["Dense"]["units"] for n, m in models.items()} == {"A-4": 4, "A-8": 8}


def test_a_quoted_key_may_hold_dots(write):
    path = write(HEAD + "models:\n  mlp-0.5: {input_shape: [8, 8], layers: [Flatten, Dense: 10]}\n")
    assert models_of(path, 'models."mlp-0.5".training.epochs=4')["mlp-0.5"]["training"]["epochs"] == 4
    assert models_of(path, "models.'mlp-0.5'.training.epochs=5")["mlp-0.5"]["training"]["epochs"] == 5
    assert errors_of(path, "models.mlp-0.5.training.epochs=4") == [
        "<--set models.mlp-0.5.training.epochs=4>:1:1: models.mlp-0[5].training.epochs: no model 'mlp-0'; "
        "did you mean 'mlp-0.5'? (a key that holds dots is quoted: models.\"mlp-0.5\".training.epochs=...)"]


def test_an_argument_of_a_layer_written_in_a_short_form(write):
    path = write(HEAD + "models:\n  A:\n    input_shape: [8, 8]\n    layers: [Flatten, Dense: 64, Dense: 10]\n")
    models = models_of(path, "models.A.layers.1.Dense.units=128", "models.A.layers.0.Flatten.data_format=channels_last",
                       "models.A.layers.2.Dense.activation=softmax")
    assert models["A"]["layers"] == [{"Flatten": {"data_format": "channels_last"}}, {"Dense": {"units": 128}},
                                     {"Dense": {"units": 10, "activation": "softmax"}}]


def test_a_path_that_cannot_be_set_says_what_can(write):
    path = write(HEAD + "models:\n  A:\n    input_shape: [8, 8]\n    layers: [Flatten, Dense: 64]\n")
    assert errors_of(path, "models.A.layers.1.Dense.units.x=1", "models.A.layers.7.Dense.units=1") == [
        "<--set models.A.layers.1.Dense.units.x=1>:1:1: models.A.layers[1].Dense.units.x: cannot set below "
        "'units': it is 64, not a mapping; set models.A.layers[1].Dense.units=... itself",
        "<--set models.A.layers.7.Dense.units=1>:1:1: models.A.layers[7].Dense.units: '7' is not an index "
        "of models.A.layers, a list of 2 item(s)",
    ]


def test_a_bad_value_is_located_in_the_set_argument(write):
    path = write(HEAD + "models:\n  A:\n    input_shape: [8, 8]\n    layers: [Flatten, Dense: 64]\n")
    assert errors_of(path, "models.A.layers.1.Dense.units=0", "training.epochz=1") == [
        "<--set training.epochz=1>:1:1: training.epochz: unknown key 'epochz'; did you mean 'epochs'?",
        "<--set models.A.layers.1.Dense.units=0>:1:31: models.A.layers[1].Dense.units: input should be "
        "greater than 0, got 0",
    ]


def test_a_model_that_does_not_exist_is_named_not_made_up(write):
    path = write(HEAD + "models:\n  Alpha: {input_shape: [8, 8], layers: [Flatten, Dense: 10]}\n")
    assert errors_of(path, "models.Alpah.training.epochs=1") == [
        "<--set models.Alpah.training.epochs=1>:1:1: models.Alpah.training.epochs: no model 'Alpah'; did you "
        "mean 'Alpha'? (to add a model, set it whole: models.Alpah={layers: [...]} or "
        "models.Alpah={extends: ...})"]


def test_a_sweep_over_a_setting_the_model_inherits(write):
    path = write(HEAD + textwrap.dedent("""\
        training: {epochs: 2}
        models:
          m:
            input_shape: [8, 8]
            layers: [Flatten, Dense: 64, Dense: 10]
            sweep:
              compile.optimizer: [adam, sgd]
              training.epochs: [1]
              layers.1.Dense.activation: [relu]
        """))
    models = models_of(path)
    assert list(models) == ["m-adam-1-relu", "m-sgd-1-relu"]
    assert [m["compile"]["optimizer"] for m in models.values()] == [{"Adam": {}}, {"SGD": {}}]
    assert models["m-sgd-1-relu"]["compile"]["loss"] == "sparse_categorical_crossentropy"
    assert models["m-sgd-1-relu"]["layers"][1] == {"Dense": {"units": 64, "activation": "relu"}}
    assert models["m-sgd-1-relu"]["training"]["epochs"] == 1


def test_the_layers_a_model_takes_through_extends_are_set_on_its_parent():
    assert errors_of(ROOT / "experiments" / "abc.yaml", "models.B.layers.3.Activation=tanh") == [
        "<--set models.B.layers.3.Activation=tanh>:1:1: models.B.layers[3].Activation: models.B.layers is not "
        "written in the file, so it has no item 3: model B takes its layers from A through `extends` (set them "
        "on A, which changes both, or change B with `edit:`)"]
