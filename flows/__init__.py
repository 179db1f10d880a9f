"""Prefect flows over the library's pipeline steps (`mtmh.steps`).

``flows.retrain`` retrains behind the data-quality gates and promotes a model only when
it is no worse than the champion; ``flows.deploy`` serves it on a schedule;
``flows.replay`` feeds MovieLens-1M a week at a time so scheduled runs see data grow.

Prefect reads its settings when it is first imported, so the defaults below are set
here, before any of these modules imports it. Each can be overridden from the
environment.
"""

import os
from pathlib import Path

# The project's own Prefect home (git-ignored), not the user's ~/.prefect.
os.environ.setdefault("PREFECT_HOME", str(Path(".prefect").resolve()))
# A fresh ephemeral server needs ~20 s to migrate its database on a 2-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The library's log lines belong in the Prefect run's log as well.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "mtmh,flows")
# The summary line after the run ends has no flow run to attach to: keep it local, quietly.
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
