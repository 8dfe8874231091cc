"""Folders of images or text files, one subfolder per class, streamed by `tf.data` while training.

`open_folder` lists the files (decoding no pixels), decides the folder's kind from their suffixes,
refuses what cannot train (an empty or mixed folder, a file that is neither, a file or folder that
cannot be read, a damaged image, a text that is not UTF-8, a class without examples) naming the
file or folder, and splits the files once, per class, each class with a random stream seeded by
its name: the split is the same on every run and machine and is
recorded in results.json with the class names in label order. `FolderDataset` is plain data (file
names and labels), cheap to send to worker processes and Ray tasks, which re-open the files
themselves; `stream` builds the `tf.data` pipeline that reads, decodes and batches examples in
parallel with training, holding only a few batches at once unless `cache` keeps them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factory.errors import Issue, SpecError
from schemas import Data

# The first bytes of each image format tf.io.decode_image reads, by suffix.
IMAGE_SIGNATURES = {".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",),
                    ".gif": (b"GIF87a", b"GIF89a"), ".bmp": (b"BM",)}
TEXT_SUFFIXES = (".txt",)
DEFAULT_TEST_SPLIT = 0.2  # when the spec gives neither `test` nor `test_split`
SPLIT_SEED = 0  # the split is fixed: the same files are held out on every run
COLOR_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
LISTED = 3  # files named in a message before "and N more"


@dataclass(frozen=True)
class FolderDataset:
    """The files of a folder dataset and how to decode them: plain data, streamed by `stream`."""

    kind: str  # "images" or "text"
    class_names: tuple[str, ...]  # label i is class_names[i]
    train_files: tuple[str, ...]
    y_train: np.ndarray
    test_files: tuple[str, ...]
    y_test: np.ndarray
    input_shape: tuple[int, ...]  # one example: (height, width, channels), or () for one text
    input_dtype: str  # what the model's Input takes: "float32" or "string"
    scale: bool  # images divided by 255
    cache: bool
    source: str
    split: dict = field(default_factory=dict)  # how the test files were chosen, for results.json

    def describe(self) -> str:
        shape = f"images of shape {self.input_shape}" if self.kind == "images" else "texts"
        return (f"{len(self.train_files):,} training and {len(self.test_files):,} test {shape} in "
                f"{len(self.class_names)} classes ({', '.join(self.class_names[:10])}"
                f"{', ...' if len(self.class_names) > 10 else ''}) from {self.source}, streamed")

    def fingerprint(self) -> dict:
        """What results.json records and `--resume` compares: the class names in label order, the split, and
        per split a hash of the file names, labels, sizes and modification times (no file is read).

        Each entry is a dict with a `blake2b`, as `document.data_fingerprint`'s are for arrays.
        """
        out = {"classes": _hashed({"names": list(self.class_names), "kind": self.kind, "source": self.source}),
               "input": {"shape": list(self.input_shape), "dtype": self.input_dtype},
               "split": _hashed(dict(self.split))}
        for name, files, labels in (("train", self.train_files, self.y_train), ("test", self.test_files, self.y_test)):
            digest = hashlib.blake2b(digest_size=16)
            for path, label in zip(files, labels.tolist()):
                try:
                    stat = os.stat(path)
                except OSError as e:  # removed or made unreadable since the folder was opened
                    raise _error(f"cannot read {path}: {e.strerror or e}") from None
                digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
            out[name] = {"files": len(files), "blake2b": digest.hexdigest()}
        return out

    def stream(self, split: str, batch_size: int, shuffle: bool = False, seed: int | None = None,
               labels: bool = True):
        """A `tf.data.Dataset` of batches of `split` ("train" or "test"): (inputs, labels), or inputs alone.

        Files are read and decoded in parallel (`AUTOTUNE`) and batches prefetched while the model
        trains. Without `cache` the file names are shuffled, so only the prefetched batches are held;
        with it the decoded examples stay after the first pass and are shuffled from there.
        """
        import tensorflow as tf

        files, y = (self.train_files, self.y_train) if split == "train" else (self.test_files, self.y_test)
        auto = tf.data.AUTOTUNE
        ds = tf.data.Dataset.from_tensor_slices((list(files), y))
        if shuffle and not self.cache:
            ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(self._decoder(), num_parallel_calls=auto)
        if self.cache:
            ds = ds.cache()
            if shuffle:  # the cache holds the examples; the buffer refers to them
                ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size)
        if self.kind == "images":
            top = 255.0 if self.scale else 1.0
            ds = ds.map(lambda x, label: (tf.cast(x, tf.float32) / top, label), num_parallel_calls=auto)
        if not labels:
            ds = ds.map(lambda x, label: x)
        return ds.prefetch(auto)

    def _decoder(self):
        import tensorflow as tf

        if self.kind == "text":
            return lambda path, label: (tf.io.read_file(path), label)
        height, width, channels = self.input_shape

        def decode(path, label):
            # Decoded with the file's own channels, then converted: JPEG has no alpha, GIF is rgb only and
            # BMP has no grayscale output, so asking the decoder for `channels` fails on those pairs.
            image = _to_channels(tf, tf.io.decode_image(tf.io.read_file(path), channels=0, expand_animations=False),
                                 channels)
            same = tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width]))
            image = tf.cond(same, lambda: image, lambda: tf.cast(tf.clip_by_value(tf.round(
                tf.image.resize(image, (height, width))), 0, 255), tf.uint8))
            image.set_shape((height, width, channels))
            return image, label  # uint8 until batched: a quarter of the memory of floats in a cache

        return decode


def _to_channels(tf, image, channels: int):
    """A uint8 image of 1 (gray), 2 (gray, alpha), 3 (rgb) or 4 (rgba) channels as `channels` channels.

    Gray becomes rgb by repeating it, rgb becomes gray by `tf.image.rgb_to_grayscale`; an image
    without alpha gets an opaque one, and alpha is dropped where `channels` has none.
    """
    have = tf.shape(image)[-1]
    color = tf.cond(have < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1), lambda: image[..., :3])
    if channels == 1:  # a gray image stays as it is
        return tf.cond(have < 3, lambda: image[..., :1], lambda: tf.image.rgb_to_grayscale(color))
    if channels == 3:
        return color
    opaque = tf.fill(tf.concat([tf.shape(image)[:-1], [1]], 0), tf.constant(255, tf.uint8))
    alpha = tf.cond(tf.equal(have % 2, 0), lambda: image[..., -1:], lambda: opaque)
    return tf.concat([color, alpha], -1)


def _hashed(entry: dict) -> dict:
    """`entry` with a BLAKE2b of its JSON, so that `--resume` names it when it changed."""
    import json

    text = json.dumps(entry, sort_keys=True).encode()
    return {**entry, "blake2b": hashlib.blake2b(text, digest_size=16).hexdigest()}


def _error(message: str, key: str = "dataset") -> SpecError:
    return SpecError([Issue(message, loc=("data", key))])


def _listed(paths: list) -> str:
    shown = ", ".join(str(p) for p in paths[:LISTED])
    return shown + (f" and {len(paths) - LISTED} more" if len(paths) > LISTED else "")


def _kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "images" if suffix in IMAGE_SIGNATURES else "text" if suffix in TEXT_SUFFIXES else None


def _scan(root: Path, key: str) -> tuple[list[str], dict[str, list[Path]]]:
    """The class names (sorted) and each class's files (sorted), refusing stray or unknown files."""
    try:
        entries = sorted((e for e in os.scandir(root) if not e.name.startswith(".")), key=lambda e: e.name)
        classes = [e.name for e in entries if e.is_dir()]
    except OSError as e:
        raise _error(f"cannot read {root}: {e.strerror or e}", key) from None
    stray = [Path(e.path) for e in entries if not e.is_dir()]
    if not entries:
        raise _error(f"{root} is empty: put the examples of each class in a subfolder of it "
                     f"({root}/cat/, {root}/dog/, ...)", key)
    if stray:
        raise _error(f"{root} holds files beside its class folders ({_listed(stray)}): every example goes in "
                     "the subfolder of its class", key)
    files: dict[str, list[Path]] = {}
    def unreadable(e: OSError):  # os.walk would skip a folder it cannot list, and its examples with it
        raise _error(f"cannot read {e.filename}: {e.strerror or e}", key)

    for name in classes:
        found = []
        for folder, subfolders, names in os.walk(root / name, onerror=unreadable):
            subfolders[:] = sorted(s for s in subfolders if not s.startswith("."))
            found += [Path(folder) / n for n in sorted(names) if not n.startswith(".")]
        files[name] = found
    empty = [str(root / name) + "/" for name, found in files.items() if not found]
    if empty:
        raise _error(f"class folder{'s' * (len(empty) > 1)} {_listed(empty)} ha{'ve' if len(empty) > 1 else 's'} "
                     "no examples: add some or remove the folder", key)
    return classes, files


def _kind(files: dict[str, list[Path]], root: Path, key: str) -> str:
    """Images or text, from the suffixes; a file that is neither, or a mix of both, is refused."""
    every = [p for found in files.values() for p in found]
    unknown = [p for p in every if _kind_of(p) is None]
    if unknown:
        raise _error(f"{_listed(unknown)}: neither an image ({', '.join(IMAGE_SIGNATURES)}) nor a text file "
                     f"({', '.join(TEXT_SUFFIXES)}); a folder holds one kind of example", key)
    kinds = {}
    for p in every:
        kinds.setdefault(_kind_of(p), p)
    if len(kinds) > 1:
        raise _error(f"{root} mixes images ({kinds['images']}) and text files ({kinds['text']}): a folder holds "
                     "one kind of example", key)
    return next(iter(kinds))


def _check_images(files: list[Path], key: str) -> None:
    """Refuse an image that cannot be read, whose first bytes are not its format's, or that PIL finds damaged.

    Every file is read once (PIL's `verify` checks the whole file, cut-short ones included, without
    decoding pixels), so a damaged image is named here, before training, not mid-epoch by tf.data.
    """
    from PIL import Image, UnidentifiedImageError

    bad = []
    for path in files:
        try:
            with open(path, "rb") as f:
                head = f.read(8)
        except OSError as e:  # a broken link, a file without read permission
            raise _error(f"cannot read {path}: {e.strerror or e}", key) from None
        if not head.startswith(IMAGE_SIGNATURES[path.suffix.lower()]):
            bad.append(path)
            continue
        try:
            with Image.open(path) as image:
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:  # PIL's damaged-file errors
            raise _error(f"unreadable image: {path} (damaged: {e})", key) from None
    if bad:
        raise _error(f"unreadable image{'s' * (len(bad) > 1)}: {_listed(bad)} (not {bad[0].suffix} data; empty, "
                     "damaged or misnamed)", key)


def _check_texts(files: list[Path], key: str) -> None:
    """Refuse a text file that cannot be read or is not UTF-8 (reads every file once), naming it."""
    for path in files:
        try:
            path.read_bytes().decode("utf-8")
        except OSError as e:
            raise _error(f"cannot read {path}: {e.strerror or e}", key) from None
        except UnicodeDecodeError as e:
            raise _error(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8", key) from None


def _first_image(path: Path) -> tuple[tuple[int, int], str]:
    """The (height, width) and colour mode of one image, from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            mode = image.mode
    except (UnidentifiedImageError, OSError) as e:
        raise _error(f"unreadable image: {path} ({e})") from None
    color = "grayscale" if mode in ("1", "L", "I", "I;16", "F") else "rgba" if mode in ("RGBA", "LA", "PA") else "rgb"
    return (height, width), color


def open_folder(spec: Data, base: Path) -> FolderDataset:
    """The folder `spec.dataset` names (relative to `base`), listed, checked and split; nothing decoded."""
    root = (Path(base) / spec.dataset).resolve()
    missing = [Issue(f"no such folder: {(Path(base) / value).resolve()}", loc=("data", key))
               for key, value in (("dataset", spec.dataset), ("test", spec.test))
               if value is not None and not (Path(base) / value).is_dir()]
    if missing:  # checked here, not by `validate`: an experiment may name a folder a script makes later
        raise SpecError(missing)
    classes, files = _scan(root, "dataset")
    kind = _kind(files, root, "dataset")
    if kind == "text":
        given = [k for k in ("image_size", "color_mode") if getattr(spec, k) is not None]
        if given:
            raise SpecError([Issue(f"{k} is for a folder of images, but {root} holds text files; leave {k} out",
                                   loc=("data", k)) for k in given])
    if spec.test is not None:
        test_root = (Path(base) / spec.test).resolve()
        if test_root == root or root in test_root.parents or test_root in root.parents:
            raise _error(f"{test_root} {'is' if test_root == root else 'overlaps'} the training folder {root}: "
                         "the test folder holds other files than the training ones", "test")
        test_classes, test_files = _scan(test_root, "test")
        if test_classes != classes:
            raise _error(f"{test_root} has the classes {', '.join(test_classes)} but {root} has "
                         f"{', '.join(classes)}: a test folder has the same class folders", "test")
        if _kind(test_files, test_root, "test") != kind:
            raise _error(f"{test_root} holds {'images' if kind == 'text' else 'text files'} but {root} holds "
                         f"{'text files' if kind == 'text' else 'images'}", "test")
        train = _interleave([(str(p), i) for i, c in enumerate(classes) for p in files[c]])
        test = _interleave([(str(p), i) for i, c in enumerate(classes) for p in test_files[c]])
        split = {"test_folder": str(test_root)}
    else:
        share = spec.test_split if spec.test_split is not None else DEFAULT_TEST_SPLIT
        train, test = _split(classes, files, share)
        split = {"test_split": share, "seed": SPLIT_SEED, "per_class": True}
    if spec.train_size is not None:
        train = train[:spec.train_size]
    if spec.test_size is not None:
        test = test[:spec.test_size]
    if kind == "images":
        _check_images([Path(p) for p, _ in train + test], "dataset")
        size, color = _first_image(files[classes[0]][0])  # the sorted-first file: the same whatever the split
        height, width = spec.image_size or size
        input_shape, dtype = (height, width, COLOR_CHANNELS[spec.color_mode or color]), "float32"
    else:
        _check_texts([Path(p) for p, _ in train + test], "dataset")
        input_shape, dtype = (), "string"
    return FolderDataset(kind, tuple(classes), tuple(p for p, _ in train), np.array([y for _, y in train], np.int64),
                         tuple(p for p, _ in test), np.array([y for _, y in test], np.int64), input_shape, dtype,
                         spec.scale, spec.cache, str(root), split)


def _split(classes: list[str], files: dict[str, list[Path]], share: float) -> tuple[list, list]:
    """Hold out `share` of each class's files, chosen by a fixed seed; a class too small to split is refused."""
    train, test = [], []
    for i, name in enumerate(classes):
        found = files[name]
        n_test = int(round(len(found) * share))
        if n_test == 0 or n_test == len(found):
            raise _error(f"class {name} has {len(found)} example{'s' * (len(found) != 1)}: test_split {share:g} "
                         f"leaves {'none to test' if n_test == 0 else 'none to train'} on; add examples or give "
                         "a `test` folder", "test_split")
        order = _class_stream(name).permutation(len(found))
        test += [(str(found[j]), i) for j in sorted(order[:n_test])]
        train += [(str(found[j]), i) for j in sorted(order[n_test:])]
    return _interleave(train), _interleave(test)


def _class_stream(name: str) -> np.random.Generator:
    """A random stream of one class, seeded by its name: adding files to a class moves no other class's files."""
    seed = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
    return np.random.default_rng([SPLIT_SEED, seed])


def _interleave(pairs: list) -> list:
    """The pairs ordered by a fixed permutation, so `train_size: N` takes every class, not the first ones."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(pairs))
    return [pairs[j] for j in order]
