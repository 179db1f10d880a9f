"""The cold-start split on a real ML-100K sample: held-out items become fresh, the rest stays."""

from __future__ import annotations

import numpy as np
import pytest

from mtmh import protocol
from mtmh.coldstart import hold_out_items
from mtmh.config import Params
from mtmh.data import movielens_100k
from mtmh.prepare import prepare_frames


@pytest.fixture(scope="module")
def prep():
    inter, items = movielens_100k()
    users = inter["user_id"].drop_duplicates().head(300)
    return prepare_frames(inter[inter["user_id"].isin(users)], items, Params())


def test_held_out_items_lose_their_train_history_only(prep):
    params = Params()
    cold, held = hold_out_items(prep, 0.2, seed=3, pairs=params.pairs)
    trained = prep.train_counts() > 0
    assert len(held) == round(0.2 * trained.sum())
    assert trained[held].all()
    # Held-out items are fresh; every other item keeps its train count.
    counts = cold.train_counts()
    assert (counts[held] == 0).all()
    others = np.setdiff1d(np.arange(prep.n_items), held)
    np.testing.assert_array_equal(counts[others], prep.train_counts()[others])
    # No train pair touches a held-out item, and their later interactions are all there.
    pairs = cold.train_pairs
    assert not np.isin(pairs["a"], held).any() and not np.isin(pairs["b"], held).any()
    later = prep.interactions["split"] != protocol.TRAIN
    assert cold.interactions["split"].ne(protocol.TRAIN).sum() == later.sum()
    # Evaluation pairs are the protocol's, untouched; held-out targets are now fresh ones.
    assert cold.test_pairs.equals(prep.test_pairs)
    assert cold.valid_pairs.equals(prep.valid_pairs)
    fresh_targets = int((counts[cold.test_pairs["b"].to_numpy()] == 0).sum())
    assert cold.summary["n_test_pairs_fresh_target"] == fresh_targets
    assert fresh_targets > prep.summary["n_test_pairs_fresh_target"]


def test_the_draw_is_seeded_and_the_fraction_checked(prep):
    pairs = Params().pairs
    _, first = hold_out_items(prep, 0.1, seed=0, pairs=pairs)
    _, again = hold_out_items(prep, 0.1, seed=0, pairs=pairs)
    _, other = hold_out_items(prep, 0.1, seed=1, pairs=pairs)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        hold_out_items(prep, 1.0, seed=0, pairs=pairs)
