"""Any query's rows as JSON, CSV or XLSX, chosen by `?format=`."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from urllib.parse import quote

from openpyxl import Workbook
from sanic import Request
from sanic.response import HTTPResponse, json, raw

from server.api.errors import ApiError

FORMATS = ("json", "csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def respond(request: Request, rows: Sequence[dict], columns: Sequence[str], name: str,
            extra: dict | None = None) -> HTTPResponse:
    wanted = request.args.get("format", "json")
    if wanted not in FORMATS:
        raise ApiError(400, "bad_format", f"不支持的导出格式「{wanted}」，可选：{'、'.join(FORMATS)}")
    if wanted == "json":
        return json({**(extra or {}), "count": len(rows), "items": list(rows)}, ensure_ascii=False)
    if wanted == "csv":
        return raw(csv_bytes(rows, columns), content_type="text/csv; charset=utf-8",
                   headers=_attachment(f"{name}.csv"))
    return raw(xlsx_bytes(rows, columns, name), content_type=XLSX_TYPE, headers=_attachment(f"{name}.xlsx"))


def csv_bytes(rows: Sequence[dict], columns: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
    # The byte-order mark makes Excel, which most bureau staff open CSV files with, read UTF-8.
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(rows: Sequence[dict], columns: Sequence[str], title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31] or "data")
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_cell(row.get(c)) for c in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, list | tuple | dict):
        value = str(value)
    # Text that a spreadsheet would run as a formula (a name like `=HYPERLINK(...)`) is kept as text.
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
