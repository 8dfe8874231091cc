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
    path.write_text(HEAD + data + models, encoding="utf-8")
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


def test_a_missing_folder_is_located(tmp_path):
    (tmp_path / "photos").mkdir()
    path = _data_only(tmp_path, "data: {dataset: nothere/, test: photos_tst}\n")
    assert spec_errors(path) == [f"{path}:4:17: data.dataset: no such folder: {tmp_path / 'nothere'}",
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
