"""What moved the total: each part's contribution rate (贡献率) to the total's growth and its pull in
percentage points (拉动百分点), for current-price and comparable-price growth.

At comparable prices a part's increment is its base-period value times its real growth, because prices
changed in between; at current prices the increment is simply this period minus the base period. Either
way a part's pull is its increment over the base total, and its contribution rate is its share of the
total increment, so the pulls add up to the total's growth and the rates to 100%.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Contribution:
    part: str
    increment: float  # at the chosen prices
    pull: float  # percentage points of the total's growth
    rate: float  # percent of the total increment (nan when the total did not move)
    weight: float  # share of the base-period total, percent


def contributions(parts: dict[str, float], base: dict[str, float],
                  real_growth: dict[str, float] | None = None) -> list[Contribution]:
    """Contributions of each part, from their current and base-period values (current prices), or with
    `real_growth` (percent, per part) at comparable prices."""
    total_base = sum(base.values())
    increments = {name: base[name] * real_growth[name] / 100 if real_growth is not None
                  else parts[name] - base[name] for name in base}
    total_increment = sum(increments.values())
    return [Contribution(part=name, increment=inc, pull=inc / total_base * 100 if total_base else float("nan"),
                         rate=inc / total_increment * 100 if total_increment else float("nan"),
                         weight=base[name] / total_base * 100 if total_base else float("nan"))
            for name, inc in increments.items()]


def pull_array(part_base: np.ndarray, part_growth: np.ndarray, total_base: np.ndarray) -> np.ndarray:
    """Vectorized pull in percentage points: a part's base value times its growth (percent), over the base
    total. Entities × periods arrays; NaN where any input is missing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total_base != 0, part_base * part_growth / total_base, np.nan)


def rate_array(part_base: np.ndarray, part_growth: np.ndarray, total_base: np.ndarray,
               total_growth: np.ndarray) -> np.ndarray:
    """Vectorized contribution rate in percent: the part's pull over the total's growth."""
    pull = pull_array(part_base, part_growth, total_base)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total_growth != 0, pull / total_growth * 100, np.nan)


def increment_pull(increment: np.ndarray, total_base: np.ndarray) -> np.ndarray:
    """Pull in percentage points from a part's increment (already at the chosen prices) and the base total."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total_base != 0, increment / total_base * 100, np.nan)


def increment_rate(increment: np.ndarray, total_increment: np.ndarray) -> np.ndarray:
    """Contribution rate in percent: a part's increment over the total's increment."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total_increment != 0, increment / total_increment * 100, np.nan)
