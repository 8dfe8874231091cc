"""The command line: validate, show, schema, run and compare experiments.

`main(argv) -> int` is the whole CLI and is testable without a subprocess. A user's mistake
(`SpecError`) prints `path:line:col: where: message` lines on stderr and returns 2; anything else
that escapes is a bug and shows its traceback. TensorFlow is imported only by commands that build
or train models.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from factory import __version__
from factory.errors import SpecError
from factory.spec.loader import LoadedLibrary, load, load_spec


def _validate(args) -> int:
    failed = 0
    for path in args.files:
        try:
            loaded = load_spec(path, args.set)
            _check_search(loaded)
        except SpecError as e:
            failed += 1
            for issue in e.issues:
                print(issue, file=sys.stderr)
            continue
        if isinstance(loaded, LoadedLibrary):
            lib = loaded.library
            print(f"{path}: ok: library, {len(lib.models)} model(s) ({', '.join(lib.models) or 'none'}), "
                  f"{len(lib.blocks)} block(s) ({', '.join(lib.blocks) or 'none'})")
            continue
        exp = loaded.experiment.resolved()
        epochs = sorted({m.training.epochs for m in exp.models.values()})
        seeds = sorted({len(m.training.seeds) for m in exp.models.values()})
        print(f"{path}: ok: experiment '{exp.name}', {len(exp.models)} model(s) "
              f"({', '.join(exp.models)}), dataset {exp.data.dataset}, "
              f"{'/'.join(map(str, epochs))} epoch(s) x {'/'.join(map(str, seeds))} seed(s)")
    return 2 if failed else 0


def _check_search(loaded) -> None:
    """A model's `search:` space checked as `run` will check it (factory.search.space; no Optuna needed)."""
    if isinstance(loaded, LoadedLibrary) or all(m.search is None for m in loaded.experiment.models.values()):
        return
    from factory.search import space

    space.check(loaded, space.searched(loaded))


def _show(args) -> int:
    if args.diagram:
        from factory.build.diagram import diagram_tools_missing

        missing = diagram_tools_missing()  # before anything is built: the fix is on this machine
        if missing:
            raise SpecError(missing)
    backend = [f"training.keras_backend={args.keras_backend}"] if args.keras_backend else []  # as run's
    loaded = load(args.file, backend + args.set)
    if args.resolved:
        import yaml

        print(yaml.safe_dump(loaded.experiment.resolved().model_dump(mode="json", exclude_none=True),
                             sort_keys=False, allow_unicode=True), end="")
        return 0
    from factory.build import keras_setup
    from factory.build.checks import check_models
    from factory.build.compiler import build_model
    from factory.build.keras_backends import backend_to_show, backends_line

    experiment = loaded.experiment.resolved()
    built_on = backend_to_show(experiment)
    keras_setup.prefer(built_on)  # before a dataset download imports Keras
    data = _data_if_cheap(loaded, experiment)
    input_shape = data.input_shape if data is not None else None
    issues = check_models(experiment, data)  # every model's mistakes at once, nothing allocated
    if issues:
        raise loaded.locate(SpecError(issues))
    from factory.build.diagram import layer_table, write_diagram

    print(backends_line(experiment, built_on))
    for name, spec in experiment.models.items():
        model = build_model(name, spec, input_shape, getattr(data, "input_dtype", None))  # strings for texts
        print(f"model {name}: {spec.label}")
        print(layer_table(model))
        dtypes = [(t.name, str(t.dtype)) for t in model.inputs]
        if any(d != "float32" for _, d in dtypes):  # the table's Input rows do not say it
            print("input dtype: " + (dtypes[0][1] if len(dtypes) == 1 else ", ".join(f"{n} {d}" for n, d in dtypes)))
        print(f"model {name}: {model.count_params():,} parameters")
        if data is not None:
            from factory.train.callbacks import steps_line

            print(steps_line(name, spec, len(data.y_train if hasattr(data, "stream") else data.x_train)))  # a folder or table streams
        if args.diagram:
            print(f"model {name}: diagram in {write_diagram(model, Path(args.diagram) / f'{name}.png')}")
        print()
    return 0


def _data_if_cheap(loaded, experiment):
    """The experiment's data for `show`, or None when it is not on this machine and no model needs it.

    A model without an input shape needs the data's, so the data is then downloaded if need be, as
    `run` would; otherwise nothing is downloaded. A mistake in the data is located like `run`'s.
    """
    from factory.data import NotHere, load_data

    needed = any(m.declared_input_shape is None for m in experiment.models.values())
    try:
        return load_data(experiment.data, loaded.path.parent, download=needed)
    except NotHere:
        print(f"note: {experiment.data.dataset} is not on this machine: models not checked against "
              "the data (`run` downloads it and checks them)", file=sys.stderr)
        return None
    except SpecError as e:
        raise loaded.locate(e) from None


def _schema(args) -> int:
    from schemas import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def _run(args) -> int:
    from factory.train.runner import run_experiment

    backend = [f"training.keras_backend={args.keras_backend}"] if args.keras_backend else []
    loaded = load(args.file, backend + args.set)
    out = Path(args.out) if args.out else Path("runs") / loaded.experiment.name
    if any(m.search is not None for m in loaded.experiment.models.values()):  # an Optuna search: factory.search
        from factory.search.study import run_search

        return run_search(loaded, out, args.resume, args.workers, args.backend, args.address, args.tensorboard)
    return run_experiment(loaded, out, resume=args.resume, fail_fast=args.fail_fast,
                          profile=args.profile, workers=args.workers, backend=args.backend,
                          address=args.address, tensorboard=args.tensorboard)


def _export(args) -> int:
    from factory.build.export import export_file

    print(export_file(Path(args.file), args.name), end="")
    return 0


def _compare(args) -> int:
    from factory.results.compare import compare_folders

    return compare_folders([Path(d) for d in args.folders], Path(args.out),
                           Path(args.reference) if args.reference else None)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _default_workers() -> int:
    env = os.environ.get("FACTORY_WORKERS", "")
    return int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factory", description="Build, train and compare tf.keras models declared in YAML.")
    parser.add_argument("--version", action="version", version=f"factory {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def overrides(p):
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a field, the value read as YAML (training.epochs=1); repeatable")

    p = sub.add_parser("validate", help="check experiment (or library) files without building anything (fast)")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="experiment YAML files, or library files (models and blocks, no name or data)")
    overrides(p)
    p.set_defaults(func=_validate)

    p = sub.add_parser("show", help="build every model and print its layers: what feeds each, output shape, parameters")
    p.add_argument("file", metavar="FILE", help="experiment YAML file")
    p.add_argument("--resolved", action="store_true",
                   help="print the fully expanded experiment as YAML instead (builds nothing)")
    p.add_argument("--diagram", metavar="DIR",
                   help="also draw each model into DIR/<model>.png (Keras's plot_model: pydot and Graphviz)")
    p.add_argument("--keras-backend", choices=["tensorflow", "jax", "torch"], metavar="NAME",
                   help="as run's --keras-backend: the models are built on NAME where they train on it")
    overrides(p)
    p.set_defaults(func=_show)

    p = sub.add_parser("schema", help="print the JSON Schema of experiment and library files (for editors)")
    p.set_defaults(func=_schema)

    p = sub.add_parser("run", help="train every model over every seed and compare them")
    p.add_argument("file", metavar="FILE", help="experiment YAML file")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/<name>/); results of an earlier "
                                                 "run there are moved to its previous/<time>/ first")
    p.add_argument("--resume", action="store_true",
                   help="keep the finished runs in the output folder and train only the rest")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failed run")
    p.add_argument("--profile", action="store_true", help="print where the time went")
    p.add_argument("--workers", type=_positive, default=_default_workers(), metavar="N",
                   help="train up to N runs at once in N separate processes, shared out over the Keras "
                        "backends (default: $FACTORY_WORKERS, else the number of CPU cores); 1 trains them one by "
                        "one in this process")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: worker processes on this machine; ray: each run as a Ray task "
                        "(pip install 'factory[ray]')")
    p.add_argument("--address", metavar="ADDR",
                   help="with --backend ray: an existing Ray cluster (e.g. ray://head:10001); "
                        "default: start a local Ray with --workers CPUs")
    p.add_argument("--tensorboard", action="store_true",
                   help="log every run to TensorBoard under <out>/tensorboard/, as `tracking: {tensorboard: true}` does")
    p.add_argument("--keras-backend", choices=["tensorflow", "jax", "torch"], metavar="NAME",
                   help="the Keras backend (tensorflow, jax or torch) of the experiment's runs: the same as "
                        "--set training.keras_backend=NAME, so it replaces the experiment's own training."
                        "keras_backend, and a model that names its own backend keeps it (default: tensorflow)")
    overrides(p)
    p.set_defaults(func=_run)

    p = sub.add_parser("export", help="print a saved .keras model as a spec (a library file to include)")
    p.add_argument("file", metavar="MODEL.keras", help="a model saved by Keras (loaded with safe mode on)")
    p.add_argument("--name", help="the model's name in the spec (default: the Keras model's name)")
    p.set_defaults(func=_export)

    p = sub.add_parser("compare", help="put the runs of several output folders in one table and plot")
    p.add_argument("folders", nargs="+", metavar="DIR", help="output folders of `factory run`")
    p.add_argument("--out", metavar="DIR", default="runs/compare",
                   help="where to write (default: runs/compare); not a compared folder nor one holding a results.json")
    p.add_argument("--reference", metavar="DIR",
                   help="the folder every model is compared with, by model name (default: the first folder)")
    p.set_defaults(func=_compare)
    return parser


def command() -> int:
    """The `factory` command and `python -m factory`: `main` in a process that runs nothing else."""
    from factory.build.keras_setup import own_process

    own_process()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 a run failed, 2 a user mistake, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SpecError as e:
        for issue in e.issues:
            print(issue, file=sys.stderr)
        return 2
