"""`factory show`: each layer with what feeds it, its output shape and parameters; `--diagram DIR` pictures."""

import shutil
import sys

import pytest

from factory.build.diagram import layer_table
from factory.build.keras_setup import import_keras
from tests.conftest import ROOT, TINY

keras = import_keras()
L = keras.layers
HAS_DOT = shutil.which("dot") is not None


def two_inputs():
    """The issue's two-input model, in Keras's functional API."""
    image, extra = keras.Input((28, 28), name="image"), keras.Input((4,), name="extra")
    features = L.Dense(64, activation="relu", name="features")(L.Flatten(name="flatten")(image))
    label = L.Dense(10, activation="softmax", name="label")(L.Concatenate(name="concatenate")([features, extra]))
    size = L.Dense(1, name="size")(features)
    return keras.Model([image, extra], [label, size], name="two_inputs")


def test_layer_table_says_what_feeds_each_layer_its_shape_and_params():
    assert layer_table(two_inputs()).splitlines() == [
        "layer        class        from             output shape    params",
        "image        Input                         (None, 28, 28)       0",
        "extra        Input                         (None, 4)            0",
        "flatten      Flatten      image            (None, 784)          0",
        "features     Dense        flatten          (None, 64)      50,240",
        "concatenate  Concatenate  features, extra  (None, 68)           0",
        "label        Dense        concatenate      (None, 10)         690",
        "size         Dense        features         (None, 1)           65",
        "outputs: label, size"]


def test_show_prints_every_model_s_layers(cli, write):
    code, out, _ = cli("show", write(TINY))
    assert code == 0
    assert "dense    Dense    flatten  (None, 16)     1,040\ndense_1  Dense    dense    (None, 10)       170" in out
    assert "batch_normalization  BatchNormalization  dense                (None, 16)        64" in out
    assert "model A: 1,210 parameters" in out and "model B: 1,274 parameters" in out


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed (apt-get install graphviz)")
def test_show_diagram_writes_one_picture_per_model(cli, write, tmp_path):
    code, out, _ = cli("show", write(TINY), "--diagram", tmp_path / "pictures")
    assert code == 0
    for name in ("A", "B"):
        picture = tmp_path / "pictures" / f"{name}.png"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"model {name}: diagram in {picture}" in out
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == ["A.png", "B.png"]  # no temporary left
    code, out, _ = cli("show", write(RESIDUAL, "graph.yaml"), "--diagram", tmp_path / "pictures")
    assert code == 0 and (tmp_path / "pictures" / "res.png").read_bytes()[:4] == b"\x89PNG"


def test_show_diagram_without_graphviz_or_pydot_is_one_clear_line(cli, write, tmp_path, monkeypatch):
    spec = write(TINY)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on it
    code, out, err = cli("show", spec, "--diagram", tmp_path / "pictures")
    assert (code, out) == (2, "")
    assert err == ("--diagram needs Graphviz's `dot` program, which is not on the PATH (apt-get install graphviz)\n")
    monkeypatch.setitem(sys.modules, "pydot", None)  # as if not installed: importing it fails
    code, _, err = cli("show", spec, "--diagram", tmp_path / "pictures")
    assert code == 2
    assert err == "--diagram needs the Python package pydot, which is not installed (pip install pydot)\n"
    assert not (tmp_path / "pictures").exists()


RESIDUAL = """\
name: g
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
models:
  res:
    input_shape: [8, 8]
    layers:
      - Reshape: [8, 8, 1]
      - Conv2D: {filters: 4, kernel_size: 3, padding: same, name: stem}
      - residual:
          layers:
            - Conv2D: {filters: 4, kernel_size: 3, padding: same}
            - ReLU: {}
      - GlobalAveragePooling2D
      - Dense: {units: 10, activation: softmax}
"""


def test_show_of_a_graph_says_which_layers_feed_the_merge(cli, write):
    code, out, _ = cli("show", write(RESIDUAL))
    assert code == 0
    lines = out.splitlines()
    assert lines[lines.index("model res: res") + 1:] == [
        "layer                     class                   from                      output shape     params",
        "input                     Input                                             (None, 8, 8)          0",
        "reshape                   Reshape                 input                     (None, 8, 8, 1)       0",
        "stem                      Conv2D                  reshape                   (None, 8, 8, 4)      40",
        "conv2d                    Conv2D                  stem                      (None, 8, 8, 4)     148",
        "re_lu                     ReLU                    conv2d                    (None, 8, 8, 4)       0",
        "add                       Add                     stem, re_lu               (None, 8, 8, 4)       0",
        "global_average_pooling2d  GlobalAveragePooling2D  add                       (None, 4)             0",
        "dense                     Dense                   global_average_pooling2d  (None, 10)           50",
        "model res: 238 parameters",
        "model res: 45 steps per epoch (1,437 training examples, batch_size 32); decay_steps and warmup_steps "
        "count these: 10 epochs = 450 steps", ""]
