"""Extends, edit and blocks: what a model is made of is exactly what its file says, or a located error."""

import textwrap

import pytest

from tests.conftest import ROOT
from tests.conftest import SPEC_HEAD as HEAD, models_of, spec_errors as errors


def test_edit_and_layers_together_are_an_error_not_a_dropped_edit(write):
    path = write(HEAD + textwrap.dedent("""\
        models:
          A: {input_shape: [8, 8], layers: [Flatten, Dense: 64, Dense: 10]}
          B:
            extends: A
            edit:
              - {insert_after: 1, with: [Dropout: 0.5]}
            layers: [Flatten, Dense: 32, Dense: 10]
        """))
    assert errors(path) == [
        f"{path}:8:5: models.B.edit: `edit` changes the layers B takes from A, and `layers:` replaces them: "
        "write one of the two (edit: to change A's layers, layers: to give B its own)"]


def test_a_block_passes_its_parameters_into_a_block_it_uses(write):
    path = write(HEAD + textwrap.dedent("""\
        blocks:
          inner:
            params: [u, size]
            layers: [{Dense: {units: "${size}", name: "d_${u}"}}]
          outer:
            params: {tag: x, units: 32}
            layers: [{$inner: {u: "${tag}", size: "${units}"}}, Dropout: 0.1]
        models:
          A: {input_shape: [8, 8], layers: [Flatten, $outer, {$outer: {tag: y, units: 5}}, Dense: 10]}
        """))
    layers = models_of(path)["A"]["layers"]
    assert layers[1:5] == [{"Dense": {"units": 32, "name": "d_x"}}, {"Dropout": {"rate": 0.1}},
                           {"Dense": {"units": 5, "name": "d_y"}}, {"Dropout": {"rate": 0.1}}]


@pytest.mark.parametrize("parent,shown", [
    ("\n    - Flatten\n    - Dense: 10", "a list, not a mapping of layers and settings (is `layers:` missing above its list?)"),
    (" null", "nothing, not a mapping of layers and settings"),
    (" Dense", "'Dense', not a mapping of layers and settings"),
])
def test_extending_a_model_that_is_not_a_mapping_is_an_error(write, parent, shown):
    path = write(HEAD + f"models:\n  A:{parent}\n  B: {{extends: A, label: child}}\n")
    line = 5 + parent.count("\n") + 1
    assert errors(path)[-1] == f"{path}:{line}:16: models.B.extends: model 'A' cannot be extended: it is {shown}"


def test_extending_a_library_model_that_is_not_a_mapping_is_an_error(write):
    write("models:\n  A:\n    - Flatten\n", "lib.yaml")
    path = write(HEAD + "include: {lib: lib.yaml}\nmodels:\n  B: {extends: lib.A}\n")
    assert errors(path) == [f"{path}:6:16: models.B.extends: model 'lib.A' cannot be extended: it is a list, "
                            "not a mapping of layers and settings (is `layers:` missing above its list?)"]


def test_editing_a_parent_whose_layers_are_not_a_list_is_an_error(write):
    path = write(HEAD + textwrap.dedent("""\
        models:
          A: {layers: 5}
          B: {extends: A, edit: [{remove: 0}, {replce: 1}]}
          C: {extends: B, edit: [{remove: 0}]}
          D: {extends: A, training: {epochs: 0}}
        """))
    assert errors(path) == [f"{path}:{e}" for e in [
        "5:15: models.A.layers: input should be a valid list, got 5",
        "5:15: models.D.layers: input should be a valid list, got 5",  # D takes A's layers as they are
        "6:19: models.B.edit: `edit` changes the layers of A, but A has `layers: 5`, not a list",
        "6:40: models.B.edit[1].replce: unknown key 'replce'; did you mean 'replace'?",
        "8:38: models.D.training.epochs: input should be greater than 0, got 0",
    ]]


def test_an_override_that_breaks_the_layers_of_a_parent_is_an_error_not_a_crash():
    assert errors(ROOT / "experiments" / "abc.yaml", "models.A.layers=5") == [
        f"{ROOT / 'experiments' / 'abc.yaml'}:37:5: models.B.edit: `edit` changes the layers of A, but A has "
        "`layers: 5`, not a list",
        "<--set models.A.layers=5>:1:17: models.A.layers: input should be a valid list, got 5"]
