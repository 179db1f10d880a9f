"""Data-quality gates: Great Expectations suites for the interactions and items tables.

This is the only module that imports ``great_expectations``; the rest of mtmh sees
:class:`ValidationReport`, :class:`CheckResult` and :class:`ValidationFailed` (defined in
:mod:`mtmh.validation_report`, exported here). Every verdict
comes from a GX expectation. Where GX judges a whole column at once (its dtype check),
pandas adds the offending rows afterwards so the report can say how many and which.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtmh.config import Params
from mtmh.data import atomic_path, load_frames
from mtmh.validation_report import N_EXAMPLES, CheckResult, ValidationFailed, ValidationReport

__all__ = ["CheckResult", "ValidationFailed", "ValidationReport", "check", "validate_files",
           "validate_frames"]

logger = logging.getLogger(__name__)

# GX keeps this many unexpected values and row indices per check in its own results.
PARTIAL_COUNT = 20
INTEGER_TYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "Int8Dtype", "Int16Dtype", "Int32Dtype", "Int64Dtype",
                 "UInt8Dtype", "UInt16Dtype", "UInt32Dtype", "UInt64Dtype"]
NUMBER_TYPES = INTEGER_TYPES + ["float16", "float32", "float64", "Float32Dtype", "Float64Dtype"]

_run_ids = count()


@dataclass
class _Planned:
    """One expectation to run, with what the readable report needs to explain it."""

    expectation: Any
    columns: list[str]
    description: str
    example_columns: list[str]
    # For column-level verdicts: pandas finds the offending rows once GX has failed the check.
    offending: Callable[[pd.DataFrame], pd.Series] | None = None
    observed_on_failure: str | None = None


# --- public API --------------------------------------------------------------------------

def validate_frames(interactions: pd.DataFrame, items: pd.DataFrame, params: Params, *,
                    interactions_path: str = "interactions",
                    items_path: str = "items") -> ValidationReport:
    """Run the interactions and items suites on frames that carry mtmh's column names.

    Parameters
    ----------
    interactions, items
        Frames as :func:`mtmh.data.load_frames` returns them.
    params
        ``params.validate`` gives the accepted ranges; ``params.data.drop_orphans`` turns
        the orphan-item check into a logged count.
    interactions_path, items_path
        Names of the source files, quoted in every result.
    """
    # Examples are looked up by index label, so labels must be unique.
    interactions, items = (f if f.index.is_unique else f.reset_index(drop=True)
                           for f in (interactions, items))
    notes: list[str] = []
    inter_plan = _interactions_plan(interactions, items, params, notes)
    items_plan = _items_plan(items, notes)
    inter_checks, inter_raw = _run_suite("interactions", interactions_path, interactions,
                                         inter_plan)
    item_checks, items_raw = _run_suite("items", items_path, items, items_plan)
    checks = inter_checks + item_checks
    report = ValidationReport(success=all(c.success for c in checks), checks=checks,
                              notes=notes,
                              gx_results={"interactions": inter_raw, "items": items_raw})
    return report


def validate_files(params: Params, interactions: str | Path | None = None,
                   items: str | Path | None = None, *,
                   report_dir: str | Path | None = None) -> ValidationReport:
    """Read both files, validate them, and write the reports whether they pass or not.

    Writes ``interactions.json`` and ``items.json`` (the full GX results) and
    ``report.md`` (the readable text) under ``report_dir`` (default
    ``params.validate.report_dir``). A file that cannot be read raises
    :class:`mtmh.data.DataError`.
    """
    start = time.perf_counter()
    inter_path = str(interactions or params.data.interactions)
    items_path = str(items or params.data.items)
    inter_frame, items_frame = load_frames(params.data, interactions=inter_path, items=items_path)
    report = validate_frames(inter_frame, items_frame, params,
                             interactions_path=inter_path, items_path=items_path)
    renamed = {ours: theirs for ours, theirs in vars(params.data.columns).items()
               if theirs and theirs != ours}
    if renamed:
        pairs = ", ".join(f"{ours} is {theirs!r}" for ours, theirs in renamed.items())
        report.notes.insert(0, f"columns are named as mtmh names them; in your files (data."
                               f"columns in params.yaml) {pairs}")

    out = Path(report_dir or params.validate.report_dir)
    for name, result in report.gx_results.items():
        with atomic_path(out / f"{name}.json") as tmp:
            tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(f"# Data validation\n\n```text\n{report.to_text()}\n```\n")

    elapsed = time.perf_counter() - start
    if report.success:
        logger.info("validation passed (%.1f s): %s; reports in %s", elapsed, report.summary(),
                    out)
    else:
        logger.warning("validation FAILED (%.1f s): %s; see %s", elapsed, report.summary(),
                       out / "report.md")
    return report


def check(params: Params, interactions: str | Path | None = None,
          items: str | Path | None = None, *,
          report_dir: str | Path | None = None) -> ValidationReport:
    """:func:`validate_files`, raising :class:`ValidationFailed` if any check failed."""
    report = validate_files(params, interactions, items, report_dir=report_dir)
    if not report.success:
        raise ValidationFailed(report)
    return report


# --- the suites --------------------------------------------------------------------------

def _interactions_plan(frame: pd.DataFrame, items: pd.DataFrame, params: Params,
                       notes: list[str]) -> list[_Planned]:
    gxe = _gx().expectations
    cfg = params.validate
    row_cols = [c for c in ("user_id", "item_id", "timestamp", "rating") if c in frame.columns]
    plan = [_Planned(gxe.ExpectTableRowCountToBeBetween(min_value=1), [],
                     "the file must hold at least one interaction", [])]
    present = _require_columns(plan, frame, ("user_id", "item_id", "timestamp"),
                               "interactions", notes)

    for col in ("user_id", "item_id", "timestamp"):
        if col in present:
            plan.append(_Planned(gxe.ExpectColumnValuesToNotBeNull(column=col), [col],
                                 f"{col} must not be empty", row_cols))

    if "timestamp" in present:
        plan.append(_Planned(
            gxe.ExpectColumnValuesToBeInTypeList(column="timestamp", type_list=INTEGER_TYPES),
            ["timestamp"], "timestamp must be whole seconds (an integer column)", row_cols,
            offending=lambda f: _not_whole_numbers(f["timestamp"])))
        upper = cfg.timestamp_upper()
        if pd.api.types.is_numeric_dtype(frame["timestamp"]):
            plan.append(_Planned(
                gxe.ExpectColumnValuesToBeBetween(column="timestamp", min_value=cfg.min_timestamp,
                                                  max_value=upper),
                ["timestamp"],
                f"timestamp must lie within [{cfg.min_timestamp}, {upper}] "
                f"(validate.min_timestamp, validate.max_timestamp)", row_cols))
        else:
            notes.append("interactions: timestamp range not checked: the column is not numeric")

    if "rating" in frame.columns:
        plan.append(_Planned(gxe.ExpectColumnValuesToNotBeNull(column="rating"), ["rating"],
                             "rating must not be empty when the file has a rating column "
                             "(a blank often means a truncated line)", row_cols))
        plan.append(_Planned(
            gxe.ExpectColumnValuesToBeInTypeList(column="rating", type_list=NUMBER_TYPES),
            ["rating"], "rating must be numeric", row_cols,
            offending=lambda f: pd.to_numeric(f["rating"], errors="coerce").isna()))
        if pd.api.types.is_numeric_dtype(frame["rating"]):
            plan.append(_Planned(
                gxe.ExpectColumnValuesToBeBetween(column="rating", min_value=cfg.rating_min,
                                                  max_value=cfg.rating_max),
                ["rating"], f"rating must lie within [{cfg.rating_min}, {cfg.rating_max}] "
                            f"(validate.rating_min, validate.rating_max)", row_cols))
        else:
            notes.append("interactions: rating range not checked: the column is not numeric")

    key = ["user_id", "item_id", "timestamp"]
    if set(key) <= present:
        plan.append(_Planned(gxe.ExpectCompoundColumnsToBeUnique(column_list=key), key,
                             "no two rows may repeat the same (user_id, item_id, timestamp); "
                             "every copy counts", row_cols))

    if "item_id" in present and "item_id" in items.columns:
        known = [_plain(v) for v in pd.unique(items["item_id"].dropna())]
        if params.data.drop_orphans:
            n_orphans = int((~frame["item_id"].dropna().isin(known)).sum())
            logger.info("%d interactions name an item_id missing from the items file; they "
                        "will be dropped (data.drop_orphans is true)", n_orphans)
            notes.append(f"interactions: orphan check skipped (data.drop_orphans is true); "
                         f"{n_orphans} interactions name an item_id missing from the items file")
        else:
            plan.append(_Planned(
                gxe.ExpectColumnValuesToBeInSet(column="item_id", value_set=known),
                ["item_id"], "every item_id must appear in the items file "
                             "(set data.drop_orphans to drop such rows instead)", row_cols))
    return plan


def _items_plan(frame: pd.DataFrame, notes: list[str]) -> list[_Planned]:
    gxe = _gx().expectations
    row_cols = [c for c in ("item_id", "title") if c in frame.columns]
    plan = [_Planned(gxe.ExpectTableRowCountToBeBetween(min_value=1), [],
                     "the file must hold at least one item", [])]
    present = _require_columns(plan, frame, ("item_id", "title"), "items", notes)
    if "item_id" in present:
        plan.append(_Planned(gxe.ExpectColumnValuesToNotBeNull(column="item_id"), ["item_id"],
                             "item_id must not be empty", row_cols))
        plan.append(_Planned(gxe.ExpectColumnValuesToBeUnique(column="item_id"), ["item_id"],
                             "item_id must be unique; every copy counts", row_cols))
    if "title" in present:
        plan.append(_Planned(gxe.ExpectColumnValuesToNotBeNull(column="title"), ["title"],
                             "title must not be missing", row_cols))
        plan.append(_Planned(gxe.ExpectColumnValuesToNotMatchRegex(column="title",
                                                                   regex=r"^\s*$"),
                             ["title"], "title must not be empty or only whitespace", row_cols))
    return plan


def _require_columns(plan: list[_Planned], frame: pd.DataFrame, required: tuple[str, ...],
                     suite: str, notes: list[str]) -> set[str]:
    """Add one existence check per required column; return those that exist."""
    gxe = _gx().expectations
    found = ", ".join(map(str, frame.columns))
    for col in required:
        plan.append(_Planned(gxe.ExpectColumnToExist(column=col), [col],
                             f"required column {col!r} must exist (data.columns in "
                             f"params.yaml maps other names onto it)", [],
                             observed_on_failure=f"columns {found}"))
        if col not in frame.columns:
            notes.append(f"{suite}: checks on column {col!r} skipped: the column is missing")
    return {c for c in required if c in frame.columns}


# --- running GX --------------------------------------------------------------------------

def _gx() -> Any:
    """Import GX quietly: no analytics, and its INFO chatter kept out of our logs."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)
    import great_expectations as gx

    # GX pins this one logger to INFO at import; it announces a temporary folder per context.
    noisy = logging.getLogger("great_expectations.data_context.types.base")
    if noisy.level == logging.INFO:
        noisy.setLevel(logging.WARNING)
    return gx


@lru_cache(maxsize=1)
def _context() -> Any:
    """One ephemeral GX context per process: each new one makes a temporary docs folder."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _run_suite(suite_name: str, path: str, frame: pd.DataFrame,
               plan: list[_Planned]) -> tuple[list[CheckResult], dict[str, Any]]:
    """Validate ``frame`` against the planned expectations; results come back in plan order."""
    gx = _gx()
    context = _context()
    suite = gx.ExpectationSuite(name=suite_name)
    for index, planned in enumerate(plan):
        planned.expectation.meta = {"mtmh_check": index, "description": planned.description}
        suite.add_expectation(planned.expectation)

    # Names are unique per run so repeated calls in one process never collide.
    source_name = f"mtmh_{suite_name}_{next(_run_ids)}"
    source = context.data_sources.add_pandas(name=source_name)
    try:
        asset = source.add_dataframe_asset(name=suite_name)
        batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
            batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format={
            "result_format": "SUMMARY", "partial_unexpected_count": PARTIAL_COUNT})
    finally:
        context.data_sources.delete(source_name)

    raw = result.to_json_dict()
    by_index = {r["expectation_config"]["meta"]["mtmh_check"]: r for r in raw["results"]}
    checks = [_check_result(suite_name, path, frame, planned, by_index[i])
              for i, planned in enumerate(plan)]
    return checks, raw


def _check_result(suite: str, path: str, frame: pd.DataFrame, planned: _Planned,
                  raw: dict[str, Any]) -> CheckResult:
    result = raw.get("result") or {}
    exception = raw.get("exception_info") or {}
    # A GX failure to evaluate comes either flat or keyed by metric id.
    messages = [exception.get("exception_message")] if "raised_exception" in exception else [
        e.get("exception_message") for e in exception.values() if isinstance(e, dict)]
    error = "; ".join(m for m in messages if m) or None
    observed = result.get("observed_value")
    check = CheckResult(
        suite=suite, path=path, expectation=raw["expectation_config"]["type"],
        columns=list(planned.columns), description=planned.description,
        success=bool(raw["success"]), unexpected_count=result.get("unexpected_count"),
        element_count=result.get("element_count"),
        observed=None if observed is None else str(observed), error=error)
    if check.success:
        return check
    check.observed = planned.observed_on_failure or check.observed

    if planned.offending is not None and check.unexpected_count is None:
        mask = planned.offending(frame).to_numpy(dtype=bool, na_value=True)
        check.unexpected_count, check.element_count = int(mask.sum()), len(frame)
        indices = frame.index[mask][:N_EXAMPLES].tolist()
        check.observed = f"column dtype {frame[planned.columns[0]].dtype}"
    else:
        indices = list(result.get("partial_unexpected_index_list") or [])[:N_EXAMPLES]
    if indices and planned.example_columns:
        rows = frame.loc[indices, planned.example_columns]
        check.examples = [{"row": _plain(i), **{c: _plain(v) for c, v in row.items()}}
                          for i, row in zip(indices, rows.to_dict("records"), strict=True)]
    else:
        values = result.get("partial_unexpected_list") or []
        check.examples = [{"value": _plain(v)} for v in values[:N_EXAMPLES]]
    return check


# --- small helpers -----------------------------------------------------------------------

def _not_whole_numbers(column: pd.Series) -> pd.Series:
    """True where a value is blank, text, or a number with a fraction."""
    numbers = pd.to_numeric(column, errors="coerce").astype("float64")
    return numbers.isna() | (numbers % 1 != 0)


def _plain(value: Any) -> Any:
    """A JSON-friendly Python value: numpy scalars unwrapped, missing values as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value
