"""Who may do what: the permissions routes declare, and the caller (a Principal) with their region scope."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PUBLIC = "public"
PERMISSIONS = (PUBLIC, "account", "data:read", "data:write", "alerts:read", "alerts:write", "rules:read",
               "rules:write", "rules:activate", "templates:write", "audit:read", "users:admin", "tokens:write")


@dataclass(frozen=True)
class Principal:
    name: str
    permissions: frozenset[str]
    scope: frozenset[str] | None = None  # entity ids the caller may see; None: all
    role: str = ""
    user_id: int | None = None
    session_id: str | None = None
    # Entities the caller may write: their subtrees only. A county's officer reads the city's totals but
    # never writes them. None: all.
    write_scope: frozenset[str] | None = None

    def can(self, permission: str) -> bool:
        return permission == PUBLIC or permission in self.permissions

    def sees(self, entity: str) -> bool:
        return self.scope is None or entity in self.scope

    def visible(self, entities: Iterable[str]) -> list[str]:
        return [e for e in entities if self.sees(e)]

    def writes(self, entity: str) -> bool:
        return self.write_scope is None or entity in self.write_scope


EVERYTHING = frozenset(PERMISSIONS)
