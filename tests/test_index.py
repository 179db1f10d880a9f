"""Indexes: exact search, trigger exclusion, padding, and ANN recall against exact search."""

import numpy as np
import pytest

from mtmh.index import IndexConfig, build_index, recall_against_exact, search


def unit_rows(n, d, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_flat_search_matches_brute_force_and_drops_the_trigger():
    x = unit_rows(200, 16)
    items, scores = search(build_index(x), x, 10, exclude=np.arange(200))
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    expected = np.argsort(-sims, axis=1)[:, :10]
    assert (items == expected).all()
    assert np.allclose(scores, np.take_along_axis(sims, expected, axis=1), atol=1e-5)
    assert not (items == np.arange(200)[:, None]).any()


def test_short_catalogue_is_padded():
    x = unit_rows(4, 8)
    items, scores = search(build_index(x), x, 6, exclude=np.arange(4))
    assert (items[:, :3] >= 0).all() and (items[:, 3:] == -1).all()
    assert np.isnan(scores[:, 3:]).all()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_recall_most_of_exact_search(kind):
    x = unit_rows(3000, 32, seed=1)
    recall = recall_against_exact(x, IndexConfig(kind=kind, ivf_nlist=16, ivf_nprobe=8), k=20,
                                  sample=300)
    assert 0.8 < recall <= 1.0
    assert recall_against_exact(x, IndexConfig(kind="flat"), k=20, sample=100) == 1.0


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="not one of"):
        build_index(unit_rows(10, 4), IndexConfig(kind="lsh"))
