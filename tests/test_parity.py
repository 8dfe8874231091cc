"""Same mathematics: the seed's models A, B and C, trained by `factory run`, match a hand-written script.

The script is what a Keras user writes (`set_random_seed`, `Sequential`, `compile`, `model.fit`
with `validation_data`, one step per compiled call); factory trains through its command line with
its own default of 64 steps per compiled call. Their loss and val_loss must agree epoch by epoch.
"""

import json

import numpy as np
import pytest

from factory.build.keras_setup import import_keras
from factory.data import DEBIAN_FASHION_MNIST, IDX_FILES, read_idx

TRAIN_SIZE, TEST_SIZE, EPOCHS, SEED = 2000, 1000, 3, 0

SPEC = f"""\
name: parity
data: {{dataset: fashion_mnist, train_size: {TRAIN_SIZE}, test_size: {TEST_SIZE}}}
compile: {{optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}}
training: {{epochs: {EPOCHS}, batch_size: 32, seeds: [{SEED}]}}
models:
  A:
    layers:
      - Flatten: {{input_shape: [28, 28]}}
      - Dense: {{units: 64, activation: relu}}
      - Dropout: 0.2
      - Dense: {{units: 32, activation: relu}}
      - Dense: {{units: 10, activation: softmax}}
  B:
    layers:
      - Flatten: {{input_shape: [28, 28]}}
      - Dense: 64
      - BatchNormalization: {{}}
      - Activation: relu
      - Dropout: 0.2
      - Dense: 32
      - BatchNormalization: {{}}
      - Activation: relu
      - Dense: {{units: 10, activation: softmax}}
  C:
    extends: B
    edit:
      - {{replace: 3, with: [LeakyReLU: 0.2]}}
      - {{replace: 7, with: [LeakyReLU: 0.2]}}
"""


def hand_written(name: str):
    """The model as the seed chapter's script writes it."""
    keras = import_keras()
    L = keras.layers
    activation = {"B": lambda: L.Activation("relu"), "C": lambda: L.LeakyReLU(negative_slope=0.2)}
    if name == "A":
        return keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(64, activation="relu"), L.Dropout(0.2),
                                 L.Dense(32, activation="relu"), L.Dense(10, activation="softmax")])
    return keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(64), L.BatchNormalization(),
                             activation[name](), L.Dropout(0.2), L.Dense(32), L.BatchNormalization(),
                             activation[name](), L.Dense(10, activation="softmax")])


def script_history(name: str) -> dict:
    """What the hand-written script prints, epoch by epoch."""
    keras = import_keras()
    x, y, x_test, y_test = (read_idx(DEBIAN_FASHION_MNIST / f) for f in IDX_FILES)
    x, y = x[:TRAIN_SIZE].astype("float32") / 255.0, y[:TRAIN_SIZE]
    x_test, y_test = x_test[:TEST_SIZE].astype("float32") / 255.0, y_test[:TEST_SIZE]
    keras.utils.set_random_seed(SEED)
    model = hand_written(name)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model.fit(x, y, validation_data=(x_test, y_test), batch_size=32, epochs=EPOCHS, verbose=0).history


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(),
                    reason=f"Fashion-MNIST is not installed in {DEBIAN_FASHION_MNIST} (Debian's dataset-fashion-mnist)")
def test_the_seed_models_with_dropout_match_a_hand_written_script(write, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_DATA_DIR", str(DEBIAN_FASHION_MNIST))  # the very files the script reads
    code, _, err = cli("run", write(SPEC), "--workers", "1", "--out", tmp_path / "out")
    assert code == 0, err
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [run["model"] for run in results["runs"]] == ["A", "B", "C"]
    for run in results["runs"]:
        theirs = script_history(run["model"])
        for metric in ("loss", "val_loss"):
            ours = run["history"][metric]
            assert len(ours) == EPOCHS
            assert np.allclose(ours, theirs[metric], atol=1e-5, rtol=0), (run["model"], metric, ours, theirs[metric])
