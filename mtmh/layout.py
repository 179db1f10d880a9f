"""Where a run's artifacts and reports live: every path the pipeline's steps use.

One :class:`Layout` per run. :data:`DEFAULT`, rooted at the working directory, is the
layout of the DVC pipeline (the paths ``dvc.yaml`` names); the retraining flow uses one
rooted at its own folder, so its outputs never overwrite the pipeline's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtmh.config import Params

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Layout:
    """The artifact and report paths of one run, all under ``root``.

    ``Layout()`` gives the repository-relative paths of the DVC pipeline, e.g.
    ``artifacts/prepared``; ``Layout(Path("artifacts/retrain"))`` gives
    ``artifacts/retrain/artifacts/prepared`` and so on, the same tree one level down.
    """

    root: Path = Path(".")

    def __post_init__(self) -> None:
        # Accept a string from the command line or params; store a Path.
        object.__setattr__(self, "root", Path(self.root))

    # --- artifacts: the steps' data products ------------------------------------------

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def validated(self) -> Path:
        """The validation marker: which files passed how many checks."""
        return self.artifacts / "validated.json"

    @property
    def prepared(self) -> Path:
        """Catalogue, split and pairs (Parquet) with ``summary.json``."""
        return self.artifacts / "prepared"

    @property
    def embeddings(self) -> Path:
        """Content embeddings; the encoder and template are in :attr:`embeddings_meta`."""
        return self.artifacts / "embeddings.npy"

    @property
    def embeddings_meta(self) -> Path:
        return self.embeddings.with_suffix(".json")

    @property
    def neighbors(self) -> Path:
        """Each method's top-K lists; see :func:`mtmh.steps.lists.neighbors_path`."""
        return self.artifacts / "neighbors"

    @property
    def models(self) -> Path:
        """Checkpoints ``<name>.safetensors`` and training summaries ``<name>.json``."""
        return self.artifacts / "models"

    @property
    def index(self) -> Path:
        """One folder per model: a faiss index per head and ``index.json``."""
        return self.artifacts / "index"

    def checkpoint(self, model: str) -> Path:
        return self.models / f"{model}.safetensors"

    # --- reports: what a reader looks at ------------------------------------------------

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def metrics(self) -> Path:
        """``{method: {metric: value}}`` on the test split."""
        return self.reports / "metrics.json"

    @property
    def metrics_table(self) -> Path:
        return self.reports / "metrics.md"

    @property
    def sweeps(self) -> Path:
        return self.reports / "sweeps.json"

    @property
    def alpha_sweep(self) -> Path:
        return self.reports / "sweeps" / "alpha.json"

    @property
    def tradeoff_csv(self) -> Path:
        return self.reports / "tradeoff.csv"

    @property
    def tradeoff_png(self) -> Path:
        return self.reports / "tradeoff.png"

    @property
    def mlflow_run(self) -> Path:
        """The MLflow run id and tracking URI of the run's track step."""
        return self.reports / "mlflow_run.json"

    def validation_dir(self, params: Params) -> Path:
        """The data gates' report folder: ``validate.report_dir``, under ``root`` if relative."""
        return self.root / params.validate.report_dir


DEFAULT = Layout()
"""The DVC pipeline's layout: the paths of ``dvc.yaml``, relative to the repository root."""
