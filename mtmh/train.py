"""Training the MTMH encoder on co-engagement pairs.

Its settings are in :mod:`mtmh.model_config`, its checkpoints in :mod:`mtmh.checkpoint`.

The candidate set of each anchor is one of:

- ``full`` (default for catalogues of a few thousand items): every item, an exact
  softmax. The logits of a row then depend only on the anchor, so a batch is a set of
  anchors with all their train pairs at once (weighted pair counts), which gives the same
  loss as the pair-by-pair full softmax at a cost per anchor instead of per pair; the
  teacher distribution of each anchor is computed once and cached.
- ``inbatch``: the batch's positives; ``inbatch+uniform``: those plus ``n_uniform``
  uniformly drawn items (mixed negative sampling). Batches are pairs; logQ corrects for
  the sampling.

Head h's loss is InfoNCE on the positives plus ``alpha_h`` times KL(teacher || student)
over the same candidates (see :mod:`mtmh.losses`); the total is the sum over heads.
Pairs come from ``prep.train_pairs`` up to ``max_offset`` interactions apart, weighted
``offset_decay ** (offset - 1)``, in both directions when ``symmetric``.

Early stopping watches validation Recall@K (``early_stop_k``, 50) of the engagement head,
the head with the smallest alpha (the first of equals), every ``eval_every`` epochs: its
exact inner-product top-K, self excluded, is what serving retrieves for that head.
The merged list is not used because its recall depends on the serving shares, which
change without retraining. Training stops after ``patience`` checks in a row without
progress, a check being progress when its recall exceeds that of the last progress check
by more than ``min_delta``. The best check's weights are restored at the end.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from mtmh.config import available_cores
from mtmh.losses import (
    TeacherTable,
    candidate_mask,
    full_catalogue_losses,
    infonce_counts,
    kl_distillation,
    mixed_log_q,
    teacher_log_probs,
)
from mtmh.metrics import recall_at_k
from mtmh.model import HeadConfig, ItemEncoder, ModelConfig, side_features
from mtmh.model_config import MTMHConfig, TrainConfig
from mtmh.neighbors import head_neighbors
from mtmh.prepare import Prepared

logger = logging.getLogger(__name__)

# Above this many items the cached full teacher (n^2 floats) no longer fits comfortably.
FULL_MAX_ITEMS = 40_000


@dataclass
class TrainResult:
    """The trained model (best epoch restored) and how training went."""

    model: ItemEncoder
    history: list[dict[str, float]]
    best_epoch: int
    best_valid_recall: float
    seconds: float
    pairs_per_second: float


def build_model(prep: Prepared, content: np.ndarray, cfg: ModelConfig) -> ItemEncoder:
    """A fresh encoder over ``prep``'s catalogue; items without train counts are unknown."""
    if content.shape[0] != prep.n_items:
        raise ValueError(f"content embeddings have {content.shape[0]} rows; the catalogue "
                         f"has {prep.n_items} items (embed the same items file)")
    return ItemEncoder(cfg, content, prep.train_counts() > 0, side_features(prep.items))


def training_pairs(prep: Prepared, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
    """Anchors, positives (n_pairs,) int64 and pair weights (n_pairs,) float32.

    Pairs up to ``max_offset`` apart, both directions when ``symmetric``; a pair ``o``
    interactions apart weighs ``offset_decay ** (o - 1)``.
    """
    pairs = prep.train_pairs
    offset = pairs["offset"].to_numpy() if "offset" in pairs else np.ones(len(pairs), int)
    if len(offset) and offset.max() < cfg.max_offset:
        logger.info("train pairs reach offset %d only (pairs.window); train.max_offset is %d",
                    offset.max(), cfg.max_offset)
    keep = offset <= cfg.max_offset
    a = pairs["a"].to_numpy(np.int64)[keep]
    b = pairs["b"].to_numpy(np.int64)[keep]
    w = (cfg.offset_decay ** (offset[keep] - 1.0)).astype(np.float32)
    if cfg.symmetric:
        a, b, w = np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([w, w])
    if len(a) == 0:
        raise ValueError("no training pairs: the train split yields no co-engagement pairs "
                         f"within offset {cfg.max_offset}")
    return a, b, w


def _engagement_head(cfg: ModelConfig) -> int:
    return int(np.argmin([h.alpha for h in cfg.heads]))


def _head_temps(head: HeadConfig, cfg: TrainConfig) -> tuple[float, float, float]:
    return (head.tau if head.tau is not None else cfg.tau,
            head.tau_t if head.tau_t is not None else cfg.tau_t,
            head.tau_s if head.tau_s is not None else cfg.tau_s)


class _Step:
    """Batches of one epoch and the loss of one batch, per candidate-set mode.

    ``full``: a batch is a set of anchors with all their pairs at once (the weighted
    pair counts of each anchor), scored against every item. The loss equals the sum of
    the per-pair full-softmax losses, at a cost per anchor instead of per pair
    (:func:`mtmh.losses.full_catalogue_losses`). The sampled modes draw batches of pairs.
    """

    def __init__(self, model: ItemEncoder, cfg: MTMHConfig, pairs: tuple[np.ndarray, ...],
                 seed: int) -> None:
        self.model, self.cfg = model, cfg
        self.gen = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.n = model.n_items
        self.temps = [_head_temps(h, cfg.train) for h in cfg.model.heads]
        self.alphas = [h.alpha for h in cfg.model.heads]
        a, b, w = pairs
        self.a, self.b, self.w = a, b, w
        self.pos_freq = torch.as_tensor(np.bincount(b, weights=w, minlength=self.n) / w.sum(),
                                        dtype=torch.float32)
        self.full = cfg.train.negatives == "full"
        self.teachers: dict[float, TeacherTable] = {}
        if self.full:
            if self.n > FULL_MAX_ITEMS:
                raise ValueError(f"negatives 'full' keeps n_items^2 tables; {self.n} items "
                                 "is too many, use 'inbatch+uniform'")
            counts = np.zeros(self.n * self.n, np.float32)
            np.add.at(counts, a * self.n + b, w)
            counts[:: self.n + 1] = 0.0  # an item is never its own candidate
            self.counts = torch.from_numpy(counts.reshape(self.n, self.n))  # (n, n)
            self.pair_weight = self.counts.sum(1)  # (n,)
            for (_, tau_t, _), alpha in zip(self.temps, self.alphas, strict=True):
                if alpha > 0 and tau_t not in self.teachers:
                    self.teachers[tau_t] = TeacherTable(model.content, tau_t)

    @property
    def pairs_per_epoch(self) -> int:
        return len(self.a)

    def _units(self) -> tuple[np.ndarray, int]:
        """What an epoch walks over, and how many per batch: anchors (full) or pairs."""
        tcfg = self.cfg.train
        if not self.full:
            return np.arange(len(self.a)), tcfg.batch_size
        if tcfg.rel_weight == "items" and any(al > 0 for al in self.alphas):
            return np.arange(self.n), tcfg.anchor_batch_size
        return np.flatnonzero(self.pair_weight.numpy() > 0), tcfg.anchor_batch_size

    @property
    def n_batches(self) -> int:
        units, size = self._units()
        return (len(units) + size - 1) // size

    def batches(self) -> list[torch.Tensor]:
        """One epoch of index batches, in a fresh random order."""
        units, size = self._units()
        return list(torch.split(torch.from_numpy(self.rng.permutation(units)), size))

    def __call__(self, idx: torch.Tensor) -> tuple[torch.Tensor, float, float, int]:
        """Total loss, summed co-engagement and relevance losses, and pairs in the batch."""
        if self.full:
            return self._full(idx)
        return self._sampled(idx)

    def _full(self, anchors: torch.Tensor) -> tuple[torch.Tensor, float, float, int]:
        tcfg = self.cfg.train
        emb = self.model(torch.arange(self.n), tcfg.id_dropout)  # (H, n_items, d)
        query = self.model.to_trigger(emb[:, anchors])  # (H, anchors, d)
        counts = self.counts[anchors]  # (anchors, n_items)
        n_pairs = counts.sum(1)  # (anchors,)
        kl_weights = n_pairs if tcfg.rel_weight == "pairs" else None
        total, coeng_sum, rel_sum = torch.zeros(()), 0.0, 0.0
        for h, ((tau, tau_t, tau_s), alpha) in enumerate(zip(self.temps, self.alphas,
                                                             strict=True)):
            teacher = self.teachers[tau_t].rows(anchors) if alpha > 0 else None
            coeng, rel = full_catalogue_losses(query[h], emb[h], anchors, counts, tau=tau,
                                               teacher=teacher, tau_s=tau_s,
                                               kl_weights=kl_weights)
            if coeng is not None:
                total = total + coeng
                coeng_sum += coeng.item()
            if rel is not None:
                total = total + alpha * rel
                rel_sum += rel.item()
        return total, coeng_sum, rel_sum, int(n_pairs.sum().item() + 0.5)

    def _sampled(self, idx: torch.Tensor) -> tuple[torch.Tensor, float, float, int]:
        tcfg = self.cfg.train
        a = torch.from_numpy(self.a[idx.numpy()])
        b = torch.from_numpy(self.b[idx.numpy()])
        w = torch.from_numpy(self.w[idx.numpy()])
        n_uniform = tcfg.n_uniform if tcfg.negatives == "inbatch+uniform" else 0
        uniform = torch.randint(0, self.n, (n_uniform,), generator=self.gen)
        cand = torch.cat([b, uniform])  # (n_cand,)
        items, inverse = torch.unique(torch.cat([a, cand]), return_inverse=True)
        emb_items = self.model(items, tcfg.id_dropout)  # (H, n_unique, d)
        anchor_emb = self.model.to_trigger(emb_items[:, inverse[:len(a)]])  # (H, batch, d)
        cand_emb = emb_items[:, inverse[len(a):]]  # (H, n_cand, d)
        pos_col = torch.arange(len(a))
        excluded = candidate_mask(a, b, cand, pos_col)  # (batch, n_cand)
        kl_excluded = cand[None, :] == a[:, None]  # (batch, n_cand)
        log_q = mixed_log_q(self.pos_freq[cand], batch_size=len(a), n_uniform=n_uniform,
                            n_items=self.n)  # (n_cand,)
        # Pair weights enter as per-row counts on the positive's column.
        counts = torch.zeros(len(a), len(cand))
        counts[pos_col, pos_col] = w  # (batch, n_cand)
        total, coeng_sum, rel_sum = torch.zeros(()), 0.0, 0.0
        for h, ((tau, tau_t, tau_s), alpha) in enumerate(zip(self.temps, self.alphas,
                                                             strict=True)):
            scores = anchor_emb[h] @ cand_emb[h].T  # (batch, n_cand)
            coeng = infonce_counts(scores, counts, tau=tau, excluded=excluded, log_q=log_q,
                                   logq_strength=tcfg.logq_strength)
            total = total + coeng
            coeng_sum += coeng.item()
            if alpha > 0:
                content = self.model.content
                t_logp = teacher_log_probs(content[a], content[cand], tau_t=tau_t,
                                           excluded=kl_excluded)
                rel = kl_distillation(scores, t_logp, tau_s=tau_s, excluded=kl_excluded,
                                      weights=w)
                total = total + alpha * rel
                rel_sum += rel.item()
        return total, coeng_sum, rel_sum, len(a)


def valid_recall(model: ItemEncoder, a: np.ndarray, b: np.ndarray, k: int) -> list[float]:
    """Recall@k on the pairs (a, b) of each head's exact top-k, self excluded."""
    emb, queries = model.catalogue_vectors()
    lists = head_neighbors(emb, k, queries=queries)  # (H, n_items, k)
    return [recall_at_k(lists[h], a, b, k) for h in range(lists.shape[0])]


def train(prep: Prepared, content: np.ndarray, cfg: MTMHConfig, *,
          progress: bool = True) -> TrainResult:
    """Train an encoder on ``prep.train_pairs``, stopping early on validation recall.

    Parameters
    ----------
    prep
        Prepared data; ``valid_pairs`` drive early stopping.
    content
        (n_items, dim) L2-normalised content embeddings in catalogue order.
    cfg
        Model and training settings.
    progress
        Show a tqdm bar per epoch with the running loss of each task.
    """
    tcfg = cfg.train
    torch.set_num_threads(tcfg.threads or available_cores())
    torch.manual_seed(tcfg.seed)

    model = build_model(prep, content, cfg.model)
    step = _Step(model, cfg, training_pairs(prep, tcfg), tcfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    va = prep.valid_pairs["a"].to_numpy(np.int64)
    vb = prep.valid_pairs["b"].to_numpy(np.int64)
    watch = _engagement_head(cfg.model)
    logger.info("training on %d pairs (%s negatives), %d heads, %d items%s",
                step.pairs_per_epoch, tcfg.negatives, model.n_heads, prep.n_items,
                ", directed scores" if cfg.model.asymmetric else "")
    if cfg.model.asymmetric and tcfg.symmetric:
        logger.warning("model.asymmetric with train.symmetric true: every pair is seen in "
                       "both directions, so the trigger maps learn no direction; set "
                       "train.symmetric false")

    history: list[dict[str, float]] = []
    best, best_epoch, best_state, stale = -1.0, 0, copy.deepcopy(model.state_dict()), 0
    mark = best  # the recall of the last check that counted as progress (min_delta)
    start, seen = time.perf_counter(), 0
    # The bar spans the epochs up to the next validation check: early stopping makes any
    # longer total a guess, so its ETA is the time to the next check.
    bar = tqdm(disable=not progress, mininterval=1.0, unit="batch")
    coeng_run, rel_run = 0.0, 0.0
    for epoch in range(1, tcfg.max_epochs + 1):
        model.train()
        if epoch == 1 or (epoch - 1) % tcfg.eval_every == 0:
            window = min(tcfg.eval_every, tcfg.max_epochs - epoch + 1)
            bar.reset(total=window * step.n_batches)
        best_note = f", best {best:.4f}@{best_epoch}" if best_epoch else ""
        bar.set_description(f"epoch {epoch}/{tcfg.max_epochs} (check every "
                            f"{tcfg.eval_every}{best_note})")
        for i, idx in enumerate(step.batches()):
            loss, coeng, rel, _ = step(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # Exponential running means keep the bar readable over many batches.
            first = epoch == 1 and i == 0
            coeng_run = coeng if first else 0.95 * coeng_run + 0.05 * coeng
            rel_run = rel if first else 0.95 * rel_run + 0.05 * rel
            bar.set_postfix(coeng=f"{coeng_run:.3f}", rel=f"{rel_run:.3f}", refresh=False)
            bar.update(1)
        seen += step.pairs_per_epoch
        # The time budget holds between checks too: over it, check now and stop.
        over_budget = time.perf_counter() - start > tcfg.max_seconds
        if epoch % tcfg.eval_every and epoch != tcfg.max_epochs and not over_budget:
            continue

        recalls = valid_recall(model, va, vb, tcfg.early_stop_k)
        elapsed = time.perf_counter() - start
        record = {"epoch": epoch, "coeng": coeng_run, "rel": rel_run, "seconds": elapsed}
        record.update({f"valid_recall@{tcfg.early_stop_k}/{h.name}": r
                       for h, r in zip(cfg.model.heads, recalls, strict=True)})
        history.append(record)
        logger.info("epoch %d: coeng %.4f rel %.4f valid recall@%d %s (%.0fs)", epoch,
                    coeng_run, rel_run, tcfg.early_stop_k,
                    " ".join(f"{r:.4f}" for r in recalls), elapsed)
        if recalls[watch] > best:
            best, best_epoch = recalls[watch], epoch
            best_state = copy.deepcopy(model.state_dict())
        if recalls[watch] > mark + tcfg.min_delta:
            mark, stale = recalls[watch], 0
        else:
            stale += 1
        if stale >= tcfg.patience:
            gain = f" over {tcfg.min_delta:g}" if tcfg.min_delta else ""
            logger.info("early stop: no gain%s in %d checks; best epoch %d", gain, stale,
                        best_epoch)
            break
        if elapsed > tcfg.max_seconds:
            logger.warning("stopping after %.0fs (train.max_seconds %.0f) at epoch %d",
                           elapsed, tcfg.max_seconds, epoch)
            break
    bar.close()

    model.load_state_dict(best_state)
    model.eval()
    seconds = time.perf_counter() - start
    return TrainResult(model, history, best_epoch, best, seconds, seen / max(seconds, 1e-9))
