"""The console page, the app page slot and the API docs, as HTML over HTTP."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, Request

from laketown.console import render_page
from laketown.errors import LaketownError
from laketown.server import create_app, mount_app_page
from tests.server.conftest import TestClient


def _asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_console_page_loads_only_local_assets_under_a_strict_policy(client):
    resp = client.get("/")
    assert resp.status_code == 200
    csp = resp.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    urls = _asset_urls(resp.text)
    assert urls and all(u.startswith(("/", "#")) for u in urls), urls
    for url in urls:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url


def test_every_console_script_and_style_is_served(client):
    for name in ("console.js", "catalog.js", "sql.js", "chart.js", "grid.js", "api.js", "console.css", "favicon.svg"):
        assert client.get(f"/static/console/{name}").status_code == 200, name


def test_api_docs_are_served_from_local_files(client):
    for path in ("/docs",):
        html = client.get(path).text
        urls = _asset_urls(html)
        assert urls and all(u.startswith("/static/docs/") for u in urls), urls
        for url in urls:
            assert client.get(url).status_code == 200, url
        assert "https://" not in html
    assert client.get("/redoc").status_code == 404  # its bundle fetches a logo from a CDN
    spec = client.get("/openapi.json").json()
    assert {"/health", "/api/tables", "/api/tables/{zone}/{table}", "/api/sql"} <= set(spec["paths"])


def test_app_page_is_mounted_and_listed_in_the_nav(ws, tmp_path):
    app = create_app(ws)
    router = APIRouter()

    @router.get("/apps/shop")
    def shop_page(request: Request):
        return render_page(request, "base.html", title="Shop")

    @router.get("/api/shop/ping")
    def ping():
        return {"pong": True}

    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "shop.js").write_text("export const shop = 1;\n")
    mount_app_page(app, "Shop <b>2</b>", "/apps/shop", router, static_dir=tmp_path / "static")
    assert app.state.nav[-1] == {"title": "Shop <b>2</b>", "path": "/apps/shop"}
    with TestClient(app, headers={"X-API-Key": ws.governance.create_api_key("admin")}) as c:
        assert c.get("/api/shop/ping").json() == {"pong": True}
        assert c.get("/apps/shop/static/shop.js").text == "export const shop = 1;\n"
        for path in ("/", "/apps/shop"):
            html = c.get(path).text
            assert 'href="/apps/shop"' in html
            assert "Shop &lt;b&gt;2&lt;/b&gt;" in html and "<b>2</b>" not in html
        assert 'class="active" aria-current="page">Shop' in c.get("/apps/shop").text


def test_app_page_path_must_be_absolute_and_unique(ws):
    app = create_app(ws)
    mount_app_page(app, "Shop", "/apps/shop")
    with pytest.raises(LaketownError, match="already used by 'Shop'"):
        mount_app_page(app, "Shop again", "/apps/shop")
    with pytest.raises(LaketownError, match="must start with '/'"):
        mount_app_page(app, "Relative", "apps/x")
    with pytest.raises(LaketownError, match="static folder '/nonexistent' of console page '/apps/y' does not exist"):
        mount_app_page(app, "Y", "/apps/y", static_dir="/nonexistent")
    assert [entry["path"] for entry in app.state.nav] == ["/streams", "/governance", "/apps/shop"]
