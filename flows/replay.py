"""Replay mode: MovieLens-1M fed in time slices, so successive runs see the data grow.

Each call of :func:`advance` moves a cursor one slice (``replay.step_days``) forward and
writes every interaction before it, in the source file's order, plus the items they
reference, to ``replay.out_dir``. Runs therefore see more interactions, a growing
catalogue and fresh items, and promotion decisions compare models on real change.
The cursor lives in ``replay.json`` next to the files. Once the cursor passes the last
interaction the files stop changing, and the retraining flow skips.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from flows.settings import ReplayConfig
from mtmh.data import DataError, atomic_path, movielens_1m, movielens_100k

logger = logging.getLogger(__name__)

DAY = 86_400
SOURCES = {"ml-1m": movielens_1m, "ml-100k": movielens_100k}
CURSOR_FILE = "replay.json"


@dataclass
class ReplaySlice:
    """What one step of the replay wrote."""

    interactions: str
    items: str
    step: int
    end: int                # interactions with timestamp < end are in the files
    n_interactions: int
    n_items: int
    new_items: int          # items first seen in this slice
    exhausted: bool         # the whole source is in the files


def load_source(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bundled dataset to replay, in the generic form."""
    if name not in SOURCES:
        raise DataError(f"replay.source {name!r} is unknown; choose one of {sorted(SOURCES)}")
    return SOURCES[name]()


def advance(cfg: ReplayConfig, source: tuple[pd.DataFrame, pd.DataFrame] | None = None
            ) -> ReplaySlice:
    """Write the next slice of the source to ``cfg.out_dir``; return what it holds.

    Parameters
    ----------
    cfg
        The ``replay:`` section.
    source
        ``(interactions, items)`` to replay instead of ``cfg.source`` (e.g. a sample).
    """
    if cfg.start_days <= 0 or cfg.step_days <= 0:
        raise ValueError(f"replay.start_days and replay.step_days must be positive; got "
                         f"{cfg.start_days} and {cfg.step_days}")
    inter, items = source if source is not None else load_source(cfg.source)
    out = Path(cfg.out_dir)
    cursor_path = out / CURSOR_FILE
    previous = json.loads(cursor_path.read_text()) if cursor_path.exists() else None
    first = int(inter["timestamp"].min())
    last = int(inter["timestamp"].max())
    if previous is None:
        step, end = 0, first + cfg.start_days * DAY
    else:
        step, end = int(previous["step"]) + 1, int(previous["end"]) + cfg.step_days * DAY
    end = min(end, last + 1)

    shown = inter[inter["timestamp"] < end]
    seen = set(shown["item_id"])
    catalogue = items[items["item_id"].isin(seen)]
    before = int(previous["n_items"]) if previous else 0
    inter_path, items_path = out / "interactions.csv", out / "items.csv"
    for frame, path in ((shown, inter_path), (catalogue, items_path)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, lineterminator="\n")
    result = ReplaySlice(interactions=str(inter_path), items=str(items_path), step=step,
                         end=end, n_interactions=len(shown), n_items=len(catalogue),
                         new_items=len(catalogue) - before, exhausted=end > last)
    with atomic_path(cursor_path) as tmp:
        tmp.write_text(json.dumps(asdict(result), indent=2) + "\n")
    logger.info("replay step %d: %d interactions before %s, %d items (%d new)%s", step,
                result.n_interactions, pd.to_datetime(end, unit="s"), result.n_items,
                result.new_items, "; the source is exhausted" if result.exhausted else "")
    return result
