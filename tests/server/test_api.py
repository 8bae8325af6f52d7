"""The API in process: ingest, series, revisions, alerts and their workflow, health, metrics, OpenAPI and the
authorization layer."""

from __future__ import annotations

import json
import re

import pytest
from sanic import Sanic

from server.api.auth import PERMISSIONS
from server.api.openapi import document
from server.service import Service
from tests.server.conftest import make_app


def rows(*items: tuple[str, str, str, float]) -> dict:
    return {"observations": [{"indicator": i, "entity": e, "period": p, "value": v} for i, e, p, v in items]}


async def post(app: Sanic, body: object) -> tuple[int, dict]:
    _, response = await app.asgi_client.post("/api/v1/observations", content=json.dumps(body))
    return response.status, response.json


async def test_ingest_answers_with_vintages_and_transitions(app: Sanic) -> None:
    status, body = await post(app, rows(("ind_va", "xintai", "2026-10", 25.0)))
    assert status == 201
    assert body["accepted"] == 1 and body["vintages"][0]["vintage"] == 1
    fired = [t for t in body["transitions"] if t["rule"] == "ind_va_range"]
    assert fired[0]["new"] == "firing" and fired[0]["values"]["ind_va"] == 25.0 and fired[0]["alert"] > 0
    status, body = await post(app, rows(("ind_va", "xintai", "2026-10", 25.0)))
    assert status == 200 and body["accepted"] == 0 and body["unchanged"] == 1


@pytest.mark.parametrize(("body", "status", "code"), [
    ("not json", 400, "bad_json"),
    ({"rows": []}, 400, "bad_json"),
    ({"observations": [{"indicator": 1, "entity": "xintai", "period": "2026-10", "value": 1}]}, 422, "invalid_rows"),
    ({"observations": [{"indicator": "ind_va", "entity": "xintai", "period": "2026-10", "value": "十"}]}, 422,
     "invalid_rows"),
    ({"observations": [{"indicator": "gdp", "entity": "mars", "period": "2026Q3", "value": 1}]}, 422, "invalid_rows"),
    (rows(("ind_va", "xintai", "2026-10", 1.0), ("ind_va", "xintai", "2026-10", 2.0)), 422, "invalid_rows"),
    (rows(("ind_va", "xintai", "2027-01", 1.0)), 422, "invalid_rows"),
    (rows(("power_ind", "xintai", "2026-01", 1.0)), 422, "invalid_rows"),
])
async def test_bad_batches_are_refused_with_a_row_report_and_nothing_stored(app: Sanic, body: object, status: int,
                                                                            code: str) -> None:
    raw = body if isinstance(body, str) else json.dumps(body)
    _, response = await app.asgi_client.post("/api/v1/observations", content=raw)
    assert response.status == status and response.json["error"]["code"] == code
    if status == 422:
        assert all({"row", "column", "reason"} <= set(d) for d in response.json["error"]["details"])
    _, series = await app.asgi_client.get("/api/v1/series?indicator=ind_va,gdp,power_ind")
    assert series.json["count"] == 0


async def test_a_body_over_the_limit_is_refused(sqlite_service: Service, sqlite_store: str) -> None:
    app = make_app(sqlite_service, sqlite_store, max_body_bytes=1000)
    body = rows(*[("ind_va", "xintai", f"20{y:02d}-{m:02d}", 1.0) for y in range(16, 26) for m in range(3, 13)])
    _, response = await app.asgi_client.post("/api/v1/observations", content=json.dumps(body))
    assert response.status == 413 and response.json["error"]["message"] == "请求体过大"


async def test_series_as_of_a_vintage_and_export_formats(app: Sanic) -> None:
    await post(app, rows(("ind_va", "xintai", "2026-09", 6.0), ("ind_va", "xintai", "2026-10", 7.0)))
    await post(app, rows(("ind_va", "xintai", "2026-10", 8.0)))
    _, latest = await app.asgi_client.get("/api/v1/series?indicator=ind_va&entity=xintai&from=2026-10")
    assert [(r["period"], r["value"], r["vintage"]) for r in latest.json["items"]] == [("2026-10", 8.0, 2)]
    _, first = await app.asgi_client.get("/api/v1/series?indicator=ind_va&entity=xintai&vintage=1")
    assert [r["value"] for r in first.json["items"]] == [6.0, 7.0]
    _, csv = await app.asgi_client.get("/api/v1/series?indicator=ind_va&entity=taian&subtree=1&format=csv")
    lines = csv.body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("indicator,entity,period,value") and len(lines) == 3
    _, xlsx = await app.asgi_client.get("/api/v1/series?indicator=ind_va&entity=xintai&format=xlsx")
    assert xlsx.body[:2] == b"PK"
    _, history = await app.asgi_client.get("/api/v1/revisions?indicator=ind_va&entity=xintai&period=2026-10")
    assert [(r["vintage"], r["value"]) for r in history.json["items"]] == [(1, 7.0), (2, 8.0)]


async def test_unknown_names_and_bad_parameters(app: Sanic) -> None:
    _, response = await app.asgi_client.get("/api/v1/series?indicator=nothing")
    assert response.status == 404 and "nothing" in response.json["error"]["message"]
    _, response = await app.asgi_client.get("/api/v1/series?indicator=gdp&from=2026Q9")
    assert response.status == 400
    _, response = await app.asgi_client.get("/api/v1/alerts?format=pdf")
    assert response.status == 400


async def test_alert_list_story_and_workflow(app: Sanic) -> None:
    await post(app, rows(("ind_va", "xintai", "2026-09", 25.0)))
    _, listed = await app.asgi_client.get("/api/v1/alerts?rule=ind_va_range&state=firing")
    assert listed.json["total"] == 1
    alert = listed.json["items"][0]
    url = f"/api/v1/alerts/{alert['id']}"
    _, refused = await app.asgi_client.post(f"{url}/actions", content=json.dumps({"action": "explain", "note": "x"}))
    assert refused.status == 400 and refused.json["error"]["code"] == "expiry_required"
    body = {"action": "explain", "note": "新投产企业拉动", "expires": "2027-03-31"}
    _, explained = await app.asgi_client.post(f"{url}/actions", content=json.dumps(body))
    assert explained.json["workflow"] == "explained" and explained.json["notes"][0]["note"] == "新投产企业拉动"
    # A new firing after recovery reopens it.
    await post(app, rows(("ind_va", "xintai", "2026-10", 6.0)))
    await post(app, rows(("ind_va", "xintai", "2026-10", 26.0)))
    _, story = await app.asgi_client.get(url)
    assert story.json["workflow"] == "open" and story.json["notes"][-1]["action"] == "reopen"
    assert [t["new"] for t in story.json["transitions"]][:2] == ["firing", "resolved"]
    assert story.json["rule_source"].startswith("rules/taian/rules_industry.rules:")
    _, missing = await app.asgi_client.get("/api/v1/alerts/999999")
    assert missing.status == 404


async def test_health_metrics_and_openapi(app: Sanic) -> None:
    _, health = await app.asgi_client.get("/healthz")
    assert health.json["status"] == "ok" and health.json["ruleset_version"] == 1
    await post(app, rows(("ind_va", "xintai", "2026-10", 25.0)))
    _, metrics = await app.asgi_client.get("/metrics")
    text = metrics.body.decode()
    assert 'route="/api/v1/observations",status="201"} 1' in text
    assert 'taishan_alerts{state="firing",severity="warning"}' in text
    assert "taishan_evaluation_seconds_total" in text
    _, spec = await app.asgi_client.get("/api/v1/openapi.json")
    assert spec.json["openapi"].startswith("3.") and "/api/v1/observations" in spec.json["paths"]


def test_every_route_declares_a_permission_and_is_in_the_openapi_document(app: Sanic) -> None:
    spec = document(app)
    for route in app.router.routes:
        assert getattr(route.ctx, "permission", None) in PERMISSIONS, route.path
        path = re.sub(r"<(\w+)(:\w+)?>", r"{\1}", "/" + route.path.lstrip("/"))
        assert path in spec["paths"], path


async def test_dashboard_queries_are_cached_briefly_and_any_change_drops_them(app: Sanic) -> None:
    from server.store.models import Alert

    await post(app, rows(("ind_va", "xintai", "2026-09", 25.0)))
    url = "/api/v1/alerts?rule=ind_va_range&state=firing"
    _, first = await app.asgi_client.get(url)
    assert first.json["total"] == 1
    await Alert.filter(rule="ind_va_range").update(state="resolved")  # behind the API's back
    _, cached = await app.asgi_client.get(url)
    assert cached.json == first.json
    alert_id = first.json["items"][0]["id"]
    await app.asgi_client.post(f"/api/v1/alerts/{alert_id}/actions", content=json.dumps(
        {"action": "comment", "note": "已核实"}))
    _, fresh = await app.asgi_client.get(url)
    assert fresh.json["total"] == 0
