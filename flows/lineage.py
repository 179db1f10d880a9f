"""What a run was made from: hashes of its data, params and code, and the last success.

The fingerprint decides whether a scheduled run has anything to do; the same hashes go
to the MLflow run as tags, so every registered model can be traced to its inputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import mtmh
from mtmh.config import Params
from mtmh.data import atomic_path

logger = logging.getLogger(__name__)

# Sections that decide how a run is scheduled, not what it produces.
NOT_FINGERPRINTED = ("orchestration", "replay")
CHUNK = 1 << 20


def file_md5(path: str | Path) -> str:
    """MD5 of a file's bytes: what DVC 3 records for a single file."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def dvc_dir_md5(folder: str | Path) -> str:
    """The hash DVC 3 gives a folder (``<md5>.dir``, as in ``data.dvc``).

    DVC hashes the JSON list of ``{"md5", "relpath"}`` of every file, sorted by path.
    """
    folder = Path(folder)
    entries = [{"md5": file_md5(p), "relpath": p.relative_to(folder).as_posix()}
               for p in sorted(folder.rglob("*")) if p.is_file()]
    entries.sort(key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def data_lineage(params: Params) -> dict[str, str]:
    """Paths and hashes of the data files a run reads, as MLflow tags.

    ``data_dvc_md5`` is the DVC hash of the folder holding both files (what ``dvc add``
    of that folder would record) when they share one below the working directory.
    """
    inter, items = Path(params.data.interactions), Path(params.data.items)
    tags = {"data.interactions": str(inter), "data.items": str(items),
            "data.interactions_md5": file_md5(inter), "data.items_md5": file_md5(items)}
    folder = inter.resolve().parent
    if folder == items.resolve().parent and folder != Path.cwd().resolve():
        tags["data_dvc_md5"] = dvc_dir_md5(folder)
    return tags


def code_digest() -> str:
    """SHA-256 over the source of the library and the flows, file by file."""
    digest = hashlib.sha256()
    roots = [Path(mtmh.__file__).resolve().parent, Path(__file__).resolve().parent]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{root.name}/{path.relative_to(root).as_posix()}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def params_digest(params: Params) -> str:
    """SHA-256 of the params that shape the results (scheduling sections left out)."""
    tree = {k: v for k, v in params.to_dict().items() if k not in NOT_FINGERPRINTED}
    return hashlib.sha256(json.dumps(tree, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint(params: Params) -> dict[str, str]:
    """``{"data", "params", "code"}`` hashes: equal fingerprints, equal results."""
    data = hashlib.sha256()
    for path in (params.data.interactions, params.data.items):
        data.update(f"{path}\n{file_md5(path)}\n".encode())
    return {"data": data.hexdigest(), "params": params_digest(params), "code": code_digest()}


def read_state(path: str | Path) -> dict[str, Any] | None:
    """The record of the last successful run, or None (never ran, or unreadable)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        logger.warning("%s is not valid JSON; treating this as the first run", path)
        return None


def write_state(path: str | Path, state: dict[str, Any]) -> None:
    """Record a successful run, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
