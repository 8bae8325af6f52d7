"""`taishan import FILE --template NAME`: a CSV or XLSX file through a data template into the store.

The file is parsed by the same code as an HTTP upload (`server.templates`) and stored as one atomic, evaluated
batch. Bad input (a missing file, an unsupported type, an unknown template, bad cells) is reported in Chinese
with exit code 1, never with a stack trace.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tortoise.exceptions import BaseORMException
from tqdm import tqdm

from engine.report import STATE_CHINESE
from server import templates
from server.config import Settings
from server.service import IngestResult, Service
from server.store import close_store, open_store
from server.store.models import DataTemplate
from server.templates import Upload, UploadError

PROGRESS_ROWS = 2000  # files with fewer rows parse too fast for a progress bar to help
SHOWN_TRANSITIONS = 20


async def import_file(settings: Settings, path: str, template: str, user: str, entity: str | None = None,
                      period: str | None = None) -> int:
    """`entity` and `period` name a wide sheet's region and period when its 单位/期别 cells do not."""
    file = Path(path)
    problem = _file_problem(file)
    if problem:
        return _fail(problem)
    try:
        await open_store(settings.db)
    except (OSError, BaseORMException) as error:
        return _fail(f"无法打开数据库 {settings.db}：{error}")
    try:
        return await _import(settings, file, template, user, entity, period)
    finally:
        await close_store()


def _file_problem(file: Path) -> str | None:
    if not file.is_file():
        return f"找不到文件 {file}"
    if templates.file_kind(file.name) is None:
        return f"不支持的文件类型「{file.suffix or file.name}」：请导入 CSV 或 XLSX 文件（旧版 .xls 请另存为 .xlsx）"
    return None


async def _import(settings: Settings, file: Path, name: str, user: str, entity: str | None,
                  period: str | None) -> int:
    record = await DataTemplate.get_or_none(name=name)
    if record is None:
        known = await DataTemplate.all().order_by("name").values_list("name", flat=True)
        listing = f"现有模板：{'、'.join(known)}" if known else "数据库中还没有模板"
        return _fail(f"没有名为「{name}」的数据模板；{listing}")
    service = Service(list(settings.rules), settings.horizon_months)
    await service.start()
    template = templates.from_record(service.model, record)
    try:
        book = templates.read_book(file.name, file.read_bytes())
        total = book.total
        with tqdm(total=total, desc="解析", unit="行", file=sys.stderr,
                  disable=total is not None and total < PROGRESS_ROWS) as bar:
            upload = Upload(template, service.model, entity=entity, period=period)
            result = await templates.ingest(service, upload, book, user=user, filename=file.name,
                                            progress=bar.update)
    except UploadError as error:
        print(f"数据有误，整批未导入：共 {len(error.errors)} 处错误", file=sys.stderr)
        print("\n".join(e.render() for e in error.errors), file=sys.stderr)
        return 1
    _summary(file.name, name, result)
    return 0


def _summary(filename: str, template: str, result: IngestResult) -> None:
    firing = sum(t["new"] == "firing" for t in result.transitions)
    print(f"导入完成：{filename}（模板 {template}），共 {result.rows} 条数据：新增 {len(result.accepted)} 条，"
          f"未变 {result.unchanged} 条；预警状态变化 {len(result.transitions)} 次（报警 {firing} 次）；"
          f"批次 {result.batch}，用时 {result.seconds:.1f} 秒。")
    for t in result.transitions[:SHOWN_TRANSITIONS]:
        print(f"  {STATE_CHINESE.get(t['new'], t['new'])}  {t['period']}  {t['message'] or t['rule']}")
    if len(result.transitions) > SHOWN_TRANSITIONS:
        print(f"  ……另有 {len(result.transitions) - SHOWN_TRANSITIONS} 次，见 /api/v1/alerts")


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1
