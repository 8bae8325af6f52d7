"""bench/engine.py at toy scale: its generator, the engine and the pandas baseline must agree cell by cell.

The benchmark's speedup figure only means something if the baseline computes what the engine computes;
this runs both on every generated rule kind (a few seconds) and compares the condition (holds, does not
hold, unknown) and the firing state of every (rule, entity, period) cell.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytest.importorskip("pandas")

from bench import engine as bench
from engine import Engine, build_panel, compile_model, validate
from engine.panel import Panel


@pytest.fixture(scope="module")
def toy() -> tuple[bench.Dataset, Panel]:
    data = bench.make_dataset(bench.TOY)
    model = bench.load_model(data)
    return data, bench.make_panel(model, data)


def test_generated_rules_cover_every_kind_and_clause(toy: tuple[bench.Dataset, Panel]) -> None:
    data, panel = toy
    kinds = {spec.kind for spec in data.specs}
    assert kinds == set(bench.KIND_SETUP) | {"balance_children", "balance_parts"}
    text = bench.model_text(data.tree, data.indicators, data.specs)
    for clause in ("for 2 periods", "of 5 periods", "keep 1 period", "recover when", "guard history(",
                   "critical when", "each indicator v tagged", "@parent", "@province", "peer_z(", "zscore(",
                   "mean(", "std(", "sign(", "diff(", "over children", "missing partial_null"):
        assert clause in text, clause
    assert {i.form for i in data.indicators} == {"ytd", "period", "stock", "rate"}
    assert len(panel.entities) == 1 + bench.TOY.n_cities + bench.TOY.n_counties


def test_direct_panel_equals_build_panel(toy: tuple[bench.Dataset, Panel]) -> None:
    data, panel = toy
    built = build_panel(panel.model, validate(panel.model, bench.rows_of(data)), panel.as_of)
    assert built.axes == panel.axes and built.entities == panel.entities
    assert set(built.values) == set(panel.values)
    for name, values in panel.values.items():
        assert np.array_equal(built.values[name], values, equal_nan=True), name


def test_engine_and_pandas_baseline_agree_on_every_cell(toy: tuple[bench.Dataset, Panel]) -> None:
    data, panel = toy
    engine = Engine(compile_model(panel.model), panel)
    engine.run()
    notebook = bench.notebook_frames(data, {i.id for i in data.indicators})
    results = bench.run_baseline(notebook, data.specs)
    per_kind = {kind: bench.compare(engine, results, [s for s in data.specs if s.kind == kind])
                for kind in {s.kind for s in data.specs}}
    for kind, agreement in per_kind.items():
        assert agreement["entity_mismatch"] == 0, kind
        assert agreement["condition_mismatch"] == 0, (kind, agreement)
        assert agreement["firing_mismatch"] == 0, (kind, agreement)
    holding = Counter({kind: a["holds"] for kind, a in per_kind.items()})
    assert sum(a["firing"] for a in per_kind.values()) > 0
    # Not a vacuous agreement: conditions hold somewhere for (nearly) every kind.
    assert sum(1 for count in holding.values() if count > 0) >= len(per_kind) - 2, holding


def test_subset_model_binds_exactly_the_chosen_instances(toy: tuple[bench.Dataset, Panel]) -> None:
    data, _ = toy
    subset = bench.subset_specs(data.specs, 1, np.random.default_rng(0))
    plan = compile_model(bench.load_model(data, subset))
    assert {(i.id, i.indicator) for i in plan.instances} == {(s.id, s.a if s.tag else None) for s in subset}


@pytest.mark.parametrize("for_periods, of_periods, keep, recover", [
    (1, None, 0, False), (2, None, 0, False), (3, 5, 0, False), (1, None, 1, False), (2, None, 1, False),
    (3, 5, 2, False), (1, None, 0, True), (2, None, 1, True), (3, 5, 0, True),
])
def test_baseline_lifecycle_matches_the_engine_state_machine(for_periods: int, of_periods: int | None, keep: int,
                                                              recover: bool) -> None:
    """Dense random conditions reach the corners (keep after firing, re-holding while kept, recover)."""
    import pandas as pd

    from engine.alerts import FIRING, Persistence, run_states

    rng = np.random.default_rng(for_periods * 100 + keep * 10 + recover)
    condition = np.where(rng.random((40, 60)) < 0.4, 1.0, 0.0)
    condition[rng.random(condition.shape) < 0.15] = np.nan
    recovered = np.where(rng.random(condition.shape) < 0.3, 1.0, 0.0) if recover else None
    states, _ = run_states(condition, np.full(condition.shape, 2, dtype=np.int8),
                           Persistence(for_periods, of_periods, keep), recovered)
    spec = bench.RuleSpec("r", "swing", "x", None, None, 1.0, "regions", for_periods, of_periods, keep)
    for row in range(condition.shape[0]):
        recover_row = pd.Series(recovered[row]) if recovered is not None else None
        firing = bench._firing(pd.Series(condition[row]), spec, recover_row)
        assert np.array_equal(firing.to_numpy(), states[row] == FIRING), row
