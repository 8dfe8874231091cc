"""The results.json document: the resolved experiment, versions, one record per run, a summary.

Plain data throughout; rewritten atomically after every finished run. Strict JSON: a value that
was not a finite number (a NaN loss) is written as null, and the run's `non_finite` says what it
was (`{"history.loss[2]": "nan"}`), so jq, browsers and `json.loads` with strict settings read it.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
from pathlib import Path
from typing import Any

from factory import __version__
from factory.atomic import write_json
from factory.errors import Issue, SpecError
from factory.results import stats
from factory.results.models import RESULTS  # the one name of the file, shared with `compare`

RESULTS_FORMAT = 1


def now() -> str:
    """The time as results.json writes it: UTC, ISO 8601, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def versions(keras_backends: tuple[str, ...] = ("tensorflow",)) -> dict[str, str]:
    """What produced these results: Python, Keras, its backends, numpy, factory and the platform.

    `keras_backends` are the backends the runs trained on (each run's record names its own); their
    versions are read from the installed packages, so none is imported for this.
    """
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    found = {p: installed(p) for b in keras_backends for p in _packages(b)}
    return {"python": platform.python_version(), **found, "keras": installed("keras"),
            "keras_backends": ", ".join(keras_backends), "numpy": installed("numpy"),
            "factory": __version__, "platform": platform.platform()}


def _packages(keras_backend: str) -> tuple[str, ...]:
    """The packages whose versions say what a backend was: JAX is two."""
    return {"jax": ("jax", "jaxlib")}.get(keras_backend, (keras_backend,))


def resumed_versions(trained: tuple[str, ...], kept: list[dict], recorded: dict | None) -> dict[str, str]:
    """`versions` of a folder whose `kept` runs an earlier process trained, and `trained` backends train now.

    With nothing trained now, `recorded` (the versions results.json had) stays as it was. Otherwise
    today's versions, over the backends of every run; a backend only kept runs used keeps the
    version recorded for it, since those runs were trained on that one.
    """
    recorded = recorded if isinstance(recorded, dict) else {}
    if not trained and recorded:
        return recorded
    # A record of the time before backends were chosen has no keras_backend: it trained on TensorFlow.
    earlier = tuple(dict.fromkeys(r.get("keras_backend") or "tensorflow" for r in kept))
    current = versions(tuple(dict.fromkeys(earlier + trained)) or ("tensorflow",))
    for backend in set(earlier) - set(trained):
        current.update({p: recorded[p] for p in _packages(backend) if p in recorded})
    return current


def data_fingerprint(data) -> dict[str, dict]:
    """Per prepared array (x_train, y_train, x_test, y_test): its shape, dtype and a BLAKE2b hash of its bytes.

    What `--resume` compares, so runs trained on other data (a data file edited, a dataset
    re-downloaded) are never mixed with new ones. About 0.3 s for Fashion-MNIST's 220 MB of float32
    arrays (read from the prepared-data cache when the arrays come from there); a 16-byte digest is
    plenty to tell two versions of a file apart.
    """
    from factory.data.cache import remembered_fingerprint

    return remembered_fingerprint(data, _fingerprint)


def _fingerprint(data) -> dict[str, dict]:
    import hashlib

    import numpy as np

    if hasattr(data, "fingerprint"):  # a dataset of its own kind (a folder: its files' names, sizes, times)
        return data.fingerprint()
    from factory.data.several import flatten  # several inputs or outputs: one entry per named array

    out = {}
    for name, array in flatten({k: getattr(data, k) for k in ("x_train", "y_train", "x_test", "y_test")}).items():
        array = np.ascontiguousarray(array)
        digest = hashlib.blake2b(memoryview(array).cast("B"), digest_size=16).hexdigest()
        out[name] = {"shape": list(array.shape), "dtype": str(array.dtype), "blake2b": digest}
    return out


def finite(value: Any, path: str, notes: dict[str, str]) -> Any:
    """`value` with every non-finite float replaced by None, noted in `notes` under its path."""
    if isinstance(value, float) and not math.isfinite(value):
        notes[path] = str(value)  # "nan", "inf", "-inf"
        return None
    if isinstance(value, dict):
        return {k: finite(v, f"{path}.{k}" if path else str(k), notes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v, f"{path}[{i}]", notes) for i, v in enumerate(value)]
    return value


def strict(data: dict) -> dict:
    """A copy of the document that strict JSON allows: nulls for non-finite numbers, with the reasons."""
    runs = []
    for run in data.get("runs", []):
        notes: dict[str, str] = {}
        clean = finite({k: v for k, v in run.items() if k != "non_finite"}, "", notes)
        notes = {**run.get("non_finite", {}), **notes}
        runs.append({**clean, "non_finite": notes} if notes else clean)
    notes = {}
    rest = finite({k: v for k, v in data.items() if k not in ("runs", "non_finite")}, "", notes)
    return {**rest, "runs": runs, **({"non_finite": notes} if notes else {})}


class Results:
    """The contents of results.json for one output folder; `runs` keep the plan's order."""

    def __init__(self, out: Path, source: Path, resolved: dict, order: list[tuple[str, int]]):
        self.path = Path(out) / RESULTS
        self.order = {key: i for i, key in enumerate(order)}
        self.data = {"format": RESULTS_FORMAT, "source": str(source), "experiment": resolved,
                     "versions": {}, "started": now(), "finished": None, "runs": [], "files": [], "data_fingerprint": None, "summary": {},
                     "timings": {}}

    @property
    def runs(self) -> list[dict]:
        return self.data["runs"]

    def save(self) -> None:
        """Sort the runs in plan order, summarise them and rewrite the file atomically."""
        self.runs.sort(key=lambda r: self.order.get((r["model"], r["seed"]), len(self.order)))
        self.data["summary"] = stats.summarize(self.runs, list(self.data["experiment"]["models"]))
        try:
            write_json(self.path, strict(self.data))
        except OSError as e:
            raise SpecError([Issue(f"cannot write {self.path}: {e.strerror or e}")]) from None
