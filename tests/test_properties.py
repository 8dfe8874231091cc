"""Property tests: any text, any spec-shaped data gives a clean result or SpecError, never a crash."""

import math
import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory.errors import SpecError
from factory.spec.compose import compose
from factory.spec.loader import validate, validate_composed
from factory.spec.overrides import apply_overrides
from factory.spec.yaml_reader import Document, read_bytes, read_text
from schemas import LAYERS, Experiment

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["relu", "adam", "he_normal", "l1", "Dense", "1e-3", "off", "digits"]))
names = st.sampled_from([c.__name__ for c in LAYERS] + ["Dens", "Lambda", "os.system", "units", "rate"])
plain = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(names, st.text(max_size=8)), inner, max_size=4)),
    max_leaves=20)
layer = st.one_of(names, st.dictionaries(names, st.one_of(scalars, st.dictionaries(
    st.sampled_from(["units", "activation", "rate", "alpha", "kernel_initializer", "kernel_regularizer",
                     "negative_slope", "filters", "kernel_size", "input_shape", "seed"]), plain, max_size=3)),
    min_size=1, max_size=2))
spec = st.fixed_dictionaries(
    {"name": st.one_of(st.just("x"), scalars), "data": st.one_of(st.just({"dataset": "digits"}), plain),
     "compile": st.one_of(st.just({"loss": "mse"}), plain),
     "models": st.one_of(st.dictionaries(st.sampled_from(["A", "B", "bad name"]),
                                         st.fixed_dictionaries({"layers": st.lists(layer, max_size=4)}),
                                         max_size=2), plain)},
    optional={"training": plain, "extra": plain})


def clean_or_spec_error(fn, *args):
    try:
        fn(*args)
    except SpecError as e:
        assert e.issues and all(str(i) for i in e.issues)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_reads_cleanly(text):
    clean_or_spec_error(read_text, text, "t.yaml")


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_read_cleanly(raw):
    clean_or_spec_error(read_bytes, raw, "t.yaml")


EXPONENT = re.compile(r"^[-+]?(\d[\d_]*(\.\d*)?|\.\d+)[eE][-+]?\d+$")


def same(read, written) -> bool:
    """Equal as data, NaN included; a plain `1e-3` text is read as the number users mean by it."""
    if isinstance(written, dict):
        return isinstance(read, dict) and len(read) == len(written) and all(  # a key is read as a value is (`0E0:` too)
            same(rk, wk) and same(rv, wv) for (rk, rv), (wk, wv) in zip(read.items(), written.items()))
    if isinstance(written, list):
        return isinstance(read, list) and len(read) == len(written) and all(map(same, read, written))
    if isinstance(written, float) and math.isnan(written):
        return isinstance(read, float) and math.isnan(read)
    if isinstance(written, str) and EXPONENT.match(written) and isinstance(read, float):
        return read == float(written.replace("_", ""))
    return type(read) is type(written) and read == written


@SETTINGS
@given(plain)
def test_any_yaml_document_reads_back_its_data(data):
    try:
        text = yaml.safe_dump(data, sort_keys=False)  # escaped: PyYAML writes a raw U+0085 it cannot read back
    except yaml.YAMLError:
        return
    if data is None:  # an empty document is refused, with its reason
        clean_or_spec_error(read_text, text, "t.yaml")
        return
    assert same(read_text(text, "t.yaml").data, data), text


@SETTINGS
@given(spec)
def test_any_spec_shaped_data_validates_cleanly(data):
    clean_or_spec_error(validate, Document(data, "t.yaml"))


@SETTINGS
@given(spec)
def test_spec_shaped_yaml_end_to_end(data):
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return
    def both():
        validate(read_text(text, "t.yaml"))
    clean_or_spec_error(both)


edit = st.fixed_dictionaries({}, optional={
    op: st.one_of(st.integers(-3, 3), st.sampled_from(["hidden", "x"]))
    for op in ("replace", "remove", "set", "insert_before", "insert_after")} | {"with": st.one_of(plain, st.lists(layer, max_size=2))})
composing_model = st.fixed_dictionaries({"layers": st.lists(st.one_of(layer, st.sampled_from(["$b", {"$b": {"n": 2}}])), max_size=3)}, optional={
    "extends": st.sampled_from(["A", "B", "nope", "lib.A", 3]),
    "edit": st.one_of(st.lists(edit, max_size=3), plain),
    "sweep": st.one_of(st.dictionaries(st.sampled_from(["layers.0.Dense.units", "compile.optimizer", "training.epochs",
                                                        "x.y", "layers.1", "layers.0, layers.1", "layers.\u00b2.Dense.units",
                                                        "layers.\u0661", "compile.optimizer.Adam.learning_rate"]),
                                       st.one_of(st.lists(scalars, max_size=2), scalars), max_size=2), plain),
    "training": plain})
composing_spec = st.fixed_dictionaries(
    {"name": st.just("x"), "data": st.just({"dataset": "digits"}), "compile": st.just({"loss": "mse"}),
     "models": st.dictionaries(st.sampled_from(["A", "B", "C"]), composing_model, min_size=1, max_size=3)},
    optional={"blocks": st.one_of(plain, st.just({"b": {"params": {"n": 1}, "layers": [{"Dense": "${n}"}]}}))})
overrides = st.lists(st.sampled_from([
    "models.A.layers.0.Dense.units=3", "models.A.edit=[{remove: 0}]", "models.Z.x=1", 'models."A".training.epochs=2',
    "include.lib=nowhere.yaml", "blocks.b={layers: [Dense: 1]}", "models.A.layers.0=$b", "models.B.sweep={x: [1]}",
    "models.A.layers.0.Flatten.data_format=channels_last", "models.C={extends: A}", "models.A-1.x=2", "=", "a..b=1",
    "models.A.layers.\u00b2=1", "models.A.layers.\u0661.Dense.units=2", "models.A=null", "training.validation_split=",
    "models.A.layers.0.Dropout.rate=0.5", "models.A.compile.optimizer.Adam.learning_rate=0.1", "models.B.color=#x",
    "models.A.layers=5", "models.A=Dense"]),
    max_size=3)


@SETTINGS
@given(composing_spec, overrides)
def test_any_composition_with_overrides_gives_a_clean_result_or_spec_error(data, sets):
    def load_data():
        document = Document(data, "/nonexistent/t.yaml")
        if sets:
            document = apply_overrides(document, sets)
        composed = compose(document, reader=lambda path: (_ for _ in ()).throw(SpecError("no files here")))
        validate_composed(composed, Experiment)
    clean_or_spec_error(load_data)


# Any shape where a model or its layers belong: a model that is not a mapping (`A:` then a list,
# `A: null`, `A: Dense`) or layers that are not a list, extended and edited by the other models.
any_model = st.one_of(composing_model, scalars, st.lists(layer, max_size=2),
                      st.fixed_dictionaries({"layers": st.one_of(scalars, plain)}))
any_shape_spec = st.fixed_dictionaries(
    {"name": st.just("x"), "data": st.just({"dataset": "digits"}), "compile": st.just({"loss": "mse"}),
     "models": st.dictionaries(st.sampled_from(["A", "B", "C"]), any_model, min_size=1, max_size=3)})


@SETTINGS
@given(any_shape_spec, overrides)
def test_any_shape_of_model_or_layers_composes_cleanly(data, sets):
    def load_data():
        document = Document(data, "/nonexistent/t.yaml")
        if sets:
            document = apply_overrides(document, sets)
        validate_composed(compose(document), Experiment)
    clean_or_spec_error(load_data)
