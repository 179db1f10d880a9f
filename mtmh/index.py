"""faiss, behind one module: inner-product indexes over L2-normalised item vectors.

``flat`` (exact search) is the default; ``hnsw`` and ``ivf`` trade a little recall for
speed on large catalogues, and :func:`recall_against_exact` measures how much.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtmh.data import atomic_path

logger = logging.getLogger(__name__)

PAD = -1
KINDS = ("flat", "hnsw", "ivf")


@dataclass
class IndexConfig:
    kind: str = "flat"
    hnsw_m: int = 32
    hnsw_ef_search: int = 128
    ivf_nlist: int = 64
    ivf_nprobe: int = 8


def build_index(vectors: np.ndarray, cfg: IndexConfig | None = None):  # -> faiss.Index
    """An inner-product index over ``vectors`` (n, d), rows in catalogue order."""
    import faiss

    cfg = cfg or IndexConfig()
    xb = np.ascontiguousarray(vectors, dtype=np.float32)  # (n, d)
    n, dim = xb.shape
    if cfg.kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif cfg.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = cfg.hnsw_ef_search
    elif cfg.kind == "ivf":
        nlist = max(1, min(cfg.ivf_nlist, n // 39))  # faiss wants ~39 points per centroid
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist,
                                   faiss.METRIC_INNER_PRODUCT)
        index.train(xb)
        index.nprobe = min(cfg.ivf_nprobe, nlist)
    else:
        raise ValueError(f"index kind {cfg.kind!r} is not one of {KINDS}")
    index.add(xb)
    return index


def build_subset_index(vectors: np.ndarray, rows: np.ndarray):  # -> faiss.Index
    """An exact inner-product index over ``vectors[rows]`` that answers with the rows'
    indices (catalogue indices), not their positions in the subset."""
    import faiss

    xb = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    index = faiss.IndexIDMap(faiss.IndexFlatIP(vectors.shape[1]))
    index.add_with_ids(xb, np.asarray(rows, dtype=np.int64))
    return index


def search(index, queries: np.ndarray, k: int,
           exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by inner product, dropping ``exclude[i]`` (the trigger) from row i.

    Returns items (n_queries, k) int32 padded with -1, scores (n_queries, k) float32
    with NaN in padding.
    """
    xq = np.ascontiguousarray(queries, dtype=np.float32)  # (q, d)
    if index.ntotal == 0:
        return (np.full((xq.shape[0], k), PAD, dtype=np.int32),
                np.full((xq.shape[0], k), np.nan, dtype=np.float32))
    extra = 0 if exclude is None else 1
    scores, items = index.search(xq, min(k + extra, index.ntotal))  # (q, k + 1)
    if exclude is not None:
        drop = items == np.asarray(exclude)[:, None]
        # Keep the first k entries of each row that are not the trigger.
        order = np.argsort(drop, axis=1, kind="stable")
        items = np.take_along_axis(items, order, axis=1)
        scores = np.take_along_axis(scores, order, axis=1)
        items[np.take_along_axis(drop, order, axis=1)] = PAD
        items, scores = items[:, :k], scores[:, :k]
    out_items = np.full((xq.shape[0], k), PAD, dtype=np.int32)
    out_scores = np.full((xq.shape[0], k), np.nan, dtype=np.float32)
    width = items.shape[1]
    out_items[:, :width] = items
    out_scores[:, :width] = scores
    missing = out_items < 0  # faiss pads with -1 too when fewer results exist
    out_scores[missing] = np.nan
    return out_items, out_scores


def recall_against_exact(vectors: np.ndarray, cfg: IndexConfig, k: int = 50,
                         sample: int = 1000, seed: int = 0,
                         queries: np.ndarray | None = None) -> float:
    """Share of the exact top-k that the configured index also returns (1.0 for flat).

    The queries are a sample of the indexed items, as ``queries`` (their trigger-side
    vectors, same rows as ``vectors``) when given.
    """
    queries = vectors if queries is None else queries
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)
    exact, _ = search(build_index(vectors, IndexConfig(kind="flat")), queries[rows], k, rows)
    approx, _ = search(build_index(vectors, cfg), queries[rows], k, rows)
    hits = sum(len(set(e[e >= 0]) & set(a[a >= 0])) for e, a in zip(exact, approx, strict=True))
    total = int((exact >= 0).sum())
    return hits / total if total else 1.0


def save_index(index, path: str | Path) -> None:
    import faiss

    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))


def load_index(path: str | Path):
    import faiss

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: index not found; run `dvc repro` first")
    return faiss.read_index(str(path))
