"""A real Laketown server on 127.0.0.1 (uvicorn in a thread) and Debian's headless Chromium
driven by Playwright. Chromium is never downloaded: ``make test`` installs the Debian package."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pytest
import uvicorn

import laketown
from laketown.server import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# generous: a loaded CI machine can take seconds to answer; a broken page never answers
TIMEOUT_MS = 20_000

SALES = pa.table(
    {
        "region": ["north", "south", "east", "west", "centre"],
        "amount": [120.5, 80.0, 42.25, 230.0, 99.0],
        "day": [dt.datetime(2024, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3, 4, 5)],
    }
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerUrl(str):
    """The base URL, carrying an admin API key for signing in (``.key``)."""

    key: str = ""


@contextmanager
def serving(app) -> Iterator[ServerUrl]:
    """Serve ``app`` with uvicorn on 127.0.0.1 and a free port, in a thread, while the block runs."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="laketown-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        yield ServerUrl(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory) -> Iterator[str]:
    """The console's base URL; the server runs until the module's tests are done."""
    ws = laketown.connect(tmp_path_factory.mktemp("console") / "ws", sql={"timeout_s": 5, "max_rows": 100})
    ws.lake.write("raw.shop_sales", SALES)
    with serving(create_app(ws)) as url:
        url.key = ws.governance.create_api_key("admin", "browser tests")
        yield url
    ws.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. Run `make test` "
            "(it installs the chromium package), or `apt-get install chromium`."
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageWatch:
    """Every request the page made and every script error it raised."""

    def __init__(self, page):
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda req: self.requests.append(req.url))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)

    def foreign_requests(self) -> list[str]:
        out = []
        for url in self.requests:
            parts = urlparse(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname != "127.0.0.1":
                out.append(url)
        return out


@contextmanager
def signed_in_page(browser, url: str | None = None, key: str | None = None, width: int = 1360):
    """A page of a fresh browser context, signed in with ``key`` through the real login endpoint
    of ``url`` (``url=None``: not signed in); the context closes afterwards."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    if url is not None:
        assert context.request.post(url + "/api/login", data={"key": key}).ok
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.watch = PageWatch(pg)
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def anonymous_page(browser):
    """A page of a fresh browser context that has not signed in."""
    with signed_in_page(browser) as pg:
        yield pg


@pytest.fixture
def page(browser, server_url):
    """A page signed in as admin (the login cookie is set through the real login endpoint)."""
    with signed_in_page(browser, server_url, server_url.key) as pg:
        yield pg
