"""Headline figures over several seeds: MTMH (merged, default shares) against the two-tower.

Run from the repository root after `make run`:

    .venv/bin/python scripts/seeds.py --seeds 0 1 2

Trains `mtmh` and `twotower` once per seed with the `model:` settings of params.yaml
(only `train.seed` changes), builds the served lists the same way as the pipeline, and
prints mean and standard deviation of Recall@50, relevance rate@50 and their ratios,
measured side by side on the same split. Nothing in artifacts/ is overwritten.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np

from mtmh.cli import setup_logging
from mtmh.config import load_params
from mtmh.metrics import evaluate_lists
from mtmh.pipeline import load_test_split, model_config
from mtmh.retrieval import lists_for_catalogue, serving_config
from mtmh.train import train

logger = logging.getLogger("seeds")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="reports/seeds.json")
    args = parser.parse_args()
    setup_logging()

    params = load_params()
    serving = serving_config(params.extra.get("serving"))
    prep, content, data, a, b = load_test_split()
    rows = []
    for seed in args.seeds:
        row = {"seed": seed}
        for name in ("mtmh", "twotower"):
            cfg = model_config(params, name)
            cfg.train.seed = seed
            result = train(prep, content, cfg, progress=False)
            emb = result.model.all_item_embeddings()
            lists, _ = lists_for_catalogue(emb, [h.name for h in cfg.model.heads],
                                           [h.share for h in cfg.model.heads], serving)
            m = evaluate_lists(lists.merged.items, a, b, data, ks=[50])
            row[name] = {"recall@50": m["recall@50"],
                         "relevance_rate@50": m["relevance_rate@50"],
                         "fresh_recall@50": m["fresh_recall@50"],
                         "seconds": result.seconds, "pairs_per_second": result.pairs_per_second}
            logger.info("seed %d %s: %s", seed, name, row[name])
        rows.append(row)

    def stats(values: list[float]) -> str:
        return f"{np.mean(values):.4f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.4f}"

    print(f"seeds {args.seeds}")
    for key in ("recall@50", "relevance_rate@50", "fresh_recall@50"):
        for name in ("mtmh", "twotower"):
            print(f"{name:9s} {key:18s} {stats([r[name][key] for r in rows])}")
        print(f"{'ratio':9s} {key:18s} "
              f"{stats([r['mtmh'][key] / r['twotower'][key] for r in rows if r['twotower'][key]])}")
    with open(args.out, "w") as fh:
        json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
