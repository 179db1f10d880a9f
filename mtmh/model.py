"""The MTMH item encoder: one trunk shared by trigger and candidate side, several heads.

Inputs per item: a learned ID embedding (row ``n_items`` is the shared "unknown" row,
used for items without train interactions and, with probability ``id_dropout``, for any
item during training so the model learns to lean on content), the frozen content
embedding through a learned projection, and optional genre multi-hot and release-year
features. An MLP trunk maps their concatenation to a shared representation; each head
projects it to ``d`` dimensions and L2-normalises, so a head's score is a cosine.

With ``asymmetric``, the trigger side of each head passes the item's vector through one
more learned ``d x d`` map (initialised at the identity) before normalising: the score of
b for trigger a is ``trigger(a) . candidate(b)``, which can tell "a then b" from "b then
a". The index holds candidate vectors; queries are trigger vectors.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from mtmh.metrics import genre_matrix

logger = logging.getLogger(__name__)

_YEAR = re.compile(r"\((\d{4})\)\s*$")


@dataclass
class HeadConfig:
    """One head: its name, the weight of its relevance task, its default serving share.

    ``tau``, ``tau_t`` and ``tau_s`` override the training temperatures for this head.
    """

    name: str = "engagement"
    alpha: float = 0.0
    share: float = 1.0
    tau: float | None = None
    tau_t: float | None = None
    tau_s: float | None = None


@dataclass
class ModelConfig:
    """Architecture of the encoder; see the module docstring."""

    d: int = 64
    id_dim: int = 64
    content_dim: int = 128
    side_dim: int = 16
    trunk: list[int] = field(default_factory=lambda: [256])
    dropout: float = 0.0
    use_id: bool = True
    use_content: bool = True
    use_genres: bool = True
    use_year: bool = True
    # A learned trigger-side map per head: directed scores (train with train.symmetric
    # false so pairs keep their direction).
    asymmetric: bool = True
    heads: list[HeadConfig] = field(default_factory=lambda: [
        HeadConfig("engagement", 0.1, 0.8), HeadConfig("relevance", 1.0, 0.2)])


@dataclass
class SideFeatures:
    """Genre multi-hot (n_items, n_genres) float32 and year (n_items,) float32, NaN if unknown."""

    genres: np.ndarray
    genre_vocab: list[str]
    year: np.ndarray


def side_features(items: pd.DataFrame) -> SideFeatures:
    """Genres from ``genre_list``; the year from a ``year`` column or a "(1995)" title suffix."""
    lists = [list(g) for g in items["genre_list"]] if "genre_list" in items else [[]] * len(items)
    genres = genre_matrix(lists).astype(np.float32)
    vocab = sorted({g for gs in lists for g in gs})
    if "year" in items:
        year = pd.to_numeric(items["year"], errors="coerce").to_numpy(np.float32)
    elif "title" in items:
        found = items["title"].astype(str).str.extract(_YEAR, expand=False)
        year = pd.to_numeric(found, errors="coerce").to_numpy(np.float32)
    else:
        year = np.full(len(items), np.nan, np.float32)
    return SideFeatures(genres, vocab, year)


class ItemEncoder(nn.Module):
    """Maps catalogue item indices to H L2-normalised embeddings of size d.

    Parameters
    ----------
    cfg
        Architecture.
    content
        (n_items, content_dim_in) frozen content embeddings, L2-normalised.
    known
        (n_items,) bool: the item has train interactions (else it uses the unknown row).
    side
        Genre and year features; ``None`` disables both.
    """

    def __init__(self, cfg: ModelConfig, content: np.ndarray, known: np.ndarray,
                 side: SideFeatures | None = None) -> None:
        super().__init__()
        if content.ndim != 2 or content.shape[0] != known.shape[0]:
            raise ValueError(f"content embeddings have shape {content.shape}; expected "
                             f"({known.shape[0]}, dim), one row per catalogue item")
        if not cfg.heads:
            raise ValueError("model.heads is empty; the model needs at least one head")
        self.cfg = cfg
        self.n_items = int(content.shape[0])
        self.genre_vocab = list(side.genre_vocab) if side is not None else []

        # The buffers travel with the checkpoint, so a loaded model embeds on its own.
        self.register_buffer("content", torch.as_tensor(content, dtype=torch.float32))
        self.register_buffer("known", torch.as_tensor(known, dtype=torch.bool))
        n_genres = side.genres.shape[1] if side is not None else 0
        genres = side.genres if side is not None else np.zeros((self.n_items, 0), np.float32)
        self.register_buffer("genres", torch.as_tensor(genres, dtype=torch.float32))
        year = side.year if side is not None else np.full(self.n_items, np.nan, np.float32)
        year_t = torch.as_tensor(year, dtype=torch.float32)
        seen = ~torch.isnan(year_t)
        mean = year_t[seen].mean() if seen.any() else torch.tensor(0.0)
        std = year_t[seen].std() if seen.sum() > 1 else torch.tensor(1.0)
        self.register_buffer("year", year_t)
        self.register_buffer("year_stats", torch.stack([mean, std.clamp_min(1.0)]))

        width = 0
        if cfg.use_id:
            self.id_emb = nn.Embedding(self.n_items + 1, cfg.id_dim)
            nn.init.normal_(self.id_emb.weight, std=0.1)
            width += cfg.id_dim
        if cfg.use_content:
            self.content_proj = nn.Linear(self.content.shape[1], cfg.content_dim)
            width += cfg.content_dim
        self.use_genres = cfg.use_genres and n_genres > 0
        if self.use_genres:
            self.genre_proj = nn.Linear(n_genres, cfg.side_dim)
            width += cfg.side_dim
        self.use_year = cfg.use_year and bool(seen.any())
        if self.use_year:
            # Scaled year and a missing flag.
            self.year_proj = nn.Linear(2, cfg.side_dim)
            width += cfg.side_dim
        if width == 0:
            raise ValueError("model: every input is switched off (use_id, use_content, "
                             "use_genres, use_year); switch at least one on")

        layers: list[nn.Module] = []
        for out in cfg.trunk:
            layers += [nn.Linear(width, out), nn.GELU(), nn.Dropout(cfg.dropout)]
            width = out
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(width, cfg.d) for _ in cfg.heads)
        if cfg.asymmetric:
            self.trigger_maps = nn.ModuleList(nn.Linear(cfg.d, cfg.d) for _ in cfg.heads)
            for layer in self.trigger_maps:
                nn.init.eye_(layer.weight)
                nn.init.zeros_(layer.bias)

    @property
    def n_heads(self) -> int:
        return len(self.heads)

    def _encode(self, id_rows: torch.Tensor | None, content: torch.Tensor,
                genres: torch.Tensor, year: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.cfg.use_id:
            parts.append(self.id_emb(id_rows))  # (batch, id_dim)
        if self.cfg.use_content:
            parts.append(self.content_proj(content))  # (batch, content_dim)
        if self.use_genres:
            parts.append(self.genre_proj(genres))  # (batch, side_dim)
        if self.use_year:
            missing = torch.isnan(year)
            scaled = (year - self.year_stats[0]) / self.year_stats[1]
            feats = torch.stack([torch.where(missing, 0.0, scaled), missing.float()], 1)
            parts.append(self.year_proj(feats))  # (batch, side_dim)
        hidden = self.trunk(torch.cat(parts, dim=1))  # (batch, width)
        out = torch.stack([head(hidden) for head in self.heads])  # (H, batch, d)
        return F.normalize(out, dim=-1)

    def forward(self, item_idx: torch.Tensor, id_dropout: float = 0.0) -> torch.Tensor:
        """Embeddings of catalogue items, shape (H, batch, d).

        ``id_dropout`` replaces each item's ID row by the unknown row with that
        probability (training only).
        """
        id_rows = torch.where(self.known[item_idx], item_idx, self.n_items)  # (batch,)
        if id_dropout > 0.0:
            drop = torch.rand(item_idx.shape, device=item_idx.device) < id_dropout
            id_rows = torch.where(drop, self.n_items, id_rows)
        return self._encode(id_rows, self.content[item_idx], self.genres[item_idx],
                            self.year[item_idx])

    def to_trigger(self, emb: torch.Tensor) -> torch.Tensor:
        """Candidate-side vectors (H, batch, d) as trigger-side (queries); the same tensor
        unless the model is ``asymmetric``."""
        if not self.cfg.asymmetric:
            return emb
        return F.normalize(torch.stack([m(emb[h]) for h, m in enumerate(self.trigger_maps)]),
                           dim=-1)

    @torch.no_grad()
    def catalogue_vectors(self, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Every catalogue item in every head, in eval mode, from one pass of the encoder:
        candidate vectors (what the index holds) and trigger vectors (the queries; the
        same array unless the model is ``asymmetric``), each (H, n_items, d) float32."""
        was_training = self.training
        self.eval()
        cands, trigs = [], []
        for start in range(0, self.n_items, batch_size):
            emb = self(torch.arange(start, min(start + batch_size, self.n_items)))
            cands.append(emb)
            trigs.append(self.to_trigger(emb))
        self.train(was_training)
        cand = torch.cat(cands, dim=1).numpy()
        return cand, (torch.cat(trigs, dim=1).numpy() if self.cfg.asymmetric else cand)

    def all_item_embeddings(self, batch_size: int = 8192, *,
                            side: str = "candidate") -> np.ndarray:
        """One side of :meth:`catalogue_vectors`: ``candidate`` (default) or ``trigger``."""
        _check_side(side)
        cand, trig = self.catalogue_vectors(batch_size)
        return trig if side == "trigger" else cand

    @torch.no_grad()
    def embed_content(self, content: np.ndarray, genres: list[list[str]] | None = None,
                      year: np.ndarray | None = None, *, side: str = "candidate"
                      ) -> np.ndarray:
        """Embed items outside the catalogue from their content vectors alone.

        Parameters
        ----------
        content
            (batch, content_dim_in) L2-normalised content embeddings of the item texts.
        genres
            Genre names per item; names unknown to the model are ignored.
        year
            (batch,) release years, NaN where unknown.
        side
            ``candidate`` or ``trigger`` (to query the index with), as in
            :meth:`all_item_embeddings`.

        Returns
        -------
        (H, batch, d) float32; the ID input is the shared unknown row.
        """
        _check_side(side)
        content_t = torch.as_tensor(np.atleast_2d(content), dtype=torch.float32)
        if content_t.shape[1] != self.content.shape[1]:
            raise ValueError(f"content vectors have {content_t.shape[1]} dimensions; the "
                             f"model was trained on {self.content.shape[1]} (same encoder?)")
        n = content_t.shape[0]
        genre_t = torch.zeros(n, self.genres.shape[1])
        col = {g: i for i, g in enumerate(self.genre_vocab)}
        for row, names in enumerate(genres or []):
            for name in names:
                if name in col:
                    genre_t[row, col[name]] = 1.0
        year_t = torch.full((n,), float("nan")) if year is None else torch.as_tensor(
            np.asarray(year, dtype=np.float32))
        was_training = self.training
        self.eval()
        out = self._encode(torch.full((n,), self.n_items, dtype=torch.long), content_t,
                           genre_t, year_t)
        if side == "trigger":
            out = self.to_trigger(out)
        self.train(was_training)
        return out.numpy()


SIDES = ("candidate", "trigger")


def _check_side(side: str) -> None:
    if side not in SIDES:
        raise ValueError(f"side {side!r}: expected one of {', '.join(SIDES)}")
