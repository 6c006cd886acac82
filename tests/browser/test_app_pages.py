"""Every app page, mounted as `laketown serve` mounts it, renders its data without a script error."""

from __future__ import annotations

import pytest

import laketown
from laketown.server import create_app
from tests.browser.conftest import serving, signed_in_page


@pytest.fixture(scope="module")
def apps_url(tmp_path_factory):
    from laketown.apps import mount_all
    from laketown.apps.fraud.data import SIMULATED_TABLE, write_simulation
    from laketown.apps.fraud.features import FeatureSet, laketown_features
    from laketown.apps.fraud.simulator import SimulationSpec
    from laketown.apps.fraud.training import train
    from laketown.apps.recommendations import data, retail, solutions

    ws = laketown.connect(tmp_path_factory.mktemp("apps") / "ws")
    ds = retail.generate()
    data.write_to_lake(ws, ds)
    solutions.save(solutions.train_solution(ds, protocol="personalize", tune=False), ws)
    write_simulation(ws, SimulationSpec(customers=200, terminals=400, days=30, seed=5))
    train(ws, SIMULATED_TABLE, FeatureSet(laketown_features()))
    app = create_app(ws)
    mount_all(app, ws)
    with serving(app) as url:
        yield url, ws.governance.create_api_key("admin", "browser"), str(ds.interactions["user_id"].iloc[0])
    ws.close()


@pytest.fixture
def signed_in(browser, apps_url):
    url, key, _ = apps_url
    with signed_in_page(browser, url, key, width=1300) as page:
        yield page


def test_recommendations_page_shows_items_history_and_campaigns(signed_in, apps_url):
    from playwright.sync_api import expect

    url, _, user = apps_url
    page = signed_in
    page.goto(url + "/apps/recs")
    page.fill("#recs-user", user)
    page.click("#recs-form button[type=submit]")
    expect(page.locator("#recs-grid tbody tr")).to_have_count(10)
    expect(page.locator("#recs-history tbody tr").first).to_be_visible()
    expect(page.locator("#recs-campaigns tbody tr")).to_have_count(1)
    page.locator("#recs-grid tbody tr").first.click()
    expect(page.locator("#recs-similar tbody tr").first).to_be_visible()
    assert page.watch.errors == [] and page.watch.foreign_requests() == []


def test_fraud_page_shows_model_metrics_and_pr_curve(signed_in, apps_url):
    from playwright.sync_api import expect

    url, _, _ = apps_url
    page = signed_in
    page.goto(url + "/apps/fraud")
    expect(page.locator("#fraud-metrics tbody tr").first).to_be_visible()
    expect(page.locator("#fraud-pr svg")).to_have_count(1)
    expect(page.locator("#fraud-model-title")).to_contain_text("rule set")
    assert page.watch.foreign_requests() == []


def test_streams_page_renders(signed_in, apps_url):
    from playwright.sync_api import expect

    url, _, _ = apps_url
    page = signed_in
    page.goto(url + "/streams")
    expect(page.locator("#streams-grid tbody tr").first).to_be_visible()  # the apps' streams exist
    assert page.watch.errors == [] and page.watch.foreign_requests() == []
