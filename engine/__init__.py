"""The Taishan engine: numpy in, findings out. No I/O, no database, no HTTP."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from dsl.model import Model
from engine.compiler import Plan, compile_model
from engine.evaluator import Engine
from engine.panel import DataError, Observation, RowError, build_panel, validate
from engine.report import CheckResult, Report, Transition

__all__ = ["CheckResult", "DataError", "Engine", "Observation", "Plan", "Report", "RowError", "Transition",
           "build_panel", "compile_model", "run", "validate"]


def run(model: Model, rows: Iterable[Mapping[str, object]], as_of: datetime.date | None = None,
        plan: Plan | None = None, first_row: int = 1) -> Report:
    """Validate rows, build the panel and evaluate every rule and check over the whole history.

    `first_row` is the number the first row has in its file, so errors name the file's lines."""
    observations = validate(model, rows, first_row=first_row)
    panel = build_panel(model, observations, as_of)
    return Engine(plan or compile_model(model), panel).run()
