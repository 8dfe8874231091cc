"""Data sources: IDX decoding, the lookup order, files of your own, and a clear error when missing."""

import gzip

import numpy as np
import pytest

from factory import data as data_module
from factory.data import IDX_FILES, load_data, read_idx
from factory.errors import SpecError
from schemas import Data


def write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fake_mnist(folder, n=20, value=255):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, value + 1, size=(n, 28, 28))
    images[0, 0, 0] = value
    for name, array in zip(IDX_FILES, (images, np.arange(n) % 10, images[:5], np.arange(5))):
        write_idx(folder / name, array)
    return images


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACTORY_DATA_DIR", raising=False)
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    data_module._cache.clear()


def test_read_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), array)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(SpecError, match="truncated"):
        read_idx(tmp_path / "bad")


def test_factory_data_dir_comes_first_and_scaling_divides_by_255(tmp_path, monkeypatch):
    images = fake_mnist(tmp_path / "env" / "fashion-mnist")
    fake_mnist(tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist", n=30)
    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "env"))
    data = load_data(Data(dataset="fashion_mnist", train_size=10))
    assert data.source == str(tmp_path / "env" / "fashion-mnist")
    assert data.x_train.shape == (10, 28, 28) and data.x_train.dtype == np.float32
    assert np.array_equal(data.x_train, images[:10].astype(np.float32) / 255.0)
    assert load_data(Data(dataset="fashion_mnist", train_size=10)) is data  # held once per process


def test_keras_cache_is_used_next(tmp_path):
    fake_mnist(tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist", n=30)
    data = load_data(Data(dataset="fashion_mnist"))
    assert len(data.x_train) == 30 and ".keras" in data.source


def test_missing_dataset_says_where_it_looked(tmp_path, monkeypatch):
    from factory.build.keras_setup import import_keras

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(import_keras().datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(SpecError) as e:
        load_data(Data(dataset="fashion_mnist"))
    message = str(e.value)
    assert "Fashion-MNIST is not on this machine and could not be downloaded (OSError: network unreachable)" in message
    assert str(tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist") in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_npz_and_csv_files(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "d.npz", x_train=rng.random((6, 3)) * 4, y_train=np.arange(6), x_test=rng.random((2, 3)),
             y_test=np.arange(2))
    data = load_data(Data(dataset="d.npz"), tmp_path)
    assert data.x_train.shape == (6, 3) and data.x_train.max() == pytest.approx(1.0)
    (tmp_path / "t.csv").write_text("a,b,label\n" + "".join(f"{i},{2 * i},{i % 2}\n" for i in range(10)))
    data = load_data(Data(dataset="t.csv", scale=False), tmp_path)
    assert data.x_train.shape == (8, 2) and list(data.y_test) == [0, 1] and data.x_test[0, 1] == 16
    with pytest.raises(SpecError, match="has no column 'target'"):
        load_data(Data(dataset="t.csv", label_column="target"), tmp_path)
    np.savez(tmp_path / "bad.npz", x=np.ones(2))
    with pytest.raises(SpecError, match="lacks x_train, y_train, x_test, y_test"):
        load_data(Data(dataset="bad.npz"), tmp_path)


def test_digits_are_offline():
    data = load_data(Data(dataset="digits"))
    assert data.x_train.shape == (1437, 8, 8) and data.x_test.shape == (360, 8, 8)
    assert data.x_train.max() == 1.0


def _keras_offline():
    """What keras.utils.get_file raises without a network: a bare Exception chained to a URLError."""
    import urllib.error

    try:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    except urllib.error.URLError as e:
        raise Exception(f"URL fetch failure on https://example.invalid: None -- {e.reason}")


@pytest.mark.parametrize("failure,shown", [
    (_keras_offline, "Exception: URL fetch failure on https://example.invalid"),
    (lambda: (_ for _ in ()).throw(__import__("zipfile").BadZipFile("File is not a zip file")),
     "BadZipFile: File is not a zip file"),
    (lambda: (_ for _ in ()).throw(EOFError("Compressed file ended before the end-of-stream marker")),
     "EOFError: Compressed file ended"),
])
def test_a_download_that_cannot_happen_here_is_a_user_error(monkeypatch, failure, shown):
    from factory.build.keras_setup import import_keras

    monkeypatch.setattr(import_keras().datasets.mnist, "load_data", failure)
    with pytest.raises(SpecError) as e:
        load_data(Data(dataset="mnist"))
    assert f"MNIST is not on this machine and could not be downloaded ({shown}" in str(e.value)


def test_a_bug_during_the_download_is_not_turned_into_a_user_error(monkeypatch):
    from factory.build.keras_setup import import_keras

    def buggy():
        return None  # unpacking None: a TypeError, a bug in our code or Keras's, not a missing dataset

    monkeypatch.setattr(import_keras().datasets.mnist, "load_data", buggy)
    with pytest.raises(TypeError, match="cannot unpack non-iterable NoneType"):
        load_data(Data(dataset="mnist"))
