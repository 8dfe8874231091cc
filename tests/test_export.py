"""Export: spec -> model -> spec -> model gives the same Keras configs; unexpressible layers are errors."""

import pytest
import yaml

from factory.build.compiler import build_model
from factory.errors import SpecError
from factory.build.export import model_to_spec
from factory.build.keras_setup import import_keras
from factory.spec.loader import load
from schemas import Model
from tests.conftest import EXPERIMENTS
from tests.test_compiler import configs

keras = import_keras()
L = keras.layers
ALL = [(path, name) for path in EXPERIMENTS for name in load(path).experiment.resolved().models]


@pytest.mark.parametrize("path,name", ALL, ids=[f"{p.stem}:{n}" for p, n in ALL])
def test_round_trip_of_every_experiment_model(path, name):
    spec = load(path).experiment.resolved().models[name]
    first = build_model(name, spec)
    exported = model_to_spec(first)
    second = build_model(name, Model.model_validate(exported))
    assert configs(second) == configs(first)


def test_export_leaves_out_defaults_and_uses_the_contract_syntax():
    model = keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(64), L.BatchNormalization(),
                              L.LeakyReLU(negative_slope=0.2), L.Dropout(0.25),
                              L.Dense(10, activation="softmax", kernel_initializer=keras.initializers.HeNormal(seed=42),
                                      kernel_regularizer=keras.regularizers.L1L2(l1=0.01, l2=0.001))])
    assert model_to_spec(model) == {"input_shape": [28, 28], "layers": [
        {"Flatten": {}}, {"Dense": 64}, {"BatchNormalization": {}}, {"LeakyReLU": 0.2}, {"Dropout": 0.25},
        {"Dense": {"units": 10, "activation": "softmax", "kernel_initializer": {"HeNormal": {"seed": 42}},
                   "kernel_regularizer": {"L1L2": {"l1": 0.01, "l2": 0.001}}}}]}


def test_a_layer_the_spec_cannot_express_is_named():
    model = keras.Sequential([keras.Input((4,)), L.Dense(3), L.Lambda(lambda x: x)])
    with pytest.raises(SpecError, match=r"layer 1 \(Lambda\) cannot be expressed in the spec language"):
        model_to_spec(model)
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, lora_rank=2)])
    with pytest.raises(SpecError, match=r"layer 0 \(Dense\): lora_rank=2 cannot be expressed"):
        model_to_spec(model)


def test_export_command_on_a_saved_model(cli, tmp_path):
    model = keras.Sequential([keras.Input((8, 8)), L.Flatten(), L.Dense(16, activation="relu"), L.Dense(10)],
                             name="saved")
    model.save(tmp_path / "m.keras")
    code, out, _ = cli("export", tmp_path / "m.keras")
    assert code == 0
    assert yaml.safe_load(out) == {"models": {"saved": {"input_shape": [8, 8], "layers": [
        "Flatten", {"Dense": {"units": 16, "activation": "relu"}}, {"Dense": 10}]}}}
    assert "{" not in out and "[" not in out  # one (block) style throughout
    code, _, err = cli("export", tmp_path / "missing.keras")
    assert code == 2 and "missing.keras: no such file" in err


def test_first_line_is_never_empty():
    from factory.errors import first_line

    assert first_line(ValueError("")) == "ValueError"
    assert first_line(OSError()) == "OSError"
    assert first_line(ValueError("\n  \n  the cause  \nmore")) == "the cause"


def test_a_load_error_without_a_message_is_told_by_its_class(tmp_path, monkeypatch):
    from factory.build.export import export_file

    def fails(*args, **kwargs):
        raise ValueError()

    import zipfile

    zipfile.ZipFile(tmp_path / "m.keras", "w").close()  # a zip archive, as a .keras file is
    monkeypatch.setattr(keras.models, "load_model", fails)
    with pytest.raises(SpecError, match=r"m\.keras: cannot load it with Keras's safe mode: ValueError$"):
        export_file(tmp_path / "m.keras")


def test_export_writes_block_style_throughout():
    from factory.build.export import library_yaml

    spec = {"input_shape": [28, 28], "layers": [
        {"Flatten": {}}, {"Dense": 64}, {"BatchNormalization": {}},
        {"Dense": {"units": 10, "activation": "softmax", "kernel_initializer": {"HeNormal": {"seed": 42}}}}]}
    text = library_yaml("B", spec)
    assert text == """\
models:
  B:
    input_shape:
      - 28
      - 28
    layers:
      - Flatten
      - Dense: 64
      - BatchNormalization
      - Dense:
          units: 10
          activation: softmax
          kernel_initializer:
            HeNormal:
              seed: 42
"""
    assert load_library_model(text) == Model.model_validate(spec)


def load_library_model(text: str) -> Model:
    """The one model of an exported library file, validated as the spec language reads it."""
    (model,) = yaml.safe_load(text)["models"].values()
    return Model.model_validate(model)


def test_a_layer_of_another_dtype_is_refused_not_exported_as_float32():
    model = keras.Sequential([keras.Input((4,)), L.Dense(3), L.Dense(2, dtype="float16")])
    with pytest.raises(SpecError, match=r"^layer 1 \(Dense\): dtype float16 cannot be expressed in the spec "
                                        r"language \(its models are float32\)"):
        model_to_spec(model)
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, dtype="mixed_float16")])
    with pytest.raises(SpecError, match=r"layer 0 \(Dense\): dtype mixed_float16 cannot be expressed"):
        model_to_spec(model)


def test_a_corrupt_keras_file_is_reported_as_corrupt_not_missing(cli, tmp_path):
    model = keras.Sequential([keras.Input((4,)), L.Dense(3)])
    model.save(tmp_path / "m.keras")
    (tmp_path / "cut.keras").write_bytes((tmp_path / "m.keras").read_bytes()[:300])
    (tmp_path / "text.keras").write_text("not a model")
    for name in ("cut.keras", "text.keras"):
        code, _, err = cli("export", tmp_path / name)
        assert code == 2 and "File not found" not in err
        assert (f"{tmp_path / name}: not a readable .keras file (a .keras model is a zip archive; this one is "
                "corrupt or truncated)") in err
