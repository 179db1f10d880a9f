"""Step ``baseline@NAME``: top-K lists of one classical baseline."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from mtmh.baselines import run_baseline
from mtmh.config import Params
from mtmh.embed import load_embeddings
from mtmh.layout import DEFAULT, Layout
from mtmh.prepare import load_prepared
from mtmh.steps.lists import neighbors_path

logger = logging.getLogger(__name__)


def step_baseline(params: Params, method: str, *, layout: Layout = DEFAULT) -> Path:
    """Top-K lists of one classical baseline; returns where they were written."""
    prep = load_prepared(layout.prepared)
    content = load_embeddings(layout.embeddings)
    start = time.perf_counter()
    neighbors = run_baseline(method, prep, content, params)
    logger.info("%s: lists for %d items in %.1f s", method, prep.n_items,
                time.perf_counter() - start)
    path = neighbors_path(method, layout.neighbors)
    neighbors.save(path)
    return path
