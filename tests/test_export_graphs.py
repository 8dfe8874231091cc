"""Export of Functional models: readable specs that rebuild the same graph, deep architectures included.

A round trip is: a Keras model -> `factory export`'s library file -> validated by the TF-free
loader -> built by the compiler -> the same layer configs (names aside), the same connectivity
(each layer reads the same layers, in the same order) and the same parameter count.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import yaml

from factory.build.export import library_yaml, model_to_spec
from factory.build.keras_graph import graph_of
from factory.build.keras_setup import import_keras
from factory.errors import SpecError
from tests.test_show import two_inputs

keras = import_keras()
L = keras.layers


def _without_names(config):
    """A layer config without its name, nor the names of the layers inside it (Bidirectional's)."""
    if isinstance(config, dict):
        inner = {k: _without_names(v) for k, v in config.items() if k != "name"}
        return inner
    if isinstance(config, (list, tuple)):
        return [_without_names(v) for v in config]
    return config


def structure(model) -> tuple[list[str], list[str]]:
    """(a fingerprint per output, the sorted fingerprints of every layer): equal for two models
    exactly when their layers have the same classes and configs (names aside) and each reads the
    same layers in the same order. A fingerprint hashes a layer's config with its sources'."""
    graph = graph_of(model)
    prints = {name: f"input {i} {shape}" for i, (name, shape) in enumerate(graph.inputs.items())}
    layers = graph.layers

    def fingerprint(name):
        if name not in prints:
            layer = layers[name]
            text = json.dumps([type(layer).__name__, _without_names(layer.get_config()),
                               [fingerprint(s) for s in graph.sources[name]]], sort_keys=True, default=str)
            prints[name] = hashlib.sha256(text.encode()).hexdigest()
        return prints[name]

    return [fingerprint(o) for o in graph.outputs], sorted(fingerprint(n) for n in layers)


def rebuilt(model, tmp_path):
    """The model the exported library file builds, through the loader (TF-free) and the compiler."""
    from factory.build.compiler import build_model
    from factory.spec.loader import load_spec

    path = tmp_path / "exported.yaml"
    path.write_text(library_yaml("exported", model_to_spec(model)), encoding="utf-8")
    spec = load_spec(path).library.models["exported"]
    return build_model("exported", spec)


APPLICATIONS = {  # weights=None and small inputs: the architecture is what is exported
    "ResNet50": (64, 64, 3), "DenseNet121": (64, 64, 3), "MobileNetV2": (96, 96, 3), "EfficientNetB0": (64, 64, 3)}


# EfficientNet's Dropout has noise_shape [null, 1, 1, 1] (whole examples dropped, the batch axis left to Keras)
@pytest.mark.parametrize("name", APPLICATIONS)
def test_keras_applications_round_trip(name, tmp_path):
    model = getattr(keras.applications, name)(weights=None, input_shape=APPLICATIONS[name])
    started = time.perf_counter()
    second = rebuilt(model, tmp_path)
    seconds = time.perf_counter() - started
    assert len(second.layers) == len(model.layers)
    assert second.count_params() == model.count_params()
    assert structure(second) == structure(model)
    print(f"{name}: {len(model.layers)} layers, {model.count_params():,} parameters, round trip {seconds:.1f} s")


# residuals found in each (x merged with f(x)); the rest of the merges keep `from:`. DenseNet's
# Concatenate(axis=3) is not the default merge `residual` builds; EfficientNet's 9 Add([f(x), x]) merge
# in the other order than `residual` does, and its 16 squeeze-and-excitation Multiply([x, se(x)])
# broadcast (32, 32, 32) by (1, 1, 32), which a residual refuses.
RESIDUALS = {"ResNet50": 16, "DenseNet121": 0, "MobileNetV2": 10, "EfficientNetB0": 0}


@pytest.mark.parametrize("name", APPLICATIONS)
def test_from_is_written_only_where_the_graph_branches(name):
    model = getattr(keras.applications, name)(weights=None, input_shape=APPLICATIONS[name])
    graph = graph_of(model)
    readers = {}
    for layer, sources in graph.sources.items():
        for source in sources:
            readers[source] = readers.get(source, 0) + 1
    spec = model_to_spec(model)
    assert "input_shape" in spec and "inputs" not in spec and "outputs" not in spec  # one input, one output
    entries = [next(iter(entry.values())) for entry in spec["layers"]]
    reading = [e["from"] for e in entries if isinstance(e, dict) and "from" in e]
    single = [r for r in reading if isinstance(r, str)]
    # every single `from:` reads a fork (a layer read by several), and each fork's first reader needs none
    assert all(readers[r] > 1 for r in single)
    assert len(single) <= sum(n - 1 for n in readers.values() if n > 1)
    # every merging layer is a residual or has a list `from:`
    residuals = [e for e in spec["layers"] if "residual" in e]
    assert len(residuals) == RESIDUALS[name]
    assert len(reading) - len(single) + len(residuals) == len(graph.merged)
    # a name only where something reads it by name
    named = [e["name"] for e in entries if isinstance(e, dict) and "name" in e]
    assert set(named) == set(single) | {s for r in reading if isinstance(r, list) for s in r}


def test_the_issue_s_two_input_model_exports_as_the_issue_writes_it():
    assert model_to_spec(two_inputs()) == {
        "inputs": {"image": [28, 28], "extra": [4]},
        "layers": [{"Flatten": {"from": "image"}},
                   {"Dense": {"units": 64, "activation": "relu", "name": "features"}},
                   {"Concatenate": {"from": ["features", "extra"]}},
                   {"Dense": {"units": 10, "activation": "softmax", "name": "label"}},
                   {"Dense": {"units": 1, "from": "features", "name": "size"}}],
        "outputs": ["label", "size"]}


def test_two_input_model_round_trips(tmp_path):
    model = two_inputs()
    second = rebuilt(model, tmp_path)
    assert structure(second) == structure(model) and second.count_params() == model.count_params()
    assert graph_of(second).outputs == ["label", "size"]


def residual_cnn():
    x = keras.Input((28, 28, 1))
    y = L.Conv2D(32, 3, padding="same", activation="relu", name="stem")(x)
    z = L.Conv2D(32, 3, padding="same")(y)
    z = L.BatchNormalization()(z)
    z = L.ReLU()(z)
    z = L.Conv2D(32, 3, padding="same", name="body_out")(z)
    y = L.Add()([y, z])
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(10, activation="softmax")(y))


CONV = {"filters": 32, "kernel_size": [3, 3], "padding": "same"}


def test_x_plus_f_of_x_is_written_as_a_residual():
    assert model_to_spec(residual_cnn()) == {"input_shape": [28, 28, 1], "layers": [
        {"Conv2D": {**CONV, "activation": "relu"}},
        {"residual": {"layers": [{"Conv2D": CONV}, {"BatchNormalization": {}}, {"ReLU": {}}, {"Conv2D": CONV}]}},
        {"GlobalAveragePooling2D": {}}, {"Dense": {"units": 10, "activation": "softmax"}}]}


def residual_variants():
    """A residual with a shortcut (merge multiply), and f(x) + x: merged in the other order than `residual`."""
    x = keras.Input((8, 8, 4))
    y = L.Conv2D(8, 1, name="stem")(x)
    body = L.Conv2D(16, 3, strides=2, padding="same")(y)
    skip = L.Conv2D(16, 1, strides=2)(y)
    y = L.Multiply(name="gate")([skip, body])
    z = L.Conv2D(16, 3, padding="same", name="f")(y)
    y = L.Add(name="body_first")([z, y])
    return keras.Model(x, L.Dense(2)(L.Flatten()(y)))


def test_a_shortcut_and_a_merge_are_written_and_the_other_order_keeps_from():
    assert model_to_spec(residual_variants())["layers"] == [
        {"Conv2D": {"filters": 8, "kernel_size": [1, 1]}},
        {"residual": {"layers": [{"Conv2D": {"filters": 16, "kernel_size": [3, 3], "strides": [2, 2],
                                             "padding": "same"}}],
                      "shortcut": [{"Conv2D": {"filters": 16, "kernel_size": [1, 1], "strides": [2, 2]}}],
                      "merge": "multiply", "name": "gate"}},
        {"Conv2D": {"filters": 16, "kernel_size": [3, 3], "padding": "same", "name": "f"}},
        {"Add": {"from": ["f", "gate"]}},
        {"Flatten": {}}, {"Dense": 2}]


@pytest.mark.parametrize("make", [residual_cnn, residual_variants])
def test_residuals_round_trip(make, tmp_path):
    model = make()
    second = rebuilt(model, tmp_path)
    assert structure(second) == structure(model) and second.count_params() == model.count_params()


def test_a_chain_in_the_functional_api_is_a_plain_list():
    x = keras.Input((8,))
    model = keras.Model(x, L.Dense(2)(L.Dense(4, activation="relu")(x)))
    assert model_to_spec(model) == {"input_shape": [8], "layers": [{"Dense": {"units": 4, "activation": "relu"}},
                                                                   {"Dense": 2}]}


class Scale(keras.layers.Layer):
    """A custom layer: Python code the spec language cannot hold."""

    def call(self, x):
        return x * 2


def test_custom_and_lambda_layers_are_named_all_at_once():
    x = keras.Input((4,))
    y = L.Lambda(lambda t: t + 1, name="plus_one")(Scale(name="scale")(L.Dense(3)(x)))
    with pytest.raises(SpecError) as e:
        model_to_spec(keras.Model(x, y))
    assert [i.message for i in e.value.issues] == [
        "layer 'scale' (Scale) cannot be expressed in the spec language: it is not one of Keras's built-in layers",
        "layer 'plus_one' (Lambda) cannot be expressed in the spec language: it runs a Python function, and a "
        "spec cannot run code"]


def augmented():
    """A Sequential of augmentation layers used as a layer, as Keras's image classification tutorial does."""
    augment = keras.Sequential([L.RandomFlip("horizontal"), L.RandomRotation(0.1)], name="augment")
    x = keras.Input((16, 16, 3))
    y = L.Conv2D(4, 3, name="conv")(augment(L.Rescaling(1 / 255)(x)))
    return keras.Model(x, L.Dense(2)(L.Flatten()(y)))


def test_a_model_used_as_a_layer_is_written_as_its_layers(tmp_path):
    model = augmented()
    spec = model_to_spec(model)
    assert [next(iter(e)) for e in spec["layers"]] == ["Rescaling", "RandomFlip", "RandomRotation", "Conv2D",
                                                       "Flatten", "Dense"]
    assert not any("from" in str(e) for e in spec["layers"])  # still one straight run
    second = rebuilt(model, tmp_path)
    assert structure(second) == structure(model) and second.count_params() == model.count_params()


def test_a_shared_layer_and_a_subclassed_model_are_refused_by_name():
    x = keras.Input((4,))
    shared = L.Dense(4, name="shared")
    with pytest.raises(SpecError, match=r"^layer 'shared' \(Dense\) is called 2 times \(a shared layer\): "
                                        r"a spec builds one layer per entry$"):
        model_to_spec(keras.Model(x, shared(shared(x))))

    class Net(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(SpecError, match=r"model 'net' is a subclassed Net: its graph is Python code"):
        model_to_spec(Net(name="net"))


def test_export_command_writes_a_graph_in_block_style(cli, tmp_path):
    two_inputs().save(tmp_path / "two.keras")
    code, out, err = cli("export", tmp_path / "two.keras", "--name", "two")
    assert (code, err) == (0, "")
    assert yaml.safe_load(out)["models"]["two"] == model_to_spec(two_inputs())
    assert "{" not in out and "[" not in out
    assert "      - Concatenate:\n          from:\n            - features\n            - extra\n" in out


def test_the_issue_s_models_export_back_to_the_issue_s_constructs(tmp_path):
    from factory.build.compiler import build_model
    from factory.spec.loader import load
    from tests.test_graphs import EXAMPLES

    models = load(EXAMPLES).experiment.resolved().models
    resnet = build_model("resnet_tiny", models["resnet_tiny"])
    spec = model_to_spec(resnet)
    assert [next(iter(e)) for e in spec["layers"]] == ["Conv2D", "residual", "residual", "parallel",
                                                        "GlobalAveragePooling2D", "Dense"]
    assert spec["layers"][2]["residual"] == {
        "layers": [{"Conv2D": {"filters": 64, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same"}}],
        "shortcut": [{"Conv2D": {"filters": 64, "kernel_size": [1, 1], "strides": [2, 2]}}]}
    assert spec["layers"][3]["parallel"]["branches"][2] == [
        {"MaxPooling2D": {"pool_size": [3, 3], "strides": [1, 1], "padding": "same"}}]
    second = rebuilt(resnet, tmp_path)
    assert structure(second) == structure(resnet) and second.count_params() == resnet.count_params()
    two = build_model("two_inputs", models["two_inputs"])
    assert model_to_spec(two) == model_to_spec(two_inputs())


def test_a_call_with_training_true_and_a_free_input_axis_are_refused_by_name():
    x = keras.Input((4,))
    with pytest.raises(SpecError, match=r"^layer 'mc' \(Dropout\) is called with training=True: a spec calls a "
                                        r"layer on its inputs only$"):
        model_to_spec(keras.Model(x, L.Dense(2)(L.Dropout(0.5, name="mc")(x, training=True))))
    x = keras.Input((None, 8), name="sequence")
    with pytest.raises(SpecError, match=r"^input 'sequence' has a free axis \[null, 8\]: the spec language's "
                                        r"input shapes are fixed$"):
        model_to_spec(keras.Model(x, L.Dense(2)(L.Dense(3)(x))))


def test_kept_names_that_keras_could_give_another_layer_are_renamed(tmp_path):
    from factory.build.keras_setup import fresh_layer_names

    with fresh_layer_names():  # Keras's automatic names, as a script building this model alone gets them
        x = keras.Input((4,))
        first = L.Dense(3)(x)  # dense
        fork = L.Dense(3)(first)  # dense_1
        a, b = L.Dense(2)(fork), L.Dense(2)(fork)  # dense_2, dense_3
        model = keras.Model(x, L.Dense(1)(L.Subtract()([a, b])))
    spec = model_to_spec(model)
    assert spec["layers"][1:5] == [{"Dense": {"units": 3, "name": "dense_1_out"}},
                                   {"Dense": {"units": 2, "name": "dense_2_out"}},
                                   {"Dense": {"units": 2, "from": "dense_1_out", "name": "dense_3_out"}},
                                   {"Subtract": {"from": ["dense_2_out", "dense_3_out"]}}]
    second = rebuilt(model, tmp_path)  # `dense_1` kept would be the name of the rebuild's second unnamed Dense
    assert structure(second) == structure(model)


def test_recurrent_layers_in_their_wrappers_round_trip():
    from factory.build.compiler import build_model
    from schemas import Model
    def configs(model):  # names aside, those of the layers inside a wrapper too
        return [(type(layer).__name__, _without_names(layer.get_config())) for layer in model.layers]

    model = keras.Sequential([keras.Input((10, 4)), L.Bidirectional(L.LSTM(8, return_sequences=True)),
                              L.TimeDistributed(L.Dense(3)), L.GRU(5), L.Dense(2)])
    spec = model_to_spec(model)
    assert spec["layers"] == [{"Bidirectional": {"layer": {"LSTM": {"return_sequences": True, "units": 8}}}},
                              {"TimeDistributed": {"layer": {"Dense": 3}}}, {"GRU": 5}, {"Dense": 2}]
    assert configs(build_model("m", Model.model_validate(spec))) == configs(model)


def test_input_names_the_spec_refuses_are_renamed_and_the_order_of_inputs_is_kept(tmp_path):
    first, second = keras.Input((8,), name="zz in"), keras.Input((8,), name="_aa")
    model = keras.Model([first, second], L.Add(name="sum")([L.Dense(8)(first), second]))
    spec = model_to_spec(model)
    assert list(spec["inputs"]) == ["zz_in", "aa"]
    assert spec["layers"][0]["Dense"]["from"] == "zz_in" and spec["layers"][1]["Add"]["from"][1] == "aa"
    again = rebuilt(model, tmp_path)
    assert list(graph_of(again).inputs) == ["zz_in", "aa"] == [t.name for t in again.inputs]
    assert structure(again) == structure(model)
