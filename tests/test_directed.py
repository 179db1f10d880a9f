"""Directed scores (``model.asymmetric``) on a catalogue where only the direction is signal.

Thirty items form a ring; every user watches a run of consecutive items in ring order, so
the item after ``a`` is always ``a + 1``. A symmetric score cannot tell ``a + 1`` from
``a - 1``: both are co-engaged with ``a`` equally often. The trigger-side maps can.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mtmh.checkpoint import load_checkpoint, save_checkpoint
from mtmh.config import Params
from mtmh.metrics import recall_at_k
from mtmh.model_config import config_from_dict, default_model_params
from mtmh.neighbors import head_neighbors
from mtmh.prepare import Prepared, prepare_frames
from mtmh.retrieval import ServingConfig, lists_for_catalogue
from mtmh.train import build_model, train

N_ITEMS = 30


@pytest.fixture(scope="module")
def ring() -> tuple[Prepared, np.ndarray]:
    rng = np.random.default_rng(1)
    items = pd.DataFrame({"item_id": [f"m{i}" for i in range(N_ITEMS)],
                          "title": [f"Movie {i}" for i in range(N_ITEMS)], "genres": ""})
    rows = []
    for user in range(400):
        first, start = rng.integers(N_ITEMS), rng.uniform(0, 1e6)
        for step in range(6):
            rows.append((f"u{user}", f"m{(first + step) % N_ITEMS}", int(start + 60 * step)))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    content = rng.normal(size=(N_ITEMS, 16))  # no signal in the content
    content /= np.linalg.norm(content, axis=1, keepdims=True)
    return prepare_frames(inter, items, Params()), content.astype(np.float32)


def _cfg(asymmetric: bool, symmetric: bool):
    raw = default_model_params()
    raw["model"].update({"d": 8, "id_dim": 8, "content_dim": 4, "side_dim": 4, "trunk": [16],
                         "asymmetric": asymmetric,
                         "heads": [{"name": "engagement", "alpha": 0.0, "share": 1.0}]})
    raw["train"].update({"max_epochs": 60, "eval_every": 5, "patience": 3, "lr": 0.02,
                         "anchor_batch_size": 8, "early_stop_k": 1, "threads": 1,
                         "id_dropout": 0.0, "max_offset": 1, "symmetric": symmetric})
    return config_from_dict(raw)


def _next_item_recall(model, prep: Prepared) -> float:
    lists = head_neighbors(model.all_item_embeddings(), 1,
                           queries=model.all_item_embeddings(side="trigger"))
    return recall_at_k(lists[0], prep.test_pairs["a"].to_numpy(),
                       prep.test_pairs["b"].to_numpy(), 1)


def test_directed_scores_find_the_next_item(ring: tuple[Prepared, np.ndarray]) -> None:
    prep, content = ring
    assert len(prep.test_pairs) > 50
    directed = train(prep, content, _cfg(asymmetric=True, symmetric=False), progress=False)
    shared = train(prep, content, _cfg(asymmetric=False, symmetric=False), progress=False)
    # The next item first for nearly every trigger; a shared score ties a + 1 with a - 1.
    assert _next_item_recall(directed.model, prep) > 0.9
    assert _next_item_recall(shared.model, prep) < 0.75


def test_trigger_side_starts_as_the_candidate_side(ring: tuple[Prepared, np.ndarray]) -> None:
    prep, content = ring
    model = build_model(prep, content, _cfg(True, False).model)
    assert np.allclose(model.all_item_embeddings(side="trigger"), model.all_item_embeddings(),
                       atol=1e-6)
    with pytest.raises(ValueError, match="side 'query'"):
        model.all_item_embeddings(side="query")


def test_asymmetric_checkpoint_and_serving(ring: tuple[Prepared, np.ndarray],
                                           tmp_path) -> None:
    prep, content = ring
    cfg = _cfg(True, False)
    model = build_model(prep, content, cfg.model).eval()
    with torch.no_grad():  # move the trigger side away from the identity
        for layer in model.trigger_maps:
            layer.weight.copy_(torch.roll(torch.eye(8), 1, dims=0))
    trig, cand = model.all_item_embeddings(side="trigger"), model.all_item_embeddings()
    assert not np.allclose(trig, cand, atol=1e-3)
    path = tmp_path / "directed.safetensors"
    save_checkpoint(path, model, cfg)
    loaded = load_checkpoint(path)
    assert np.allclose(loaded.all_item_embeddings(side="trigger"), trig)
    assert np.allclose(loaded.embed_content(content[:2], side="trigger"),
                       model.embed_content(content[:2], side="trigger"))
    # Served lists rank by trigger . candidate, not candidate . candidate.
    lists, _ = lists_for_catalogue(cand, ["engagement"], [1.0], ServingConfig(k=5), trig)
    assert np.array_equal(lists.heads.items[0], head_neighbors(cand, 5, queries=trig)[0])
    assert not np.array_equal(lists.heads.items[0], head_neighbors(cand, 5)[0])
    expected = np.einsum("nd,nkd->nk", trig[0], cand[0][lists.merged.items])
    assert np.allclose(lists.merged.scores, expected, atol=1e-5)
