"""What differs between two models: layers aligned as a reader pairs them, and every setting."""

import pytest

from factory.results.differences import describe_models, differences, model_differences
from factory.results.models import model_info

F, BN = {"Flatten": {}}, {"BatchNormalization": {}}
RELU = {"Activation": {"activation": "relu"}}
LEAKY = {"LeakyReLU": {"negative_slope": 0.2}}


def dense(units, activation=None):
    return {"Dense": {"units": units, **({"activation": activation} if activation else {})}}


@pytest.mark.parametrize("a,b,expected", [
    # the seed's A -> B: activations moved into their own layers, BatchNormalization after each Dense
    ([F, dense(64, "relu"), dense(32, "relu"), dense(10, "softmax")],
     [F, dense(64), BN, RELU, dense(32), BN, RELU, dense(10, "softmax")],
     ["Dense: -activation=relu x2", "+BatchNormalization x2", "+Activation(relu) x2"]),
    # a Dense inserted in the middle pairs with nothing (difflib: `Dense: units=10 -> 32, +Dense(10)`)
    ([dense(64), dense(10)], [dense(64), dense(32), dense(10)], ["+Dense(32)"]),
    # a whole block inserted: the block, not a changed last Dense plus a new one
    ([F, dense(64), BN, RELU, dense(10)], [F, dense(64), BN, RELU, dense(32), BN, RELU, dense(10)],
     ["+Dense(32)", "+BatchNormalization", "+Activation(relu)"]),
    ([F, dense(128), dense(64), dense(10)],
     [F, dense(128), BN, RELU, dense(64), BN, RELU, dense(32), BN, RELU, dense(10)],
     ["+BatchNormalization x3", "+Activation(relu) x3", "+Dense(32)"]),
    # an activation replaced by another while a normalization is inserted before it
    ([F, dense(64), RELU, dense(10)], [F, dense(64), BN, LEAKY, dense(10)],
     ["+BatchNormalization", "Activation(relu) -> LeakyReLU(0.2)"]),
    ([F, dense(64), BN, RELU, dense(32), BN, RELU, dense(10)],
     [F, dense(64), BN, LEAKY, dense(32), BN, LEAKY, dense(10)], ["Activation(relu) -> LeakyReLU(0.2) x2"]),
    ([F, dense(64), dense(10)], [F, dense(10)], ["-Dense(64)"]),
    ([F, dense(64)], [F, dense(64)], []),
])
def test_layer_differences_pair_layers_as_a_reader_would(a, b, expected):
    assert differences(a, b) == expected


def results(**models):
    return {"experiment": {"name": "x", "data": {"dataset": "digits", "train_size": None},
                           "models": models}}


def spec(learning_rate=0.001, epochs=5, seeds=(0,), **extra):
    return {"label": None, "layers": [F, dense(10)], "input_shape": None,
            "compile": {"optimizer": {"Adam": {"learning_rate": learning_rate}}, "loss": "mse", "metrics": ["mae"]},
            "training": {"epochs": epochs, "batch_size": 32, "seeds": list(seeds)}, "color": "navy", **extra}


def test_model_info_from_the_plain_results_dict():
    info = model_info(results(A=spec(label="ReLU"), B=spec(linestyle=":")))
    assert list(info) == ["A", "B"]
    assert info["A"]["label"] == "ReLU" and info["B"]["label"] is None
    assert (info["B"]["color"], info["B"]["linestyle"]) == ("navy", ":")
    assert info["A"]["layers"] == [F, dense(10)] and info["A"]["data"] == {"dataset": "digits", "train_size": None}
    assert info["A"]["compile"]["optimizer"] == {"Adam": {"learning_rate": 0.001}}


def test_differences_cover_compile_training_and_data():
    a = model_info(results(A=spec()))["A"]
    b = model_info(results(A=spec(learning_rate=0.003, epochs=10, seeds=(0, 1, 2))))["A"]
    b["data"] = {"dataset": "digits", "train_size": 500}
    assert model_differences(a, b) == ["compile.optimizer: Adam(learning_rate=0.001) -> Adam(learning_rate=0.003)",
                                       "training.epochs: 5 -> 10", "data.train_size: null -> 500"]
    assert describe_models(a, b, limit=1) == \
        "compile.optimizer: Adam(learning_rate=0.001) -> Adam(learning_rate=0.003) (+2 more)"
    assert describe_models(a, a) == "same layers and settings"  # seeds alone are not a difference
    assert describe_models({"layers": [F]}, {"layers": [F]}) == "same layers"


def test_layer_and_setting_differences_together():
    a, b = spec(), spec(learning_rate=0.001)
    b["layers"] = [F, dense(32), dense(10)]
    b["compile"] = {**b["compile"], "loss": "mae"}
    info = model_info(results(A=a, B=b))
    assert model_differences(info["A"], info["B"]) == ["+Dense(32)", "compile.loss: mse -> mae"]


def test_an_input_layer_is_the_models_input_shape_not_a_layer():
    a, b = spec(), spec()
    a["layers"] = [{"Input": {"shape": [8, 8]}}, F, dense(10)]
    info = model_info(results(A=a, B=b))
    assert info["A"]["input_shape"] == [8, 8] and info["A"]["layers"] == [F, dense(10)]
    # B takes its shape from the data, which every model's declared shape was checked against
    assert model_differences(info["A"], info["B"]) == []
    c = spec(input_shape=[64])
    recorded = {**results(A=a, C=c), "data_fingerprint": {"x_train": {"shape": [100, 8, 8]}}}
    info = model_info(recorded)
    assert info["C"]["input_shape"] == [64] and info["A"]["input_shape"] == [8, 8]
    assert model_differences(info["A"], info["C"]) == ["input_shape: [8, 8] -> [64]"]
    first_layer = spec()
    first_layer["layers"] = [{"Dense": {"units": 10, "input_shape": [8, 8]}}]
    assert model_info(results(A=first_layer))["A"]["input_shape"] == [8, 8]
    plain = model_info({**results(B=b), "data_fingerprint": {"x_train": {"shape": [100, 8, 8]}}})
    assert plain["B"]["input_shape"] == [8, 8]  # the data's, where results.json recorded it


def test_models_differing_only_in_their_input_dtype_are_not_the_same():
    """`bool` binarizes the inputs, `int32` truncates them: another model, though its layers are the same."""
    a, b, c = spec(), spec(), spec()
    b["input_dtype"], c["input_dtype"] = "int32", "bool"
    info = model_info(results(A=a, B=b, C=c))
    assert info["B"]["input_dtype"] == "int32" and info["A"]["input_dtype"] is None
    assert describe_models(info["A"], info["B"]) == "input_dtype: null -> int32"
    assert model_differences(info["B"], info["C"]) == ["input_dtype: int32 -> bool"]
    assert describe_models(info["B"], info["B"]) == "same layers and settings"
