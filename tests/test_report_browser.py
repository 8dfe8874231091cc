"""report.html in a real browser: headless Chromium decodes every image and logs no error.

Chromium is driven through the DevTools protocol over a pipe (`--remote-debugging-pipe`: JSON
messages ending in a NUL byte on file descriptors 3 and 4), so no driver package is needed. The
test keeps a screenshot of the page in its temporary folder. Skipped where Chromium is missing
(`apt-get install chromium`, as `.ci/run` does).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import TINY

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")

# Every <img> with whether it decoded: complete and a natural width above zero.
IMAGES = ("JSON.stringify([...document.images].map(i => ({alt: i.alt, complete: i.complete, "
          "width: i.naturalWidth, height: i.naturalHeight})))")


class Browser:
    """A headless Chromium with one page, spoken to through the DevTools protocol on a pipe."""

    def __init__(self, profile: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire():  # Chromium reads commands on fd 3 and writes replies and events on fd 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)]  # neither is 3 or 4 now
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--hide-scrollbars", "--window-size=1280,2000", f"--user-data-dir={profile}",
             "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4),  # kept open after `wire` made them the pipe's ends
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer, self._next_id, self.events, self.session = b"", 0, [], None

    def send(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        """Send a command (to the page once attached) and return its result; events are kept in `events`."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        """The first event `method` received (already or within `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((e for e in self.events if e.get("method") == method), None)
            if found is not None:
                return found
            self.events.append(self._receive(deadline - time.monotonic()))

    def _receive(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_chrome], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        return self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"]["value"]

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (a broken image, a blocked resource)."""
        out = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                out.append("exception: " + (details.get("exception", {}).get("description") or details["text"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.append("log: " + params["entry"]["text"])
        return out

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", {"captureBeyondViewport": True})["data"]))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass  # it may close the pipe before answering
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def look_at(page: Path, folder: Path) -> tuple[list[dict], list[str]]:
    """Open `page` in a fresh headless Chromium: its images' decode state and the errors it logged;
    the screenshot is kept beside as `<page>.png` in `folder`."""
    browser = Browser(folder / f"profile-{page.stem}")
    try:
        browser.open(page.resolve().as_uri())
        time.sleep(0.3)  # late console messages
        images = json.loads(browser.evaluate(IMAGES))
        browser.screenshot(folder / f"{page.stem}.png")
        return images, browser.errors()
    finally:
        browser.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from factory.spec.loader import load
    from factory.train.runner import run_experiment

    folder = tmp_path_factory.mktemp("report")
    spec = folder / "tiny.yaml"
    spec.write_text(TINY.replace("seeds: [0]", "seeds: [0, 1]"))
    assert run_experiment(load(spec), folder / "out") == 0
    return folder / "out" / "report.html"


def test_every_image_decodes_and_the_console_is_clean(report, tmp_path):
    images, errors = look_at(report, tmp_path)
    plots = json.loads((report.parent / "results.json").read_text())["files"]
    assert len(images) == len([f for f in plots if f.endswith(".png")]) >= 3
    assert [i for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)] == []
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000, "a screenshot of the page is kept"


def test_the_check_sees_a_broken_image_and_a_script_error(report, tmp_path):
    """The same check on a copy where one image's bytes are not a PNG and a script fails: both are caught."""
    html = report.read_text(encoding="utf-8")
    start = html.index("base64,") + len("base64,")
    broken = html[:start] + base64.b64encode(b"not a PNG").decode() + html[html.index("'", start):]
    broken = broken.replace("</body>", "<script>undefinedFunction()</script></body>")
    page = tmp_path / "broken.html"
    page.write_text(broken, encoding="utf-8")
    images, errors = look_at(page, tmp_path)
    assert [i["width"] for i in images].count(0) == 1
    assert any("undefinedFunction is not defined" in e for e in errors), errors
