"""What a validation run found: each check's outcome, and the report a person reads.

:mod:`mtmh.validate` runs the checks with Great Expectations and fills these in; the
report itself is plain data and text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

N_EXAMPLES = 5  # offending rows or values shown per failed check


class ValidationFailed(Exception):
    """The input broke at least one data-quality check; ``str()`` is the readable report."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.to_text())
        self.report = report


@dataclass
class CheckResult:
    """The outcome of one expectation on one table.

    ``examples`` are offending rows (``row`` is the 0-based data row, header excluded)
    or, for checks without rows, offending values.
    """

    suite: str
    path: str
    expectation: str
    columns: list[str]
    description: str
    success: bool
    unexpected_count: int | None = None
    element_count: int | None = None
    observed: str | None = None
    error: str | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ValidationReport:
    """All checks of one validation run, readable (:meth:`to_text`) and serialisable."""

    success: bool
    checks: list[CheckResult]
    notes: list[str] = field(default_factory=list)
    # The full GX results per suite, as GX serialises them; written by validate_files.
    gx_results: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False,
                                                  compare=False)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success]

    def summary(self) -> str:
        return f"{len(self.failed)} of {len(self.checks)} checks failed"

    def to_text(self) -> str:
        lines = [f"Data validation {'passed' if self.success else 'FAILED'}: {self.summary()}"]
        for check in self.failed:
            lines += ["", f"FAILED in {check.path} ({check.suite}): {check.description}",
                      f"  expectation: {check.expectation}",
                      f"  column: {', '.join(check.columns) or '(table)'}"]
            if check.unexpected_count is not None:
                total = f" of {check.element_count}" if check.element_count is not None else ""
                lines.append(f"  rows: {check.unexpected_count}{total}")
            if check.observed is not None:
                lines.append(f"  found: {check.observed}")
            if check.error is not None:
                lines.append(f"  GX could not evaluate it: {check.error}")
            if check.examples:
                lines.append(f"  examples (up to {N_EXAMPLES}; rows count from 0 after the "
                             f"header):")
                lines += [f"    {_format_example(e)}" for e in check.examples[:N_EXAMPLES]]
        passed = [c for c in self.checks if c.success]
        if passed:
            lines += ["", "Passed:"] + [f"  - {c.path}: {c.description}" for c in passed]
        if self.notes:
            lines += ["", "Notes:"] + [f"  - {note}" for note in self.notes]
        lines += ["", self.summary()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"success": self.success, "summary": self.summary(),
                "checks": [asdict(c) for c in self.checks], "notes": list(self.notes)}


def _format_example(example: dict[str, Any]) -> str:
    if "row" in example:
        fields = ", ".join(f"{k}={v!r}" for k, v in example.items() if k != "row")
        return f"row {example['row']}: {fields}"
    return f"value {example.get('value')!r}"
