"""Blocks: named lists of layers with parameters, used in a layer list as `$name` or `{$name: {params}}`.

    blocks:
      dense_bn:
        params: {units: 64, activation: {Activation: relu}}   # name: default (a list: all required)
        layers: [Dense: ${units}, BatchNormalization: {}, ${activation}]
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from factory.errors import Loc, did_you_mean
from factory.spec.document import Document, unshared
from factory.spec.files import Files

PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
BLOCK_KEYS = ("params", "layers", "description")
REQUIRED = object()  # a parameter declared without a default
UNSET = object()  # a required parameter's value when a block is checked on its own


class _Unset(Exception):
    """A layer of a block checked on its own uses a required parameter: it cannot be checked yet."""


def layers(files: Files, doc: Document, loc: Loc, via: tuple, params: dict | None = None,
           stack: tuple = ()) -> Document:
    """The layer list at `loc` of `doc` with every `$block` reference expanded."""
    raw = doc.get(loc)
    if not isinstance(raw, list):
        return doc.at(loc, via)
    items: list[Document] = []
    instances: list[tuple[list[Document], str]] = []  # each use of a block: its layers, its name prefix
    written = doc.items(loc, via)
    for i, layer in enumerate(raw):
        ref, args = reference(layer)
        if ref is None:
            item = written[i]
            if params is not None:
                try:
                    item = _substitute(files, item, params)
                except _Unset:
                    continue
            items.append(_inside_constructs(files, doc, loc + (i,), via, params, stack, item))
            continue
        block_doc, name = files.find(doc, "blocks", ref, loc + (i,))
        key = (block_doc.source, name)
        if key in stack:
            cycle = " -> ".join(n for _, n in stack[stack.index(key):] + (key,))
            files.fail(f"blocks use each other in a cycle: {cycle}", doc, loc + (i,), fatal=True)
        given = None
        if params is not None and args is not None:  # inside a block: its parameters reach the arguments
            try:
                given = _substitute(files, doc.at(loc + (i,)), params)
            except _Unset:
                continue
            args = next(iter(given.data.values()))
        values = _values(files, doc, loc + (i,), block_doc, name, args, given)
        if values is None:
            continue
        reference_position = doc.positions.get(loc + (i,))
        chain = via + ((reference_position,) if reference_position else ())
        expanded = layers(files, block_doc, ("blocks", name, "layers"), chain, values, stack + (key,))
        if isinstance(expanded.data, list):
            instance = expanded.items(())
            instances.append((instance, f"{name}_{i}_"))
            items += instance
    given = Counter(n for item in items for n in _names_given(item.data))
    for instance, prefix in instances:
        _scoped(instance, prefix, {n for item in instance for n in _names_given(item.data) if given[n] > 1})
    return Document.list_of(items, doc.source)


CONSTRUCT_KEYS = ("residual", "parallel", "Residual", "Parallel")  # schemas.constructs: hold layer lists


def _inside_constructs(files: Files, doc: Document, loc: Loc, via: tuple, params: dict | None, stack: tuple,
                       item: Document) -> Document:
    """`item` (the layer at `loc` of `doc`), a `residual` or `parallel`'s own layer lists with their
    `$block` uses expanded too."""
    layer = doc.get(loc)
    if not isinstance(layer, dict) or len(layer) != 1:
        return item
    (key, args), = layer.items()
    if key not in CONSTRUCT_KEYS or not isinstance(args, dict):
        return item
    lists = [(key, "layers"), (key, "shortcut")]
    if isinstance(args.get("branches"), list):
        lists += [(key, "branches", b) for b in range(len(args["branches"]))]
    for at in lists:
        if isinstance(doc.get(loc + at), list) and item.has(at):
            item.put(at, layers(files, doc, loc + at, via, params, stack))
    return item


def _names_given(value: Any) -> list[str]:
    """The layer names (`name:`) given anywhere in a layer, constructs' layers included."""
    if isinstance(value, dict):
        return [n for k, v in value.items()
                for n in ([v] if k == "name" and isinstance(v, str) else _names_given(v))]
    if isinstance(value, list):
        return [n for v in value for n in _names_given(v)]
    return []


def _scoped(items: list[Document], prefix: str, clashing: set[str]) -> None:
    """Prefix, in one block instance's layers, the names that another instance (or layer) also gives,
    and the `from`s naming them: names are scoped to a block instance, so a block used five times
    builds five distinct sets of layers, and a `from` inside names the layer of its own instance.
    Names that clash with nothing stay as written."""

    def rename(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in ("name", "from") and isinstance(v, str) and v in clashing:
                    value[k] = prefix + v
                elif k == "from" and isinstance(v, list):
                    value[k] = [prefix + n if isinstance(n, str) and n in clashing else n for n in v]
                else:
                    rename(v)
        elif isinstance(value, list):
            for v in value:
                rename(v)

    if clashing:
        for item in items:
            rename(item.data)


def on_its_own(files: Files, doc: Document, name: str) -> Document | None:
    """Block `name`'s own layers by their index, its defaults filled in, for checking a library.

    Layers that need a required parameter, and uses of other blocks (checked as those blocks), are
    left out; keeping each layer's own index keeps every mistake's location as written.
    """
    if not _well_formed(files, doc, name):
        return None
    bloc = ("blocks", name)
    declared = _declared(doc.get(bloc))
    if declared is None:
        files.fail("`params` is a mapping of parameter names to defaults, or a list of names", doc,
                   bloc + ("params",))
        return None
    values = {p: (UNSET, doc, ()) if d is REQUIRED else (d, doc, bloc + ("params", p)) for p, d in declared.items()}
    out = Document({}, doc.source, {(): doc.positions[bloc + ("layers",)]} if bloc + ("layers",) in doc.positions else {})
    for i, layer in enumerate(doc.get(bloc + ("layers",))):
        ref, args = reference(layer)
        if ref is not None:
            block_doc, used = files.find(doc, "blocks", ref, bloc + ("layers", i))
            _values(files, doc, bloc + ("layers", i), block_doc, used, args)
            continue
        try:
            out.put((i,), _substitute(files, doc.at(bloc + ("layers", i)), values))
        except _Unset:
            continue
    return out


def reference(layer: Any) -> tuple[str | None, Any]:
    """(`name`, its arguments) when `layer` uses a block (`$name` or `{$name: {...}}`), else (None, None)."""
    if isinstance(layer, str) and layer.startswith("$") and not PARAM.fullmatch(layer):
        return layer[1:], None
    if isinstance(layer, dict) and len(layer) == 1:
        (key, value), = layer.items()
        if isinstance(key, str) and key.startswith("$") and not PARAM.fullmatch(key):
            return key[1:], value
    return None, None


def _well_formed(files: Files, block_doc: Document, name: str) -> bool:
    block = block_doc.get(("blocks", name))
    bloc = ("blocks", name)
    if not isinstance(block, dict) or not isinstance(block.get("layers"), list):
        files.fail(f"block '{name}' needs `layers:`, a list of layers", block_doc, bloc)
        return False
    for unknown in (k for k in block if k not in BLOCK_KEYS):
        files.fail(f"unknown key '{unknown}' in block '{name}'{did_you_mean(str(unknown), list(BLOCK_KEYS))}",
                   block_doc, bloc + (unknown,), key=True)
    return True


def _declared(block: dict) -> dict | None:
    declared = block.get("params") or {}
    if isinstance(declared, list):
        declared = {p: REQUIRED for p in declared}
    return declared if isinstance(declared, dict) else None


def _values(files: Files, doc: Document, loc: Loc, block_doc: Document, name: str, args: Any,
            given_in: Document | None = None) -> dict | None:
    """Each parameter's (value, document, location) for one use of block `name`; None if it cannot be used.

    The use stands at `loc` of `doc`; `given_in`, when given, is that use with the parameters of the
    block it stands in already replaced, and the values are taken from it.
    """
    if not _well_formed(files, block_doc, name):
        return None
    bloc = ("blocks", name)
    declared = _declared(block_doc.get(bloc))
    if declared is None:
        files.fail("`params` is a mapping of parameter names to defaults, or a list of names",
                   block_doc, bloc + ("params",))
        return None
    given = {} if args is None else args
    if not isinstance(given, dict):
        files.fail(f"block '{name}' takes a mapping of its parameters ({', '.join(declared) or 'none'})",
                   doc, loc)
        return None
    values = {}
    key = _reference_key(doc.get(loc))
    source, at = (doc, loc) if given_in is None else (given_in, ())
    for p, default in declared.items():
        if p in given:
            values[p] = (given[p], source, at + (key, p))
        elif default is REQUIRED:
            files.fail(f"block '{name}' needs parameter '{p}'", doc, loc)
        else:
            values[p] = (default, block_doc, bloc + ("params", p))
    for p in given:
        if p not in declared:
            files.fail(f"block '{name}' has no parameter '{p}'{did_you_mean(p, list(declared))}", doc,
                       loc + (key, p), key=True)
    return values if len(values) == len(declared) else None  # a missing one: its layers would only repeat it


def _reference_key(layer: Any) -> str:
    return next(iter(layer)) if isinstance(layer, dict) else layer


def _substitute(files: Files, item: Document, values: dict) -> Document:
    """Replace `${param}` in a block's layer: a whole value by the parameter's value (any type)."""

    def walk(value: Any, loc: Loc) -> None:
        if isinstance(value, dict):
            for k, v in list(value.items()):
                walk(v, loc + (k,))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, loc + (i,))
        elif isinstance(value, str) and PARAM.search(value):
            whole = PARAM.fullmatch(value)
            names = [m.group(1) for m in PARAM.finditer(value)]
            missing = [n for n in names if n not in values]
            if missing:
                files.fail(f"unknown parameter '${{{missing[0]}}}'{did_you_mean(missing[0], list(values))}",
                           item, loc)
                return
            if any(values[n][0] is UNSET for n in names):
                raise _Unset
            if whole:
                given, src_doc, src_loc = values[whole.group(1)]
                replacement = src_doc.at(src_loc) if src_doc.has(src_loc) else Document(unshared(given))
                if loc:
                    item.put(loc, replacement)
                else:
                    item.data, item.positions = replacement.data, {**item.positions, **replacement.positions}
            else:
                text = PARAM.sub(lambda m: str(values[m.group(1)][0]), value)
                where = item.where(loc)
                item.put(loc, Document(text, positions={(): where} if where else {}))

    walk(item.data, ())
    return item

