"""The encoder, its training and its checkpoints on a tiny catalogue with a known answer.

Forty items fall into four genres; every user watches items of one genre only, so a
model that learns co-engagement must rank an item's genre-mates first. Item 39 is never
watched: a fresh item.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mtmh.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from mtmh.config import ConfigError, Params
from mtmh.metrics import recall_at_k
from mtmh.model_config import ablation, config_from_dict, default_model_params
from mtmh.neighbors import head_neighbors
from mtmh.prepare import Prepared, prepare_frames
from mtmh.train import build_model, train

N_ITEMS, N_GROUPS, FRESH = 40, 4, 39
GENRES = ["Action", "Comedy", "Drama", "Horror"]


@pytest.fixture(scope="module")
def data() -> tuple[Prepared, np.ndarray]:
    rng = np.random.default_rng(0)
    group = np.arange(N_ITEMS) % N_GROUPS
    items = pd.DataFrame({"item_id": [f"m{i}" for i in range(N_ITEMS)],
                          "title": [f"Movie {i} ({1990 + i % 10})" for i in range(N_ITEMS)],
                          "genres": [GENRES[g] for g in group]})
    rows = []
    for user in range(300):
        g = user % N_GROUPS
        pool = [i for i in np.flatnonzero(group == g) if i != FRESH]
        start = rng.uniform(0, 1e6)
        for step, item in enumerate(rng.permutation(pool)):
            rows.append((f"u{user}", f"m{item}", int(start + 60 * step)))
    inter = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    centers = rng.normal(size=(N_GROUPS, 16))
    content = centers[group] + 0.5 * rng.normal(size=(N_ITEMS, 16))
    content /= np.linalg.norm(content, axis=1, keepdims=True)
    return prepare_frames(inter, items, Params()), content.astype(np.float32)


def _raw(**train: object) -> dict:
    """A small ``model:`` section for the tiny catalogue."""
    raw = default_model_params()
    raw["model"].update({"d": 8, "id_dim": 8, "content_dim": 8, "side_dim": 4, "trunk": [16]})
    raw["train"].update({"max_epochs": 40, "eval_every": 5, "patience": 2, "lr": 0.01,
                         "anchor_batch_size": 16, "batch_size": 128, "n_uniform": 16,
                         "early_stop_k": 5, "threads": 1})
    raw["train"].update(train)
    return raw


def _cfg(**train: object) -> object:
    return config_from_dict(_raw(**train))


def test_shapes_and_norms(data: tuple[Prepared, np.ndarray]) -> None:
    prep, content = data
    model = build_model(prep, content, _cfg().model)
    out = model(torch.tensor([0, 5, 7]))
    assert out.shape == (2, 3, 8)
    assert torch.allclose(out.norm(dim=-1), torch.ones(2, 3), atol=1e-5)
    assert model.all_item_embeddings().shape == (2, N_ITEMS, 8)


def test_fresh_item_embeds_from_content_alone(data: tuple[Prepared, np.ndarray]) -> None:
    prep, content = data
    assert prep.train_counts()[FRESH] == 0
    model = build_model(prep, content, _cfg().model).eval()
    genres = [prep.items.loc[FRESH, "genre_list"]]
    year = np.array([1999.0])
    from_text = model.embed_content(content[FRESH], genres, year)
    assert np.allclose(model.all_item_embeddings()[:, FRESH], from_text[:, 0], atol=1e-5)
    # A known item differs from its content-only embedding unless its ID is dropped.
    known = model.embed_content(content[0], [prep.items.loc[0, "genre_list"]],
                                np.array([1990.0]))
    assert not np.allclose(model.all_item_embeddings()[:, 0], known[:, 0], atol=1e-3)
    torch.manual_seed(0)
    dropped = model(torch.tensor([0]), id_dropout=1.0).detach().numpy()
    assert np.allclose(dropped[:, 0], known[:, 0], atol=1e-5)


def test_embed_content_rejects_other_dimensions(data: tuple[Prepared, np.ndarray]) -> None:
    prep, content = data
    model = build_model(prep, content, _cfg().model)
    with pytest.raises(ValueError, match="384 dimensions; the model was trained on 16"):
        model.embed_content(np.zeros((1, 384), np.float32))


def test_config_round_trip_and_errors() -> None:
    cfg = config_from_dict(default_model_params())
    assert [h.name for h in cfg.model.heads] == ["engagement", "relevance"]
    with pytest.raises(ConfigError, match=r"model\.train: unknown setting\(s\) \['lr_decay'\]"):
        config_from_dict({"train": {"lr_decay": 0.1}})
    with pytest.raises(ConfigError, match="negatives: 'random' is not one of"):
        config_from_dict({"train": {"negatives": "random"}})
    with pytest.raises(ConfigError, match=r"train\.min_delta: -0\.1 is negative"):
        config_from_dict({"train": {"min_delta": -0.1}})
    with pytest.raises(ConfigError, match=r"heads\[1\]\.alpha: expected a number"):
        config_from_dict({"model": {"heads": [{"alpha": 0.1}, {"alpha": "big"}]}})


def test_ablations_change_only_heads_and_inputs() -> None:
    cfg = config_from_dict(default_model_params())
    tt = ablation(cfg, "twotower")
    assert [h.alpha for h in tt.model.heads] == [0.0]
    assert tt.train == cfg.train
    single = ablation(cfg, "singlehead", alpha=0.3)
    assert [h.alpha for h in single.model.heads] == [0.3]
    ids = ablation(cfg, "idonly")
    assert not ids.model.use_content and not ids.model.use_genres and ids.model.use_id
    with pytest.raises(ValueError, match="unknown ablation"):
        ablation(cfg, "threehead")


@pytest.mark.parametrize("negatives", ["full", "inbatch", "inbatch+uniform"])
def test_training_learns_co_engagement(data: tuple[Prepared, np.ndarray],
                                       negatives: str) -> None:
    prep, content = data
    result = train(prep, content, _cfg(negatives=negatives), progress=False)
    lists = head_neighbors(result.model.all_item_embeddings(), 9)
    a = prep.test_pairs["a"].to_numpy()
    b = prep.test_pairs["b"].to_numpy()
    # Nine random neighbours of 39 catch about 23% of the pairs; genre-mates catch all.
    assert recall_at_k(lists[0], a, b, 9) > 0.8
    assert result.history and result.best_epoch >= 1
    assert result.pairs_per_second > 0


@pytest.mark.parametrize("rel_weight", ["pairs", "items"])
def test_fresh_item_lands_among_its_genre(data: tuple[Prepared, np.ndarray],
                                          rel_weight: str) -> None:
    prep, content = data
    result = train(prep, content, _cfg(rel_weight=rel_weight), progress=False)
    assert result.history[-1]["rel"] < result.history[0]["rel"]
    emb = result.model.all_item_embeddings()
    # The fresh item has no co-engagement; only content places it among its genre.
    lists = head_neighbors(emb, 5)
    group = np.arange(N_ITEMS) % N_GROUPS
    assert (group[lists[1, FRESH]] == group[FRESH]).mean() >= 0.8


def test_checkpoint_round_trip(data: tuple[Prepared, np.ndarray], tmp_path) -> None:
    prep, content = data
    cfg = _cfg()
    model = build_model(prep, content, cfg.model).eval()
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, model, cfg, {"best_epoch": 3})
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]
    loaded = load_checkpoint(path)
    assert np.allclose(loaded.all_item_embeddings(), model.all_item_embeddings())
    assert np.allclose(loaded.embed_content(content[:2], [["Action"], []]),
                       model.embed_content(content[:2], [["Action"], []]))
    _, cfg2, meta, vocab = read_checkpoint(path)
    assert cfg2 == cfg and meta == {"best_epoch": 3} and vocab == GENRES
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_time_budget_stops_between_checks(data: tuple[Prepared, np.ndarray]) -> None:
    """Over ``max_seconds``, training checks at once and stops instead of waiting for the
    next scheduled check; the model kept is the one that check scored."""
    prep, content = data
    result = train(prep, content, _cfg(max_epochs=1000, eval_every=500, patience=500,
                                       max_seconds=0.0), progress=False)
    assert [h["epoch"] for h in result.history] == [1]
    assert result.best_epoch == 1


def test_retraining_writes_the_same_checkpoint(data: tuple[Prepared, np.ndarray],
                                               tmp_path) -> None:
    """Same data, settings and seed: the checkpoint is the same file byte for byte (its
    times live in the summary beside it), so DVC skips the stages after an unchanged model."""
    from mtmh.embed import save_embeddings
    from mtmh.layout import Layout
    from mtmh.prepare import save_prepared
    from mtmh.steps.train import step_train

    prep, content = data
    params = Params()
    params.extra["model"] = _raw()
    written = []
    for run in ("first", "second"):
        layout = Layout(tmp_path / run)
        save_prepared(prep, layout.prepared)
        save_embeddings(content, params.embed, layout.embeddings)
        written.append(step_train(params, "twotower", layout=layout))
    assert written[0].read_bytes() == written[1].read_bytes()
    summary = json.loads((written[0].parent / "twotower.json").read_text())
    assert summary["seconds"] > 0 and summary["pairs_per_second"] > 0
    _, _, meta, _ = read_checkpoint(written[0])
    assert meta["best_epoch"] == summary["best_epoch"] and "seconds" not in meta


def test_checkpoint_of_the_earlier_header_layout_loads(data: tuple[Prepared, np.ndarray],
                                                       tmp_path) -> None:
    """Checkpoints written with one header key per field still load."""
    from dataclasses import asdict

    from safetensors.torch import save_file

    prep, content = data
    cfg = _cfg()
    model = build_model(prep, content, cfg.model).eval()
    path = tmp_path / "old.safetensors"
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"config": json.dumps(asdict(cfg)),
                                            "meta": json.dumps({"best_epoch": 7}),
                                            "genre_vocab": json.dumps(model.genre_vocab)})
    _, cfg2, meta, vocab = read_checkpoint(path)
    assert cfg2 == cfg and meta == {"best_epoch": 7} and vocab == GENRES
    assert np.allclose(load_checkpoint(path).all_item_embeddings(),
                       model.all_item_embeddings())
    save_file(tensors, str(path), metadata={"other": "1"})
    with pytest.raises(ValueError, match="not an mtmh checkpoint"):
        read_checkpoint(path)


def test_min_delta_stops_on_small_gains_and_keeps_the_best(
        data: tuple[Prepared, np.ndarray]) -> None:
    """With a ``min_delta`` no later check can beat, training stops ``patience`` checks
    after the first; the weights kept are still those of the best check."""
    prep, content = data
    plain = train(prep, content, _cfg(patience=2, lr=0.002, min_delta=0.0), progress=False)
    assert len(plain.history) > 2  # recall still rises on this catalogue
    strict = train(prep, content, _cfg(patience=2, lr=0.002, min_delta=1.0), progress=False)
    assert [h["epoch"] for h in strict.history] == [5, 10, 15]
    recalls = [h["valid_recall@5/engagement"] for h in strict.history]
    assert strict.best_epoch == strict.history[int(np.argmax(recalls))]["epoch"]
    assert strict.best_valid_recall == max(recalls)
