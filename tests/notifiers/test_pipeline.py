"""The notification pipeline on the shipped Tai'an rules, with a fake clock: routing, inhibition, silences,
grouping, repeats, quiet hours and rendering."""

from __future__ import annotations

import datetime
from functools import cache

import pytest

from dsl import Model, load
from engine import compile_model
from notifiers import render
from notifiers.model import Notice, ReceiverConfig, Silence
from notifiers.notices import notice_from, rule_tags
from notifiers.pipeline import Dispatcher
from notifiers.routing import receivers_for

T0 = datetime.datetime(2026, 11, 28, 2, 0, tzinfo=datetime.UTC)  # 10:00 in Beijing


@cache
def model() -> Model:
    return load(["rules/taian"])


@cache
def tags() -> dict[str, tuple[str, ...]]:
    return rule_tags(compile_model(model()))


def notice(rule: str = "ind_va_range", entity: str = "xintai", state: str = "firing", severity: str = "warning",
           period: str = "2026-10", alert: int = 1, message: str = "") -> Notice:
    payload = {"alert": alert, "rule": rule, "kind": "rule", "entity": entity, "indicator": None, "period": period,
               "new": state, "severity": severity, "message": message or f"{entity}{period}规上工业增速异常",
               "values": {"ind_va": 25.0}, "thresholds": [-5.0, 20.0]}
    return notice_from(model(), payload, tags(), "https://taishan.example/dash", T0)


def receivers(**overrides: ReceiverConfig) -> dict[str, ReceiverConfig]:
    names = {name for route in model().routes.values() for name in route.receivers}
    found = {name: ReceiverConfig(name, ("json://127.0.0.1:9/hook",)) for name in names}
    return {**found, **overrides}


def test_routes_follow_order_and_continue() -> None:
    county = [name for _, name in receivers_for(model(), notice(entity="xintai"))]
    assert county == ["分管工业副市长", "工业科", "县区统计局"]
    city = [name for _, name in receivers_for(model(), notice(entity="taian", severity="critical"))]
    assert city[:3] == ["市领导", "分管工业副市长", "工业科"] and "县区统计局" not in city
    info = [name for _, name in receivers_for(model(), notice(entity="xintai", severity="info"))]
    assert "分管工业副市长" not in info and "工业科" in info


def test_a_new_group_waits_then_sends_once_and_repeats_while_firing() -> None:
    dispatcher = Dispatcher(model(), receivers())
    dispatcher.add([notice()], [], T0)
    assert dispatcher.due(T0 + datetime.timedelta(seconds=10)) == []
    first = dispatcher.due(T0 + datetime.timedelta(seconds=30))
    assert {m.receiver for m in first} == {"工业科"}  # 30 s wait; the others wait 1–5 minutes
    later = dispatcher.due(T0 + datetime.timedelta(minutes=5))
    assert {m.receiver for m in later} == {"分管工业副市长", "县区统计局"}
    assert dispatcher.due(T0 + datetime.timedelta(hours=1)) == []
    repeats = dispatcher.due(T0 + datetime.timedelta(hours=4, minutes=1))
    assert [m.receiver for m in repeats] == ["工业科"] and "仍在报警" in repeats[0].title


def test_changes_within_the_group_interval_are_batched_and_summarised() -> None:
    dispatcher = Dispatcher(model(), receivers())
    dispatcher.add([notice(alert=1)], [], T0)
    dispatcher.due(T0 + datetime.timedelta(minutes=1))
    dispatcher.add([notice(entity="feicheng", alert=2), notice(entity="ningyang", alert=3)], [],
                   T0 + datetime.timedelta(minutes=2))
    assert [m for m in dispatcher.due(T0 + datetime.timedelta(minutes=3)) if m.receiver == "工业科"] == []
    batch = [m for m in dispatcher.due(T0 + datetime.timedelta(minutes=6)) if m.receiver == "工业科"]
    assert len(batch) == 1 and batch[0].title == "【泰山监测】新增预警2条" and set(batch[0].alert_ids) == {2, 3}


def test_a_city_alert_holds_back_its_counties_and_names_them() -> None:
    dispatcher = Dispatcher(model(), receivers())
    dropped = dispatcher.add([notice(entity="xintai", alert=2), notice(entity="taian", severity="critical", alert=1),
                              notice(entity="feicheng", alert=3)], [], T0)
    assert {(d.notice.entity, d.reason, d.by) for d in dropped} == {("xintai", "inhibited", "taian"),
                                                                   ("feicheng", "inhibited", "taian")}
    sent = dispatcher.due(T0 + datetime.timedelta(minutes=10))
    leaders = next(m for m in sent if m.receiver == "市领导")
    assert "其中新泰市、肥城市也触发此预警" in leaders.body
    assert all(2 not in m.alert_ids for m in sent)


def test_silences_match_fields_and_regular_expressions_while_active() -> None:
    silence = Silence(7, {"rule": "ind_va_range", "entity": "~xintai|feicheng"}, T0, T0 + datetime.timedelta(hours=1),
                      "tongji", "核实中")
    dispatcher = Dispatcher(model(), receivers())
    dropped = dispatcher.add([notice(entity="xintai", alert=1), notice(entity="dongping", alert=2)], [silence], T0)
    assert [(d.notice.entity, d.reason, d.by) for d in dropped] == [("xintai", "silenced", "7")]
    later = dispatcher.add([notice(entity="feicheng", alert=3)], [silence], T0 + datetime.timedelta(hours=2))
    assert later == []


def test_quiet_hours_hold_warnings_but_let_critical_through() -> None:
    night = datetime.datetime(2026, 11, 28, 15, 0, tzinfo=datetime.UTC)  # 23:00 in Beijing
    dispatcher = Dispatcher(model(), receivers())
    dispatcher.add([notice(entity="xintai", alert=1)], [], night)
    held = dispatcher.due(night + datetime.timedelta(minutes=10))
    assert "县区统计局" not in {m.receiver for m in held} and "工业科" in {m.receiver for m in held}
    morning = datetime.datetime(2026, 11, 28, 23, 5, tzinfo=datetime.UTC)  # 07:05
    assert "县区统计局" in {m.receiver for m in dispatcher.due(morning)}
    urgent = Dispatcher(model(), receivers())
    urgent.add([notice(entity="xintai", severity="critical", alert=2)], [], night)
    assert "县区统计局" in {m.receiver for m in urgent.due(night + datetime.timedelta(minutes=10))}


def test_a_receiver_scope_keeps_other_regions_out() -> None:
    scoped = ReceiverConfig("县区统计局", ("json://127.0.0.1:9/x",), scope=frozenset({"xintai", "taian"}))
    dispatcher = Dispatcher(model(), receivers(县区统计局=scoped))
    dispatcher.add([notice(entity="dongping", alert=5), notice(entity="xintai", alert=6)], [], T0)
    county = [m for m in dispatcher.due(T0 + datetime.timedelta(hours=1)) if m.receiver == "县区统计局"]
    assert [m.alert_ids for m in county] == [(6,)]


def test_the_same_flush_replayed_has_the_same_dedup_key() -> None:
    keys = []
    for _ in range(2):
        dispatcher = Dispatcher(model(), receivers())
        dispatcher.add([notice()], [], T0)
        keys.append(sorted(m.dedup_key for m in dispatcher.due(T0 + datetime.timedelta(hours=1))))
    assert keys[0] == keys[1] and len(set(keys[0])) == len(keys[0])


def test_resolved_messages_say_so_with_the_value_at_recovery() -> None:
    dispatcher = Dispatcher(model(), receivers())
    dispatcher.add([notice(state="resolved", message="【已恢复】新泰市2026年11月规上工业增加值增长6.0%")], [], T0)
    message = next(m for m in dispatcher.due(T0 + datetime.timedelta(hours=1)) if m.receiver == "工业科")
    assert message.title.startswith("【已恢复】") and "6.0%" in message.body


@pytest.mark.parametrize("url", ["wecombot://key", "wechat://corp/secret/agent", "dingtalk://token"])
def test_long_groups_are_cut_to_the_target_limit_with_a_link(url: str) -> None:
    fmt = render.target_format(url)
    many = [notice(entity="xintai", alert=i, message="新泰市" + "规上工业增加值增长异常，" * 20) for i in range(300)]
    text = render.body(many, {}, fmt, link="https://taishan.example/dash/alerts")
    assert len(text.encode()) <= fmt.max_bytes
    assert "另有" in text and "https://taishan.example/dash/alerts" in text


def test_markdown_targets_escape_markup_and_text_targets_have_none() -> None:
    tricky = notice(message="增速*3_倍 [见](x)")
    markdown = render.body([tricky], {}, render.target_format("dingtalk://t"))
    assert "增速\\*3\\_倍 \\[见\\](x)" in markdown and "### " in markdown
    text = render.body([tricky], {}, render.target_format("wecombot://k"))
    assert "###" not in text and "**" not in text and "增速*3_倍" in text


def test_a_digest_lists_new_ongoing_resolved_and_explanations_once_per_label() -> None:
    from notifiers.digest import DigestContent, digest_message

    receiver = ReceiverConfig("工业科", ("mailto://u:p@127.0.0.1",))
    content = DigestContent("11月28日", new=[notice(alert=1)], ongoing=[notice(entity="feicheng", alert=2)],
                            resolved=[notice(entity="ningyang", state="resolved", alert=3)],
                            explanations=[(notice(entity="feicheng", alert=2), "新投产企业拉动")])
    message = digest_message(receiver, content)
    assert message is not None and "新增1条，仍在报警1条，恢复1条" in message.title
    assert "新投产企业拉动" in message.body and message.alert_ids == (1, 2, 3)
    again = digest_message(receiver, content)
    assert again is not None and again.dedup_key == message.dedup_key
    assert digest_message(receiver, DigestContent("11月29日")) is None
