"""Extends, edit and blocks: what a model is made of is exactly what its file says, or a located error."""

import textwrap

import pytest

from factory.errors import SpecError
from factory.spec.loader import load
from tests.conftest import ROOT

HEAD = """\
name: t
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
"""


def models_of(path, *overrides):
    return {n: m.model_dump(mode="json") for n, m in load(path, overrides).experiment.resolved().models.items()}


def errors(path, *overrides):
    with pytest.raises(SpecError) as e:
        load(path, overrides)
    return [str(i) for i in e.value.issues]


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
