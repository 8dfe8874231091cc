"""`--set` on the file as written: it changes exactly what editing the file at that place would."""

import textwrap

import pytest

from tests.conftest import ROOT
from tests.conftest import SPEC_HEAD as HEAD, models_of, spec_errors as errors_of


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


def test_a_non_ascii_digit_is_a_key_not_an_index(write):
    path = write(HEAD + "models:\n  A:\n    input_shape: [8, 8]\n    layers: [Flatten, Dense: 10]\n")
    assert errors_of(path, "models.A.layers.\u00b2=1", "models.A.layers.\u0661.Dense.units=3") == [
        "<--set models.A.layers.\u00b2=1>:1:1: models.A.layers.\u00b2: '\u00b2' is not an index of "
        "models.A.layers, a list of 2 item(s)",
        "<--set models.A.layers.\u0661.Dense.units=3>:1:1: models.A.layers.\u0661.Dense.units: '\u0661' is not "
        "an index of models.A.layers, a list of 2 item(s)"]
    assert errors_of(path, "models.A.sweep={layers.\u0661.Dense.units: [1]}") == [
        "<--set models.A.sweep={layers.\u0661.Dense.units: [1]}>:1:17: models.A.sweep.layers.\u0661.Dense.units: "
        "'layers.\u0661.Dense.units' is not a field of model A (after its extends and edits)"]


@pytest.mark.parametrize("value", ["null", "", " ", "~", "---", "#x", "Null"])
def test_a_value_of_null_sets_null(write, value):
    path = write(HEAD + "training: {validation_split: 0.2}\n"
                 "models:\n  A: {input_shape: [8, 8], layers: [Flatten, Dense: 10], color: red}\n")
    models = models_of(path, f"training.validation_split={value}", f"models.A.color={value}")
    assert (models["A"]["training"]["validation_split"], models["A"]["color"]) == (None, None)


def test_a_model_set_to_null_is_a_located_mistake(write):
    path = write(HEAD + "models:\n  A: {input_shape: [8, 8], layers: [Flatten, Dense: 10]}\n")
    assert errors_of(path, "models.A=null") == [
        "<--set models.A=null>:1:10: models.A: input should be a valid dictionary or instance of Model, "
        "got nothing (null)"]


def test_a_layer_of_another_class_is_named_not_blamed_on_the_file(write):
    path = write(HEAD + "models:\n  A:\n    input_shape: [8, 8]\n    layers: [Flatten, Dense: 64, Dense: 10]\n")
    assert errors_of(path, "models.A.layers.2.Dropout.rate=0.5", "models.A.layers.1.units=3",
                     "models.A.layers.2.Dropout={rate: 0.5}") == [
        "<--set models.A.layers.2.Dropout.rate=0.5>:1:1: models.A.layers[2].Dropout.rate: models.A.layers[2] is "
        "a Dense, not a Dropout: set an argument of the Dense (models.A.layers.2.Dense.<argument>=...) or "
        "replace the whole entry (models.A.layers.2={Dropout: ...})",
        "<--set models.A.layers.1.units=3>:1:1: models.A.layers[1].units: models.A.layers[1] is a Dense: "
        "its arguments are set below its name, models.A.layers.1.Dense.units=...",
        "<--set models.A.layers.2.Dropout={rate: 0.5}>:1:1: models.A.layers[2].Dropout: models.A.layers[2] is "
        "a Dense, not a Dropout: set an argument of the Dense (models.A.layers.2.Dense.<argument>=...) or "
        "replace the whole entry (models.A.layers.2={Dropout: ...})"]


def test_the_layers_a_model_takes_from_an_included_file_are_not_settable_and_it_says_so(write):
    write("models:\n  A: {input_shape: [8, 8], layers: [Flatten, Dense: 10]}\n", "lib.yaml")
    path = write(HEAD + "include: {lib: lib.yaml}\nmodels:\n  A: {extends: lib.A}\n")
    assert errors_of(path, "models.A.layers.1.Dense.units=5") == [
        "<--set models.A.layers.1.Dense.units=5>:1:1: models.A.layers[1].Dense.units: models.A.layers is not "
        "written in the file, so it has no item 1: model A takes its layers from lib.A in lib.yaml "
        "through `extends`, and --set changes only this file: change A with `edit:` "
        "(e.g. models.A.edit=[{set: 1, with: {units: 5}}])"]


def test_a_part_of_an_inherited_setting_is_refused_not_the_rest_dropped(write):
    path = write(textwrap.dedent("""\
        name: t
        data: {dataset: digits}
        compile: {optimizer: {Adam: {learning_rate: 0.01, beta_1: 0.8}}, loss: sparse_categorical_crossentropy}
        models:
          A: {input_shape: [8, 8], layers: [Flatten, Dense: 10]}
          B: {input_shape: [8, 8], layers: [Flatten, Dense: 10], compile: {optimizer: {Adam: {beta_1: 0.7}}}}
          C: {extends: B}
        """))
    assert errors_of(path, "models.A.compile.optimizer.Adam.learning_rate=0.1",
                     "models.C.compile.optimizer.Adam.learning_rate=0.1") == [
        "<--set models.A.compile.optimizer.Adam.learning_rate=0.1>:1:1: models.A.compile.optimizer.Adam."
        "learning_rate: model A does not write compile.optimizer: it takes the whole of it from the "
        "experiment's compile, so setting a part would drop the rest; set it whole: "
        "models.A.compile.optimizer={Adam: {learning_rate: 0.1, beta_1: 0.8}}",
        "<--set models.C.compile.optimizer.Adam.learning_rate=0.1>:1:1: models.C.compile.optimizer.Adam."
        "learning_rate: model C does not write compile.optimizer: it takes the whole of it from B through "
        "`extends`, so setting a part would drop the rest; set it whole (models.C.compile.optimizer=...) or "
        "set it on B"]
    # where the model writes the setting, a part of it is set in place; a whole key below a section merges
    models = models_of(path, "models.B.compile.optimizer.Adam.learning_rate=0.1", "models.A.compile.loss=mse")
    assert models["B"]["compile"]["optimizer"] == {"Adam": {"beta_1": 0.7, "learning_rate": 0.1}}
    assert models["A"]["compile"]["optimizer"] == {"Adam": {"learning_rate": 0.01, "beta_1": 0.8}}
    assert models["A"]["compile"]["loss"] == "mse"


@pytest.mark.parametrize("name", ["adam", "ReLU", "Dense", "l2", "zeros"])
def test_a_model_named_like_a_keras_class_takes_a_new_model_beside_it(write, name):
    """Only layers, optimizers, initializers and regularizers are `Class: arguments` entries; `models:` is not."""
    path = write(f"""\
        name: t
        data: {{dataset: digits}}
        compile: {{optimizer: adam, loss: sparse_categorical_crossentropy}}
        models:
          {name}:
            layers: [Flatten, Dense: {{units: 10, activation: softmax}}]
        """)
    assert list(models_of(path, f"models.other={{extends: {name}, compile: {{optimizer: sgd}}}}")) == [name, "other"]


# --- short forms of losses, metrics and constraints: `--set` reaches their arguments as it does a layer's

SHORT_FORMS = textwrap.dedent("""\
    name: t
    data: {dataset: digits}
    compile:
      optimizer: adam
      loss: {Huber: 1.0}
      metrics: [accuracy, {SparseTopKCategoricalAccuracy: 3}, {PrecisionAtRecall: 0.5}]
    models:
      A:
        input_shape: [8, 8]
        layers:
          - Flatten
          - Dense: {units: 16, kernel_constraint: {MaxNorm: 3}, bias_constraint: max_norm}
          - Dense: {units: 10, kernel_constraint: {UnitNorm: 0}, bias_constraint: NonNeg}
      B:
        input_shape: [8, 8]
        compile: {loss: huber, metrics: [{TopKCategoricalAccuracy: 2}]}
        layers: [Flatten, Dense: 10]
      C:
        input_shape: [8, 8]
        compile: {loss: {CosineSimilarity: 1}}
        layers: [Flatten, Dense: 10]
    """)


def _built(path, *overrides):
    """Each model's Keras loss, metrics and Dense layers' constraints' configs, built from the spec with `overrides`."""
    from factory.build.compiler import build_model, compile_objects
    from factory.build.keras_setup import import_keras
    from factory.spec.loader import load

    keras = import_keras()
    out = {}
    for name, spec in load(path, overrides).experiment.resolved().models.items():
        loss, metrics = compile_objects(keras, spec.compile)
        model = build_model(name, spec)
        out[name] = {
            # a loss class keeps its function's arguments (Huber's delta) out of get_config
            "loss": {**loss.get_config(), **loss._fn_kwargs} if hasattr(loss, "get_config") else loss,
            "metrics": [m.get_config() if hasattr(m, "get_config") else m for m in metrics],
            "constraints": [(type(layer.kernel_constraint).__name__, layer.kernel_constraint.get_config(),
                             type(layer.bias_constraint).__name__, layer.bias_constraint.get_config())
                            for layer in model.layers if getattr(layer, "kernel_constraint", None) is not None]}
    return out


def test_set_changes_an_argument_of_a_loss_metric_or_constraint_written_in_a_short_form(write):
    path = write(SHORT_FORMS)
    before = _built(path)
    after = _built(path, "compile.loss.Huber.delta=2.0", "compile.metrics.1.SparseTopKCategoricalAccuracy.k=4",
                   "compile.metrics.2.PrecisionAtRecall.num_thresholds=50",
                   "models.A.layers.1.Dense.kernel_constraint.MaxNorm.axis=1",
                   "models.A.layers.1.Dense.bias_constraint.MaxNorm.max_value=5",
                   "models.A.layers.2.Dense.kernel_constraint.UnitNorm.axis=1",
                   "models.B.compile.loss.Huber.delta=0.5",
                   "models.B.compile.metrics.0.TopKCategoricalAccuracy.name=top2",
                   "models.C.compile.loss.CosineSimilarity.reduction=sum")
    assert (before["A"]["loss"]["delta"], after["A"]["loss"]["delta"]) == (1.0, 2.0)
    assert (before["A"]["metrics"][1]["k"], after["A"]["metrics"][1]["k"]) == (3, 4)
    assert before["A"]["metrics"][2]["recall"] == after["A"]["metrics"][2]["recall"] == 0.5
    assert (before["A"]["metrics"][2]["num_thresholds"], after["A"]["metrics"][2]["num_thresholds"]) == (200, 50)
    assert before["A"]["constraints"] == [("MaxNorm", {"max_value": 3, "axis": 0}, "MaxNorm", {"max_value": 2, "axis": 0}),
                                          ("UnitNorm", {"axis": 0}, "NonNeg", {})]
    assert after["A"]["constraints"] == [("MaxNorm", {"max_value": 3, "axis": 1}, "MaxNorm", {"max_value": 5, "axis": 0}),
                                         ("UnitNorm", {"axis": 1}, "NonNeg", {})]
    assert before["B"]["loss"] == "huber" and after["B"]["loss"]["delta"] == 0.5  # the name `huber` is Huber
    assert (before["B"]["metrics"][0]["name"], after["B"]["metrics"][0]["name"]) == ("top_k_categorical_accuracy", "top2")
    assert before["B"]["metrics"][0]["k"] == after["B"]["metrics"][0]["k"] == 2
    assert (before["C"]["loss"]["reduction"], after["C"]["loss"]["reduction"]) == ("sum_over_batch_size", "sum")
    assert before["C"]["loss"]["axis"] == after["C"]["loss"]["axis"] == 1


def test_set_on_a_short_form_of_a_loss_or_metric_that_cannot_be_set_says_why(write):
    path = write(SHORT_FORMS)
    assert errors_of(path, "compile.loss.Huber.detla=2.0") == [
        "<--set compile.loss.Huber.detla=2.0>:1:1: compile.loss.Huber.detla: unknown key 'detla'; did you mean 'delta'?"]
    assert errors_of(path, "compile.loss.Huber.delta.x=1",
                     "compile.loss.MeanSquaredError.reduction=sum", "compile.metrics.1.AUC.curve=PR",
                     "compile.metrics.5.AUC.curve=PR", "models.A.layers.1.Dense.kernel_constraint.MinMaxNorm.rate=1") == [
        "<--set compile.loss.Huber.delta.x=1>:1:1: compile.loss.Huber.delta.x: cannot set below 'delta': it is 1.0, "
        "not a mapping; set compile.loss.Huber.delta=... itself",
        "<--set compile.loss.MeanSquaredError.reduction=sum>:1:1: compile.loss.MeanSquaredError.reduction: "
        "compile.loss is a Huber, not a MeanSquaredError: set an argument of the Huber "
        "(compile.loss.Huber.<argument>=...) or replace the whole entry (compile.loss={MeanSquaredError: ...})",
        "<--set compile.metrics.1.AUC.curve=PR>:1:1: compile.metrics[1].AUC.curve: compile.metrics[1] is a "
        "SparseTopKCategoricalAccuracy, not an AUC: set an argument of the SparseTopKCategoricalAccuracy "
        "(compile.metrics.1.SparseTopKCategoricalAccuracy.<argument>=...) or replace the whole entry "
        "(compile.metrics.1={AUC: ...})",
        "<--set compile.metrics.5.AUC.curve=PR>:1:1: compile.metrics[5].AUC.curve: '5' is not an index of "
        "compile.metrics, a list of 3 item(s)",
        "<--set models.A.layers.1.Dense.kernel_constraint.MinMaxNorm.rate=1>:1:1: "
        "models.A.layers[1].Dense.kernel_constraint.MinMaxNorm.rate: models.A.layers[1].Dense.kernel_constraint is "
        "a MaxNorm, not a MinMaxNorm: set an argument of the MaxNorm "
        "(models.A.layers.1.Dense.kernel_constraint.MaxNorm.<argument>=...) or replace the whole entry "
        "(models.A.layers.1.Dense.kernel_constraint={MinMaxNorm: ...})"]


def test_set_reaches_a_short_form_loss_or_metric_of_one_output(write):
    """Per-output losses and metrics (`loss: {label: {Huber: 1.0}}`): the same paths with the output's name."""
    from factory.build.compiler import compile_objects
    from factory.build.keras_setup import import_keras
    from factory.spec.loader import load

    path = write(textwrap.dedent("""\
        name: t
        data: {dataset: digits}
        compile:
          optimizer: adam
          loss: {label: {Huber: 1.0}, size: mse}
          metrics: {label: [{SparseTopKCategoricalAccuracy: 3}]}
        models:
          m:
            input_shape: [8, 8]
            layers:
              - Flatten
              - Dense: {units: 16, name: features}
              - Dense: {units: 10, name: label}
              - Dense: {units: 1, from: features, name: size}
            outputs: [label, size]
        """))
    spec = load(path, ["compile.loss.label.Huber.delta=2.0", "compile.loss.size.MeanSquaredError.reduction=sum",
                       "compile.metrics.label.0.SparseTopKCategoricalAccuracy.k=4"]).experiment.resolved().models["m"]
    loss, metrics = compile_objects(import_keras(), spec.compile)
    assert loss["label"]._fn_kwargs["delta"] == 2.0 and loss["size"].get_config()["reduction"] == "sum"
    assert metrics["label"][0].get_config()["k"] == 4
    assert errors_of(path, "compile.loss.label.CosineSimilarity.axis=1") == [
        "<--set compile.loss.label.CosineSimilarity.axis=1>:1:1: compile.loss.label.CosineSimilarity.axis: "
        "compile.loss.label is a Huber, not a CosineSimilarity: set an argument of the Huber "
        "(compile.loss.label.Huber.<argument>=...) or replace the whole entry (compile.loss.label={CosineSimilarity: ...})"]
