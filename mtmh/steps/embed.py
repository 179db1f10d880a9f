"""Step ``embed``: content embeddings of the catalogue."""

from __future__ import annotations

import logging
import time

import numpy as np

from mtmh.config import Params
from mtmh.data import load_items
from mtmh.embed import embed_items, save_embeddings
from mtmh.layout import DEFAULT, Layout

logger = logging.getLogger(__name__)


def step_embed(params: Params, *, layout: Layout = DEFAULT) -> np.ndarray:
    """Content embeddings of every catalogue item, in items-file order: (n_items, dim)."""
    items = load_items(params.data)
    start = time.perf_counter()
    emb = embed_items(items, params.embed)
    logger.info("embedded %d items with %s in %.1f s", len(items), params.embed.encoder,
                time.perf_counter() - start)
    save_embeddings(emb, params.embed, layout.embeddings)
    return emb
