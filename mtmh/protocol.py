"""The evaluation protocol: stable sort, global time split, evaluation and training pairs.

The protocol is fixed (see the project's method notes): interactions are sorted per user
by timestamp with a stable sort, so the input file's order breaks ties; the split cuts
all timestamps at their 0.8 and 0.9 quantiles (linear interpolation); evaluation pairs
are consecutive interactions of one user inside one split, with different items, at
most one day apart.

Pair building is a function over a partition of whole users, so it can run on any
engine that partitions by user; :func:`partition_by_user` and :func:`build_pairs`
drive it locally.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

TRAIN, VALID, TEST = 0, 1, 2
SPLIT_NAMES = {TRAIN: "train", VALID: "valid", TEST: "test"}
VALID_QUANTILE = 0.8
TEST_QUANTILE = 0.9
EVAL_MAX_GAP = 86_400


@dataclass(frozen=True)
class SplitPoints:
    """Timestamps that separate train < valid <= ... < test."""

    valid_start: float
    test_start: float

    def assign(self, timestamps: np.ndarray) -> np.ndarray:
        """Split code (0 train, 1 valid, 2 test) for each timestamp."""
        ts = np.asarray(timestamps)
        out = np.full(ts.shape, TRAIN, dtype=np.int8)
        out[ts >= self.valid_start] = VALID
        out[ts >= self.test_start] = TEST
        return out


def split_points(timestamps: np.ndarray) -> SplitPoints:
    """Quantiles 0.8 and 0.9 of all timestamps, with numpy's linear interpolation."""
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.size == 0:
        raise ValueError("cannot split an empty set of interactions")
    q_valid, q_test = np.quantile(ts, [VALID_QUANTILE, TEST_QUANTILE])
    return SplitPoints(float(q_valid), float(q_test))


def stable_sort(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by user, then timestamp; equal timestamps keep the input's row order.

    The result carries ``row``: the position of each interaction in the input.
    """
    out = frame.reset_index(drop=True)
    out.insert(len(out.columns), "row", np.arange(len(out), dtype=np.int64))
    # Sorting on the row number as the last key makes the tie-break explicit.
    out = out.sort_values(["user_id", "timestamp", "row"], kind="stable")
    return out.reset_index(drop=True)


def _same_user_offsets(user_codes: np.ndarray, offset: int) -> np.ndarray:
    """Positions i such that i and i + offset belong to the same user."""
    n = user_codes.shape[0]
    if offset >= n:
        return np.empty(0, dtype=np.int64)
    same = user_codes[:-offset] == user_codes[offset:]
    return np.flatnonzero(same)


def pairs_for_partition(part: pd.DataFrame, *, window: int, max_gap: float,
                        split: int | None = None) -> pd.DataFrame:
    """Ordered pairs (a, b) of one partition of whole users, sorted as by :func:`stable_sort`.

    Parameters
    ----------
    part
        Columns ``user_id``, ``item`` (catalogue index), ``timestamp``, ``split``; rows of
        each user contiguous and in protocol order.
    window
        b is one of the next ``window`` interactions after a (1: consecutive only).
    max_gap
        Largest allowed ``timestamp(b) - timestamp(a)`` in seconds.
    split
        Keep only pairs with both ends in this split; ``None`` keeps all.

    Returns
    -------
    DataFrame with ``user_id``, ``a``, ``b`` (int32 catalogue indices), ``gap`` (seconds),
    ``offset`` (1 for consecutive interactions), ordered by user and position.
    """
    users = pd.factorize(part["user_id"])[0]
    items = part["item"].to_numpy(np.int64)
    ts = part["timestamp"].to_numpy(np.int64)
    splits = part["split"].to_numpy(np.int8)
    chunks = []
    for offset in range(1, window + 1):
        i = _same_user_offsets(users, offset)
        j = i + offset
        gap = ts[j] - ts[i]
        keep = (items[i] != items[j]) & (gap <= max_gap)
        if split is not None:
            keep &= (splits[i] == split) & (splits[j] == split)
        i, j = i[keep], j[keep]
        chunks.append(pd.DataFrame({
            "pos": i, "offset": np.full(i.shape, offset, np.int8),
            "a": items[i].astype(np.int32), "b": items[j].astype(np.int32),
            "gap": (ts[j] - ts[i]).astype(np.int64),
        }))
    pairs = pd.concat(chunks, ignore_index=True).sort_values(["pos", "offset"], kind="stable")
    pairs.insert(0, "user_id", part["user_id"].to_numpy()[pairs["pos"].to_numpy()])
    return pairs.drop(columns="pos").reset_index(drop=True)


def partition_by_user(frame: pd.DataFrame, n_partitions: int) -> list[pd.DataFrame]:
    """Cut a protocol-sorted frame into ``n_partitions`` runs of whole users."""
    if n_partitions <= 1 or len(frame) == 0:
        return [frame]
    users = pd.factorize(frame["user_id"])[0]
    part_of_user = np.arange(users.max() + 1) * n_partitions // (users.max() + 1)
    labels = part_of_user[users]
    bounds = np.searchsorted(labels, np.arange(1, n_partitions))
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(frame)]])
    return [frame.iloc[s:e] for s, e in zip(starts, ends, strict=True) if e > s]


def build_pairs(frame: pd.DataFrame, *, window: int, max_gap: float, split: int | None,
                n_partitions: int = 8) -> pd.DataFrame:
    """Run :func:`pairs_for_partition` over user partitions and concatenate the results."""
    parts = [pairs_for_partition(p, window=window, max_gap=max_gap, split=split)
             for p in partition_by_user(frame, n_partitions)]
    return pd.concat(parts, ignore_index=True)


def evaluation_pairs(frame: pd.DataFrame, split: int) -> pd.DataFrame:
    """The protocol's evaluation pairs of one split: consecutive, a != b, gap <= 1 day."""
    return build_pairs(frame, window=1, max_gap=EVAL_MAX_GAP, split=split)


def training_pairs(frame: pd.DataFrame, *, window: int, max_gap: float) -> pd.DataFrame:
    """Co-engagement pairs for training: within the train split, window and gap from params."""
    return build_pairs(frame, window=window, max_gap=max_gap, split=TRAIN)
