"""专题看板: the `dashboard` blocks of the active rule set, each panel drawn from its declaration alone — chart
kind, `show` expressions, entities and window — so a statistician adds a chart by editing a rule file.

Entities outside the viewer's scope are dropped from every panel. Chart kinds: line, area, band, scatter,
sparkline (series over the window); bar (regions at the newest period, or one region over the window); heatmap
(regions × periods, first expression); table; kpi; pie (the expressions' shares at the newest period).
"""

from __future__ import annotations

import math

import numpy as np
from bokeh.layouts import column
from bokeh.models import (
    CategoricalColorMapper,
    ColumnDataSource,
    DataTable,
    FactorRange,
    HoverTool,
    LayoutDOM,
    LinearColorMapper,
    NumberFormatter,
    TableColumn,
)
from bokeh.plotting import figure
from bokeh.transform import cumsum

from dashboards import expressions, theme
from dashboards.common import Context, describe, div, escape, link, refused
from dsl import ast
from engine.periods import Period

SERIES_KINDS = ("line", "area", "band", "scatter", "sparkline")


def build(ctx: Context) -> None:
    boards = ctx.model.dashboards
    chosen = ctx.args.get("id") or next(iter(boards), "")
    nav = "".join(f'<a class="{"red" if b == chosen else ""}" href="{escape(link("board", id=b))}">'
                  f'{escape(d.title)}</a>' for b, d in boards.items())
    header = div(f'<div class="chips" id="boards">{nav}</div>', name="boards")
    if chosen not in boards:
        ctx.doc.add_root(column(header, refused(f"没有看板「{chosen}」"), sizing_mode="stretch_width"))
        return
    dashboard = boards[chosen]
    panels = [render(ctx, panel) for panel in dashboard.panels]
    ctx.doc.add_root(column(header, div(f"<h3>{escape(dashboard.title)}</h3>"), *panels,
                            sizing_mode="stretch_width", name=f"board-{chosen}"))
    ctx.doc.title = dashboard.title


def entities_of(ctx: Context, panel: ast.PanelDef) -> list[str]:
    found: list[str] = []
    for entity_set in panel.entities or ():
        found.extend(e for e in ctx.model.expand_set(entity_set, subtree_default=False) if e not in found)
    return ctx.viewer.visible(found or [ctx.city()])


def evaluate_panel(ctx: Context, panel: ast.PanelDef, entities: list[str]) -> list[expressions.Result]:
    """Each `show` expression over the panel's window; those that read no data (time_progress) end where the
    others do."""
    engine_panel = ctx.data.engine.panel  # type: ignore[union-attr]
    window = panel.window or 12
    results = {i: expressions.evaluate(engine_panel, e, entities, window) for i, e in enumerate(panel.show)
               if expressions.reads_data(ctx.model, e)}
    anchor = next((r for r in results.values() if r.periods), None)
    for i, expr in enumerate(panel.show):
        if i not in results:
            same = anchor is not None and anchor.freq == expressions.frequency(ctx.model, expr)
            end = engine_panel.axes[anchor.freq].index(Period.parse(anchor.periods[-1])) if same else None
            results[i] = expressions.evaluate(engine_panel, expr, entities, window, end)
    return [results[i] for i in range(len(panel.show))]


def render(ctx: Context, panel: ast.PanelDef) -> LayoutDOM:
    entities = entities_of(ctx, panel)
    if not entities:
        return refused(f"{panel.title}：无权查看其中的地区")
    results = evaluate_panel(ctx, panel, entities)
    labels = [describe(ctx.model, expr) for expr in panel.show]
    kind = panel.chart
    if kind in SERIES_KINDS:
        return _series(ctx, panel, results, labels)
    return {"bar": _bar, "heatmap": _heatmap, "table": _table, "kpi": _kpi, "pie": _pie}[kind](
        ctx, panel, results, labels)


def _series(ctx: Context, panel: ast.PanelDef, results: list[expressions.Result], labels: list[str]) -> LayoutDOM:
    periods = max((r.periods for r in results), key=len)
    height = 120 if panel.chart == "sparkline" else 280
    fig = theme.plot(panel.title, height=height, x_range=FactorRange(*periods), name=panel.id)
    colours = iter(theme.PALETTE * 8)
    many = sum(len(r.entities) for r in results) > 1
    for result, label in zip(results, labels, strict=True):
        for row, entity in enumerate(result.entities):
            name = f"{ctx.name(entity)}·{label}" if many else label
            ys = _values(result.values[row])
            if np.isnan(result.values[row]).all():
                continue
            source = ColumnDataSource({"x": result.periods, "y": ys, "name": [name] * len(ys)})
            colour = next(colours)
            if panel.chart == "scatter":
                fig.scatter("x", "y", source=source, color=colour, legend_label=name, size=6)
            elif panel.chart == "area":
                fig.varea(x="x", y1=0, y2="y", source=source, fill_color=colour, fill_alpha=0.35, legend_label=name)
                fig.line("x", "y", source=source, color=colour, legend_label=name)
            else:
                fig.line("x", "y", source=source, color=colour, line_width=2, legend_label=name)
    fig.xaxis.major_label_orientation = 0.9
    theme.thin_period_labels(fig)
    fig.add_tools(HoverTool(tooltips=[("", "@name"), ("期别", "@x"), ("数值", "@y{0,0.0}")]))
    if fig.legend:
        # Beyond a few series the legend hides the lines: the hover names them instead.
        fig.legend.visible = panel.chart != "sparkline" and len(fig.legend[0].items) <= 4
        fig.legend.label_text_font_size = "11px"
        _legend_below(fig)
    return fig


def _bar(ctx: Context, panel: ast.PanelDef, results: list[expressions.Result], labels: list[str]) -> LayoutDOM:
    single_period = all(len(r.periods) <= 1 for r in results)
    if single_period:
        groups = [ctx.name(e) for e in results[0].entities]
        values = [_last(r.values[row]) for row in range(len(results[0].entities)) for r in results]
        period = results[0].periods[-1] if results[0].periods else ""
        title = f"{panel.title}（{period}）"
    else:  # one region over the window: the panel's first region
        groups = results[0].periods
        values = [_value(r.values[0][i]) for i in range(len(results[0].periods)) for r in results]
        title = f"{panel.title}（{ctx.name(results[0].entities[0])}）"
    factors = [(g, label) for g in groups for label in labels] if len(labels) > 1 else groups
    source = ColumnDataSource({"x": factors, "value": values, "label": [labels[i % len(labels)]
                                                                         for i in range(len(values))]})
    fig = theme.plot(title, height=300, x_range=FactorRange(*factors), name=panel.id)
    fig.vbar(x="x", top="value", width=0.8, source=source, legend_field="label",
             fill_color={"field": "label", "transform": _colour_map(labels)})
    if len(labels) > 1:
        fig.xaxis.major_label_text_font_size = "0px"  # the legend names the bars of each group
    elif not single_period:
        theme.thin_period_labels(fig)
    fig.xaxis.major_label_orientation = 0.9
    # Region names side by side overlap on a phone beyond five or so.
    fig.xaxis.group_label_orientation = 0.0 if single_period and len(groups) <= 5 else 0.9
    fig.legend.visible = len(labels) > 1
    _legend_below(fig)
    fig.add_tools(HoverTool(tooltips=[("", "@x"), ("数值", "@value{0,0.0}")]))
    return fig


def _legend_below(fig: figure) -> None:
    """Under the plot, one entry per line: on a phone it then covers no line or bar and is not cut off."""
    fig.add_layout(fig.legend[0], "below")


def _colour_map(labels: list[str]) -> CategoricalColorMapper:
    return CategoricalColorMapper(factors=labels, palette=list(theme.PALETTE[:max(len(labels), 1)]) or ["#000"])


def _heatmap(ctx: Context, panel: ast.PanelDef, results: list[expressions.Result], labels: list[str]) -> LayoutDOM:
    result = results[0]
    names = [ctx.name(e) for e in result.entities]
    xs = [p for _ in result.entities for p in result.periods]
    ys = [n for n in names for _ in result.periods]
    values = [_value(v) for row in result.values for v in row]
    finite = [abs(v) for v in values if not math.isnan(v)]
    limit = max(finite or [1.0])
    mapper = LinearColorMapper(palette=list(theme.DIVERGING), low=-limit, high=limit, nan_color="#f0f0f0")
    fig = theme.plot(f"{panel.title}（{labels[0]}）", height=60 + 30 * len(names), x_range=result.periods,
                     y_range=names[::-1], name=panel.id)
    fig.rect(x="x", y="y", width=1, height=1, source=ColumnDataSource({"x": xs, "y": ys, "value": values}),
             fill_color={"field": "value", "transform": mapper}, line_color="#ffffff")
    fig.xaxis.major_label_orientation = 0.9
    theme.thin_period_labels(fig)
    fig.grid.visible = False
    fig.add_tools(HoverTool(tooltips=[("地区", "@y"), ("期别", "@x"), ("数值", "@value{+0.0}")]))
    return fig


def _table(ctx: Context, panel: ast.PanelDef, results: list[expressions.Result], labels: list[str]) -> LayoutDOM:
    data = {"entity": [ctx.name(e) for e in results[0].entities]}
    columns = [TableColumn(field="entity", title="地区")]
    for position, (result, label) in enumerate(zip(results, labels, strict=True)):
        data[f"c{position}"] = [_last(row) for row in result.values]
        columns.append(TableColumn(field=f"c{position}", title=label, formatter=NumberFormatter(format="0,0.0")))
    period = results[0].periods[-1] if results[0].periods else ""
    title = div(f"<h3>{escape(panel.title)}（{escape(period)}）</h3>")
    table = DataTable(source=ColumnDataSource(data), columns=columns, index_position=None,
                      height=40 + 28 * len(results[0].entities), sizing_mode="stretch_width", name=panel.id)
    return column(title, table, sizing_mode="stretch_width")


def _kpi(ctx: Context, panel: ast.PanelDef, results: list[expressions.Result], labels: list[str]) -> LayoutDOM:
    cards = "".join(f'<div class="card"><div class="name">{escape(label)}</div>'
                    f'<div class="value">{theme.number(_last(r.values[0]))}</div>'
                    f'<div class="meta">{escape(r.periods[-1] if r.periods else "")}</div></div>'
                    for r, label in zip(results, labels, strict=True))
    return div(f'<h3>{escape(panel.title)}</h3><div class="cards">{cards}</div>', name=panel.id)


def _pie(ctx: Context, panel: ast.PanelDef, results: list[expressions.Result], labels: list[str]) -> LayoutDOM:
    values = [_last(r.values[0]) for r in results]
    total = sum(v for v in values if not math.isnan(v)) or 1.0
    shares = [0.0 if math.isnan(v) else v / total for v in values]
    source = ColumnDataSource({"label": [f"{label} {s:.1%}" for label, s in zip(labels, shares, strict=True)],
                               "angle": [s * 2 * math.pi for s in shares], "value": values,
                               "color": list(theme.PALETTE[:len(values)])})
    fig = theme.plot(f"{panel.title}（{results[0].periods[-1] if results[0].periods else ''}）", height=280,
                     x_range=(-1.2, 2.2), y_range=(-1.1, 1.1), name=panel.id)
    fig.wedge(x=0, y=0, radius=1, start_angle=cumsum("angle", include_zero=True), end_angle=cumsum("angle"),
              line_color="#ffffff", fill_color="color", legend_field="label", source=source)
    fig.axis.visible = False
    fig.grid.visible = False
    fig.legend.location = "center_right"
    return fig


def _values(row: np.ndarray) -> list[float]:
    return [_value(v) for v in row]


def _value(value: float) -> float:
    return float(value) if np.isfinite(value) else math.nan


def _last(row: np.ndarray) -> float:
    return _value(row[-1]) if len(row) else math.nan
