"""The recall/relevance trade-off: sweeps, Pareto frontiers and the figure.

Two sweeps need no retraining and run in every pipeline run: the serving shares of a
multi-head model (the engagement head's share from 0 to 1) and beta of the item-CF +
content blend. A third, over the relevance weight alpha of a single-head model, needs
one training per point and runs on request (``mtmh sweep-alpha``); its points join the
figure from their file (``Layout.alpha_sweep``, ``reports/sweeps/alpha.json``) while the
fingerprint stored with them matches the run's model settings and data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from mtmh.data import atomic_path
from mtmh.layout import DEFAULT, Layout
from mtmh.merge import merge_lists, reserve_share
from mtmh.metrics import EvalData, evaluate_lists
from mtmh.report import RATIOS

logger = logging.getLogger(__name__)

RECALL, RELEVANCE = "recall@50", "relevance_rate@50"


def point(items: np.ndarray, a: np.ndarray, b: np.ndarray, data: EvalData,
          **labels: float | str) -> dict:
    """Recall@50 and relevance rate@50 of one list set, with its labels."""
    m = evaluate_lists(items, a, b, data, ks=[50])
    return {**labels, RECALL: m[RECALL], RELEVANCE: m[RELEVANCE]}


def share_sweep(head_items: np.ndarray, shares: list[float], a: np.ndarray, b: np.ndarray,
                data: EvalData, *, k: int = 100, merge: str = "quota",
                rrf_k: float = 60.0, fresh: np.ndarray | None = None,
                fresh_share: float = 0.0) -> list[dict]:
    """Merged lists at each engagement-head share: (H, n_items, k_h) head lists in.

    ``fresh`` (n_items, k_f), the served ranking of the fresh items, takes
    ``fresh_share`` of every list as in serving (``serving.fresh_share``).
    """
    from mtmh.retrieval import engagement_shares

    n_heads, n_items, _ = head_items.shape
    triggers = np.arange(n_items)
    out = []
    for share in shares:
        merged, _ = merge_lists(head_items, engagement_shares(share, n_heads), k,
                                method=merge, triggers=triggers, rrf_k=rrf_k)
        if fresh is not None and fresh_share > 0:
            merged, _, _ = reserve_share(merged, fresh, fresh_share, k, triggers)
        out.append(point(merged, a, b, data, share=float(share)))
        logger.info("share %.2f: recall@50 %.4f relevance@50 %.4f", share, out[-1][RECALL],
                    out[-1][RELEVANCE])
    return out


def pareto(points: list[Mapping]) -> list[Mapping]:
    """Points no other point beats on both recall and relevance, by recall descending."""
    ranked = sorted(points, key=lambda p: (-p[RECALL], -p[RELEVANCE]))
    front, best = [], -np.inf
    for p in ranked:
        if p[RELEVANCE] > best:
            front.append(p)
            best = p[RELEVANCE]
    return front


def frontier_gap(model: list[Mapping], reference: list[Mapping]) -> float:
    """Mean relevance gain of the model's frontier over the reference's at equal recall.

    Both frontiers are linearly interpolated on the recall range they share; positive
    means the model's frontier lies above. NaN when the ranges do not overlap.
    """
    def curve(points: list[Mapping]) -> tuple[np.ndarray, np.ndarray]:
        front = sorted(pareto(points), key=lambda p: p[RECALL])
        return np.array([p[RECALL] for p in front]), np.array([p[RELEVANCE] for p in front])

    mx, my = curve(model)
    rx, ry = curve(reference)
    lo, hi = max(mx.min(), rx.min()), min(mx.max(), rx.max())
    if lo >= hi:
        return float("nan")
    grid = np.linspace(lo, hi, 50)
    return float(np.mean(np.interp(grid, mx, my) - np.interp(grid, rx, ry)))


def write_sweeps(sweeps: Mapping[str, list[dict]], *, layout: Layout = DEFAULT) -> None:
    with atomic_path(layout.sweeps) as tmp:
        tmp.write_text(json.dumps(sweeps, indent=2) + "\n")


def write_alpha_sweep(points: list[dict], fingerprint: str, *,
                      layout: Layout = DEFAULT) -> None:
    """The alpha sweep's points with the fingerprint of the settings and data they came
    from (see :func:`read_alpha_sweep`)."""
    with atomic_path(layout.alpha_sweep) as tmp:
        tmp.write_text(json.dumps({"fingerprint": fingerprint, "points": points},
                                  indent=2) + "\n")


def read_alpha_sweep(fingerprint: str, *, layout: Layout = DEFAULT) -> list[dict]:
    """The alpha sweep's points when they came from the settings and data of
    ``fingerprint``; none (with a warning) when the file is of other settings or data, or
    holds no points."""
    path = layout.alpha_sweep
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text())
        points, written = raw["points"], raw["fingerprint"]
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{path}: not an alpha sweep file (expected a JSON object with "
                         f"'fingerprint' and 'points'; `mtmh sweep-alpha` writes one): "
                         f"{err}") from err
    if points and written != fingerprint:
        logger.warning("%s: its %d points come from other model settings or data "
                       "(fingerprint %s, this run %s); not drawn. `mtmh sweep-alpha` "
                       "retrains them.", path, len(points), written, fingerprint)
        return []
    return points


def tradeoff_frame(metrics: Mapping[str, Mapping[str, float]],
                   sweeps: Mapping[str, list[dict]]) -> pd.DataFrame:
    """One row per plotted point: series, label, recall@50, relevance_rate@50."""
    rows = [{"series": "method", "label": m, RECALL: v[RECALL], RELEVANCE: v[RELEVANCE]}
            for m, v in metrics.items() if m != RATIOS and RECALL in v]
    for name, points in sweeps.items():
        for p in points:
            knob = next(k for k in p if k not in (RECALL, RELEVANCE))
            rows.append({"series": name, "label": f"{knob}={p[knob]:g}", RECALL: p[RECALL],
                         RELEVANCE: p[RELEVANCE]})
    return pd.DataFrame(rows)


# Where a point's label may go, tried in order: offset in points, alignment. Labels
# moved further than the first row get a thin line to their point.
_LABEL_SPOTS = tuple(((dx, dy), "left" if dx > 0 else "right", "bottom" if dy > 0 else "top")
                     for dy in (3, -3, 14, -14, 25, -25) for dx in (4, -4))


def _annotate(ax, label: str, x: float, y: float, spot: tuple):  # noqa: ANN001, ANN202
    (dx, dy), ha, va = spot
    line = ({"arrowstyle": "-", "lw": 0.6, "color": "0.4", "shrinkA": 0, "shrinkB": 3}
            if abs(dy) > 3 else None)
    return ax.annotate(label, (x, y), textcoords="offset points", xytext=(dx, dy),
                       fontsize=8, ha=ha, va=va, arrowprops=line)


def place_labels(ax, points: list[tuple[str, float, float]],  # noqa: ANN001
                 markers: list[tuple[float, float]] = ()) -> list:
    """Label each (label, x, y) point of ``ax`` at the first spot of :data:`_LABEL_SPOTS`
    where the text stays inside the axes and covers no label placed before it and no
    plotted point (``points`` and ``markers``) but its own; where every spot covers
    something, at the one that covers the fewest.

    Call it once the axes' limits and layout are final. Returns the labels' boxes in
    display coordinates.
    """
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    dots = [(x, y) for _, x, y in points] + list(markers)
    dot_boxes = [Bbox.from_bounds(px - 6, py - 6, 12, 12)
                 for px, py in ax.transData.transform(dots)] if dots else []
    boxes: list = []
    for i, (label, x, y) in enumerate(points):
        others = boxes + dot_boxes[:i] + dot_boxes[i + 1:]
        costs = []
        for spot in _LABEL_SPOTS:
            text = _annotate(ax, label, x, y, spot)
            box = text.get_window_extent(renderer).padded(2)
            text.remove()
            outside = not (inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1))
            costs.append((100 * outside + sum(box.overlaps(o) for o in others), box))
            if costs[-1][0] == 0:
                break
        best = min(range(len(costs)), key=lambda k: costs[k][0])
        _annotate(ax, label, x, y, _LABEL_SPOTS[best])
        boxes.append(costs[best][1])
    return boxes


def write_figure(metrics: Mapping[str, Mapping[str, float]], sweeps: Mapping[str, list[dict]],
                 *, layout: Layout = DEFAULT) -> None:
    """Recall@50 against relevance rate@50: every method, every sweep point, the frontiers.

    Writes the points as CSV and the figure as PNG, to ``layout.tradeoff_csv|png``.
    """
    csv_path, png_path = layout.tradeoff_csv, layout.tradeoff_png
    frame = tradeoff_frame(metrics, sweeps)
    with atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=False)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6.5))
    methods = frame[frame["series"] == "method"]
    ax.scatter(methods[RECALL], methods[RELEVANCE], color="black", s=22, zorder=4)
    colors = {"mtmh_shares": "tab:red", "blend_beta": "tab:blue", "alpha": "tab:green"}
    titles = {"mtmh_shares": "MTMH, engagement share swept",
              "blend_beta": "item-CF + beta * content, beta swept",
              "alpha": "single head, alpha swept (retrained)"}
    for name, points in sweeps.items():
        if not points:
            continue
        color = colors.get(name, "tab:gray")
        xs = [p[RECALL] for p in points]
        ys = [p[RELEVANCE] for p in points]
        ax.scatter(xs, ys, color=color, s=14, alpha=0.7, zorder=3)
        front = sorted(pareto(points), key=lambda p: p[RECALL])
        ax.plot([p[RECALL] for p in front], [p[RELEVANCE] for p in front], color=color,
                lw=1.8, label=f"{titles.get(name, name)}: Pareto frontier", zorder=2)
    # Room on the right for the labels of the best-recall methods.
    left, right = ax.get_xlim()
    ax.set_xlim(left, right + 0.08 * (right - left))
    ax.set_xlabel("Recall@50 (engagement)")
    ax.set_ylabel("Relevance rate@50 (content cosine >= 0.5)")
    ax.set_title("Recall against relevance on the test split")
    ax.grid(True, alpha=0.3)
    if sweeps:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    swept = frame[frame["series"] != "method"]
    place_labels(ax, list(zip(methods["label"], methods[RECALL], methods[RELEVANCE],
                              strict=True)),
                 markers=list(zip(swept[RECALL], swept[RELEVANCE], strict=True)))
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    logger.info("wrote %s and %s (%d points)", csv_path, png_path, len(frame))
