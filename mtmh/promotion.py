"""Champion/challenger: may a freshly trained model replace the one being served?

The challenger replaces the champion only when each watched metric is no worse than the
champion's by more than its tolerance, both measured on the same (current) test split.
Old champions were trained on an older catalogue, so their lists are first carried over
to the current catalogue by item id (:func:`remap_lists`). Pure Python and numpy: the
flow that calls this lives in ``flows/``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mtmh.metrics import PAD

logger = logging.getLogger(__name__)

# Recall@50's standard error on ML-1M's ~90k test pairs is about 0.0015: a drop smaller
# than a few of those is noise, not a worse model.
DEFAULT_TOLERANCES: dict[str, float] = {"recall@50": 0.005, "relevance_rate@50": 0.01}


class PromotionError(ValueError):
    """Metrics or tolerances that cannot be compared; the message says which."""


@dataclass(frozen=True)
class MetricCheck:
    """One watched metric: the challenger may trail the champion by ``tolerance`` at most."""

    metric: str
    challenger: float
    champion: float
    tolerance: float

    @property
    def delta(self) -> float:
        """Challenger minus champion (positive: the challenger is better)."""
        return self.challenger - self.champion

    @property
    def passed(self) -> bool:
        # A hair of float slack so that identical models always pass at tolerance 0.
        return self.delta >= -self.tolerance - 1e-12

    def describe(self) -> str:
        verdict = "ok" if self.passed else "WORSE"
        return (f"{self.metric}: challenger {self.challenger:.4f} vs champion "
                f"{self.champion:.4f} ({self.delta:+.4f}, tolerance {self.tolerance:g}): "
                f"{verdict}")


@dataclass(frozen=True)
class Decision:
    """The verdict, the reason in one sentence, and every metric that led to it."""

    promote: bool
    reason: str
    checks: list[MetricCheck] = field(default_factory=list)

    def as_rows(self) -> list[dict[str, float | str]]:
        """One row per watched metric, for a table."""
        return [{"metric": c.metric, "challenger": round(c.challenger, 6),
                 "champion": round(c.champion, 6), "delta": round(c.delta, 6),
                 "tolerance": c.tolerance, "verdict": "ok" if c.passed else "worse"}
                for c in self.checks]


def check_tolerances(tolerances: Mapping[str, float]) -> dict[str, float]:
    """Tolerances as ``{metric: float}``; each must be a finite number >= 0."""
    if not isinstance(tolerances, Mapping) or not tolerances:
        raise PromotionError(f"orchestration.tolerance must map metric names to allowed drops, "
                             f"e.g. {DEFAULT_TOLERANCES}; got {tolerances!r}")
    out = {}
    for metric, value in tolerances.items():
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value < 0:
            raise PromotionError(f"orchestration.tolerance.{metric}: expected a number >= 0 "
                                 f"(the largest allowed drop), got {value!r}")
        out[str(metric)] = float(value)
    return out


def compare(challenger: Mapping[str, float], champion: Mapping[str, float] | None,
            tolerances: Mapping[str, float]) -> Decision:
    """Decide whether ``challenger`` replaces ``champion``.

    Parameters
    ----------
    challenger, champion
        ``{metric: value}`` on the same test split; higher is better for every watched
        metric. ``champion`` is None when no model is being served yet: then the
        challenger is promoted.
    tolerances
        ``{metric: largest allowed drop}``; its keys are the watched metrics.
    """
    tolerances = check_tolerances(tolerances)
    missing = [m for m in tolerances if m not in challenger]
    if missing:
        raise PromotionError(f"the challenger's metrics lack {missing}; it has "
                             f"{sorted(challenger)}")
    if champion is None:
        return Decision(True, "no champion yet: the first model becomes the champion")
    missing = [m for m in tolerances if m not in champion]
    if missing:
        raise PromotionError(f"the champion's metrics lack {missing}; it has {sorted(champion)}")

    checks = [MetricCheck(m, float(challenger[m]), float(champion[m]), tol)
              for m, tol in tolerances.items()]
    worse = [c for c in checks if not c.passed]
    if worse:
        reason = "kept the champion: " + "; ".join(c.describe() for c in worse)
        return Decision(False, reason, checks)
    return Decision(True, "promoted: " + "; ".join(c.describe() for c in checks), checks)


def remap_lists(lists: np.ndarray, old_ids: Sequence, new_ids: Sequence) -> np.ndarray:
    """Carry top-K lists from an older catalogue over to the current one, by item id.

    Parameters
    ----------
    lists
        (n_old, k) catalogue indices of the old catalogue, PAD-padded at the end.
    old_ids, new_ids
        Item ids of the old and the current catalogue, in index order. Ids are compared
        as strings, so ``7`` and ``"7"`` are the same item.

    Returns
    -------
    (n_new, k) int32 lists in current indices. A current item the old catalogue lacks gets
    an empty list (the old model cannot answer for it); old items gone from the current
    catalogue are dropped and the rest moved up.
    """
    lists = np.asarray(lists)
    if lists.ndim != 2 or lists.shape[0] != len(old_ids):
        raise PromotionError(f"lists of shape {lists.shape} do not match an old catalogue of "
                             f"{len(old_ids)} items")
    new_index = {str(item): i for i, item in enumerate(new_ids)}
    old_to_new = np.array([new_index.get(str(item), PAD) for item in old_ids] + [PAD],
                          dtype=np.int64)  # (n_old + 1,): the last slot maps PAD to PAD
    old_index = {str(item): i for i, item in enumerate(old_ids)}
    rows = np.array([old_index.get(str(item), -1) for item in new_ids], dtype=np.int64)

    padded = np.vstack([lists, np.full((1, lists.shape[1]), PAD, dtype=lists.dtype)])
    carried = padded[rows]  # (n_new, k) old indices; unknown triggers read the PAD row
    carried = np.where(carried == PAD, len(old_ids), carried)
    mapped = old_to_new[carried]  # (n_new, k) current indices or PAD
    # Move the entries that survived to the front, keeping their order.
    order = np.argsort(mapped == PAD, axis=1, kind="stable")
    out = np.take_along_axis(mapped, order, axis=1).astype(np.int32)
    dropped = int((mapped == PAD).sum() - (carried == len(old_ids)).sum())
    logger.info("carried lists of %d old items over to %d current ones (%d new items without "
                "a list, %d entries of removed items dropped)", len(old_ids), len(new_ids),
                int((rows < 0).sum()), dropped)
    return out
