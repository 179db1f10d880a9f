"""The two tasks of the MTMH loss, as pure functions on score tensors.

Every function takes the scores of a batch of anchors against a candidate set C and a
boolean ``excluded`` mask of the same shape (True: the candidate is not part of this
row's candidate set, e.g. the anchor itself or a duplicate of the positive). Rows are
anchors, columns candidates.

- Co-engagement: InfoNCE (sampled softmax) over C with temperature ``tau`` and a logQ
  correction: ``logit_j = s_j / tau - logq_strength * log q_j``, where ``q_j`` is the
  expected number of times candidate j enters C under the sampling scheme.
- Relevance: KL(teacher || student) over the same C, the teacher being
  ``softmax_j(cos(c_a, c_j) / tau_t)`` of the frozen content embeddings and the student
  ``softmax_j(s_j / tau_s)`` of the head's scores.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

_NEG = float("-inf")


def candidate_mask(anchors: torch.Tensor, positives: torch.Tensor, candidates: torch.Tensor,
                   pos_col: torch.Tensor | None = None) -> torch.Tensor:
    """Which candidates leave each row's candidate set.

    Excluded: the anchor itself (its score with itself is trivially the largest), and
    every copy of the row's positive except the one at ``pos_col`` (an accidental hit
    counted as a negative would push the positive away from itself).

    Parameters
    ----------
    anchors, positives
        (batch,) item indices.
    candidates
        (n_cand,) item indices of the columns.
    pos_col
        (batch,) column that holds each row's positive; ``None`` when the positive is
        not among the columns' own slot (then every copy of it is kept but one:
        the first).

    Returns
    -------
    (batch, n_cand) bool, True where excluded.
    """
    is_anchor = candidates[None, :] == anchors[:, None]  # (batch, n_cand)
    is_pos = candidates[None, :] == positives[:, None]  # (batch, n_cand)
    if pos_col is None:
        pos_col = is_pos.to(torch.int8).argmax(dim=1)  # first copy; (batch,)
    keep_pos = torch.zeros_like(is_pos)
    keep_pos[torch.arange(len(anchors)), pos_col] = True
    return is_anchor | (is_pos & ~keep_pos)


def infonce(scores: torch.Tensor, pos_col: torch.Tensor, *, tau: float,
            excluded: torch.Tensor | None = None, log_q: torch.Tensor | None = None,
            logq_strength: float = 1.0) -> torch.Tensor:
    """Mean InfoNCE loss of the positives among the candidates.

    Parameters
    ----------
    scores
        (batch, n_cand) similarities (cosines for normalised heads).
    pos_col
        (batch,) int64 column of each row's positive.
    tau
        Softmax temperature.
    excluded
        (batch, n_cand) bool, True: candidate not in the row's set. Must not exclude
        the positive's own column.
    log_q
        (n_cand,) or (batch, n_cand) log expected count of each candidate in C under
        the sampler; ``None`` for no correction.
    logq_strength
        Multiplier of the correction (1: textbook logQ, 0: none).

    Returns
    -------
    Scalar tensor.
    """
    logits = scores / tau  # (batch, n_cand)
    if log_q is not None and logq_strength != 0.0:
        logits = logits - logq_strength * log_q
    if excluded is not None:
        logits = logits.masked_fill(excluded, _NEG)
    return F.cross_entropy(logits, pos_col)


def infonce_counts(scores: torch.Tensor, counts: torch.Tensor, *, tau: float,
                   excluded: torch.Tensor | None = None, log_q: torch.Tensor | None = None,
                   logq_strength: float = 1.0) -> torch.Tensor:
    """InfoNCE of many positives per anchor at once, the mean over the pairs.

    With the full catalogue as candidates the logits of a row depend only on its anchor,
    so the per-pair losses of all pairs (a, b) with the same anchor sum to
    ``n_a * logsumexp_j(logit_aj) - sum_b count_ab * logit_ab``: the pair-by-pair loss,
    computed once per anchor.

    Parameters
    ----------
    scores
        (anchors, n_cand) similarities.
    counts
        (anchors, n_cand) non-negative pair weights (how often b follows a); zero on
        excluded candidates.
    excluded
        (anchors, n_cand) bool, True: not in the row's candidate set.
    log_q, logq_strength
        As in :func:`infonce`.

    Returns
    -------
    Scalar tensor: summed pair losses over summed pair weights.
    """
    logits = scores / tau  # (anchors, n_cand)
    if log_q is not None and logq_strength != 0.0:
        logits = logits - logq_strength * log_q
    if excluded is not None:
        logits = logits.masked_fill(excluded, _NEG)
    n = counts.sum(dim=1)  # (anchors,)
    lse = torch.logsumexp(logits, dim=1)  # (anchors,)
    pos = torch.where(counts > 0, counts * logits, torch.zeros_like(logits)).sum(1)
    return (n * lse - pos).sum() / n.sum().clamp_min(1e-12)


def teacher_log_probs(content_anchor: torch.Tensor, content_cand: torch.Tensor, *,
                      tau_t: float, excluded: torch.Tensor | None = None) -> torch.Tensor:
    """Teacher log distribution ``log softmax_j(cos(c_a, c_j) / tau_t)`` over the candidates.

    Parameters
    ----------
    content_anchor
        (batch, dim) L2-normalised content embeddings of the anchors.
    content_cand
        (n_cand, dim) L2-normalised content embeddings of the candidates.
    excluded
        (batch, n_cand) bool; excluded candidates get log probability -inf.

    Returns
    -------
    (batch, n_cand) log probabilities.
    """
    cos = content_anchor @ content_cand.T  # (batch, n_cand)
    logits = cos / tau_t
    if excluded is not None:
        logits = logits.masked_fill(excluded, _NEG)
    return torch.log_softmax(logits, dim=1)


def kl_distillation(scores: torch.Tensor, teacher_logp: torch.Tensor, *, tau_s: float,
                    excluded: torch.Tensor | None = None,
                    teacher_negentropy: torch.Tensor | None = None,
                    weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over rows of KL(teacher || student) over each row's candidate set.

    Parameters
    ----------
    scores
        (batch, n_cand) the head's similarities.
    teacher_logp
        (batch, n_cand) teacher log probabilities, -inf on excluded candidates (from
        :func:`teacher_log_probs` or the cached :class:`TeacherTable`).
    tau_s
        Student temperature.
    excluded
        (batch, n_cand) bool, the same exclusions the teacher used.
    teacher_negentropy
        (batch,) precomputed ``sum_j p_j log p_j``; saves a pass when the teacher is
        cached.
    weights
        (batch,) row weights of a weighted mean (e.g. an anchor's number of pairs).

    Returns
    -------
    Scalar tensor.
    """
    logits = scores / tau_s  # (batch, n_cand)
    if excluded is not None:
        logits = logits.masked_fill(excluded, _NEG)
    student_logp = torch.log_softmax(logits, dim=1)  # (batch, n_cand)
    p = teacher_logp.exp()  # (batch, n_cand); 0 where excluded
    # Zero-probability columns contribute nothing; where() keeps 0 * -inf out of the sum.
    cross = torch.where(p > 0, p * student_logp, torch.zeros_like(p)).sum(dim=1)  # (batch,)
    if teacher_negentropy is None:
        teacher_negentropy = torch.where(p > 0, p * teacher_logp, torch.zeros_like(p)).sum(1)
    kl = teacher_negentropy - cross  # (batch,)
    if weights is None:
        return kl.mean()
    return (weights * kl).sum() / weights.sum().clamp_min(1e-12)


class TeacherTable:
    """The teacher over the whole catalogue, computed once: row a is the distribution
    ``softmax_{j != a}(cos(c_a, c_j) / tau_t)``.

    Used with the full-softmax candidate set, where recomputing it for every batch made
    epochs several times slower. Memory: n_items^2 float32.
    """

    def __init__(self, content: torch.Tensor, tau_t: float, *, chunk: int = 1024) -> None:
        n = content.shape[0]
        self.p = torch.empty(n, n, dtype=torch.float32)  # (n, n), 0 on the diagonal
        self.negentropy = torch.empty(n, dtype=torch.float32)  # (n,)
        for start in range(0, n, chunk):
            rows = torch.arange(start, min(start + chunk, n))
            excluded = rows[:, None] == torch.arange(n)[None, :]  # (chunk, n)
            logp = teacher_log_probs(content[rows], content, tau_t=tau_t, excluded=excluded)
            p = logp.exp()
            self.p[rows] = p
            self.negentropy[rows] = torch.where(p > 0, p * logp, torch.zeros_like(p)).sum(1)
        self.tau_t = tau_t

    def rows(self, anchors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher probabilities (batch, n_items) and negentropies (batch,) of anchors."""
        return self.p[anchors], self.negentropy[anchors]


def full_catalogue_losses(query: torch.Tensor, emb: torch.Tensor, anchors: torch.Tensor,
                          counts: torch.Tensor, *, tau: float,
                          teacher: tuple[torch.Tensor, torch.Tensor] | None = None,
                          tau_s: float | None = None,
                          kl_weights: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Both tasks of one head for a batch of anchors, every other item a candidate.

    The values of :func:`infonce_counts` and :func:`kl_distillation` with each anchor
    excluded from its own row, computed with fewer passes over the (anchors, n_items)
    scores. Both losses are linear in the scores except for a log-sum-exp per row:

    - ``sum_b count_ab * s_ab = q_a . (counts_a @ E)``, the positives' part of InfoNCE;
    - ``sum_j p_aj * log softmax_j(s_aj / tau_s) = q_a . (p_a @ E) / tau_s - lse_a``,
      the cross-entropy of the teacher p (a distribution, 0 on the anchor).

    So the only elementwise work on the full matrix is one masked log-sum-exp per
    temperature, and the rest are thin (anchors, n_items) x (n_items, d) products.

    Parameters
    ----------
    query
        (anchors, d) trigger-side vectors of the anchors.
    emb
        (n_items, d) candidate-side vectors of the whole catalogue.
    anchors
        (anchors,) the anchors' item indices (their own column is excluded).
    counts
        (anchors, n_items) pair weights; must be 0 in the anchor's own column.
    tau
        InfoNCE temperature.
    teacher
        Teacher probabilities (anchors, n_items), 0 in the anchor's own column, and their
        negentropies ``sum_j p log p`` (anchors,), as :meth:`TeacherTable.rows` gives them;
        ``None``: no relevance loss.
    tau_s
        Student temperature of the distillation term.
    kl_weights
        (anchors,) row weights of the distillation mean; ``None``: plain mean.

    Returns
    -------
    The co-engagement loss (``None`` when the batch has no pairs) and the relevance loss
    (``None`` without a teacher), scalar tensors.
    """
    scores = query @ emb.T  # (anchors, n_items)
    own = (torch.arange(len(anchors)), anchors)
    lse: dict[float, torch.Tensor] = {}

    def masked_lse(temp: float) -> torch.Tensor:
        if temp not in lse:
            logits = (scores / temp).index_put(own, torch.tensor(_NEG))
            lse[temp] = torch.logsumexp(logits, dim=1)  # (anchors,)
        return lse[temp]

    coeng = None
    n = counts.sum(dim=1)  # (anchors,)
    if bool(n.sum() > 0):
        pos = (query * (counts @ emb)).sum(dim=1) / tau  # (anchors,)
        coeng = (n * masked_lse(tau) - pos).sum() / n.sum()
    rel = None
    if teacher is not None:
        if tau_s is None:
            raise ValueError("a teacher needs the student temperature tau_s")
        p, negentropy = teacher
        cross = (query * (p @ emb)).sum(dim=1) / tau_s - masked_lse(tau_s) * p.sum(dim=1)
        kl = negentropy - cross  # (anchors,)
        rel = kl.mean() if kl_weights is None else (
            (kl_weights * kl).sum() / kl_weights.sum().clamp_min(1e-12))
    return coeng, rel


def mixed_log_q(cand_freq: torch.Tensor, *, batch_size: int, n_uniform: int,
                n_items: int) -> torch.Tensor:
    """Log expected count of candidates in an in-batch (+ uniform) candidate set.

    In-batch candidates are the batch's positives, drawn in proportion to their
    frequency among training positives: item j is expected ``batch_size * f_j`` times.
    Uniform negatives add ``n_uniform / n_items`` to every item.

    Parameters
    ----------
    cand_freq
        (n_cand,) share of training positives that are each candidate.

    Returns
    -------
    (n_cand,) log expected counts.
    """
    expected = batch_size * cand_freq + n_uniform / n_items  # (n_cand,)
    return torch.log(expected.clamp_min(1e-12))
