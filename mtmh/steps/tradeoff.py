"""Step ``tradeoff``: the share and beta sweeps, their frontiers and the figure."""

from __future__ import annotations

import json
import logging

import numpy as np

from mtmh import report, tradeoff
from mtmh.baselines import itemcf_scores
from mtmh.blend import blend
from mtmh.config import Params
from mtmh.layout import DEFAULT, Layout
from mtmh.neighbors import Neighbors
from mtmh.retrieval import serving_config
from mtmh.steps.lists import load_test_split, neighbors_path

logger = logging.getLogger(__name__)


def step_tradeoff(params: Params, *, layout: Layout = DEFAULT) -> dict:
    """Sweep the serving shares and the blend's beta; write the sweeps and the figure."""
    prep, content, data, a, b = load_test_split(layout=layout)
    serving = serving_config(params.extra.get("serving"))
    sweeps: dict[str, list[dict]] = {}

    meta = layout.index / "mtmh" / "index.json"
    if meta.exists():
        heads = json.loads(meta.read_text())["heads"]
        if len(heads) > 1:
            head_items = np.stack([Neighbors.load(neighbors_path(f"mtmh:{h}",
                                                                 layout.neighbors)).items
                                   for h in heads])  # (H, n_items, k)
            sweeps["mtmh_shares"] = tradeoff.share_sweep(
                head_items, serving.share_sweep, a, b, data, k=serving.k,
                merge=serving.merge, rrf_k=serving.rrf_k)

    betas = (params.extra.get("blend") or {}).get("betas") or []
    if betas:
        cf = itemcf_scores(prep, params.baselines.itemcf.shrink)
        sweeps["blend_beta"] = []
        for beta in betas:
            lists = blend(prep, content, params.baselines.topk, float(beta), cf=cf)
            sweeps["blend_beta"].append(tradeoff.point(lists.items, a, b, data,
                                                       beta=float(beta)))
    alpha = tradeoff.read_alpha_sweep(layout=layout)
    if alpha:
        sweeps["alpha"] = alpha

    summary: dict = {"points": sweeps}
    if sweeps.get("mtmh_shares") and sweeps.get("blend_beta"):
        gap = tradeoff.frontier_gap(sweeps["mtmh_shares"], sweeps["blend_beta"])
        summary["frontier_gap_mtmh_vs_blend"] = gap
        logger.info("MTMH frontier minus blend frontier, mean relevance at equal recall: "
                    "%+.4f", gap)
    tradeoff.write_sweeps(summary, layout=layout)
    tradeoff.write_figure(report.read_metrics(layout.metrics), sweeps, layout=layout)
    return summary
