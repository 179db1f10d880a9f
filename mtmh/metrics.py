"""The evaluation harness: every method's top-K lists scored under one protocol.

A method is judged only by its neighbour lists: an int array ``neighbors`` of shape
(n_items, K) whose row i ranks catalogue items for trigger i, best first, padded with -1
when the method has fewer than K candidates. The trigger never appears in its own row.

Definitions (K is the cut-off; "retrieved" means the non-padding entries of row[:K]):

- ``recall@K``: share of evaluation pairs (a, b) whose b is among a's first K.
- ``fresh_recall@K``: the same over pairs whose b has no train interaction.
- Over the distinct triggers of the evaluation pairs and their lists, pooled over all
  retrieved (trigger, item) pairs:
  ``relevance_rate@K`` share with content cosine >= the threshold (0.5);
  ``genre_jaccard@K`` mean Jaccard overlap of genre sets (two empty sets count 0);
  ``genre_rate@K`` share with genre Jaccard >= 0.5;
  ``mean_popularity@K`` mean of log(1 + train count) of the retrieved items.
- ``coverage@K``: distinct items in those lists over the catalogue size.
- ``diversity@K``: intra-list diversity, the mean over lists (of at least two items) of
  the mean pairwise content distance 1 - cosine.

Two upper bounds for a list merged from several (:func:`union_recall`,
:func:`oracle_recall`) say how much recall any merge of those lists could reach.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

PAD = -1


@dataclass
class EvalData:
    """What the harness needs besides the lists.

    content: (n_items, dim) L2-normalised content embeddings.
    genres: (n_items, n_genres) bool multi-hot genre matrix.
    train_counts: (n_items,) train interactions per item.
    """

    content: np.ndarray
    genres: np.ndarray
    train_counts: np.ndarray


def genre_matrix(genre_lists: list[list[str]]) -> np.ndarray:
    """Multi-hot (n_items, n_genres) bool matrix, genres in sorted order."""
    vocab = sorted({g for gs in genre_lists for g in gs})
    col = {g: i for i, g in enumerate(vocab)}
    out = np.zeros((len(genre_lists), len(vocab)), dtype=bool)
    for row, gs in enumerate(genre_lists):
        for g in gs:
            out[row, col[g]] = True
    return out


def hits_at_k(neighbors: np.ndarray, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """Bool per pair: is b among the first k neighbours of a. Shape (n_pairs,)."""
    top = neighbors[np.asarray(a), :k]  # (n_pairs, k)
    return (top == np.asarray(b)[:, None]).any(axis=1)


def recall_at_k(neighbors: np.ndarray, a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Share of pairs (a, b) whose b is among a's first k neighbours; 0 with no pairs."""
    if len(a) == 0:
        return 0.0
    return float(hits_at_k(neighbors, a, b, k).mean())


def union_recall(lists: list[np.ndarray], a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Share of pairs (a, b) whose b is among a's first k in at least one of ``lists``.

    With two lists this is the recall of their top-k put together (up to 2k items), an
    upper bound for any list of k drawn from those top-k lists.
    """
    if len(a) == 0:
        return 0.0
    hit = np.zeros(len(a), dtype=bool)
    for neighbors in lists:
        hit |= hits_at_k(neighbors, a, b, k)
    return float(hit.mean())


def oracle_recall(lists: list[np.ndarray], a: np.ndarray, b: np.ndarray, depth: int,
                  k: int) -> float:
    """Recall@k of the best list of k that any merge of ``lists`` could serve.

    Per trigger the candidates are the union of each list's first ``depth`` items; an
    oracle that knows the evaluation pairs keeps the k candidates that are the next item
    of the most pairs. No merge of these lists (reciprocal-rank fusion, quotas, any
    weighting or learned gate) finds more pairs than that.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if len(a) == 0:
        return 0.0
    reachable = np.zeros(len(a), dtype=bool)
    for neighbors in lists:
        reachable |= hits_at_k(neighbors, a, b, depth)
    # Pairs per distinct (trigger, target) among the reachable ones.
    width = int(max(a.max(), b.max())) + 1
    keys, counts = np.unique(a[reachable] * width + b[reachable], return_counts=True)
    trigger = keys // width
    # Within each trigger, most pairs first; keep the first k of each trigger.
    order = np.lexsort((-counts, trigger))
    trigger, counts = trigger[order], counts[order]
    starts = np.flatnonzero(np.r_[True, trigger[1:] != trigger[:-1]])
    rank = np.arange(len(trigger)) - np.repeat(starts, np.diff(np.r_[starts, len(trigger)]))
    return float(counts[rank < k].sum() / len(a))


def _list_metrics(neighbors: np.ndarray, triggers: np.ndarray, data: EvalData, k: int,
                  relevance_threshold: float, genre_threshold: float) -> dict[str, float]:
    top = neighbors[triggers, :k]  # (n_triggers, k)
    valid = top != PAD
    rows, cols = np.nonzero(valid)
    trig = triggers[rows]  # (n_retrieved,)
    item = top[rows, cols]  # (n_retrieved,)
    if item.size == 0:
        return {"relevance_rate": 0.0, "genre_jaccard": 0.0, "genre_rate": 0.0,
                "mean_popularity": 0.0, "coverage": 0.0, "diversity": 0.0}

    g_t = data.genres[trig]
    g_i = data.genres[item]  # (n_retrieved, n_genres)
    inter = (g_t & g_i).sum(axis=1)
    union = (g_t | g_i).sum(axis=1)
    jaccard = np.divide(inter, union, out=np.zeros(inter.shape, float), where=union > 0)

    # Content cosines with the trigger and intra-list diversity, a block of lists at a
    # time: each list's item embeddings are gathered once and serve both. The sum of the
    # cosines over ordered pairs k != l is |sum_k e_k|^2 - sum_k |e_k|^2, which costs
    # O(k * dim) per list instead of the O(k^2 * dim) of the full similarity matrix.
    cosines, diversities = [], []
    for start in range(0, len(triggers), 1024):
        block = top[start:start + 1024]  # (b, k)
        mask = block != PAD  # (b, k)
        emb = data.content[np.where(mask, block, 0)] * mask[..., None]  # (b, k, dim)
        trigger_emb = data.content[triggers[start:start + 1024]]  # (b, dim)
        cosines.append(np.einsum("bd,bkd->bk", trigger_emb, emb)[mask])  # row-major order
        total = emb.sum(axis=1)  # (b, dim)
        sim_sum = np.einsum("bd,bd->b", total, total) - np.einsum("bkd,bkd->b", emb, emb)
        n = mask.sum(axis=1)
        pair_count = n * (n - 1)
        ok = pair_count > 0
        diversities.append(1.0 - sim_sum[ok] / pair_count[ok])
    cos = np.concatenate(cosines)  # (n_retrieved,)
    diversity = np.concatenate(diversities)

    return {
        "relevance_rate": float((cos >= relevance_threshold).mean()),
        "genre_jaccard": float(jaccard.mean()),
        "genre_rate": float((jaccard >= genre_threshold).mean()),
        "mean_popularity": float(np.log1p(data.train_counts[item]).mean()),
        "coverage": float(np.unique(item).size / data.content.shape[0]),
        "diversity": float(diversity.mean()) if diversity.size else 0.0,
    }


def evaluate_lists(neighbors: np.ndarray, a: np.ndarray, b: np.ndarray, data: EvalData, *,
                   ks: list[int], relevance_threshold: float = 0.5,
                   genre_threshold: float = 0.5) -> dict[str, float]:
    """Every metric at every cut-off, named ``metric@K`` (see the module docstring)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if neighbors.shape[1] < max(ks):
        raise ValueError(f"lists hold {neighbors.shape[1]} items; the metrics need {max(ks)}")
    triggers = np.unique(a)
    fresh = data.train_counts[b] == 0
    out: dict[str, float] = {}
    for k in ks:
        out[f"recall@{k}"] = recall_at_k(neighbors, a, b, k)
        out[f"fresh_recall@{k}"] = recall_at_k(neighbors, a[fresh], b[fresh], k)
        for name, value in _list_metrics(neighbors, triggers, data, k,
                                         relevance_threshold, genre_threshold).items():
            out[f"{name}@{k}"] = value
    return out
