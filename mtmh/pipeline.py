"""The pipeline's steps, each reading and writing the standard artifact paths.

DVC stages (``stages/``) and Prefect flows (``flows/``) call these same functions, so
each step is written once. Paths are relative to the repository root.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from mtmh import report
from mtmh.config import Params
from mtmh.data import load_items
from mtmh.embed import EMBEDDINGS_PATH, embed_items, load_embeddings, save_embeddings
from mtmh.metrics import EvalData, evaluate_lists, genre_matrix
from mtmh.prepare import PREPARED_DIR, Prepared, load_prepared, prepare, save_prepared

logger = logging.getLogger(__name__)

NEIGHBORS_DIR = Path("artifacts/neighbors")
MLFLOW_RUN_PATH = Path("reports/mlflow_run.json")


def neighbors_path(method: str) -> Path:
    """Where a method's top-K lists live: ``artifacts/neighbors/<method>.npz``."""
    return NEIGHBORS_DIR / f"{method.replace(':', '-')}.npz"


def step_validate(params: Params):  # -> ValidationReport
    """Run the data-quality gates on the configured files; raise when they fail."""
    from mtmh.validate import check

    return check(params, report_dir=params.validate.report_dir)


def step_prepare(params: Params) -> Prepared:
    """Catalogue, protocol split and pairs, written to ``artifacts/prepared``."""
    prep = prepare(params)
    save_prepared(prep, PREPARED_DIR)
    return prep


def step_embed(params: Params) -> np.ndarray:
    """Content embeddings of every catalogue item, in items-file order."""
    items = load_items(params.data)
    start = time.perf_counter()
    emb = embed_items(items, params.embed)
    logger.info("embedded %d items with %s in %.1f s", len(items), params.embed.encoder,
                time.perf_counter() - start)
    save_embeddings(emb, params.embed, EMBEDDINGS_PATH)
    return emb


def step_baseline(params: Params, method: str) -> Path:
    """Top-K lists of one classical baseline."""
    from mtmh.baselines import run_baseline

    prep = load_prepared(PREPARED_DIR)
    content = load_embeddings(EMBEDDINGS_PATH)
    start = time.perf_counter()
    neighbors = run_baseline(method, prep, content, params)
    logger.info("%s: lists for %d items in %.1f s", method, prep.n_items,
                time.perf_counter() - start)
    path = neighbors_path(method)
    neighbors.save(path)
    return path


def eval_data(prep: Prepared, content: np.ndarray) -> EvalData:
    return EvalData(content=content, genres=genre_matrix(prep.items["genre_list"].tolist()),
                    train_counts=prep.train_counts())


def step_evaluate(params: Params, methods: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Score each method's lists on the test pairs; write metrics JSON, table and plot.

    ``methods`` defaults to the baselines and ``evaluate.extra_methods`` of the params.
    """
    from mtmh.neighbors import Neighbors

    if not methods:
        methods = [*params.baselines.methods, *params.evaluate.extra_methods]
    prep = load_prepared(PREPARED_DIR)
    data = eval_data(prep, load_embeddings(EMBEDDINGS_PATH))
    a = prep.test_pairs["a"].to_numpy()
    b = prep.test_pairs["b"].to_numpy()
    metrics: dict[str, dict[str, float]] = {}
    for method in methods:
        lists = Neighbors.load(neighbors_path(method))
        metrics[method] = evaluate_lists(lists.items, a, b, data, ks=params.evaluate.ks,
                                         relevance_threshold=params.evaluate.relevance_threshold,
                                         genre_threshold=params.evaluate.genre_threshold)
        logger.info("%s: recall@50 %.4f, relevance_rate@50 %.4f", method,
                    metrics[method].get("recall@50", float("nan")),
                    metrics[method].get("relevance_rate@50", float("nan")))
    report.write_metrics(metrics, report.METRICS_PATH)
    report.write_tradeoff(metrics, k=50)
    logger.info("metrics of %d methods on %d test pairs:\n%s", len(methods), len(a),
                report.format_table(metrics))
    return metrics


def step_track(params: Params) -> str:
    """Log the run to MLflow from the files DVC also reads; return the MLflow run id."""
    import json

    from mtmh.data import atomic_path
    from mtmh.tracking import log_pipeline_run

    metrics = report.read_metrics(report.METRICS_PATH)
    artifacts = [report.METRICS_PATH, report.TRADEOFF_PNG, report.TRADEOFF_CSV,
                 PREPARED_DIR / "summary.json"]
    run_id = log_pipeline_run(params.tracking, params=params.to_dict(), metrics=metrics,
                              artifacts=artifacts, run_name="pipeline")
    with atomic_path(MLFLOW_RUN_PATH) as tmp:
        tmp.write_text(json.dumps({"run_id": run_id, "tracking_uri": params.tracking.uri},
                                  indent=2) + "\n")
    return run_id
