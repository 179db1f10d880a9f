"""The alpha sweep: one single-head model per alpha (``mtmh sweep-alpha``, not a stage).

It retrains per point, minutes each, so it runs on request; its points join the
trade-off figure the next time the ``tradeoff`` step draws it.
"""

from __future__ import annotations

import logging

from mtmh import tradeoff
from mtmh.config import Params
from mtmh.layout import DEFAULT, Layout
from mtmh.merge import head_neighbors
from mtmh.model_config import ablation, config_from_dict
from mtmh.steps.lists import load_test_split
from mtmh.steps.tradeoff import alpha_sweep_fingerprint, step_tradeoff
from mtmh.train import train

logger = logging.getLogger(__name__)


def step_sweep_alpha(params: Params, alphas: list[float], *,
                     layout: Layout = DEFAULT) -> list[dict]:
    """Train one single-head model per alpha; score each on the test split.

    Writes ``layout.alpha_sweep``, which the trade-off figure picks up, then redraws the
    figure.
    """
    prep, content, data, a, b = load_test_split(layout=layout)
    base = config_from_dict(params.extra.get("model"))
    points = []
    for alpha in alphas:
        cfg = ablation(base, "singlehead", alpha=float(alpha))
        result = train(prep, content, cfg)
        emb, queries = result.model.catalogue_vectors()
        lists = head_neighbors(emb, 50, queries=queries)[0]  # (n_items, 50)
        points.append(tradeoff.point(lists, a, b, data, alpha=float(alpha)))
        logger.info("alpha %g: recall@50 %.4f relevance@50 %.4f (%.0f s)", alpha,
                    points[-1][tradeoff.RECALL], points[-1][tradeoff.RELEVANCE],
                    result.seconds)
    tradeoff.write_alpha_sweep(points, alpha_sweep_fingerprint(params, layout=layout),
                               layout=layout)
    step_tradeoff(params, layout=layout)
    return points
