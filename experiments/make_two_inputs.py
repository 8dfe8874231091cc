"""Write experiments/two_inputs.npz, the data of experiments/two_inputs.yaml, from scikit-learn's digits.

Each example has two inputs and two outputs: `image`, the 8x8 digit, and `extra`, its ink per
quadrant (4 numbers); `label`, the digit (a class), and `size`, its total ink (a number to
regress). The last 360 of the 1,797 digits are the test split, as for the built-in `digits`.

    python experiments/make_two_inputs.py [OUT.npz]
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

TEST = 360


def arrays() -> dict[str, np.ndarray]:
    """The named arrays: x_<split>_image, x_<split>_extra, y_<split>_label, y_<split>_size."""
    digits = load_digits()
    image = digits.images.astype(np.uint8)  # whole numbers 0 to 16
    quadrants = image.reshape(-1, 2, 4, 2, 4).sum(axis=(2, 4)).reshape(-1, 4)
    extra = (quadrants / 256).astype(np.float32)
    size = (image.sum(axis=(1, 2)) / 1024).astype(np.float32).reshape(-1, 1)
    label = digits.target.astype(np.uint8)
    out = {}
    for split, part in (("train", slice(None, -TEST)), ("test", slice(-TEST, None))):
        out |= {f"x_{split}_image": image[part], f"x_{split}_extra": extra[part],
                f"y_{split}_label": label[part], f"y_{split}_size": size[part]}
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("two_inputs.npz")
    np.savez_compressed(target, **arrays())
    print(f"wrote {target}")
