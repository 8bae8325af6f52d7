"""One look for every dashboard: colours, fonts, the Bokeh theme, figure defaults and number formatting."""

from __future__ import annotations

import math

from bokeh.models import CustomJSTickFormatter
from bokeh.plotting import figure
from bokeh.themes import Theme

FONT = '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif'
INK, MUTED, GRID, PAPER = "#1f2933", "#6b7785", "#e4e7eb", "#ffffff"
ACCENT, CITY, PROVINCE, BAND = "#1f6fb2", "#e8a33d", "#7b61a8", "#cfe3f5"
RED, GREEN = "#d93025", "#1e8e3e"
# Colour-blind-safe (Okabe–Ito) for panels that show several series at once.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
DIVERGING = ("#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b")

THEME = Theme(json={"attrs": {
    "Plot": {"background_fill_color": PAPER, "border_fill_color": PAPER, "outline_line_color": None,
             "min_border_left": 40, "min_border_right": 12, "toolbar_location": None},
    "Title": {"text_font": FONT, "text_font_size": "14px", "text_color": INK, "text_font_style": "bold"},
    "Axis": {"axis_label_text_font": FONT, "major_label_text_font": FONT, "major_label_text_color": MUTED,
             "axis_line_color": GRID, "major_tick_line_color": GRID, "minor_tick_line_color": None,
             "axis_label_text_font_style": "normal", "axis_label_text_color": MUTED},
    "Grid": {"grid_line_color": GRID, "grid_line_alpha": 0.8},
    "Legend": {"label_text_font": FONT, "label_text_font_size": "12px", "background_fill_alpha": 0.7,
               "border_line_color": None, "location": "top_left", "click_policy": "hide"},
    "Div": {"styles": {"font-family": FONT, "color": INK}},
}})

CSS = f"""
:host {{ font-family: {FONT}; color: {INK}; }}
.bk-clearfix {{ width: 100%; }}
.cards {{ width: 100%; display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 8px; }}
.card {{ border: 1px solid {GRID}; border-radius: 8px; padding: 8px 10px; background: {PAPER}; display: block;
         color: {INK}; text-decoration: none; }}
.card.red {{ border-color: {RED}; box-shadow: inset 4px 0 0 {RED}; }}
.card .name {{ font-size: 13px; color: {MUTED}; }}
.card .value {{ font-size: 20px; font-weight: 600; }}
.card .meta {{ font-size: 12px; color: {MUTED}; }}
.up {{ color: {RED}; }} .down {{ color: {GREEN}; }}
.flag {{ color: {RED}; font-weight: 600; }}
.list {{ list-style: none; margin: 0; padding: 0; }}
.list li {{ padding: 6px 0; border-bottom: 1px solid {GRID}; font-size: 13px; }}
.list a {{ color: {ACCENT}; text-decoration: none; }}
.chips a {{ display: inline-block; margin: 2px 4px 2px 0; padding: 4px 10px; border-radius: 14px;
            border: 1px solid {GRID}; color: {INK}; text-decoration: none; font-size: 13px; }}
.chips a.red {{ border-color: {RED}; color: {RED}; }}
h3 {{ font-size: 15px; margin: 8px 0 4px; }}
table.grid {{ border-collapse: collapse; font-size: 13px; width: 100%; }}
table.grid td, table.grid th {{ border-bottom: 1px solid {GRID}; padding: 4px 6px; text-align: right; }}
table.grid td:first-child, table.grid th:first-child {{ text-align: left; }}
.muted {{ color: {MUTED}; font-size: 12px; }}
"""


def plot(title: str = "", height: int = 260, **options: object) -> figure:
    """A figure that fills the width of a phone or a desktop column."""
    options.setdefault("tools", "")
    return figure(title=title, height=height, sizing_mode="stretch_width", **options)


# A rotated period label needs about this many pixels: on a phone's 390 px, 36 months would overlap.
LABEL_PX = 30
_THIN_LABELS = """
let width = 360  // until the plot is laid out, reading its width throws: assume a phone
try { width = fig.inner_width || width } catch (unset) {}
const room = Math.max(2, Math.floor(width / px))
const step = Math.max(1, Math.ceil(ticks.length / room))
return (ticks.length - 1 - index) % step == 0 ? tick : ""
"""


def thin_period_labels(fig: figure) -> None:
    """Label as many periods as the plot's width has room for, always the newest; the hover names every one."""
    fig.xaxis.formatter = CustomJSTickFormatter(args={"fig": fig, "px": LABEL_PX}, code=_THIN_LABELS)


def number(value: float | None, digits: int = 1) -> str:
    """Chinese-style figures: thousands grouped, a dash for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def signed(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:+.{digits}f}"
