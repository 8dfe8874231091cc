"""Fashion-MNIST as an image folder: seconds per epoch streamed from files against arrays, and peak memory.

    python benchmarks/bench_folders.py [--folder /tmp/fashion-folder] [--epochs 3]
    python benchmarks/bench_folders.py --write-only --folder data/fashion   # just write the folder

Writes Debian's Fashion-MNIST (`/usr/share/datasets/fashion-mnist/`) as PNG files, one subfolder
per class (`train/<class>/<n>.png`, `test/<class>/<n>.png`, and `train_6000/` with the first 600
of each class), then:

1. trains the seed's model A on the arrays and on the folder (`cache: true`) in this process, the
   way `factory run` trains one run (`train_one`'s build, adapt and `fit_arguments`), and prints the
   mean seconds of the epochs after the first (the first decodes the files) and their ratio;
2. runs `factory run` on the folder with `cache: false` for one epoch over the 60,000 files and over
   the 6,000, each in a fresh process, and prints each process's peak resident memory: streaming
   holds a few batches, so it must not grow with the number of files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
MODEL_A = """\
models:
  A:
    layers:
      - Flatten
      - Dense: {units: 64, activation: relu}
      - Dense: {units: 10, activation: softmax}
"""


def write_folder(folder: Path) -> Path:
    """Write Fashion-MNIST as PNG files under `folder` (train/, test/, train_6000/); skip if already there."""
    from PIL import Image

    from factory.data import DEBIAN_FASHION_MNIST, IDX_FILES, read_idx

    if (folder / "done").is_file():
        return folder
    x_train, y_train, x_test, y_test = (read_idx(DEBIAN_FASHION_MNIST / name) for name in IDX_FILES)
    for split, xs, ys, per_class in (("train", x_train, y_train, None), ("test", x_test, y_test, None),
                                     ("train_6000", x_train, y_train, 600)):
        counts = [0] * len(CLASSES)
        for name in CLASSES:
            (folder / split / name).mkdir(parents=True, exist_ok=True)
        for i, (x, y) in enumerate(zip(xs, ys)):
            if per_class is not None and counts[y] >= per_class:
                continue
            counts[y] += 1
            Image.fromarray(x, "L").save(folder / split / CLASSES[y] / f"{i:05d}.png")
    (folder / "done").write_text("written by benchmarks/bench_folders.py\n")
    return folder


def epoch_seconds(data, epochs: int) -> list[float]:
    """Seconds of each epoch of model A trained on `data` as `train_one` trains it."""
    from factory.build.adapt import prepare_model
    from factory.build.compiler import build_model, compile_model
    from factory.build.keras_setup import import_keras
    from factory.data.feeding import fit_arguments
    from schemas import Experiment

    keras = import_keras()
    spec = Experiment.model_validate({
        "name": "bench", "data": {"dataset": "fashion_mnist"},
        "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
        "training": {"epochs": epochs, "batch_size": 32},
        "models": {"A": {"layers": [{"Flatten": None}, {"Dense": {"units": 64, "activation": "relu"}},
                                    {"Dense": {"units": 10, "activation": "softmax"}}]}}}).resolved().models["A"]
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    keras.utils.set_random_seed(0)
    model = prepare_model(keras, build_model("A", spec, data.input_shape, getattr(data, "input_dtype", None)), data)
    compile_model(model, spec.compile)
    model.fit(**fit_arguments(data, spec.training, 0), epochs=epochs, verbose=0, callbacks=[Timer()])
    return times


def peak_memory(folder: Path, train: str) -> tuple[float, float]:
    """Peak resident memory (MiB) and seconds of `factory run` over `folder/train`, cache off, one epoch."""
    with tempfile.TemporaryDirectory() as scratch:
        spec = Path(scratch) / "spec.yaml"
        spec.write_text(f"name: mem\ndata: {{dataset: {folder / train}/, test: {folder / 'test'}/, cache: false}}\n"
                        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
                        "training: {epochs: 1, batch_size: 32}\n" + MODEL_A)
        code = ("import resource, sys; from factory.cli import main; code = main(sys.argv[1:]); "
                "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, "run", str(spec), "--out", str(Path(scratch) / "out"),
                               "--workers", "1"], capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(done.stdout + done.stderr)
        peak = next(line for line in done.stdout.splitlines() if line.startswith("PEAK"))
        return int(peak.split()[1]) / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench_folders.py", description=__doc__.split("\n")[0])
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "fashion-folder",
                        help="where the image folder is written (reused when already there)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timing (the first is left out)")
    parser.add_argument("--write-only", action="store_true", help="write the folder and stop")
    args = parser.parse_args()
    started = time.perf_counter()
    folder = write_folder(args.folder.resolve())
    print(f"folder {folder} ready ({time.perf_counter() - started:.1f} s)")
    if args.write_only:
        return
    from factory.data import load_data
    from schemas import Data

    arrays = load_data(Data(dataset="fashion_mnist"))
    streamed = load_data(Data(dataset=str(folder / "train") + "/", test=str(folder / "test") + "/", cache=True))
    print(f"arrays: {arrays.describe()}\nfolder: {streamed.describe()}")
    figures = {}
    for name, data in (("arrays", arrays), ("folder, cache", streamed)):
        times = epoch_seconds(data, args.epochs)
        figures[name] = sum(times[1:]) / len(times[1:])
        print(f"{name:14s} epochs {', '.join(f'{t:.2f}' for t in times)} s; after the first: {figures[name]:.2f} s/epoch")
    print(f"ratio folder/arrays after the first epoch: {figures['folder, cache'] / figures['arrays']:.2f} (target <= 1.5)")
    for train in ("train_6000", "train"):
        mib, seconds = peak_memory(folder, train)
        print(f"cache: false, {train:10s}: peak RSS {mib:,.0f} MiB ({seconds:.0f} s for one epoch, start-up included)")
    print(json.dumps({"s_per_epoch": figures}))


if __name__ == "__main__":
    main()
