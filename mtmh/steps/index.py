"""Step ``index@NAME``: a faiss index per head and the merged lists."""

from __future__ import annotations

import json
import logging

import numpy as np

from mtmh.checkpoint import load_checkpoint
from mtmh.config import Params
from mtmh.data import atomic_path
from mtmh.layout import DEFAULT, Layout
from mtmh.retrieval import lists_for_catalogue, save_indexes, serving_config
from mtmh.steps.lists import MERGED

logger = logging.getLogger(__name__)


def step_index(params: Params, name: str, *, layout: Layout = DEFAULT) -> dict:
    """Index each head of model ``name``; write its per-head and merged lists.

    Returns the index metadata written to ``index.json`` (shares, kind, merge, and the
    index's recall against exact search).
    """
    cfg = serving_config(params.extra.get("serving"))
    model = load_checkpoint(layout.checkpoint(name))
    embeddings, queries = model.catalogue_vectors()  # (H, n_items, d) each
    heads = [h.name for h in model.cfg.heads]
    lists, indexes = lists_for_catalogue(embeddings, heads, [h.share for h in model.cfg.heads],
                                         cfg, queries)
    meta = {"shares": lists.shares.tolist(), "kind": cfg.index.kind, "merge": cfg.merge,
            "rrf_k": cfg.rrf_k,
            "recall_against_exact@50": lists.index_recall}
    save_indexes(indexes, heads, layout.index / name, meta)
    folder = layout.neighbors / name
    lists.merged.save(folder / f"{MERGED}.npz")
    with atomic_path(folder / "heads.json") as tmp:
        tmp.write_text(json.dumps(heads) + "\n")
    if len(heads) > 1:
        for h, head in enumerate(heads):
            lists.heads.head(h).save(folder / f"{head}.npz")
    logger.info("%s: %d heads indexed (%s), shares %s", name, len(heads), cfg.index.kind,
                np.round(lists.shares, 3).tolist())
    return meta
