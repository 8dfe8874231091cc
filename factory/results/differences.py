"""What differs between two models, computed from their specs: `+BatchNormalization x2`,
`Activation(relu) -> LeakyReLU(0.2) x2`, `Dense: -activation=relu x2`.

Works on the written syntax of layers (`{"Dense": {"units": 64}}`), as results.json stores it.
"""

from __future__ import annotations

import difflib
from collections import Counter
from typing import Any, Sequence


def _args(layer: dict) -> dict:
    (_, args), = layer.items()
    return args if isinstance(args, dict) else {}


def _value(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        (name, args), = value.items()
        inner = ", ".join(f"{k}={_value(v)}" for k, v in args.items()) if isinstance(args, dict) else ""
        return f"{name}({inner})" if inner else name
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def show_layer(layer: dict) -> str:
    """`Dense(64, activation=relu)`: the class and its arguments, the main one first without a name."""
    (name, _), = layer.items()
    args = dict(_args(layer))
    args.pop("name", None)
    args.pop("input_shape", None)
    if not args:
        return name
    parts = [_value(v) if i == 0 and len(args) == 1 else f"{k}={_value(v)}" for i, (k, v) in enumerate(args.items())]
    return f"{name}({', '.join(parts)})"


def _class(layer: dict) -> str:
    return next(iter(layer))


def differences(a: Sequence[dict], b: Sequence[dict]) -> list[str]:
    """The changes that turn layer list `a` into `b`, repeated ones counted (`x2`)."""
    changes: list[str] = []
    matcher = difflib.SequenceMatcher(a=[_class(x) for x in a], b=[_class(x) for x in b], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for x, y in zip(a[i1:i2], b[j1:j2]):
                changes += _argument_changes(x, y)
        elif op == "insert":
            changes += [f"+{show_layer(y)}" for y in b[j1:j2]]
        elif op == "delete":
            changes += [f"-{show_layer(x)}" for x in a[i1:i2]]
        else:
            left = ", ".join(show_layer(x) for x in a[i1:i2])
            right = ", ".join(show_layer(y) for y in b[j1:j2])
            changes.append(f"{left} -> {right}")
    counted = Counter(changes)
    return [c if counted[c] == 1 else f"{c} x{counted[c]}" for c in dict.fromkeys(changes)]


def _argument_changes(x: dict, y: dict) -> list[str]:
    ax, ay = _args(x), _args(y)
    out = []
    for k in list(ax) + [k for k in ay if k not in ax]:
        if k in ("name", "input_shape") or ax.get(k) == ay.get(k):
            continue
        if k not in ay:
            out.append(f"-{k}={_value(ax[k])}")
        elif k not in ax:
            out.append(f"+{k}={_value(ay[k])}")
        else:
            out.append(f"{k}={_value(ax[k])} -> {_value(ay[k])}")
    return [f"{_class(x)}: " + ", ".join(out)] if out else []


def describe(a: Sequence[dict], b: Sequence[dict], limit: int = 4) -> str:
    """A short text of what differs, e.g. `+BatchNormalization x2, Dense: -activation=relu x2`."""
    changes = differences(a, b)
    if not changes:
        return "same layers"
    text = ", ".join(changes[:limit])
    return text + (f" (+{len(changes) - limit} more)" if len(changes) > limit else "")
