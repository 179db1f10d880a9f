"""``mtmh deploy``: serve the retraining flow on its cron schedule.

Against the Prefect server at ``PREFECT_API_URL`` when it is set (the deployment, its
schedule and its runs then show in that server's UI), else against an ephemeral server
that lives as long as this process. Runs execute here, in the working directory, which
must be the project root (the steps' paths are relative to it).
"""

from __future__ import annotations

import logging
from pathlib import Path

from flows.settings import orchestration_config
from mtmh.config import load_params

logger = logging.getLogger(__name__)


def serve_deployment(params_path: str | Path = "params.yaml") -> None:
    """Create (or update) the deployment ``retrain/<orchestration.deployment>`` and serve it.

    Blocks until interrupted; each scheduled or triggered run calls
    :func:`flows.retrain.retrain` with ``params_path``.
    """
    from flows.retrain import retrain

    orch = orchestration_config(load_params(params_path))
    logger.info("serving deployment retrain/%s on cron %r", orch.deployment, orch.cron)
    retrain.serve(name=orch.deployment, cron=orch.cron,
                  parameters={"params_path": str(params_path)}, tags=["mtmh"],
                  description="Retrain mtmh on the current data; promote it to champion "
                              "when it is no worse than the one being served.")
