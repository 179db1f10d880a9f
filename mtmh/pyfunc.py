"""The registered model: an MLflow pyfunc that answers similar-items queries.

It serves the merged lists the pipeline computed for every catalogue item, so a query
costs a lookup and no deep-learning runtime is needed where it is loaded. Input: a
DataFrame with an ``item`` column (ids or title fragments, as ``mtmh similar`` takes) and
an optional ``k`` column. Output: one row per result with ``query``, ``rank``,
``item_id``, ``title``, ``score`` and ``head``, the head that found the item.
"""

from __future__ import annotations

import logging
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema

logger = logging.getLogger(__name__)

DEFAULT_K = 10


def signature() -> ModelSignature:
    """The input the model takes: ``item`` (text) and, optionally, ``k`` (an integer).

    Declared rather than inferred from the input example: inference cannot know that
    ``k`` may be left out. Leave the column out for the default of 10 results a query.
    """
    return ModelSignature(inputs=Schema([ColSpec("string", "item"),
                                         ColSpec("long", "k", required=False)]))


class SimilarItemsModel(mlflow.pyfunc.PythonModel):
    """Artifacts: ``items`` (catalogue Parquet) and ``lists`` (a model's list folder)."""

    def load_context(self, context) -> None:  # noqa: ANN001 - MLflow's context object
        from mtmh.serving import Catalog

        lists = Path(context.artifacts["lists"])
        self.method = lists.name
        self.catalog = Catalog(pd.read_parquet(context.artifacts["items"]), lists.parent)

    def predict(self, context, model_input: pd.DataFrame,  # noqa: ANN001
                params: dict | None = None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        if "item" not in frame:
            raise ValueError(f"input needs an 'item' column; got {list(frame.columns)}")
        out = []
        for i, row in frame.reset_index(drop=True).iterrows():
            k = int(row["k"]) if "k" in frame and pd.notna(row["k"]) else DEFAULT_K
            trigger = self.catalog.resolve(str(row["item"]))
            found = self.catalog.similar(trigger, self.method, k)
            found.insert(0, "query", i)
            out.append(found.drop(columns="genres"))
        return pd.concat(out, ignore_index=True)
