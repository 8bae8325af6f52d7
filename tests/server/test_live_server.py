"""The service over real HTTP: a `taishan serve` process, its ingest, queries, body limit and live events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server.live import add_admin, login, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    db = f"sqlite://{tmp_path_factory.mktemp('live')}/live.sqlite3"
    add_admin(db)
    with running_server(db, env={"TAISHAN_MAX_BODY": "200000"}) as url:
        yield url, login(url)


@pytest.fixture
def base(server: tuple[str, dict[str, str]]) -> str:
    return server[0]


@pytest.fixture
def auth(server: tuple[str, dict[str, str]]) -> dict[str, str]:
    return server[1]


def observe(base: str, auth: dict[str, str], *rows: tuple[str, str, str, float]) -> httpx.Response:
    body = {"observations": [{"indicator": i, "entity": e, "period": p, "value": v} for i, e, p, v in rows]}
    return httpx.post(f"{base}/api/v1/observations", json=body, headers=auth, timeout=30)


def test_ingest_and_query_over_http(base: str, auth: dict[str, str]) -> None:
    assert httpx.get(f"{base}/api/v1/alerts").status_code == 401
    response = observe(base, auth, ("ind_va", "feicheng", "2026-09", 4.0), ("ind_va", "feicheng", "2026-10", 31.0))
    assert response.status_code == 201
    fired = [t for t in response.json()["transitions"] if t["rule"] == "ind_va_range"]
    assert [(t["period"], t["new"], t["severity"]) for t in fired] == [("2026-10", "firing", "critical")]
    series = httpx.get(f"{base}/api/v1/series", params={"indicator": "ind_va", "entity": "feicheng"},
                       headers=auth).json()
    assert [r["value"] for r in series["items"]] == [4.0, 31.0]
    alerts = httpx.get(f"{base}/api/v1/alerts", params={"rule": "ind_va_range", "entity": "feicheng"},
                       headers=auth).json()
    assert alerts["items"][0]["state"] == "firing"
    refused = observe(base, auth, ("ind_va", "feicheng", "2026-13", 1.0))
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["column"] == "period"


def test_a_body_over_the_limit_is_refused_by_the_server(base: str, auth: dict[str, str]) -> None:
    response = httpx.post(f"{base}/api/v1/observations", content=b"{" + b" " * 300_000 + b"}",
                          headers={"content-type": "application/json", **auth})
    assert response.status_code == 413
    assert httpx.get(f"{base}/healthz").status_code == 200


def test_live_events_stream_transitions_and_data_arrivals(base: str, auth: dict[str, str]) -> None:
    received: list[dict] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{base}/api/v1/events", headers=auth, timeout=20) as stream:
            for line in stream.iter_lines():
                if line.startswith(":"):
                    ready.set()
                if line.startswith("data: "):
                    received.append(json.loads(line.removeprefix("data: ")))
                    if any(e["event"] == "data" for e in received):
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(10)
    started = time.monotonic()
    observe(base, auth, ("ind_va", "ningyang", "2026-10", 40.0))
    listener.join(15)
    assert not listener.is_alive(), "no data event arrived"
    kinds = [e["event"] for e in received]
    assert "data" in kinds and "transition" in kinds
    transition = next(e for e in received if e["event"] == "transition" and e["rule"] == "ind_va_range")
    assert transition["entity"] == "ningyang" and transition["new"] == "firing"
    assert time.monotonic() - started < 5
    # A client that reconnects after an event gets what came after it.
    first = received[0]["id"]
    with httpx.stream("GET", f"{base}/api/v1/events", headers={"Last-Event-ID": str(first), **auth},
                      timeout=10) as again:
        for line in again.iter_lines():
            if line.startswith("id: "):
                assert int(line.removeprefix("id: ")) > first
                break

