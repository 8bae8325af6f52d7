"""A server killed with SIGKILL in the middle of a large ingest leaves no partial batch (PostgreSQL).

A real `taishan serve` runs on a fresh database; a small batch is committed first, then the demo data is
posted as one batch, and the server's whole process group is killed once PostgreSQL shows the batch's
INSERTs into "observation" running. After a restart the store holds exactly the committed batch, every
stored batch's `accepted` equals its stored rows, and the same big batch is then accepted in full.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from tortoise.connection import get_connection

from engine.panel import last_complete
from engine.periods import Period
from server.accounts import hash_password
from server.demo import generate
from server.store import drop_store, open_store
from server.store.models import AlertTransition, ImportBatch, Observation, User

PG = os.environ.get("TAISHAN_TEST_PG", "postgres://postgres@127.0.0.1:5432")
REPO = Path(__file__).resolve().parents[2]
SMALL = 500  # rows of the batch committed before the crash
USER, PASSWORD = "crash", "Kill-Nine-Passw0rd!"

INSERTING = """SELECT count(*) AS n FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()
                 AND state IN ('active', 'idle in transaction') AND query LIKE 'INSERT INTO "observation"%'"""


@pytest.fixture
async def crash_store() -> AsyncIterator[str]:
    url = f"{PG}/taishan_crash_{uuid.uuid4().hex[:10]}"
    await open_store(url, create=True)
    await User.create(username=USER, role="data_officer", scope=[], password_hash=await hash_password(PASSWORD))
    try:
        yield url
    finally:
        await drop_store()


def demo_rows() -> list[dict]:
    """The demo data the service accepts today: periods that have ended, oldest first."""
    today = datetime.date.today()
    rows = [r for r in generate(seed=2026)
            if Period.parse(str(r["period"])) <= last_complete(Period.parse(str(r["period"])).freq, today)]
    return sorted(rows, key=lambda r: (str(r["period"]), r["indicator"], r["entity"]))


def start_server(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`taishan serve` in a session of its own, so that SIGKILL can reach its workers too."""
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--db", url, "--port", str(port)],
                                   cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")[-2000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server did not start: {log.read_text(errors='replace')[-2000:]}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def post(port: int, rows: list[dict]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        signed_in = await client.post("/api/v1/auth/login", json={"username": USER, "password": PASSWORD})
        token = signed_in.raise_for_status().json()["access_token"]
        return await client.post("/api/v1/observations", json={"observations": rows},
                                 headers={"Authorization": f"Bearer {token}"})


async def inserting() -> bool:
    rows = await get_connection("default").execute_query_dict(INSERTING)
    return rows[0]["n"] > 0


async def batches_match_their_rows() -> dict[int, int]:
    """Every stored batch's accepted count equals its stored observations; returns {batch: rows}."""
    stored = {}
    for batch_id, accepted in await ImportBatch.all().values_list("id", "accepted"):
        stored[batch_id] = await Observation.filter(batch_id=batch_id).count()
        assert stored[batch_id] == accepted, (batch_id, accepted, stored[batch_id])
    return stored


async def test_sigkill_during_a_large_ingest_leaves_no_partial_batch(crash_store: str, tmp_path: Path) -> None:
    rows = demo_rows()
    small, big = rows[:SMALL], rows[SMALL:]
    assert len(big) > 50_000
    port, log = free_port(), tmp_path / "serve.log"
    server = start_server(crash_store, port, log)
    try:
        committed = await post(port, small)
        assert committed.status_code == 201 and committed.json()["accepted"] == SMALL

        ingest = asyncio.create_task(post(port, big))
        deadline = time.monotonic() + 60
        while not await inserting():
            assert not ingest.done(), "the batch finished before its inserts were seen"
            assert time.monotonic() < deadline, "no INSERT into observation seen"
            await asyncio.sleep(0.02)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
        with pytest.raises(httpx.TransportError):
            await ingest
    finally:
        stop_server(server)

    server = start_server(crash_store, port, log)  # PostgreSQL has rolled the killed transaction back
    try:
        assert await Observation.all().count() == SMALL
        assert await batches_match_their_rows() == {committed.json()["batch"]: SMALL}
        assert not await AlertTransition.filter(batch_id__not=committed.json()["batch"]).exists()

        again = await post(port, big)
        assert again.status_code == 201
        assert (again.json()["accepted"], again.json()["unchanged"]) == (len(big), 0)
        assert await Observation.all().count() == len(rows)
        assert sorted((await batches_match_their_rows()).values()) == [SMALL, len(big)]
    finally:
        stop_server(server)
