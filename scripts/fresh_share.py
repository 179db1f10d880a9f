"""What a share of each list kept for fresh items costs on the protocol split.

Run from the repository root after `make run` (no training; about a minute):

    .venv/bin/python scripts/fresh_share.py [--shares 0 0.02 0.05 0.1 0.2] [--model mtmh]

Serves the pipeline's trained model (``artifacts/models/<model>.safetensors``) again with
each ``serving.fresh_share`` of the list, every other serving setting as in params.yaml,
and scores the validation and test pairs: Recall@50 over all pairs and over those whose
target is fresh, relevance rate@50 and coverage@50. MovieLens-1M's protocol split has few
fresh targets, so this shows the cost; ``scripts/coldstart.py --fresh-shares`` shows what
the slots find where a tenth of the catalogue is new. Writes ``reports/fresh_share.json``;
reads every other file without changing it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np

from mtmh.checkpoint import load_checkpoint
from mtmh.cli import setup_logging
from mtmh.config import load_params
from mtmh.layout import DEFAULT
from mtmh.merge import reserve_share
from mtmh.metrics import evaluate_lists
from mtmh.retrieval import fresh_head_index, fresh_ranking, model_lists, serving_config
from mtmh.steps.lists import load_test_split

logger = logging.getLogger("fresh_share")

COLUMNS = ("recall@50", "fresh_recall@50", "relevance_rate@50", "coverage@50")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shares", type=float, nargs="+", default=[0, 0.02, 0.05, 0.1, 0.2],
                        metavar="SHARE", help="fresh shares to serve (default: 0 0.02 0.05 "
                                              "0.1 0.2)")
    parser.add_argument("--model", default="mtmh", help="trained model (default: mtmh)")
    parser.add_argument("--out", type=Path, default=Path("reports/fresh_share.json"))
    args = parser.parse_args()
    setup_logging()
    for share in args.shares:
        if not 0.0 <= share < 1.0:
            parser.error(f"--shares: {share} is not in [0, 1)")

    params = load_params()
    serving = serving_config(params.extra.get("serving"))
    checkpoint = DEFAULT.checkpoint(args.model)
    if not checkpoint.exists():
        logger.error("%s not found: train %s first (`make run`)", checkpoint, args.model)
        return 1
    model = load_checkpoint(checkpoint)
    prep, _, data, a, b = load_test_split()
    splits = {"validation": (prep.valid_pairs["a"].to_numpy(), prep.valid_pairs["b"].to_numpy()),
              "test": (a, b)}
    fresh = ~model.known.numpy()
    head = fresh_head_index(model.cfg.heads, serving.fresh_head)
    result: dict = {"model": args.model, "fresh_items": int(fresh.sum()),
                    "fresh_head": model.cfg.heads[head].name, "splits": {}}
    for split, (x, y) in splits.items():
        result["splits"][split] = {"pairs": len(x), "fresh_target_pairs": int(fresh[y].sum()),
                                   "shares": []}
    # The plain merged lists and the fresh head's ranking once; each share re-merges them.
    plain, _ = model_lists(model, dataclasses.replace(serving, fresh_share=0.0))
    ranked = fresh_ranking(model, head, serving.k)
    triggers = np.arange(model.n_items)
    for share in args.shares:
        items, _, _ = reserve_share(plain.merged.items, ranked.items, share, serving.k,
                                    triggers)
        for split, (x, y) in splits.items():
            m = evaluate_lists(items, x, y, data, ks=[50])
            result["splits"][split]["shares"].append({"fresh_share": share,
                                                      **{c: m[c] for c in COLUMNS}})

    print(f"{args.model}: {result['fresh_items']} fresh items in the catalogue")
    for split, got in result["splits"].items():
        print(f"{split} pairs ({got['pairs']}, {got['fresh_target_pairs']} with a fresh "
              "target)")
        print(f"  {'fresh_share':>11s} " + " ".join(f"{c:>18s}" for c in COLUMNS))
        for row in got["shares"]:
            print(f"  {row['fresh_share']:11g} " + " ".join(f"{row[c]:18.4f}" for c in COLUMNS))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
