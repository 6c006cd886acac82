"""The signed scoring API over a bare FastAPI app, as the server will mount it."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from laketown.apps.fraud.api import MAX_BATCH, create_router
from laketown.apps.fraud.data import SIMULATED_TABLE
from laketown.apps.fraud.features import FeatureSet, laketown_features
from laketown.apps.fraud.scoring import load_models
from laketown.apps.fraud.signing import sign
from laketown.apps.fraud.training import train

KEYS = {"k1": "s3cret-one", "k2": "s3cret-two"}


class Signed:
    """A TestClient that signs each request."""

    def __init__(self, client: TestClient, key_id: str = "k1", secret: str = KEYS["k1"]):
        self.client, self.key_id, self.secret = client, key_id, secret

    def post(self, path: str, payload, **kw):
        body = json.dumps(payload, default=str).encode()
        headers = sign("POST", path, body, self.key_id, self.secret, **kw)
        return self.client.post(path, content=body, headers={**headers, "content-type": "application/json"})

    def get(self, path: str, params=None):
        from urllib.parse import urlencode

        target = f"{path}?{urlencode(params)}" if params else path
        headers = sign("GET", target, b"", self.key_id, self.secret)
        return self.client.get(target, headers=headers)


@pytest.fixture(scope="module")
def api(trained_ws):
    published: list[dict] = []
    app = FastAPI()
    router = create_router(trained_ws, keys=KEYS, publish=published.extend)
    app.include_router(router)
    with TestClient(app) as client:
        yield Signed(client), router.service, published, client


def _tx(i: int, **over):
    tx = {"transaction_id": f"api-{i}", "timestamp": "2018-05-16T12:00:00", "amount": 42.5,
          "customer_id": 3, "terminal_id": 17}
    tx.update(over)
    return tx


def test_signed_single_transaction_is_scored_with_outcome_rule_reasons_and_versions(api):
    signed, _, published, _ = api
    r = signed.post("/api/fraud/score", _tx(1))
    assert r.status_code == 200, r.text
    out = r.json()
    assert 0 <= out["fraud_probability"] <= 1 and 0 <= out["anomaly_score"] <= 1
    assert out["outcome"] in ("approve", "review", "block") and out["rule"]
    assert out["model_versions"] == {"fraud_classifier": 1, "fraud_anomaly": 1}
    assert all({"feature", "contribution"} <= set(reason) for reason in out["reasons"])
    assert published[-1]["transaction_id"] == "api-1"


def test_big_amount_is_blocked_by_the_probability_rule_and_queued_for_review(api):
    signed, _, _, _ = api
    out = signed.post("/api/fraud/score", _tx(2, amount=5000.0)).json()
    assert out["outcome"] == "block" and out["rule"] == "high_fraud_probability"
    assert out["reasons"][0]["feature"] in ("amount", "customer_id_amount_ratio_7d", "customer_id_amount_ratio_30d",
                                            "customer_id_amount_zscore_7d", "customer_id_amount_zscore_30d",
                                            "customer_id_avg_amount_1d")
    cases = signed.get("/api/fraud/cases").json()["cases"]
    case = next(c for c in cases if c["transaction_id"] == "api-2")
    assert case["status"] == "open" and case["rule"] == "high_fraud_probability"


def test_batch_scores_every_transaction_in_order(api):
    signed, _, _, _ = api
    r = signed.post("/api/fraud/score", {"transactions": [_tx(10 + i, amount=10.0 + i) for i in range(5)]})
    assert r.status_code == 200
    assert [x["transaction_id"] for x in r.json()["results"]] == [f"api-{10 + i}" for i in range(5)]


def test_unsigned_request_is_401_with_reason(api):
    _, _, _, client = api
    r = client.post("/api/fraud/score", json=_tx(3))
    assert r.status_code == 401 and "unsigned" in r.json()["detail"]


def test_tampered_body_is_401(api):
    _, _, _, client = api
    body = json.dumps(_tx(4)).encode()
    headers = sign("POST", "/api/fraud/score", body, "k1", KEYS["k1"])
    r = client.post("/api/fraud/score", content=body.replace(b"42.5", b"4.25"), headers=headers)
    assert r.status_code == 401 and "bad signature" in r.json()["detail"]


def test_wrong_key_and_unknown_key_id_are_401(api):
    _, _, _, client = api
    assert Signed(client, "k1", "not-the-secret").post("/api/fraud/score", _tx(5)).json()["detail"].startswith("bad signature")
    assert "unknown key id 'k9'" in Signed(client, "k9", "x").post("/api/fraud/score", _tx(5)).json()["detail"]
    assert Signed(client, "k2", KEYS["k2"]).post("/api/fraud/score", _tx(5)).status_code == 200


def test_expired_timestamp_is_401(api):
    signed, _, _, _ = api
    r = signed.post("/api/fraud/score", _tx(6), timestamp=time.time() - 301)
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_replayed_request_is_401(api):
    _, _, _, client = api
    body = json.dumps(_tx(7)).encode()
    headers = {**sign("POST", "/api/fraud/score", body, "k1", KEYS["k1"]), "content-type": "application/json"}
    assert client.post("/api/fraud/score", content=body, headers=headers).status_code == 200
    again = client.post("/api/fraud/score", content=body, headers=headers)
    assert again.status_code == 401 and "replayed" in again.json()["detail"]


def test_signature_covers_the_query_string(api):
    signed, _, _, client = api
    headers = sign("GET", "/api/fraud/cases?status=open", b"", "k1", KEYS["k1"])
    r = client.get("/api/fraud/cases?status=all", headers=headers)
    assert r.status_code == 401 and "bad signature" in r.json()["detail"]
    assert signed.get("/api/fraud/cases", {"status": "all", "limit": 5}).status_code == 200


def test_signature_binds_the_path(api):
    _, _, _, client = api
    body = json.dumps({"label": 1, "analyst": "a"}).encode()
    headers = sign("POST", "/api/fraud/score", body, "k1", KEYS["k1"])
    r = client.post("/api/fraud/cases/x/label", content=body, headers=headers)
    assert r.status_code == 401


def _loc(r):
    return [tuple(e["loc"]) for e in r.json()["detail"]]


def test_missing_field_is_422_naming_it(api):
    signed, _, _, _ = api
    tx = _tx(8)
    del tx["amount"]
    r = signed.post("/api/fraud/score", tx)
    assert r.status_code == 422 and ("body", "amount") in _loc(r)
    tx = _tx(8)
    del tx["terminal_id"]
    r = signed.post("/api/fraud/score", {"transactions": [_tx(9), tx]})
    assert r.status_code == 422 and ("body", "transactions", 1, "terminal_id") in _loc(r)


def test_wrong_type_is_422_naming_the_field(api):
    signed, _, _, _ = api
    r = signed.post("/api/fraud/score", _tx(8, amount="lots"))
    assert r.status_code == 422 and ("body", "amount") in _loc(r)
    r = signed.post("/api/fraud/score", _tx(8, timestamp="yesterday"))
    assert r.status_code == 422 and ("body", "timestamp") in _loc(r)
    r = signed.post("/api/fraud/score", _tx(8, amount=-1))
    assert r.status_code == 422 and ("body", "amount") in _loc(r)


def test_oversize_batch_is_422(api):
    signed, _, _, _ = api
    r = signed.post("/api/fraud/score", {"transactions": [_tx(i) for i in range(MAX_BATCH + 1)]})
    assert r.status_code == 422 and ("body", "transactions") in _loc(r)
    assert "at most 1000" in r.text


def test_label_is_stored_in_the_lake_and_closes_the_case(api, trained_ws):
    signed, _, _, _ = api
    signed.post("/api/fraud/score", _tx(20, amount=8000.0))
    r = signed.post("/api/fraud/cases/api-20/label", {"label": 1, "analyst": "ana", "note": "chargeback"})
    assert r.status_code == 200, r.text
    labels = trained_ws.sql("SELECT transaction_id, label, analyst FROM clean.fraud_labels").to_pylist()
    assert {"transaction_id": "api-20", "label": 1, "analyst": "ana"} in labels
    open_ids = [c["case_id"] for c in signed.get("/api/fraud/cases").json()["cases"]]
    assert "api-20" not in open_ids
    done = signed.get("/api/fraud/cases", {"status": "labelled"}).json()["cases"]
    assert any(c["case_id"] == "api-20" and c["label"] == 1 for c in done)
    assert signed.post("/api/fraud/cases/nope/label", {"label": 1, "analyst": "ana"}).status_code == 404
    r = signed.post("/api/fraud/cases/api-20/label", {"label": 3, "analyst": "ana"})
    assert r.status_code == 422 and ("body", "label") in _loc(r)


def test_new_model_version_is_hot_swapped_under_load_without_a_failed_request(api, trained_ws):
    signed, service, _, client = api
    # a second version of both models, trained on the same table
    train(trained_ws, SIMULATED_TABLE, FeatureSet(laketown_features()), seed=1)
    failures: list[str] = []
    versions: set[int] = set()
    stop = threading.Event()

    def hammer(worker: int) -> None:
        s = Signed(client)
        i = 0
        while not stop.is_set() and i < 400:
            r = s.post("/api/fraud/score", _tx(100_000 * (worker + 1) + i, amount=20.0 + i % 50))
            if r.status_code != 200:
                failures.append(f"{r.status_code} {r.text[:200]}")
            else:
                versions.add(r.json()["model_versions"]["fraud_classifier"])
            i += 1

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    while not versions:
        time.sleep(0.01)
    r = signed.post("/api/fraud/models/reload", {})
    assert r.status_code == 200, r.text
    assert r.json()["model_versions"]["fraud_classifier"] == 2
    deadline = time.time() + 60
    while 2 not in versions and time.time() < deadline:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert versions == {1, 2}
    assert service.scorer.models.versions == {"fraud_classifier": 2, "fraud_anomaly": 2}
    # back to version 1 explicitly
    r = signed.post("/api/fraud/models/reload", {"classifier": 1, "anomaly": 1})
    assert r.json()["model_versions"] == {"fraud_classifier": 1, "fraud_anomaly": 1}
    assert load_models(trained_ws).versions == {"fraud_classifier": 2, "fraud_anomaly": 2}


def test_timestamp_from_the_future_is_refused_like_an_old_one():
    from laketown.apps.fraud.signing import SignatureError, Verifier

    v = Verifier({"k": "s"}, clock=lambda: 1_000_000.0)
    headers = sign("POST", "/p", b"{}", "k", "s", timestamp=1_000_000 + 301)
    with pytest.raises(SignatureError, match="expired"):
        v.verify("POST", "/p", headers, b"{}")
    ok = sign("POST", "/p", b"{}", "k", "s", timestamp=1_000_000 - 299)
    assert v.verify("POST", "/p", ok, b"{}") == "k"


def test_live_feed_posts_signed_transactions(api, trained_ws):
    """The demo feed against the real router (through the TestClient's transport)."""
    from laketown.apps.fraud import feed

    _, _, published, client = api
    pairs = feed.recent_pairs(trained_ws, limit=50)
    before = len(published)

    def post(path, body, headers):
        return client.post(path, content=body, headers=headers).status_code

    n = feed.run_feed("http://testserver", "k1", KEYS["k1"], pairs, rate=1000, max_requests=5, post=post)
    assert n == 5 and len(published) == before + 5
