"""Store fixtures on all three back ends: SQLite in a temporary file, and a fresh database of its own on the
PostgreSQL and MariaDB servers that run beside the tests (and on CI)."""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sanic import Request, Sanic
from tortoise import Tortoise
from tortoise.exceptions import DBConnectionError, OperationalError

from server.api import create_app
from server.api.auth import EVERYTHING, Principal
from server.api.sessions import Authenticator
from server.config import Settings
from server.service import Service
from server.store import backend, close_store, drop_store, open_store, tortoise_config

PG = os.environ.get("TAISHAN_TEST_PG", "postgres://postgres@127.0.0.1:5432")
MYSQL = os.environ.get("TAISHAN_TEST_MYSQL", "mysql://root:@127.0.0.1:3306")
TODAY = datetime.date(2026, 11, 28)
RULES = ["rules/taian"]
BACKENDS = ["sqlite", "postgres", "mysql"]


def database_url(backend: str, tmp_path: Path) -> str:
    name = f"taishan_t_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        return f"sqlite://{tmp_path}/{name}.sqlite3"
    return f"{PG}/{name}" if backend == "postgres" else f"{MYSQL}/{name}"


async def drop_database(url: str) -> None:
    """Drop a database made by a test, if it was made at all."""
    if backend(url) == "sqlite":
        return
    await close_store()  # a failed test may have left a store open
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        await drop_store()
    except (DBConnectionError, OperationalError):  # never made: the test failed before
        await close_store()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty, migrated store on each back end; yields its URL."""
    url = database_url(request.param, tmp_path)
    await open_store(url, create=request.param != "sqlite")
    try:
        yield url
    finally:
        if request.param == "sqlite":
            await close_store()
        else:
            await drop_store()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[str]:
    url = database_url("sqlite", tmp_path)
    await open_store(url)
    try:
        yield url
    finally:
        await close_store()


async def started_service(rules: list[str] | None = None) -> Service:
    service = Service(rules or RULES, today=TODAY)
    await service.start()
    return service


@pytest.fixture
async def service(store: str) -> Service:
    return await started_service()


@pytest.fixture
async def sqlite_service(sqlite_store: str) -> Service:
    return await started_service()


class EveryoneAuthenticator(Authenticator):
    """Lets every request in as a full-access user: for the tests of what the endpoints do. The tests of
    sign-in and access use the real authenticator (`make_app(..., open_access=False)`)."""

    async def __call__(self, request: Request) -> Principal | None:
        return Principal("tester", EVERYTHING)


def make_app(service: Service, url: str, open_access: bool = True, **settings: object) -> Sanic:
    """The app with its store already open: sanic-testing's ASGI client runs the start-up listeners around
    every request, so the tests open the store themselves."""
    app = create_app(Settings(db=url, **settings), service, manage_store=False)
    if open_access:
        app.ctx.authenticate = EveryoneAuthenticator()
    return app


@pytest.fixture
async def app(sqlite_service: Service, sqlite_store: str) -> Sanic:
    return make_app(sqlite_service, sqlite_store)
