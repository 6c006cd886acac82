import random
import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from laketown.apps.recommendations import batch, recipes, solutions
from laketown.apps.recommendations.api import build_router
from laketown.apps.recommendations.service import RecsService


@pytest.fixture
def service(solution):
    return RecsService(solution, cold_share=0.2)


@pytest.fixture
def client(service):
    app = FastAPI()
    app.include_router(build_router(service))
    return TestClient(app)


def _items(resp):
    return [r["item_id"] for r in resp["recommendations"]]


def test_recommendations_for_a_known_user_skip_seen_items(client, solution):
    body = client.get("/api/recs/users/U00002", params={"n": 5}).json()
    assert body["source"] == "personalized" and body["fallback"] is None and len(body["recommendations"]) == 5
    data = solution.data
    u = data.user_index["U00002"]
    seen = set(data.item_ids[data.X.indices[data.X.indptr[u]:data.X.indptr[u + 1]]])
    assert not seen & set(_items(body))


def test_unknown_user_falls_back_to_popularity_and_says_so(client):
    body = client.get("/api/recs/users/someone-new", params={"n": 3}).json()
    assert body["fallback"] == "popularity" and "unknown" in body["message"]
    assert len(body["recommendations"]) == 3


def test_events_change_the_next_recommendations_without_retraining(client):
    before = client.get("/api/recs/users/someone-new", params={"n": 10}).json()
    items = ["P00010", "P00011", "P00012"]
    r = client.post("/api/recs/events", json={"user_id": "someone-new",
                                              "events": [{"item_id": i, "event_type": "click"} for i in items]})
    assert r.status_code == 200 and r.json()["accepted"] == 3
    after = client.get("/api/recs/users/someone-new", params={"n": 10}).json()
    assert after["source"] == "session" and after["fallback"] is None and after["session_events"] == 3
    assert _items(after) != _items(before)
    assert not set(items) & set(_items(after))
    known_before = client.get("/api/recs/users/U00003", params={"n": 10}).json()
    client.post("/api/recs/events", json={"user_id": "U00003", "events": [{"item_id": "P00020"}]})
    known_after = client.get("/api/recs/users/U00003", params={"n": 10}).json()
    assert _items(known_after) != _items(known_before)


def test_cold_start_item_is_recommended_from_its_content(service, solution, cold_item):
    cold = solution.data.item_index[cold_item["item_id"]]
    assert solution.data.X[:, cold].nnz == 0
    body = service.recommend("U00001", n=20)
    entry = [r for r in body["recommendations"] if r["item_id"] == cold_item["item_id"]]
    assert entry and entry[0]["source"] == "cold-start"
    assert service.similar_items(cold_item["item_id"], n=5)["similar"]  # content neighbours for a cold item


def test_filters_through_the_api(client, solution):
    flt = 'INCLUDE ItemID WHERE Items.category IN ($CATS)'
    body = client.get("/api/recs/users/U00002", params={"n": 10, "filter": flt,
                                                        "filter_values": '{"CATS": ["toys"]}'}).json()
    cats = solution.data.items.set_index("item_id")["category"]
    assert body["recommendations"] and all(cats[i] == "toys" for i in _items(body))
    bad = client.get("/api/recs/users/U00002", params={"filter": "INCLUDE ItemID WHERE Items.category IN (toys"})
    assert bad.status_code == 400 and bad.json()["detail"]["position"] == 40


def test_fuzzed_filters_never_give_a_500(client):
    rng = random.Random(7)
    pieces = ['EXCLUDE', 'INCLUDE', 'ItemID', 'WHERE', 'Items.category', 'Interactions.event_type', 'IN', '(',
              ')', '"toys"', '$X', '|', '=', '>', '3', ',', 'AND', 'OR', '%', '\\', "'", ';', 'é']
    for _ in range(150):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        values = rng.choice([None, '{"X": ["a"]}', "not json", "[1,2]", '{"X": {"a": 1}}'])
        params = {"filter": text, **({"filter_values": values} if values else {})}
        r = client.get("/api/recs/users/U00002", params=params)
        assert r.status_code in (200, 400), (text, values, r.text)


def test_similar_items_rank_and_errors(client):
    sim = client.get("/api/recs/items/P00005/similar", params={"n": 4}).json()
    assert len(sim["similar"]) == 4 and "P00005" not in [s["item_id"] for s in sim["similar"]]
    assert client.get("/api/recs/items/nope/similar").status_code == 404
    ranked = client.post("/api/recs/rank", json={"user_id": "U00002", "item_ids": ["P00001", "zzz", "P00002"]}).json()
    ids = [r["item_id"] for r in ranked["ranking"]]
    assert ids[-1] == "zzz" and set(ids) == {"P00001", "P00002", "zzz"}
    scores = [r["score"] for r in ranked["ranking"][:2]]
    assert scores == sorted(scores, reverse=True)
    assert client.post("/api/recs/events", json={"user_id": "u", "events": []}).status_code == 422


def test_hot_swap_while_serving_never_fails_a_request(client, service, solution):
    other = solutions.Solution(**{**solution.__dict__, "version": "popular-v2",
                                  "model": recipes.create("popularity-count").fit(solution.data)})
    errors, versions = [], set()

    def hammer():
        for k in range(40):
            r = client.get(f"/api/recs/users/U{k % 50:05d}", params={"n": 5})
            if r.status_code != 200 or len(r.json()["recommendations"]) != 5:
                errors.append(r.text)
            else:
                versions.add(r.json()["solution_version"])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for k in range(30):
        service.swap(other if k % 2 == 0 else solution)
    for t in threads:
        t.join()
    assert not errors
    service.swap(other)
    assert client.get("/api/recs/users/U00001").json()["solution_version"] == "popular-v2"


def test_ab_experiment_buckets_users_and_reports_ctr_with_intervals(client, service, solution):
    other = solutions.Solution(**{**solution.__dict__, "version": "popular-v2",
                                  "model": recipes.create("popularity-count").fit(solution.data)})
    service.swap(other, campaign="popular")
    assert client.post("/api/recs/experiments", json={"name": "exp1", "variants": {"A": "default", "B": "popular"}}).status_code == 200
    seen = {}
    for k in range(40):
        body = client.get(f"/api/recs/experiments/exp1/users/U{k:05d}", params={"n": 5}).json()
        seen[k] = body["variant"]
        again = client.get(f"/api/recs/experiments/exp1/users/U{k:05d}", params={"n": 5}).json()
        assert again["variant"] == body["variant"]
        if k % 3 == 0:
            client.post("/api/recs/events", json={"user_id": f"U{k:05d}",
                                                  "events": [{"item_id": body["recommendations"][0]["item_id"],
                                                              "event_type": "click"}]})
    assert set(seen.values()) == {"A", "B"}
    report = client.get("/api/recs/experiments/exp1").json()["results"]
    total_clicks = sum(v["clicks"] for v in report.values())
    assert total_clicks == len([k for k in range(40) if k % 3 == 0])
    for v in report.values():
        lo, hi = v["ctr_ci95"]
        assert 0 <= lo <= v["ctr"] <= hi <= 1
    assert client.get("/api/recs/experiments/nope").status_code == 404


def test_batch_recommendations_are_written_to_the_lake(ws, solution):
    rows = batch.write_batch(ws, solution, n=3)
    assert rows == 3 * solution.data.n_users
    t = ws.sql("SELECT count(DISTINCT user_id) AS users, max(rank) AS r FROM curated.recs_batch").to_pylist()[0]
    assert t == {"users": solution.data.n_users, "r": 3}


def test_solution_has_metrics_beside_the_popularity_baseline_and_register_hook(retail_data):
    got = []
    solutions.REGISTER_HOOKS.append(got.append)
    try:
        sol = solutions.train_solution(retail_data, recipe="popularity-count", protocol="personalize", tune=False)
    finally:
        solutions.REGISTER_HOOKS.remove(got.append)
    assert got == [sol]
    assert {"coverage", "mrr@25", "ndcg@5", "ndcg@10", "ndcg@25", "precision@10"} <= set(sol.metrics)
    assert sol.metrics["ndcg@10"] == sol.baseline["ndcg@10"]


def test_workspace_router_without_a_solution_answers_404_with_what_to_do(ws, solution):
    from laketown.apps.recommendations.api import router_for_workspace

    app = FastAPI()
    app.include_router(router_for_workspace(ws))
    r = TestClient(app).get("/api/recs/users/U00001")
    assert r.status_code == 404 and "train a solution first" in r.json()["detail"]
    solutions.save(solution, ws)
    app2 = FastAPI()
    app2.include_router(router_for_workspace(ws))
    assert TestClient(app2).get("/api/recs/users/U00001").json()["solution_version"] == solution.version
