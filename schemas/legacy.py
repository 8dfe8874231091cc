"""Old spellings users copy from books and Keras 2 code, and the Keras 3 names they translate to.

This is the one place where an accepted spelling differs from Keras 3's. Each rename is applied
before validation, so the rest of the tool only ever sees Keras 3 argument names, and Keras never
sees (nor warns about) the old ones.
"""

# Keras class name -> {old argument name: Keras 3 argument name}
RENAMED_ARGUMENTS: dict[str, dict[str, str]] = {
    "LeakyReLU": {"alpha": "negative_slope"},  # Keras 2 and most books: LeakyReLU(alpha=0.2)
}

# `input_shape` on a layer (Keras 2: `Flatten(input_shape=(28, 28))`) is accepted on the first layer
# and becomes the model's Input; see `schemas.layers.Layer.input_shape`.
LAYER_INPUT_SHAPE = "input_shape"


def translate(class_name: str, arguments: dict) -> dict:
    """Rename old argument spellings of `class_name` to Keras 3's; the new name wins if both are given."""
    renames = RENAMED_ARGUMENTS.get(class_name)
    if not renames or not any(old in arguments for old in renames):
        return arguments
    out = {}
    for key, value in arguments.items():
        new = renames.get(key, key)
        if new != key and new in arguments:
            raise ValueError(f"give either '{key}' (old spelling) or '{new}', not both")
        out[new] = value
    return out
