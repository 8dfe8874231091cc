"""Export round trips of what the first exporter refused or changed: wrappers, constraints, lookups,
the order of several outputs, input dtypes, and Dropout's noise_shape with null axes.

A round trip goes through the library file `factory export` writes, the TF-free loader and the
compiler (`rebuilt`); "the same model" is the same layer configs (names aside), the same number of
weights, and the same predictions once the original's weights are set on the rebuild.
"""

from __future__ import annotations

import numpy as np
import pytest

from factory.build.export import library_yaml, model_to_spec
from factory.build.keras_setup import import_keras
from factory.errors import SpecError
from tests.test_export_graphs import _without_names, rebuilt

keras = import_keras()
L = keras.layers


def configs(model) -> list:
    return [(type(layer).__name__, _without_names(layer.get_config())) for layer in model.layers]


def assert_same_model(model, second, x) -> None:
    """Same configs, weights and input dtypes; same predictions with the original's weights set."""
    assert configs(second) == configs(model)
    assert [str(t.dtype) for t in second.inputs] == [str(t.dtype) for t in model.inputs]
    assert len(second.weights) == len(model.weights) and second.count_params() == model.count_params()
    second.set_weights(model.get_weights())
    mine, theirs = second.predict(x, verbose=0), model.predict(x, verbose=0)
    for a, b in zip(*(v if isinstance(v, list) else [v] for v in (mine, theirs)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


RNG = np.random.default_rng(0)


def wrappers_sequential():
    return keras.Sequential([keras.Input((6, 4)), L.Bidirectional(L.LSTM(5, return_sequences=True)),
                             L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum"),
                             L.TimeDistributed(L.Dense(2, activation="relu")), L.TimeDistributed(L.Flatten()),
                             L.SimpleRNN(3), L.Dense(2)])


def wrappers_functional():
    x = keras.Input((5, 8, 8, 1), name="frames")
    y = L.TimeDistributed(L.Conv2D(2, 3, activation="relu"))(x)
    y = L.TimeDistributed(L.Flatten())(y)
    left = L.Bidirectional(L.LSTM(4), merge_mode="ave", name="left")(y)
    right = L.Bidirectional(L.SimpleRNN(4, go_backwards=False), name="right")(y)
    return keras.Model(x, L.Dense(3)(L.Concatenate()([left, right])))


@pytest.mark.parametrize("make,shape", [(wrappers_sequential, (6, 4)), (wrappers_functional, (5, 8, 8, 1))])
def test_bidirectional_and_time_distributed_round_trip(make, shape, tmp_path):
    model = make()
    spec = model_to_spec(model)
    assert str(spec).count("'Bidirectional': {") == 2 and str(spec).count("'TimeDistributed': {") == 2
    assert "Flatten: {}" not in library_yaml("m", spec)  # a held layer without arguments is written bare too
    assert_same_model(model, rebuilt(model, tmp_path), RNG.random((3, *shape), dtype=np.float32))


def test_a_bidirectional_with_its_own_backward_layer_is_refused_by_name():
    model = keras.Sequential([keras.Input((6, 4)), L.Bidirectional(
        L.LSTM(3), backward_layer=L.LSTM(3, go_backwards=True, dropout=0.5))])
    with pytest.raises(SpecError, match=r"^layer 0 \(Bidirectional\): backward_layer=a LSTM of its own cannot be "
                                        r"expressed in the spec language$"):
        model_to_spec(model)


CONSTRAINTS = [keras.constraints.MaxNorm(3), keras.constraints.MaxNorm(1.5, axis=[0, 1, 2]),
               keras.constraints.MinMaxNorm(0.5, 2.0, rate=0.5, axis=1), keras.constraints.NonNeg(),
               keras.constraints.UnitNorm(axis=[0, 1, 2]), "max_norm", "non_neg"]


@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=str)
def test_every_built_in_constraint_round_trips(constraint, tmp_path):
    model = keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(3, 3, kernel_constraint=constraint,
                                                              bias_constraint=keras.constraints.NonNeg()),
                              L.Flatten(), L.Dense(2, kernel_constraint=constraint)])
    written = model_to_spec(model)["layers"][0]["Conv2D"]["kernel_constraint"]
    assert (written if isinstance(written, str) else next(iter(written))) in ("MaxNorm", "MinMaxNorm", "NonNeg",
                                                                             "UnitNorm")
    assert_same_model(model, rebuilt(model, tmp_path), RNG.random((2, 6, 6, 2), dtype=np.float32))


def test_every_keras_constraint_is_one_the_spec_language_has():
    from schemas.constraints import CONSTRAINTS as SPEC_CONSTRAINTS

    built_in = {name for name, c in vars(keras.constraints).items()
                if isinstance(c, type) and issubclass(c, keras.constraints.Constraint)
                and c is not keras.constraints.Constraint and name[0].isupper()}  # not the snake_case aliases
    assert built_in == {c.__name__ for c in SPEC_CONSTRAINTS}


def test_integer_lookup_round_trips_with_its_input_dtype(tmp_path):
    model = keras.Sequential([keras.Input((3,), dtype="int64"),
                              L.IntegerLookup(vocabulary=[4, 8, 15], num_oov_indices=2, mask_token=0,
                                              output_mode="multi_hot"), L.Dense(2)])
    spec = model_to_spec(model)
    assert spec["input_dtype"] == "int64"
    assert spec["layers"][0] == {"IntegerLookup": {"num_oov_indices": 2, "mask_token": 0, "output_mode": "multi_hot",
                                                   "vocabulary": [4, 8, 15]}}
    assert_same_model(model, rebuilt(model, tmp_path), np.array([[4, 8, 99], [0, 15, 15]], dtype="int64"))


def three_outputs():
    """Outputs whose names sort in another order (alpha < mid < zeta) than the model's (zeta, alpha, mid)."""
    x = keras.Input((4,), name="x")
    h = L.Dense(8, activation="relu", name="h")(x)
    return keras.Model(x, [L.Dense(1, name="zeta")(h), L.Dense(2, name="alpha")(h), L.Dense(3, name="mid")(h)])


def test_several_outputs_keep_the_model_s_order(tmp_path):
    model = three_outputs()
    assert model_to_spec(model)["outputs"] == ["zeta", "alpha", "mid"]
    second = rebuilt(model, tmp_path)
    assert second.output_names == model.output_names == ["zeta", "alpha", "mid"]
    assert [tuple(t.shape) for t in second.outputs] == [(None, 1), (None, 2), (None, 3)]
    assert_same_model(model, second, RNG.random((3, 4), dtype=np.float32))


def test_a_model_with_several_outputs_trains_on_arrays_by_output_name(tmp_path):
    """Losses, metrics and arrays given per output name still find their output in a list of outputs."""
    from factory.build.compiler import compile_model
    from schemas import Compile

    second = rebuilt(three_outputs(), tmp_path)
    compile_model(second, Compile.model_validate({"optimizer": "adam", "loss": {"zeta": "mse", "alpha": "mse",
                                                                                  "mid": "mae"},
                                                  "metrics": ["mae"], "loss_weights": {"mid": 0.5}}))
    y = {"mid": np.ones((8, 3)), "zeta": np.zeros((8, 1)), "alpha": np.zeros((8, 2))}
    history = second.fit(RNG.random((8, 4), dtype=np.float32), y, epochs=1, verbose=0).history
    assert {"zeta_loss", "alpha_loss", "mid_loss", "zeta_mae", "alpha_mae", "mid_mae"} <= set(history)
    second.set_weights([np.zeros_like(w) for w in second.get_weights()])  # every output predicts 0
    scores = second.evaluate(RNG.random((8, 4), dtype=np.float32), y, verbose=0, return_dict=True)
    assert (scores["mid_mae"], scores["zeta_mae"], scores["alpha_mae"]) == (1.0, 0.0, 0.0)  # mid's are the ones


def embedding_sequential():
    return keras.Sequential([keras.Input((5,), dtype="int32"), L.Embedding(20, 3), L.Flatten(), L.Dense(2)])


def embedding_two_inputs():
    ids, extra = keras.Input((5,), dtype="int32", name="ids"), keras.Input((2,), name="extra")
    y = L.Concatenate()([L.Flatten()(L.Embedding(20, 3)(ids)), extra])
    return keras.Model([ids, extra], L.Dense(2)(y))


def test_an_int32_input_embedding_model_round_trips_with_int32_inputs(tmp_path):
    model = embedding_sequential()
    assert model_to_spec(model) == {"input_shape": [5], "input_dtype": "int32", "layers": [
        {"Embedding": {"input_dim": 20, "output_dim": 3}}, {"Flatten": {}}, {"Dense": 2}]}
    ids = RNG.integers(0, 20, (4, 5)).astype("int32")
    assert_same_model(model, rebuilt(model, tmp_path), ids)
    model = embedding_two_inputs()
    assert model_to_spec(model)["inputs"] == {"ids": {"shape": [5], "dtype": "int32"}, "extra": [2]}
    second = rebuilt(model, tmp_path)
    assert [str(t.dtype) for t in second.inputs] == ["int32", "float32"]
    assert_same_model(model, second, {"ids": ids, "extra": RNG.random((4, 2), dtype=np.float32)})


def test_input_dtypes_build_as_written():
    from factory.build.compiler import build_model
    from schemas import Model

    spec = Model.model_validate({"input_shape": [5], "input_dtype": "int32",
                                 "layers": [{"Embedding": {"input_dim": 20, "output_dim": 3}}]})
    assert str(build_model("m", spec).inputs[0].dtype) == "int32"
    assert str(build_model("m", spec, input_dtype="float32").inputs[0].dtype) == "int32"  # the spec's wins
    spec = Model.model_validate({"input_shape": [5], "input_dtype": "int64",
                                 "layers": [{"Embedding": {"input_dim": 20, "output_dim": 3, "name": "e"}},
                                            {"Flatten": {"from": "e"}}]})  # a graph with one input
    assert str(build_model("m", spec).inputs[0].dtype) == "int64"
    plain = Model.model_validate({"input_shape": [5], "layers": [{"Dense": 2}]})
    assert str(build_model("m", plain).inputs[0].dtype) == "float32"


def test_keras_dtypes_are_the_ones_an_input_may_have():
    from keras.src.backend.common.dtypes import ALLOWED_DTYPES

    from schemas.experiment import INPUT_DTYPES

    assert sorted(INPUT_DTYPES) == sorted(ALLOWED_DTYPES)


BAD_DTYPES = """\
models:
  one:
    input_shape: [5]
    input_dtype: int23
    layers: [Embedding: {input_dim: 20, output_dim: 3}]
  several:
    inputs: {ids: {shape: [5], dtype: flaot32}, extra: [2], more: {shape: [2], dtipe: int32}}
    layers:
      - Concatenate: {from: [ids, extra, more]}
  both:
    inputs: {ids: [5]}
    input_dtype: int32
    layers: [Dense: {units: 2, from: ids}]
"""


def test_an_unknown_dtype_is_located_with_did_you_mean(write):
    from tests.conftest import SPEC_HEAD, spec_errors

    path = write(SPEC_HEAD + BAD_DTYPES)
    errors = spec_errors(path)
    assert errors == [
        f"{path}:7:18: models.one.input_dtype: unknown dtype 'int23'; did you mean 'int32'?",
        f"{path}:10:39: models.several.inputs.ids.dtype: unknown dtype 'flaot32'; did you mean 'float32'?",
        f"{path}:10:80: models.several.inputs.more.dtipe: unknown key 'dtipe'",
        f"{path}:15:18: models.both.input_dtype: input_dtype is the one-input form: with `inputs:`, give an "
        "input its `dtype:` there, beside its `shape:`",
    ], errors


def test_dropout_noise_shape_takes_null_for_an_axis_of_the_input():
    from factory.build.compiler import build_model
    from schemas import Model

    spec = Model.model_validate({"input_shape": [4, 4, 2], "layers": [
        {"Dropout": {"rate": 0.5, "noise_shape": [None, 1, 1, 1], "seed": 1}},
        {"AlphaDropout": {"rate": 0.5, "noise_shape": [None, 4, 1, 2]}}]})
    model = build_model("m", spec)
    assert list(model.layers[0].noise_shape) == [None, 1, 1, 1]
    out = keras.ops.convert_to_numpy(model.layers[0](np.ones((64, 4, 4, 2), "float32"), training=True))
    assert sorted({float(v) for v in np.unique(out)}) == [0.0, 2.0]
    assert all(len(np.unique(example)) == 1 for example in out)  # whole examples dropped or kept
    with pytest.raises(ValueError, match=r"noise_shape\.0\n.*greater than 0"):
        Model.model_validate({"layers": [{"Dropout": {"rate": 0.5, "noise_shape": [0, 1]}}]})


def test_export_command_writes_the_input_dtype_and_the_outputs_in_order(cli, tmp_path):
    import yaml

    embedding_sequential().save(tmp_path / "ids.keras")
    three_outputs().save(tmp_path / "three.keras")
    code, out, err = cli("export", tmp_path / "ids.keras", "--name", "ids")
    assert (code, err) == (0, "") and yaml.safe_load(out)["models"]["ids"]["input_dtype"] == "int32"
    code, out, err = cli("export", tmp_path / "three.keras", "--name", "three")
    assert (code, err) == (0, "") and yaml.safe_load(out)["models"]["three"]["outputs"] == ["zeta", "alpha", "mid"]


SCALED_IDS = """\
name: t
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
models:
  one:
    input_shape: [64]
    input_dtype: int32
    layers: [Embedding: {input_dim: 17, output_dim: 2}, Flatten, Dense: 10]
  several:
    inputs: {ids: {shape: [64], dtype: uint8}, extra: [2]}
    layers: [Concatenate: {from: [ids, extra]}, Dense: 10]
"""


def test_integer_inputs_under_data_scale_are_located(write):
    from tests.conftest import models_of, spec_errors

    path = write(SCALED_IDS)
    assert spec_errors(path) == [
        f"{path}:7:18: models.one.input_dtype: int32 input under data.scale (on by default), which divides every "
        "input by its largest value: the ids would become fractions that int32 truncates to 0; set "
        "`data: {scale: false}`",
        f"{path}:10:40: models.several.inputs.ids.dtype: uint8 input under data.scale (on by default), which "
        "divides every input by its largest value: the ids would become fractions that uint8 truncates to 0; set "
        "`data: {scale: false}`"]
    assert set(models_of(write(SCALED_IDS.replace("{dataset: digits}", "{dataset: digits, scale: false}")))) == {
        "one", "several"}


def test_a_bool_input_under_data_scale_is_accepted(write):
    """Dividing by the largest value keeps every non-zero value non-zero: a bool input reads the same."""
    from tests.conftest import models_of

    models = models_of(write(SCALED_IDS.replace("dtype: uint8", "dtype: bool").replace("input_dtype: int32",
                                                                                       "input_dtype: bool")))
    assert models["one"]["input_dtype"] == "bool"


def test_an_integer_input_under_a_written_scale_is_not_called_the_default(write):
    from tests.conftest import spec_errors

    errors = spec_errors(write(SCALED_IDS.replace("{dataset: digits}", "{dataset: digits, scale: true}")))
    assert errors[0].endswith("models.one.input_dtype: int32 input under data.scale, which divides every input "
                              "by its largest value: the ids would become fractions that int32 truncates to 0; "
                              "set `data: {scale: false}`")
    errors = spec_errors(write(SCALED_IDS), "data.scale=true")
    assert "int32 input under data.scale, which" in errors[0]


def test_an_integer_input_on_a_table_is_told_to_leave_the_dtype_out(write):
    """A table refuses `scale: false` (factory.data.tables.open_table): the advice is the dtype, not scale."""
    from tests.conftest import spec_errors

    errors = spec_errors(write(SCALED_IDS.replace("{dataset: digits}", "{dataset: rows.parquet}")))
    assert errors[0].endswith("int32 input under data.scale (on by default), which divides every input by its "
                              "largest value: the ids would become fractions that int32 truncates to 0; leave the "
                              "dtype out: a .parquet table's rows reach the model as float32 (numbers "
                              "normalized, text one-hot)")
    errors = spec_errors(write(SCALED_IDS.replace("{dataset: digits}", "{dataset: rows.csv}")))
    assert errors[0].endswith("set `data: {scale: false}` (a .csv with text columns is a table, always scaled: "
                              "there leave the dtype out)")


@pytest.mark.parametrize("make, x", [
    (lambda: L.IntegerLookup(output_mode="multi_hot"), np.array([[1, 2, 3], [4, 5, 9]], dtype="int64")),
    (lambda: L.StringLookup(output_mode="one_hot", num_oov_indices=2), np.array([["a"], ["b"], ["zz"]])),
    (lambda: L.TextVectorization(max_tokens=10, output_mode="multi_hot"), np.array([["a b c"], ["d a"], ["zz"]])),
    (lambda: L.IntegerLookup(output_mode="tf_idf"), np.array([[1, 2, 2], [4, 1, 9]], dtype="int64")),
    (lambda: L.StringLookup(output_mode="tf_idf", num_oov_indices=2), np.array([["a", "b"], ["b", "b"], ["zz", "a"]])),
    (lambda: L.TextVectorization(max_tokens=10, output_mode="tf_idf", pad_to_max_tokens=True),
     np.array([["a b b c"], ["d a"], ["zz a"]])),
], ids=["IntegerLookup", "StringLookup", "TextVectorization", "IntegerLookup-tf_idf", "StringLookup-tf_idf",
        "TextVectorization-tf_idf"])
def test_an_adapted_vocabulary_is_written_out_and_rebuilds_the_same_layer(make, x, tmp_path):
    """Keras's config of an adapted layer says `vocabulary: None`; the export writes what it learned."""
    layer = make()
    layer.adapt(x[:2])
    dtype = "int64" if x.dtype.kind == "i" else "string"
    model = keras.Sequential([keras.Input(x.shape[1:], dtype=dtype), layer, L.Dense(2)])
    spec = model_to_spec(model)
    (written,) = spec["layers"][0].values()
    assert written["vocabulary"] == [str(v) if dtype == "string" else int(v)
                                     for v in layer.get_vocabulary(include_special_tokens=False)]
    assert ("idf_weights" in written) == (layer.get_config()["output_mode"] == "tf_idf")  # learned too
    second = rebuilt(model, tmp_path)
    assert second.count_params() == model.count_params()
    second.set_weights(model.get_weights())
    x = keras.ops.convert_to_tensor(x.tolist()) if dtype == "string" else x  # predict takes text as a tensor
    np.testing.assert_allclose(second.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_show_says_an_input_dtype_other_than_float32(write, cli, tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"x_{split}_ids": rng.integers(0, 17, (n, 64)).astype(np.uint8) for split, n in (("train", 20), ("test", 5))}
    arrays |= {f"x_{split}_extra": rng.random((n, 2)) for split, n in (("train", 20), ("test", 5))}
    np.savez(tmp_path / "two.npz", **arrays, y_train=rng.integers(0, 10, 20), y_test=rng.integers(0, 10, 5))
    several = SCALED_IDS.replace("{dataset: digits}", "{dataset: two.npz, scale: false}")
    several = several[:several.index("  one:")] + several[several.index("  several:"):]
    code, out, err = cli("show", write(several))
    assert (code, err) == (0, ""), err
    assert "\ninput dtype: ids uint8, extra float32\n" in out
    one = SCALED_IDS.replace("{dataset: digits}", "{dataset: digits, scale: false}").replace("[64]", "[8, 8]")
    one = one[:one.index("  several:")]
    code, out, err = cli("show", write(one))
    assert (code, err) == (0, "") and "\ninput dtype: int32\n" in out
    code, out, err = cli("show", write(one.replace("input_dtype: int32", "input_dtype: float32")))
    assert code == 0 and "input dtype" not in out


def test_a_noise_shape_on_a_free_axis_other_than_the_batch_names_it_as_such():
    """Only axis 0 is the batch; another axis of unknown length (a free time axis) is said to have none."""
    from factory.build.checks import _noise_shape_issues
    from factory.build.compiler import DryBuild
    from schemas import Model

    spec = Model.model_validate({"input_shape": [4], "layers": [{"Dropout": {"rate": 0.5, "noise_shape": [3, 5, 1]}}]})
    free = ((None, None, 4), (None, None, 4))  # what a layer reading a sequence of any length sees
    issues = _noise_shape_issues("m", spec, DryBuild(params=0, output_shape=(None, None, 4), layer_params=[0],
                                                     layer_shapes=[free]))
    assert [i.message for i in issues] == [
        "model m: noise_shape[0] is 3, but that axis of the layer's input is the batch (shape [null, null, 4]); "
        "write null, 1 (one mask value along the axis)",
        "model m: noise_shape[1] is 5, but that axis of the layer's input has no fixed length (shape "
        "[null, null, 4]); write null, 1 (one mask value along the axis)"]


def same_predictions(model, second, x) -> None:
    """Same predictions once the original's weights are set on the rebuild, but for the adapted state,
    which the rebuild holds as constants (`mean`, `variance`) rather than weights."""
    for mine, theirs in zip(model.layers, second.layers, strict=True):
        if not isinstance(mine, L.Normalization):
            theirs.set_weights(mine.get_weights())
    np.testing.assert_allclose(second.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis, shape, size", [(-1, (4,), 4), (None, (3, 4), None), ((1, 2), (1, 4), 4),
                                               (-1, (5, 5, 1), 1), (1, (3, 2), 3)],
                         ids=["features", "one-for-all", "leading-1", "channel", "axis-1"])
def test_an_adapted_normalization_writes_its_learned_mean_and_variance(axis, shape, size, tmp_path):
    """Without them the rebuild would relearn them from whatever data it trains on: another model."""
    layer = L.Normalization(axis=axis)
    x = (RNG.normal(3.0, 2.0, (40, *shape)) * np.arange(1, shape[-1] + 1)).astype(np.float32)
    layer.adapt(x)
    model = keras.Sequential([keras.Input(shape), layer, L.Flatten(), L.Dense(2)])
    written = model_to_spec(model)["layers"][0]["Normalization"]
    mean, variance = written["mean"], written["variance"]
    assert (len(mean), len(variance)) == (size, size) if size else isinstance(mean, float)
    np.testing.assert_allclose(np.ravel(mean), np.ravel(layer.adapt_mean), rtol=1e-6)
    assert abs(np.ravel(mean)[0]) > 1 and np.ravel(variance)[0] > 1  # learned, not Keras's 0 and 1
    second = rebuilt(model, tmp_path)
    assert configs(second)[1:] == configs(model)[1:] and len(second.layers[0].weights) == 0
    same_predictions(model, second, x[:5])


@pytest.mark.parametrize("axis, written", [(-1, {"Normalization": {}}), (None, {"Normalization": {"axis": None}})])
def test_a_normalization_never_adapted_is_written_bare(axis, written, tmp_path):
    """Keras's initial mean 0 and variance 1: the bare layer rebuilds exactly that (weights included)."""
    model = keras.Sequential([keras.Input((4,)), L.Normalization(axis=axis), L.Dense(2)])
    assert model_to_spec(model)["layers"][0] == written
    assert_same_model(model, rebuilt(model, tmp_path), RNG.random((3, 4), dtype=np.float32))


def test_a_normalization_whose_learned_state_has_no_spec_form_is_refused_by_name():
    layer = L.Normalization(axis=(1, 2))
    layer.adapt(RNG.random((10, 2, 3), dtype=np.float32))
    with pytest.raises(SpecError, match=r"^layer 0 \(Normalization\): the mean and variance it learned by adapt have "
                                        r"shape \[2, 3\] \(axis \[1, 2\]\): the spec language takes them as one "
                                        r"number or one list only$"):
        model_to_spec(keras.Sequential([keras.Input((2, 3)), layer, L.Flatten(), L.Dense(2)]))


@pytest.mark.parametrize("output_mode", ["multi_hot", "int"])
def test_an_adapted_discretization_writes_its_learned_bin_boundaries(output_mode, tmp_path):
    layer = L.Discretization(num_bins=4, output_mode=output_mode)
    x = RNG.normal(0.0, 3.0, (60, 3)).astype(np.float32)
    layer.adapt(x)
    model = keras.Sequential([keras.Input((3,)), layer, L.Dense(2)])
    written = model_to_spec(model)["layers"][0]["Discretization"]
    assert "num_bins" not in written and written["bin_boundaries"] == pytest.approx(layer.bin_boundaries)
    assert len(written["bin_boundaries"]) == 3
    second = rebuilt(model, tmp_path)
    assert second.layers[0].bin_boundaries == pytest.approx(layer.bin_boundaries)
    same_predictions(model, second, x[:8])


@pytest.mark.parametrize("make, written", [
    (lambda: L.Discretization(bin_boundaries=[-1.0, 0.5]), {"bin_boundaries": [-1.0, 0.5]}),
    (lambda: L.Discretization(num_bins=3, epsilon=0.1), {"num_bins": 3, "epsilon": 0.1}),
], ids=["given", "not-adapted"])
def test_a_discretization_given_its_boundaries_or_never_adapted_exports(make, written, tmp_path):
    """Keras refuses a Discretization with neither argument: the one given is written as it is."""
    model = keras.Sequential([keras.Input((3,)), make(), L.Dense(2)])
    assert model_to_spec(model)["layers"][0] == {"Discretization": written}
    assert configs(rebuilt(model, tmp_path)) == configs(model)


def test_an_adapted_discretization_feeding_a_category_encoding_round_trips(tmp_path):
    """The reviewer's model: bins learned by adapt, one-hot by CategoryEncoding (whose num_tokens Keras requires)."""
    layer = L.Discretization(num_bins=3)
    x = np.array([[1.0, 4.0], [2.0, 6.0], [5.0, 8.0], [7.0, 0.0]], dtype=np.float32)
    layer.adapt(x)
    model = keras.Sequential([keras.Input((2,)), layer, L.CategoryEncoding(3, output_mode="count"), L.Dense(2)])
    assert model_to_spec(model)["layers"][1] == {"CategoryEncoding": {"num_tokens": 3, "output_mode": "count"}}
    same_predictions(model, rebuilt(model, tmp_path), x)


def test_every_keras_layer_with_adapt_has_its_learned_state_exported():
    """A new adaptable layer in a Keras release is a failure here until the export knows its state."""
    from factory.build.export import _LEARNED

    adaptable = {name for name, c in vars(keras.layers).items() if isinstance(c, type) and hasattr(c, "adapt")}
    vocabularies = {name for name in adaptable if hasattr(getattr(keras.layers, name), "get_vocabulary")}
    assert adaptable - vocabularies == set(_LEARNED)
    assert vocabularies == {"StringLookup", "IntegerLookup", "TextVectorization"}
