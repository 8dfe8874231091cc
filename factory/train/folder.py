"""The output folder: made writable before training, locked while a run uses it, read back on resume.

Finished results are never lost without a word: a new run moves the previous one's files into
`previous/<time it finished>/` and says so; `--resume` keeps them in place and continues.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from factory.atomic import replacing, write_bytes
from factory.errors import Issue, SpecError
from factory.train.document import RESULTS

LOCK = ".factory.lock"
PREVIOUS = "previous"
OUTPUTS = (RESULTS, "comparison.md", "comparison.csv", "report.html", "*.png")  # what a run writes on top


def prepare(out: Path) -> Path:
    """Create the output folder and prove it is writable, before any training."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError([Issue(f"output folder {out} is a file; choose another --out")])
    try:
        (out / "models").mkdir(parents=True, exist_ok=True)
        with replacing(out / ".write-test"):
            pass
        (out / ".write-test").unlink()
    except OSError as e:
        raise SpecError([Issue(f"cannot write to output folder {out}: {e.strerror or e}")]) from None
    return out


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the output folder for this process; a second run on the same folder is refused.

    A kernel lock (`flock`) on `.factory.lock`: it dies with its process, however that ends, so a
    killed run never blocks the folder and a reused process id means nothing. The file holds the
    holder's process id only for the message.
    """
    path = Path(out) / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            who = f"another run (process {holder})" if holder.isdigit() else "another run"
            raise SpecError([Issue(f"{who} is using {out}; wait for it, or choose another --out")]) from None
        try:  # its last holder unlinks the file before unlocking: then we locked a file nobody sees
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def remove_partial_files(out: Path) -> None:
    """Temporary files a killed run left; we hold the folder's lock, so their writer is gone."""
    for partial in [*out.glob(".*.tmp"), *(out / "models").glob(".*.tmp")]:
        partial.unlink(missing_ok=True)


def previous_runs(out: Path, resolved: dict) -> list[dict]:
    """The completed runs to keep for `--resume`; refuses if the experiment changed since."""
    path = out / RESULTS
    if not path.is_file():
        return []
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SpecError([Issue(f"cannot resume: {path} is unreadable ({e})")]) from None
    changes = differences(previous.get("experiment"), resolved)
    if changes:
        raise SpecError([Issue(f"cannot resume in {out}: the experiment changed since that run: "
                               + "; ".join(changes[:10]) + ". Run without --resume to start afresh, "
                               "or use another --out")])
    return [r for r in previous.get("runs", []) if r.get("status") == "completed"
            and (not r.get("model_file") or (out / r["model_file"]).is_file())]


def differences(old: Any, new: Any, path: str = "") -> list[str]:
    """What changed between two plain-data documents, one `path: old -> new` line per change."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append(f"{sub} removed")
            elif key not in old:
                out.append(f"{sub} added")
            else:
                out += differences(old[key], new[key], sub)
        return out
    if old != new:
        return [f"{path}: {json.dumps(old)} -> {json.dumps(new)}"]
    return []


def keep_previous(out: Path) -> Path | None:
    """Move a previous run's results into `previous/<its finish time>/`; return that folder, or None.

    Without a results.json there is nothing finished to keep: stray outputs are removed so a new
    run never mixes with them.
    """
    results = out / RESULTS
    files = [p for pattern in OUTPUTS for p in out.glob(pattern) if p.is_file()]
    models = [p for p in (out / "models").glob("*.keras") if p.is_file()]
    if not results.is_file():
        for path in files + models:
            path.unlink()
        return None
    try:
        previous = json.loads(results.read_text(encoding="utf-8"))
        when, state = previous.get("finished"), ""
        if not when:
            when, state = previous.get("started"), "-unfinished"
    except (OSError, ValueError, AttributeError):
        when, state = None, "-unreadable"
    stamp = (str(when)[:19] if when else "unknown").replace(":", "-")
    target = out / PREVIOUS / f"{stamp}{state}"
    for n in range(2, 1000):
        if not target.exists():
            break
        target = out / PREVIOUS / f"{stamp}{state}-{n}"
    try:
        (target / "models").mkdir(parents=True)
        for path in files:
            os.replace(path, target / path.name)
        for path in models:
            os.replace(path, target / "models" / path.name)
    except OSError as e:
        raise SpecError([Issue(f"cannot move the previous results in {out} aside: {e.strerror or e}")]) from None
    return target


def write_model(out: Path, name: str, seed: int, blob: bytes) -> str:
    """Write a trained model's bytes atomically; return its path relative to `out`."""
    final = out / "models" / f"{name}-seed{seed}.keras"
    try:
        write_bytes(final, blob)
    except OSError as e:
        raise SpecError([Issue(f"cannot write {final}: {e.strerror or e}")]) from None
    return str(final.relative_to(out))

