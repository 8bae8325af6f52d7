"""Targets through the API: progress against time with values worked out by hand, region scope, exports, and
setting targets as a new rule-set version."""

from __future__ import annotations

from sanic import Sanic

from server.access import EVERYTHING, Principal
from server.api.targets import replace_target
from server.service import Service
from server.store.models import RuleSet


def _row(indicator: str, entity: str, period: str, value: float) -> dict:
    return {"indicator": indicator, "entity": entity, "period": period, "value": value}


async def _ingest(service: Service) -> None:
    await service.ingest([
        _row("budget_rev", "taian", "2026-09", 196.0),
        _row("budget_rev", "dongping", "2026-08", 19.0),
        _row("budget_rev", "dongping", "2026-09", 22.4),
        _row("gdp_growth", "xintai", "2026Q3", 6.1),
        _row("trade", "taian", "2026-06", 336.0),
    ], source="api")


def _by_key(items: list[dict]) -> dict[tuple[str, str], dict]:
    return {(i["indicator"], i["entity"]): i for i in items}


async def test_progress_against_time_worked_by_hand(app: Sanic, sqlite_service: Service) -> None:
    await _ingest(sqlite_service)
    _, response = await app.asgi_client.get("/api/v1/targets?year=2026")
    assert response.status == 200, response.text
    items = _by_key(response.json["items"])
    # 196 of 280亿元 by September: 70% of the target against 75% of the year, 5 points behind.
    city = items[("budget_rev", "taian")]
    assert (city["kind"], city["target"], city["period"], city["ytd"]) == ("level", 280, "2026-09", 196.0)
    assert (city["progress"], city["time_progress"], city["gap"], city["on_track"]) == (70.0, 75.0, -5.0, False)
    # 22.4 of 28亿元 is 80%: 5 points ahead; the latest month with data is the one that counts.
    dongping = items[("budget_rev", "dongping")]
    assert (dongping["period"], dongping["progress"], dongping["gap"], dongping["on_track"]) == \
        ("2026-09", 80.0, 5.0, True)
    # A growth target: 6.1% year-to-date against 5.5%.
    xintai = items[("gdp_growth", "xintai")]
    assert (xintai["kind"], xintai["growth"], xintai["gap"], xintai["time_progress"], xintai["on_track"]) == \
        ("growth", 6.1, 0.6, 75.0, True)
    # 336 of 640亿元 by June (1–2月 merged does not change the share of the year): 52.5% against 50%.
    trade = items[("trade", "taian")]
    assert (trade["progress"], trade["time_progress"], trade["gap"]) == (52.5, 50.0, 2.5)
    # No data yet: the target is listed without progress.
    invest = items[("fixed_invest", "taian")]
    assert invest["target"] == 4.0 and invest["period"] is None and invest["gap"] is None
    assert {i["year"] for i in response.json["items"]} == {2026}


async def test_filters_and_other_years(app: Sanic, sqlite_service: Service) -> None:
    await _ingest(sqlite_service)
    _, response = await app.asgi_client.get("/api/v1/targets?year=2026&indicator=budget_rev")
    assert {i["entity"] for i in response.json["items"]} == {"taian", "taishan", "daiyue", "xintai", "feicheng",
                                                             "ningyang", "dongping"}
    _, response = await app.asgi_client.get("/api/v1/targets?year=2026&entity=dongping")
    assert {i["indicator"] for i in response.json["items"]} == {"gdp_growth", "budget_rev"}
    _, response = await app.asgi_client.get("/api/v1/targets?year=2025&indicator=budget_rev&entity=taian")
    assert [(i["target"], i["period"]) for i in response.json["items"]] == [(268, None)]
    _, response = await app.asgi_client.get("/api/v1/targets?year=1700")
    assert response.status == 400


async def test_a_county_user_sees_its_own_targets_only(app: Sanic, sqlite_service: Service) -> None:
    async def county_user(request) -> Principal:
        return Principal("东平县统计局", EVERYTHING, scope=frozenset({"dongping"}))

    app.ctx.authenticate = county_user
    _, response = await app.asgi_client.get("/api/v1/targets?year=2026")
    assert response.status == 200
    assert {i["entity"] for i in response.json["items"]} == {"dongping"}


async def test_csv_export(app: Sanic, sqlite_service: Service) -> None:
    await _ingest(sqlite_service)
    _, response = await app.asgi_client.get("/api/v1/targets?year=2026&indicator=budget_rev&entity=taian&format=csv")
    assert response.status == 200
    lines = response.body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("indicator,indicator_name,unit,entity")
    assert lines[1].startswith("budget_rev,一般公共预算收入,亿元,taian,泰安市,2026,level,280")


async def test_setting_targets_stores_a_new_inactive_version(app: Sanic, sqlite_service: Service) -> None:
    body = {"indicator": "budget_rev", "year": 2026, "values": {"taian": 290, "dongping": 29.5}, "comment": "调整"}
    _, response = await app.asgi_client.put("/api/v1/targets", json=body)
    assert response.status == 201, response.text
    version = response.json["version"]
    assert response.json["active"] is False
    stored = await RuleSet.get(version=version)
    text = next(t for p, t in stored.files.items() if p.endswith("targets.rules"))
    assert "target budget_rev 2026 { taian 290  dongping 29.5 }" in text
    assert "target budget_rev 2025 {" in text  # other years untouched
    assert (await RuleSet.filter(active=True).first()).version == version - 1
    # The live targets do not change until the version is activated.
    _, listed = await app.asgi_client.get("/api/v1/targets?year=2026&indicator=budget_rev&entity=taian")
    assert listed.json["items"][0]["target"] == 280


async def test_setting_targets_for_an_unknown_entity_is_refused(app: Sanic, sqlite_service: Service) -> None:
    body = {"indicator": "budget_rev", "year": 2027, "values": {"nowhere": 1}}
    _, response = await app.asgi_client.put("/api/v1/targets", json=body)
    assert response.status == 422
    assert await RuleSet.all().count() == 1
    _, response = await app.asgi_client.put("/api/v1/targets", json={"indicator": "budget_rev", "year": "x"})
    assert response.status == 400


def test_replace_target_replaces_or_appends() -> None:
    text = "target gdp_growth 2026 growth {\n  taian 5.5  xintai 5.5\n}\ntarget trade 2026 { taian 640 }\n"
    replaced = replace_target(text, "gdp_growth", 2026, True, {"taian": 6.0, "xintai": -1.5})
    assert replaced == "target gdp_growth 2026 growth { taian 6  xintai -1.5 }\ntarget trade 2026 { taian 640 }\n"
    appended = replace_target(text, "trade", 2027, False, {"taian": 700})
    assert appended == text + "\ntarget trade 2027 { taian 700 }\n"
