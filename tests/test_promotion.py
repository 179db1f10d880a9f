"""Champion/challenger decisions and carrying a champion's lists to a grown catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from mtmh.metrics import PAD
from mtmh.promotion import PromotionError, check_tolerances, compare, remap_lists

TOL = {"recall@50": 0.005, "relevance_rate@50": 0.01}
CHAMPION = {"recall@50": 0.250, "relevance_rate@50": 0.400, "coverage@50": 0.9}


def test_first_model_is_promoted():
    decision = compare({"recall@50": 0.1, "relevance_rate@50": 0.1}, None, TOL)
    assert decision.promote and "no champion" in decision.reason and decision.checks == []


def test_drops_within_tolerance_promote():
    challenger = {"recall@50": 0.2451, "relevance_rate@50": 0.3901}
    decision = compare(challenger, CHAMPION, TOL)
    assert decision.promote
    assert [c.metric for c in decision.checks] == ["recall@50", "relevance_rate@50"]
    assert decision.checks[0].delta == pytest.approx(-0.0049)


def test_exact_tolerance_boundary_promotes_and_identical_models_promote_at_zero():
    assert compare({"recall@50": 0.245, "relevance_rate@50": 0.39}, CHAMPION, TOL).promote
    assert compare(dict(CHAMPION), CHAMPION, {"recall@50": 0.0, "relevance_rate@50": 0.0}
                   ).promote


@pytest.mark.parametrize("metric", ["recall@50", "relevance_rate@50"])
def test_one_metric_beyond_tolerance_keeps_champion_even_if_the_other_improves(metric):
    challenger = {"recall@50": 0.30, "relevance_rate@50": 0.50}
    challenger[metric] = CHAMPION[metric] - TOL[metric] - 0.001
    decision = compare(challenger, CHAMPION, TOL)
    assert not decision.promote
    assert metric in decision.reason and "WORSE" in decision.reason
    other = next(m for m in TOL if m != metric)
    assert other not in decision.reason  # the reason names only what failed
    rows = {r["metric"]: r["verdict"] for r in decision.as_rows()}
    assert rows == {metric: "worse", other: "ok"}


def test_only_watched_metrics_count():
    challenger = {"recall@50": 0.25, "relevance_rate@50": 0.40, "coverage@50": 0.1}
    assert compare(challenger, CHAMPION, TOL).promote


@pytest.mark.parametrize("bad", [{}, {"recall@50": -0.01}, {"recall@50": "0.1"},
                                 {"recall@50": float("nan")}, {"recall@50": True}])
def test_bad_tolerances_are_rejected_by_name(bad):
    with pytest.raises(PromotionError, match="tolerance"):
        check_tolerances(bad)


def test_missing_metric_is_an_error_not_a_silent_pass():
    with pytest.raises(PromotionError, match="challenger's metrics lack"):
        compare({"recall@50": 0.3}, CHAMPION, TOL)
    with pytest.raises(PromotionError, match="champion's metrics lack"):
        compare({"recall@50": 0.3, "relevance_rate@50": 0.5}, {"recall@50": 0.2}, TOL)


def test_remap_follows_ids_through_a_grown_and_reordered_catalogue():
    old_ids = ["a", "b", "c", "d"]
    lists = np.array([[1, 2, 3],       # a -> b, c, d
                      [0, 3, PAD],     # b -> a, d
                      [3, 0, 1],       # c -> d, a, b
                      [2, PAD, PAD]])  # d -> c
    # "d" left the catalogue; "e" is new; the order changed.
    new_ids = ["e", "c", "a", "b"]
    out = remap_lists(lists, old_ids, new_ids)
    assert out.dtype == np.int32 and out.shape == (4, 3)
    np.testing.assert_array_equal(out, [[PAD, PAD, PAD],   # e: unknown to the champion
                                        [2, 3, PAD],       # c -> a, b (d dropped)
                                        [3, 1, PAD],       # a -> b, c
                                        [2, PAD, PAD]])    # b -> a


def test_remap_matches_ids_across_types_and_is_identity_on_the_same_catalogue():
    lists = np.array([[1, PAD], [0, 2], [1, 0]])
    np.testing.assert_array_equal(remap_lists(lists, [7, 8, 9], ["7", "8", "9"]), lists)
    with pytest.raises(PromotionError, match="do not match"):
        remap_lists(lists, [7, 8], [7, 8])
