"""Where each method's lists live, and the test split every scoring step reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtmh.embed import load_embeddings
from mtmh.layout import DEFAULT, Layout
from mtmh.metrics import EvalData, genre_matrix
from mtmh.prepare import Prepared, load_prepared

MERGED = "merged"
# A model's ranking of the fresh items for their slots (serving.fresh_share > 0); not a head.
FRESH = "_fresh"


def neighbors_path(method: str, root: Path = DEFAULT.neighbors) -> Path:
    """Where a method's top-K lists live.

    A baseline ``name``: ``<root>/name.npz``. A trained model ``name`` (a folder):
    ``<root>/name/merged.npz`` for its served list, ``<root>/name/HEAD.npz`` for
    ``name:HEAD``, one head on its own.
    """
    model, _, head = method.partition(":")
    if head or (root / model).is_dir():
        return root / model / f"{head or MERGED}.npz"
    return root / f"{model}.npz"


def eval_data(prep: Prepared, content: np.ndarray) -> EvalData:
    """What the harness needs besides the lists: content, genres and train counts."""
    return EvalData(content=content, genres=genre_matrix(prep.items["genre_list"].tolist()),
                    train_counts=prep.train_counts())


def load_test_split(*, layout: Layout = DEFAULT
                    ) -> tuple[Prepared, np.ndarray, EvalData, np.ndarray, np.ndarray]:
    """Prepared data, content embeddings, the harness's data and the test pairs (a, b)."""
    prep = load_prepared(layout.prepared)
    content = load_embeddings(layout.embeddings)
    a = prep.test_pairs["a"].to_numpy()
    b = prep.test_pairs["b"].to_numpy()
    return prep, content, eval_data(prep, content), a, b
