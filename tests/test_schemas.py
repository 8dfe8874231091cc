"""The spec language without TensorFlow: accepted forms, and each rejection with its message."""

import re
import json

import jsonschema
import pytest

from factory.errors import SpecError
from factory.spec.loader import load
from factory.spec.yaml_reader import read_file
from schemas import Experiment, json_schema
from tests.conftest import EXPERIMENTS, TINY


def errors_of(write, text, overrides=()):
    with pytest.raises(SpecError) as e:
        load(write(text), overrides)
    return [str(i) for i in e.value.issues]


def with_layers(*layers: str, extra: str = "") -> str:
    body = "\n".join(f"      - {layer}" for layer in layers)
    return f"""\
name: t
data: {{dataset: digits}}
compile: {{optimizer: adam, loss: sparse_categorical_crossentropy}}
models:
  A:
    layers:
{body}
{extra}"""


def test_contract_experiment_loads_with_every_shorthand():
    exp = load(EXPERIMENTS[0].parent / "abc.yaml").experiment.resolved()
    a, b, c = exp.models["A"], exp.models["B"], exp.models["C"]
    assert [type(e.args).__name__ for e in b.layers] == [
        "Flatten", "Dense", "BatchNormalization", "Activation", "Dense", "BatchNormalization",
        "Activation", "Dense"]
    assert b.layers[1].args.units == 64 and b.layers[3].args.activation == "relu"
    assert c.layers[3].args.negative_slope == 0.2  # `alpha` translated
    assert a.declared_input_shape == [28, 28]
    assert a.compile.optimizer.keras_config() == {"class_name": "Adam", "config": {}}
    assert a.training.epochs == 10 and a.training.seeds == [0]


@pytest.mark.parametrize("written,config", [
    ("he_normal", {"class_name": "HeNormal", "config": {}}),
    ("HeNormal", {"class_name": "HeNormal", "config": {}}),
    ("{HeNormal: {seed: 42}}", {"class_name": "HeNormal", "config": {"seed": 42}}),
    ("{random_normal: {stddev: 0.1}}", {"class_name": "RandomNormal", "config": {"stddev": 0.1}}),
    ("{Constant: 0.5}", {"class_name": "Constant", "config": {"value": 0.5}}),
])
def test_initializer_forms(write, written, config):
    exp = load(write(with_layers("Flatten", f"Dense: {{units: 4, kernel_initializer: {written}}}"))).experiment
    assert exp.models["A"].layers[1].args.kernel_initializer.keras_config() == config


@pytest.mark.parametrize("written,config", [
    ("l1", {"class_name": "L1", "config": {}}),
    ("l1_l2", {"class_name": "L1L2", "config": {}}),
    ("{l1: 0.1}", {"class_name": "L1", "config": {"l1": 0.1}}),
    ("{L1L2: {l1: 0.01, l2: 0.001}}", {"class_name": "L1L2", "config": {"l1": 0.01, "l2": 0.001}}),
    ("{l2: 1e-4}", {"class_name": "L2", "config": {"l2": 0.0001}}),
])
def test_regularizer_forms(write, written, config):
    exp = load(write(with_layers("Flatten", f"Dense: {{units: 4, kernel_regularizer: {written}}}"))).experiment
    assert exp.models["A"].layers[1].args.kernel_regularizer.keras_config() == config


@pytest.mark.parametrize("written,config", [
    ("{MaxNorm: 3}", {"class_name": "MaxNorm", "config": {"max_value": 3.0}}),
    ("non_neg", {"class_name": "NonNeg", "config": {}}),
    ("{MinMaxNorm: {min_value: 0.5, max_value: 2}}", {"class_name": "MinMaxNorm", "config": {"min_value": 0.5, "max_value": 2.0}}),
    ("{UnitNorm: {axis: [0, 1]}}", {"class_name": "UnitNorm", "config": {"axis": [0, 1]}}),
])
def test_constraint_forms(write, written, config):
    exp = load(write(with_layers("Flatten", f"Dense: {{units: 4, kernel_constraint: {written}}}"))).experiment
    assert exp.models["A"].layers[1].args.kernel_constraint.keras_config() == config


def test_losses_and_metrics_with_arguments_as_the_issue_writes_them(write):
    text = with_layers("Flatten", "Dense: 10").replace(
        "loss: sparse_categorical_crossentropy}", "loss: {SparseCategoricalCrossentropy: {from_logits: true}}, "
        "metrics: [accuracy, {SparseTopKCategoricalAccuracy: {k: 3}}]}")
    exp = load(write(text)).experiment
    assert exp.compile.loss.keras_config() == {"class_name": "SparseCategoricalCrossentropy",
                                               "config": {"from_logits": True}}
    assert exp.compile.metrics[0] == "accuracy"
    assert exp.compile.metrics[1].keras_config() == {"class_name": "SparseTopKCategoricalAccuracy", "config": {"k": 3}}
    dumped = exp.model_dump(mode="json")["compile"]
    assert dumped["loss"] == {"SparseCategoricalCrossentropy": {"from_logits": True}}
    assert dumped["metrics"] == ["accuracy", {"SparseTopKCategoricalAccuracy": {"k": 3}}]
    assert Experiment.model_validate(exp.model_dump(mode="json")).model_dump(mode="json") == exp.model_dump(mode="json")


def test_the_contract_bidirectional_validates_and_round_trips(write):
    text = with_layers("Bidirectional: {layer: {LSTM: {units: 32}}}", "Dense: 10")
    exp = load(write(text)).experiment
    wrapped = exp.models["A"].layers[0].args.layer
    assert wrapped.args.keras_class == "LSTM" and wrapped.args.units == 32
    assert exp.model_dump(mode="json")["models"]["A"]["layers"][0] == {"Bidirectional": {"layer": {"LSTM": {"units": 32}}}}


@pytest.mark.parametrize("written,config", [
    ("adam", {"class_name": "Adam", "config": {}}),
    ("{Adam: {learning_rate: 1.0e-3}}", {"class_name": "Adam", "config": {"learning_rate": 0.001}}),
    ("{Adam: {learning_rate: 1e-3}}", {"class_name": "Adam", "config": {"learning_rate": 0.001}}),
    ("{SGD: 0.1}", {"class_name": "SGD", "config": {"learning_rate": 0.1}}),
    ("{sgd: {learning_rate: 1, momentum: 0.9}}", {"class_name": "SGD", "config": {"learning_rate": 1.0, "momentum": 0.9}}),
])
def test_optimizer_forms(write, written, config):
    text = with_layers("Flatten", "Dense: 4").replace("optimizer: adam", f"optimizer: {written}")
    assert load(write(text)).experiment.compile.optimizer.keras_config() == config


def test_per_model_sections_override_one_key_at_a_time(write):
    text = with_layers("Flatten", "Dense: 4", extra="    compile: {optimizer: sgd}\n    training: {epochs: 3}\n")
    text += "training: {epochs: 7, batch_size: 16}\n"
    model = load(write(text)).experiment.resolved().models["A"]
    assert model.compile.optimizer.keras_config()["class_name"] == "SGD"
    assert model.compile.loss == "sparse_categorical_crossentropy"
    assert (model.training.epochs, model.training.batch_size) == (3, 16)


def test_input_shape_on_the_model_or_from_the_data(write):
    exp = load(write(with_layers("Flatten", "Dense: 4", extra="    input_shape: [8, 8]\n"))).experiment
    assert exp.models["A"].declared_input_shape == [8, 8]
    exp = load(write(with_layers("Flatten", "Dense: 4"))).experiment
    assert exp.models["A"].declared_input_shape is None


@pytest.mark.parametrize("layer,message", [
    ("Dens: 64", "models.A.layers[1]: unknown layer 'Dens'; did you mean 'Dense'?"),
    ("Dense: {units: 10, Activation: softmax}", "models.A.layers[1].Dense.Activation: unknown key 'Activation'; did you mean 'activation'?"),
    ("Dense: {units: 4, kernel_initializer: he_norml}", "unknown initializer 'he_norml'; did you mean 'he_normal'?"),
    ("Dense: {units: 4, activation: relu6x}", "unknown activation 'relu6x'; did you mean 'relu6'?"),
    ('Dense: {units: "64"}', "models.A.layers[1].Dense.units: input should be a valid integer, got '64' (text) (write the number without quotes)"),
    ("Dense: {units: true}", "models.A.layers[1].Dense.units: input should be a valid integer, got true (a boolean)"),
    ("Dense: {units: 8.5}", "models.A.layers[1].Dense.units: input should be a valid integer, got 8.5"),
    ("Dense: {units: 0}", "models.A.layers[1].Dense.units: input should be greater than 0, got 0"),
    ("Dense: {units: 4, activation: off}", "got false (a boolean) (YAML reads `off` as false; quote it, 'off', if you mean the text)"),
    ("Dropout: 1.0", "models.A.layers[1].Dropout: input should be less than 1, got 1.0"),
    ("Dropout: -0.1", "models.A.layers[1].Dropout: input should be greater than or equal to 0, got -0.1"),
    ("Dense: {units: 4, kernel_regularizer: {l1: -1}}", "kernel_regularizer.l1: input should be greater than or equal to 0, got -1"),
    ("Dense: {units: 4, kernel_regularizer: {l2: .inf}}", "kernel_regularizer.l2: input should be a finite number, got inf"),
    ("Lambda: {function: 'lambda x: x'}", "models.A.layers[1]: 'Lambda' is not a layer this tool knows; a spec cannot name Python code"),
    ("keras.layers.Dense: 4", "a spec cannot name Python code"),
    ("{Dense: 4, Dropout: 0.5}", "a layer is a one-key mapping `Name: arguments`; this one has 2 keys (Dense, Dropout)"),
    ("LeakyReLU: {alpha: 0.2, negative_slope: 0.1}", "give either 'alpha' (old spelling) or 'negative_slope', not both"),
    ("Conv2D: {filters: 3}", "models.A.layers[1].Conv2D.kernel_size: missing required key 'kernel_size'"),
    ("Flatten: {input_shape: [28, 28]}", "models.A.layers[1].Flatten.input_shape: input_shape belongs on the first layer"),
])
def test_layer_rejections(write, layer, message):
    issues = errors_of(write, with_layers("Flatten", layer))
    assert any(message in i for i in issues), issues
    located = [i for i in issues if message in i]
    assert located[0].split(":")[1].isdigit(), "the error names its line"


@pytest.mark.parametrize("change,message", [
    (("dataset: digits", "dataset: fashion_mnst"), "data.dataset: unknown dataset 'fashion_mnst'; did you mean 'fashion_mnist'?"),
    (("optimizer: adam", "optimizer: adamm"), "compile.optimizer: unknown optimizer 'adamm'; did you mean 'adam'?"),
    (("loss: sparse_categorical_crossentropy", "loss: sparse_categorical_crossentropi"), "compile.loss: unknown loss 'sparse_categorical_crossentropi'; did you mean 'sparse_categorical_crossentropy'?"),
    (("name: t", "name: t\nmodel: {}"), "model: unknown key 'model'; did you mean 'models'?"),
    (("name: t", "name: t\ntraining: {epochs: 2, seeds: [0, 0]}"), "training.seeds: seeds must differ"),
])
def test_experiment_rejections(write, change, message):
    issues = errors_of(write, with_layers("Flatten", "Dense: 4").replace(*change))
    assert any(message in i for i in issues), issues


def test_every_error_of_a_file_at_once_with_file_line_column(write):
    path = write(with_layers("Flatten", "Dens: 4", 'Dense: {units: "8"}', "Dropout: 2").replace(
        "dataset: digits", "dataset: digitz"))
    with pytest.raises(SpecError) as e:
        load(path)
    lines = [str(i) for i in e.value.issues]
    assert lines == [
        f"{path}:2:17: data.dataset: unknown dataset 'digitz'; did you mean 'digits'?",
        f"{path}:8:9: models.A.layers[1]: unknown layer 'Dens'; did you mean 'Dense'?",
        f"{path}:9:24: models.A.layers[2].Dense.units: input should be a valid integer, got '8' (text) (write the number without quotes)",
        f"{path}:10:18: models.A.layers[3].Dropout: input should be less than 1, got 2",
    ]


def test_no_loss_anywhere(write):
    text = with_layers("Flatten", "Dense: 4").replace(", loss: sparse_categorical_crossentropy", "")
    assert any("compile.loss: no loss for model(s) A" in i for i in errors_of(write, text))


def test_set_overrides_and_their_errors(write):
    path = write(TINY)
    exp = load(path, ["training.epochs=1", "training.seeds=[0, 1, 2]", "models.B.compile.optimizer=sgd"]).experiment
    resolved = exp.resolved()
    assert resolved.models["A"].training.epochs == 1 and resolved.models["A"].training.seeds == [0, 1, 2]
    assert resolved.models["B"].compile.optimizer.keras_config()["class_name"] == "SGD"
    with pytest.raises(SpecError) as e:
        load(path, ["training.epoch=1", "training.batch_size=abc"])
    lines = [str(i) for i in e.value.issues]
    assert "<--set training.epoch=1>:1:1: training.epoch: unknown key 'epoch'; did you mean 'epochs'?" in lines
    assert ("<--set training.batch_size=abc>:1:21: training.batch_size: input should be a valid integer, "
            "got 'abc' (text) (write the number without quotes)") in lines


def test_dump_is_the_written_syntax_and_round_trips():
    exp = load(EXPERIMENTS[0].parent / "abc.yaml").experiment.resolved()
    dumped = exp.model_dump(mode="json")
    assert dumped["models"]["B"]["layers"][1] == {"Dense": {"units": 64}}
    assert dumped["models"]["C"]["layers"][3] == {"LeakyReLU": {"negative_slope": 0.2}}
    assert Experiment.model_validate(dumped).model_dump(mode="json") == dumped


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_every_experiment_validates(path):
    load(path)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_json_schema_accepts_every_experiment(path):
    jsonschema.Draft202012Validator(json_schema()).validate(read_file(path).data)


def test_json_schema_describes_the_written_syntax():
    schema = json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    base = {"name": "t", "data": {"dataset": "digits"}, "compile": {"loss": "mse"}}
    ok = [{"Dense": 64}, "Flatten", {"LeakyReLU": {"alpha": 0.2}}, {"Dropout": 0.5},
          {"Dense": {"units": 4, "kernel_initializer": {"HeNormal": {"seed": 1}}}}]
    validator.validate({**base, "models": {"A": {"layers": ok}}})
    for bad in ({"Dense": 64, "Dropout": 0.5}, {"Dens": 64}, {"Dense": {"units": 4, "Activation": "relu"}}):
        assert list(validator.iter_errors({**base, "models": {"A": {"layers": [bad]}}})), bad
    assert "description" in schema["$defs"]["Dense"]["properties"]["units"]
    json.dumps(schema)


MIRRORED = """\
name: t
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
training: {distribute: mirrored, devices: ['/cpu:0']}
models:
  A: {layers: [Flatten, Dense: 10]}
  B:
    training: {devices: ['/cpu:0', '/cpu:1']}
    layers: [Flatten, Dense: 10]
"""


def test_a_model_overriding_one_training_key_is_checked_on_its_merge(write):
    exp = load(write(MIRRORED)).experiment.resolved()
    assert exp.models["B"].training.distribute == "mirrored"
    assert exp.models["B"].training.devices == ["/cpu:0", "/cpu:1"]


def test_an_invalid_merge_is_reported_at_the_override(write):
    text = MIRRORED.replace("training: {devices: ['/cpu:0', '/cpu:1']}", "training: {distribute: none}")
    path = write(text)
    assert errors_of(write, text) == [
        f"{path}:8:28: models.B.training.distribute: devices are for `distribute: mirrored`"]
    text = MIRRORED.replace("distribute: mirrored, ", "")
    path = write(text)
    assert errors_of(write, text) == [f"{path}:4:21: training.devices: devices are for `distribute: mirrored`",
                                      f"{path}:8:25: models.B.training.devices: devices are for "
                                      "`distribute: mirrored`"]


def test_an_inherited_merge_mistake_is_reported_at_the_key_the_model_wrote(write):
    text = ("name: t\ndata: {dataset: digits}\ncompile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"
            "models:\n"
            "  A:\n    training: {distribute: mirrored, devices: ['/cpu:0']}\n    layers: [Dense: {units: 10}]\n"
            "  D:\n    extends: A\n    training: {distribute: none}\n")
    path = write(text)
    assert errors_of(write, text) == [
        f"{path}:10:28: models.D.training.distribute: devices are for `distribute: mirrored`"]


def test_misspelt_experiment_keys_are_suggested_in_a_file_read_as_a_library(write):
    text = "nme: t\ndat: {dataset: digits}\ncompille: {loss: mse}\nmodels:\n  A: {layers: [Dense: 3]}\n"
    path = write(text)
    hint = " (a file without name, data, compile or training is checked as a library of models and blocks)"
    assert errors_of(write, text) == [
        f"{path}:1:1: nme: unknown key 'nme'; did you mean 'name'?" + hint,
        f"{path}:2:1: dat: unknown key 'dat'; did you mean 'data'?" + hint,
        f"{path}:3:1: compille: unknown key 'compille'; did you mean 'compile'?" + hint]


def test_a_broken_model_hides_none_of_its_own_mistakes(write):
    text = """\
name: t
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
models:
  A: {input_shape: [8, 8], layers: [Flatten, Dense: 64, Dense: 10]}
  B: {extends: nope, label: 5, color: [1], linestyle: wavy, labl: x, layers: [Dens: 3, Dense: {unts: 3}]}
  C:
    extends: A
    description: 7
    edit: [{replace: 1, with: [Flatten, Dens: 3]}, {remove: 7}, {insert_before: 0, with: [$nope, Dropout: 2.0]}]
    training: {epochs: 0}
  D:
    label: 7
    layers: [Flatten, $nope, Dens: 64, Dense: {units: 10, activation: softmax}]
"""
    path = write(text)
    assert errors_of(write, text) == [f"{path}:{e}" for e in [
        "6:16: models.B.extends: no model 'nope'; known: A, B, C, D",
        '6:29: models.B.label: input should be a valid string, got 5',
        '6:39: models.B.color: input should be a valid string, got a list',
        "6:55: models.B.linestyle: input should be '-', '--', '-.', ':', 'solid', 'dashed', 'dashdot' or 'dotted', got 'wavy' (text)",
        "6:61: models.B.labl: unknown key 'labl'; did you mean 'label'?",
        "6:79: models.B.layers[0]: unknown layer 'Dens'; did you mean 'Dense'?",
        "6:95: models.B.layers[1].Dense.units: missing required key 'units'",
        "6:96: models.B.layers[1].Dense.unts: unknown key 'unts'; did you mean 'units'?",
        '9:18: models.C.description: input should be a valid string, got 7',
        "10:41: models.C.edit[0].with[1]: unknown layer 'Dens'; did you mean 'Dense'?",
        "10:61: models.C.edit[1].remove: '7' is not a layer of the parent model: it has 3 layers (0 to 2, negative counts from the end, or a layer's name)",
        "10:91: models.C.edit[2].with[0]: no block 'nope'",
        '10:107: models.C.edit[2].with[1].Dropout: input should be less than 1, got 2.0',
        '11:24: models.C.training.epochs: input should be greater than 0, got 0',
        '13:12: models.D.label: input should be a valid string, got 7',
        "14:23: models.D.layers[1]: no block 'nope'",
        "14:30: models.D.layers[2]: unknown layer 'Dens'; did you mean 'Dense'?",
    ]]


def test_a_union_tag_is_never_taken_for_a_key_the_user_wrote(write):
    text = with_layers("Flatten", "Dense: {Dense: 3}", "Dense: {units: 4, kernel_initializer: {he_normal: {HeNormal: 1}}}")
    issues = [i.split(": ", 1)[1] for i in errors_of(write, text)]
    assert issues == [
        "models.A.layers[1].Dense.units: missing required key 'units'",
        "models.A.layers[1].Dense.Dense: unknown key 'Dense'",
        "models.A.layers[2].Dense.kernel_initializer.he_normal.HeNormal: unknown key 'HeNormal'"]


def test_the_default_optimizer_is_a_keras_object_like_a_written_one():
    """No `optimizer:` anywhere means Keras's default, RMSprop, built like `optimizer: rmsprop` (it crashed)."""
    import warnings

    spec = {"name": "t", "data": {"dataset": "digits"}, "compile": {"loss": "mse"},
            "models": {"A": {"layers": ["Flatten"]}}}
    written = Experiment.model_validate({**spec, "compile": {"loss": "mse", "optimizer": "rmsprop"}}).resolved()
    default = Experiment.model_validate(spec).resolved()
    assert default.models["A"].compile.optimizer.keras_config() == {"class_name": "RMSprop", "config": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pydantic warns when it serializes an unvalidated default
        assert default.model_dump(mode="json") == written.model_dump(mode="json")


def test_a_keras_object_of_the_wrong_type_is_told_in_plain_words():
    spec = {"name": "t", "data": {"dataset": "digits"}, "compile": {"loss": "mse", "optimizer": None},
            "models": {"A": {"layers": [{"Dense": {"units": 1, "kernel_initializer": 5}}]}}}
    with pytest.raises(Exception) as info:
        Experiment.model_validate(spec)
    text = str(info.value)
    assert "expected an optimizer: a name or a one-key mapping `Name: arguments`, got nothing (null)" in text
    assert "expected an initializer: a name or a one-key mapping `Name: arguments`, got 5" in text


def test_a_message_with_braces_reads_as_written():
    from pydantic import BaseModel, model_validator

    from schemas.base import fail_at

    class Braced(BaseModel):
        @model_validator(mode="after")
        def _fails(self):
            fail_at([(("x",), "set `data: {scale: false}` or {}")])

    with pytest.raises(ValueError) as caught:
        Braced()
    assert caught.value.errors()[0]["msg"] == "set `data: {scale: false}` or {}"


@pytest.mark.parametrize("layer, expected", [
    ({"Conv2D": {"filters": 6, "kernel_size": 3, "groups": 4}},
     "The number of filters must be evenly divisible by the number of groups. Received: groups=4, filters=6"),
    ({"GaussianNoise": 1.5}, "less than or equal to 1"),
    ({"ReLU": {"threshold": -0.5}}, "greater than or equal to 0"),
    ({"Dense": {"units": 2, "activation": "threshold"}},
     "activation 'threshold' needs arguments besides the input, which a name cannot give"),
    ({"Activation": "threshold"}, "activation 'threshold' needs arguments besides the input"),
])
def test_what_keras_refuses_when_building_a_hand_written_layer_is_refused_at_validate(layer, expected):
    from schemas import Model

    with pytest.raises(ValueError, match=re.escape(expected)):
        Model.model_validate({"input_shape": [8, 8, 4], "layers": [layer]})


def test_the_hand_written_layers_boundary_values_build_in_keras():
    import keras

    from factory.build.compiler import build_model
    from schemas import Model

    spec = Model.model_validate({"input_shape": [8, 8, 4], "layers": [
        {"Conv2D": {"filters": 8, "kernel_size": 3, "groups": 4}}, {"GaussianNoise": 1.0},
        {"ReLU": {"threshold": 0.0}}, {"Activation": "tanh_shrink"}]})
    model = build_model("m", spec)
    assert model.layers[0].groups == 4 and model.layers[1].stddev == 1.0
    model(keras.ops.ones((1, 8, 8, 4)))
