"""New layers, constraints, losses and metrics from a spec build what the same model written by hand in Keras builds.

Each model is built by the factory and by hand after `keras.utils.set_random_seed(0)`: the layer
configs and the initial weights must be equal, so the spec language adds nothing of its own.
"""

import numpy as np
import pytest

from factory.build.compiler import build_layer, build_model, compile_model
from factory.build.keras_setup import import_keras
from factory.spec.loader import load
from tests.conftest import ROOT, SPEC_HEAD

keras = import_keras()
L = keras.layers


def configs(model):
    """Layer configs without the names Keras numbers globally, nested layers' names included."""
    def clean(config):
        if isinstance(config, dict):
            return {k: clean(v) for k, v in config.items() if k != "name"}
        if isinstance(config, list):
            return [clean(v) for v in config]
        return config
    return [(type(layer).__name__, clean(layer.get_config())) for layer in model.layers]


def same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb))


def from_spec(write, layers: str, shape: str, name: str = "m", compile_: str = ""):
    path = write(SPEC_HEAD + f"models:\n  {name}:\n    input_shape: {shape}\n{compile_}    layers:\n{layers}")
    spec = load(path).experiment.resolved().models[name]
    keras.utils.set_random_seed(0)
    return build_model(name, spec), spec


def by_hand(shape, *make_layers):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape=shape), *(make() for make in make_layers)])


CASES = {
    "recurrent": ("""\
      - Conv1D: {filters: 6, kernel_size: 3, padding: causal, kernel_constraint: {MaxNorm: 3}}
      - Bidirectional: {layer: {LSTM: {units: 5, return_sequences: true}}, merge_mode: sum}
      - TimeDistributed: {layer: {Dense: 4}}
      - GRU: 3
      - Dense: {units: 2, kernel_constraint: non_neg}
""", "[8, 8]", lambda: by_hand(
        (8, 8), lambda: L.Conv1D(6, 3, padding="causal", kernel_constraint=keras.constraints.MaxNorm(3)),
        lambda: L.Bidirectional(L.LSTM(5, return_sequences=True), merge_mode="sum"),
        lambda: L.TimeDistributed(L.Dense(4)), lambda: L.GRU(3),
        lambda: L.Dense(2, kernel_constraint="non_neg"))),
    "embedding": ("""\
      - Embedding: {input_dim: 20, output_dim: 4, mask_zero: true}
      - SimpleRNN: {units: 3, recurrent_initializer: {Orthogonal: {gain: 0.5, seed: 1}}}
      - Dense: 2
""", "[6]", lambda: by_hand(
        (6,), lambda: L.Embedding(20, 4, mask_zero=True),
        lambda: L.SimpleRNN(3, recurrent_initializer=keras.initializers.Orthogonal(gain=0.5, seed=1)), lambda: L.Dense(2))),
    "images": ("""\
      - Rescaling: 0.0625
      - RandomFlip: {mode: horizontal, seed: 3}
      - SeparableConv2D: {filters: 4, kernel_size: 3}
      - GroupNormalization: {groups: 2}
      - ZeroPadding2D: [[1, 0], [0, 1]]
      - GlobalAveragePooling2D
      - Dense: 3
""", "[8, 8, 2]", lambda: by_hand(
        (8, 8, 2), lambda: L.Rescaling(0.0625), lambda: L.RandomFlip("horizontal", seed=3),
        lambda: L.SeparableConv2D(4, 3), lambda: L.GroupNormalization(groups=2),
        lambda: L.ZeroPadding2D(((1, 0), (0, 1))), lambda: L.GlobalAveragePooling2D(), lambda: L.Dense(3))),
}


@pytest.mark.parametrize("case", CASES)
def test_new_layers_build_the_hand_written_model(write, case):
    layers, shape, hand = CASES[case]
    model, _ = from_spec(write, layers, shape)
    expected = hand()
    assert configs(model) == configs(expected)
    assert same_weights(model, expected)


def test_the_contract_bidirectional_spelling_validates_and_builds(write):
    model, _ = from_spec(write, "      - Bidirectional: {layer: {LSTM: {units: 32}}}\n      - Dense: 10\n", "[8, 8]")
    assert model.layers[0].forward_layer.units == 32 and model.output_shape == (None, 10)


def test_multi_head_self_attention_is_the_hand_written_layer():
    """MultiHeadAttention on one sequence as both query and value (self-attention), built from its spec."""
    from pydantic import TypeAdapter

    from schemas.layers import LayerSpec

    entry = TypeAdapter(LayerSpec).validate_python({"MultiHeadAttention": {"num_heads": 2, "key_dim": 4,
                                                                           "dropout": 0.1}})
    x = np.random.default_rng(0).random((2, 5, 6)).astype("float32")

    def self_attention(layer):
        inputs = keras.Input((5, 6))
        return keras.Model(inputs, layer(inputs, inputs))

    keras.utils.set_random_seed(0)
    ours = self_attention(build_layer(keras, entry.args))
    keras.utils.set_random_seed(0)
    theirs = self_attention(L.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1))
    assert configs(ours) == configs(theirs) and same_weights(ours, theirs)
    np.testing.assert_array_equal(ours(x), theirs(x))


def test_a_loss_with_from_logits_and_a_metric_with_k_train_as_by_hand(write):
    compile_ = ("    compile:\n      loss: {SparseCategoricalCrossentropy: {from_logits: true}}\n"
                "      metrics: [accuracy, {SparseTopKCategoricalAccuracy: {k: 3}}]\n")
    model, spec = from_spec(write, "      - Flatten\n      - Dense: 10\n", "[8, 8]", compile_=compile_)
    compile_model(model, spec.compile, steps_per_execution=1)
    hand = by_hand((8, 8), L.Flatten, lambda: L.Dense(10))
    hand.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                 metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=3)])
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 8, 8)).astype("float32"), rng.integers(0, 10, 64)
    histories = []
    for m in (model, hand):
        keras.utils.set_random_seed(1)
        histories.append(m.fit(x, y, validation_data=(x, y), epochs=2, batch_size=16, verbose=0).history)
    assert set(histories[0]) == {"loss", "accuracy", "sparse_top_k_categorical_accuracy", "val_loss",
                                 "val_accuracy", "val_sparse_top_k_categorical_accuracy"}
    for key in histories[1]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-6)


def test_a_loss_class_is_the_same_loss_as_its_name_for_comparisons():
    from schemas.losses import same_loss

    assert same_loss({"SparseCategoricalCrossentropy": {"from_logits": True}}, "sparse_categorical_crossentropy")
    assert same_loss({"MeanSquaredError": {}}, "mse")
    assert not same_loss({"Huber": {"delta": 2.0}}, "mse")
    assert same_loss({"Huber": 1.0}, "huber")  # Keras's default delta


def test_a_loss_whose_arguments_change_its_scale_is_not_the_same_loss():
    from factory.results.stats import losses_note
    from schemas.losses import same_loss

    summed = {"SparseCategoricalCrossentropy": {"reduction": "sum"}}
    assert not same_loss(summed, "sparse_categorical_crossentropy")
    assert not same_loss({"Huber": {"delta": 2.0}}, "huber")
    assert "not comparable" in losses_note([{"model": "mean", "loss": "sparse_categorical_crossentropy"},
                                            {"model": "summed", "loss": summed}])


@pytest.mark.parametrize("text,message", [
    ("- Lambda: {function: 'lambda x: x'}", "'Lambda' is not a layer this tool knows; a spec cannot name Python code"),
    ("- RNN: {cell: LSTMCell}", "Keras's layer 'RNN' is not supported here: it takes a cell object"),
    ("- Bidirectional: {layer: {LSTM: {unit: 4}}}", "Bidirectional.layer.LSTM.unit: unknown key 'unit'; did you mean 'units'?"),
    ("- Conv1D: {filters: 4, kernel_size: 3, kernel_constraint: {MaxNorm: -1}}",
     "Conv1D.kernel_constraint.MaxNorm: input should be greater than 0, got -1"),
    ("- MaxPool1D: {pool_size: (2, 2)}", "YAML reads (2 as text"),
    ("- Conv1D: {filters: 4, kernel_size: [3, 3]}", "Conv1D.kernel_size: input should be a valid integer, got a list; or list should have at most 1 item"),
    ("- Conv3D: {filters: 4, kernel_size: 3, strides: [1, 1]}", "Conv3D.strides: input should be a valid integer, got a list; or list should have at least 3 items"),
    ("- Hashing: {num_bins: 4, output_mode: tf_idf}", "Hashing.output_mode: input should be 'int', 'one_hot',"),
    ("- IntegerLookup: {vocabulary_dtype: int32}", "IntegerLookup.vocabulary_dtype: input should be 'int64'"),
    ("- ZeroPadding2D: {padding: [1, 1, 1]}", "ZeroPadding2D.padding: input should be a valid integer"),
    ("- Cropping1D: {cropping: [[1, 1]]}", "Cropping1D.cropping: input should be a valid integer"),
    ("- ConvLSTM1D: {filters: 4, kernel_size: 3, padding: causal}", "ConvLSTM1D.padding: input should be 'valid' or"),
    ("- IntegerLookup: {oov_method: hash}", "IntegerLookup.oov_method: input should be 'floormod' or 'farmhash'"),
    ("- RandomZoom: {height_factor: 0.1, interpolation: bicubic}",
     "RandomZoom.interpolation: input should be 'nearest' or 'bilinear'"),
    ("- Resizing: {height: 4, width: 4, interpolation: gaussian}", "Resizing.interpolation: input should be"),
])
def test_layer_mistakes_are_located(write, text, message):
    from tests.conftest import spec_errors

    path = write(SPEC_HEAD + "models:\n  A:\n    input_shape: [8, 8]\n    layers:\n      - Flatten\n      " + text + "\n")
    assert any(message in e for e in spec_errors(path)), spec_errors(path)


@pytest.mark.parametrize("compile_,message", [
    ("{loss: {SparseCategoricalCrossentropy: {from_logit: true}}}",
     "compile.loss.SparseCategoricalCrossentropy.from_logit: unknown key 'from_logit'; did you mean 'from_logits'?"),
    ("{loss: mse, metrics: [{SparseTopKCategoricalAccuracy: {k: 0}}]}",
     "compile.metrics[0].SparseTopKCategoricalAccuracy.k: input should be greater than 0"),
    ("{loss: mse, metrics: [accurcy]}", "compile.metrics[0]: unknown metric 'accurcy'; did you mean 'accuracy'?"),
    ("{loss: mse, metrics: [{SparseTopKCategoricalAccuracy: {k: 3, name: loss}}]}",
     "compile.metrics[0].SparseTopKCategoricalAccuracy.name: a metric named 'loss' would replace the loss"),
    ("{loss: mse, metrics: [{AUC: {name: val_auc}}]}", "a metric named 'val_auc' would be mistaken for a validation"),
    ("{loss: {a: mse, b: mse}, metrics: {a: [{Accuracy: {name: b_loss}}]}}",
     "compile.metrics.a[0].Accuracy.name: a metric named 'b_loss' would replace the loss"),
    ("{loss: mse, metrics: [{SparseTopKCategoricalAccuracy: 3}, {SparseTopKCategoricalAccuracy: 5}]}",
     "compile.metrics[1].SparseTopKCategoricalAccuracy: metrics[0] is already reported as "
     "'sparse_top_k_categorical_accuracy'; give each metric of one class its own `name:`"),
    ("{loss: mse, metrics: [{AUC: {}}, {AUC: {curve: PR}}]}", "metrics[0] is already reported as 'auc'"),
    ("{loss: mse, metrics: [{AUC: {name: a b}}]}", "compile.metrics[0].AUC.name: string should match pattern"),
    ("{loss: mse, metrics: [{F1Score: {threshold: 2.0}}]}", "compile.metrics[0].F1Score.threshold: input should be less"),
    ("{loss: mse, metrics: [{AUC: {num_thresholds: 1}}]}", "compile.metrics[0].AUC.num_thresholds: input should be greater than 1"),
])
def test_loss_and_metric_mistakes_are_located(write, compile_, message):
    from tests.conftest import spec_errors

    path = write(f"name: t\ndata: {{dataset: digits}}\ncompile: {compile_}\nmodels:\n  A:\n    layers: [Flatten]\n")
    assert any(message in e for e in spec_errors(path)), spec_errors(path)


def test_digits_rnn_trains(cli, tmp_path):
    """experiments/digits_rnn.yaml: three recurrent models on digits read row by row, one short epoch each."""
    import json

    code, _, err = cli("run", str(ROOT / "experiments" / "digits_rnn.yaml"), "--out", str(tmp_path / "out"),
               "--set", "training.epochs=1", "--set", "data.train_size=200", "--set", "data.test_size=50")
    assert code == 0, err
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert {r["model"] for r in runs} == {"lstm", "gru", "simple_rnn"}
    assert all(r["status"] == "completed" and "val_sparse_top_k_categorical_accuracy" in r["history"] for r in runs)


def test_keras_refusing_a_layer_loss_or_metric_is_a_located_error(cli, write):
    """Arguments that pass validation but that Keras's constructors refuse (each error kind Keras raises) are
    reported at their layer, loss or metric by `show` (and `run`'s same pre-flight), never as a traceback."""
    path = write("name: x\ndata: {dataset: digits}\n"
                 "compile: {loss: sparse_categorical_crossentropy, "
                 "metrics: [{IoU: {num_classes: 2, target_class_ids: [5]}}]}\n"
                 "models:\n"
                 "  conv: {layers: [{Reshape: [8, 8, 1]}, {Conv2D: {filters: 4, kernel_size: 3, groups: 2}}, "  # 1 channel in 2 groups
                 "Flatten, {Dense: 10}]}\n"
                 "  lookup: {layers: [Flatten, {IntegerLookup: {vocabulary: [1, 2, 3], max_tokens: 2}}, {Dense: 10}]}\n"
                 )
    code, _, err = cli("show", str(path))
    assert code == 2 and "Traceback" not in err, err
    for expected in ["models.conv.layers[1]: model conv cannot be built at layer 1 (Conv2D): ",
                     "models.lookup.layers[1]: model lookup cannot be built at layer 1 (IntegerLookup): Attempted "
                     "to set a vocabulary larger than the maximum vocab size",
                     "compile.metrics[0]: Keras cannot make the metric IoU: Target class id 5 is out of range"]:
        assert expected in err, err


@pytest.mark.parametrize("name", ["logcosh", "mean_squared_error", "root_mean_squared_error", "hinge",
                                  "kl_divergence", "poisson", "false_negatives"])
def test_the_error_metrics_default_names_are_lower_is_better(name):
    """Keras's default names of the error-like metric classes (LogCoshError reports `logcosh`)."""
    from factory.results.stats import lower_is_better

    assert lower_is_better("val_" + name)
    assert keras.metrics.LogCoshError().name == "logcosh"


def test_values_keras_takes_in_a_form_of_its_own_build(write):
    """`strides: null` (Keras's default for MaxPooling1D), `oov_method: farmhash` with its salt,
    TextVectorization's `ngrams: [1, 2]` (Keras takes only a tuple), Rescaling per channel and EinsumDense's
    inferred axis."""
    path = write(SPEC_HEAD + "models:\n  A:\n    input_shape: [8, 8]\n    layers:\n"
                             "      - MaxPooling1D: {pool_size: 2, strides: null}\n"
                             "      - IntegerLookup: {oov_method: farmhash, salt: 7, vocabulary: [1, 2]}\n"
                             "      - TextVectorization: {ngrams: [1, 2]}\n"
                             "      - Rescaling: {scale: [0.5, 0.25, 1.0], offset: [0.0, 1.0, 0.0]}\n"
                             "      - EinsumDense: {equation: 'abc,cd->abd', output_shape: [null, 4]}\n"
                             "      - ZeroPadding2D: {padding: [[1, 0], [2, 2]]}\n      - Cropping3D: [1, 0, 2]\n"
                             "      - Cropping1D: [1, 2]\n")
    pool, lookup, text, rescale, einsum, pad, crop, crop1 = (
        build_layer(keras, e.args) for e in load(path).experiment.resolved().models["A"].layers)
    assert pad.padding == ((1, 0), (2, 2)) and crop.cropping == ((1, 1), (0, 0), (2, 2)) and crop1.cropping == (1, 2)
    assert pool.strides == (2,) and lookup.oov_method == "farmhash" and text._ngrams == (1, 2)
    assert rescale(np.ones((1, 2, 3))).shape == (1, 2, 3) and einsum(np.ones((2, 5, 3))).shape == (2, 5, 4)
