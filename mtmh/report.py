"""The metrics file and its text table."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mtmh.data import atomic_path
from mtmh.layout import DEFAULT

logger = logging.getLogger(__name__)

TABLE_COLUMNS = ("recall@10", "recall@50", "recall@100", "relevance_rate@50",
                 "genre_jaccard@50", "genre_rate@50", "coverage@50", "mean_popularity@50",
                 "diversity@50", "fresh_recall@50")

RATIOS = "ratios"  # the key in metrics.json that holds ratios, not a method

Metrics = Mapping[str, Mapping[str, float]]


def write_metrics(metrics: Metrics, path: str | Path = DEFAULT.metrics) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, sort_keys=False) + "\n")


def read_metrics(path: str | Path = DEFAULT.metrics) -> dict[str, dict[str, float]]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no metrics yet; run `dvc repro` (or `make run`) first")
    return json.loads(path.read_text())


def metrics_frame(metrics: Metrics, columns: Sequence[str] = TABLE_COLUMNS) -> pd.DataFrame:
    """One row per method, the chosen metrics as columns (missing ones left empty)."""
    frame = pd.DataFrame.from_dict({m: dict(v) for m, v in metrics.items() if m != RATIOS},
                                   orient="index")
    present = [c for c in columns if c in frame.columns]
    return frame[present]


def format_table(metrics: Metrics, columns: Sequence[str] = TABLE_COLUMNS) -> str:
    """A fixed-width text table of the metrics, three decimals."""
    frame = metrics_frame(metrics, columns)
    header = ["method", *frame.columns]
    rows = [[str(m), *(f"{v:.3f}" if pd.notna(v) else "" for v in row)]
            for m, row in zip(frame.index, frame.to_numpy(), strict=True)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    text = "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
    for name, row in (metrics.get(RATIOS) or {}).items():
        text += "\n" + f"{name}: " + ", ".join(f"{k} x{v:.3f}" for k, v in row.items())
    return text
