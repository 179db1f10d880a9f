"""Hand-checked cases for the protocol: stable sort, time split, evaluation and train pairs."""

import numpy as np
import pandas as pd
import pytest

from mtmh import protocol
from mtmh.config import Params
from mtmh.prepare import prepare_frames


def frame(rows, split=None):
    out = pd.DataFrame(rows, columns=["user_id", "item", "timestamp"])
    out = protocol.stable_sort(out)
    out["split"] = protocol.TRAIN if split is None else split
    return out


def test_stable_sort_breaks_timestamp_ties_by_file_order():
    rows = [("u1", 0, 10), ("u2", 9, 1), ("u1", 1, 5), ("u1", 2, 10), ("u1", 3, 5)]
    out = frame(rows)
    assert out.loc[out.user_id == "u1", "item"].tolist() == [1, 3, 0, 2]
    assert out.loc[out.user_id == "u1", "row"].tolist() == [2, 4, 0, 3]


def test_split_points_use_linear_interpolation():
    points = protocol.split_points(np.arange(1, 11))
    assert points.valid_start == pytest.approx(8.2)
    assert points.test_start == pytest.approx(9.1)
    codes = points.assign(np.arange(1, 11))
    assert codes.tolist() == [0] * 8 + [1, 2]


def test_split_boundary_values_go_to_the_later_split():
    points = protocol.SplitPoints(valid_start=5.0, test_start=7.0)
    assert points.assign(np.array([4, 5, 6, 7, 8])).tolist() == [0, 1, 1, 2, 2]


def test_evaluation_pairs_are_consecutive_distinct_and_within_a_day():
    day = 86_400
    rows = [
        ("u", 0, 0), ("u", 1, 10),            # pair (0, 1)
        ("u", 1, 20),                         # repeated item: (1, 1) dropped
        ("u", 2, 20 + day),                   # gap exactly one day: kept (1, 2)
        ("u", 3, 21 + 2 * day),               # gap one day + 1 s: dropped
        ("u", 0, 30 + 2 * day),               # (3, 0) kept: items may repeat
        ("v", 5, 0),                          # another user: no pair across users
    ]
    pairs = protocol.evaluation_pairs(frame(rows), protocol.TRAIN)
    assert list(zip(pairs.a, pairs.b, strict=True)) == [(0, 1), (1, 2), (3, 0)]
    assert pairs.gap.tolist() == [10, day, 9]


def test_evaluation_pairs_need_both_ends_in_the_split():
    rows = [("u", 0, 1), ("u", 1, 2), ("u", 2, 3), ("u", 3, 4)]
    out = frame(rows, split=np.array([0, 2, 2, 1]))
    pairs = protocol.evaluation_pairs(out, protocol.TEST)
    assert list(zip(pairs.a, pairs.b, strict=True)) == [(1, 2)]


def test_training_pairs_respect_window_and_gap():
    rows = [("u", 0, 0), ("u", 1, 1), ("u", 2, 2), ("u", 0, 100), ("u", 3, 101)]
    pairs = protocol.training_pairs(frame(rows), window=2, max_gap=50)
    got = list(zip(pairs.a, pairs.b, strict=True))
    # (0,1) (0,2) (1,2) within 50 s; (0 at 100 -> 3) consecutive; 1->0 and 2->0 too far.
    assert got == [(0, 1), (0, 2), (1, 2), (0, 3)]
    assert pairs.offset.tolist() == [1, 2, 1, 1]


def test_training_pairs_skip_same_item_within_window():
    rows = [("u", 0, 0), ("u", 0, 1), ("u", 1, 2)]
    pairs = protocol.training_pairs(frame(rows), window=2, max_gap=10)
    assert list(zip(pairs.a, pairs.b, strict=True)) == [(0, 1), (0, 1)]


def test_partitioned_pairs_equal_single_partition():
    rng = np.random.default_rng(0)
    rows = [(f"u{rng.integers(30)}", int(rng.integers(20)), int(rng.integers(1000)))
            for _ in range(500)]
    out = frame(rows)
    whole = protocol.build_pairs(out, window=3, max_gap=300, split=None, n_partitions=1)
    parts = protocol.build_pairs(out, window=3, max_gap=300, split=None, n_partitions=7)
    pd.testing.assert_frame_equal(whole, parts)
    assert len(protocol.partition_by_user(out, 7)) == 7


def test_prepare_frames_maps_ids_and_counts_train_items():
    inter = pd.DataFrame({"user_id": ["a"] * 10,
                          "item_id": ["x", "y", "z", "x", "y", "z", "x", "y", "w", "z"],
                          "timestamp": [10, 20, 30, 40, 50, 60, 70, 80, 95, 95]})
    items = pd.DataFrame({"item_id": ["w", "x", "y", "z"], "title": list("WXYZ"),
                          "genres": ["A|B", "A", "", None]})
    prep = prepare_frames(inter, items, Params())
    assert prep.items["item"].tolist() == [0, 1, 2, 3]
    assert prep.items["genre_list"].tolist() == [["A", "B"], ["A"], [], []]
    # Quantiles 83 and 95: nothing in valid, the last two interactions (w, z) in test.
    assert prep.items["train_count"].tolist() == [0, 3, 3, 2]
    assert list(zip(prep.test_pairs.a, prep.test_pairs.b, strict=True)) == [(0, 3)]
    assert prep.summary["n_test_pairs_fresh_target"] == 0
    assert prep.summary["n_fresh_items"] == 1
