"""Backoff and lockout for sign-in, per account and per address.

After `FREE_FAILURES` failures in a row each further one locks the key for twice as long as the last
(1 s, 2 s, 4 s, … up to `MAX_LOCK`); a success clears it. The address limit is looser, because many people
of one bureau share an address, but it stops one machine from spraying passwords over many accounts.
"""

from __future__ import annotations

import datetime

from tortoise.timezone import now

from server.store.models import LoginThrottle

FREE_FAILURES = {"account": 4, "address": 20}
MAX_LOCK = datetime.timedelta(minutes=30)
# Failures older than this are forgotten: a bureau shares one address, and last week's typos must not
# lock everyone out today.
WINDOW = datetime.timedelta(minutes=15)


def keys(username: str, address: str, purpose: str = "login") -> list[str]:
    """Per account and per address; password recovery counts apart from sign-in."""
    prefix = "" if purpose == "login" else f"{purpose}:"
    return [f"{prefix}account:{username.lower()[:100]}", f"{prefix}address:{address[:64]}"]


async def locked_for(keys_: list[str]) -> float:
    """Seconds until every key is free to try again (0: now)."""
    rows = await LoginThrottle.filter(key__in=keys_, locked_until__gt=now())
    return max(((row.locked_until - now()).total_seconds() for row in rows), default=0.0)


async def failed(keys_: list[str]) -> None:
    for key in keys_:
        row, created = await LoginThrottle.get_or_create(key=key)
        if not created and row.updated_at < now() - WINDOW and (row.locked_until is None or row.locked_until < now()):
            row.failures = 0
        row.failures += 1
        excess = row.failures - FREE_FAILURES[_kind(key)]
        if excess > 0:
            row.locked_until = now() + min(datetime.timedelta(seconds=2 ** min(excess - 1, 12)), MAX_LOCK)
        await row.save()


def _kind(key: str) -> str:
    """account or address, behind an optional purpose prefix (`recover:account:NAME`)."""
    return key.removeprefix("recover:").split(":", 1)[0]


async def succeeded(keys_: list[str]) -> None:
    await LoginThrottle.filter(key=keys_[0]).delete()
