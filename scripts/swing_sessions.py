"""Choose Swing's sessions on the validation pairs: whole user histories against chunks.

Run from the repository root after `make data` and the prepare stage (`make run` does both):

    .venv/bin/python scripts/swing_sessions.py
    .venv/bin/python scripts/swing_sessions.py --lengths 0 10 --max-sessions 1000

Swing scores an item pair by the pairs of sessions that both hold it. With
`baselines.swing.session_length` 0 a session is a user's whole train history (the original
form); otherwise each history is cut into runs of that many interactions, and wherever
`pairs.max_gap` is exceeded, as item-CF only counts pairs inside `pairs.window`. This script
builds the Swing lists for every length and session cap given, with the other settings of
`params.yaml`, and scores them on the validation pairs (the choice) and the test pairs (for
reference), next to item-CF. No training; 2 to 10 s a setting here, 16 to 34 s for whole
histories, about 2 minutes in all. Writes `reports/swing_sessions.json`; changes nothing
else.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from mtmh.baselines import itemcf, swing
from mtmh.cli import setup_logging
from mtmh.config import load_params
from mtmh.layout import DEFAULT
from mtmh.metrics import hits_at_k
from mtmh.prepare import load_prepared

logger = logging.getLogger("swing_sessions")

K = 50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[0, 6, 8, 10, 12, 14, 20],
                        help="session lengths to score (0: whole user histories)")
    parser.add_argument("--max-sessions", type=int, nargs="+", default=[300, 1000],
                        help="sessions paired per item (most recent first)")
    parser.add_argument("--out", type=Path, default=Path("reports/swing_sessions.json"))
    args = parser.parse_args()
    setup_logging()

    params = load_params()
    if not DEFAULT.prepared.exists():
        sys.exit(f"{DEFAULT.prepared}: not found; run the pipeline first (make run)")
    prep = load_prepared(DEFAULT.prepared)
    splits = {name: (pairs["a"].to_numpy(), pairs["b"].to_numpy())
              for name, pairs in (("valid", prep.valid_pairs), ("test", prep.test_pairs))}
    cfg = params.baselines

    def score(items) -> dict[str, float]:  # noqa: ANN001
        return {split: float(hits_at_k(items, a, b, K).mean())
                for split, (a, b) in splits.items()}

    rows = [{"method": "itemcf", **score(itemcf(prep, cfg.topk, cfg.itemcf.shrink).items)}]
    for length in args.lengths:
        for cap in args.max_sessions:
            start = time.perf_counter()
            nbrs = swing(prep, cfg.topk, cfg.swing.alpha, cap, length, params.pairs.max_gap)
            rows.append({"method": "swing", "session_length": length, "max_sessions": cap,
                         **score(nbrs.items), "seconds": time.perf_counter() - start})
            logger.info("session_length %d, max_sessions %d: valid Recall@50 %.4f", length,
                        cap, rows[-1]["valid"])

    print(f"\n{'method':8s} {'session_length':>14s} {'max_sessions':>12s} "
          f"{'valid R@50':>10s} {'test R@50':>9s} {'seconds':>7s}")
    for row in rows:
        print(f"{row['method']:8s} {row.get('session_length', ''):>14} "
              f"{row.get('max_sessions', ''):>12} {row['valid']:10.4f} {row['test']:9.4f} "
              f"{row.get('seconds', float('nan')):7.1f}")
    best = max((r for r in rows if r["method"] == "swing"), key=lambda r: r["valid"])
    print(f"\nbest on validation: session_length {best['session_length']}, max_sessions "
          f"{best['max_sessions']} (valid {best['valid']:.4f}, test {best['test']:.4f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"k": K, "alpha": cfg.swing.alpha,
                                    "max_gap": params.pairs.max_gap, "rows": rows,
                                    "best_on_valid": best}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
