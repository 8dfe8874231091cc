"""Sweeps: one model variant per combination of values, named and labelled after the values.

    m:
      sweep:
        layers.1.Dense.kernel_initializer: [glorot_uniform, he_normal]
        "layers.2.Dropout, layers.4.Dropout": [0.0, 0.25]   # both fields take each value
        compile.optimizer: [adam, sgd]                       # inherited from the experiment: fine

A path is a field of the model after its extends and edits; `compile.*` and `training.*` may name a
setting the model inherits, or a field inside one (`compile.optimizer.Adam.learning_rate` with the
optimizer given for the experiment), and a layer's short form (`Dense: 64`) is spelled out to take an
argument.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import Counter
from typing import Any

from factory.errors import Loc
from factory.spec.document import Document, parse_path
from factory.spec.extends import MERGED
from factory.spec.files import Files
from factory.spec.shorthand import spelled_out
from schemas import INITIALIZER_ALIASES, OPTIMIZER_ALIASES, REGULARIZER_ALIASES

ALIASES = {**OPTIMIZER_ALIASES, **INITIALIZER_ALIASES, **REGULARIZER_ALIASES}  # `adam` names Adam

MAX_VARIANTS = 256  # a sweep grid larger than this is almost surely a mistake
MAX_SWEPT_VALUES = 200_000  # variants x values of the model: 256 variants of a 50-layer model are about 50,000
NAME_LENGTH = 64  # the longest model name (schemas.experiment.Identifier; a test checks they agree)
DIGEST = 8  # hex digits of the values' digest that ends a name too long or not unique


def variants(files: Files, doc: Document, name: str, piece: Document, sweep: Any) -> list[tuple[str, Document]]:
    """(variant name, variant) for every combination of the sweep of model `name`; every bad axis reported.

    Names are unique within the sweep and at most `NAME_LENGTH` characters (see `_names`); a clash with
    another model of the file is for the caller to find, who knows them all.
    """
    if sweep is None:
        return [(name, piece)]
    loc = ("models", name, "sweep")
    if not isinstance(sweep, dict) or not sweep:
        files.fail("`sweep` maps a field of the model (e.g. layers.1.Dense.units) to a list of values", doc, loc)
        return []
    axes, ok = [], True
    swept: list[tuple[Loc, str, Any]] = []  # (path, as written, its axis) of every field swept so far
    for path, values in sweep.items():
        if not isinstance(values, list) or not values:
            files.fail("a sweep axis is a non-empty list of values", doc, loc + (path,))
            ok = False
        else:
            ok &= _distinct(files, doc, loc + (path,), values)
        texts = [one.strip() for one in str(path).split(",")]  # "a, b": both take each value
        fields = [parse_path(one) for one in texts]
        for text, segs in zip(texts, fields):
            room = piece.at(())
            if not _make_room(room, segs, doc):
                files.fail(f"'{text}' is not a field of model {name} (after its extends and edits)"
                           + _inherited(room, segs), doc, loc + (path,), key=True)
                ok = False
                continue
            ok &= _alone(files, doc, loc, path, text, segs, swept)
            swept.append((segs, text, path))
        axes.append((path, fields, values))
    if not ok:
        return []
    combos = list(itertools.product(*[range(len(v)) for _, _, v in axes]))
    if len(combos) > MAX_VARIANTS:
        files.fail(f"the sweep makes {len(combos):,} variants; at most {MAX_VARIANTS} are allowed", doc, loc)
        return []
    values = len(combos) * max(len(piece.positions), 1)
    if values > MAX_SWEPT_VALUES:
        files.fail(f"the sweep makes {len(combos):,} variants of a model of {len(piece.positions):,} values: "
                   f"{values:,} values, more than the {MAX_SWEPT_VALUES:,} a sweep may expand to; sweep fewer "
                   "values or a smaller model", doc, loc)
        return []
    short = _short_names([str(p) for p, _, _ in axes])
    base_label = piece.data.get("label") or name
    out = []
    for combo, variant_name in zip(combos, _names(name, [[values[k] for (_, _, values), k in zip(axes, combo)]
                                                         for combo in combos])):
        variant = piece.at(())
        parts = []
        for (path, fields, values), k, label in zip(axes, combo, short):
            for segs in fields:
                _make_room(variant, segs, doc, doc.where(loc + (path,), keys=True))
                variant.put(segs, doc.at(loc + (path, k)))
            parts.append(f"{label}={_show(values[k])}")
        variant.put(("label",), Document(f"{base_label} ({', '.join(parts)})"))
        out.append((variant_name, variant))
    return out


def _distinct(files: Files, doc: Document, loc: Loc, values: list) -> bool:
    """Each value of an axis once: a repeated value would make the same model twice."""
    first: dict[str, int] = {}
    ok = True
    for k, value in enumerate(values):
        j = first.setdefault(_fingerprint(value), k)
        if j != k:
            shown = doc.texts.get(loc + (k,), _show(value))  # as written: `true`, not Python's True
            files.fail(f"{shown} is already value {j} of this axis: each value makes one variant",
                       doc, loc + (k,))
            ok = False
    return ok


def _alone(files: Files, doc: Document, loc: Loc, path: Any, text: str, segs: Loc,
           swept: list[tuple[Loc, str, Any]]) -> bool:
    """False (and reported) when `segs` is, contains or lies inside a field another axis already sets."""
    for other, other_text, other_path in swept:
        if segs[:len(other)] == other or other[:len(segs)] == segs:
            field = text if len(segs) >= len(other) else other_text
            line = doc.where(loc + (other_path,), keys=True)
            where = " in the same key" if other_path == path else f" (line {line.line})" if line else ""
            files.fail(f"'{text}' overlaps '{other_text}'{where}: both set {field}, and one would overwrite "
                       "the other; sweep a field in one axis only", doc, loc + (path,), key=True)
            return False
    return True


def _make_room(model: Document, segs: Loc, experiment: Document, position=None) -> bool:
    """Prepare `model` so that `segs` can be set; False if it cannot be (not a field of the model).

    A missing `compile` or `training` is made empty (the model inherits the experiment's); a field
    below a key of it the model does not write (`compile.optimizer.Adam.learning_rate`) starts from
    the experiment's value of that key, which is what the model inherits; a short form on the way
    (`Dense: 64`, `optimizer: adam`) is spelled out.
    """
    if not segs or not isinstance(model.data, dict):
        return False
    if segs[0] in MERGED and len(segs) > 1:
        if model.data.get(segs[0]) is None:
            model.data[segs[0]] = {}
            if position:
                model.positions[segs[:1]] = position
        section = model.data[segs[0]]
        if len(segs) > 2 and isinstance(section, dict) and segs[1] not in section and experiment.has(segs[:2]):
            model.put(segs[:2], experiment.at(segs[:2]))  # sections merge key by key: this key is the experiment's
    data = model.data
    for i, seg in enumerate(segs[:-1]):
        if isinstance(data, dict) and seg in data:
            child = data[seg]
            if isinstance(child, str) and _names_class(child, segs[i + 1]):
                data[seg] = child = {segs[i + 1]: {}}  # `optimizer: adam` is `optimizer: {Adam: {}}`
            elif not isinstance(child, (dict, list)) and len(data) == 1:
                arguments = spelled_out(seg, child)
                if arguments is not None:
                    where = model.positions.get(segs[:i + 1])
                    data[seg] = child = arguments
                    for arg in arguments:
                        if where:
                            model.positions[segs[:i + 1] + (arg,)] = where
        elif isinstance(data, list) and isinstance(seg, int) and 0 <= seg < len(data):
            child = data[seg]
            if isinstance(child, str) and child == segs[i + 1] and spelled_out(child, None) is not None:
                data[seg] = child = {child: {}}
        else:
            return False
        if not isinstance(child, (dict, list)):
            return False
        data = child
    last = segs[-1]
    return isinstance(data, dict) or (isinstance(data, list) and isinstance(last, int) and 0 <= last < len(data))


def _inherited(model: Document, segs: Loc) -> str:
    """For a path into compile/training that is not a field: what the model has there, as a hint."""
    if len(segs) < 3 or segs[0] not in MERGED:
        return ""
    for n in range(len(segs) - 1, 1, -1):
        if model.has(segs[:n]):
            return f": its {'.'.join(map(str, segs[:n]))} is {_show(model.get(segs[:n]))}"
    return (f": neither the model nor the experiment writes {segs[0]}.{segs[1]}, so there is nothing "
            f"inside it to sweep (write it in the experiment's {segs[0]}:)")


def _names_class(text: str, name: Any) -> bool:
    """Whether `text` names Keras class `name` without arguments, as `adam` names Adam."""
    if not isinstance(name, str) or spelled_out(name, None) is None:
        return False
    return text == name or ALIASES.get(text) == name


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


def _names(name: str, combos: list[list[Any]]) -> list[str]:
    """A model name per combination of values: `name-slug-slug`, readable, unique and short enough.

    When two combinations give one text (`a b` and `a_b`) or the text is longer than a model name may
    be, it is cut and ends with a digest of the values: still the same name on every run.
    """
    plain = [f"{name}-{'-'.join(_slug(v) for v in values)}" for values in combos]
    count = Counter(plain)
    out = []
    for text, values in zip(plain, combos):
        if count[text] > 1 or len(text) > NAME_LENGTH:
            digest = hashlib.sha256("|".join(map(_fingerprint, values)).encode()).hexdigest()[:DIGEST]
            text = f"{text[:NAME_LENGTH - DIGEST - 1].rstrip('-_.+')}-{digest}"
        out.append(text)
    return out


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", _show(value)).strip("_") or "x"


def _fingerprint(value: Any) -> str:
    """Equal only for equal values of equal types (1, 1.0 and true differ), keys in any order."""
    if isinstance(value, dict):
        return "{" + ",".join(sorted(f"{_fingerprint(k)}:{_fingerprint(v)}" for k, v in value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(_fingerprint, value)) + "]"
    return f"{type(value).__name__}:{value!r}"
