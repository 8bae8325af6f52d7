"""The daily and monthly digest for a receiver: what is new, what still fires, what ended, and what the
statisticians said about it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from notifiers import render
from notifiers.model import Message, Notice, ReceiverConfig


@dataclass
class DigestContent:
    label: str  # "11月28日" or "2026年11月"
    new: list[Notice] = field(default_factory=list)
    ongoing: list[Notice] = field(default_factory=list)
    resolved: list[Notice] = field(default_factory=list)
    explanations: list[tuple[Notice, str]] = field(default_factory=list)  # (alert, the note)


def digest_message(receiver: ReceiverConfig, content: DigestContent, link: str = "") -> Message | None:
    """None when there is nothing to tell."""
    if not (content.new or content.ongoing or content.resolved or content.explanations):
        return None
    fmt = render.strictest(receiver.urls, receiver.max_bytes)
    markdown = fmt.body_format == "markdown"
    title = (f"【泰山监测·{content.label}】新增{len(content.new)}条，仍在报警{len(content.ongoing)}条，"
             f"恢复{len(content.resolved)}条")
    lines = [f"### {title}"] if markdown else []
    for heading, notices in (("新增", content.new), ("仍在报警", content.ongoing), ("已恢复", content.resolved)):
        if notices:
            lines.append(f"**{heading}**" if markdown else f"{heading}：")
            lines += [render.line(n, [], markdown) for n in notices]
    if content.explanations:
        lines.append("**情况说明**" if markdown else "情况说明：")
        lines += [f"- {n.entity_name} {n.rule_title}：{note}" for n, note in content.explanations]
    body = render.fit(lines, fmt.max_bytes, link, markdown)
    ids = tuple(n.alert_id for n in content.new + content.ongoing + content.resolved)
    dedup = hashlib.sha256(f"digest|{receiver.name}|{content.label}".encode()).hexdigest()
    worst = "critical" if any(n.severity == "critical" for n in content.new + content.ongoing) else "info"
    return Message(receiver=receiver.name, group_key=f"digest|{receiver.name}", title=title, body=body,
                   body_format=fmt.body_format, dedup_key=dedup, alert_ids=ids, severity=worst)
