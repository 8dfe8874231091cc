"""An experiment: a dataset, default compile and training settings, and the models to compare."""


import os
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (BeforeValidator, Discriminator, Field, Tag, ValidationError, ValidationInfo, create_model,
                      field_validator, model_validator)
from pydantic_core import PydanticCustomError

from schemas import names
from schemas import graph
from schemas.base import Spec, fail_at, names as name_type, suggestion
from schemas.callbacks import CallbackSpec, callback_problems
from schemas.layers import Input, LayerSpec
from schemas.losses import LOSS_CLASS_KEYS, LossSpec
from schemas.metrics import MetricSpec
from schemas.metrics import name_problems as metric_name_problems
from schemas.optimizers import OptimizerSpec
from schemas.search import Search
from schemas.tracking import Tracking
from schemas.types import PositiveFloat, PositiveInt, Rate, Seed, Shape

LossName = name_type("loss", names.LOSSES)
MetricName = name_type("metric", names.METRICS)
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", max_length=64)]
KerasBackend = Literal["tensorflow", "jax", "torch"]  # factory.build.keras_setup.DISTRIBUTIONS names their packages
# Keras layers that run through tf.data and refuse to be built without TensorFlow ("Layer X requires
# TensorFlow"); a non-TensorFlow process keeps TensorFlow unimported (keras_setup._tensorflow_unseen), so a
# model with one trains on tensorflow only. tests/test_backends.py checks this list against Keras's source.
TENSORFLOW_ONLY_LAYERS = frozenset({"HashedCrossing", "Hashing", "IntegerLookup", "StringLookup",
                                    "TextVectorization"})
LineStyle = Literal["-", "--", "-.", ":", "solid", "dashed", "dashdot", "dotted"]


def PerOutput(kind: Any, keyed_by: frozenset = frozenset()) -> Any:
    """`kind`, or a mapping of output names to `kind` (for a model with several outputs).

    A one-key mapping whose key is in `keyed_by` (a loss class: `{Huber: {delta: 2}}`) is one `kind`,
    not a mapping of outputs.
    """
    def which(v: Any) -> str:
        one_object = isinstance(v, dict) and len(v) == 1 and next(iter(v)) in keyed_by
        return "one per output" if isinstance(v, dict) and not one_object else "one for all outputs"

    return Annotated[Union[Annotated[kind, Tag("one for all outputs")],
                           Annotated[dict[Identifier, kind], Tag("one per output")]], Discriminator(which)]


class Data(Spec):
    """Where the examples come from and how they are prepared."""

    # For editors: the folder fields are refused on a built-in dataset or a data file, as `_folder_fields_on_folders` does
    model_config = {"json_schema_extra": {
        "if": {"required": ["dataset"], "properties": {"dataset": {
            "pattern": "^(" + "|".join(names.DATASETS) + ")$|" + "|".join(
                rf"\{s}$|\{s.upper()}$" for s in names.DATA_FILE_SUFFIXES)}}},
        "then": {"properties": {k: False for k in ("image_size", "color_mode", "test", "test_split", "cache")}}}}

    dataset: str = Field(description="fashion_mnist, mnist, digits, a .npz / .csv / .parquet file, or a "
                                     "folder with one subfolder per class of images or .txt files "
                                     "(`photos/`; relative to the spec file)")
    train_size: Optional[PositiveInt] = Field(None, description="use only the first N training examples")
    test_size: Optional[PositiveInt] = Field(None, description="use only the first N test examples")
    scale: bool = Field(True, description="divide inputs by the largest absolute value of the training inputs "
                                          "(255 for images): [0, 1], or [-1, 1] where features go below zero")
    label_column: str = Field("label", description="the label column of a .csv or .parquet file")
    image_size: Optional[Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]] = Field(
        None, description="[height, width] images of a folder are resized to; if not given, the size of the "
                          "first file in sorted order (of the first class folder)")
    color_mode: Optional[Literal["rgb", "grayscale", "rgba"]] = Field(
        None, description="channels of a folder's images: rgb, grayscale or rgba; if not given, the first "
                          "file's in sorted order")
    test: Optional[str] = Field(None, description="a folder of test examples, sorted by class like `dataset` "
                                                  "(relative to the spec file); else test_split of the files")
    test_split: Optional[Annotated[Rate, Field(gt=0)]] = Field(
        None, description="share of a folder's files held out for testing when there is no `test` folder "
                          "(a fixed, recorded split per class); 0.2 if not given")
    cache: bool = Field(False, description="keep a folder's decoded examples in memory after the first epoch "
                                           "(faster epochs; memory grows with the folder, in each worker process)")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str, info: ValidationInfo) -> str:
        if value in names.DATASETS or value.lower().endswith(names.DATA_FILE_SUFFIXES):
            return value
        if is_folder(value, (info.context or {}).get("base")):
            return value
        raise PydanticCustomError(
            "unknown_dataset", "unknown dataset '{value}'{hint}",
            {"value": value, "hint": suggestion(value, names.DATASETS)
             or "; use one of " + ", ".join(names.DATASETS) + ", or a .npz, .csv or .parquet file, or a folder (`photos/`)"})


    @model_validator(mode="after")
    def _folder_fields_on_folders(self, info: ValidationInfo) -> "Data":
        """image_size, color_mode, test, test_split and cache describe folders: refused on arrays and tables."""
        if is_folder(self.dataset, (info.context or {}).get("base")):
            return self  # test_split beside a `test` folder is unused, as its description says
        what = ("a built-in dataset" if self.dataset in names.DATASETS
                else f"a {self.dataset.rsplit('.', 1)[-1].lower()} file")
        wrong = [k for k in FOLDER_FIELDS if getattr(self, k) != Data.model_fields[k].default]  # dumps hold defaults
        if wrong:
            fail_at([((k,), f"{k} is for {FOLDER_FIELDS[k]}, but data.dataset is {what} "
                            f"({self.dataset}); leave {k} out") for k in wrong])
        return self


FOLDER_FIELDS = {"image_size": "a folder of images", "color_mode": "a folder of images",
                 "test": "a folder of images or text files", "test_split": "a folder of images or text files",
                 "cache": "a folder of images or text files"}  # the Data fields of folders, and what they are for


def is_folder(dataset: str, base: Optional[str] = None) -> bool:
    """Whether `dataset` names a folder: written with a trailing slash, or an existing folder beside the spec."""
    if dataset.endswith(("/", "\\")):
        return True
    if base is None or dataset in names.DATASETS or dataset.lower().endswith(names.DATA_FILE_SUFFIXES):
        return False
    return os.path.isdir(os.path.join(base, dataset))


class Settings(Spec):
    """A section a model's own section overrides key by key (compile, training).

    A model's section is partial, so its cross-field rules (`problems`) are checked on each model's
    merge with the experiment's section, never on either alone.
    """

    def problems(self) -> list[tuple[tuple[str, ...], str]]:
        """Cross-field mistakes as (the fields involved, the one to point at first; message)."""
        return []


class Compile(Settings):
    """Arguments of `model.compile`. A model's own `compile:` overrides these one key at a time."""

    optimizer: OptimizerSpec = Field("rmsprop", validate_default=True, description="optimizer name or {Class: {arguments}}")
    loss: Optional[PerOutput(LossSpec, keyed_by=LOSS_CLASS_KEYS)] = Field(
        None, description="loss: a name, or {Class: {arguments}} (required somewhere); for several outputs, "
                          "one per output name (`{label: sparse_categorical_crossentropy, size: mse}`)")
    metrics: PerOutput(list[MetricSpec]) = Field(
        default_factory=list, description="metrics reported each epoch: names or {Class: {arguments}}; "
                                          "for several outputs, a list per output name")
    loss_weights: Optional[dict[Identifier, Annotated[float, Field(ge=0, allow_inf_nan=False)]]] = Field(
        None, description="several outputs: the weight of each output's loss in the total (1 if not given)")
    steps_per_execution: Optional[PositiveInt] = Field(
        None, description="batches per compiled call; changes speed, not results. This tool picks "
                          "a fast value if not given")

    @model_validator(mode="after")
    def _metric_names(self) -> "Compile":
        """No metric reported under the loss's name, a validation name or another metric's (schemas/metrics.py)."""
        outputs = [k for v in (self.loss, self.metrics, self.loss_weights) if isinstance(v, dict) for k in v]
        problems = metric_name_problems(self.metrics, outputs)
        if problems:
            fail_at([(("metrics", *loc), message) for loc, message in problems])
        return self


def _class_numbers(value: Any) -> Any:
    """`{"0": 2.0}` (JSON's keys, as results.json holds the experiment; or quoted in YAML) is `{0: 2.0}`.

    Only a number's own text converts (`"0"`, `"12"`), so two keys never become one class: `"01"`
    or `" 1"` stays text and is refused.
    """
    if isinstance(value, dict):
        return {int(k) if isinstance(k, str) and k.isdigit() and str(int(k)) == k else k: v
                for k, v in value.items()}
    return value


ClassWeight = Annotated[Union[
    Annotated[Literal["balanced"], Tag("balanced")],
    Annotated[dict[Annotated[int, Field(ge=0)], PositiveFloat], Field(min_length=1), BeforeValidator(_class_numbers),
              Tag("weights")]], Discriminator(lambda v: "weights" if isinstance(v, dict) else "balanced")]


class Training(Settings):
    """Arguments of `model.fit`, and the seeds to repeat it over. A model's own `training:` overrides these."""

    epochs: PositiveInt = Field(1, description="passes over the training data")
    batch_size: PositiveInt = Field(32, description="examples per gradient step")
    seeds: list[Seed] = Field([0], min_length=1, description="one training run per seed")
    shuffle: bool = Field(True, description="shuffle the training data every epoch")
    validation_split: Optional[Annotated[Rate, Field(gt=0)]] = Field(
        None, description="hold out this fraction of the training data for validation; "
                          "the test split is used if not given")
    distribute: Literal["none", "mirrored", "multi_worker"] = Field(
        "none", description="train one model on several devices: mirrored (tf.distribute.MirroredStrategy, "
                            "the listed devices or all local GPUs) or multi_worker "
                            "(MultiWorkerMirroredStrategy, the cluster in TF_CONFIG). batch_size stays the "
                            "global batch, split evenly over the replicas")
    devices: Optional[list[str]] = Field(None, min_length=1, description="devices for mirrored, "
                                                                         "e.g. ['/gpu:0', '/gpu:1']")
    callbacks: list[CallbackSpec] = Field(default_factory=list, description="Keras callbacks: EarlyStopping, "
                                          "ReduceLROnPlateau, SwapEMAWeights (TerminateOnNaN is always on)")
    keep: Literal["last", "best"] = Field("last", description="the saved model: the last epoch's weights, or "
                                          "the best epoch's (by the EarlyStopping monitor, else val_loss)")
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "float32", description="Keras's dtype policy for this model's run")
    class_weight: Optional[ClassWeight] = Field(None, description="balanced (from the training labels) or "
                                                "{class: weight}: weigh each class's examples in the loss")
    deterministic: bool = Field(False, description="TensorFlow's op determinism: the same seed gives "
                                                   "bit-identical results (slower)")
    keras_backend: KerasBackend = Field(
        "tensorflow", description="the Keras backend this run trains on: tensorflow, jax or torch "
                                  "(`--keras-backend` sets it for every run that does not name one)")

    def problems(self) -> list[tuple[tuple[str, ...], str]]:
        if self.devices is not None and self.distribute != "mirrored":
            return [(("devices", "distribute"), "devices are for `distribute: mirrored`")]
        if self.distribute != "none" and self.keras_backend != "tensorflow":
            return [(("distribute", "keras_backend"),
                     f"`distribute: {self.distribute}` is tf.distribute: it needs `keras_backend: tensorflow`, "
                     f"not {self.keras_backend}")]
        return []

    @field_validator("seeds")
    @classmethod
    def _unique(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise PydanticCustomError("duplicate_seeds", "seeds must differ, got {seeds}", {"seeds": seeds})
        return seeds


# Keras's dtype names an input may have (keras.src.backend.common.dtypes.ALLOWED_DTYPES; a test compares)
INPUT_DTYPES = ("float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2", "int8", "int16",
                "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "string", "complex64",
                "complex128")
InputDtype = name_type("dtype", INPUT_DTYPES)


class NamedInput(Spec):
    """One of several inputs, with its dtype: `{shape: [10], dtype: int32}`."""

    shape: Shape = Field(description="input shape without the batch axis")
    dtype: InputDtype = Field("float32", description="Keras's dtype of the input (int32 for token ids)")


# `image: [28, 28]` (float32), or `ids: {shape: [10], dtype: int32}`
InputEntry = Annotated[Union[Annotated[Shape, Tag("shape")], Annotated[NamedInput, Tag("shape and dtype")]],
                       Discriminator(lambda v: "shape and dtype" if isinstance(v, (dict, NamedInput)) else "shape")]


class Model(Spec):
    """One model to train: a stack of layers, and optional overrides of compile and training."""

    label: Optional[str] = Field(None, description="name shown in legends and tables (the key if not given)")
    description: Optional[str] = Field(None, description="free text")
    input_shape: Optional[Shape] = Field(None, description="input shape without the batch axis; "
                                                           "taken from the data if not given")
    layers: list[LayerSpec] = Field(min_length=1, description="layers, first to last")
    inputs: Optional[dict[Identifier, InputEntry]] = Field(
        None, min_length=1, description="several inputs: name -> shape without the batch axis, or "
                                        "{shape, dtype} (layers take them with `from: name`); "
                                        "input_shape is the one-input form")
    input_dtype: Optional[InputDtype] = Field(None, description="Keras's dtype of the one input (int32 for "
                                                               "token ids); the data's (float32) if not given")
    outputs: Optional[list[Identifier]] = Field(
        None, min_length=1, description="the names of the layers whose outputs are the model's; "
                                        "the last layer's if not given")
    compile: Optional[Compile] = Field(None, description="overrides of the experiment's compile")
    training: Optional[Training] = Field(None, description="overrides of the experiment's training")
    color: Optional[str] = Field(None, description="matplotlib colour of this model's curves")
    linestyle: Optional[LineStyle] = Field(None, description="matplotlib line style of its curves")
    search: Optional[Search] = Field(None, description="an Optuna search over this model's fields")

    @model_validator(mode="after")
    def _one_input_shape(self) -> "Model":
        problems = []
        for i, entry in enumerate(self.layers):
            key = next(iter(entry.model_fields_set))
            if i > 0 and entry.args.input_shape is not None:
                problems.append((("layers", i, key, "input_shape"),
                                 "input_shape belongs on the first layer (or on the model)"))
            if i > 0 and isinstance(entry.args, Input):
                problems.append((("layers", i, key), "Input can only be the first layer"))
        first = self.layers[0].args
        given = [g for g in (self.input_shape is not None, first.input_shape is not None,
                             isinstance(first, Input)) if g]
        if len(given) > 1:
            problems.append((("input_shape",), "the input shape is given twice: on the model and "
                                               "on its first layer; keep one"))
        if self.inputs and given:
            problems.append((("inputs",), "give the inputs once: `inputs:` (several, by name) or "
                                          "`input_shape:` (one), not both"))
        if self.inputs and self.input_dtype is not None:
            problems.append((("input_dtype",), "input_dtype is the one-input form: with `inputs:`, give an "
                                               "input its `dtype:` there, beside its `shape:`"))
        if problems:
            fail_at(problems)
        return self

    @model_validator(mode="after")
    def _wired(self) -> "Model":
        """A graph (residual, parallel, `from`, inputs, outputs) wires every name and uses every layer."""
        if graph.is_graph(self):
            problems = graph.plan(self)[1]
            if problems:
                fail_at(problems)
        return self

    @property
    def input_shapes(self) -> Optional[dict[str, list[int]]]:
        """`inputs:` as input name -> shape (without the dtypes), if the model names its inputs."""
        return {k: list(getattr(v, "shape", v)) for k, v in self.inputs.items()} if self.inputs else None

    @property
    def input_dtypes(self) -> dict[str, Optional[str]]:
        """`inputs:` as input name -> its dtype (None where written as a plain shape); {} for one input."""
        return {k: getattr(v, "dtype", None) for k, v in (self.inputs or {}).items()}

    @property
    def declared_input_shape(self) -> Optional[list[int]]:
        """The input shape the spec gives (on the model, its first layer, or an Input), if any."""
        first = self.layers[0].args
        if isinstance(first, Input):
            return first.shape
        return self.input_shape or first.input_shape


# What a model writes itself, checked when its extends, edit, a block it uses or its sweep is broken
# (it is left out of the composed experiment, and these depend on no parent): Model's own fields,
# its layers by their index as written (uses of blocks left out), the composition keys as they are.
WrittenModel = create_model(
    "WrittenModel", __base__=Spec, __doc__="The keys a model writes itself, checked on their own.",
    **{k: (f.annotation, f) for k, f in Model.model_fields.items() if k != "layers"},
    layers=(dict[int, LayerSpec], Field(default_factory=dict, description="its own layers, by index")),
    **{k: (Any, Field(None, description="checked by composition")) for k in ("extends", "edit", "sweep")})


class Experiment(Spec):
    """A set of models trained on the same data and compared."""

    model_config = {"title": "factory experiment"}

    name: Identifier = Field(description="the experiment's name; also its output folder runs/<name>/")
    description: Optional[str] = Field(None, description="free text")
    data: Data = Field(description="the dataset")
    compile: Compile = Field(default_factory=Compile, description="compile settings of every model")
    training: Training = Field(default_factory=Training, description="training settings of every model")
    models: dict[Identifier, Model] = Field(min_length=1, description="the models, by name")
    tracking: Tracking = Field(default_factory=Tracking, description="TensorBoard and MLflow logging of every run")

    @model_validator(mode="after")
    def _every_model_has_a_loss(self) -> "Experiment":
        if self.compile.loss is None:
            missing = [n for n, m in self.models.items() if not (m.compile and m.compile.loss)]
            if missing:
                fail_at([(("compile", "loss"), f"no loss for model(s) {', '.join(missing)}: "
                                                 "set compile.loss")])
        return self

    @model_validator(mode="after")
    def _merged_settings_agree(self, info: ValidationInfo) -> "Experiment":
        """Each model's compile and training, merged onto the experiment's, obey their cross-field rules.

        A mistake is reported at the model's override when the override gives one of the fields
        involved, else at the experiment's section (once, however many models inherit it). After
        `extends`, a model's override also holds what it inherited; the validation context's
        `written` ({model: {section: keys the model writes itself}}) says which fields to prefer.
        """
        written = (info.context or {}).get("written", {})
        problems = []
        for name, model in self.models.items():
            for section in MERGED:
                override = getattr(model, section)
                own = written.get(name, {}).get(section, ())
                for fields, message in _merge(getattr(self, section), override).problems():
                    given = [f for f in fields if override is not None and f in override.model_fields_set]
                    given = [f for f in given if f in own] or given
                    loc = ("models", name, section, given[0]) if given else (section, fields[0])
                    if (loc, message) not in problems:
                        problems.append((loc, message))
            problems += _callback_problems(self, name, model, written.get(name, {}), problems)
        if problems:
            fail_at(problems)
        return self

    @model_validator(mode="after")
    def _layers_run_on_the_backend(self) -> "Experiment":
        """A layer Keras builds only with TensorFlow (TENSORFLOW_ONLY_LAYERS) in a model trained on another backend."""
        problems = []
        for name, model in self.models.items():
            only_tf = [(i, key) for i, key in enumerate(next(iter(e.model_fields_set)) for e in model.layers)
                       if key in TENSORFLOW_ONLY_LAYERS]
            backend = _merge(self.training, model.training).keras_backend
            for i, key in only_tf if backend != "tensorflow" else ():
                problems.append((("models", name, "layers", i, key),
                                 f"{key} runs through tf.data: Keras builds it only with TensorFlow, not on "
                                 f"{backend}; train this model on tensorflow (`training: {{keras_backend: "
                                 "tensorflow}`)"))
            # a search whose space offers another backend: at that value, naming the layer
            chosen = getattr(model.search.space.get("training.keras_backend"), "values", []) if model.search else []
            for j, value in enumerate(chosen):
                if only_tf and value in ("jax", "torch"):
                    i, key = only_tf[0]
                    problems.append((("models", name, "search", "space", "training.keras_backend", "choice", j),
                                     f"layers[{i}] {key} runs through tf.data: Keras builds it only with "
                                     f"TensorFlow, not on {value}; train this model on tensorflow (leave {value} "
                                     "out of the space)"))
        if problems:
            fail_at(problems)
        return self

    @model_validator(mode="after")
    def _integer_inputs_are_not_scaled(self) -> "Experiment":
        """An integer input (token ids, lookup indices) under `data.scale`, which divides every input by
        its largest value: the model would read fractions that its dtype truncates to 0.

        A bool input is left alone: dividing by the largest value keeps every non-zero value non-zero.
        A table (a .parquet, or a .csv with text columns) always scales: its rows reach the model as
        float32 (numbers normalized, text one-hot), so there the advice is to leave the dtype out.
        """
        if not self.data.scale:
            return self
        default = " (on by default)" if "scale" not in self.data.model_fields_set else ""
        dataset = self.data.dataset.lower()
        fix = ("leave the dtype out: a .parquet table's rows reach the model as float32 (numbers normalized, "
               "text one-hot)" if dataset.endswith(".parquet") else
               "set `data: {scale: false}` (a .csv with text columns is a table, always scaled: there leave "
               "the dtype out)" if dataset.endswith(".csv") else "set `data: {scale: false}`")
        problems = []
        for name, model in self.models.items():
            written = ([(("input_dtype",), model.input_dtype)] if model.input_dtype else
                       [(("inputs", k, "dtype"), d) for k, d in model.input_dtypes.items() if d])
            for at, dtype in written:
                if dtype.startswith(("int", "uint")):
                    problems.append((("models", name, *at), f"{dtype} input under data.scale{default}, "
                                     "which divides every input by its largest value: the ids would become "
                                     f"fractions that {dtype} truncates to 0; {fix}"))
        if problems:
            fail_at(problems)
        return self

    @model_validator(mode="after")
    def _per_output_settings_name_outputs(self) -> "Experiment":
        """A loss, metrics or loss weight per output names each output of the models that take it."""
        problems = []
        for name, model in self.models.items():
            outputs = list(model.outputs or [])
            for field in ("loss", "metrics", "loss_weights"):
                own = model.compile is not None and field in model.compile.model_fields_set
                value = getattr(model.compile if own else self.compile, field)
                if not isinstance(value, dict):
                    continue
                at = ("models", name, "compile", field) if own else ("compile", field)
                if len(outputs) < 2:
                    what = {"loss": "a loss per output is", "metrics": "metrics per output are",
                            "loss_weights": "loss weights per output are"}[field]
                    problems.append((at, f"{what} for a model with several `outputs:`; model {name} has one"))
                    continue
                for key in value:
                    if key not in outputs:
                        problems.append((at + (key,), f"model {name} has no output '{key}'"
                                                      f"{suggestion(key, outputs) or '; its outputs: ' + ', '.join(outputs)}"))
                missing = [o for o in outputs if o not in value]
                if field == "loss" and missing:
                    problems.append((at, f"no loss for output(s) {', '.join(missing)} of model {name}"))
        if problems:
            fail_at(list(dict.fromkeys(problems)))
        return self

    def resolved(self) -> "Experiment":
        """The same experiment with every model's compile and training settings spelled out."""
        models = {}
        for name, model in self.models.items():
            models[name] = model.model_copy(update={
                "label": model.label or name,
                "compile": _merge(self.compile, model.compile),
                "training": _merge(self.training, model.training),
            })
        return self.model_copy(update={"models": models})


class Block(Spec):
    """A block of a library checked on its own: its layers, by index, with the parameters' defaults."""

    layers: dict[int, LayerSpec] = Field(description="layers by their index in the block")


class Library(Spec):
    """A file of models and blocks for experiments to include (`include: {lib: FILE}`); no name or data."""

    model_config = {"title": "factory library"}

    description: Optional[str] = Field(None, description="free text")
    models: dict[Identifier, Model] = Field(default_factory=dict, description="the models, by name")
    blocks: dict[Identifier, Block] = Field(default_factory=dict, description="the blocks, by name")


MERGED = ("compile", "training")


def _callback_problems(experiment: Experiment, name: str, model: Model, own: dict, found: list) -> list:
    """`callback_problems` of a model's merged settings, at the callbacks the model writes, else at the
    experiment's (once however many models inherit them)."""
    problems = []
    merged = _merge(experiment.training, model.training)
    for loc, message in callback_problems(_merge(experiment.compile, model.compile), merged):
        written = model.training is not None and "callbacks" in model.training.model_fields_set
        if written and (not own.get("training") or "callbacks" in own["training"]):
            where = ("models", name, "training", *loc)
        else:
            where = ("training", *loc)
            message = message if experiment.models.keys() == {name} else f"model {name}: {message}"
        if (where, message) not in found + problems:
            problems.append((where, message))
    return problems


def _merge(base: Any, override: Any) -> Any:
    if override is None:
        return base
    return base.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})
