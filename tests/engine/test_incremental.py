"""`Engine.update` against a full re-run: an update must leave exactly the states a fresh engine computes."""

from __future__ import annotations

import datetime
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import dsl
from engine import Engine, Observation, compile_model
from engine.panel import build_panel, validate
from engine.periods import Period, period_range

DEFINITIONS = """
entity taian    "泰安市" city
entity taishan  "泰山区" district    in taian
entity xintai   "新泰市" county_city in taian
entity feicheng "肥城市" county_city in taian
entity ningyang "宁阳县" county      in taian
entity shandong "山东省" province

indicator ind_va "规上工业增加值" { unit "%" frequency monthly form rate jan_feb merged tags 工业 }
indicator power  "工业用电量" { unit "万千瓦时" frequency monthly form ytd jan_feb merged additive tags 工业 }
indicator retail "社会消费品零售总额" { unit "亿元" frequency monthly form period additive tags 消费 }
"""

RULES = {
    "vs_city": """rule vs_city "偏离全市" {
        each county in taian
        when abs(ind_va - ind_va@taian) > 2 for 2 periods
    }""",
    "vs_province": """rule vs_province "低于全省" {
        each entity in taian, taian.children
        when ind_va < ind_va@province - 1 keep 1 period
    }""",
    "peers": """rule peers "偏离同级" {
        each county in taian
        when peer_z(retail) > 1.5 keep 1 period
    }""",
    "yoy_k_of_n": """rule yoy_k_of_n "用电量增长过快" {
        each entity in taian, taian.children
        when yoy(power) > 10 for 2 of 3 periods
    }""",
    "lags": """rule lags "零售额回升" {
        when lag(retail, 2) > 50 and diff(retail, 1) > 0
    }""",
    "single": """rule single "当月用电量波动" {
        each county in taian
        when abs(mom(power)) > 20
        critical when abs(mom(power)) > 40
    }""",
    "recover": """rule recover "增速过高" {
        when ind_va > 5
        recover when ind_va < 2
    }""",
    "zscore": """rule zscore "零售额偏离自身历史" {
        each entity in xintai, taian
        when zscore(retail, 3) > 1 for 2 periods keep 1 period
    }""",
    "share": """rule share "占全市比重过高" {
        each county in taian
        when share(retail) > 40 and retail@taian > 0
    }""",
    "guarded": """rule guarded "短历史" {
        when retail > 60
        guard history(retail) >= 4
    }""",
    "parent": """rule parent "高于上级且多数县区有数" {
        each county in taian
        when retail > retail@parent and count(retail over taian.children) >= 3
    }""",
    "complete": """check complete "按时报送" {
        each county in taian
        complete retail, power last 3 periods
    }""",
    "balance": """check balance "县区加总" {
        each entity in taian
        sum(retail over children) = retail within 5%
        missing partial_null
    }""",
}

ENTITIES = ("taian", "taishan", "xintai", "feicheng", "ningyang", "shandong")
INDICATORS = ("ind_va", "power", "retail")
MONTHS = [str(p) for p in period_range(Period.parse("2024-01"), Period.parse("2025-06"))]
AS_OF = datetime.date(2025, 7, 20)


@cache
def model_and_plan(rule: str):
    model = dsl.load_text(DEFINITIONS + RULES[rule])
    return model, compile_model(model)


def allowed(indicator: str, period: str) -> bool:
    return not (indicator in ("ind_va", "power") and period.endswith("-01"))


CELLS = [(i, e, p) for i in INDICATORS for e in ENTITIES for p in MONTHS if allowed(i, p)]
# The first month always has a value, so every panel has the same axis.
ANCHOR = ("retail", "taian", MONTHS[0])

values = st.integers(0, 100).map(float)


def random_panel(seed: int, density: float) -> dict[tuple[str, str, str], float]:
    """Each cell of CELLS present with the given density, with a small whole value."""
    rng = np.random.default_rng(seed)
    data = {cell: cell_value(cell, rng) for cell in CELLS if rng.random() < density}
    data[ANCHOR] = 50.0
    return data


def cell_value(cell: tuple[str, str, str], rng: np.random.Generator) -> float:
    # power is year-to-date: mostly rising within the year, so single periods and mom are mostly defined.
    if cell[0] == "power":
        return float(int(cell[2][5:]) * 100 + rng.integers(0, 100))
    return float(rng.integers(0, 100))


def edit_cell(rule: str, pick: tuple[int, int, int]) -> tuple[str, str, str]:
    """A cell of an indicator the rule reads (so most edits reach the rule); January of merged → February."""
    _model, plan = model_and_plan(rule)
    read = sorted(set().union(*(inst.inputs for inst in plan.instances)))
    indicator, entity = read[pick[0] % len(read)], ENTITIES[pick[1] % len(ENTITIES)]
    month = MONTHS[pick[2] % len(MONTHS)]
    if not allowed(indicator, month):
        month = month[:5] + "02"
    return indicator, entity, month


picks = st.tuples(st.integers(0, 2), st.integers(0, 5), st.integers(0, len(MONTHS) - 1))
edit_batches = st.lists(st.lists(st.tuples(picks, values), min_size=1, max_size=4), min_size=1, max_size=3)


def to_rows(data: dict) -> list[dict[str, object]]:
    return [{"indicator": i, "entity": e, "period": p, "value": v} for (i, e, p), v in data.items()]


def fresh(model, plan, data) -> Engine:
    panel = build_panel(model, validate(model, to_rows(data)), AS_OF)
    eng = Engine(plan, panel)
    eng.run()
    return eng


def assert_same_states(updated: Engine, expected: Engine) -> None:
    assert updated.state.keys() == expected.state.keys()
    for position, state in expected.state.items():
        got = updated.state[position]
        np.testing.assert_array_equal(got.states, state.states, err_msg=f"instance {position}")
        np.testing.assert_array_equal(got.levels, state.levels, err_msg=f"instance {position}")
        np.testing.assert_array_equal(got.condition, state.condition, err_msg=f"instance {position}")


RULE_CASES = sorted(RULES)


@pytest.mark.parametrize("rule", RULE_CASES)
@settings(max_examples=40, deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), density=st.sampled_from([0.15, 0.5, 0.9, 1.0]), edits=edit_batches)
# A dense panel and a revision in 2025-05 of xintai: reaches every rule of the set.
@example(seed=11, density=1.0, edits=[[((0, 2, 16), 7.0)], [((1, 0, 17), 99.0), ((0, 3, 13), 0.0)]])
def test_update_matches_a_full_rerun(rule, seed, density, edits):
    """Random panel, random batches of single-cell changes (new data and revisions), one rule of the set."""
    model, plan = model_and_plan(rule)
    current = random_panel(seed, density)
    eng = fresh(model, plan, current)
    for batch in edits:
        cells = [(edit_cell(rule, pick), value) for pick, value in batch]
        eng.update([Observation(i, e, Period.parse(p), v) for (i, e, p), v in cells])
        current.update(cells)
        assert_same_states(eng, fresh(model, plan, current))


@pytest.mark.parametrize("rule", RULE_CASES)
def test_update_of_every_cell_of_a_dense_panel(rule):
    """Deterministic sweep: one change in each period of a dense panel, for every rule of the set."""
    model, plan = model_and_plan(rule)
    rng = np.random.default_rng(3)
    data = {cell: cell_value(cell, rng) for cell in CELLS}
    eng = fresh(model, plan, data)
    sweep = [(indicator, ENTITIES[n % len(ENTITIES)], month)
             for n, month in enumerate(MONTHS[1::2]) for indicator in INDICATORS]
    for cell in sweep:
        month = cell[2]
        if not allowed(cell[0], month):
            continue
        new = float(rng.integers(0, 100))
        eng.update([Observation(cell[0], cell[1], Period.parse(month), new)])
        data[cell] = new
        assert_same_states(eng, fresh(model, plan, data))


def test_new_data_does_not_disturb_earlier_periods_that_look_back():
    """Hand-worked: lag(retail, 2) reads two periods back; an update in May must not blank March."""
    model = dsl.load_text(DEFINITIONS + 'rule lagged "两期前偏高" { each entity in xintai when lag(retail, 2) > 50 }')
    data = {("retail", "xintai", "2025-01"): 60.0, ("retail", "xintai", "2025-02"): 10.0,
            ("retail", "xintai", "2025-03"): 10.0, ("retail", "xintai", "2025-04"): 10.0}
    plan = compile_model(model)
    eng = fresh(model, plan, data)
    axis = eng.panel.axes["monthly"]
    march, april = axis.index(Period.parse("2025-03")), axis.index(Period.parse("2025-04"))
    # March: lag 2 = January's 60 > 50 → firing; April: February's 10 → resolved.
    assert eng.state[0].states[0, march] == 2 and eng.state[0].states[0, april] == 3
    report = eng.update([obs("retail", "xintai", "2025-05", 10.0)])
    assert eng.state[0].states[0, march] == 2 and eng.state[0].states[0, april] == 3
    assert report.transitions == []
    data[("retail", "xintai", "2025-05")] = 10.0
    assert_same_states(eng, fresh(model, plan, data))


# ----------------------------------------------------------------------------- reasons

REASON_RULES = DEFINITIONS + """
rule va_vs_city "规上工业增速偏离全市" {
  each county in taian
  when abs(ind_va - ind_va@taian) > 5
}
"""


def reason_engine(rows: dict[tuple[str, str, str], float]) -> Engine:
    model = dsl.load_text(REASON_RULES)
    panel = build_panel(model, validate(model, to_rows(rows)), datetime.date(2026, 7, 20))
    eng = Engine(compile_model(model), panel)
    eng.run()
    return eng


def obs(indicator: str, entity: str, period: str, value: float) -> Observation:
    return Observation(indicator, entity, Period.parse(period), value)


def test_revision_that_removes_the_cause_resolves_with_reason_revised():
    eng = reason_engine({("ind_va", "xintai", "2026-05"): 12.0, ("ind_va", "xintai", "2026-06"): 12.0,
                                ("ind_va", "taian", "2026-05"): 4.0, ("ind_va", "taian", "2026-06"): 4.0})
    # |12 - 4| = 8 > 5: firing since May. xintai revises June to 6.0: |6 - 4| = 2, the cause is gone.
    report = eng.update([obs("ind_va", "xintai", "2026-06", 6.0)])
    assert [(t.entity, t.period, t.old, t.new, t.reason) for t in report.transitions] == [
        ("xintai", "2026-06", "firing", "resolved", "revised")]
    # The resolved transition carries the revised value.
    assert report.transitions[0].values == {"ind_va": 6.0, "ind_va@taian": 4.0}


def test_revision_of_the_city_value_resolves_the_county_alert():
    eng = reason_engine({("ind_va", "xintai", "2026-05"): 12.0, ("ind_va", "xintai", "2026-06"): 12.0,
                                ("ind_va", "taian", "2026-05"): 4.0, ("ind_va", "taian", "2026-06"): 4.0})
    # The city revises June to 9.0: |12 - 9| = 3, the county alert's cause is revised away.
    report = eng.update([obs("ind_va", "taian", "2026-06", 9.0)])
    assert [(t.entity, t.period, t.old, t.new, t.reason) for t in report.transitions] == [
        ("xintai", "2026-06", "firing", "resolved", "revised")]


def test_revision_of_the_period_that_raised_the_alert_resolves_it():
    eng = reason_engine({("ind_va", "xintai", "2026-05"): 3.0, ("ind_va", "xintai", "2026-06"): 12.0,
                                ("ind_va", "taian", "2026-05"): 3.0, ("ind_va", "taian", "2026-06"): 4.0})
    # June fired (|12 - 4| = 8) and is the latest period. Revised to 6.0 the cause is gone: the alert that was
    # sent must be resolved ("revised"), or it stays firing for its receivers forever.
    report = eng.update([obs("ind_va", "xintai", "2026-06", 6.0)])
    assert [(t.entity, t.period, t.old, t.new, t.reason) for t in report.transitions] == [
        ("xintai", "2026-06", "firing", "resolved", "revised")]


def test_revision_that_raises_an_alert_is_new_news():
    eng = reason_engine({("ind_va", "xintai", "2026-06"): 5.0, ("ind_va", "taian", "2026-06"): 4.0})
    report = eng.update([obs("ind_va", "xintai", "2026-06", 12.0)])
    assert [(t.entity, t.period, t.old, t.new, t.reason) for t in report.transitions] == [
        ("xintai", "2026-06", "inactive", "firing", "")]


def test_new_data_gives_an_empty_reason():
    eng = reason_engine({("ind_va", "xintai", "2026-05"): 3.0, ("ind_va", "taian", "2026-05"): 3.0,
                                ("ind_va", "taian", "2026-06"): 4.0})
    # June arrives for xintai (no previous value): |12 - 4| = 8 → fires, not a revision.
    report = eng.update([obs("ind_va", "xintai", "2026-06", 12.0)])
    assert [(t.entity, t.period, t.old, t.new, t.reason) for t in report.transitions] == [
        ("xintai", "2026-06", "inactive", "firing", "")]


def test_unchanged_value_reports_nothing():
    eng = reason_engine({("ind_va", "xintai", "2026-06"): 12.0, ("ind_va", "taian", "2026-06"): 4.0})
    assert eng.update([obs("ind_va", "xintai", "2026-06", 12.0)]).transitions == []


def test_revision_that_keeps_the_alert_firing_reports_nothing():
    eng = reason_engine({("ind_va", "xintai", "2026-06"): 12.0, ("ind_va", "taian", "2026-06"): 4.0})
    report = eng.update([obs("ind_va", "xintai", "2026-06", 11.0)])
    assert report.transitions == []
    position = next(i for i, inst in enumerate(eng.plan.instances) if inst.id == "va_vs_city")
    row = eng.plan.instances[position].entities.index("xintai")
    column = eng.panel.axes["monthly"].index(Period.parse("2026-06"))
    assert eng.state[position].states[row, column] == 2  # still firing


def test_update_outside_the_panel_is_refused():
    eng = reason_engine({("ind_va", "xintai", "2026-06"): 12.0, ("ind_va", "taian", "2026-06"): 4.0})
    with pytest.raises(ValueError, match="outside the panel"):
        eng.update([obs("ind_va", "xintai", "2027-03", 1.0)])
