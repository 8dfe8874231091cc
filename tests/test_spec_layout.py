"""factory/spec: imports flow one way, as its package docstring lists them."""

import ast

from tests.conftest import ROOT

ORDER = ["loader", "overrides", "compose", "sweeps", "extends", "blocks", "files", "shorthand", "yaml_reader",
         "document"]


def spec_imports(module: str) -> set[str]:
    tree = ast.parse((ROOT / "factory" / "spec" / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "factory.spec":
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("factory.spec."):
            found.add(node.module.rsplit(".", 1)[1])
    return found


def test_every_module_is_placed_and_imports_only_the_ones_below_it():
    modules = {p.stem for p in (ROOT / "factory" / "spec").glob("*.py")} - {"__init__"}
    assert modules == set(ORDER)
    for i, module in enumerate(ORDER):
        upward = spec_imports(module) - set(ORDER[i + 1:])
        assert not upward, f"{module} imports {upward}, which stand above it"
