"""Headline figures over several seeds: MTMH (merged, default shares) against the two-tower.

Run from the repository root after `make run`:

    .venv/bin/python scripts/seeds.py --seeds 0 1 2
    .venv/bin/python scripts/seeds.py --seeds 0 --split valid --set model.trunk=[512]
    .venv/bin/python scripts/seeds.py --seeds 0 --split valid --frontier --out base.json
    .venv/bin/python scripts/seeds.py --seeds 0 --split valid --frontier --against base.json \
        --set model.asymmetric=true --set train.symmetric=false

Trains `mtmh` and `twotower` (or the `--models` named) once per seed with the `model:`
settings of params.yaml (only `train.seed` changes, plus any `--set` override, applied to
every model before its ablation), builds the served lists the same way as the pipeline,
and prints mean and standard deviation of Recall@50, relevance rate@50 and their ratios,
measured side by side on the same split. Tune on `--split valid`; quote `test`.
`--frontier` also scores each multi-head model's merged lists at every engagement share of
`serving.share_sweep`; `--against` an earlier `--frontier` run's JSON then prints how far
this run's share frontier lies above that one's (relevance rate at equal Recall@50, and
Recall@50 at equal relevance), seed by seed. Nothing in artifacts/ is overwritten.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
from pathlib import Path

import numpy as np
import yaml

from mtmh import tradeoff
from mtmh.cli import setup_logging
from mtmh.config import ConfigError, load_params
from mtmh.metrics import evaluate_lists
from mtmh.model_config import ABLATIONS
from mtmh.retrieval import model_lists, serving_config
from mtmh.steps.lists import load_test_split
from mtmh.steps.train import model_config
from mtmh.train import train

logger = logging.getLogger("seeds")

KEYS = ("recall@50", "relevance_rate@50", "fresh_recall@50")


def override(section: dict, assignment: str) -> dict:
    """``section`` (the ``model:`` mapping) with ``a.b.c=VALUE`` set; VALUE is YAML."""
    path, sep, raw = assignment.partition("=")
    if not sep or not path:
        raise SystemExit(f"--set {assignment!r}: expected KEY=VALUE, e.g. train.lr=0.003")
    out = copy.deepcopy(section)
    node = out
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise SystemExit(f"--set {assignment!r}: {key} is not a section")
    node[leaf] = yaml.safe_load(raw)
    return out


def recall_gap(curve: list[dict], reference: list[dict]) -> float:
    """Mean Recall@50 gain of ``curve``'s frontier over ``reference``'s at equal relevance."""
    swap = [{tradeoff.RECALL: p[tradeoff.RELEVANCE], tradeoff.RELEVANCE: p[tradeoff.RECALL]}
            for p in curve]
    swap_ref = [{tradeoff.RECALL: p[tradeoff.RELEVANCE], tradeoff.RELEVANCE: p[tradeoff.RECALL]}
                for p in reference]
    return tradeoff.frontier_gap(swap, swap_ref)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["mtmh", "twotower"],
                        choices=ABLATIONS, help="models to train (default: mtmh twotower); "
                        "ratios are of the first to the second")
    parser.add_argument("--split", choices=("test", "valid"), default="test",
                        help="pairs to score (default: test; tune on valid)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of the model: section, e.g. "
                             "model.trunk=[512] or train.tau=0.07 (repeatable)")
    parser.add_argument("--frontier", action="store_true",
                        help="also score the share sweep (serving.share_sweep) of each "
                             "multi-head model")
    parser.add_argument("--against", metavar="JSON",
                        help="an earlier --frontier run's output: print this run's frontier "
                             "gap over it, per seed and model (implies --frontier)")
    parser.add_argument("--out", default="reports/seeds.json")
    args = parser.parse_args()
    setup_logging()
    against = None
    if args.against:
        args.frontier = True
        try:
            runs = json.loads(Path(args.against).read_text())["runs"]
            against = {r["seed"]: r for r in runs}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise SystemExit(f"--against {args.against}: not the JSON of a seeds.py --frontier "
                             f"run ({err})") from None

    params = load_params()
    for assignment in args.sets:
        params.extra["model"] = override(params.extra.get("model") or {}, assignment)
    try:  # a bad override fails here, before any training
        for name in args.models:
            model_config(params, name)
    except ConfigError as err:
        raise SystemExit(f"params.yaml with {args.sets}: {err}") from None
    serving = serving_config(params.extra.get("serving"))
    prep, content, data, a, b = load_test_split()
    if args.split == "valid":
        a = prep.valid_pairs["a"].to_numpy()
        b = prep.valid_pairs["b"].to_numpy()
    rows = []
    for seed in args.seeds:
        row: dict = {"seed": seed}
        for name in args.models:
            cfg = model_config(params, name)
            cfg.train.seed = seed
            result = train(prep, content, cfg, progress=False)
            heads = [h.name for h in cfg.model.heads]
            lists, _ = model_lists(result.model, serving)
            m = evaluate_lists(lists.merged.items, a, b, data, ks=[50])
            row[name] = {**{k: m[k] for k in KEYS}, "best_epoch": result.best_epoch,
                         "seconds": result.seconds,
                         "pairs_per_second": result.pairs_per_second}
            if len(heads) > 1:
                for h, head in enumerate(heads):
                    mh = evaluate_lists(lists.heads.items[h], a, b, data, ks=[50])
                    row[f"{name}:{head}"] = {k: mh[k] for k in KEYS}
                if args.frontier:
                    row[name]["share_sweep"] = tradeoff.share_sweep(
                        lists.heads.items, serving.share_sweep, a, b, data, k=serving.k,
                        merge=serving.merge, rrf_k=serving.rrf_k,
                        fresh=None if lists.fresh is None else lists.fresh.items,
                        fresh_share=serving.fresh_share)
            logger.info("seed %d %s: %s", seed, name,
                        {k: v for k, v in row[name].items() if k != "share_sweep"})
        rows.append(row)

    def stats(values: list[float]) -> str:
        if not values:
            return "n/a"
        return f"{np.mean(values):.4f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.4f}"

    print(f"seeds {args.seeds}, {args.split} split ({len(a)} pairs), overrides {args.sets}")
    names = [k for k in rows[0] if k != "seed"]
    for key in KEYS:
        for name in names:
            print(f"{name:22s} {key:18s} {stats([r[name][key] for r in rows])}")
        if len(args.models) > 1:
            first, second = args.models[:2]
            print(f"{first + ' / ' + second:22s} {key:18s} " + stats(
                [r[first][key] / r[second][key] for r in rows if r[second][key]]))
    for row in rows:
        for name in names:
            curve = row[name].get("share_sweep")
            if curve:
                print(f"share sweep, seed {row['seed']}, {name}: " + "  ".join(
                    f"{p['share']:.1f}: {p[tradeoff.RECALL]:.4f}/{p[tradeoff.RELEVANCE]:.4f}"
                    for p in curve))
            earlier = (against or {}).get(row["seed"], {}).get(name, {}).get("share_sweep")
            if curve and earlier:
                print(f"frontier gap over {args.against}, seed {row['seed']}, {name}: "
                      f"relevance rate {tradeoff.frontier_gap(curve, earlier):+.4f} at equal "
                      f"Recall@50, Recall@50 {recall_gap(curve, earlier):+.4f} at equal "
                      "relevance")
    with open(args.out, "w") as fh:
        json.dump({"split": args.split, "overrides": args.sets, "runs": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
