"""The retraining flow: gates, training, champion/challenger promotion, lineage.

``retrain`` runs the pipeline's own steps (``mtmh.steps``) as Prefect tasks:
validate -> prepare -> embed -> baselines -> train -> index -> evaluate -> trade-off ->
champion on the current split -> compare -> track -> promote. Bad data stops it at the
gate (the run ends Failed, naming the failed expectations, with the report as an
artifact); an unreachable MLflow store stops it before training; a challenger becomes
``champion`` only when no watched metric is worse than the champion's by more than its
tolerance (``orchestration.tolerance``). One run at a time holds the project's lock, and
a run whose data, params and code match the last successful one skips.

Every step reads and writes under ``orchestration.workdir`` (a :class:`mtmh.layout.Layout`
rooted there), never the DVC pipeline's paths, so a run leaves ``dvc status`` clean.

Aliases of the registered model: ``candidate`` (every registered version, set by the
pipeline's track step), ``challenger`` (the latest version this flow compared) and
``champion`` (the version to serve).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.context import get_run_context
from prefect.states import Completed, Failed, State
from prefect.tasks import exponential_backoff

from flows import lineage
from flows.champion import champion_metrics
from flows.replay import advance
from flows.settings import OrchestrationConfig, orchestration_config, replay_config
from mtmh import report, tracking
from mtmh.config import Params, load_params
from mtmh.data import DataError
from mtmh.layout import Layout
from mtmh.locking import FileLock
from mtmh.promotion import Decision, compare
from mtmh.steps.baseline import step_baseline
from mtmh.steps.blend import step_blend
from mtmh.steps.embed import step_embed
from mtmh.steps.evaluate import step_evaluate
from mtmh.steps.index import step_index
from mtmh.steps.lists import load_test_split
from mtmh.steps.prepare import step_prepare
from mtmh.steps.track import step_track
from mtmh.steps.tradeoff import step_tradeoff
from mtmh.steps.train import step_train
from mtmh.steps.validate import step_validate
from mtmh.validate import ValidationFailed, ValidationReport

logger = logging.getLogger(__name__)

MODEL = "mtmh"              # the trained model the pipeline registers
CHAMPION, CHALLENGER = "champion", "challenger"
TABLE_METRICS = ("recall@10", "recall@50", "recall@100", "relevance_rate@50",
                 "genre_jaccard@50", "coverage@50", "fresh_recall@50")


# --- tasks: thin wrappers of the pipeline's steps ------------------------------------------
# No caching: every step reads and writes files, which Prefect's input hashing cannot see.

@task(name="validate", cache_policy=NONE)
def validate_data(params: Params, layout: Layout) -> ValidationReport:
    return step_validate(params, layout=layout)


@task(name="connect-mlflow", cache_policy=NONE)
def connect_mlflow(params: Params, name: str) -> tuple[str, str | None]:
    """Experiment id and the champion's version; fails early when the store is down."""
    experiment = tracking.check_store(params.tracking)
    return experiment, tracking.alias_version(params.tracking, name, CHAMPION)


@task(name="replay-slice", cache_policy=NONE)
def replay_slice(params: Params) -> tuple[str, str]:
    cut = advance(replay_config(params))
    return cut.interactions, cut.items


@task(name="prepare", cache_policy=NONE)
def prepare(params: Params, layout: Layout) -> dict:
    return step_prepare(params, layout=layout).summary


@task(name="embed", cache_policy=NONE)
def embed(params: Params, layout: Layout) -> None:
    step_embed(params, layout=layout)


@task(name="baseline", cache_policy=NONE)
def baseline(params: Params, method: str, layout: Layout) -> None:
    if method == "blend":
        step_blend(params, layout=layout)
    else:
        step_baseline(params, method, layout=layout)


@task(name="train", cache_policy=NONE)
def train(params: Params, name: str, layout: Layout) -> None:
    step_train(params, name, layout=layout)


@task(name="index", cache_policy=NONE)
def index(params: Params, name: str, layout: Layout) -> None:
    step_index(params, name, layout=layout)


@task(name="evaluate", cache_policy=NONE)
def evaluate(params: Params, methods: list[str], layout: Layout) -> dict:
    return step_evaluate(params, methods, layout=layout)


@task(name="tradeoff", cache_policy=NONE)
def tradeoff(params: Params, layout: Layout) -> None:
    step_tradeoff(params, layout=layout)


@task(name="champion-on-current-split", cache_policy=NONE)
def score_champion(params: Params, name: str, version: str,
                   layout: Layout) -> dict[str, float]:
    prep, _, data, a, b = load_test_split(layout=layout)
    return champion_metrics(params, name, version, prep, data, a, b)


@task(name="track", cache_policy=NONE)
def track(params: Params, layout: Layout) -> str:
    return step_track(params, layout=layout)


@task(name="promote", cache_policy=NONE)
def promote(params: Params, name: str, run_id: str, decision: Decision,
            tags: dict[str, str], champion: dict[str, float] | None) -> str:
    """Tag the run and its version, then move the aliases; return the new version."""
    cfg = params.tracking
    version = tracking.version_of_run(cfg, name, run_id)
    verdict = {"promotion.decision": "promoted" if decision.promote else "kept champion",
               "promotion.reason": decision.reason}
    metrics = {f"champion/{k}": v for k, v in (champion or {}).items() if k in TABLE_METRICS}
    tracking.tag_run(cfg, run_id, {**tags, **verdict}, metrics)
    tracking.tag_version(cfg, name, version,
                         {"prefect_flow_run_id": tags["prefect_flow_run_id"], **verdict})
    # The champion moves last: a failure before this line leaves it where it was.
    tracking.set_alias(cfg, name, CHALLENGER, version)
    if decision.promote:
        tracking.set_alias(cfg, name, CHAMPION, version)
    return version


# --- the flow ------------------------------------------------------------------------------

@flow(name="retrain", description="Retrain mtmh behind the data gates; promote if no worse.")
def retrain(params_path: str = "params.yaml", interactions: str | None = None,
            items: str | None = None) -> State:
    """One retraining run. ``interactions``/``items`` override the files in the params."""
    params = load_params(params_path)
    orch = orchestration_config(params)
    run = get_run_context().flow_run
    with FileLock(orch.lock_path, timeout=orch.lock_timeout_seconds,
                  purpose=f"Prefect flow run {run.name} ({run.id})"):
        if replay_config(params).enabled and not (interactions or items):
            interactions, items = replay_slice(params)
        params.data.interactions = str(interactions or params.data.interactions)
        params.data.items = str(items or params.data.items)
        return _retrain_locked(params, orch, str(run.id), run.name)


def _retrain_locked(params: Params, orch: OrchestrationConfig, run_id: str,
                    run_name: str) -> State:
    for path in (params.data.interactions, params.data.items):
        if not Path(path).is_file():
            return _gate_failed(f"{path}: file not found (data.interactions and data.items "
                                f"in params.yaml, or --interactions/--items)")
    fingerprint = lineage.fingerprint(params)
    last = lineage.read_state(orch.state_path)
    if last and last.get("fingerprint") == fingerprint:
        message = (f"data, params and code are unchanged since flow run "
                   f"{last.get('flow_run_name')} (MLflow run {last.get('mlflow_run_id')}); "
                   f"champion is version {last.get('champion_version')}")
        logger.info("skipping: %s", message)
        create_markdown_artifact(key="retrain-decision", markdown=f"Skipped: {message}")
        return Completed(name="Skipped", message=message)

    layout = Layout(orch.workdir)
    try:
        validate_data(params, layout)
    except ValidationFailed as exc:
        create_markdown_artifact(key="validation-report", markdown=_report_markdown(exc.report),
                                 description="Great Expectations results of the data gate")
        return _gate_failed("; ".join(f"{c.path} {'/'.join(c.columns) or '(table)'}: "
                                      f"{c.description}{_rows(c.unexpected_count)}"
                                      for c in exc.report.failed))
    except DataError as exc:
        return _gate_failed(str(exc))

    # Only the steps that talk to MLflow retry: the others fail the same way every time.
    delays = exponential_backoff(orch.retry_delay_seconds)(orch.retries) if orch.retries else 0
    retry: dict[str, Any] = {"retries": orch.retries, "retry_delay_seconds": delays}
    name = (params.extra.get("registry") or {}).get("name", MODEL)
    experiment, champion_version = connect_mlflow.with_options(**retry)(params, name)

    prepare(params, layout)
    embed(params, layout)
    methods = list(orch.baselines)
    for method in methods:
        baseline(params, method, layout)
    train(params, MODEL, layout)
    index(params, MODEL, layout)
    metrics = evaluate(params, [MODEL, *methods], layout)
    if orch.tradeoff:
        tradeoff(params, layout)

    champion = None
    if champion_version is not None:
        champion = score_champion.with_options(**retry)(params, name, champion_version, layout)
    decision = compare(metrics[MODEL], champion, orch.tolerance)
    mlflow_run = track.with_options(**retry)(params, layout)
    tags = {"prefect_flow_run_id": run_id, "prefect_flow_run_name": run_name,
            "champion_before": champion_version or "none",
            **lineage.data_lineage(params), "data_sha256": fingerprint["data"],
            "params_sha256": fingerprint["params"], "code_sha256": fingerprint["code"]}
    version = promote.with_options(**retry)(params, name, mlflow_run, decision, tags, champion)

    lineage.write_state(orch.state_path, {
        "fingerprint": fingerprint, "flow_run_id": run_id, "flow_run_name": run_name,
        "mlflow_run_id": mlflow_run, "version": version,
        "champion_version": version if decision.promote else champion_version,
        "promoted": decision.promote})
    _publish(orch, experiment, mlflow_run, version, decision, metrics, champion)
    outcome = (f"version {version} is the new champion" if decision.promote else
               f"version {version} stays challenger; champion is still version "
               f"{champion_version}")
    return Completed(message=f"{outcome}. {decision.reason}")


def _gate_failed(detail: str) -> State:
    message = (f"Data gate failed: nothing was trained and the champion is untouched. "
               f"{detail}")
    logger.error(message)
    return Failed(message=message)


def _rows(count: int | None) -> str:
    return f" ({count} rows)" if count else ""


def _report_markdown(rep: ValidationReport) -> str:
    lines = [f"# Data validation failed: {rep.summary()}", "",
             "| file | column | check | rows | found |", "|---|---|---|---:|---|"]
    for c in rep.failed:
        lines.append(f"| {c.path} | {', '.join(c.columns) or '(table)'} | {c.description} | "
                     f"{c.unexpected_count if c.unexpected_count is not None else ''} | "
                     f"{(c.observed or '').replace('|', '/')} |")
    return "\n".join(lines + ["", "```text", rep.to_text(), "```"])


def _publish(orch: OrchestrationConfig, experiment: str, mlflow_run: str, version: str,
             decision: Decision, metrics: dict, champion: dict[str, float] | None) -> None:
    """The run's metrics table, its decision and a link to its MLflow run, in Prefect."""
    rows = []
    for metric in TABLE_METRICS:
        mine = metrics[MODEL].get(metric)
        if mine is None:
            continue
        theirs = (champion or {}).get(metric)
        rows.append({"metric": metric, "challenger": round(mine, 4),
                     "champion": "" if theirs is None else round(theirs, 4),
                     "delta": "" if theirs is None else round(mine - theirs, 4),
                     "ratio_vs_champion": round(mine / theirs, 3) if theirs else "",
                     "tolerance": orch.tolerance.get(metric, "")})
    create_table_artifact(key="retrain-metrics", table=rows,
                          description=f"mtmh (version {version}) against the champion on "
                                      f"the current test split")
    ratios = metrics.get(report.RATIOS) or {}
    lines = [f"**{'Promoted' if decision.promote else 'Not promoted'}** (version {version})",
             "", decision.reason]
    for ref, row in ratios.items():
        lines.append(f"- {ref}: " + ", ".join(f"{k} x{v:.3f}" for k, v in row.items()))
    lines += ["", f"Outputs in `{orch.workdir}`: `mtmh report --root {orch.workdir}` prints "
                  f"the metrics table."]
    create_markdown_artifact(key="retrain-decision", markdown="\n".join(lines))
    create_link_artifact(key="mlflow-run", link=f"{orch.mlflow_ui.rstrip('/')}/#/experiments/"
                                                f"{experiment}/runs/{mlflow_run}",
                         link_text=f"MLflow run {mlflow_run}")


def run_retrain(params_path: str | Path = "params.yaml", interactions: str | Path | None = None,
                items: str | Path | None = None) -> int:
    """One run of :func:`retrain`; the exit code of ``mtmh retrain``.

    Runs against the Prefect server at ``PREFECT_API_URL`` when set, else an ephemeral
    one. Returns 0 when the run completed (trained, or skipped) and 1 when it failed (the
    gate, MLflow, the lock or any step); the reason is logged.
    """
    state = retrain(params_path=str(params_path),
                    interactions=None if interactions is None else str(interactions),
                    items=None if items is None else str(items), return_state=True)
    if state.is_completed():
        logger.info("retrain %s: %s", state.name, state.message)
        return 0
    logger.error("retrain %s: %s", state.name, state.message)
    return 1
