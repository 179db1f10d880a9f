"""Step ``index@NAME``: a faiss index per head and the merged lists."""

from __future__ import annotations

import json
import logging

import numpy as np

from mtmh.checkpoint import load_checkpoint
from mtmh.config import Params
from mtmh.data import atomic_path
from mtmh.layout import DEFAULT, Layout
from mtmh.retrieval import model_lists, save_indexes, serving_config
from mtmh.steps.lists import FRESH, MERGED

logger = logging.getLogger(__name__)


def step_index(params: Params, name: str, *, layout: Layout = DEFAULT) -> dict:
    """Index each head of model ``name``; write its per-head and merged lists.

    Returns the index metadata written to ``index.json`` (shares, kind, merge, fresh
    slots, and the index's recall against exact search).
    """
    cfg = serving_config(params.extra.get("serving"))
    model = load_checkpoint(layout.checkpoint(name))
    heads = [h.name for h in model.cfg.heads]
    lists, indexes = model_lists(model, cfg)
    meta = {"shares": lists.shares.tolist(), "kind": cfg.index.kind, "merge": cfg.merge,
            "rrf_k": cfg.rrf_k, "fresh_share": 0.0 if lists.fresh is None else cfg.fresh_share,
            "fresh_head": None if lists.fresh_head is None else heads[lists.fresh_head],
            "recall_against_exact@50": lists.index_recall}
    save_indexes(indexes, heads, layout.index / name, meta, lists.fresh_index)
    folder = layout.neighbors / name
    lists.merged.save(folder / f"{MERGED}.npz")
    if lists.fresh is not None:
        lists.fresh.save(folder / f"{FRESH}.npz")
    with atomic_path(folder / "heads.json") as tmp:
        tmp.write_text(json.dumps(heads) + "\n")
    if len(heads) > 1:
        for h, head in enumerate(heads):
            lists.heads.head(h).save(folder / f"{head}.npz")
    logger.info("%s: %d heads indexed (%s), shares %s", name, len(heads), cfg.index.kind,
                np.round(lists.shares, 3).tolist())
    return meta
