"""Composition: include, package libraries, extends + edit, parameterised blocks, sweeps, and errors."""

import sys
import textwrap

import pytest

from factory.errors import SpecError
from factory.spec.loader import load
from tests.conftest import ROOT
from tests.conftest import SPEC_HEAD as HEAD, models_of, spec_errors as errors

CONTRACT = """\
name: abc
data: {dataset: fashion_mnist}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
training: {epochs: 10, batch_size: 32, seeds: [0]}
models:
  A:
    label: ReLU
    layers:
      - Flatten: {input_shape: [28, 28]}
      - Dense: {units: 64, activation: relu}
      - Dense: {units: 32, activation: relu}
      - Dense: {units: 10, activation: softmax}
  B:
    label: BatchNorm + ReLU
    layers:
      - Flatten: {input_shape: [28, 28]}
      - Dense: 64
      - BatchNormalization: {}
      - Activation: relu
      - Dense: 32
      - BatchNormalization: {}
      - Activation: relu
      - Dense: {units: 10, activation: softmax}
  C:
    label: BatchNorm + LeakyReLU
    layers:
      - Flatten: {input_shape: [28, 28]}
      - Dense: 64
      - BatchNormalization: {}
      - LeakyReLU: {alpha: 0.2}
      - Dense: 32
      - BatchNormalization: {}
      - LeakyReLU: {alpha: 0.2}
      - Dense: {units: 10, activation: softmax}
"""

LIBRARY = """\
blocks:
  dense_bn:
    params: {units: 64, activation: {Activation: relu}}
    layers:
      - Dense: ${units}
      - BatchNormalization: {}
      - ${activation}
  named:
    params: [size]
    layers:
      - Dense: {units: "${size}", name: "dense_${size}"}
models:
  A:
    label: ReLU
    compile: {optimizer: sgd}
    training: {epochs: 3, batch_size: 16}
    layers:
      - Flatten: {input_shape: [28, 28]}
      - Dense: {units: 64, activation: relu}
      - Dense: {units: 32, activation: relu}
      - Dense: {units: 10, activation: softmax}
"""


def test_abc_written_with_extends_and_blocks_equals_the_contract_syntax(write):
    ours = models_of(ROOT / "experiments" / "abc.yaml")
    contract = models_of(write(CONTRACT))
    for name in "ABC":
        for style in ("color", "linestyle"):  # abc.yaml adds the seed's plot styles
            ours[name].pop(style), contract[name].pop(style)
        assert ours[name] == contract[name], name


def test_two_files_include_extends_and_block_with_parameters(write):
    write(LIBRARY, "lib.yaml")
    path = write(HEAD + textwrap.dedent("""\
        include: {lib: lib.yaml}
        models:
          A: {extends: lib.A}
          B:
            extends: lib.A
            label: mine
            training: {epochs: 5}
            edit:
              - {replace: 1, with: [$lib.dense_bn: {units: 8}]}
              - {replace: 2, with: [{$lib.dense_bn: {units: 4, activation: {LeakyReLU: 0.2}}}]}
          N:
            input_shape: [8, 8]
            layers: [Flatten, {$lib.named: {size: 7}}, $lib.dense_bn]
        """))
    models = models_of(path)
    assert models["A"]["label"] == "A" and models["A"]["compile"]["optimizer"] == {"SGD": {}}
    assert models["B"]["label"] == "mine"
    assert (models["B"]["training"]["epochs"], models["B"]["training"]["batch_size"]) == (5, 16)
    assert models["B"]["layers"][1:7] == [{"Dense": {"units": 8}}, {"BatchNormalization": {}},
                                          {"Activation": {"activation": "relu"}}, {"Dense": {"units": 4}},
                                          {"BatchNormalization": {}}, {"LeakyReLU": {"negative_slope": 0.2}}]
    assert models["N"]["layers"][1] == {"Dense": {"name": "dense_7", "units": 7}}
    assert models["N"]["layers"][2] == {"Dense": {"units": 64}}


def test_a_spec_library_from_an_installed_package_is_found_never_run(write, tmp_path, monkeypatch):
    package = tmp_path / "site" / "team_specs"
    (package / "specs").mkdir(parents=True)
    marker = tmp_path / "imported"
    (package / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (package / "specs" / "mlp.yaml").write_text(LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = write(HEAD + "include: {team: 'pkg://team_specs/specs/mlp.yaml'}\nmodels:\n  A: {extends: team.A}\n")
    assert models_of(path)["A"]["layers"][1] == {"Dense": {"units": 64, "activation": "relu"}}
    assert not marker.exists() and "team_specs" not in sys.modules


def test_edits_by_index_name_and_from_the_end(write):
    path = write(HEAD + textwrap.dedent("""\
        models:
          P:
            input_shape: [8, 8]
            layers: [Flatten, {Dense: {units: 16, name: hidden}}, {Dense: 10}]
          Q:
            extends: P
            edit:
              - {insert_before: 0, with: [GaussianNoise: 0.1]}
              - {set: hidden, with: {units: 32, activation: tanh}}
              - {insert_after: hidden, with: [Dropout: 0.5]}
              - {remove: -1}
        """))
    layers = models_of(path)["Q"]["layers"]
    assert layers == [{"GaussianNoise": {"stddev": 0.1}}, {"Flatten": {}},
                      {"Dense": {"name": "hidden", "units": 32, "activation": "tanh"}}, {"Dropout": {"rate": 0.5}}]


def test_sweep_variants_are_named_and_labelled_by_what_differs():
    models = models_of(ROOT / "experiments" / "initializers.yaml")
    assert list(models) == ["mlp-glorot_uniform", "mlp-he_normal", "mlp-HeNormal_seed_42", "mlp-lecun_normal"]
    assert models["mlp-HeNormal_seed_42"]["label"] == "MLP 256 (kernel_initializer=HeNormal(seed=42))"
    assert models["mlp-he_normal"]["layers"][1]["Dense"]["kernel_initializer"] == {"HeNormal": {}}
    dropout = models_of(ROOT / "experiments" / "dropout.yaml")
    assert [m["layers"][2]["Dropout"]["rate"] for m in dropout.values()] == [0.0, 0.25, 0.5]
    assert [m["layers"][4]["Dropout"]["rate"] for m in dropout.values()] == [0.0, 0.25, 0.5]


def test_a_grid_sweep_and_an_override_of_the_swept_model(write):
    path = write(HEAD + textwrap.dedent("""\
        models:
          m:
            input_shape: [8, 8]
            layers: [Flatten, {Dense: {units: 8, activation: relu}}, {Dense: 10}]
            sweep:
              layers.1.Dense.units: [4, 8]
              layers.1.Dense.activation: [relu, tanh]
        """))
    models = models_of(path, "models.m.training.epochs=7")
    assert list(models) == ["m-4-relu", "m-4-tanh", "m-8-relu", "m-8-tanh"]  # no phantom model `m`
    assert models["m-8-tanh"]["label"] == "m (units=8, activation=tanh)"
    assert {m["training"]["epochs"] for m in models.values()} == {7}
    with pytest.raises(SpecError) as e:
        load(path, ["models.m-4-tanh.training.epochs=7"])
    assert [str(i) for i in e.value.issues] == [
        "<--set models.m-4-tanh.training.epochs=7>:1:1: models.m-4-tanh.training.epochs: no model 'm-4-tanh': "
        "the variants of model 'm' (m-...) are made by its sweep, after overrides apply; set models.m.<field> "
        "to change every variant, or change models.m.sweep"]


def test_an_error_in_an_included_file_names_that_file_and_the_chain(write):
    write(LIBRARY.replace("      - Dense: ${units}", "      - Dens: ${units}"), "lib.yaml")
    path = write(HEAD + "include: {lib: lib.yaml}\nmodels:\n  A:\n    input_shape: [8, 8]\n"
                        "    layers: [Flatten, $lib.dense_bn]\n")
    lib = path.parent / "lib.yaml"
    assert errors(path) == [f"{lib}:5:9: models.A.layers[1]: unknown layer 'Dens'; did you mean 'Dense'? "
                            f"(used from {path}:8:23)"]


@pytest.mark.parametrize("body,expected", [
    ("models:\n  A: {extends: B}\n  B: {extends: A}\n",
     ["5:16: models.A.extends: models extend each other in a cycle: A -> B -> A",
      "6:16: models.B.extends: models extend each other in a cycle: B -> A -> B"]),
    ("blocks:\n  x: {layers: [$y]}\n  y: {layers: [$x]}\nmodels:\n  A: {input_shape: [2], layers: [$x]}\n",
     ["6:16: blocks.y.layers[0]: blocks use each other in a cycle: x -> y -> x"]),
    ("include: {lib: nowhere.yaml}\nmodels:\n  A: {extends: lib.A}\n",
     ["4:16: include.lib: no such file: {dir}/nowhere.yaml"]),
    ("include: {lib: 'pkg://no_such_package_here/x.yaml'}\nmodels:\n  A: {extends: lib.A}\n",
     ["4:16: include.lib: no installed package 'no_such_package_here'"]),
    ("models:\n  Alpha: {input_shape: [2], layers: [Dense: 1]}\n  B: {extends: Alpah}\n",
     ["6:16: models.B.extends: no model 'Alpah'; did you mean 'Alpha'?"]),
    ("models:\n  A: {input_shape: [2], layers: [$dense_bm]}\n", ["5:34: models.A.layers[0]: no block 'dense_bm'"]),
    ("models:\n  A: {input_shape: [2], layers: [Dense: 1]}\n  B: {extends: A, edit: [{replace: 5, with: []}]}\n",
     ["6:36: models.B.edit[0].replace: '5' is not a layer of the parent model: it has 1 layers (0 to 0, "
      "negative counts from the end, or a layer's name)"]),
    ("models:\n  A: {input_shape: [2], layers: [Dense: 1]}\n  B: {extends: A, edit: [{remove: 0}, {set: 0, with: {units: 2}}]}\n",
     ["6:45: models.B.edit[1].set: layer 0 is already changed by the edit at {dir}/spec.yaml:6:26"]),
    ("models:\n  A: {input_shape: [2], layers: [Dense: 1]}\n  B: {extends: A, edit: [{replce: 0}]}\n",
     ["6:27: models.B.edit[0].replce: unknown key 'replce'; did you mean 'replace'?"]),
    ("models:\n  A: {input_shape: [2], layers: [Dense: 1], sweep: {layers.3.Dense.units: [1, 2]}}\n",
     ["5:53: models.A.sweep.layers.3.Dense.units: 'layers.3.Dense.units' is not a field of model A "
      "(after its extends and edits)"]),
    ("blocks:\n  b: {params: [n], layers: ['Dense: ${m}']}\nmodels:\n  A: {input_shape: [2], layers: [{$b: {n: 1}}]}\n",
     ["5:29: unknown parameter '${m}' (used from {dir}/spec.yaml:7:34)"]),
    ("blocks:\n  b: {params: [n], layers: [Dense: '${n}']}\nmodels:\n  A: {input_shape: [2], layers: [$b]}\n",
     ["7:34: models.A.layers[0]: block 'b' needs parameter 'n'"]),
])
def test_composition_mistakes_are_clear_errors(write, body, expected):
    path = write(HEAD + body)
    assert errors(path) == [f"{path}:{e}".replace("{dir}", str(path.parent)) for e in expected]


def test_every_malformed_edit_is_a_located_error_never_a_skipped_step(write):
    path = write(HEAD + textwrap.dedent("""\
        models:
          A: {input_shape: [8, 8], layers: [Flatten, Dense: 64, Dense: 10]}
          B:
            extends: A
            edit:
              - {replace: 0, with: {Dense: 99}}
              - {remove: 1, with: [Dense: 3]}
              - {set: 2, with: [units: 3]}
              - {insert_after: 0}
              - replace
              - {replace: 1, remove: 2}
              - {insert_before: 0, with: Dense}
              - {set: 7, with: []}
        """))
    assert errors(path) == [f"{path}:{e}" for e in [
        "9:28: models.B.edit[0].with: `replace` takes `with:` a list of layers, e.g. with: [Dense: 64], "
        "got a mapping (write it as a list: with: [...])",
        "10:21: models.B.edit[1].with: `remove` takes no `with:`: it removes the layer (to put layers in its "
        "place, use `replace`)",
        "11:24: models.B.edit[2].with: `set` takes `with:` a mapping of arguments, e.g. with: {units: 16}, "
        "got a list",
        "12:9: models.B.edit[3]: `insert_after` needs `with:` (the layers), e.g. {insert_after: 1, with: [Dense: 64]}",
        "13:9: models.B.edit[4]: an edit is a mapping: one of replace, remove, set, insert_before, insert_after "
        "with a layer position, e.g. {replace: 1, with: [Dense: 64]}",
        "14:9: models.B.edit[5]: an edit is exactly one of replace, remove, set, insert_before, insert_after; "
        "this one has replace, remove",
        "15:34: models.B.edit[6].with: `insert_before` takes `with:` a list of layers, e.g. with: [Dense: 64], "
        "got 'Dense' (write it as a list: with: [...])",
        "16:15: models.B.edit[7].set: '7' is not a layer of the parent model: it has 3 layers (0 to 2, "
        "negative counts from the end, or a layer's name)",
        "16:24: models.B.edit[7].with: `set` takes `with:` a mapping of arguments, e.g. with: {units: 16}, "
        "got a list",
    ]]


def test_set_changes_an_argument_of_a_layer_written_in_a_short_form(write):
    path = write(HEAD + textwrap.dedent("""\
        models:
          A: {input_shape: [8, 8], layers: [Flatten, Dense: 64, Dense: 10]}
          B: {extends: A, edit: [{set: 1, with: {activation: relu}}, {set: 0, with: {data_format: channels_last}}]}
        """))
    assert models_of(path)["B"]["layers"][:2] == [{"Flatten": {"data_format": "channels_last"}},
                                                  {"Dense": {"units": 64, "activation": "relu"}}]


def test_a_broken_extends_hides_no_other_mistake(write):
    path = write(textwrap.dedent("""\
        name: t
        data: {dataset: digits}
        compile: {optimizer: adamm, loss: sparse_categorical_crossentropy}
        training: {epochs: 0}
        models:
          A: {input_shape: [8, 8], layers: [Flatten, Dens: 10]}
          B: {extends: nope, training: {epochs: 0}}
          C:
            input_shape: [8, 8]
            layers: [Flatten, Dense: 10]
            sweep: {layers.5.Dense.units: [1], training.epochz: [2], layers.1.Dense.units.x: [3]}
        """))
    assert errors(path) == [f"{path}:{e}" for e in [
        "3:22: compile.optimizer: unknown optimizer 'adamm'; did you mean 'adam'?",
        "4:20: training.epochs: input should be greater than 0, got 0",
        "6:46: models.A.layers[1]: unknown layer 'Dens'; did you mean 'Dense'?",
        "7:16: models.B.extends: no model 'nope'; known: A, B, C",
        "7:41: models.B.training.epochs: input should be greater than 0, got 0",
        "11:13: models.C.sweep.layers.5.Dense.units: 'layers.5.Dense.units' is not a field of model C "
        "(after its extends and edits)",
        "11:62: models.C.sweep.layers.1.Dense.units.x: 'layers.1.Dense.units.x' is not a field of model C "
        "(after its extends and edits)",
    ]]


def test_a_missing_include_suggests_the_files_nearby(write):
    write(LIBRARY, "library.yaml")
    path = write(HEAD + "include: {lib: libary.yaml}\nmodels:\n  A: {extends: lib.A}\n")
    assert errors(path) == [f"{path}:4:16: include.lib: no such file: {path.parent}/libary.yaml; "
                            "did you mean 'library.yaml'?"]


def test_a_missing_package_file_says_it_must_be_package_data(write, tmp_path, monkeypatch):
    package = tmp_path / "site" / "team_specs"
    (package / "specs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "specs" / "mlp.yaml").write_text(LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = write(HEAD + "include: {team: 'pkg://team_specs/specs/mpl.yaml'}\nmodels:\n  A: {extends: team.A}\n")
    assert errors(path) == [f"{path}:4:17: include.team: package 'team_specs' has no file specs/mpl.yaml; "
                            "did you mean 'specs/mlp.yaml'? (a spec file in a package must be installed with "
                            "it, as package data)"]


def test_validate_checks_a_library_file_as_a_library(write, cli):
    lib = write(LIBRARY, "lib.yaml")
    code, out, err = cli("validate", lib)
    assert (code, err) == (0, "")
    assert out == f"{lib}: ok: library, 1 model(s) (A), 2 block(s) (dense_bn, named)\n"
    bad = write(LIBRARY.replace("      - BatchNormalization: {}", "      - BatchNormalization: {momentum: 2}")
                .replace("    training: {epochs: 3, batch_size: 16}", "    training: {epochs: 0}")
                + "  B: {extends: A, edit: [{remove: 0, with: [Dense: 1]}]}\n", "bad.yaml")
    code, out, err = cli("validate", bad)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"{bad}:{e}" for e in [
        "6:40: blocks.dense_bn.layers[1].BatchNormalization.momentum: input should be less than 1, got 2",
        "16:24: models.A.training.epochs: input should be greater than 0, got 0",
        "22:38: models.B.edit[0].with: `remove` takes no `with:`: it removes the layer (to put layers in its "
        "place, use `replace`)",
    ]]


def test_include_and_blocks_of_the_wrong_shape_or_unused_and_missing_are_errors(write):
    path = write(HEAD + "include: {lib: nowhere.yaml}\nblocks: [a]\nmodels:\n  A: {input_shape: [2], layers: [Dense: 1]}\n")
    assert errors(path) == [f"{path}:4:16: include.lib: no such file: {path.parent}/nowhere.yaml",
                            f"{path}:5:9: blocks: `blocks` maps block names to {{params: ..., layers: [...]}}"]
    path = write(HEAD + "include: [lib.yaml]\nmodels:\n  A: {input_shape: [2], layers: [Dense: 1]}\n")
    assert errors(path) == [f"{path}:4:10: include: `include` maps short names to files, e.g. "
                            "include: {lib: specs/mlp.yaml}"]
