"""Contribution rates and pulls checked against a GDP example worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from engine.contributions import contributions, pull_array, rate_array

# Base year at current prices: primary 100, secondary 400, tertiary 500 (total 1,000).
BASE = {"primary": 100.0, "secondary": 400.0, "tertiary": 500.0}


def test_comparable_prices_weight_real_growth_by_the_base_year() -> None:
    # Real growth 3%, 6%, 5%: increments 3, 24 and 25 (52 in all) → pulls 0.3, 2.4, 2.5 points (5.2% growth),
    # rates 3/52, 24/52, 25/52.
    found = {c.part: c for c in contributions({}, BASE, {"primary": 3.0, "secondary": 6.0, "tertiary": 5.0})}
    assert [found[p].pull for p in BASE] == pytest.approx([0.3, 2.4, 2.5])
    assert [found[p].rate for p in BASE] == pytest.approx([300 / 52, 2400 / 52, 2500 / 52])
    assert sum(c.rate for c in found.values()) == pytest.approx(100.0)
    assert found["secondary"].weight == pytest.approx(40.0)


def test_current_prices_use_plain_increments_and_a_falling_part_has_a_negative_rate() -> None:
    found = {c.part: c for c in contributions({"primary": 90.0, "secondary": 460.0, "tertiary": 550.0}, BASE)}
    # Increments -10, 60, 50 (100 in all): pulls -1, 6, 5 points; rates -10%, 60%, 50%.
    assert [found[p].pull for p in BASE] == pytest.approx([-1.0, 6.0, 5.0])
    assert [found[p].rate for p in BASE] == pytest.approx([-10.0, 60.0, 50.0])


def test_a_total_that_did_not_move_has_no_rate() -> None:
    found = contributions({"a": 110.0, "b": 90.0}, {"a": 100.0, "b": 100.0})
    assert all(np.isnan(c.rate) for c in found) and [c.pull for c in found] == pytest.approx([5.0, -5.0])


def test_arrays_agree_with_the_scalar_form() -> None:
    part_base, growth, total_base = np.array([[400.0]]), np.array([[6.0]]), np.array([[1000.0]])
    assert pull_array(part_base, growth, total_base)[0, 0] == pytest.approx(2.4)
    assert rate_array(part_base, growth, total_base, np.array([[5.2]]))[0, 0] == pytest.approx(2400 / 52)
    assert np.isnan(pull_array(part_base, growth, np.array([[0.0]]))[0, 0])
