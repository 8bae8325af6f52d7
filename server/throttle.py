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


def keys(username: str, address: str) -> list[str]:
    return [f"account:{username.lower()[:100]}", f"address:{address[:64]}"]


async def locked_for(keys_: list[str]) -> float:
    """Seconds until every key is free to try again (0: now)."""
    rows = await LoginThrottle.filter(key__in=keys_, locked_until__gt=now())
    return max(((row.locked_until - now()).total_seconds() for row in rows), default=0.0)


async def failed(keys_: list[str]) -> None:
    for key in keys_:
        row, _ = await LoginThrottle.get_or_create(key=key)
        row.failures += 1
        excess = row.failures - FREE_FAILURES[key.split(":", 1)[0]]
        if excess > 0:
            row.locked_until = now() + min(datetime.timedelta(seconds=2 ** min(excess - 1, 12)), MAX_LOCK)
        await row.save()


async def succeeded(keys_: list[str]) -> None:
    await LoginThrottle.filter(key=keys_[0]).delete()
