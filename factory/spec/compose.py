"""Composition: reuse models and blocks from this file, other files and installed packages.

Runs on the raw YAML data before validation and returns a plain experiment document, in which
every value keeps the file, line and column it came from and the chain of references that led
there, so a mistake in a composed file is reported where it is. The forms, all optional:

    include:                    # other spec files by a short name
      lib: specs/mlp.yaml       #   relative to this file
      zoo: pkg://team_specs/mlp.yaml   # inside an installed package (found, never imported)
    blocks:                     # named lists of layers with parameters
      dense_bn:
        params: {units: 64, activation: {Activation: relu}}   # name: default (a list: required)
        layers: [Dense: ${units}, BatchNormalization: {}, ${activation}]
    models:
      A: {extends: lib.A}       # a model from another file, as it is
      B:
        extends: A              # a model of this file, changed:
        edit:                   #   positions are the parent's layer indices (or a layer's name)
          - {replace: 1, with: [$dense_bn: {units: 64}]}
          - {insert_after: 2, with: [Dropout: 0.25]}
          - {set: 3, with: {units: 10}}
          - {remove: 4}
        training: {epochs: 5}   # compile and training are merged key by key onto the parent's
        sweep:                  # a grid: one variant per combination, named after the values
          layers.1.Dense.kernel_initializer: [glorot_uniform, he_normal]
          "layers.2.Dropout, layers.4.Dropout": [0.0, 0.25]   # both fields take each value

A child does not inherit its parent's label, description, color or line style.
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from factory.errors import Issue, Loc, Position, SpecError, did_you_mean
from factory.spec.yaml_reader import Document, read_file

PACKAGE_PREFIX = "pkg://"
EDIT_OPERATIONS = ("replace", "remove", "set", "insert_before", "insert_after")
NOT_INHERITED = ("label", "description", "color", "linestyle")
MERGED = ("compile", "training")
MAX_VARIANTS = 256  # a sweep grid larger than this is almost surely a mistake
_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_COMPOSITION_KEYS = ("include", "blocks")


@dataclass
class Piece:
    """A subtree of data with the positions of its values, rooted at ()."""

    data: Any
    positions: dict = field(default_factory=dict)
    key_positions: dict = field(default_factory=dict)
    texts: dict = field(default_factory=dict)

    @classmethod
    def of(cls, doc: Document, loc: Loc, chain: tuple = ()) -> "Piece":
        """A deep copy of `doc` at `loc`, its positions reached through `chain`."""
        data = doc.data
        for seg in loc:
            data = data[seg]
        n = len(loc)

        def pick(table, wrap=True):
            return {k[n:]: (v.via(*chain) if wrap and chain else v) for k, v in table.items() if k[:n] == loc}

        return cls(copy.deepcopy(data), pick(doc.positions), pick(doc.key_positions), pick(doc.texts, False))

    def sub(self, loc: Loc) -> "Piece":
        return Piece.of(Document(self.data, "", self.positions, self.key_positions, self.texts), loc)

    def put(self, loc: Loc, piece: "Piece") -> None:
        """Set `piece` at `loc` (its parent must exist), replacing whatever was there."""
        parent = self.data
        for seg in loc[:-1]:
            parent = parent[seg]
        parent[loc[-1]] = piece.data
        n = len(loc)
        for table, new in ((self.positions, piece.positions), (self.key_positions, piece.key_positions),
                           (self.texts, piece.texts)):
            for k in [k for k in table if k[:n] == loc and (k != loc or table is not self.key_positions)]:
                del table[k]
            table.update({loc + k: v for k, v in new.items()})

    def drop(self, key: str) -> None:
        self.data.pop(key, None)
        for table in (self.positions, self.key_positions, self.texts):
            for k in [k for k in table if k[:1] == (key,)]:
                del table[k]

    def where(self, loc: Loc) -> Position | None:
        loc = tuple(loc)
        while loc not in self.positions and loc:
            loc = loc[:-1]
        return self.positions.get(loc)

    @classmethod
    def list_of(cls, items: list["Piece"]) -> "Piece":
        out = cls([])
        for i, item in enumerate(items):
            out.data.append(item.data)
            for table, new in ((out.positions, item.positions), (out.key_positions, item.key_positions),
                               (out.texts, item.texts)):
                table.update({(i,) + k: v for k, v in new.items()})
        return out


class _Fatal(Exception):
    """Stops composing: what follows would only repeat the error."""


class Composer:
    """Expands one experiment document; files are read once each."""

    def __init__(self, reader: Callable[[Path], Document] = read_file):
        self.reader = reader
        self.files: dict[Path, Document] = {}
        self.issues: list[Issue] = []

    # errors -------------------------------------------------------------------------------------

    def fail(self, message: str, doc: Document | Piece, loc: Loc, fatal: bool = False, key: bool = False):
        table = {**doc.positions, **(doc.key_positions if key else {})}
        probe = tuple(loc)
        while probe not in table and probe:
            probe = probe[:-1]
        position = table.get(probe)
        source = getattr(doc, "source", None)
        self.issues.append(Issue(message, loc=tuple(loc), position=position, source=source))
        if fatal:
            raise _Fatal

    # files and names ----------------------------------------------------------------------------

    def include(self, doc: Document, alias: str, loc: Loc) -> Document:
        includes = doc.data.get("include") if isinstance(doc.data, dict) else None
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
                raise _Fatal from None
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
            self.fail(f"package '{package}' has no file {inner}", doc, loc, fatal=True)
        path = (base / target).resolve()
        if not path.is_file():
            self.fail(f"no such file: {path}", doc, loc, fatal=True)
        return path

    def find(self, doc: Document, section: str, ref: Any, loc: Loc) -> tuple[Document, str]:
        """The document and name a reference like `A` or `lib.A` points to in `section`."""
        if not isinstance(ref, str) or not ref:
            self.fail(f"expected the name of one of the {section}, got {ref!r}", doc, loc, fatal=True)
        target, name = doc, ref
        includes = doc.data.get("include") if isinstance(doc.data, dict) else None
        head, dot, rest = ref.partition(".")
        if dot and isinstance(includes, dict) and head in includes:
            target, name = self.include(doc, head, loc), rest
        entries = target.data.get(section) if isinstance(target.data, dict) else None
        if not isinstance(entries, dict) or name not in entries:
            known = list(entries) if isinstance(entries, dict) else []
            where = "" if target is doc else f" in {target.source}"
            self.fail(f"no {section[:-1]} '{name}'{where}{did_you_mean(name, known)}", doc, loc, fatal=True)
        return target, name

    # models -------------------------------------------------------------------------------------

    def model(self, doc: Document, name: str, stack: tuple = (), via: tuple = ()) -> Piece:
        """The model `name` of `doc`, with extends, edits and blocks expanded (not sweeps)."""
        key = (doc.source, name)
        if key in stack:
            cycle = " -> ".join(n for _, n in stack[stack.index(key):] + (key,))
            self.fail(f"models extend each other in a cycle: {cycle}", doc, ("models", name, "extends"),
                      fatal=True)
        loc = ("models", name)
        raw = doc.data["models"][name]
        if not isinstance(raw, dict):
            return Piece.of(doc, loc, via)  # the schema will say what is wrong
        if "extends" in raw:
            parent_doc, parent = self.find(doc, "models", raw["extends"], loc + ("extends",))
            reference = doc.positions.get(loc + ("extends",))
            chain = via + ((reference,) if reference and parent_doc is not doc else ())
            piece = self.model(parent_doc, parent, stack + (key,), chain)
            for k in NOT_INHERITED:
                piece.drop(k)
            if "edit" in raw:
                self.edit(doc, loc, piece, via)
            for k, value in raw.items():
                if k in ("extends", "edit", "sweep"):
                    continue
                if k in MERGED and isinstance(value, dict) and isinstance(piece.data.get(k), dict):
                    for inner in value:
                        piece.put((k, inner), Piece.of(doc, loc + (k, inner), via))
                elif k == "layers":
                    piece.put(("layers",), self.layers(doc, loc + ("layers",), via))
                else:
                    piece.put((k,), Piece.of(doc, loc + (k,), via))
        else:
            if "edit" in raw:
                self.fail("`edit` changes the layers of the model given by `extends`, and this model "
                          "extends none", doc, loc + ("edit",), key=True)
            piece = Piece.of(doc, loc, via)
            piece.drop("sweep")
            piece.drop("edit")
            if isinstance(raw.get("layers"), list):
                piece.put(("layers",), self.layers(doc, loc + ("layers",), via))
        return piece

    def edit(self, doc: Document, loc: Loc, piece: Piece, via: tuple) -> None:
        edits = doc.data["models"][loc[1]]["edit"]
        if not isinstance(edits, list):
            self.fail("`edit` is a list of changes, e.g. - {replace: 1, with: [Dense: 64]}", doc, loc + ("edit",))
            return
        layers = piece.data.get("layers")
        if not isinstance(layers, list):
            return
        n = len(layers)
        names = {self.layer_name(layer): i for i, layer in enumerate(layers) if self.layer_name(layer)}
        before: dict[int, list[Piece]] = {}
        after: dict[int, list[Piece]] = {}
        replaced: dict[int, list[Piece]] = {}
        touched: dict[int, Loc] = {}
        for k, change in enumerate(edits):
            here = loc + ("edit", k)
            ops = [op for op in EDIT_OPERATIONS if isinstance(change, dict) and op in change]
            extra = [x for x in change if x not in EDIT_OPERATIONS and x != "with"] if isinstance(change, dict) else []
            if len(ops) != 1 or extra:
                bad = extra[0] if extra else None
                hint = did_you_mean(bad, EDIT_OPERATIONS) if bad else ""
                self.fail(f"an edit is one of {', '.join(EDIT_OPERATIONS)} with a layer position"
                          + (f"; unknown key '{bad}'{hint}" if bad else ""), doc, here)
                continue
            op = ops[0]
            target = change[op]
            index = names.get(target) if isinstance(target, str) else target
            if isinstance(index, bool) or not isinstance(index, int) or not -n <= index < n:
                self.fail(f"'{target}' is not a layer of the parent model: it has {n} layers (0 to {n - 1}, "
                          f"negative counts from the end, or a layer's name)", doc, here + (op,))
                continue
            index %= n
            if op != "remove" and "with" not in change:
                self.fail(f"`{op}` needs `with:` (the {'arguments' if op == 'set' else 'layers'})", doc, here, key=True)
                continue
            if op in ("replace", "remove", "set"):
                if index in touched:
                    self.fail(f"layer {index} is already changed by the edit at {doc.positions.get(touched[index])}",
                              doc, here + (op,))
                    continue
                touched[index] = here
            if op == "remove":
                replaced[index] = []
            elif op == "set":
                replaced[index] = [self.set_arguments(doc, here, piece.sub(("layers", index)), via)]
            else:
                new = self.layers(doc, here + ("with",), via)
                if not isinstance(new.data, list):
                    continue
                items = [new.sub((i,)) for i in range(len(new.data))]
                {"replace": replaced, "insert_before": before, "insert_after": after}[op].setdefault(index, []).extend(items)
        result = []
        for i in range(n):
            result += before.get(i, [])
            result += replaced.get(i, [piece.sub(("layers", i))])
            result += after.get(i, [])
        piece.put(("layers",), Piece.list_of(result))

    def set_arguments(self, doc: Document, here: Loc, layer: Piece, via: tuple) -> Piece:
        changes = doc.data["models"][here[1]]["edit"][here[3]]["with"]
        if not isinstance(changes, dict) or not isinstance(layer.data, dict) or len(layer.data) != 1:
            self.fail("`set` takes a mapping of arguments, e.g. {units: 16}", doc, here + ("with",))
            return layer
        (cls, args), = layer.data.items()
        if not isinstance(args, dict):  # `Dense: 64` shorthand: give it its key back via the schema
            self.fail(f"`set` needs the layer's arguments as a mapping; write {cls}: {{...}} in the parent",
                      doc, here + ("with",))
            return layer
        for name in changes:
            layer.put((cls, name), Piece.of(doc, here + ("with", name), via))
        return layer

    @staticmethod
    def layer_name(layer: Any) -> str | None:
        if isinstance(layer, dict) and len(layer) == 1:
            args = next(iter(layer.values()))
            if isinstance(args, dict) and isinstance(args.get("name"), str):
                return args["name"]
        return None

    # layers and blocks --------------------------------------------------------------------------

    def layers(self, doc: Document, loc: Loc, via: tuple, params: dict | None = None,
               stack: tuple = ()) -> Piece:
        """The layer list at `loc` with every `$block` reference expanded."""
        raw = doc.data
        for seg in loc:
            raw = raw[seg]
        if not isinstance(raw, list):
            return Piece.of(doc, loc, via)
        items: list[Piece] = []
        for i, layer in enumerate(raw):
            ref, args = self.block_reference(layer)
            if ref is None:
                item = Piece.of(doc, loc + (i,), via)
                if params is not None:
                    item = self.substitute(item, params, doc)
                items.append(item)
                continue
            block_doc, name = self.find(doc, "blocks", ref, loc + (i,))
            key = (block_doc.source, name)
            if key in stack:
                cycle = " -> ".join(n for _, n in stack[stack.index(key):] + (key,))
                self.fail(f"blocks use each other in a cycle: {cycle}", doc, loc + (i,), fatal=True)
            values = self.block_values(doc, loc + (i,), block_doc, name, args)
            if values is None:
                continue
            reference = doc.positions.get(loc + (i,))
            chain = via + ((reference,) if reference else ())
            expanded = self.layers(block_doc, ("blocks", name, "layers"), chain, values, stack + (key,))
            if isinstance(expanded.data, list):
                items += [expanded.sub((j,)) for j in range(len(expanded.data))]
        return Piece.list_of(items)

    @staticmethod
    def block_reference(layer: Any) -> tuple[str | None, Any]:
        if isinstance(layer, str) and layer.startswith("$") and not _PARAM.fullmatch(layer):
            return layer[1:], None
        if isinstance(layer, dict) and len(layer) == 1:
            (key, value), = layer.items()
            if isinstance(key, str) and key.startswith("$") and not _PARAM.fullmatch(key):
                return key[1:], value
        return None, None

    def block_values(self, doc: Document, loc: Loc, block_doc: Document, name: str, args: Any) -> dict | None:
        block = block_doc.data["blocks"][name]
        bloc = ("blocks", name)
        if not isinstance(block, dict) or not isinstance(block.get("layers"), list):
            self.fail(f"block '{name}' needs `layers:`, a list of layers", block_doc, bloc)
            return None
        unknown = [k for k in block if k not in ("params", "layers", "description")]
        if unknown:
            self.fail(f"unknown key '{unknown[0]}' in block '{name}'{did_you_mean(unknown[0], ['params', 'layers', 'description'])}",
                      block_doc, bloc + (unknown[0],), key=True)
        declared = block.get("params") or {}
        if isinstance(declared, list):
            declared = {p: _REQUIRED for p in declared}
        if not isinstance(declared, dict):
            self.fail("`params` is a mapping of parameter names to defaults, or a list of names",
                      block_doc, bloc + ("params",))
            return None
        given = {} if args is None else args
        if not isinstance(given, dict):
            self.fail(f"block '{name}' takes a mapping of its parameters ({', '.join(declared) or 'none'})",
                      doc, loc)
            return None
        values = {}
        key = self.ref_key(doc, loc)
        for p, default in declared.items():
            if p in given:
                values[p] = (given[p], doc, loc + (key, p))
            elif default is _REQUIRED:
                self.fail(f"block '{name}' needs parameter '{p}'", doc, loc)
            else:
                values[p] = (default, block_doc, bloc + ("params", p))
        for p in given:
            if p not in declared:
                self.fail(f"block '{name}' has no parameter '{p}'{did_you_mean(p, list(declared))}", doc,
                          loc + (key, p), key=True)
        return values

    @staticmethod
    def ref_key(doc: Document, loc: Loc) -> str:
        layer = doc.data
        for seg in loc:
            layer = layer[seg]
        return next(iter(layer)) if isinstance(layer, dict) else layer

    def substitute(self, item: Piece, values: dict, doc: Document) -> Piece:
        """Replace `${param}` in a block's layer: a whole value by the parameter's value (any type)."""

        def walk(value: Any, loc: Loc) -> None:
            if isinstance(value, dict):
                for k, v in list(value.items()):
                    walk(v, loc + (k,))
            elif isinstance(value, list):
                for i, v in enumerate(value):
                    walk(v, loc + (i,))
            elif isinstance(value, str) and _PARAM.search(value):
                whole = _PARAM.fullmatch(value)
                names = [m.group(1) for m in _PARAM.finditer(value)]
                missing = [n for n in names if n not in values]
                if missing:
                    self.fail(f"unknown parameter '${{{missing[0]}}}'{did_you_mean(missing[0], list(values))}",
                              item, loc)
                    return
                if whole:
                    given, src_doc, src_loc = values[whole.group(1)]
                    replacement = Piece.of(src_doc, src_loc) if _has(src_doc, src_loc) else Piece(copy.deepcopy(given))
                    if loc:
                        item.put(loc, replacement)
                    else:
                        item.data, item.positions = replacement.data, {**item.positions, **replacement.positions}
                else:
                    text = _PARAM.sub(lambda m: str(values[m.group(1)][0]), value)
                    item.put(loc, Piece(text, {(): item.where(loc)} if item.where(loc) else {}))

        walk(item.data, ())
        return item

    # the experiment -----------------------------------------------------------------------------

    def compose(self, doc: Document) -> Document:
        if not isinstance(doc.data, dict):
            return doc
        uses = any(k in doc.data for k in _COMPOSITION_KEYS) or _any_model_composes(doc.data)
        if not uses:
            return doc
        out = Piece.of(doc, ())
        for k in _COMPOSITION_KEYS:
            out.drop(k)
        models = doc.data.get("models")
        try:
            if isinstance(models, dict):
                built = Piece({})
                for name in models:
                    try:
                        piece = self.model(doc, name)
                    except _Fatal:
                        continue
                    raw = models[name]
                    sweep = raw.get("sweep") if isinstance(raw, dict) else None
                    for variant, variant_piece in self.sweep(doc, name, piece, sweep):
                        if variant in built.data:
                            self.fail(f"the sweep makes a model named '{variant}', which exists already",
                                      doc, ("models", name, "sweep"))
                        built.put((variant,), variant_piece)
                built.positions[()] = doc.positions.get(("models",))
                out.put(("models",), built)
        except _Fatal:
            pass
        if self.issues:
            raise SpecError(list(dict.fromkeys(self.issues)))  # a shared parent's mistake once
        return Document(out.data, doc.source, out.positions, out.key_positions, out.texts)

    def sweep(self, doc: Document, name: str, piece: Piece, sweep: Any):
        if sweep is None:
            yield name, piece
            return
        loc = ("models", name, "sweep")
        if not isinstance(sweep, dict) or not sweep:
            self.fail("`sweep` maps a field of the model (e.g. layers.1.Dense.units) to a list of values",
                      doc, loc)
            return
        axes = []
        for path, values in sweep.items():
            if not isinstance(values, list) or not values:
                self.fail("a sweep axis is a non-empty list of values", doc, loc + (path,))
                return
            axes.append((str(path), values))
        combos = list(itertools.product(*[range(len(v)) for _, v in axes]))
        if len(combos) > MAX_VARIANTS:
            self.fail(f"the sweep makes {len(combos):,} variants; at most {MAX_VARIANTS} are allowed", doc, loc)
            return
        short = _short_names([p for p, _ in axes])
        base_label = piece.data.get("label") or name
        for combo in combos:
            variant = copy.deepcopy(piece)
            parts, slugs = [], []
            for (path, values), k, label in zip(axes, combo, short):
                for one in (p.strip() for p in path.split(",")):  # "a, b": both take each value
                    segs = tuple(int(s) if s.isdigit() else s for s in one.split("."))
                    if not _settable(variant.data, segs):
                        self.fail(f"'{one}' is not a field of model {name} (after its extends and edits)",
                                  doc, loc + (path,), key=True)
                        return
                    variant.put(segs, Piece.of(doc, loc + (path, k)))
                parts.append(f"{label}={_show(values[k])}")
                slugs.append(_slug(values[k]))
            variant.put(("label",), Piece(f"{base_label} ({', '.join(parts)})"))
            yield f"{name}-{'-'.join(slugs)}", variant


_REQUIRED = object()


def _has(doc: Document, loc: Loc) -> bool:
    data = doc.data
    for seg in loc:
        if isinstance(data, dict) and seg in data or isinstance(data, list) and isinstance(seg, int) and seg < len(data):
            data = data[seg]
        else:
            return False
    return True


def _settable(data: Any, segs: tuple) -> bool:
    for seg in segs[:-1]:
        if isinstance(data, dict) and seg in data and isinstance(data[seg], (dict, list)):
            data = data[seg]
        elif isinstance(data, list) and isinstance(seg, int) and 0 <= seg < len(data):
            data = data[seg]
        else:
            return False
    last = segs[-1]
    return isinstance(data, dict) or (isinstance(data, list) and isinstance(last, int) and 0 <= last < len(data))


def _short_names(paths: list[str]) -> list[str]:
    """A label per sweep axis: the last segment of its path(s) when that is unambiguous."""
    lasts = []
    for path in paths:
        ends = {p.strip().rsplit(".", 1)[-1] for p in path.split(",")}
        lasts.append(ends.pop() if len(ends) == 1 else path)
    return [last if lasts.count(last) == 1 else path for last, path in zip(lasts, paths)]


def _show(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        (k, v), = value.items()
        return f"{k}({_show(v) if not isinstance(v, dict) else ', '.join(f'{a}={_show(b)}' for a, b in v.items())})"
    if value is None:
        return "none"
    return str(value)


def _slug(value: Any) -> str:
    text = re.sub(r"[^A-Za-z0-9_.+]+", "_", _show(value)).strip("_")
    return text[:40] or "x"


def _any_model_composes(data: dict) -> bool:
    models = data.get("models")
    if not isinstance(models, dict):
        return False
    for model in models.values():
        if isinstance(model, dict) and any(k in model for k in ("extends", "edit", "sweep")):
            return True
        layers = model.get("layers") if isinstance(model, dict) else None
        if isinstance(layers, list) and any(Composer.block_reference(x)[0] for x in layers):
            return True
    return False


def compose(document: Document, reader: Callable[[Path], Document] = read_file) -> Document:
    """Expand include, blocks, extends, edit and sweep; raise SpecError with every mistake found."""
    return Composer(reader).compose(document)
