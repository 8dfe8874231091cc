"""Tables with text and numeric columns: encoded inside the model, which then takes raw rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

HEAD = """\
name: t
compile: {optimizer: {Adam: {learning_rate: 0.05}}, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
training: {epochs: 8, batch_size: 16}
models:
  A:
    layers:
      - Dense: {units: 8, activation: relu}
      - Dense: {units: 2, activation: softmax}
"""


def _rows(n: int = 120):
    """Rows where the label is 1 exactly for city Oslo or a large size; `note` is free text."""
    rng = np.random.default_rng(0)
    cities = rng.choice(["Oslo", "Rome", "Lima"], n)
    size = rng.normal(100.0, 30.0, n).round(1)
    label = ((cities == "Oslo") | (size > 140)).astype(int)
    return {"city": cities.tolist(), "size": size.tolist(), "label": label.tolist()}


def _write(tmp_path, suffix: str, rows: dict) -> str:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    table = pa.table(rows)
    path = tmp_path / f"t{suffix}"
    (pq.write_table if suffix == ".parquet" else pcsv.write_csv)(table, path)
    return path.name


@pytest.mark.parametrize("suffix, workers", [(".csv", "1"), (".parquet", "2")])
def test_a_table_with_a_text_column_trains_and_the_saved_model_takes_raw_rows(tmp_path, suffix, workers):
    import keras
    import tensorflow as tf

    from factory.cli import main

    name = _write(tmp_path, suffix, _rows())
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"data: {{dataset: {name}}}\n" + HEAD, encoding="utf-8")
    assert main(["run", str(spec), "--out", str(tmp_path / "out"), "--workers", workers]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["data_fingerprint"]["columns"]["categorical"] == ["city"]
    assert results["data_fingerprint"]["columns"]["numeric"] == ["size"]
    assert results["runs"][0]["history"]["val_accuracy"][-1] >= 0.9
    model = keras.models.load_model(tmp_path / "out" / "models" / "A-seed0.keras")
    rows = {"city": tf.constant([["Oslo"], ["Rome"], ["Rome"], ["Paris"]]),
            "size": tf.constant([[90.0], [90.0], [190.0], [80.0]])}
    assert model.predict(rows, verbose=0).argmax(axis=1).tolist() == [1, 0, 1, 0]  # Paris: unseen, its own slot


def test_the_encoder_is_adapted_on_the_training_rows_and_sizes_the_input(tmp_path):
    from factory.data import load_data
    from schemas import Data

    rows = _rows(10)
    rows["city"][-1] = "Test-only town"  # in the last 20%: the test split
    data = load_data(Data(dataset=_write(tmp_path, ".csv", rows)), tmp_path)
    assert "Test-only town" not in data.vocabularies["city"]
    assert data.input_shape == (1 + len(data.vocabularies["city"]) + 1,)
    assert (len(data.y_train), len(data.y_test)) == (8, 2)
    import keras

    encoder = data.encoder(keras)
    mean = np.asarray(encoder.get_layer("numeric_normalization").mean).ravel()
    np.testing.assert_allclose(mean, [np.mean(rows["size"][:8])], rtol=1e-5)  # the training rows only


def test_text_labels_become_class_numbers_in_sorted_order(tmp_path):
    from factory.data import load_data
    from schemas import Data

    rows = {"x": [1.0, 2.0, 3.0, 4.0, 5.0], "kind": ["cat", "dog", "cat", "ant", "dog"]}
    data = load_data(Data(dataset=_write(tmp_path, ".parquet", rows), label_column="kind"), tmp_path)
    assert data.class_names == ("ant", "cat", "dog")
    assert data.y_train.tolist() == [1, 2, 1, 0]


def test_a_numeric_csv_stays_arrays(tmp_path):
    from factory.data import Dataset, load_data
    from schemas import Data

    (tmp_path / "n.csv").write_text("a,b,label\n" + "".join(f"{i},{2 * i},{i % 2}\n" for i in range(10)))
    assert isinstance(load_data(Data(dataset="n.csv"), tmp_path), Dataset)


@pytest.mark.parametrize("rows, message", [
    ({"x": [1.0, None, 3.0], "c": ["a", "b", "c"], "label": [0, 1, 0]}, "column 'x' has 1 empty value(s)"),
    ({"c": ["a", "b", "c"], "y": [0, 1, 0]}, "has no column 'label' (its columns: c, y); set data.label_column"),
])
def test_tables_that_cannot_train_are_refused_with_the_reason(tmp_path, rows, message):
    from factory.data import load_data
    from factory.errors import SpecError
    from schemas import Data

    with pytest.raises(SpecError) as e:
        load_data(Data(dataset=_write(tmp_path, ".parquet", rows)), tmp_path)
    assert message in str(e.value.issues[0]) and e.value.issues[0].loc == ("data", "dataset")


@pytest.mark.parametrize("rows, bad_row, cell", [(30, 15, "?"), (1200, 1100, "oops")])
def test_a_numeric_csv_with_a_bad_cell_stays_a_located_error_naming_the_cell(tmp_path, rows, bad_row, cell):
    from factory.data import load_data
    from factory.errors import SpecError
    from schemas import Data

    lines = [f"{i},{2 * i},{i % 2}" for i in range(rows)]
    lines[bad_row] = f"{bad_row},{cell},0"  # one bad cell, however late, is a typo, not a column of text
    (tmp_path / "n.csv").write_text("age,income,label\n" + "\n".join(lines) + "\n")
    with pytest.raises(SpecError) as e:
        load_data(Data(dataset="n.csv"), tmp_path)
    assert f"not a table of numbers: could not convert string '{cell}' to float32 at row {bad_row}, column 2" \
        in str(e.value.issues[0])


def test_a_text_column_of_a_table_that_is_mostly_numbers_is_refused_naming_the_cell(tmp_path):
    from factory.data import load_data
    from factory.errors import SpecError
    from schemas import Data

    rows = {"city": ["Oslo", "Rome", "Lima", "Oslo", "Rome"], "size": ["1", "2", "n/a", "4", "5"], "label": [0, 1] * 2 + [0]}
    with pytest.raises(SpecError) as e:
        load_data(Data(dataset=_write(tmp_path, ".parquet", rows)), tmp_path)
    assert "column 'size' holds numbers but row 3 has 'n/a', not a number" in str(e.value.issues[0])


def test_whole_number_text_labels_are_numbered_in_numeric_order(tmp_path):
    from factory.data import load_data
    from schemas import Data

    rows = {"x": [float(i) for i in range(12)], "label": [str(i) for i in range(12)]}
    data = load_data(Data(dataset=_write(tmp_path, ".parquet", rows)), tmp_path)
    assert data.class_names[:3] == ("0", "1", "2") and data.class_names[-1] == "11"
    assert data.y_train.tolist() == list(range(10))


def test_scale_false_on_a_table_is_a_located_mistake(tmp_path):
    from factory.data import load_data
    from factory.errors import SpecError
    from schemas import Data

    with pytest.raises(SpecError) as e:
        load_data(Data(dataset=_write(tmp_path, ".csv", _rows(10)), scale=False), tmp_path)
    assert e.value.issues[0].loc == ("data", "scale") and "leave scale out" in str(e.value.issues[0])


def _train(tmp_path, rows: dict):
    from factory.cli import main

    spec = tmp_path / "spec.yaml"
    spec.write_text(f"data: {{dataset: {_write(tmp_path, '.parquet', rows)}}}\n"
                    + HEAD.replace("epochs: 8", "epochs: 1"), encoding="utf-8")
    assert main(["run", str(spec), "--out", str(tmp_path / "out")]) == 0
    return tmp_path / "out" / "models" / "A-seed0.keras"


def test_a_column_name_keras_refuses_as_a_layer_name_trains(tmp_path):
    import keras
    import tensorflow as tf

    rows = _rows(40)
    model = keras.models.load_model(_train(tmp_path, {"first name": rows["city"], "label": rows["label"]}))
    assert model.predict({"first name": tf.constant([["Oslo"]])}, verbose=0).shape == (1, 2)


def test_the_readme_predict_example_runs_as_written_on_a_saved_table_model(tmp_path):
    import re
    import textwrap

    from tests.conftest import ROOT

    rows = _rows(40)
    saved = _train(tmp_path, {"age": rows["size"], "city": rows["city"], "label": rows["label"]})
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = textwrap.dedent(re.search(r"```python\n( *import keras, tensorflow as tf\n.*?)```", readme, re.S).group(1))
    namespace = {}
    exec(example.replace("runs/abc/models/A-seed0.keras", str(saved)).replace("model.predict(", "out = model.predict("),
         namespace)
    assert namespace["out"].shape == (1, 2)
