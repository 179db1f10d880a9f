"""The ``model:`` section of ``params.yaml`` as typed settings, and the ablations.

Kept apart from the training loop (:mod:`mtmh.train`) so that what only reads a model's
settings (checkpoints, the index and track stages) does not depend on how it is trained.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mtmh.config import ConfigError, build_section
from mtmh.model import HeadConfig, ModelConfig

NEGATIVES = ("full", "inbatch", "inbatch+uniform")
REL_WEIGHTS = ("pairs", "items")
ABLATIONS = ("mtmh", "twotower", "singlehead", "idonly")


@dataclass
class TrainConfig:
    """Loss and optimisation settings; per-head temperatures may override the first three."""

    tau: float = 0.05
    tau_t: float = 0.05
    tau_s: float = 0.05
    negatives: str = "full"
    n_uniform: int = 1024
    logq_strength: float = 1.0
    id_dropout: float = 0.1
    max_offset: int = 3
    offset_decay: float = 0.5
    symmetric: bool = False
    rel_weight: str = "pairs"
    lr: float = 1e-2
    weight_decay: float = 0.0
    batch_size: int = 1024
    anchor_batch_size: int = 512
    max_epochs: int = 400
    eval_every: int = 10
    patience: int = 3
    # A check counts as progress only when it beats the recall of the last check that
    # did by more than this; the best weights are kept either way.
    min_delta: float = 0.002
    early_stop_k: int = 50
    max_seconds: float = 280.0
    seed: int = 0
    # Torch threads; 0: one per available core. Two threads train ~2x faster than one
    # on the 2-core reference machine when nothing else runs (BENCHMARKS.md); set 1 when
    # sharing the machine, where two stall each other.
    threads: int = 0


@dataclass
class MTMHConfig:
    """The ``model:`` section of ``params.yaml``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def config_from_dict(raw: dict[str, Any] | None, where: str = "model") -> MTMHConfig:
    """Build :class:`MTMHConfig` from a plain mapping, naming any bad key or value."""
    raw = dict(raw or {})
    model_raw = dict(raw.pop("model", None) or {})
    heads_raw = model_raw.pop("heads", None)
    unknown = sorted(set(raw) - {"train"})
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {unknown}; known: ['model', 'train']")
    model = build_section(ModelConfig, model_raw, f"{where}.model")
    if heads_raw is not None:
        if not isinstance(heads_raw, list) or not heads_raw:
            raise ConfigError(f"{where}.model.heads: expected a non-empty list of heads, "
                              f"got {heads_raw!r}")
        model.heads = [build_section(HeadConfig, h, f"{where}.model.heads[{i}]")
                       for i, h in enumerate(heads_raw)]
    train = build_section(TrainConfig, raw.get("train"), f"{where}.train")
    if train.negatives not in NEGATIVES:
        raise ConfigError(f"{where}.train.negatives: {train.negatives!r} is not one of "
                          f"{', '.join(NEGATIVES)}")
    if train.rel_weight not in REL_WEIGHTS:
        raise ConfigError(f"{where}.train.rel_weight: {train.rel_weight!r} is not one of "
                          f"{', '.join(REL_WEIGHTS)}")
    if train.min_delta < 0:
        raise ConfigError(f"{where}.train.min_delta: {train.min_delta!r} is negative; expected "
                          "0 (any gain counts) or a positive Recall@K gain")
    return MTMHConfig(model, train)


def default_model_params() -> dict[str, Any]:
    """The defaults as the plain mapping that goes under ``model:`` in ``params.yaml``."""
    return asdict(MTMHConfig())


def ablation(cfg: MTMHConfig, kind: str, alpha: float | None = None) -> MTMHConfig:
    """The same settings with only the heads or the inputs changed.

    ``twotower``: one head, alpha 0 (the co-engagement model). ``singlehead``: one head
    with ``alpha`` (default: the smallest positive alpha of ``cfg``). ``idonly``: the
    two-tower without content, genre or year input. ``mtmh``: ``cfg`` unchanged.
    """
    if kind not in ABLATIONS:
        raise ValueError(f"unknown ablation {kind!r}; choose one of {', '.join(ABLATIONS)}")
    cfg = copy.deepcopy(cfg)
    first = cfg.model.heads[0]
    if kind == "twotower":
        cfg.model.heads = [replace(first, name="engagement", alpha=0.0, share=1.0)]
    elif kind == "singlehead":
        positive = [h.alpha for h in cfg.model.heads if h.alpha > 0]
        chosen = alpha if alpha is not None else (min(positive) if positive else 0.1)
        cfg.model.heads = [replace(first, name="singlehead", alpha=chosen, share=1.0)]
    elif kind == "idonly":
        cfg.model.heads = [replace(first, name="engagement", alpha=0.0, share=1.0)]
        cfg.model.use_content = cfg.model.use_genres = cfg.model.use_year = False
    return cfg
