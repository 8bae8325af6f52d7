"""The shipped Tai'an rule set (rules/taian): it loads, it is big enough, every rule and check is tested,
every detection kind of DESIGN.md is present, and its rule tests pass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import dsl
from dsl import ast
from dsl.loader import rule_sets
from server.cli import main as taishan

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "rules" / "taian" / "main.rules"
RULE_DIR = ROOT / "rules" / "taian"

ENTITY_IDS = {"taian", "taishan", "daiyue", "xintai", "feicheng", "ningyang", "dongping", "gaoxin",
              "taishan_scenic", "shandong"}
FIRING_STATES = {"pending", "firing"}
QUIET_STATES = {"inactive", "resolved"}


@pytest.fixture(scope="module")
def model() -> dsl.Model:
    return dsl.load([str(MAIN)])


def _exprs(rule: ast.RuleDef) -> list[ast.Expr]:
    found = [c.expr for c in rule.conditions]
    return found + [e for e in (rule.guard, rule.recover) if e is not None]


def _nodes(exprs: list[ast.Expr]) -> Iterator[ast.Expr]:
    for expr in exprs:
        yield from ast.walk(expr)


def _calls(rule: ast.RuleDef) -> set[str]:
    return {n.function for n in _nodes(_exprs(rule)) if isinstance(n, ast.Call)}


def _at_targets(rule: ast.RuleDef) -> set[str]:
    return {n.target for n in _nodes(_exprs(rule)) if isinstance(n, ast.At)}


def _refs(rule: ast.RuleDef) -> set[str]:
    return {n.name for n in _nodes(_exprs(rule)) if isinstance(n, ast.Ref)}


# ----------------------------------------------------------------------------- loading and size


def test_main_and_directory_load_the_same_model(model: dsl.Model) -> None:
    whole_dir = dsl.load([str(RULE_DIR)])
    assert set(whole_dir.rules) == set(model.rules)
    assert set(whole_dir.indicators) == set(model.indicators)


def test_entity_ids_are_the_contract(model: dsl.Model) -> None:
    regions = {e for e, d in model.entities.items() if d.kind != "enterprise"}
    assert regions == ENTITY_IDS
    assert model.entities["taian"].parent is None and model.entities["taian"].kind == "city"
    assert model.entities["shandong"].kind == "province" and model.entities["shandong"].parent is None
    for zone in ("gaoxin", "taishan_scenic"):
        assert model.entities[zone].attrs.get("overlay") is True
        assert model.entities[zone].parent == "taian"
    kinds = {e: model.entities[e].kind for e in ("taishan", "daiyue", "xintai", "feicheng", "ningyang", "dongping")}
    assert kinds == {"taishan": "district", "daiyue": "district", "xintai": "county_city",
                     "feicheng": "county_city", "ningyang": "county", "dongping": "county"}


def test_size(model: dsl.Model) -> None:
    assert len(model.indicators) >= 60
    assert len(model.rules) >= 25
    assert len(model.dashboards) >= 6
    assert all(len(d.panels) >= 4 for d in model.dashboards.values())
    assert model.routes and model.inhibits


def test_indicators_are_fully_described(model: dsl.Model) -> None:
    for ind in model.indicators.values():
        assert ind.unit and ind.tags and ind.department and ind.release_day, ind.id
        if ind.form == "rate":
            assert ind.unit == "%" and not ind.additive, ind.id
    assert model.indicators["gdp"].parts == ("gdp_primary", "gdp_secondary", "gdp_tertiary")
    assert model.indicators["gdp"].frequency == "quarterly" and model.indicators["gdp"].form == "ytd"
    assert model.indicators["ind_va"].jan_feb == "merged" and model.indicators["ind_va"].form == "rate"
    assert model.indicators["deposits"].form == "stock"
    assert model.indicators["cpi"].form == "index"
    assert model.indicators["income_all"].frequency == "quarterly"


def test_both_indicator_systems(model: dsl.Model) -> None:
    tags = {t for ind in model.indicators.values() for t in ind.tags}
    assert {"工业", "能源", "投资", "消费", "财政", "金融", "外贸", "服务业", "农业", "收入", "价格", "核算"} <= tags
    accounting = [i for i in model.indicators.values() if "核算" in i.tags]
    assert len(accounting) >= 20


def test_targets_for_2025_and_2026(model: dsl.Model) -> None:
    years = {(t.indicator, t.year) for t in model.targets}
    for indicator in ("gdp_growth", "budget_rev", "trade"):
        assert {(indicator, 2025), (indicator, 2026)} <= years


# ----------------------------------------------------------------------------- tests cover everything


def _expects(model: dsl.Model) -> list[ast.Expect]:
    return [e for test in model.tests for e in test.expects]


def test_every_rule_has_firing_and_quiet_expectations(model: dsl.Model) -> None:
    states: dict[str, set[str]] = {}
    for expect in _expects(model):
        states.setdefault(expect.rule, set()).add(expect.state)
    for rule in model.rules:
        assert states.get(rule, set()) & FIRING_STATES, f"{rule} has no firing test"
        assert states.get(rule, set()) & QUIET_STATES, f"{rule} has no not-firing or resolved test"


def test_every_check_has_violated_and_ok_expectations(model: dsl.Model) -> None:
    states: dict[str, set[str]] = {}
    for expect in _expects(model):
        states.setdefault(expect.rule, set()).add(expect.state)
    for check in model.checks:
        assert "violated" in states.get(check, set()), f"{check} has no violated test"
        assert "ok" in states.get(check, set()), f"{check} has no ok test"


def test_rules_speak_chinese_and_carry_labels(model: dsl.Model) -> None:
    for rule in model.rules.values():
        assert rule.message and rule.hint and rule.labels, rule.id
        assert any("\u4e00" <= ch <= "\u9fff" for ch in rule.title + rule.message), rule.id


def test_the_rule_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code = taishan(["test", str(MAIN)])
    output = capsys.readouterr().out
    assert code == 0, output
    assert " 0 failed" in output


def test_the_rules_folder_tests_each_region_as_its_own_rule_set(capsys: pytest.CaptureFixture[str]) -> None:
    """`taishan test rules/`: Tai'an's system and the Shandong cities' are two models, not one."""
    code = taishan(["test", str(ROOT / "rules")])
    output = capsys.readouterr().out
    assert code == 0, output
    expected = sum(len(dsl.load([str(ROOT / "rules" / region)]).tests) for region in ("taian", "shandong"))
    assert f"{expected} passed, 0 failed" in output
    assert "rules/taian/" in output and "rules/shandong/" in output


def test_rule_sets_split_a_folder_of_regions_only() -> None:
    rules = str(ROOT / "rules")
    assert rule_sets([rules]) == [[f"{rules}/shandong"], [f"{rules}/taian"]]
    assert rule_sets([str(MAIN)]) == [[str(MAIN)]]
    taian = str(ROOT / "rules" / "taian")
    assert rule_sets([taian, str(MAIN)]) == [[taian, str(MAIN)]]


# ----------------------------------------------------------------------------- detection kinds


def test_absolute_range(model: dsl.Model) -> None:
    ranged = [r for r in model.rules.values()
              if any(isinstance(n, ast.Binary) and n.op in ("<", ">") and isinstance(n.right, ast.Number)
                     and isinstance(n.left, ast.Ref) for n in _nodes(_exprs(r)))]
    assert len(ranged) >= 3


def test_relative_to_city_and_province(model: dsl.Model) -> None:
    assert "taian" in _at_targets(model.rules["ind_va_vs_city"])
    assert "taian" in _at_targets(model.rules["gdp_growth_vs_city"])
    assert any("province" in _at_targets(r) for r in model.rules.values())
    assert model.rules["ind_va_vs_city"].for_periods == 2


def test_short_term_swing(model: dsl.Model) -> None:
    calls = [_calls(r) for r in model.rules.values()]
    assert any("diff" in c for c in calls)
    assert any("zscore" in c for c in calls)


def test_divergence_with_k_of_n(model: dsl.Model) -> None:
    for rule_id, pair in (("ind_va_vs_power", {"ind_va", "power_ind"}), ("retail_vs_tax", {"retail", "tax_rev"}),
                          ("invest_vs_construction", {"fixed_invest", "construction_output"})):
        rule = model.rules[rule_id]
        assert pair <= _refs(rule), rule_id
        assert rule.of_periods is not None, rule_id


def test_local_anomaly_while_city_is_calm(model: dsl.Model) -> None:
    rule = model.rules["invest_peer_outlier"]
    assert "peer_z" in _calls(rule) and "taian" in _at_targets(rule)


def test_change_point(model: dsl.Model) -> None:
    assert any("changepoint" in _calls(r) for r in model.rules.values())


def test_consistency_checks(model: dsl.Model) -> None:
    balances = [c for c in model.checks.values() if c.balance is not None]
    aggregates = [c for c in balances if any(isinstance(n, ast.Call) and n.over is not None
                                             for n in ast.walk(c.balance.left))]
    assert len(balances) >= 5 and len(aggregates) >= 2
    assert {c.missing for c in balances} >= {"non_null", "partial_null", "always_zero", "fail"}


def test_completeness(model: dsl.Model) -> None:
    assert any(c.completeness is not None for c in model.checks.values())


def test_target_progress(model: dsl.Model) -> None:
    assert any({"progress", "time_progress"} <= _calls(r) for r in model.rules.values())
    assert any("target" in _calls(r) for r in model.rules.values())


def test_rule_features(model: dsl.Model) -> None:
    rules = list(model.rules.values())
    assert any(r.guard is not None and "history" in {n.function for n in ast.walk(r.guard)
                                                     if isinstance(n, ast.Call)} for r in rules)
    assert any(len({c.severity for c in r.conditions}) > 1 for r in rules)
    assert any(r.keep_periods for r in rules)
    assert any(r.recover is not None for r in rules)
    assert any(r.indicator_scope is not None for r in rules)
    assert {r.severity for r in rules} >= {"info", "warning"}
