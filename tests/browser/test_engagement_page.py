"""The engagement page in a real browser: campaigns with KPIs, journeys with users per step,
KPIs over time, churn metrics, and the segment builder producing rule JSON."""

from __future__ import annotations

import json

import pytest

import laketown
from laketown.server import create_app
from tests.browser.conftest import serving, signed_in_page


@pytest.fixture(scope="module")
def eng_url(tmp_path_factory):
    from laketown.apps.engagement import simulate
    from laketown.apps.engagement.console import mount
    from laketown.apps.engagement.events import deliver
    from laketown.apps.engagement.pipeline import (
        CART_JOURNEY,
        REMINDER_HTML,
        WELCOME_HTML,
    )
    from laketown.apps.engagement.service import Engagement
    from laketown.apps.engagement.settings import app_dir
    from laketown.apps.engagement.smtp_sink import start_sink

    ws = laketown.connect(tmp_path_factory.mktemp("engagement") / "ws")
    sink = start_sink(ws)
    eng = Engagement(ws, tick_s=0.05)
    users = simulate.endpoints(40, seed=2)
    eng.endpoints.upsert(users)
    eng.endpoints.export_to_lake(ws)
    eng.templates.save("spring", "Hi {{ given_name }}", WELCOME_HTML, defaults={"offer": "10 %"})
    eng.templates.save("cart_reminder", "Cart", REMINDER_HTML)
    eng.campaigns.create({"campaign_id": "spring", "template": "spring"})
    eng.campaigns.send("spring")
    eng.journeys.create({**CART_JOURNEY, "steps": {**CART_JOURNEY["steps"],
                                                   "wait": {"type": "wait", "seconds": 0.1, "next": "purchased"}}})
    for u in users[:10]:
        eng.ingest(u["user_id"], "cart_abandoned")
    eng.run_worker(until_idle=True, max_seconds=10)
    simulate.engage(eng, sink.mailbox.messages(), seed=1)
    deliver(ws)
    (app_dir(ws) / "churn_metrics.json").write_text(json.dumps({"auc_roc": 0.87, "baseline_auc_roc": 0.85}))
    eng.close()
    pro = sum(u["plan"] == "pro" for u in users)
    app = create_app(ws)
    mount(app, ws)
    with serving(app) as url:
        yield url, ws.governance.create_api_key("admin", "browser"), pro
    app.state.engagement.close()
    sink.stop()
    ws.close()


@pytest.fixture
def page(browser, eng_url):
    url, key, _ = eng_url
    with signed_in_page(browser, url, key, width=1300) as pg:
        yield pg


def test_engagement_page_shows_campaigns_journeys_kpis_and_churn(page, eng_url):
    from playwright.sync_api import expect

    url, _, _ = eng_url
    page.goto(url + "/apps/engagement")
    expect(page.locator("#eng-campaigns tbody tr")).to_have_count(1)
    expect(page.locator("#eng-campaigns tbody tr").first).to_contain_text("spring")
    expect(page.locator("#eng-journeys tbody tr")).to_have_count(5)  # the five steps of the cart journey
    expect(page.locator("#eng-kpi-chart svg")).to_have_count(1)
    expect(page.locator("#eng-churn tbody tr")).to_have_count(2)
    expect(page.locator("#eng-cards")).to_contain_text("40")
    assert page.watch.errors == [] and page.watch.foreign_requests() == []


def test_segment_builder_makes_rule_json_and_previews_its_size(page, eng_url):
    from playwright.sync_api import expect

    url, _, pro = eng_url
    page.goto(url + "/apps/engagement")
    row = page.locator("#seg-conditions .seg-cond").first
    row.locator("[name=field]").fill("plan")
    row.locator("[name=op]").select_option("eq")
    row.locator("[name=value]").fill("pro")
    expect(page.locator("#seg-json")).to_have_text('{"all":[{"attr":"plan","op":"eq","value":"pro"}]}')
    page.click("#seg-preview")
    expect(page.locator("#seg-result")).to_contain_text(f"{pro} endpoints match")
    page.fill("#seg-name", "pro_users")
    page.click("#seg-save")
    expect(page.locator("#seg-result")).to_contain_text("saved segment pro_users")
    assert page.watch.errors == []
