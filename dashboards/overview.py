"""总览: the city's headline indicators (latest value, growth, rank in the province where known, a sparkline;
red when an alert on them fires), the regions to drill into, and the alert inbox. Redrawn when data arrives."""

from __future__ import annotations

import math

import numpy as np
from bokeh.layouts import column

from dashboards import expressions, theme
from dashboards.common import SEVERITY_NAMES, Context, div, escape, link, reading

# The figures a leader looks at first, in this order; those the active rules lack are left out.
HEADLINES = ("gdp_growth", "ind_va", "fixed_invest", "retail", "budget_rev", "tax_rev", "deposits", "loans",
             "trade", "power_total", "cpi", "tourists")
SPARK_PERIODS = 24
REDRAW_MS = 2000


def build(ctx: Context) -> None:
    cards, regions, inbox = div(name="headlines"), div(name="regions"), div(name="inbox")
    drawn = {"at": -1.0}

    def draw() -> None:
        if drawn["at"] == ctx.data.changed_at:
            return
        drawn["at"] = ctx.data.changed_at
        cards.text, regions.text, inbox.text = sections(ctx)

    draw()
    ctx.doc.add_periodic_callback(draw, REDRAW_MS)
    ctx.doc.add_root(column(cards, regions, inbox, sizing_mode="stretch_width", name="overview"))
    ctx.doc.title = "经济运行总览"


_drawn: dict[tuple[float, frozenset[str] | None], tuple[str, str, str]] = {}


def sections(ctx: Context) -> tuple[str, str, str]:
    """The overview's three sections, drawn once per data change and region scope: every leader who opens the
    overview after the same data arrival gets the same text."""
    key = (ctx.data.changed_at, ctx.viewer.scope)
    found = _drawn.get(key)
    if found is None:
        if len(_drawn) > 64:
            _drawn.clear()
        found = _drawn[key] = (headlines_html(ctx), regions_html(ctx), inbox_html(ctx))
    return found


def headlines_html(ctx: Context) -> str:
    city = ctx.city()
    firing = _firing_indicators(ctx)
    cards = [_card(ctx, indicator, city, firing) for indicator in HEADLINES if indicator in ctx.model.indicators]
    return f'<h3>{escape(ctx.name(city))}主要指标</h3><div class="cards">{"".join(cards)}</div>'


def _card(ctx: Context, indicator: str, city: str, firing: dict[str, int]) -> str:
    definition = ctx.model.indicators[indicator]
    answer = ctx.data.latest(indicator)
    row = next((r for r in answer.rows if r["entity"] == city), None)
    value, growth = (row["value"], row["growth"]) if row else (None, None)
    rank = f'全省第{row["rank"]}位（共{row["peers"]}）' if row and row["rank"] else "全省位次 —"
    growth_text = "" if definition.form in ("rate", "index") else \
        f'<span class="{_direction(growth)}">同比 {theme.signed(growth)}%</span> · '
    red = firing.get(indicator, 0)
    flag = f'<div class="flag">{red} 个单位预警</div>' if red else ""
    return (f'<a class="card{" red" if red else ""}" data-indicator="{indicator}" '
            f'href="{escape(link("drill", entity=city, indicator=indicator))}">'
            f'<div class="name">{escape(definition.name)}</div>'
            f'<div class="value">{theme.number(value)}<small> {escape(definition.unit)}</small></div>'
            f'<div class="meta">{growth_text}{escape(answer.period or "暂无数据")}</div>'
            f'<div class="meta">{rank}</div>{sparkline(ctx, indicator, city)}{flag}</a>')


def _direction(value: float | None) -> str:
    return "" if value is None else ("up" if value >= 0 else "down")


def _firing_indicators(ctx: Context) -> dict[str, int]:
    """Indicator → how many visible entities have an alert on it firing."""
    counts: dict[str, set[str]] = {}
    for alert in ctx.data.warnings_for(ctx.viewer):
        for indicator in ctx.data.alert_indicators(alert):
            counts.setdefault(indicator, set()).add(alert["entity"])
    return {k: len(v) for k, v in counts.items()}


def sparkline(ctx: Context, indicator: str, entity: str, width: int = 150, height: int = 32) -> str:
    """An inline SVG of the last periods: drawn in the browser without a plot per card."""
    expr, _ = reading(ctx.model, indicator)
    result = expressions.evaluate(ctx.data.engine.panel, expr, [entity], SPARK_PERIODS)  # type: ignore[union-attr]
    values = result.values[0] if result.values.size else np.array([])
    known = [(i, float(v)) for i, v in enumerate(values) if not math.isnan(v)]
    if len(known) < 2:
        return ""
    low, high = min(v for _, v in known), max(v for _, v in known)
    span, last = (high - low) or 1.0, max(len(values) - 1, 1)
    points = " ".join(f"{i / last * width:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}" for i, v in known)
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="近{SPARK_PERIODS}期走势"><polyline fill="none" stroke="{theme.ACCENT}" stroke-width="1.5" '
            f'points="{points}"/></svg>')


def regions_html(ctx: Context) -> str:
    red = {a["entity"] for a in ctx.data.warnings_for(ctx.viewer)}
    chips = [f'<a class="{"red" if e in red else ""}" data-entity="{e}" href="{escape(link("drill", entity=e))}">'
             f'{escape(ctx.name(e))}</a>' for e in ctx.regions()]
    return f'<h3>分地区</h3><div class="chips">{"".join(chips)}</div>'


def inbox_html(ctx: Context, limit: int = 30) -> str:
    rows = sorted(ctx.data.warnings_for(ctx.viewer), key=lambda a: (-_level(a["severity"]), a["updated_at"]),
                  reverse=False)[:limit]
    if not rows:
        return '<h3>预警收件箱</h3><p class="muted">当前没有报警。</p>'
    items = [f'<li data-alert="{a["id"]}"><span class="flag">[{SEVERITY_NAMES.get(a["severity"], "")}]</span> '
             f'<a href="{escape(link("alert", alert=a["id"]))}">{escape(ctx.name(a["entity"]))} '
             f'{escape(_title(ctx, a["rule"]))}</a> <span class="muted">{escape(a["period"])} '
             f'{escape(a["message"])}</span></li>' for a in rows]
    return f'<h3>预警收件箱（{len(rows)}）</h3><ul class="list">{"".join(items)}</ul>'


def _level(severity: str) -> int:
    return {"critical": 3, "warning": 2, "info": 1}.get(severity, 0)


def _title(ctx: Context, rule: str) -> str:
    definition = ctx.model.rules.get(rule) or ctx.model.checks.get(rule)
    return definition.title if definition is not None else rule
