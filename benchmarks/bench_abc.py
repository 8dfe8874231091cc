"""Whole-process wall time: the hand-written tf.keras script vs `factory run`, on the same work.

    python benchmarks/bench_abc.py [--rounds 3] [--epochs 10] [--train-size N] [--seeds 0] [-- extra factory args]

Runs baseline and factory alternately (A B A B ...) in fresh processes, then prints each time,
the medians, the ratio factory/baseline, and the largest |val_loss difference| of every model and
seed between the two (0 means the same mathematics).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command):
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train-size", type=int, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("factory_args", nargs="*", help="extra arguments for `factory run` (after --)")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="bench-abc-")
    common = ["--epochs", str(args.epochs), "--seeds", *map(str, args.seeds)]
    sets = ["--set", f"training.epochs={args.epochs}", "--set", f"training.seeds={args.seeds}"]
    if args.train_size:
        common += ["--train-size", str(args.train_size)]
        sets += ["--set", f"data.train_size={args.train_size}"]
    baseline = [sys.executable, "benchmarks/handwritten_abc.py", *common, "--out", f"{work}/baseline.json"]
    factory = [sys.executable, "-m", "factory", "run", "experiments/abc.yaml", "--out", f"{work}/factory",
               *sets, *args.factory_args]
    times = {"baseline": [], "factory": []}
    for round_ in range(1, args.rounds + 1):
        for name, command in (("baseline", baseline), ("factory", factory)):
            seconds = timed(command)
            times[name].append(seconds)
            print(f"round {round_}: {name:<8} {seconds:7.2f} s", flush=True)
    b, f = statistics.median(times["baseline"]), statistics.median(times["factory"])
    print(f"\nmedian: baseline {b:.2f} s, factory {f:.2f} s, ratio factory/baseline {f / b:.2f} "
          f"({b / f:.2f}x faster)")
    theirs = json.loads(Path(f"{work}/baseline.json").read_text())
    ours = {f"{r['model']}/{r['seed']}": r["history"]["val_loss"]
            for r in json.loads(Path(f"{work}/factory/results.json").read_text())["runs"]}
    for key in theirs:
        diff = max(abs(a - b) for a, b in zip(theirs[key], ours[key]))
        print(f"val_loss {key}: max |difference| over {len(theirs[key])} epochs {diff:.2e}")


if __name__ == "__main__":
    main()
