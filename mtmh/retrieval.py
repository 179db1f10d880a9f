"""Multi-head retrieval: one index per head, per-head lists, and the merged list.

A trained encoder gives every item one L2-normalised vector per head. Each head gets
its own index; a trigger's list of K is built from the heads' lists by
:func:`mtmh.merge.merge_lists` with the serving shares, which can change without
retraining. Catalogue triggers and fresh items (text only) go through the same path.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtmh.config import build_section
from mtmh.data import atomic_path
from mtmh.index import IndexConfig, build_index, load_index, recall_against_exact, save_index
from mtmh.index import search as index_search
from mtmh.merge import merge_lists
from mtmh.metrics import PAD
from mtmh.neighbors import Neighbors

logger = logging.getLogger(__name__)


@dataclass
class ServingConfig:
    """The ``serving:`` section of ``params.yaml``.

    ``shares``: one per head, in head order; ``None`` takes each head's ``share``.
    ``share_sweep``: engagement-head shares scored for the trade-off figure.
    """

    k: int = 100
    merge: str = "rrf"          # chosen on validation pairs (scripts/merge_choice.py)
    rrf_k: float = 60.0
    shares: list[float] | None = None
    index: IndexConfig = field(default_factory=IndexConfig)
    share_sweep: list[float] = field(
        default_factory=lambda: [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])


def serving_config(raw: dict | None) -> ServingConfig:
    return build_section(ServingConfig, raw, "serving")


def resolve_shares(head_shares: list[float], shares: list[float] | None) -> np.ndarray:
    """The serving shares, normalised to sum to 1; one per head."""
    chosen = np.asarray(head_shares if shares is None else shares, dtype=np.float64)
    if chosen.shape != (len(head_shares),):
        raise ValueError(f"serving.shares has {chosen.size} values; the model has "
                         f"{len(head_shares)} heads")
    if (chosen < 0).any() or chosen.sum() <= 0:
        raise ValueError(f"serving.shares must be non-negative with a positive sum, got "
                         f"{chosen.tolist()}")
    return chosen / chosen.sum()


def engagement_shares(share: float, n_heads: int) -> list[float]:
    """Shares that give the first (engagement) head ``share`` and split the rest evenly."""
    if n_heads == 1:
        return [1.0]
    rest = (1.0 - share) / (n_heads - 1)
    return [share, *([rest] * (n_heads - 1))]


@dataclass
class HeadLists:
    """Each head's own top-k: items (H, n, k) int64 with PAD, scores (H, n, k) float32."""

    items: np.ndarray
    scores: np.ndarray

    def head(self, h: int) -> Neighbors:
        return Neighbors(self.items[h], self.scores[h])


def build_head_indexes(embeddings: np.ndarray, cfg: IndexConfig) -> list:
    """One index per head over (H, n_items, d) item embeddings."""
    return [build_index(embeddings[h], cfg) for h in range(embeddings.shape[0])]


def search_heads(indexes: list, queries: np.ndarray, k: int,
                 exclude: np.ndarray | None = None) -> HeadLists:
    """Each head's top-k for (H, n_queries, d) query vectors, ``exclude[i]`` dropped."""
    items, scores = [], []
    for h, index in enumerate(indexes):
        got, sc = index_search(index, queries[h], k, exclude)  # (n_queries, k)
        items.append(got.astype(np.int64))
        scores.append(sc)
    return HeadLists(np.stack(items), np.stack(scores))


def merge_heads(lists: HeadLists, queries: np.ndarray, items_emb: np.ndarray,
                shares: np.ndarray, cfg: ServingConfig,
                triggers: np.ndarray | None = None) -> Neighbors:
    """The merged list of K per query; each entry's score is its finding head's cosine.

    queries: (H, n_queries, d); items_emb: (H, n_items, d).
    """
    merged, source = merge_lists(lists.items, shares, cfg.k, method=cfg.merge,
                                 triggers=triggers, rrf_k=cfg.rrf_k)  # (n_queries, K) each
    valid = merged != PAD
    heads = np.where(valid, source, 0)
    cand = items_emb[heads, np.where(valid, merged, 0)]  # (n_queries, K, d)
    query = queries[heads, np.arange(merged.shape[0])[:, None]]  # (n_queries, K, d)
    scores = np.einsum("qkd,qkd->qk", query, cand).astype(np.float32)
    scores[~valid] = np.nan
    return Neighbors(merged, scores, np.where(valid, source, PAD))


@dataclass
class ModelLists:
    """Everything served from one trained model: per-head and merged lists."""

    head_names: list[str]
    heads: HeadLists
    merged: Neighbors
    shares: np.ndarray
    index_recall: dict[str, float]


def lists_for_catalogue(embeddings: np.ndarray, head_names: list[str],
                        head_shares: list[float], cfg: ServingConfig,
                        queries: np.ndarray | None = None) -> tuple[ModelLists, list]:
    """Indexes over all items and each item's lists as a trigger (itself excluded).

    ``embeddings`` (H, n_items, d) are indexed; ``queries``, the same items' trigger-side
    vectors (an asymmetric model), search them; ``None``: the embeddings themselves.
    """
    n_items = embeddings.shape[1]
    queries = embeddings if queries is None else queries
    if queries.shape != embeddings.shape:
        raise ValueError(f"queries have shape {queries.shape}; expected {embeddings.shape}")
    indexes = build_head_indexes(embeddings, cfg.index)
    triggers = np.arange(n_items)
    heads = search_heads(indexes, queries, cfg.k, exclude=triggers)
    shares = resolve_shares(head_shares, cfg.shares)
    merged = merge_heads(heads, queries, embeddings, shares, cfg, triggers)
    recall = {}
    if cfg.index.kind != "flat":
        for h, name in enumerate(head_names):
            recall[name] = recall_against_exact(embeddings[h], cfg.index, k=min(50, cfg.k),
                                                queries=queries[h])
            logger.info("%s index of head %s: recall@50 against exact search %.4f",
                        cfg.index.kind, name, recall[name])
    return ModelLists(head_names, heads, merged, shares, recall), indexes


def save_indexes(indexes: list, head_names: list[str], out_dir: str | Path,
                 meta: dict) -> None:
    """Write one ``<head>.faiss`` per head and ``index.json`` (names, shares, settings)."""
    out_dir = Path(out_dir)
    for index, name in zip(indexes, head_names, strict=True):
        save_index(index, out_dir / f"{name}.faiss")
    with atomic_path(out_dir / "index.json") as tmp:
        tmp.write_text(json.dumps({"heads": head_names, **meta}, indent=2) + "\n")


def load_indexes(in_dir: str | Path) -> tuple[list, dict]:
    """The indexes :func:`save_indexes` wrote, in head order, and their ``index.json``."""
    in_dir = Path(in_dir)
    meta_path = in_dir / "index.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path}: model index not found; run `dvc repro` first")
    meta = json.loads(meta_path.read_text())
    return [load_index(in_dir / f"{name}.faiss") for name in meta["heads"]], meta
