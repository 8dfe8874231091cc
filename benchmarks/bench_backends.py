"""Whole-process wall time on each Keras backend, and whether the backends learn the same.

    python benchmarks/bench_backends.py [--rounds 3] [--quality-seeds 0 1 2 3 4] [--skip-quality]

Timing: the hand-written tf.keras script (benchmarks/handwritten_abc.py), `factory run` on TensorFlow
and `factory run --keras-backend jax` (and torch where it is installed), and on JAX once more without
the compiled programs an earlier run kept (`JAX_ENABLE_COMPILATION_CACHE=false`), alternating in fresh
processes, on the seed's work (experiments/abc.yaml: 3 models x 10 epochs, full Fashion-MNIST,
seed 0) and on a 2-epoch run of it. Prints every time, the medians, each one's ratio to the
hand-written script and, per backend, the wall time per model-epoch.

Quality: the seed's work over `--quality-seeds` on TensorFlow and on JAX, then `factory compare`
of the two folders: per model, the final val_loss and val_accuracy on each backend and the paired
t-test over the seeds (each model against the same model on the other backend).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODELS = 3  # experiments/abc.yaml: A, B, C


def timed(command, env=None):
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=None if env is None else {**os.environ, **env})
    return time.perf_counter() - start


# JAX's own switch for the compilation cache, which factory points at <cache>/xla/ (factory.build.keras_setup)
NO_KEPT_PROGRAMS = {"JAX_ENABLE_COMPILATION_CACHE": "false"}


def factory(out, epochs, seeds, backend):
    return [sys.executable, "-m", "factory", "run", "experiments/abc.yaml", "--out", out, "--keras-backend", backend,
            "--set", f"training.epochs={epochs}", "--set", f"training.seeds={list(seeds)}"]


def timing(work, rounds, backends):
    for epochs, what in ((10, "the seed's work (3 models x 10 epochs)"), (2, "a 2-epoch run")):
        commands = {"hand-written tf.keras": [sys.executable, "benchmarks/handwritten_abc.py", "--epochs", str(epochs),
                                              "--seeds", "0", "--out", f"{work}/baseline.json"]}
        commands.update({f"factory on {b}": factory(f"{work}/{b}-{epochs}", epochs, [0], b) for b in backends})
        if "jax" in backends:  # what keeping the compiled programs saves (the folder is warm after round 1)
            commands["jax, nothing kept"] = factory(f"{work}/jax-cold-{epochs}", epochs, [0], "jax")
        times = {name: [] for name in commands}
        print(f"\n{what}, full Fashion-MNIST, seed 0:", flush=True)
        for round_ in range(1, rounds + 1):
            for name, command in commands.items():
                times[name].append(timed(command, NO_KEPT_PROGRAMS if name == "jax, nothing kept" else None))
                print(f"  round {round_}: {name:<24} {times[name][-1]:7.2f} s", flush=True)
        base = statistics.median(times["hand-written tf.keras"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  median {name:<24} {median:7.2f} s  ratio to hand-written {median / base:.2f}  "
                  f"{median / (MODELS * epochs):.2f} s per model-epoch (whole process)")
        for backend in backends:  # each run's own epochs, as its process timed them (last round)
            runs = json.loads(Path(f"{work}/{backend}-{epochs}/results.json").read_text())["runs"]
            print(f"  factory on {backend}: {statistics.mean(r['seconds_per_epoch'] for r in runs):.2f} s per epoch "
                  "of one run (mean over the runs, first epoch included)")


def quality(work, seeds):
    folders = []
    for backend in ("tensorflow", "jax"):
        folder = f"{work}/quality-{backend}"
        print(f"\nquality: the seed's work on {backend}, seeds {seeds} ...", flush=True)
        subprocess.run(factory(folder, 10, seeds, backend), cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        folders.append(folder)
    for folder in folders:
        runs = json.loads(Path(folder, "results.json").read_text())["runs"]
        for model in sorted({r["model"] for r in runs}):
            mine = [r["history"] for r in runs if r["model"] == model]
            loss = statistics.mean(h["val_loss"][-1] for h in mine)
            accuracy = statistics.mean(h["val_accuracy"][-1] for h in mine)
            print(f"  {Path(folder).name:<20} {model}: final val_loss {loss:.4f}, val_accuracy {accuracy:.4f} "
                  f"(mean of {len(mine)} seeds)")
    out = f"{work}/quality-compare"
    subprocess.run([sys.executable, "-m", "factory", "compare", *folders, "--out", out], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    table = Path(out, "comparison.md").read_text()
    print("\n" + table[table.index("## Differences"):] if "## Differences" in table else table)


def main():
    from factory.build.keras_setup import installed

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quality-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--skip-timing", action="store_true")
    p.add_argument("--skip-quality", action="store_true")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="bench-backends-")
    backends = [b for b in ("tensorflow", "jax", "torch") if installed(b)]
    print(f"backends installed: {', '.join(backends)}; outputs in {work}")
    from factory.data import load_data
    from factory.spec.loader import load

    loaded = load(ROOT / "experiments/abc.yaml")  # fill the prepared-data cache, as any earlier run would have
    load_data(loaded.experiment.data, loaded.path.parent)
    if not args.skip_timing:
        timing(work, args.rounds, backends)
    if not args.skip_quality:
        quality(work, args.quality_seeds)


if __name__ == "__main__":
    main()
