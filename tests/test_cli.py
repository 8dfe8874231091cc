"""The command line: exit codes, messages on stderr, no traceback for user mistakes, no TF for validate."""

import json
import subprocess
import sys

import pytest

from tests.conftest import EXPERIMENTS, ROOT, TINY


def test_validate_ok_prints_a_summary_per_file(cli):
    code, out, err = cli("validate", *EXPERIMENTS)
    assert code == 0 and err == ""
    assert f"{EXPERIMENTS[0]}: ok: experiment 'abc', 3 model(s) (A, B, C), dataset fashion_mnist, 10 epoch(s) x 1 seed(s)" in out


def test_validate_reports_every_error_and_exits_2(cli, write):
    path = write(TINY.replace("Dense: 16\n", "Dens: 16\n").replace("epochs: 2", "epochs: 0"))
    code, out, err = cli("validate", path)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"{path}:4:20: training.epochs: input should be greater than 0, got 0",
        f"{path}:16:9: models.B.layers[1]: unknown layer 'Dens'; did you mean 'Dense'?",
    ]


def test_validate_never_imports_tensorflow():
    code = ("import sys; from factory.cli import main; rc = main(['validate', %r]); "
            "print(rc, any(m == 'tensorflow' or m.startswith(('tensorflow.', 'keras')) for m in sys.modules))"
            % str(EXPERIMENTS[0]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split()[-2:] == ["0", "False"]


def test_python_dash_m_subprocess_has_no_traceback_for_user_mistakes(write):
    path = write("name: x\nmodels: [1, 2]\n")
    out = subprocess.run([sys.executable, "-m", "factory", "validate", str(path)], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{path}:2:9: models: input should be a valid dictionary, got a list" in out.stderr


def test_schema_is_json_with_descriptions(cli):
    code, out, _ = cli("schema")
    schema = json.loads(out)
    assert code == 0 and schema["title"] == "factory experiment"
    assert schema["properties"]["models"]["description"] == "the models, by name"


def test_show_prints_the_parameter_counts(cli):
    code, out, _ = cli("show", ROOT / "experiments" / "abc.yaml")
    assert code == 0
    assert "model A: 52,650 parameters" in out and "model B: 53,034 parameters" in out
    assert "model C: 53,034 parameters" in out


def test_show_resolved_prints_the_expanded_spec(cli):
    code, out, _ = cli("show", "--resolved", ROOT / "experiments" / "abc.yaml", "--set", "training.epochs=2")
    assert code == 0 and "epochs: 2" in out and "LeakyReLU:\n        negative_slope: 0.2" in out


def test_run_on_an_unusable_output_folder_fails_before_training(cli, write, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli("run", write(TINY), "--out", blocker)
    assert code == 2 and "is a file" in err


def test_run_and_compare(cli, write, tmp_path):
    path = write(TINY.replace("epochs: 2", "epochs: 1"))
    assert cli("run", path, "--out", tmp_path / "one", "--profile")[0] == 0
    code, _, err = cli("run", path, "--out", tmp_path / "two", "--set", "models.A.training.epochs=2")
    assert code == 0 and "[1/2] model A (1/2) seed 0 (1/1): epoch 2/2" in err
    code, out, _ = cli("compare", tmp_path / "one", tmp_path / "two", "--out", tmp_path / "cmp")
    assert code == 0
    assert str(tmp_path / "one") + "/A" in out and str(tmp_path / "two") + "/B" in out
    assert (tmp_path / "cmp" / "val_loss.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = cli("compare", tmp_path / "nothing")
    assert code == 2 and "has no results.json" in err
