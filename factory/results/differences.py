"""What differs between two models, computed from their specs: `+BatchNormalization x2`,
`Activation(relu) -> LeakyReLU(0.2) x2`, `Dense: -activation=relu x2`,
`compile.optimizer: Adam(learning_rate=0.001) -> Adam(learning_rate=0.003)`.

Works on the written syntax of layers (`{"Dense": {"units": 64}}`) and on the resolved compile,
training and data settings, as results.json stores them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

# Layers that play the same part in a model. Replacing one by another of the same part
# (`Activation(relu) -> LeakyReLU(0.2)`) is what a reader calls a replacement; other layers are
# paired with each other only when nothing better is left. Presentation only: a class missing
# here is its own part.
ROLES = {
    **dict.fromkeys(("Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax"), "activation"),
    **dict.fromkeys(("BatchNormalization", "LayerNormalization"), "normalization"),
    **dict.fromkeys(("MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D"),
                    "pooling"),
    **dict.fromkeys(("Dropout", "GaussianNoise"), "noise"),
    **dict.fromkeys(("Dense", "Conv2D"), "weights"),
}
_NOT_COMPARED = {"name", "input_shape"}  # a layer's name and Keras 2 input shape say nothing about the model

# Costs of the alignment of two layer lists: an insertion or a deletion costs 1; the same class
# with other arguments at most 0.5 (so Dense(32) pairs with Dense(32), not Dense(10)); another class
# of the same part 1 (a replacement); a class of another part 1.9 (just under delete + insert).
_SAME_PART, _OTHER_PART, _GAP = 1.0, 1.9, 1.0


def _args(layer: dict) -> dict:
    (_, args), = layer.items()
    return args if isinstance(args, dict) else {}


def _value(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        (name, args), = value.items()
        inner = ", ".join(f"{k}={_value(v)}" for k, v in args.items()) if isinstance(args, dict) else _value(args)
        return f"{name}({inner})" if inner else name
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if value is None:
        return "null"  # as the spec (YAML) writes it
    return str(value)


def show_value(value: Any) -> str:
    """A spec value as the spec writes it: `mse`, `Adam(learning_rate=0.001)`, `[8, 8]`, `null`."""
    return _value(value)


def show_layer(layer: dict) -> str:
    """`Dense(64, activation=relu)`: the class and its arguments, the main one first without a name."""
    (name, _), = layer.items()
    args = {k: v for k, v in _args(layer).items() if k not in _NOT_COMPARED}
    if not args:
        return name
    parts = [_value(v) if i == 0 and len(args) == 1 else f"{k}={_value(v)}" for i, (k, v) in enumerate(args.items())]
    return f"{name}({', '.join(parts)})"


def _class(layer: dict) -> str:
    return next(iter(layer))


def _cost(x: dict, y: dict) -> float:
    """What pairing layer x with layer y costs in the alignment (0: the same layer)."""
    if _class(x) == _class(y):
        ax, ay = _args(x), _args(y)
        keys = (set(ax) | set(ay)) - _NOT_COMPARED
        changed = sum(1 for k in keys if ax.get(k) != ay.get(k))
        return 0.5 * changed / len(keys) if keys else 0.0
    same_part = ROLES.get(_class(x), _class(x)) == ROLES.get(_class(y), _class(y))
    return _SAME_PART if same_part else _OTHER_PART


def align(a: Sequence[dict], b: Sequence[dict]) -> list[tuple[dict | None, dict | None]]:
    """The cheapest pairing of layer list `a` with `b`: (x, y) pairs, (x, None) deleted, (None, y) inserted.

    An edit distance whose substitution cost says how alike two layers are, so layers inserted
    between others pair up with the layers a reader would pair them with (difflib on class names
    pairs `Dense(10)` with an inserted `Dense(32)`).
    """
    n, m = len(a), len(b)
    # cost[i][j]: aligning what is left, a[i:] with b[j:]; walked from the start, so on a tie the
    # earlier layers pair and inserted ones come after them, as a reader of the two lists pairs them.
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if i == n or j == m:
                cost[i][j] = (n - i + m - j) * _GAP
            else:
                cost[i][j] = min(cost[i + 1][j + 1] + _cost(a[i], b[j]),
                                 cost[i + 1][j] + _GAP, cost[i][j + 1] + _GAP)
    pairs: list[tuple[dict | None, dict | None]] = []
    i = j = 0
    while i < n or j < m:  # on a tie, pairing wins over deleting, deleting over inserting
        if i < n and j < m and abs(cost[i][j] - cost[i + 1][j + 1] - _cost(a[i], b[j])) < 1e-9:
            pairs.append((a[i], b[j]))
            i, j = i + 1, j + 1
        elif i < n and abs(cost[i][j] - cost[i + 1][j] - _GAP) < 1e-9:
            pairs.append((a[i], None))
            i += 1
        else:
            pairs.append((None, b[j]))
            j += 1
    return pairs


def _counted(changes: list[str]) -> list[str]:
    counted = Counter(changes)
    return [c if counted[c] == 1 else f"{c} x{counted[c]}" for c in dict.fromkeys(changes)]


def differences(a: Sequence[dict], b: Sequence[dict]) -> list[str]:
    """The changes that turn layer list `a` into `b`, repeated ones counted (`x2`)."""
    changes: list[str] = []
    for x, y in align(a, b):
        if x is None:
            changes.append(f"+{show_layer(y)}")
        elif y is None:
            changes.append(f"-{show_layer(x)}")
        elif _class(x) == _class(y):
            changes += _argument_changes(x, y)
        else:
            changes.append(f"{show_layer(x)} -> {show_layer(y)}")
    return _counted(changes)


def _argument_changes(x: dict, y: dict) -> list[str]:
    ax, ay = _args(x), _args(y)
    out = []
    for k in list(ax) + [k for k in ay if k not in ax]:
        if k in _NOT_COMPARED or ax.get(k) == ay.get(k):
            continue
        if k not in ay:
            out.append(f"-{k}={_value(ax[k])}")
        elif k not in ax:
            out.append(f"+{k}={_value(ay[k])}")
        else:
            out.append(f"{k}={_value(ax[k])} -> {_value(ay[k])}")
    return [f"{_class(x)}: " + ", ".join(out)] if out else []


# Settings compared besides the layers, and the keys of them that do not describe the model:
# the seeds are what the comparison runs over (pairs use the seeds both completed).
SETTINGS = ("input_shape", "compile", "training", "data")
_NOT_SETTINGS = {("training", "seeds")}


def _setting_changes(a: Any, b: Any, path: tuple[str, ...]) -> list[str]:
    if path in _NOT_SETTINGS or a == b:
        return []
    if isinstance(a, dict) and isinstance(b, dict) and len(path) == 1:  # compile, training, data: key by key
        return [c for k in list(a) + [k for k in b if k not in a]
                for c in _setting_changes(a.get(k), b.get(k), path + (str(k),))]
    return [f"{'.'.join(path)}: {_value(a)} -> {_value(b)}"]


def model_differences(a: dict, b: dict) -> list[str]:
    """What turns model `a` into model `b`: layer changes, then compile, training and data settings.

    `a` and `b` are model entries as `factory.results.models.model_info` gives them (`layers`,
    `input_shape`, `compile`, `training`, `data`); a key missing from either is not compared.
    """
    changes = differences(a.get("layers") or [], b.get("layers") or [])
    for key in SETTINGS:
        if key in a and key in b:
            if key == "input_shape" and (a[key] is None or b[key] is None):
                continue  # unknown: taken from the data, which a given shape was checked against
            changes += _setting_changes(a[key], b[key], (key,))
    return changes


def _text(changes: list[str], limit: int) -> str:
    text = ", ".join(changes[:limit])
    return text + (f" (+{len(changes) - limit} more)" if len(changes) > limit else "")


def describe_models(a: dict, b: dict, limit: int = 4) -> str:
    """A short text of what differs between two models (layers and settings, see `model_differences`)."""
    changes = model_differences(a, b)
    if changes:
        return _text(changes, limit)
    return "same layers and settings" if any(k in a and k in b for k in SETTINGS) else "same layers"
