"""Silences: matchers over a notice's fields, active between a start and an end.

A matcher value is compared for equality, or as a regular expression when it starts with `~`
(`{"entity": "~xintai|feicheng"}`). Fields: rule, entity, indicator, severity, state, kind, label:<name>.
"""

from __future__ import annotations

import datetime
import re

from notifiers.model import Notice, Silence

FIELDS = ("rule", "entity", "indicator", "severity", "state", "kind")


def field_value(notice: Notice, name: str) -> str:
    if name.startswith("label:"):
        return notice.labels.get(name.removeprefix("label:"), "")
    return str(getattr(notice, name, "") or "") if name in FIELDS else ""


def matches(silence: Silence, notice: Notice) -> bool:
    for name, wanted in silence.matchers.items():
        value = field_value(notice, name)
        if wanted.startswith("~"):
            if re.fullmatch(wanted[1:], value) is None:
                return False
        elif value != wanted:
            return False
    return True


def check_matchers(matchers: dict[str, str]) -> list[str]:
    """Problems with a silence's matchers, in Chinese (empty: fine)."""
    problems = []
    if not matchers:
        problems.append("静默至少需要一个匹配条件")
    for name, wanted in matchers.items():
        if name not in FIELDS and not name.startswith("label:"):
            problems.append(f"未知的匹配字段「{name}」，可选：{'、'.join(FIELDS)}、label:名称")
        if wanted.startswith("~"):
            try:
                re.compile(wanted[1:])
            except re.error as error:
                problems.append(f"「{name}」的正则表达式有误：{error}")
    return problems


def silencing(silences: list[Silence], notice: Notice, now: datetime.datetime) -> Silence | None:
    for silence in silences:
        if silence.starts_at <= now < silence.ends_at and matches(silence, notice):
            return silence
    return None
