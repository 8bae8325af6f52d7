"""The permission matrix and region scope, with the real authenticator and real sign-in.

Every route of the app is called by every role and the answer is checked against `EXPECTED`, a table written
here rather than read from the code, so a permission that changes by accident (or a new route nobody gave a
rule) fails. Then a county's leader and data officer are kept to their county on every way out: series,
alerts, revisions, latest values, the catalog, the event stream, exports, templates and ingest.

The requests go to the app in process through an ASGI client made once per module (sanic-testing's own
client re-runs the start-up around every request, 40 ms each; this one answers in about a millisecond),
which also lets a test choose the caller's address. `python -m tests.server.test_permissions` prints the
matrix table kept in docs/access.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sanic import Sanic
from sanic_routing.route import Route

from server import accounts
from server.access import PERMISSIONS, PUBLIC
from server.api import create_app, sessions
from server.config import Settings
from server.service import Service
from server.store import close_store, open_store
from server.store.models import Alert, AuditEntry, DataTemplate, Event, Observation, User
from tests.server.conftest import database_url, make_app, started_service

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "Taishan-Test-2026!"
ROLES = ("administrator", "statistician", "data_officer", "leader", "anonymous")
ROLE_TITLES = {**accounts.ROLE_NAMES, "anonymous": "未登录"}
# username -> (role, scope). The four unscoped users are named after their roles.
USERS = {"administrator": ("administrator", []), "statistician": ("statistician", []),
         "data_officer": ("data_officer", []), "leader": ("leader", []),
         "leader_xintai": ("leader", ["xintai"]), "officer_xintai": ("data_officer", ["xintai"])}
DOCS = Path(__file__).parents[2] / "docs" / "access.md"

EVERYONE = set(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
WRITERS = {"administrator", "statistician", "data_officer"}
ANALYSTS = {"administrator", "statistician", "leader"}
EDITORS = {"administrator", "statistician"}
ADMIN = {"administrator"}

# Route name (blueprint.handler) -> the roles that get past the authorization layer. Written by hand on purpose.
EXPECTED: dict[str, set[str]] = {
    "health.healthz": EVERYONE,
    "health.metrics": EVERYONE,
    "openapi.openapi": EVERYONE,
    "pages.login_page": EVERYONE,  # the pages hold no data: their scripts call the guarded API
    "pages.account_page": EVERYONE,
    "pages.asset": EVERYONE,
    "account.login": EVERYONE,
    "account.refresh": EVERYONE,
    "account.recover": EVERYONE,
    "account.recover_confirm": EVERYONE,
    "account.unlock": EVERYONE,
    "account.logout": SIGNED_IN,
    "account.me": SIGNED_IN,
    "account.change_password": SIGNED_IN,
    "account.register_device": SIGNED_IN,
    "account.remove_device": SIGNED_IN,
    "users.list_users": ADMIN,
    "users.create_user": ADMIN,
    "users.change_user": ADMIN,
    "users.delete_user": ADMIN,
    "users.list_tokens": ADMIN,
    "users.create_token": ADMIN,
    "users.revoke_token": ADMIN,
    "users.audit_log": ADMIN,
    "observations.post_observations": WRITERS,
    "observations.get_series": SIGNED_IN,
    "observations.get_revisions": SIGNED_IN,
    "alerts.list_alerts": ANALYSTS,
    "alerts.get_alert": ANALYSTS,
    "alerts.act_on_alert": EDITORS,
    "events.events": ANALYSTS,
    "rulesets.list_rulesets": ANALYSTS,
    "rulesets.get_ruleset": ANALYSTS,
    "rulesets.upload_ruleset": EDITORS,
    "rulesets.activate_ruleset": ADMIN,
    "rulesets.dry_run_candidate": ANALYSTS,
    "rulesets.dry_run_version": ANALYSTS,
    "catalog.list_indicators": SIGNED_IN,
    "catalog.list_entities": SIGNED_IN,
    "catalog.get_latest": SIGNED_IN,
    "templates.list_templates": SIGNED_IN,
    "templates.get_template": SIGNED_IN,
    "templates.blank_form": SIGNED_IN,
    "templates.create_template": EDITORS,
    "templates.delete_template": EDITORS,
    "templates.upload": WRITERS,
    "notify.list_receivers": ADMIN,
    "notify.get_receiver": ADMIN,
    "notify.create_receiver": ADMIN,
    "notify.change_receiver": ADMIN,
    "notify.delete_receiver": ADMIN,
    "notify.list_silences": ANALYSTS,
    "notify.create_silence": EDITORS,
    "notify.expire_silence": EDITORS,
    "notify.list_outbox": ANALYSTS,
    "notify.retry_message": ADMIN,
    "notify.post_digest": ADMIN,
    "reports.get_brief": SIGNED_IN,
    "reports.send_brief": EDITORS,
    "targets.list_targets": SIGNED_IN,
    "targets.put_targets": EDITORS,
    "dashboards.home": EVERYONE,  # the pages check the session themselves and sign the dashboard sessions
    "dashboards.asset": EVERYONE,
    "dashboards.page": EVERYONE,
}
STREAMS = {"events.events"}  # answered with an endless stream: "allowed" is a stream still open after a moment
STREAM_WAIT = 0.5


# ---------------------------------------------------------------------- the world the tests share


@dataclass
class World:
    app: Sanic
    service: Service
    client: httpx.AsyncClient
    headers: dict[str, dict[str, str]]  # username or "anonymous" -> request headers
    alerts: dict[str, int]  # entity -> id of its ind_va_range alert
    password_hash: str  # of PASSWORD, for users a test adds

    async def get(self, who: str, url: str, **params: str) -> httpx.Response:
        return await self.client.get(url, params=params, headers=self.headers[who])

    async def post(self, who: str, url: str, body: object) -> httpx.Response:
        return await self.client.post(url, json=body, headers=self.headers[who])


def client_for(app: Sanic, address: str = "198.51.100.7") -> httpx.AsyncClient:
    """A client that calls the app in process as a caller at `address` (the app must have answered once through
    sanic-testing's client, which finalizes its routes)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url="http://taishan.test")


def observations(*items: tuple[str, str, float]) -> list[dict]:
    return [{"indicator": "ind_va", "entity": e, "period": p, "value": v} for e, p, v in items]


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD, **extra: object) -> dict:
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": password, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(signed_in: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {signed_in['access_token']}"}


async def add_user(world: World, username: str, role: str, scope: list[str] | None = None) -> User:
    return await User.create(username=username, role=role, scope=scope or [], password_hash=world.password_hash)


async def fresh_headers(world: World, username: str) -> dict[str, str]:
    """A new session of its own, as sign-in opens it, for a request that ends it."""
    user = await User.get(username=username)
    opened = await sessions.open_session(user, "bearer", "test")
    token, _ = sessions.sign_access(await world.app.ctx.authenticate.key(), opened.session, user.id)
    return {"Authorization": f"Bearer {token}"}


async def open_world(folder: Path) -> World:
    url = database_url("sqlite", folder)
    await open_store(url)
    service = await started_service()
    # A county and another county of one city, the city itself and the province beside it.
    await service.ingest(observations(("xintai", "2026-09", 6.0), ("xintai", "2026-10", 25.0),
                                      ("dongping", "2026-09", 6.0), ("dongping", "2026-10", 26.0),
                                      ("taian", "2026-10", 7.0), ("shandong", "2026-10", 6.5)),
                         source="api", user="seed")
    app = make_app(service, url, open_access=False)
    await app.asgi_client.get("/healthz")
    client = client_for(app)
    hashed = await accounts.hash_password(PASSWORD)  # one hash for every user: argon2 is slow on purpose
    for username, (role, scope) in USERS.items():
        await User.create(username=username, role=role, scope=scope, password_hash=hashed)
    headers = {"anonymous": {}}
    for username in USERS:
        headers[username] = bearer(await sign_in(client, username))
    found = dict(await Alert.filter(rule="ind_va_range").values_list("entity", "id"))
    return World(app, service, client, headers, found, hashed)


async def close_world(world: World) -> None:
    await world.client.aclose()
    await close_store()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    shared = await open_world(tmp_path_factory.mktemp("permissions"))
    yield shared
    await close_world(shared)


# ---------------------------------------------------------------------- the matrix


def route_name(app: Sanic, route: Route) -> str:
    return route.name.removeprefix(f"{app.name}.")


def concrete(path: str) -> str:
    """A request path for a route: ids and names that exist nowhere, so no handler changes anything."""
    return "/" + re.sub(r"<\w+:(\w+)>", lambda m: "999999" if m[1] == "int" else "nope", path).lstrip("/")


def allowed_by_code(permission: str, role: str) -> bool:
    if permission == PUBLIC:
        return True
    return role != "anonymous" and permission in accounts.ROLE_PERMISSIONS[role]


async def attempt(world: World, name: str, method: str, path: str, role: str) -> tuple[object, str]:
    """(status, error code) of one call; ("stream", "") for a stream that stayed open."""
    headers = world.headers[role]
    if name == "account.logout" and role != "anonymous":
        headers = await fresh_headers(world, role)  # signing out must not end the session the others use
    body = b"{}" if method in ("POST", "PATCH", "PUT") else None
    request = world.client.request(method, concrete(path), headers=headers, content=body)
    try:
        response = await asyncio.wait_for(request, STREAM_WAIT if name in STREAMS else 60)
    except TimeoutError:
        if name in STREAMS:
            return "stream", ""
        raise
    code = response.json()["error"]["code"] if response.status_code >= 400 else ""
    return response.status_code, code


def verdict(role: str, allowed: bool, status: object, code: str) -> bool:
    if allowed:
        return status == "stream" or (isinstance(status, int) and status not in (401, 403) and status < 500)
    if role == "anonymous":
        return (status, code) == (401, "unauthenticated")
    return (status, code) == (403, "forbidden")


async def test_the_expected_table_names_exactly_the_apps_routes_and_each_declares_a_known_permission(
        world: World) -> None:
    routes = world.app.router.routes
    assert sorted(route_name(world.app, r) for r in routes) == sorted(EXPECTED)
    undeclared = [r.path for r in routes if getattr(r.ctx, "permission", None) not in PERMISSIONS]
    assert undeclared == []
    assert all(len(r.methods) == 1 for r in routes)  # one request per route and role covers it


async def test_every_route_answers_every_role_as_the_table_says(world: World) -> None:
    forbidden_before = await AuditEntry.filter(action="auth.forbidden").count()
    mismatches, refused = [], 0
    for route in world.app.router.routes:
        name, method = route_name(world.app, route), next(iter(route.methods))
        for role in ROLES:
            allowed = role in EXPECTED.get(name, set())
            status, code = await attempt(world, name, method, route.path, role)
            refused += status == 403 and code == "forbidden"
            if not verdict(role, allowed, status, code):
                mismatches.append(f"{method} /{route.path} as {role}: {status} {code} "
                                  f"(expected {'allowed' if allowed else 'refused'})")
    assert mismatches == []
    # Every refusal of a signed-in caller is in the audit log, once.
    assert await AuditEntry.filter(action="auth.forbidden").count() - forbidden_before == refused
    print(f"\n权限矩阵：{len(world.app.router.routes)} 个接口 × {len(ROLES)} 个角色 = "
          f"{len(world.app.router.routes) * len(ROLES)} 项，全部符合")


def matrix_table(app: Sanic) -> str:
    """The matrix as the code has it, as a Markdown table for docs/access.md."""
    routes = sorted(app.router.routes, key=lambda r: ("/" + r.path.lstrip("/"), sorted(r.methods)))
    lines = [f"共 {len(routes)} 个接口 × {len(ROLES)} 个角色 = {len(routes) * len(ROLES)} 项"
             f"（{len(routes)} routes × {len(ROLES)} roles）。", "",
             "| 接口 Route | 权限 Permission | " + " | ".join(ROLE_TITLES[r] for r in ROLES) + " |",
             "|---|---|" + "---|" * len(ROLES)]
    for route in routes:
        permission = route.ctx.permission
        marks = " | ".join("✓" if allowed_by_code(permission, role) else "—" for role in ROLES)
        path = "/" + re.sub(r"<(\w+):\w+>", r"{\1}", route.path).lstrip("/")
        lines.append(f"| `{next(iter(route.methods))} {path}` | `{permission}` | {marks} |")
    return "\n".join(lines)


async def test_docs_show_the_matrix_of_the_code(world: World) -> None:
    text = DOCS.read_text(encoding="utf-8")
    shown = text.split("<!-- matrix:start -->\n", 1)[1].split("\n<!-- matrix:end -->", 1)[0]
    assert shown == matrix_table(world.app), "docs/access.md 已过期：运行 python -m tests.server.test_permissions"


# ---------------------------------------------------------------------- region scope: reading


def ids(response: httpx.Response, key: str = "entity") -> set[str]:
    assert response.status_code == 200, response.text
    return {item[key] for item in response.json()["items"]}


def csv_entities(response: httpx.Response, column: str = "entity") -> set[str]:
    assert response.status_code == 200, response.text
    return {row[column] for row in csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))}


async def test_a_county_leader_reads_the_county_the_city_and_the_province_but_no_other_county(world: World) -> None:
    everything = await world.get("leader", "/api/v1/series", indicator="ind_va")
    assert ids(everything) == {"xintai", "dongping", "taian", "shandong"}  # the data is there to be hidden
    series = await world.get("leader_xintai", "/api/v1/series", indicator="ind_va")
    assert ids(series) == {"xintai", "taian", "shandong"}
    subtree = await world.get("leader_xintai", "/api/v1/series", indicator="ind_va", entity="taian", subtree="1")
    assert ids(subtree) == {"xintai", "taian"}
    exported = await world.get("leader_xintai", "/api/v1/series", indicator="ind_va", format="csv")
    assert csv_entities(exported) == {"xintai", "taian", "shandong"}
    latest = await world.get("leader_xintai", "/api/v1/latest", indicator="ind_va")
    assert "xintai" in ids(latest) and "dongping" not in ids(latest)
    assert "dongping" in ids(await world.get("leader", "/api/v1/latest", indicator="ind_va"))
    latest_csv = await world.get("leader_xintai", "/api/v1/latest", indicator="ind_va", format="csv")
    assert "dongping" not in csv_entities(latest_csv) and "东平" not in latest_csv.content.decode("utf-8-sig")


async def test_a_county_leader_sees_only_the_alerts_of_the_region(world: World) -> None:
    listed = await world.get("leader_xintai", "/api/v1/alerts")
    assert "xintai" in ids(listed) and "dongping" not in ids(listed)
    assert "dongping" in ids(await world.get("leader", "/api/v1/alerts"))
    exported = await world.get("leader_xintai", "/api/v1/alerts", format="csv")
    assert "xintai" in csv_entities(exported) and "dongping" not in csv_entities(exported)
    exported_xlsx = await world.get("leader_xintai", "/api/v1/alerts", format="xlsx")
    assert exported_xlsx.status_code == 200 and b"dongping" not in exported_xlsx.content
    own = await world.get("leader_xintai", f"/api/v1/alerts/{world.alerts['xintai']}")
    assert own.status_code == 200 and own.json()["entity"] == "xintai"
    assert (await world.get("leader", f"/api/v1/alerts/{world.alerts['dongping']}")).status_code == 200


async def test_changing_an_id_in_the_url_or_the_query_does_not_escape_the_scope(world: World) -> None:
    other = await world.get("leader_xintai", f"/api/v1/alerts/{world.alerts['dongping']}")
    assert other.status_code == 404 and "dongping" not in other.text
    for query in ({"entity": "dongping"}, {"entity": "taian", "subtree": "1"}, {"entity": "dongping,xintai"}):
        found = await world.get("leader_xintai", "/api/v1/alerts", **query)
        assert "dongping" not in ids(found), query
    asked = await world.get("leader_xintai", "/api/v1/alerts", entity="dongping")
    assert asked.json()["total"] == 0
    series = await world.get("leader_xintai", "/api/v1/series", indicator="ind_va", entity="dongping")
    assert ids(series) == set()
    revisions = await world.get("leader_xintai", "/api/v1/revisions", indicator="ind_va", entity="dongping",
                                period="2026-10")
    assert revisions.status_code == 403 and "26.0" not in revisions.text
    own = await world.get("leader_xintai", "/api/v1/revisions", indicator="ind_va", entity="xintai",
                          period="2026-10")
    assert [r["value"] for r in own.json()["items"]] == [25.0]
    city = await world.get("leader_xintai", "/api/v1/revisions", indicator="ind_va", entity="taian", period="2026-10")
    assert city.status_code == 200
    for query in ("dongping", "东平", "dp", ""):
        found = await world.get("leader_xintai", "/api/v1/entities", q=query)
        assert "dongping" not in ids(found, "id"), query
    catalog = ids(await world.get("leader_xintai", "/api/v1/entities"), "id")
    assert {"xintai", "taian", "shandong"} <= catalog and not catalog & {"dongping", "feicheng", "taishan"}


async def test_an_api_token_is_narrowed_to_its_own_scope_and_permissions(world: World) -> None:
    made = await world.post("administrator", "/api/v1/tokens",
                            {"name": "新泰夜间任务", "permissions": ["data:read"], "scope": ["xintai"]})
    assert made.status_code == 201, made.text
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    series = await world.client.get("/api/v1/series", params={"indicator": "ind_va"}, headers=token)
    assert ids(series) == {"xintai", "taian", "shandong"}
    alerts = await world.client.get("/api/v1/alerts", headers=token)
    assert alerts.status_code == 403  # its creator may read alerts; the token was not given that


# ---------------------------------------------------------------------- region scope: the event stream


async def read_stream(app: Sanic, headers: dict[str, str], query: str, until: int) -> list[dict]:
    """The frames of `GET /api/v1/events` up to and including event `until`, read as they are sent (an ASGI
    call of our own: test clients wait for a response to end, and a stream does not)."""
    received: list[str] = []
    seen = asyncio.Event()
    sent_request = False

    async def receive() -> dict:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected until cancelled
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
        if message["type"] == "http.response.body":
            received.append(message.get("body", b"").decode())
            if f"id: {until}\n" in "".join(received):
                seen.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/api/v1/events", "raw_path": b"/api/v1/events", "query_string": query.encode(),
             "root_path": "", "client": ("198.51.100.7", 40000), "server": ("taishan.test", 80),
             "headers": [(b"host", b"taishan.test"), *((k.lower().encode(), v.encode()) for k, v in headers.items())]}
    task = asyncio.create_task(app(scope, receive, send))
    try:
        await asyncio.wait_for(seen.wait(), 20)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    frames = [f for f in "".join(received).split("\n\n") if "\ndata: " in f]
    return [json.loads(f.split("\ndata: ", 1)[1]) for f in frames]


async def newest_event_after_a_county_batch(world: World) -> int:
    """A batch of the county alone, so the newest event is one every caller of the region is sent."""
    await world.service.ingest(observations(("xintai", "2026-08", 6.0)), source="api", user="seed")
    newest = await Event.all().order_by("-id").first()
    assert newest is not None and newest.payload.get("entities") == ["xintai"]
    return newest.id


async def test_the_event_stream_of_a_county_leader_carries_no_other_countys_transitions(world: World) -> None:
    until = await newest_event_after_a_county_batch(world)
    everything = await read_stream(world.app, world.headers["leader"], "after=0", until)
    assert {e["entity"] for e in everything if e["event"] == "transition"} >= {"xintai", "dongping"}
    scoped = await read_stream(world.app, world.headers["leader_xintai"], "after=0", until)
    shown = {e["entity"] for e in scoped if e["event"] == "transition"}
    assert "xintai" in shown and shown <= {"xintai", "taian", "shandong"}
    assert [e["id"] for e in scoped][-1] == until


async def test_no_frame_of_a_county_leaders_stream_names_another_county(world: World) -> None:
    until = await newest_event_after_a_county_batch(world)
    scoped = await read_stream(world.app, world.headers["leader_xintai"], "after=0", until)
    assert scoped and not [e for e in scoped if "dongping" in json.dumps(e)]


# ---------------------------------------------------------------------- region scope: writing


def long_csv(*rows: tuple[str, str, float]) -> bytes:
    return ("指标,单位,期别,数值\n" + "".join(f"ind_va,{e},{p},{v}\n" for e, p, v in rows)).encode()


async def upload(world: World, who: str, template: str, data: bytes) -> httpx.Response:
    return await world.client.post(f"/api/v1/templates/{template}/upload", files={"file": ("data.csv", data)},
                                   headers=world.headers[who])


async def test_a_county_data_officer_cannot_report_for_another_county(world: World) -> None:
    stored = await Observation.all().count()
    refused = await world.post("officer_xintai", "/api/v1/observations", {"observations": observations(
        ("xintai", "2026-07", 6.0), ("dongping", "2026-07", 6.0))})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_rows"
    assert refused.json()["error"]["details"] == [
        {"row": 2, "column": "entity", "reason": "无权报送单位「dongping」的数据"}]
    await DataTemplate.create(name="two_counties", layout="long", indicators=["ind_va"],
                              entities=["xintai", "dongping"])
    await DataTemplate.create(name="dongping_only", layout="long", indicators=["ind_va"], entities=["dongping"])
    cells = await upload(world, "officer_xintai", "two_counties", long_csv(("xintai", "2026-07", 6.0),
                                                                           ("dongping", "2026-07", 6.0)))
    assert cells.status_code == 422 and [(d["row"], d["column"]) for d in cells.json()["error"]["details"]] == [
        (3, "B")]
    assert "无权报送" in cells.json()["error"]["details"][0]["reason"]
    hidden = await upload(world, "officer_xintai", "dongping_only", long_csv(("dongping", "2026-07", 6.0)))
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "unknown_template"
    blank = await world.get("officer_xintai", "/api/v1/templates/dongping_only/blank.xlsx")
    assert blank.status_code == 404
    listed = await world.get("officer_xintai", "/api/v1/templates")
    assert [t["name"] for t in listed.json()["items"]] == ["two_counties"]
    assert await Observation.all().count() == stored
    accepted = await world.post("officer_xintai", "/api/v1/observations",
                                {"observations": observations(("xintai", "2026-07", 6.0))})
    assert accepted.status_code == 201  # the county itself is the officer's to report


async def test_a_county_data_officer_cannot_write_the_city_totals_or_the_province(world: World) -> None:
    await DataTemplate.create(name="city_and_county", layout="long", indicators=["ind_va"],
                              entities=["taian", "xintai"])
    stored = await Observation.all().count()
    for entity in ("taian", "shandong"):
        refused = await world.post("officer_xintai", "/api/v1/observations",
                                   {"observations": observations((entity, "2026-06", 6.0))})
        assert refused.status_code == 422, entity
    cells = await upload(world, "officer_xintai", "city_and_county", long_csv(("taian", "2026-06", 6.0)))
    assert cells.status_code == 422
    assert await Observation.all().count() == stored


if __name__ == "__main__":
    print(matrix_table(create_app(Settings(db="sqlite://:memory:"), manage_store=False)))
