"""Extends and edits: a model built from another one, its layers changed by position or name.

    B:
      extends: A                # or lib.A from an included file
      edit:                     # positions are the parent's layer indices (or a layer's name)
        - {replace: 1, with: [Dense: 64]}        # with: a list of layers
        - {insert_before: 0, with: [Flatten]}    # with: a list of layers
        - {insert_after: 2, with: [Dropout: 0.25]}
        - {set: 3, with: {units: 10}}            # with: a mapping of arguments
        - {remove: 4}                            # no with
      training: {epochs: 5}     # compile and training are merged key by key onto the parent's

A child does not inherit its parent's label, description, color or line style. Every malformed
edit is a located mistake; none is skipped.
"""

from __future__ import annotations

from typing import Any

from factory.errors import Loc, did_you_mean
from factory.spec import blocks
from factory.spec.document import Document
from factory.spec.files import Broken, Files
from factory.spec.shorthand import spelled_out

EDIT_OPERATIONS = ("replace", "remove", "set", "insert_before", "insert_after")
TAKES_LAYERS = ("replace", "insert_before", "insert_after")
NOT_INHERITED = ("label", "description", "color", "linestyle")
MERGED = ("compile", "training")
COMPOSITION_KEYS = ("extends", "edit", "sweep")


def model(files: Files, doc: Document, name: str, stack: tuple = (), via: tuple = ()) -> Document:
    """The model `name` of `doc`, with extends, edits and blocks expanded (not sweeps)."""
    key = (doc.source, name)
    if key in stack:
        cycle = " -> ".join(n for _, n in stack[stack.index(key):] + (key,))
        files.fail(f"models extend each other in a cycle: {cycle}", doc, ("models", name, "extends"), fatal=True)
    loc = ("models", name)
    raw = doc.get(loc)
    if not isinstance(raw, dict):
        return doc.at(loc, via)  # the schema will say what is wrong
    if "extends" not in raw:
        if "edit" in raw:
            files.fail("`edit` changes the layers of the model given by `extends`, and this model "
                       "extends none", doc, loc + ("edit",), key=True)
        piece = doc.at(loc, via)
        piece.drop("sweep")
        piece.drop("edit")
        if isinstance(raw.get("layers"), list):
            piece.put(("layers",), blocks.layers(files, doc, loc + ("layers",), via))
        return piece
    if "edit" in raw and "layers" in raw:  # a mistake whatever the parent is
        files.fail(f"`edit` changes the layers {name} takes from {raw['extends']}, and `layers:` replaces them: "
                   f"write one of the two (edit: to change {raw['extends']}'s layers, layers: to give {name} "
                   "its own)", doc, loc + ("edit",), key=True)
    parent_doc, parent = files.find(doc, "models", raw["extends"], loc + ("extends",))
    reference = doc.positions.get(loc + ("extends",))
    chain = via + ((reference,) if reference and parent_doc is not doc else ())
    piece = model(files, parent_doc, parent, stack + (key,), chain)
    if not isinstance(piece.data, dict):
        hint = " (is `layers:` missing above its list?)" if isinstance(piece.data, list) else ""
        files.fail(f"model '{raw['extends']}' cannot be extended: it is {_kind(piece.data)}, not a mapping "
                   f"of layers and settings{hint}", doc, loc + ("extends",), fatal=True)
    for k in NOT_INHERITED:
        piece.drop(k)
    if "edit" in raw and "layers" not in raw:
        _edit(files, doc, loc, piece, via, raw["extends"])
    for k, value in raw.items():
        if k in COMPOSITION_KEYS:
            continue
        if k in MERGED and isinstance(value, dict) and isinstance(piece.data.get(k), dict):
            for inner in value:
                piece.put((k, inner), doc.at(loc + (k, inner), via))
        elif k == "layers":
            piece.put(("layers",), blocks.layers(files, doc, loc + ("layers",), via))
        else:
            piece.put((k,), doc.at(loc + (k,), via))
    return piece


def _edit(files: Files, doc: Document, loc: Loc, piece: Document, via: tuple, parent: str) -> None:
    """Apply the `edit:` at `loc` to `piece`, the parent model as inherited; every malformed edit reported."""
    edits = doc.get(loc + ("edit",))
    if not isinstance(edits, list):
        files.fail("`edit` is a list of changes, e.g. - {replace: 1, with: [Dense: 64]}", doc, loc + ("edit",))
        return
    layers = piece.data.get("layers")
    n = len(layers) if isinstance(layers, list) else None
    if n is None:  # each edit's own form is still checked below
        files.fail(f"`edit` changes the layers of {parent}, but {parent} has "
                   + ("no `layers:`" if layers is None else f"`layers: {_kind(layers)}`, not a list"),
                   doc, loc + ("edit",), key=True)
    names = {_layer_name(layer): i for i, layer in enumerate(layers if n is not None else []) if _layer_name(layer)}
    before: dict[int, list[Document]] = {}
    after: dict[int, list[Document]] = {}
    replaced: dict[int, list[Document]] = {}
    touched: dict[int, Loc] = {}
    for k, change in enumerate(edits):
        here = loc + ("edit", k)
        op, well_formed = _operation(files, doc, here, change)
        if op is None or n is None:
            continue
        target = change[op]
        index = names.get(target) if isinstance(target, str) else target
        if isinstance(index, bool) or not isinstance(index, int) or not -n <= index < n:
            files.fail(f"'{target}' is not a layer of the parent model: it has {n} layers (0 to {n - 1}, "
                       f"negative counts from the end, or a layer's name)", doc, here + (op,))
            continue
        if not well_formed:
            continue
        index %= n
        if op in ("replace", "remove", "set"):
            if index in touched:
                files.fail(f"layer {index} is already changed by the edit at {doc.positions.get(touched[index])}",
                           doc, here + (op,))
                continue
            touched[index] = here
        if op == "remove":
            replaced[index] = []
        elif op == "set":
            layer = _set_arguments(files, doc, here, piece.at(("layers", index)), via)
            if layer is not None:
                replaced[index] = [layer]
        else:
            new = blocks.layers(files, doc, here + ("with",), via)
            items = [new.at((i,)) for i in range(len(new.data))]
            {"replace": replaced, "insert_before": before, "insert_after": after}[op].setdefault(index, []).extend(items)
    if n is None:
        raise Broken  # nothing to edit: a model that extends this one would only repeat the mistake
    result = []
    for i in range(n):
        result += before.get(i, [])
        result += replaced.get(i, [piece.at(("layers", i))])
        result += after.get(i, [])
    piece.put(("layers",), Document.list_of(result, piece.source))


def _operation(files: Files, doc: Document, here: Loc, change: Any) -> tuple[str | None, bool]:
    """The operation of one edit (None if there is not exactly one) and whether its `with:` is right.

    Every mistake in the edit's form is reported here.
    """
    forms = ", ".join(EDIT_OPERATIONS)
    if not isinstance(change, dict):
        files.fail(f"an edit is a mapping: one of {forms} with a layer position, "
                   "e.g. {replace: 1, with: [Dense: 64]}", doc, here)
        return None, False
    ok = True
    for bad in (x for x in change if x not in EDIT_OPERATIONS and x != "with"):
        files.fail(f"unknown key '{bad}'{did_you_mean(str(bad), [*EDIT_OPERATIONS, 'with'])}",
                   doc, here + (bad,), key=True)
        ok = False
    ops = [op for op in EDIT_OPERATIONS if op in change]
    if len(ops) != 1:
        if ok or ops:
            files.fail(f"an edit is exactly one of {forms}; this one has "
                       + (", ".join(ops) if ops else "none"), doc, here)
        return None, False
    op = ops[0]
    given = change.get("with")
    if op == "remove":
        if "with" in change:
            files.fail("`remove` takes no `with:`: it removes the layer (to put layers in its place, "
                       "use `replace`)", doc, here + ("with",), key=True)
            ok = False
    elif "with" not in change:
        files.fail(f"`{op}` needs `with:` (the {'arguments' if op == 'set' else 'layers'}), e.g. "
                   + ("{set: 1, with: {units: 16}}" if op == "set" else f"{{{op}: 1, with: [Dense: 64]}}"),
                   doc, here, key=True)
        ok = False
    elif op in TAKES_LAYERS and not isinstance(given, list):
        files.fail(f"`{op}` takes `with:` a list of layers, e.g. with: [Dense: 64], got {_kind(given)}"
                   + (" (write it as a list: with: [...])" if isinstance(given, (dict, str)) else ""),
                   doc, here + ("with",))
        ok = False
    elif op == "set" and (not isinstance(given, dict) or not given):
        got = "an empty mapping" if given == {} else _kind(given)
        files.fail(f"`set` takes `with:` a mapping of arguments, e.g. with: {{units: 16}}, got {got}",
                   doc, here + ("with",))
        ok = False
    return op, ok


def _set_arguments(files: Files, doc: Document, here: Loc, layer: Document, via: tuple) -> Document | None:
    """The parent's layer with the arguments of `with:` set; a short form (`Dense: 64`) is spelled out."""
    if isinstance(layer.data, str):
        layer.data = {layer.data: None}  # a bare `Flatten`
    if not isinstance(layer.data, dict) or len(layer.data) != 1:
        files.fail("`set` changes one layer written `Name: {arguments}`; this one is not", doc, here + ("set",))
        return None
    (cls, args), = layer.data.items()
    arguments = spelled_out(cls, args) if isinstance(cls, str) else None
    if arguments is None:
        files.fail(f"`set` cannot change the arguments of {cls}: write it as {cls}: {{...}} in the parent",
                   doc, here + ("with",))
        return None
    if arguments is not args:
        position = layer.positions.get((cls,))
        layer.data[cls] = arguments
        for name in arguments:
            if position:
                layer.positions[(cls, name)] = position
    for name in doc.get(here + ("with",)):
        layer.put((cls, name), doc.at(here + ("with", name), via))
    return layer


def _layer_name(layer: Any) -> str | None:
    if isinstance(layer, dict) and len(layer) == 1:
        args = next(iter(layer.values()))
        if isinstance(args, dict) and isinstance(args.get("name"), str):
            return args["name"]
    return None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)
