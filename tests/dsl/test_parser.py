"""The AST of every construct in docs/language.md, and how syntax errors are reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dsl import ast
from dsl.errors import Diagnostic, DslError
from dsl.parser import MAX_DEPTH, parse

S = ast.Span.unknown()  # spans are excluded from equality
ROOT = Path(__file__).resolve().parents[2]
DOC_EXAMPLE = "\n".join(re.findall(r"```\n(.*?)```", (ROOT / "docs" / "language.md").read_text("utf-8"), re.S))


def one(text: str) -> ast.Item:
    items = parse(text, "t.rules").items
    assert len(items) == 1
    return items[0]


def expr(text: str) -> ast.Expr:
    series = one(f'series s "S" = {text}')
    assert isinstance(series, ast.SeriesDef)
    return series.expr


def ref(name: str) -> ast.Ref:
    return ast.Ref(S, name)


def num(value: float) -> ast.Number:
    return ast.Number(S, value)


def call(name: str, *args: ast.Expr, over: tuple[ast.EntitySet, ...] | None = None) -> ast.Call:
    return ast.Call(S, name, args, over)


def binary(op: str, left: ast.Expr, right: ast.Expr) -> ast.Binary:
    return ast.Binary(S, op, left, right)


def eset(base: str, relation: str | None = None) -> ast.EntitySet:
    return ast.EntitySet(base, relation, S)


def syntax_errors(text: str, path: str = "bad.rules") -> DslError:
    with pytest.raises(DslError) as caught:
        parse(text, path)
    return caught.value


# ----------------------------------------------------------------------------- items


def test_import() -> None:
    assert one('import "regions.rules"  # relative') == ast.Import(S, "regions.rules")


@pytest.mark.parametrize("kind", ["province", "city", "district", "county", "county_city", "zone", "enterprise"])
def test_entity_kinds(kind: str) -> None:
    assert one(f'entity e "E" {kind}') == ast.EntityDef(S, "e", "E", kind, None, {})


def test_entity_with_parent_and_overlay() -> None:
    assert one('entity gaoxin "泰安高新区" zone in taian { overlay }') == ast.EntityDef(
        S, "gaoxin", "泰安高新区", "zone", "taian", {"overlay": True})


def test_enterprise_attributes() -> None:
    entity = one('entity e0001 "泰山钢铁集团" enterprise in xintai { industry "C31" size large above_scale 2012 }')
    assert entity == ast.EntityDef(S, "e0001", "泰山钢铁集团", "enterprise", "xintai",
                                   {"industry": "C31", "size": "large", "above_scale": 2012})
    assert isinstance(entity.attrs["above_scale"], int)


@pytest.mark.parametrize(("period", "expected"), [("2018", "2018"), ("2018-12", "2018-12"), ("2018Q4", "2018Q4")])
def test_entity_until(period: str, expected: str) -> None:
    entity = one(f'entity laiwu "莱芜市" city in shandong {{ until {period} }}')
    assert entity.attrs == {"until": expected}


def test_entity_span() -> None:
    entity = parse('\n\n  entity taian "泰安市" city', "e.rules").items[0]
    assert (entity.span.path, entity.span.line, entity.span.column) == ("e.rules", 3, 3)


def test_indicator_with_every_attribute() -> None:
    indicator = one('''
        indicator power_ind "工业用电量" {
          unit "万千瓦时"  frequency monthly  form ytd  jan_feb merged  prices comparable  additive
          tags 工业, 能源  department "市发改委"  release day 15  parts a + b + c
        }''')
    assert indicator == ast.IndicatorDef(
        S, "power_ind", "工业用电量", unit="万千瓦时", frequency="monthly", form="ytd", jan_feb="merged",
        prices="comparable", additive=True, tags=("工业", "能源"), parts=("a", "b", "c"), department="市发改委",
        release_day=15)
    assert set(indicator.attr_spans) == {"unit", "frequency", "form", "jan_feb", "prices", "additive", "tags",
                                         "department", "release_day", "parts"}
    assert indicator.attr_spans["frequency"].line == 3


def test_indicator_defaults() -> None:
    assert one('indicator gdp "地区生产总值" { }') == ast.IndicatorDef(S, "gdp", "地区生产总值")
    indicator = one('indicator gdp "地区生产总值" { unit "亿元" frequency quarterly form ytd additive '
                    'parts gdp_primary + gdp_secondary + gdp_tertiary }')
    assert (indicator.frequency, indicator.form, indicator.jan_feb, indicator.prices) == (
        "quarterly", "ytd", "separate", "current")
    assert indicator.parts == ("gdp_primary", "gdp_secondary", "gdp_tertiary")
    assert indicator.release_day is None and indicator.tags == ()


@pytest.mark.parametrize("form", ["ytd", "period", "stock", "rate", "index"])
def test_indicator_forms(form: str) -> None:
    assert one(f'indicator x "X" {{ form {form} }}').form == form


def test_series() -> None:
    assert one('series va_power_gap "工业增加值与用电量增速差" unit "%" = ind_va - yoy(power_ind)') == ast.SeriesDef(
        S, "va_power_gap", "工业增加值与用电量增速差", binary("-", ref("ind_va"), call("yoy", ref("power_ind"))), "%")
    assert one('series s "S" = a').unit is None


def _target_values(target: ast.TargetDef) -> list[tuple[str, float]]:
    return [(v.entity, v.value) for v in target.values]


def test_growth_target_with_negative_values() -> None:
    target = one('target gdp 2026 growth { taian 6.0  xintai 6.5  laiwu -1.5  feicheng - 2 }')
    assert (target.indicator, target.year, target.growth) == ("gdp", 2026, True)
    assert _target_values(target) == [("taian", 6.0), ("xintai", 6.5), ("laiwu", -1.5), ("feicheng", -2.0)]
    assert all(isinstance(v.span, ast.Span) and v.span.line == 1 for v in target.values)


def test_level_target() -> None:
    target = one('target fixed_invest 2026 { taian 1200  xintai 260 }')
    assert (target.indicator, target.year, target.growth) == ("fixed_invest", 2026, False)
    assert _target_values(target) == [("taian", 1200.0), ("xintai", 260.0)]
    assert _target_values(one("target x 2026 { }")) == []


# ----------------------------------------------------------------------------- rules


def test_rule_with_every_clause() -> None:
    rule = one('''
        rule ind_va_vs_city "规上工业增速偏离全市" {
          severity info
          each county in taian
          when abs(ind_va - ind_va@taian) > 5
          critical when abs(ind_va - ind_va@taian) > 8
          for 3 of 5 periods
          keep 1 period
          recover when abs(ind_va - ind_va@taian) < 3
          guard history(ind_va) >= 13
          message "{entity}{period}规上工业增加值增长{ind_va:.1f}%，全市{ind_va@taian:.1f}%"
          hint "核实重点企业产值和电量"
          labels team = "工业科", area = "经济运行"
        }''')
    gap = call("abs", binary("-", ref("ind_va"), ast.At(S, ref("ind_va"), "taian")))
    assert rule == ast.RuleDef(
        S, "ind_va_vs_city", "规上工业增速偏离全市", severity="info",
        scope=ast.Scope(S, "county", (eset("taian"),)),
        conditions=[ast.Condition(S, binary(">", gap, num(5)), None),
                    ast.Condition(S, binary(">", gap, num(8)), "critical")],
        for_periods=3, of_periods=5, keep_periods=1, recover=binary("<", gap, num(3)),
        guard=binary(">=", call("history", ref("ind_va")), num(13)),
        message="{entity}{period}规上工业增加值增长{ind_va:.1f}%，全市{ind_va@taian:.1f}%",
        hint="核实重点企业产值和电量", labels={"team": "工业科", "area": "经济运行"})
    assert rule.message_span is not None and rule.message_span.line == 11


def test_rule_defaults() -> None:
    rule = one('rule r "R" { when x > 1 }')
    assert (rule.severity, rule.scope, rule.indicator_scope) == ("warning", None, None)
    assert (rule.for_periods, rule.of_periods, rule.keep_periods) == (1, None, 0)
    assert (rule.recover, rule.guard, rule.message, rule.hint, rule.labels) == (None, None, None, None, {})


@pytest.mark.parametrize("severity", ["info", "warning", "critical"])
def test_condition_severities(severity: str) -> None:
    rule = one(f'rule r "R" {{ severity {severity} {severity} when x > 1 when x > 0 }}')
    assert rule.severity == severity
    assert [c.severity for c in rule.conditions] == [severity, None]


def test_rule_scopes() -> None:
    rule = one('rule r "R" { each entity in taian, taian.children  when x > 1 }')
    assert rule.scope == ast.Scope(S, "entity", (eset("taian"), eset("taian", "children")))
    rule = one('rule r "R" { each indicator x tagged 工业, 投资  when yoy(x) < 0 }')
    assert rule.indicator_scope == ast.IndicatorScope(S, "x", ("工业", "投资"))
    assert one('rule r "R" { for 2 periods }').for_periods == 2


# ----------------------------------------------------------------------------- checks


def test_balance_check() -> None:
    check = one('''
        check gdp_parts "三次产业之和等于地区生产总值" {
          each entity in taian, taian.children
          gdp = gdp_primary + gdp_secondary + gdp_tertiary  within 0.1%
          missing partial_null
          severity critical
          message "{entity}不平衡"
          hint "核对"
        }''')
    parts = binary("+", binary("+", ref("gdp_primary"), ref("gdp_secondary")), ref("gdp_tertiary"))
    assert check == ast.CheckDef(
        S, "gdp_parts", "三次产业之和等于地区生产总值", severity="critical",
        scope=ast.Scope(S, "entity", (eset("taian"), eset("taian", "children"))),
        balance=ast.Balance(S, ref("gdp"), parts, 0.1, True), missing="partial_null", message="{entity}不平衡",
        hint="核对")


def test_absolute_balance_with_aggregate() -> None:
    check = one('check gdp_counties "县区加总等于全市" { each entity in taian  '
                'sum(gdp over children) = gdp within 0.5 }')
    assert check.balance == ast.Balance(S, call("sum", ref("gdp"), over=(eset("children"),)), ref("gdp"), 0.5, False)
    assert check.missing == "non_null" and check.severity == "warning"


@pytest.mark.parametrize("mode", ["non_null", "partial_null", "always_zero", "fail"])
def test_missing_modes(mode: str) -> None:
    assert one(f'check c "C" {{ a = b within 1 missing {mode} }}').missing == mode


def test_complete_check() -> None:
    check = one('check power_due "工业用电量按时报送" { each county in taian  '
                'complete power_ind, ind_va last 4 periods }')
    assert check.completeness == ast.Completeness(S, ("power_ind", "ind_va"), 4)
    assert one('check c "C" { complete power_ind }').completeness == ast.Completeness(S, ("power_ind",), 3)


# ----------------------------------------------------------------------------- tests


def test_test_block() -> None:
    test = one('''
        test "偏离五个百分点且持续两期时报警" {
          given ind_va@xintai  2026-03..2026-06: 3.0 9.5 _ -4.0
          given gdp@taian      2026Q1: 100
          given gdp@taian      2025..2026: 1 - 2
          expect ind_va_vs_city pending at xintai 2026-04
          expect ind_va_vs_city firing at xintai 2026-05 critical
          expect each_ind firing at xintai 2026-05 on ind_va warning
          expect gdp_parts violated at taian 2026Q1
          as_of 2026-07-20
        }''')
    assert test == ast.TestDef(
        S, "偏离五个百分点且持续两期时报警", as_of="2026-07-20",
        givens=[ast.Given(S, "ind_va", "xintai", "2026-03", "2026-06", (3.0, 9.5, None, -4.0)),
                ast.Given(S, "gdp", "taian", "2026Q1", "2026Q1", (100.0,)),
                ast.Given(S, "gdp", "taian", "2025", "2026", (1.0, -2.0))],
        expects=[ast.Expect(S, "ind_va_vs_city", "pending", "xintai", "2026-04"),
                 ast.Expect(S, "ind_va_vs_city", "firing", "xintai", "2026-05", None, "critical"),
                 ast.Expect(S, "each_ind", "firing", "xintai", "2026-05", "ind_va", "warning"),
                 ast.Expect(S, "gdp_parts", "violated", "taian", "2026Q1")])


@pytest.mark.parametrize("state", ["inactive", "pending", "firing", "resolved", "ok", "violated"])
def test_expect_states(state: str) -> None:
    assert one(f'test "t" {{ expect r {state} at a 2026-03 }}').expects[0].state == state


# ----------------------------------------------------------------------------- routes, inhibit, dashboards


def test_route_with_every_clause() -> None:
    route = one('''
        route county_leaders {
          match severity >= warning  entity in taian.children  tag 工业  rule ind_va_vs_city  label team = "工业科"
          receivers 市领导, 工业科
          group_by rule, entity  group_wait 30s  group_interval 5m  repeat_interval 4h
          quiet 22:00-07:00 except critical
          continue
        }''')
    assert route == ast.RouteDef(
        S, "county_leaders",
        matchers=[ast.Matcher(S, "severity", ">=", "warning"),
                  ast.Matcher(S, "entity", "in", (eset("taian", "children"),)),
                  ast.Matcher(S, "tag", "==", "工业"), ast.Matcher(S, "rule", "==", "ind_va_vs_city"),
                  ast.Matcher(S, "label:team", "==", "工业科")],
        receivers=("市领导", "工业科"), group_by=("rule", "entity"), group_wait="30s", group_interval="5m",
        repeat_interval="4h", continue_=True, quiet=("22:00", "07:00"), quiet_breakthrough="critical")


def test_route_defaults() -> None:
    route = one("route r { quiet 22:00 - 07:00 }")
    assert route == ast.RouteDef(S, "r", quiet=("22:00", "07:00"))


def test_inhibit() -> None:
    assert one("inhibit hierarchy rules ind_va_vs_city, gdp_parts") == ast.InhibitDef(
        S, "hierarchy", ("ind_va_vs_city", "gdp_parts"))
    assert one("inhibit severity") == ast.InhibitDef(S, "severity", ())


def test_dashboard() -> None:
    dashboard = one('''
        dashboard industry "工业运行" {
          panel ind_va_trend "规上工业增加值增速" {
            chart bar  show ind_va, ind_va@taian, ind_va@province  entities taian.children  window 24 periods
          }
          panel empty "空" { }
        }''')
    assert dashboard == ast.DashboardDef(S, "industry", "工业运行", [
        ast.PanelDef(S, "ind_va_trend", "规上工业增加值增速", chart="bar",
                     show=(ref("ind_va"), ast.At(S, ref("ind_va"), "taian"), ast.At(S, ref("ind_va"), "province")),
                     entities=(eset("taian", "children"),), window=24),
        ast.PanelDef(S, "empty", "空")])


def test_reference_example_parses() -> None:
    items = parse(DOC_EXAMPLE, "language.md").items
    kinds = [type(item).__name__ for item in items]
    assert kinds.count("EntityDef") == 7 and kinds.count("RuleDef") == 1 and kinds.count("CheckDef") == 3
    assert kinds[0] == "Import" and kinds[-1] == "DashboardDef"


# ----------------------------------------------------------------------------- expressions


@pytest.mark.parametrize(("text", "expected"), [
    ("a + b * c", binary("+", ref("a"), binary("*", ref("b"), ref("c")))),
    ("a - b - c", binary("-", binary("-", ref("a"), ref("b")), ref("c"))),
    ("(a + b) / 2", binary("/", binary("+", ref("a"), ref("b")), num(2))),
    ("a > 1 and b < 2 or not c == 3", binary("or", binary("and", binary(">", ref("a"), num(1)),
                                                          binary("<", ref("b"), num(2))),
                                             ast.Unary(S, "not", binary("==", ref("c"), num(3))))),
    ("a != 1", binary("!=", ref("a"), num(1))),
    ("-5", num(-5)),
    ("-x", ast.Unary(S, "-", ref("x"))),
    ("- -2.5", num(2.5)),
    ("x@taian", ast.At(S, ref("x"), "taian")),
    ("-x@parent", ast.Unary(S, "-", ast.At(S, ref("x"), "parent"))),
    ("(a + b)@province", ast.At(S, binary("+", ref("a"), ref("b")), "province")),
    ("lag(x, 12)", call("lag", ref("x"), num(12))),
    ("time_progress()", call("time_progress")),
    ("sum(gdp over taian.children, xintai)", call("sum", ref("gdp"), over=(eset("taian", "children"), eset("xintai")))),
    ("count(x > 0 over children)", call("count", binary(">", ref("x"), num(0)), over=(eset("children"),))),
    ("增加值 * 1.5", binary("*", ref("增加值"), num(1.5))),
])
def test_expressions(text: str, expected: ast.Expr) -> None:
    assert expr(text) == expected


def test_expression_spans() -> None:
    tree = expr("abs(x)  +  y@taian")
    assert (tree.span.line, tree.span.column) == (1, 16)
    assert (tree.right.span.column, tree.right.span.end_column) == (27, 34)


# ----------------------------------------------------------------------------- Chinese and strings


def test_chinese_identifiers_and_strings() -> None:
    items = parse('''
        entity 泰安 "泰安市" city
        indicator 工业增加值 "规模以上工业增加值" { unit "%" tags 工业, 能源 department "市统计局工业科" }
        rule 工业偏离 "工业增速偏离" {
          each county in 泰安 when abs(工业增加值 - 工业增加值@泰安) > 5 labels 科室 = "工业科"
        }
    ''', "中文.rules").items
    assert [getattr(item, "id", None) for item in items] == ["泰安", "工业增加值", "工业偏离"]
    assert items[1].tags == ("工业", "能源") and items[1].department == "市统计局工业科"
    assert items[2].labels == {"科室": "工业科"}
    assert items[2].scope.sets == (eset("泰安"),)


def test_string_escapes() -> None:
    rule = one(r'rule r "say \"hi\"" { message "a\nb\tc\\d # not a comment" }')
    assert rule.title == 'say "hi"'
    assert rule.message == "a\nb\tc\\d # not a comment"


# ----------------------------------------------------------------------------- comments


def test_comments_collected_with_positions() -> None:
    text = '# 文件头\nrule r "R" {  # 规则\n  when x > 1  # 条件 "引号"\n    # 独占一行\n}\n# 末尾'
    assert [(c.line, c.column, c.text) for c in parse(text, "c.rules").comments] == [
        (1, 1, "# 文件头"), (2, 15, "# 规则"), (3, 15, '# 条件 "引号"'), (4, 5, "# 独占一行"), (6, 1, "# 末尾")]


def test_hash_inside_a_string_is_not_a_comment() -> None:
    rule_file = parse('rule r "R#1" {\n  message "{x}# 不是注释"\n}  # 是注释')
    assert [c.text for c in rule_file.comments] == ["# 是注释"]


def test_comment_after_a_string_holding_a_hash() -> None:
    rule_file = parse('rule r "R#1" { message "{x}# 不是注释" }  # 是注释')
    assert [c.text for c in rule_file.comments] == ["# 是注释"]


def test_hash_after_escaped_quote() -> None:
    rule_file = parse('rule r "R" { message "a \\" # b" }\nrule s "S" { message "c\\"d" }  # real\n')
    assert [c.text for c in rule_file.comments] == ["# real"]


# ----------------------------------------------------------------------------- syntax errors

THREE_ERRORS = '''entity taian "泰安市" city
indicator gdp "地区生产总值" { unit "亿元" frequncy quarterly }

rule r "R" {
  serverity warning
  when gdp > 1
}
check c "C" {
  each entity in taian
  gdp = = gdp within 1
}
entity xintai "新泰市" county_city in taian
'''


def test_three_errors_in_three_items_are_reported_together() -> None:
    error = syntax_errors(THREE_ERRORS, "three.rules")
    found = [(d.span.line, d.span.column, d.span.end_column) for d in error.diagnostics]
    assert found == [(2, 36, 44), (5, 3, 12), (10, 9, 10)]
    assert all(d.severity == "error" and d.span.path == "three.rules" for d in error.diagnostics)
    assert [d.suggestion for d in error.diagnostics] == ["did you mean `frequency`?", "did you mean `severity`?", None]
    assert "unexpected `=`" in error.diagnostics[2].message


def test_three_errors_render_with_source_line_and_caret() -> None:
    rendered = syntax_errors(THREE_ERRORS, "three.rules").render().splitlines()
    heads = [i for i, line in enumerate(rendered) if re.match(r"three\.rules:\d+:\d+: error: ", line)]
    assert [rendered[i].split(": error")[0] for i in heads] == [
        "three.rules:2:36", "three.rules:5:3", "three.rules:10:9"]
    first = rendered[heads[0]:heads[1]]
    assert first[1] == '    indicator gdp "地区生产总值" { unit "亿元" frequncy quarterly }'
    # the six CJK characters before the error are twice as wide: the caret moves 8 columns more
    assert first[2] == "    " + " " * (35 + 8) + "^" * len("frequncy")
    assert first[3] == "    = help: did you mean `frequency`?"
    second = rendered[heads[1]:heads[2]]
    assert second[1:] == ["      serverity warning", "      " + "^" * 9, "    = help: did you mean `severity`?"]
    third = rendered[heads[2]:]
    assert third[1:] == ["      gdp = = gdp within 1", "      " + " " * 6 + "^"]


def test_diagnostic_render_format() -> None:
    diagnostic = Diagnostic(ast.Span("a.rules", 1, 6, 1, 9), "boom", "did you mean `x`?")
    assert diagnostic.render("when abc > 1") == ("a.rules:1:6: error: boom\n    when abc > 1\n         ^^^\n"
                                                 "    = help: did you mean `x`?")
    assert diagnostic.render() == "a.rules:1:6: error: boom\n    = help: did you mean `x`?"


@pytest.mark.parametrize(("text", "word", "keyword"), [
    ('indicator gdp "GDP" {\n  unit "亿元"\n  frequncy monthly\n}\n', "frequncy", "frequency"),
    ('rule r "R" {\n  serverity warning\n}\n', "serverity", "severity"),
    ('rule r "R" {\n  whn x > 1\n}\n', "whn", "when"),
    ('rule r "R" {\n  severity warnign\n}\n', "warnign", "warning"),
    ('test "t" {\n  expect r fiering at a 2026-03\n}\n', "fiering", "firing"),
    ('route q {\n  receviers a\n}\n', "receviers", "receivers"),
    ('dashboard d "D" {\n  panel p "P" {\n    windw 3 periods\n  }\n}\n', "windw", "window"),
    ('rul r "R" { }\n', "rul", "rule"),
])
def test_misspelled_keyword_gets_did_you_mean(text: str, word: str, keyword: str) -> None:
    (diagnostic,) = syntax_errors(text).diagnostics
    line = next(n for n, source in enumerate(text.splitlines(), 1) if word in source)
    assert (diagnostic.span.line, diagnostic.span.column) == (line, text.splitlines()[line - 1].index(word) + 1)
    assert diagnostic.message.startswith(f"unexpected `{word}`")
    assert diagnostic.suggestion == f"did you mean `{keyword}`?"


def test_unclosed_brace_at_end_of_file() -> None:
    (diagnostic,) = syntax_errors('entity a "A" city\nrule r "R" {\n  when x > 1\n').diagnostics
    assert diagnostic.message.startswith("unexpected end of file")
    assert diagnostic.suggestion == "a block is not closed: add `}`"
    assert diagnostic.span.line == 3


def test_unclosed_nested_brace() -> None:
    (diagnostic,) = syntax_errors('dashboard d "D" {\n  panel p "P" {\n    chart line\n  }\n').diagnostics
    assert diagnostic.suggestion == "a block is not closed: add `}`"


@pytest.mark.parametrize("quote", ["“", "”", "‘", "'"])
def test_curly_or_single_quote_gets_straight_quote_hint(quote: str) -> None:
    error = syntax_errors(f"entity taian {quote}泰安市{quote} city\n")
    diagnostic = error.diagnostics[0]
    assert (diagnostic.span.line, diagnostic.span.column) == (1, 14)
    assert diagnostic.message == f"unexpected character `{quote}`"
    assert diagnostic.suggestion == 'strings use straight double quotes: "..."'
    assert error.render().splitlines()[2] == "    " + " " * 13 + "^"


def test_errors_after_a_valid_file_prefix_keep_line_numbers() -> None:
    error = syntax_errors(DOC_EXAMPLE + '\nrule broken "B" { when > 1 }\n')
    (diagnostic,) = error.diagnostics
    assert diagnostic.span.line == DOC_EXAMPLE.count("\n") + 2


def test_empty_and_comment_only_files() -> None:
    assert parse("", "e.rules").items == []
    rule_file = parse("# 只有注释\n\n", "e.rules")
    assert rule_file.items == [] and rule_file.path == "e.rules"
    assert [c.text for c in rule_file.comments] == ["# 只有注释"]


def test_deep_expression_is_a_dsl_error() -> None:
    deep = MAX_DEPTH + 10
    error = syntax_errors('series s "S" = ' + "(" * 300 + "x" + ")" * 300 + " + " + "abs(" * deep + "x" + ")" * deep)
    (diagnostic,) = error.diagnostics
    assert "nested too deeply" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (1, 16)


def test_parentheses_do_not_count_as_nesting() -> None:
    assert expr("(" * 2000 + "x" + ")" * 2000) == ref("x")


# ----------------------------------------------------------------------------- parser bugs: fixed, and open


def test_three_errors_in_indented_items() -> None:
    error = syntax_errors('  rule a "A" { when x > }\n  rule b "B" { whn y }\n  rule c "C" { sevrity info }\n')
    assert [d.span.line for d in error.diagnostics] == [1, 2, 3]


def test_missing_parent_reports_one_error() -> None:
    """The next `entity` is read as the missing parent name; the error says the item before it is incomplete
    and the valid item after it gets no error of its own."""
    error = syntax_errors('entity a "A" city\nentity b "B" county in\nentity c "C" county in a\n')
    (diagnostic,) = error.diagnostics
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 1)
    assert "the item before it is incomplete" in diagnostic.message


def test_huge_number_error_points_at_the_number() -> None:
    (diagnostic,) = syntax_errors('rule r "R" { for ' + "9" * 400 + " periods }").diagnostics
    assert "nested" not in diagnostic.message and "too large" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (1, 18)


@pytest.mark.parametrize("clause", ["for 2.5 periods", "keep 1.5 period"])
def test_counts_are_whole_numbers(clause: str) -> None:
    (diagnostic,) = syntax_errors(f'rule r "R" {{ {clause} }}').diagnostics
    assert "whole number" in diagnostic.message
    assert diagnostic.span.column == len('rule r "R" { ') + len(clause.split()[0]) + 2


def test_long_flat_sum_parses() -> None:
    parts = " + ".join(f"e{i:04d}" for i in range(150))
    check = one(f'check c "C" {{ total = {parts} within 0.1% }}')
    assert check.balance is not None


def test_target_equality_ignores_spans() -> None:
    assert one("target gdp 2026 { taian 1 }") == one("target gdp 2026 {\n  taian 1\n}")


def test_misspelled_check_keyword_gets_did_you_mean() -> None:
    (diagnostic,) = syntax_errors('check c "C" {\n  misisng fail\n}\n').diagnostics
    assert (diagnostic.span.line, diagnostic.span.column) == (2, 3)
    assert diagnostic.suggestion == "did you mean `missing`?"


def test_expected_list_only_has_tokens_that_fit() -> None:
    (diagnostic,) = syntax_errors('rule r "R" {\n  when x > 1\n  gaurd y > 2\n}').diagnostics
    assert diagnostic.suggestion == "did you mean `guard`?"
    for impossible in ("`)`", "`=`", "`chart`"):
        assert impossible not in diagnostic.message


def test_byte_order_mark_is_accepted() -> None:
    assert one('\ufeffentity taian "泰安市" city') == ast.EntityDef(S, "taian", "泰安市", "city", None, {})
