"""What the person at the terminal sees and does while a run trains: progress lines, time left, Ctrl-C.

Imports only the standard library, so every other training module (and the worker processes)
can use it without pulling in the orchestration.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def say(*parts: Any) -> None:
    """One line for the person at the terminal (stderr, flushed: progress must show as it happens)."""
    print(*parts, file=sys.stderr, flush=True)


def clock(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class EtaClock:
    """Time left over the whole experiment: mean epoch time so far x epochs left / parallel workers.

    With worker processes, the two counters are shared `multiprocessing.Value`s.
    """

    def __init__(self, epochs_total: int, workers: int = 1, seconds=None, epochs=None):
        self.epochs_total, self.workers = epochs_total, workers
        self.seconds, self.epochs = seconds, epochs
        self._seconds, self._epochs = 0.0, 0

    def tick(self, seconds: float) -> str:
        """Count one finished epoch of `seconds`; return the time left as `m:ss`."""
        if self.seconds is not None:
            with self.seconds.get_lock():
                self.seconds.value += seconds
                self.epochs.value += 1
                total, done = self.seconds.value, self.epochs.value
        else:
            self._seconds += seconds
            self._epochs += 1
            total, done = self._seconds, self._epochs
        left = max(self.epochs_total - done, 0)
        return clock(total / done * left / self.workers)


_stop = threading.Event()


@contextmanager
def interruptible() -> Iterator[None]:
    """Make Ctrl-C stop the run at the next safe point, never inside a finalizer.

    A KeyboardInterrupt raised while a finalizer or weakref callback runs is only printed
    ("Exception ignored in ...", with a traceback) and training goes on. So the handler only sets
    a flag; `check_stop` raises KeyboardInterrupt from ordinary code: after each compiled call and
    test batch during training, every 0.5 s while waiting for workers, and between phases.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stop.clear()

    def handler(signum, frame):
        _stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def check_stop() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, wherever its first raise was swallowed."""
    if _stop.is_set():
        raise KeyboardInterrupt


class Timings:
    """Seconds spent per phase, for `--profile` and results.json."""

    def __init__(self):
        self.phases: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + seconds

    def add_run(self, record: dict) -> None:
        """Count a finished run's own phases (measured where it trained) under its model's name."""
        for phase, key in (("build", "build_seconds"), ("train", "train_seconds"),
                           ("validate", "validation_seconds"), ("save", "save_seconds")):
            self.add(f"{record['model']}: {phase}", record.get(key) or 0.0)

    def report(self, wall: float, workers: int = 1) -> str:
        lines = ["where the time went:" + (f" (per-model phases summed over {workers} worker processes, "
                                           "which ran at the same time)" if workers > 1 else "")]
        for name, seconds in self.phases.items():
            lines.append(f"  {name:<34} {seconds:8.2f} s  {100 * seconds / wall:5.1f}%")
        lines.append(f"  {'total (whole process)':<34} {wall:8.2f} s")
        return "\n".join(lines)


def process_seconds() -> float | None:
    """Seconds since this process started (Linux /proc), or None where that cannot be read."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
