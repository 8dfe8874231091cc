"""Old spellings users copy from books and Keras 2 code, and the Keras 3 names they translate to.

This is the one place where an accepted spelling differs from Keras 3's. Each rename is applied
before validation, so the rest of the tool only ever sees Keras 3 argument names, and Keras never
sees (nor warns about) the old ones. Spellings Keras 3 itself refuses (`lr`) are refused too, with
the name to write instead; so is Python's tuple syntax, which YAML reads as text.
"""

from pydantic_core import PydanticCustomError

# Keras class name -> {old argument name: Keras 3 argument name}
RENAMED_ARGUMENTS: dict[str, dict[str, str]] = {
    "LeakyReLU": {"alpha": "negative_slope"},  # Keras 2 and most books: LeakyReLU(alpha=0.2)
}

# Keras 2 arguments Keras 3 refuses, so they are not translated: each unknown key gets, where the
# Keras 3 name is accepted, "did you mean" that name and why (see `schemas.base.suggestion`).
KERAS2_NAMES: dict[str, tuple[str, str]] = {
    # old name: (Keras 3 name, what to know)
    "lr": ("learning_rate", "`lr` is Keras 2's name; Keras 3 refuses it"),
    "input_dim": ("input_shape", "Keras 2's `input_dim: N` is `input_shape: [N]` on the model or its "
                                 "first layer"),
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


def tuple_as_text(value: object) -> object:
    """Refuse `(28, 28)`, which YAML reads as the text "(28, 28)", saying to write a list; else pass through.

    Python's tuples are how Keras code writes shapes, and YAML has no tuples. Inside a flow mapping
    (`{kernel_size: (3, 3)}`) YAML even splits the tuple at its comma, leaving the text "(3".
    """
    if not isinstance(value, str) or not value.strip().startswith("("):
        return value
    text = value.strip()
    if text.endswith(")"):
        raise PydanticCustomError("spec", "YAML reads {value} as text, not a tuple: write a list: [{inner}]",
                                  {"value": text, "inner": text[1:-1].strip().rstrip(",")})
    raise PydanticCustomError("spec", "YAML reads {value} as text (inside {...} a comma ends the value): "
                                      "write the tuple as a list, in square brackets", {"value": text})
