"""Cold start: Recall@50 on items that had no engagement at training time.

Run from the repository root after `make run` (about 4 minutes on 2 cores):

    .venv/bin/python scripts/coldstart.py [--fraction 0.1] [--seed 0]

MovieLens-1M's test split has only a few dozen pairs whose target is fresh, too few to
compare models. This holds out a random share of the trained items (their train
interactions removed, see :mod:`mtmh.coldstart`), retrains `mtmh`, `twotower` and the
ID-only two-tower `idonly` with the `model:` settings of params.yaml on what is left,
and scores them next to item-CF and content kNN on the unchanged test pairs.
``fresh_recall@50`` is Recall@50 over the test pairs whose target was held out.
``--fresh-shares 0.05 0.1`` also scores each model's merged list with that share of
every list kept for fresh items (``serving.fresh_share``; rows ``NAME@fresh=SHARE``), from
the same trained models; ``--fresh-heads relevance engagement`` scores each head's ranking
of the fresh items for those slots (rows ``NAME@fresh=SHARE,HEAD``). Writes
``reports/coldstart.json``; nothing in artifacts/ is overwritten.
With ``--fresh-shares``, ``reports/coldstart.png`` draws each model's all-pairs against
fresh-target Recall@50 through its shares.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np

from mtmh.baselines import run_baseline
from mtmh.cli import setup_logging
from mtmh.coldstart import hold_out_items
from mtmh.config import load_params
from mtmh.data import atomic_path
from mtmh.merge import reserve_share
from mtmh.metrics import evaluate_lists
from mtmh.retrieval import fresh_head_index, fresh_ranking, model_lists, serving_config
from mtmh.steps.lists import eval_data, load_test_split
from mtmh.steps.train import model_config
from mtmh.train import train

logger = logging.getLogger("coldstart")

MODELS = ("mtmh", "twotower", "idonly")
BASELINES = ("itemcf", "content")
COLUMNS = ("recall@50", "fresh_recall@50", "relevance_rate@50")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fraction", type=float, default=0.1,
                        help="share of the trained items to hold out (default: 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw (default: 0)")
    parser.add_argument("--fresh-shares", type=float, nargs="+", default=[], metavar="SHARE",
                        help="also score the merged lists with each of these shares kept "
                             "for fresh items (serving.fresh_share), e.g. 0 0.05 0.1")
    parser.add_argument("--fresh-heads", nargs="+", default=[None], metavar="HEAD",
                        help="score the fresh slots as ranked by each of these heads "
                             "(serving.fresh_head; default: params.yaml's); one-head models "
                             "use their head")
    parser.add_argument("--out", type=Path, default=Path("reports/coldstart.json"))
    args = parser.parse_args()
    setup_logging()

    params = load_params()
    serving = serving_config(params.extra.get("serving"))
    for share in args.fresh_shares:
        if not 0.0 <= share < 1.0:
            parser.error(f"--fresh-shares: {share} is not in [0, 1)")
    prep, content, _, a, b = load_test_split()
    cold, held = hold_out_items(prep, args.fraction, args.seed, params.pairs)
    data = eval_data(cold, content)

    def score(items) -> dict[str, float]:
        m = evaluate_lists(items, a, b, data, ks=[50])
        return {k: m[k] for k in COLUMNS}

    rows: dict[str, dict[str, float]] = {}
    for method in BASELINES:
        rows[method] = score(run_baseline(method, cold, content, params).items)
        logger.info("%s: %s", method, rows[method])
    for name in MODELS:
        cfg = model_config(params, name)
        result = train(cold, content, cfg)
        heads = [h.name for h in cfg.model.heads]
        lists, _ = model_lists(result.model, serving)
        rows[name] = {**score(lists.merged.items), "train_seconds": round(result.seconds, 1)}
        if len(heads) > 1:
            for h, head in enumerate(heads):
                rows[f"{name}:{head}"] = score(lists.heads.items[h])
        logger.info("%s: %s", name, rows[name])
        if not args.fresh_shares:
            continue
        # Each fresh head's ranking once; the shares only re-merge it with the plain list.
        plain = lists if lists.fresh is None else model_lists(
            result.model, dataclasses.replace(serving, fresh_share=0.0))[0]
        triggers = np.arange(result.model.n_items)
        named = len(args.fresh_heads) > 1 and len(heads) > 1
        for head in args.fresh_heads if len(heads) > 1 else args.fresh_heads[:1]:
            h = fresh_head_index(cfg.model.heads, serving.fresh_head if head is None else head)
            ranked = fresh_ranking(result.model, h, serving.k)
            for share in args.fresh_shares:
                items, _, _ = reserve_share(plain.merged.items, ranked.items, share,
                                            serving.k, triggers)
                label = f"{name}@fresh={share:g}" + (f",{head}" if named else "")
                series = (f"{name}, fresh items ranked by {heads[h]}" if len(heads) > 1
                          else name)
                rows[label] = {**score(items), "fresh_share": share, "series": series,
                               "model": name}
                logger.info("%s: %s", label, rows[label])

    summary = {"fraction": args.fraction, "seed": args.seed, "held_out_items": len(held),
               "fresh_share": serving.fresh_share, "fresh_head": serving.fresh_head,
               "test_pairs": len(a), **{k: cold.summary[k] for k in
                                        ("n_fresh_items", "n_test_pairs_fresh_target")},
               "methods": rows}
    if rows["idonly"]["fresh_recall@50"] > 0:
        summary["fresh_ratio_mtmh_vs_idonly"] = (rows["mtmh"]["fresh_recall@50"]
                                                 / rows["idonly"]["fresh_recall@50"])
    print(f"held out {len(held)} items; {summary['n_test_pairs_fresh_target']} of {len(a)} "
          f"test pairs have a fresh target")
    print(f"{'method':26s} " + " ".join(f"{c:>18s}" for c in COLUMNS))
    for method, row in rows.items():
        print(f"{method:26s} " + " ".join(f"{row[c]:18.4f}" for c in COLUMNS))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    if args.fresh_shares:
        figure = args.out.with_suffix(".png")
        write_figure(rows, figure)
        print(f"wrote {args.out} and {figure}")
    return 0


def write_figure(rows: dict[str, dict], path: Path) -> None:
    """All-pairs Recall@50 against fresh-target Recall@50: one line per model (and fresh
    head) through its fresh shares, from the list without fresh slots; content kNN's
    fresh-target recall as a level for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[dict]] = {}
    for row in rows.values():
        if "series" in row:
            series.setdefault(row["series"], []).append(row)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for name, points in series.items():
        line = [{**rows[points[0]["model"]], "fresh_share": 0.0},
                *sorted(points, key=lambda p: p["fresh_share"])]
        xs = [p["recall@50"] for p in line]
        ys = [p["fresh_recall@50"] for p in line]
        drawn = ax.plot(xs, ys, marker="o", ms=4, lw=1.5, label=name)[0]
        for p, x, y in zip(line, xs, ys, strict=True):
            ax.annotate(f"{p['fresh_share']:g}", (x, y), textcoords="offset points",
                        xytext=(4, 3), fontsize=7, color=drawn.get_color())
    if "content" in rows:  # far left on the x axis: drawn as its level only
        content = rows["content"]
        ax.axhline(content["fresh_recall@50"], color="black", ls="--", lw=1,
                   label=f"content kNN (all pairs {content['recall@50']:.3f})")
    ax.set_xlabel("Recall@50, all test pairs")
    ax.set_ylabel("Recall@50, test pairs with a fresh target")
    ax.set_title("Fresh slots (serving.fresh_share, labelled) on the cold-start split")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
