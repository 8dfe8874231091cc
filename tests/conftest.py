"""Shared helpers: write spec files, run the CLI in-process and capture its output."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from factory.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))

TINY = """\
name: tiny
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
training: {epochs: 2, batch_size: 64, seeds: [0]}
models:
  A:
    label: ReLU
    layers:
      - Flatten
      - Dense: {units: 16, activation: relu}
      - Dense: {units: 10, activation: softmax}
  B:
    label: BatchNorm + ReLU
    layers:
      - Flatten
      - Dense: 16
      - BatchNormalization: {}
      - Activation: relu
      - Dense: {units: 10, activation: softmax}
"""


SPEC_HEAD = """\
name: t
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
"""  # the top of a spec whose models a test writes below it


def models_of(path, *overrides) -> dict:
    """The resolved models of the spec at `path` (with `--set` overrides), as plain data."""
    from factory.spec.loader import load

    return {n: m.model_dump(mode="json") for n, m in load(path, overrides).experiment.resolved().models.items()}


def spec_errors(path, *overrides) -> list[str]:
    """The located error lines loading the spec at `path` raises (the test fails if it loads)."""
    from factory.errors import SpecError
    from factory.spec.loader import load

    with pytest.raises(SpecError) as e:
        load(path, overrides)
    return [str(i) for i in e.value.issues]


@pytest.fixture(autouse=True)
def serial_runs(monkeypatch):
    """Runs train in-process unless a test asks for workers (spawning costs ~5 s of TensorFlow import)."""
    monkeypatch.setenv("FACTORY_WORKERS", "1")


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Prepared datasets go to one folder per test session, never the user's ~/.cache/factory."""
    monkeypatch.setenv("FACTORY_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "factory-cache"))


@pytest.fixture
def write(tmp_path):
    """write(text, name="spec.yaml") -> Path of a dedented spec file."""

    def _write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def cli(capsys):
    """cli(*args) -> (exit code, stdout, stderr) of the in-process CLI."""

    def _cli(*args: str):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return _cli
