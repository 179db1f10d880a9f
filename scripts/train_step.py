"""Time of one training batch with the full-catalogue softmax: the fused losses of
`mtmh.losses.full_catalogue_losses` against the same losses over masked score matrices
(`infonce_counts` + `kl_distillation`, how training computed them before).

Run from the repository root after `make run` (it reads the prepared data and the
embeddings):

    .venv/bin/python scripts/train_step.py
    .venv/bin/python scripts/train_step.py --batches 30 --set model.asymmetric=true

Both forms run on the same anchor batches of the `mtmh` model of params.yaml, in
alternation, in one process (forward and backward, no optimiser step, so every batch
sees the same weights); the script checks that they give the same losses and prints the
median milliseconds per batch of each and their ratio. Nothing is written.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time

import numpy as np
import torch
from seeds import override  # scripts/ is on the path: this script's own folder

from mtmh.cli import setup_logging
from mtmh.config import ConfigError, available_cores, load_params
from mtmh.losses import full_catalogue_losses, infonce_counts, kl_distillation
from mtmh.steps.lists import load_test_split
from mtmh.steps.train import model_config
from mtmh.train import _Step, build_model, training_pairs

logger = logging.getLogger("train_step")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20, help="batches timed per form")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of the model: section (repeatable)")
    args = parser.parse_args()
    setup_logging()
    params = load_params()
    for assignment in args.sets:
        params.extra["model"] = override(params.extra.get("model") or {}, assignment)
    try:
        cfg = model_config(params, "mtmh")
    except ConfigError as err:
        raise SystemExit(f"params.yaml with {args.sets}: {err}") from None
    if cfg.train.negatives != "full":
        raise SystemExit("train.negatives is not 'full': this script times the full softmax")
    torch.set_num_threads(cfg.train.threads or available_cores())
    prep, content, *_ = load_test_split()
    model = build_model(prep, content, cfg.model)
    n = model.n_items
    # Training's own pair-count table, teachers and temperatures.
    step = _Step(model, cfg, training_pairs(prep, cfg.train), cfg.train.seed)
    table, teachers, temps, alphas = step.counts, step.teachers, step.temps, step.alphas
    anchors_all = np.flatnonzero(step.pair_weight.numpy() > 0)
    rng = np.random.default_rng(0)
    size = cfg.train.anchor_batch_size

    def batch(anchors: torch.Tensor, fused: bool) -> float:
        emb = model(torch.arange(n), 0.0)  # (H, n, d)
        query = model.to_trigger(emb[:, anchors])
        counts = table[anchors]
        excluded = anchors[:, None] == torch.arange(n)[None, :]
        total = torch.zeros(())
        for h, ((tau, tau_t, tau_s), alpha) in enumerate(zip(temps, alphas, strict=True)):
            teacher = teachers[tau_t].rows(anchors) if alpha else None
            if fused:
                coeng, rel = full_catalogue_losses(query[h], emb[h], anchors, counts,
                                                   tau=tau, teacher=teacher, tau_s=tau_s,
                                                   kl_weights=counts.sum(1))
            else:
                scores = query[h] @ emb[h].T
                coeng = infonce_counts(scores, counts, tau=tau, excluded=excluded)
                rel = None if teacher is None else kl_distillation(
                    scores, teacher[0].log(), tau_s=tau_s, excluded=excluded,
                    teacher_negentropy=teacher[1], weights=counts.sum(1))
            total = total + coeng + (alpha * rel if rel is not None else 0.0)
        model.zero_grad(set_to_none=True)
        total.backward()
        return total.item()

    times: dict[bool, list[float]] = {True: [], False: []}
    model.train()
    for i in range(args.batches + 1):
        anchors = torch.from_numpy(rng.choice(anchors_all, size=min(size, len(anchors_all)),
                                              replace=False))
        values = {}
        for fused in (i % 2 == 0, i % 2 == 1):  # alternate which form goes first
            start = time.perf_counter()
            values[fused] = batch(anchors, fused)
            if i:  # the first round warms both up
                times[fused].append(time.perf_counter() - start)
        if not np.isclose(values[True], values[False], rtol=1e-4):
            raise SystemExit(f"the two forms disagree: {values[True]} vs {values[False]}")
    fused_ms = statistics.median(times[True]) * 1e3
    masked_ms = statistics.median(times[False]) * 1e3
    print(f"{n} items, {len(anchors_all)} anchors, {size} per batch, {len(alphas)} heads, "
          f"{torch.get_num_threads()} threads, overrides {args.sets}")
    print(f"masked score matrices: {masked_ms:7.1f} ms per batch (median of {args.batches})")
    print(f"fused losses:          {fused_ms:7.1f} ms per batch")
    print(f"speed-up:              x{masked_ms / fused_ms:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
