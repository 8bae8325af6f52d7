"""The store: Tortoise ORM on SQLite (the embedded default), PostgreSQL or MariaDB.

`open_store` connects and brings the schema up to date with Tortoise's own migrations, so a fresh database
and an upgraded one end the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.migrations.executor import MigrationExecutor

from server.store.models import StoreLock

MODELS = "server.store.models"
MIGRATIONS = "server.store.migrations"


def tortoise_config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _with_defaults(url)},
        "apps": {"models": {"models": [MODELS], "migrations": MIGRATIONS, "default_connection": "default"}},
        "use_tz": True,
        # UTC in the store: SQLite keeps datetimes as text and compares them as text, so every value bound
        # in a filter must be in the same zone as the stored ones.
        "timezone": "UTC",
    }



def _with_defaults(url: str) -> str:
    """SQLite waits for a lock instead of failing at once, and syncs less often under WAL (still durable
    against a process crash, which is the failure the batch atomicity is about)."""
    if not url.startswith("sqlite://") or url == "sqlite://:memory:":
        return url
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}busy_timeout=10000&synchronous=NORMAL"


# Used by `tortoise -c server.store.TORTOISE makemigrations` when the models change.
TORTOISE = tortoise_config("sqlite://var/taishan.sqlite3")


def backend(url: str) -> str:
    scheme = url.split(":", 1)[0]
    return {"postgres": "postgres", "postgresql": "postgres", "asyncpg": "postgres", "mysql": "mysql"}.get(
        scheme, "sqlite")


async def open_store(url: str, create: bool = False) -> None:
    """Connect, migrate to the latest schema and make sure the lock row exists. `create` makes the database
    itself first (PostgreSQL, MariaDB)."""
    if url.startswith("sqlite://") and url != "sqlite://:memory:":
        Path(url.removeprefix("sqlite://").split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)
    config = tortoise_config(url)
    await Tortoise.init(config=config, _create_db=create, _enable_global_fallback=True)
    await MigrationExecutor(get_connection("default"), config["apps"]).migrate()
    await StoreLock.get_or_create(id=1)


async def close_store() -> None:
    await _forget_models()
    await Tortoise.close_connections()


async def drop_store() -> None:
    """Drop the database: for tests and benchmarks that made their own."""
    await Tortoise._drop_databases()
    await close_store()


async def _forget_models() -> None:
    # The models, and Tortoise's insert-statement cache (keyed by connection name only), keep the SQL
    # dialect of the back end they were bound to; the next open_store in this process may be another.
    await Tortoise._reset_apps()
    EXECUTOR_CACHE.clear()
