"""What differs between two models, computed from their specs: `+BatchNormalization x2`,
`Activation(relu) -> LeakyReLU(0.2) x2`, `Dense: -activation=relu x2`,
`+residual(Conv2D, BatchNormalization, ReLU, Conv2D)`, `parallel: +branch(MaxPooling2D)`,
`+input extra [4]`, `compile.optimizer: Adam(learning_rate=0.001) -> Adam(learning_rate=0.003)`.

Works on the written syntax of layers (`{"Dense": {"units": 64}}`, the graph constructs
`{"residual": {...}}` and `{"parallel": {...}}`, `from:` as an argument) and on the model's
inputs and outputs and the resolved compile, training and data settings, as results.json stores them.
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
# The graph constructs of the spec language, and the merge each uses when none is written
RESIDUAL, PARALLEL = "residual", "parallel"
_DEFAULT_MERGE = {RESIDUAL: "add", PARALLEL: "concatenate"}
_SPEC_ONLY = {"from"}  # a layer's arguments that are never its main one: always written with their name
_NOT_COMPARED = {"name", "input_shape"}  # a layer's name and Keras 2 input shape say nothing about the model

# Costs of the alignment of two layer lists: an insertion or a deletion costs 1; the same class
# with other arguments at most 0.5 (so Dense(32) pairs with Dense(32), not Dense(10)); another class
# of the same part 1 (a replacement); a class of another part 1.9 (just under delete + insert); a
# construct and anything else 2.5 (never paired: a residual removed and a parallel added, not replaced).
_SAME_PART, _OTHER_PART, _UNLIKE, _GAP = 1.0, 1.9, 2.5, 1.0


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


def _written(layer: Any) -> Any:
    """`layer` with its constructs keyed as a spec writes them: results.json has `Residual` for `residual`."""
    if not isinstance(layer, dict) or len(layer) != 1:
        return layer
    (key, args), = layer.items()
    if key.lower() not in _DEFAULT_MERGE or not isinstance(args, dict):
        return layer
    args = {k: ([[_written(e) for e in branch] for branch in v] if k == "branches"
                else [_written(e) for e in v] if k in ("layers", "shortcut") and v else v)
            for k, v in args.items()}
    return {key.lower(): args}


def _classes(layers: Sequence) -> str:
    return ", ".join(_class(layer) for layer in layers or ())


def _construct(layer: dict) -> str | None:
    """`residual` or `parallel` for a graph construct, None for a layer."""
    kind = _class(layer)
    return kind if kind in _DEFAULT_MERGE and isinstance(layer[kind], dict) else None


def _merge(layer: dict) -> str:
    kind = _class(layer)
    return layer[kind].get("merge") or _DEFAULT_MERGE[kind]


def _show_construct(layer: dict) -> str:
    """`residual(Conv2D, BatchNormalization; shortcut Conv2D)`, `parallel(Conv2D | MaxPooling2D)`:
    the classes of its layers (branches separated by `|`), and its merge where not the default."""
    kind = _class(layer)
    args = layer[kind]
    if kind == RESIDUAL:
        inner = _classes(args.get("layers"))
        if args.get("shortcut"):
            inner += f"; shortcut {_classes(args['shortcut'])}"
    else:
        inner = " | ".join(_classes(branch) for branch in args.get("branches") or ())
    if _merge(layer) != _DEFAULT_MERGE[kind]:
        inner += f"; merge {_merge(layer)}"
    return f"{kind}({inner})"


def show_layer(layer: dict) -> str:
    """`Dense(64, activation=relu)`: the class and its arguments, the main one first without a name.

    A graph construct shows the classes of its layers: `residual(Conv2D, BatchNormalization)`.
    """
    layer = _written(layer)
    if _construct(layer):
        return _show_construct(layer)
    (name, _), = layer.items()
    args = {k: v for k, v in _args(layer).items() if k not in _NOT_COMPARED}
    if not args:
        return name
    parts = [_value(v) if i == 0 and len(args) == 1 and k not in _SPEC_ONLY else f"{k}={_value(v)}"
             for i, (k, v) in enumerate(args.items())]
    return f"{name}({', '.join(parts)})"


def _class(layer: dict) -> str:
    return next(iter(layer))


def _layer_cost(x: dict, y: dict) -> float:
    """What pairing layer x with layer y costs in the alignment (0: the same layer)."""
    if _construct(x) and _class(x) == _class(y):  # as for a layer: at most 0.5, by the share changed
        return 0.0 if x == y else 0.5 * min(1.0, len(_construct_changes(x, y)) / max(1, _size(x) + _size(y)))
    if _construct(x) or _construct(y):
        return _UNLIKE
    if _class(x) == _class(y):
        ax, ay = _args(x), _args(y)
        keys = (set(ax) | set(ay)) - _NOT_COMPARED
        changed = sum(1 for k in keys if ax.get(k) != ay.get(k))
        return 0.5 * changed / len(keys) if keys else 0.0
    same_part = ROLES.get(_class(x), _class(x)) == ROLES.get(_class(y), _class(y))
    return _SAME_PART if same_part else _OTHER_PART


def _size(layer: dict) -> int:
    """How many layers a construct holds (for how much of it a change touches)."""
    args = layer[_class(layer)]
    lists = [args.get("layers"), args.get("shortcut")] if _class(layer) == RESIDUAL else args.get("branches")
    return sum(len(layers or ()) for layers in lists or ())


def align(a: Sequence, b: Sequence, cost=None) -> list[tuple[Any, Any]]:
    """The cheapest pairing of layer list `a` with `b`: (x, y) pairs, (x, None) deleted, (None, y) inserted.

    An edit distance whose substitution cost says how alike two layers are, so layers inserted
    between others pair up with the layers a reader would pair them with (difflib on class names
    pairs `Dense(10)` with an inserted `Dense(32)`). `cost(x, y)` prices a pairing (default: how
    alike two layers are; parallel branches are aligned with their own).
    """
    _cost = cost or _layer_cost
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
    return _counted(_changes([_written(x) for x in a], [_written(y) for y in b]))


def _changes(a: Sequence[dict], b: Sequence[dict]) -> list[str]:
    changes: list[str] = []
    for x, y in align(a, b):
        if x is None:
            changes.append(f"+{show_layer(y)}")
        elif y is None:
            changes.append(f"-{show_layer(x)}")
        elif _construct(x) and _class(x) == _class(y):
            changes += _construct_changes(x, y)
        elif _class(x) == _class(y):
            changes += _argument_changes(x, y)
        else:
            changes.append(f"{show_layer(x)} -> {show_layer(y)}")
    return changes


def _construct_changes(x: dict, y: dict) -> list[str]:
    """What turns construct x into y: `residual: +BatchNormalization`, `parallel: +branch(MaxPooling2D)`."""
    kind = _class(x)
    ax, ay = x[kind], y[kind]
    out = []
    if kind == RESIDUAL:
        out += [f"{kind}: {c}" for c in _changes(ax.get("layers") or [], ay.get("layers") or [])]
        out += [f"{kind} shortcut: {c}" for c in _changes(ax.get("shortcut") or [], ay.get("shortcut") or [])]
    else:
        number = 0  # of the branch in y, as a reader of y counts them
        for bx, by in align(ax.get("branches") or [], ay.get("branches") or [], _branch_cost):
            number += by is not None
            if bx is None:
                out.append(f"{kind}: +branch({_classes(by)})")
            elif by is None:
                out.append(f"{kind}: -branch({_classes(bx)})")
            else:
                out += [f"{kind} branch {number}: {c}" for c in _changes(bx, by)]
    if _merge(x) != _merge(y):
        out.append(f"{kind}: merge={_merge(x)} -> {_merge(y)}")
    return out + _wiring_changes(kind, ax, ay)


# A construct's keys besides what it holds, and the value each has when not written: a frozen
# residual, or one that reads another layer, is another model (a layer's name is not compared;
# a construct's names what `from:` and `outputs` read, so it is)
_CONSTRUCT_KEYS = {"trainable": True, "from": None, "name": None}


def _wiring_changes(kind: str, ax: dict, ay: dict) -> list[str]:
    """`residual: trainable=true -> false`, `residual: +from=a`: its keys that are not layers, changed."""
    out = []
    for key, default in _CONSTRUCT_KEYS.items():
        vx, vy = ax.get(key, default), ay.get(key, default)
        if vx == vy:
            continue
        if vx is None:
            out.append(f"+{key}={_yaml(vy)}")
        elif vy is None:
            out.append(f"-{key}={_yaml(vx)}")
        else:
            out.append(f"{key}={_yaml(vx)} -> {_yaml(vy)}")
    return [f"{kind}: " + ", ".join(out)] if out else []


def _yaml(value: Any) -> str:
    """`true` for True, as the spec writes it; else as `_value` shows it."""
    return str(value).lower() if isinstance(value, bool) else _value(value)


def _branch_cost(x: Sequence[dict], y: Sequence[dict]) -> float:
    """Pairing two branches of a parallel: 0 when equal, less than removing one and adding the other."""
    return 0.0 if x == y else 0.5 + 0.5 * min(1.0, len(_changes(x, y)) / max(1, len(x) + len(y)))


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
SETTINGS = ("input_shape", "input_dtype", "compile", "training", "data")
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
    `input_shape`, `input_dtype`, `compile`, `training`, `data`); a key missing from either is not compared.
    """
    changes = differences(a.get("layers") or [], b.get("layers") or [])
    several = bool(a.get("inputs") or b.get("inputs"))
    if several:
        changes += _input_changes(_inputs(a, b), _inputs(b, a))
    if a.get("outputs") or b.get("outputs"):
        outputs_a, outputs_b = _outputs(a, b), _outputs(b, a)
        changes += [f"+output {o}" for o in outputs_b if o not in outputs_a]
        changes += [f"-output {o}" for o in outputs_a if o not in outputs_b]
    for key in SETTINGS:
        if key in a and key in b:
            if key == "input_shape" and (several or a[key] is None or b[key] is None):
                continue  # unknown: taken from the data, which a given shape was checked against
            changes += _setting_changes(a[key], b[key], (key,))
    return changes


def _inputs(a: dict, other: dict) -> dict:
    """Model `a`'s inputs by name; a one-input model's input takes the name of `other`'s input of its shape."""
    if a.get("inputs"):
        return dict(a["inputs"])
    names = [n for n, shape in (other.get("inputs") or {}).items() if shape == a.get("input_shape")]
    names = names or list(other.get("inputs") or {}) or ["input"]
    return {names[0]: a.get("input_shape")}


def _outputs(a: dict, other: dict) -> list:
    """Model `a`'s outputs by name; a model without `outputs` has its last layer, named as written or,
    where it has no name, as `other`'s first output."""
    if a.get("outputs"):
        return list(a["outputs"])
    last = _args(a["layers"][-1]).get("name") if a.get("layers") else None
    return [last or (other.get("outputs") or [None])[0]]


def _input_changes(a: dict, b: dict) -> list[str]:
    out = [f"+input {name} {_value(shape)}" for name, shape in b.items() if name not in a]
    out += [f"-input {name}" for name in a if name not in b]
    out += [f"input {name}: {_value(a[name])} -> {_value(b[name])}" for name in a
            if name in b and None not in (a[name], b[name]) and a[name] != b[name]]
    return out


def _text(changes: list[str], limit: int) -> str:
    text = ", ".join(changes[:limit])
    return text + (f" (+{len(changes) - limit} more)" if len(changes) > limit else "")


def describe_models(a: dict, b: dict, limit: int = 4) -> str:
    """A short text of what differs between two models (layers and settings, see `model_differences`)."""
    changes = model_differences(a, b)
    if changes:
        return _text(changes, limit)
    return "same layers and settings" if any(k in a and k in b for k in SETTINGS) else "same layers"
