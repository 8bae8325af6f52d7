"""Data templates: user-defined upload forms, the parsing of uploaded CSV and XLSX files, and blank forms.

A template (`DataTemplate` in the store) names the indicators and entities it covers and its layout.

Long layout: one observation per row, columns `indicator, entity, period, value`, or their Chinese headers
指标, 单位/地区, 期别, 数值. Indicators and entities may be written as ids or Chinese names. A row whose value
is blank is skipped: nothing to report there yet.

Wide layout: the bureau's own monthly table, one sheet (or CSV file) per entity and period::

    指标 | 计量单位 | 本月 | 同比% | 1-本月 | 同比%

The rule set publishes each indicator in one form only (ytd, period, stock, rate or index), so each cell of a
row maps onto at most one indicator. The four value columns are keyed `month` (本月, the single-month value),
`month_growth` (its 同比%), `ytd` (1-本月, the year-to-date value) and `ytd_growth` (its 同比%). Unless the
template's options give `rows` explicitly, each indicator gets a row labelled with its Chinese name that
reads one column, chosen by its form:

- `ytd` → 1-本月 (the rule set derives single months itself, with 1–2月 handled);
- `period`, `stock`, `index` → 本月 (a balance and an index are the month's own figure);
- `rate` → the 1-本月 同比% (published growth rates such as 规上工业增加值 and investment are cumulative).

Explicit rows (`{"label": "社会消费品零售总额", "ytd": "retail", "ytd_growth": "retail_growth"}`) let one row
feed several indicators, e.g. a level and a rate-form growth indicator where the rule set has both. A cell in
a column that maps to no indicator is not stored: growth of levels is recomputed from the levels and must not
be taken from the form. It is still checked to be a number when filled, because text there means the table
is misaligned. Blank cells and the placeholders "—", "-", "/" are "not reported". A row whose value cells
are all blank (a section heading such as 一、工业) is skipped.

The entity and period of a wide sheet come from the sheet itself (cells 单位 and 期别 above the header, as the
blank form has them), else from the upload parameters (`?entity=xintai&period=2026-10`), else from the
template options `entity` and `period`. A sheet that names an entity or period other than the upload
parameter is an error, not silently overridden.

Every problem is reported against the cell it comes from: sheet, row, column letter, header and a reason in
Chinese. The engine's own validation (unknown names, period formats, periods not yet ended, duplicates) is
mapped back from the batch's row numbers to the cells, so one report lists everything and nothing is stored.
"""

from __future__ import annotations

import asyncio
import csv
import datetime
import difflib
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from dsl import Model
from engine import DataError, validate
from engine.periods import Period, PeriodError
from server.store.models import DataTemplate

if TYPE_CHECKING:
    from server.service import IngestResult, Service

LAYOUTS = ("long", "wide")
FILE_KINDS = {".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx"}
NAME_PATTERN = re.compile(r"^[\w-]{1,64}$")

# Wide value columns in the bureau's order, with the header each has on a form.
COLUMNS = ("month", "month_growth", "ytd", "ytd_growth")
COLUMN_HEADERS = {"month": "本月", "month_growth": "同比%", "ytd": "1-本月", "ytd_growth": "同比%"}
COLUMN_NAMES = {"month": "本月", "month_growth": "本月同比%", "ytd": "1-本月", "ytd_growth": "1-本月同比%"}
DEFAULT_COLUMN = {"ytd": "ytd", "period": "month", "stock": "month", "index": "month", "rate": "ytd_growth"}

LONG_ALIASES = {
    "indicator": ("indicator", "指标", "指标名称", "指标代码"),
    "entity": ("entity", "单位", "地区", "单位名称", "地区名称"),
    "period": ("period", "期别", "时期", "报告期"),
    "value": ("value", "数值", "值", "本期数"),
}
LONG_HEADERS = {"indicator": "指标", "entity": "单位", "period": "期别", "value": "数值"}
LABEL_ALIASES = ("指标", "指标名称", "项目", "indicator")
MONTH_ALIASES = ("本月", "当月", "本期", "month")
YTD_ALIASES = ("1-本月", "1-本期", "累计", "本年累计", "本月止累计", "年初至本月", "ytd")
GROWTH_PATTERN = re.compile(r"^(同比|增长|增速|比上年同期|比上年同月|比去年同期).*$|^growth$")
ENTITY_META = ("单位", "地区", "单位名称", "地区名称", "填报单位")
PERIOD_META = ("期别", "报告期", "时期")
BLANKS = ("", "-", "--", "—", "——", "–", "/", "…", "...", "无")
HEADER_SCAN = 15  # a header sits within the first rows, under a title and notes
CHUNK = 500  # rows per progress tick

PERIOD_HELP = "期别格式：月度填 2026-10，季度填 2026Q3，年度填 2026；1–2月合并发布的指标填在 2026-02。"


class TemplateError(ValueError):
    """A template definition that does not fit the rule set; `problems` are Chinese sentences."""

    def __init__(self, problems: list[str]):
        super().__init__("；".join(problems))
        self.problems = problems


# ---------------------------------------------------------------------------------------------- definitions


@dataclass(frozen=True)
class WideRow:
    label: str
    columns: dict[str, str]  # column key → indicator id

    def as_dict(self) -> dict[str, str]:
        return {"label": self.label, **self.columns}


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    layout: str
    indicators: tuple[str, ...]
    entities: tuple[str, ...]
    options: dict[str, object] = field(default_factory=dict)
    rows: tuple[WideRow, ...] = ()  # wide only: the explicit rows, or those derived from the forms

    @property
    def entity(self) -> str | None:
        return _text_option(self.options, "entity")

    @property
    def period(self) -> str | None:
        return _text_option(self.options, "period")

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"name": self.name, "title": self.title, "layout": self.layout,
                                    "indicators": list(self.indicators), "entities": list(self.entities),
                                    "options": self.options}
        if self.layout == "wide":
            found["rows"] = [r.as_dict() for r in self.rows]
        return found


def _text_option(options: Mapping[str, object], key: str) -> str | None:
    value = options.get(key)
    return str(value) if value not in (None, "") else None


def define(model: Model, body: Mapping[str, object]) -> Template:
    """Validate a template definition against the rule set; names become ids. Raises TemplateError."""
    problems: list[str] = []
    name = str(body.get("name") or "").strip()
    if not NAME_PATTERN.match(name):
        problems.append("模板名称应为 1–64 个字母、数字、汉字、下划线或连字符")
    layout = str(body.get("layout") or "long")
    if layout not in LAYOUTS:
        problems.append(f"版式「{layout}」无效，应为 long（长表）或 wide（宽表）")
    indicators = _names(body.get("indicators"), "指标", lambda t: resolve_indicator(model, t), problems)
    entities = _names(body.get("entities"), "单位", lambda t: resolve_entity(model, t), problems)
    options = body.get("options") or {}
    if not isinstance(options, dict):
        problems.append("options 应为 JSON 对象")
        options = {}
    options = _options(model, layout, indicators, entities, options, problems)
    if problems:
        raise TemplateError(problems)
    template = Template(name, str(body.get("title") or name), layout, tuple(indicators), tuple(entities), options)
    return _with_rows(model, template)


def _names(given: object, kind: str, resolve: Callable[[str], str | None], problems: list[str]) -> list[str]:
    if not isinstance(given, list) or not given:
        problems.append(f"请至少列出一个{kind}")
        return []
    found: list[str] = []
    for item in given:
        resolved = resolve(str(item))
        if resolved is None:
            problems.append(f"未知{kind}「{item}」")
        elif resolved not in found:
            found.append(resolved)
    return found


def _options(model: Model, layout: str, indicators: list[str], entities: list[str], options: dict,
             problems: list[str]) -> dict[str, object]:
    allowed = ("entity", "period", "rows") if layout == "wide" else ()
    problems += [f"{'宽表' if layout == 'wide' else '长表'}模板没有选项「{k}」" for k in options if k not in allowed]
    normal: dict[str, object] = {}
    if options.get("entity") not in (None, ""):
        entity = resolve_entity(model, str(options["entity"]))
        if entity not in entities:
            problems.append(f"选项 entity「{options['entity']}」不是本模板的单位")
        normal["entity"] = entity
    if options.get("period") not in (None, ""):
        try:
            normal["period"] = str(Period.parse(normalize_period(options["period"])))
        except PeriodError as error:
            problems.append(f"选项 period：{error}")
    if options.get("rows") is not None:
        normal["rows"] = _explicit_rows(model, indicators, options["rows"], problems)
    return normal


def _explicit_rows(model: Model, indicators: list[str], rows: object, problems: list[str]) -> list[dict]:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        problems.append("选项 rows 应为对象数组，如 [{\"label\": \"规模以上工业增加值\", \"ytd_growth\": \"ind_va\"}]")
        return []
    normal: list[dict] = []
    labels: set[str] = set()
    for number, row in enumerate(rows, start=1):
        label = str(row.get("label") or "").strip()
        if not label or _key(label) in labels:
            problems.append(f"rows 第{number}项：标签为空或重复")
        labels.add(_key(label))
        mapped: dict[str, str] = {"label": label}
        for key, value in row.items():
            if key == "label":
                continue
            indicator = resolve_indicator(model, str(value)) if key in COLUMNS else None
            if key not in COLUMNS:
                problems.append(f"rows 第{number}项：列「{key}」无效，应为 {'、'.join(COLUMNS)}")
            elif indicator not in indicators:
                problems.append(f"rows 第{number}项：指标「{value}」不在本模板的指标中")
            else:
                mapped[key] = indicator
        normal.append(mapped)
    used = {v for r in normal for k, v in r.items() if k != "label"}
    problems += [f"指标「{i}」在 rows 中没有对应的行和列，无法填报" for i in indicators if i not in used]
    return normal


def from_record(model: Model, record: DataTemplate) -> Template:
    template = Template(record.name, record.title, record.layout, tuple(record.indicators), tuple(record.entities),
                        dict(record.options or {}))
    return _with_rows(model, template)


def _with_rows(model: Model, template: Template) -> Template:
    if template.layout != "wide":
        return template
    explicit = template.options.get("rows")
    if isinstance(explicit, list) and explicit:
        rows = tuple(WideRow(r["label"], {k: v for k, v in r.items() if k != "label"}) for r in explicit)
    else:
        rows = tuple(_default_row(model, i) for i in template.indicators)
    return Template(template.name, template.title, template.layout, template.indicators, template.entities,
                    template.options, rows)


def _default_row(model: Model, indicator: str) -> WideRow:
    found = model.indicators.get(indicator)
    if found is None:  # dropped from the rule set since: the upload reports it by id
        return WideRow(indicator, {"month": indicator})
    return WideRow(found.name, {DEFAULT_COLUMN.get(found.form, "month"): indicator})


async def load(model: Model, name: str) -> Template | None:
    record = await DataTemplate.get_or_none(name=name)
    return None if record is None else from_record(model, record)


async def save(template: Template) -> DataTemplate:
    return await DataTemplate.create(name=template.name, title=template.title, layout=template.layout,
                                     indicators=list(template.indicators), entities=list(template.entities),
                                     options=template.options)


# ---------------------------------------------------------------------------------------------- names


def _key(text: str) -> str:
    """Header and label text compared loosely: no spaces, ASCII punctuation, lower case."""
    table = str.maketrans({"（": "(", "）": ")", "％": "%", "—": "-", "－": "-", "–": "-", "～": "-", "：": ":",
                           "±": ""})
    return re.sub(r"\s+", "", text).translate(table).lower()


_UNIT_SUFFIX = re.compile(r"\([^()]*\)$")
_PREFIX = re.compile(r"^(其中:|其中|[一二三四五六七八九十]+、|\d+[.、])")


def resolve_indicator(model: Model, text: str) -> str | None:
    """An indicator id from its id or Chinese name, allowing 其中： and numbering before it and a unit after."""
    key = _key(text)
    key = _UNIT_SUFFIX.sub("", _PREFIX.sub("", key))
    for indicator in model.indicators.values():
        if key in (indicator.id.lower(), _key(indicator.name)):
            return indicator.id
    return None


def resolve_entity(model: Model, text: str) -> str | None:
    key = _key(text)
    for entity in model.entities.values():
        if key in (entity.id.lower(), _key(entity.name)):
            return entity.id
    return None


# 2026年10月 and 2026年1-10月 (a year-to-date table is dated by its last month), 2026.10, 2026年第3季度, 2026年
_PERIOD_FORMS = ((r"^(\d{4})年(?:1[-—–~～至])?(\d{1,2})月$", "{0}-{1:0>2}"),
                 (r"^(\d{4})[./-](\d{1,2})$", "{0}-{1:0>2}"),
                 (r"^(\d{4})年?第?([1-4])季度?$", "{0}Q{1}"), (r"^(\d{4})年$", "{0}"))


def normalize_period(raw: object) -> str:
    """Period text from what a spreadsheet holds: Excel turns 2026-10 into a date, 2026 into a number."""
    if isinstance(raw, datetime.datetime | datetime.date):
        return f"{raw.year}-{raw.month:02d}"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    text = str(raw).strip()
    for pattern, form in _PERIOD_FORMS:
        match = re.match(pattern, text)
        if match:
            return form.format(*match.groups())
    return text


def parse_number(raw: object) -> float | str | None:
    """A number, None for a blank or placeholder, or the Chinese reason it is not a number."""
    if raw is None or isinstance(raw, bool):
        return None if raw is None else f"「{raw}」不是数字"
    if isinstance(raw, int | float):
        number = float(raw)
    else:
        text = str(raw).strip()
        if text in BLANKS:
            return None
        try:
            number = float(text.replace(",", "").replace("，", "").removesuffix("%").removesuffix("％"))
        except ValueError:
            return f"「{text}」不是数字"
    return number if math.isfinite(number) else f"「{raw}」不是有限的数"


# ---------------------------------------------------------------------------------------------- cells and errors


@dataclass(frozen=True)
class Cell:
    sheet: str
    row: int  # 1-based within the sheet; 0 for an upload parameter or a template option
    column: int  # 1-based; 0 when the problem is a whole row or sheet
    header: str = ""

    @property
    def letter(self) -> str:
        return get_column_letter(self.column) if self.column else ""


@dataclass(frozen=True)
class CellError:
    cell: Cell
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"sheet": self.cell.sheet, "row": self.cell.row, "column": self.cell.letter,
                "header": self.cell.header, "reason": self.reason}

    def render(self) -> str:
        where = [f"工作表「{self.cell.sheet}」"] if self.cell.sheet else []
        if self.cell.row:
            where.append(f"第{self.cell.row}行")
        if self.cell.column:
            where.append(f"{self.cell.letter}列")
        place = " ".join(where) + (f"（{self.cell.header}）" if self.cell.header else "")
        return f"{place or '文件'}：{self.reason}"


class UploadError(Exception):
    """Every bad cell of an upload; nothing of it was stored."""

    def __init__(self, errors: list[CellError]):
        self.errors = list(dict.fromkeys(errors))  # a wide sheet's period cell may be blamed once per row
        super().__init__("\n".join(e.render() for e in self.errors))

    def details(self) -> list[dict[str, object]]:
        return [e.as_dict() for e in self.errors]


def file_error(reason: str, sheet: str = "") -> UploadError:
    return UploadError([CellError(Cell(sheet, 0, 0), reason)])


# ---------------------------------------------------------------------------------------------- reading files


@dataclass
class Sheet:
    name: str
    total: int | None  # rows, when the file says
    rows: Iterator[tuple[object, ...]]


@dataclass
class Book:
    kind: str  # csv | xlsx
    sheets: list[Sheet]
    close: Callable[[], None] = lambda: None

    @property
    def total(self) -> int | None:
        totals = [s.total for s in self.sheets]
        return None if None in totals else sum(t or 0 for t in totals)


def file_kind(filename: str) -> str | None:
    return FILE_KINDS.get(PurePath(filename).suffix.lower())


def read_book(filename: str, data: bytes) -> Book:
    kind = file_kind(filename)
    if kind is None:
        raise file_error(f"不支持的文件类型「{PurePath(filename).suffix or filename}」：请上传 CSV 或 XLSX 文件"
                         "（旧版 .xls 请在 Excel 中另存为 .xlsx）")
    return _read_csv(data) if kind == "csv" else _read_xlsx(data)


def _read_csv(data: bytes) -> Book:
    # Excel on a Chinese Windows saves CSV as GBK; everything else writes UTF-8.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise file_error("无法识别 CSV 文件的编码：请另存为 UTF-8")
    try:
        rows = [tuple(r) for r in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as error:
        raise file_error(f"CSV 格式错误：{error}") from None
    return Book("csv", [Sheet("", len(rows), iter(rows))])


def _read_xlsx(data: bytes) -> Book:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises zip, XML and key errors for damaged files alike
        raise file_error(f"无法读取 XLSX 文件：{type(error).__name__}，请确认文件未损坏且是 .xlsx 格式") from None
    sheets = [Sheet(ws.title, ws.max_row, ws.iter_rows(values_only=True)) for ws in book.worksheets]
    return Book("xlsx", sheets, book.close)


def _ticking(rows: Iterable[tuple[object, ...]], progress: Callable[[int], object] | None,
             ) -> Iterator[tuple[int, tuple[object, ...]]]:
    count = 0
    for count, row in enumerate(rows, start=1):
        if progress is not None and count % CHUNK == 0:
            progress(CHUNK)
        yield count, row
    if progress is not None and count % CHUNK:
        progress(count % CHUNK)


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


# ---------------------------------------------------------------------------------------------- parsing


@dataclass
class Parsed:
    """Long rows for the service, and for each the cells its fields came from."""

    rows: list[dict[str, object]] = field(default_factory=list)
    origins: list[dict[str, Cell]] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)

    def add(self, row: dict[str, object], origin: dict[str, Cell]) -> None:
        self.rows.append(row)
        self.origins.append(origin)

    def explain(self, error: DataError) -> UploadError:
        """The engine's row errors (numbered from 1, the batch's first row) as the cells they come from."""
        found = []
        for e in error.errors:
            origin = self.origins[e.row - 1] if 0 < e.row <= len(self.origins) else {}
            cell = origin.get(e.column) or origin.get("value") or Cell("", 0, 0)
            found.append(CellError(cell, e.reason))
        return UploadError(found)


@dataclass(frozen=True)
class Upload:
    """Who uploads what, and the parameters that came with it."""

    template: Template
    model: Model
    entity: str | None = None
    period: str | None = None
    allowed: Callable[[str], bool] = lambda _entity: True


def parse(upload: Upload, book: Book, progress: Callable[[int], object] | None = None) -> Parsed:
    """The observations of an uploaded file, or UploadError naming every bad cell (the engine's checks too).

    Sheets without a header (notes, the code table of a blank form) are skipped; a file with none is an error."""
    parsed = Parsed()
    reader = _parse_long if upload.template.layout == "long" else _parse_wide
    try:
        found = [reader(upload, sheet.name, _ticking(sheet.rows, progress), parsed) for sheet in book.sheets]
    finally:
        book.close()
    if not any(found):
        raise file_error("找不到表头：需要列 " + _expected_header(upload.template))
    if not parsed.errors and not parsed.rows:
        raise file_error("文件中没有可导入的数据：数值全部为空")
    if parsed.errors:
        try:
            validate(upload.model, parsed.rows)
        except DataError as error:
            parsed.errors += parsed.explain(error).errors
        order = {sheet.name: index for index, sheet in enumerate(book.sheets)}
        raise UploadError(sorted(parsed.errors, key=lambda e: (order.get(e.cell.sheet, 0), e.cell.row == 0,
                                                              e.cell.row, e.cell.column)))
    return parsed


def _expected_header(template: Template) -> str:
    if template.layout == "long":
        return " | ".join(LONG_HEADERS.values())
    return "指标 | " + " | ".join(COLUMN_HEADERS.values())


def _find_header(rows: Iterator[tuple[int, tuple[object, ...]]], is_header: Callable[[list[str]], bool],
                 ) -> tuple[list[tuple[int, tuple[object, ...]]], int, list[str]] | None:
    """Rows before the header, the header's row number and its keys; None if no header in the first rows."""
    before: list[tuple[int, tuple[object, ...]]] = []
    for number, row in rows:
        keys = [_key(_text(v)) for v in row]
        if is_header(keys):
            return before, number, keys
        before.append((number, row))
        if number >= HEADER_SCAN:
            return None
    return None


# -- long


def _long_columns(keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for field_name, aliases in LONG_ALIASES.items():
        for index, key in enumerate(keys):
            if key in aliases and field_name not in found:
                found[field_name] = index
    return found


def _parse_long(upload: Upload, sheet: str, rows: Iterator[tuple[int, tuple[object, ...]]], parsed: Parsed) -> bool:
    header = _find_header(rows, lambda keys: len(_long_columns(keys)) == len(LONG_ALIASES))
    if header is None:
        return False
    columns = _long_columns(header[2])
    for number, row in rows:
        _long_row(upload, sheet, number, row, columns, parsed)
    return True


def _long_row(upload: Upload, sheet: str, number: int, row: tuple[object, ...], columns: dict[str, int],
              parsed: Parsed) -> None:
    cells = {f: Cell(sheet, number, i + 1, LONG_HEADERS[f]) for f, i in columns.items()}
    raw = {f: row[i] if i < len(row) else None for f, i in columns.items()}
    value = parse_number(raw["value"])
    if value is None:
        return  # nothing reported on this row (yet)
    errors: list[CellError] = []
    if isinstance(value, str):
        errors.append(CellError(cells["value"], value))
    for name in ("indicator", "entity", "period"):
        if _text(raw[name]) == "":
            errors.append(CellError(cells[name], f"{LONG_HEADERS[name]}为空"))
    indicator, entity = _covered(upload, _text(raw["indicator"]), _text(raw["entity"]), cells, errors)
    if errors:
        parsed.errors += errors
        return
    parsed.add({"indicator": indicator, "entity": entity, "period": normalize_period(raw["period"]), "value": value},
               cells)


def _covered(upload: Upload, indicator_text: str, entity_text: str, cells: dict[str, Cell],
             errors: list[CellError]) -> tuple[str, str]:
    """Ids for the names given, with an error when the template does not cover them or the caller may not
    report for the entity. Unknown names pass through: the engine reports them with a suggestion."""
    indicator = resolve_indicator(upload.model, indicator_text) if indicator_text else None
    if indicator is not None and indicator not in upload.template.indicators:
        name = upload.model.indicators[indicator].name
        errors.append(CellError(cells["indicator"], f"模板「{upload.template.name}」不包含指标「{name}」"))
    entity = resolve_entity(upload.model, entity_text) if entity_text else None
    if entity is not None:
        errors += _entity_problems(upload, entity, cells["entity"])
    return indicator or indicator_text, entity or entity_text


def _entity_problems(upload: Upload, entity: str, cell: Cell) -> list[CellError]:
    name = upload.model.entities[entity].name
    if entity not in upload.template.entities:
        return [CellError(cell, f"模板「{upload.template.name}」不包含单位「{name}」")]
    if not upload.allowed(entity):
        return [CellError(cell, f"无权报送单位「{name}」的数据")]
    return []


# -- wide


def _wide_columns(keys: list[str]) -> dict[str, int] | None:
    """Column key → index, growth columns belonging to the level column left of them."""
    if not any(k in LABEL_ALIASES for k in keys):
        return None
    found: dict[str, int] = {}
    level = "month"
    for index, key in enumerate(keys):
        if key in LABEL_ALIASES and "label" not in found:
            found["label"] = index
        elif key in MONTH_ALIASES or key in YTD_ALIASES or re.match(r"^1-\d{1,2}月$", key):
            level = "month" if key in MONTH_ALIASES else "ytd"
            found.setdefault(level, index)
        elif GROWTH_PATTERN.match(key):
            found.setdefault(f"{level}_growth", index)
    return found if len(found) > 1 else None


def _parse_wide(upload: Upload, sheet: str, rows: Iterator[tuple[int, tuple[object, ...]]], parsed: Parsed) -> bool:
    header = _find_header(rows, lambda keys: _wide_columns(keys) is not None)
    if header is None:
        return False
    before, header_row, keys = header
    columns = _wide_columns(keys) or {}
    needed = {k for r in upload.template.rows for k in r.columns}
    missing = [COLUMN_NAMES[k] for k in COLUMNS if k in needed and k not in columns]
    if missing:
        parsed.errors.append(CellError(Cell(sheet, header_row, 0), f"缺少列：{'、'.join(missing)}"))
        return True
    body = list(rows)
    if not any(_reported(row, columns) for _, row in body):
        return True  # a sheet left blank, say a firm that has not reported yet in its county's workbook
    entity, period = _sheet_context(upload, sheet, before, parsed.errors)
    if entity is None or period is None:
        return True
    labels = _labels(upload)
    for number, row in body:
        _wide_row(upload, sheet, number, row, columns, labels, (entity, period), parsed)
    return True


def _reported(row: tuple[object, ...], columns: dict[str, int]) -> bool:
    return any(parse_number(row[i] if i < len(row) else None) is not None for k, i in columns.items() if k != "label")


def _labels(upload: Upload) -> dict[str, WideRow]:
    """Each wide row by its label, and by the id and name of every indicator it feeds."""
    found: dict[str, WideRow] = {}
    for row in upload.template.rows:
        found.setdefault(_key(row.label), row)
        for indicator in row.columns.values():
            found.setdefault(indicator.lower(), row)
            if indicator in upload.model.indicators:
                found.setdefault(_key(upload.model.indicators[indicator].name), row)
    return found


def _wide_row(upload: Upload, sheet: str, number: int, row: tuple[object, ...], columns: dict[str, int],
              labels: dict[str, WideRow], where: tuple[tuple[str, Cell], tuple[str, Cell]], parsed: Parsed) -> None:
    values = {k: parse_number(row[i] if i < len(row) else None) for k, i in columns.items() if k != "label"}
    if all(v is None for v in values.values()):
        return  # a section heading or a row not reported
    label_cell = Cell(sheet, number, columns["label"] + 1, "指标")
    text = _text(row[columns["label"]] if columns["label"] < len(row) else None)
    mapping = _wide_mapping(upload, text, labels, label_cell, parsed.errors)
    (entity, entity_cell), (period, period_cell) = where
    for key, value in values.items():
        cell = Cell(sheet, number, columns[key] + 1, COLUMN_NAMES[key])
        if isinstance(value, str):
            parsed.errors.append(CellError(cell, value))
        elif value is not None and mapping is not None and key in mapping.columns:
            parsed.add({"indicator": mapping.columns[key], "entity": entity, "period": period, "value": value},
                       {"indicator": label_cell, "entity": entity_cell, "period": period_cell, "value": cell})


def _wide_mapping(upload: Upload, text: str, labels: dict[str, WideRow], cell: Cell,
                  errors: list[CellError]) -> WideRow | None:
    if not text:
        errors.append(CellError(cell, "指标名称为空"))
        return None
    key = _key(text)
    found = labels.get(key) or labels.get(_UNIT_SUFFIX.sub("", _PREFIX.sub("", key)))
    if found is not None:
        return found
    indicator = resolve_indicator(upload.model, text)
    if indicator is not None:
        errors.append(CellError(cell, f"模板「{upload.template.name}」不包含指标「{text}」"))
        return None
    hint = difflib.get_close_matches(text, [r.label for r in upload.template.rows], n=1, cutoff=0.5)
    errors.append(CellError(cell, f"未知指标「{text}」" + (f"，是否应为「{hint[0]}」？" if hint else "")))
    return None


def _sheet_context(upload: Upload, sheet: str, before: list[tuple[int, tuple[object, ...]]],
                   errors: list[CellError]) -> tuple[tuple[str, Cell] | None, tuple[str, Cell] | None]:
    """The sheet's entity and period, each with the cell (or parameter) it came from."""
    written = _meta(upload.model, sheet, before)
    entity = _choose(sheet, "entity", written.get("entity"), upload.entity, upload.template.entity, errors,
                     lambda text: resolve_entity(upload.model, text) or text)
    period = _choose(sheet, "period", written.get("period"), upload.period, upload.template.period, errors,
                     normalize_period)
    if entity is not None:
        if entity[0] not in upload.model.entities:
            errors.append(CellError(entity[1], f"未知单位「{entity[0]}」"))
            return None, period
        problems = _entity_problems(upload, entity[0], entity[1])
        errors += problems
        entity = None if problems else entity
    return entity, period


def _is_measure(model: Model, text: str) -> bool:
    units = {i.unit for i in model.indicators.values()} | {"%"}
    return resolve_entity(model, text) is None and all(p in units for p in re.split(r"[、,，/\s]+", text) if p)


def _meta(model: Model, sheet: str, before: list[tuple[int, tuple[object, ...]]]) -> dict[str, tuple[object, Cell]]:
    """单位 and 期别 written above the header: `单位 | 新泰市` in two cells or `单位：新泰市` in one. `单位：亿元`
    names the unit of measure of the table, not the region."""
    found: dict[str, tuple[object, Cell]] = {}
    for number, row in before:
        for index, value in enumerate(row):
            label, _, rest = _text(value).replace("：", ":").partition(":")
            kind = "entity" if _key(label) in ENTITY_META else "period" if _key(label) in PERIOD_META else None
            if kind is None or kind in found:
                continue
            following = [(i, v) for i, v in enumerate(row) if i > index and _text(v)]
            given = (index, rest.strip()) if rest.strip() else following[0] if following else None
            if given is not None and not (kind == "entity" and _is_measure(model, _text(given[1]))):
                found[kind] = (given[1], Cell(sheet, number, given[0] + 1, label))
    return found


def _choose(sheet: str, kind: str, written: tuple[object, Cell] | None, parameter: str | None, option: str | None,
            errors: list[CellError], normal: Callable[[str], str]) -> tuple[str, Cell] | None:
    """What the sheet says, else the upload parameter, else the template option; the sheet and the parameter
    must agree."""
    name = "单位" if kind == "entity" else "期别"
    if written is not None:
        text = normal(normalize_period(written[0]) if kind == "period" else _text(written[0]))
        if parameter and normal(parameter) != text:
            reason = f"表中{name}「{_text(written[0])}」与上传参数 {kind}={parameter} 不一致"
            errors.append(CellError(written[1], reason))
            return None
        return text, written[1]
    if parameter:
        return normal(parameter), Cell(sheet, 0, 0, f"上传参数 {kind}")
    if option:
        return normal(option), Cell(sheet, 0, 0, f"模板选项 {kind}")
    errors.append(CellError(Cell(sheet, 0, 0), f"未给出{name}：请在表头上方填写“{name}”，或上传时加参数 ?{kind}=…"))
    return None


# ---------------------------------------------------------------------------------------------- blank forms

_HEADER_FONT = Font(bold=True)
_UNUSED = PatternFill("solid", start_color="DDDDDD", end_color="DDDDDD")
_NOTE = Font(color="666666", size=9)
_LONG_BLANK_ROWS = 2000  # rows the period validation covers on a long form


def blank_xlsx(template: Template, model: Model, entities: list[str]) -> bytes:
    """A form to fill in: Chinese headers, names and units pre-filled, the period format explained."""
    book = Workbook()
    book.remove(book.active)
    if template.layout == "wide":
        for entity in entities:
            _wide_sheet(book, template, model, entity)
    else:
        _long_sheet(book, template, model, entities)
    _codes_sheet(book, template, model, entities)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _period_validation(cells: str) -> DataValidation:
    validation = DataValidation(type="textLength", operator="between", formula1="4", formula2="7", allow_blank=True,
                                showInputMessage=True, showErrorMessage=True, promptTitle="期别",
                                prompt=PERIOD_HELP, errorTitle="期别格式有误", error=PERIOD_HELP)
    validation.add(cells)
    return validation


def _sheet_title(text: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "", text)[:31] or "数据"


def _wide_sheet(book: Workbook, template: Template, model: Model, entity: str) -> None:
    ws = book.create_sheet(_sheet_title(model.entities[entity].name))
    ws.append([f"{template.title} 数据填报表"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["单位", model.entities[entity].name])
    ws.append(["期别", template.period or ""])
    ws["B3"].number_format = "@"  # keeps Excel from turning 2026-10 into a date
    ws.add_data_validation(_period_validation("B3"))
    ws.append(["说明：" + PERIOD_HELP + "本月填当月值，1-本月填年初至本月累计值，同比%填增长百分数（如 6.5）；"
               "灰色格不需填写，不适用的格留空或填“—”。"])
    ws["A4"].font = _NOTE
    header = ["指标", "计量单位", *(COLUMN_HEADERS[k] for k in COLUMNS)]
    ws.append(header)
    for index in range(1, len(header) + 1):
        ws.cell(5, index).font = _HEADER_FONT
    for row in template.rows:
        first = next(iter(row.columns.values()))
        unit = model.indicators[first].unit if first in model.indicators else ""
        ws.append([row.label, unit])
        for index, key in enumerate(COLUMNS, start=3):
            if key not in row.columns:
                ws.cell(ws.max_row, index).fill = _UNUSED
    _widths(ws, [30, 12, 12, 10, 12, 10])


def _long_sheet(book: Workbook, template: Template, model: Model, entities: list[str]) -> None:
    ws = book.create_sheet("数据")
    ws.append(["说明：" + PERIOD_HELP + "指标和单位可填名称或代码（见“代码表”）；数值为空的行不导入。"])
    ws["A1"].font = _NOTE
    ws.append([LONG_HEADERS[f] for f in LONG_ALIASES] + ["计量单位"])
    for index in range(1, 6):
        ws.cell(2, index).font = _HEADER_FONT
    ws["C2"].comment = Comment(PERIOD_HELP, "taishan")
    for indicator in template.indicators:
        for entity in entities:
            found = model.indicators.get(indicator)
            ws.append([found.name if found else indicator, model.entities[entity].name, template.period or "", None,
                       found.unit if found else ""])
    ws.column_dimensions["C"].number_format = "@"  # keeps Excel from turning 2026-10 into a date
    for row in range(3, ws.max_row + 1):
        ws.cell(row, 3).number_format = "@"
    ws.add_data_validation(_period_validation(f"C3:C{max(ws.max_row, _LONG_BLANK_ROWS)}"))
    ws.freeze_panes = "A3"
    _widths(ws, [30, 14, 12, 14, 12])


def _codes_sheet(book: Workbook, template: Template, model: Model, entities: list[str]) -> None:
    ws = book.create_sheet("代码表")
    ws.append(["指标代码", "指标名称", "计量单位", "", "单位代码", "单位名称"])
    indicators = [model.indicators[i] for i in template.indicators if i in model.indicators]
    for index in range(max(len(indicators), len(entities))):
        row: list[object] = ["", "", "", ""]
        if index < len(indicators):
            row[:3] = [indicators[index].id, indicators[index].name, indicators[index].unit]
        if index < len(entities):
            row += [entities[index], model.entities[entities[index]].name]
        ws.append(row)
    _widths(ws, [20, 30, 12, 4, 16, 16])


def _widths(ws: Worksheet, widths: list[int]) -> None:
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width


# ---------------------------------------------------------------------------------------------- ingesting


async def ingest(service: Service, upload: Upload, book: Book, *, user: str, filename: str,
                 progress: Callable[[int], object] | None = None) -> IngestResult:
    """Parse an upload and store it as one atomic, evaluated batch; UploadError names every bad cell."""
    parsed = await asyncio.to_thread(parse, upload, book, progress)
    try:
        return await service.ingest(parsed.rows, source="import", user=user, template=upload.template.name,
                                    filename=filename)
    except DataError as error:  # e.g. a period that has not ended, which only the service knows
        raise parsed.explain(error) from None
