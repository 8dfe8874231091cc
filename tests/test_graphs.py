"""Graphs: residual, parallel, `from:`, several inputs and outputs build what the functional API builds by hand."""

import numpy as np
import pytest

from factory.build.compiler import build_model, dry_build
from factory.build.keras_setup import import_keras
from factory.spec.loader import load
from tests.conftest import ROOT

keras = import_keras()
L = keras.layers
EXAMPLES = ROOT / "tests" / "graphs" / "issue11_examples.yaml"


def configs(model):
    """Each layer's class and config, names left out (Keras numbers them), in the model's order."""
    out = []
    for layer in model.layers:
        config = layer.get_config()
        config.pop("name", None)
        out.append((type(layer).__name__, config))
    return out


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
    return keras.Model({"image": image, "extra": extra}, {"label": label, "size": size})


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
    for a, b in zip(*(v.values() if isinstance(v, dict) else [v] for v in (mine, theirs)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_dry_build_of_a_graph_gives_figures_per_spec_layer():
    dry = dry_build("resnet_tiny", example("resnet_tiny"), [28, 28, 1])
    assert dry.params == resnet_tiny_by_hand().count_params() == sum(dry.layer_params)
    assert dry.layer_params[1] == 2 * (9 * 32 * 32 + 32) + 4 * 32  # two convs and a BatchNormalization
    assert dry.layer_shapes[2] == ((None, 28, 28, 32), (None, 14, 14, 64))
    assert dry.output_shape == (None, 10)
    two = dry_build("two_inputs", example("two_inputs"), {"image": [28, 28], "extra": [4]})
    assert two.output_shapes == {"label": (None, 10), "size": (None, 1)}
