"""The output folder: made writable before training, locked while a run uses it, read back on resume.

Finished results are never lost without a word: a new run moves the previous one's files into
`previous/<time it finished>/` and says so; `--resume` keeps them in place and continues. Only
files a previous results.json accounts for are ever moved; a folder holding files under the names
a run writes that no results.json accounts for (a user's `report.html`, `figure1.png`,
`models/best.keras`, with or without an earlier run's results beside them) is refused before
anything is written, and left as it was.
"""

from __future__ import annotations

import fcntl
import hashlib
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
RESUME = ".resume"  # the mid-run state of runs a kill interrupted (Keras's BackupAndRestore, the epochs' logs)
STAMP = "run.json"  # in a run's resume state: hashes of the model spec and the data it was trained with
ARTIFACTS = ("comparison.md", "comparison.csv", "report.html")  # written beside results.json by every run
WRITTEN = ("*.png", "models/*.keras")  # the names of the plots and models a run writes, by pattern


def prepare(out: Path) -> Path:
    """Create the output folder and prove it is writable, before any training.

    A folder with files a run would mix with or replace, which no results.json accounts for, is
    refused (see `foreign_files`), before anything is created in it.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError([Issue(f"output folder {out} is a file; choose another --out")])
    foreign = foreign_files(out)
    if foreign:
        raise SpecError([Issue(f"{out} holds files that no results.json of an earlier run accounts for: "
                               f"{', '.join(foreign)}; a run would mix its outputs with them (or replace "
                               "them): move them away, or choose another --out")])
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


def resume_state(out: Path, name: str, seed: int) -> Path:
    """The folder where run (name, seed) keeps the state a `--resume` continues it from, mid-run.

    Under RESUME, which `remove_partial_files` leaves alone: a killed run's state is what
    `--resume` needs. A run without `--resume` starts afresh (`remove_resume_states`).
    """
    return out / RESUME / f"{name}-seed{seed}"


def remove_resume_states(out: Path, runs: list[tuple[str, int]] | None = None) -> None:
    """Remove the mid-run state of the given (name, seed) runs (finished ones), or of every run."""
    import shutil

    targets = [resume_state(out, n, s) for n, s in runs] if runs is not None else [out / RESUME]
    for target in targets:
        shutil.rmtree(target, ignore_errors=True)
    if (out / RESUME).is_dir() and not any((out / RESUME).iterdir()):
        (out / RESUME).rmdir()


def resume_stamp(spec: dict, fingerprint: Any) -> dict:
    """What a run's resume state belongs to: hashes of the model's resolved spec (plain data) and of
    the data's fingerprint (`document.data_fingerprint`)."""
    def digest(value: Any) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()

    return {"spec": digest(spec), "data": digest(fingerprint)}


def match_resume_states(out: Path, experiment: dict, fingerprint: Any, runs: list[tuple[str, int]]) -> list[str]:
    """Discard the mid-run states of `runs` that belong to another spec or other data, or that hold
    all the epochs the run now plans; stamp every run's state folder with what it belongs to.

    `experiment` is the resolved experiment as plain data. Returns a note per discarded state: that
    run starts from epoch 1 (Keras's BackupAndRestore would restore whatever it finds).
    """
    import shutil

    notes = []
    for name, seed in runs:
        state, spec = resume_state(out, name, seed), experiment["models"][name]
        stamp = resume_stamp(spec, fingerprint)
        why = _stale(state, stamp, spec["training"]["epochs"]) if state.is_dir() else None
        if why:
            shutil.rmtree(state)
            notes.append(f"model {name} seed {seed}: its mid-run state was discarded ({why}); it starts from epoch 1")
        state.mkdir(parents=True, exist_ok=True)
        with replacing(state / STAMP) as tmp:
            tmp.write_text(json.dumps(stamp), encoding="utf-8")
    return notes


def _stale(state: Path, stamp: dict, epochs: int) -> str | None:
    """Why the resume state in `state` cannot continue a run of `stamp` over `epochs`, or None."""
    if not any(state.iterdir()):
        return None
    try:
        saved = json.loads((state / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    if not isinstance(saved, dict):
        return "it does not say which spec and data it belongs to"
    changed = [what for what, key in (("the model's spec", "spec"), ("the data", "data")) if saved.get(key) != stamp[key]]
    if changed:
        return " and ".join(changed) + " changed since"
    try:  # Keras's BackupAndRestore: the epochs it saved
        done = json.loads((state / "training_metadata.json").read_text(encoding="utf-8"))["epoch"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if isinstance(done, int) and done >= epochs:
        return f"it holds {done} epochs, the run plans {epochs}"
    return None


def comparable(experiment: Any) -> Any:
    """An experiment (plain data) as `--resume` compares it: re-validated through today's schema, so
    settings added since it was written are their defaults, not changes, and without `tracking`,
    which changes no result. A document that no longer validates is compared as written."""
    from pydantic import ValidationError

    from schemas import Experiment

    if not isinstance(experiment, dict):
        return experiment
    try:
        experiment = Experiment.model_validate(experiment).model_dump(mode="json")
    except (ValidationError, SpecError):
        pass
    return {k: v for k, v in experiment.items() if k != "tracking"}


def previous_runs(out: Path, resolved: dict) -> list[dict]:
    """The completed runs to keep for `--resume`; refuses if the experiment changed since.

    Settings added to the schema since that run (their defaults) and the tracking section are not changes.
    """
    path = out / RESULTS
    if not path.is_file():
        return []
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SpecError([Issue(f"cannot resume: {path} is unreadable ({e})")]) from None
    changes = differences(comparable(previous.get("experiment")), comparable(resolved))
    if changes:
        raise SpecError([Issue(f"cannot resume in {out}: the experiment changed since that run: "
                               + "; ".join(changes[:10]) + ". Run without --resume to start afresh, "
                               "or use another --out")])
    return [r for r in previous.get("runs", []) if r.get("status") == "completed"
            and (not r.get("model_file") or (out / r["model_file"]).is_file())]


def check_same_data(out: Path, fingerprint: dict) -> None:
    """Refuse `--resume` when the prepared data differ from those the kept runs were trained on.

    `fingerprint` is `document.data_fingerprint` of this run's data; a results.json written before
    fingerprints were recorded has none to compare, and is taken as it is.
    """
    try:
        previous = json.loads((out / RESULTS).read_text(encoding="utf-8")).get("data_fingerprint")
    except FileNotFoundError:
        return
    except (OSError, ValueError, AttributeError) as e:
        raise SpecError([Issue(f"cannot resume: {out / RESULTS} is unreadable ({e})")]) from None
    if not isinstance(previous, dict) or previous == fingerprint:
        return
    changes = []
    for name in dict.fromkeys([*previous, *fingerprint]):
        old, new = previous.get(name) or {}, fingerprint.get(name) or {}
        shape_dtype = [c for c in differences({k: old.get(k) for k in ("shape", "dtype")},
                                              {k: new.get(k) for k in ("shape", "dtype")}, name)]
        if shape_dtype:
            changes += shape_dtype
        elif old.get("blake2b") != new.get("blake2b"):
            changes.append(f"{name}: its values differ (same shape and dtype)")
    raise SpecError([Issue(f"cannot resume in {out}: the data changed since that run: " + "; ".join(changes)
                           + ". Run without --resume to start afresh, or use another --out")])


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


def foreign_files(out: Path) -> list[str]:
    """Files under the names a run writes (tables, report, `*.png`, `models/*.keras`) that no
    results.json in `out` accounts for (`vouched_for`): a user's own, never to be moved or replaced.

    With an unreadable results.json only its fixed names count as accounted for.
    """
    if not out.is_dir():
        return []
    found = [out / name for name in ARTIFACTS] + [p for pattern in WRITTEN for p in sorted(out.glob(pattern))]
    accounted = set(vouched_for(out, read_previous(out))) if (out / RESULTS).is_file() else set()
    return [str(p.relative_to(out)) for p in found if p.is_file() and p not in accounted]


def read_previous(out: Path) -> dict | None:
    """The results.json of an earlier run in `out` as plain data; None if there is none or it is unreadable."""
    try:
        previous = json.loads((out / RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return previous if isinstance(previous, dict) else None


def vouched_for(out: Path, previous: dict | None) -> list[Path]:
    """The files of `out` that the previous run's results.json (`previous`, None if unreadable)
    accounts for: itself, the tables and report, the files it lists as written, the plots of the
    metrics its runs recorded and the model files of its (model, seed) plan."""
    names = [RESULTS, *ARTIFACTS]
    if isinstance(previous, dict):
        runs = [r for r in previous.get("runs") or [] if isinstance(r, dict)]
        names += [str(f) for f in previous.get("files") or []]
        names += [f"{metric}.png" for r in runs for metric in r.get("history") or {}]
        names += [str(r["model_file"]) for r in runs if r.get("model_file")]
        models = (previous.get("experiment") or {}).get("models") or {}
        names += [f"models/{name}-seed{seed}.keras" for name, spec in models.items()
                  for seed in ((spec or {}).get("training") or {}).get("seeds") or []]
    paths = [out / name for name in dict.fromkeys(names)]
    return [p for p in paths if p.is_file() and p.resolve().parent in (out.resolve(), (out / "models").resolve())]


def keep_previous(out: Path) -> Path | None:
    """Move a previous run's results into `previous/<its finish time>/`; return that folder, or None.

    Only the files its results.json accounts for move (`vouched_for`); `prepare` has refused a
    folder holding other files under the names a run writes. Without a results.json there is
    nothing finished to keep.
    """
    results = out / RESULTS
    if not results.is_file():
        return None
    previous = read_previous(out)
    if previous is None:
        when, state = None, "-unreadable"
    else:
        when, state = previous.get("finished"), ""
        if not when:
            when, state = previous.get("started"), "-unfinished"
    files = vouched_for(out, previous)
    stamp = (str(when)[:19] if when else "unknown").replace(":", "-")
    target = out / PREVIOUS / f"{stamp}{state}"
    for n in range(2, 1000):
        if not target.exists():
            break
        target = out / PREVIOUS / f"{stamp}{state}-{n}"
    try:
        (target / "models").mkdir(parents=True)
        for path in files:
            os.replace(path, target / path.relative_to(out))
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

