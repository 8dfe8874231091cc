"""Composition: include, package libraries, extends + edit, parameterised blocks, sweeps, and errors."""

import sys
import textwrap

import pytest

from factory.errors import SpecError
from factory.spec.loader import load
from tests.conftest import ROOT

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

HEAD = """\
name: t
data: {dataset: digits}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
"""


def models_of(path, *overrides):
    return {n: m.model_dump(mode="json") for n, m in load(path, overrides).experiment.resolved().models.items()}


def errors(path):
    with pytest.raises(SpecError) as e:
        load(path)
    return [str(i) for i in e.value.issues]


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
        "<--set models.m-4-tanh.training.epochs=7>:1:1: models.m-4-tanh.training.epochs: 'm-4-tanh' is a "
        "variant of the sweep of model 'm', made after overrides apply: set models.m.<field> to change "
        "every variant, or change models.m.sweep"]


def test_an_error_in_an_included_file_names_that_file_and_the_chain(write):
    write(LIBRARY.replace("      - Dense: ${units}", "      - Dens: ${units}"), "lib.yaml")
    path = write(HEAD + "include: {lib: lib.yaml}\nmodels:\n  A:\n    input_shape: [8, 8]\n"
                        "    layers: [Flatten, $lib.dense_bn]\n")
    lib = path.parent / "lib.yaml"
    assert errors(path) == [f"{lib}:5:9: models.A.layers[1]: unknown layer 'Dens'; did you mean 'Dense'? "
                            f"(used from {path}:8:23)"]


@pytest.mark.parametrize("body,message", [
    ("models:\n  A: {extends: B}\n  B: {extends: A}\n", "models.A.extends: models extend each other in a cycle: A -> B -> A"),
    ("blocks:\n  x: {layers: [$y]}\n  y: {layers: [$x]}\nmodels:\n  A: {input_shape: [2], layers: [$x]}\n",
     "blocks use each other in a cycle: x -> y -> x"),
    ("include: {lib: nowhere.yaml}\nmodels:\n  A: {extends: lib.A}\n", "include.lib: no such file:"),
    ("include: {lib: 'pkg://no_such_package_here/x.yaml'}\nmodels:\n  A: {extends: lib.A}\n",
     "include.lib: no installed package 'no_such_package_here'"),
    ("models:\n  Alpha: {input_shape: [2], layers: [Dense: 1]}\n  B: {extends: Alpah}\n", "models.B.extends: no model 'Alpah'; did you mean 'Alpha'?"),
    ("models:\n  A: {input_shape: [2], layers: [$dense_bm]}\n", "models.A.layers[0]: no block 'dense_bm'"),
    ("models:\n  A: {input_shape: [2], layers: [Dense: 1]}\n  B: {extends: A, edit: [{replace: 5, with: []}]}\n",
     "models.B.edit[0].replace: '5' is not a layer of the parent model: it has 1 layers"),
    ("models:\n  A: {input_shape: [2], layers: [Dense: 1]}\n  B: {extends: A, edit: [{remove: 0}, {set: 0, with: {units: 2}}]}\n",
     "models.B.edit[1].set: layer 0 is already changed by the edit at"),
    ("models:\n  A: {input_shape: [2], layers: [Dense: 1]}\n  B: {extends: A, edit: [{replce: 0}]}\n",
     "unknown key 'replce'; did you mean 'replace'?"),
    ("models:\n  A: {input_shape: [2], layers: [Dense: 1], sweep: {layers.3.Dense.units: [1, 2]}}\n",
     "models.A.sweep.layers.3.Dense.units: 'layers.3.Dense.units' is not a field of model A"),
    ("blocks:\n  b: {params: [n], layers: ['Dense: ${m}']}\nmodels:\n  A: {input_shape: [2], layers: [{$b: {n: 1}}]}\n",
     "unknown parameter '${m}'"),
    ("blocks:\n  b: {params: [n], layers: [Dense: '${n}']}\nmodels:\n  A: {input_shape: [2], layers: [$b]}\n",
     "models.A.layers[0]: block 'b' needs parameter 'n'"),
])
def test_composition_mistakes_are_clear_errors(write, body, message):
    issues = errors(write(HEAD + body))
    assert any(message in i for i in issues), issues
    assert all(":" in i.split(" ")[0] for i in issues)
