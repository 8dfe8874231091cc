"""Files and names of a composition: included files (read once each) and references like `lib.A`.

`Files` also collects the mistakes found while composing; `Broken` stops composing the one model
(or block) whose reference cannot be followed, so the rest of the file is still composed and checked.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable

from factory.errors import Issue, Loc, SpecError, did_you_mean
from factory.spec.document import Document
from factory.spec.yaml_reader import read_file

PACKAGE_PREFIX = "pkg://"
SPEC_SUFFIXES = (".yaml", ".yml")


class Broken(Exception):
    """Stops composing one model: what follows depends on the mistake just reported."""


class Files:
    """The files of one composition, each read once, and the mistakes found so far."""

    def __init__(self, reader: Callable[[Path], Document] = read_file):
        self.reader = reader
        self.files: dict[Path, Document] = {}
        self.issues: list[Issue] = []

    def fail(self, message: str, doc: Document, loc: Loc, fatal: bool = False, key: bool = False) -> None:
        """Record a mistake at `loc` of `doc` (at its key with `key`); with `fatal`, raise `Broken`."""
        self.issues.append(Issue(message, loc=tuple(loc), position=doc.where(loc, keys=key),
                                 source=doc.source or None))
        if fatal:
            raise Broken

    def include(self, doc: Document, alias: str, loc: Loc) -> Document:
        """The document that `include: {alias: ...}` of `doc` names."""
        includes = doc.get(("include",))
        if not isinstance(includes, dict) or alias not in includes:
            known = list(includes) if isinstance(includes, dict) else []
            self.fail(f"no included file is called '{alias}'{did_you_mean(alias, known)}"
                      + ("" if known else " (add it under `include:`)"), doc, loc, fatal=True)
        target = includes[alias]
        if not isinstance(target, str):
            self.fail("an include is a file path or pkg://package/path", doc, ("include", alias), fatal=True)
        path = self.locate_file(target, Path(doc.source).parent, doc, ("include", alias))
        if path not in self.files:
            try:
                self.files[path] = self.reader(path)
            except SpecError as e:
                here = doc.positions.get(("include", alias))
                for issue in e.issues:
                    pos = issue.position.via(here) if issue.position and here else issue.position
                    self.issues.append(Issue(issue.message, issue.loc, pos, issue.source))
                raise Broken from None
        return self.files[path]

    def locate_file(self, target: str, base: Path, doc: Document, loc: Loc) -> Path:
        if target.startswith(PACKAGE_PREFIX):
            package, _, inner = target[len(PACKAGE_PREFIX):].partition("/")
            if not package.isidentifier() or not inner:
                self.fail(f"expected pkg://package/path/in/package.yaml, got '{target}'", doc, loc, fatal=True)
            spec = importlib.util.find_spec(package)  # a top-level name: found, never imported or run
            if spec is None or not spec.submodule_search_locations:
                self.fail(f"no installed package '{package}'", doc, loc, fatal=True)
            for folder in spec.submodule_search_locations:
                if (Path(folder) / inner).is_file():
                    return (Path(folder) / inner).resolve()
            nearby = [n for f in spec.submodule_search_locations for n in _spec_files(Path(f), inner)]
            self.fail(f"package '{package}' has no file {inner}{did_you_mean(inner, nearby)} "
                      "(a spec file in a package must be installed with it, as package data)",
                      doc, loc, fatal=True)
        path = (base / target).resolve()
        if not path.is_file():
            self.fail(f"no such file: {path}{did_you_mean(target, _spec_files(base, target))}", doc, loc,
                      fatal=True)
        return path

    def find(self, doc: Document, section: str, ref: Any, loc: Loc) -> tuple[Document, str]:
        """The document and name a reference like `A` or `lib.A` points to in `section`."""
        if not isinstance(ref, str) or not ref:
            self.fail(f"expected the name of one of the {section}, got {ref!r}", doc, loc, fatal=True)
        target, name = doc, ref
        includes = doc.get(("include",))
        head, dot, rest = ref.partition(".")
        if dot and isinstance(includes, dict) and head in includes:
            target, name = self.include(doc, head, loc), rest
        entries = target.get((section,))
        if not isinstance(entries, dict) or name not in entries:
            known = list(entries) if isinstance(entries, dict) else []
            where = "" if target is doc else f" in {target.source}"
            hint = did_you_mean(name, known) or (f"; known: {', '.join(map(str, known))}" if known else "")
            self.fail(f"no {section[:-1]} '{name}'{where}{hint}", doc, loc, fatal=True)
        return target, name


def _spec_files(base: Path, target: str) -> list[str]:
    """Spec files near `target` (same folder as it names), written as `target` would name them."""
    folder = (base / target).parent
    if not folder.is_dir():
        return []
    prefix = str(Path(target).parent)
    return [name if prefix == "." else f"{prefix}/{name}" for name in sorted(
        p.name for p in folder.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())]
