"""Alert transitions from the engine into the store: one alert per (rule, entity, indicator), each with the
history of its transitions, and the people's workflow reopened by a new firing."""

from __future__ import annotations

from collections.abc import Sequence

from dsl import Model
from engine import Transition
from server.store.models import Alert, AlertNote, AlertTransition, Event, ImportBatch

AlertKey = tuple[str, str, str]  # rule, entity, indicator ("" when the rule has none)


def key_of(t: Transition) -> AlertKey:
    return t.rule, t.entity, t.indicator or ""


def _key(alert: Alert) -> AlertKey:
    return alert.rule, alert.entity, alert.indicator


async def _alerts_for(keys: set[AlertKey]) -> dict[AlertKey, Alert]:
    if not keys:
        return {}
    rules = {k[0] for k in keys}
    entities = {k[1] for k in keys}
    found = await Alert.filter(rule__in=rules, entity__in=entities)
    return {_key(a): a for a in found if _key(a) in keys}


async def _ensure_alerts(transitions: Sequence[Transition], version: int) -> dict[AlertKey, Alert]:
    keys = {key_of(t) for t in transitions}
    alerts = await _alerts_for(keys)
    missing = {key_of(t): t for t in transitions if key_of(t) not in alerts}
    if missing:
        await Alert.bulk_create([
            Alert(rule=k[0], kind=t.kind, entity=k[1], indicator=k[2], state="inactive", severity=t.severity,
                  period=t.period, ruleset_version=version) for k, t in missing.items()])
        alerts = await _alerts_for(keys)
    return alerts


async def record(transitions: Sequence[Transition], version: int, batch: ImportBatch | None,
                 model: Model) -> list[dict]:
    """Store transitions in the order the engine found them; returns them as the API shows them."""
    if not transitions:
        return []
    alerts = await _ensure_alerts(transitions, version)
    rows: list[AlertTransition] = []
    reopened: list[AlertNote] = []
    touched: dict[AlertKey, Alert] = {}
    for t in sorted(transitions, key=lambda t: t.period):
        alert = alerts[key_of(t)]
        rows.append(AlertTransition(alert_id=alert.id, period=t.period, old=t.old, new=t.new, severity=t.severity,
                                    reason=t.reason, values=t.values, thresholds=list(t.thresholds),
                                    message=t.message, ruleset_version=version,
                                    batch_id=batch.id if batch else None))
        if t.new == "firing" and alert.workflow != "open":
            reopened.append(AlertNote(alert_id=alert.id, action="reopen", note="再次报警，自动重新打开"))
            alert.workflow, alert.explained_until = "open", None
        # A revision that changes the current state always reports it at the last period, so the latest
        # transition is the alert's state; older ones only fill in its history.
        if t.period >= alert.period:
            alert.state, alert.severity, alert.period = t.new, t.severity, t.period
            alert.message, alert.ruleset_version = t.message, version
        touched[key_of(t)] = alert
    await AlertTransition.bulk_create(rows, batch_size=1000)
    if reopened:
        await AlertNote.bulk_create(reopened)
    await _save(list(touched.values()))
    shown = [_shown(t, alerts[key_of(t)].id, model) for t in transitions]
    await Event.bulk_create([Event(kind="transition", payload=s) for s in shown if _newsworthy(s)], batch_size=1000)
    return shown


async def _save(alerts: list[Alert]) -> None:
    fields = ["state", "severity", "period", "message", "ruleset_version", "workflow", "explained_until"]
    if len(alerts) == 1:
        await alerts[0].save(update_fields=[*fields, "updated_at"])
    elif alerts:
        await Alert.bulk_update(alerts, fields=fields, batch_size=500)


def _newsworthy(shown: dict) -> bool:
    # Only what a leader would be told about: firing and its end. Pending is still an internal state.
    return shown["new"] in ("firing", "resolved")


def _shown(t: Transition, alert_id: int, model: Model) -> dict:
    # `listed`: only an enterprise entering or leaving a watch category (企业监测), not a warning; pop-ups skip it.
    return {"alert": alert_id, **t.as_dict(), "thresholds": list(t.thresholds),
            "listed": model.watch_list(t.rule, t.severity)}


async def stored_history() -> set[tuple[AlertKey, str, str, str]]:
    """(alert key, period, old, new) of every stored transition."""
    rows = await AlertTransition.all().values_list("alert__rule", "alert__entity", "alert__indicator", "period",
                                                   "old", "new")
    return {((r, e, i), p, o, n) for r, e, i, p, o, n in rows}


async def reconcile(transitions: Sequence[Transition], version: int, model: Model) -> int:
    """Bring the store in line with a full evaluation: add the transitions it does not hold yet, and resolve
    stored alerts that the evaluation no longer has (their rule changed or went away). Returns how many
    transitions were added."""
    stored = await stored_history()
    fresh = [t for t in transitions if (key_of(t), t.period, t.old, t.new) not in stored]
    await record(fresh, version, None, model)
    live = {key_of(t) for t in transitions}
    orphans = await Alert.filter(state__in=("firing", "pending"))
    gone = [a for a in orphans if _key(a) not in live]
    for alert in gone:
        await AlertTransition.create(alert_id=alert.id, period=alert.period, old=alert.state, new="resolved",
                                     severity=alert.severity, reason="ruleset", message=alert.message,
                                     ruleset_version=version)
        alert.state = "resolved"
        await alert.save(update_fields=["state", "updated_at"])
    return len(fresh)
