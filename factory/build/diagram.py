"""A built model for reading: a table of its layers (what feeds each, output shape, parameters) or a picture.

`layer_table(model)` is what `factory show` prints; `write_diagram(model, path)` draws the model
with Keras's own `keras.utils.plot_model`, which needs pydot and Graphviz's `dot` program:
`diagram_tools_missing()` says which is missing before anything is built.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from factory.build.keras_graph import graph_of


def layer_table(model) -> str:
    """One line per layer: name, class, the layers or inputs feeding it, output shape, parameters.

    Inputs come first, one line each; then the layers in Keras's order. A Sequential model's
    layers each read the one before (its input is called `input`).
    """
    graph = graph_of(model)
    rows = [("layer", "class", "from", "output shape", "params")]
    for name, shape in graph.inputs.items():
        rows.append((name, "Input", "", _shape(["None", *shape]), "0"))
    for name, layer in graph.layers.items():
        rows.append((name, type(layer).__name__, ", ".join(graph.sources[name]),
                     _shape(layer.output.shape), f"{layer.count_params():,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths)] + [row[-1].rjust(widths[-1])]
        lines.append("  ".join(cells).rstrip())
    if len(graph.outputs) > 1 or (graph.layers and graph.outputs != list(graph.layers)[-1:]):
        lines.append(f"outputs: {', '.join(graph.outputs)}")
    return "\n".join(lines)


def _shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def diagram_tools_missing() -> str | None:
    """What `write_diagram` lacks on this machine (pydot, Graphviz's `dot`), said with its fix, or None."""
    try:
        import pydot  # noqa: F401 - only whether it imports
    except ImportError:
        return "--diagram needs the Python package pydot, which is not installed (pip install pydot)"
    if shutil.which("dot") is None:
        return ("--diagram needs Graphviz's `dot` program, which is not on the PATH "
                "(apt-get install graphviz)")
    return None


def write_diagram(model, path: Path) -> Path:
    """Draw `model` into `path` (the format from its suffix: .png, .svg, .pdf) with Keras's plot_model."""
    from factory.build.keras_setup import import_keras

    from factory.atomic import replacing

    keras = import_keras()
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, suffix=path.suffix) as tmp:  # plot_model reads the format from the suffix
        keras.utils.plot_model(model, to_file=str(tmp), show_shapes=True, show_layer_names=True)
    return path
