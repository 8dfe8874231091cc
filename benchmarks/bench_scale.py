"""Wall time of a 12-run sweep: serial vs `--workers 2` vs `--backend ray`, and the same histories.

    python benchmarks/bench_scale.py [--rounds 2] [--epochs 3] [--train-size 10000]

The sweep is experiments/initializers.yaml (4 variants) over seeds 0, 1, 2. Each backend runs in a
fresh process, alternating; the script prints each time, the medians, the ratios to serial, and
the largest val_loss difference between backends (0 means the same results).
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
BACKENDS = {"serial": ["--workers", "1"], "workers 2": ["--workers", "2"],
            "ray": ["--backend", "ray", "--workers", "2"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-size", type=int, default=10000)
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    sets = ["--set", "training.seeds=[0, 1, 2]", "--set", f"training.epochs={args.epochs}",
            "--set", f"data.train_size={args.train_size}"]
    times = {name: [] for name in BACKENDS}
    for round_ in range(1, args.rounds + 1):
        for name, extra in BACKENDS.items():
            out = work / name.replace(" ", "-")
            command = [sys.executable, "-m", "factory", "run", "experiments/initializers.yaml", "--out", str(out),
                       *sets, *extra]
            start = time.perf_counter()
            subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
            print(f"round {round_}: {name:<10} {times[name][-1]:7.2f} s", flush=True)
    serial = statistics.median(times["serial"])
    print()
    for name, values in times.items():
        m = statistics.median(values)
        print(f"median {name:<10} {m:7.2f} s   ratio to serial {m / serial:.2f}")
    runs = {name: {(r["model"], r["seed"]): r["history"]["val_loss"]
                   for r in json.loads((work / name.replace(" ", "-") / "results.json").read_text())["runs"]}
            for name in BACKENDS}
    for name in ("workers 2", "ray"):
        diff = max(abs(a - b) for key in runs["serial"] for a, b in zip(runs["serial"][key], runs[name][key]))
        print(f"val_loss, {name} vs serial: max |difference| over {len(runs['serial'])} runs {diff:.2e}")


if __name__ == "__main__":
    main()
