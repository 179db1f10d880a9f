"""Multi-head retrieval: one index per head, per-head lists, and the merged list.

A trained encoder gives every item one L2-normalised vector per head. Each head gets
its own index; a trigger's list of K is built from the heads' lists by
:func:`mtmh.merge.merge_lists` with the serving shares, which can change without
retraining. Catalogue triggers and fresh items (text only) go through the same path.

Fresh items (no train interactions) rank low in engagement heads: their ID input is the
shared unknown row. ``serving.fresh_share`` keeps a share of every merged list for them,
filled from one head's ranking of the fresh items alone (:func:`search_fresh`,
:func:`add_fresh`); 0, the default, serves the merged list as it is.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mtmh.config import ConfigError, build_section
from mtmh.data import atomic_path
from mtmh.index import (
    IndexConfig,
    build_index,
    build_subset_index,
    load_index,
    recall_against_exact,
    save_index,
)
from mtmh.index import search as index_search
from mtmh.merge import merge_lists, reserve_share
from mtmh.metrics import PAD
from mtmh.neighbors import Neighbors

if TYPE_CHECKING:
    from mtmh.model import ItemEncoder

logger = logging.getLogger(__name__)


@dataclass
class ServingConfig:
    """The ``serving:`` section of ``params.yaml``.

    ``shares``: one per head, in head order; ``None`` takes each head's ``share``.
    ``share_sweep``: engagement-head shares scored for the trade-off figure.
    ``fresh_share``: share of each merged list kept for fresh items (no train
    interactions), spread evenly over the list; 0 turns it off.
    ``fresh_head``: the head whose ranking of the fresh items fills those slots;
    ``None``: the model's head with the largest serving share (in ``model.heads``), the
    engagement head by default; one-head models use their head.
    """

    k: int = 100
    merge: str = "rrf"          # chosen on validation pairs (scripts/merge_choice.py)
    rrf_k: float = 60.0
    shares: list[float] | None = None
    index: IndexConfig = field(default_factory=IndexConfig)
    share_sweep: list[float] = field(
        default_factory=lambda: [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    fresh_share: float = 0.0
    fresh_head: str | None = None


def serving_config(raw: dict | None) -> ServingConfig:
    cfg = build_section(ServingConfig, raw, "serving")
    if not 0.0 <= cfg.fresh_share < 1.0:
        raise ConfigError(f"serving.fresh_share must be in [0, 1) (0: no slots kept for "
                          f"fresh items), got {cfg.fresh_share}")
    return cfg


def fresh_head_index(heads: list, name: str | None) -> int:
    """Which of a model's heads (``HeadConfig`` list) ranks fresh items for their slots.

    ``None``: the head with the largest share. A one-head model (an ablation) uses its
    head whatever the name; a multi-head model without a head of that name is an error.
    """
    names = [h.name for h in heads]
    if name in names:
        return names.index(name)
    if name is not None and len(names) > 1:
        raise ConfigError(f"serving.fresh_head {name!r} is not a head of this model; its "
                          f"heads are {names} (null: the head with the largest share)")
    return int(np.argmax([h.share for h in heads]))  # the first of the largest share


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


def search_fresh(index, queries: np.ndarray, k: int,  # index: faiss.Index
                 exclude: np.ndarray | None = None) -> Neighbors:
    """Top-k of a fresh-item index (:func:`mtmh.index.build_subset_index` over the fresh
    items, answering catalogue indices) for (n_q, d) queries, ``exclude[i]`` dropped from
    row i; PAD/NaN where fewer fresh items exist."""
    items, scores = index_search(index, queries, k, exclude)
    return Neighbors(items, scores)


def add_fresh(merged: Neighbors, fresh: Neighbors, share: float, head: int, k: int,
              triggers: np.ndarray | None = None) -> Neighbors:
    """``merged`` (a merged list, with its ``source``) with a ``share`` of its k slots
    given to ``fresh``'s items (see :func:`mtmh.merge.reserve_share`); those entries keep
    their score and are credited to ``head``, the head that ranked them."""
    items, from_fresh, column = reserve_share(merged.items, fresh.items, share, k, triggers)
    rows = np.arange(items.shape[0])[:, None]
    at = np.maximum(column, 0)
    scores = np.where(from_fresh, fresh.scores[rows, np.minimum(at, fresh.k - 1)],
                      merged.scores[rows, np.minimum(at, merged.k - 1)])
    source = np.where(from_fresh, head, merged.source[rows, np.minimum(at, merged.k - 1)])
    pad = items == PAD
    scores[pad] = np.nan
    source[pad] = PAD
    logger.info("fresh slots: %.0f%% of each list; %.1f of its %d entries on average came "
                "from them", 100 * share, float(from_fresh.sum(axis=1).mean()), k)
    return Neighbors(items, scores, source)


@dataclass
class ModelLists:
    """Everything served from one trained model: per-head and merged lists.

    ``fresh``: the fresh-slot head's ranking of the fresh items per trigger, when
    ``serving.fresh_share`` > 0 (already merged into ``merged``), else ``None``; with it,
    ``fresh_index``, that head's index over the fresh items, which serving queries too.
    """

    head_names: list[str]
    heads: HeadLists
    merged: Neighbors
    shares: np.ndarray
    index_recall: dict[str, float]
    fresh: Neighbors | None = None
    fresh_head: int | None = None
    fresh_index: object | None = None  # faiss.Index


def lists_for_catalogue(embeddings: np.ndarray, head_names: list[str],
                        head_shares: list[float], cfg: ServingConfig,
                        queries: np.ndarray | None = None, *, fresh: np.ndarray | None = None,
                        fresh_head: int = 0) -> tuple[ModelLists, list]:
    """Indexes over all items and each item's lists as a trigger (itself excluded).

    ``embeddings`` (H, n_items, d) are indexed; ``queries``, the same items' trigger-side
    vectors (an asymmetric model), search them; ``None``: the embeddings themselves.
    ``fresh`` (n_items,) bool marks the items without train interactions: with
    ``cfg.fresh_share`` > 0, head ``fresh_head``'s ranking of them fills that share of
    each merged list.
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
    fresh_lists = fresh_index = None
    if cfg.fresh_share > 0 and fresh is not None:
        logger.info("%d fresh items (no train interactions) ranked by head %s for %.0f%% "
                    "of each list", int(fresh.sum()), head_names[fresh_head],
                    100 * cfg.fresh_share)
        fresh_index = build_subset_index(embeddings[fresh_head], np.flatnonzero(fresh))
        fresh_lists = search_fresh(fresh_index, queries[fresh_head], cfg.k, exclude=triggers)
        merged = add_fresh(merged, fresh_lists, cfg.fresh_share, fresh_head, cfg.k, triggers)
    recall = {}
    if cfg.index.kind != "flat":
        for h, name in enumerate(head_names):
            recall[name] = recall_against_exact(embeddings[h], cfg.index, k=min(50, cfg.k),
                                                queries=queries[h])
            logger.info("%s index of head %s: recall@50 against exact search %.4f",
                        cfg.index.kind, name, recall[name])
    return ModelLists(head_names, heads, merged, shares, recall, fresh_lists,
                      fresh_head if fresh_lists is not None else None, fresh_index), indexes


def model_lists(model: ItemEncoder, cfg: ServingConfig) -> tuple[ModelLists, list]:
    """:func:`lists_for_catalogue` for a trained ``ItemEncoder``: its vectors, head names
    and shares, and its fresh items (those it met without train interactions)."""
    embeddings, queries = model.catalogue_vectors()  # (H, n_items, d) each
    heads = model.cfg.heads
    return lists_for_catalogue(embeddings, [h.name for h in heads], [h.share for h in heads],
                               cfg, queries, fresh=~model.known.numpy(),
                               fresh_head=fresh_head_index(heads, cfg.fresh_head))


FRESH_INDEX = "_fresh.faiss"


def fresh_ranking(model: ItemEncoder, head: int, k: int) -> Neighbors:
    """Head ``head``'s top-k among the model's fresh items for every catalogue trigger (the
    trigger excluded): what :func:`add_fresh` or :func:`mtmh.merge.reserve_share` takes
    to try fresh shares on one trained model without serving it again."""
    embeddings, queries = model.catalogue_vectors()
    index = build_subset_index(embeddings[head], np.flatnonzero(~model.known.numpy()))
    return search_fresh(index, queries[head], k, exclude=np.arange(model.n_items))


def save_indexes(indexes: list, head_names: list[str], out_dir: str | Path,
                 meta: dict, fresh_index: object | None = None) -> None:
    """Write one ``<head>.faiss`` per head, the fresh-item index when there is one, and
    ``index.json`` (names, shares, settings)."""
    out_dir = Path(out_dir)
    for index, name in zip(indexes, head_names, strict=True):
        save_index(index, out_dir / f"{name}.faiss")
    if fresh_index is not None:
        save_index(fresh_index, out_dir / FRESH_INDEX)
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
