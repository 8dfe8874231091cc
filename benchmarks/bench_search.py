"""A search's costs: a trial's overhead against `factory run` of the same spec, and pruning's saving.

    python benchmarks/bench_search.py [--trials 20] [--epochs 5] [--train-size 1000]

1. Overhead: a 3-trial search (no pruner, serial) on digits; each trial's wall time in the driver
   (ask, spec, checks, training with the epoch reporter, tell) against the same trial's spec run
   by `factory run`: the run's own time in its record (build + train + validation + save), and
   the whole command (Python start, TensorFlow import, data) beside it.
2. Pruning: the same `--trials` trials (random sampler, seed 0: the same values proposed whatever
   the results) with `pruner: none` and `pruner: median`; epochs trained and the best objective.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = """\
name: bench-search
data: {{dataset: digits, train_size: {train_size}}}
compile: {{loss: sparse_categorical_crossentropy, metrics: [accuracy], optimizer: {{Adam: {{learning_rate: 1.0e-3}}}}}}
training: {{epochs: {epochs}, batch_size: 32}}
models:
  mlp:
    layers: [Flatten, {{Dense: {{units: 32, activation: relu}}}}, {{Dropout: 0.2}}, {{Dense: {{units: 10, activation: softmax}}}}]
    search:
      trials: {trials}
      sampler: random
      pruner: {pruner}
      space:
        "layers.1.Dense.units": {{int: [8, 128], log: true}}
        "layers.2.Dropout": {{float: [0.0, 0.5]}}
        "compile.optimizer.Adam.learning_rate": {{float: [1.0e-4, 3.0e-2], log: true}}
      confirm_seeds: []
"""


def factory(*args) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "factory", "run", *map(str, args), "--workers", "1"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def search(work: Path, name: str, **fields) -> list[dict]:
    spec = work / f"{name}.yaml"
    spec.write_text(SPEC.format(**fields))
    factory(spec, "--out", work / name)
    return json.loads((work / name / "search.json").read_text())["trials"], work / name


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train-size", type=int, default=1000)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    sys.path.insert(0, str(ROOT))
    import optuna

    from factory.search.pruning import storage

    trials, out = search(work, "overhead", trials=3, pruner="none", epochs=args.epochs, train_size=args.train_size)
    study = optuna.load_study(study_name="mlp", storage=storage(str(out / "study.journal")))
    print(f"1. trial overhead ({args.epochs} epochs, digits train_size {args.train_size}, serial)")
    print("trial  trial wall s  run record s  ratio  factory run command s")
    for t in trials:
        spec = json.loads(study.trials[t["trial"]].user_attrs["spec"])
        spec_path = work / f"{t['name']}.json"  # JSON is YAML
        spec_path.write_text(json.dumps(spec))
        command = factory(spec_path, "--out", work / t["name"])
        (run,) = json.loads((work / t["name"] / "results.json").read_text())["runs"]
        own = run["build_seconds"] + run["train_seconds"] + run["validation_seconds"] + run.get("save_seconds", 0)
        wall = study.trials[t["trial"]].user_attrs["wall_seconds"]
        same = run["history"]["val_loss"][-1] == t["value"]
        print(f"{t['name']}  {wall:12.2f}  {own:12.2f}  {wall / own:5.2f}  {command:21.2f}"
              f"  (same final val_loss: {same})")

    print(f"\n2. pruning over the same {args.trials} trials (random sampler, seed 0, {args.epochs} epochs)")
    for pruner in ("none", "median"):
        trials, _ = search(work, f"prune-{pruner}", trials=args.trials, pruner=pruner, epochs=args.epochs,
                           train_size=args.train_size)
        done = [t for t in trials if t["state"] == "completed"]
        best = min(done, key=lambda t: t["value"])
        print(f"pruner {pruner:6}: {sum(t['epochs'] for t in trials):3d} epochs trained, "
              f"{sum(t['state'] == 'pruned' for t in trials):2d} pruned, "
              f"{sum(t['wall_seconds'] for t in trials if 'wall_seconds' in t):6.1f} s of trials (wall), "
              f"best {best['name']} val_loss {best['value']:.4f}")


if __name__ == "__main__":
    main()
