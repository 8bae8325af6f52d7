from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_accounts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='NotifyCursor',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('last_event_id', fields.BigIntField(default=0)),
                ('holder', fields.CharField(default='', max_length=64)),
                ('held_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'notify_cursor', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('dedup_key', fields.CharField(unique=True, max_length=191)),
                ('receiver', fields.CharField(max_length=80)),
                ('group_key', fields.CharField(default='', max_length=255)),
                ('title', fields.CharField(default='', max_length=255)),
                ('body', fields.TextField(default='', unique=False)),
                ('body_format', fields.CharField(default='text', max_length=16)),
                ('severity', fields.CharField(default='', max_length=16)),
                ('alert_ids', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(default='pending', max_length=8)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_by', fields.CharField(default='', max_length=64)),
                ('claim_token', fields.CharField(default='', max_length=32)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('send_started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(default='', unique=False)),
                ('results', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notify_outbox', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Receiver',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=64)),
                ('urls', fields.TextField(default='', unique=False)),
                ('tags', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('quiet_start', fields.CharField(null=True, max_length=5)),
                ('quiet_end', fields.CharField(null=True, max_length=5)),
                ('quiet_breakthrough', fields.CharField(null=True, max_length=16)),
                ('format', fields.CharField(default='', max_length=16)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_by', fields.CharField(default='', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'notify_receiver', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Silence',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('matchers', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('starts_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ends_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_by', fields.CharField(default='', max_length=64)),
                ('comment', fields.TextField(default='', unique=False)),
                ('expire_on_resolve', fields.BooleanField(default=False)),
                ('expired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('matched_count', fields.IntField(default=0)),
                ('notified_expiry', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'notify_silence', 'app': 'models', 'indexes': [Index(fields=['ends_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
