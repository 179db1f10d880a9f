"""Baselines on tiny catalogues whose right answers are known, and one contract for all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mtmh import baselines, neighbors
from mtmh.baselines import METHODS, Neighbors, run_baseline, top_k_from_scores
from mtmh.config import Params
from mtmh.metrics import PAD
from mtmh.prepare import Prepared, prepare_frames

T0 = 1_000_000_000
LATE = T0 + 10_000_000


def make_prepared(train: list[tuple[str, int, int]], n_items: int,
                  params: Params | None = None) -> Prepared:
    """A Prepared whose listed interactions (user, item, seconds after T0) all fall in train.

    Items are ``0..n_items-1`` plus one filler item ``n_items`` that a filler user engages
    with many times, all at one late timestamp: both split quantiles land on it, so every
    listed interaction is train and the filler (a fresh item) only ever occurs in test.
    """
    late = len(train) * 4 + 4
    rows = [(u, i, T0 + t) for u, i, t in train] + [("filler", n_items, LATE)] * late
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": np.arange(n_items + 1),
                          "title": [f"item {i}" for i in range(n_items + 1)],
                          "genres": ["Drama"] * (n_items + 1)})
    prep = prepare_frames(inter, items, params or Params())
    assert prep.summary["split_sizes"]["train"] == len(train)
    return prep


def small_params(topk: int = 10) -> Params:
    params = Params()
    params.baselines.topk = topk
    params.baselines.als.factors = 8
    params.baselines.als.iterations = 5
    return params


def unit_rows(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def real_row(nbrs: Neighbors, i: int) -> list[int]:
    return [int(j) for j in nbrs.items[i] if j != PAD]


# --- the contract every method keeps ----------------------------------------------------

@pytest.fixture(scope="module")
def random_catalog() -> tuple[Prepared, np.ndarray]:
    """40 users with 3..15 interactions each over 20 items, a minute apart."""
    rng = np.random.default_rng(7)
    train = []
    for u in range(40):
        chosen = rng.choice(20, size=rng.integers(3, 16), replace=False)
        train += [(f"u{u}", int(i), 60 * t) for t, i in enumerate(chosen)]
    prep = make_prepared(train, n_items=20)
    return prep, unit_rows(prep.n_items)


@pytest.mark.parametrize("method", METHODS)
def test_contract(method: str, random_catalog: tuple[Prepared, np.ndarray]) -> None:
    prep, content = random_catalog
    topk = 25  # wider than the catalogue, so every row must pad
    nbrs = run_baseline(method, prep, content, small_params(topk))

    assert nbrs.items.shape == nbrs.scores.shape == (prep.n_items, topk)
    assert nbrs.items.dtype == np.int32 and nbrs.scores.dtype == np.float32
    pad = nbrs.items == PAD
    assert np.array_equal(pad, np.isnan(nbrs.scores))
    assert ((nbrs.items >= 0) | pad).all() and (nbrs.items < prep.n_items).all()
    for i in range(prep.n_items):
        row = nbrs.items[i]
        real = row[row != PAD]
        assert i not in real
        assert len(set(real.tolist())) == real.size
        assert (row[real.size:] == PAD).all(), f"padding inside row {i}"
        assert (np.diff(nbrs.scores[i, :real.size]) <= 1e-6).all(), f"row {i} not sorted"
    # Every method has something to say about items with train interactions.
    assert (~pad[prep.train_counts() > 0]).any(axis=1).all()


def test_fresh_items_get_what_the_method_gives(random_catalog) -> None:
    prep, content = random_catalog
    fresh = prep.n_items - 1  # the filler item: test interactions only
    assert prep.train_counts()[fresh] == 0
    lists = {m: run_baseline(m, prep, content, small_params(10)) for m in METHODS}
    for method in ("itemcf", "swing"):
        assert (lists[method].items[fresh] == PAD).all()
        assert not (lists[method].items == fresh).any()
    for method in ("popularity", "content", "als"):
        assert (lists[method].items[fresh] != PAD).all()
    assert not (lists["popularity"].items == fresh).any()


def test_unknown_method_names_the_known_ones(random_catalog) -> None:
    prep, content = random_catalog
    with pytest.raises(ValueError, match="popularity, itemcf, swing, content, als"):
        run_baseline("knn", prep, content, Params())


def test_content_shape_is_checked(random_catalog) -> None:
    prep, content = random_catalog
    with pytest.raises(ValueError, match=r"shape \(20, 8\).*one row per catalogue item"):
        run_baseline("content", prep, content[:-1], Params())


# --- known answers ----------------------------------------------------------------------

def test_popularity_order_ties_and_self() -> None:
    # Train counts: item 2 x3, items 0 and 1 x2 (tie: lower index first), item 3 x1.
    train = [("a", 2, 0), ("a", 0, 60), ("b", 2, 0), ("b", 1, 60), ("c", 2, 0),
             ("c", 0, 60), ("d", 1, 0), ("d", 3, 60)]
    prep = make_prepared(train, n_items=5)  # item 4 never engaged; 5 is the filler
    nbrs = run_baseline("popularity", prep, None, small_params(4))
    assert real_row(nbrs, 4) == [2, 0, 1, 3]
    assert real_row(nbrs, 0) == [2, 1, 3]  # itself removed, the rest move up
    assert real_row(nbrs, 2) == [0, 1, 3]
    assert nbrs.scores[4].tolist() == [3, 2, 2, 1]


def test_itemcf_cosine_by_hand() -> None:
    # u1: 0 1 2 -> pairs 01 02 12; u2: 0 1 -> 01. Counts C01 = 2, C02 = C12 = 1;
    # train counts n0 = n1 = 2, n2 = 1: sim01 = 2/2, sim02 = sim12 = 1/sqrt(2).
    prep = make_prepared([("u1", 0, 0), ("u1", 1, 60), ("u1", 2, 120),
                          ("u2", 0, 0), ("u2", 1, 60)], n_items=3)
    nbrs = run_baseline("itemcf", prep, None, small_params(3))
    assert real_row(nbrs, 0) == [1, 2]
    np.testing.assert_allclose(nbrs.scores[0, :2], [1.0, 2 ** -0.5], rtol=1e-6)
    assert real_row(nbrs, 2) == [0, 1]  # a tie, broken by the lower index

    params = small_params(3)
    params.baselines.itemcf.shrink = 1.0
    shrunk = run_baseline("itemcf", prep, None, params)
    np.testing.assert_allclose(shrunk.scores[0, :2], [2 / 3, 1 / (2 ** 0.5 + 1)], rtol=1e-6)


def test_itemcf_only_counts_pairs_inside_the_window() -> None:
    params = small_params(3)
    params.pairs.window = 1
    prep = make_prepared([("u1", 0, 0), ("u1", 1, 60), ("u1", 2, 120)], n_items=3, params=params)
    nbrs = run_baseline("itemcf", prep, None, params)
    assert real_row(nbrs, 0) == [1]  # 0 and 2 are two steps apart


SWING_USERS = [("u1", [0, 1, 2], 300), ("u2", [0, 1], 200), ("u3", [0, 1, 2, 3], 0)]


def swing_prepared() -> Prepared:
    train = [(u, i, start + 10 * n) for u, its, start in SWING_USERS for n, i in enumerate(its)]
    return make_prepared(train, n_items=4)


@pytest.mark.parametrize("dense_overlap", [True, False])
def test_swing_by_hand(dense_overlap: bool) -> None:
    # |I1 ∩ I2| = 2, |I1 ∩ I3| = 3, |I2 ∩ I3| = 2; alpha = 1.
    # sim(0,1): pairs 12, 13, 23 -> 1/3 + 1/4 + 1/3 = 11/12.
    # sim(0,2): only u1, u3 engaged with both -> 1/4.  sim(.,3): one user, no pair.
    prep = swing_prepared()
    nbrs = top_k_from_scores(baselines.swing_blocks(prep, 1.0, 10, block=2,
                                                    dense_overlap=dense_overlap), 4)
    assert real_row(nbrs, 0) == [1, 2]
    np.testing.assert_allclose(nbrs.scores[0, :2], [11 / 12, 1 / 4], rtol=1e-6)
    assert real_row(nbrs, 1) == [0, 2]
    assert real_row(nbrs, 2) == [0, 1]
    np.testing.assert_allclose(nbrs.scores[2, :2], [1 / 4, 1 / 4], rtol=1e-6)
    assert real_row(nbrs, 3) == []


@pytest.mark.parametrize("session_length", [0, 4])
def test_swing_matches_the_definition(random_catalog, session_length: int) -> None:
    """Every score against a direct double loop over pairs of sessions (no session cap).

    With ``session_length`` 4 each user's interactions (a minute apart) are cut into
    chunks of four in time order; 0 keeps whole histories, one session per user.
    """
    prep, _ = random_catalog
    train = prep.interactions[prep.interactions["split"] == 0]
    sets = []
    for _, g in train.groupby("user_id"):
        items = list(g.sort_values(["timestamp", "row"])["item"])
        step = session_length or len(items)
        sets += [set(items[s:s + step]) for s in range(0, len(items), step)]
    n = prep.n_items
    want = np.zeros((n, n))
    for x, u in enumerate(sets):
        for v in sets[x + 1:]:
            shared = u & v
            for i in shared:
                for j in shared:
                    want[i, j] += 1.0 / (1.0 + len(shared))
    got = sp.vstack(list(baselines.swing_blocks(
        prep, 1.0, 1000, block=6, session_length=session_length, max_gap=86400))).toarray()
    np.fill_diagonal(want, 0.0)
    np.fill_diagonal(got, 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_sessions_cut_by_length_and_gap() -> None:
    # u1: three interactions, a two-day pause, two more; u2 interleaved in the file.
    train = pd.DataFrame({
        "user_id": ["u1", "u2", "u1", "u1", "u2", "u1", "u1"],
        "timestamp": [0, 5, 10, 20, 15, 200_000, 200_010],
        "row": np.arange(7),
    })
    codes = baselines.sessions(train, 2, 86400)
    by_row = dict(zip(train["row"], codes, strict=True))
    # u1 in time order: rows 0, 2 | 3 (length cut) | 5, 6 (gap cut); u2: rows 1, 4.
    assert by_row[0] == by_row[2] != by_row[3]
    assert by_row[5] == by_row[6] != by_row[3]
    assert by_row[1] == by_row[4] not in {by_row[0], by_row[3], by_row[5]}
    assert len(set(codes)) == 4
    # No length and no gap: one session per user.
    whole = baselines.sessions(train, 0, None)
    assert len(set(whole)) == 2 and len(set(whole[[0, 2, 3, 5, 6]])) == 1


def test_swing_sessions_keep_what_is_engaged_together() -> None:
    # Two users watch 0, 1, then 2, 3. Whole histories link 0 with 3; sessions of two
    # interactions only link 0 with 1 and 2 with 3.
    train = [(u, i, start + 10 * n) for u, start in (("u1", 0), ("u2", 100))
             for n, i in enumerate([0, 1, 2, 3])]
    prep = make_prepared(train, n_items=4)
    params = small_params(4)
    params.baselines.swing.session_length = 0
    assert real_row(run_baseline("swing", prep, None, params), 0) == [1, 2, 3]
    params.baselines.swing.session_length = 2
    nbrs = run_baseline("swing", prep, None, params)
    assert real_row(nbrs, 0) == [1]
    assert real_row(nbrs, 3) == [2]


def test_swing_keeps_the_most_recent_sessions() -> None:
    # With two sessions per item, item 0 keeps u1 and u2 (u3 engaged earliest): only the
    # pair u1-u2 remains, which shares items 0 and 1 but not 2. (Each user's items fit
    # one session.)
    params = small_params(4)
    params.baselines.swing.max_sessions = 2
    nbrs = run_baseline("swing", swing_prepared(), None, params)
    assert real_row(nbrs, 0) == [1]
    np.testing.assert_allclose(nbrs.scores[0, 0], 1 / 3, rtol=1e-6)


@pytest.mark.parametrize("length", [-1, 1])
def test_swing_rejects_a_session_length_that_pairs_nothing(length: int) -> None:
    params = small_params(4)
    params.baselines.swing.session_length = length
    with pytest.raises(ValueError, match=f"session_length must be 0 .* got {length}"):
        run_baseline("swing", swing_prepared(), None, params)


def checkerboard() -> Prepared:
    """Users 0-3 engage only with items 0-2, users 4-7 only with items 3-5."""
    rng = np.random.default_rng(3)
    train = []
    for u in range(8):
        group = np.arange(3) + (0 if u < 4 else 3)
        train += [(f"u{u}", int(i), 60 * t) for t, i in enumerate(rng.permutation(group))]
    return make_prepared(train, n_items=6)


@pytest.mark.parametrize("method", ["itemcf", "swing"])
def test_checkerboard_stays_in_group(method: str) -> None:
    prep = checkerboard()
    nbrs = run_baseline(method, prep, None, small_params(10))
    for i in range(6):
        group = {0, 1, 2} if i < 3 else {3, 4, 5}
        assert set(real_row(nbrs, i)) == group - {i}


def test_als_checkerboard_ranks_own_group_first() -> None:
    params = small_params(10)
    params.baselines.als.iterations = 15
    nbrs = run_baseline("als", checkerboard(), None, params)
    for i in range(6):
        group = {0, 1, 2} if i < 3 else {3, 4, 5}
        assert set(real_row(nbrs, i)[:2]) == group - {i}


def test_als_is_reproducible(random_catalog) -> None:
    prep, _ = random_catalog
    first = run_baseline("als", prep, None, small_params(5))
    again = run_baseline("als", prep, None, small_params(5))
    assert np.array_equal(first.items, again.items)


def test_content_nearest_neighbours() -> None:
    prep = make_prepared([("u", 0, 0), ("u", 1, 60)], n_items=4)
    content = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.2, 0.8], [-1.0, 0.0]],
                       dtype=np.float32)  # rows 0-3 plus the filler; not normalised
    nbrs = run_baseline("content", prep, content, small_params(4))
    assert [real_row(nbrs, i)[0] for i in range(5)] == [1, 0, 3, 2, 2]
    assert real_row(nbrs, 4)[-1] == 0  # orthogonal to item 2, opposite to item 0
    cos01 = 0.9 / np.hypot(0.9, 0.1)
    np.testing.assert_allclose(nbrs.scores[0, 0], cos01, rtol=1e-6)


# --- top_k_from_scores and Neighbors ----------------------------------------------------

def brute_force(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: per row, finite cells but the diagonal, by (-score, index)."""
    n_rows = scores.shape[0]
    items = np.full((n_rows, k), PAD, np.int32)
    vals = np.full((n_rows, k), np.nan, np.float32)
    for i in range(n_rows):
        cand = [(-scores[i, j], j) for j in range(scores.shape[1])
                if j != i and np.isfinite(scores[i, j])]
        for r, (neg, j) in enumerate(sorted(cand)[:k]):
            items[i, r], vals[i, r] = j, -neg
    return items, vals


def test_top_k_dense_sparse_and_blocks_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    # Few distinct values make many ties; -inf and NaN cells are never candidates.
    scores = rng.integers(0, 4, size=(30, 30)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    scores[rng.random(scores.shape) < 0.1] = np.nan
    want_items, want_scores = brute_force(scores, 12)

    monkeypatch.setattr(neighbors, "BLOCK_CELLS", 7 * 30)  # blocks of 7 rows
    dense = top_k_from_scores(scores, 12)
    stored = np.where(np.isfinite(scores), scores + 10, 0)  # shifted so none is zero
    sparse = top_k_from_scores(sp.csr_matrix(stored), 12)
    blocks = top_k_from_scores([scores[:11], scores[11:13], scores[13:]], 12)
    for got in (dense, blocks):
        assert np.array_equal(got.items, want_items)
        np.testing.assert_array_equal(got.scores, want_scores)
    assert np.array_equal(sparse.items, want_items)


def test_top_k_sparse_candidates_are_stored_entries() -> None:
    matrix = sp.csr_matrix((np.array([0.5, 0.9, 0.1, 0.3]), (np.array([0, 0, 0, 2]),
                                                              np.array([1, 2, 0, 1]))),
                           shape=(3, 3))
    nbrs = top_k_from_scores(matrix, 3)
    assert nbrs.items.tolist() == [[2, 1, PAD], [PAD] * 3, [1, PAD, PAD]]
    keep_self = top_k_from_scores(matrix, 3, exclude_self=False)
    assert keep_self.items[0].tolist() == [2, 1, 0]


def test_top_k_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be a positive"):
        top_k_from_scores(np.zeros((2, 2)), 0)


def test_neighbors_round_trip(tmp_path) -> None:
    nbrs = top_k_from_scores(np.array([[0, 2, 1], [1, 0, 3], [5, 5, 0]], np.float32), 4)
    path = tmp_path / "lists" / "itemcf.npz"
    nbrs.save(path)
    back = Neighbors.load(path)
    assert np.array_equal(back.items, nbrs.items)
    np.testing.assert_array_equal(back.scores, nbrs.scores)
    assert [p.name for p in path.parent.iterdir()] == ["itemcf.npz"]


def test_neighbors_load_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        Neighbors.load(tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, items=np.zeros((2, 2), np.int32))
    with pytest.raises(ValueError, match=r"other.npz.*\['scores'\] missing"):
        Neighbors.load(other)
