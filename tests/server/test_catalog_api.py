"""The catalog searched by name, id and pinyin initials within the caller's scope, and the latest-values query
with growth and rank among peers."""

from __future__ import annotations

import csv
import io

from sanic import Request, Sanic

from server.api.auth import EVERYTHING, Principal
from server.service import Service
from tests.server.conftest import make_app, started_service


def only(app: Sanic, *entities: str) -> None:
    """Sign every caller in as a county leader who sees only `entities` (the app's sign-in plug point)."""

    async def authenticate(_request: Request) -> Principal:
        return Principal("县领导", EVERYTHING, frozenset(entities))

    app.ctx.authenticate = authenticate


def rows(indicator: str, entity: str, values: dict[str, float]) -> list[dict]:
    return [{"indicator": indicator, "entity": entity, "period": p, "value": v} for p, v in values.items()]


async def ids(app: Sanic, url: str) -> list[str]:
    _, response = await app.asgi_client.get(url)
    assert response.status == 200, response.text
    return [item["id"] for item in response.json["items"]]


async def test_indicators_are_found_by_pinyin_initials_name_and_id(service: Service, store: str) -> None:
    app = make_app(service, store)  # on every back end: the search is SQL
    assert (await ids(app, "/api/v1/indicators?q=dqsczz"))[0] == "gdp"
    by_id = await ids(app, "/api/v1/indicators?q=GDP")
    assert by_id[0] == "gdp" and {"gdp_primary", "gdp_growth"} <= set(by_id)
    assert "gdp" in await ids(app, "/api/v1/indicators?q=生产总值")
    industrial = await ids(app, "/api/v1/indicators?tag=工业")
    assert "ind_va" in industrial and "gdp" not in industrial
    assert await ids(app, "/api/v1/indicators?q=gmysgyzjz&tag=工业") == ["ind_va"]
    assert await ids(app, "/api/v1/indicators?q=没有这个指标") == []
    _, exported = await app.asgi_client.get("/api/v1/indicators?q=dqsczz&format=csv")
    table = list(csv.DictReader(io.StringIO(exported.body.decode("utf-8-sig"))))
    assert (table[0]["id"], table[0]["name"], table[0]["form"]) == ("gdp", "地区生产总值", "ytd")


async def test_entities_are_found_within_the_callers_scope(service: Service, store: str) -> None:
    app = make_app(service, store)
    # Names that start with the text come before names that only contain it.
    # Regions come before enterprises, and among them names that start with the text first.
    assert (await ids(app, "/api/v1/entities?q=泰"))[:5] == ["taian", "taishan", "gaoxin", "taishan_scenic", "xintai"]
    assert (await ids(app, "/api/v1/entities?q=xts"))[0] == "xintai"
    assert await ids(app, "/api/v1/entities?parent=taian&kind=county") == ["ningyang", "dongping"]
    only(app, "xintai", "feicheng")
    assert await ids(app, "/api/v1/entities?q=泰") == ["xintai"]
    assert await ids(app, "/api/v1/entities") == ["xintai", "feicheng"]


def picked(response: object, *names: str) -> dict[str, tuple]:
    return {item["entity"]: tuple(item[n] for n in names) for item in response.json["items"]}


async def test_latest_gives_growth_and_rank_among_the_citys_counties(app: Sanic, sqlite_service: Service) -> None:
    data = {"taian": (2000.0, 2100.0), "xintai": (400.0, 440.0), "feicheng": (300.0, 309.0),
            "daiyue": (500.0, 520.0)}
    await sqlite_service.ingest([row for entity, (last_year, now) in data.items()
                                 for row in rows("gdp", entity, {"2025Q3": last_year, "2026Q2": now * 0.6,
                                                                 "2026Q3": now})], source="api")
    _, response = await app.asgi_client.get("/api/v1/latest?indicator=gdp")
    assert response.status == 200, response.text
    assert (response.json["period"], response.json["name"], response.json["unit"]) == ("2026Q3", "地区生产总值", "亿元")
    assert picked(response, "value", "growth", "rank", "growth_rank", "peers") == {
        "taian": (2100.0, 5.0, None, None, None),  # the city has no peers in the city's rule set
        "daiyue": (520.0, 4.0, 1, 2, 3),
        "xintai": (440.0, 10.0, 2, 1, 3),
        "feicheng": (309.0, 3.0, 3, 3, 3),
    }
    _, earlier = await app.asgi_client.get("/api/v1/latest?indicator=gdp&period=2026Q2")
    assert picked(earlier, "period", "growth")["xintai"] == ("2026Q2", None)  # no 2025Q2 to compare with

    # A revision moves the data version: the answer is not served from the cache.
    await sqlite_service.ingest(rows("gdp", "feicheng", {"2026Q3": 600.0}), source="api")
    _, revised = await app.asgi_client.get("/api/v1/latest?indicator=gdp")
    assert picked(revised, "value", "rank")["feicheng"] == (600.0, 1)

    # A county leader sees only the county, ranked among all of them.
    only(app, "xintai")
    _, scoped = await app.asgi_client.get("/api/v1/latest?indicator=gdp&format=csv")
    table = list(csv.DictReader(io.StringIO(scoped.body.decode("utf-8-sig"))))
    assert [(r["entity"], r["rank"], r["peers"]) for r in table] == [("xintai", "3", "3")]


async def test_latest_of_a_rate_indicator_is_its_published_growth(app: Sanic, sqlite_service: Service) -> None:
    await sqlite_service.ingest(rows("ind_va", "xintai", {"2026-10": 7.5}) + rows("ind_va", "feicheng",
                                                                                 {"2026-10": 9.0}), source="api")
    _, response = await app.asgi_client.get("/api/v1/latest?indicator=ind_va")
    assert picked(response, "value", "growth", "rank") == {"xintai": (7.5, 7.5, 2), "feicheng": (9.0, 9.0, 1)}
    _, empty = await app.asgi_client.get("/api/v1/latest?indicator=retail")
    assert (empty.json["period"], empty.json["items"]) == (None, [])
    _, unknown = await app.asgi_client.get("/api/v1/latest?indicator=nothing")
    _, missing = await app.asgi_client.get("/api/v1/latest")
    _, wrong_period = await app.asgi_client.get("/api/v1/latest?indicator=ind_va&period=2026Q3")
    assert (unknown.status, missing.status, wrong_period.status) == (404, 400, 400)


async def test_latest_ranks_a_provinces_cities(sqlite_store: str) -> None:
    service = await started_service(["rules/shandong"])
    app = make_app(service, sqlite_store)
    data = {"shandong": (90000.0, 99000.0), "jinan": (12000.0, 12600.0), "qingdao": (15000.0, 15300.0),
            "taian": (3000.0, 3300.0)}
    await service.ingest([row for entity, (before, after) in data.items()
                          for row in rows("gdp", entity, {"2024": before, "2025": after})], source="api")
    _, response = await app.asgi_client.get("/api/v1/latest?indicator=gdp")
    assert response.json["period"] == "2025"
    assert picked(response, "growth", "rank", "growth_rank", "peers") == {
        "shandong": (10.0, None, None, None),
        "jinan": (5.0, 2, 2, 3),
        "qingdao": (2.0, 1, 3, 3),
        "taian": (10.0, 3, 1, 3),
    }
