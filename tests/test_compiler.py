"""The compiler builds the models a careful person writes by hand, layer by layer."""

import pytest

from factory.build.compiler import build_model
from factory.errors import SpecError
from factory.build.keras_setup import import_keras
from factory.spec.loader import load
from tests.conftest import ROOT

keras = import_keras()
L = keras.layers


def configs(model):
    """Layer configs without the names Keras numbers globally (dense_3 vs dense_7)."""
    out = []
    for layer in model.layers:
        config = layer.get_config()
        config.pop("name", None)
        out.append((type(layer).__name__, config))
    return out


def built(path, name):
    loaded = load(ROOT / "experiments" / path)
    return build_model(name, loaded.experiment.resolved().models[name])


def by_hand(*layers, shape=(28, 28)):
    return keras.Sequential([keras.Input(shape=shape), *layers])


SEED = {
    "A": lambda: by_hand(L.Flatten(), L.Dense(64, activation="relu"), L.Dense(32, activation="relu"),
                         L.Dense(10, activation="softmax")),
    "B": lambda: by_hand(L.Flatten(), L.Dense(64), L.BatchNormalization(), L.Activation("relu"),
                         L.Dense(32), L.BatchNormalization(), L.Activation("relu"),
                         L.Dense(10, activation="softmax")),
    "C": lambda: by_hand(L.Flatten(), L.Dense(64), L.BatchNormalization(), L.LeakyReLU(negative_slope=0.2),
                         L.Dense(32), L.BatchNormalization(), L.LeakyReLU(negative_slope=0.2),
                         L.Dense(10, activation="softmax")),
}


@pytest.mark.parametrize("name,params", [("A", 52_650), ("B", 53_034), ("C", 53_034)])
def test_seed_models_equal_hand_written(name, params):
    model = built("abc.yaml", name)
    assert configs(model) == configs(SEED[name]())
    assert model.count_params() == params
    assert model.input_shape == (None, 28, 28)


@pytest.mark.parametrize("path,name,hand", [
    ("initializers.yaml", "mlp-glorot_uniform", lambda: L.Dense(256, activation="relu")),
    ("initializers.yaml", "mlp-he_normal", lambda: L.Dense(256, kernel_initializer="he_normal", activation="relu")),
    ("initializers.yaml", "mlp-lecun_normal", lambda: L.Dense(256, kernel_initializer="lecun_normal", activation="relu")),
    ("regularizers.yaml", "mlp-none", lambda: L.Dense(256, activation="relu")),
    ("initializers.yaml", "mlp-HeNormal_seed_42", lambda: L.Dense(256, kernel_initializer=keras.initializers.HeNormal(seed=42),
                                                      activation="relu")),
    ("regularizers.yaml", "mlp-l1", lambda: L.Dense(256, kernel_regularizer="l1", activation="relu")),
    ("regularizers.yaml", "mlp-l1_0.1", lambda: L.Dense(256, kernel_regularizer=keras.regularizers.l1(l1=0.1),
                                                       activation="relu")),
    ("regularizers.yaml", "mlp-L1L2_l1_0.001_l2_0.001", lambda: L.Dense(256, kernel_regularizer=keras.regularizers.L1L2(l1=1e-3, l2=1e-3),
                                                   activation="relu")),
])
def test_initializer_and_regularizer_variants_equal_hand_written(path, name, hand):
    expected = by_hand(L.Flatten(), hand(), L.Dense(10, activation="softmax"))
    assert configs(built(path, name)) == configs(expected)


def test_dropout_variant_equals_hand_written():
    expected = by_hand(L.Flatten(), L.Dense(256, activation="relu"), L.Dropout(0.25),
                       L.Dense(128, activation="relu"), L.Dropout(0.25), L.Dense(10, activation="softmax"))
    assert configs(built("dropout.yaml", "mlp-0.25")) == configs(expected)


def test_every_layer_kind_builds_as_written_by_hand(write):
    text = """\
    name: every
    data: {dataset: digits}
    compile: {loss: mse}
    models:
      conv:
        layers:
          - Input: [8, 8]
          - Reshape: [8, 8, 1]
          - GaussianNoise: 0.1
          - Conv2D: {filters: 4, kernel_size: 3, padding: same, kernel_initializer: lecun_normal}
          - ReLU: {max_value: 6.0}
          - MaxPooling2D: 2
          - Conv2D: {filters: 4, kernel_size: [2, 2], bias_regularizer: {l2: 0.01}}
          - ELU: 1.0
          - AveragePooling2D: {pool_size: 1}
          - PReLU: {}
          - GlobalAveragePooling2D: {}
          - LayerNormalization: {}
          - Dense: {units: 3, kernel_initializer: {VarianceScaling: {scale: 2.0, mode: fan_avg}}}
          - Softmax: -1
          - Dropout: 0.1
      pool:
        input_shape: [8, 8, 1]
        layers: [GlobalMaxPooling2D, {Dense: 2}]
    """
    hand = {
        "conv": by_hand(L.Reshape((8, 8, 1)), L.GaussianNoise(0.1),
                        L.Conv2D(4, 3, padding="same", kernel_initializer="lecun_normal"), L.ReLU(max_value=6.0),
                        L.MaxPooling2D(2), L.Conv2D(4, (2, 2), bias_regularizer=keras.regularizers.L2(0.01)),
                        L.ELU(1.0), L.AveragePooling2D(pool_size=1), L.PReLU(), L.GlobalAveragePooling2D(),
                        L.LayerNormalization(),
                        L.Dense(3, kernel_initializer=keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg")),
                        L.Softmax(-1), L.Dropout(0.1), shape=(8, 8)),
        "pool": by_hand(L.GlobalMaxPooling2D(), L.Dense(2), shape=(8, 8, 1)),
    }
    exp = load(write(text)).experiment.resolved()
    for name, spec in exp.models.items():
        ours, theirs = configs(build_model(name, spec)), configs(hand[name])
        assert len(ours) == len(theirs) == len(spec.layers) - (name == "conv")  # Input is not a layer
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert a == b, f"{name} layer {i}"


def test_auto_layer_names_do_not_depend_on_what_was_built_before():
    experiment = load(ROOT / "experiments" / "abc.yaml").experiment.resolved()
    build_model("B", experiment.models["B"])
    L.Dense(3), L.Flatten()  # layers a user's own code made in the same process
    names = [layer.name for layer in build_model("A", experiment.models["A"]).layers]
    assert names == ["flatten", "dense", "dense_1", "dense_2"]  # what a script building only A gets
    assert L.Dense(3).name != "dense"  # the process's own numbering goes on


def test_a_model_that_cannot_be_built_names_model_and_layer(write):
    text = """\
    name: bad
    data: {dataset: digits}
    compile: {loss: mse}
    models:
      M:
        layers:
          - Flatten: {input_shape: [8, 8]}
          - Conv2D: {filters: 2, kernel_size: 3}
    """
    loaded = load(write(text))
    with pytest.raises(SpecError) as e:
        build_model("M", loaded.experiment.resolved().models["M"])
    issue = loaded.locate(e.value).issues[0]
    assert str(issue).startswith(f"{loaded.path}:8:9: models.M.layers[1]: model M cannot be built at "
                                 "layer 1 (Conv2D):")


def test_no_input_shape_anywhere_is_a_clear_error(write):
    loaded = load(write("name: x\ndata: {dataset: digits}\ncompile: {loss: mse}\nmodels: {M: {layers: [Flatten]}}\n"))
    with pytest.raises(SpecError, match="model M has no input shape"):
        build_model("M", loaded.experiment.resolved().models["M"])


HUGE = """\
name: huge
data: {dataset: digits}
compile: {loss: mse}
models:
  M:
    layers:
      - Flatten: {input_shape: [28, 28]}
      - Dense: {units: 1000000000000}
      - Dense: 10
"""


def test_a_huge_model_is_refused_at_its_largest_layer(write):
    loaded = load(write(HUGE))
    with pytest.raises(SpecError) as e:
        build_model("M", loaded.experiment.resolved().models["M"])
    assert str(loaded.locate(e.value).issues[0]).startswith(
        f"{loaded.path}:8:24: models.M.layers[1].Dense.units: model M would have 795,000,000,000,010 "
        "parameters, needing about 11.3 PiB")
    assert str(e.value).endswith("this layer alone has 785,000,000,000,000 parameters: make it smaller")


# In a fresh process, so its peak memory (ru_maxrss, a high-water mark) starts low: checking a
# model of 100 million parameters (400 MB of float32 weights) must not allocate them, neither then
# nor when a normal model is trained afterwards (the deferred variables must be dropped).
NO_ALLOCATION = """
import resource, sys
import numpy as np
from factory.build.compiler import check_model, build_model
from factory.build.keras_setup import import_keras
from factory.spec.loader import load

keras = import_keras()
experiment = load(sys.argv[1]).experiment.resolved()
warm = build_model("small", experiment.models["small"])  # TensorFlow's own start-up memory first
warm.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
warm.fit(np.zeros((4, 8, 8)), np.zeros(4), verbose=0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
check_model("big", experiment.models["big"])
with keras.StatelessScope():  # leaving any stateless scope initializes the variables still deferred
    pass
model = build_model("small", experiment.models["small"])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(np.zeros((4, 8, 8)), np.zeros(4), verbose=0)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)  # MiB
"""


def test_checking_a_large_model_allocates_none_of_its_weights(write):
    import subprocess
    import sys

    path = write("""\
    name: big
    data: {dataset: digits}
    compile: {loss: sparse_categorical_crossentropy}
    models:
      big: {input_shape: [8, 8], layers: [Flatten, {Dense: 1562500}, {Dense: 10}]}
      small: {input_shape: [8, 8], layers: [Flatten, {Dense: 10}]}
    """)
    result = subprocess.run([sys.executable, "-c", NO_ALLOCATION, str(path)], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    grew = int(result.stdout.split()[-1])
    assert grew < 100, f"checking the model raised the peak memory by {grew} MiB"


@pytest.mark.parametrize("name", ["A", "C"])
def test_initial_weights_equal_a_hand_written_model_after_the_same_seed(name):
    import numpy as np

    spec = load(ROOT / "experiments" / "abc.yaml").experiment.resolved().models[name]
    keras.utils.set_random_seed(0)
    ours = build_model(name, spec)
    keras.utils.set_random_seed(0)
    theirs = SEED[name]()
    assert len(ours.weights) == len(theirs.weights)
    for a, b in zip(ours.weights, theirs.weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.path
