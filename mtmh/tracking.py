"""MLflow, behind one module: the pipeline's run, its params, metrics and artifacts.

The tracking store is SQLite at the repository root by default (``tracking.uri`` in
``params.yaml``); artifacts go to ``tracking.artifacts``. Metrics are read from
``reports/metrics.json``, the file DVC also reads, so both show the same numbers.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mtmh.config import TrackingConfig

logger = logging.getLogger(__name__)

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

_UNSAFE = re.compile(r"[^0-9A-Za-z_\-. /]")


def metric_key(method: str, metric: str) -> str:
    """An MLflow-safe key such as ``itemcf/recall_at_50`` for ``recall@50`` of ``itemcf``."""
    name = f"{method}/{metric.replace('@', '_at_')}"
    return _UNSAFE.sub("-", name)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params as ``section.key`` strings, as MLflow stores them."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = _UNSAFE.sub("-", f"{prefix}{key}".replace("@", "_at_"))
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


def git_commit() -> str:
    """The current commit, ``-dirty`` when tracked files changed; "unknown" outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def data_hash(dvc_file: str | Path = "data.dvc") -> str:
    """The data's DVC hash from ``data.dvc`` (its first output's md5), or "unknown"."""
    path = Path(dvc_file)
    if not path.exists():
        return "unknown"
    outs = (yaml.safe_load(path.read_text()) or {}).get("outs") or [{}]
    return str(outs[0].get("md5", "unknown"))


def _connect(cfg: TrackingConfig) -> str:
    """Point MLflow at the configured store; return the experiment id."""
    import mlflow

    mlflow.set_tracking_uri(cfg.uri)
    experiment = mlflow.get_experiment_by_name(cfg.experiment)
    if experiment is not None:
        return experiment.experiment_id
    location = Path(cfg.artifacts).resolve().as_uri()
    # The UI opens a "model training" experiment on its runs table, not on GenAI views.
    return mlflow.create_experiment(cfg.experiment, artifact_location=location,
                                    tags={"mlflow.experimentKind": "custom_model_development"})


@dataclass
class ChildRun:
    """A nested run: one head or one sweep point, with the metrics that place it."""

    name: str
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ModelToRegister:
    """Files of a trained model to log as a pyfunc and register under ``name``."""

    name: str
    alias: str
    artifacts: Mapping[str, str]
    input_example: Any = None


def log_pipeline_run(cfg: TrackingConfig, *, params: Mapping[str, Any],
                     metrics: Mapping[str, Mapping[str, Any]],
                     artifacts: Iterable[str | Path] = (),
                     tags: Mapping[str, str] | None = None,
                     run_name: str | None = None,
                     children: Iterable[ChildRun] = (),
                     model: ModelToRegister | None = None,
                     description: str | None = None) -> str:
    """Log one pipeline run and return its id.

    The parent run holds flattened params, every method's metrics as ``method/metric``,
    the files and the lineage tags; each child is a nested run whose metrics use plain
    names (``recall_at_50``), so the UI's chart view can plot heads and sweep points
    against each other. ``model``, when given, is logged as a pyfunc, registered, and
    given its alias. ``description`` (Markdown) is shown at the top of the run's page.
    """
    import mlflow

    experiment_id = _connect(cfg)
    all_tags = {"git_commit": git_commit(), "data_dvc_md5": data_hash()}
    all_tags.update(tags or {})
    parent_tags = {**all_tags, "mlflow.note.content": description} if description else all_tags
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name,
                          tags=parent_tags) as run:
        mlflow.log_params(flatten(params))
        values = {metric_key(m, k): float(v) for m, row in metrics.items()
                  for k, v in flatten(row).items()}
        mlflow.log_metrics(values)
        for path in artifacts:
            if Path(path).exists():
                mlflow.log_artifact(str(path))
            else:
                logger.warning("artifact %s not found; not logged", path)
        for child in children:
            with mlflow.start_run(experiment_id=experiment_id, run_name=child.name,
                                  nested=True, tags={**all_tags, **child.tags}):
                mlflow.log_params(flatten(child.params))
                mlflow.log_metrics({_UNSAFE.sub("-", k.replace("@", "_at_")): float(v)
                                    for k, v in child.metrics.items()})
        if model is not None:
            _register(model)
        logger.info("MLflow run %s logged to %s (%d metrics)", run.info.run_id, cfg.uri,
                    len(values))
        return run.info.run_id


def _register(model: ModelToRegister) -> None:
    """Log the pyfunc in the active run, register a new version, point the alias at it."""
    import mlflow

    from mtmh.pyfunc import signature

    # Models from code: MLflow stores the file, not a pickle of the model object.
    code = importlib.util.find_spec("mtmh.pyfunc_code").origin
    info = mlflow.pyfunc.log_model(
        name="model", python_model=code, artifacts=dict(model.artifacts),
        signature=signature(), input_example=model.input_example,
        registered_model_name=model.name,
        pip_requirements=["mtmh", "pandas", "numpy", "pyarrow"])
    version = info.registered_model_version
    mlflow.MlflowClient().set_registered_model_alias(model.name, model.alias, version)
    logger.info("registered %s version %s with alias %r", model.name, version, model.alias)


# --- the registry's aliases and a run's lineage, for scheduled retraining ----------------

class TrackingUnavailable(RuntimeError):
    """The MLflow tracking store cannot be reached or written; the message names it."""


def _client(cfg: TrackingConfig):  # -> mlflow.MlflowClient
    import mlflow

    return mlflow.MlflowClient(tracking_uri=cfg.uri)


def check_store(cfg: TrackingConfig) -> str:
    """Connect to the tracking store (creating the experiment if needed); return its id.

    Raises :class:`TrackingUnavailable` naming ``tracking.uri`` when that fails, so a
    scheduled run stops before it spends time training a model it could not record.
    """
    try:
        return _connect(cfg)
    except Exception as exc:  # MLflow wraps SQLAlchemy, HTTP and OS errors differently
        raise TrackingUnavailable(
            f"MLflow tracking store {cfg.uri} (tracking.uri in params.yaml) cannot be "
            f"reached or written: {type(exc).__name__}: {exc}") from exc


def alias_version(cfg: TrackingConfig, name: str, alias: str) -> str | None:
    """The version of registered model ``name`` behind ``alias``, or None if unset."""
    from mlflow.exceptions import MlflowException

    try:
        return str(_client(cfg).get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def set_alias(cfg: TrackingConfig, name: str, alias: str, version: str | int) -> None:
    """Point ``alias`` of registered model ``name`` at ``version`` (one atomic update)."""
    _client(cfg).set_registered_model_alias(name, alias, str(version))
    logger.info("alias %s@%s -> version %s", name, alias, version)


def version_of_run(cfg: TrackingConfig, name: str, run_id: str) -> str:
    """The version of registered model ``name`` that run ``run_id`` registered."""
    found = _client(cfg).search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if not found:
        raise LookupError(f"run {run_id} registered no version of model {name!r}")
    return str(max(int(v.version) for v in found))


def tag_run(cfg: TrackingConfig, run_id: str, tags: Mapping[str, str],
            metrics: Mapping[str, float] | None = None) -> None:
    """Add tags (and metrics, under MLflow-safe names) to a finished run."""
    client = _client(cfg)
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value))
    for key, value in (metrics or {}).items():
        client.log_metric(run_id, _UNSAFE.sub("-", key.replace("@", "_at_")), float(value))


def tag_version(cfg: TrackingConfig, name: str, version: str | int,
                tags: Mapping[str, str]) -> None:
    """Add tags to one registered model version (shown on its page in the UI)."""
    client = _client(cfg)
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, str(value))


def download_version(cfg: TrackingConfig, name: str, version: str | int,
                     dst: str | Path) -> dict[str, Path]:
    """Download a registered pyfunc; return its artifacts (``items``, ``lists``...) by name."""
    import mlflow

    root = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{version}", dst_path=str(dst), tracking_uri=cfg.uri))
    spec = yaml.safe_load((root / "MLmodel").read_text()) or {}
    artifacts = ((spec.get("flavors") or {}).get("python_function") or {}).get("artifacts") or {}
    if not artifacts:
        raise LookupError(f"model {name} version {version} carries no pyfunc artifacts")
    return {key: root / entry["path"] for key, entry in artifacts.items()}
