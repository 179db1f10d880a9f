"""Neighbour lists: the one output every retrieval method hands to the evaluation.

A method's answer for a catalogue of ``n_items`` is two arrays of shape (n_items, k):
``items`` (int32) ranks catalogue items for trigger row i, best first, padded at the end
with :data:`mtmh.metrics.PAD` where the method has fewer than k candidates, never holding
i itself nor an item twice; ``scores`` (float32) holds the method's score of each entry,
NaN on padding.

:func:`top_k_from_scores` turns a score matrix into such lists, a block of rows at a
time so that a dense (n_items, n_items) matrix never has to exist at once. Ties are
broken by the lower item index, so the lists do not depend on the block size.
:func:`head_neighbors` gives a trained model's exact per-head lists from its vectors (the
validation checks of training and the alpha sweep use it; serving goes through faiss).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from mtmh.data import atomic_path
from mtmh.metrics import PAD

logger = logging.getLogger(__name__)

# Largest number of score cells one dense block may hold (float32: 64 MiB).
BLOCK_CELLS = 1 << 24

ScoreBlock = np.ndarray | sp.spmatrix | sp.sparray


@dataclass
class Neighbors:
    """Top-k lists of one method.

    items: (n_items, k) int32 catalogue indices, best first, PAD-padded at the end.
    scores: (n_items, k) float32 scores of those entries, NaN on padding.
    source: optional (n_items, k) int8: which head of a multi-head model found each
        entry (PAD on padding); ``None`` for single-list methods.
    """

    items: np.ndarray
    scores: np.ndarray
    source: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.items = np.asarray(self.items, dtype=np.int32)
        self.scores = np.asarray(self.scores, dtype=np.float32)
        if self.items.ndim != 2 or self.items.shape != self.scores.shape:
            raise ValueError(f"neighbour items {self.items.shape} and scores "
                             f"{self.scores.shape} must be 2-D arrays of the same shape")
        if self.source is not None:
            self.source = np.asarray(self.source, dtype=np.int8)
            if self.source.shape != self.items.shape:
                raise ValueError(f"neighbour source {self.source.shape} must match items "
                                 f"{self.items.shape}")

    @property
    def k(self) -> int:
        return int(self.items.shape[1])

    def save(self, path: str | Path) -> None:
        """Write both arrays to one ``.npz`` file, atomically."""
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            # A file handle, not a name: np.savez would append ".npz" to the temporary name.
            arrays = {"items": self.items, "scores": self.scores}
            if self.source is not None:
                arrays["source"] = self.source
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Neighbors:
        """Read what :meth:`save` wrote; a clear error when the file is absent or foreign."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path}: neighbour lists not found")
        with np.load(path) as data:
            missing = {"items", "scores"} - set(data.files)
            if missing:
                raise ValueError(f"{path}: not a neighbour-list file; arrays {sorted(missing)} "
                                 f"missing (found {sorted(data.files)})")
            source = data["source"] if "source" in data.files else None
            return cls(data["items"], data["scores"], source)


def _select(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int,
            k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k (col, val) per row from candidate triples; ties go to the lower column.

    rows, cols, vals: (n_candidates,), rows in [0, n_rows). Returns (n_rows, k) arrays.
    """
    items = np.full((n_rows, k), PAD, dtype=np.int32)
    scores = np.full((n_rows, k), np.nan, dtype=np.float32)
    if rows.size == 0:
        return items, scores
    order = np.lexsort((cols, -vals.astype(np.float64), rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(n_rows))  # (n_rows,) first candidate of each row
    rank = np.arange(rows.size) - starts[rows]  # (n_candidates,) position within its row
    keep = rank < k
    items[rows[keep], rank[keep]] = cols[keep]
    scores[rows[keep], rank[keep]] = vals[keep]
    return items, scores


def _dense_candidates(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of a dense block that can make its top k: all ties at the k-th value kept."""
    vals = np.where(np.isnan(block), -np.inf, block)  # (b, n)
    n = vals.shape[1]
    if k < n:
        kth = np.partition(vals, n - k, axis=1)[:, n - k]  # (b,) k-th largest per row
        rows, cols = np.nonzero((vals >= kth[:, None]) & np.isfinite(vals))
    else:
        rows, cols = np.nonzero(np.isfinite(vals))
    return rows, cols, vals[rows, cols]


def _block_top_k(block: ScoreBlock, first_row: int, k: int,
                 exclude_self: bool) -> tuple[np.ndarray, np.ndarray]:
    """Top k of one block of rows whose first row is trigger ``first_row``."""
    n_rows = block.shape[0]
    triggers = first_row + np.arange(n_rows)  # (b,)
    if sp.issparse(block):
        # Stored entries are the candidates: a sparse row lists only what the method scored.
        csr = sp.csr_matrix(block)
        csr.sum_duplicates()
        rows = np.repeat(np.arange(n_rows), np.diff(csr.indptr))
        cols, vals = csr.indices.astype(np.int64), csr.data
        if exclude_self:
            keep = cols != triggers[rows]
            rows, cols, vals = rows[keep], cols[keep], vals[keep]
        finite = np.isfinite(vals)
        return _select(rows[finite], cols[finite], vals[finite], n_rows, k)

    block = np.array(block, dtype=np.float32)  # a copy: the self cells are overwritten
    if exclude_self:
        inside = triggers < block.shape[1]
        block[np.flatnonzero(inside), triggers[inside]] = -np.inf
    rows, cols, vals = _dense_candidates(block, k)
    return _select(rows, cols, vals, n_rows, k)


def _row_blocks(scores: ScoreBlock) -> Iterable[ScoreBlock]:
    """Cut a whole matrix into blocks of rows small enough for :data:`BLOCK_CELLS`."""
    n_rows, n_cols = scores.shape
    step = max(1, BLOCK_CELLS // max(n_cols, 1))
    if sp.issparse(scores):
        scores = sp.csr_matrix(scores)
    for start in range(0, n_rows, step):
        yield scores[start:start + step]


def top_k_from_scores(scores: ScoreBlock | Iterable[ScoreBlock], k: int,
                      exclude_self: bool = True) -> Neighbors:
    """The k best-scored items of each row, best first.

    Parameters
    ----------
    scores
        A dense (n_triggers, n_items) array (NaN and -inf cells are never returned), a
        scipy sparse matrix of that shape (its stored entries are the only candidates),
        or an iterable of such row blocks, in order, which together make the matrix.
        Row i is trigger i.
    k
        Width of the lists; rows with fewer candidates are padded with PAD / NaN.
    exclude_self
        Never return item i in row i.

    Returns
    -------
    Neighbors with (n_triggers, k) arrays. Equal scores rank the lower item index first.
    """
    if k < 1:
        raise ValueError(f"k must be a positive number of neighbours, got {k}")
    if isinstance(scores, np.ndarray) or sp.issparse(scores):
        if scores.ndim != 2:
            raise ValueError(f"scores must be a 2-D matrix, got shape {scores.shape}")
        blocks: Iterable[ScoreBlock] = _row_blocks(scores)
    else:
        blocks = scores
    parts_items, parts_scores = [], []
    first_row = 0
    for block in blocks:
        items, vals = _block_top_k(block, first_row, k, exclude_self)
        parts_items.append(items)
        parts_scores.append(vals)
        first_row += block.shape[0]
    if not parts_items:
        return Neighbors(np.empty((0, k), np.int32), np.empty((0, k), np.float32))
    return Neighbors(np.concatenate(parts_items), np.concatenate(parts_scores))


def exact_inner_product_top_k(vectors: np.ndarray, k: int) -> Neighbors:
    """Each row's k nearest other rows by exact inner product, via a flat faiss index.

    vectors: (n_items, dim); L2-normalised rows make the scores cosines. Faiss orders
    equal scores by its own rule, not by item index.
    """
    import faiss  # imported here: only the vector-search baselines need it

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (n_items, dim)
    n_items, dim = vectors.shape
    index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    # One extra hit, because the query itself is usually (not always, with ties) the first.
    wanted = min(k + 1, n_items)
    dist, ids = index.search(vectors, wanted)  # (n_items, wanted) each

    rows, cols = np.nonzero(ids >= 0)
    found = ids[rows, cols]
    keep = found != rows
    rows, cols, found = rows[keep], cols[keep], found[keep]
    items = np.full((n_items, k), PAD, dtype=np.int32)
    scores = np.full((n_items, k), np.nan, dtype=np.float32)
    # Faiss's order is kept; dropping the trigger shifts the later hits up by one.
    starts = np.searchsorted(rows, np.arange(n_items))  # (n_items,) first hit of each row
    position = np.arange(rows.size) - starts[rows]  # (n_hits,) rank within the row
    inside = position < k
    items[rows[inside], position[inside]] = found[inside]
    scores[rows[inside], position[inside]] = dist[rows[inside], cols[inside]]
    return Neighbors(items, scores)


def head_neighbors(embeddings: np.ndarray, k: int, *, batch: int = 2048,
                   queries: np.ndarray | None = None) -> np.ndarray:
    """Each head's exact inner-product top-k per catalogue item, the item itself excluded.

    Parameters
    ----------
    embeddings
        (H, n_items, d) item embeddings per head.
    k
        List length; capped at n_items - 1, the rest padded with -1.
    queries
        (H, n_items, d) trigger-side vectors of the same items (an asymmetric model);
        ``None``: ``embeddings``.

    Returns
    -------
    (H, n_items, k) int64 item indices, best first.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    query = emb if queries is None else np.asarray(queries, dtype=np.float32)
    if query.shape != emb.shape:
        raise ValueError(f"queries have shape {query.shape}; expected {emb.shape}, "
                         "one trigger vector per item and head")
    n_heads, n, _ = emb.shape
    take = min(k, n - 1)
    out = np.full((n_heads, n, k), PAD, dtype=np.int64)
    for h in range(n_heads):
        for start in range(0, n, batch):
            rows = np.arange(start, min(start + batch, n))
            scores = query[h, rows] @ emb[h].T  # (rows, n_items)
            scores[np.arange(len(rows)), rows] = -np.inf
            part = np.argpartition(-scores, take - 1, axis=1)[:, :take] if take > 0 else \
                np.zeros((len(rows), 0), np.int64)  # (rows, take), unordered
            part_scores = np.take_along_axis(scores, part, axis=1)
            order = np.argsort(-part_scores, axis=1, kind="stable")
            out[h, rows, :take] = np.take_along_axis(part, order, axis=1)
    return out
