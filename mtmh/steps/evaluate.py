"""Step ``evaluate``: every method's lists through one harness, on the test pairs."""

from __future__ import annotations

import json
import logging

from mtmh import report
from mtmh.config import Params
from mtmh.layout import DEFAULT, Layout
from mtmh.metrics import evaluate_lists
from mtmh.neighbors import Neighbors
from mtmh.steps.lists import load_test_split, neighbors_path

logger = logging.getLogger(__name__)


def served_methods(params: Params, *, layout: Layout = DEFAULT) -> list[str]:
    """Every method the evaluate stage scores: baselines, the blend, each model and head."""
    methods = list(params.baselines.methods)
    if "blend" in params.extra:
        methods.append("blend")
    for name in params.extra.get("models") or []:
        methods.append(name)
        meta = layout.index / name / "index.json"
        heads = json.loads(meta.read_text())["heads"] if meta.exists() else []
        if len(heads) > 1:
            methods += [f"{name}:{h}" for h in heads]
    return methods


def ratios(metrics: dict[str, dict[str, float]], params: Params,
           keys: tuple[str, ...] = ("recall@50", "relevance_rate@50")) -> dict:
    """``mtmh`` over the two-tower and over the best baseline (by Recall@50), per metric."""
    out: dict[str, dict[str, float]] = {}
    if "mtmh" not in metrics:
        return out
    baselines = [m for m in params.baselines.methods if m in metrics]
    references = ["twotower"] if "twotower" in metrics else []
    if baselines:
        references.append(max(baselines, key=lambda m: metrics[m]["recall@50"]))
    for ref in references:
        out[f"mtmh_vs_{ref}"] = {k: metrics["mtmh"][k] / metrics[ref][k] for k in keys
                                 if metrics[ref].get(k)}
    return out


def step_evaluate(params: Params, methods: list[str] | None = None, *,
                  layout: Layout = DEFAULT) -> dict[str, dict[str, float]]:
    """Score each method's lists on the test pairs; write ``layout.metrics``.

    ``methods`` defaults to :func:`served_methods`. The file also holds ``ratios``.
    """
    methods = methods or served_methods(params, layout=layout)
    prep, _, data, a, b = load_test_split(layout=layout)
    metrics: dict = {}
    for method in methods:
        lists = Neighbors.load(neighbors_path(method, layout.neighbors))
        metrics[method] = evaluate_lists(lists.items, a, b, data, ks=params.evaluate.ks,
                                         relevance_threshold=params.evaluate.relevance_threshold,
                                         genre_threshold=params.evaluate.genre_threshold)
        logger.info("%s: recall@50 %.4f, relevance_rate@50 %.4f", method,
                    metrics[method].get("recall@50", float("nan")),
                    metrics[method].get("relevance_rate@50", float("nan")))
    found = ratios(metrics, params)
    if found:
        metrics[report.RATIOS] = found
    report.write_metrics(metrics, layout.metrics)
    logger.info("metrics of %d methods on %d test pairs:\n%s", len(methods), len(a),
                report.format_table(metrics))
    return metrics
