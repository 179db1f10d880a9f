"""The alpha sweep: one single-head model per alpha (``mtmh sweep-alpha``, not a stage).

It retrains per point, minutes each, so it runs on request; its points join the
trade-off figure the next time the ``tradeoff`` step draws it. A point whose model the
pipeline has already trained (the two-tower is alpha 0, ``singlehead`` the smallest
positive alpha of the heads) reuses that checkpoint instead of training it again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from mtmh import tradeoff
from mtmh.checkpoint import load_checkpoint, read_checkpoint
from mtmh.config import Params
from mtmh.layout import DEFAULT, Layout
from mtmh.model_config import MTMHConfig, ablation, config_from_dict
from mtmh.neighbors import head_neighbors
from mtmh.prepare import Prepared
from mtmh.steps.lists import load_test_split
from mtmh.steps.tradeoff import alpha_sweep_fingerprint, step_tradeoff
from mtmh.train import train

logger = logging.getLogger(__name__)


def step_sweep_alpha(params: Params, alphas: list[float], *,
                     layout: Layout = DEFAULT) -> list[dict]:
    """Train one single-head model per alpha (or reuse the pipeline's, see the module
    docstring); score each on the test split.

    Writes ``layout.alpha_sweep``, which the trade-off figure picks up, then redraws the
    figure.
    """
    prep, content, data, a, b = load_test_split(layout=layout)
    base = config_from_dict(params.extra.get("model"))
    trained = _trained_on_this_data(layout, prep, content)
    points = []
    for alpha in alphas:
        cfg = ablation(base, "singlehead", alpha=float(alpha))
        path = trained.get(_settings(cfg))
        seconds = 0.0
        if path is not None:
            logger.info("alpha %g: the model of %s (same settings and data), not trained "
                        "again", alpha, path)
            model = load_checkpoint(path)
        else:
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


def _settings(cfg: MTMHConfig) -> str:
    """``cfg`` with the head names left out, as a comparable key."""
    raw = dataclasses.asdict(cfg)
    for head in raw["model"]["heads"]:
        head["name"] = None
    return json.dumps(raw, sort_keys=True, default=str)


def _trained_on_this_data(layout: Layout, prep: Prepared,
                          content: np.ndarray) -> dict[str, Path]:
    """The pipeline's single-head checkpoints (``twotower``, ``singlehead``) trained on this
    catalogue, content embeddings and train split, by :func:`_settings` of their config."""
    known = prep.train_counts() > 0
    found = {}
    for name in ("twotower", "singlehead"):
        path = layout.checkpoint(name)
        if not path.exists():
            continue
        tensors, cfg, _, _ = read_checkpoint(path)
        if (tensors["content"].shape == content.shape
                and np.array_equal(tensors["content"].numpy(), content)
                and np.array_equal(tensors["known"].numpy(), known)):
            found[_settings(cfg)] = path
    return found
