"""`factory compare`: like with like across folders, differences in every setting, from hand-made results."""

import json

from factory.results.compare import like_with_like


def experiment(learning_rate, models="ABC"):
    layers = {"A": [{"Flatten": {}}, {"Dense": {"units": 10}}],
              "B": [{"Flatten": {}}, {"Dense": {"units": 16}}, {"Dense": {"units": 10}}],
              "C": [{"Flatten": {}}, {"Dense": {"units": 32}}, {"Dense": {"units": 10}}],
              "D": [{"Dense": {"units": 10}}]}
    settings = {"compile": {"optimizer": {"Adam": {"learning_rate": learning_rate}},
                            "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
                "training": {"epochs": 2, "batch_size": 32, "seeds": [0, 1, 2]}}
    return {"name": "mlp", "data": {"dataset": "digits"},
            "models": {m: {"label": None, "layers": layers[m], "input_shape": None, **settings} for m in models}}


def write_folder(folder, learning_rate, shift, models="ABC"):
    """A results.json as `factory run` writes it: val_loss per model and seed, `shift` added."""
    runs = [{"model": m, "seed": s, "status": "completed", "error": None, "params": 100, "seconds_per_epoch": 0.1,
             "history": {"loss": [0.9, 0.6], "accuracy": [0.7, 0.8],
                         "val_loss": [1.0, 0.5 + 0.1 * i + 0.01 * s * s + shift * (1 + s)],
                         "val_accuracy": [0.6, 0.8 - 0.05 * i + 0.002 * s * s - shift * (2 - s)]}}
            for i, m in enumerate(models) for s in range(3)]
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"experiment": experiment(learning_rate, models), "runs": runs}))
    return folder


def test_two_learning_rates_compare_model_with_model_and_say_what_differs(cli, tmp_path):
    one = write_folder(tmp_path / "lr1", 0.001, 0.0)
    three = write_folder(tmp_path / "lr3", 0.003, 0.02)
    code, out, _ = cli("compare", one, three, "--out", tmp_path / "cmp")
    assert code == 0
    lines = [line for line in out.splitlines() if " vs " in line]
    change = "compile.optimizer: Adam(learning_rate=0.001) -> Adam(learning_rate=0.003)"
    # one line per model (was 15: every run against every other), each naming both metrics
    assert [line.split(": ")[0] for line in lines] == [f"{three}/{m} vs {one}/{m}" for m in "ABC"]
    assert all(f": {change}: val_loss: " in line and "; val_accuracy: " in line for line in lines)
    assert "same layers" not in out
    markdown = (tmp_path / "cmp" / "comparison.md").read_text()
    assert f"| {three}/A vs {one}/A | {change} | 3 |" in markdown


def test_reference_folder_and_models_without_a_namesake(cli, tmp_path):
    one = write_folder(tmp_path / "lr1", 0.001, 0.0)
    three = write_folder(tmp_path / "lr3", 0.003, 0.02, models="AD")
    code, out, _ = cli("compare", one, "--reference", three, "--out", tmp_path / "cmp")
    assert code == 0
    pairs = [line.split(": ")[0] for line in out.splitlines() if " vs " in line]
    # A against the reference's A; B and C, which it lacks, against its first model
    assert pairs == [f"{one}/A vs {three}/A", f"B vs {three}/A", f"C vs {three}/A"]


def test_like_with_like_rule():
    shown = [{"A": "x/A", "B": "x/B"}, {"A": "y/A", "B": "y/B", "E": "E"}, {"B": "z/B"}]
    assert like_with_like(shown) == [("x/A", "y/A"), ("x/B", "y/B"), ("x/A", "E"), ("x/B", "z/B")]
    assert like_with_like(shown, reference=2) == [("z/B", "x/A"), ("z/B", "x/B"), ("z/B", "y/A"), ("z/B", "y/B"),
                                                  ("z/B", "E")]


def test_the_results_part_imports_neither_training_nor_keras():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys, factory.results.compare, factory.results.report, factory.results.models; "
            "print(sorted(m for m in sys.modules if m.startswith(('factory.train', 'tensorflow', 'keras'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""}).stdout
    assert out.strip() == "[]"


def test_an_out_that_is_a_compared_folder_or_holds_results_is_refused(cli, tmp_path):
    one = write_folder(tmp_path / "lr1", 0.001, 0.0)
    three = write_folder(tmp_path / "lr3", 0.003, 0.02)
    before = {p.name: p.read_bytes() for p in one.iterdir()}
    code, _, err = cli("compare", one, three, "--out", one)
    assert code == 2 and f"--out {one} is one of the compared folders" in err
    other = write_folder(tmp_path / "other", 0.001, 0.0)
    code, _, err = cli("compare", one, three, "--out", other)
    assert code == 2 and f"--out {other} holds a results.json" in err
    assert {p.name: p.read_bytes() for p in one.iterdir()} == before
    assert not (other / "comparison.md").exists()


def test_a_folder_given_twice_is_counted_once(cli, tmp_path):
    one = write_folder(tmp_path / "lr1", 0.001, 0.0)
    code, out, err = cli("compare", one, tmp_path / "." / "lr1", "--out", tmp_path / "cmp")
    assert code == 0 and f"{tmp_path / '.' / 'lr1'} is {one} again: counted once" in err
    row = next(line for line in out.splitlines() if line.startswith("A "))
    assert row.split()[3] == "3"  # seeds: 3, not 6
