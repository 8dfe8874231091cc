"""Tables with text or categorical columns (.csv, .parquet), trained by a model that takes raw rows.

A `.parquet` file, or a `.csv` with a column in which no cell is a number, is read with pyarrow. Numeric
columns are normalized by a Normalization layer adapted on the training rows; each text column is
encoded by a StringLookup layer whose vocabulary is that column's values in the training rows (a
value seen only later is its out-of-vocabulary slot). They form the `encoder` that
`factory.build.adapt.prepare_model` puts in front of the spec's model, so the saved `.keras` model takes a dict of raw columns
(`{"age": [[41.0]], "city": [["Oslo"]]}`). The spec's model sees the encoded row: its input shape
is `(numeric columns + each vocabulary's size + 1,)`. Labels are whole numbers (classes), other
numbers (a regression), or text (class names, numbered in sorted order, numeric order when all are whole numbers, and recorded). As with a
numeric .csv, the last 20% of the rows are the test split. A numeric .csv stays arrays
(`factory.data`), exactly as before.
"""

from __future__ import annotations

import csv
import re
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factory.errors import Issue, SpecError
from schemas import Data

TABLE_SUFFIXES = (".parquet",)  # read only here (a .csv is arrays unless it has text: `is_table`)
TABLE_TEST_FRACTION = 0.2  # the last 20% of the rows, as for a numeric .csv
NUMBERS_MOSTLY = 0.5  # a text column with more cells that are numbers than this share is a numeric column's typo
SCOPE_NAME = re.compile(r"[^A-Za-z0-9_.\-]")  # characters Keras refuses in a layer's name


def _error(message: str) -> SpecError:
    return SpecError([Issue(message, loc=("data", "dataset"))])


def _hashed(entry: dict) -> dict:
    """`entry` with a BLAKE2b of its JSON, so that `--resume` names it when it changed."""
    import json

    text = json.dumps(entry, sort_keys=True).encode()
    return {**entry, "blake2b": hashlib.blake2b(text, digest_size=16).hexdigest()}


def is_table(spec: Data, base: Path) -> bool:
    """Whether `spec.dataset` is a table for this module: a .parquet, or a .csv with a column of text.

    A column of text is one in which no cell is a number (empty cells aside). A column of numbers
    with a few bad cells (`?`, `n/a`, `12..5`) therefore leaves the file a table of numbers, which
    `factory.data` refuses naming the cell, as it always did. Every row is looked at.
    """
    path = Path(base) / spec.dataset
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return True
    if suffix != ".csv" or not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = csv.reader(f)
            header = next(rows, [])
            text = [True] * len(header)  # no number seen yet in the column
            filled = [False] * len(header)
            for row in rows:
                for i, cell in enumerate(row[:len(header)]):
                    if cell.strip():
                        filled[i] = True
                        text[i] = text[i] and not _number(cell)
    except (UnicodeDecodeError, OSError, csv.Error):
        return False  # factory.data says so for every .csv
    return any(t and f for t, f in zip(text, filled))


def _number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class TableDataset:
    """Columns of a table by name, split into training and test rows, and how to encode them."""

    x_train: dict  # column -> (rows, 1) float32 or str array
    y_train: np.ndarray
    x_test: dict
    y_test: np.ndarray
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    vocabularies: dict  # categorical column -> its values in the training rows, sorted
    source: str
    class_names: tuple[str, ...] | None = None  # text labels: label i is class_names[i]
    input_dtype: str | None = field(default=None)  # the spec's model takes float32 encoded rows

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The encoded row the spec's model takes: numeric columns, then one-hot slots per text column."""
        return (len(self.numeric) + sum(len(v) + 1 for v in self.vocabularies.values()),)

    def describe(self) -> str:
        return (f"{len(self.y_train):,} training and {len(self.y_test):,} test rows of {len(self.numeric)} numeric "
                f"and {len(self.categorical)} text columns ({self.input_shape[0]} values encoded) from {self.source}")

    def fingerprint(self) -> dict:
        digest = hashlib.blake2b(digest_size=16)
        for split in (self.x_train, self.x_test):
            for name in sorted(split):
                digest.update(name.encode() + b"\0" + np.ascontiguousarray(split[name]).astype(str).tobytes())
        for y in (self.y_train, self.y_test):
            digest.update(np.ascontiguousarray(y).tobytes())
        return {"rows": {"shape": [len(self.y_train), len(self.y_test)], "blake2b": digest.hexdigest()},
                "columns": _hashed({"numeric": list(self.numeric), "categorical": list(self.categorical),
                                    "source": self.source}),
                "classes": _hashed({"names": list(self.class_names) if self.class_names else None})}

    def stream(self, split: str, batch_size: int, shuffle: bool = False, seed: int | None = None,
               labels: bool = True):
        """Batches of (a dict of columns, labels): Keras takes columns of text only through tf.data."""
        import tensorflow as tf

        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        ds = tf.data.Dataset.from_tensor_slices((x, y) if labels else x)
        if shuffle:
            ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def encoder(self, keras):
        """A Keras model from a dict of raw columns to the encoded row, adapted on the training rows."""
        inputs = {name: keras.Input(shape=(1,), name=name, dtype="float32" if name in self.numeric else "string")
                  for name in (*self.numeric, *self.categorical)}
        parts = []
        if self.numeric:
            columns = [inputs[n] for n in self.numeric]
            joined = keras.layers.Concatenate(name="numeric_columns")(columns) if len(columns) > 1 else columns[0]
            normalization = keras.layers.Normalization(name="numeric_normalization")
            normalization.adapt(np.concatenate([self.x_train[n] for n in self.numeric], axis=1))
            parts.append(normalization(joined))
        for name in self.categorical:
            lookup = keras.layers.StringLookup(vocabulary=self.vocabularies[name], output_mode="one_hot",
                                               name=f"lookup_{_layer_name(name)}")
            parts.append(lookup(inputs[name]))
        encoded = keras.layers.Concatenate(name="encoded_row")(parts) if len(parts) > 1 else parts[0]
        return keras.Model(inputs, encoded, name="columns")


def _layer_name(column: str) -> str:
    """A Keras layer name for `column`: characters Keras refuses in a scope become `_`.

    The Input keeps the column's name: Keras matches a dict of columns to Inputs by it.
    """
    return SCOPE_NAME.sub("_", column) or "column"


def open_table(spec: Data, base: Path) -> TableDataset:
    """The table `spec.dataset` names (relative to `base`), split and described; refused with the reason."""
    path = (Path(base) / spec.dataset).resolve()
    if not spec.scale:
        raise SpecError([Issue(f"{path} is a table with text columns: its numeric columns are always normalized "
                               "by an adapted Normalization layer; leave scale out", loc=("data", "scale"))])
    table = _read(path)
    names = list(table.column_names)
    if spec.label_column not in names:
        raise _error(f"{path} has no column '{spec.label_column}' (its columns: {', '.join(names)}); "
                     "set data.label_column")
    rows = table.num_rows
    n_test = max(1, int(round(rows * TABLE_TEST_FRACTION)))
    if rows == 0:
        raise _error(f"{path} has a header but no rows")
    if n_test >= rows:
        raise _error(f"{path} has {rows} row{'s' * (rows != 1)}: the last {TABLE_TEST_FRACTION:.0%} of the rows "
                     "(at least one) are the test split, which leaves none to train on; it needs at least 2 rows")
    cut = rows - n_test
    columns, numeric, categorical = {}, [], []
    for name in names:
        if name == spec.label_column:
            continue
        values, is_number = _column(table.column(name), path, name)
        columns[name] = values.reshape(-1, 1)
        (numeric if is_number else categorical).append(name)
    y, class_names = _labels(table.column(spec.label_column), cut, path, spec.label_column)
    train = {n: v[:cut] for n, v in columns.items()}
    test = {n: v[cut:] for n, v in columns.items()}
    y_train, y_test = y[:cut], y[cut:]
    if spec.train_size is not None:
        train, y_train = {n: v[:spec.train_size] for n, v in train.items()}, y_train[:spec.train_size]
    if spec.test_size is not None:
        test, y_test = {n: v[:spec.test_size] for n, v in test.items()}, y_test[:spec.test_size]
    vocabularies = {n: sorted(set(train[n].ravel().tolist())) for n in categorical}
    return TableDataset(train, y_train, test, y_test, tuple(numeric), tuple(categorical), vocabularies, str(path),
                        class_names)


def _read(path: Path):
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq
    except ImportError:
        raise _error(f"{path}: reading this table needs pyarrow: pip install 'factory[tables]'") from None
    try:
        return pq.read_table(path) if path.suffix.lower() in TABLE_SUFFIXES else pcsv.read_csv(path)
    except (pa.ArrowException, OSError) as e:  # a damaged or misnamed file
        raise _error(f"{path} cannot be read as a table ({type(e).__name__}: {e})") from None


def _column(column, path: Path, name: str) -> tuple[np.ndarray, bool]:
    """A feature column as float32 numbers, or as text; empty numbers are refused, empty text is ''."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        if column.null_count:
            raise _error(f"{path}: column '{name}' has {column.null_count} empty value(s); fill them in "
                         "or drop the rows")
        return column.to_numpy(zero_copy_only=False).astype(np.float32), True
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
        values = [("" if v is None else str(v)) for v in column.to_pylist()]
        numbers = [_number(v) for v in values if v.strip()]
        if numbers and sum(numbers) > NUMBERS_MOSTLY * len(numbers):  # a numeric column with a typo
            row, bad = next((i, v) for i, v in enumerate(values) if v.strip() and not _number(v))
            raise _error(f"{path}: column '{name}' holds numbers but row {row + 1} has '{bad}', not a number; "
                         "fix the cell or drop the row")
        return np.array(values, dtype=str), False
    raise _error(f"{path}: column '{name}' holds {kind}, neither numbers nor text; convert it or drop it")


def _labels(column, cut: int, path: Path, name: str) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Whole numbers stay class numbers, other numbers a regression's; text becomes class numbers by sorted name."""
    import pyarrow as pa

    if column.null_count:
        raise _error(f"{path}: the label column '{name}' has {column.null_count} empty value(s)")
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type):
        y = column.to_numpy(zero_copy_only=False).astype(np.float32)
        return (y.astype(np.int64) if np.all(y == np.round(y)) else y), None
    values = [str(v) for v in column.to_pylist()]
    whole = all(re.fullmatch(r"[+-]?\d+", v.strip()) for v in values)  # "2" before "10": in numeric order
    names = tuple(sorted(set(values), key=(lambda v: int(v)) if whole else None))
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[v] for v in values], np.int64), names
