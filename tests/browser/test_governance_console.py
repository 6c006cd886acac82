"""The Governance page in a real browser: search, a table's page with PII review, the grant
form, the audit viewer, and what a non-admin sees."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pyarrow as pa
import pytest
from playwright.sync_api import expect

import laketown
from laketown.server import create_app
from tests.browser.conftest import SALES, TIMEOUT_MS, PageWatch, serving

pytestmark = pytest.mark.browser
#: set to a folder to keep screenshots of the page (they are never committed)
SHOTS = os.environ.get("LAKETOWN_SCREENSHOTS")

CUSTOMERS = pa.table({
    "id": [1, 2, 3, 4],
    "email": ["ana@example.com", "bo@example.org", "cy@example.net", "di@example.com"],
    "region": ["EU", "US", "EU", "US"],
})


@pytest.fixture(scope="module")
def server_url(tmp_path_factory) -> Iterator[str]:
    """A server over a workspace with governance metadata: a described table with PII
    proposals, lineage, quality scores, and a principal ``ana`` with a key (``url.ana_key``)."""
    ws = laketown.connect(tmp_path_factory.mktemp("gov") / "ws", sql={"timeout_s": 5, "max_rows": 100})
    ws.lake.write("raw.shop_sales", SALES)
    ws.lake.write("raw.customers", CUSTOMERS)
    g = ws.governance
    g.catalog.describe("raw.customers", "Customers of the shop, one row each", owner="admin",
                       columns={"email": "where receipts go"})
    g.catalog.classify("raw.customers")
    g.lineage.record("load_customers", ["raw.shop_sales"], ["raw.customers"])
    g.quality.add_rule("raw.customers", "not_null", column="email")
    half_bad = pa.table({"id": [5, 6], "email": ["ed@example.com", None], "region": ["EU", "US"]})
    for rows in (CUSTOMERS, half_bad):
        g.quality.check("raw.customers", rows)
    g.create_principal("ana")
    g.grant("ana", "raw.customers")
    with serving(create_app(ws)) as url:
        url.key = g.create_api_key("admin", "browser tests")
        url.ana_key = g.create_api_key("ana", "browser tests")
        yield url
    ws.close()


def _shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def _assert_stayed_local(page) -> None:
    assert page.watch.requests, "the page made no request at all"
    assert page.watch.foreign_requests() == []
    assert page.watch.errors == []


def test_search_finds_the_table_and_its_page_shows_columns_and_pii(page, server_url):
    page.goto(server_url + "/governance")
    page.fill("#search-input", "customers")
    page.press("#search-input", "Enter")
    hit = page.locator('.gov-hit-link[data-table="raw.customers"]').first
    expect(hit).to_be_visible()
    expect(page.locator('.gov-hit-link[data-table="raw.shop_sales"]')).to_have_count(0)
    _shot(page, "governance-search")
    hit.click()
    expect(page.locator("#gt-title")).to_have_text("raw.customers")
    expect(page.locator("#gt-description")).to_have_text("Customers of the shop, one row each")
    rows = page.locator("#gt-columns tbody tr")
    expect(rows).to_have_count(3)
    email = rows.filter(has_text="where receipts go")
    expect(email).to_contain_text("email (")
    expect(email.locator("td.pii-proposed")).to_have_text("proposed")
    expect(page.locator("#gt-upstream")).to_contain_text("raw.shop_sales")
    expect(page.locator("#gt-lineage-graph svg .node")).to_have_count(2)
    expect(page.locator("#gt-quality svg")).to_have_attribute("data-count", "2")
    expect(page.locator("#gt-history tbody tr")).to_have_count(1)
    _shot(page, "governance-table")
    page.click("#describe-box summary")
    page.fill('#describe-form [name="description"]', "Customers, <b>one</b> row each")
    page.click('#describe-form button[type="submit"]')
    expect(page.locator("#gt-description")).to_have_text("Customers, <b>one</b> row each")  # text, not markup
    expect(page.locator("#gt-description b")).to_have_count(0)
    email.get_by_role("button", name="Accept").click()
    expect(email.locator("td.pii-accepted")).to_have_text("accepted")
    expect(email).to_contain_text("pii=email")
    _assert_stayed_local(page)


def test_grant_made_in_the_admin_form_is_listed(page, server_url):
    page.goto(server_url + "/governance#policies")
    expect(page.locator("#principals-grid")).to_contain_text("ana")
    principal = page.locator("#principal-form")
    principal.locator('[name="name"]').fill("bo")
    principal.get_by_role("button", name="Create").click()
    expect(page.locator("#principals-grid tbody tr", has_text="bo")).to_contain_text("user")
    form = page.locator("#grant-form")
    form.locator('[name="subject"]').fill("bo")
    form.locator('[name="resource"]').fill("raw.shop_sales.region")
    form.get_by_role("button", name="Grant").click()
    row = page.locator("#grants-grid tbody tr", has_text="raw.shop_sales.region")
    expect(row).to_contain_text("bo")
    expect(page.locator("#gov-status")).to_contain_text("granted select on raw.shop_sales.region to bo")
    # a bad resource shows the server's message, naming the value
    form.locator('[name="resource"]').fill("lake.everything")
    form.get_by_role("button", name="Grant").click()
    expect(page.locator("#gov-error")).to_contain_text("bad resource 'lake.everything'")
    _shot(page, "governance-policies")
    page.watch.errors = [e for e in page.watch.errors if "status of 400" not in e]
    _assert_stayed_local(page)


def test_audit_viewer_shows_the_queries_just_run(page, server_url):
    ana = page.context.request
    resp = ana.post(server_url + "/api/sql", data={"sql": "SELECT region, count(*) AS n FROM raw.customers GROUP BY region"},
                    headers={"Authorization": f"Bearer {server_url.ana_key}"})
    assert resp.ok, resp.text()
    page.goto(server_url + "/governance#audit")
    page.fill('#audit-form [name="principal"]', "ana")
    page.select_option('#audit-form [name="kind"]', "query")
    page.click('#audit-form button[type="submit"]')
    rows = page.locator("#audit-grid tbody tr")
    expect(rows.first).to_contain_text("SELECT region, count(*) AS n FROM raw.customers GROUP BY region")
    expect(rows.first).to_contain_text("ok")
    expect(page.locator("#audit-count")).to_have_text("1 event")
    _shot(page, "governance-audit")
    _assert_stayed_local(page)


def test_non_admin_sees_only_its_tables_and_a_clear_refusal_for_policies(browser, server_url):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        assert context.request.post(server_url + "/api/login", data={"key": server_url.ana_key}).ok
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.watch = PageWatch(page)
        page.goto(server_url + "/governance#search=raw")
        expect(page.locator(".gov-hit-link").first).to_be_visible()
        assert set(page.locator(".gov-hit-link").evaluate_all("els => els.map(e => e.dataset.table)")) == {"raw.customers"}
        page.goto(server_url + "/governance#table=raw.shop_sales")
        expect(page.locator("#gov-error")).to_contain_text("unknown table 'raw.shop_sales'")
        page.goto(server_url + "/governance#policies")
        expect(page.locator("#gov-error")).to_contain_text("it is for admins only")
        page.watch.errors = [e for e in page.watch.errors if "status of 403" not in e and "status of 404" not in e]
        _assert_stayed_local(page)
    finally:
        context.close()
