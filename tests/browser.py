"""Helpers to run the server for real and drive Debian's Chromium headless (used by the browser test and the screenshot script)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import socket
import threading
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if CHROMIUM and CHROMEDRIVER:
        return None
    return "Debian's chromium and chromium-driver are not installed (.ci/install-browser installs them)"


MISSING = _missing()  # the skip reason of every browser test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(app):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def static_site(folder: Path):
    """A second origin that hosts the embedding pages, as another site would."""
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        httpd.shutdown()


@contextlib.contextmanager
def chromium(tmp: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=900,900",
        f"--user-data-dir={tmp / 'chrome-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages (CSP reports) for the tests
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


AXE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "axe"  # gitignored: npm's copy, never committed
AXE = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"


def axe_core() -> tuple[Path | None, str]:
    """axe-core's script from npm (installed into .cache/axe by .ci/install-browser, or here on first use), or why not."""
    if AXE.is_file():
        return AXE, ""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed: axe-core (npm install axe-core@4.x) cannot be fetched"
    import subprocess

    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund", "--silent", "axe-core@4"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        return None, "npm install axe-core@4 took over 300 s (no registry?)"
    if done.returncode != 0 or not AXE.is_file():
        return None, f"npm install axe-core@4 failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}"
    return AXE, ""


def host_pages(folder: Path, api: str, pmid: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "script.html").write_text(
        f'<!doctype html><html><body><h1>A host page</h1><div data-similar-pmid="{pmid}" data-similar-n="5"></div>'
        f'<script src="{api}/widget.js" async></script></body></html>'
    )
    (folder / "iframe.html").write_text(
        f'<!doctype html><html><body><h1>A host page</h1><iframe id="w" src="{api}/widget/{pmid}?n=5" width="600" height="700"'
        f' style="border:0"></iframe></body></html>'
    )
