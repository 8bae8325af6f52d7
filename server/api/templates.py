"""Data templates: define them, hand out blank forms, and take CSV or XLSX uploads through them.

An upload is one atomic, evaluated batch. A bad file is answered with 422 and every bad cell (sheet, row,
column letter, header, reason); nothing of it is stored."""

from __future__ import annotations

from urllib.parse import quote, unquote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw
from tortoise.exceptions import IntegrityError

from server import templates
from server.api import params
from server.api.auth import principal
from server.api.errors import ApiError
from server.api.export import XLSX_TYPE
from server.service import audit
from server.store.models import DataTemplate
from server.templates import Template, TemplateError, Upload, UploadError

bp = Blueprint("templates", url_prefix="/api/v1")


@bp.get("/templates", ctx_permission="data:read")
async def list_templates(request: Request) -> HTTPResponse:
    """The data templates that cover an entity the caller may see."""
    model = request.app.ctx.service.model
    caller = principal(request)
    records = await DataTemplate.all().order_by("name")
    items = [_shown(templates.from_record(model, r), r) for r in records if caller.visible(r.entities)]
    return json({"count": len(items), "items": items}, ensure_ascii=False)


@bp.post("/templates", ctx_permission="templates:write")
async def create_template(request: Request) -> HTTPResponse:
    """Define a data template.

    Body: `{"name", "title", "layout": "long"|"wide", "indicators": [...], "entities": [...], "options": {...}}`.
    Indicators and entities may be ids or Chinese names. Wide options: `entity`, `period` (defaults for
    uploads) and `rows` (`[{"label", "month"|"month_growth"|"ytd"|"ytd_growth": indicator}]`; by default each
    indicator reads the column its published form calls for)."""
    try:
        template = templates.define(request.app.ctx.service.model, params.json_object(request))
    except TemplateError as error:
        raise ApiError(422, "invalid_template", f"模板定义有误：{error}", {"problems": error.problems}) from None
    caller = principal(request)
    outside = [e for e in template.entities if not caller.writes(e)]
    if outside:
        raise ApiError(403, "forbidden", f"无权为这些单位建立模板：{'、'.join(outside)}")
    if await DataTemplate.exists(name=template.name):
        raise _exists(template.name)
    try:
        record = await templates.save(template)
    except IntegrityError:  # created by another request since the check above
        raise _exists(template.name) from None
    await audit(caller.name, "template.create", template.name, template.as_dict())
    return json(_shown(template, record), status=201, ensure_ascii=False)


@bp.get("/templates/<name>", ctx_permission="data:read")
async def get_template(request: Request, name: str) -> HTTPResponse:
    """One data template, with the rows and columns a wide template reads."""
    template, record = await _visible(request, name)
    return json(_shown(template, record), ensure_ascii=False)


@bp.delete("/templates/<name>", ctx_permission="templates:write")
async def delete_template(request: Request, name: str) -> HTTPResponse:
    """Delete a data template. Data uploaded through it stays; its batches keep the template's name."""
    template, record = await _visible(request, name)
    caller = principal(request)
    if not all(caller.writes(e) for e in template.entities):
        raise ApiError(403, "forbidden", "该模板包含无权管理的单位，不能删除")
    await record.delete()
    await audit(caller.name, "template.delete", template.name, template.as_dict())
    return json({"deleted": template.name}, ensure_ascii=False)


@bp.get("/templates/<name>/blank.xlsx", ctx_permission="data:read")
async def blank_form(request: Request, name: str) -> HTTPResponse:
    """A blank XLSX form for the template, with Chinese headers, indicator names and units, and the period
    format explained. Filled in, it uploads as it is."""
    template, _ = await _visible(request, name)
    entities = principal(request).visible([template.entity] if template.entity else template.entities)
    body = templates.blank_xlsx(template, request.app.ctx.service.model, entities)
    return raw(body, content_type=XLSX_TYPE,
               headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(template.name)}.xlsx"})


@bp.post("/templates/<name>/upload", ctx_permission="data:write")
async def upload(request: Request, name: str) -> HTTPResponse:
    """Upload a CSV or XLSX file through the template: one atomic, evaluated batch.

    The file comes as the multipart field `file`, or as the raw body with `?filename=data.xlsx`. A wide
    template takes the entity and period from the sheet (单位, 期别 above the header), else from
    `?entity=xintai&period=2026-10`, else from its options. Bad cells: 422 with every one of them (sheet,
    row, column, header, reason) and nothing stored. Otherwise the vintages created and the alert
    transitions the batch caused."""
    template, _ = await _visible(request, name)
    filename, data = _received(request)
    if templates.file_kind(filename) is None:
        raise ApiError(415, "bad_file_type", f"不支持的文件类型「{filename}」：请上传 CSV 或 XLSX 文件")
    service = request.app.ctx.service
    caller = principal(request)
    given = Upload(template, service.model, entity=request.args.get("entity") or None,
                   period=request.args.get("period") or None, allowed=caller.writes)
    try:
        book = templates.read_book(filename, data)
        result = await templates.ingest(service, given, book, user=caller.name, filename=filename)
    except UploadError as error:
        raise ApiError(422, "invalid_cells", f"数据有误，整批未导入：共 {len(error.errors)} 处错误",
                       error.details()) from None
    return json(result.as_dict(), status=201 if result.accepted else 200, ensure_ascii=False)


def _received(request: Request) -> tuple[str, bytes]:
    sent = request.files.get("file") if request.files else None
    if sent is not None:
        return sent.name or "", sent.body
    filename = request.args.get("filename", "")
    if not request.body or not filename:
        raise ApiError(400, "no_file", "请以表单字段 file 上传文件，或把文件作为请求体发送并加参数 ?filename=数据.xlsx")
    return filename, request.body


async def _visible(request: Request, name: str) -> tuple[Template, DataTemplate]:
    """The template, if it exists and covers an entity the caller may see (others are not disclosed)."""
    name = unquote(name)  # Sanic hands a Chinese name over still percent-encoded
    record = await DataTemplate.get_or_none(name=name)
    if record is None or not principal(request).visible(record.entities):
        raise ApiError(404, "unknown_template", f"没有名为「{name}」的数据模板")
    return templates.from_record(request.app.ctx.service.model, record), record


def _shown(template: Template, record: DataTemplate) -> dict[str, object]:
    return {**template.as_dict(), "created_at": record.created_at.isoformat() if record.created_at else None}


def _exists(name: str) -> ApiError:
    return ApiError(409, "template_exists", f"已有名为「{name}」的数据模板")
