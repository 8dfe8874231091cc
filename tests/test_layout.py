"""The import direction between the parts, read from the source (every import, also inside functions).

- factory/results reads plain data: it never imports Keras or TensorFlow;
- factory/spec and schemas stay light: no Keras, TensorFlow or matplotlib;
- backends (the serial one, worker processes, Ray, and the task they run) never import the
  orchestration, factory.train.runner: a task goes down, plain data comes up;
- no import circle among the modules of factory and schemas.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("factory", "schemas")
RULES = [  # (modules this applies to, prefixes they must not import, why)
    (("factory.results",), ("keras", "tensorflow", "factory.train", "factory.build"),
     "results are made from plain data (results.json), never from training or Keras objects"),
    (("factory.spec", "schemas"), ("factory.build", "factory.train", "factory.results"),
     "reading a spec comes first and depends on nothing after it"),
    (("schemas",), ("factory",), "the spec language is a package of its own"),
    (("factory.spec", "schemas"), ("keras", "tensorflow", "matplotlib"), "reading a spec stays light"),
    (("factory.train.backend", "factory.train.workers", "factory.train.ray_backend", "factory.train.task"),
     ("factory.train.runner",), "backends execute tasks and never import the orchestration"),
]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """Every module of `packages` under `root` -> the modules it imports anywhere in its source."""
    graph = {}
    files = [p for package in packages for p in sorted((root / package).rglob("*.py"))]
    known = {module_name(root, p) for p in files}
    for path in files:
        name = module_name(root, path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                for alias in node.names:  # `from pkg import module` imports pkg.module
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        graph[name] = found
    return graph


def broken_rules(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for owners, forbidden, why in RULES:
        for module, imported in graph.items():
            if module.startswith(owners):
                for target in sorted(imported):
                    if any(target == f or target.startswith(f + ".") for f in forbidden):
                        out.append(f"{module} imports {target}: {why}")
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles among the modules of the graph (each found once per starting edge)."""
    found, state = [], {}

    def visit(module, stack):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in graph or target == module:
                continue
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return found


def test_imports_flow_one_way():
    assert broken_rules(imports(ROOT)) == []


def test_no_import_circles():
    assert [" -> ".join(c) for c in circles(imports(ROOT))] == []


def test_the_checks_catch_a_forbidden_import_and_a_circle(tmp_path):
    """The checker itself: a results module importing Keras, a backend importing the runner, a circle."""
    for name, text in {
        "factory/__init__.py": "",
        "factory/results/__init__.py": "",
        "factory/results/plots.py": "def f():\n    import keras\n",
        "factory/train/__init__.py": "",
        "factory/train/workers.py": "from factory.train import runner\n",
        "factory/train/runner.py": "from .task import train\n",
        "factory/train/task.py": "from factory.train.runner import plan\n",
        "schemas/__init__.py": "",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = imports(tmp_path)
    assert broken_rules(graph) == [
        "factory.results.plots imports keras: results are made from plain data (results.json), never from "
        "training or Keras objects",
        "factory.train.task imports factory.train.runner: backends execute tasks and never import the orchestration",
        "factory.train.workers imports factory.train.runner: backends execute tasks and never import the orchestration",
    ]
    assert circles(graph) == [["factory.train.runner", "factory.train.task", "factory.train.runner"]]


def test_results_and_spec_import_no_tensorflow_when_loaded():
    """The same, as Python sees it: import every results and spec module, then look at sys.modules."""
    graph = imports(ROOT)
    light = [m for m in graph if m.startswith(("factory.results", "factory.spec", "schemas"))]
    code = ("import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in light)
            + "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
