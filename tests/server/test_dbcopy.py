"""`taishan db copy`: every table, history included, row for row across SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tortoise import fields

from server import dbcopy
from server.cli import main
from server.dbcopy import copy_database, store_models
from server.service import audit
from server.store import backend, close_store, open_store
from server.store.models import Alert, AlertNote, DataTemplate, Event, ImportBatch, Observation, RuleSet
from tests.server.conftest import database_url, drop_database, started_service

Rows = dict[str, list[dict[str, Any]]]


def row(value: float, period: str = "2026-10", entity: str = "xintai") -> dict:
    return {"indicator": "ind_va", "entity": entity, "period": period, "value": value}


async def populate(url: str) -> None:
    """A store with history: a revision (two vintages, an alert raised and resolved), a note, a template and
    audit entries, and values that are easy to round (1/3, 1e-300, Chinese text in JSON)."""
    await open_store(url)
    try:
        service = await started_service()
        await service.ingest([row(6.0, "2026-09"), row(25.0), row(1 / 3, entity="feicheng")], source="api",
                             user="张三")
        await service.ingest([row(5.0), row(1e-300, "2026-09", "feicheng")], source="import", user="李四",
                             template="月报", filename="十月.xlsx")
        alert = await Alert.filter(state="resolved").first()
        assert alert is not None
        expires = datetime.date(2027, 1, 31)
        await AlertNote.create(alert_id=alert.id, action="explain", note="春节因素", expires=expires, user="李四")
        alert.workflow, alert.explained_until = "explained", expires
        await alert.save(update_fields=["workflow", "explained_until", "updated_at"])
        await DataTemplate.create(name="月报", title="月度报表", layout="wide", indicators=["ind_va"],
                                  entities=["xintai", "feicheng"], options={"工作表": "数据", "跳过": 2})
        await audit("李四", "template.create", "月报", {"列": ["指标", "地区"], "ok": True, "n": None})
        await fill_the_rest()
    finally:
        await close_store()


# A value of each type for the tables the service does not write (accounts, sessions, tokens, ...).
SAMPLES: tuple[tuple[type[fields.Field], Any], ...] = (
    (fields.BooleanField, True),
    (fields.IntField, 7),  # BigIntField and SmallIntField too
    (fields.FloatField, 0.1),
    (fields.DatetimeField, datetime.datetime(2026, 11, 27, 23, 30, 0, 123456, tzinfo=datetime.UTC)),
    (fields.DateField, datetime.date(2026, 12, 1)),
    (fields.JSONField, {"键": [1.5, None, "值"]}),
    (fields.CharField, "值"),
    (fields.TextField, "长文本"),
)


async def fill_the_rest() -> None:
    """One row in every table still empty, with every column set, so that the copy of each is compared."""
    for model in store_models():
        if await model.exists():
            continue
        meta = model._meta
        parents = {meta.fields_map[name].source_field: meta.fields_map[name].related_model
                   for name in meta.fk_fields | meta.o2o_fields}
        values: dict[str, Any] = {}
        for name in meta.fields_db_projection:
            field = meta.fields_map[name]
            if name in parents:
                values[name] = (await parents[name].first()).pk
            elif not getattr(field, "generated", False):
                values[name] = next(v for kind, v in SAMPLES if isinstance(field, kind))
        await model.create(**values)


async def snapshot(url: str) -> Rows:
    """Every row of every table as the service reads it, by primary key; datetimes in UTC."""
    await open_store(url)
    try:
        return {model._meta.db_table: sorted((_utc(r) for r in await model.all().values()),
                                             key=lambda r, pk=model._meta.pk_attr: r[pk])
                for model in store_models()}
    finally:
        await close_store()


def _utc(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.astimezone(datetime.UTC) if isinstance(v, datetime.datetime) else v for k, v in values.items()}


@pytest.fixture
async def databases(tmp_path: Path) -> AsyncIterator[Callable[[str], str]]:
    """Makes fresh database URLs on any back end, and drops the databases after the test."""
    made: list[str] = []

    def make(kind: str) -> str:
        made.append(database_url(kind, tmp_path))
        return made[-1]

    yield make
    for url in made:
        await drop_database(url)


async def test_a_store_survives_sqlite_to_postgres_to_mariadb_row_for_row(
        databases: Callable[[str], str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbcopy, "CHUNK", 7)  # every table in several chunks, text keys included
    sqlite, postgres, mariadb = databases("sqlite"), databases("postgres"), databases("mysql")
    await populate(sqlite)
    original = await snapshot(sqlite)
    assert all(original.values()), [table for table, rows in original.items() if not rows]
    assert {r["vintage"] for r in original["observation"]} == {1, 2}
    assert any(r["explained_until"] for r in original["alert"]) and any(r["active"] for r in original["ruleset"])

    assert await copy_database(sqlite, postgres) == 0
    assert await copy_database(postgres, mariadb) == 0

    for url in (postgres, mariadb):
        copied = await snapshot(url)
        for table, rows in original.items():
            assert copied[table] == rows, f"{table} differs in {backend(url)}"
    output = capsys.readouterr().out
    assert "观测值（含历史版本）（observation）：5 行" in output and output.count("复制完成") == 2
    assert "指标：已复制 14 行……" in output


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mysql"])
async def test_the_copy_takes_new_data_with_fresh_ids(databases: Callable[[str], str], kind: str) -> None:
    source, target = databases("sqlite"), databases(kind)
    await populate(source)
    assert await copy_database(source, target) == 0
    before = await snapshot(target)
    await open_store(target)
    try:
        service = await started_service()
        result = await service.ingest([row(30.0, "2026-08")], source="api")
        await RuleSet.create(version=2, files={}, digest="x")
        assert result.batch == max(r["id"] for r in before["import_batch"]) + 1
        assert await Observation.filter(batch_id=result.batch).values_list("id", flat=True) == [
            max(r["id"] for r in before["observation"]) + 1]
        assert await Event.filter(id__lte=max(r["id"] for r in before["event"])).count() == len(before["event"])
        assert await ImportBatch.all().count() == len(before["import_batch"]) + 1
    finally:
        await close_store()


def test_a_target_that_holds_data_is_refused_and_left_alone(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    source, target = database_url("sqlite", tmp_path), database_url("sqlite", tmp_path)
    asyncio.run(populate(source))
    asyncio.run(populate(target))
    before = asyncio.run(snapshot(target))
    assert main(["db", "copy", "--from", source, "--to", target]) == 1
    assert "已有数据" in capsys.readouterr().err
    assert asyncio.run(snapshot(target)) == before


def test_a_missing_source_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.sqlite3"
    assert main(["db", "copy", "--from", f"sqlite://{missing}", "--to", f"sqlite://{tmp_path}/copy.sqlite3"]) == 1
    assert "源数据库文件不存在" in capsys.readouterr().err and not missing.exists()
