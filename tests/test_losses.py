"""The two losses against values computed by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from mtmh.losses import (
    TeacherTable,
    candidate_mask,
    full_catalogue_losses,
    infonce,
    infonce_counts,
    kl_distillation,
    mixed_log_q,
    teacher_log_probs,
)


def _lse(*xs: float) -> float:
    return math.log(sum(math.exp(x) for x in xs))


def test_infonce_by_hand() -> None:
    scores = torch.tensor([[0.5, 0.1, -0.2], [0.0, 0.3, 0.6]])
    loss = infonce(scores, torch.tensor([0, 2]), tau=0.5)
    row0 = -1.0 + _lse(1.0, 0.2, -0.4)
    row1 = -1.2 + _lse(0.0, 0.6, 1.2)
    assert loss.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_infonce_logq_correction_by_hand() -> None:
    scores = torch.tensor([[0.5, 0.1, -0.2]])
    log_q = torch.log(torch.tensor([2.0, 1.0, 4.0]))
    loss = infonce(scores, torch.tensor([0]), tau=0.5, log_q=log_q, logq_strength=1.0)
    logits = [1.0 - math.log(2), 0.2, -0.4 - math.log(4)]
    assert loss.item() == pytest.approx(-logits[0] + _lse(*logits), rel=1e-6)
    half = infonce(scores, torch.tensor([0]), tau=0.5, log_q=log_q, logq_strength=0.5)
    logits = [1.0 - 0.5 * math.log(2), 0.2, -0.4 - 0.5 * math.log(4)]
    assert half.item() == pytest.approx(-logits[0] + _lse(*logits), rel=1e-6)


def test_candidate_mask_drops_anchor_and_accidental_hits() -> None:
    anchors = torch.tensor([0, 1])
    positives = torch.tensor([2, 2])
    candidates = torch.tensor([2, 2, 0])
    mask = candidate_mask(anchors, positives, candidates, torch.tensor([0, 1]))
    # Row 0: its positive sits in column 0; column 1 is a copy, column 2 the anchor.
    # Row 1: its positive sits in column 1; column 0 is a copy.
    assert mask.tolist() == [[False, True, True], [True, False, False]]


def test_masked_column_is_as_good_as_absent() -> None:
    scores = torch.tensor([[0.9, 0.9, 0.1]])
    excluded = torch.tensor([[False, True, False]])
    masked = infonce(scores, torch.tensor([0]), tau=0.1, excluded=excluded)
    dropped = infonce(scores[:, [0, 2]], torch.tensor([0]), tau=0.1)
    assert masked.item() == pytest.approx(dropped.item(), rel=1e-6)


def test_infonce_counts_equals_the_pairwise_loss() -> None:
    torch.manual_seed(0)
    scores = torch.randn(3, 5)
    counts = torch.tensor([[0, 2, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 3]],
                          dtype=torch.float32)
    excluded = torch.zeros(3, 5, dtype=torch.bool)
    excluded[0, 0] = excluded[2, 2] = True
    grouped = infonce_counts(scores, counts, tau=0.2, excluded=excluded)
    rows = torch.tensor([0, 0, 0, 2, 2, 2, 2])
    cols = torch.tensor([1, 1, 3, 0, 4, 4, 4])
    pairwise = infonce(scores[rows], cols, tau=0.2, excluded=excluded[rows])
    assert grouped.item() == pytest.approx(pairwise.item(), rel=1e-5)


def test_kl_by_hand_at_known_temperatures() -> None:
    content_a = torch.tensor([[1.0, 0.0]])
    content_c = torch.tensor([[0.8, 0.6], [0.2, math.sqrt(1 - 0.04)]])
    t_logp = teacher_log_probs(content_a, content_c, tau_t=0.1)
    p0 = math.exp(8) / (math.exp(8) + math.exp(2))
    assert t_logp.exp()[0].tolist() == pytest.approx([p0, 1 - p0], rel=1e-5)

    scores = torch.tensor([[0.3, 0.5]])
    kl = kl_distillation(scores, t_logp, tau_s=0.5)
    q0 = math.exp(0.6) / (math.exp(0.6) + math.exp(1.0))
    expected = p0 * math.log(p0 / q0) + (1 - p0) * math.log((1 - p0) / (1 - q0))
    assert kl.item() == pytest.approx(expected, rel=1e-5)


def test_kl_excludes_the_anchor_and_vanishes_when_student_matches() -> None:
    content = torch.nn.functional.normalize(torch.randn(4, 6, generator=torch.Generator()
                                                        .manual_seed(3)), dim=1)
    anchors = torch.tensor([0, 2])
    excluded = anchors[:, None] == torch.arange(4)[None, :]
    t_logp = teacher_log_probs(content[anchors], content, tau_t=0.3, excluded=excluded)
    assert t_logp.exp()[excluded].sum().item() == 0.0
    same = kl_distillation(content[anchors] @ content.T, t_logp, tau_s=0.3, excluded=excluded)
    assert same.item() == pytest.approx(0.0, abs=1e-6)
    other = kl_distillation(torch.zeros(2, 4), t_logp, tau_s=0.3, excluded=excluded)
    assert other.item() > 0.01


def test_kl_weighted_mean() -> None:
    t_logp = torch.log(torch.tensor([[0.9, 0.1], [0.5, 0.5]]))
    scores = torch.zeros(2, 2)
    per_row = [0.9 * math.log(1.8) + 0.1 * math.log(0.2), 0.0]
    kl = kl_distillation(scores, t_logp, tau_s=1.0, weights=torch.tensor([3.0, 1.0]))
    assert kl.item() == pytest.approx(3 * per_row[0] / 4, rel=1e-5)


def test_teacher_table_matches_per_batch_teacher() -> None:
    content = torch.nn.functional.normalize(torch.randn(7, 5, generator=torch.Generator()
                                                        .manual_seed(5)), dim=1)
    table = TeacherTable(content, tau_t=0.2, chunk=3)
    anchors = torch.tensor([4, 0, 6])
    probs, negent = table.rows(anchors)
    excluded = anchors[:, None] == torch.arange(7)[None, :]
    direct = teacher_log_probs(content[anchors], content, tau_t=0.2, excluded=excluded)
    assert torch.allclose(probs, direct.exp(), atol=1e-6)
    assert torch.allclose(probs.sum(1), torch.ones(3), atol=1e-6)
    assert probs[excluded].sum().item() == 0.0
    p = direct.exp()
    manual = torch.where(p > 0, p * direct, torch.zeros_like(p)).sum(1)
    assert torch.allclose(negent, manual, atol=1e-6)


def test_mixed_log_q_by_hand() -> None:
    got = mixed_log_q(torch.tensor([0.5, 0.25]), batch_size=4, n_uniform=2, n_items=8)
    assert got.tolist() == pytest.approx([math.log(2.25), math.log(1.25)], rel=1e-6)
    no_uniform = mixed_log_q(torch.tensor([0.5]), batch_size=4, n_uniform=0, n_items=8)
    assert no_uniform.tolist() == pytest.approx([math.log(2.0)], rel=1e-6)


@pytest.mark.parametrize(("tau", "tau_s", "weighted"), [(0.1, 0.1, True), (0.05, 0.2, False)])
def test_full_catalogue_losses_equal_the_masked_losses(tau: float, tau_s: float,
                                                       weighted: bool) -> None:
    """The fused form gives the values and gradients of infonce_counts + kl_distillation."""
    gen = torch.Generator().manual_seed(11)
    n, d = 9, 4
    anchors = torch.tensor([3, 0, 7, 5])
    content = torch.nn.functional.normalize(torch.randn(n, 6, generator=gen), dim=1)
    counts = torch.randint(0, 3, (len(anchors), n), generator=gen).float()
    counts[3] = 0.0  # an anchor without pairs
    excluded = anchors[:, None] == torch.arange(n)[None, :]
    counts[excluded] = 0.0
    table = TeacherTable(content, tau_t=0.3)
    weights = counts.sum(1) if weighted else None

    def leaves() -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(2)
        emb = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1)
        query = emb[anchors] @ torch.randn(d, d, generator=g)  # a directed trigger side
        return emb.requires_grad_(), query.detach().requires_grad_()

    emb, query = leaves()
    coeng, rel = full_catalogue_losses(query, emb, anchors, counts, tau=tau,
                                       teacher=table.rows(anchors), tau_s=tau_s,
                                       kl_weights=weights)
    (coeng + 0.7 * rel).backward()

    emb_ref, query_ref = leaves()
    scores = query_ref @ emb_ref.T
    t_logp = teacher_log_probs(content[anchors], content, tau_t=0.3, excluded=excluded)
    coeng_ref = infonce_counts(scores, counts, tau=tau, excluded=excluded)
    rel_ref = kl_distillation(scores, t_logp, tau_s=tau_s, excluded=excluded,
                              weights=weights)
    (coeng_ref + 0.7 * rel_ref).backward()

    assert coeng.item() == pytest.approx(coeng_ref.item(), rel=1e-5)
    assert rel.item() == pytest.approx(rel_ref.item(), rel=1e-4, abs=1e-6)
    assert torch.allclose(emb.grad, emb_ref.grad, atol=1e-5)
    assert torch.allclose(query.grad, query_ref.grad, atol=1e-5)


def test_full_catalogue_losses_without_pairs_or_teacher() -> None:
    emb = torch.nn.functional.normalize(torch.randn(5, 3), dim=1)
    coeng, rel = full_catalogue_losses(emb[:2], emb, torch.tensor([0, 1]), torch.zeros(2, 5),
                                       tau=0.1)
    assert coeng is None and rel is None
    with pytest.raises(ValueError, match="tau_s"):
        full_catalogue_losses(emb[:2], emb, torch.tensor([0, 1]), torch.zeros(2, 5), tau=0.1,
                              teacher=(torch.zeros(2, 5), torch.zeros(2)))
