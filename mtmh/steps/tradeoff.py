"""Step ``tradeoff``: the share and beta sweeps, their frontiers and the figure."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging

import numpy as np

from mtmh import report, tradeoff
from mtmh.baselines import itemcf_scores
from mtmh.blend import blend
from mtmh.config import Params
from mtmh.layout import DEFAULT, Layout
from mtmh.model_config import ablation, config_from_dict
from mtmh.neighbors import Neighbors
from mtmh.retrieval import serving_config
from mtmh.steps.lists import FRESH, load_test_split, neighbors_path

logger = logging.getLogger(__name__)


# The prepared data the alpha sweep's points depend on: the item texts the content
# embeddings come from, and the pairs of the split.
_DIGESTED = {"items": ["item_id", "title", "genres", "year"],
             "train_pairs": ["a", "b", "offset"], "valid_pairs": ["a", "b"],
             "test_pairs": ["a", "b"]}


def alpha_sweep_fingerprint(params: Params, *, layout: Layout = DEFAULT) -> str:
    """What the alpha sweep's points depend on, hashed: the single-head model settings
    (every one but alpha), the prepared data (its summary, and the values of the catalogue
    and of the pairs, see :func:`_data_digest`) and the content encoder with its text
    template."""
    base = ablation(config_from_dict(params.extra.get("model")), "singlehead", alpha=0.0)
    parts = [json.dumps(dataclasses.asdict(base), sort_keys=True, default=str)]
    for path in (layout.prepared / "summary.json", layout.embeddings_meta):
        parts.append(path.read_text() if path.exists() else "")
    parts.append(_data_digest(layout))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _data_digest(layout: Layout) -> str:
    """A hash of the prepared catalogue's texts and the split's pairs, by value.

    Values rather than file bytes: the same data written by another library version, or
    embedded on a machine whose floats differ in the last bits, keeps its digest, so a
    sweep made elsewhere on the same data is still drawn. Files not there hash as empty.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    digest = hashlib.sha256()
    for name, wanted in _DIGESTED.items():
        path = layout.prepared / f"{name}.parquet"
        if not path.exists():
            continue
        present = set(pq.read_schema(path).names)  # a catalogue may have no year, say
        frame = pd.read_parquet(path, columns=[c for c in wanted if c in present])
        digest.update(name.encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def step_tradeoff(params: Params, *, layout: Layout = DEFAULT) -> dict:
    """Sweep the serving shares and the blend's beta; write the sweeps and the figure.

    The alpha sweep's points (``mtmh sweep-alpha``) join them when they came from this
    run's model settings and data, with the gap between the two frontiers.
    """
    prep, content, data, a, b = load_test_split(layout=layout)
    serving = serving_config(params.extra.get("serving"))
    sweeps: dict[str, list[dict]] = {}

    meta = layout.index / "mtmh" / "index.json"
    if meta.exists():
        index_meta = json.loads(meta.read_text())
        heads = index_meta["heads"]
        if len(heads) > 1:
            head_items = np.stack([Neighbors.load(neighbors_path(f"mtmh:{h}",
                                                                 layout.neighbors)).items
                                   for h in heads])  # (H, n_items, k)
            fresh_share = float(index_meta.get("fresh_share", 0.0))
            fresh = (Neighbors.load(layout.neighbors / "mtmh" / f"{FRESH}.npz").items
                     if fresh_share > 0 else None)
            sweeps["mtmh_shares"] = tradeoff.share_sweep(
                head_items, serving.share_sweep, a, b, data, k=serving.k,
                merge=serving.merge, rrf_k=serving.rrf_k, fresh=fresh,
                fresh_share=fresh_share)

    betas = (params.extra.get("blend") or {}).get("betas") or []
    if betas:
        cf = itemcf_scores(prep, params.baselines.itemcf.shrink)
        sweeps["blend_beta"] = []
        for beta in betas:
            lists = blend(prep, content, params.baselines.topk, float(beta), cf=cf)
            sweeps["blend_beta"].append(tradeoff.point(lists.items, a, b, data,
                                                       beta=float(beta)))
    alpha = tradeoff.read_alpha_sweep(alpha_sweep_fingerprint(params, layout=layout),
                                      layout=layout)
    if alpha:
        sweeps["alpha"] = alpha

    summary: dict = {"points": sweeps}
    for other, what in (("blend_beta", "blend"), ("alpha", "alpha")):
        if sweeps.get("mtmh_shares") and sweeps.get(other):
            gap = tradeoff.frontier_gap(sweeps["mtmh_shares"], sweeps[other])
            summary[f"frontier_gap_mtmh_vs_{what}"] = gap
            logger.info("MTMH frontier minus %s frontier, mean relevance at equal recall: "
                        "%+.4f", what, gap)
    tradeoff.write_sweeps(summary, layout=layout)
    tradeoff.write_figure(report.read_metrics(layout.metrics), sweeps, layout=layout)
    return summary
