"""Read the long data format (CSV, JSON or JSON lines) into rows the engine validates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from engine.panel import DataError, RowError

LONG_COLUMNS = ("indicator", "entity", "period", "value")


def read_rows(path: str) -> tuple[list[dict[str, object]], int]:
    """Rows of a long-format file, and the number the first row has in the file (for error reports)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError([RowError(0, "file", f"无法读取数据文件 {path}：{error}")]) from None
    if file.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        return _json_rows(text, path), 1
    return _csv_rows(text, path), 2


def _csv_rows(text: str, path: str) -> list[dict[str, object]]:
    reader = csv.DictReader(text.splitlines())
    header = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in LONG_COLUMNS if c not in header]
    if missing:
        reason = f"{path} 缺少列：{', '.join(missing)}（需要 indicator,entity,period,value）"
        raise DataError([RowError(1, "header", reason)])
    return [{k.strip(): v for k, v in row.items() if k} for row in reader]


def _json_rows(text: str, path: str) -> list[dict[str, object]]:
    try:
        if path.endswith((".jsonl", ".ndjson")):
            data: object = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError([RowError(error.lineno, "json", f"JSON 格式错误：{error.msg}")]) from None
    if isinstance(data, dict):
        data = data.get("observations")
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise DataError([RowError(1, "json", '应为观测值数组，或 {"observations": [...]}')])
    return data


def write_rows(rows: list[dict[str, object]], path: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(LONG_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
