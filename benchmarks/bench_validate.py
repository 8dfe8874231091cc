"""Median wall time of `factory validate experiments/abc.yaml` in fresh processes, against the 0.3 s budget.

    python benchmarks/bench_validate.py [--rounds 9] [--spec experiments/abc.yaml] [--against DIR]

Each round starts a new Python process, as a user's command does, so imports count. `--against`
times another checkout (for example the code before a change) alternately in the same sitting,
since a shared machine's load moves both alike.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 0.3


def once(root: Path, spec: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "factory", "validate", spec], cwd=root, check=True,
                   stdout=subprocess.DEVNULL, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(prog="bench_validate", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=9, help="fresh processes per checkout")
    p.add_argument("--spec", default="experiments/abc.yaml", help="the spec to validate, relative to the checkout")
    p.add_argument("--against", type=Path, help="another checkout to time alternately")
    args = p.parse_args()
    roots = {"this": ROOT, **({"against": args.against.resolve()} if args.against else {})}
    times: dict[str, list[float]] = {name: [] for name in roots}
    for _ in range(args.rounds):
        for name, root in roots.items():
            times[name].append(once(root, args.spec))
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:8s} median {median:.3f} s over {len(values)} runs (min {min(values):.3f}, "
              f"max {max(values):.3f}); ratio to the {BUDGET_S} s budget {median / BUDGET_S:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
