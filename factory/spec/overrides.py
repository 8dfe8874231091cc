"""`--set key.path=value` overrides, applied to a spec file as written, before composition.

An override changes exactly what editing the file at that place would: `models.A...` reaches the
models that extend A, `include.lib=...`, `models.D={extends: A}` and `models.m.sweep=...` work, and
a value the YAML file shares through an alias changes at the one place named. The value is read as
YAML; its positions point into the `--set` argument, so a bad value gets the same located error as
a bad value in the file. An empty value (`KEY=`, `KEY=null`, `KEY=~`) sets null, the default of an
optional field.

Two places editing the file would not reach are refused with what to write instead: a part of a
`compile`/`training` setting the model takes whole from the experiment or its parent (setting a
part there would drop the rest of the inherited value), and anything in an included file.

Path syntax: keys and list indices separated by dots; a key holding dots (a model named `mlp-0.5`)
is quoted: `models."mlp-0.5".training.epochs=1`. A quoted number is a key, not an index.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import yaml

from factory.errors import Issue, Loc, Position, SpecError, did_you_mean, format_loc
from factory.spec.document import Document, parse_path, unshared
from factory.spec.extends import MERGED
from factory.spec.shorthand import is_keras_name, main_argument, names_class, spelled_out
from factory.spec.yaml_reader import read_text
from schemas.base import a_or_an

_SEGMENT = r'(?:"[^"]*"|\'[^\']*\'|[^.="\'\s]+)'
_OVERRIDE = re.compile(rf"^\s*({_SEGMENT}(?:\.{_SEGMENT})*)\s*=(.*)$", re.S)


def apply_overrides(document: Document, overrides: Iterable[str]) -> Document:
    """Apply `key.path=value` overrides to a copy of the file as written; raise SpecError for every bad one."""
    out = document.copy()  # shares nothing, so an alias's other uses keep their value
    if not isinstance(out.data, dict):
        out.data = {}
    issues: list[Issue] = []
    for text in overrides:
        source = f"<--set {text}>"
        match = _OVERRIDE.match(text)
        if not match:
            issues.append(Issue("expected key.path=value, e.g. training.epochs=1 "
                                '(quote a key that holds dots: models."mlp-0.5".training.epochs=1)',
                                source=source))
            continue
        path, value_text = parse_path(match.group(1)), match.group(2)
        offset = match.start(2)
        try:
            value = _read_value(value_text, source)
        except SpecError as e:
            issues.extend(_shift(i, offset) for i in e.issues)
            continue
        here = Position(source, 1, 1)
        error = _inherited_part(out, path, value) or _set(out, path, _shifted(value, offset), here, match.group(1))
        if error:
            issues.append(Issue(error, loc=path, position=here))
    if issues:
        raise SpecError(issues)
    return out


def _read_value(text: str, source: str) -> Document:
    """The value of one `--set`, read as YAML; nothing at all (``, `null`, `~`, `---`, `#x`) is null.

    The reader refuses an empty document (a spec file must hold something); a value may be null.
    """
    try:
        # composing builds nodes without expanding aliases, so this is bounded like the argument
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return read_text(text, source)  # not YAML: the reader says where and why
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
        return Document(None, source, {(): Position(source, 1, 1)})  # moved to the value's column later
    return read_text(text, source)


def _inherited_part(doc: Document, path: Loc, value: Document) -> str | None:
    """Why `path` below a `compile`/`training` key the model takes whole cannot be set in part.

    A model's section is merged key by key onto the inherited one, so setting
    `models.A.compile.optimizer.Adam.learning_rate` where A does not write `compile.optimizer` would
    replace the whole inherited optimizer with one that has only a learning rate.
    """
    if len(path) <= 4 or path[0] != "models" or path[2] not in MERGED:
        return None
    name, section, key = path[1], path[2], path[3]
    model = doc.get(("models", name))
    if not isinstance(model, dict):
        return None
    own = model.get(section)
    if isinstance(own, dict) and key in own:
        return None
    message = f"model {name} does not write {section}.{key}: it takes the whole of it from "
    whole = _dotted(path[:4])
    if "extends" in model:
        parent = model["extends"]
        return (message + f"{parent} through `extends`, so setting a part would drop the rest; set it whole "
                f"({whole}=...) or set it on {parent}")
    if not doc.has((section, key)):
        return None  # nothing is inherited but the default: a part is all there is
    example = _with_part(doc.get((section, key)), path[4:], value.data)
    return (message + f"the experiment's {section}, so setting a part would drop the rest; set it whole: "
            f"{whole}={example if example is not None else '...'}")


def _with_part(inherited: Any, rest: Loc, value: Any) -> str | None:
    """The inherited value with `value` set at `rest`, as flow YAML; None where it has no such place."""
    whole = unshared(inherited)
    current = whole
    for seg in rest[:-1]:
        if not isinstance(current, dict) or not isinstance(current.get(seg, {}), dict):
            return None
        current = current.setdefault(seg, {})
    if not isinstance(current, dict):
        return None
    current[rest[-1]] = value
    return yaml.safe_dump(whole, default_flow_style=True, sort_keys=False, width=10**6).strip()


def _dotted(path: Loc) -> str:
    """`path` as `--set` writes it, a key that holds dots quoted."""
    return ".".join(f'"{s}"' if isinstance(s, str) and "." in s else str(s) for s in path)


def _set(doc: Document, path: Loc, value: Document, here: Position, written: str) -> str | None:
    """Put `value` at `path`, creating missing mappings on the way; the reason when it cannot."""
    current = doc.data
    for i, seg in enumerate(path[:-1]):
        loc, following = path[:i + 1], path[i + 1]
        if isinstance(current, list):
            if not isinstance(seg, int) or not 0 <= seg < len(current):
                return _not_an_index(seg, path[:i], len(current))
        elif seg not in current or current[seg] is None:
            if path[:i] == ("models",):
                return _no_model(doc, seg, written)
            if reason := _other_class(current, seg, path[:i]):
                return reason
            if isinstance(following, int):
                return _not_written(doc, loc, following, path, value)
            current[seg] = {}
            doc.positions[loc] = doc.key_positions[loc] = here
        child, kind = current[seg], _kind(loc)
        if names_class(child, following, kind):
            # a bare name: `Flatten` in a list is {Flatten: {}}, `kernel_constraint: max_norm` {MaxNorm: {}}
            child = current[seg] = {following: {}}
        elif isinstance(current, dict) and len(current) == 1 and not isinstance(child, (dict, list)):
            arguments = spelled_out(seg, child, kind)  # `Dense: 64` -> `Dense: {units: 64}`, `Huber: 2.0`
            if arguments is not None:
                _spell_out(doc, loc, arguments)
                child = current[seg]
        if not isinstance(child, (dict, list)):
            return _not_a_mapping(loc, seg, child, following)
        current = child
    last = path[-1]
    if isinstance(current, list) and (not isinstance(last, int) or not 0 <= last < len(current)):
        return _not_an_index(last, path[:-1], len(current))
    if isinstance(current, dict) and (reason := _other_class(current, last, path[:-1])):
        return reason
    doc.put(path, value)
    doc.key_positions[path] = here
    return None


def _kind(loc: Loc) -> str | None:
    """"loss" or "metric" where `loc` is inside a `compile.loss` or `compile.metrics` (a model's too), else None:
    the kind of Keras object a class name there is (CosineSimilarity is both)."""
    at = [i for i, seg in enumerate(loc) if seg == "compile"]
    following = loc[at[-1] + 1] if at and at[-1] + 1 < len(loc) else None
    return {"loss": "loss", "metrics": "metric"}.get(following) if isinstance(following, str) else None


def _spell_out(doc: Document, loc: Loc, arguments: dict) -> None:
    """Replace the short form at `loc` by its arguments mapping, keeping the value's position."""
    position, text = doc.positions.get(loc), doc.texts.pop(loc, None)
    parent = doc.get(loc[:-1])
    parent[loc[-1]] = arguments
    for name in arguments:
        if position:
            doc.positions[loc + (name,)] = doc.key_positions[loc + (name,)] = position
        if text is not None:
            doc.texts[loc + (name,)] = text


def _variant_of(doc: Document, name: Any) -> str | None:
    """The swept model whose variant `name` looks like, if any (variants are named `model-value`)."""
    models = doc.get(("models",))
    if not isinstance(name, str) or not isinstance(models, dict):
        return None
    for model, spec in models.items():
        if isinstance(spec, dict) and "sweep" in spec and name.startswith(f"{model}-"):
            return model
    return None


def _no_model(doc: Document, name: Any, written: str) -> str:
    swept = _variant_of(doc, name)
    if swept:
        return (f"no model '{name}': the variants of model '{swept}' ({swept}-...) are made by its sweep, "
                f"after overrides apply; set models.{swept}.<field> to change every variant, or change "
                f"models.{swept}.sweep")
    models = doc.get(("models",))
    known = list(models) if isinstance(models, dict) else []
    dotted = [m for m in known if isinstance(m, str) and "." in m and written.startswith(f"models.{m}.")]
    if dotted:
        rest = written[len(f"models.{dotted[0]}."):]
        return (f"no model '{name}'{did_you_mean(str(name), known)} (a key that holds dots is quoted: "
                f'models."{dotted[0]}".{rest}=...)')
    return (f"no model '{name}'{did_you_mean(str(name), known)} (to add a model, set it whole: "
            f"models.{name}={{layers: [...]}} or models.{name}={{extends: ...}})")


def _other_class(current: dict, seg: Any, where: Loc) -> str | None:
    """Why `seg` cannot go into `current`, an entry `Class: arguments` (a layer, an optimizer...), if so.

    Adding a key there would make an entry of two classes, which the file would be blamed for.
    """
    kind = _kind(where + (seg,))
    if not _holds_entry(where) or len(current) != 1 or seg in current or not is_keras_name(next(iter(current)), kind):
        return None
    cls, at = next(iter(current)), _dotted(where)
    if is_keras_name(seg, kind):
        return (f"{format_loc(where)} is {a_or_an(cls)}, not {a_or_an(seg)}: set an argument of the {cls} "
                f"({at}.{cls}.<argument>=...) or replace the whole entry ({at}={{{seg}: ...}})")
    return f"{format_loc(where)} is {a_or_an(cls)}: its arguments are set below its name, {at}.{cls}.{seg}=..."


def _holds_entry(where: Loc) -> bool:
    """Whether the value at `where` is a `Class: arguments` entry: a layer, an optimizer, an initializer...

    A model named `adam` under `models:` is not an optimizer, so only these places count.
    """
    if not where:
        return False
    last = where[-1]
    if isinstance(last, int):  # a layer, or a metric (of the model, or of one output: metrics.label.0)
        return len(where) >= 2 and (where[-2] in ("layers", "with", "metrics") or where[-3:-2] == ("metrics",))
    if _kind(where) == "loss" and where[-1] != "compile":  # the loss, or one output's (loss.label)
        return True
    return last == "optimizer" or str(last).endswith(("_initializer", "_regularizer", "_constraint"))


def _not_written(doc: Document, loc: Loc, index: int, path: Loc, value: Document) -> str:
    """Why a list that the file does not write has no item `index`, and what to set instead."""
    message = f"{format_loc(loc)} is not written in the file, so it has no item {index}"
    model = doc.get(loc[:2]) if loc[:1] == ("models",) and len(loc) == 3 else None
    if not isinstance(model, dict) or "extends" not in model:
        return message
    name, parent = loc[1], model["extends"]
    includes = doc.get(("include",))
    head, dot, _ = str(parent).partition(".")
    if not (dot and isinstance(includes, dict) and head in includes):
        return message + (f": model {name} takes its {loc[2]} from {parent} through `extends` (set them on "
                          f"{parent}, which changes both, or change {name} with `edit:`)")
    message += (f": model {name} takes its {loc[2]} from {parent} in {includes[head]} through `extends`, and "
                f"--set changes only this file: change {name} with `edit:`")
    rest = path[len(loc) + 1:]
    if loc[2] == "layers" and len(rest) == 2 and not isinstance(value.data, (dict, list)):
        arguments = yaml.safe_dump({rest[1]: value.data}, default_flow_style=True, width=10**6).strip()
        message += f" (e.g. {_dotted(loc[:2])}.edit=[{{set: {index}, with: {arguments}}}])"
    return message


def _not_an_index(seg: Any, where: Loc, n: int) -> str:
    return f"'{seg}' is not an index of {format_loc(where) or 'the file'}, a list of {n} item(s)"


def _not_a_mapping(loc: Loc, seg: Any, value: Any, following: Any) -> str:
    shown = "nothing" if value is None else repr(value)
    message = f"cannot set below '{seg}': it is {shown}, not a mapping"
    kind = _kind(loc)
    if isinstance(loc[-1], str) and main_argument(loc[-1], kind) is None and is_keras_name(loc[-1], kind):
        return message + f"; {loc[-1]} takes no scalar, so write its arguments: {format_loc(loc)}={{{following}: ...}}"
    return message + f"; set {format_loc(loc)}=... itself"


def _shifted(value: Document, offset: int) -> Document:
    """Positions on the value's first line moved to its column in the whole `--set` argument."""
    value.positions = {loc: _moved(p, offset) for loc, p in value.positions.items()}
    value.key_positions = {loc: _moved(p, offset) for loc, p in value.key_positions.items()}
    return value


def _moved(pos: Position, offset: int) -> Position:
    return Position(pos.source, 1, pos.column + offset) if pos.line == 1 else pos


def _shift(issue: Issue, offset: int) -> Issue:
    pos = issue.position
    if pos is None or pos.line != 1:
        return issue
    return Issue(issue.message, issue.loc, Position(pos.source, 1, pos.column + offset), issue.source)
