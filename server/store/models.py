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


# ---------------------------------------------------------------------- users, sessions and access


# A person who signs in. `scope` lists the roots of the entity subtrees they may see; empty: everything.
class User(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=64, default="")
    role = fields.CharField(max_length=16)  # administrator | statistician | data_officer | leader
    scope = fields.JSONField(default=list)
    password_hash = fields.CharField(max_length=255)
    password_changed_at = fields.DatetimeField(auto_now_add=True)
    contact = fields.TextField(default="")  # encrypted Apprise URL for one-time codes (mailto://, dingtalk://, ...)
    disabled = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "app_user"


# A signed-in session: a refresh token (stored hashed) that mints short-lived access tokens. Web sessions
# live in a cookie and carry a CSRF token; a session opened by pattern unlock is bound to its device.
class Session(Model):
    id = fields.CharField(max_length=32, primary_key=True)
    user = fields.ForeignKeyField("models.User", related_name="sessions", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=8)  # bearer | cookie
    refresh_hash = fields.CharField(max_length=64, db_index=True)
    csrf = fields.CharField(max_length=64, default="")
    device = fields.ForeignKeyField("models.Device", related_name="sessions", null=True, on_delete=fields.CASCADE)
    address = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "app_session"


# A phone or browser that registered a 3x3 unlock pattern after a password sign-in.
class Device(Model):
    id = fields.CharField(max_length=32, primary_key=True)
    user = fields.ForeignKeyField("models.User", related_name="devices", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=64, default="")
    pattern_hash = fields.CharField(max_length=255)
    secret_hash = fields.CharField(max_length=64)  # the device's own secret, so a pattern alone unlocks nothing
    failures = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "app_device"


# A scoped token for a machine, such as a department's nightly upload job.
class ApiToken(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64)
    owner = fields.ForeignKeyField("models.User", related_name="api_tokens", on_delete=fields.CASCADE)
    token_hash = fields.CharField(max_length=64, unique=True)
    permissions = fields.JSONField(default=list)
    scope = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"


# A one-time password-recovery code, stored hashed.
class RecoveryCode(Model):
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("models.User", related_name="recovery_codes", on_delete=fields.CASCADE)
    code_hash = fields.CharField(max_length=64)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)

    class Meta:
        table = "recovery_code"


# Failed sign-ins per account and per address, for backoff and lockout.
class LoginThrottle(Model):
    key = fields.CharField(max_length=160, primary_key=True)  # "account:NAME" or "address:IP"
    failures = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "login_throttle"


# Keys the service makes for itself on first start (the token signing key), shared by every worker.
class ServiceKey(Model):
    name = fields.CharField(max_length=32, primary_key=True)
    value = fields.CharField(max_length=128)

    class Meta:
        table = "service_key"


# ---------------------------------------------------------------------- notifications


# A named receiver: Apprise URLs (a JSON list, encrypted at rest with server.crypto), tags and quiet hours.
class Receiver(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    urls = fields.TextField(default="")
    tags = fields.JSONField(default=list)
    quiet_start = fields.CharField(max_length=5, null=True)  # "HH:MM", local time (Asia/Shanghai)
    quiet_end = fields.CharField(max_length=5, null=True)
    quiet_breakthrough = fields.CharField(max_length=16, null=True)  # severity that still goes out; null: none
    format = fields.CharField(max_length=16, default="")  # "" (each target's own) | text | markdown | html
    scope = fields.JSONField(default=list)  # roots of the entity subtrees whose alerts it gets; empty: all
    enabled = fields.BooleanField(default=True)
    created_by = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "notify_receiver"


# Matchers are {field: value}; `expired_at` ends a silence early (by hand or when its alert resolves).
class Silence(Model):
    id = fields.IntField(primary_key=True)
    matchers = fields.JSONField()
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    created_by = fields.CharField(max_length=64, default="")
    comment = fields.TextField(default="")
    expire_on_resolve = fields.BooleanField(default=False)
    expired_at = fields.DatetimeField(null=True)
    matched_count = fields.IntField(default=0)
    notified_expiry = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notify_silence"
        indexes = (("ends_at",),)


# Every message is written here before it is sent. `send_started_at` is set, in its own commit, just before
# the Apprise call: a reclaimed message without it was never handed to Apprise.
class OutboxMessage(Model):
    id = fields.BigIntField(primary_key=True)
    dedup_key = fields.CharField(max_length=191, unique=True)
    receiver = fields.CharField(max_length=80)  # a receiver's name, or "user:NAME" for a user's contact
    group_key = fields.CharField(max_length=255, default="")
    title = fields.CharField(max_length=255, default="")
    body = fields.TextField(default="")
    body_format = fields.CharField(max_length=16, default="text")
    severity = fields.CharField(max_length=16, default="")
    alert_ids = fields.JSONField(default=list)
    status = fields.CharField(max_length=8, default="pending")  # pending | sending | sent | dead
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claimed_by = fields.CharField(max_length=64, default="")
    claim_token = fields.CharField(max_length=32, default="")
    claimed_at = fields.DatetimeField(null=True)
    send_started_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(default="")
    results = fields.JSONField(default=list)  # one entry per target, from AppriseResult.results
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notify_outbox"
        indexes = (("status", "next_attempt_at"),)


# The last Event id the dispatcher has consumed (one row, id 1), and which worker runs the dispatcher: a lease
# that the holder renews, so that with several workers one groups the notices.
class NotifyCursor(Model):
    id = fields.IntField(primary_key=True)
    last_event_id = fields.BigIntField(default=0)
    holder = fields.CharField(max_length=64, default="")
    held_until = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "notify_cursor"
