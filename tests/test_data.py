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


def test_csv_labels_stay_numbers_that_are_not_whole(tmp_path):
    """Regression labels are kept as written; whole-number labels (classes) stay integers."""
    rows = [(0.1, -0.2, 1.2011), (0.3, 0.5, 1.7818), (0.2, 0.1, -0.25), (0.4, 0.9, 3.5), (0.6, 0.7, 0.75)]
    (tmp_path / "reg.csv").write_text("a,b,label\n" + "".join(f"{a},{b},{y}\n" for a, b, y in rows))
    data = load_data(Data(dataset="reg.csv"), tmp_path)
    assert data.y_train.dtype == np.float32
    assert data.y_train.tolist() == pytest.approx([1.2011, 1.7818, -0.25, 3.5])
    assert data.y_test.tolist() == pytest.approx([0.75])
    (tmp_path / "cls.csv").write_text("a,label\n" + "".join(f"{i},{i % 3}.0\n" for i in range(5)))
    data = load_data(Data(dataset="cls.csv"), tmp_path)
    assert data.y_train.dtype == np.int64 and data.y_train.tolist() == [0, 1, 2, 0]


def test_scaling_divides_by_the_largest_absolute_value(tmp_path):
    """As README says: features that go below zero land in [-1, 1], not [0, 1]."""
    x = np.array([[-4.0, 2.0], [1.0, -1.0]])
    np.savez(tmp_path / "neg.npz", x_train=x, y_train=np.arange(2), x_test=x * 2, y_test=np.arange(2))
    data = load_data(Data(dataset="neg.npz"), tmp_path)
    assert data.x_train.tolist() == [[-1.0, 0.5], [0.25, -0.25]]
    assert data.x_test.tolist() == [[-2.0, 1.0], [0.5, -0.5]]  # the training maximum, not the test's


def _save(path, **arrays):
    """An .npz of the four arrays, any of them replaced by `arrays`."""
    rng = np.random.default_rng(0)
    four = dict(x_train=rng.random((4, 2)), y_train=np.arange(4) % 2, x_test=rng.random((2, 2)),
                y_test=np.arange(2))
    np.savez(path, **{**four, **arrays})


BAD_FILES = [
    ("obj.npz", lambda p: _save(p, x_train=np.array([[1.0, 2.0], "ab", None, 3], dtype=object)),
     "x_train cannot be read (Object arrays cannot be loaded when allow_pickle=False); a data file holds arrays of numbers, saved without pickling"),
    ("str.npz", lambda p: _save(p, x_train=np.array([["a", "b"]] * 4)),
     "x_train holds text (<U1), not numbers"),
    ("ylabels.npz", lambda p: _save(p, y_test=np.array(["cat", "dog"])),
     "y_test holds text (<U3), not numbers"),
    ("empty.npz", lambda p: _save(p, x_train=np.zeros((0, 2)), y_train=np.zeros(0)),
     "has no training examples (x_train has shape (0, 2))"),
    ("notest.npz", lambda p: _save(p, x_test=np.zeros((0, 2)), y_test=np.zeros(0)),
     "has no test examples (x_test has shape (0, 2))"),
    ("shapes.npz", lambda p: _save(p, x_test=np.zeros((2, 3))),
     "x_train's examples have shape (2,) but x_test's have shape (3,)"),
    ("scalars.npz", lambda p: _save(p, x_train=np.arange(4.0), x_test=np.arange(2.0)),
     "x_train has shape (4,): one number per example is written as shape (4, 1)"),
    ("hdr.csv", lambda p: p.write_text("a,b,label\n"), "has a header but no rows"),
    ("one.csv", lambda p: p.write_text("a,b,label\n1,2,1\n"),
     "has 1 row: the last 20% of the rows (at least one) are the test split, which leaves none to train on"),
    ("narrow.csv", lambda p: p.write_text("a,b,label\n1,2\n3,4\n"),
     "has 3 columns in its header but 2 in its rows"),
    ("latin1.csv", lambda p: p.write_bytes("\xe9,label\n1,2\n".encode("latin-1")), "is not UTF-8 text"),
    ("text.npz", lambda p: p.write_text("not an archive"), "is not a .npz archive of arrays"),
]


@pytest.mark.parametrize("name,make,message", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_data_file_is_a_spec_error_at_data_dataset(tmp_path, name, make, message):
    make(tmp_path / name)
    with pytest.raises(SpecError) as e:
        load_data(Data(dataset=name), tmp_path)
    [issue] = e.value.issues
    assert issue.loc == ("data", "dataset")
    assert issue.message.startswith(f"{tmp_path / name}") and message in issue.message


@pytest.mark.parametrize("command", ["show", "run"])
def test_a_bad_data_file_is_located_by_show_and_run(write, cli, tmp_path, command):
    _save(tmp_path / "obj.npz", x_train=np.array([1, None, 2, 3], dtype=object))
    path = write("name: d\ndata: {dataset: obj.npz}\ncompile: {loss: mse}\nmodels:\n  A:\n    layers: [{Dense: 1}]\n")
    code, out, err = cli(command, path, *(["--out", tmp_path / "out"] if command == "run" else []))
    assert code == 2 and "Traceback" not in err
    assert err.splitlines() == [f"{path}:2:17: data.dataset: {tmp_path / 'obj.npz'}: x_train cannot be read "
                                "(Object arrays cannot be loaded when allow_pickle=False); a data file holds arrays "
                                "of numbers, saved without pickling"]


def test_a_csv_split_by_semicolons_is_named_by_its_columns(tmp_path):
    (tmp_path / "semi.csv").write_text("a;b;label\n1;2;0\n3;4;1\n")
    with pytest.raises(SpecError, match=r"has no column 'label' \(its columns: a;b;label\); set data.label_column"):
        load_data(Data(dataset="semi.csv"), tmp_path)


BIG_IDS = """\
name: big
data: {dataset: bigids.npz, scale: false}
compile: {optimizer: {Adam: {learning_rate: 0.05}}, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
training: {epochs: 15, batch_size: 32, seeds: [0]}
models:
  lookup:
    input_shape: [3]
    input_dtype: int64
    layers:
      - IntegerLookup: {vocabulary: [100000001, 100000002, 100000003, 100000004], output_mode: multi_hot}
      - Dense: {units: 2, activation: softmax}
"""


def test_ids_above_2_to_the_24_reach_an_integer_lookup_exactly(tmp_path, cli):
    """float32 holds integers exactly only up to 2**24: unscaled integer arrays stay integer, or every id
    here would become 100000000, out of the vocabulary (the model would learn only the majority class)."""
    import json

    rng = np.random.default_rng(0)
    x = rng.integers(100000001, 100000005, size=(360, 3))
    y = (x == 100000003).any(axis=1).astype(np.int64)
    np.savez(tmp_path / "bigids.npz", x_train=x[:300], y_train=y[:300], x_test=x[300:], y_test=y[300:])
    (tmp_path / "big.yaml").write_text(BIG_IDS)
    spec = Data(dataset="bigids.npz", scale=False)
    for data in (load_data(spec, tmp_path), load_data(spec, tmp_path)):  # decoded, then from the prepared cache
        assert data.x_train.dtype == np.int64 and (data.x_train == x[:300]).all()
    data_module._cache.clear()
    assert load_data(spec, tmp_path).x_train.dtype == np.int64  # mapped from the cache in a fresh process
    code, out, err = cli("run", tmp_path / "big.yaml", "--out", tmp_path / "out")
    assert code == 0, err
    run = json.loads((tmp_path / "out" / "results.json").read_text())["runs"][0]
    assert run["history"]["val_accuracy"][-1] == 1.0


def test_scaled_and_float_arrays_are_float32(tmp_path):
    """The seed's rule is unchanged where it is not about exact ids: uint8 images scaled are float32."""
    np.savez(tmp_path / "a.npz", x_train=np.arange(12, dtype=np.uint8).reshape(4, 3), y_train=np.arange(4),
             x_test=np.arange(6, dtype=np.uint8).reshape(2, 3), y_test=np.arange(2))
    scaled = load_data(Data(dataset="a.npz"), tmp_path)
    assert scaled.x_train.dtype == np.float32 and scaled.x_train.max() == 1.0
    np.savez(tmp_path / "f.npz", x_train=np.ones((4, 3)), y_train=np.arange(4), x_test=np.ones((2, 3)),
             y_test=np.arange(2))
    assert load_data(Data(dataset="f.npz", scale=False), tmp_path).x_train.dtype == np.float32


def test_a_float_model_trains_on_unscaled_integer_arrays(tmp_path, cli):
    """Unscaled uint8 arrays stay uint8 (exact ids); a float32 input takes them, Keras casting each batch."""
    import json

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 4, 4)).astype(np.uint8)
    y = (x.mean(axis=(1, 2)) > 127).astype(np.int64)
    np.savez(tmp_path / "u8.npz", x_train=x[:50], y_train=y[:50], x_test=x[50:], y_test=y[50:])
    assert load_data(Data(dataset="u8.npz", scale=False), tmp_path).x_train.dtype == np.uint8
    (tmp_path / "u8.yaml").write_text(
        "name: u8\ndata: {dataset: u8.npz, scale: false}\ncompile: {loss: sparse_categorical_crossentropy}\n"
        "training: {epochs: 1, seeds: [0]}\nmodels:\n  plain:\n    layers: [Flatten, Normalization: {}, Dense: 2]\n")
    code, out, err = cli("run", tmp_path / "u8.yaml", "--out", tmp_path / "out")
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "results.json").read_text())["runs"][0]["status"] == "completed"
