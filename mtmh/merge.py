"""Merging the heads' ranked lists into one list of K per trigger.

Two ways:

- ``quota`` (default): head h gets ``k_h = share_h * K`` slots (largest-remainder rounding,
  so the quotas sum to K). Slots are interleaved in proportion to the quotas: slot i of
  head h sits at position ``(i + 0.5) / k_h`` and slots are taken in order of position,
  ties to the earlier head. Each slot takes the head's best item not yet placed, skipping
  the trigger, padding and duplicates, so a duplicate never wastes a slot: the head fills
  it from its further ranks. Only when a head's list runs out are its remaining slots
  filled from the other heads, continuing the same interleaving.
  Pass each head's top-K (not only its top-k_h), so that further ranks exist.
- ``rrf``: reciprocal-rank fusion, ``score(i) = sum_h w_h / (rrf_k + rank_h(i))`` with
  1-based ranks and the shares as weights; the item is credited to the head with the
  largest term.

Both return the merged items and, per slot, the head that supplied the item.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

PAD = -1
METHODS = ("quota", "rrf")


def quotas(shares: np.ndarray | list[float], k: int) -> np.ndarray:
    """Slots per head: ``share_h * k`` rounded by largest remainder, summing to k.

    Shares are normalised first; ties in the remainders go to the earlier head.
    """
    s = np.asarray(shares, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or (s < 0).any() or s.sum() <= 0:
        raise ValueError(f"shares must be non-negative with a positive sum, got {list(s)}")
    exact = s / s.sum() * k
    out = np.floor(exact).astype(np.int64)
    short = k - int(out.sum())
    order = np.argsort(-(exact - out), kind="stable")
    out[order[:short]] += 1
    return out


def slot_order(quota: np.ndarray) -> np.ndarray:
    """Head of each of the ``sum(quota)`` slots, interleaved in proportion to the quotas."""
    heads = np.repeat(np.arange(len(quota)), quota)
    ranks = np.concatenate([np.arange(q) for q in quota]) if len(quota) else np.zeros(0)
    position = (ranks + 0.5) / np.maximum(np.repeat(quota, quota), 1)
    return heads[np.lexsort((heads, position))]


def _check(lists: np.ndarray, shares: np.ndarray | list[float],
           triggers: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    lists = np.asarray(lists)
    if lists.ndim != 3:
        raise ValueError(f"head lists must have shape (H, n_triggers, k_h); got {lists.shape}")
    if len(shares) != lists.shape[0]:
        raise ValueError(f"{len(shares)} shares given for {lists.shape[0]} heads")
    if triggers is None:
        triggers = np.arange(lists.shape[1])
    triggers = np.asarray(triggers)
    if triggers.shape != (lists.shape[1],):
        raise ValueError(f"triggers has shape {triggers.shape}; expected ({lists.shape[1]},)")
    return lists, triggers


class _HeadCursor:
    """Walks each head's list of one trigger, handing out items not placed yet."""

    def __init__(self, cand: np.ndarray, trigger: int) -> None:
        self.cand = cand  # (H, depth)
        self.pointer = [0] * cand.shape[0]
        self.taken = {trigger, PAD}

    def next_of(self, h: int) -> tuple[int, int]:
        """Head h's best unplaced item (now placed) and its column in the head's list, or
        (-1, -1) when the list is spent."""
        while self.pointer[h] < self.cand.shape[1]:
            col = self.pointer[h]
            item = int(self.cand[h, col])
            self.pointer[h] += 1
            if item not in self.taken:
                self.taken.add(item)
                return item, col
        return PAD, PAD


def merge_quota(lists: np.ndarray, shares: np.ndarray | list[float], k: int,
                triggers: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Quota merge (see the module docstring).

    Parameters
    ----------
    lists
        (H, n_triggers, k_h) int item indices per head, best first, -1 padded.
    shares
        (H,) serving shares of the heads.
    k
        Length of the merged lists.
    triggers
        (n_triggers,) the trigger item of each row, never returned; default: row i is
        item i.

    Returns
    -------
    items, heads
        (n_triggers, k) int64 merged items (-1 padded) and (n_triggers, k) int64 index of
        the head that supplied each item (-1 on padding).
    """
    items, source, _ = _quota(lists, shares, k, triggers)
    return items, source


def _quota(lists: np.ndarray, shares: np.ndarray | list[float], k: int,
           triggers: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`merge_quota`, plus each entry's column in its head's list (-1 on padding)."""
    lists, triggers = _check(lists, shares, triggers)
    n_heads, n_rows, depth = lists.shape
    order = slot_order(quotas(shares, k))  # (k,)
    items = np.full((n_rows, k), PAD, dtype=np.int64)
    source = np.full((n_rows, k), PAD, dtype=np.int64)
    column = np.full((n_rows, k), PAD, dtype=np.int64)
    for row in range(n_rows):
        heads = _HeadCursor(lists[:, row, :], int(triggers[row]))
        filled, unfilled = 0, 0
        # Quota slots first; a head that runs dry leaves its slot for the fill pass.
        for h in order:
            item, col = heads.next_of(int(h))
            if item == PAD:
                unfilled += 1
                continue
            items[row, filled], source[row, filled], column[row, filled] = item, h, col
            filled += 1
        # Fill pass: keep interleaving over the heads that still hold items.
        progressed = True
        while unfilled and filled < k and progressed:
            progressed = False
            for h in order:
                if filled >= k:
                    break
                item, col = heads.next_of(int(h))
                if item != PAD:
                    items[row, filled], source[row, filled], column[row, filled] = item, h, col
                    filled += 1
                    progressed = True
    return items, source, column


def reserve_share(base: np.ndarray, extra: np.ndarray, share: float, k: int,
                  triggers: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lists of k in which a ``share`` of the slots hold items of ``extra``.

    The quota merge of the two lists with shares ``1 - share`` and ``share``: the
    reserved slots are spread evenly over the list (share 0.1 puts one in every ten
    places, the first at rank 5), each takes ``extra``'s best item not placed yet, and an
    item of ``extra`` already in ``base`` keeps its place there. Where ``extra`` runs
    out, ``base`` fills the rest, and the other way round.

    Parameters
    ----------
    base, extra
        (n_triggers, k_b) and (n_triggers, k_e) int item indices, best first, -1 padded.
    share
        In [0, 1).
    triggers
        As in :func:`merge_quota`.

    Returns
    -------
    items, from_extra, column
        (n_triggers, k) each: int64 items (-1 padded); bool, the entry came from
        ``extra``; int64, its column in the list it came from (-1 on padding).
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"a reserved share must be in [0, 1), got {share}")
    base, extra = np.asarray(base), np.asarray(extra)
    if base.ndim != 2 or extra.ndim != 2 or base.shape[0] != extra.shape[0]:
        raise ValueError(f"base {base.shape} and extra {extra.shape} lists must be 2-D with "
                         "one row per trigger")
    depth = max(base.shape[1], extra.shape[1])
    stacked = np.full((2, base.shape[0], depth), PAD, dtype=np.int64)
    stacked[0, :, :base.shape[1]] = base
    stacked[1, :, :extra.shape[1]] = extra
    items, source, column = _quota(stacked, [1.0 - share, share], k, triggers)
    return items, source == 1, column


def merge_rrf(lists: np.ndarray, shares: np.ndarray | list[float], k: int,
              triggers: np.ndarray | None = None,
              rrf_k: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal-rank fusion with the shares as head weights (see the module docstring).

    Shapes as in :func:`merge_quota`. Ties in the fused score go to the item with the
    better single-head rank, then to the earlier head.
    """
    lists, triggers = _check(lists, shares, triggers)
    weights = np.asarray(shares, dtype=np.float64)
    n_heads, n_rows, depth = lists.shape
    items = np.full((n_rows, k), PAD, dtype=np.int64)
    source = np.full((n_rows, k), PAD, dtype=np.int64)
    for row in range(n_rows):
        score: dict[int, float] = {}
        best: dict[int, tuple[float, int, int]] = {}  # item -> (-term, rank, head)
        for h in range(n_heads):
            for rank, item in enumerate(lists[h, row, :].tolist(), start=1):
                if item == PAD or item == triggers[row]:
                    continue
                term = weights[h] / (rrf_k + rank)
                score[item] = score.get(item, 0.0) + term
                key = (-term, rank, h)
                if item not in best or key < best[item]:
                    best[item] = key
        ranked = sorted(score, key=lambda i: (-score[i], best[i][1], best[i][2]))[:k]
        items[row, :len(ranked)] = ranked
        source[row, :len(ranked)] = [best[i][2] for i in ranked]
    return items, source


def merge_lists(lists: np.ndarray, shares: np.ndarray | list[float], k: int, *,
                method: str = "quota", triggers: np.ndarray | None = None,
                rrf_k: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch to :func:`merge_quota` or :func:`merge_rrf` by ``method``."""
    if method == "quota":
        return merge_quota(lists, shares, k, triggers)
    if method == "rrf":
        return merge_rrf(lists, shares, k, triggers, rrf_k)
    raise ValueError(f"unknown merge method {method!r}; choose one of {', '.join(METHODS)}")
