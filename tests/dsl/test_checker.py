"""Every checker error, how errors are rendered, and loading files with imports."""

from __future__ import annotations

import pytest

import dsl
from dsl import DslError

BASE = """entity taian "泰安市" city
entity xintai "新泰市" county_city in taian
entity shandong "山东省" province
indicator ind_va "规上工业增加值" { unit "%" frequency monthly form rate jan_feb merged tags 工业 }
indicator power_ind "工业用电量" { unit "万千瓦时" frequency monthly form ytd jan_feb merged additive tags 工业 }
indicator retail "社会消费品零售总额" { unit "亿元" frequency monthly form period tags 消费 }
indicator gdp "地区生产总值" { unit "亿元" frequency quarterly form ytd additive }
"""
FIRST = BASE.count("\n") + 1  # the line the added text starts on


def errors(text: str, path: str = "t.rules") -> list[dsl.Diagnostic]:
    with pytest.raises(DslError) as caught:
        dsl.load_text(BASE + text, path)
    return [d for d in caught.value.diagnostics if d.severity == "error"]


def only_error(text: str) -> dsl.Diagnostic:
    found = errors(text)
    assert len(found) == 1, [d.message for d in found]
    return found[0]


def at(diagnostic: dsl.Diagnostic) -> tuple[int, int]:
    return diagnostic.span.line, diagnostic.span.column


def test_the_base_is_valid():
    model = dsl.load_text(BASE + 'rule r "t" { each county in taian when ind_va > 5 }')
    assert set(model.indicators) == {"ind_va", "power_ind", "retail", "gdp"}


# ----------------------------------------------------------------------------- unknown names


def test_unknown_indicator_suggests_the_nearest_name():
    error = only_error('rule r "t" { when power_in > 5 }')
    assert error.message == "unknown indicator or series `power_in`"
    assert error.suggestion == "did you mean `power_ind`?"
    assert at(error) == (FIRST, 19)


def test_unknown_entity_suggests_the_nearest_name():
    error = only_error('rule r "t" { when ind_va@xintia > 5 }')
    assert error.message == "unknown entity `xintia`"
    assert error.suggestion == "did you mean `xintai`?"


def test_unknown_scope_entity():
    found = errors('rule r "t" { each county in taiann when ind_va > 5 }')
    assert any(d.message == "unknown entity `taiann`" and d.suggestion == "did you mean `taian`?" for d in found)


def test_unknown_function():
    error = only_error('rule r "t" { when yoyy(power_ind) > 5 }')
    assert error.message == "unknown function `yoyy`"
    assert error.suggestion == "did you mean `yoy`?"


def test_unknown_parent():
    error = only_error('entity feicheng "肥城市" county_city in taain')
    assert error.message == "unknown entity `taain`" and error.suggestion == "did you mean `taian`?"


def test_unknown_name_without_a_close_match_has_no_suggestion():
    error = only_error('rule r "t" { when zzzzzz > 5 }')
    assert error.message == "unknown indicator or series `zzzzzz`" and error.suggestion is None


def test_unknown_tag():
    found = errors('rule r "t" { each indicator x tagged 工叶 when x > 5 }')
    assert any("no indicator is tagged `工叶`" in d.message for d in found)


# ----------------------------------------------------------------------------- definitions


def test_duplicate_indicator():
    error = only_error('indicator ind_va "又一个" { unit "%" frequency monthly form rate }')
    assert error.message == "`ind_va` is defined twice"
    assert error.suggestion == "the first definition is at t.rules:4:1"
    assert at(error) == (FIRST, 1)


def test_duplicate_entity():
    error = only_error('entity xintai "新泰" county in taian')
    assert error.message == "`xintai` is defined twice"
    assert error.suggestion == "the first definition is at t.rules:2:1"


def test_duplicate_rule():
    error = only_error('rule r "t" { when ind_va > 5 }\nrule r "u" { when ind_va > 6 }')
    assert error.message == "`r` is defined twice" and at(error) == (FIRST + 1, 1)


def test_unknown_entity_kind():
    error = only_error('entity feicheng "肥城市" countyy in taian')
    assert error.message == "unknown entity kind `countyy`" and error.suggestion == "did you mean `county`?"


def test_unknown_frequency():
    error = only_error('indicator x "x" { unit "%" frequency montly form rate }')
    assert error.message == "unknown frequency `montly`" and error.suggestion == "did you mean `monthly`?"
    assert at(error) == (FIRST, 38)


def test_unknown_form():
    error = only_error('indicator x "x" { unit "万" frequency monthly form level }')
    assert error.message == "unknown form `level`"
    assert error.suggestion == "one of: ytd, period, stock, rate, index"


def test_parent_cycle():
    found = errors('entity a "甲" county in b\nentity b "乙" county in a')
    assert [(at(d), d.message) for d in found] == [
        ((FIRST, 1), "entity `a` is its own ancestor (a cycle in `in`)"),
        ((FIRST + 1, 1), "entity `b` is its own ancestor (a cycle in `in`)"),
    ]


def test_parts_cycle():
    found = errors('indicator p1 "甲" { unit "万" frequency monthly form ytd parts p2 + p3 }\n'
                   'indicator p2 "乙" { unit "万" frequency monthly form ytd parts p1 }\n'
                   'indicator p3 "丙" { unit "万" frequency monthly form ytd }')
    messages = [d.message for d in found]
    assert "indicator parts form a cycle: p1 → p2 → p1" in messages
    assert "indicator parts form a cycle: p2 → p1 → p2" in messages


def test_series_cycle():
    found = errors('series s1 "甲" = s2 + 1\nseries s2 "乙" = s1 + 1')
    assert [d.message for d in found] == ["series `s1` depends on itself (a cycle)"]


def test_self_referencing_series():
    assert [d.message for d in errors('series s "甲" = s * 2')] == ["series `s` depends on itself (a cycle)"]


# ----------------------------------------------------------------------------- types


def test_unit_mismatch():
    found = errors('rule r "t" { when gdp + ind_va > 5 }')
    mismatch = [d for d in found if d.message.startswith("unit mismatch")]
    assert [d.message for d in mismatch] == ["unit mismatch: `+` between 亿元 and %"]
    assert at(mismatch[0]) == (FIRST, 19)
    assert mismatch[0].suggestion == "convert one side, or compare growth rates with yoy()"


def test_unit_mismatch_at_the_same_frequency():
    error = only_error('rule r "t" { when power_ind - retail > 5 }')
    assert error.message == "unit mismatch: `-` between 万千瓦时 and 亿元"


def test_growth_rates_of_different_units_compare():
    dsl.load_text(BASE + 'rule r "t" { when yoy(power_ind) - yoy(retail) > 5 and ind_va > yoy(retail) }')


def test_frequency_mix():
    found = errors('rule r "t" { when ind_va > 5 and gdp > 100 }')
    assert any(d.message == "cannot combine a monthly value with a quarterly one" for d in found)


def test_frequency_mix_across_clauses():
    error = only_error('rule r "t" { when ind_va > 5 guard gdp > 100 }')
    assert error.message == "rule `r` mixes frequencies: monthly, quarterly"


def test_yoy_of_a_rate():
    error = only_error('rule r "t" { when yoy(ind_va) > 5 }')
    assert error.message == "`yoy` of a `rate` indicator: it is already a published growth"
    assert at(error) == (FIRST, 19)


def test_mom_of_a_rate():
    assert only_error('rule r "t" { when mom(ind_va) > 5 }').message.startswith("`mom` of a `rate` indicator")


def test_non_boolean_when():
    error = only_error('rule r "t" { when ind_va + 5 }')
    assert error.message == "`when` needs a condition, not a number"
    assert error.suggestion == "compare it: `... > 5`"


def test_non_boolean_guard_and_recover():
    found = errors('rule r "t" { when ind_va > 5 guard history(ind_va) recover when ind_va }')
    assert sorted(d.message for d in found) == ["`guard` needs a condition, not a number",
                                                "`recover when` needs a condition, not a number"]


def test_logic_on_numbers():
    assert any(d.message == "`and` joins conditions, not numbers"
               for d in errors('rule r "t" { when ind_va and ind_va > 5 }'))


def test_window_must_be_a_whole_number():
    found = errors('rule r "t" { when lag(ind_va, 1.5) > 5 }')
    assert any("whole number" in d.message for d in found)


# ----------------------------------------------------------------------------- rules that can never fire


def test_empty_scope():
    error = only_error('rule r "t" { each county in shandong when ind_va > 5 }')
    assert error.message == "rule `r` can never fire: its scope has no entities"
    assert at(error) == (FIRST, 14)


def test_for_more_periods_than_the_window():
    error = only_error('rule r "t" { when ind_va > 5 for 3 of 2 periods }')
    assert error.message == ("rule `r` can never fire: `for 3 of 2 periods` asks for more periods than the window "
                             "has")


def test_abs_below_zero():
    error = only_error('rule r "t" { when abs(ind_va) < 0 }')
    assert error.message == "this condition can never hold, so the `when` clause never fires"


def test_contradictory_bounds():
    error = only_error('rule r "t" { when ind_va > 5 and ind_va < 3 }')
    assert error.message == "this condition can never hold, so the `when` clause never fires"


def test_overlapping_bounds_are_fine():
    dsl.load_text(BASE + 'rule r "t" { when ind_va > 3 and ind_va < 5 }\n'
                         'rule s "u" { when ind_va > 5 and retail < 3 }')


def test_constant_false_condition():
    assert only_error('rule r "t" { when 1 > 2 }').message == \
        "this condition can never hold, so the `when` clause never fires"


def test_each_indicator_where_no_tagged_indicator_fits():
    found = errors('rule r "t" { each indicator x tagged 消费 when yoy(x) > 5 and x > gdp }')
    assert any(d.message == "rule `r` can never fire: its conditions fit none of the indicators tagged 消费"
               for d in found)


# ----------------------------------------------------------------------------- messages


def test_bad_message_placeholder_format():
    error = only_error('rule r "t" { when ind_va > 5 message "{ind_va:.1q}" }')
    assert error.message == "bad number format `.1q` in the message"
    assert at(error) == (FIRST, 38)


def test_unbalanced_message_brace():
    error = only_error('rule r "t" { when ind_va > 5 message "{ind_va" }')
    assert error.message.startswith("bad message template")
    assert error.suggestion == "write literal braces as {{ and }}"


def test_unknown_name_in_a_message_placeholder():
    error = only_error('rule r "t" { when ind_va > 5 message "{entity}：{ind_vaa:.1f}" }')
    assert error.message == "unknown indicator or series `ind_vaa`"
    assert error.suggestion == "did you mean `ind_va`?"


def test_unknown_name_in_a_message_placeholder_points_into_the_message():
    error = only_error('rule r "t" { when ind_va > 5 message "{ind_vaa:.1f}" }')
    # The message string opens at column 38; `{` is at 39 and the name at 40.
    assert at(error) == (FIRST, 40)


def test_placeholder_words_are_not_names():
    dsl.load_text(BASE + 'rule r "t" { when ind_va > 5 message "{entity}{period}{indicator}{rule}{severity}" }')


def test_message_placeholder_syntax_error_points_into_the_message():
    found = errors('rule r "t" { when ind_va > 5 message "{ind_va +:.1f}" }')
    assert len(found) == 1 and found[0].span.line == FIRST and found[0].span.column >= 40


# ----------------------------------------------------------------------------- checks


def test_check_with_an_unknown_missing_mode():
    error = only_error('check c "c" { sum(gdp over taian.children) = gdp within 1% missing partial }')
    assert error.message == "unknown missing mode `partial`" and error.suggestion == "did you mean `partial_null`?"


def test_check_balance_unit_mismatch():
    error = only_error('check c "c" { each entity in xintai power_ind = retail within 1 }')
    assert error.message == "unit mismatch: `=` between 万千瓦时 and 亿元"


def test_completeness_of_an_unknown_indicator():
    error = only_error('check c "c" { each entity in xintai complete power_id last 3 periods }')
    assert error.message == "unknown indicator `power_id`" and error.suggestion == "did you mean `power_ind`?"


# ----------------------------------------------------------------------------- tests


def test_test_with_the_wrong_number_of_values():
    error = only_error('rule r "t" { when ind_va > 5 }\n'
                       'test "x" { given ind_va@xintai 2026-03..2026-05: 1 2 }')
    assert error.message == "2026-03..2026-05 has 3 periods but 2 values are given"
    assert at(error) == (FIRST + 1, 12)


def test_test_with_a_backwards_range():
    error = only_error('rule r "t" { when ind_va > 5 }\n'
                       'test "x" { given ind_va@xintai 2026-05..2026-03: 1 2 3 }')
    assert error.message == "the range 2026-05..2026-03 runs backwards"


def test_given_period_of_the_wrong_frequency():
    error = only_error('rule r "t" { when ind_va > 5 }\ntest "x" { given gdp@xintai 2026-03..2026-05: 1 2 3 }')
    assert error.message == "`2026-03` is not a quarterly period"


def test_expect_with_an_unknown_rule():
    error = only_error('rule ind_high "t" { when ind_va > 5 }\n'
                       'test "x" {\n  given ind_va@xintai 2026-03..2026-04: 1 2\n'
                       '  expect ind_hihg firing at xintai 2026-03\n}')
    assert error.message == "unknown rule or check `ind_hihg`"
    assert error.suggestion == "did you mean `ind_high`?"
    assert at(error) == (FIRST + 3, 3)


def test_expect_a_check_state_of_a_rule():
    error = only_error('rule r "t" { when ind_va > 5 }\n'
                       'test "x" { given ind_va@xintai 2026-03: 1 expect r violated at xintai 2026-03 }')
    assert error.message.startswith("`violated` is a check state")


# ----------------------------------------------------------------------------- all at once


def test_every_error_in_a_file_is_reported_at_once():
    text = (
        'entity a "甲" countyy in taian\n'                                    # FIRST
        'indicator x "x" { unit "%" frequency montly form rate }\n'           # FIRST + 1
        'rule r1 "t" { when power_in > 5 }\n'                                 # FIRST + 2
        'rule r2 "t" { when yoy(ind_va) > 5 for 3 of 2 periods }\n'           # FIRST + 3
        'rule r3 "t" { when ind_va + 1 }\n'                                   # FIRST + 4
        'rule r1 "t" { when ind_va > 1 }\n'                                   # FIRST + 5
        'test "x" { given ind_va@xintai 2026-03..2026-05: 1 2\n'              # FIRST + 6
        '  expect rr firing at xintai 2026-03 }\n'                            # FIRST + 7
    )
    found = errors(text)
    lines = [d.span.line - FIRST for d in found]
    assert lines == sorted(lines)
    assert set(lines) == {0, 1, 2, 3, 4, 5, 6, 7}
    assert len(found) >= 9  # r2 has two problems


def test_errors_across_several_items_in_source_order():
    with pytest.raises(DslError) as caught:
        dsl.load_text(BASE + 'rule b "t" { when zz > 1 }\nrule a "t" { when yy > 1 }', "t.rules")
    assert [d.message for d in caught.value.diagnostics] == ["unknown indicator or series `zz`",
                                                             "unknown indicator or series `yy`"]


# ----------------------------------------------------------------------------- rendering


def test_rendering_with_source_line_caret_and_help():
    with pytest.raises(DslError) as caught:
        dsl.load_text(BASE + 'rule r "t" { when power_in > 5 }', "rules/industry.rules")
    assert caught.value.render() == (
        f"rules/industry.rules:{FIRST}:19: error: unknown indicator or series `power_in`\n"
        '    rule r "t" { when power_in > 5 }\n'
        "                      ^^^^^^^^\n"
        "    = help: did you mean `power_ind`?"
    )
    assert str(caught.value) == caught.value.render()


def test_caret_under_wide_characters():
    with pytest.raises(DslError) as caught:
        dsl.load_text(BASE + 'rule r "规上" { when power_in > 5 }', "t.rules")
    lines = caught.value.render().splitlines()
    assert lines[0] == f"t.rules:{FIRST}:20: error: unknown indicator or series `power_in`"
    assert lines[1] == '    rule r "规上" { when power_in > 5 }'
    # 19 characters before the name, two of them double width: 21 columns of padding.
    assert lines[2] == "    " + " " * 21 + "^" * 8


def test_rendering_without_a_suggestion():
    with pytest.raises(DslError) as caught:
        dsl.load_text(BASE + 'rule r "t" { when abs(ind_va) < 0 }', "t.rules")
    assert caught.value.render().splitlines() == [
        f"t.rules:{FIRST}:19: error: this condition can never hold, so the `when` clause never fires",
        '    rule r "t" { when abs(ind_va) < 0 }',
        "                      ^^^^^^^^^^^^^^^",
    ]


def test_syntax_error_is_rendered_the_same_way():
    with pytest.raises(DslError) as caught:
        dsl.load_text(BASE + 'rule r "t" { when ind_va > }', "t.rules")
    first = caught.value.render().splitlines()
    assert first[0].startswith(f"t.rules:{FIRST}:") and ": error: " in first[0]
    assert first[1] == '    rule r "t" { when ind_va > }'
    assert first[2].strip().startswith("^")


# ----------------------------------------------------------------------------- loading files


def write(path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_imports_are_relative_to_the_importing_file(tmp_path, monkeypatch):
    write(tmp_path / "taian" / "regions.rules",
          'entity taian "泰安市" city\nentity xintai "新泰市" county_city in taian\n')
    write(tmp_path / "common" / "indicators.rules",
          'import "more/prices.rules"\n'
          'indicator ind_va "规上工业增加值" { unit "%" frequency monthly form rate }\n')
    write(tmp_path / "common" / "more" / "prices.rules",
          'indicator cpi "居民消费价格指数" { unit "" frequency monthly form index }\n')
    main = write(tmp_path / "taian" / "main.rules",
                 'import "regions.rules"\nimport "../common/indicators.rules"\n'
                 'rule r "偏高" { each county in taian when ind_va > 5 or yoy(cpi) > 3 }\n')
    monkeypatch.chdir(tmp_path.parent)  # imports must not depend on the working directory
    model = dsl.load([main])
    assert set(model.entities) == {"taian", "xintai"}
    assert set(model.indicators) == {"ind_va", "cpi"}
    assert "r" in model.rules
    assert len(model.sources) == 4


def test_import_cycles_load_each_file_once(tmp_path):
    a = write(tmp_path / "a.rules", 'import "b.rules"\nentity taian "泰安市" city\n')
    write(tmp_path / "b.rules", 'import "a.rules"\nindicator x "x" { unit "%" frequency monthly form rate }\n')
    model = dsl.load([a])
    assert set(model.entities) == {"taian"} and set(model.indicators) == {"x"}


def test_a_directory_loads_every_rules_file(tmp_path):
    write(tmp_path / "r" / "a.rules", 'entity taian "泰安市" city\n')
    write(tmp_path / "r" / "sub" / "b.rules", 'indicator x "x" { unit "%" frequency monthly form rate }\n')
    write(tmp_path / "r" / "notes.txt", "not rules")
    model = dsl.load([str(tmp_path / "r")])
    assert set(model.entities) == {"taian"} and set(model.indicators) == {"x"}


def test_missing_import_is_reported_at_the_import(tmp_path):
    main = write(tmp_path / "main.rules", 'entity taian "泰安市" city\nimport "nope.rules"\n')
    with pytest.raises(DslError) as caught:
        dsl.load([main])
    [error] = caught.value.diagnostics
    assert error.span.path == main and at(error) == (2, 1)
    assert error.message == f"rule file `{tmp_path / 'nope.rules'}` cannot be read"
    assert error.suggestion == "check the path; imports are relative to the importing file"
    rendered = caught.value.render().splitlines()
    assert rendered[0] == f"{main}:2:1: error: rule file `{tmp_path / 'nope.rules'}` cannot be read"
    assert rendered[1] == '    import "nope.rules"'


def test_missing_import_and_other_errors_together(tmp_path):
    main = write(tmp_path / "main.rules", 'import "nope.rules"\nentity taian "泰安市" city\n'
                                          'rule r "t" { when x > 5 }\n')
    with pytest.raises(DslError) as caught:
        dsl.load([main])
    messages = [d.message for d in caught.value.diagnostics]
    assert messages[0].endswith("cannot be read")
    assert "unknown indicator or series `x`" in messages


def test_errors_name_the_file_they_are_in(tmp_path):
    write(tmp_path / "regions.rules", 'entity taian "泰安市" city\nentity taian "又一个" city\n')
    main = write(tmp_path / "main.rules", 'import "regions.rules"\nrule r "t" { when x > 5 }\n')
    with pytest.raises(DslError) as caught:
        dsl.load([main])
    where = {(d.span.path, d.span.line) for d in caught.value.diagnostics}
    assert (str(tmp_path / "regions.rules"), 2) in where
    assert (main, 2) in where


def test_a_file_that_is_not_utf8(tmp_path):
    bad = tmp_path / "gbk.rules"
    bad.write_bytes('entity taian "泰安市" city\n'.encode("gbk"))
    with pytest.raises(DslError) as caught:
        dsl.load([str(bad)])
    assert "is not UTF-8 text" in caught.value.diagnostics[0].message


def test_syntax_and_name_errors_come_in_one_pass(tmp_path) -> None:
    rules = tmp_path / "mixed.rules"
    rules.write_text(
        'entity taian "泰安市" city\n'
        'indicator x "X" { unit "%" frequncy monthly form rate }\n'
        'indicator y "Y" { unit "%" frequency monthly form rate }\n'
        'rule a "A" { when x > 1 }\n'
        'rule b "B" { when yy > 1 }\n'
        'rule c "C" { when y > }\n', encoding="utf-8")
    with pytest.raises(DslError) as caught:
        dsl.load([str(rules)])
    found = [(d.span.line, d.message.split(",")[0]) for d in caught.value.diagnostics]
    # Two syntax errors and the unknown `yy`; `x` is not reported again: its definition is what failed.
    assert found == [(2, "unexpected `frequncy`"), (5, "unknown indicator or series `yy`"), (6, "unexpected `}`")]
