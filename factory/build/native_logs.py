"""Log lines that C++ libraries (TensorFlow, XLA) write straight to file descriptor 2, past Python's sys.stderr."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def fd2_silenced() -> Iterator[None]:
    """Inside, file descriptor 2 goes to /dev/null; Python exceptions still propagate as usual."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
