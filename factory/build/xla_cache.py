"""The programs XLA compiles for JAX runs, kept on disk so that the next process loads them instead of compiling.

Every JAX process compiles its model's initializers, train step and test step afresh: about a
second for the seed's small MLP, more than two of its epochs (a 2-epoch run of the seed's work:
10.7-11.0 s without, 7.0-7.6 s with, alternating). JAX can keep compiled programs in a folder (its
persistent compilation cache, keyed by the program, the compile options, the XLA flags and JAX's
version); in the processes factory owns (the command and its workers) `keep_compiled_programs`
points it at `<cache>/xla/<machine>/`, beside the prepared datasets, and keeps every program, not
only those slower than JAX's one-second default to compile. Around JAX's own folder handling:

- `<machine>` is a digest of the CPU's model and instruction-set flags and of jax and jaxlib's
  versions: XLA compiles for the CPU it runs on, so a home folder shared by different machines
  keeps one folder per kind of CPU, and an upgrade starts a new one.
- A new folder first checks that this jaxlib loads, on this CPU, a program it compiled itself
  (`loads_here`): on some CPUs XLA refuses its own programs (jax-ml/jax#38445), which would print
  XLA error lines at every run and save nothing; there factory keeps nothing (and checks again a
  day later).
- Entries are written whole under a temporary name and renamed (`_WholeFiles`, `factory.atomic`), never in place:
  workers that compile the same program at once, a process killed mid-write or a full disk leave
  either a whole entry or none. An entry JAX could not read (damaged some other way) is replaced
  by the program it compiles instead (JAX writes in place and never replaces an entry).
- A hit marks the entry used (its mtime); beyond `MAX_BYTES` the least recently used are removed
  when a process starts (at most once per `CLEAN_UP_SECONDS`: the scan reads every entry's
  stat; a long search may overshoot until the next start), and machine folders unused for
  `STALE_DAYS` (another CPU, an old jaxlib) go too. With `JAX_COMPILATION_CACHE_MAX_SIZE` set,
  JAX's own folder cache keeps that limit instead (writing in place, as JAX does).
- A folder JAX was given already (`JAX_COMPILATION_CACHE_DIR`) is left alone, JAX's own switch
  (`JAX_ENABLE_COMPILATION_CACHE=false`) turns this off, and a folder that cannot be written only
  costs the compiling it would have saved. JAX's warning about an entry it could not read is not
  shown (it compiles the program instead, and the entry is replaced); its warnings about writing
  one are.
- Where JAX's internals differ from 0.10's (`_write_whole_files` finds no `get_file_cache`, or an
  `LRUCache` it cannot make), JAX's own folder cache is used as it is.

Anyone who can write to the folder can make these processes run code (as with any cache of compiled
programs), so `FACTORY_CACHE_DIR` should not point at a folder others may write.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import time
import warnings
from pathlib import Path

from factory import atomic
from factory.build.native_logs import fd2_silenced

MAX_BYTES = 256 << 20  # a small MLP's programs take ~100 KB, a ResNet's a few MB
STALE_DAYS = 30
ENTRY = "-cache"  # the suffix of JAX's entry files
LOADS_HERE = "loads-here"  # the check's answer in a machine folder: "yes" or "no"
CLEAN_UP_SECONDS = 3600
ASK_AGAIN_SECONDS = 86400
CLEANED = "cleaned"  # its mtime: the last clean-up of a machine folder


def keep_compiled_programs() -> Path | None:
    """Have JAX keep and reuse compiled programs in `<cache>/xla/<machine>/`; the folder, or None where it does not."""
    import jax

    if jax.config.jax_compilation_cache_dir is not None or not jax.config.jax_enable_compilation_cache:
        return None
    from factory.data.cache import cache_dir

    root = cache_dir() / "xla"
    folder = root / machine_digest()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.utime(folder)  # in use: a stale folder is one no process has started with for STALE_DAYS
    except OSError:
        return None
    if not os.access(folder, os.W_OK | os.X_OK) or not loads_here(folder):
        return None
    _forget_unused(root, folder)
    if "JAX_COMPILATION_CACHE_MAX_SIZE" not in os.environ:  # else JAX's own folder cache, with the user's limit
        _write_whole_files()
    # An entry JAX cannot read is compiled again and replaced (`_WholeFiles.put`): nothing for the user to do.
    # Errors writing one (a full disk, a permission taken away) are still shown.
    warnings.filterwarnings("ignore", message=r"Error reading persistent compilation cache entry")
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    return folder


def machine_digest() -> str:
    """A digest of what a compiled XLA CPU program depends on beyond JAX's key: the CPU, and jax and jaxlib's versions."""
    import jax
    import jaxlib

    cpu = platform.processor()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:  # Linux: the model and its instruction-set flags, once per kind of core
            cpu = "".join(dict.fromkeys(line for line in f if line.startswith(("model name", "flags", "Features",
                                                                                 "CPU part"))))
    text = "|".join([platform.machine(), cpu, jax.__version__, jaxlib.__version__])
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def loads_here(folder: Path) -> bool:
    """Whether this jaxlib loads, on this CPU, a program it compiled and serialized.

    Asked once per machine folder; a "no" is asked again after `ASK_AGAIN_SECONDS`, in case what
    failed was passing (the answer is the folder's `loads-here` file).
    """
    answer = folder / LOADS_HERE
    with contextlib.suppress(OSError):
        said = answer.read_text().strip()
        if said == "yes" or (said == "no" and time.time() - answer.stat().st_mtime < ASK_AGAIN_SECONDS):
            return said == "yes"
    works = _round_trip()
    with contextlib.suppress(OSError):
        atomic.write_text(answer, "yes" if works else "no")
    with contextlib.suppress(Exception):  # JAX before 0.5 decides once per process whether its cache is used,
        from jax._src import compilation_cache  # and the check's compile (no folder set yet) made it decide no

        compilation_cache.reset_cache()
    return works


def _round_trip() -> bool:
    """Compile a tiny program, serialize it and load it back, as JAX's cache does; XLA's refusal lines are not shown."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental import serialize_executable

    try:
        with fd2_silenced():  # XLA logs a refused program from C++
            compiled = jax.jit(lambda x: x * 2.0 + 1.0).lower(jnp.ones(3, jnp.float32)).compile()
            loaded = serialize_executable.deserialize_and_load(*serialize_executable.serialize(compiled))
            return bool(np.allclose(np.asarray(loaded(jnp.ones(3, jnp.float32))), 3.0))
    except Exception:  # noqa: BLE001 - any refusal, whatever XLA raises, means: keep nothing here
        return False


def _write_whole_files() -> None:
    """Make JAX's folder cache write each entry whole (`_WholeFiles`); where JAX's internals differ, its own is kept."""
    try:
        from jax._src import compilation_cache, lru_cache
    except ImportError:
        return
    original = getattr(compilation_cache, "get_file_cache", None)
    if original is None or getattr(original, "whole_files", False) or not hasattr(lru_cache, "LRUCache"):
        return

    class _WholeFiles(lru_cache.LRUCache):
        """JAX's folder cache without its size limit (factory removes entries itself), writing each entry whole."""

        def get(self, key):
            value = super().get(key)
            if value is not None:
                with contextlib.suppress(OSError):
                    os.utime(Path(os.fspath(self.path)) / f"{key}{ENTRY}")  # used now: kept longest
            return value

        def put(self, key, value):  # JAX puts only what it had to compile: one missing, or one it could not read
            atomic.write_bytes(Path(os.fspath(self.path)) / f"{key}{ENTRY}", value)  # which this replaces (JAX: kept)

    def get_file_cache(path):
        from jax._src import config

        checking = getattr(config, "compilation_cache_check_contents", None)  # jax >= 0.9.1
        if checking is not None and checking.value:  # JAX's own checking cache, as JAX makes it
            return original(path)
        try:
            return _WholeFiles(path, max_size=-1), path
        except Exception:  # noqa: BLE001 - an LRUCache unlike 0.10's: JAX's own folder cache, as JAX makes it
            return original(path)

    get_file_cache.whole_files = True
    compilation_cache.get_file_cache = get_file_cache


def _forget_unused(root: Path, folder: Path) -> None:
    """Remove `folder`'s least recently used entries beyond MAX_BYTES, cut-off writes, and stale machine folders."""
    now = time.time()
    with contextlib.suppress(OSError):
        if now - (folder / CLEANED).stat().st_mtime < CLEAN_UP_SECONDS:
            return
    with contextlib.suppress(OSError):
        (folder / CLEANED).touch()
    with contextlib.suppress(OSError):
        for other in root.iterdir():
            if other != folder and other.is_dir() and now - other.stat().st_mtime > STALE_DAYS * 86400:
                shutil.rmtree(other, ignore_errors=True)
    entries = []
    with contextlib.suppress(OSError), os.scandir(folder) as it:
        for entry in it:
            with contextlib.suppress(OSError):
                stat = entry.stat()
                if _cut_off(entry.name) and now - stat.st_mtime > 3600:  # a writer killed mid-write
                    os.unlink(entry.path)
                elif entry.name.endswith(ENTRY):
                    entries.append((stat.st_mtime, stat.st_size, entry.path))
    total = sum(size for _, size, _ in entries)
    if total <= MAX_BYTES:
        return
    for _, size, path in sorted(entries):  # down to three quarters, so that not every start removes some
        if total <= MAX_BYTES * 3 // 4:
            break
        with contextlib.suppress(OSError):
            os.unlink(path)
            total -= size


def _cut_off(name: str) -> bool:
    """Whether `name` is a temporary file `factory.atomic` writes before renaming it (`.<name>.<random>.tmp`)."""
    return name.startswith(".") and name.endswith(".tmp")
