"""The safe YAML reader: plain data, positions, and a located error for every hostile input."""

import time

import pytest

from factory.errors import SpecError
from factory.spec.yaml_reader import MAX_BYTES, read_bytes, read_file, read_text


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as e:
        read_text(text, "t.yaml")
    return str(e.value)


def test_values_and_positions():
    doc = read_text("a: 1\nb:\n  - x\n  - {c: 1e-3}\n", "t.yaml")
    assert doc.data == {"a": 1, "b": ["x", {"c": 0.001}]}
    assert str(doc.positions[("a",)]) == "t.yaml:1:4"
    assert str(doc.positions[("b", 1, "c")]) == "t.yaml:4:9"
    assert str(doc.key_positions[("b",)]) == "t.yaml:2:1"


def test_exponent_without_dot_is_a_number_but_quoted_stays_text():
    doc = read_text("a: 1e-3\nb: '1e-3'\nc: 1.0e+2\n", "t.yaml")
    assert doc.data == {"a": 0.001, "b": "1e-3", "c": 100.0}


def test_yaml11_booleans_keep_their_source_text():
    doc = read_text("a: off\n", "t.yaml")
    assert doc.data == {"a": False} and doc.texts[("a",)] == "off"


@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['echo hacked']\n",
    "a: !!python/name:os.system\n",
    "!!python/object/new:list []\n",
    "a: !Foo 3\n",
    "a: !!binary aGVsbG8=\n",
])
def test_tags_are_refused_with_a_position(text):
    message = error_of(text)
    assert "is not allowed" in message and message.startswith("t.yaml:1:")


def test_duplicate_keys_name_both_lines():
    assert error_of("a: 1\nb: 2\na: 3\n") == "t.yaml:3:1: a: duplicate key 'a' (first at line 1)"


def test_alias_bomb_is_refused_quickly():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    start = time.perf_counter()
    message = error_of("\n".join(lines) + "\n")
    assert "alias bomb" in message
    assert time.perf_counter() - start < 1.0


def test_shared_aliases_within_bounds_are_fine():
    doc = read_text("base: &b {units: 4}\nx: *b\ny: {<<: *b, extra: 1}\n", "t.yaml")
    assert doc.data["x"] == {"units": 4} and doc.data["y"] == {"units": 4, "extra": 1}


def test_deep_nesting_is_refused_quickly():
    start = time.perf_counter()
    message = error_of("[" * 50_000)
    assert "nested more than" in message
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("text,expected", [
    ("", "t.yaml: the file is empty"),
    ("# only a comment\n", "t.yaml: the file is empty"),
    ("a: 1\n---\nb: 2\n", "t.yaml:2:1: a spec file holds one YAML document"),
    ("a:\n\t- 1\n", "t.yaml:2:1: found character '\\t' that cannot start any token (YAML indents with spaces"),
    ("a: [1, 2\n", "t.yaml:2:1: expected ',' or ']'"),
    ("a: 1\x00\n", "t.yaml:1:5: NUL byte in the file"),
])
def test_broken_files(text, expected):
    assert error_of(text).startswith(expected)


def test_invalid_utf8_is_located():
    with pytest.raises(SpecError) as e:
        read_bytes(b"a: 1\nb: \xff\n", "t.yaml")
    assert str(e.value) == "t.yaml:2:4: invalid UTF-8 byte 0xff: save the file as UTF-8"


def test_huge_file_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# x\n" * (MAX_BYTES // 4 + 10))
    with pytest.raises(SpecError, match="a spec may be at most"):
        read_file(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        read_file(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="is a folder"):
        read_file(tmp_path)
