"""The JSON Schema in a real editor: yaml-language-server, driven over stdio as an editor drives it.

The server is the npm package pinned in `.ci/node/package.json` (`.ci/run` installs it with
`npm ci --prefix .ci/node`). Every file is opened the way README's "Editor support" says: the schema
written by `factory schema` one folder up, and the modeline `$schema=../factory.schema.json` on the
spec's first line, a path relative to the spec file. Valid files must get no diagnostic; each
invalid file an error on each line the CLI reports (or at least one, for the hostile cases).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from schemas import json_schema
from tests.conftest import EXPERIMENTS, ROOT

NODE = shutil.which("node")
SERVER = ROOT / ".ci" / "node" / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
MODELINE = "# yaml-language-server: $schema=../factory.schema.json\n"
# a `set_` case is a valid file made wrong by its `--set` arguments, which an editor never sees
HOSTILE = sorted(p for p in (ROOT / "tests" / "hostile").glob("*.yaml") if not p.stem.startswith("set_"))
# Hostile cases an editor cannot see, and why; every other one must get an error.
UNSEEN = {"comment_only": "a file of comments only is an empty document, which the server does not check",
          "empty": "an empty file (here only the modeline) is an empty document, likewise",
          "sweep_names": "names made by sweeps and fields that overlap across sweep axes are known only "
                         "once the sweeps are expanded, which a JSON Schema cannot do",
          "metric_names": "a metric name is refused for the names of the other metrics and outputs, which a "
                          "JSON Schema cannot compare",
          "wrapper_held_layer": "the held layer's own Input or input_shape is refused by the wrapper's "
                                "validator; the schema describes any layer there",
          "graph_wiring": "which names `from:` may use depends on the other layers' names and their order, "
                          "which a JSON Schema cannot compare",
          "keras_backend_mistakes": "a backend that is not installed and distribute on a backend other than "
                                    "TensorFlow depend on this machine or on two fields together",
          "search_space": "a space path is checked by applying it to the model, as --set and sweep do, "
                          "which a JSON Schema cannot do"}
ERROR = 1  # LSP DiagnosticSeverity.Error

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed; .ci/run installs nodejs and "
                                                     "the pinned yaml-language-server")

LIBRARY = """\
include:
  other: other.yaml
blocks:
  dense_bn:
    params: {units: 64}
    layers: [Dense: "${units}", BatchNormalization: {}]
models:
  mlp:
    label: MLP
    layers:
      - Flatten
      - Dense: 64
      - Dense: {units: 10, activation: softmax}
  child:
    extends: mlp
    edit:
      - {replace: 1, with: [$dense_bn: {units: 32}]}
      - {set: 2, with: {units: 10}}
      - {remove: 0}
      - {insert_after: -1, with: [Dropout: 0.25]}
"""

# Invalid files the editor must flag: (name, text); each line ending in `# !` must get an error.
INVALID = [
    ("library_model", "models:\n  mlp:\n    layers:\n      - Dense: 0  # !\n"),
    ("experiment_without_name", "data: {dataset: digits}  # !\nmodels:\n  mlp:\n    layers: [Flatten]\n"),
    ("edit_forms", """\
name: e
data: {dataset: digits}
compile: {loss: mse}
models:
  A:
    layers: [Flatten, Dense: 10]
  B:
    extends: A
    edit:
      - {replace: 0, with: {Dense: 99}}  # !
      - {remove: 1, with: [Dense: 3]}  # !
      - {set: 1, with: [Dense: 3]}  # !
      - {replace: 0, remove: 1}  # !
      - {insert_after: 0}  # !
      - {insert_before: 0, with: [Dense: 0]}  # !
"""),
    ("bare_name_needs_arguments", "name: b\ndata: {dataset: digits}\nmodels:\n  A:\n    layers:\n"
                                  "      - Flatten\n      - Dense  # !\n"),
]


class LanguageServer:
    """A yaml-language-server process and the diagnostics it has published, by document URI."""

    def __init__(self):
        self.process = subprocess.Popen([NODE, str(SERVER), "--stdio"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id = 0
        self.buffer = b""
        self.diagnostics: dict[str, list[dict]] = {}
        self.responses: dict[int, dict] = {}
        # no schema association: each file names its schema in its modeline, as README says;
        # no schema store, which would fetch from the network
        self.settings = {"yaml": {"validate": True, "completion": True, "hover": True,
                                  "schemaStore": {"enable": False}}}
        self.result(self.request("initialize", {
            "processId": os.getpid(), "rootUri": None,
            "capabilities": {"textDocument": {"completion": {"completionItem": {"snippetSupport": True}}},
                             "workspace": {"configuration": True}}}))
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": self.settings})

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.process.stdin.flush()

    def request(self, method: str, params: dict) -> int:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.next_id

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def open(self, path: Path, text: str) -> str:
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                              "text": text}})
        return uri

    def pump(self, seconds: float) -> None:
        """Read and handle messages for up to `seconds`."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if not select.select([self.process.stdout], [], [], left)[0]:
                return
            chunk = os.read(self.process.stdout.fileno(), 1 << 16)
            assert chunk, "the language server exited"
            self.buffer += chunk
            while b"\r\n\r\n" in self.buffer:
                head, rest = self.buffer.split(b"\r\n\r\n", 1)
                length = int(re.search(rb"Content-Length: *(\d+)", head, re.I).group(1))
                if len(rest) < length:
                    break
                self.buffer = rest[length:]
                self.handle(json.loads(rest[:length]))

    def handle(self, message: dict) -> None:
        method = message.get("method")
        if method == "textDocument/publishDiagnostics":
            self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
        elif method and "id" in message:  # a request from the server: settings, or nothing to give
            items = message["params"].get("items", []) if method == "workspace/configuration" else None
            result = [self.settings.get(i.get("section")) for i in items] if items is not None else None
            self.send({"id": message["id"], "result": result})
        elif "id" in message:
            self.responses[message["id"]] = message

    def result(self, request_id: int, timeout: float = 20) -> dict:
        end = time.monotonic() + timeout
        while request_id not in self.responses and time.monotonic() < end:
            self.pump(0.1)
        assert request_id in self.responses, "no answer from the language server"
        return self.responses[request_id]["result"]

    def wait_for(self, uris: list[str], timeout: float = 20) -> dict[str, list[dict]]:
        end = time.monotonic() + timeout
        while any(u not in self.diagnostics for u in uris) and time.monotonic() < end:
            self.pump(0.1)
        self.pump(0.3)  # a later, final publication replaces an early one
        missing = [u for u in uris if u not in self.diagnostics]
        assert not missing, f"no diagnostics published for {missing}"
        return {u: self.diagnostics[u] for u in uris}

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    """(server, folder): the schema in `folder`, specs to open in `folder/specs/` with the modeline."""
    if not SERVER.is_file():
        pytest.fail(f"yaml-language-server is not installed at {SERVER}: run `npm ci --prefix .ci/node` "
                    "(as .ci/run does)")
    folder = tmp_path_factory.mktemp("editor")
    (folder / "factory.schema.json").write_text(json.dumps(json_schema()))
    (folder / "specs").mkdir()
    server = LanguageServer()
    yield server, folder
    server.close()


def open_all(editor, texts: dict[str, str]) -> dict[str, list[dict]]:
    """Open each text as `specs/<name>.yaml` under the modeline; its diagnostics by name.

    Each diagnostic gets `line`: its 1-based line in the text as given (the modeline shifts by one).
    """
    server, folder = editor
    uris = {}
    for name, text in texts.items():
        path = folder / "specs" / f"{name}.yaml"
        path.write_text(MODELINE + text)
        uris[name] = server.open(path, MODELINE + text)
    published = server.wait_for(list(uris.values()))
    return {name: [{**d, "line": d["range"]["start"]["line"]} for d in published[uri]]
            for name, uri in uris.items()}


def errors_by_line(diagnostics: list[dict]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for d in diagnostics:
        if d.get("severity", ERROR) == ERROR:
            out.setdefault(d["line"], []).append(d["message"])
    return out


def test_every_experiment_and_a_library_get_no_diagnostic(editor):
    texts = {p.stem: p.read_text() for p in EXPERIMENTS}
    texts["library"] = LIBRARY
    found = open_all(editor, texts)
    assert {name: d for name, d in found.items() if d} == {}


def test_every_hostile_case_the_editor_can_see_gets_an_error(editor):
    texts = {p.stem: p.read_text(encoding="utf-8", errors="replace") for p in HOSTILE if p.stem not in UNSEEN}
    found = open_all(editor, texts)
    assert [name for name, d in found.items() if not errors_by_line(d)] == []
    # the editor cases: an error on every line where the CLI reports one
    for case in HOSTILE:
        if case.stem.startswith("editor_"):
            lines = {int(line.split(":")[1]) for line in case.with_suffix(".expected").read_text().splitlines()}
            errors = errors_by_line(found[case.stem])
            assert {n for n in lines if n not in errors} == set(), (case.name, errors)


@pytest.mark.parametrize("name,text", INVALID, ids=[n for n, _ in INVALID])
def test_invalid_forms_get_an_error_on_each_marked_line(editor, name, text):
    marked = {i + 1 for i, line in enumerate(text.splitlines()) if line.endswith("# !")}
    errors = errors_by_line(open_all(editor, {name: text})[name])
    assert marked and {n for n in marked if n not in errors} == set(), errors


def _snippet_as_typed(snippet: str) -> str:
    """The text a snippet leaves when the user accepts every placeholder as offered (first choice)."""
    snippet = re.sub(r"\$\{\d+\|([^,|]*)[^}]*\}", r"\1", snippet)
    snippet = re.sub(r"\$\{\d+:([^}]*)\}", r"\1", snippet)
    return re.sub(r"\$\d+", "", snippet)


def test_completing_a_layer_inserts_a_mapping_of_its_arguments(editor):
    server, folder = editor
    before = "name: c\ndata: {dataset: digits}\nmodels:\n  A:\n    layers:\n      - Flatten\n      - De"
    path = folder / "specs" / "completion.yaml"
    uri = server.open(path, MODELINE + before)
    server.wait_for([uri])
    line = before.count("\n") + 1
    items = server.result(server.request("textDocument/completion", {
        "textDocument": {"uri": uri}, "position": {"line": line, "character": len("      - De")}}))
    items = items["items"] if isinstance(items, dict) else items
    dense = [i for i in items if i["label"] == "Dense"]
    assert dense, [i["label"] for i in items]
    for item in dense:
        edit = item["textEdit"]
        assert edit["range"]["start"]["line"] == line == edit["range"]["end"]["line"]
        # as an editor inserts a snippet: later lines get the current line's leading whitespace
        indent = "      "
        new = _snippet_as_typed(edit["newText"]).replace("\n", "\n" + indent)
        start, end = edit["range"]["start"]["character"], edit["range"]["end"]["character"]
        current = (MODELINE + before).splitlines()[line]
        text = "\n".join((MODELINE + before).splitlines()[:line] + [current[:start] + new + current[end:]])
        layers = yaml.safe_load(text)["models"]["A"]["layers"]
        assert layers[-1] == {"Dense": {"units": None}}, edit["newText"]


def test_readme_shows_the_modeline_relative_to_the_spec():
    readme = (ROOT / "README.md").read_text()
    assert MODELINE.strip() in readme
    assert "# yaml-language-server: $schema=./factory.schema.json" not in readme
