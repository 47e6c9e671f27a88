"""Pages rendered in a real browser: a reproduce report's report.html and the built docs' front page.

Headless Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages ending in NUL, commands on fd 3, replies and events on fd 4), with the pages served
from a temporary copy by a localhost HTTP server. A page fails if any ``<img>`` did not decode
(``naturalWidth == 0``) or if it logged an error: ``console.error``, an uncaught exception, or a
browser log entry of level error (a resource that failed to load, a blocked request).

``.ci/run`` installs Debian's chromium when it is missing, so in CI the test never skips.
Run as a script, this file writes the screenshots committed under docs/screenshots::

    .venv/bin/python tests/test_browser.py docs/screenshots
"""

from __future__ import annotations

import base64
import fcntl
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "results" / "reproduce" / "table2-cpu" / "report.html"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe"]

# Runs in the page once it has loaded: every image is made eager and awaited, then measured.
_IMAGES_JS = """
(async () => {
  const imgs = [...document.images];
  for (const i of imgs) { i.loading = 'eager'; }
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.map(i => ({src: (i.currentSrc || i.src).slice(0, 100), width: i.naturalWidth}));
})()
"""


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """One headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self, binary: str, profile: Path, width: int = 1280, height: int = 900) -> None:
        to_r, self._to_w = os.pipe()  # we write commands; Chromium reads them on fd 3
        self._from_r, from_w = os.pipe()  # Chromium writes replies on fd 4; we read them

        def fds() -> None:  # in the child, before exec: the two pipe ends become fds 3 and 4
            a, b = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)  # clear of 3, 4
            os.dup2(a, 3)  # dup2 makes 3 and 4 inheritable; every other fd of ours is close-on-exec
            os.dup2(b, 4)
            os.close(a)
            os.close(b)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=fds, close_fds=False)
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session = ""
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise TimeoutError("no message from Chromium" + self._stderr_tail())
            ready, _, _ = select.select([self._from_r], [], [], 0.5)
            if ready:
                chunk = os.read(self._from_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe" + self._stderr_tail())
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def _stderr_tail(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return ": " + self.proc.stderr.read().decode(errors="replace")[-2000:]

    def send(self, method: str, timeout: float = 60.0, **params) -> dict:
        self._next_id += 1
        msg: dict = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60.0) -> None:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._read(timeout))

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def images(self) -> list[dict]:
        res = self.send("Runtime.evaluate", expression=_IMAGES_JS, awaitPromise=True, returnByValue=True)
        return res["result"]["value"]

    def errors(self, settle: float = 0.5) -> list[str]:
        """Errors the page logged since ``open``: console.error, uncaught exceptions, browser log errors."""
        end = time.monotonic() + settle
        while time.monotonic() < end:  # let late messages (a failing fetch, a worker) arrive
            try:
                self.events.append(self._read(max(0.05, end - time.monotonic())))
            except TimeoutError:
                break
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                        for a in p.get("args", [])))
            elif e.get("method") == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + str(d.get("exception", {}).get("description", d.get("text"))))
            elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                out.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
        return out

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_w, self._from_r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.stderr is not None:
            self.proc.stderr.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        # The browser asks every origin for /favicon.ico on its own; a page that names no icon
        # (report.html) must not fail for a request it never made.
        if self.path == "/favicon.ico" and not Path(self.translate_path(self.path)).exists():
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()


class Served:
    """A localhost HTTP server over one directory, in a thread."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_Quiet, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _need_chromium() -> str:
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return binary


def check_page(browser: Chromium, url: str) -> tuple[list[dict], list[str]]:
    browser.open(url)
    images = browser.images()
    return images, browser.errors()


@pytest.fixture
def browser(tmp_path, monkeypatch):
    binary = _need_chromium()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    (tmp_path / "home").mkdir()
    b = Chromium(binary, tmp_path / "profile")
    yield b
    b.close()


def test_report_html_renders(tmp_path, browser):
    served_dir = tmp_path / "report"
    served_dir.mkdir()
    shutil.copy(REPORT, served_dir / "report.html")
    for png in REPORT.parent.glob("*.png"):  # the report references the figures beside it
        shutil.copy(png, served_dir / png.name)
    server = Served(served_dir)
    try:
        images, errors = check_page(browser, server.url + "report.html")
    finally:
        server.close()
    assert len(images) >= 4, images  # the report's four figures, the PNG files beside it
    assert all(i["width"] > 0 for i in images), [i for i in images if i["width"] == 0]
    assert errors == []


def test_docs_index_renders(tmp_path, monkeypatch, browser):
    from test_docs import build_site

    site, proc = build_site(tmp_path, monkeypatch)
    assert proc.returncode == 0, proc.stderr[-3000:]
    server = Served(site)
    try:
        for page in ("", "reproduce/", "docs/results/reproduce/table2-cpu/report/"):
            images, errors = check_page(browser, server.url + page)
            assert all(i["width"] > 0 for i in images), (page, [i for i in images if i["width"] == 0])
            assert errors == [], page
        assert images, "the report page shows its figures"
    finally:
        server.close()


def write_screenshots(out: Path) -> None:
    """docs/screenshots/report.png (table2-cpu's report.html) and docs-index.png (the built site)."""
    sys.path.insert(0, str(ROOT / "tests"))
    binary = chromium_binary()
    if binary is None:
        raise SystemExit("chromium is not installed")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        site = t / "site"
        subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)], cwd=ROOT,
                       check=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
        shutil.copy(REPORT, site / "report.html")
        browser = Chromium(binary, t / "profile")  # before the server thread: Popen runs a preexec_fn
        server = Served(site)
        try:
            for url, name in (("report.html", "report.png"), ("", "docs-index.png")):
                images, errors = check_page(browser, server.url + url)
                print(f"{name}: {len(images)} images, {sum(i['width'] == 0 for i in images)} undecoded, "
                      f"{len(errors)} errors {errors}")
                browser.screenshot(out / name)
        finally:
            browser.close()
            server.close()


if __name__ == "__main__":
    write_screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"))
