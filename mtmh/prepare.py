"""Turn validated input files into the catalogue, the protocol split and the pairs.

Everything downstream addresses items by their catalogue index: the row of the item in
the items file. Original ids are kept in the catalogue and only used at the edges (the
command line and exports).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtmh import protocol
from mtmh.config import Params
from mtmh.data import atomic_path, drop_orphans, load_frames, split_genres
from mtmh.layout import DEFAULT

logger = logging.getLogger(__name__)


@dataclass
class Prepared:
    """The prepared data set; see :func:`prepare` for what each frame holds."""

    items: pd.DataFrame
    interactions: pd.DataFrame
    train_pairs: pd.DataFrame
    valid_pairs: pd.DataFrame
    test_pairs: pd.DataFrame
    summary: dict

    @property
    def n_items(self) -> int:
        return len(self.items)

    def train_counts(self) -> np.ndarray:
        """Train interactions per catalogue item, shape (n_items,)."""
        return self.items["train_count"].to_numpy(np.int64)

    def genre_sets(self) -> list[frozenset[str]]:
        return [frozenset(g) for g in self.items["genre_list"]]


def build_catalog(items: pd.DataFrame) -> pd.DataFrame:
    """Catalogue in items-file order: ``item`` index, original id, title, genre list."""
    catalog = items.reset_index(drop=True).copy()
    catalog.insert(0, "item", np.arange(len(catalog), dtype=np.int32))
    genres = catalog["genres"] if "genres" in catalog else pd.Series([None] * len(catalog))
    catalog["genre_list"] = [split_genres(g) for g in genres]
    return catalog


def prepare_frames(inter: pd.DataFrame, items: pd.DataFrame, params: Params) -> Prepared:
    """Catalogue, protocol-sorted interactions with split codes, and the three pair sets."""
    if params.data.drop_orphans:
        inter = drop_orphans(inter, items)
    catalog = build_catalog(items)
    index = pd.Index(catalog["item_id"])
    codes = index.get_indexer(inter["item_id"])
    if (codes < 0).any():
        missing = inter.loc[codes < 0, "item_id"].unique()[:5].tolist()
        raise ValueError(f"{int((codes < 0).sum())} interactions name items missing from the "
                         f"items file, e.g. {missing}; run validation first")

    frame = pd.DataFrame({"user_id": inter["user_id"].to_numpy(),
                          "item": codes.astype(np.int32),
                          "timestamp": inter["timestamp"].to_numpy(np.int64)})
    frame = protocol.stable_sort(frame)
    points = protocol.split_points(frame["timestamp"].to_numpy())
    frame["split"] = points.assign(frame["timestamp"].to_numpy())

    train = frame["split"].to_numpy() == protocol.TRAIN
    catalog["train_count"] = np.bincount(frame.loc[train, "item"], minlength=len(catalog))
    catalog["total_count"] = np.bincount(frame["item"], minlength=len(catalog))

    train_pairs = protocol.training_pairs(frame, window=params.pairs.window,
                                          max_gap=params.pairs.max_gap)
    valid_pairs = protocol.evaluation_pairs(frame, protocol.VALID)
    test_pairs = protocol.evaluation_pairs(frame, protocol.TEST)

    fresh = catalog["train_count"].to_numpy() == 0
    summary = {
        "n_interactions": int(len(frame)),
        "n_users": int(frame["user_id"].nunique()),
        "n_items": int(len(catalog)),
        "valid_start": points.valid_start,
        "test_start": points.test_start,
        "split_sizes": {protocol.SPLIT_NAMES[s]: int((frame["split"] == s).sum())
                        for s in protocol.SPLIT_NAMES},
        "n_train_pairs": int(len(train_pairs)),
        "n_valid_pairs": int(len(valid_pairs)),
        "n_test_pairs": int(len(test_pairs)),
        "n_fresh_items": int(fresh.sum()),
        "n_test_pairs_fresh_target": int(fresh[test_pairs["b"].to_numpy()].sum()),
    }
    logger.info("split at %.0f / %.0f: %s interactions; %d train, %d valid, %d test pairs",
                points.valid_start, points.test_start, summary["split_sizes"],
                len(train_pairs), len(valid_pairs), len(test_pairs))
    return Prepared(catalog, frame, train_pairs, valid_pairs, test_pairs, summary)


def prepare(params: Params) -> Prepared:
    """Read the files named in ``params`` and prepare them."""
    inter, items = load_frames(params.data)
    return prepare_frames(inter, items, params)


_FILES = ("items", "interactions", "train_pairs", "valid_pairs", "test_pairs")


def save_prepared(prep: Prepared, out_dir: str | Path = DEFAULT.prepared) -> None:
    """Write each frame as Parquet and the summary as JSON, each file atomically."""
    out_dir = Path(out_dir)
    for name in _FILES:
        frame = getattr(prep, name)
        if name == "items":
            frame = frame.assign(genre_list=frame["genre_list"].map("|".join))
        with atomic_path(out_dir / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp, index=False)
    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(prep.summary, indent=2) + "\n")


def load_prepared(in_dir: str | Path = DEFAULT.prepared) -> Prepared:
    """Read what :func:`save_prepared` wrote; a clear error when the stage has not run."""
    in_dir = Path(in_dir)
    missing = [n for n in _FILES if not (in_dir / f"{n}.parquet").exists()]
    if missing:
        raise FileNotFoundError(f"{in_dir}: prepared data not found ({', '.join(missing)}); "
                                "run `dvc repro` (or `make run`) first")
    frames = {n: pd.read_parquet(in_dir / f"{n}.parquet") for n in _FILES}
    items = frames["items"]
    items["genre_list"] = items["genre_list"].map(lambda s: s.split("|") if s else [])
    summary = json.loads((in_dir / "summary.json").read_text())
    return Prepared(summary=summary, **frames)
