"""The notification API: receivers (administrators only, URLs masked and encrypted), silences, the outbox with
its dead letters on the API and on /metrics, and who may do what with the real authenticator."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from sanic import Sanic

from server import accounts
from server.notify import start_notifications
from server.notify.outbox import OutboxSettings, OutboxWorker, encode_urls, enqueue
from server.service import Service
from server.store.models import AuditEntry, OutboxMessage, Receiver, Silence, User
from tests.server.conftest import make_app
from tests.server.receivers import http_receiver
from tests.server.test_outbox import FAST, message, until_settled

PASSWORD = "Notify-Test-2026!"
NAME = quote("市领导钉钉")  # as a client sends it in a path


async def test_receivers_are_created_masked_revealed_on_request_and_audited(app: Sanic) -> None:
    body = {"name": "市领导钉钉", "urls": ["dingtalk://SEC123@tokenabc/", "mailto://u:p@mail.example.cn?to=a@b.cn"],
            "tags": ["leaders"], "quiet_start": "22:00", "quiet_end": "07:00", "quiet_breakthrough": "critical"}
    _, created = await app.asgi_client.post("/api/v1/receivers", json=body)
    assert created.status_code == 201, created.text
    assert created.json["urls"] == ["dingtalk://***", "mailto://***"] and created.json["quiet_start"] == "22:00"
    stored = await Receiver.get(name="市领导钉钉")
    assert "tokenabc" not in stored.urls
    _, listed = await app.asgi_client.get("/api/v1/receivers")
    assert "tokenabc" not in listed.text and listed.json["items"][0]["name"] == "市领导钉钉"
    _, revealed = await app.asgi_client.get(f"/api/v1/receivers/{NAME}?reveal=1")
    assert revealed.json.get("urls") == body["urls"], revealed.text
    _, changed = await app.asgi_client.patch(f"/api/v1/receivers/{NAME}", json={"enabled": False})
    assert changed.json["enabled"] is False
    _, again = await app.asgi_client.post("/api/v1/receivers", json=body)
    assert again.status_code == 409
    audit = await AuditEntry.filter(target="receiver:市领导钉钉").order_by("id")
    assert [a.action for a in audit] == ["receiver.create", "receiver.reveal", "receiver.change"]
    assert "tokenabc" not in json.dumps([a.detail for a in audit])
    _, deleted = await app.asgi_client.delete(f"/api/v1/receivers/{NAME}")
    assert deleted.status_code == 200 and not await Receiver.exists(name="市领导钉钉")


async def test_bad_receiver_urls_are_refused_with_reasons(app: Sanic) -> None:
    _, response = await app.asgi_client.post("/api/v1/receivers", json={
        "name": "x", "urls": ["json://127.0.0.1:9/ok", "wecom://token", "nonsense"]})
    assert response.status_code == 400
    reasons = {i["index"]: i["reason"] for i in response.json["error"]["details"]["invalid"]}
    assert set(reasons) == {1, 2} and "PushPlus" in reasons[1]


async def test_silences_are_created_listed_and_expired_early(app: Sanic) -> None:
    body = {"matchers": {"entity": "xintai", "rule": "~ind_.*"}, "hours": 24, "comment": "数据已核实",
            "expire_on_resolve": True}
    _, created = await app.asgi_client.post("/api/v1/silences", json=body)
    assert created.status_code == 201, created.text
    assert created.json["state"] == "active" and created.json["created_by"] == "tester"
    _, bad = await app.asgi_client.post("/api/v1/silences", json={**body, "matchers": {"colour": "red"}})
    assert bad.status_code == 400 and "colour" in bad.json["error"]["message"]
    _, no_end = await app.asgi_client.post("/api/v1/silences", json={"matchers": {"entity": "x"}, "comment": "c"})
    assert no_end.status_code == 400
    sid = created.json["id"]
    _, expired = await app.asgi_client.post(f"/api/v1/silences/{sid}/expire")
    assert expired.json["state"] == "expired"
    _, twice = await app.asgi_client.post(f"/api/v1/silences/{sid}/expire")
    assert twice.status_code == 409
    _, listed = await app.asgi_client.get("/api/v1/silences?state=expired")
    assert [s["id"] for s in listed.json["items"]] == [sid]
    assert (await Silence.get(id=sid)).expired_at is not None


async def test_dead_letters_show_on_the_api_and_on_metrics_and_can_be_retried(
        sqlite_service: Service, sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(sqlite_service, sqlite_store)
    with http_receiver() as receiver:
        await Receiver.create(name="ops", urls=encode_urls([receiver.url]))
        receiver.down = True
        await enqueue([message(1), message(2)])
        worker = OutboxWorker(sqlite_store, OutboxSettings(**{**vars(FAST), "max_attempts": 2}))
        await until_settled(worker)
        monkeypatch.setenv("TAISHAN_NOTIFY", "0")  # metrics only: this test runs the worker itself
        await start_notifications(app)
        _, dead = await app.asgi_client.get("/api/v1/outbox?status=dead")
        assert dead.json["count"] == 2 and dead.json["dead"] == 2
        assert {m["title"] for m in dead.json["items"]} == {"预警 1", "预警 2"}
        assert "503" in dead.json["items"][0]["last_error"]
        _, metrics = await app.asgi_client.get("/metrics")
        assert "taishan_outbox_dead 2" in metrics.text and "taishan_outbox_depth 0" in metrics.text
        receiver.down = False
        first = dead.json["items"][-1]["id"]
        _, retried = await app.asgi_client.post(f"/api/v1/outbox/{first}/retry")
        assert retried.json["status"] == "pending"
        _, again = await app.asgi_client.post(f"/api/v1/outbox/{first}/retry")
        assert again.status_code == 409
        await until_settled(worker)
        assert [b["title"] for b in receiver.bodies()] == ["预警 1"]
        _, csv = await app.asgi_client.get("/api/v1/outbox?format=csv")
        assert csv.text.lstrip("\ufeff").startswith("id,receiver,status")
        assert await OutboxMessage.filter(status="sent").count() == 1


async def test_who_may_do_what(sqlite_service: Service, sqlite_store: str) -> None:
    app = make_app(sqlite_service, sqlite_store, open_access=False)
    hashed = await accounts.hash_password(PASSWORD)
    for name, role in (("admin", "administrator"), ("stat", "statistician"), ("boss", "leader")):
        await User.create(username=name, role=role, password_hash=hashed)
    tokens = {}
    for name in ("admin", "stat", "boss"):
        _, response = await app.asgi_client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
        tokens[name] = {"Authorization": f"Bearer {response.json['access_token']}"}
    await Receiver.create(name="ops", urls=encode_urls(["json://127.0.0.1:9/secret"]))
    await enqueue([message(1)])
    await OutboxMessage.all().update(status="dead")
    silence = {"matchers": {"entity": "xintai"}, "hours": 1, "comment": "核实中"}

    async def status(method: str, path: str, who: str, body: object = None) -> int:
        _, response = await app.asgi_client.request(method, path, headers=tokens[who],
                                                    content=None if body is None else json.dumps(body))
        return response.status_code

    assert [await status("GET", "/api/v1/receivers", w) for w in ("admin", "stat", "boss")] == [200, 403, 403]
    assert await status("GET", "/api/v1/receivers/ops?reveal=1", "stat") == 403
    assert [await status("POST", "/api/v1/silences", w, silence) for w in ("stat", "boss")] == [201, 403]
    assert await status("GET", "/api/v1/silences", "boss") == 200
    assert [await status("GET", "/api/v1/outbox?status=dead", w) for w in ("stat", "boss")] == [200, 200]
    assert await status("POST", "/api/v1/outbox/1/retry", "stat") == 403
    assert await status("POST", "/api/v1/outbox/1/retry", "admin") == 200
