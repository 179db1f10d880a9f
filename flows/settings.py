"""The ``orchestration:`` and ``replay:`` sections of ``params.yaml``, with defaults.

Both sections are optional: a project without them retrains with the defaults below.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from mtmh.config import Params, build_section
from mtmh.promotion import DEFAULT_TOLERANCES, check_tolerances

logger = logging.getLogger(__name__)


@dataclass
class OrchestrationConfig:
    """How scheduled retraining runs, compares and promotes."""

    cron: str = "0 3 * * *"                 # when `mtmh deploy` runs the flow
    deployment: str = "mtmh-retrain"        # the deployment's name in Prefect
    # Largest allowed drop of each watched metric of `mtmh` against the champion.
    tolerance: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    retries: int = 2                        # of the steps that talk to MLflow
    retry_delay_seconds: float = 10.0       # first retry's delay; doubles each retry
    # The flow's own artifacts and reports, laid out as the DVC pipeline's under this
    # folder (`mtmh report --root` reads them), so a run leaves the pipeline's untouched.
    workdir: str = "artifacts/retrain"
    lock_path: str = "artifacts/retrain.lock"
    lock_timeout_seconds: float = 600.0
    # The last successful run, for the skip check; null: `state.json` in the workdir.
    state_path: str | None = None
    baselines: list[str] = field(default_factory=lambda: ["popularity", "itemcf"])
    tradeoff: bool = True                   # redraw the trade-off figure and sweeps
    mlflow_ui: str = "http://127.0.0.1:5000"  # where the Prefect run's link points


@dataclass
class ReplayConfig:
    """Replay mode: MovieLens-1M fed in time slices, one slice more per run."""

    enabled: bool = False
    source: str = "ml-1m"                   # or ml-100k
    out_dir: str = "artifacts/replay"       # outside data/, which DVC tracks
    start_days: int = 120                   # the first run sees this many days
    step_days: int = 7                      # each later run sees this many days more


def orchestration_config(params: Params) -> OrchestrationConfig:
    """``params.extra["orchestration"]`` as typed settings; unknown keys are an error."""
    cfg = build_section(OrchestrationConfig, params.extra.get("orchestration"),
                        "orchestration")
    cfg.tolerance = check_tolerances(cfg.tolerance)
    if cfg.state_path is None:
        # Beside the outputs it vouches for: a new workdir starts without a state to skip on.
        cfg.state_path = str(Path(cfg.workdir) / "state.json")
    return cfg


def replay_config(params: Params) -> ReplayConfig:
    """``params.extra["replay"]`` as typed settings; unknown keys are an error."""
    return build_section(ReplayConfig, params.extra.get("replay"), "replay")
