"""The search space of a model: checked before any trial, and turned into one real spec per trial.

A trial is the searched model with the trial's values set exactly as a `sweep:` of one value per
path would set them (factory.spec.sweeps), then composed and validated like any spec. The space is
checked the same way before any trial: one sweep per path over the values at the distribution's
bounds (or every choice), so a path that is not a field of the model, or a bound a field refuses,
is the error `sweep:` would give, located at the space in the file.
"""

from __future__ import annotations

import math
from typing import Any

from factory.errors import Issue, SpecError, did_you_mean, format_loc
from factory.results.stats import lower_is_better
from factory.spec.compose import compose
from factory.spec.document import Document
from factory.spec.loader import Loaded, validate_composed
from factory.spec.sweeps import _short_names, _show
from schemas import Experiment
from schemas.search import Choice, FloatRange, IntRange, Search

GRID_LIMIT = 10_000  # values of one path a grid may enumerate
# fields of the model a trial sets itself after the space's values (`trial_experiment`): searching
# them would be silently undone
SET_BY_THE_SEARCH = {"training.seeds": "each trial trains at the model's first seed; confirm_seeds re-trains "
                                       "over several",
                     "label": "each trial is labelled after the values it set",
                     "search": "a trial is an ordinary model"}
FRACTIONS = (0.382, 0.5, 0.618, 0.1, 0.9)  # where inside a float range to look for a value that is no integer


def searched(loaded: Loaded) -> str | None:
    """The name of the model that has `search:`; a located error if more than one has."""
    names = [n for n, m in loaded.experiment.models.items() if m.search is not None]
    if len(names) > 1:
        raise loaded.locate(SpecError([Issue(
            f"{len(names)} models have search: ({', '.join(names)}); one search per experiment (a swept "
            "model cannot also be searched: each of its variants would be)", loc=("models", n, "search"))
            for n in names]))
    return names[0] if names else None


def check(loaded: Loaded, name: str) -> None:
    """Raise one located SpecError for every path or bound of the space the model cannot take."""
    search = loaded.experiment.models[name].search
    issues = _objective(loaded, name, search) + _grid(search, name) + _alone(loaded, name)
    for path, distribution in search.space.items():
        written_at = ("models", name, "search", "space", path, _kind(distribution))
        overwritten = next((p for p in SET_BY_THE_SEARCH if path == p or path.startswith(p + ".")), None)
        if overwritten:
            issues.append(Issue(f"'{path}' cannot be searched: the search sets {overwritten} itself "
                                f"({SET_BY_THE_SEARCH[overwritten]})", loc=("models", name, "search", "space", path)))
            continue
        try:
            _compose(loaded.document, name, {path: _bounds(distribution)}, {path: written_at})
            inside = _inside(distribution) if isinstance(distribution, FloatRange) else None
            if inside is not None:  # the bounds may be whole numbers that an integer field takes
                try:
                    _compose(loaded.document, name, {path: [inside]}, {path: written_at})
                except SpecError as e:
                    raise SpecError([Issue(f"{i.message} (a value inside the range: {{float: ...}} samples real "
                                           "numbers; {int: [low, high]} for whole ones)", i.loc, i.position,
                                           i.source) for i in e.issues]) from None
        except SpecError as e:
            issues += [_in_space(i, name, path) for i in e.issues]
    if issues:
        issues = list({(i.loc, i.message): i for i in reversed(issues)}.values())[::-1]  # one per place
        raise loaded.locate(SpecError(issues))


def direction(search: Search) -> str:
    """`minimize` or `maximize` (Optuna's words): as the objective says, else by the metric.

    A bare name is minimised when it is a loss or an error (`val_loss`, `val_mae`) and maximised
    otherwise (`val_accuracy`, `val_auc`), as the comparison tables judge it.
    """
    goal = search.goal or ("min" if lower_is_better(search.metric) else "max")
    return "minimize" if goal == "min" else "maximize"


def trial_experiment(loaded: Loaded, name: str, values: dict[str, Any], trial_name: str, label: str,
                     seed: int) -> Experiment:
    """The experiment of one trial: the model `trial_name` with `values` set, trained at `seed`, resolved."""
    experiment = _compose(loaded.document, name, {p: [v] for p, v in values.items()}, {}).resolved()
    (model,) = experiment.models.values()
    model = model.model_copy(update={"label": label, "search": None,
                                     "training": model.training.model_copy(update={"seeds": [seed]})})
    return experiment.model_copy(update={"models": {trial_name: model}})


def label(search: Search, values: dict[str, Any]) -> str:
    """What a trial set, e.g. `units=256, Dropout=0.31, learning_rate=0.0021`."""
    short = _short_names(list(values))
    return ", ".join(f"{s}={_shown(v)}" for s, v in zip(short, values.values()))


def suggest(trial, search: Search) -> dict[str, Any]:
    """The trial's value of every path, asked from an Optuna trial (any object with its suggest_* methods)."""
    values = {}
    for path, d in search.space.items():
        if isinstance(d, IntRange):
            values[path] = trial.suggest_int(path, d.range[0], d.range[1], step=d.step or 1, log=d.log)
        elif isinstance(d, FloatRange):
            values[path] = trial.suggest_float(path, d.range[0], d.range[1], step=d.step, log=d.log)
        else:
            shown = choice_names(d)
            values[path] = d.values[shown.index(trial.suggest_categorical(path, shown))]
    return values


def choice_names(d: Choice) -> list:
    """What Optuna sees of each choice: the value itself when Optuna stores it, else its text."""
    if all(v is None or isinstance(v, (bool, int, float, str)) for v in d.values):
        return list(d.values)
    return [_show(v) for v in d.values]


def grid(search: Search) -> dict[str, list]:
    """Every value of every path, for Optuna's GridSampler (the space passed `check`)."""
    out = {}
    for path, d in search.space.items():
        if isinstance(d, Choice):
            out[path] = choice_names(d)
        elif isinstance(d, IntRange):
            out[path] = list(range(d.range[0], d.range[1] + 1, d.step or 1))
        else:
            n = int(math.floor((d.range[1] - d.range[0]) / d.step + 1e-9))
            out[path] = [d.range[0] + k * d.step for k in range(n + 1)]
    return out


def _objective(loaded: Loaded, name: str, search: Search) -> list[Issue]:
    """The objective must be a value Keras records each epoch for this model."""
    compile_ = loaded.experiment.resolved().models[name].compile
    known = ["loss", "val_loss"] + [f"{p}{m}" for m in compile_.metrics for p in ("", "val_")]
    if search.metric in known:
        return []
    return [Issue(f"'{search.metric}' is not recorded for model {name}: the objective is one of "
                  f"{', '.join(known)}{did_you_mean(search.metric, known)}",
                  loc=("models", name, "search", "objective"))]


def _alone(loaded: Loaded, name: str) -> list[Issue]:
    """A search trains its model alone: any other model of the experiment is an error, not skipped."""
    issues = [Issue(f"a search trains its model alone: model {other} would never train (searched: {name}); put "
                    "it in an experiment of its own", loc=("models", other))
              for other in loaded.experiment.models if other != name]
    tracking = loaded.experiment.tracking
    for key in ("tensorboard", "mlflow"):
        if getattr(tracking, key) not in (None, False):
            issues.append(Issue(f"a search does not log to {'TensorBoard' if key == 'tensorboard' else 'MLflow'}: "
                                "its trials and confirmation are in search.json and report.html; remove "
                                f"tracking.{key}", loc=("tracking", key)))
    return issues


def _inside(d: FloatRange) -> float | None:
    """A value Optuna may suggest strictly inside a float range that is no whole number; None if none is."""
    low, high = d.range
    for f in FRACTIONS:
        value = math.exp(math.log(low) + f * (math.log(high) - math.log(low))) if d.log else low + f * (high - low)
        if d.step is not None:
            value = low + round((value - low) / d.step) * d.step
        if low < value < high and not float(value).is_integer():
            return value
    return None


def _grid(search: Search, name: str) -> list[Issue]:
    if search.sampler != "grid":
        return []
    issues = []
    for path, d in search.space.items():
        if isinstance(d, FloatRange) and d.step is None:
            issues.append(Issue("the grid sampler needs a finite set of values: give this float a step, or "
                                "use {choice: [...]}", loc=("models", name, "search", "space", path)))
        elif not isinstance(d, Choice) and (d.range[1] - d.range[0]) / (d.step or 1) > GRID_LIMIT:
            issues.append(Issue(f"more than {GRID_LIMIT:,} values for the grid; give a larger step",
                                loc=("models", name, "search", "space", path)))
    return issues


def _in_space(issue: Issue, name: str, path: str) -> Issue:
    """A sweep's error as the space's: at `search.space.<path>`, naming the field it is about."""
    space = ("models", name, "search", "space", path)
    if issue.loc[:3] == ("models", name, "sweep"):
        return Issue(issue.message, space, issue.position, issue.source)
    if issue.loc[:1] == ("models",) and len(issue.loc) > 2:
        return Issue(f"{format_loc(issue.loc[2:])}: {issue.message}", space, issue.position, issue.source)
    return issue


def _bounds(d) -> list:
    if isinstance(d, Choice):
        return list(d.values)
    low, high = d.range
    if d.step is not None:  # the highest value Optuna can reach is the last step below high
        high = low + math.floor((high - low) / d.step + 1e-9) * d.step
        high = type(low)(high) if isinstance(d, IntRange) else high
    return [low, high] if high != low else [low]


def _kind(d) -> str:
    return "choice" if isinstance(d, Choice) else "int" if isinstance(d, IntRange) else "float"


def _compose(document: Document, name: str, sweep: dict[str, list], written_at: dict) -> Experiment:
    """The experiment of model `name` alone, swept over `sweep`; its errors located at `written_at`.

    `written_at` maps a path of the sweep to where the space writes its values, so that an error
    about a value points into the space, as it would point into a `sweep:`.
    """
    doc = document.copy()
    doc.data["models"] = {name: doc.data["models"][name]}
    for loc in [k for table in (doc.positions, doc.key_positions, doc.texts) for k in table]:
        if loc[:1] == ("models",) and len(loc) > 1 and loc[1] != name:
            for table in (doc.positions, doc.key_positions, doc.texts):
                table.pop(loc, None)
    doc.data["models"][name].pop("search", None)
    piece = Document({})
    for path, values in sweep.items():
        here = written_at.get(path)
        value = document.at(here) if here else Document(values)
        if not isinstance(value.data, list) or value.data != values:
            value = Document(values, document.source, {(): document.where(here)} if here else {})
            if here:
                value.positions.update({(k,): document.where(here) for k in range(len(values))})
        piece.put((path,), value)
        if here:
            piece.key_positions[(path,)] = document.where(here[:-1], keys=True)
    doc.put(("models", name, "sweep"), piece)
    return validate_composed(compose(doc), Experiment)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return _show(value)
