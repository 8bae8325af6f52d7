"""Reading query arguments into typed values, with a clear 400 when one is wrong."""

from __future__ import annotations

import datetime

from sanic import Request

from engine.periods import Period, PeriodError
from server.api.errors import ApiError


def many(request: Request, name: str) -> list[str]:
    """`?entity=a&entity=b` or `?entity=a,b`."""
    return [part.strip() for value in request.args.getlist(name, []) for part in value.split(",") if part.strip()]


def integer(request: Request, name: str, default: int | None = None, low: int = 0, high: int = 10**9) -> int | None:
    value = request.args.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"参数 {name} 应为整数，收到「{value}」") from None
    if not low <= number <= high:
        raise ApiError(400, "bad_parameter", f"参数 {name} 应在 {low} 到 {high} 之间")
    return number


def period(request: Request, name: str) -> str | None:
    value = request.args.get(name)
    if value in (None, ""):
        return None
    try:
        return str(Period.parse(value))
    except PeriodError as error:
        raise ApiError(400, "bad_parameter", f"参数 {name}：{error}") from None


def moment(request: Request, name: str) -> datetime.datetime | None:
    """A date (the end of that day, Beijing time) or a full ISO timestamp."""
    value = request.args.get(name)
    if value in (None, ""):
        return None
    beijing = datetime.timezone(datetime.timedelta(hours=8))
    try:
        if len(value) == 10:
            day = datetime.date.fromisoformat(value)
            return datetime.datetime.combine(day, datetime.time.max, tzinfo=beijing).astimezone(datetime.UTC)
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"参数 {name} 应为日期（2026-05-01）或时间，收到「{value}」") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=beijing)).astimezone(datetime.UTC)


def json_object(request: Request) -> dict:
    try:
        body = request.json
    except Exception:
        raise ApiError(400, "bad_json", "请求体不是合法的 JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "请求体应为 JSON 对象")
    return body
