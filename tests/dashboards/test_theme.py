"""The period axis of a phone-sized chart: its tick formatter (JavaScript, run by BokehJS in the browser) is run
here with Node.js on the same arguments BokehJS gives it."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from bokeh.models import FactorRange

from dashboards import theme

NODE = shutil.which("node")


def shown_labels(periods: list[str], inner_width: int) -> list[str]:
    fig = theme.plot("测试", x_range=FactorRange(*periods))
    theme.thin_period_labels(fig)
    formatter = fig.xaxis[0].formatter
    script = (f"const fig = {{inner_width: {inner_width}}}; const px = {formatter.args['px']};"
              f"const ticks = {json.dumps(periods)};"
              f"const format = (tick, index) => {{ {formatter.code} }};"
              "console.log(JSON.stringify(ticks.map(format)));")
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True)  # type: ignore[list-item]
    return [label for label in json.loads(done.stdout) if label]


@pytest.mark.skipif(NODE is None, reason="未找到 node")
def test_a_phone_shows_every_fourth_month_and_always_the_newest() -> None:
    months = [f"{year}-{month:02d}" for year in (2024, 2025, 2026) for month in range(1, 13)]
    # 340 px of plot: room for 340 // 30 = 11 labels, so every ceil(36 / 11) = 4th month, counted from the newest.
    assert shown_labels(months, 340) == months[3::4]
    assert months[-1] in shown_labels(months, 340)


@pytest.mark.skipif(NODE is None, reason="未找到 node")
def test_a_desktop_shows_every_month_it_has_room_for() -> None:
    months = [f"2026-{month:02d}" for month in range(1, 13)]
    assert shown_labels(months, 1100) == months
    # Before the plot is laid out (no width yet) it assumes a phone: 360 // 30 = 12 labels.
    assert shown_labels(months, 0) == months
