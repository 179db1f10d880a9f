"""The multi-head merge on hand-made lists whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from mtmh.merge import (
    merge_lists,
    merge_quota,
    merge_rrf,
    quotas,
    reserve_share,
    slot_order,
)
from mtmh.neighbors import head_neighbors


def _lists(*heads: list[int]) -> np.ndarray:
    """(H, 1, k) lists of one trigger, from one plain list per head."""
    return np.array(heads, dtype=np.int64)[:, None, :]


@pytest.mark.parametrize(("shares", "k", "expected"), [
    ([0.7, 0.3], 10, [7, 3]),
    ([1, 1, 1], 10, [4, 3, 3]),
    ([0.8, 0.2], 50, [40, 10]),
    ([0.55, 0.45], 3, [2, 1]),
    ([1.0, 0.0], 5, [5, 0]),
])
def test_quotas_round_to_k(shares: list[float], k: int, expected: list[int]) -> None:
    assert quotas(shares, k).tolist() == expected


def test_quotas_reject_bad_shares() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        quotas([0.5, -0.1], 10)


def test_slots_interleave_in_proportion() -> None:
    assert slot_order(np.array([2, 1])).tolist() == [0, 1, 0]
    assert slot_order(np.array([3, 1])).tolist() == [0, 0, 1, 0]
    assert slot_order(np.array([2, 2])).tolist() == [0, 1, 0, 1]


def test_quota_merge_interleaves_and_drops_duplicates() -> None:
    lists = _lists([1, 2, 3, 4, 5], [2, 6, 7, 8, 9])
    items, heads = merge_quota(lists, [0.5, 0.5], 4, triggers=np.array([0]))
    # Head 0 took 1, head 1 took 2, head 0's next (2) was a duplicate so it gave 3.
    assert items[0].tolist() == [1, 2, 3, 6]
    assert heads[0].tolist() == [0, 1, 0, 1]


def test_quota_merge_never_returns_the_trigger() -> None:
    lists = _lists([7, 1, 2], [7, 3, 4])
    items, _ = merge_quota(lists, [0.5, 0.5], 4, triggers=np.array([7]))
    assert 7 not in items[0]
    assert items[0].tolist() == [1, 3, 2, 4]


def test_quota_merge_wastes_no_slot_on_overlap() -> None:
    lists = _lists([1, 2, 3, 4], [1, 2, 3, 4])
    items, heads = merge_quota(lists, [0.5, 0.5], 4, triggers=np.array([0]))
    assert items[0].tolist() == [1, 2, 3, 4]
    assert heads[0].tolist() == [0, 1, 0, 1]


def test_quota_merge_fills_from_other_heads_when_one_runs_dry() -> None:
    lists = _lists([1, -1, -1, -1], [2, 3, 4, 5])
    items, heads = merge_quota(lists, [0.5, 0.5], 4, triggers=np.array([0]))
    assert items[0].tolist() == [1, 2, 3, 4]
    assert heads[0].tolist() == [0, 1, 1, 1]


def test_quota_merge_pads_when_everything_is_spent() -> None:
    lists = _lists([1, 2], [2, 1])
    items, heads = merge_quota(lists, [0.5, 0.5], 4, triggers=np.array([0]))
    assert items[0].tolist() == [1, 2, -1, -1]
    assert heads[0].tolist() == [0, 1, -1, -1]


def test_quota_merge_respects_quota_counts() -> None:
    rng = np.random.default_rng(0)
    lists = np.stack([np.stack([rng.permutation(np.arange(100, 200))[:20] for _ in range(5)]),
                      np.stack([rng.permutation(np.arange(300, 400))[:20] for _ in range(5)])])
    items, heads = merge_quota(lists, [0.7, 0.3], 10)
    # Disjoint heads: each list holds exactly its quota from each head, in head rank order.
    assert ((heads == 0).sum(axis=1) == 7).all()
    assert ((heads == 1).sum(axis=1) == 3).all()
    for row in range(5):
        assert items[row][heads[row] == 0].tolist() == lists[0, row, :7].tolist()


def test_rrf_on_a_hand_example() -> None:
    lists = _lists([1, 2], [2, 3])
    items, heads = merge_rrf(lists, [1.0, 1.0], 3, triggers=np.array([0]), rrf_k=1.0)
    # Scores: item 2 = 1/3 + 1/2, item 1 = 1/2, item 3 = 1/3.
    assert items[0].tolist() == [2, 1, 3]
    assert heads[0].tolist() == [1, 0, 1]


def test_rrf_weights_and_trigger() -> None:
    lists = _lists([5, 1, 2], [5, 2, 1])
    items, _ = merge_rrf(lists, [3.0, 1.0], 2, triggers=np.array([5]), rrf_k=0.0)
    assert items[0].tolist() == [1, 2]


def test_merge_lists_checks_its_input() -> None:
    lists = _lists([1, 2], [2, 3])
    with pytest.raises(ValueError, match="unknown merge method"):
        merge_lists(lists, [0.5, 0.5], 2, method="borda")
    with pytest.raises(ValueError, match="3 shares given for 2 heads"):
        merge_lists(lists, [0.3, 0.3, 0.4], 2)


def test_head_neighbors_match_brute_force() -> None:
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(2, 30, 8)).astype(np.float32)
    got = head_neighbors(emb, 5, batch=7)
    for h in range(2):
        scores = emb[h] @ emb[h].T
        np.fill_diagonal(scores, -np.inf)
        expected = np.argsort(-scores, axis=1, kind="stable")[:, :5]
        assert (got[h] == expected).all()
        assert not (got[h] == np.arange(30)[:, None]).any()


def test_head_neighbors_pad_small_catalogues() -> None:
    emb = np.eye(3, dtype=np.float32)[None]
    got = head_neighbors(emb, 4)
    assert got.shape == (1, 3, 4)
    assert (got[:, :, 2:] == -1).all()


def test_reserved_share_spreads_extra_items_over_the_list() -> None:
    base = np.arange(1, 101)[None, :]           # items 1..100
    extra = np.arange(200, 230)[None, :]        # items 200..229, best first
    items, from_extra, column = reserve_share(base, extra, 0.1, 100, triggers=np.array([0]))
    # One reserved slot in every ten places, the first after five base items.
    assert (np.flatnonzero(from_extra[0]) + 1).tolist() == [6, 16, 26, 36, 46, 56, 66, 76,
                                                            86, 96]
    assert items[0, from_extra[0]].tolist() == list(range(200, 210))
    assert items[0, ~from_extra[0]].tolist() == list(range(1, 91))
    assert column[0, from_extra[0]].tolist() == list(range(10))
    assert column[0, :6].tolist() == [0, 1, 2, 3, 4, 0]


def test_reserved_share_skips_duplicates_and_the_trigger() -> None:
    base = np.array([[5, 1, 2, 3, 4, 6]])
    extra = np.array([[5, 7, 9, 8]])  # 5 is already in base, 9 is the trigger
    items, from_extra, _ = reserve_share(base, extra, 0.5, 6, triggers=np.array([9]))
    assert items[0].tolist() == [5, 7, 1, 8, 2, 3]
    assert from_extra[0].tolist() == [False, True, False, True, False, False]


def test_reserved_share_falls_back_to_base_when_extra_runs_out() -> None:
    base = np.array([[1, 2, 3, 4, 5, 6]])
    extra = np.array([[7, -1, -1]])
    items, from_extra, _ = reserve_share(base, extra, 0.5, 6, triggers=np.array([0]))
    assert items[0].tolist() == [1, 7, 2, 3, 4, 5]
    assert from_extra[0].sum() == 1
    untouched, none_extra, _ = reserve_share(base, extra, 0.0, 6, triggers=np.array([0]))
    assert untouched[0].tolist() == base[0].tolist() and not none_extra.any()


def test_reserved_share_checks_its_input() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        reserve_share(np.zeros((1, 3), np.int64), np.zeros((1, 3), np.int64), 1.0, 3)
    with pytest.raises(ValueError, match="one row per trigger"):
        reserve_share(np.zeros((2, 3), np.int64), np.zeros((1, 3), np.int64), 0.2, 3)
