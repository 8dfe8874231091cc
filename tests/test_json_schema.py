"""The JSON Schema against the Pydantic models: an editor accepts what `factory validate` accepts.

Without node: `jsonschema` stands in for the editor here; tests/test_editor.py runs the real one.
"""

from __future__ import annotations

import itertools

import jsonschema
import pytest
from pydantic import ValidationError

from schemas import INITIALIZERS, LAYERS, OPTIMIZERS, REGULARIZERS, Experiment, json_schema
from schemas.graph import ATTENTION
from schemas.initializers import INITIALIZER_ALIASES
from schemas.optimizers import OPTIMIZER_ALIASES
from schemas.regularizers import REGULARIZER_ALIASES

VALIDATOR = jsonschema.Draft202012Validator(json_schema())
# Not 0.0 or -1.0: JSON has one number type, so an editor takes a whole float for an integer (`axis: 0.0`),
# which strict validation refuses; that difference is JSON's, not the schema's.
SCALARS = [-1, 0, 0.25, 0.5, 1, 1.5, 2, 64, -0.5, "relu", "rleu", "valid", True, None, [28, 28], [2], [0, 1], []]


def experiment(layer=None, optimizer="adam", kernel_initializer=None, kernel_regularizer=None) -> dict:
    dense = {"units": 4}
    if kernel_initializer is not None:
        dense["kernel_initializer"] = kernel_initializer
    if kernel_regularizer is not None:
        dense["kernel_regularizer"] = kernel_regularizer
    layers = [layer] if layer is not None else [{"Dense": dense}]
    return {"name": "x", "data": {"dataset": "digits"}, "compile": {"loss": "mse", "optimizer": optimizer},
            "models": {"A": {"layers": layers}}}


def pydantic_accepts(data: dict) -> bool:
    try:
        Experiment.model_validate(data)
        return True
    except ValidationError:
        return False


def editor_accepts(data: dict) -> bool:
    return VALIDATOR.is_valid(data)


def written_forms(classes, aliases, place):
    """Every name of each class, bare and with each scalar: the experiments that use it at `place`."""
    keys = {c.__name__: [c.__name__] for c in classes}
    for alias, target in (aliases or {}).items():
        keys[target].append(alias)
    for cls in classes:
        for key in keys[cls.__name__]:
            yield f"{key}", place(key)
            for value in SCALARS:
                yield f"{key}: {value!r}", place({key: value})


# layers with a rule between their arguments or within a list (schemas/layers_types.py), which the editor's
# JSON Schema does not express: validation refuses `CategoryEncoding` without num_tokens, `Permute: [2]`
BETWEEN_ARGUMENTS = {"CategoryEncoding", "Discretization", "Permute"}

CASES = list(itertools.chain(
    # attention layers read a query and a value: without `from:` (a graph rule between layers, which a JSON
    # Schema cannot express) validation refuses them where the editor cannot (tests/test_graphs.py)
    written_forms([c for c in LAYERS if c.__name__ not in ATTENTION and c.__name__ not in BETWEEN_ARGUMENTS], None,
                  lambda v: experiment(layer=v)),
    written_forms(OPTIMIZERS, OPTIMIZER_ALIASES, lambda v: experiment(optimizer=v)),
    written_forms(INITIALIZERS, INITIALIZER_ALIASES, lambda v: experiment(kernel_initializer=v)),
    written_forms(REGULARIZERS, REGULARIZER_ALIASES, lambda v: experiment(kernel_regularizer=v)),
))


def test_every_bare_name_and_scalar_shorthand_is_judged_as_validation_judges_it():
    differ = [written for written, data in CASES if editor_accepts(data) != pydantic_accepts(data)]
    assert differ == []


@pytest.mark.parametrize("written", [{"Dropout": 1.5}, {"Dense": 0}, {"Activation": "rleu"}, "Dense"])
def test_the_issue_s_layer_shorthands_are_errors_in_the_editor(written):
    assert not editor_accepts(experiment(layer=written))
    assert editor_accepts(experiment(layer={"Dense": 64}))


def test_the_issue_s_optimizer_and_regularizer_shorthands_are_errors_in_the_editor():
    assert not editor_accepts(experiment(optimizer={"SGD": -0.1}))
    assert not editor_accepts(experiment(kernel_regularizer={"l2": -1.0}))
    assert editor_accepts(experiment(optimizer={"SGD": 0.1}, kernel_regularizer={"l2": 1e-4}))


def with_edits(*edits) -> dict:
    data = experiment()
    data["models"]["B"] = {"extends": "A", "edit": list(edits)}
    return data


GOOD_EDITS = [{"replace": 0, "with": [{"Dense": 8}, "$block"]}, {"insert_before": "out", "with": ["Flatten"]},
              {"insert_after": -1, "with": [{"$block": {"units": 3}}]}, {"set": 0, "with": {"units": 16}},
              {"remove": 1}]
BAD_EDITS = [{"replace": 0, "with": {"Dense": 99}}, {"remove": 1, "with": [{"Dense": 3}]},
             {"set": 1, "with": [{"Dense": 3}]}, {"replace": 0, "remove": 1}, {"insert_after": 0},
             {"insert_before": 0, "with": [{"Dense": 0}]}, {"with": [{"Dense": 3}]}, {"set": 0, "with": {}},
             {"replace": 1.5, "with": ["Flatten"]}]


@pytest.mark.parametrize("edit", GOOD_EDITS, ids=str)
def test_each_edit_form_is_accepted(edit):
    assert editor_accepts(with_edits(edit))


@pytest.mark.parametrize("edit", BAD_EDITS, ids=str)
def test_each_malformed_edit_is_an_error(edit):
    assert not editor_accepts(with_edits(edit))


LIBRARY = {"include": {"other": "other.yaml"},
           "blocks": {"dense_bn": {"params": {"units": 64}, "layers": [{"Dense": "${units}"}]}},
           "models": {"mlp": {"layers": ["Flatten", {"Dense": 10}]}, "child": {"extends": "mlp"}}}


def test_a_library_file_is_not_asked_for_name_and_data():
    assert editor_accepts(LIBRARY)
    assert editor_accepts({"blocks": LIBRARY["blocks"]})
    assert editor_accepts({"models": LIBRARY["models"]})


def test_a_library_s_models_are_checked_like_an_experiment_s():
    assert not editor_accepts({"models": {"mlp": {"layers": [{"Dense": 0}]}}})
    assert not editor_accepts({"models": {"mlp": {"label": "no layers, no extends"}}})
    assert not editor_accepts({"models": {"mlp": {"layers": ["Flatten"], "lyers": []}}})


@pytest.mark.parametrize("missing", ["name", "data", "models"])
def test_an_experiment_still_needs_name_data_and_models(missing):
    data = experiment()
    del data[missing]
    assert not editor_accepts(data)


def test_an_empty_file_is_neither():
    assert not editor_accepts({})
    assert not editor_accepts({"include": {"other": "other.yaml"}})


def test_acc_is_a_metric_and_a_near_miss_still_gets_its_hint():
    data = experiment()
    data["compile"]["metrics"] = ["acc", "accuracy"]
    assert pydantic_accepts(data) and editor_accepts(data)
    data["compile"]["metrics"] = ["acuracy"]
    with pytest.raises(ValidationError, match="did you mean 'accuracy'"):
        Experiment.model_validate(data)
    assert not editor_accepts(data)


def test_the_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(json_schema())


@pytest.mark.parametrize("data, library", [
    ({"models": {"A": {"layers": ["Flatten"]}}}, True),
    ({"blocks": {"b": {"layers": ["Flatten"]}}}, True),
    ({"compile": {"loss": "mse"}, "models": {"A": {"layers": ["Flatten"]}}}, False),
    ({"training": {"epochs": 1}, "blocks": {"b": {"layers": ["Flatten"]}}}, False),
    ({"name": "x", "models": {"A": {"layers": ["Flatten"]}}}, False),
    ({"data": {"dataset": "digits"}, "models": {"A": {"layers": ["Flatten"]}}}, False),
])
def test_the_editor_and_validate_draw_the_same_line_between_library_and_experiment(data, library):
    """An experiment is asked for its `name` and `data`, by the editor and by `validate` alike."""
    from factory.spec.compose import is_library

    asks = {e.message for e in VALIDATOR.iter_errors(data)}
    editor_says_experiment = bool(asks & {"'name' is a required property", "'data' is a required property"})
    assert is_library(data) is library
    assert editor_says_experiment is (not library)


def test_a_scalar_where_a_mapping_is_needed_says_so_in_plain_words():
    with pytest.raises(ValidationError) as info:
        Experiment.model_validate(experiment({"Flatten": 3}))
    assert "Flatten takes a mapping of its arguments (`Flatten: {}` for none), not 3" in str(info.value)
