"""Step ``validate``: the data-quality gates."""

from __future__ import annotations

import json

from mtmh.config import Params
from mtmh.data import atomic_path
from mtmh.layout import DEFAULT, Layout
from mtmh.validate import ValidationReport, check


def step_validate(params: Params, *, layout: Layout = DEFAULT) -> ValidationReport:
    """Run the data-quality gates on the configured files; raise when they fail.

    The report goes to ``layout.validation_dir(params)``. On success also writes
    ``layout.validated`` (``artifacts/validated.json``): which files passed how many
    checks. Later stages depend on it rather than on the report, whose run ids and
    times change on every run, so re-validating the same data re-runs nothing after it.
    """
    report = check(params, report_dir=layout.validation_dir(params))
    passed = {"interactions": str(params.data.interactions), "items": str(params.data.items),
              "checks_passed": len(report.checks), "notes": report.notes}
    with atomic_path(layout.validated) as tmp:
        tmp.write_text(json.dumps(passed, indent=2) + "\n")
    return report
