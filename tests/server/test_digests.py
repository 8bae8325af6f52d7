"""Daily and monthly digests on a fake clock, delivered to a local JSON receiver: the counts, the explanation
text, only what each receiver's routes bring it, and one digest however often it is scheduled."""

from __future__ import annotations

import datetime

import pytest

from notifiers.pipeline import BEIJING
from server.notify.digests import DigestScheduler, scheduled, send_digest
from server.notify.outbox import OutboxWorker
from server.service import Service
from server.store.models import Alert, AlertNote, AlertTransition, OutboxMessage
from tests.server.receivers import HttpReceiver
from tests.server.test_dispatch import INDUSTRY_OFFICE, add_route_receivers, arrived, receiver, row
from tests.server.test_outbox import FAST, until_settled

__all__ = ["receiver"]  # the fixture
DAY = datetime.date(2026, 11, 27)
EXPLANATION = "新入规企业集中投产，已核实"


def beijing(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), BEIJING)


async def a_day_of_alerts(service: Service) -> None:
    """On the 27th: xintai and feicheng fire at 09:00, xintai recovers at 15:00, feicheng is explained at 16:00."""
    await service.ingest([row("xintai", "2026-09", 25.0), row("feicheng", "2026-09", 22.0)], source="api")
    await AlertTransition.all().update(created_at=beijing(DAY, 9))
    fired = max(await AlertTransition.all().values_list("id", flat=True))
    await service.ingest([row("xintai", "2026-10", 10.0)], source="api")
    await AlertTransition.filter(id__gt=fired).update(created_at=beijing(DAY, 15))
    feicheng = await Alert.get(rule="ind_va_range", entity="feicheng")
    note = await AlertNote.create(alert=feicheng, action="explain", note=EXPLANATION,
                                  expires=datetime.date(2026, 12, 31), user="zhang")
    await AlertNote.filter(id=note.id).update(created_at=beijing(DAY, 16))


def midnight(day: datetime.date) -> datetime.datetime:
    return beijing(day, 0)


@pytest.mark.parametrize(("now", "sent_on", "covered"), [
    (beijing(DAY, 7, 59), datetime.date(2026, 11, 26), "2026年11月25日"),
    (beijing(DAY, 8), DAY, "2026年11月26日"),
    (beijing(datetime.date(2027, 1, 1), 9), datetime.date(2027, 1, 1), "2026年12月31日"),
])
def test_the_daily_digest_is_sent_at_eight_for_the_day_before(now: datetime.datetime, sent_on: datetime.date,
                                                               covered: str) -> None:
    at, win = scheduled("daily", now)
    assert at == beijing(sent_on, 8) and win.label == covered
    assert (win.start, win.end) == (midnight(sent_on - datetime.timedelta(days=1)), midnight(sent_on))


@pytest.mark.parametrize(("now", "sent_on", "covered"), [
    (beijing(datetime.date(2026, 12, 1), 7, 59), datetime.date(2026, 11, 1), "2026年10月"),
    (beijing(datetime.date(2026, 12, 1), 8), datetime.date(2026, 12, 1), "2026年11月"),
    (beijing(datetime.date(2027, 1, 20), 3), datetime.date(2027, 1, 1), "2026年12月"),
])
def test_the_monthly_digest_is_sent_on_the_first_for_the_month_before(now: datetime.datetime,
                                                                       sent_on: datetime.date, covered: str) -> None:
    at, win = scheduled("monthly", now)
    assert at == beijing(sent_on, 8) and win.label == covered
    assert win.end == midnight(sent_on)


async def test_a_daily_digest_arrives_once_with_its_counts_and_explanations(service: Service, store: str,
                                                                           receiver: HttpReceiver) -> None:
    paths = await add_route_receivers(service, receiver)
    await a_day_of_alerts(service)
    morning = beijing(DAY + datetime.timedelta(days=1), 8, 0) + datetime.timedelta(seconds=30)
    scheduler = DigestScheduler(service)
    assert await scheduler.step(morning - datetime.timedelta(minutes=5)) == 0  # the 26th's: nothing to tell
    assert await scheduler.step(morning) > 0
    # Scheduled again: by this worker, by a second one, and on demand; the outbox keeps one.
    assert await scheduler.step(morning + datetime.timedelta(minutes=1)) == 0
    assert await DigestScheduler(service).step(morning + datetime.timedelta(minutes=2)) == 0
    again = await send_digest(service, INDUSTRY_OFFICE, "daily", DAY, now=morning)
    assert again.message is not None and not again.queued
    await until_settled(OutboxWorker(store, FAST))
    [digest] = arrived(receiver, paths[INDUSTRY_OFFICE])
    assert digest.startswith("【泰山监测·2026年11月27日】新增2条，仍在报警1条，恢复1条")
    assert "新增：\n[预警] 新泰市2026年9月" in digest and "仍在报警：\n[预警] 肥城市2026年9月" in digest
    assert "已恢复：\n[恢复] 新泰市2026年10月规模以上工业增加值增长10.0%" in digest
    assert f"情况说明：\n- 肥城市 规上工业增速超出合理区间：{EXPLANATION}（说明有效至2026-12-31）" in digest
    assert arrived(receiver, paths["市领导"]) == []  # its route takes critical city alerts only


async def test_the_monthly_digest_and_the_daily_of_the_last_day(sqlite_service: Service, sqlite_store: str,
                                                                receiver: HttpReceiver) -> None:
    paths = await add_route_receivers(sqlite_service, receiver)
    await a_day_of_alerts(sqlite_service)
    assert await DigestScheduler(sqlite_service).step(beijing(datetime.date(2026, 12, 1), 8, 1)) > 0
    await until_settled(OutboxWorker(sqlite_store, FAST))
    titles = sorted(m.split("\n")[0] for m in arrived(receiver, paths[INDUSTRY_OFFICE]))
    assert titles == ["【泰山监测·2026年11月30日】新增0条，仍在报警1条，恢复0条",
                      "【泰山监测·2026年11月】新增2条，仍在报警1条，恢复1条"]
    county = [m for m in arrived(receiver, paths["县区统计局"]) if "2026年11月】" in m]
    assert len(county) == 1 and EXPLANATION in county[0]  # the county bureaus' route reaches feicheng too


async def test_a_digest_missed_by_more_than_a_day_is_left_to_be_asked_for(sqlite_service: Service,
                                                                         sqlite_store: str,
                                                                         receiver: HttpReceiver) -> None:
    await add_route_receivers(sqlite_service, receiver)
    await a_day_of_alerts(sqlite_service)
    now = beijing(datetime.date(2026, 12, 3), 9)
    assert await DigestScheduler(sqlite_service).step(now) > 0  # the 2nd's
    assert not await OutboxMessage.filter(title__contains="2026年11月】").exists()
    sent = await send_digest(sqlite_service, INDUSTRY_OFFICE, "monthly", datetime.date(2026, 11, 15), now=now)
    assert sent.queued and sent.message is not None and sent.message.title.startswith("【泰山监测·2026年11月】")
    with pytest.raises(LookupError):
        await send_digest(sqlite_service, "无此接收方", "daily", DAY, now=now)
    with pytest.raises(ValueError, match="未知的摘要类型"):
        await send_digest(sqlite_service, INDUSTRY_OFFICE, "weekly", DAY, now=now)
    with pytest.raises(ValueError, match="2026年12月尚未结束"):
        await send_digest(sqlite_service, INDUSTRY_OFFICE, "monthly", datetime.date(2026, 12, 1), now=now)
