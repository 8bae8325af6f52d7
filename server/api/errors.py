"""Errors as JSON with a Chinese message and a code a program can test. No stack trace reaches a user."""

from __future__ import annotations

import logging

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse, json
from tortoise.exceptions import DoesNotExist, IntegrityError, ValidationError

from dsl import DslError
from engine import DataError

log = logging.getLogger("taishan")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: object = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers or {}


def error_body(code: str, message: str, details: object = None) -> dict:
    error: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def _api_error(_request: Request, error: ApiError) -> HTTPResponse:
    return json(error_body(error.code, error.message, error.details), status=error.status, headers=error.headers,
                ensure_ascii=False)


def _data_error(_request: Request, error: DataError) -> HTTPResponse:
    rows = [{"row": e.row, "column": e.column, "reason": e.reason} for e in error.errors]
    return json(error_body("invalid_rows", f"数据有误，整批未导入：共 {len(rows)} 处错误", rows), status=422,
                ensure_ascii=False)


def _dsl_error(_request: Request, error: DslError) -> HTTPResponse:
    found = [{"path": d.span.path, "line": d.span.line, "column": d.span.column, "severity": d.severity,
              "message": d.message, "suggestion": d.suggestion} for d in error.diagnostics]
    return json(error_body("invalid_rules", f"规则有误：共 {len(found)} 处", {"diagnostics": found,
                                                                       "text": error.render()}),
                status=422, ensure_ascii=False)


_SANIC_MESSAGES = {400: "请求格式有误", 404: "没有这个地址", 405: "不支持此请求方法", 413: "请求体过大",
                   408: "请求超时", 503: "服务暂不可用"}


def _sanic_error(_request: Request, error: SanicException) -> HTTPResponse:
    status = getattr(error, "status_code", 500)
    message = _SANIC_MESSAGES.get(status, "请求无法处理")
    return json(error_body(f"http_{status}", message), status=status, ensure_ascii=False)


def _invalid_value(_request: Request, _error: ValidationError) -> HTTPResponse:
    # A value the store cannot hold (a name longer than any name, say): no such thing exists.
    return json(error_body("bad_parameter", "参数值无效或过长"), status=400, ensure_ascii=False)


def _missing(_request: Request, _error: DoesNotExist) -> HTTPResponse:
    return json(error_body("not_found", "没有找到"), status=404, ensure_ascii=False)


def _conflict(_request: Request, _error: IntegrityError) -> HTTPResponse:
    return json(error_body("conflict", "与已有数据冲突，请刷新后重试"), status=409, ensure_ascii=False)


def _unexpected(request: Request, error: Exception) -> HTTPResponse:
    log.exception("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return json(error_body("internal", "服务器内部错误，已记录，请联系管理员"), status=500, ensure_ascii=False)


def install(app: Sanic) -> None:
    app.error_handler.add(ApiError, _api_error)
    app.error_handler.add(DataError, _data_error)
    app.error_handler.add(DslError, _dsl_error)
    app.error_handler.add(SanicException, _sanic_error)
    app.error_handler.add(ValidationError, _invalid_value)
    app.error_handler.add(DoesNotExist, _missing)
    app.error_handler.add(IntegrityError, _conflict)
    app.error_handler.add(Exception, _unexpected)
