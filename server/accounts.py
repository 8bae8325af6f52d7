"""Users, roles, region scopes and passwords.

Passwords are hashed with argon2id. The default parameters (one pass over 12 MiB) are the strongest that
keep a burst of 200 sign-ins in one second under 2 s at p99 on the bureau's 2-core server: bench/auth.py
measured a CPU floor of about 1.1 s for that burst with them, against 1.5–1.9 s for one pass over 19 MiB
(no headroom with two workers) and 2.8 s for OWASP's two passes over 19 MiB. A server with more cores
raises them with `TAISHAN_ARGON2=time,memory_kib,parallelism` (e.g. `2,19456,1`); every stored hash carries
its own parameters and is rehashed with the new ones at its owner's next sign-in.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dsl import Model
from server.access import PERMISSIONS, Principal


def _hasher() -> PasswordHasher:
    time_cost, memory_kib, parallelism = (int(part) for part in
                                          os.environ.get("TAISHAN_ARGON2", "1,12288,1").split(","))
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


ARGON2 = _hasher()
# A hash to verify against when the account does not exist, so that both answers take as long.
_DUMMY_HASH = ARGON2.hash("taishan-no-such-account")

ROLE_NAMES = {"administrator": "管理员", "statistician": "统计员", "data_officer": "数据报送员", "leader": "领导"}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "administrator": frozenset(PERMISSIONS),
    "statistician": frozenset({"account", "data:read", "data:write", "alerts:read", "alerts:write", "rules:read",
                               "rules:write", "templates:write"}),
    "data_officer": frozenset({"account", "data:read", "data:write"}),
    "leader": frozenset({"account", "data:read", "alerts:read", "rules:read"}),
}
ROLES = tuple(ROLE_PERMISSIONS)

MIN_PASSWORD, MAX_PASSWORD = 10, 128
_COMMON = {"password123", "1234567890", "qwertyuiop", "taishan123", "admin12345", "abc1234567", "a123456789"}


class PolicyError(ValueError):
    """A password or account setting the policy refuses; the message is for the user, in Chinese."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    scope: tuple[str, ...]


def check_password_policy(password: str, username: str = "") -> None:
    """At least 10 characters and three of: lower case, upper case, digits, symbols; not the user name, not a
    common password. The upper bound keeps hashing cheap for a hostile caller."""
    if len(password) > MAX_PASSWORD:
        raise PolicyError(f"密码过长：最多 {MAX_PASSWORD} 个字符")
    if len(password) < MIN_PASSWORD:
        raise PolicyError(f"密码太短：至少 {MIN_PASSWORD} 个字符")
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]"))
    if classes < 3:
        raise PolicyError("密码须包含小写字母、大写字母、数字、符号中的至少三类")
    if username and username.lower() in password.lower():
        raise PolicyError("密码不能包含用户名")
    if password.lower() in _COMMON:
        raise PolicyError("密码过于常见，请换一个")


async def hash_password(password: str) -> str:
    # argon2 releases the GIL: hashing in a thread lets both cores work and keeps the event loop free.
    return await asyncio.to_thread(ARGON2.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists (pass None for a missing account)."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return await asyncio.to_thread(ARGON2.verify, stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return ARGON2.check_needs_rehash(stored_hash)


def check_role(role: str) -> None:
    if role not in ROLE_PERMISSIONS:
        raise PolicyError(f"未知角色「{role}」，可选：{'、'.join(ROLES)}")


def check_scope(model: Model, scope: Iterable[str]) -> tuple[str, ...]:
    unknown = [e for e in scope if e not in model.entities]
    if unknown:
        raise PolicyError(f"未知单位：{'、'.join(unknown)}")
    return tuple(dict.fromkeys(scope))


def visible_entities(model: Model, scope: Iterable[str]) -> frozenset[str] | None:
    """A scope of subtrees: each root with everything below it, the totals above it (a county's leader sees
    the city's figures) and the reference entities. No scope: everything."""
    roots = list(scope)
    if not roots:
        return None
    seen: set[str] = set()
    for root in roots:
        seen.add(root)
        seen.update(model.descendants(root))
        parent = model.entities[root].parent if root in model.entities else None
        while parent is not None:
            seen.add(parent)
            parent = model.entities[parent].parent
    seen.update(e.id for e in model.entities.values() if e.kind == "province")
    return frozenset(seen)


def writable_entities(model: Model, scope: Iterable[str]) -> frozenset[str] | None:
    """The subtrees themselves, without the totals above them. No scope: everything."""
    roots = list(scope)
    if not roots:
        return None
    return frozenset(e for root in roots for e in (root, *model.descendants(root)))


def principal_for(model: Model, account: Account, permissions: Iterable[str] | None = None,
                  scope: Iterable[str] | None = None, session_id: str | None = None) -> Principal:
    """What a signed-in user (or one of their API tokens, narrowed by its own permissions and scope) may do."""
    allowed = ROLE_PERMISSIONS.get(account.role, frozenset())
    if permissions is not None:
        allowed = allowed & frozenset(permissions)
    roots = tuple(scope) if scope else account.scope
    return Principal(account.username, allowed, visible_entities(model, roots), account.role, account.id, session_id,
                     writable_entities(model, roots))
