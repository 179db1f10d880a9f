"""How much Recall@50 can merging lists add over the two-tower? Bounds for the recall target.

Run from the repository root after `make run` (it reads the pipeline's lists and trains two
more models, about 4 minutes here):

    .venv/bin/python scripts/headroom.py                 # validation and test pairs
    .venv/bin/python scripts/headroom.py --split valid

The model issue asks for the merged `mtmh` list at 1.144 times the two-tower's Recall@50.
Multi-head serving could only supply that if the heads' lists hold next items that a
single co-engagement list misses. This script measures that directly, side by side on
each split:

- the pipeline's `twotower`, `mtmh`, `mtmh:engagement` and `mtmh:relevance` lists;
- a second two-tower trained with another seed, and RRF merges of two engagement lists
  (two seeds; the two-tower with `mtmh:engagement`);
- a two-head model whose heads both have alpha 0 (two co-engagement heads), merged;
- union bounds (`mtmh.metrics.union_recall`): the share of pairs whose next item is in
  either of two lists' top 50, an upper bound for any list of 50 drawn from them;
- oracle merges (`mtmh.metrics.oracle_recall`): the best list of 50 that any merge of the
  `mtmh` heads' served lists (top `serving.k`) could make, knowing the pairs, and the
  same for a perfect re-ranking of the two-tower's list. When the oracle merge of the
  `mtmh` heads lies below the target, no merge of those heads reaches it.

Nothing in artifacts/ is overwritten; the figures go to `--out` as JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from mtmh.cli import setup_logging
from mtmh.config import load_params
from mtmh.merge import merge_lists
from mtmh.metrics import hits_at_k, oracle_recall, union_recall
from mtmh.neighbors import Neighbors
from mtmh.retrieval import model_lists, serving_config
from mtmh.steps.lists import load_test_split, neighbors_path
from mtmh.steps.train import model_config
from mtmh.train import train

logger = logging.getLogger("headroom")

K = 50
TARGET = 1.144  # the model issue's Recall@50 ratio of mtmh to the two-tower


def rrf(lists: list[np.ndarray], shares: list[float], k: int, rrf_k: float) -> np.ndarray:
    """RRF of whole-catalogue lists (each (n_items, depth)); the trigger excluded."""
    items, _ = merge_lists(np.stack(lists), shares, k, method="rrf", rrf_k=rrf_k)
    return items


def trained_lists(prep, content, cfg, serving) -> list[np.ndarray]:  # noqa: ANN001
    """Train ``cfg``; its heads' lists followed by the merged list, (n_items, k) each."""
    result = train(prep, content, cfg, progress=False)
    lists, _ = model_lists(result.model, serving)
    logger.info("trained %s in %.0f s (best epoch %d)", [h.name for h in cfg.model.heads],
                result.seconds, result.best_epoch)
    return [*lists.heads.items, lists.merged.items]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", nargs="+", choices=("valid", "test"),
                        default=["valid", "test"],
                        help="pairs to score, each from the same trained models "
                             "(default: valid test)")
    parser.add_argument("--seed", type=int, default=1,
                        help="train.seed of the second two-tower (the pipeline's is 0)")
    parser.add_argument("--out", default="reports/headroom.json")
    args = parser.parse_args()
    setup_logging()

    params = load_params()
    serving = serving_config(params.extra.get("serving"))
    prep, content, _, a_test, b_test = load_test_split()
    splits = {"test": (a_test, b_test),
              "valid": (prep.valid_pairs["a"].to_numpy(), prep.valid_pairs["b"].to_numpy())}

    def pipeline_list(method: str) -> np.ndarray:
        path = neighbors_path(method)
        if not path.exists():
            raise SystemExit(f"{path}: not found; run the pipeline first (make run)")
        return Neighbors.load(path).items

    lists = {m: pipeline_list(m) for m in ("twotower", "mtmh", "mtmh:engagement",
                                           "mtmh:relevance")}
    twotower = model_config(params, "twotower")
    twotower.train.seed = args.seed
    lists[f"twotower, seed {args.seed}"] = trained_lists(prep, content, twotower, serving)[-1]
    zero = copy.deepcopy(model_config(params, "mtmh"))
    zero.model.heads = [replace(h, alpha=0.0) for h in zero.model.heads]
    *zero_heads, zero_merged = trained_lists(prep, content, zero, serving)
    for head, items in zip(zero.model.heads, zero_heads, strict=True):
        lists[f"alpha-0 two-head model: {head.name} head"] = items
    lists["alpha-0 two-head model: merged (default shares)"] = zero_merged

    second = f"twotower, seed {args.seed}"
    lists[f"RRF of twotower and {second} (0.5 / 0.5)"] = rrf(
        [lists["twotower"], lists[second]], [0.5, 0.5], serving.k, serving.rrf_k)
    lists["RRF of twotower and mtmh:engagement (0.5 / 0.5)"] = rrf(
        [lists["twotower"], lists["mtmh:engagement"]], [0.5, 0.5], serving.k, serving.rrf_k)

    report = {"target_ratio": TARGET, "splits": {}}
    for split in args.split:
        a, b = splits[split]
        rows = score(lists, a, b, second)
        report["splits"][split] = {"pairs": len(a), "rows": rows}
        base = rows[0]["recall@50"]
        print(f"\n{split} split, {len(a)} pairs; the target is x{TARGET} the two-tower: "
              f"Recall@50 {TARGET * base:.4f}")
        print(f"{'list':72s} {'Recall@50':>9s} {'x twotower':>10s}")
        for row in rows:
            print(f"{row['list']:72s} {row['recall@50']:9.4f} {row['x twotower']:10.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def score(lists: dict[str, np.ndarray], a: np.ndarray, b: np.ndarray,
          second: str) -> list[dict]:
    """Recall@50 of every list, the union bounds and the oracle merges, on pairs (a, b)."""
    rows = [{"list": name, "recall@50": float(hits_at_k(items, a, b, K).mean())}
            for name, items in lists.items()]
    bounds = [("mtmh:engagement", "mtmh:relevance"), ("twotower", "mtmh:relevance"),
              ("twotower", second), ("twotower", "mtmh:engagement")]
    for first, other in bounds:
        rows.append({"list": f"union bound: top 50 of {first} or of {other}",
                     "recall@50": union_recall([lists[first], lists[other]], a, b, K)})
    heads = [lists["mtmh:engagement"], lists["mtmh:relevance"]]
    depth = heads[0].shape[1]
    rows.append({"list": f"oracle merge: best 50 of the mtmh heads' top {depth}",
                 "recall@50": oracle_recall(heads, a, b, depth, K)})
    rows.append({"list": f"oracle merge: best 50 of the twotower's top {depth}",
                 "recall@50": oracle_recall([lists["twotower"]], a, b, depth, K)})
    base = rows[0]["recall@50"]
    for row in rows:
        row["x twotower"] = row["recall@50"] / base
    return rows


if __name__ == "__main__":
    sys.exit(main())
