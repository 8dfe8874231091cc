"""Datasets: find, decode and prepare the examples an experiment trains on.

Built-ins are looked up in order: `$FACTORY_DATA_DIR`, Keras's cache (`~/.keras/datasets/`, the
file names Keras uses), the Debian package `dataset-fashion-mnist`, and only then downloaded
through `keras.datasets`. Files of your own are `.npz` (x_train, y_train, x_test, y_test) or
`.csv` (a label column, the other columns features). A dataset that cannot be had is a
`SpecError` that says where it looked and how to get it.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from factory.data import several
from factory.errors import Issue, SpecError
from schemas import Data
from factory.data.tables import is_table
from schemas.experiment import is_folder

IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CSV_TEST_FRACTION = 0.2  # a CSV has no test split: its last 20% of rows are the test split
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
NUMBER_KINDS = "biuf"  # numpy dtype kinds a model trains on: booleans, integers, floats
# What the other kinds hold, for a message that names the problem.
NOT_NUMBERS = {"U": "text", "S": "bytes", "O": "Python objects", "M": "dates", "m": "time spans",
               "V": "records", "c": "complex numbers"}


@dataclass(frozen=True)
class Dataset:
    """Arrays ready for `model.fit`, and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape; for several inputs (factory.data.several), a shape per input name."""
        if isinstance(self.x_train, dict):
            return {k: tuple(a.shape[1:]) for k, a in self.x_train.items()}
        return tuple(self.x_train.shape[1:])

    def describe(self) -> str:
        count = len(next(iter(self.x_train.values()))) if isinstance(self.x_train, dict) else len(self.x_train)
        tests = len(next(iter(self.x_test.values()))) if isinstance(self.x_test, dict) else len(self.x_test)
        return (f"{count:,} training and {tests:,} test examples of shape "
                f"{self.input_shape} from {self.source}")


class NotHere(SpecError):
    """A built-in dataset not on this machine, asked for with `download=False`."""


def _error(message: str, kind: type[SpecError] = SpecError) -> SpecError:
    return kind([Issue(message, loc=("data", "dataset"))])


def read_idx(path: Path) -> np.ndarray:
    """Decode one (gzipped) IDX file, the format of MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise _error(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if len(raw) != expected:
        raise _error(f"{path} is truncated or damaged ({len(raw):,} bytes, expected {expected:,})")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_folder(folder: Path) -> tuple | None:
    if all((folder / name).is_file() for name in IDX_FILES):
        return tuple(read_idx(folder / name) for name in IDX_FILES)
    return None


def _npz_arrays(path: Path) -> tuple:
    try:
        archive = np.load(path, allow_pickle=False)  # never unpickle: a data file cannot run code
    except (ValueError, EOFError, zipfile.BadZipFile) as e:  # a pickle, an empty file, a damaged zip
        raise _error(f"{path} is not a .npz archive of arrays ({type(e).__name__}: {e}); write it with "
                     "numpy.savez") from None
    with archive as f:
        if several.holds_named_arrays(f.files):  # x_train_<input>, y_train_<output>: several inputs or outputs
            return several.named_arrays(f, path, _npz_member)
        missing = [k for k in ARRAYS if k not in f.files]
        if missing:
            raise _error(f"{path} lacks {', '.join(missing)} (it has {', '.join(f.files) or 'nothing'})")
        return tuple(_npz_member(f, path, key) for key in ARRAYS)


def _npz_member(archive, path: Path, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as e:  # numpy's refusal to unpickle an array of Python objects, or a damaged header
        raise _error(f"{path}: {key} cannot be read ({e}); a data file holds arrays of numbers, "
                     "saved without pickling") from None


# What a failed download means "not available here": no network, refused or missing URL (Keras
# re-raises URLError and HTTPError as a bare Exception, chained), a full or unwritable disk, or a
# damaged archive or file in the cache.
UNAVAILABLE = (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError)


def _unavailable(error: BaseException) -> bool:
    """Whether `error`, or an exception it was raised from or while handling, is in UNAVAILABLE."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UNAVAILABLE):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _image_set(name: str, keras_dir: str, keras_loader: str, debian_package: bool) -> Callable:
    """A loader for an MNIST-like set: IDX files or Keras's npz, searched in the documented order."""

    def search() -> list[Path]:
        places: list[Path] = []
        env = os.environ.get("FACTORY_DATA_DIR")
        if env:
            places += [Path(env) / keras_dir, Path(env)]
        places.append(Path.home() / ".keras" / "datasets" / keras_dir)
        if debian_package:
            places.append(DEBIAN_FASHION_MNIST)
        return places

    def files(spec: Data, base: Path) -> list[Path] | None:
        """The files `load` would decode (for the prepared-data cache's key), or None if it would download."""
        for folder in search():
            if all((folder / name).is_file() for name in IDX_FILES):
                return [folder / name for name in IDX_FILES]
            npz = folder.with_suffix(".npz") if folder.name == keras_dir else folder / f"{keras_dir}.npz"
            if npz.is_file():
                return [npz]
        return None

    def load(spec: Data, base: Path, download: bool) -> tuple[tuple, str]:
        places = search()
        for folder in places:
            arrays = _idx_folder(folder)
            if arrays is not None:
                return arrays, str(folder)
            npz = folder.with_suffix(".npz") if folder.name == keras_dir else folder / f"{keras_dir}.npz"
            if npz.is_file():
                return _npz_arrays(npz), str(npz)
        if not download:
            raise _error(f"{name} is not on this machine (not downloaded now)", NotHere)
        try:
            from factory.build.keras_setup import import_keras

            (xt, yt), (xv, yv) = getattr(import_keras().datasets, keras_loader).load_data()
            return (xt, yt, xv, yv), f"keras.datasets.{keras_loader} (downloaded)"
        except Exception as e:
            if not _unavailable(e):
                raise  # our bug or Keras's, not a missing dataset: show its traceback
            looked = "\n  ".join(str(p) for p in places)
            hint = " or `apt-get install dataset-fashion-mnist`" if debian_package else ""
            raise _error(
                f"{name} is not on this machine and could not be downloaded ({type(e).__name__}: {e}).\n"
                f"  Looked in:\n  {looked}\n  Put the four files {', '.join(IDX_FILES)} in "
                f"$FACTORY_DATA_DIR{hint}.") from None

    load.files = files
    return load


def _digits(spec: Data, base: Path, download: bool) -> tuple[tuple, str]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    n_test = 360  # the last 360 of 1,797: a fixed, deterministic split
    x, y = digits.images, digits.target
    return (x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:]), "scikit-learn's digits"


def _the_file(spec: Data, base: Path) -> list[Path] | None:
    path = (base / spec.dataset).resolve()
    return [path] if path.is_file() else None


def _npz(spec: Data, base: Path, download: bool) -> tuple[tuple, str]:
    path = (base / spec.dataset).resolve()
    return _npz_arrays(path), str(path)


def _csv(spec: Data, base: Path, download: bool) -> tuple[tuple, str]:
    """The rows of a CSV: labels stay integers when every one is whole (classes), else floats."""
    path = (base / spec.dataset).resolve()
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
    except UnicodeDecodeError as e:
        raise _error(f"{path} is not UTF-8 text ({e}); save it as UTF-8") from None
    if spec.label_column not in header:  # first: a file split by ';' is named so, not as "not numbers"
        raise _error(f"{path} has no column '{spec.label_column}' (its columns: {', '.join(header)}); "
                     "set data.label_column")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns of a file without rows; we say so ourselves
            table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2, encoding="utf-8")
    except ValueError as e:  # UnicodeDecodeError included
        raise _error(f"{path}: not a table of numbers: {e}") from None
    if len(table) == 0:
        raise _error(f"{path} has a header but no rows")
    if table.shape[1] != len(header):
        raise _error(f"{path} has {len(header)} columns in its header but {table.shape[1]} in its rows")
    n_test = max(1, int(round(len(table) * CSV_TEST_FRACTION)))
    if n_test >= len(table):
        raise _error(f"{path} has {len(table)} row{'s' * (len(table) != 1)}: the last "
                     f"{CSV_TEST_FRACTION:.0%} of the rows (at least one) are the test split, which leaves "
                     "none to train on; it needs at least 2 rows")
    label = header.index(spec.label_column)
    y = table[:, label]
    y = y.astype(np.int64) if np.all(y == np.round(y)) else y  # float32 labels for a regression
    x = np.delete(table, label, axis=1)
    cut = len(x) - n_test
    return (x[:cut], y[:cut], x[cut:], y[cut:]), str(path)


# Built-in names (schemas.names.DATASETS lists the same; a test checks) and file suffixes.
DATASETS: dict[str, Callable] = {
    "fashion_mnist": _image_set("Fashion-MNIST", "fashion-mnist", "fashion_mnist", debian_package=True),
    "mnist": _image_set("MNIST", "mnist", "mnist", debian_package=False),
    "digits": _digits,
}
FILE_LOADERS: dict[str, Callable] = {".npz": _npz, ".csv": _csv}
_npz.files = _csv.files = _the_file  # what the prepared-data cache keys on; digits (milliseconds) is not cached

_cache: dict[tuple, Dataset] = {}


def _check_arrays(source: str, arrays: dict[str, np.ndarray]) -> None:
    """Raise a `SpecError` at data.dataset for arrays a model cannot train on, naming the problem."""
    for name, array in arrays.items():
        if array.dtype.kind not in NUMBER_KINDS:
            what = NOT_NUMBERS.get(array.dtype.kind, "values")
            raise _error(f"{source}: {name} holds {what} ({array.dtype}), not numbers")
        if array.ndim == 0:
            raise _error(f"{source}: {name} is a single number, not an array of examples")
    for split, x, y in (("training", "x_train", "y_train"), ("test", "x_test", "y_test")):
        if len(arrays[x]) == 0:
            raise _error(f"{source} has no {split} examples ({x} has shape {arrays[x].shape})")
        if len(arrays[x]) != len(arrays[y]):
            raise _error(f"{source}: {x} has {len(arrays[x]):,} examples but {y} has {len(arrays[y]):,} labels")
    if arrays["x_train"].ndim == 1:
        raise _error(f"{source}: x_train has shape {arrays['x_train'].shape}: one number per example is "
                     f"written as shape ({len(arrays['x_train'])}, 1)")
    for train, test in (("x_train", "x_test"), ("y_train", "y_test")):
        if arrays[train].shape[1:] != arrays[test].shape[1:]:
            raise _error(f"{source}: {train}'s examples have shape {arrays[train].shape[1:]} but {test}'s "
                         f"have shape {arrays[test].shape[1:]}")


def load_data(spec: Data, base: Path = Path("."), download: bool = True) -> Dataset:
    """The prepared dataset `spec` names (loaded once per process, then shared by every run).

    With `download=False` a built-in set not already on this machine is a `NotHere` error at once
    (for commands that only want the data when it is cheap to have). Any other mistake in the
    data is a `SpecError` at data.dataset that names it.
    """
    key = (spec.model_dump_json(), str(Path(base).resolve()), os.environ.get("FACTORY_DATA_DIR"),
           str(Path.home()))
    if key in _cache:
        return _cache[key]
    if is_folder(spec.dataset, str(base)):  # streamed from its files, never loaded whole (factory.data.folders)
        from factory.data.folders import open_folder

        _cache[key] = open_folder(spec, Path(base))
        return _cache[key]
    if is_table(spec, Path(base)):  # a .parquet, or a .csv with text columns (factory.data.tables)
        from factory.data.tables import open_table

        _cache[key] = open_table(spec, Path(base))
        return _cache[key]
    loader = DATASETS.get(spec.dataset) or FILE_LOADERS[Path(spec.dataset).suffix.lower()]
    from factory.data import cache

    prepared = cache.Entry(spec, loader, Path(base))  # decoded and scaled arrays of an earlier run, mapped
    if prepared.arrays is not None:
        _cache[key] = Dataset(*prepared.arrays)
        return _cache[key]
    try:
        (x_train, y_train, x_test, y_test), source = loader(spec, Path(base), download)
    except OSError as e:
        raise _error(f"cannot read {spec.dataset}: {e}") from None
    if several.is_named(x_train, y_train):
        several.check(source, dict(zip(ARRAYS, (x_train, y_train, x_test, y_test))))
        dataset = several.prepared(spec, (x_train, y_train, x_test, y_test), source, Dataset)
        _cache[key] = dataset
        return dataset
    _check_arrays(source, dict(zip(ARRAYS, (x_train, y_train, x_test, y_test))))
    if spec.train_size is not None:
        x_train, y_train = x_train[:spec.train_size], y_train[:spec.train_size]
    if spec.test_size is not None:
        x_test, y_test = x_test[:spec.test_size], y_test[:spec.test_size]
    x_train, x_test = several.model_input(x_train, spec.scale), several.model_input(x_test, spec.scale)
    if spec.scale:
        x_train, x_test = several.scaled(x_train, x_test)
    dataset = Dataset(x_train, np.asarray(y_train), x_test, np.asarray(y_test), source)
    mapped = prepared.store(dataset)  # the same arrays, mapped as later runs will map them
    dataset = Dataset(*mapped) if mapped else dataset
    _cache[key] = dataset
    return dataset


def save_arrays(dataset: Dataset, folder: Path) -> Path:
    """Write the prepared arrays once (`.npy`, atomically) for worker processes to map, not decode."""
    from factory.atomic import replacing, write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in several.flatten({k: getattr(dataset, k) for k in ARRAYS}).items():
        with replacing(folder / f"{name}.npy", suffix=".tmp.npy") as tmp:
            np.save(tmp, array)
    write_text(folder / "source.txt", dataset.source)
    return folder


def load_arrays(folder: Path) -> Dataset:
    """The arrays `save_arrays` wrote, memory-mapped: processes on one machine share one copy."""
    folder = Path(folder)
    flat = {p.stem: np.load(p, mmap_mode="r", allow_pickle=False) for p in sorted(folder.glob("[xy]_*.npy"))}
    arrays = several.unflatten(flat)
    return Dataset(*(arrays[name] for name in ARRAYS), source=(folder / "source.txt").read_text(encoding="utf-8"))
