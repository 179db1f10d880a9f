"""The alpha sweep: one single-head model per alpha (``mtmh sweep-alpha``, not a stage).

It retrains per point, minutes each, so it runs on request; its points join the
trade-off figure the next time the ``tradeoff`` step draws it. A point whose model the
pipeline has already trained (the two-tower is alpha 0, ``singlehead`` the smallest
positive alpha of the heads) reuses that checkpoint instead of training it again.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from mtmh import tradeoff
from mtmh.checkpoint import load_checkpoint, read_checkpoint
from mtmh.config import Params
from mtmh.layout import DEFAULT, Layout
from mtmh.merge import head_neighbors
from mtmh.model import ItemEncoder
from mtmh.model_config import MTMHConfig, ablation, config_from_dict
from mtmh.prepare import Prepared
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
    trained = [layout.checkpoint(name) for name in ("twotower", "singlehead")]
    points = []
    for alpha in alphas:
        cfg = ablation(base, "singlehead", alpha=float(alpha))
        model = next((m for m in (_same_model(path, cfg, prep, content) for path in trained)
                      if m is not None), None)
        seconds = 0.0
        if model is None:
            result = train(prep, content, cfg)
            model, seconds = result.model, result.seconds
        emb, queries = model.catalogue_vectors()
        lists = head_neighbors(emb, 50, queries=queries)[0]  # (n_items, 50)
        points.append(tradeoff.point(lists, a, b, data, alpha=float(alpha)))
        logger.info("alpha %g: recall@50 %.4f relevance@50 %.4f (%s)", alpha,
                    points[-1][tradeoff.RECALL], points[-1][tradeoff.RELEVANCE],
                    f"trained in {seconds:.0f} s" if seconds else "the pipeline's checkpoint")
    tradeoff.write_alpha_sweep(points, alpha_sweep_fingerprint(params, layout=layout),
                               layout=layout)
    step_tradeoff(params, layout=layout)
    return points


def _same_model(path: Path, cfg: MTMHConfig, prep: Prepared,
                content: np.ndarray) -> ItemEncoder | None:
    """The checkpoint at ``path`` when it was trained with ``cfg`` (head names aside) on
    this catalogue, content embeddings and train split; else None."""
    if not path.exists():
        return None
    tensors, trained_cfg, _, _ = read_checkpoint(path)

    def unnamed(c: MTMHConfig) -> dict:
        raw = dataclasses.asdict(c)
        for head in raw["model"]["heads"]:
            head["name"] = None
        return raw

    same_data = (tensors["content"].shape == content.shape
                 and np.array_equal(tensors["content"].numpy(), content)
                 and np.array_equal(tensors["known"].numpy(), prep.train_counts() > 0))
    if unnamed(trained_cfg) != unnamed(cfg) or not same_data:
        return None
    logger.info("alpha %g: the model of %s (same settings and data), not trained again",
                cfg.model.heads[0].alpha, path)
    return load_checkpoint(path)
