"""The real Dispatcher end to end: data raises alerts in a Service, the dispatch loop runs on a fake clock past
the shipped routes' group waits, the outbox worker sends, and the tests read what ARRIVED at a local JSON
receiver: hierarchy inhibition, silences, quiet hours, recoveries, and each message once."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterator

import pytest

from dsl import Model
from server.notify.dispatch import DispatchLoop
from server.notify.outbox import OutboxWorker, encode_urls
from server.service import Service
from server.store.models import NotifyCursor, OutboxMessage, Receiver, Silence
from tests.server.receivers import HttpReceiver, http_receiver
from tests.server.test_outbox import FAST, until_settled

T0 = datetime.datetime(2026, 11, 28, 2, 0, tzinfo=datetime.UTC)  # 10:00 in Beijing
PAST_WAITS = datetime.timedelta(minutes=6)  # the shipped routes wait at most 5 minutes for a group's first batch
INDUSTRY_OFFICE = "工业科"
COUNTY_BUREAUS = "县区统计局"
DEPUTY = "分管工业副市长"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as r:
        yield r


def row(entity: str, period: str, value: float, indicator: str = "ind_va") -> dict:
    return {"indicator": indicator, "entity": entity, "period": period, "value": value}


def route_receivers(model: Model) -> list[str]:
    return sorted({name for route in model.routes.values() for name in route.receivers})


async def add_route_receivers(service: Service, receiver: HttpReceiver) -> dict[str, str]:
    """A Receiver row for every receiver the shipped routes name, each posting to its own path; name → path."""
    assert service.model is not None
    paths = {name: f"/r{i}" for i, name in enumerate(route_receivers(service.model))}
    for name, path in paths.items():
        await Receiver.create(name=name, urls=encode_urls([receiver.url + path]), created_by="tester")
    return paths


def arrived(receiver: HttpReceiver, path: str) -> list[str]:
    """Each message that arrived at one receiver, as its title and body."""
    return [f"{b['title']}\n{b['message']}" for b in receiver.bodies(path)]


async def deliver(store: str, loop: DispatchLoop, *times: datetime.datetime) -> None:
    for at in times:
        await loop.step(at)
    await until_settled(OutboxWorker(store, FAST))


async def assert_each_arrived_once(receiver: HttpReceiver) -> None:
    sent = await OutboxMessage.filter(status="sent").count()
    seen = Counter((a.path, a.body["title"], a.body["message"]) for a in receiver.arrivals)
    assert len(receiver.arrivals) == sent and max(seen.values(), default=1) == 1, seen


async def test_a_city_alert_names_its_counties_and_a_replay_sends_nothing_again(
        sqlite_service: Service, sqlite_store: str, receiver: HttpReceiver) -> None:
    paths = await add_route_receivers(sqlite_service, receiver)
    await sqlite_service.ingest([row("taian", "2026-09", 24.0), row("xintai", "2026-09", 25.0),
                                 row("feicheng", "2026-09", 22.0)], source="api")
    loop = DispatchLoop(sqlite_service, name="dispatcher")
    await deliver(sqlite_store, loop, T0, T0 + datetime.timedelta(seconds=20))
    assert receiver.arrivals == []  # every group still waits
    await deliver(sqlite_store, loop, T0 + PAST_WAITS)
    [office] = arrived(receiver, paths[INDUSTRY_OFFICE])
    assert "泰安市2026年9月规模以上工业增加值增长24.0%" in office
    assert "其中新泰市、肥城市也触发此预警" in office and "新泰市2026年9月规模以上" not in office
    [deputy] = arrived(receiver, paths[DEPUTY])
    assert "其中新泰市、肥城市也触发此预警" in deputy
    assert not any("规模以上工业" in m for m in arrived(receiver, paths[COUNTY_BUREAUS]))  # held back
    assert arrived(receiver, paths["市领导"]) == []  # a warning; the leaders get critical city alerts only
    await assert_each_arrived_once(receiver)
    assert (await NotifyCursor.get(id=1)).last_event_id > 0  # nothing waits in a group any more
    # Another worker taking over replays every event: the dedup keys keep what arrived from arriving again.
    count = len(receiver.arrivals)
    await NotifyCursor.filter(id=1).update(last_event_id=0, held_until=T0)  # the lease ran out
    other = DispatchLoop(sqlite_service, name="other")
    await deliver(sqlite_store, other, T0 + PAST_WAITS * 2, T0 + PAST_WAITS * 3)
    assert other.dispatcher is not None and len(receiver.arrivals) == count


async def test_a_restarted_dispatcher_still_holds_back_the_counties_of_a_firing_city(
        sqlite_service: Service, sqlite_store: str, receiver: HttpReceiver) -> None:
    paths = await add_route_receivers(sqlite_service, receiver)
    await sqlite_service.ingest([row("taian", "2026-09", 24.0)], source="api")
    await deliver(sqlite_store, DispatchLoop(sqlite_service, name="before"), T0, T0 + PAST_WAITS)
    await NotifyCursor.filter(id=1).update(held_until=T0)  # the worker died; its lease ran out
    await sqlite_service.ingest([row("xintai", "2026-09", 25.0)], source="api")
    later = T0 + PAST_WAITS * 2
    after = DispatchLoop(sqlite_service, name="after")
    await deliver(sqlite_store, after, later, later + PAST_WAITS)
    assert after.dispatcher is not None and (await NotifyCursor.get(id=1)).holder == "after"
    assert not any("新泰市2026年9月规模以上" in m for p in paths.values() for m in arrived(receiver, p))


async def test_a_silence_holds_back_its_alert_and_counts_it(sqlite_service: Service, sqlite_store: str,
                                                            receiver: HttpReceiver) -> None:
    paths = await add_route_receivers(sqlite_service, receiver)
    silence = await Silence.create(matchers={"entity": "feicheng", "rule": "ind_va_range"},
                                   starts_at=T0 - datetime.timedelta(hours=1), ends_at=T0 + datetime.timedelta(days=1),
                                   created_by="zhang", comment="企业搬迁，已核实")
    await sqlite_service.ingest([row("xintai", "2026-09", 25.0), row("feicheng", "2026-09", 22.0)], source="api")
    await deliver(sqlite_store, DispatchLoop(sqlite_service), T0, T0 + PAST_WAITS)
    everything = [m for p in paths.values() for m in arrived(receiver, p)]
    assert any("新泰市2026年9月规模以上工业增加值增长25.0%" in m for m in everything)
    assert not any("肥城市2026年9月规模以上" in m for m in everything)
    assert (await Silence.get(id=silence.id)).matched_count == 1
    await assert_each_arrived_once(receiver)


async def test_quiet_hours_hold_a_warning_at_night_and_let_it_through_in_the_morning(
        sqlite_service: Service, sqlite_store: str, receiver: HttpReceiver) -> None:
    paths = await add_route_receivers(sqlite_service, receiver)
    night = datetime.datetime(2026, 11, 28, 15, 0, tzinfo=datetime.UTC)  # 23:00 in Beijing
    await sqlite_service.ingest([row("xintai", "2026-09", 25.0)], source="api")
    loop = DispatchLoop(sqlite_service)
    await deliver(sqlite_store, loop, night, night + PAST_WAITS, night + datetime.timedelta(hours=7))

    def industry(name: str) -> list[str]:  # the first message, not the office's reminders every 4 hours
        return [m for m in arrived(receiver, paths[name]) if m.startswith("【预警】新泰市 规上工业增速")]

    assert len(industry(INDUSTRY_OFFICE)) == 1  # the office's route has no quiet hours
    assert industry(DEPUTY) == [] and industry(COUNTY_BUREAUS) == []  # 22:00-07:00, and a warning
    morning = datetime.datetime(2026, 11, 28, 23, 5, tzinfo=datetime.UTC)  # 07:05 in Beijing
    await deliver(sqlite_store, loop, morning)
    assert len(industry(DEPUTY)) == 1 and len(industry(COUNTY_BUREAUS)) == 1
    await deliver(sqlite_store, loop, morning + PAST_WAITS)
    await assert_each_arrived_once(receiver)


async def test_a_resolved_alert_carries_the_value_at_recovery(sqlite_service: Service, sqlite_store: str,
                                                              receiver: HttpReceiver) -> None:
    paths = await add_route_receivers(sqlite_service, receiver)
    await sqlite_service.ingest([row("xintai", "2026-09", 25.0)], source="api")
    loop = DispatchLoop(sqlite_service)
    await deliver(sqlite_store, loop, T0, T0 + PAST_WAITS)
    await sqlite_service.ingest([row("xintai", "2026-10", 10.0)], source="api")
    later = T0 + datetime.timedelta(hours=1)
    await deliver(sqlite_store, loop, later, later + datetime.timedelta(minutes=31))  # past every group_interval
    for name in (INDUSTRY_OFFICE, DEPUTY, COUNTY_BUREAUS):
        [fired, ended] = [m for m in arrived(receiver, paths[name]) if "规模以上工业增加值" in m]
        assert "25.0%" in fired and fired.startswith("【预警】新泰市")
        assert ended.startswith("【已恢复】新泰市 规上工业增速超出合理区间")
        assert "新泰市2026年10月规模以上工业增加值增长10.0%" in ended
    await assert_each_arrived_once(receiver)


async def test_a_receiver_scoped_to_a_county_hears_only_of_its_region(sqlite_service: Service, sqlite_store: str,
                                                                      receiver: HttpReceiver) -> None:
    paths = await add_route_receivers(sqlite_service, receiver)
    await Receiver.filter(name="县区统计局").update(scope=["xintai"])
    await sqlite_service.ingest([row("xintai", "2026-09", 25.0), row("dongping", "2026-09", 23.0)], source="api")
    await deliver(sqlite_store, DispatchLoop(sqlite_service), T0, T0 + PAST_WAITS)
    county = arrived(receiver, paths["县区统计局"])
    assert any("新泰市" in m for m in county) and not any("东平县" in m for m in county)
    industry = arrived(receiver, paths["工业科"])
    assert any("东平县" in m for m in industry)  # an unscoped receiver hears of both
