"""Metrics tables and the recall-versus-relevance plot."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mtmh.data import atomic_path

logger = logging.getLogger(__name__)

METRICS_PATH = Path("reports/metrics.json")
TRADEOFF_CSV = Path("reports/tradeoff.csv")
TRADEOFF_PNG = Path("reports/tradeoff.png")
TABLE_COLUMNS = ("recall@10", "recall@50", "recall@100", "relevance_rate@50",
                 "genre_jaccard@50", "genre_rate@50", "coverage@50", "mean_popularity@50",
                 "diversity@50", "fresh_recall@50")

Metrics = Mapping[str, Mapping[str, float]]


def write_metrics(metrics: Metrics, path: str | Path = METRICS_PATH) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, sort_keys=False) + "\n")


def read_metrics(path: str | Path = METRICS_PATH) -> dict[str, dict[str, float]]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no metrics yet; run `dvc repro` (or `make run`) first")
    return json.loads(path.read_text())


def metrics_frame(metrics: Metrics, columns: Sequence[str] = TABLE_COLUMNS) -> pd.DataFrame:
    """One row per method, the chosen metrics as columns (missing ones left empty)."""
    frame = pd.DataFrame.from_dict({m: dict(v) for m, v in metrics.items()}, orient="index")
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

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def write_tradeoff(metrics: Metrics, *, k: int = 50, csv_path: str | Path = TRADEOFF_CSV,
                   png_path: str | Path = TRADEOFF_PNG) -> None:
    """Recall@k against relevance rate@k for every method: a CSV for DVC and a PNG."""
    recall, relevance = f"recall@{k}", f"relevance_rate@{k}"
    frame = metrics_frame(metrics, [recall, relevance]).rename_axis("method").reset_index()
    with atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=False)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(frame[recall], frame[relevance], color="tab:blue", zorder=3)
    for _, row in frame.iterrows():
        ax.annotate(row["method"], (row[recall], row[relevance]), textcoords="offset points",
                    xytext=(5, 4), fontsize=9)
    ax.set_xlabel(f"Recall@{k} (engagement)")
    ax.set_ylabel(f"Relevance rate@{k} (content cosine >= 0.5)")
    ax.set_title("Recall against relevance, test split")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    logger.info("wrote %s and %s", csv_path, png_path)
