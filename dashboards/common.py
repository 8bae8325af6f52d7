"""What every view shares: the session's context (data, viewer, arguments), Chinese names for expressions,
the series a leader reads for an indicator, links, and the hidden model that keeps the page's URL in step."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from bokeh.document import Document
from bokeh.events import DocumentReady
from bokeh.models import CustomJS, Div

from dashboards import expressions, theme
from dashboards.data import Data, Viewer
from dsl import ast
from dsl.model import Model

FUNCTION_NAMES = {"yoy": "同比", "mom": "环比", "yoy2": "两年平均增速", "single": "当期值", "ytd": "累计值",
                  "share": "占比", "rank": "位次", "peer_z": "同级稳健Z值", "progress": "序时进度",
                  "time_progress": "时间进度", "target": "目标"}
STATE_NAMES = {"firing": "报警中", "pending": "待定", "resolved": "已解除", "inactive": "未触发"}
SEVERITY_NAMES = {"critical": "严重", "warning": "警告", "info": "提示"}
WORKFLOW_NAMES = {"open": "待处理", "acknowledged": "已确认", "explained": "已说明", "data_error": "数据有误"}


@dataclass
class Context:
    data: Data
    viewer: Viewer
    args: Mapping[str, str]
    doc: Document

    @property
    def model(self) -> Model:
        assert self.data.model is not None
        return self.data.model

    def name(self, entity: str) -> str:
        found = self.model.entities.get(entity)
        return found.name if found is not None else entity

    def indicator_name(self, indicator: str) -> str:
        found = self.model.indicators.get(indicator)
        return found.name if found is not None else indicator

    def city(self) -> str:
        """The root of the region tree the dashboards open on."""
        roots = [e.id for e in self.model.entities.values() if e.parent is None and e.kind not in ("province",)]
        return roots[0]

    def counties(self) -> list[str]:
        """The city's visible children, functional zones last."""
        children = self.model.children(self.city())
        ordered = sorted(children, key=lambda e: bool(self.model.entities[e].attrs.get("overlay")))
        return self.viewer.visible(ordered)

    def regions(self) -> list[str]:
        return self.viewer.visible([self.city(), *self.counties()])


def describe(model: object, expr: ast.Expr) -> str:
    """An expression in words a leader reads: `yoy(power_ind)` → 工业用电量同比."""
    if isinstance(expr, ast.Ref):
        found = model.indicators.get(expr.name) or model.series.get(expr.name)  # type: ignore[attr-defined]
        return found.name if found is not None else expr.name
    if isinstance(expr, ast.At):
        target = {"province": "全省", "parent": "上级"}.get(expr.target)
        if target is None:
            entity = model.entities.get(expr.target)  # type: ignore[attr-defined]
            target = entity.name if entity is not None else expr.target
        return f"{describe(model, expr.operand)}（{target}）"
    if isinstance(expr, ast.Call):
        name = FUNCTION_NAMES.get(expr.function, expr.function)
        if not expr.args:
            return name
        inner = describe(model, expr.args[0])
        return f"{inner}{name}" if expr.function in FUNCTION_NAMES else f"{name}({inner})"
    if isinstance(expr, ast.Binary):
        return f"{describe(model, expr.left)}{expr.op}{describe(model, expr.right)}"
    if isinstance(expr, ast.Number):
        return f"{expr.value:g}"
    return expressions.format_expr(expr, {})


def reading(model: object, indicator: str) -> tuple[ast.Expr, str]:
    """The series a leader reads for an indicator: published rates and indices as they are, levels as their
    year-on-year growth. Returns the expression and its axis label."""
    definition = model.indicators[indicator]  # type: ignore[attr-defined]
    if definition.form in ("rate", "index"):
        return expressions.parse(indicator), definition.unit or ""
    return expressions.parse(f"yoy({indicator})"), "同比增长（%）"


def link(view: str, **args: object) -> str:
    query = urlencode({k: v for k, v in args.items() if v not in (None, "")})
    return f"/dash/{view}" + (f"?{query}" if query else "")


def escape(text: object) -> str:
    return html.escape(str(text))


def div(text: str = "", **options: object) -> Div:
    options.setdefault("sizing_mode", "stretch_width")
    return Div(text=text, stylesheets=[theme.CSS], **options)


def url_keeper(doc: Document) -> Div:
    """A hidden model whose text is the view's URL: the browser puts it in the address bar (without a reload),
    on load and on every change, so that the address a leader copies into a chat opens exactly this view."""
    keeper = Div(text="", visible=False, name="url")
    code = "if (keeper.text) window.history.replaceState(null, '', keeper.text)"
    keeper.js_on_change("text", CustomJS(args={"keeper": keeper}, code=code))
    doc.js_on_event(DocumentReady, CustomJS(args={"keeper": keeper}, code=code))
    return keeper


def refused(text: str) -> Div:
    return div(f'<p class="flag" id="refused">{escape(text)}</p>', name="refused")
