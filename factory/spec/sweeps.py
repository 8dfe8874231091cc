"""Sweeps: one model variant per combination of values, named and labelled after the values.

    m:
      sweep:
        layers.1.Dense.kernel_initializer: [glorot_uniform, he_normal]
        "layers.2.Dropout, layers.4.Dropout": [0.0, 0.25]   # both fields take each value
        compile.optimizer: [adam, sgd]                       # inherited from the experiment: fine

A path is a field of the model after its extends and edits; `compile.*` and `training.*` may name a
setting the model inherits, and a layer's short form (`Dense: 64`) is spelled out to take an argument.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from factory.errors import Loc
from factory.spec.document import Document, parse_path
from factory.spec.extends import MERGED
from factory.spec.files import Files
from factory.spec.shorthand import spelled_out

MAX_VARIANTS = 256  # a sweep grid larger than this is almost surely a mistake


def variants(files: Files, doc: Document, name: str, piece: Document, sweep: Any) -> list[tuple[str, Document]]:
    """(variant name, variant) for every combination of the sweep of model `name`; every bad axis reported."""
    if sweep is None:
        return [(name, piece)]
    loc = ("models", name, "sweep")
    if not isinstance(sweep, dict) or not sweep:
        files.fail("`sweep` maps a field of the model (e.g. layers.1.Dense.units) to a list of values", doc, loc)
        return []
    axes, ok = [], True
    for path, values in sweep.items():
        if not isinstance(values, list) or not values:
            files.fail("a sweep axis is a non-empty list of values", doc, loc + (path,))
            ok = False
        fields = [parse_path(one) for one in str(path).split(",")]  # "a, b": both take each value
        for one, segs in zip(str(path).split(","), fields):
            if not _make_room(piece.at(()), segs):
                files.fail(f"'{one.strip()}' is not a field of model {name} (after its extends and edits)",
                           doc, loc + (path,), key=True)
                ok = False
        axes.append((path, fields, values))
    if not ok:
        return []
    combos = list(itertools.product(*[range(len(v)) for _, _, v in axes]))
    if len(combos) > MAX_VARIANTS:
        files.fail(f"the sweep makes {len(combos):,} variants; at most {MAX_VARIANTS} are allowed", doc, loc)
        return []
    short = _short_names([str(p) for p, _, _ in axes])
    base_label = piece.data.get("label") or name
    out = []
    for combo in combos:
        variant = piece.at(())
        parts, slugs = [], []
        for (path, fields, values), k, label in zip(axes, combo, short):
            for segs in fields:
                _make_room(variant, segs, doc.where(loc + (path,), keys=True))
                variant.put(segs, doc.at(loc + (path, k)))
            parts.append(f"{label}={_show(values[k])}")
            slugs.append(_slug(values[k]))
        variant.put(("label",), Document(f"{base_label} ({', '.join(parts)})"))
        out.append((f"{name}-{'-'.join(slugs)}", variant))
    return out


def _make_room(model: Document, segs: Loc, position=None) -> bool:
    """Prepare `model` so that `segs` can be set; False if it cannot be (not a field of the model).

    A missing `compile` or `training` is made empty (the model inherits the experiment's), and a
    layer's short form on the way is spelled out.
    """
    if not segs or not isinstance(model.data, dict):
        return False
    if segs[0] in MERGED and len(segs) > 1 and model.data.get(segs[0]) is None:
        model.data[segs[0]] = {}
        if position:
            model.positions[segs[:1]] = position
    data = model.data
    for i, seg in enumerate(segs[:-1]):
        if isinstance(data, dict) and seg in data:
            child = data[seg]
            if not isinstance(child, (dict, list)) and len(data) == 1:
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
