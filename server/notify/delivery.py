"""Sending one rendered message to a receiver's Apprise URLs, with each target's outcome.

Every target gets its own `apprise.Apprise()` so its outcome maps back to it without guessing from Apprise's
dispatch order; the targets of one message are sent concurrently. Retries are the outbox's (with backoff and a
record of each attempt), so no URL should carry Apprise's own `?retry=`.

WeCom app messages (`wechat://`) take `?base=https://host` for the government deployments that mirror the
WeCom API on their own host (山东通, 政务微信): the plugin's token and send endpoints move there.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from apprise.plugins.wechat import NotifyWeChat

FORMATS = {"text": apprise.NotifyFormat.TEXT, "markdown": apprise.NotifyFormat.MARKDOWN,
           "html": apprise.NotifyFormat.HTML}
WECOM_TOKEN_PATH = "/cgi-bin/gettoken"
WECOM_SEND_PATH = "/cgi-bin/message/send"


@dataclass(frozen=True)
class TargetResult:
    target: int  # index into the receiver's URLs
    url: str  # as Apprise prints it with secrets hidden, safe to store and show
    service: str
    status: str  # SUCCESS | FAILURE | TIMEOUT | INVALID
    elapsed: float
    error: str

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS"

    def as_dict(self) -> dict:
        return asdict(self)


def with_format(url: str, body_format: str) -> str:
    """The URL with the receiver's format override (Apprise's `format=` argument), unless it sets one."""
    if not body_format:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == "format" for k, _ in query):
        return url
    return urlunsplit(parts._replace(query=urlencode([*query, ("format", body_format)])))


def instantiate(url: str) -> apprise.plugins.NotifyBase | None:
    """The Apprise plugin for a URL, or None when Apprise does not accept it."""
    base = ""
    parts = urlsplit(url)
    if parts.scheme == "wechat":
        query = parse_qsl(parts.query, keep_blank_values=True)
        base = dict(query).get("base", "").rstrip("/")
        url = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "base"])))
    plugin = apprise.Apprise.instantiate(url)
    if isinstance(plugin, NotifyWeChat) and base:
        plugin.token_url = base + WECOM_TOKEN_PATH
        plugin.notify_url = base + WECOM_SEND_PATH
    return plugin


def check_url(url: str) -> str | None:
    """A Chinese reason why Apprise would not accept the URL, or None."""
    if "://" not in url:
        return "不是 Apprise 地址（缺少 scheme://）"
    if urlsplit(url).scheme == "wecom":
        return "wecom:// 是 PushPlus，不是企业微信：应用消息用 wechat://，群机器人用 wecombot://"
    if instantiate(url) is None:
        return "Apprise 无法识别该地址，请检查格式（见 docs/receivers.md）"
    return None


async def send(urls: list[str], targets: list[int], title: str, body: str, body_format: str,
               timeout: float) -> list[TargetResult]:
    """Send to `urls[i]` for each i in `targets`, concurrently; one result per target."""
    return list(await asyncio.gather(*(_send_one(i, urls[i], title, body, body_format, timeout) for i in targets)))


async def _send_one(index: int, url: str, title: str, body: str, body_format: str, timeout: float) -> TargetResult:
    plugin = instantiate(url)
    if plugin is None:
        return TargetResult(index, urlsplit(url).scheme + "://***", "", "INVALID", 0.0, "Apprise 无法识别该地址")
    sender = apprise.Apprise()
    sender.add(plugin)
    result = await sender.async_notify(title=title, body=body, body_format=FORMATS.get(body_format, "text"),
                                       timeout=timeout)
    outcome = result.results[0] if result.results else None
    if outcome is None:  # NOMATCH, or Apprise refused the call itself
        return TargetResult(index, plugin.url(privacy=True), plugin.service_name, result.status.name,
                            result.elapsed, _last_error(result.logs()) or "Apprise 未发送")
    error = "" if outcome else _last_error(outcome.logs()) or f"发送失败（{outcome.status.name}）"
    return TargetResult(index, outcome.url, outcome.name, outcome.status.name, round(outcome.elapsed, 3), error)


def _last_error(logs: object) -> str:
    messages = [entry.message for entry in logs if entry.level in ("WARNING", "ERROR")]  # type: ignore[attr-defined]
    return messages[-1][:500] if messages else ""
