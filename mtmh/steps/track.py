"""Step ``track``: the run in MLflow, from the files DVC also reads."""

from __future__ import annotations

import json
import logging

import pandas as pd

from mtmh import report
from mtmh.config import Params
from mtmh.data import atomic_path
from mtmh.layout import DEFAULT, Layout
from mtmh.tracking import ChildRun, ModelToRegister, log_pipeline_run

logger = logging.getLogger(__name__)


def child_runs(params: Params, metrics: dict, sweeps: dict) -> list[ChildRun]:
    """Nested MLflow runs: every method (heads included) and every sweep point."""
    model = params.extra.get("model") or {}
    head_cfg = {h.get("name"): h for h in (model.get("model") or {}).get("heads") or []}
    children = []
    for method, row in metrics.items():
        if method == report.RATIOS:
            continue
        _, _, head = method.partition(":")
        kind = "head" if head else "method"
        extra = {k: v for k, v in head_cfg.get(head, {}).items() if k in ("alpha", "share")}
        children.append(ChildRun(method, {"method": method, **extra}, row, {"kind": kind}))
    for sweep, points in (sweeps.get("points") or {}).items():
        for p in points:
            knobs = {k: v for k, v in p.items() if "@" not in k}
            label = ",".join(f"{k}={v:g}" for k, v in knobs.items())
            metrics_only = {k: v for k, v in p.items() if "@" in k}
            children.append(ChildRun(f"{sweep}:{label}", {"sweep": sweep, **knobs},
                                     metrics_only, {"kind": "sweep"}))
    return children


def run_description(metrics: dict, sweeps: dict) -> str:
    """Markdown for the MLflow run page: the heads' and methods' trade-off at a glance."""
    lines = ["**Recall against relevance on the test split** (figure: `tradeoff.png`)", "",
             "| method | Recall@50 | relevance rate@50 | fresh-target Recall@50 |",
             "|---|---:|---:|---:|"]
    # The model and its heads first: the collapsed description shows the first rows.
    order = sorted((m for m in metrics if m != report.RATIOS),
                   key=lambda m: (not m.startswith("mtmh"), list(metrics).index(m)))
    for method in order:
        row = metrics[method]
        if "recall@50" in row:
            lines.append(f"| {method} | {row['recall@50']:.4f} | "
                         f"{row['relevance_rate@50']:.4f} | {row['fresh_recall@50']:.4f} |")
    for name, row in (metrics.get(report.RATIOS) or {}).items():
        lines.append("")
        lines.append(f"{name}: " + ", ".join(f"{k} x{v:.3f}" for k, v in row.items()))
    for other, what in (("blend", "blend"), ("alpha", "single-head alpha sweep")):
        gap = sweeps.get(f"frontier_gap_mtmh_vs_{other}")
        if gap is not None:
            lines += ["", f"MTMH share frontier minus {what} frontier (mean relevance at "
                          f"equal recall): {gap:+.4f}"]
    return "\n".join(lines)


def step_track(params: Params, *, layout: Layout = DEFAULT) -> str:
    """Log the run to MLflow from the files DVC also reads; return the MLflow run id.

    One parent run, nested runs per method, head and sweep point, and the trained MTMH
    model registered (alias ``candidate``) when it exists. Every file logged comes from
    ``layout``; the run id is written to ``layout.mlflow_run``.
    """
    metrics = report.read_metrics(layout.metrics)
    sweeps = json.loads(layout.sweeps.read_text()) if layout.sweeps.exists() else {}
    table = layout.metrics_table
    with atomic_path(table) as tmp:
        tmp.write_text("# Test-split metrics\n\n```text\n" + report.format_table(metrics)
                       + "\n```\n")
    artifacts = [layout.metrics, table, layout.tradeoff_png, layout.tradeoff_csv,
                 layout.sweeps, layout.prepared / "summary.json",
                 *sorted(layout.models.glob("*.json"))]
    model = None
    checkpoint = layout.checkpoint("mtmh")
    if checkpoint.exists():
        registry = params.extra.get("registry") or {}
        items = layout.prepared / "items.parquet"
        first = str(pd.read_parquet(items)["item_id"].iloc[0])
        model = ModelToRegister(
            name=registry.get("name", "mtmh"), alias="candidate",
            artifacts={"items": str(items), "lists": str(layout.neighbors / "mtmh"),
                       "checkpoint": str(checkpoint), "index": str(layout.index / "mtmh")},
            input_example=pd.DataFrame({"item": [first], "k": [10]}))
    run_id = log_pipeline_run(params.tracking, params=params.to_dict(), metrics=metrics,
                              artifacts=artifacts, run_name="pipeline",
                              children=child_runs(params, metrics, sweeps), model=model,
                              description=run_description(metrics, sweeps))
    with atomic_path(layout.mlflow_run) as tmp:
        tmp.write_text(json.dumps({"run_id": run_id, "tracking_uri": params.tracking.uri},
                                  indent=2) + "\n")
    return run_id
