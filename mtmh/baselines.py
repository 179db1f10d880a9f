"""The classical baselines: popularity, item-CF, Swing, content kNN and ALS item factors.

Each turns the prepared data into :class:`~mtmh.neighbors.Neighbors` of width
``params.baselines.topk``, judged by the same harness as the model. Items without train
interactions (fresh items) get what the method naturally gives; nothing is backfilled:

- ``popularity``: every trigger, fresh or not, gets the same ranking of items with train
  interactions (minus itself);
- ``itemcf`` and ``swing``: a fresh trigger has no co-engagement, so its row is all
  padding, and a fresh item is never anybody's neighbour;
- ``content``: fresh items are ordinary rows and candidates (that is its strength);
- ``als``: the solver leaves a fresh item's factor at zero (measured on ML-1M), so it
  scores 0 against everything: its row is full, but ordered only by faiss's tie rule,
  and it sits among the zero-score candidates of other rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mtmh import protocol
from mtmh.config import Params
from mtmh.metrics import PAD
from mtmh.neighbors import (
    BLOCK_CELLS,
    Neighbors,
    exact_inner_product_top_k,
    top_k_from_scores,
)
from mtmh.prepare import Prepared

logger = logging.getLogger(__name__)

METHODS = ("popularity", "itemcf", "swing", "content", "als")

__all__ = ["METHODS", "Neighbors", "run_baseline", "top_k_from_scores"]

# Triggers per block of Swing rows handed to the top-k selection.
SWING_BLOCK = 256
# Swing keeps all users' pairwise overlaps in memory up to this many cells (float32:
# 512 MiB; ML-1M needs 36 M); beyond it each trigger computes its users' overlaps itself.
OVERLAP_CELLS = 1 << 27


def _threads() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _train_interactions(prep: Prepared) -> pd.DataFrame:
    """Train rows of the protocol-sorted interactions."""
    frame = prep.interactions
    return frame[frame["split"].to_numpy() == protocol.TRAIN]


def _user_item_matrix(train: pd.DataFrame, n_items: int, binary: bool,
                      rows: np.ndarray | None = None) -> sp.csr_matrix:
    """(n_users, n_items) train interactions per user and item: counts, or 1 when binary.

    ``rows``: a row code per interaction (0..n-1, e.g. :func:`sessions`) instead of users.
    """
    users = pd.factorize(train["user_id"])[0] if rows is None else rows
    n_users = int(users.max()) + 1 if users.size else 0
    matrix = sp.csr_matrix((np.ones(users.size, np.float32),
                            (users, train["item"].to_numpy(np.int64))),
                           shape=(n_users, n_items))
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    return matrix


# --- popularity -------------------------------------------------------------------------

def popularity(prep: Prepared, k: int) -> Neighbors:
    """Items by train count, most engaged first (ties: lower index), minus the trigger.

    Items without train interactions are not candidates: a zero count says nothing.
    """
    counts = prep.train_counts()
    order = np.lexsort((np.arange(counts.size), -counts))
    ranked = order[counts[order] > 0][:k + 1]  # (width,) one spare for the trigger itself

    n_items = prep.n_items
    is_self = ranked[None, :] == np.arange(n_items)[:, None]  # (n_items, width)
    # A stable sort on the self flag moves the trigger, if listed, to the end of its row.
    slots = np.argsort(is_self, axis=1, kind="stable")[:, :k]  # (n_items, min(width, k))
    picked = ranked[slots]
    dropped = np.take_along_axis(is_self, slots, axis=1)

    items = np.full((n_items, k), PAD, dtype=np.int32)
    scores = np.full((n_items, k), np.nan, dtype=np.float32)
    width = picked.shape[1]
    items[:, :width] = np.where(dropped, PAD, picked)
    scores[:, :width] = np.where(dropped, np.nan, counts[picked].astype(np.float32))
    return Neighbors(items, scores)


# --- item-CF ----------------------------------------------------------------------------

def itemcf_scores(prep: Prepared, shrink: float = 0.0) -> sp.csr_matrix:
    """Cosine item-CF over co-engagement counts, a sparse (n_items, n_items) matrix.

    ``C[a, b]`` counts the train pairs (a, b) and (b, a), as ``params.pairs`` shaped them
    (window and max_gap applied). The score is ``C[a, b] / (sqrt(n_a * n_b) + shrink)``
    with ``n`` the items' train interaction counts: the cosine of the two items' user
    vectors, with co-occurrence inside the window in place of co-occurrence anywhere.

    Chosen on ML-1M against the reference figures (item-CF, window 5, cosine: Recall@10
    / 50 / 100 of 0.103 / 0.265 / 0.369). This form gives 0.1027 / 0.2648 / 0.3694.
    Normalising by the row sums of ``C`` instead gives the same to four places
    (0.1027 / 0.2648 / 0.3693), and so does dropping max_gap (0.1026 / 0.2648 / 0.3696):
    the data cannot tell them apart. Binary co-occurrence with either normalisation
    collapses (Recall@50 ~0.01), and cosine between rows of ``C`` is clearly worse
    (0.247). Train counts were kept because they are the textbook cosine denominator and
    need no second pass over ``C``.
    """
    n_items = prep.n_items
    a = prep.train_pairs["a"].to_numpy(np.int64)
    b = prep.train_pairs["b"].to_numpy(np.int64)
    ones = np.ones(a.size, dtype=np.float64)
    directed = sp.coo_matrix((ones, (a, b)), shape=(n_items, n_items))
    co = (directed + directed.T).tocoo()  # symmetric co-engagement counts
    counts = prep.train_counts().astype(np.float64)
    norm = np.sqrt(counts[co.row] * counts[co.col]) + shrink
    sim = sp.csr_matrix((co.data / norm, (co.row, co.col)), shape=(n_items, n_items))
    logger.debug("item-CF: %d item pairs with co-engagement", sim.nnz)
    return sim


def itemcf(prep: Prepared, k: int, shrink: float) -> Neighbors:
    """Top k of :func:`itemcf_scores`; triggers without co-engagement get an empty row."""
    if shrink < 0:
        raise ValueError(f"baselines.itemcf.shrink must be >= 0, got {shrink}")
    return top_k_from_scores(itemcf_scores(prep, shrink), k)


# --- Swing ------------------------------------------------------------------------------

def sessions(train: pd.DataFrame, length: int, max_gap: int | None) -> np.ndarray:
    """Session code (0..n_sessions-1) of every row of ``train``.

    A session is a run of one user's interactions in time order (ties: input-file order),
    cut after every ``length`` interactions and wherever two consecutive ones are more
    than ``max_gap`` seconds apart. ``length`` 0 with ``max_gap`` None gives one session
    per user: the user's whole history. Each user is cut on its own, so the codes can be
    computed per partition of users.
    """
    users = pd.factorize(train["user_id"])[0].astype(np.int64)
    if users.size == 0 or (length == 0 and max_gap is None):
        return users
    times = train["timestamp"].to_numpy(np.int64)
    order = np.lexsort((train["row"].to_numpy(np.int64), times, users))
    u, t = users[order], times[order]
    cut = np.r_[True, u[1:] != u[:-1]]
    if max_gap is not None:
        cut |= np.r_[True, np.diff(t) > max_gap]
    if length > 0:
        run = np.cumsum(cut) - 1  # runs without a long gap
        cut |= (np.arange(u.size) - np.flatnonzero(cut)[run]) % length == 0
    codes = np.empty(u.size, np.int64)
    codes[order] = np.cumsum(cut) - 1
    return codes


def recent_sessions(train: pd.DataFrame, session_codes: np.ndarray, n_items: int,
                    max_sessions: int) -> list[np.ndarray]:
    """Per item, the codes of its ``max_sessions`` most recent distinct train sessions.

    Recency is the timestamp of the session's latest interaction with the item; equal
    timestamps go to the later row of the input file, so the choice is deterministic.
    """
    item = train["item"].to_numpy(np.int64)
    order = np.lexsort((-train["row"].to_numpy(np.int64),
                        -train["timestamp"].to_numpy(np.int64), item))
    item, codes = item[order], session_codes[order]
    # After the sort, the first row of each (item, session) is the session's latest.
    repeat = pd.DataFrame({"item": item, "session": codes}).duplicated().to_numpy()
    item, codes = item[~repeat], codes[~repeat]

    starts = np.searchsorted(item, np.arange(n_items + 1))
    return [codes[starts[i]:min(starts[i + 1], starts[i] + max_sessions)]
            for i in range(n_items)]


def user_overlap(user_items: sp.csr_matrix) -> np.ndarray:
    """Dense (n, n) counts of shared items ``|I_u ∩ I_v|`` between the rows of
    ``user_items`` (users or sessions), built in row blocks."""
    n_users = user_items.shape[0]
    overlap = np.empty((n_users, n_users), dtype=np.float32)
    step = max(1, BLOCK_CELLS // max(n_users, 1))
    by_item = user_items.T.tocsr()  # (n_items, n_users)
    for start in range(0, n_users, step):
        overlap[start:start + step] = (user_items[start:start + step] @ by_item).toarray()
    return overlap


def _swing_row(user_items: sp.csr_matrix, users: np.ndarray, alpha: float,
               overlap: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Swing scores of one trigger from its sessions: (candidate items, scores > 0)."""
    n_items = user_items.shape[1]
    rows = user_items[users]  # (m, n_items) binary, sparse
    m = rows.shape[0]

    # An item needs two of these users to score: keep only those columns, renumbered.
    shared = np.bincount(rows.indices, minlength=n_items) >= 2  # (n_items,)
    cols = np.flatnonzero(shared)
    kept = shared[rows.indices]
    local = (np.cumsum(shared) - 1)[rows.indices[kept]]  # (nnz,) column in 0..c-1
    indptr = np.concatenate([[0], np.cumsum(kept)])[rows.indptr]
    engaged = sp.csr_matrix((np.ones(local.size, np.float32), local, indptr),
                            shape=(m, cols.size))  # (m, c)

    if overlap is not None:
        pair_overlap = overlap[np.ix_(users, users)]  # (m, m)
    else:
        pair_overlap = (rows @ rows.T).toarray()  # (m, m)
    weight = (1.0 / (alpha + pair_overlap)).astype(np.float32)
    np.fill_diagonal(weight, 0.0)

    # score(j) = 1/2 sum over u, v who engaged with j of weight[u, v]: each unordered pair
    # is met twice. Only the cells of (weight @ engaged) where u engaged with j are needed;
    # the sparse product beats dense BLAS here because ``engaged`` is mostly zeros.
    spread = engaged.T @ weight  # (c, m): spread[j, u] = sum over v with j of weight[u, v]
    owner = np.repeat(np.arange(m), np.diff(indptr))  # (nnz,) user of each entry
    scores = 0.5 * np.bincount(local, weights=spread[local, owner], minlength=cols.size)
    keep = scores > 0
    return cols[keep], scores[keep]


def swing_blocks(prep: Prepared, alpha: float, max_sessions: int, block: int = SWING_BLOCK,
                 dense_overlap: bool | None = None, session_length: int = 0,
                 max_gap: int | None = None) -> Iterator[sp.csr_matrix]:
    """Swing scores as sparse blocks of ``block`` trigger rows, in catalogue order.

    ``sim(i, j) = sum over unordered pairs {u, v} of sessions that both hold i and j of
    1 / (alpha + |I_u ∩ I_v|)``, with ``I_u`` the items of session u (see :func:`sessions`:
    ``session_length`` 0 makes each user's whole train history one session, the original
    form of Swing). Only the ``max_sessions`` most recent sessions of the trigger i are
    paired (see :func:`recent_sessions`), which bounds the cost of a row by
    ``max_sessions**2`` pairs and makes the scores slightly asymmetric for popular items.
    ``dense_overlap`` (default: when it fits in :data:`OVERLAP_CELLS`) precomputes all
    sessions' overlaps once instead of per trigger.
    """
    train = _train_interactions(prep)
    codes = sessions(train, session_length, max_gap if session_length > 0 else None)
    user_items = _user_item_matrix(train, prep.n_items, binary=True, rows=codes)
    n_sessions = user_items.shape[0]
    logger.info("swing: %d sessions of %d users (session_length %d)", n_sessions,
                train["user_id"].nunique(), session_length)
    sessions_of = recent_sessions(train, codes, prep.n_items, max_sessions)
    if dense_overlap is None:
        dense_overlap = n_sessions ** 2 <= OVERLAP_CELLS
    overlap = user_overlap(user_items) if dense_overlap else None

    n_items = prep.n_items
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        indptr, indices, data = [0], [], []
        for i in range(start, stop):
            if sessions_of[i].size >= 2:
                cols, scores = _swing_row(user_items, sessions_of[i], alpha, overlap)
                indices.append(cols)
                data.append(scores)
                indptr.append(indptr[-1] + cols.size)
            else:
                indptr.append(indptr[-1])
        yield sp.csr_matrix(
            (np.concatenate(data) if data else np.zeros(0, np.float64),
             np.concatenate(indices) if indices else np.zeros(0, np.int64),
             np.asarray(indptr)),
            shape=(stop - start, n_items))


def swing(prep: Prepared, k: int, alpha: float, max_sessions: int, session_length: int = 0,
          max_gap: int | None = None) -> Neighbors:
    """Top k of :func:`swing_blocks`; triggers in fewer than two sessions get an empty row."""
    if alpha <= 0:
        raise ValueError(f"baselines.swing.alpha must be > 0, got {alpha}")
    if max_sessions < 2:
        raise ValueError(f"baselines.swing.max_sessions must be >= 2 (Swing pairs sessions), "
                         f"got {max_sessions}")
    if session_length < 0 or session_length == 1:
        raise ValueError(f"baselines.swing.session_length must be 0 (whole user histories) "
                         f"or at least 2 (a session of one item pairs nothing), got "
                         f"{session_length}")
    return top_k_from_scores(swing_blocks(prep, alpha, max_sessions,
                                          session_length=session_length, max_gap=max_gap), k)


# --- content and ALS: nearest neighbours of item vectors --------------------------------

def _cosine_top_k(vectors: np.ndarray, k: int) -> Neighbors:
    """Exact cosine kNN; all-zero rows stay zero (they score 0 with everything)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # (n_items, 1)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return exact_inner_product_top_k(unit, k)


def content_knn(prep: Prepared, content: np.ndarray | None, k: int) -> Neighbors:
    """Nearest items by cosine of the content-encoder embeddings, rows in catalogue order."""
    if content is None:
        raise ValueError("the content baseline needs the content embeddings; got None")
    if content.ndim != 2 or content.shape[0] != prep.n_items:
        raise ValueError(f"content embeddings have shape {content.shape}; expected "
                         f"({prep.n_items}, dim), one row per catalogue item")
    return _cosine_top_k(content, k)


def als_item_factors(prep: Prepared, factors: int, iterations: int, regularization: float,
                     alpha: float, seed: int) -> np.ndarray:
    """(n_items, factors) item factors of implicit-feedback ALS on the train interactions.

    The user-item matrix holds train interaction counts (1 on ML-1M, where nobody rates a
    film twice); implicit takes ``alpha * count`` as the confidence.
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    user_items = _user_item_matrix(_train_interactions(prep), prep.n_items, binary=False)
    # implicit parallelises over users itself; a threaded BLAS underneath slows it down.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=factors, regularization=regularization,
                                        alpha=alpha, iterations=iterations,
                                        random_state=seed, num_threads=_threads())
        model.fit(user_items, show_progress=False)
    return np.asarray(model.item_factors, dtype=np.float32)


def als(prep: Prepared, k: int, factors: int, iterations: int, regularization: float,
        alpha: float, seed: int) -> Neighbors:
    """Nearest items by cosine of ALS item factors."""
    return _cosine_top_k(als_item_factors(prep, factors, iterations, regularization,
                                          alpha, seed), k)


# --- dispatch ---------------------------------------------------------------------------

def run_baseline(name: str, prep: Prepared, content: np.ndarray | None,
                 params: Params) -> Neighbors:
    """Neighbour lists of baseline ``name`` (one of :data:`METHODS`).

    ``content`` (n_items, dim) is only read by ``content``; the other methods accept None.
    """
    cfg = params.baselines
    runners: dict[str, Callable[[], Neighbors]] = {
        "popularity": lambda: popularity(prep, cfg.topk),
        "itemcf": lambda: itemcf(prep, cfg.topk, cfg.itemcf.shrink),
        "swing": lambda: swing(prep, cfg.topk, cfg.swing.alpha, cfg.swing.max_sessions,
                               cfg.swing.session_length, params.pairs.max_gap),
        "content": lambda: content_knn(prep, content, cfg.topk),
        "als": lambda: als(prep, cfg.topk, cfg.als.factors, cfg.als.iterations,
                           cfg.als.regularization, cfg.als.alpha, cfg.als.seed),
    }
    if name not in runners:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(METHODS)}")
    if cfg.topk < 1:
        raise ValueError(f"baselines.topk must be >= 1, got {cfg.topk}")
    nbrs = runners[name]()
    filled = float((nbrs.items != PAD).mean()) if nbrs.items.size else 0.0
    logger.info("baseline %s: %d lists of %d, %.1f%% filled", name, nbrs.items.shape[0],
                cfg.topk, 100 * filled)
    return nbrs
