"""Metrics of the harness on lists whose answers are worked out by hand."""

import numpy as np
import pytest

from mtmh.metrics import (
    PAD,
    EvalData,
    evaluate_lists,
    genre_matrix,
    oracle_recall,
    recall_at_k,
    union_recall,
)


def unit(*rows):
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.fixture
def data():
    # Items 0..3. Cosines: 0-1 = 1.0, 0-2 = 0.0, 0-3 = 0.6, 1-3 = 0.6, 2-3 = 0.8.
    content = unit([1, 0], [1, 0], [0, 1], [0.6, 0.8])
    genres = genre_matrix([["a"], ["a", "b"], ["c"], []])
    return EvalData(content=content, genres=genres, train_counts=np.array([3, 0, 1, 7]))


def test_recall_counts_hits_within_k():
    nbrs = np.array([[1, 2], [0, PAD], [3, 0], [2, 1]])
    a = np.array([0, 0, 1, 2])
    b = np.array([1, 2, 3, 0])
    assert recall_at_k(nbrs, a, b, 1) == pytest.approx(1 / 4)
    assert recall_at_k(nbrs, a, b, 2) == pytest.approx(3 / 4)
    assert recall_at_k(nbrs, a[:0], b[:0], 2) == 0.0


def test_evaluate_lists_known_answers(data):
    nbrs = np.array([[1, 3], [3, PAD], [3, 0], [2, 1]])
    a = np.array([0, 0, 2])
    b = np.array([1, 2, 0])  # pair (0, 1): b fresh (train count 0)
    m = evaluate_lists(nbrs, a, b, data, ks=[1, 2])
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@2"] == pytest.approx(2 / 3)
    assert m["fresh_recall@1"] == pytest.approx(1.0)
    # Triggers 0 and 2, lists [1, 3] and [3, 0]: cosines 1.0, 0.6, 0.8, 0.0.
    assert m["relevance_rate@2"] == pytest.approx(3 / 4)
    assert m["relevance_rate@1"] == pytest.approx(1.0)
    # Jaccard: {a}-{a,b} 0.5, {a}-{} 0, {c}-{} 0, {c}-{a} 0.
    assert m["genre_jaccard@2"] == pytest.approx(0.5 / 4)
    assert m["genre_rate@2"] == pytest.approx(1 / 4)
    assert m["coverage@2"] == pytest.approx(3 / 4)
    assert m["mean_popularity@2"] == pytest.approx(np.log1p([0, 7, 7, 3]).mean())
    # Pairwise distances in the lists: 1 - cos(1,3) = 0.4, 1 - cos(3,0) = 0.4.
    assert m["diversity@2"] == pytest.approx(0.4)


def test_padding_is_not_counted_as_retrieved(data):
    nbrs = np.array([[1, PAD], [0, PAD], [PAD, PAD], [0, PAD]])
    m = evaluate_lists(nbrs, np.array([0, 2]), np.array([1, 3]), data, ks=[2])
    assert m["relevance_rate@2"] == pytest.approx(1.0)  # only (0, 1) retrieved
    assert m["recall@2"] == pytest.approx(0.5)
    assert m["diversity@2"] == 0.0  # no list with two items


def test_lists_shorter_than_k_are_rejected(data):
    with pytest.raises(ValueError, match="need 5"):
        evaluate_lists(np.zeros((4, 2), int), np.array([0]), np.array([1]), data, ks=[5])


def test_diversity_is_the_mean_pairwise_distance_of_each_list():
    rng = np.random.default_rng(0)
    content = rng.normal(size=(30, 8)).astype(np.float32)
    content /= np.linalg.norm(content, axis=1, keepdims=True)
    data = EvalData(content=content, genres=np.zeros((30, 1), bool),
                    train_counts=np.ones(30, int))
    nbrs = np.stack([rng.permutation(np.delete(np.arange(30), i))[:6] for i in range(30)])
    nbrs[3, 4:] = PAD  # a shorter list: only its 4 items count
    nbrs[5, 1:] = PAD  # a single item: no pair, left out of the mean
    expected = []
    for row in nbrs:
        items = row[row != PAD]
        if len(items) < 2:
            continue
        sims = content[items] @ content[items].T
        off = ~np.eye(len(items), dtype=bool)
        expected.append(np.mean(1.0 - sims[off]))
    m = evaluate_lists(nbrs, np.arange(30), np.roll(np.arange(30), 1), data, ks=[6])
    assert m["diversity@6"] == pytest.approx(np.mean(expected), rel=1e-5)


# Items 0..5; two lists per trigger. Trigger 0 has seven pairs: four to item 3, two to
# item 4, one to item 5. Trigger 1 has one pair, to item 2.
BOUND_A = np.array([0, 0, 0, 0, 0, 0, 0, 1])
BOUND_B = np.array([3, 3, 3, 3, 4, 4, 5, 2])
FIRST = np.array([[4, 1, 3], [2, 0, 3], *[[0, 1, 2]] * 4])
SECOND = np.array([[5, 2, 1], [3, 4, 5], *[[0, 1, 2]] * 4])


def test_union_recall_counts_a_hit_in_either_list():
    # Top 1: 4 (first) and 5 (second) for trigger 0 (3 pairs), 2 for trigger 1 (1 pair).
    assert union_recall([FIRST, SECOND], BOUND_A, BOUND_B, 1) == pytest.approx(4 / 8)
    assert union_recall([FIRST], BOUND_A, BOUND_B, 1) == pytest.approx(
        recall_at_k(FIRST, BOUND_A, BOUND_B, 1))
    assert union_recall([FIRST, SECOND], BOUND_A, BOUND_B, 3) == pytest.approx(1.0)


def test_oracle_recall_keeps_the_most_frequent_targets_per_trigger():
    # Depth 3, k 1: trigger 0 can serve item 3 (in FIRST at rank 3): its four pairs.
    assert oracle_recall([FIRST, SECOND], BOUND_A, BOUND_B, 3, 1) == pytest.approx(5 / 8)
    # k 2: items 3 and 4 for trigger 0 (six pairs), item 2 for trigger 1.
    assert oracle_recall([FIRST, SECOND], BOUND_A, BOUND_B, 3, 2) == pytest.approx(7 / 8)
    # Depth 1: only 4 and 5 are candidates for trigger 0; k 1 keeps item 4 (two pairs).
    assert oracle_recall([FIRST, SECOND], BOUND_A, BOUND_B, 1, 1) == pytest.approx(3 / 8)
    # Never below the recall of any one list at the same k, never above the union's.
    for depth, k in [(1, 1), (2, 1), (3, 2), (3, 3)]:
        oracle = oracle_recall([FIRST, SECOND], BOUND_A, BOUND_B, depth, k)
        assert oracle >= recall_at_k(FIRST, BOUND_A, BOUND_B, min(depth, k)) - 1e-12
        assert oracle <= union_recall([FIRST, SECOND], BOUND_A, BOUND_B, depth) + 1e-12
    assert oracle_recall([FIRST], BOUND_A[:0], BOUND_B[:0], 3, 1) == 0.0
