"""对比: 横向 — every county for one indicator, as ranked bars; 纵向 — the chosen regions over the years, the
same period against the same period; and a heat map of regions × headline indicators by deviation from the city.
"""

from __future__ import annotations

import math

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    LabelSet,
    LinearColorMapper,
    MultiChoice,
    Select,
    Span,
)
from bokeh.plotting import figure
from bokeh.transform import factor_cmap

from dashboards import expressions, theme
from dashboards.common import Context, div, escape, reading, refused, url_keeper
from dashboards.overview import HEADLINES
from engine.periods import Axis, Period

YEARS = 6


def build(ctx: Context) -> None:
    view = Compare(ctx)
    ctx.doc.add_root(view.layout)
    ctx.doc.title = "横向纵向对比"


class Compare:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        counties = ctx.counties()
        wanted = [e for e in ctx.args.get("entities", "").split(",") if e]
        blocked = [e for e in wanted if not ctx.viewer.sees(e)]
        self.layout = column(sizing_mode="stretch_width", name="compare")
        if blocked:
            self.layout.children = [refused(f"无权查看「{ctx.name(blocked[0])}」的数据")]
            return
        indicator = ctx.args.get("indicator", "ind_va")
        self.indicator = indicator if indicator in ctx.model.indicators else HEADLINES[1]
        self.entities = [e for e in wanted if e in ctx.model.entities] or counties[:2]
        self.period = ctx.args.get("period", "")
        options = [(i, d.name) for i, d in ctx.model.indicators.items() if ctx.data.latest(i).rows]
        self.pick = Select(title="指标", value=self.indicator, options=options, name="indicator", width=220)
        self.pick.on_change("value", lambda _a, _o, new: self.redraw(new, self.entities))
        self.choose = MultiChoice(title="对比地区", value=self.entities,
                                  options=[(e, ctx.name(e)) for e in ctx.regions()], name="entities", width=320)
        self.choose.on_change("value", lambda _a, _o, new: self.redraw(self.indicator, list(new)))
        self.bars_source = ColumnDataSource({k: [] for k in ("name", "value", "label", "color")})
        self.years_source = ColumnDataSource({"x": [], "value": [], "entity": []})
        self.summary = div(name="summary")
        self.url = url_keeper(ctx.doc)
        self.bars, self.city_mark = self._bars()
        self.years = self._years()
        self.layout.children = [row(self.pick, self.choose, sizing_mode="stretch_width", styles={"flex-wrap": "wrap"}),
                                self.summary, row(self.bars, self.years, sizing_mode="stretch_width",
                                                  styles={"flex-wrap": "wrap"}),
                                heatmap(ctx), self.url]
        self.redraw(self.indicator, self.entities)

    def _bars(self) -> tuple[figure, Span]:
        fig = theme.plot("横向：各地区对比", height=300, y_range=FactorRange(), min_width=320, name="bars")
        fig.hbar(y="name", right="value", height=0.7, color="color", source=self.bars_source)
        fig.add_layout(LabelSet(x="value", y="name", text="label", source=self.bars_source, x_offset=4,
                                y_offset=-6, text_font_size="11px", text_color=theme.MUTED))
        city = Span(dimension="height", line_color=theme.CITY, line_dash="dashed", line_width=2, location=0)
        fig.add_layout(city)
        fig.add_tools(HoverTool(tooltips=[("地区", "@name"), ("数值", "@value{0.0}"), ("位次", "@label")]))
        return fig, city

    def _years(self) -> figure:
        fig = theme.plot("纵向：历年同期", height=300, x_range=FactorRange(), min_width=320, name="years")
        fig.vbar(x="x", top="value", width=0.8, source=self.years_source,
                 fill_color=factor_cmap("x", palette=theme.PALETTE, factors=self.ctx.regions(), start=1, end=2))
        fig.add_tools(HoverTool(tooltips=[("", "@x"), ("数值", "@value{0.0}")]))
        fig.xaxis.major_label_orientation = 0.9
        return fig

    def redraw(self, indicator: str, entities: list[str]) -> None:
        ctx = self.ctx
        entities = [e for e in entities if ctx.viewer.sees(e)]
        self.indicator, self.entities = indicator, entities
        expr, unit = reading(ctx.model, indicator)
        panel = ctx.data.engine.panel  # type: ignore[union-attr]
        axis, values = expressions.full_history(panel, expr)
        if axis is None:
            return
        counties = ctx.counties()
        rows = values[[panel.entity_index[e] for e in counties]]
        end = axis.index(Period.parse(self.period)) if _on_axis(axis, self.period) else \
            expressions.last_column(rows)
        current = rows[:, end]
        order = [i for i in np.argsort(-np.nan_to_num(current, nan=-np.inf)) if not math.isnan(current[i])]
        ranked = [counties[i] for i in order]
        self.bars_source.data = {
            "name": [ctx.name(e) for e in ranked][::-1], "value": [float(current[i]) for i in order][::-1],
            "label": [f"第{n}位 {current[i]:.1f}" for n, i in enumerate(order, start=1)][::-1],
            "color": [theme.ACCENT if counties[i] in entities else theme.GRID for i in order][::-1]}
        self.bars.y_range.factors = [ctx.name(e) for e in ranked][::-1]
        period = axis.periods[end]
        city = values[panel.entity_index[ctx.city()], end]
        self.city_mark.location = float(city) if not math.isnan(city) else 0.0
        self.city_mark.visible = not math.isnan(city)
        self.bars.title.text = f"横向：{ctx.indicator_name(indicator)} {period}（{unit}；虚线为全市）"
        self._same_period(values, axis, end, entities)
        self.summary.text = self._summary(indicator, str(period), ranked, current, order, counties, entities)
        self.url.text = f"/dash/compare?indicator={indicator}&entities={','.join(entities)}"

    def _same_period(self, values: np.ndarray, axis: Axis, end: int, entities: list[str]) -> None:
        ctx = self.ctx
        panel = ctx.data.engine.panel  # type: ignore[union-attr]
        columns = [c for c in range(end, -1, -axis.per_year)][:YEARS][::-1]
        xs, ys = [], []
        for c in columns:
            for entity in entities:
                value = values[panel.entity_index[entity], c]
                xs.append((str(axis.periods[c]), ctx.name(entity)))
                ys.append(float(value) if not math.isnan(value) else math.nan)
        self.years.x_range.factors = xs
        self.years_source.data = {"x": xs, "value": ys, "entity": [x[1] for x in xs]}
        self.years.title.text = f"纵向：{ctx.indicator_name(self.indicator)} 历年同期（{axis.periods[end]}）"

    def _summary(self, indicator: str, period: str, ranked: list[str], current: np.ndarray, order: list[int],
                 counties: list[str], entities: list[str]) -> str:
        ctx = self.ctx
        position = {counties[i]: n for n, i in enumerate(order, start=1)}
        rows = "".join(f'<tr data-entity="{e}"><td>{escape(ctx.name(e))}</td>'
                       f'<td>{theme.number(_at(current, counties, e))}</td>'
                       f'<td>{"第" + str(position[e]) + "位" if e in position else "—"}</td></tr>' for e in entities)
        return (f'<h3>{escape(ctx.indicator_name(indicator))} · {escape(period)}</h3><table class="grid" '
                f'id="comparison"><tr><th>地区</th><th>数值</th><th>位次（共{len(ranked)}）</th></tr>{rows}</table>')


def _at(current: np.ndarray, counties: list[str], entity: str) -> float | None:
    if entity not in counties:
        return None
    value = current[counties.index(entity)]
    return None if math.isnan(value) else float(value)


def _on_axis(axis: Axis, period: str) -> bool:
    try:
        return Period.parse(period) in axis
    except ValueError:
        return False


def heatmap(ctx: Context) -> figure:
    """Regions × headline indicators, coloured by the gap to the city at each indicator's newest period."""
    panel = ctx.data.engine.panel  # type: ignore[union-attr]
    city, counties = ctx.city(), ctx.counties()
    xs, ys, gaps, texts = [], [], [], []
    names = []
    for indicator in HEADLINES:
        if indicator not in ctx.model.indicators:
            continue
        expr, _ = reading(ctx.model, indicator)
        axis, values = expressions.full_history(panel, expr)
        if axis is None:
            continue
        end = expressions.last_column(values[[panel.entity_index[city]]])
        base = values[panel.entity_index[city], end]
        names.append(ctx.indicator_name(indicator))
        for entity in counties:
            gap = values[panel.entity_index[entity], end] - base
            xs.append(ctx.indicator_name(indicator))
            ys.append(ctx.name(entity))
            gaps.append(float(gap) if np.isfinite(gap) else math.nan)
            texts.append(f"{gap:+.1f}" if np.isfinite(gap) else "")
    limit = max([abs(g) for g in gaps if not math.isnan(g)] or [1.0])
    mapper = LinearColorMapper(palette=list(theme.DIVERGING), low=-limit, high=limit, nan_color="#f0f0f0")
    fig = theme.plot("热力图：与全市的差距（百分点或指数点）", height=60 + 34 * max(len(counties), 1),
                     x_range=names, y_range=[ctx.name(e) for e in counties][::-1], name="heatmap")
    source = ColumnDataSource({"x": xs, "y": ys, "gap": gaps, "text": texts})
    fig.rect(x="x", y="y", width=1, height=1, source=source, fill_color={"field": "gap", "transform": mapper},
             line_color="#ffffff")
    fig.text(x="x", y="y", text="text", source=source, text_align="center", text_baseline="middle",
             text_font_size="11px")
    fig.xaxis.major_label_orientation = 0.8
    fig.grid.visible = False
    fig.add_tools(HoverTool(tooltips=[("地区", "@y"), ("指标", "@x"), ("差距", "@gap{+0.0}")]))
    return fig
