"""Prepared datasets on disk: decode and scale once, then map the arrays on every later run.

Decoding Fashion-MNIST's IDX files and scaling them to float32 costs about a second, a large part
of a short run. The prepared arrays are kept as `.npy` files in `$FACTORY_CACHE_DIR` (default
`~/.cache/factory`), one folder per entry, named by a digest of the source files (path, size,
modification time) and of the whole `data:` section; a later run maps them (`np.load(mmap_mode="r")`)
instead of decoding. Editing a source file or any data option makes a new entry; the oldest
entries beyond `KEPT` are removed. An entry appears whole or not at all (written in a temporary
folder, then renamed), so concurrent runs and an interrupted run never see half of one. A cache
that cannot be written (a read-only home, a full disk) only costs the time it would have saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

FORMAT = 1  # bump when the preparation changes, so entries of an older preparation are never used
KEPT = 8  # entries kept; Fashion-MNIST's prepared arrays take 220 MB


def cache_dir() -> Path:
    """Where prepared datasets are kept: `$FACTORY_CACHE_DIR`, else `~/.cache/factory`."""
    return Path(os.environ.get("FACTORY_CACHE_DIR") or Path.home() / ".cache" / "factory")


def key(spec, files: list[Path]) -> str:
    """The entry's name: a digest of the data section and of each source file's path, size and mtime."""
    stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    text = json.dumps({"format": FORMAT, "data": spec.model_dump(mode="json"), "files": stats}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


ARRAYS = ("x_train", "y_train", "x_test", "y_test")  # factory.data.ARRAYS, the files of an entry


class Entry:
    """The cache entry for one `data:` section: `arrays` if an earlier run prepared them, else `store` them.

    `arrays` are (x_train, y_train, x_test, y_test, source), mapped read-only. A dataset whose loader
    does not say which files it decodes (`loader.files`: a download, the small built-in digits)
    has no entry: `arrays` is None and `store` does nothing.
    """

    def __init__(self, spec, loader, base: Path):
        files = getattr(loader, "files", None)
        try:
            paths = files(spec, base) if files is not None else None
            self.folder = cache_dir() / key(spec, paths) if paths else None
        except OSError:  # a source file gone between the look and the stat: the loader will say so
            self.folder = None
        self.arrays = self._mapped()

    def _mapped(self) -> tuple | None:
        import numpy as np

        if self.folder is None or not self.folder.is_dir():
            return None
        try:
            arrays = [np.load(self.folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in ARRAYS]
            source = (self.folder / "source.txt").read_text(encoding="utf-8")
            os.utime(self.folder)  # recently used: kept longest
        except (OSError, ValueError):  # removed meanwhile by another run's clean-up, or damaged: decode again
            return None
        return (*arrays, source)

    def store(self, dataset) -> tuple | None:
        """Keep `dataset`'s arrays for later runs (atomically); return them mapped, as later runs get them.

        Returns None where they could not be kept (not an error: the caller keeps its arrays).
        """
        import numpy as np

        if self.folder is None:
            return None
        tmp = None
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.folder.parent))
            for name in ARRAYS:
                np.save(tmp / f"{name}.npy", getattr(dataset, name))
            (tmp / "source.txt").write_text(dataset.source, encoding="utf-8")
            os.rename(tmp, self.folder)  # fails if another run stored it first: theirs is the same
            tmp = None
            _forget_oldest(self.folder.parent)
        except OSError:
            return None  # read-only or full: this run decoded, the next one will too
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        return self._mapped()  # the first run then behaves as every later one, sharing the page cache


def _forget_oldest(folder: Path) -> None:
    entries = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEPT:]:
        shutil.rmtree(old, ignore_errors=True)


def remembered_fingerprint(dataset, compute) -> dict:
    """`compute(dataset)`, kept beside a cached dataset's arrays so that later runs read it, not hash 220 MB.

    Only for a dataset mapped from this cache (its arrays are files of an entry); any other is
    computed every time.
    """
    filename = getattr(getattr(dataset, "x_train", None), "filename", None)  # a folder has no arrays
    folder = Path(filename).resolve().parent if filename else None
    if folder is None or folder.parent != cache_dir().resolve():
        return compute(dataset)
    path = folder / "fingerprint.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    value = compute(dataset)
    try:
        from factory.atomic import write_json

        write_json(path, value)
    except OSError:
        pass
    return value
