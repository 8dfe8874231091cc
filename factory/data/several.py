"""Data for models with several inputs or outputs: one array per input name and per output name.

A `.npz` holds `x_train_<input>` and `x_test_<input>` for each input of the model (`inputs:
{image: ..., extra: ...}` reads `x_train_image`, `x_train_extra`, ...), and `y_train_<output>`,
`y_test_<output>` for each output (`outputs: [label, size]`). Plain `x_train` / `y_train` stay the
one-input, one-output form; the two forms mix (several inputs, one `y_train`). Such a dataset's
`x_train` (and so on) is a dict of arrays by name, which Keras's `fit` takes as it is.

A missing or misshapen array is a `SpecError`: at `data.dataset` for the file itself, at the
model's `inputs` / `outputs` for a name the data lacks or a shape the model does not take.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from factory.errors import Issue, SpecError
from schemas.base import suggestion

SPLITS = ("x_train", "y_train", "x_test", "y_test")


def _error(message: str) -> SpecError:
    return SpecError([Issue(message, loc=("data", "dataset"))])


def holds_named_arrays(files: list[str]) -> bool:
    """Whether an archive's arrays are named per input or output (`x_train_image`), not the plain form."""
    return any(f.startswith(f"{split}_") for f in files for split in ("x_train", "y_train"))


def named_arrays(archive: Any, path: Any, read: Callable[[Any, Any, str], np.ndarray]) -> tuple:
    """(x_train, y_train, x_test, y_test) of an archive with named arrays; each a dict by name, or the
    plain array where the archive has the plain form for that side. `read(archive, path, key)` reads one."""
    files = list(archive.files)
    out = []
    for split in SPLITS:
        if split in files:
            out.append(read(archive, path, split))
            continue
        names = sorted(f[len(split) + 1:] for f in files if f.startswith(f"{split}_"))
        if not names:
            raise _error(f"{path} has neither {split} nor arrays {split}_<name> (one per input or output; "
                         f"it has {', '.join(files) or 'nothing'})")
        out.append({n: read(archive, path, f"{split}_{n}") for n in names})
    for x, y in (("x_train", "x_test"), ("y_train", "y_test")):
        train, test = out[SPLITS.index(x)], out[SPLITS.index(y)]
        if isinstance(train, dict) != isinstance(test, dict) or \
                (isinstance(train, dict) and set(train) != set(test)):
            raise _error(f"{path}: the arrays of {x} and {y} do not pair up ({_names(x, train)} but "
                         f"{_names(y, test)}); write both splits of each name")
    return tuple(out)


def _names(split: str, value: Any) -> str:
    return ", ".join(f"{split}_{n}" for n in value) if isinstance(value, dict) else split


def is_named(*values: Any) -> bool:
    """Whether any of the arrays given is a dict of arrays by name."""
    return any(isinstance(v, dict) for v in values)


def check(source: str, arrays: Mapping[str, Any]) -> None:
    """Raise a `SpecError` at data.dataset for named arrays a model cannot train on, naming the array."""
    flat = flatten(arrays)
    for name, array in flat.items():
        if array.dtype.kind not in "biuf":
            raise _error(f"{source}: {name} holds {array.dtype} values, not numbers")
        if array.ndim == 0:
            raise _error(f"{source}: {name} is a single number, not an array of examples")
        if name.startswith("x_") and array.ndim == 1:
            raise _error(f"{source}: {name} has shape {array.shape}: one number per example is written as "
                         f"shape ({len(array)}, 1)")
    for split in ("train", "test"):
        lengths = {n: len(a) for n, a in flat.items() if n.startswith((f"x_{split}", f"y_{split}"))}
        if len(set(lengths.values())) > 1:
            described = ", ".join(f"{n} has {k:,}" for n, k in lengths.items())
            raise _error(f"{source}: the {split} arrays hold different numbers of examples ({described})")
        if 0 in lengths.values():
            raise _error(f"{source} has no {split}{'ing' if split == 'train' else ''} examples")
    for name, array in flat.items():
        for side in ("x", "y"):  # x_train_<name> pairs with x_test_<name>, by the exact prefix only
            if name == f"{side}_train" or name.startswith(f"{side}_train_"):
                test = f"{side}_test{name[len(side) + 6:]}"
                other = flat.get(test)
                if other is not None and array.shape[1:] != other.shape[1:]:
                    raise _error(f"{source}: {name}'s examples have shape {array.shape[1:]} but "
                                 f"{test}'s have shape {other.shape[1:]}")


def flatten(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """{"x_train": {image: a}} -> {"x_train_image": a}; plain arrays keep their names."""
    out = {}
    for split, value in arrays.items():
        if isinstance(value, dict):
            out.update({f"{split}_{n}": a for n, a in value.items()})
        else:
            out[split] = value
    return out


def unflatten(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The inverse of `flatten`."""
    out: dict[str, Any] = {}
    for split in SPLITS:
        if split in flat:
            out[split] = flat[split]
        else:
            out[split] = {k[len(split) + 1:]: a for k, a in flat.items() if k.startswith(f"{split}_")}
    return out


def apply(value: Any, change: Callable[[np.ndarray], np.ndarray]) -> Any:
    """`change` applied to an array, or to each array of a dict by name."""
    return {k: change(a) for k, a in value.items()} if isinstance(value, dict) else change(value)


def model_input(array: np.ndarray, scale: bool) -> np.ndarray:
    """`array` as a model reads it: float32, except integer and bool arrays that are not scaled.

    Those keep their dtype so that an integer input gets exact ids: float32 holds integers exactly
    only up to 2**24, and Keras would cast the rounded floats back to the input's dtype. A float32
    input casts them itself (Keras converts each array to its Input's dtype).
    """
    if not scale and (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        return array
    return array.astype(np.float32)


def prepared(spec: Any, arrays: tuple, source: str, dataset: type) -> Any:
    """The `dataset` of named arrays: the first train_size / test_size examples, inputs as `model_input`
    makes them, scaled per input as `data.scale` says (each by its own largest absolute training value)."""
    x_train, y_train, x_test, y_test = arrays
    if spec.train_size is not None:
        x_train, y_train = (apply(v, lambda a: a[:spec.train_size]) for v in (x_train, y_train))
    if spec.test_size is not None:
        x_test, y_test = (apply(v, lambda a: a[:spec.test_size]) for v in (x_test, y_test))
    x_train, x_test = (apply(v, lambda a: model_input(a, spec.scale)) for v in (x_train, x_test))
    if spec.scale:
        x_train, x_test = scaled(x_train, x_test)
    return dataset(x_train, apply(y_train, np.asarray), x_test, apply(y_test, np.asarray), source)


def scaled(x_train: Any, x_test: Any) -> tuple[Any, Any]:
    """Each input divided by its own largest absolute training value (the one-input rule, per input)."""
    if not isinstance(x_train, dict):
        top = float(max(np.abs(x_train).max(initial=0), 1e-12))
        return x_train / np.float32(top), x_test / np.float32(top)
    tops = {k: np.float32(max(float(np.abs(a).max(initial=0)), 1e-12)) for k, a in x_train.items()}
    return {k: a / tops[k] for k, a in x_train.items()}, {k: a / tops[k] for k, a in x_test.items()}


def model_issues(name: str, spec: Any, data: Any) -> list[Issue]:
    """Where model `name` and the named arrays of `data` disagree: an input or output the data lacks,
    an input shape other than the data's, a one-input model on several arrays (or the reverse)."""
    issues = []
    x = data.x_train
    inputs = {k: getattr(v, "shape", v) for k, v in (spec.inputs or {}).items()}  # `{shape, dtype}` or a shape
    if isinstance(x, dict):
        if not inputs:
            issues.append(Issue(f"the data has one array per input ({_names('x_train', x)}), but model {name} "
                                "has one input: name its inputs with `inputs:`", loc=("models", name)))
        for k, shape in inputs.items():
            if k not in x:
                issues.append(Issue(f"the data has no x_train_{k} for input '{k}' of model {name}"
                                    f"{suggestion(k, list(x)) or ''} (it has {_names('x_train', x)})",
                                    loc=("models", name, "inputs", k)))
            elif list(x[k].shape[1:]) != list(shape):
                issues.append(Issue(f"input '{k}' of model {name} has shape {list(shape)}, but the data's "
                                    f"x_train_{k} has examples of shape {list(x[k].shape[1:])}",
                                    loc=("models", name, "inputs", k)))
    elif len(inputs) > 1:
        issues.append(Issue(f"model {name} has {len(inputs)} inputs ({', '.join(inputs)}), but the data has one "
                            f"x_train: write x_train_<input> arrays ({', '.join('x_train_' + k for k in inputs)})",
                            loc=("models", name, "inputs")))
    y = data.y_train
    outputs = list(spec.outputs or [])
    if isinstance(y, dict):
        if len(outputs) < 2:  # a one-output model trains on one plain array, not a dict of them
            issues.append(Issue(f"the data has one array per output ({_names('y_train', y)}), but model {name} "
                                "has one output: list every output with `outputs:`, or write plain "
                                "y_train and y_test for a model of one output",
                                loc=("models", name) + (("outputs",) if outputs else ())))
        for j, k in enumerate(outputs):
            if k not in y:
                issues.append(Issue(f"the data has no y_train_{k} for output '{k}' of model {name}"
                                    f"{suggestion(k, list(y)) or ''} (it has {_names('y_train', y)})",
                                    loc=("models", name, "outputs", j)))
        unused = [k for k in y if k not in outputs]
        if len(outputs) > 1 and unused and all(k in y for k in outputs):
            # Keras pairs every y array with an output, and fails mid-fit on one left over
            issues.append(Issue(f"the data's {', '.join('y_train_' + k for k in unused)} "
                                f"{'is' if len(unused) == 1 else 'are'} no output of model {name} (its outputs: "
                                f"{', '.join(outputs)}): list it in `outputs:`, or leave it out of the data",
                                loc=("models", name, "outputs")))
    elif len(outputs) > 1:
        issues.append(Issue(f"model {name} has {len(outputs)} outputs ({', '.join(outputs)}), but the data has "
                            f"one y_train: write y_train_<output> arrays", loc=("models", name, "outputs")))
    return issues
