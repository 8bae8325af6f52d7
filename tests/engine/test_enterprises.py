"""Enterprises: the committed register matches the demo generator, the population is skewed like real firms,
the planted firms of each watch category are caught by its rule on the demo data, and the register's fast
parse builds exactly what the full parser builds."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest

import dsl
from dsl import parser
from engine import run
from server import demo

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "rules" / "taian" / "main.rules"
END = "2026-10"
AS_OF = datetime.date(2026, 11, 28)
CATEGORY_RULES = {"decliner": "ent_fast_decline", "grower": "ent_fast_growth", "new": "ent_new_above_scale"}


@pytest.fixture(scope="module")
def model() -> dsl.Model:
    return dsl.load([str(MAIN)])


@pytest.fixture(scope="module")
def states(model: dsl.Model) -> dict[tuple[str, str], str]:
    """The state of each (rule, entity) at END: its last transition up to then."""
    report = run(model, demo.generate(2026, END), as_of=AS_OF)
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for t in report.transitions:
        key = (t.rule, t.entity)
        if t.period <= END and (key not in found or t.period >= found[key][0]):
            found[key] = (t.period, t.new)
    return {key: state for key, (_, state) in found.items()}


def test_committed_register_is_the_generated_one() -> None:
    assert demo.ENTERPRISES_FILE.read_text(encoding="utf-8") == demo.enterprises_rules()


def test_population_is_skewed_and_spread_over_the_counties(model: dsl.Model) -> None:
    firms = demo.enterprises()
    assert len(firms) == demo.ENTERPRISE_COUNT == 300
    assert {f.county for f in firms} == set(demo.COUNTIES)
    levels = np.sort([f.level for f in firms])[::-1]
    assert levels[:30].sum() / levels.sum() > 0.4  # the largest tenth makes most of the output
    assert np.median(levels) < levels.mean() / 1.5
    for firm in firms:
        definition = model.entities[firm.id]
        assert (definition.kind, definition.parent) == ("enterprise", firm.county)
        assert definition.attrs == {"industry": firm.industry, "size": firm.size, "above_scale": firm.above_scale}


def test_enterprise_data_adds_up_to_the_counties() -> None:
    rows = [r for r in demo.generate(3, END) if r["indicator"] == "ent_output" and r["period"] == "2026-06"]
    values = {r["entity"]: r["value"] for r in rows}
    for county in demo.COUNTIES:
        firms = [f.id for f in demo.enterprises() if f.county == county]
        assert sum(values[f] for f in firms) == pytest.approx(values[county], abs=0.05)
    assert sum(values[c] for c in demo.COUNTIES) == pytest.approx(values["taian"], abs=0.05)


@pytest.mark.parametrize("category", sorted(CATEGORY_RULES))
def test_planted_firms_are_caught(states: dict[tuple[str, str], str], category: str) -> None:
    planted = [f.id for f in demo.enterprises() if f.category == category]
    assert len(planted) >= 3
    rule = CATEGORY_RULES[category]
    assert [f for f in planted if states.get((rule, f)) != "firing"] == []


def test_categories_stay_a_handful(states: dict[tuple[str, str], str]) -> None:
    for rule in (*CATEGORY_RULES.values(), "ent_leading"):
        firing = [e for (r, e), s in states.items() if r == rule and s == "firing"]
        assert 3 <= len(firing) <= 45, (rule, len(firing))


def test_leading_firms_are_the_largest_of_each_county(states: dict[tuple[str, str], str]) -> None:
    for county in demo.COUNTIES:
        largest = next(f for f in demo.enterprises() if f.county == county and f.category is None)
        assert states.get(("ent_leading", largest.id)) == "firing", largest.id


def test_register_fast_parse_matches_the_full_parser() -> None:
    path = str(demo.ENTERPRISES_FILE)
    text = demo.ENTERPRISES_FILE.read_text(encoding="utf-8")
    fast = parser.parse(text, path)
    parser._COMMENTS.found = []
    full = parser._ToAst(path).transform(parser._lark().parse(text, start="start"))
    assert fast.items == full and [i.span for i in fast.items] == [i.span for i in full]
    assert [(c.line, c.column, c.text) for c in fast.comments] == \
        [(t.line, t.column, str(t)) for t in parser._COMMENTS.found]
    # Anything beyond plain entity lines takes the full parser, with its diagnostics.
    assert parser._parse_register(text + "entity x \"X\" city { overlay }\n", path) is None
    assert parser._parse_register('entity rule "X" city\n', path) is None
