"""Answering queries from the pipeline's outputs: item lookup, similar items, exports."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtmh.data import atomic_path
from mtmh.layout import DEFAULT, Layout
from mtmh.metrics import PAD
from mtmh.steps.lists import FRESH, MERGED, neighbors_path

logger = logging.getLogger(__name__)

DEFAULT_METHODS = ("mtmh", "itemcf")
_YEAR = r"\s*\(\d{4}\)\s*$"  # a title's trailing "(1995)"


class UnknownItem(ValueError):
    """No catalogue item matches the query, or several do."""


class UnknownMethod(ValueError):
    """No lists exist for the requested method."""


@dataclass
class Catalog:
    """The catalogue of a run and access to each method's lists.

    ``layout`` locates the run's models, indexes and embeddings, which only
    :meth:`similar_text` needs; the lists come from ``neighbors_dir``.
    """

    items: pd.DataFrame
    neighbors_dir: Path = DEFAULT.neighbors
    layout: Layout = DEFAULT

    @classmethod
    def open(cls, layout: Layout = DEFAULT) -> Catalog:
        """The outputs of the run laid out as ``layout`` (default: the DVC pipeline's)."""
        path = layout.prepared / "items.parquet"
        if not path.exists():
            hint = ("run `make run` (or `dvc repro`) from the repository root first"
                    if layout == DEFAULT else f"is {layout.root} the folder of a finished run? "
                    "The retraining flow's is orchestration.workdir")
            raise FileNotFoundError(f"{path}: pipeline outputs not found; {hint}")
        return cls(pd.read_parquet(path), layout.neighbors, layout)

    def methods(self) -> list[str]:
        """Methods with lists on disk, e.g. ``["als", ..., "mtmh", "mtmh:relevance"]``."""
        found = [p.stem for p in self.neighbors_dir.glob("*.npz")]
        for folder in self.neighbors_dir.glob("*/"):
            found.append(folder.name)
            heads = sorted(p.stem for p in folder.glob("*.npz")
                           if p.stem not in (MERGED, FRESH))
            found += [f"{folder.name}:{h}" for h in heads]
        return sorted(found)

    def default_method(self) -> str:
        available = self.methods()
        for method in DEFAULT_METHODS:
            if method in available:
                return method
        if not available:
            raise FileNotFoundError(f"{self.neighbors_dir}: no method lists found; run "
                                    "`make run` first")
        return available[0]

    def resolve(self, query: str) -> int:
        """Catalogue index of the item whose id is ``query``, or whose title contains it.

        A fragment that matches several titles raises :class:`UnknownItem` listing them,
        unless exactly one title equals the fragment (case-insensitive), with or without
        a trailing "(year)": "Toy Story" is "Toy Story (1995)", not "Toy Story 2 (1999)".
        """
        ids = self.items["item_id"].astype(str)
        exact = np.flatnonzero((ids == query).to_numpy())
        if exact.size == 1:
            return int(exact[0])
        titles = self.items["title"].fillna("").astype(str)
        found = np.flatnonzero(titles.str.contains(query, case=False, regex=False).to_numpy())
        if found.size == 1:
            return int(found[0])
        if found.size == 0:
            raise UnknownItem(f"no item has id {query!r} or a title containing it")
        candidates = titles.iloc[found].str.lower()
        wanted = query.strip().lower()
        for names in (candidates, candidates.str.replace(_YEAR, "", regex=True)):
            same = found[(names.str.strip() == wanted).to_numpy()]
            if same.size == 1:
                return int(same[0])
        shown = "; ".join(self.label(i) for i in found[:10])
        more = f" and {found.size - 10} more" if found.size > 10 else ""
        raise UnknownItem(f"{query!r} matches {found.size} items: {shown}{more}; "
                          "give the id or a longer fragment")

    def label(self, index: int) -> str:
        item_id = self.items["item_id"].iloc[index]
        title = self.items["title"].iloc[index]
        return f"{title}" if str(item_id) == str(title) else f"{title} [{item_id}]"

    def _load(self, method: str):
        from mtmh.neighbors import Neighbors

        path = neighbors_path(method, self.neighbors_dir)
        if not path.exists():
            known = ", ".join(self.methods()) or "none yet; run `make run`"
            raise UnknownMethod(f"no lists for method {method!r} ({path}); available: {known}")
        return Neighbors.load(path)

    def _check_k(self, k: int, available: int, method: str) -> None:
        if k > available:
            raise ValueError(f"--k {k} is more than the {available} items kept per list for "
                             f"{method}; raise baselines.topk in params.yaml and rerun")

    def similar(self, trigger: int, method: str, k: int) -> pd.DataFrame:
        """The top-k of one trigger: rank, item_id, title, genres, score."""
        lists = self._load(method)
        self._check_k(k, lists.items.shape[1], method)
        source = None if lists.source is None else lists.source[trigger, :k]
        return self._rows(lists.items[trigger, :k], lists.scores[trigger, :k], source,
                          self.head_names(method))

    def head_names(self, method: str) -> list[str]:
        """Head names of a model's lists, in the order their ``source`` codes count."""
        path = neighbors_path(method, self.neighbors_dir).parent / "heads.json"
        return json.loads(path.read_text()) if path.exists() else []

    def similar_text(self, text: str, method: str, k: int, embed_cfg) -> pd.DataFrame:
        """The top-k for an item given only by its text (a fresh item, never engaged).

        ``method`` is a trained model (``mtmh``, ``mtmh:HEAD``, an ablation) or ``content``.
        Genres the model knows and a "(year)" in the text feed its side features.
        """
        import re

        from mtmh.embed import encode_texts, load_embeddings
        from mtmh.index import build_index
        from mtmh.index import search as index_search

        content = encode_texts([text], embed_cfg, progress=False)  # (1, dim)
        if method == "content":
            items, scores = index_search(build_index(load_embeddings(self.layout.embeddings)),
                                         content, k)
            return self._rows(items[0], scores[0], None, [])
        model_name, _, head = method.partition(":")
        checkpoint = self.layout.checkpoint(model_name)
        if not checkpoint.exists():
            raise UnknownMethod(f"--text needs a trained model or `content`; no checkpoint "
                                f"for {model_name!r} ({checkpoint})")
        from mtmh.checkpoint import load_checkpoint
        from mtmh.index import load_index
        from mtmh.merge import merge_lists
        from mtmh.neighbors import Neighbors
        from mtmh.retrieval import (
            FRESH_INDEX,
            add_fresh,
            load_indexes,
            search_fresh,
            search_heads,
        )

        model = load_checkpoint(checkpoint)
        indexes, meta = load_indexes(self.layout.index / model_name)
        names = meta["heads"]
        tokens = set(re.findall(r"[\w'-]+", text))
        genres = [[g for g in model.genre_vocab if g in tokens]]
        year = re.search(r"\((\d{4})\)", text)
        years = np.array([float(year.group(1)) if year else np.nan], dtype=np.float32)
        query = model.embed_content(content, genres, years, side="trigger")  # (H, 1, d)
        lists = search_heads(indexes, query, k)
        if head:
            if head not in names:
                raise UnknownMethod(f"model {model_name!r} has heads {names}, not {head!r}")
            h = names.index(head)
            return self._rows(lists.items[h, 0], lists.scores[h, 0], None, [])
        # The merge the index stage used for the catalogue's lists (older indexes: quota).
        merged, source = merge_lists(lists.items, meta["shares"], k,
                                     method=meta.get("merge", "quota"),
                                     rrf_k=float(meta.get("rrf_k", 60.0)))  # (1, k) each
        score_of = {(h, int(i)): float(sc) for h in range(len(names))
                    for i, sc in zip(lists.items[h, 0], lists.scores[h, 0], strict=True)}
        scores = np.array([score_of.get((int(h), int(i)), np.nan)
                           for h, i in zip(source[0], merged[0], strict=True)], np.float32)
        found = Neighbors(merged, scores[None], source)
        share = float(meta.get("fresh_share", 0.0))
        if share > 0:
            # The index stage's fresh slots: the fresh head's ranking of the fresh items.
            h = names.index(meta["fresh_head"])
            fresh = search_fresh(load_index(self.layout.index / model_name / FRESH_INDEX),
                                 query[h], k)
            found = add_fresh(found, fresh, share, h, k, triggers=np.array([PAD]))
        return self._rows(found.items[0], found.scores[0], found.source[0], names)

    def _rows(self, idx: np.ndarray, scores: np.ndarray, source: np.ndarray | None,
              names: list[str]) -> pd.DataFrame:
        keep = idx != PAD
        rows = self.items.iloc[idx[keep]]
        out = pd.DataFrame({"rank": np.arange(1, int(keep.sum()) + 1),
                            "item_id": rows["item_id"].to_numpy(),
                            "title": rows["title"].to_numpy(),
                            "genres": rows["genre_list"].to_numpy(), "score": scores[keep]})
        if source is not None:
            out["head"] = [names[h] for h in source[keep]]
        if "train_count" in rows:  # items nobody engaged with in training
            out["fresh"] = rows["train_count"].to_numpy() == 0
        return out

    @staticmethod
    def format_rows(rows: pd.DataFrame) -> str:
        if rows.empty:
            return "(no items: this method has no candidates for it, e.g. a fresh item)"
        shown = rows.assign(genres=rows["genres"].map(lambda g: g.replace("|", ", ")),
                            score=rows["score"].map(lambda s: f"{s:.4f}"))
        shown = shown.drop(columns="item_id") if (rows["item_id"].astype(str)
                                                  == rows["title"].astype(str)).all() else shown
        if "fresh" in rows:  # shown only when a listed item is fresh
            shown = (shown.assign(fresh=rows["fresh"].map({True: "yes", False: ""}))
                     if rows["fresh"].any() else shown.drop(columns="fresh"))
        return shown.to_string(index=False)

    def export(self, method: str, k: int, out: str | Path) -> pd.DataFrame:
        """Write trigger, item, rank, score for every catalogue item to Parquet, atomically."""
        out = Path(out)
        if out.suffix.lower() not in (".parquet", ".pq"):
            raise ValueError(f"{out}: the export is written as Parquet; name a .parquet file")
        lists = self._load(method)
        self._check_k(k, lists.items.shape[1], method)
        top = lists.items[:, :k]
        rows, ranks = np.nonzero(top != PAD)
        ids = self.items["item_id"].to_numpy()
        frame = pd.DataFrame({"trigger": ids[rows], "item": ids[top[rows, ranks]],
                              "rank": (ranks + 1).astype(np.int32),
                              "score": lists.scores[:, :k][rows, ranks].astype(np.float32)})
        with atomic_path(out) as tmp:
            frame.to_parquet(tmp, index=False)
        logger.info("exported %d rows of %s to %s", len(frame), method, out)
        return frame
