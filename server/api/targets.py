"""Annual targets and progress against time (时间过半、任务过半).

`GET /targets` lists every target of a year with where it stands at the latest period that has data: a
level target's year-to-date value as a share of the target set against the share of the year elapsed,
a growth target's year-to-date growth against the target growth. `PUT /targets` writes a year's targets
into `targets.rules` of the active rule set and stores the result as a new, inactive version: targets
live in rule files, so setting them goes through the same check, version and activation as any rule."""

from __future__ import annotations

import math
import os
import re

import numpy as np
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from dsl import ast
from dsl.model import Model
from engine import transforms
from engine.panel import Panel
from server import rulesets
from server.api import params
from server.api.auth import principal
from server.api.errors import ApiError
from server.api.export import respond
from server.service import audit
from server.store.models import RuleSet

bp = Blueprint("targets", url_prefix="/api/v1")

COLUMNS = ["indicator", "indicator_name", "unit", "entity", "entity_name", "year", "kind", "target", "period",
           "ytd", "progress", "growth", "time_progress", "gap", "on_track"]
TARGETS_FILE = "targets.rules"


@bp.get("/targets", ctx_permission="data:read")
async def list_targets(request: Request) -> HTTPResponse:
    """Every target of `year` (default: this year) for the visible entities, with its progress.

    Level targets: `ytd` (the year-to-date value), `progress` (% of the target) and `gap` = progress − time
    progress, in percentage points. Growth targets: `growth` (year-to-date growth, %) and `gap` = growth −
    target. `period` is the latest period of the year with data (empty when there is none yet).
    `indicator` and `entity` filter; `format=csv|xlsx|json`."""
    service = request.app.ctx.service
    engine, model = service.engine, service.model
    if engine is None or model is None:
        raise ApiError(503, "engine_unavailable", "数据引擎正在重建，请稍后再试")
    year = params.integer(request, "year", service.today().year, low=1900, high=2200)
    wanted_indicator, wanted_entity = request.args.get("indicator"), request.args.get("entity")
    caller = principal(request)
    rows = [row for target in model.targets if target.year == year
            and wanted_indicator in (None, target.indicator)
            for row in _progress_rows(model, engine.panel, target)
            if caller.sees(row["entity"]) and wanted_entity in (None, row["entity"])]
    return respond(request, rows, COLUMNS, f"targets_{year}", {"year": year})


def _progress_rows(model: Model, panel: Panel, target: ast.TargetDef) -> list[dict]:
    ind = model.indicators[target.indicator]
    axis = panel.axes.get(ind.frequency)
    series = _series(panel, ind, target.growth) if axis is not None else None
    rows = []
    for value in target.values:
        row = {"indicator": ind.id, "indicator_name": ind.name, "unit": "%" if target.growth else ind.unit,
               "entity": value.entity, "entity_name": model.entities[value.entity].name, "year": target.year,
               "kind": "growth" if target.growth else "level", "target": value.value, "period": None, "ytd": None,
               "progress": None, "growth": None, "time_progress": None, "gap": None, "on_track": None}
        entity_row = panel.entity_index.get(value.entity)
        if series is not None and entity_row is not None:
            row |= _standing(series[entity_row], axis, target, value.value)
        rows.append(row)
    return rows


def _series(panel: Panel, ind: ast.IndicatorDef, growth: bool) -> np.ndarray:
    """Per entity and period: the year-to-date growth (growth targets) or the year-to-date level."""
    axis = panel.axes[ind.frequency]
    values = np.array(panel.array(ind.id), dtype=float)
    merged = ind.jan_feb == "merged"
    with np.errstate(all="ignore"):
        if ind.form == "rate":
            return values  # a published growth is year-to-date already
        if ind.form == "index":
            return transforms.ytd_average(values, axis) - 100 if growth else values
        level = transforms.ytd_from_single(values, axis, merged) if ind.form == "period" else values
        return transforms.yoy(level, axis, "ytd" if ind.form == "period" else ind.form) if growth else level


def _standing(values: np.ndarray, axis, target: ast.TargetDef, goal: float) -> dict:
    columns = np.flatnonzero((axis.years == target.year) & ~np.isnan(values))
    if columns.size == 0:
        return {}
    column = int(columns[-1])
    current = float(values[column])
    elapsed = float(transforms.time_progress(axis)[column])
    found: dict = {"period": str(axis.periods[column]), "time_progress": round(elapsed, 2)}
    if target.growth:
        gap = current - goal
        found |= {"growth": round(current, 2), "gap": round(gap, 2)}
    else:
        progress = current / goal * 100 if goal > 0 else math.nan
        gap = progress - elapsed
        found |= {"ytd": current, "progress": _rounded(progress), "gap": _rounded(gap)}
    found["on_track"] = None if math.isnan(gap) else bool(gap >= 0)
    return found


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


# ----------------------------------------------------------------------------- setting targets


@bp.put("/targets", ctx_permission="rules:write")
async def put_targets(request: Request) -> HTTPResponse:
    """Set one year's targets of one indicator: a new, inactive rule-set version.

    Body: `{"indicator": "gdp_growth", "year": 2026, "growth": true, "values": {"taian": 5.5, ...},
    "comment": "..."}`. The `target` block for that indicator and year in `targets.rules` of the active
    version is replaced (or appended), the files are checked and stored; activate the returned version to
    make the targets live."""
    body = params.json_object(request)
    indicator, year, growth, values = _target_body(body)
    found = await RuleSet.filter(active=True).first()
    if found is None:
        raise ApiError(409, "no_active_ruleset", "没有生效的规则集，无法修改目标")
    path = next((p for p in sorted(found.files) if os.path.basename(p) == TARGETS_FILE), None)
    if path is None:
        raise ApiError(409, "no_targets_file", f"生效的规则集里没有 {TARGETS_FILE}")
    files = {**found.files, path: replace_target(found.files[path], indicator, year, growth, values)}
    user = principal(request).name
    stored, _model = await rulesets.upload(files, user=user, comment=str(body.get("comment") or
                                                                         f"设置{indicator} {year}年目标"))
    await audit(user, "targets.set", f"v{stored.version}", {"indicator": indicator, "year": year, "values": values})
    return json({"version": stored.version, "active": stored.active, "digest": stored.digest,
                 "indicator": indicator, "year": year, "growth": growth, "values": values},
                status=201, ensure_ascii=False)


_NAME = re.compile(r"[^\W\d]\w*")


def _target_body(body: dict) -> tuple[str, int, bool, dict[str, float]]:
    indicator, year, growth, values = body.get("indicator"), body.get("year"), body.get("growth", False), \
        body.get("values")
    if not isinstance(indicator, str) or not _NAME.fullmatch(indicator):
        raise ApiError(400, "bad_parameter", "indicator 应为指标代码")
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2200:
        raise ApiError(400, "bad_parameter", "year 应为 1900–2200 之间的整数")
    if not isinstance(growth, bool):
        raise ApiError(400, "bad_parameter", "growth 应为 true 或 false")
    if not isinstance(values, dict) or not values:
        raise ApiError(400, "bad_parameter", "values 应为 {\"单位代码\": 目标值, ...}")
    bad = [e for e, v in values.items() if not _NAME.fullmatch(str(e)) or isinstance(v, bool)
           or not isinstance(v, int | float) or not math.isfinite(v)]
    if bad:
        raise ApiError(400, "bad_parameter", f"目标值无效：{'、'.join(map(str, bad))}", {"entities": bad})
    return indicator, year, growth, {str(e): float(v) for e, v in values.items()}


def replace_target(text: str, indicator: str, year: int, growth: bool, values: dict[str, float]) -> str:
    """`text` with the `target INDICATOR YEAR …{…}` block replaced by the given values, or with the block
    appended when there is none. Unknown indicators and entities are left for the checker to report."""
    entries = "  ".join(f"{entity} {value:g}" for entity, value in values.items())
    block = f"target {indicator} {year}{' growth' if growth else ''} {{ {entries} }}"
    pattern = re.compile(rf"^target\s+{re.escape(indicator)}\s+{year}(\s+growth)?\s*\{{[^}}]*\}}", re.MULTILINE)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return text.rstrip("\n") + "\n\n" + block + "\n"
