"""What differs between graph models: residuals, parallel branches, inputs and outputs, named as such."""

import pytest

from factory.results.differences import describe_models, differences, model_differences, show_layer
from factory.results.models import model_info


def conv(filters, kernel_size=3, **extra):
    return {"Conv2D": {"filters": filters, "kernel_size": kernel_size, "padding": "same", **extra}}


BN, RELU, GAP = {"BatchNormalization": {}}, {"ReLU": {}}, {"GlobalAveragePooling2D": {}}
HEAD = {"Dense": {"units": 10, "activation": "softmax"}}
POOL = {"MaxPooling2D": {"pool_size": 3, "strides": 1, "padding": "same"}}
BODY = [conv(32), BN, RELU, conv(32)]
RESIDUAL = {"residual": {"layers": BODY}}
INCEPTION = {"parallel": {"branches": [[conv(16, 1)], [conv(16)]]}}


@pytest.mark.parametrize("a,b,expected", [
    # the words: a residual added is named as such, with what it holds
    ([conv(32), GAP, HEAD], [conv(32), RESIDUAL, GAP, HEAD], ["+residual(Conv2D, BatchNormalization, ReLU, Conv2D)"]),
    ([conv(32), RESIDUAL, GAP, HEAD], [conv(32), GAP, HEAD], ["-residual(Conv2D, BatchNormalization, ReLU, Conv2D)"]),
    # two more of the same residual: counted, as repeated layers are
    ([conv(32), RESIDUAL, GAP, HEAD], [conv(32), RESIDUAL, RESIDUAL, RESIDUAL, GAP, HEAD],
     ["+residual(Conv2D, BatchNormalization, ReLU, Conv2D) x2"]),
    # inside a residual: the change, not a residual removed and another added
    ([RESIDUAL], [{"residual": {"layers": [*BODY, BN], "merge": "add"}}], ["residual: +BatchNormalization"]),
    ([RESIDUAL], [{"residual": {"layers": BODY, "shortcut": [conv(32, 1)]}}], ["residual shortcut: +Conv2D(filters=32, kernel_size=1, padding=same)"]),
    ([RESIDUAL], [{"residual": {"layers": BODY, "merge": "concatenate"}}], ["residual: merge=add -> concatenate"]),
    # a branch added to a parallel, and a branch changed
    ([INCEPTION, GAP], [{"parallel": {"branches": [[conv(16, 1)], [conv(16)], [POOL]]}}, GAP],
     ["parallel: +branch(MaxPooling2D)"]),
    ([INCEPTION], [{"parallel": {"branches": [[conv(16, 1)], [conv(16, 5)]], "merge": "add"}}],
     ["parallel branch 2: Conv2D: kernel_size=3 -> 5", "parallel: merge=concatenate -> add"]),
    ([INCEPTION], [{"parallel": {"branches": [[conv(16)]]}}], ["parallel: -branch(Conv2D)"]),
    # a residual and a parallel are not one replaced by the other
    ([conv(8), RESIDUAL], [conv(8), INCEPTION],
     ["-residual(Conv2D, BatchNormalization, ReLU, Conv2D)", "+parallel(Conv2D | Conv2D)"]),
    # where a layer reads from is one of its arguments
    ([{"Dense": {"units": 1, "from": "features"}}], [{"Dense": {"units": 1, "from": "extra"}}],
     ["Dense: from=features -> extra"]),
    # a construct frozen, reading elsewhere or renamed is another model (review 11, finding 1)
    ([conv(8), RESIDUAL], [conv(8), {"residual": {"layers": BODY, "trainable": False}}],
     ["residual: trainable=true -> false"]),
    ([conv(8, name="a"), RESIDUAL], [conv(8, name="a"), {"residual": {"layers": BODY, "from": "a", "name": "r"}}],
     ["residual: +from=a, +name=r"]),
    ([INCEPTION], [{"parallel": {"branches": [[conv(16, 1)], [conv(16)]], "from": ["x"], "trainable": True}}],
     ["parallel: +from=[x]"]),
])
def test_graph_differences_name_the_construct(a, b, expected):
    assert differences(a, b) == expected


def test_show_layer_of_constructs():
    assert show_layer({"residual": {"layers": [conv(64, strides=2)], "shortcut": [conv(64, 1, strides=2)]}}) == \
        "residual(Conv2D; shortcut Conv2D)"
    assert show_layer({"parallel": {"branches": [[conv(16, 1)], [conv(16), BN], [POOL]], "merge": "add"}}) == \
        "parallel(Conv2D | Conv2D, BatchNormalization | MaxPooling2D; merge add)"
    # defaults written out (as a dump with defaults has them) read as not written
    assert show_layer({"residual": {"layers": BODY, "shortcut": None, "merge": "add"}}) == \
        "residual(Conv2D, BatchNormalization, ReLU, Conv2D)"


def results(**models):
    return {"experiment": {"name": "x", "data": {"dataset": "two.npz"}, "models": models}}


ONE = {"input_shape": [28, 28], "layers": [{"Flatten": {}}, {"Dense": {"units": 64, "name": "features"}}, HEAD]}
TWO = {"inputs": {"image": [28, 28], "extra": [4]},
       "layers": [{"Flatten": {"from": "image"}}, {"Dense": {"units": 64, "activation": "relu", "name": "features"}},
                  {"Concatenate": {"from": ["features", "extra"]}},
                  {"Dense": {"units": 10, "activation": "softmax", "name": "label"}},
                  {"Dense": {"units": 1, "from": "features", "name": "size"}}],
       "outputs": ["label", "size"]}


def test_an_input_and_an_output_added_are_named_from_results_json():
    info = model_info(results(one=ONE, two=TWO))
    assert info["two"]["inputs"] == {"image": [28, 28], "extra": [4]} and info["two"]["outputs"] == ["label", "size"]
    assert info["one"]["inputs"] is None and info["one"]["outputs"] is None
    changes = model_differences(info["one"], info["two"])
    assert changes[-2:] == ["+input extra [4]", "+output size"]
    assert "Flatten: +from=image" in changes and "+Concatenate(from=[features, extra])" in changes
    assert "+Dense(units=1, from=features)" in changes
    assert model_differences(info["two"], info["one"])[-2:] == ["-input extra", "-output size"]
    resized = {**TWO, "inputs": {"image": [32, 32], "extra": [4]}}
    assert model_differences(info["two"], model_info(results(m=resized))["m"]) == ["input image: [28, 28] -> [32, 32]"]
    assert describe_models(info["two"], info["two"]) == "same layers and settings"


def test_constructs_as_results_json_stores_them():
    """The resolved spec's dump, as results.json stores it; a construct keyed by its class (`Residual`,
    as an earlier dump wrote it) reads the same."""
    from tests.conftest import models_of
    from tests.test_graphs import EXAMPLES

    resnet = models_of(EXAMPLES)["resnet_tiny"]
    assert differences([conv(8)], [conv(8), {"Residual": {"layers": BODY, "merge": "add"}}]) == \
        ["+residual(Conv2D, BatchNormalization, ReLU, Conv2D)"]
    fewer = {**resnet, "layers": [resnet["layers"][0], *resnet["layers"][2:]]}
    info = model_info(results(a=fewer, b=resnet))
    assert model_differences(info["a"], info["b"]) == ["+residual(Conv2D, BatchNormalization, ReLU, Conv2D)"]
    assert show_layer(resnet["layers"][3]) == "parallel(Conv2D | Conv2D | MaxPooling2D)"
