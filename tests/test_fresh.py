"""Fresh-item slots at serving (``serving.fresh_share``) on a small untrained encoder.

Items without train interactions share the unknown ID row, so they are the model's fresh
items; with a share kept for them, every merged list holds at least that share of fresh
items, ranked by one head over the fresh items alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from mtmh.config import ConfigError
from mtmh.index import build_subset_index
from mtmh.model import HeadConfig, ItemEncoder, ModelConfig
from mtmh.neighbors import head_neighbors
from mtmh.retrieval import (
    ServingConfig,
    fresh_head_index,
    model_lists,
    search_fresh,
    serving_config,
)

N_ITEMS = 40


@pytest.fixture(scope="module")
def model() -> ItemEncoder:
    rng = np.random.default_rng(0)
    content = rng.normal(size=(N_ITEMS, 12)).astype(np.float32)
    content /= np.linalg.norm(content, axis=1, keepdims=True)
    known = np.ones(N_ITEMS, dtype=bool)
    known[::4] = False  # items 0, 4, 8, ...: fresh
    cfg = ModelConfig(d=8, id_dim=8, content_dim=4, side_dim=4, trunk=[16], asymmetric=True,
                      heads=[HeadConfig(name="engagement", alpha=0.1, share=0.8),
                             HeadConfig(name="relevance", alpha=1.0, share=0.2)])
    return ItemEncoder(cfg, content, known).eval()


def test_search_fresh_ranks_fresh_items_only(model: ItemEncoder) -> None:
    cand, trig = model.catalogue_vectors()
    fresh = ~model.known.numpy()
    index = build_subset_index(cand[1], np.flatnonzero(fresh))
    found = search_fresh(index, trig[1], 5, exclude=np.arange(N_ITEMS))
    # The same as ranking the whole catalogue with every known item's score at -inf.
    scores = trig[1] @ cand[1].T
    scores[:, ~fresh] = -np.inf
    scores[np.arange(N_ITEMS), np.arange(N_ITEMS)] = -np.inf
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    assert np.array_equal(found.items, expected)
    assert fresh[found.items].all()
    assert not (found.items == np.arange(N_ITEMS)[:, None]).any()  # trigger excluded
    assert np.allclose(found.scores, np.take_along_axis(scores, expected, axis=1), atol=1e-5)


def test_search_fresh_pads_when_few_or_no_fresh_items(model: ItemEncoder) -> None:
    cand, trig = model.catalogue_vectors()
    fresh = np.flatnonzero(~model.known.numpy())
    few = search_fresh(build_subset_index(cand[0], fresh), trig[0], 20)
    assert (few.items[:, :10] >= 0).all() and (few.items[:, 10:] == -1).all()
    assert np.isnan(few.scores[:, 10:]).all()
    none = search_fresh(build_subset_index(cand[0], np.array([], np.int64)), trig[0], 5)
    assert (none.items == -1).all()


def test_fresh_share_puts_fresh_items_in_every_list(model: ItemEncoder) -> None:
    fresh = ~model.known.numpy()
    plain, _ = model_lists(model, ServingConfig(k=20, merge="rrf"))
    lists, _ = model_lists(model, ServingConfig(k=20, merge="rrf", fresh_share=0.2))
    assert lists.fresh_head == 0  # the largest share
    merged = lists.merged.items
    for row in range(N_ITEMS):
        assert row not in merged[row] and len(set(merged[row])) == 20
        assert fresh[merged[row]].sum() >= 4
        # The engagement head's four best fresh items are listed (in a reserved slot or
        # where the merge had them); the known items are the plain merge's, in its order.
        assert set(lists.fresh.items[row, :4]) <= set(merged[row])
        known = [i for i in merged[row] if not fresh[i]]
        assert known == [i for i in plain.merged.items[row] if not fresh[i]][:len(known)]
    # Reserved entries are credited to the fresh head and keep its score.
    cand, trig = model.catalogue_vectors()
    slot = (merged == lists.fresh.items[:, :1]) & (lists.merged.source == 0)
    rows, cols = np.nonzero(slot)
    assert rows.size
    assert np.allclose(lists.merged.scores[rows, cols],
                       np.einsum("nd,nd->n", trig[0][rows], cand[0][merged[rows, cols]]),
                       atol=1e-5)
    # Without a share the lists are the plain merge.
    assert plain.fresh is None
    assert np.array_equal(plain.heads.items[0], head_neighbors(cand, 20, queries=trig)[0])


def test_fresh_head_choice_and_settings() -> None:
    heads = [HeadConfig(name="engagement", alpha=0.1, share=0.3),
             HeadConfig(name="relevance", alpha=1.0, share=0.7)]
    assert fresh_head_index(heads, None) == 1  # the largest share
    assert fresh_head_index(heads, "engagement") == 0
    assert fresh_head_index(heads[:1], "relevance") == 0  # a one-head model uses its head
    with pytest.raises(ConfigError, match=r"'relevnce' is not a head.*\['engagement', "
                                          r"'relevance'\]"):
        fresh_head_index(heads, "relevnce")
    assert serving_config({"fresh_share": 0.1, "fresh_head": "relevance"}).fresh_share == 0.1
    for bad in (1.0, -0.1):
        with pytest.raises(ConfigError, match=r"serving.fresh_share must be in \[0, 1\)"):
            serving_config({"fresh_share": bad})
