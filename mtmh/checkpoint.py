"""Checkpoints of a trained encoder: weights, buffers and settings in one safetensors file.

The header holds the ``model:`` settings the encoder was trained with, a ``meta`` mapping
(best epoch, validation recall, ...) and the genre vocabulary, so a checkpoint rebuilds
its model without the training data. Loading never unpickles anything.

All three sit under one header key, as one JSON document with sorted keys: safetensors
writes its header mapping in no fixed order, so with several keys the same model would
give a different file, and a new hash for DVC, on every save.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from mtmh.data import atomic_path
from mtmh.model import ItemEncoder, SideFeatures
from mtmh.model_config import MTMHConfig, config_from_dict

HEADER_KEY = "mtmh"


def save_checkpoint(path: str | Path, model: ItemEncoder, cfg: MTMHConfig,
                    meta: dict[str, Any] | None = None) -> None:
    """Write weights, buffers, config and ``meta`` to one safetensors file, atomically."""
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    header = {HEADER_KEY: json.dumps({"config": asdict(cfg), "meta": meta or {},
                                      "genre_vocab": model.genre_vocab}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], MTMHConfig,
                                                dict[str, Any], list[str]]:
    """Tensors, config, meta and genre vocabulary of a checkpoint file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: model checkpoint not found; train the model first")
    with safe_open(str(path), framework="pt") as f:
        header = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if HEADER_KEY in header:
        fields = json.loads(header[HEADER_KEY])
    else:  # written before the header became one key: each field JSON on its own
        fields = {k: json.loads(v) for k, v in header.items()
                  if k in ("config", "meta", "genre_vocab")}
    if "config" not in fields:
        raise ValueError(f"{path}: not an mtmh checkpoint (no config in its header)")
    cfg = config_from_dict(fields["config"], where=f"{path}:config")
    return tensors, cfg, fields.get("meta") or {}, fields.get("genre_vocab") or []


def load_checkpoint(path: str | Path) -> ItemEncoder:
    """The model :func:`save_checkpoint` wrote, in eval mode; ``model.cfg`` holds the heads
    and their default shares. :func:`read_checkpoint` also gives the training config and meta.
    """
    tensors, cfg, _, vocab = read_checkpoint(path)
    side = SideFeatures(tensors["genres"].numpy(), vocab, tensors["year"].numpy())
    model = ItemEncoder(cfg.model, tensors["content"].numpy(), tensors["known"].numpy(), side)
    model.load_state_dict(tensors)
    model.eval()
    return model
