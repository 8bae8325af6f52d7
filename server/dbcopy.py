"""`taishan db copy --from URL --to URL`: everything, history included, from one back end to another.

The models can be bound to one back end at a time in a process, so the rows go through raw connections: each
value is read with its field's conversion to Python and written as the service would have written it on the
target, so JSON, booleans, dates and time-zone-aware datetimes survive any pair of back ends. Primary keys are
kept, so the foreign keys hold, and the identity sequences are moved past them afterwards.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.exceptions import BaseORMException, DBConnectionError
from tortoise.fields import Field
from tortoise.models import Model
from tortoise.timezone import get_default_timezone
from tortoise.transactions import in_transaction

from server.store import backend, close_store, open_store, tortoise_config
from server.store import models as store_models_module
from server.store.models import StoreLock

CHUNK = 5000
SOURCE = "source"
APP = "models"  # the app label in tortoise_config

# How the progress and the counts name each table; a table added later shows its own name until it has one.
LABELS = {
    "ruleset": "规则集",
    "entity": "统计对象",
    "indicator": "指标",
    "import_batch": "导入批次",
    "observation": "观测值（含历史版本）",
    "alert": "预警",
    "alert_transition": "预警状态变化",
    "alert_note": "预警处理记录",
    "data_template": "数据模板",
    "event": "事件",
    "audit_entry": "审计日志",
    "store_lock": "写入锁",
    "app_user": "用户",
    "app_device": "登录设备",
    "app_session": "登录会话",
    "api_token": "接口令牌",
    "recovery_code": "找回密码验证码",
    "login_throttle": "登录失败限制",
    "service_key": "服务密钥",
}


class CopyError(Exception):
    """Nothing was copied; the message is for the user."""


async def copy_database(source: str, target: str) -> int:
    """Copy every table from `source` into a new or empty `target`; prints progress and the counts."""
    try:
        counts = await copy_tables(source, target)
    except CopyError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 1
    finally:
        await close_store()
    width = max(len(label(model)) for model, _, _ in counts)
    # Full-width padding and one column less per CJK heading keep the table aligned in a terminal.
    print(f"\n{'数据':　<{width}}  {'源':>9}  {'目标':>8}  表名")
    for model, copied, stored in counts:
        print(f"{label(model):　<{width}}  {copied:>10,}  {stored:>10,}  {model._meta.db_table}")
    if any(copied != stored for _, copied, stored in counts):
        print("错误：复制后目标数据库的行数与源不一致。", file=sys.stderr)
        return 1
    print(f"复制完成：共 {sum(copied for _, copied, _ in counts):,} 行，{source} → {target}")
    return 0


async def copy_tables(source: str, target: str) -> list[tuple[type[Model], int, int]]:
    """Per table: the rows copied and the rows then in the target. Leaves the connections open."""
    if _same_database(source, target):
        raise CopyError("源数据库与目标数据库相同。")
    await _open_source(source)
    await close_store()
    await _open_target(target)
    # open_store made the lock row; every other row would be mixed with the copy.
    filled = [label(model) for model in store_models() if model is not StoreLock and await model.exists()]
    await close_store()
    if filled:
        raise CopyError(f"目标数据库 {target} 已有数据（{'、'.join(filled)}），为免混入，请复制到一个新的空数据库。")
    config = tortoise_config(target)
    config["connections"][SOURCE] = tortoise_config(source)["connections"]["default"]
    await Tortoise.init(config=config, _enable_global_fallback=True)
    models = store_models()
    reader, writer = get_connection(SOURCE), get_connection("default")
    try:
        copied = await _copy_all(reader, writer, models)
    except BaseORMException as error:
        raise CopyError(f"复制失败，已撤销目标数据库中的全部写入：{error}") from error
    for model in models:
        await _reset_identity(writer, model)
    return [(model, n, await _count(writer, model)) for model, n in zip(models, copied, strict=True)]


def store_models() -> list[type[Model]]:
    """The store's models in the order models.py defines them, but parents before children, so that every
    foreign key points at a row already copied. Needs Tortoise initialised: the relations are resolved then."""
    if Tortoise.apps is None:
        raise RuntimeError("Tortoise is not initialised")
    defined = list(vars(store_models_module).values())
    pending = sorted(Tortoise.apps[APP].values(), key=lambda m: defined.index(m) if m in defined else len(defined))
    ordered: list[type[Model]] = []
    while pending:
        ready = next((m for m in pending if all(p is m or p in ordered for p in _parents(m))), None)
        if ready is None:
            raise CopyError(f"外键成环，无法确定复制顺序：{'、'.join(m._meta.db_table for m in pending)}")
        ordered.append(ready)
        pending.remove(ready)
    return ordered


def _parents(model: type[Model]) -> set[type[Model]]:
    fields = model._meta.fields_map
    return {fields[name].related_model for name in model._meta.fk_fields | model._meta.o2o_fields}


def label(model: type[Model]) -> str:
    return LABELS.get(model._meta.db_table, model._meta.db_table)


def _same_database(source: str, target: str) -> bool:
    if backend(source) == "sqlite" and backend(target) == "sqlite":
        return _sqlite_path(source).resolve() == _sqlite_path(target).resolve()
    return source.rstrip("/") == target.rstrip("/")


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite://").split("?", 1)[0])


async def _open_source(url: str) -> None:
    """Bring the source to the latest schema, as every command that opens a store does, so its columns are the
    models' columns. A missing SQLite file is refused: opening it would make an empty one."""
    if backend(url) == "sqlite" and not _sqlite_path(url).is_file():
        raise CopyError(f"源数据库文件不存在：{_sqlite_path(url)}")
    try:
        await open_store(url)
    except BaseORMException as error:
        raise CopyError(f"无法打开源数据库 {url}：{error}") from error


async def _open_target(url: str) -> None:
    """Open and migrate the target, making the database first when it does not exist yet."""
    try:
        await open_store(url)
        return
    except DBConnectionError:
        await close_store()
    try:
        await open_store(url, create=True)
    except BaseORMException as error:
        raise CopyError(f"无法打开或创建目标数据库 {url}：{error}") from error


async def _copy_all(reader: BaseDBAsyncClient, writer: BaseDBAsyncClient, models: list[type[Model]]) -> list[int]:
    """One transaction on each side: a consistent snapshot of the source, and all or nothing in the target."""
    copied: list[int] = []
    async with in_transaction(SOURCE) as snapshot, in_transaction("default") as into:
        if reader.capabilities.dialect == "postgres":
            await snapshot.execute_script("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # open_store made the lock row; the source's replaces it.
        await into.execute_script(f"DELETE FROM {_quote(writer, StoreLock._meta.db_table)}")
        for model in models:
            copied.append(await _copy_table(snapshot, into, model, writer.capabilities.dialect))
    return copied


async def _copy_table(reader: BaseDBAsyncClient, writer: BaseDBAsyncClient, model: type[Model],
                      dialect: str) -> int:
    columns = _columns(model)
    insert = _insert_statement(writer, model._meta.db_table, [column for column, _ in columns])
    total = 0
    last: Any = None
    while rows := await _read_chunk(reader, model, [column for column, _ in columns], last):
        await writer.execute_many(insert, [[_to_db(field, row[column], dialect) for column, field in columns]
                                           for row in rows])
        total += len(rows)
        last = rows[-1][model._meta.db_pk_column]
        if len(rows) == CHUNK:
            print(f"  {label(model)}：已复制 {total:,} 行……", flush=True)
    print(f"{label(model)}（{model._meta.db_table}）：{total:,} 行", flush=True)
    return total


def _columns(model: type[Model]) -> list[tuple[str, Field]]:
    """(column, field) of every stored field, foreign keys as their id columns."""
    fields = model._meta.fields_map
    return [(column, fields[name]) for name, column in model._meta.fields_db_projection.items()]


async def _read_chunk(reader: BaseDBAsyncClient, model: type[Model], columns: Sequence[str],
                      after: Any) -> list[dict[str, Any]]:
    """The next CHUNK rows by primary key, converted to Python; keyset paging keeps each read cheap."""
    pk = _quote(reader, model._meta.db_pk_column)
    where, values = ("", []) if after is None else (f" WHERE {pk} > {_placeholder(reader, 1)}", [after])
    sql = (f"SELECT {', '.join(_quote(reader, c) for c in columns)} FROM {_quote(reader, model._meta.db_table)}"
           f"{where} ORDER BY {pk} LIMIT {CHUNK}")
    fields = dict(_columns(model))
    return [{column: fields[column].to_python_value(value) for column, value in row.items()}
            for row in await reader.execute_query_dict(sql, values)]


def _to_db(field: Field, value: Any, dialect: str) -> Any:
    # The model class, not an instance, so that auto_now fields keep the copied time.
    value = field.to_db_value(value, field.model)
    if isinstance(value, datetime.datetime) and dialect == "mysql":
        # DATETIME keeps no offset: it holds the configured zone's wall clock, which is what Tortoise reads back.
        value = value.astimezone(get_default_timezone()).replace(tzinfo=None)
    return value


def _insert_statement(writer: BaseDBAsyncClient, table: str, columns: Sequence[str]) -> str:
    places = ", ".join(_placeholder(writer, n) for n in range(1, len(columns) + 1))
    return (f"INSERT INTO {_quote(writer, table)} ({', '.join(_quote(writer, c) for c in columns)}) "
            f"VALUES ({places})")


async def _reset_identity(writer: BaseDBAsyncClient, model: type[Model]) -> None:
    """Move the generated key past the copied ids, so that the next insert does not collide. SQLite's rowid
    follows the largest id by itself."""
    if not model._meta.pk.generated or writer.capabilities.dialect == "sqlite":
        return
    table, pk = model._meta.db_table, model._meta.db_pk_column
    highest = (await writer.execute_query_dict(f"SELECT MAX({_quote(writer, pk)}) AS m FROM {_quote(writer, table)}"))
    top = highest[0]["m"]
    if writer.capabilities.dialect == "postgres":
        # is_called=false with 1 on an empty table, so that the first id stays 1.
        await writer.execute_query("SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)",
                                   [_quote(writer, table), pk, top or 1, top is not None])
    else:
        # ALTER TABLE commits implicitly, hence after the copy's transaction.
        await writer.execute_script(f"ALTER TABLE {_quote(writer, table)} AUTO_INCREMENT = {(top or 0) + 1}")


async def _count(client: BaseDBAsyncClient, model: type[Model]) -> int:
    rows = await client.execute_query_dict(f"SELECT COUNT(*) AS n FROM {_quote(client, model._meta.db_table)}")
    return int(rows[0]["n"])


def _quote(client: BaseDBAsyncClient, name: str) -> str:
    return f"`{name}`" if client.capabilities.dialect == "mysql" else f'"{name}"'


def _placeholder(client: BaseDBAsyncClient, position: int) -> str:
    return {"postgres": f"${position}", "mysql": "%s"}.get(client.capabilities.dialect, "?")
