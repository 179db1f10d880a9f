"""The data-quality gates, run through the real Great Expectations on real and crafted files."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from mtmh.config import Params
from mtmh.data import DataError, movielens_1m
from mtmh.validate import (
    ValidationFailed,
    ValidationReport,
    check,
    validate_files,
    validate_frames,
)

ITEMS = "item_id,title,genres\n1,Alpha (1995),Drama\n2,Beta (1996),Comedy\n3,Gamma (1997),Drama\n"
INTERACTIONS = ("user_id,item_id,timestamp,rating\n"
                "1,1,978300760,5\n"
                "1,2,978300761,3\n"
                "2,3,978300800,4\n"
                "2,1,978300900,1\n"
                "3,2,978301000,2\n")

NOT_NULL = "expect_column_values_to_not_be_null"
IN_TYPES = "expect_column_values_to_be_in_type_list"
BETWEEN = "expect_column_values_to_be_between"


def _params(**data: object) -> Params:
    params = Params()
    params.validate.max_timestamp = 1_100_000_000
    for key, value in data.items():
        setattr(params.data, key, value)
    return params


def _run(tmp_path: Path, interactions: str = INTERACTIONS, items: str = ITEMS,
         params: Params | None = None) -> ValidationReport:
    inter_path, items_path = tmp_path / "interactions.csv", tmp_path / "items.csv"
    inter_path.write_text(interactions)
    items_path.write_text(items)
    return validate_files(params or _params(), inter_path, items_path,
                          report_dir=tmp_path / "report")


def _failures(report: ValidationReport) -> dict[tuple[str, str, tuple[str, ...]], int | None]:
    return {(c.suite, c.expectation, tuple(c.columns)): c.unexpected_count
            for c in report.failed}


def _replace_line(text: str, line: int, new: str) -> str:
    lines = text.splitlines()
    lines[line] = new
    return "\n".join(lines) + "\n"


def test_crafted_good_files_pass(tmp_path: Path) -> None:
    report = _run(tmp_path)
    assert report.success, report.to_text()
    assert report.to_text().splitlines()[-1] == f"0 of {len(report.checks)} checks failed"
    # Every planned check ran: both suites, the orphan check included.
    assert {c.suite for c in report.checks} == {"interactions", "items"}
    assert any(c.expectation == "expect_column_values_to_be_in_set" for c in report.checks)


# Each case breaks one thing and names exactly the checks that must fail, with row counts.
CASES = {
    "null user id": (
        _replace_line(INTERACTIONS, 2, ",2,978300761,3"), ITEMS,
        {("interactions", NOT_NULL, ("user_id",)): 1}, 1),
    "null item id": (
        _replace_line(INTERACTIONS, 3, "2,,978300800,4"), ITEMS,
        {("interactions", NOT_NULL, ("item_id",)): 1}, 2),
    "text in timestamp": (
        _replace_line(INTERACTIONS, 4, "2,1,yesterday,1"), ITEMS,
        {("interactions", IN_TYPES, ("timestamp",)): 1}, 3),
    "timestamp out of range": (
        _replace_line(INTERACTIONS, 1, "1,1,12345,5"), ITEMS,
        {("interactions", BETWEEN, ("timestamp",)): 1}, 0),
    "rating out of range": (
        _replace_line(INTERACTIONS, 5, "3,2,978301000,7"), ITEMS,
        {("interactions", BETWEEN, ("rating",)): 1}, 4),
    "duplicate row": (
        INTERACTIONS + "2,3,978300800,4\n", ITEMS,
        {("interactions", "expect_compound_columns_to_be_unique",
          ("user_id", "item_id", "timestamp")): 2}, 2),
    "orphan item": (
        _replace_line(INTERACTIONS, 5, "3,99,978301000,2"), ITEMS,
        {("interactions", "expect_column_values_to_be_in_set", ("item_id",)): 1}, 4),
    "duplicate item id": (
        INTERACTIONS, ITEMS + "2,Beta again (2001),Drama\n",
        {("items", "expect_column_values_to_be_unique", ("item_id",)): 2}, 1),
    # A CSV cannot hold an empty string apart from a missing value: pandas reads both as NA.
    "empty title": (
        INTERACTIONS, _replace_line(ITEMS, 2, '2,"",Comedy'),
        {("items", NOT_NULL, ("title",)): 1}, 1),
    "whitespace title": (
        INTERACTIONS, _replace_line(ITEMS, 3, "3,   ,Drama"),
        {("items", "expect_column_values_to_not_match_regex", ("title",)): 1}, 2),
    # Cut inside the item id of the last line: timestamp and rating are lost.
    "truncated inside the last line": (
        INTERACTIONS.rstrip("\n")[:-len("2,978301000,2")], ITEMS,
        {("interactions", NOT_NULL, ("item_id",)): 1,
         ("interactions", NOT_NULL, ("timestamp",)): 1,
         ("interactions", IN_TYPES, ("timestamp",)): 1,
         ("interactions", NOT_NULL, ("rating",)): 1}, 4),
    # Cut inside the timestamp: a too-small number survives and the rating is lost.
    "truncated inside the timestamp": (
        INTERACTIONS.rstrip("\n")[:-len("301000,2")], ITEMS,
        {("interactions", BETWEEN, ("timestamp",)): 1,
         ("interactions", NOT_NULL, ("rating",)): 1}, 4),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_expectation_fires_on_a_crafted_file(tmp_path: Path, case: str) -> None:
    interactions, items, expected, bad_row = CASES[case]
    report = _run(tmp_path, interactions, items)

    assert not report.success
    assert _failures(report) == expected, report.to_text()
    text = report.to_text()
    assert text.splitlines()[-1] == f"{len(expected)} of {len(report.checks)} checks failed"
    for failed in report.failed:
        suite_file = tmp_path / f"{failed.suite}.csv"
        assert failed.path == str(suite_file)
        assert f"FAILED in {suite_file}" in text
        assert f"column: {', '.join(failed.columns)}" in text
        # The examples point at the row that was broken.
        assert any(e["row"] == bad_row for e in failed.examples)


def test_text_in_timestamp_shows_the_value_and_skips_the_range(tmp_path: Path) -> None:
    report = _run(tmp_path, _replace_line(INTERACTIONS, 4, "2,1,yesterday,1"))
    (failed,) = report.failed
    assert failed.examples[0]["timestamp"] == "yesterday"
    assert "column dtype" in (failed.observed or "")
    assert "yesterday" in report.to_text()
    assert any("timestamp range not checked" in note for note in report.notes)


def test_drop_orphans_skips_the_orphan_check_and_counts_them(tmp_path: Path) -> None:
    interactions = _replace_line(INTERACTIONS, 5, "3,99,978301000,2")
    report = _run(tmp_path, interactions, params=_params(drop_orphans=True))
    assert report.success, report.to_text()
    assert all(c.expectation != "expect_column_values_to_be_in_set" for c in report.checks)
    assert any("1 interactions name an item_id missing" in note for note in report.notes)


@pytest.mark.parametrize(("drop", "suite", "column"), [
    ("timestamp", "interactions", "timestamp"),
    ("user_id", "interactions", "user_id"),
    ("title", "items", "title"),
])
def test_missing_required_column_is_reported_not_raised(tmp_path: Path, drop: str, suite: str,
                                                        column: str) -> None:
    frame = pd.read_csv(io.StringIO(INTERACTIONS if suite == "interactions" else ITEMS))
    broken = frame.drop(columns=[drop]).to_csv(index=False)
    report = (_run(tmp_path, interactions=broken) if suite == "interactions"
              else _run(tmp_path, items=broken))

    assert _failures(report) == {(suite, "expect_column_to_exist", (column,)): None}
    assert f"required column '{column}' must exist" in report.to_text()
    assert str(tmp_path / f"{suite}.csv") in report.to_text()
    assert any(f"column '{column}' skipped" in note for note in report.notes)
    # Nothing else ran on the missing column.
    assert [c.expectation for c in report.checks if c.suite == suite and column in c.columns] \
        == ["expect_column_to_exist"]


def test_header_only_file_fails_the_row_count(tmp_path: Path) -> None:
    report = _run(tmp_path, interactions="user_id,item_id,timestamp\n")
    assert _failures(report) == {
        ("interactions", "expect_table_row_count_to_be_between", ()): None}


def test_blank_titles_in_memory_fail_the_pattern_check() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"],
                          "title": pd.array(["A film", "", " \t", None], dtype="str")})
    inter = pd.DataFrame({"user_id": [1, 1], "item_id": ["a", "b"],
                          "timestamp": [978300760, 978300761]})
    report = validate_frames(inter, items, _params(), items_path="mem-items")
    assert _failures(report) == {
        ("items", "expect_column_values_to_not_match_regex", ("title",)): 2,
        ("items", NOT_NULL, ("title",)): 1}
    assert "FAILED in mem-items" in report.to_text()


def test_reports_are_written_on_failure_and_check_raises(tmp_path: Path) -> None:
    interactions = _replace_line(INTERACTIONS, 5, "3,99,978301000,2")
    (tmp_path / "interactions.csv").write_text(interactions)
    (tmp_path / "items.csv").write_text(ITEMS)
    out = tmp_path / "report"

    with pytest.raises(ValidationFailed) as raised:
        check(_params(), tmp_path / "interactions.csv", tmp_path / "items.csv", report_dir=out)

    report = raised.value.report
    assert str(raised.value) == report.to_text()
    assert report.to_text() in (out / "report.md").read_text()
    gx_inter = json.loads((out / "interactions.json").read_text())
    gx_items = json.loads((out / "items.json").read_text())
    assert gx_inter["success"] is False and gx_items["success"] is True
    assert len(gx_inter["results"]) == sum(c.suite == "interactions" for c in report.checks)
    assert json.loads(json.dumps(report.to_dict()))["summary"] == report.summary()
    assert not list(out.glob(".*.tmp"))


def test_reports_are_written_on_success(tmp_path: Path) -> None:
    report = _run(tmp_path)
    out = tmp_path / "report"
    assert json.loads((out / "interactions.json").read_text())["success"] is True
    assert "Data validation passed" in (out / "report.md").read_text()
    assert report.success


def test_unreadable_file_raises_data_error(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text(ITEMS)
    with pytest.raises(DataError, match="not found"):
        validate_files(_params(), tmp_path / "nope.csv", tmp_path / "items.csv",
                       report_dir=tmp_path / "report")


@pytest.fixture(scope="module")
def ml1m() -> tuple[pd.DataFrame, pd.DataFrame]:
    return movielens_1m()


def test_movielens_1m_passes_quickly(ml1m: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    interactions, items = ml1m
    assert len(interactions) == 1_000_209 and len(items) == 3_883
    start = time.perf_counter()
    report = validate_frames(interactions, items, Params())
    elapsed = time.perf_counter() - start
    assert report.success, report.to_text()
    orphan = next(c for c in report.checks if c.expectation == "expect_column_values_to_be_in_set")
    assert orphan.element_count == 1_000_209 and orphan.unexpected_count == 0
    assert elapsed < 30, f"ML-1M validation took {elapsed:.1f} s"


def test_movielens_1m_sample_as_files_passes_and_catches_an_orphan(
        ml1m: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    interactions, items = ml1m
    sample = interactions.iloc[:20_000]
    sample.to_csv(tmp_path / "interactions.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    report = validate_files(Params(), tmp_path / "interactions.csv", tmp_path / "items.csv",
                            report_dir=tmp_path / "report")
    assert report.success, report.to_text()

    # Removing one film from the items file turns its ratings into orphans.
    gone = sample["item_id"].iloc[0]
    items[items["item_id"] != gone].to_csv(tmp_path / "items.csv", index=False)
    report = validate_files(Params(), tmp_path / "interactions.csv", tmp_path / "items.csv",
                            report_dir=tmp_path / "report")
    assert _failures(report) == {("interactions", "expect_column_values_to_be_in_set",
                                  ("item_id",)): int((sample["item_id"] == gone).sum())}
    assert repr(gone) in report.to_text()
