"""Step ``train@NAME``: the MTMH model or one of its ablations."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from mtmh.checkpoint import save_checkpoint
from mtmh.config import Params
from mtmh.data import atomic_path
from mtmh.embed import load_embeddings
from mtmh.layout import DEFAULT, Layout
from mtmh.model_config import MTMHConfig, ablation, config_from_dict
from mtmh.prepare import load_prepared
from mtmh.train import train

logger = logging.getLogger(__name__)


def model_config(params: Params, name: str) -> MTMHConfig:
    """The ``model:`` section of the params, as trained for ``name``.

    ``mtmh`` is the section as written; ``twotower``, ``singlehead`` and ``idonly`` change
    only the heads or inputs (see :func:`mtmh.model_config.ablation`).
    """
    return ablation(config_from_dict(params.extra.get("model")), name)


def step_train(params: Params, name: str, *, layout: Layout = DEFAULT) -> Path:
    """Train model ``name``; write its checkpoint and its training summary.

    The checkpoint holds the weights, the config and the training outcome (best epoch,
    validation recall), nothing that changes from run to run with identical weights, so
    DVC re-runs the stages after it only when the model changed. Times and throughput go
    to the summary ``<name>.json`` beside it.
    """
    prep = load_prepared(layout.prepared)
    content = load_embeddings(layout.embeddings)
    cfg = model_config(params, name)
    result = train(prep, content, cfg)
    outcome = {"model": name, "best_epoch": result.best_epoch,
               "best_valid_recall@50": result.best_valid_recall,
               "heads": [h.name for h in cfg.model.heads]}
    summary = {**outcome, "seconds": round(result.seconds, 1),
               "pairs_per_second": round(result.pairs_per_second), "history": result.history}
    path = layout.checkpoint(name)
    save_checkpoint(path, result.model, cfg, meta=outcome)
    with atomic_path(layout.models / f"{name}.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    logger.info("%s: best epoch %d, valid recall@50 %.4f, %.0f s, %.0f pairs/s", name,
                result.best_epoch, result.best_valid_recall, result.seconds,
                result.pairs_per_second)
    return path
