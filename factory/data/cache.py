"""Prepared datasets on disk: decode and scale once, then map the arrays on every later run.

Decoding Fashion-MNIST's IDX files and scaling them to float32 costs about a second, a large part
of a short run. The prepared arrays are kept as `.npy` files in `$FACTORY_CACHE_DIR` (default
`~/.cache/factory`), one folder per entry, named by a digest of the source files (path and bytes)
and of the whole `data:` section; a later run maps them (`np.load(mmap_mode="r")`) instead of
decoding. Editing a source file or any data option makes a new entry; the oldest entries beyond
`KEPT` are removed.

Entries are immutable: written whole in a temporary folder, then renamed, never rewritten in
place, so concurrent runs and an interrupted run never see half of one, and an array mapped from
an entry stays valid when a clean-up (or a user) removes that entry (Linux keeps a removed file's
pages while they are mapped). Worker processes, which open the files seconds after the driver
chose them, map a pinned copy (`pin`: hard links in a folder no clean-up touches while its
process lives). A cache that cannot be written (a read-only home, a full disk) only costs the
time it would have saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

FORMAT = 2  # 2: integer inputs kept integer under scale: false; bump when the preparation changes, so entries of an older preparation are never used
KEPT = 8  # entries kept; Fashion-MNIST's prepared arrays take 220 MB


def cache_dir() -> Path:
    """Where prepared datasets are kept: `$FACTORY_CACHE_DIR`, else `~/.cache/factory`."""
    return Path(os.environ.get("FACTORY_CACHE_DIR") or Path.home() / ".cache" / "factory")


def key(spec, files: list[Path]) -> str:
    """The entry's name: a digest of the data section and of each source file's path and bytes."""
    sources = [(str(p), content_digest(p)) for p in files]
    text = json.dumps({"format": FORMAT, "data": spec.model_dump(mode="json"), "files": sources}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


DIGESTS = "digests.json"  # per source file: its stat and the digest of its bytes, so a hit reads no 30 MB
RACY_SECONDS = 2.0  # a file changed this recently may change again within the same timestamp: never remembered


def content_digest(path: Path) -> str:
    """A BLAKE2b digest of `path`'s bytes, remembered beside the cache while the file's stat is unchanged.

    The stat includes the inode and the change time (ctime), which every write, `touch -d`,
    `cp -p` and restore sets to now and nothing sets back, so a file with the size and an older
    mtime of an earlier version is hashed again, never served stale. Hashing 30 MB (Fashion-MNIST's
    four files) took 0.08-0.3 s on the busy 2-core machine; a remembered digest 0.2 ms.
    """
    stat = path.stat()
    seen = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev]
    memo = _read_digests()
    known = memo.get(str(path.resolve()))
    if isinstance(known, dict) and known.get("stat") == seen and isinstance(known.get("blake2b"), str):
        return known["blake2b"]
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()
    if time.time_ns() - stat.st_ctime_ns > RACY_SECONDS * 1e9:
        memo[str(path.resolve())] = {"stat": seen, "blake2b": digest}
        try:
            from factory.atomic import write_json

            cache_dir().mkdir(parents=True, exist_ok=True)
            write_json(cache_dir() / DIGESTS, memo)
        except OSError:
            pass  # an unwritable cache: the next run hashes again
    return digest


def _read_digests() -> dict:
    try:
        memo = json.loads((cache_dir() / DIGESTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


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


ENTRY_NAME = re.compile(r"[0-9a-f]{32}")  # `key`'s digest


def _forget_oldest(folder: Path) -> None:
    entries = sorted((p for p in folder.iterdir() if p.is_dir() and ENTRY_NAME.fullmatch(p.name)),
                     key=lambda p: p.stat().st_mtime, reverse=True)  # not xla/ (factory.build.xla_cache) nor pins
    for old in entries[KEPT:]:
        shutil.rmtree(old, ignore_errors=True)
    for pinned in folder.glob(f"{PIN}*"):  # a driver killed before it could remove its own
        pid = pinned.name[len(PIN):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(pinned, ignore_errors=True)


PIN = ".pin-"  # a pinned copy's folder: .pin-<pid of the run that uses it>-<random>


def pin(entry: Path) -> Path | None:
    """A copy of cache folder `entry` that no clean-up removes while this process lives; remove it after use.

    Hard links beside the entry (the same file system, so no bytes are copied): the files stay
    whole when the entry is removed, and entries are never rewritten in place. For worker
    processes, which open the files seconds later. None where links cannot be made there (the
    caller then writes the arrays for its workers itself).
    """
    folder = None
    try:
        folder = Path(tempfile.mkdtemp(prefix=f"{PIN}{os.getpid()}-", dir=entry.parent))
        for file in entry.iterdir():
            if file.suffix == ".npy" or file.name == "source.txt":
                os.link(file, folder / file.name)
    except OSError:  # the entry removed meanwhile, or a file system without hard links
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        return None
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        pass
    return True


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
