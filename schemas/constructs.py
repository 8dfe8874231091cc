"""`residual` and `parallel`: layer lists from one input, merged; they stand in a layer list like a layer.

They are not Keras classes: `schemas.graph` wires them into Keras layers (the merge is a merging
layer, `merge: add` an `Add`), and the layer union (schemas.layers) holds them beside the layers.
"""


from typing import Annotated, Any, ClassVar, Literal, Optional, Union

from pydantic import Field

from schemas.base import KerasArgs
from schemas.types import Shape

MERGES = {"add": "Add", "concatenate": "Concatenate", "multiply": "Multiply", "average": "Average",
          "maximum": "Maximum", "minimum": "Minimum"}  # `merge:` of a construct -> the merging layer built
MergeName = Literal["add", "concatenate", "multiply", "average", "maximum", "minimum"]
ELEMENTWISE = frozenset(MERGES) - {"concatenate"}  # merges that need inputs of one shape


class Construct(KerasArgs):
    """Base of `residual` and `parallel`: layer lists from one input, merged (not a Keras layer).

    It takes the keys every layer takes (schemas.layers.Layer): `name` names its merge, and scopes
    the names given inside; `trainable: false` freezes every layer inside.
    """

    keras_class = "construct"
    kind: ClassVar[str] = "construct"  # its key in a spec, for messages and scoped names
    written_as: ClassVar[str] = "construct"  # the key it is written back with (schemas.base.KerasEntry)
    spec_only = frozenset({"input_shape", "from_"})
    name: Optional[str] = Field(None, description="the name of its output (its merge)")
    trainable: bool = Field(True, description="whether training updates the weights of the layers inside")
    input_shape: Optional[Shape] = Field(None, description="Keras 2 style input shape; on the first layer only")
    from_: Optional[Union[str, Annotated[list[str], Field(min_length=1)]]] = Field(
        None, alias="from", description="the layer or input whose output it takes; the previous layer's if not given")


class Residual(Construct):
    """`output = merge(shortcut(x), layers(x))`: a skip connection around `layers`."""

    keras_class = kind = written_as = "residual"
    layers: list["LayerSpec"] = Field(min_length=1, description="the body, applied to the input in turn")
    merge: MergeName = Field("add", description="how the skip path and the body are merged")
    shortcut: Optional[list["LayerSpec"]] = Field(
        None, min_length=1, description="layers on the skip path (where the body changes the shape); "
                                        "the input itself if not given")


class Parallel(Construct):
    """Branches applied to the same input, their outputs merged (Inception-style)."""

    keras_class = kind = written_as = "parallel"
    branches: list[list["LayerSpec"]] = Field(min_length=2, description="the branches, each a layer list")
    merge: MergeName = Field("concatenate", description="how the branches' outputs are merged")


CONSTRUCTS = (Residual, Parallel)
CONSTRUCT_ALIASES = {"residual": "Residual", "parallel": "Parallel"}


def resolve_layer_spec(layer_spec: Any) -> None:
    """Give the constructs' layer lists their type, the layer union that holds the constructs too.

    Put where their annotation `"LayerSpec"` is looked up, not rebuilt now: `model_rebuild` would build
    the whole layer union at import, doubling `factory validate`'s time; Pydantic resolves it when
    the experiment's schema is first built.
    """
    globals()["LayerSpec"] = layer_spec
