"""The Customer 360 page as `laketown serve` mounts it: search, profile, journey, graph
neighbourhood, next best actions, segments and personas; no script error, nothing fetched
from outside 127.0.0.1."""

from __future__ import annotations

import pytest

import laketown
from laketown.server import create_app
from tests.apps.customer360.built import built_workspace
from tests.browser.conftest import serving, signed_in_page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def c360_url(tmp_path_factory):
    from laketown.apps.customer360.console import mount

    path, metrics = built_workspace(tmp_path_factory)
    ws = laketown.connect(path)
    app = create_app(ws)
    mount(app, ws)
    with serving(app) as url:
        yield url, ws.governance.create_api_key("admin", "browser"), ws, metrics
    app.state.c360_service.close()
    ws.close()


@pytest.fixture
def signed_in(browser, c360_url):
    url, key, _, _ = c360_url
    with signed_in_page(browser, url, key, width=1300) as page:
        yield page


def test_search_a_customer_and_see_profile_journey_graph_and_segments(signed_in, c360_url):
    from playwright.sync_api import expect

    url, _, ws, metrics = c360_url
    buyer = ws.sql("SELECT c.customer_id, c.surname FROM curated.c360_customers c JOIN clean.c360_identities i USING (customer_id) "
                   "JOIN clean.c360_orders o USING (record_id) WHERE c.surname IS NOT NULL GROUP BY ALL "
                   "ORDER BY count(*) DESC, 1 LIMIT 1").to_pylist()[0]
    page = signed_in
    page.goto(url + "/apps/c360")
    expect(page.locator("#c360-segments tbody tr")).to_have_count(metrics["intelligence"]["k"])
    expect(page.locator("#c360-segments-chart svg")).to_have_count(1)
    expect(page.locator("#c360-ingest tbody tr")).to_have_count(6)
    expect(page.locator("#c360-quarantine tbody tr").first).to_be_visible()
    page.fill("#c360-q", buyer["customer_id"])
    page.click("#c360-form button[type=submit]")
    expect(page.locator("#c360-results tbody tr")).to_have_count(1)
    page.locator("#c360-results tbody tr").first.click()
    expect(page.locator("#c360-profile-title")).to_contain_text(buyer["customer_id"])
    expect(page.locator("#c360-profile-title")).to_contain_text(buyer["surname"])
    expect(page.locator("#c360-sources tbody tr").first).to_be_visible()
    expect(page.locator("#c360-journey tbody tr td").first).to_be_visible()
    expect(page.locator("#c360-graph svg circle.node-product").first).to_be_attached()
    expect(page.locator("#c360-nba tbody tr").first).to_be_visible()
    assert page.watch.errors == [] and page.watch.foreign_requests() == []


def test_unknown_search_shows_no_match_and_no_error(signed_in, c360_url):
    from playwright.sync_api import expect

    url, _, _, _ = c360_url
    page = signed_in
    page.goto(url + "/apps/c360")
    page.fill("#c360-q", "zzzz-no-such-person")
    page.click("#c360-form button[type=submit]")
    expect(page.locator("#c360-results")).to_contain_text("No customer matches")
    assert page.locator("#c360-error").is_hidden()
