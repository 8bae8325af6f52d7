"""The store's tables. Observations are never overwritten: a revision adds a vintage.

Models carry no docstrings, because Tortoise writes them into SQL comments verbatim. Periods are stored as
their text form (`2026-03`, `2026Q1`, `2026`), which sorts correctly within one frequency, and an alert's
missing indicator is stored as "" so that the unique keys hold on every back end (NULLs are distinct in a
unique index).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


# One uploaded version of the rule files; exactly one is active.
class RuleSet(Model):

    id = fields.IntField(primary_key=True)
    version = fields.IntField(unique=True)
    files = fields.JSONField()  # {path: source text}
    digest = fields.CharField(max_length=64)
    active = fields.BooleanField(default=False)
    comment = fields.TextField(default="")
    uploaded_by = fields.CharField(max_length=64, default="")
    uploaded_at = fields.DatetimeField(auto_now_add=True)
    activated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "ruleset"


# Synced from the active rule set.
class Entity(Model):

    id = fields.CharField(max_length=64, primary_key=True)
    name = fields.CharField(max_length=128)
    kind = fields.CharField(max_length=32)
    parent = fields.CharField(max_length=64, null=True)
    reference = fields.BooleanField(default=False)
    overlay = fields.BooleanField(default=False)
    initials = fields.CharField(max_length=64, default="")  # pinyin initials for search
    attrs = fields.JSONField(default=dict)

    class Meta:
        table = "entity"


# Synced from the active rule set.
class Indicator(Model):

    id = fields.CharField(max_length=64, primary_key=True)
    name = fields.CharField(max_length=128)
    unit = fields.CharField(max_length=32, default="")
    frequency = fields.CharField(max_length=16)
    form = fields.CharField(max_length=16)
    tags = fields.JSONField(default=list)
    initials = fields.CharField(max_length=64, default="")
    attrs = fields.JSONField(default=dict)

    class Meta:
        table = "indicator"


# One atomic ingest: an API call, a template upload or a CLI import.
class ImportBatch(Model):

    id = fields.IntField(primary_key=True)
    source = fields.CharField(max_length=16)  # api | import | cli | demo
    template = fields.CharField(max_length=64, default="")
    filename = fields.CharField(max_length=255, default="")
    user = fields.CharField(max_length=64, default="")
    rows = fields.IntField(default=0)
    accepted = fields.IntField(default=0)
    unchanged = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "import_batch"


class Observation(Model):
    id = fields.BigIntField(primary_key=True)
    indicator = fields.CharField(max_length=64)
    entity = fields.CharField(max_length=64)
    period = fields.CharField(max_length=8)
    value = fields.FloatField()
    vintage = fields.IntField()
    batch = fields.ForeignKeyField("models.ImportBatch", related_name="observations", on_delete=fields.RESTRICT)
    source = fields.CharField(max_length=16, default="")
    user = fields.CharField(max_length=64, default="")
    note = fields.CharField(max_length=255, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "observation"
        unique_together = (("indicator", "entity", "period", "vintage"),)
        indexes = (("entity", "indicator"),)


# One per (rule, entity, indicator). `state` is the engine's; `workflow` is the people's.
class Alert(Model):

    id = fields.IntField(primary_key=True)
    rule = fields.CharField(max_length=64)
    kind = fields.CharField(max_length=8)  # rule | check
    entity = fields.CharField(max_length=64)
    indicator = fields.CharField(max_length=64, default="")
    state = fields.CharField(max_length=16)
    severity = fields.CharField(max_length=16)
    period = fields.CharField(max_length=8)  # the period of the last transition
    message = fields.TextField(default="")
    workflow = fields.CharField(max_length=16, default="open")  # open | acknowledged | explained | data_error
    explained_until = fields.DateField(null=True)
    ruleset_version = fields.IntField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "alert"
        unique_together = (("rule", "entity", "indicator"),)
        indexes = (("state",), ("entity",))


# A state change with its provenance: the period, the values read and the thresholds crossed.
class AlertTransition(Model):

    id = fields.BigIntField(primary_key=True)
    alert = fields.ForeignKeyField("models.Alert", related_name="transitions", on_delete=fields.CASCADE)
    period = fields.CharField(max_length=8)
    old = fields.CharField(max_length=16)
    new = fields.CharField(max_length=16)
    severity = fields.CharField(max_length=16)
    reason = fields.CharField(max_length=16, default="")
    values = fields.JSONField(default=dict)
    thresholds = fields.JSONField(default=list)
    message = fields.TextField(default="")
    ruleset_version = fields.IntField()
    batch = fields.ForeignKeyField("models.ImportBatch", related_name="transitions", null=True,
                                   on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "alert_transition"


# The human workflow: acknowledge, explain (with an expiry), data error, comment, reopen.
class AlertNote(Model):

    id = fields.IntField(primary_key=True)
    alert = fields.ForeignKeyField("models.Alert", related_name="notes", on_delete=fields.CASCADE)
    action = fields.CharField(max_length=16)
    note = fields.TextField(default="")
    expires = fields.DateField(null=True)
    user = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "alert_note"


# A user-defined upload form: which indicators and entities, and the layout (long or wide).
class DataTemplate(Model):

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    title = fields.CharField(max_length=128, default="")
    layout = fields.CharField(max_length=8)  # long | wide
    indicators = fields.JSONField(default=list)
    entities = fields.JSONField(default=list)
    options = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "data_template"



# The live stream (alert transitions, data arrivals) as rows, so every worker serves every event and
# a client that reconnects with Last-Event-ID misses nothing.
class Event(Model):

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=16)  # transition | data | ruleset
    payload = fields.JSONField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "event"


# Append-only: who did what to which object. No endpoint changes it.
class AuditEntry(Model):

    id = fields.BigIntField(primary_key=True)
    actor = fields.CharField(max_length=64, default="")
    action = fields.CharField(max_length=32)
    target = fields.CharField(max_length=255, default="")
    detail = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_entry"
        indexes = (("action",),)



# A single row taken FOR UPDATE by every writer of evaluation state, so that workers apply data
# and alert transitions in one order on PostgreSQL and MariaDB (SQLite serializes writers itself).
class StoreLock(Model):

    id = fields.IntField(primary_key=True)
    data_version = fields.BigIntField(default=0)  # bumped by every batch, so a worker knows it is behind
    ruleset_version = fields.IntField(default=0)  # the active rule set

    class Meta:
        table = "store_lock"
