"""Data folders: the contract's syntax, the checks of a folder before training, and training streamed from one."""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import spec_errors

IMAGE_CONTRACT = """\
data:
  dataset: photos/              # a folder with one subfolder per class (relative to the spec file)
  image_size: [64, 64]          # images are resized to this
  color_mode: rgb               # rgb | grayscale | rgba
  test: photos_test/            # optional: a separate test folder; else test_split of the files
  test_split: 0.2               # held-out share when there is no test folder (a fixed, recorded split)
  cache: true                   # keep decoded examples after the first epoch (memory or a file)
"""
TEXT_CONTRACT = """\
data:
  dataset: reviews/             # one subfolder per class of .txt files -> text classification
models:
  lstm:
    layers:
      - TextVectorization: {max_tokens: 20000, output_sequence_length: 200}   # adapted on the training split
      - Embedding: {input_dim: 20000, output_dim: 64}
      - Bidirectional: {layer: {LSTM: {units: 32}}}
      - Dense: {units: 2, activation: softmax}
"""
HEAD = "name: t\ncompile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n" \
       "training: {epochs: 1, batch_size: 8}\n"
FLAT_MODEL = "models:\n  A:\n    layers:\n      - Flatten\n      - Dense: {units: 2, activation: softmax}\n"


def _data_only(tmp_path, data: str, models: str = FLAT_MODEL):
    path = tmp_path / "spec.yaml"
    head = HEAD if "training:" not in data else HEAD.replace("training: {epochs: 1, batch_size: 8}\n", "")
    path.write_text(head + data + models, encoding="utf-8")
    return path


def test_the_image_contract_validates_verbatim(tmp_path):
    from factory.spec.loader import load

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos_test").mkdir()
    data = load(_data_only(tmp_path, IMAGE_CONTRACT)).experiment.data
    assert (data.dataset, data.image_size, data.color_mode, data.test, data.test_split, data.cache) == \
        ("photos/", [64, 64], "rgb", "photos_test/", 0.2, True)


def test_the_text_contract_data_section_validates_verbatim(tmp_path):
    from factory.spec.loader import load

    (tmp_path / "reviews").mkdir()
    data_only = TEXT_CONTRACT.split("models:")[0]
    assert load(_data_only(tmp_path, data_only)).experiment.data.dataset == "reviews/"


def test_an_existing_folder_needs_no_trailing_slash_but_a_typo_gets_did_you_mean(tmp_path):
    from factory.spec.loader import load

    (tmp_path / "photos").mkdir()
    assert load(_data_only(tmp_path, "data: {dataset: photos}\n")).experiment.data.dataset == "photos"
    assert spec_errors(_data_only(tmp_path, "data: {dataset: fashion_mnst}\n")) == [
        f"{tmp_path / 'spec.yaml'}:4:17: data.dataset: unknown dataset 'fashion_mnst'; did you mean 'fashion_mnist'?"]


def test_a_missing_folder_is_located_when_the_data_is_loaded(tmp_path):
    path = _data_only(tmp_path, "data: {dataset: nothere/, test: photos_tst}\n")
    assert _load_error(tmp_path, "data: {dataset: nothere/, test: photos_tst}\n") == [f"{path}:4:17: data.dataset: no such folder: {tmp_path / 'nothere'}",
                                 f"{path}:4:33: data.test: no such folder: {tmp_path / 'photos_tst'}"]


@pytest.mark.parametrize("dataset, what", [("digits", "a built-in dataset"), ("t.csv", "a csv file")])
def test_folder_fields_on_arrays_or_tables_are_located_mistakes(tmp_path, dataset, what):
    (tmp_path / "t.csv").write_text("a,label\n1,0\n2,1\n", encoding="utf-8")
    path = _data_only(tmp_path, f"data: {{dataset: {dataset}, image_size: [8, 8], color_mode: rgb, cache: true}}\n")
    column = 16 + len(dataset)
    assert spec_errors(path) == [
        f"{path}:4:{column + 15}: data.image_size: image_size is for a folder of images, but data.dataset is "
        f"{what} ({dataset}); leave image_size out",
        f"{path}:4:{column + 35}: data.color_mode: color_mode is for a folder of images, but data.dataset is "
        f"{what} ({dataset}); leave color_mode out",
        f"{path}:4:{column + 47}: data.cache: cache is for a folder of images or text files, but data.dataset is "
        f"{what} ({dataset}); leave cache out"]


def test_bad_folder_values_are_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    path = _data_only(tmp_path, "data: {dataset: photos/, image_size: [64], color_mode: rbg, test_split: 1.5}\n")
    errors = spec_errors(path)
    assert any("data.image_size" in e and "at least 2 items" in e for e in errors), errors
    assert any("data.color_mode" in e and "'rgb', 'grayscale' or 'rgba'" in e for e in errors), errors
    assert any("data.test_split" in e and "less than 1" in e for e in errors), errors


def make_images(root, per_class: int = 12, size=(8, 8), fmt: str = "png", mode: str = "L", classes=("bright", "dark")):
    """A folder of small images, one subfolder per class: class 0 bright, class 1 dark, with noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            level = 200 if label == 0 else 40
            pixels = np.clip(rng.normal(level, 20, (*size, channels)), 0, 255).astype(np.uint8)
            if channels == 4:
                pixels[..., 3] = 255  # opaque, as photos are
            Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(root / name / f"{i}.{fmt}")
    return root


def make_texts(root, per_class: int = 12):
    """A folder of .txt files in two classes, told apart by their words."""
    words = {"pos": "good great fine lovely", "neg": "bad awful poor dull"}
    for name, text in words.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (root / name / f"{i}.txt").write_text(f"{text} number {i}", encoding="utf-8")
    return root


def _open(tmp_path, data: str):
    from factory.data import load_data
    from factory.spec.loader import load

    return load_data(load(_data_only(tmp_path, data)).experiment.data, tmp_path)


def _load_error(tmp_path, data: str) -> list[str]:
    from factory.errors import SpecError
    from factory.spec.loader import load

    loaded = load(_data_only(tmp_path, data))
    from factory.data import load_data

    with pytest.raises(SpecError) as e:
        load_data(loaded.experiment.data, tmp_path)
    return [str(i) for i in loaded.locate(e.value).issues]


def test_an_image_folder_is_listed_split_per_class_with_a_fixed_seed_and_fingerprinted(tmp_path):
    make_images(tmp_path / "photos", per_class=10)
    data = _open(tmp_path, "data: {dataset: photos/, test_split: 0.3}\n")
    assert (data.kind, data.class_names, data.input_shape) == ("images", ("bright", "dark"), (8, 8, 1))
    assert (len(data.train_files), len(data.test_files)) == (14, 6)
    assert sorted(data.y_test.tolist()) == [0, 0, 0, 1, 1, 1]
    assert not set(data.train_files) & set(data.test_files)
    again = _open(tmp_path / ".." / tmp_path.name, "data: {dataset: photos, test_split: 0.3}\n")
    assert again.test_files == data.test_files  # the same split, however the folder is written
    print_ = data.fingerprint()
    assert print_["classes"]["names"] == ["bright", "dark"] and print_["train"]["files"] == 14
    (tmp_path / "photos" / "dark" / "0.png").write_bytes((tmp_path / "photos" / "dark" / "1.png").read_bytes())
    changed = _open(tmp_path, "data: {dataset: photos/, test_split: 0.3, scale: false}\n").fingerprint()
    assert changed["train"] != print_["train"] and changed["classes"] == print_["classes"]


def test_resume_refuses_a_folder_whose_files_changed(tmp_path, capsys):
    make_images(tmp_path / "photos", per_class=6)
    _run(tmp_path, "data: {dataset: photos/}\n")
    from factory.cli import main

    (tmp_path / "photos" / "dark" / "1.png").write_bytes((tmp_path / "photos" / "dark" / "0.png").read_bytes())
    path = tmp_path / "spec.yaml"
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--resume"]) == 2
    assert "the data changed since that run: train: its values differ" in capsys.readouterr().err



@pytest.mark.parametrize("setup, data, message", [
    (lambda root: root.mkdir(), "photos/", "{root} is empty: put the examples of each class in a subfolder of it"),
    (lambda root: (make_images(root), (root / "dark" / "x.txt").write_text("hi")), "photos/",
     "{root} mixes images ({root}/bright/0.png) and text files ({root}/dark/x.txt): a folder holds one kind"),
    (lambda root: (make_images(root), (root / "dark" / "3.png").write_bytes(b"not a png")), "photos/",
     "data.dataset: unreadable image: {root}/dark/3.png (not .png data; empty, damaged or misnamed)"),
    (lambda root: (make_images(root), (root / "empty").mkdir()), "photos/",
     "data.dataset: class folder {root}/empty/ has no examples: add some or remove the folder"),
    (lambda root: (make_images(root), (root / "notes.md").write_text("x")), "photos/",
     "data.dataset: {root} holds files beside its class folders ({root}/notes.md): every example goes in"),
    (lambda root: (make_images(root), (root / "dark" / "a.doc").write_text("x")), "photos/",
     "data.dataset: {root}/dark/a.doc: neither an image (.png, .jpg, .jpeg, .gif, .bmp) nor a text file (.txt)"),
    (lambda root: make_texts(root), "{dataset: photos/, image_size: [8, 8]}",
     "spec.yaml:4:38: data.image_size: image_size is for a folder of images, but {root} holds text files"),
    (lambda root: make_images(root, per_class=2), "{dataset: photos/, test_split: 0.1}",
     "data.test_split: class bright has 2 examples: test_split 0.1 leaves none to test on"),
])
def test_folders_that_cannot_train_are_located_errors_naming_the_file(tmp_path, setup, data, message):
    root = tmp_path / "photos"
    setup(root)
    errors = _load_error(tmp_path, f"data: {data if data.startswith('{') else '{dataset: ' + data + '}'}\n")
    assert len(errors) == 1 and message.format(root=root) in errors[0], errors


def _run(tmp_path, data: str, models: str = FLAT_MODEL, *args) -> dict:
    import json

    from factory.cli import main

    path = _data_only(tmp_path, data, models)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), *args]) == 0
    return json.loads((tmp_path / "out" / "results.json").read_text())


@pytest.mark.parametrize("fmt, mode, color", [("png", "L", "grayscale"), ("jpg", "RGB", "rgb"), ("png", "RGBA", "rgba")])
def test_training_streams_an_image_folder_and_records_its_classes(tmp_path, fmt, mode, color):
    import keras
    import numpy as np

    make_images(tmp_path / "photos", per_class=16, size=(10, 12), fmt=fmt, mode=mode)
    results = _run(tmp_path, "data: {dataset: photos/, image_size: [6, 6], cache: true}\n"
                              "training: {epochs: 6, batch_size: 4}\n",
                   FLAT_MODEL + "    compile: {optimizer: {Adam: {learning_rate: 0.1}}}\n")
    run = results["runs"][0]
    assert run["status"] == "completed" and len(run["history"]["val_loss"]) == 6
    assert results["data_fingerprint"]["classes"]["names"] == ["bright", "dark"]
    assert {k: v for k, v in results["data_fingerprint"]["split"].items() if k != "blake2b"} == \
        {"test_split": 0.2, "seed": 0, "per_class": True}
    model = keras.models.load_model(tmp_path / "out" / "models" / "A-seed0.keras")
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[color]
    assert model.input_shape == (None, 6, 6, channels)
    bright, dark = np.full((1, 6, 6, channels), 0.8), np.full((1, 6, 6, channels), 0.15)
    bright[..., 3:], dark[..., 3:] = 1.0, 1.0  # the alpha channel, where there is one
    assert model.predict(np.concatenate([bright, dark]), verbose=0).argmax(axis=1).tolist() == [0, 1]


def test_a_test_folder_validates_and_worker_processes_and_ray_reopen_the_folder(tmp_path):
    make_images(tmp_path / "photos", per_class=12)
    make_images(tmp_path / "photos_test", per_class=4)
    serial = _run(tmp_path, "data: {dataset: photos/, test: photos_test/}\ntraining: {epochs: 2, batch_size: 4}\n",
                  FLAT_MODEL, "--workers", "1")
    assert serial["data_fingerprint"]["test"]["files"] == 8
    (tmp_path / "out").rename(tmp_path / "serial")
    workers = _run(tmp_path, "data: {dataset: photos/, test: photos_test/}\ntraining: {epochs: 2, batch_size: 4}\n",
                   FLAT_MODEL, "--workers", "2")
    assert workers["runs"][0]["history"]["val_loss"] == serial["runs"][0]["history"]["val_loss"]
    pytest.importorskip("ray")
    (tmp_path / "out").rename(tmp_path / "workers")
    ray = _run(tmp_path, "data: {dataset: photos/, test: photos_test/}\ntraining: {epochs: 2, batch_size: 4}\n",
               FLAT_MODEL, "--workers", "2", "--backend", "ray")
    assert ray["runs"][0]["history"]["val_loss"] == serial["runs"][0]["history"]["val_loss"]


def test_the_text_contract_trains_on_a_text_folder_and_the_model_reads_raw_text(tmp_path):
    import keras

    make_texts(tmp_path / "reviews", per_class=10)
    results = _run(tmp_path, TEXT_CONTRACT.replace("models:", "training: {epochs: 1, batch_size: 4}\nmodels:"), "")
    assert results["runs"][0]["status"] == "completed"
    assert results["data_fingerprint"]["classes"]["names"] == ["neg", "pos"]
    model = keras.models.load_model(tmp_path / "out" / "models" / "lstm-seed0.keras")
    vocabulary = model.layers[0].get_vocabulary()
    assert {"good", "awful", "number"} <= set(vocabulary)  # adapted before training, saved with the model
    assert model.predict(keras.ops.convert_to_tensor(["good great", "bad awful"]), verbose=0).shape == (2, 2)


def test_the_text_experiment_file_validates():
    from factory.spec.loader import load
    from tests.conftest import ROOT

    experiment = load(ROOT / "experiments" / "text" / "text_folder.yaml").experiment
    assert [next(iter(layer.model_fields_set)) for layer in experiment.models["lstm"].layers] == [
        "TextVectorization", "Embedding", "Bidirectional", "Dense"]


def test_validation_split_on_a_folder_is_a_located_mistake(tmp_path, capsys):
    make_images(tmp_path / "photos", per_class=6)
    path = _data_only(tmp_path, "data: {dataset: photos/}\ntraining: {epochs: 1, validation_split: 0.2}\n")
    from factory.cli import main

    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert (f"{path}:7:5: models.A.training.validation_split: validation_split takes examples from arrays in "
            f"memory, but {tmp_path / 'photos'} is fed by tf.data: leave it out") in capsys.readouterr().err


def test_an_image_damaged_past_its_first_bytes_is_named_before_training(tmp_path):
    make_images(tmp_path / "photos", per_class=6)
    damaged = tmp_path / "photos" / "dark" / "3.png"
    damaged.write_bytes(damaged.read_bytes()[:40])  # a PNG signature, then cut short
    errors = _load_error(tmp_path, "data: {dataset: photos/, test_split: 0.5, cache: true}\n")
    assert len(errors) == 1 and f"data.dataset: unreadable image: {damaged} (damaged:" in errors[0], errors


def test_text_files_that_are_not_utf8_are_named_before_training(tmp_path):
    make_texts(tmp_path / "reviews", per_class=4)
    latin = tmp_path / "reviews" / "pos" / "2.txt"
    latin.write_bytes("très bon café".encode("latin-1"))
    errors = _load_error(tmp_path, "data: {dataset: reviews/}\n")
    assert len(errors) == 1 and f"data.dataset: {latin} is not UTF-8 text" in errors[0], errors


@pytest.mark.parametrize("break_it, name", [
    (lambda root: (root / "dark" / "zz.png").symlink_to(root / "nothere.png"), "dark/zz.png"),
    (lambda root: (root / "dark" / "sub").mkdir(mode=0), "dark/sub"),
])
def test_broken_links_and_unreadable_folders_are_located_errors_naming_the_path(tmp_path, break_it, name):
    import os

    root = make_images(tmp_path / "photos", per_class=4)
    break_it(root)
    if name == "dark/sub" and os.geteuid() == 0:
        pytest.skip("root reads every folder")
    errors = _load_error(tmp_path, "data: {dataset: photos/}\n")
    assert len(errors) == 1 and f"data.dataset: cannot read {root / name}:" in errors[0], errors


def test_a_test_folder_that_is_the_training_folder_is_a_located_mistake(tmp_path):
    make_images(tmp_path / "photos", per_class=4)
    errors = _load_error(tmp_path, "data: {dataset: photos/, test: photos}\n")
    assert len(errors) == 1 and f"data.test: {tmp_path / 'photos'} is the training folder" in errors[0], errors


@pytest.mark.parametrize("fmt, mode, color, channels", [
    ("jpg", "RGB", "rgba", 4), ("gif", "RGB", "grayscale", 1), ("bmp", "L", None, 1), ("bmp", "L", "rgb", 3)])
def test_every_format_decodes_to_every_colour_mode(tmp_path, fmt, mode, color, channels):
    """JPEG has no alpha, GIF decodes to rgb only, BMP not to one channel: each is converted, not a mid-epoch failure."""
    import numpy as np

    make_images(tmp_path / "photos", per_class=5, fmt=fmt, mode=mode)
    data = _open(tmp_path, "data: {dataset: photos/" + (f", color_mode: {color}" if color else "") + "}\n")
    images, labels = next(iter(data.stream("train", 8)))
    assert images.shape[1:] == (8, 8, channels) and data.input_shape == (8, 8, channels)
    assert abs(float(np.mean(images[..., :3][labels.numpy() == 0])) - 200 / 255) < 0.1  # the bright class stays bright
    if channels == 4:
        assert float(np.min(images[..., 3])) == 1.0  # an opaque alpha


def test_the_default_size_comes_from_the_sorted_first_file_whatever_the_split(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / "sizes" / name).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (10 + 2 * i, 8 + i)).save(tmp_path / "sizes" / name / f"{i}.png")
    shapes = {_open(tmp_path, f"data: {{dataset: sizes/, test_split: {t}}}\n").input_shape for t in (0.2, 0.3, 0.5)}
    assert shapes == {(8, 10, 3)}  # sizes/a/0.png


def test_adding_files_to_one_class_moves_no_other_class_between_train_and_test(tmp_path):
    make_images(tmp_path / "photos", per_class=10)
    before = _open(tmp_path, "data: {dataset: photos/}\n")
    make_images(tmp_path / "more", per_class=10)
    for i in range(10):
        (tmp_path / "more" / "bright" / f"{i}.png").rename(tmp_path / "photos" / "bright" / f"new{i}.png")
    after = _open(tmp_path, "data: {dataset: photos/, train_size: 1000}\n")  # another spec: not the cached load
    dark = str(tmp_path / "photos" / "dark")
    assert sorted(f for f in after.test_files if f.startswith(dark)) == \
        sorted(f for f in before.test_files if f.startswith(dark))


def test_a_linked_folder_is_not_followed_so_a_link_loop_is_harmless(tmp_path):
    root = make_images(tmp_path / "photos", per_class=4)
    (root / "bright" / "back").symlink_to(root)  # followed, it would list photos/bright/back/bright/back/...
    assert len(_open(tmp_path, "data: {dataset: photos/}\n").train_files) == 6


def test_show_counts_the_steps_of_a_folder(tmp_path, capsys):
    from factory.cli import main

    make_images(tmp_path / "photos", per_class=4)
    assert main(["show", str(_data_only(tmp_path, "data: {dataset: photos/}\n"))]) == 0
    assert "1 steps per epoch (6 training examples, batch_size 8)" in capsys.readouterr().out
