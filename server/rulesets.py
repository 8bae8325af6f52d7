"""Rule-set versions in the store: upload (checked first), activate, and the catalog they define.

A version is the text of its rule files, keyed by a path relative to the rule-set root, so the same
version loads the same way on any machine.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Iterable

from pypinyin import Style, lazy_pinyin
from tortoise.timezone import now
from tortoise.transactions import in_transaction

from dsl import DslError, Model, load
from dsl.loader import expand
from server.store.models import Entity, Indicator, RuleSet, StoreLock


def read_rule_files(paths: Iterable[str]) -> dict[str, str]:
    """The `.rules` files under `paths`, keyed relative to the current directory."""
    files: dict[str, str] = {}
    for path in expand(paths):
        with open(path, encoding="utf-8") as handle:
            files[os.path.normpath(os.path.relpath(path))] = handle.read()
    return files


def load_files(files: dict[str, str]) -> Model:
    """Parse and check a version's files. Raises DslError with every problem."""
    normalized = {os.path.normpath(path): text for path, text in files.items()}

    def reader(path: str) -> str:
        try:
            return normalized[os.path.normpath(path)]
        except KeyError:
            raise FileNotFoundError(path) from None

    return load(sorted(normalized), reader=reader)


def digest(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def upload(files: dict[str, str], user: str = "", comment: str = "") -> tuple[RuleSet, Model]:
    """Check the files and store them as the next version, inactive. Raises DslError and stores nothing.
    The same files uploaded again are the version they already are."""
    if not files:
        raise ValueError("规则集没有任何规则文件")
    model = await asyncio.to_thread(load_files, files)
    same = await RuleSet.filter(digest=digest(files)).first()
    if same is not None:
        return same, model
    async with in_transaction():
        last = await RuleSet.all().order_by("-version").first()
        version = (last.version if last else 0) + 1
        ruleset = await RuleSet.create(version=version, files=files, digest=digest(files),
                                       uploaded_by=user, comment=comment)
    return ruleset, model


async def activate(version: int) -> Model:
    """Make `version` the active one and sync the catalog. A version that no longer checks never activates."""
    ruleset = await RuleSet.get(version=version)
    model = await asyncio.to_thread(load_files, ruleset.files)
    async with in_transaction():
        await RuleSet.filter(active=True).update(active=False)
        await RuleSet.filter(id=ruleset.id).update(active=True, activated_at=now())
        await StoreLock.filter(id=1).update(ruleset_version=version)
        await sync_catalog(model)
    return model


async def active() -> tuple[RuleSet, Model] | None:
    ruleset = await RuleSet.filter(active=True).first()
    if ruleset is None:
        return None
    return ruleset, load_files(ruleset.files)


async def sync_catalog(model: Model) -> None:
    """Entities and indicators mirror the active rule set, with pinyin initials for search."""
    province = model.province()
    await Entity.all().delete()
    await Indicator.all().delete()
    await Entity.bulk_create([
        Entity(id=e.id, name=e.name, kind=e.kind, parent=e.parent, reference=e.id == province or e.kind == "province",
               overlay=bool(e.attrs.get("overlay")), initials=initials(e.name),
               attrs={k: _plain(v) for k, v in e.attrs.items()})
        for e in model.entities.values()])
    await Indicator.bulk_create([
        Indicator(id=i.id, name=i.name, unit=i.unit, frequency=i.frequency, form=i.form, tags=list(i.tags),
                  initials=initials(i.name),
                  attrs={"jan_feb": i.jan_feb, "prices": i.prices, "additive": i.additive, "parts": list(i.parts),
                         "department": i.department, "release_day": i.release_day})
        for i in model.indicators.values()])


def initials(name: str) -> str:
    """规模以上工业增加值 → gmysgyzjz: what people type to find a name on a phone."""
    return "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="ignore")).lower()


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


__all__ = ["DslError", "activate", "active", "initials", "load_files", "read_rule_files", "sync_catalog", "upload"]
