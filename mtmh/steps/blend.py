"""Step ``blend``: the item-CF + beta * content score blend."""

from __future__ import annotations

from pathlib import Path

from mtmh.blend import blend
from mtmh.config import Params
from mtmh.embed import load_embeddings
from mtmh.layout import DEFAULT, Layout
from mtmh.prepare import load_prepared
from mtmh.steps.lists import neighbors_path


def step_blend(params: Params, *, layout: Layout = DEFAULT) -> Path:
    """Lists of the item-CF + beta * content blend at ``blend.beta``."""
    prep = load_prepared(layout.prepared)
    content = load_embeddings(layout.embeddings)
    beta = float((params.extra.get("blend") or {}).get("beta", 0.3))
    lists = blend(prep, content, params.baselines.topk, beta, params.baselines.itemcf.shrink)
    path = neighbors_path("blend", layout.neighbors)
    lists.save(path)
    return path
