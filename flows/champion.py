"""The champion's metrics on the current test split, from its registered lists.

A champion was trained on the data of its day. Its stored metrics came from an older
test split, so they are not comparable with a challenger's; instead its merged lists
(the pyfunc's ``lists`` artifact) are carried over to the current catalogue by item id
(its ``items`` artifact) and scored with the same harness as the challenger. Items the
champion never saw get no list from it, which is what serving it would give.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from mtmh.config import Params
from mtmh.metrics import EvalData, evaluate_lists
from mtmh.neighbors import Neighbors
from mtmh.prepare import Prepared
from mtmh.promotion import remap_lists
from mtmh.steps.lists import MERGED
from mtmh.tracking import download_version

logger = logging.getLogger(__name__)


def champion_lists(params: Params, name: str, version: str, prep: Prepared) -> np.ndarray:
    """(n_items, k) lists of registered ``name`` version ``version``, in current indices."""
    with tempfile.TemporaryDirectory(prefix="mtmh-champion-") as tmp:
        artifacts = download_version(params.tracking, name, version, Path(tmp))
        old_items = pd.read_parquet(artifacts["items"])
        lists = Neighbors.load(Path(artifacts["lists"]) / f"{MERGED}.npz")
    return remap_lists(lists.items, old_items["item_id"].tolist(),
                       prep.items["item_id"].tolist())


def champion_metrics(params: Params, name: str, version: str, prep: Prepared,
                     data: EvalData, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Every harness metric of the champion's lists on test pairs ``(a, b)``."""
    lists = champion_lists(params, name, version, prep)
    metrics = evaluate_lists(lists, a, b, data, ks=params.evaluate.ks,
                             relevance_threshold=params.evaluate.relevance_threshold,
                             genre_threshold=params.evaluate.genre_threshold)
    logger.info("champion %s v%s on the current test split: recall@50 %.4f, "
                "relevance_rate@50 %.4f", name, version, metrics.get("recall@50", np.nan),
                metrics.get("relevance_rate@50", np.nan))
    return metrics
