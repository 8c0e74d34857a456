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
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


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
