"""`factory compare DIR...`: the runs of several output folders in one table and one set of plots.

Pairs compare like with like: each model against the model of the same name in the reference
folder (the first folder, or `--reference DIR`), so two runs of one experiment at two learning
rates give one line per model, not every run against every other. A model whose name the
reference folder lacks is compared with the reference folder's first model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from factory.errors import Issue, SpecError
from factory.results import stats
from factory.results.models import RESULTS, model_info
from factory.results.artifacts import write_comparison


def read_results(folder: Path) -> dict:
    path = Path(folder) / RESULTS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError([Issue(f"{folder} has no {RESULTS}: is it an output folder of `factory run`?")]) from None
    except (OSError, ValueError) as e:
        raise SpecError([Issue(f"cannot read {path}: {e}")]) from None


def merge(folders: Sequence[Path]) -> tuple[list[dict], dict[str, dict], list[dict[str, str]]]:
    """All runs and models of the folders, and per folder its model names as shown.

    A name that occurs in several folders is shown as `<folder>/<model>` (the experiment's name, or
    the folder's path where two folders hold the same experiment).
    """
    loaded = [(Path(f), read_results(f)) for f in folders]
    counts: dict[str, int] = {}
    for _, results in loaded:
        for name in results["experiment"]["models"]:
            counts[name] = counts.get(name, 0) + 1
    runs, models, shown_names = [], {}, []
    for folder, results in loaded:
        prefix = results["experiment"].get("name") or folder.name
        if sum(1 for f, r in loaded if (r["experiment"].get("name") or f.name) == prefix) > 1:
            prefix = str(folder)
        shown_here = {}
        for name, info in model_info(results).items():
            shared = counts[name] > 1
            shown = f"{prefix}/{name}" if shared else name
            models[shown] = {**info, "label": (info["label"] or name) + (f" ({prefix})" if shared else "")}
            if shared:  # the same model in several folders: default colours keep them apart
                models[shown].update(color=None, linestyle=None)
            shown_here[name] = shown
            runs += [{**r, "model": shown} for r in results["runs"] if r["model"] == name]
        shown_names.append(shown_here)
    return runs, models, shown_names


def like_with_like(shown_names: Sequence[dict[str, str]], reference: int = 0) -> list[tuple[str, str]]:
    """Pairs (reference model, other model): each model of the other folders against the reference
    folder's model of the same name, or its first model where it has no such name."""
    ref = shown_names[reference]
    first = next(iter(ref.values()), None)
    pairs = []
    for index, names in enumerate(shown_names):
        if index == reference:
            continue
        for name, shown in names.items():
            partner = ref.get(name, first)
            if partner is not None:
                pairs.append((partner, shown))
    return pairs


def _distinct(folders: list[Path]) -> list[Path]:
    """The folders without repeats of one resolved path, saying which were dropped."""
    seen: dict[Path, Path] = {}
    for folder in folders:
        first = seen.setdefault(folder.resolve(), folder)
        if first is not folder:
            print(f"note: {folder} is {first} again: counted once", file=sys.stderr)
    return list(seen.values())


def _check_out(out: Path, folders: list[Path]) -> None:
    if out.resolve() in {f.resolve() for f in folders}:
        raise SpecError([Issue(f"--out {out} is one of the compared folders: its own comparison files "
                               "would be overwritten; choose another --out")])
    if (out / RESULTS).exists():
        raise SpecError([Issue(f"--out {out} holds a {RESULTS}: it is the output folder of a run, whose "
                               "comparison files would be overwritten; choose another --out")])


def compare_folders(folders: Sequence[Path], out: Path, reference: Path | None = None) -> int:
    """Write the comparison of `folders` into `out`; `reference` (default: the first folder) is what
    every model is compared with, and is added to the folders if it is not among them.

    A folder named twice (the same resolved path) counts once. `out` must be a folder of its own:
    one of the compared folders, or any folder holding a results.json, is refused, since its
    comparison files and report.html would then disagree.
    """
    folders = _distinct([Path(f) for f in folders])
    _check_out(Path(out), folders + ([Path(reference)] if reference is not None else []))
    index = 0
    if reference is not None:
        resolved = [f.resolve() for f in folders]
        if Path(reference).resolve() in resolved:
            index = resolved.index(Path(reference).resolve())
        else:
            folders.insert(0, Path(reference))
    runs, models, shown_names = merge(folders)
    pairs = stats.compare_pairs(runs, models, like_with_like(shown_names, index))
    out.mkdir(parents=True, exist_ok=True)
    rows, written = write_comparison(
        out, "Comparison of " + ", ".join(map(str, folders)), runs, models, pairs,
        f"Differences from {folders[index]}\n\nEach model against the model of the same name in the "
        "reference folder (else its first model).")
    print(stats.plain_text(rows))
    for pair in pairs:
        print(stats.pair_line(pair))
    print(f"\nwritten to {out}/: " + ", ".join(p.name for p in written),
          file=sys.stderr)
    return 0
