"""Hostile and broken specs: each file in tests/hostile/ through the real CLI, as a subprocess.

Every case must end with its expected located message(s), exit code 2, no traceback, no code run,
well under a second of work, within bounded memory.
"""

import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

HOSTILE = Path(__file__).parent / "hostile"
CASES = sorted(HOSTILE.glob("*.yaml"))
MEMORY_LIMIT = 1024 * 1024 * 1024  # 1 GiB of address space: a parse that expands an alias bomb dies


def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def arguments(path: Path) -> list[str]:
    """The command-line arguments a case gives on its first line, `# args: --set ...` (shell quoting)."""
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
    return shlex.split(first.removeprefix("# args:")) if first.startswith("# args:") else []


def validate(path: Path) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "factory", "validate", str(path), *arguments(path)],
                            capture_output=True,
                            text=True, cwd=ROOT, timeout=30, preexec_fn=limit_memory)
    return result, time.perf_counter() - start


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_hostile_file_is_refused_cleanly(case, tmp_path):
    marker = Path("/tmp/factory-pwned")
    marker.unlink(missing_ok=True)
    result, seconds = validate(case)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for expected in case.with_suffix(".expected").read_text().splitlines():
        assert expected in result.stderr, f"expected {expected!r} in:\n{result.stderr}"
    assert all(line.startswith((str(case), "<--set ")) for line in result.stderr.splitlines()
               if line and not line.startswith(" "))
    assert not marker.exists(), "a spec ran code"
    assert seconds < 5, f"{case.name} took {seconds:.1f} s (start-up included)"


def test_expected_messages_exist_for_every_case():
    assert CASES and all(c.with_suffix(".expected").is_file() for c in CASES)


def test_tens_of_megabytes_are_refused_unread(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "w") as f:
        for i in range(1_200_000):
            f.write(f"k{i}: [1, 2, 3]\n")  # ~20 MB
    result, seconds = validate(big)
    assert result.returncode == 2 and "a spec may be at most 2,097,152 bytes" in result.stderr
    assert seconds < 5


def test_a_huge_model_is_refused_through_the_cli_before_allocating(tmp_path):
    spec = tmp_path / "huge.yaml"
    spec.write_text("name: huge\ndata: {dataset: digits}\ncompile: {loss: sparse_categorical_crossentropy}\n"
                    "models:\n  M:\n    layers:\n      - Flatten: {input_shape: [8, 8]}\n"
                    "      - Dense: {units: 1000000000000}\n")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "factory", "show", str(spec)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{spec}:8:24: models.M.layers[1].Dense.units: model M would have 65,000,000,000,000 parameters" in result.stderr
    assert time.perf_counter() - start < 60  # TensorFlow's import, no allocation of petabytes
