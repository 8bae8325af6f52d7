"""目标进度: every annual target of the active rules (indicator × region × year) that the viewer may see, against
the newest figure of that year, and a bar chart of the gaps; red where a region is behind.

- A level target (一般公共预算收入 280 亿元) is read as 时间过半、任务过半: the YTD level as a share of the target
  (the language's `progress()`) against the share of the year elapsed (`time_progress()`); the gap is their
  difference in percentage points.
- A growth target (地区生产总值增长 5.5%) is read against the YTD growth; the gap is the difference in points.
- Every monthly figure the brief projects (YTD totals, month-end balances, cumulative growth rates) also gets
  its year-end projection (server/reports.py `project`: seasonal naive with its backtest band) and the chance of
  reaching the target: as a level against a level target, as a growth (the full-year growth of a rate, the
  growth over last year's total or last December's balance otherwise) against a growth target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LayoutDOM, Span

from dashboards import expressions, theme
from dashboards.common import Context, div, escape, link, reading, refused
from engine.periods import Axis, Period
from engine.projection import Projection
from engine.transforms import time_progress
from server import reports

HEADER = ("<tr><th>地区</th><th>指标</th><th>年度目标</th><th>期别</th><th>实际</th><th>完成进度</th>"
          "<th>时间进度</th><th>差距（百分点）</th><th>全年预计</th><th>完成概率</th></tr>")


@dataclass(frozen=True)
class Standing:
    """Where one region stands against one target in one year."""

    indicator: str
    entity: str
    growth: bool  # a growth target (%), else a level in the indicator's unit
    goal: float
    period: str = ""  # the newest period of the year with a figure; "" when there is none yet
    actual: float = math.nan  # YTD growth (%) or YTD level
    progress: float = math.nan  # level targets: actual / goal, %
    elapsed: float = math.nan  # level targets: share of the year elapsed at `period`, %
    gap: float = math.nan  # percentage points between the rounded figures, as the bureau states it; < 0: behind
    projection: Projection | None = None

    @property
    def behind(self) -> bool:
        return self.gap < 0


def build(ctx: Context) -> None:
    years = sorted({t.year for t in ctx.model.targets}, reverse=True)
    raw = ctx.args.get("year", "")
    if not years:
        ctx.doc.add_root(refused("当前规则中没有年度目标"))
        return
    if raw and (not raw.isdigit() or int(raw) not in years):
        ctx.doc.add_root(refused(f"没有{raw}年的目标"))
        return
    year, rows = _year_rows(ctx, [int(raw)] if raw else years)
    chips = "".join(f'<a class="{"red" if y == year else ""}" href="{escape(link("targets", year=y))}">{y}年</a>'
                    for y in sorted(years))
    behind = sum(r.behind for r in rows)
    summary = (f'<h3>{year}年目标进度（{len(rows)} 项，<span class="{"flag" if behind else ""}">落后 {behind} 项'
               f'</span>）</h3><div class="chips" id="years">{chips}</div>'
               '<p class="muted">总量目标看完成进度与时间进度之差（时间过半、任务过半），'
               '增速目标看累计增速与目标增速之差；红色为落后。全年预计按季节性推算，并给出回测误差区间；'
               '完成概率按往年同一时点预计的误差估算（不足五年时写几年中有几年可完成，不足两年不给）。</p>')
    table = f'<table class="grid" id="targets">{HEADER}{"".join(_row(ctx, r) for r in rows)}</table>'
    ctx.doc.add_root(column(div(summary + table, name="targets"), gap_chart(ctx, rows), sizing_mode="stretch_width",
                            name="target-progress"))
    ctx.doc.title = "目标进度"


def _year_rows(ctx: Context, years: list[int]) -> tuple[int, list[Standing]]:
    """The first of `years` (newest first) whose targets have a figure, with its rows."""
    for year in years[:-1]:
        rows = standings(ctx, year)
        if any(r.period for r in rows):
            return year, rows
    return years[-1], standings(ctx, years[-1])


def standings(ctx: Context, year: int) -> list[Standing]:
    found: list[Standing] = []
    for target in ctx.model.targets:
        if target.year != year or target.indicator not in ctx.model.indicators:
            continue
        entities = ctx.viewer.visible(v.entity for v in target.values)
        goals = {v.entity: v.value for v in target.values}
        series = _series(ctx, target.indicator, target.growth)
        found.extend(_standing(ctx, target.indicator, e, target.growth, goals[e], year, series) for e in entities)
    return found


def _series(ctx: Context, indicator: str, growth: bool) -> tuple[Axis | None, np.ndarray]:
    """The figure a target is read against, for every entity over the whole axis: the YTD growth for a growth
    target, the YTD level for a level target."""
    definition = ctx.model.indicators[indicator]
    if growth:
        expr = reading(ctx.model, indicator)[0]
    else:
        expr = expressions.parse(f"ytd({indicator})" if definition.form == "period" else indicator)
    return expressions.full_history(ctx.data.engine.panel, expr)  # type: ignore[union-attr]


def _standing(ctx: Context, indicator: str, entity: str, growth: bool, goal: float, year: int,
              series: tuple[Axis | None, np.ndarray]) -> Standing:
    axis, values = series
    panel = ctx.data.engine.panel  # type: ignore[union-attr]
    if axis is None or entity not in panel.entity_index:
        return Standing(indicator, entity, growth, goal)
    row = values[panel.entity_index[entity]]
    known = np.flatnonzero((axis.years == year) & np.isfinite(row))
    if not len(known):
        return Standing(indicator, entity, growth, goal)
    at = int(known[-1])
    period: Period = axis.periods[at]
    actual = float(row[at])
    projection = reports.project(panel, indicator, entity, period)  # None for what the brief does not project
    if growth:
        return Standing(indicator, entity, growth, goal, str(period), actual,
                        gap=reports.point_difference(actual, goal), projection=projection)
    definition = ctx.model.indicators[indicator]
    progress = actual / goal * 100 if goal else math.nan
    paced = definition.form in ("ytd", "period")  # a stock is not accumulated over the year
    elapsed = float(time_progress(axis)[at]) if paced else math.nan
    return Standing(indicator, entity, growth, goal, str(period), actual, progress, elapsed,
                    reports.point_difference(progress, elapsed), projection)


def _row(ctx: Context, r: Standing) -> str:
    definition = ctx.model.indicators[r.indicator]
    unit = definition.unit
    goal = f"增长{r.goal:g}%" if r.growth else reports.amount(r.goal, unit)
    actual = "—" if math.isnan(r.actual) else reports.growth(r.actual) if r.growth else reports.amount(r.actual, unit)
    flag = ' class="flag"' if r.behind else ""
    return (f'<tr data-indicator="{r.indicator}" data-entity="{r.entity}"><td>{escape(ctx.name(r.entity))}</td>'
            f'<td><a href="{escape(link("drill", entity=r.entity, indicator=r.indicator))}">'
            f'{escape(definition.name)}</a></td><td>{escape(goal)}</td><td>{escape(r.period or "暂无数据")}</td>'
            f'<td>{escape(actual)}</td><td>{_percent(r.progress)}</td><td>{_percent(r.elapsed)}</td>'
            f'<td class="gap"><span{flag}>{theme.signed(r.gap)}</span></td>'
            f'<td>{escape(_projected(r, unit))}</td><td>{_chance(r)}</td></tr>')


def _percent(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f}%"


def _projected(r: Standing, unit: str) -> str:
    """A level target's projection as a level and its share of the target, a growth target's as a growth."""
    found = r.projection
    if found is None:
        return "—"
    if r.growth:
        projected = found.growth_of(found.year_end)
        if math.isnan(projected):
            return "—"
        text = reports.growth(projected)
        if not math.isnan(found.low):
            text += f"，区间{found.growth_of(found.low):.1f}%–{found.growth_of(found.high):.1f}%"
        return text
    share = f"（目标的{found.year_end / r.goal * 100:.1f}%）" if r.goal else ""
    text = f"{reports.amount(found.year_end, unit)}{share}"
    if not math.isnan(found.low):
        text += f"，区间{reports.amount(found.low, '')}–{reports.amount(found.high, unit)}"
    return text


def _chance(r: Standing) -> str:
    chance = r.projection.probability(r.goal, growth=r.growth) if r.projection is not None else math.nan
    if math.isnan(chance):
        return "—"
    years = r.projection.backtest_years  # type: ignore[union-attr]
    if years < reports.MIN_YEARS_FOR_A_PERCENTAGE:
        return f"{round(chance * years)}/{years}年"  # a percentage of so few years would overstate it
    return f"{chance * 100:.0f}%"


def gap_chart(ctx: Context, rows: list[Standing]) -> LayoutDOM:
    """Horizontal bars of the gaps, red where behind."""
    shown = [r for r in rows if not math.isnan(r.gap)]
    # A level and a growth target on one indicator and region would share a label, and BokehJS draws no axis
    # with a factor twice: name the kind of target.
    labels = [f"{ctx.name(r.entity)}·{ctx.indicator_name(r.indicator)}{'（增速）' if r.growth else ''}"
              for r in shown]
    source = ColumnDataSource({"label": labels, "gap": [r.gap for r in shown],
                               "colour": [theme.RED if r.behind else theme.GREEN for r in shown]})
    fig = theme.plot("目标差距（百分点，负值为落后）", height=60 + 24 * max(len(shown), 1),
                     y_range=FactorRange(*labels[::-1]), name="gaps")
    fig.hbar(y="label", right="gap", height=0.7, source=source, fill_color="colour", line_color=None)
    fig.add_layout(Span(location=0, dimension="height", line_color=theme.MUTED, line_width=1))
    fig.add_tools(HoverTool(tooltips=[("", "@label"), ("差距", "@gap{+0.0}")]))
    return fig
