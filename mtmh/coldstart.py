"""A cold-start split: items held out of training, so the test split has many fresh targets.

The protocol's time split leaves few fresh items in MovieLens-1M's test period (the
catalogue barely grows), too few test pairs to compare models on items without
engagement. Holding out a random share of the catalogue makes those items new: every
train interaction of a held-out item is removed (as if the item arrived after the
train period), the train pairs are rebuilt from what is left, and the validation and
test pairs stay exactly as the protocol made them. Test pairs whose target is held out
are then fresh-target pairs, scored by the harness's ``fresh_recall@K``.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from mtmh import protocol
from mtmh.config import PairsConfig
from mtmh.prepare import Prepared

logger = logging.getLogger(__name__)


def hold_out_items(prep: Prepared, fraction: float, seed: int,
                   pairs: PairsConfig) -> tuple[Prepared, np.ndarray]:
    """``prep`` with a random ``fraction`` of the trained items made fresh, and their indices.

    Parameters
    ----------
    prep
        Prepared data of the protocol split.
    fraction
        Share of the items with train interactions to hold out, in (0, 1).
    seed
        Seed of the draw.
    pairs
        Train-pair settings (window, max gap) to rebuild the train pairs with.

    Returns
    -------
    The modified copy (catalogue train counts, interactions, train pairs and summary
    updated; validation and test pairs unchanged) and the held-out item indices, sorted.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction of items to hold out must be in (0, 1), got {fraction}")
    trained = np.flatnonzero(prep.train_counts() > 0)
    n_held = max(1, round(fraction * len(trained)))
    held = np.sort(np.random.default_rng(seed).choice(trained, n_held, replace=False))

    frame = prep.interactions
    is_held = np.zeros(prep.n_items, dtype=bool)
    is_held[held] = True
    drop = (frame["split"].to_numpy() == protocol.TRAIN) & is_held[frame["item"].to_numpy()]
    frame = frame.loc[~drop].reset_index(drop=True)
    train = frame["split"].to_numpy() == protocol.TRAIN
    items = prep.items.copy()
    items["train_count"] = np.bincount(frame.loc[train, "item"], minlength=prep.n_items)
    train_pairs = protocol.training_pairs(frame, window=pairs.window, max_gap=pairs.max_gap)

    fresh = items["train_count"].to_numpy() == 0
    test_b = prep.test_pairs["b"].to_numpy()
    summary = {**prep.summary, "n_train_pairs": int(len(train_pairs)),
               "n_fresh_items": int(fresh.sum()),
               "n_test_pairs_fresh_target": int(fresh[test_b].sum()),
               "held_out": {"fraction": fraction, "seed": seed, "n_items": int(n_held),
                            "train_interactions_removed": int(drop.sum())}}
    logger.info("held out %d of %d trained items (%d train interactions); %d of %d test "
                "pairs now have a fresh target", n_held, len(trained), int(drop.sum()),
                summary["n_test_pairs_fresh_target"], len(test_b))
    cold = replace(prep, items=items, interactions=frame, train_pairs=train_pairs,
                   summary=summary)
    return cold, held
