"""Sign-in and its flows through the real authenticator: password sign-in, refresh, sign-out, password change,
recovery through real receivers (an HTTP JSON hook and an SMTP server on loopback), pattern unlock, backoff and
lockout, the administration API (users, API tokens, audit log) and contact secrets at rest.

The app, its SQLite store and the service are shared by the module (starting them takes a second); every test
makes its own users, and the sign-in throttle is cleared before each test. The users share one argon2 hash, so
only sign-ins pay for argon2.
"""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import itertools
import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from sanic import Sanic
from sanic_testing.testing import TestingResponse as Answer
from tortoise.timezone import now

from server import accounts, crypto, throttle
from server.api import sessions
from server.store import close_store, open_store
from server.store.models import ApiToken, AuditEntry, Device, LoginThrottle, RecoveryCode, Session, User
from tests.server.conftest import database_url, make_app, started_service
from tests.server.live import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "Taishan-Auth-2026!"
NEW_PASSWORD = "Another-Good-Pass-7"
CODE = re.compile(r"验证码是 (\d{6})")
_names = itertools.count(1)


class Users:
    """Makes users with one shared password hash, so a test pays argon2 only for the sign-ins it does."""

    def __init__(self, password_hash: str) -> None:
        self.password_hash = password_hash

    async def add(self, role: str = "statistician", scope: tuple[str, ...] = (), contact: str = "") -> User:
        return await User.create(username=f"user{next(_names)}", role=role, scope=list(scope),
                                 password_hash=self.password_hash, contact=crypto.encrypt(contact))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sanic]:
    url = database_url("sqlite", tmp_path_factory.mktemp("auth"))
    await open_store(url)
    try:
        yield make_app(await started_service(), url, open_access=False)
    finally:
        await close_store()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def users(app: Sanic) -> Users:
    return Users(await accounts.hash_password(PASSWORD))


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def fresh_throttle(app: Sanic) -> None:
    # Every in-process request comes from the same address: one test's failures must not lock the next.
    await LoginThrottle.all().delete()


async def login(app: Sanic, username: str, password: str = PASSWORD, **extra: object) -> Answer:
    _, response = await app.asgi_client.post("/api/v1/auth/login",
                                             json={"username": username, "password": password, **extra})
    return response


async def signed_in(app: Sanic, user: User, password: str = PASSWORD) -> dict:
    response = await login(app, user.username, password)
    assert response.status_code == 200, response.text
    return response.json


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me(app: Sanic, token: str) -> int:
    _, response = await app.asgi_client.get("/api/v1/auth/me", headers=bearer(token))
    return response.status_code


async def call(app: Sanic, method: str, path: str, token: str, body: object = None) -> Answer:
    _, response = await app.asgi_client.request(method, path, headers=bearer(token),
                                                content=None if body is None else json.dumps(body))
    return response


async def actions(target: str) -> list[str]:
    return await AuditEntry.filter(target=target).order_by("id").values_list("action", flat=True)


# ---------------------------------------------------------------------- sign-in, refresh, sign-out


async def test_login_gives_a_working_access_token(app: Sanic, users: Users) -> None:
    user = await users.add(scope=("xintai",))
    body = await signed_in(app, user)
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["user"]["username"] == user.username and body["user"]["role_name"] == "统计员"
    _, response = await app.asgi_client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert response.status_code == 200
    assert response.json["username"] == user.username and response.json["scope"] == ["xintai"]
    _, anonymous = await app.asgi_client.get("/api/v1/auth/me")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    assert await actions(f"user:{user.username}") == ["auth.login"]


async def test_wrong_password_and_unknown_user_get_the_same_answer(app: Sanic, users: Users) -> None:
    user = await users.add()
    wrong = await login(app, user.username, "Wrong-Password-1")
    unknown = await login(app, "nobody_here", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json and wrong.json["error"]["message"] == "用户名或密码错误"
    assert await actions(f"user:{user.username}") == ["auth.login_failed"]
    assert await actions("user:nobody_here") == ["auth.login_failed"]


async def test_refresh_rotates_the_refresh_token(app: Sanic, users: Users) -> None:
    first = (await signed_in(app, await users.add()))["refresh_token"]
    _, rotated = await app.asgi_client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json["refresh_token"]
    assert second != first and await me(app, rotated.json["access_token"]) == 200
    _, replayed = await app.asgi_client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert replayed.status_code == 401 and replayed.json["error"]["code"] == "bad_token"
    _, again = await app.asgi_client.post("/api/v1/auth/refresh", json={"refresh_token": second})
    assert again.status_code == 200


async def test_logout_revokes_the_session_at_once(app: Sanic, users: Users) -> None:
    body = await signed_in(app, await users.add())
    token = body["access_token"]
    assert await me(app, token) == 200  # the session is now in the authenticator's cache
    assert (await call(app, "POST", "/api/v1/auth/logout", token)).status_code == 200
    assert await me(app, token) == 401
    _, refreshed = await app.asgi_client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 401


async def test_web_sign_in_uses_a_cookie_and_csrf_token(app: Sanic, users: Users) -> None:
    user = await users.add()
    response = await login(app, user.username, web=True)
    assert response.status_code == 200 and response.json["refresh_token"] is None
    cookie = response.cookies["taishan_session"]
    csrf = response.json["csrf_token"]
    assert response.cookies["taishan_csrf"] == csrf
    sent = {"Cookie": f"taishan_session={cookie}"}
    _, read = await app.asgi_client.get("/api/v1/auth/me", headers=sent)
    assert read.status_code == 200
    _, forged = await app.asgi_client.post("/api/v1/auth/logout", headers=sent)
    assert forged.status_code == 403 and forged.json["error"]["code"] == "csrf"
    _, out = await app.asgi_client.post("/api/v1/auth/logout", headers={**sent, "X-CSRF-Token": csrf})
    assert out.status_code == 200
    _, after = await app.asgi_client.get("/api/v1/auth/me", headers=sent)
    assert after.status_code == 401


# ---------------------------------------------------------------------- password change


async def test_password_change(app: Sanic, users: Users) -> None:
    user = await users.add()
    current = (await signed_in(app, user))["access_token"]
    other = await signed_in(app, user)
    wrong = await call(app, "POST", "/api/v1/auth/password", current,
                       {"old_password": "Not-The-Password-1", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 403 and wrong.json["error"]["message"] == "原密码不正确"
    assert "auth.password_change_failed" in await actions(f"user:{user.username}")
    weak = await call(app, "POST", "/api/v1/auth/password", current,
                      {"old_password": PASSWORD, "new_password": "short1A"})
    assert weak.status_code == 400 and weak.json["error"]["message"] == "密码太短：至少 10 个字符"
    assert await me(app, other["access_token"]) == 200  # refusals revoke nothing
    changed = await call(app, "POST", "/api/v1/auth/password", current,
                         {"old_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert changed.status_code == 200 and changed.json["sessions_revoked"] == 1
    assert await me(app, current) == 200
    assert await me(app, other["access_token"]) == 401
    _, refreshed = await app.asgi_client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refreshed.status_code == 401
    assert (await login(app, user.username)).status_code == 401
    assert (await login(app, user.username, NEW_PASSWORD)).status_code == 200


@pytest.mark.parametrize(("password", "message"), [
    ("Aa1" * 43, "密码过长：最多 128 个字符"),
    ("alllowercase1", "密码须包含小写字母、大写字母、数字、符号中的至少三类"),
    ("Password123", "密码过于常见，请换一个"),
])
async def test_password_policy_messages(app: Sanic, users: Users, password: str, message: str) -> None:
    user = await users.add()
    token = (await signed_in(app, user))["access_token"]
    response = await call(app, "POST", "/api/v1/auth/password", token,
                          {"old_password": PASSWORD, "new_password": password})
    assert response.status_code == 400
    assert (response.json["error"]["code"], response.json["error"]["message"]) == ("weak_password", message)


async def test_the_password_may_not_contain_the_user_name(app: Sanic, users: Users) -> None:
    user = await users.add()
    token = (await signed_in(app, user))["access_token"]
    response = await call(app, "POST", "/api/v1/auth/password", token,
                          {"old_password": PASSWORD, "new_password": f"X-{user.username.upper()}-99"})
    assert response.status_code == 400 and response.json["error"]["message"] == "密码不能包含用户名"


# ---------------------------------------------------------------------- password recovery


class JsonHook(BaseHTTPRequestHandler):
    """Apprise's json:// target POSTs {"title", "message", ...} here."""

    received: list[tuple[str, dict]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hook() -> Iterator[tuple[str, list[tuple[str, dict]]]]:
    received: list[tuple[str, dict]] = []
    handler = type("Hook", (JsonHook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        thread.join()


class Mailbox:
    """An SMTP server's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: object, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


def smtp_login(server: SMTP, session: object, envelope: Envelope, mechanism: str, data: object) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"robot", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Mailbox]]:
    """A plain SMTP server on loopback that wants a login (no TLS: Apprise's mailto:// logs in without it)."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=smtp_login,
                            auth_required=True, auth_require_tls=False)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


async def recover(app: Sanic, username: str) -> Answer:
    _, response = await app.asgi_client.post("/api/v1/auth/recover", json={"username": username})
    # The code goes out in a task after the answer (so its timing tells nothing): let it finish.
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=10)
    return response


async def confirm(app: Sanic, username: str, code: str, password: str = NEW_PASSWORD) -> Answer:
    _, response = await app.asgi_client.post("/api/v1/auth/recover/confirm",
                                             json={"username": username, "code": code, "new_password": password})
    return response


async def admin_token(app: Sanic, users: Users, scope: tuple[str, ...] = ()) -> str:
    return (await signed_in(app, await users.add("administrator", scope)))["access_token"]


async def test_recovery_through_a_json_hook(app: Sanic, users: Users,
                                            hook: tuple[str, list[tuple[str, dict]]]) -> None:
    url, received = hook
    user = await users.add()
    admin = await admin_token(app, users)
    patched = await call(app, "PATCH", f"/api/v1/users/{user.id}", admin, {"contact": url})
    assert patched.status_code == 200 and patched.json["contact"] == "json://***"
    session = (await signed_in(app, user))["access_token"]
    received.clear()

    existing, missing = await recover(app, user.username), await recover(app, "no_such_user")
    assert existing.status_code == missing.status_code == 202
    assert existing.content == missing.content  # no way to tell whether the account exists
    ((path, message),) = received
    assert path == "/hook" and message["title"] == "泰山经济运行监测：密码找回"
    code = CODE.search(message["message"]).group(1)

    wrong = "000000" if code != "000000" else "111111"
    refused = await confirm(app, user.username, wrong)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "bad_code"
    assert (await confirm(app, "no_such_user", code)).status_code == 400
    assert (await confirm(app, user.username, code)).status_code == 200
    assert await me(app, session) == 401  # every session is revoked
    assert (await login(app, user.username, NEW_PASSWORD)).status_code == 200
    assert (await confirm(app, user.username, code, "Third-Good-Pass-8")).status_code == 400  # single use
    assert (await login(app, user.username, NEW_PASSWORD)).status_code == 200
    assert await actions(f"user:{user.username}") == [
        "user.change", "auth.login", "auth.recovery_requested", "auth.recovery_failed", "auth.password_recovered",
        "auth.login", "auth.recovery_failed", "auth.login"]


async def test_a_recovery_code_expires(app: Sanic, users: Users, hook: tuple[str, list[tuple[str, dict]]]) -> None:
    url, received = hook
    user = await users.add(contact=url)
    received.clear()
    assert (await recover(app, user.username)).status_code == 202
    code = CODE.search(received[-1][1]["message"]).group(1)
    await RecoveryCode.filter(user_id=user.id).update(expires_at=now() - datetime.timedelta(seconds=1))
    assert (await confirm(app, user.username, code)).status_code == 400
    assert (await login(app, user.username)).status_code == 200


async def test_a_recovery_code_dies_after_five_wrong_tries(app: Sanic, users: Users,
                                                           hook: tuple[str, list[tuple[str, dict]]]) -> None:
    url, received = hook
    user = await users.add(contact=url)
    received.clear()
    await recover(app, user.username)
    code = CODE.search(received[-1][1]["message"]).group(1)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert (await confirm(app, user.username, wrong)).status_code == 400
    assert (await confirm(app, user.username, code)).status_code == 400


async def test_a_new_code_replaces_the_previous_one(app: Sanic, users: Users,
                                                    hook: tuple[str, list[tuple[str, dict]]]) -> None:
    url, received = hook
    user = await users.add(contact=url)
    received.clear()
    await recover(app, user.username)
    await recover(app, user.username)
    first, second = (CODE.search(m["message"]).group(1) for _, m in received)
    if first != second:
        assert (await confirm(app, user.username, first)).status_code == 400
    assert (await confirm(app, user.username, second)).status_code == 200


async def test_a_weak_new_password_keeps_the_code(app: Sanic, users: Users,
                                                  hook: tuple[str, list[tuple[str, dict]]]) -> None:
    url, received = hook
    user = await users.add(contact=url)
    received.clear()
    await recover(app, user.username)
    code = CODE.search(received[-1][1]["message"]).group(1)
    weak = await confirm(app, user.username, code, "weakpass")
    assert weak.status_code == 400 and weak.json["error"]["message"] == "密码太短：至少 10 个字符"
    assert (await confirm(app, user.username, code)).status_code == 200


async def test_a_user_without_contact_gets_no_message(app: Sanic, users: Users,
                                                      hook: tuple[str, list[tuple[str, dict]]]) -> None:
    _, received = hook
    user = await users.add()
    received.clear()
    assert (await recover(app, user.username)).status_code == 202
    assert received == [] and not await RecoveryCode.exists(user_id=user.id)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_recovery_by_mail_through_a_local_smtp_server(app: Sanic, users: Users,
                                                            smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp
    # mailto:// is plain SMTP (no TLS); smtp= names the relay when it differs from the sender's domain.
    contact = f"mailto://robot:s3cret@taian.example:{port}?smtp=127.0.0.1&to=zhang@taian.example"
    user = await users.add(contact=contact)
    mailbox.messages.clear()
    assert (await recover(app, user.username)).status_code == 202
    (envelope,) = mailbox.messages
    assert envelope.mail_from == "robot@taian.example" and envelope.rcpt_tos == ["zhang@taian.example"]
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["subject"] == "泰山经济运行监测：密码找回"
    code = CODE.search(message.get_body(preferencelist=("plain",)).get_content()).group(1)
    assert (await confirm(app, user.username, code)).status_code == 200
    assert (await login(app, user.username, NEW_PASSWORD)).status_code == 200


async def test_recovery_requests_are_throttled_silently(app: Sanic, users: Users,
                                                        hook: tuple[str, list[tuple[str, dict]]]) -> None:
    url, received = hook
    user = await users.add(contact=url)
    received.clear()
    answers = [await recover(app, user.username) for _ in range(throttle.FREE_FAILURES["account"] + 2)]
    assert {(a.status_code, a.content) for a in answers} == {(answers[0].status_code, answers[0].content)}
    assert len(received) == throttle.FREE_FAILURES["account"] + 1  # the next requests wait out the lock


# ---------------------------------------------------------------------- pattern unlock


async def register(app: Sanic, token: str, pattern: object = (0, 1, 2, 5)) -> Answer:
    return await call(app, "POST", "/api/v1/auth/devices", token,
                      {"name": "办公室电脑", "pattern": list(pattern) if isinstance(pattern, tuple) else pattern})


async def unlock(app: Sanic, device: dict, pattern: tuple[int, ...] = (0, 1, 2, 5)) -> Answer:
    _, response = await app.asgi_client.post("/api/v1/auth/unlock", json={**device, "pattern": list(pattern)})
    return response


def session_id(body: dict) -> str:
    return body["refresh_token"].split(".", 1)[0]


async def test_pattern_unlock_opens_a_session_bound_to_the_device(app: Sanic, users: Users) -> None:
    user = await users.add()
    password_session = (await signed_in(app, user))["access_token"]
    registered = await register(app, password_session)
    assert registered.status_code == 201
    device = registered.json
    unlocked = await unlock(app, device)
    assert unlocked.status_code == 200 and unlocked.json["user"]["username"] == user.username
    assert (await Session.get(id=session_id(unlocked.json))).device_id == device["device_id"]
    assert await me(app, unlocked.json["access_token"]) == 200
    again = await register(app, unlocked.json["access_token"], (3, 4, 5, 8))
    assert again.status_code == 403 and again.json["error"]["code"] == "password_session_required"
    stolen = await unlock(app, {**device, "device_secret": "x" * 43})
    assert stolen.status_code == 401 and stolen.json["error"]["code"] == "bad_device"
    _, listed = await app.asgi_client.get("/api/v1/auth/me", headers=bearer(password_session))
    assert [d["id"] for d in listed.json["devices"]] == [device["device_id"]]


@pytest.mark.parametrize("pattern", [[0, 1, 2], [0, 1, 1, 2], [0, 1, 2, 9], [-1, 0, 1, 2], [0, 1, 2, True],
                                     "0125", [0, 1, 2, 3.0], None])
async def test_bad_patterns_are_refused(app: Sanic, users: Users, pattern: object) -> None:
    token = (await signed_in(app, await users.add()))["access_token"]
    response = await register(app, token, pattern)
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_pattern"
    assert not await Device.exists(user_id=await _user_id(app, token))


async def _user_id(app: Sanic, token: str) -> int:
    _, response = await app.asgi_client.get("/api/v1/auth/me", headers=bearer(token))
    return response.json["id"]


async def test_five_wrong_patterns_revoke_the_device(app: Sanic, users: Users) -> None:
    user = await users.add()
    password_session = (await signed_in(app, user))["access_token"]
    device = (await register(app, password_session)).json
    unlocked = (await unlock(app, device)).json["access_token"]
    messages = []
    for _ in range(5):
        response = await unlock(app, device, (8, 7, 6, 3))
        assert response.status_code == 401
        messages.append(response.json["error"]["message"])
    assert messages[0] == "图形错误，还可尝试 4 次"
    assert messages[-1] == "图形错误次数过多，设备已吊销，请用密码登录"
    refused = await unlock(app, device)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "bad_device"
    assert await me(app, unlocked) == 401
    assert await me(app, password_session) == 200
    assert "auth.unlock_failed" in await actions(f"device:{device['device_id']}")


async def test_a_right_pattern_clears_the_failures(app: Sanic, users: Users) -> None:
    password_session = (await signed_in(app, await users.add()))["access_token"]
    device = (await register(app, password_session)).json
    for _ in range(4):
        await unlock(app, device, (8, 7, 6, 3))
    assert (await unlock(app, device)).status_code == 200
    for _ in range(4):
        await unlock(app, device, (8, 7, 6, 3))
    assert (await unlock(app, device)).status_code == 200


async def test_removing_a_device_revokes_its_sessions(app: Sanic, users: Users) -> None:
    owner, stranger = await users.add(), await users.add()
    password_session = (await signed_in(app, owner))["access_token"]
    device = (await register(app, password_session)).json
    unlocked = (await unlock(app, device)).json["access_token"]
    path = f"/api/v1/auth/devices/{device['device_id']}"
    stranger_token = (await signed_in(app, stranger))["access_token"]
    assert (await call(app, "DELETE", path, stranger_token)).status_code == 404
    assert (await call(app, "DELETE", path, password_session)).status_code == 200
    assert await me(app, unlocked) == 401 and await me(app, password_session) == 200
    assert (await unlock(app, device)).status_code == 401


# ---------------------------------------------------------------------- backoff and lockout


async def test_failures_back_off_per_account_and_a_success_clears_them(app: Sanic, users: Users) -> None:
    user = await users.add()
    free = throttle.FREE_FAILURES["account"]
    for _ in range(free + 1):
        assert (await login(app, user.username, "Wrong-Password-1")).status_code == 401
    locked = await login(app, user.username)  # even the right password waits
    assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
    assert locked.json["error"]["message"] == "尝试次数过多，请 1 秒后再试"
    await _let_the_lock_expire(user.username)
    assert (await login(app, user.username, "Wrong-Password-1")).status_code == 401
    doubled = await login(app, user.username)
    assert doubled.status_code == 429 and doubled.headers["retry-after"] == "2"
    await _let_the_lock_expire(user.username)
    assert (await login(app, user.username)).status_code == 200
    assert not await LoginThrottle.exists(key=f"account:{user.username}")
    for _ in range(free):
        assert (await login(app, user.username, "Wrong-Password-1")).status_code == 401
    assert (await login(app, user.username)).status_code == 200
    assert "auth.locked" in await actions(f"user:{user.username}")


async def _let_the_lock_expire(username: str) -> None:
    await LoginThrottle.filter(key=f"account:{username}").update(locked_until=now() - datetime.timedelta(seconds=1))


@pytest_asyncio.fixture(loop_scope="module")
async def served(app: Sanic) -> AsyncIterator[str]:
    """The same store and service behind a real HTTP server on loopback, so that callers have real addresses."""
    http = make_app(app.ctx.service, app.ctx.settings.db, open_access=False)
    http.config.MOTD = False
    port = free_port()
    server = await http.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


async def test_the_address_lock_spares_other_addresses(users: Users, served: str) -> None:
    """Over HTTP: one loopback address sprays passwords over many names, a colleague at another still signs in."""
    user = await users.add()
    sprayer = httpx.AsyncClient(base_url=served, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"))
    async with sprayer, httpx.AsyncClient(base_url=served) as colleague:
        for number in range(throttle.FREE_FAILURES["address"] + 1):
            response = await sprayer.post("/api/v1/auth/login",
                                          json={"username": f"sprayed{number}", "password": "Spray-Password-1"})
            assert response.status_code == 401
        locked = await sprayer.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD})
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
        response = await colleague.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD})
        assert response.status_code == 200
    assert await LoginThrottle.exists(key="address:127.0.0.2", locked_until__gt=now())


# ---------------------------------------------------------------------- administration


async def test_only_administrators_manage_users(app: Sanic, users: Users) -> None:
    token = (await signed_in(app, await users.add("statistician")))["access_token"]
    for method, path in (("GET", "/api/v1/users"), ("POST", "/api/v1/users"), ("GET", "/api/v1/audit"),
                         ("POST", "/api/v1/tokens")):
        response = await call(app, method, path, token, {} if method == "POST" else None)
        assert response.status_code == 403, path


async def test_create_user_enforces_the_policy(app: Sanic, users: Users) -> None:
    admin = await admin_token(app, users)
    body = {"username": "wang.li", "password": PASSWORD, "role": "data_officer", "scope": ["xintai"],
            "display_name": "王力"}
    weak = await call(app, "POST", "/api/v1/users", admin, {**body, "password": "wangli"})
    assert weak.status_code == 400 and weak.json["error"]["message"] == "密码太短：至少 10 个字符"
    for bad in ({"role": "king"}, {"scope": ["mars"]}, {"username": "王 力"}):
        assert (await call(app, "POST", "/api/v1/users", admin, {**body, **bad})).status_code == 400, bad
    assert not await User.exists(username="wang.li")
    created = await call(app, "POST", "/api/v1/users", admin, body)
    assert created.status_code == 201
    assert {k: created.json[k] for k in ("username", "role", "scope", "display_name", "disabled")} == {
        "username": "wang.li", "role": "data_officer", "scope": ["xintai"], "display_name": "王力", "disabled": False}
    duplicate = await call(app, "POST", "/api/v1/users", admin, body)
    assert duplicate.status_code == 409 and duplicate.json["error"]["message"] == "用户「wang.li」已存在"
    assert (await login(app, "wang.li")).status_code == 200


@pytest.mark.parametrize("change", [{"role": "leader"}, {"scope": ["dongping"]}, {"disabled": True},
                                    {"password": NEW_PASSWORD}])
async def test_changing_what_a_user_may_do_revokes_their_sessions(app: Sanic, users: Users, change: dict) -> None:
    admin = await admin_token(app, users)
    user = await users.add("data_officer", ("xintai",))
    token = (await signed_in(app, user))["access_token"]
    assert await me(app, token) == 200
    response = await call(app, "PATCH", f"/api/v1/users/{user.id}", admin, change)
    assert response.status_code == 200
    assert await me(app, token) == 401
    stored = await User.get(id=user.id)
    assert {k: getattr(stored, k) for k in change if k != "password"} == {k: v for k, v in change.items()
                                                                          if k != "password"}
    (entry,) = await AuditEntry.filter(action="user.change", target=f"user:{user.username}")
    assert entry.detail["sessions_revoked"] == 1


async def test_a_display_name_change_keeps_the_sessions(app: Sanic, users: Users) -> None:
    admin = await admin_token(app, users)
    user = await users.add()
    token = (await signed_in(app, user))["access_token"]
    assert (await call(app, "PATCH", f"/api/v1/users/{user.id}", admin, {"display_name": "李四"})).status_code == 200
    assert await me(app, token) == 200


async def test_a_disabled_user_cannot_sign_in_and_a_deleted_one_is_gone(app: Sanic, users: Users) -> None:
    admin = await admin_token(app, users)
    user = await users.add()
    await call(app, "PATCH", f"/api/v1/users/{user.id}", admin, {"disabled": True})
    refused = await login(app, user.username)
    assert refused.status_code == 401 and refused.json["error"]["message"] == "用户名或密码错误"
    await call(app, "PATCH", f"/api/v1/users/{user.id}", admin, {"disabled": False})
    token = (await signed_in(app, user))["access_token"]
    assert (await call(app, "DELETE", f"/api/v1/users/{user.id}", admin)).status_code == 200
    assert await me(app, token) == 401 and (await login(app, user.username)).status_code == 401
    listed = await call(app, "GET", "/api/v1/users", admin)
    assert user.username not in {u["username"] for u in listed.json["items"]}
    assert (await call(app, "DELETE", f"/api/v1/users/{user.id}", admin)).status_code == 404


async def test_an_administrator_cannot_delete_themselves(app: Sanic, users: Users) -> None:
    admin = await admin_token(app, users)
    own = await _user_id(app, admin)
    response = await call(app, "DELETE", f"/api/v1/users/{own}", admin)
    assert response.status_code == 400 and await User.exists(id=own)


# ---------------------------------------------------------------------- API tokens


def observation(entity: str) -> dict:
    return {"observations": [{"indicator": "ind_va", "entity": entity, "period": "2026-10", "value": 5.0}]}


async def new_token(app: Sanic, token: str, permissions: list[str], scope: list[str] | None = None) -> Answer:
    return await call(app, "POST", "/api/v1/tokens", token,
                      {"name": "报送机", "permissions": permissions, "scope": scope or [], "days": 30})


async def test_a_scoped_data_token_writes_its_own_county_only(app: Sanic, users: Users) -> None:
    admin = await admin_token(app, users)
    created = await new_token(app, admin, ["data:write"], ["xintai"])
    assert created.status_code == 201
    token = created.json["token"]
    assert token.startswith("tk1_")
    written = await call(app, "POST", "/api/v1/observations", token, observation("xintai"))
    assert written.status_code == 201 and written.json["accepted"] == 1
    outside = await call(app, "POST", "/api/v1/observations", token, observation("dongping"))
    assert outside.status_code == 422
    assert outside.json["error"]["details"][0]["reason"] == "无权报送单位「dongping」的数据"
    assert (await call(app, "GET", "/api/v1/alerts", token)).status_code == 403  # only what it was given
    listed = await call(app, "GET", "/api/v1/tokens", admin)
    assert token not in listed.text and "token_hash" not in listed.text
    (row,) = [t for t in listed.json["items"] if t["id"] == created.json["id"]]
    assert row["permissions"] == ["data:write"] and row["scope"] == ["xintai"] and row["revoked_at"] is None
    assert (await call(app, "DELETE", f"/api/v1/tokens/{row['id']}", admin)).status_code == 200
    refused = await call(app, "POST", "/api/v1/observations", token, observation("xintai"))
    assert refused.status_code == 401 and refused.json["error"]["message"] == "API 令牌无效、已过期或已吊销"
    assert (await ApiToken.get(id=row["id"])).token_hash == sessions.digest(token)  # only its hash is kept


async def test_a_token_can_do_no_more_than_its_creator(app: Sanic, users: Users) -> None:
    admin = await admin_token(app, users)
    # A token that may itself make tokens stands for a creator with fewer permissions than an administrator.
    maker = (await new_token(app, admin, ["tokens:write", "data:read"], ["xintai"])).json["token"]
    wider = await new_token(app, maker, ["data:write"], ["xintai"])
    assert wider.status_code == 403 and wider.json["error"]["message"] == "令牌的权限不能超过创建者本人"
    assert (await new_token(app, maker, ["data:read"], ["xintai"])).status_code == 201
    assert (await new_token(app, maker, ["data:read"], ["dongping"])).status_code == 403
    assert (await new_token(app, maker, ["data:read"])).status_code == 403  # unscoped is wider than xintai
    assert (await new_token(app, admin, ["public"])).status_code == 400
    assert (await new_token(app, admin, ["data:read"], ["mars"])).status_code == 400


async def test_a_scoped_administrator_cannot_make_a_token_for_another_county(app: Sanic, users: Users) -> None:
    admin = await admin_token(app, users, ("xintai",))
    assert (await new_token(app, admin, ["data:write"], ["dongping"])).status_code == 403
    assert (await new_token(app, admin, ["data:write"], ["xintai"])).status_code == 201


async def test_a_scoped_creator_cannot_root_a_token_at_the_parent_city(app: Sanic, users: Users) -> None:
    admin = await admin_token(app, users, ("xintai",))
    response = await new_token(app, admin, ["data:write"], ["taian"])
    if response.status_code == 201:  # show what such a token could do before failing
        token = response.json["token"]
        outside = await call(app, "POST", "/api/v1/observations", token, observation("dongping"))
        assert outside.status_code == 422, "a token made by a 新泰-only creator wrote 东平's data"
    assert response.status_code == 403


# ---------------------------------------------------------------------- audit log and contact secrets


async def test_the_audit_log_records_administration_and_cannot_be_changed(app: Sanic, users: Users) -> None:
    admin = await admin_token(app, users)
    created = await call(app, "POST", "/api/v1/users", admin,
                         {"username": "audited", "password": PASSWORD, "role": "leader"})
    user_id = created.json["id"]
    await call(app, "PATCH", f"/api/v1/users/{user_id}", admin, {"role": "statistician"})
    token_id = (await new_token(app, admin, ["data:read"])).json["id"]
    await call(app, "DELETE", f"/api/v1/tokens/{token_id}", admin)
    await call(app, "DELETE", f"/api/v1/users/{user_id}", admin)
    await login(app, "audited")
    log = (await call(app, "GET", "/api/v1/audit?prefix=user.&limit=5", admin)).json
    assert [(e["action"], e["target"]) for e in log["items"][:3]] == [
        ("user.delete", "user:audited"), ("user.change", "user:audited"), ("user.create", "user:audited")]
    change = log["items"][1]["detail"]
    assert change["before"] == {"role": "leader"} and change["after"] == {"role": "statistician"}
    tokens = (await call(app, "GET", f"/api/v1/audit?target=token:{token_id}", admin)).json["items"]
    assert [e["action"] for e in tokens] == ["token.revoke", "token.create"]
    failed = (await call(app, "GET", "/api/v1/audit?action=auth.login_failed&actor=audited", admin)).json
    assert failed["total"] == 1
    audit_routes = [r for r in app.router.routes if r.path.lstrip("/").startswith("api/v1/audit")]
    assert audit_routes and {m for r in audit_routes for m in r.methods} <= {"GET", "HEAD", "OPTIONS"}
    before = await AuditEntry.all().count()
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/api/v1/audit", f"/api/v1/audit/{log['items'][0]['id']}"):
            assert (await call(app, method, path, admin, {})).status_code in (404, 405), (method, path)
    assert await AuditEntry.all().count() == before


async def test_contact_urls_are_stored_encrypted_and_listed_masked(app: Sanic, users: Users) -> None:
    admin = await admin_token(app, users)
    contact = "mailto://robot:s3cret@taian.example?to=zhang@taian.example"
    created = await call(app, "POST", "/api/v1/users", admin,
                         {"username": "with.contact", "password": PASSWORD, "role": "leader", "contact": contact})
    assert created.json["contact"] == "mailto://***"
    (stored,) = await User.filter(username="with.contact").values_list("contact", flat=True)
    assert "s3cret" not in stored and "taian.example" not in stored and crypto.decrypt(stored) == contact
    listed = await call(app, "GET", "/api/v1/users", admin)
    assert "s3cret" not in listed.text
    (row,) = [u for u in listed.json["items"] if u["username"] == "with.contact"]
    assert row["contact"] == "mailto://***"
    signed = (await signed_in(app, await User.get(username="with.contact")))["access_token"]
    _, mine = await app.asgi_client.get("/api/v1/auth/me", headers=bearer(signed))
    assert mine.json["has_contact"] is True and "contact" not in mine.json


async def test_concurrent_sign_ins_each_get_their_own_session(app: Sanic, users: Users) -> None:
    user = await users.add()
    answers = await asyncio.gather(*(login(app, user.username) for _ in range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    assert len({session_id(a.json) for a in answers}) == 5
