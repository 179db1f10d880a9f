"""Choose the multi-head merge on the validation pairs: quota against reciprocal-rank fusion.

Run from the repository root after `make run`:

    .venv/bin/python scripts/merge_choice.py

Merges the trained model's head lists (``artifacts/neighbors/mtmh/<head>.npz``) with each
method at every engagement share of ``serving.share_sweep`` and scores the lists on the
validation pairs, which neither training's early stopping on one head nor the test
figures decide. Prints both share frontiers and the mean relevance-rate gap of RRF's
frontier over quota's at equal Recall@50 (positive: RRF wastes fewer slots). The test
split is printed too, for reference only. Writes ``reports/merge_choice.json``; reads
every other file without changing it.

``--score-fusion`` also ranks by a fused score instead of merging lists: for weight w,
w * (engagement head's score) + (1 - w) * (other heads' mean score), exact over the
catalogue from the trained model (``artifacts/models/<model>.safetensors``), and prints
its frontier's gap to RRF's.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from mtmh import tradeoff
from mtmh.cli import setup_logging
from mtmh.config import load_params
from mtmh.merge import METHODS
from mtmh.neighbors import Neighbors
from mtmh.retrieval import serving_config
from mtmh.steps.lists import load_test_split, neighbors_path

logger = logging.getLogger("merge_choice")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mtmh", help="trained model (default: mtmh)")
    parser.add_argument("--score-fusion", action="store_true",
                        help="also score a fused-score ranking at each weight of "
                             "--weights (needs the trained model)")
    parser.add_argument("--weights", type=float, nargs="+",
                        default=[0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0],
                        help="engagement weights of the fused score")
    parser.add_argument("--out", type=Path, default=Path("reports/merge_choice.json"))
    args = parser.parse_args()
    setup_logging()
    logging.getLogger("mtmh.tradeoff").setLevel(logging.WARNING)

    params = load_params()
    serving = serving_config(params.extra.get("serving"))
    heads_file = neighbors_path(f"{args.model}:x").parent / "heads.json"
    if not heads_file.exists():
        logger.error("%s not found: train and index %s first (`make run`)", heads_file,
                     args.model)
        return 1
    heads = json.loads(heads_file.read_text())
    head_items = np.stack([Neighbors.load(neighbors_path(f"{args.model}:{h}")).items
                           for h in heads])  # (H, n_items, k)
    prep, _, data, a, b = load_test_split()
    splits = {"validation": (prep.valid_pairs["a"].to_numpy(), prep.valid_pairs["b"].to_numpy()),
              "test": (a, b)}

    fused = fused_lists(args.model, args.weights, serving.k) if args.score_fusion else {}
    result: dict = {"model": args.model, "heads": heads, "rrf_k": serving.rrf_k}
    for split, (x, y) in splits.items():
        curves = {m: tradeoff.share_sweep(head_items, serving.share_sweep, x, y, data,
                                          k=serving.k, merge=m, rrf_k=serving.rrf_k)
                  for m in METHODS}
        gap = tradeoff.frontier_gap(curves["rrf"], curves["quota"])
        result[split] = {"points": curves, "frontier_gap_rrf_vs_quota": gap}
        print(f"{split} pairs ({len(x)}): Recall@50 / relevance rate@50 by engagement share")
        if fused:
            curves["score"] = [tradeoff.point(items, x, y, data, share=w)
                               for w, items in fused.items()]
            result[split]["frontier_gap_score_vs_rrf"] = tradeoff.frontier_gap(
                curves["score"], curves["rrf"])
        for m, points in curves.items():
            print(f"  {m:6s} " + "  ".join(f"{p['share']:.2g}: {p[tradeoff.RECALL]:.4f}/"
                                           f"{p[tradeoff.RELEVANCE]:.4f}" for p in points))
        print(f"  RRF frontier minus quota frontier (relevance at equal recall): {gap:+.4f}")
        if fused:
            print("  fused-score frontier minus RRF frontier (relevance at equal recall): "
                  f"{result[split]['frontier_gap_score_vs_rrf']:+.4f}")
    best = "rrf" if result["validation"]["frontier_gap_rrf_vs_quota"] > 0 else "quota"
    result["choice_on_validation"] = best
    print(f"choice on validation: {best} (params.yaml serving.merge is {serving.merge})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def fused_lists(model_name: str, weights: list[float], k: int) -> dict[float, np.ndarray]:
    """Top-k by w * engagement score + (1 - w) * the other heads' mean score, per weight.

    One exact inner product over the heads' candidate vectors side by side, the trigger
    vectors weighted: the same as summing the weighted per-head scores.
    """
    from mtmh.checkpoint import load_checkpoint
    from mtmh.layout import DEFAULT
    from mtmh.neighbors import head_neighbors

    model = load_checkpoint(DEFAULT.checkpoint(model_name))
    cand, trig = model.catalogue_vectors()  # (H, n_items, d) each
    n_heads = cand.shape[0]
    rest = max(n_heads - 1, 1)
    out = {}
    for w in weights:
        scale = [w] + [(1.0 - w) / rest] * (n_heads - 1)
        queries = np.concatenate([s * trig[h] for h, s in enumerate(scale)], axis=1)
        out[w] = head_neighbors(np.concatenate(list(cand), axis=1)[None], k,
                                queries=queries[None])[0]
        logger.info("fused score, engagement weight %g: lists built", w)
    return out


if __name__ == "__main__":
    sys.exit(main())
