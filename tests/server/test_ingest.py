"""Ingestion on all three back ends: vintages, idempotence, atomicity, and alerts with their history."""

from __future__ import annotations

import pytest

from engine import DataError
from server.service import Service
from server.store.models import Alert, AlertTransition, Event, ImportBatch, Observation


def row(value: float, period: str = "2026-10", entity: str = "xintai", indicator: str = "ind_va") -> dict:
    return {"indicator": indicator, "entity": entity, "period": period, "value": value}


async def test_a_changed_value_adds_a_vintage_and_a_resent_one_adds_nothing(service: Service) -> None:
    first = await service.ingest([row(6.0)], source="api")
    assert [a["vintage"] for a in first.accepted] == [1]
    again = await service.ingest([row(6.0)], source="api")
    assert again.accepted == [] and again.unchanged == 1
    revised = await service.ingest([row(7.5)], source="api")
    assert [a["vintage"] for a in revised.accepted] == [2]
    stored = await Observation.filter(indicator="ind_va", entity="xintai").order_by("vintage").values_list(
        "value", "vintage")
    assert stored == [(6.0, 1), (7.5, 2)]
    assert await ImportBatch.all().count() == 3


async def test_an_alert_is_raised_stored_with_provenance_and_resolved(service: Service) -> None:
    raised = await service.ingest([row(6.0, "2026-09"), row(25.0)], source="api")
    assert [(t["entity"], t["period"], t["new"]) for t in raised.transitions if t["rule"] == "ind_va_range"] == [
        ("xintai", "2026-10", "firing")]
    alert = await Alert.get(rule="ind_va_range", entity="xintai")
    assert (alert.state, alert.severity, alert.period) == ("firing", "warning", "2026-10")
    story = await AlertTransition.filter(alert_id=alert.id).values_list("period", "new", "values", "ruleset_version")
    assert story[0][:2] == ("2026-10", "firing") and story[0][2]["ind_va"] == 25.0 and story[0][3] == 1
    # Revising the value away resolves the alert, with the reason.
    revised = await service.ingest([row(5.0)], source="api")
    assert [(t["new"], t["reason"]) for t in revised.transitions if t["rule"] == "ind_va_range"] == [
        ("resolved", "revised")]
    await alert.refresh_from_db()
    assert alert.state == "resolved"
    events = await Event.all().order_by("id").values_list("kind", "payload")
    assert [kind for kind, _ in events].count("data") == 2
    assert [p["new"] for kind, p in events if kind == "transition" and p["rule"] == "ind_va_range"] == [
        "firing", "resolved"]


async def test_a_bad_row_rejects_the_whole_batch(service: Service) -> None:
    with pytest.raises(DataError) as caught:
        await service.ingest([row(6.0), row("abc", "2026-09"), row(1.0, entity="nowhere")], source="api")
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "value"), (3, "entity")]
    assert await Observation.all().count() == 0 and await ImportBatch.all().count() == 0


async def test_periods_that_have_not_ended_are_refused(service: Service) -> None:
    with pytest.raises(DataError) as caught:
        await service.ingest([row(6.0, "2026-11")], source="api")
    assert caught.value.errors[0].column == "period" and "尚未结束" in caught.value.errors[0].reason


async def test_the_same_key_twice_with_different_values_is_refused(service: Service) -> None:
    with pytest.raises(DataError) as caught:
        await service.ingest([row(6.0), row(7.0)], source="api")
    assert caught.value.errors[0].row == 2


async def test_a_second_worker_catches_up_before_it_evaluates(store: str) -> None:
    one, two = Service(["rules/taian"]), Service(["rules/taian"])
    await one.start()
    await two.start()
    await one.ingest([row(25.0)], source="api")  # firing, seen only by the first worker's engine
    result = await two.ingest([row(5.0)], source="api")  # the second must know 25 was there to resolve it
    assert [(t["new"], t["reason"]) for t in result.transitions if t["rule"] == "ind_va_range"] == [
        ("resolved", "revised")]
