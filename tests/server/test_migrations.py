"""The migrations: they match the models, an upgraded database ends like a fresh one, and re-running is a no-op."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget
from tortoise.migrations.operations import CreateModel
from tortoise.models import Model

from server.store import MIGRATIONS, close_store, models, open_store, tortoise_config
from server.store.models import AuditEntry
from tests.server.conftest import BACKENDS, database_url, drop_database

Schema = dict[str, list[tuple[Any, ...]]]
MODEL_TABLES = {m._meta.db_table for m in vars(models).values()
                if isinstance(m, type) and issubclass(m, Model) and m.__module__ == models.__name__}


async def detected_changes(migrations: str) -> list[Any]:
    """The operations `tortoise makemigrations` would write for the models against `migrations`."""
    config = tortoise_config("sqlite://:memory:")
    config["apps"]["models"]["migrations"] = migrations
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        assert Tortoise.apps is not None
        writers = await MigrationAutodetector(Tortoise.apps, config["apps"]).changes()
        return [operation for writer in writers for operation in writer.operations]
    finally:
        await close_store()


async def test_the_models_and_the_migrations_agree() -> None:
    changes = await detected_changes(MIGRATIONS)
    assert changes == [], f"模型有改动而没有迁移：请运行 `tortoise -c server.store.TORTOISE makemigrations`。{changes}"


async def test_the_check_sees_every_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Against an empty migrations package the same check must want to create every table.
    (tmp_path / "no_migrations").mkdir()
    (tmp_path / "no_migrations" / "__init__.py").touch()
    monkeypatch.syspath_prepend(str(tmp_path))
    changes = await detected_changes("no_migrations")
    sys.modules.pop("no_migrations", None)
    assert {op.options["table"] for op in changes if isinstance(op, CreateModel)} == MODEL_TABLES


async def schema(client: BaseDBAsyncClient) -> Schema:
    """Tables, columns with their types, indexes, unique and foreign keys, as the database reports them.
    Names and definitions only, not positions: a column added later sits last, which changes nothing."""
    queries = INTROSPECTION[client.capabilities.dialect]
    found = {part: sorted(tuple(r.values()) for r in await client.execute_query_dict(sql))
             for part, sql in queries.items()}
    if client.capabilities.dialect == "sqlite":
        found.update(await _sqlite_details(client, [t for (t,) in found["tables"]]))
    return found


async def _sqlite_details(client: BaseDBAsyncClient, tables: list[str]) -> Schema:
    details: Schema = {"columns": [], "indexes": [], "foreign_keys": []}
    for table in tables:
        for c in await client.execute_query_dict(f"PRAGMA table_info('{table}')"):
            details["columns"].append((table, c["name"], c["type"], c["notnull"], c["dflt_value"], c["pk"]))
        for index in await client.execute_query_dict(f"PRAGMA index_list('{table}')"):
            # SQLite numbers the indexes behind UNIQUE in creation order; the columns identify them.
            name = "" if index["name"].startswith("sqlite_autoindex") else index["name"]
            columns = [c["name"] for c in await client.execute_query_dict(f"PRAGMA index_info('{index['name']}')")]
            details["indexes"].append((table, name, index["unique"], index["origin"], *columns))
        for fk in await client.execute_query_dict(f"PRAGMA foreign_key_list('{table}')"):
            details["foreign_keys"].append((table, fk["from"], fk["table"], fk["to"], fk["on_delete"]))
    return {part: sorted(rows) for part, rows in details.items()}


INTROSPECTION: dict[str, dict[str, str]] = {
    "sqlite": {"tables": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"},
    "postgres": {
        "tables": "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        "columns": "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
                   "column_default, is_identity FROM information_schema.columns WHERE table_schema = 'public'",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE connamespace = 'public'::regnamespace",
    },
    "mysql": {
        "tables": "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()",
        "columns": "SELECT table_name AS t, column_name AS c, column_type AS y, is_nullable AS n, "
                   "column_default AS d, extra AS e FROM information_schema.columns WHERE table_schema = DATABASE()",
        "indexes": "SELECT table_name AS t, index_name AS i, non_unique AS u, seq_in_index AS s, column_name AS c "
                   "FROM information_schema.statistics WHERE table_schema = DATABASE()",
        "constraints": "SELECT table_name AS t, constraint_name AS c, referenced_table_name AS r, delete_rule AS d, "
                       "update_rule AS u FROM information_schema.referential_constraints "
                       "WHERE constraint_schema = DATABASE()",
    },
}


@pytest.fixture(params=BACKENDS)
async def databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], str]]:
    """Makes fresh database URLs on one back end, and drops the databases after the test."""
    made: list[str] = []

    def make() -> str:
        made.append(database_url(request.param, tmp_path))
        return made[-1]

    yield make
    for url in made:
        await drop_database(url)


async def migrated_step_by_step(url: str) -> Schema:
    """Every migration in order, one `migrate` each, as a database upgraded release by release was."""
    config = tortoise_config(url)
    await Tortoise.init(config=config, _create_db=not url.startswith("sqlite"), _enable_global_fallback=True)
    try:
        executor = MigrationExecutor(get_connection("default"), config["apps"])
        steps = await executor.plan()
        assert steps and not any(step.backward for step in steps)
        for step in steps:
            await executor.migrate([MigrationTarget(step.migration.app_label, step.migration.name)])
            assert [s.migration.name for s in await executor.plan()] == [
                s.migration.name for s in steps[steps.index(step) + 1:]]
        return await schema(get_connection("default"))
    finally:
        await close_store()


async def migrated_at_once(url: str, create: bool) -> tuple[Schema, list[dict[str, Any]]]:
    """The store as the service opens it; its schema and the migrations recorded as applied."""
    await open_store(url, create=create)
    try:
        client = get_connection("default")
        applied = await client.execute_query_dict("SELECT * FROM tortoise_migrations")
        return await schema(client), sorted(applied, key=lambda r: r["id"])
    finally:
        await close_store()


async def test_an_upgraded_database_ends_like_a_fresh_one(databases: Callable[[], str]) -> None:
    upgraded = await migrated_step_by_step(databases())
    url = databases()
    fresh, _ = await migrated_at_once(url, create=not url.startswith("sqlite"))
    assert {t for (t,) in fresh["tables"]} == MODEL_TABLES | {"tortoise_migrations"}
    assert upgraded == fresh


async def test_migrating_again_changes_nothing(databases: Callable[[], str]) -> None:
    url = databases()
    first, applied = await migrated_at_once(url, create=not url.startswith("sqlite"))
    await open_store(url)
    await AuditEntry.create(actor="测试", action="check", detail={"保留": True})
    await close_store()
    again, applied_again = await migrated_at_once(url, create=False)
    assert (again, applied_again) == (first, applied) and len(applied) >= 1
    await open_store(url)
    try:
        assert await AuditEntry.filter(action="check").values_list("detail", flat=True) == [{"保留": True}]
    finally:
        await close_store()
