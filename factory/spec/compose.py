"""Composition: reuse models and blocks from this file, other files and installed packages.

Runs on the YAML data as written (after `--set`) and before validation, and returns a plain
experiment document in which every value keeps the file, line and column it came from and the
chain of references that led there, so a mistake in a composed file is reported where it is.
The forms, all optional, each in its own module:

    include:                    # factory.spec.files: other spec files by a short name
      lib: specs/mlp.yaml       #   relative to this file
      zoo: pkg://team_specs/mlp.yaml   # inside an installed package (package data; found, never imported)
    blocks: {...}               # factory.spec.blocks: named lists of layers with parameters
    models:
      B: {extends: A, edit: [...]}     # factory.spec.extends
      m: {sweep: {...}}                # factory.spec.sweeps

A model whose composition fails is left out of the result and named in `Composed.broken`, so the
rest of the file is still composed and validated: every mistake at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from factory.errors import Issue
from factory.spec import blocks, extends, sweeps
from factory.spec.document import Document
from factory.spec.files import Broken, Files
from factory.spec.yaml_reader import read_file
from schemas.composition import EXPERIMENT_ONLY

ROOT_KEYS = ("include", "blocks")


@dataclass
class Composed:
    """The expanded document, the composition mistakes, and the models they broke."""

    document: Document
    issues: list[Issue] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)  # left out of `document`
    written: Document | None = None  # the document as written, for checking what a broken model gives itself


def compose(document: Document, reader: Callable[[Path], Document] = read_file) -> Composed:
    """Expand include, blocks, extends, edit and sweep; collect every mistake (never raises SpecError)."""
    if not isinstance(document.data, dict) or not _composes(document.data):
        return Composed(document)
    files = Files(reader)
    out = document.at(())
    for k in ROOT_KEYS:
        out.drop(k)
    _check_root(files, document)
    broken: set[str] = set()
    models = document.get(("models",))
    if isinstance(models, dict):
        built = Document({}, document.source, _at(document, ("models",)))
        made = {}
        for name in models:
            before = len(files.issues)
            try:
                piece = extends.model(files, document, name)
                made[name] = sweeps.variants(files, document, name, piece, _sweep(models[name]))
            except Broken:
                made[name] = []
            if len(files.issues) > before:
                broken.add(name)
        broken |= _clashes(files, document, made)
        for name in models:
            if name not in broken:
                for variant, variant_piece in made[name]:
                    built.put((variant,), variant_piece)
        out.put(("models",), built)
    return Composed(out, list(dict.fromkeys(files.issues)), broken, document)  # a shared parent's mistake once


def compose_library(document: Document, reader: Callable[[Path], Document] = read_file) -> Composed:
    """A library file (models and blocks, no name or data) expanded for checking on its own.

    Its models are composed as an experiment's would be; each block is expanded with its defaults
    into `blocks.<name>.layers` (layers that need a required parameter are left out).
    """
    composed = compose(document, reader)
    raw_blocks = document.get(("blocks",))
    if not isinstance(raw_blocks, dict):
        return composed
    # `blocks:` makes compose() copy the document, so the blocks go into that copy, never the input
    files = Files(reader)
    checked = Document({}, document.source, _at(document, ("blocks",)))
    for name in raw_blocks:
        try:
            layers = blocks.on_its_own(files, document, name)
        except Broken:
            layers = None
        if layers is not None:
            checked.put((name,), Document({"layers": []}, document.source, _at(document, ("blocks", name))))
            checked.put((name, "layers"), layers)
    composed.document.put(("blocks",), checked)
    composed.issues = list(dict.fromkeys(composed.issues + files.issues))
    return composed


def _sweep(model: Any) -> Any:
    return model.get("sweep") if isinstance(model, dict) else None


def _clashes(files: Files, document: Document, made: dict[str, list]) -> set[str]:
    """The swept models that make a model name the file has already (reported at their `sweep:`).

    A model the file writes keeps its name wherever it stands; among sweeps, the first one keeps it.
    """
    models = document.get(("models",))
    owner = {name: None for name in models if _sweep(models[name]) is None}  # None: written in the file
    clashing = set()
    for name in models:
        if _sweep(models[name]) is None:
            continue
        here = ("models", name, "sweep")
        for variant, _ in made[name]:
            if variant not in owner:
                owner[variant] = name
                continue
            other = owner[variant]
            there = document.where(("models", variant) if other is None else ("models", other, "sweep"), keys=True)
            at = f" at line {there.line}" if there else ""
            files.fail(f"the sweep makes a model named '{variant}', which "
                       + (f"is the name of the model{at}" if other is None else
                          f"the sweep of model '{other}'{at} makes too") + ": rename one of them",
                       document, here, key=True)
            clashing.add(name)
            break
    return clashing


def _check_root(files: Files, document: Document) -> None:
    """`include:` and `blocks:` have the right shape, and every included file is there, used or not."""
    includes = document.get(("include",))
    if includes is not None and not isinstance(includes, dict):
        files.fail("`include` maps short names to files, e.g. include: {lib: specs/mlp.yaml}", document,
                   ("include",))
    elif isinstance(includes, dict):
        for alias in includes:
            try:
                files.include(document, alias, ("include", alias))
            except Broken:
                pass
    found = document.get(("blocks",))
    if found is not None and not isinstance(found, dict):
        files.fail("`blocks` maps block names to {params: ..., layers: [...]}", document, ("blocks",))


def is_library(data: Any) -> bool:
    """A file of models and/or blocks for experiments to include: none of an experiment's own keys.

    The JSON Schema draws the same line with the same keys, so an editor and `validate` agree.
    """
    return isinstance(data, dict) and not any(k in data for k in EXPERIMENT_ONLY) \
        and ("models" in data or "blocks" in data)


def _composes(data: dict) -> bool:
    if any(k in data for k in ROOT_KEYS):
        return True
    models = data.get("models")
    if not isinstance(models, dict):
        return False
    for model in models.values():
        if isinstance(model, dict) and any(k in model for k in extends.COMPOSITION_KEYS):
            return True
        layers = model.get("layers") if isinstance(model, dict) else None
        if isinstance(layers, list) and any(blocks.reference(x)[0] for x in layers):
            return True
    return False


def _at(document: Document, loc: tuple) -> dict:
    """The position table of an empty container standing where `loc` stands in `document`."""
    position = document.positions.get(loc)
    return {(): position} if position else {}
