"""下钻: a region → its indicators → one indicator's series, with the reasonable-range band, the city's and the
province's lines, change points, alert periods in red, and for a chosen period its revision history and the
statisticians' explanations. Choosing a region, an indicator or a period redraws in place and updates the URL.

The reasonable range is the reference (the city for a county, the province for the city) plus or minus 2.5
robust standard deviations (1.4826·MAD) of the region's own deviation from it over its history: a county that
usually runs 3 points above the city is not flagged for doing so again.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
from bokeh.core.properties import value
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    DataTable,
    FixedTicker,
    HoverTool,
    HTMLTemplateFormatter,
    NumberFormatter,
    Select,
    TableColumn,
)
from bokeh.plotting import figure

from dashboards import expressions, theme
from dashboards.common import (
    SEVERITY_NAMES,
    STATE_NAMES,
    WORKFLOW_NAMES,
    Context,
    div,
    escape,
    link,
    reading,
    refused,
    url_keeper,
)
from engine import changepoints
from server import queries
from server.store.models import Alert

WINDOW = {"monthly": 36, "quarterly": 12, "annual": 10}
FLAG = '<span style="color:#d93025;font-weight:600"><%= value %></span>'


def build(ctx: Context) -> None:
    view = Drill(ctx)
    ctx.doc.add_root(view.layout)
    ctx.doc.title = "指标下钻"


class Drill:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        data = ctx.data
        args = ctx.args
        alert = _alert(data.alerts, args.get("alert"))
        self.entity = args.get("entity") or (alert["entity"] if alert else "") or ctx.city()
        self.layout = column(sizing_mode="stretch_width", name="drill")
        if alert is None and args.get("alert") and not args.get("entity"):
            self.layout.children = [refused(f"没有编号为 {args['alert']} 的预警，或无权查看")]
            return
        if not ctx.viewer.sees(self.entity) or self.entity not in ctx.model.entities:
            self.layout.children = [refused(f"无权查看「{ctx.name(self.entity)}」的数据")]
            return
        wanted = args.get("indicator") or (data.alert_indicators(alert)[0] if alert and data.alert_indicators(alert)
                                           else "")
        self.indicator = wanted if wanted in ctx.model.indicators else ""
        self.period = args.get("period") or (alert["period"] if alert else "")
        self._widgets()
        self.show_entity(self.entity, self.indicator, self.period)

    # ------------------------------------------------------------------ layout

    def _widgets(self) -> None:
        ctx = self.ctx
        regions = ctx.regions()
        if self.entity not in regions:
            regions = [self.entity, *regions]
        self.region = Select(title="地区", value=self.entity, options=[(e, ctx.name(e)) for e in regions],
                             name="region", width=200)
        self.region.on_change("value", lambda _a, _o, new: self.show_entity(new, "", ""))
        self.indicators = ColumnDataSource({k: [] for k in ("indicator", "name", "value", "growth", "rank", "flag")})
        self.indicators.selected.on_change("indices", self._pick_indicator)
        self.indicator_table = DataTable(source=self.indicators, columns=[
            TableColumn(field="name", title="指标", width=220),
            TableColumn(field="value", title="最新值", formatter=NumberFormatter(format="0,0.0"), width=90),
            TableColumn(field="growth", title="增速", formatter=NumberFormatter(format="+0.0"), width=60),
            TableColumn(field="rank", title="位次", width=50),
            TableColumn(field="flag", title="预警", formatter=HTMLTemplateFormatter(template=FLAG), width=50),
        ], height=260, sizing_mode="stretch_width", index_position=None, name="indicators")
        self.series = ColumnDataSource({k: [] for k in ("x", "period", "y", "value")})
        self.city_line = ColumnDataSource({"x": [], "y": []})
        self.province_line = ColumnDataSource({"x": [], "y": []})
        self.band = ColumnDataSource({"x": [], "lower": [], "upper": []})
        self.red = ColumnDataSource({"x": [], "y": [], "period": [], "rules": []})
        self.breaks = ColumnDataSource({"x": [], "y0": [], "y1": []})
        self.chosen = ColumnDataSource({"x": [], "y": []})
        self.figure = self._figure()
        self.points = ColumnDataSource({k: [] for k in ("period", "value", "shown", "city", "province", "flag")})
        self.points.selected.on_change("indices", self._pick_period)
        self.point_table = DataTable(source=self.points, columns=[
            TableColumn(field="period", title="期别"),
            TableColumn(field="value", title="数值", formatter=NumberFormatter(format="0,0.00")),
            TableColumn(field="shown", title="图示值", formatter=NumberFormatter(format="0.0")),
            TableColumn(field="city", title="全市", formatter=NumberFormatter(format="0.0")),
            TableColumn(field="province", title="全省", formatter=NumberFormatter(format="0.0")),
            TableColumn(field="flag", title="预警", formatter=HTMLTemplateFormatter(template=FLAG)),
        ], height=240, sizing_mode="stretch_width", index_position=None, name="points")
        self.heading = div(name="heading")
        self.detail = div(name="detail")
        self.notes = div(name="notes")
        self.url = url_keeper(ctx.doc)
        left = column(self.region, self.indicator_table, sizing_mode="stretch_width", min_width=320)
        right = column(self.heading, self.figure, self.point_table, sizing_mode="stretch_width", min_width=320)
        self.layout.children = [row(left, right, sizing_mode="stretch_width", styles={"flex-wrap": "wrap"}),
                                self.detail, self.notes, self.url]

    def _figure(self) -> figure:
        fig = theme.plot(height=300, name="series")
        fig.varea(x="x", y1="lower", y2="upper", source=self.band, fill_color=theme.BAND, fill_alpha=0.6,
                  legend_label="合理区间")
        self.reference_line = fig.line(x="x", y="y", source=self.city_line, color=theme.CITY, line_dash="dashed",
                                       legend_label="全市", name="reference")
        fig.line(x="x", y="y", source=self.province_line, color=theme.PROVINCE, line_dash="dotted",
                 legend_label="全省")
        fig.segment(x0="x", x1="x", y0="y0", y1="y1", source=self.breaks, color=theme.MUTED, line_dash="dashdot",
                    legend_label="结构变化点")
        main = fig.line(x="x", y="y", source=self.series, color=theme.ACCENT, line_width=2, legend_label="本地区")
        fig.scatter(x="x", y="y", source=self.series, color=theme.ACCENT, size=4)
        fig.scatter(x="x", y="y", source=self.red, color=theme.RED, size=10, legend_label="预警期", name="red")
        fig.scatter(x="x", y="y", source=self.chosen, marker="circle", fill_color=None, line_color=theme.INK,
                    line_width=2, size=16)
        fig.legend.orientation = "horizontal"
        fig.add_layout(fig.legend[0], "below")
        fig.add_tools(HoverTool(renderers=[main], tooltips=[("期别", "@period"), ("图示值", "@y{0.0}"),
                                                           ("数值", "@value{0,0.00}")]))
        return fig

    # ------------------------------------------------------------------ callbacks

    def _pick_indicator(self, _attr: str, _old: list[int], new: list[int]) -> None:
        # Selecting the row in Python (show_entity) calls back here too: only a different indicator redraws.
        if new and self.indicators.data["indicator"][new[0]] != self.indicator:
            self.show_indicator(self.indicators.data["indicator"][new[0]], "")

    def _pick_period(self, _attr: str, _old: list[int], new: list[int]) -> None:
        if new and self.points.data["period"][new[0]] != self.period:
            self.show_period(self.points.data["period"][new[0]])

    # ------------------------------------------------------------------ drawing

    def show_entity(self, entity: str, indicator: str, period: str) -> None:
        if not self.ctx.viewer.sees(entity):
            return
        self.entity = entity
        rows = self._indicator_rows(entity)
        self.indicators.data = rows
        choice = indicator or next((i for i, f in zip(rows["indicator"], rows["flag"], strict=True) if f), "") \
            or (rows["indicator"][0] if rows["indicator"] else "")
        if choice:
            self.show_indicator(choice, period)
        self.indicators.selected.indices = [rows["indicator"].index(choice)] if choice in rows["indicator"] else []

    def _indicator_rows(self, entity: str) -> dict[str, list]:
        data, model = self.ctx.data, self.ctx.model
        firing = data.firing_indicators(entity)
        found: list[tuple] = []
        for indicator, definition in model.indicators.items():
            answer = data.latest(indicator)
            mine = next((r for r in answer.rows if r["entity"] == entity), None)
            if mine is None:
                continue
            flag = "预警" if indicator in firing else ""
            rank = f'{mine["growth_rank"]}/{mine["peers"]}' if mine["growth_rank"] else ""
            found.append((not flag, indicator, definition.name, _nan(mine["value"]), _nan(mine["growth"]), rank, flag))
        found.sort(key=lambda r: r[0])
        columns = ("indicator", "name", "value", "growth", "rank", "flag")
        return {name: [r[i + 1] for r in found] for i, name in enumerate(columns)}

    def show_indicator(self, indicator: str, period: str) -> None:
        ctx = self.ctx
        self.indicator = indicator
        panel = ctx.data.engine.panel  # type: ignore[union-attr]
        expr, unit = reading(ctx.model, indicator)
        axis, shown = expressions.full_history(panel, expr)
        _, raw = expressions.full_history(panel, expressions.parse(indicator))
        me = panel.entity_index[self.entity]
        window = WINDOW.get(axis.freq, 36) if axis else 0
        end = expressions.last_column(shown[[me]]) if axis else 0
        first = max(0, end - window + 1)
        periods = [str(p) for p in axis.periods[first:end + 1]] if axis else []
        xs = list(range(len(periods)))
        ys = shown[me, first:end + 1]
        values = raw[me, first:end + 1]
        city, province = self._references()
        self._name_reference("全市" if city in (None, ctx.city()) else ctx.name(city))
        city_ys = shown[panel.entity_index[city], first:end + 1] if city else np.full(len(xs), np.nan)
        province_ys = shown[panel.entity_index[province], first:end + 1] if province else np.full(len(xs), np.nan)
        reference = city_ys if city else province_ys
        lower, upper = _band(shown[me], shown[panel.entity_index[city or province]] if (city or province) else None,
                             first, end)
        red = ctx.data.firing_periods(self.entity, indicator)
        self.series.data = {"x": xs, "period": periods, "y": _list(ys), "value": _list(values)}
        self.city_line.data = {"x": xs if city else [], "y": _list(city_ys) if city else []}
        self.province_line.data = {"x": xs if province else [], "y": _list(province_ys) if province else []}
        self.band.data = {"x": xs, "lower": _list(lower), "upper": _list(upper)}
        marks = [(i, p) for i, p in enumerate(periods) if p in red and not math.isnan(ys[i])]
        self.red.data = {"x": [i for i, _ in marks], "y": [float(ys[i]) for i, _ in marks],
                         "period": [p for _, p in marks], "rules": ["、".join(red[p]) for _, p in marks]}
        self._breaks(xs, ys, reference)
        self.figure.xaxis.ticker = FixedTicker(ticks=xs[::max(1, len(xs) // 8)] + ([xs[-1]] if xs else []))
        self.figure.xaxis.major_label_overrides = dict(zip(xs, periods, strict=True))
        self.figure.yaxis.axis_label = unit
        self.figure.title.text = f"{ctx.name(self.entity)} · {ctx.indicator_name(indicator)}"
        self.points.data = {
            "period": periods[::-1], "value": _list(values[::-1]), "shown": _list(ys[::-1]),
            "city": _list(city_ys[::-1]), "province": _list(province_ys[::-1]),
            "flag": ["预警" if p in red else "" for p in periods[::-1]]}
        self.heading.text = self._heading(indicator, periods, values, ys, red)
        self.show_period(period if period in periods else "")
        self.ctx.doc.add_next_tick_callback(partial(self._load_notes, self.entity, indicator))

    def _references(self) -> tuple[str | None, str | None]:
        model = self.ctx.model
        parent = model.entities[self.entity].parent
        province = model.province()
        return (parent if parent and parent in self.ctx.data.engine.panel.entity_index else None,  # type: ignore
                province if province and province != self.entity else None)

    def _name_reference(self, name: str) -> None:
        """An enterprise's reference is its county, not the city: the legend and the table say which."""
        # Held, not searched for: a select over the document's models took most of a click's time.
        item = next(i for i in self.figure.legend[0].items if self.reference_line in i.renderers)
        if item.label != value(name):
            item.label = value(name)
        next(c for c in self.point_table.columns if c.field == "city").title = name

    def _breaks(self, xs: list[int], ys: np.ndarray, reference: np.ndarray) -> None:
        found = changepoints.detect(ys) if len(ys) else []
        both = np.concatenate([ys, reference]) if len(ys) else ys
        known = both[~np.isnan(both)] if len(both) else both
        low, high = (float(known.min()), float(known.max())) if len(known) else (0.0, 1.0)
        self.breaks.data = {"x": [xs[i] - 0.5 for i in found], "y0": [low] * len(found), "y1": [high] * len(found)}

    def _heading(self, indicator: str, periods: list[str], values: np.ndarray, ys: np.ndarray,
                 red: dict[str, list[str]]) -> str:
        ctx = self.ctx
        definition = ctx.model.indicators[indicator]
        last = next((i for i in range(len(periods) - 1, -1, -1) if not math.isnan(values[i])), None)
        latest = "暂无数据" if last is None else \
            f"{periods[last]}：{theme.number(float(values[last]), 2)} {escape(definition.unit)}" + \
            ("" if definition.form in ("rate", "index") else f"，同比 {theme.signed(float(ys[last]))}%")
        alerts = sorted(p for p in red if p in periods)
        flag = f'<span class="flag" id="red-periods">预警期：{"、".join(alerts)}</span>' if alerts else \
            '<span class="muted">近期无预警</span>'
        compare = escape(link("compare", indicator=indicator, entities=self.entity))
        return (f'<h3 id="drill-title">{escape(ctx.name(self.entity))} · {escape(definition.name)}</h3>'
                f'<p>{latest} · {flag} · <a href="{compare}">横向对比</a></p>')

    def show_period(self, period: str) -> None:
        self.period = period
        periods = self.series.data["period"]
        if period in periods:
            at = periods.index(period)
            y = self.series.data["y"][at]
            self.chosen.data = {"x": [at], "y": [y]}
            index = self.points.data["period"].index(period)
            if self.points.selected.indices != [index]:
                self.points.selected.indices = [index]
            self.detail.text = f'<h3>{escape(period)}</h3><p class="muted">正在读取修订记录…</p>'
            self.ctx.doc.add_next_tick_callback(partial(self._load_period, self.entity, self.indicator, period))
        else:
            self.chosen.data = {"x": [], "y": []}
            self.detail.text = '<p class="muted">点选表中的一期，查看它的修订记录和预警说明。</p>'
        self.url.text = link("drill", entity=self.entity, indicator=self.indicator, period=period)

    # ------------------------------------------------------------------ from the store

    def _alerts_here(self, indicator: str) -> list[dict]:
        data = self.ctx.data
        return [a for a in data.alerts if a["entity"] == self.entity and indicator in data.alert_indicators(a)]

    async def _load_period(self, entity: str, indicator: str, period: str) -> None:
        revisions = await queries.revisions(indicator, entity, period)
        stories = await _stories(self._alerts_here(indicator))
        if (entity, indicator) != (self.entity, self.indicator):
            return  # the leader moved on while this was read
        self.detail.text = period_html(self.ctx, period, revisions, stories)

    async def _load_notes(self, entity: str, indicator: str) -> None:
        stories = await _stories(self._alerts_here(indicator))
        if (entity, indicator) != (self.entity, self.indicator):
            return
        self.notes.text = notes_html(self.ctx, stories)


def period_html(ctx: Context, period: str, revisions: list[dict], stories: list[dict]) -> str:
    rows = "".join(f'<tr><td>第{r["vintage"]}版</td><td>{theme.number(r["value"], 2)}</td>'
                   f'<td>{escape(r["source"])}</td><td>{escape(r["user"] or "—")}</td>'
                   f'<td>{escape(r["created_at"][:16].replace("T", " "))}</td></tr>' for r in revisions)
    table = (f'<table class="grid" id="revisions"><tr><th>版本</th><th>数值</th><th>来源</th><th>报送人</th>'
             f'<th>时间</th></tr>{rows}</table>') if rows else '<p class="muted">该期没有数据。</p>'
    moves = [f'<li><span class="flag">{escape(STATE_NAMES.get(t["new"], t["new"]))}</span> '
             f'{escape(_rule_title(ctx, s["rule"]))}：{escape(t["message"])}</li>'
             for s in stories for t in s["transitions"] if t["period"] == period]
    alerts = f'<ul class="list">{"".join(moves)}</ul>' if moves else ""
    return f'<h3>{escape(period)} 修订记录</h3>{table}{alerts}'


def notes_html(ctx: Context, stories: list[dict]) -> str:
    if not stories:
        return ""
    items = []
    for story in stories:
        head = (f'<li><a href="{escape(link("alert", alert=story["id"]))}">{escape(_rule_title(ctx, story["rule"]))}'
                f'</a> <span class="muted">{escape(SEVERITY_NAMES.get(story["severity"], ""))} · '
                f'{escape(STATE_NAMES.get(story["state"], story["state"]))} · '
                f'{escape(WORKFLOW_NAMES.get(story["workflow"], story["workflow"]))}</span>')
        notes = "".join(f'<div>💬 {escape(n["user"] or "系统")}：{escape(n["note"])}'
                        f'{"（有效期至 " + escape(n["expires"]) + "）" if n["expires"] else ""}</div>'
                        for n in story["notes"] if n["note"])
        items.append(head + notes + "</li>")
    return f'<h3>预警与统计员说明</h3><ul class="list" id="notes">{"".join(items)}</ul>'


def _rule_title(ctx: Context, rule: str) -> str:
    definition = ctx.model.rules.get(rule) or ctx.model.checks.get(rule)
    return definition.title if definition is not None else rule


async def _stories(alerts: list[dict]) -> list[dict]:
    found = await Alert.filter(id__in=[a["id"] for a in alerts]).order_by("-updated_at")
    return [await queries.alert_story(a) for a in found]


def _alert(alerts: list[dict], raw: str | None) -> dict | None:
    if not raw or not raw.isdigit():
        return None
    return next((a for a in alerts if a["id"] == int(raw)), None)


def _band(mine: np.ndarray, reference: np.ndarray | None, first: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    if reference is None:  # no higher level to compare with: the region's own typical level
        reference = np.full_like(mine, np.nanmedian(mine) if np.isfinite(mine).any() else np.nan)
    deviation = mine - reference
    known = deviation[np.isfinite(deviation)]
    if len(known) < 3:
        empty = np.full(end - first + 1, np.nan)
        return empty, empty
    middle = float(np.median(known))
    spread = max(2.5 * 1.4826 * float(np.median(np.abs(known - middle))), 0.5)
    base = reference[first:end + 1] + middle
    return base - spread, base + spread


def _list(values: np.ndarray) -> list[float]:
    return [float(v) if np.isfinite(v) else math.nan for v in values]


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
