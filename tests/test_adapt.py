"""Preprocessing layers adapted on the training split before training, their state saved with the model."""

from __future__ import annotations

import numpy as np
import pytest

from factory.data import Dataset
from tests.test_backends import _python, needs_jax


@pytest.fixture(scope="module")
def keras():
    from factory.build.keras_setup import import_keras

    return import_keras()


def _arrays(x_train, x_test) -> Dataset:
    return Dataset(x_train, np.zeros(len(x_train), np.int64), x_test, np.zeros(len(x_test), np.int64), "test")


def test_normalization_is_adapted_on_the_training_split_only_and_saved(keras, tmp_path):
    from factory.build.adapt import prepare_model

    rng = np.random.default_rng(0)
    data = _arrays(rng.normal(5.0, 2.0, (400, 3)).astype(np.float32), np.full((50, 3), 100.0, np.float32))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Normalization(), keras.layers.Dense(1)])
    model = prepare_model(keras, model, data)
    mean = np.asarray(model.layers[0].mean).ravel()
    np.testing.assert_allclose(mean, data.x_train.mean(axis=0), rtol=1e-5)  # not pulled towards the test's 100
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(loaded.layers[0].mean).ravel(), mean)


def test_a_given_mean_is_kept_and_a_deeper_layer_is_adapted_on_what_the_layers_before_make(keras):
    from factory.build.adapt import prepare_model

    data = _arrays(np.arange(20, dtype=np.float32).reshape(10, 2), np.zeros((2, 2), np.float32))
    given = keras.layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0])
    scale = keras.layers.Rescaling(10.0)
    deeper = keras.layers.Normalization()
    model = prepare_model(keras, keras.Sequential([keras.Input((2,)), given, scale, deeper]), data)
    np.testing.assert_allclose(np.asarray(model.layers[0].mean).ravel(), [1.0, 2.0])
    expected = (data.x_train - [1.0, 2.0]) * 10.0
    np.testing.assert_allclose(np.asarray(model.layers[2].mean).ravel(), expected.mean(axis=0), rtol=1e-5)


def test_text_vectorization_learns_its_vocabulary_from_the_training_files_of_a_folder(keras, tmp_path):
    from factory.build.adapt import prepare_model
    from factory.data.folders import open_folder
    from schemas import Data

    for name, word in (("neg", "awful"), ("pos", "lovely")):
        (tmp_path / "reviews" / name).mkdir(parents=True)
        (tmp_path / "reviews_test" / name).mkdir(parents=True)
        for i in range(5):
            (tmp_path / "reviews" / name / f"{i}.txt").write_text(f"{word} film", encoding="utf-8")
        (tmp_path / "reviews_test" / name / "0.txt").write_text("unseenword", encoding="utf-8")
    data = open_folder(Data(dataset="reviews/", test="reviews_test/"), tmp_path)
    model = keras.Sequential([keras.Input((), dtype="string"), keras.layers.TextVectorization(output_sequence_length=3),
                              keras.layers.Embedding(10, 4), keras.layers.Flatten(), keras.layers.Dense(2)])
    model = prepare_model(keras, model, data)
    vocabulary = model.layers[0].get_vocabulary()
    assert set(vocabulary) == {"", "[UNK]", "film", "awful", "lovely"}  # not the test split's word
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    from factory.data.feeding import fit_arguments
    from schemas.experiment import Training

    model.fit(**fit_arguments(data, Training(epochs=1, batch_size=4), seed=0), epochs=1, verbose=0)
    model.save(tmp_path / "text.keras")
    loaded = keras.models.load_model(tmp_path / "text.keras")
    assert loaded.layers[0].get_vocabulary() == vocabulary


SPEC = """\
name: t
data: {dataset: digits, train_size: 300, test_size: 60, scale: false}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
training: {epochs: 1, batch_size: 32, seeds: [0, 1]}
models:
  A:
    layers:
      - Flatten
      - Normalization: {}
      - Dense: {units: 10, activation: softmax}
"""


def test_a_normalization_in_a_spec_is_adapted_in_every_backend_and_saved(tmp_path, keras):
    import json

    from factory.cli import main
    from factory.data import load_data
    from schemas import Data

    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    backends = {"1": ["--workers", "1"], "2": ["--workers", "2"]}
    try:
        import ray  # noqa: F401

        backends["ray"] = ["--workers", "2", "--backend", "ray"]
    except ImportError:
        pass
    for out, arguments in backends.items():
        assert main(["run", str(spec), "--out", str(tmp_path / out), *arguments]) == 0
    histories = [[r["history"] for r in json.loads((tmp_path / w / "results.json").read_text())["runs"]]
                 for w in backends]
    assert all(h == histories[0] for h in histories)
    data = load_data(Data(dataset="digits", train_size=300, test_size=60, scale=False))
    for workers in backends:
        model = keras.models.load_model(tmp_path / workers / "models" / "A-seed1.keras")
        mean = np.asarray(model.layers[1].mean).ravel()
        np.testing.assert_allclose(mean, data.x_train.reshape(300, -1).mean(axis=0), rtol=1e-4, atol=1e-4)


def test_with_validation_split_the_validation_rows_are_not_adapted_on(keras):
    from factory.build.adapt import prepare_model

    x = np.concatenate([np.zeros((80, 1)), np.full((20, 1), 100.0)]).astype(np.float32)  # the last 20: validation
    model = keras.Sequential([keras.Input((1,)), keras.layers.Normalization()])
    model = prepare_model(keras, model, _arrays(x, x[:2]), validation_split=0.2)
    assert np.asarray(model.layers[0].mean).ravel().tolist() == [0.0]


def test_a_normalization_inside_time_distributed_is_adapted_on_the_time_steps(keras):
    from factory.build.adapt import prepare_model

    x = np.stack([np.arange(12, dtype=np.float32).reshape(4, 3)] * 5)  # 5 examples of 4 steps of 3 features
    inner = keras.layers.Normalization()
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.TimeDistributed(inner)])
    prepare_model(keras, model, _arrays(x, x[:1]))
    np.testing.assert_allclose(np.asarray(inner.mean).ravel(), [4.5, 5.5, 6.5])


def test_a_preprocessing_layer_inside_another_wrapper_is_a_located_mistake(keras):
    from factory.build.adapt import prepare_model
    from factory.errors import SpecError

    class Wrapped(keras.layers.Wrapper):
        def call(self, x):
            return self.layer(x)

    x = np.zeros((4, 3), np.float32)
    model = keras.Sequential([keras.Input((3,)), Wrapped(keras.layers.Normalization(), name="w")], name="A")
    with pytest.raises(SpecError) as e:
        prepare_model(keras, model, _arrays(x, x[:1]))
    issue = e.value.issues[0]
    assert issue.loc == ("models", "A", "layers") and "Normalization inside Wrapped ('w') cannot be adapted" in str(issue)


ADAPT_AFTER_LAYERS = """\
import json, sys
import numpy as np
from factory.build.keras_setup import import_keras
from factory.build.adapt import prepare_model
from factory.data import Dataset

keras = import_keras(sys.argv[1] if len(sys.argv) > 1 else None)
rng = np.random.default_rng(0)
x = rng.normal(3.0, 2.0, (600, 4, 3)).astype(np.float32)  # more rows than one adapt batch
data = Dataset(x, np.zeros(600, np.int64), x[:5], np.zeros(5, np.int64), "test")
flat = keras.Sequential([keras.Input((4, 3)), keras.layers.Flatten(), keras.layers.Rescaling(2.0),
                         keras.layers.Normalization(), keras.layers.Dense(2)])
prepare_model(keras, flat, data, validation_split=0.25)
inner = keras.layers.Normalization()
steps = keras.Sequential([keras.Input((4, 3)), keras.layers.Rescaling(2.0), keras.layers.TimeDistributed(inner)])
prepare_model(keras, steps, data)
print(json.dumps({"backend": keras.backend.backend(),
                  "mean": np.asarray(flat.layers[2].mean).ravel().tolist(),
                  "variance": np.asarray(flat.layers[2].variance).ravel().tolist(),
                  "steps": np.asarray(inner.mean).ravel().tolist() + np.asarray(inner.variance).ravel().tolist()}))
"""


@needs_jax
def test_a_layer_after_other_layers_is_adapted_on_jax_as_on_tensorflow():
    import json

    done = {}
    for backend in ("jax", "tensorflow"):  # each in a fresh process: Keras picks its backend once
        run = _python(ADAPT_AFTER_LAYERS.replace("sys.argv[1] if len(sys.argv) > 1 else None", repr(backend)),
                      timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        done[backend] = json.loads(run.stdout.splitlines()[-1])
    assert done["jax"]["backend"] == "jax" and done["tensorflow"]["backend"] == "tensorflow"
    x = np.random.default_rng(0).normal(3.0, 2.0, (600, 4, 3)).astype(np.float32)
    trained = x[:450].reshape(450, -1) * 2.0  # the rows fit trains on, as Flatten and Rescaling make them
    for backend in done.values():
        np.testing.assert_allclose(backend["mean"], trained.mean(axis=0), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(backend["variance"], trained.var(axis=0), rtol=1e-3)
    for key in ("mean", "variance", "steps"):
        np.testing.assert_allclose(done["jax"][key], done["tensorflow"][key], rtol=1e-4, atol=1e-5)
