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

    result: dict = {"model": args.model, "heads": heads, "rrf_k": serving.rrf_k}
    for split, (x, y) in splits.items():
        curves = {m: tradeoff.share_sweep(head_items, serving.share_sweep, x, y, data,
                                          k=serving.k, merge=m, rrf_k=serving.rrf_k)
                  for m in METHODS}
        gap = tradeoff.frontier_gap(curves["rrf"], curves["quota"])
        result[split] = {"points": curves, "frontier_gap_rrf_vs_quota": gap}
        print(f"{split} pairs ({len(x)}): Recall@50 / relevance rate@50 by engagement share")
        for m, points in curves.items():
            print(f"  {m:6s} " + "  ".join(f"{p['share']:.1f}: {p[tradeoff.RECALL]:.4f}/"
                                           f"{p[tradeoff.RELEVANCE]:.4f}" for p in points))
        print(f"  RRF frontier minus quota frontier (relevance at equal recall): {gap:+.4f}")
    best = "rrf" if result["validation"]["frontier_gap_rrf_vs_quota"] > 0 else "quota"
    result["choice_on_validation"] = best
    print(f"choice on validation: {best} (params.yaml serving.merge is {serving.merge})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
