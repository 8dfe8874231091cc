"""Sweeps: every combination is its own model, under a name that is unique, valid and says what differs."""

import textwrap

import pytest

from factory.spec.sweeps import NAME_LENGTH
from schemas.experiment import Identifier
from tests.conftest import SPEC_HEAD as HEAD, models_of, spec_errors as errors


def swept(write, sweep: str, layers: str = "[Flatten, Dense: {units: 10, activation: softmax}]", more: str = ""):
    return write(HEAD + f"models:\n  m:\n    input_shape: [8, 8]\n    layers: {layers}\n    sweep:\n"
                 + textwrap.indent(textwrap.dedent(sweep), "      ") + more)


@pytest.mark.parametrize("values,field", [
    ("[{Constant: -0.1}, {Constant: 0.1}]", "bias_initializer"),  # the slug loses the sign
    ("[{RandomNormal: {mean: 0.0, stddev: 0.05, seed: 10}}, {RandomNormal: {mean: 0.0, stddev: 0.05, seed: 11}}]",
     "kernel_initializer"),  # the slug is cut at the same place
    ('["x y", "x_y"]', "name"),  # two texts with one slug
])
def test_variants_whose_names_would_collide_are_all_kept(write, values, field):
    models = models_of(swept(write, f"layers.1.Dense.{field}: {values}\n"))
    assert len(models) == 2
    got = [m["layers"][1]["Dense"][field] for m in models.values()]
    assert got[0] != got[1]
    assert all(len(name) <= 64 and name.startswith("m-") for name in models)


def test_a_negative_value_keeps_its_sign_in_the_name(write):
    models = models_of(swept(write, "layers.1.Dense.bias_initializer: [{Constant: -0.1}, {Constant: 0.1}]\n"))
    assert list(models) == ["m-Constant_-0.1", "m-Constant_0.1"]
    assert models["m-Constant_-0.1"]["layers"][1]["Dense"]["bias_initializer"] == {"Constant": {"value": -0.1}}


@pytest.mark.parametrize("sweep,expected", [
    ("layers.1.Dense.units: [8, 16]\nlayers.1: [{Dense: 32}, {Dense: 128}]\n",
     "10:7: models.m.sweep.layers.1: 'layers.1' overlaps 'layers.1.Dense.units' (line 9): both set "
     "layers.1.Dense.units, and one would overwrite the other; sweep a field in one axis only"),
    ('layers.1.Dense.units: [8, 16]\n"layers.1.Dense.activation, layers.1.Dense.units": [relu, tanh]\n',
     "10:7: models.m.sweep.layers.1.Dense.activation, layers.1.Dense.units: 'layers.1.Dense.units' overlaps "
     "'layers.1.Dense.units' (line 9): both set layers.1.Dense.units, and one would overwrite the other; "
     "sweep a field in one axis only"),
    ('"layers.1.Dense, layers.1.Dense.units": [{units: 3}, {units: 4}]\n',
     "9:7: models.m.sweep.layers.1.Dense, layers.1.Dense.units: 'layers.1.Dense.units' overlaps "
     "'layers.1.Dense' in the same key: both set layers.1.Dense.units, and one would overwrite the other; "
     "sweep a field in one axis only"),
])
def test_two_axes_that_set_the_same_field_are_an_error(write, sweep, expected):
    path = swept(write, sweep)
    assert errors(path) == [f"{path}:{expected}"]


def test_axes_that_only_share_a_prefix_of_their_text_do_not_overlap(write):
    path = swept(write, "layers.1.Dense.units: [8, 16]\nlayers.1.Dense.use_bias: [true, false]\n")
    assert len(models_of(path)) == 4


def test_a_value_repeated_in_an_axis_is_an_error(write):
    path = swept(write, "layers.1.Dense.units: [8, 16, 8]\n")
    assert errors(path) == [f"{path}:9:37: models.m.sweep.layers.1.Dense.units[2]: 8 is already value 0 of this "
                            "axis: each value makes one variant"]


def test_a_variant_name_too_long_for_a_model_name_is_cut_and_ends_with_a_digest(write):
    models = models_of(swept(write, """\
        layers.1.Dense.kernel_initializer: [{RandomNormal: {mean: 0.0, stddev: 0.05}}, he_normal]
        layers.1.Dense.bias_initializer: [{RandomUniform: {minval: 0.0, maxval: 0.05}}, zeros]
        """))
    assert list(models) == ["m-RandomNormal_mean_0.0_stddev_0.05-RandomUniform_minva-2a7416a9",
                            "m-RandomNormal_mean_0.0_stddev_0.05-zeros",
                            "m-he_normal-RandomUniform_minval_0.0_maxval_0.05", "m-he_normal-zeros"]
    first = models["m-RandomNormal_mean_0.0_stddev_0.05-RandomUniform_minva-2a7416a9"]
    assert first["label"] == "m (kernel_initializer=RandomNormal(mean=0.0, stddev=0.05), " \
                             "bias_initializer=RandomUniform(minval=0.0, maxval=0.05))"


def test_the_longest_variant_name_is_a_model_name():
    limits = [m.max_length for m in Identifier.__metadata__[0].metadata if hasattr(m, "max_length")]
    assert limits == [NAME_LENGTH]


@pytest.mark.parametrize("order", ["sweep first", "model first"])
def test_a_variant_named_like_another_model_is_blamed_on_the_sweep(write, order):
    swept_model = "  m2:\n    input_shape: [8]\n    layers: [Dense: 10]\n    sweep: {layers.0.Dense.activation: [softmax, sigmoid]}\n"
    other = "  m2-softmax: {input_shape: [8], layers: [Dense: 10]}\n"
    body = swept_model + other if order == "sweep first" else other + swept_model
    path = write(HEAD + "models:\n" + body)
    line = 8 if order == "sweep first" else 9
    other_line = 9 if order == "sweep first" else 5
    assert errors(path) == [f"{path}:{line}:5: models.m2.sweep: the sweep makes a model named 'm2-softmax', which "
                            f"is the name of the model at line {other_line}: rename one of them"]


def test_two_sweeps_that_make_one_name_are_an_error_at_the_second(write):
    path = write(HEAD + textwrap.dedent("""\
        models:
          m:
            input_shape: [8]
            layers: [Dense: 10]
            sweep: {layers.0.Dense.name: [a-b]}
          m-a:
            input_shape: [8]
            layers: [Dense: 10]
            sweep: {layers.0.Dense.name: [b]}
        """))
    assert errors(path) == [f"{path}:12:5: models.m-a.sweep: the sweep makes a model named 'm-a-b', which the "
                            "sweep of model 'm' at line 8 makes too: rename one of them"]


def test_a_field_below_a_section_the_model_inherits_is_swept_on_the_experiments_value(write):
    path = write(HEAD.replace("optimizer: adam", "optimizer: {Adam: {learning_rate: 0.001, beta_1: 0.8}}")
                 + textwrap.dedent("""\
        training: {seeds: [0, 1]}
        models:
          m:
            input_shape: [8]
            layers: [Dense: 10]
            sweep:
              compile.optimizer.Adam.learning_rate: [0.001, 0.003]
              training.seeds.1: [5]
          own:
            input_shape: [8]
            layers: [Dense: 10]
            compile: {optimizer: {Adam: {beta_2: 0.9}}}
            sweep: {compile.optimizer.Adam.learning_rate: [0.01]}
        """))
    models = models_of(path)
    assert {n: m["compile"]["optimizer"] for n, m in models.items()} == {
        "m-0.001-5": {"Adam": {"learning_rate": 0.001, "beta_1": 0.8}},
        "m-0.003-5": {"Adam": {"learning_rate": 0.003, "beta_1": 0.8}},
        "own-0.01": {"Adam": {"learning_rate": 0.01, "beta_2": 0.9}},  # its own optimizer, not the experiment's
    }
    assert models["m-0.003-5"]["training"]["seeds"] == [0, 5]
    assert models["m-0.003-5"]["compile"]["loss"] == "sparse_categorical_crossentropy"


def test_a_field_below_an_object_named_in_a_short_form_is_swept_on_it_spelled_out(write):
    path = write(HEAD + textwrap.dedent("""\
        models:
          m:
            input_shape: [8]
            layers: [{Dense: {units: 10, kernel_initializer: he_normal}}]
            sweep:
              compile.optimizer.Adam.learning_rate: [0.001, 0.003]
              layers.0.Dense.kernel_initializer.HeNormal.seed: [1]
        """))
    models = models_of(path)
    assert [m["compile"]["optimizer"] for m in models.values()] == [{"Adam": {"learning_rate": 0.001}},
                                                                     {"Adam": {"learning_rate": 0.003}}]
    assert {str(m["layers"][0]["Dense"]["kernel_initializer"]) for m in models.values()} == {"{'HeNormal': {'seed': 1}}"}


def test_a_field_below_an_inherited_value_that_has_no_such_field_is_an_error(write):
    path = write(HEAD + textwrap.dedent("""\
        models:
          m:
            input_shape: [8]
            layers: [Dense: 10]
            sweep: {compile.optimizer.SGD.momentum: [0.5, 0.9], training.seeds.0: [1]}
        """))
    assert errors(path) == [
        f"{path}:8:13: models.m.sweep.compile.optimizer.SGD.momentum: 'compile.optimizer.SGD.momentum' "
        "is not a field of model m (after its extends and edits): its compile.optimizer is adam",
        f"{path}:8:57: models.m.sweep.training.seeds.0: 'training.seeds.0' is not a field of model m "
        "(after its extends and edits): neither the model nor the experiment writes training.seeds, so "
        "there is nothing inside it to sweep (write it in the experiment's training:)"]


def test_an_empty_sweep_key_is_not_a_field(write):
    path = swept(write, '"": [1]\n')
    assert errors(path) == [f"{path}:9:7: models.m.sweep.: '' is not a field of model m (after its extends and edits)"]


def test_a_sweep_too_large_to_expand_is_refused_at_the_sweep(write):
    """20 variants of a 5,000-layer model took 12.8 s and are refused in under a second (review item 18)."""
    layers = "[" + ", ".join(["Dense: 4"] * 5000) + "]"
    path = swept(write, "layers.0.Dense.units: [" + ", ".join(map(str, range(1, 21))) + "]", layers)
    assert errors(path) == [f"{path}:9:7: models.m.sweep: the sweep makes 20 variants of a model of 10,004 values: "
                            "200,080 values, more than the 200,000 a sweep may expand to; sweep fewer values or a "
                            "smaller model"]


def test_the_items_of_a_list_are_taken_as_one_at_a_time_would_take_them(write):
    from factory.spec.yaml_reader import read_file

    doc = read_file(write(HEAD + "models:\n  m:\n    layers:\n      - Flatten\n      - Dense: {units: 3, name: x}\n"
                                 "      - [1, {a: 2}]\n"))
    loc, chain = ("models", "m", "layers"), (doc.positions[("models",)],)
    taken = doc.items(loc, chain)
    assert len(taken) == 3
    for i, item in enumerate(taken):
        one = doc.at(loc + (i,), chain)
        assert (item.data, item.positions, item.key_positions, item.texts) == \
               (one.data, one.positions, one.key_positions, one.texts)
