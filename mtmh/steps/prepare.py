"""Step ``prepare``: catalogue, protocol split and pairs."""

from __future__ import annotations

from mtmh.config import Params
from mtmh.layout import DEFAULT, Layout
from mtmh.prepare import Prepared, prepare, save_prepared


def step_prepare(params: Params, *, layout: Layout = DEFAULT) -> Prepared:
    """Catalogue, protocol split and pairs, written to ``layout.prepared``."""
    prep = prepare(params)
    save_prepared(prep, layout.prepared)
    return prep
