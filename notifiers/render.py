"""Messages as a leader reads them: short Chinese text, in each target's format and within its length.

Text targets get clean text, markdown targets markdown. A message over the target's limit is cut at a
whole line and ends with how many more there are and the link, never with an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifiers.model import Notice

SEVERITY_NAMES = {"info": "提示", "warning": "预警", "critical": "严重"}


@dataclass(frozen=True)
class TargetFormat:
    body_format: str  # text | markdown
    max_bytes: int  # UTF-8 bytes of the body


# By Apprise URL scheme. WeCom's bot and app messages are text up to 2,048 bytes; DingTalk takes
# markdown up to 20,000 bytes; Feishu/Lark text up to 30,000 (kept well under); mail is generous.
FORMATS = {
    "wecombot": TargetFormat("text", 2048),
    "wechat": TargetFormat("text", 2048),
    "wxwork": TargetFormat("text", 2048),
    "dingtalk": TargetFormat("markdown", 20000),
    "feishu": TargetFormat("text", 20000),
    "lark": TargetFormat("text", 20000),
    "mailto": TargetFormat("text", 100_000),
    "mailtos": TargetFormat("text", 100_000),
    "json": TargetFormat("text", 100_000),
    "jsons": TargetFormat("text", 100_000),
}
DEFAULT_FORMAT = TargetFormat("text", 4000)


def target_format(url: str, max_bytes: int | None = None) -> TargetFormat:
    found = FORMATS.get(url.split("://", 1)[0].lower(), DEFAULT_FORMAT)
    return TargetFormat(found.body_format, min(found.max_bytes, max_bytes)) if max_bytes else found


def strictest(urls: tuple[str, ...], max_bytes: int | None = None) -> TargetFormat:
    """One body for every URL of a receiver: markdown only if all take it, the smallest limit of them."""
    formats = [target_format(u, max_bytes) for u in urls] or [DEFAULT_FORMAT]
    body = "markdown" if all(f.body_format == "markdown" for f in formats) else "text"
    return TargetFormat(body, min(f.max_bytes for f in formats))


def title(notices: list[Notice], reminder: bool = False) -> str:
    firing = [n for n in notices if n.state == "firing"]
    resolved = len(notices) - len(firing)
    if len(notices) == 1:
        n = notices[0]
        fresh = "仍在报警" if reminder else SEVERITY_NAMES.get(n.severity, "预警")
        state = "已恢复" if n.state == "resolved" else fresh
        return f"【{state}】{n.entity_name} {n.rule_title}"
    parts = [f"{'仍在报警' if reminder else '新增预警'}{len(firing)}条"] if firing else []
    parts += [f"恢复{resolved}条"] if resolved else []
    return "【泰山监测】" + "，".join(parts)


def line(notice: Notice, held: list[str], markdown: bool) -> str:
    severity = "恢复" if notice.state == "resolved" else SEVERITY_NAMES.get(notice.severity, "预警")
    text = notice.message or f"{notice.entity_name}{notice.period} {notice.rule_title}"
    if notice.state == "resolved":
        text = text.removeprefix("【已恢复】")  # the tag in front says so already
    if held:
        text += f"（其中{'、'.join(held)}也触发此预警）"
    if markdown:
        link = f" [查看]({notice.link})" if notice.link else ""
        return f"- **[{severity}]** {_md(text)}{link}"
    return f"[{severity}] {text}"


def body(notices: list[Notice], held: dict[int, list[str]], fmt: TargetFormat, link: str = "",
         reminder: bool = False) -> str:
    markdown = fmt.body_format == "markdown"
    lines = [line(n, held.get(n.alert_id, []), markdown) for n in notices]
    if len(notices) == 1 and notices[0].hint and notices[0].state == "firing":
        lines.append(f"处理建议：{notices[0].hint}")
    more_link = link or (notices[0].link if len(notices) == 1 else "")
    if not markdown and len(notices) == 1 and notices[0].link:
        lines.append(f"查看：{notices[0].link}")
    head = f"### {title(notices, reminder)}" if markdown else ""
    return fit([head, *lines] if head else lines, fmt.max_bytes, more_link, markdown)


def fit(lines: list[str], max_bytes: int, link: str, markdown: bool) -> str:
    """Whole lines while they fit, then "……另有N条" and the link."""
    text = "\n".join(lines)
    if len(text.encode()) <= max_bytes:
        return text
    kept: list[str] = []
    for i, current in enumerate(lines):
        after = len(lines) - i - 1
        if len("\n".join([*kept, current, _tail(after, link, markdown)]).encode()) > max_bytes:
            return _cut("\n".join([*kept, _tail(after + 1, link, markdown)]), max_bytes)
        kept.append(current)
    return "\n".join(kept)


def _tail(rest: int, link: str, markdown: bool) -> str:
    more = f"……另有{rest}条" if rest else "……"
    if not link:
        return more
    return f"{more}，[查看全部]({link})" if markdown else f"{more}，查看全部：{link}"


def _cut(text: str, max_bytes: int) -> str:
    """A last resort for one line longer than the limit: cut on a character boundary."""
    data = text.encode()
    return text if len(data) <= max_bytes else data[: max_bytes - 3].decode(errors="ignore") + "…"


def _md(text: str) -> str:
    # Markdown targets must not read a value like 3*4 or a rule name with underscores as markup.
    for char in "\\`*_[]":
        text = text.replace(char, "\\" + char)
    return text
