"""The whole pipeline through `dvc repro` on a small real sample, with the user's own columns.

A sample of MovieLens-100K is written out under other column names and run through the
same dvc.yaml and stages as the default data, then queried with the command line. A
broken copy of the data must then stop `dvc repro` at the gate and leave the previous
outputs in place.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mtmh.data import movielens_100k

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
N_USERS = 150

pytestmark = pytest.mark.slow


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A fresh DVC project holding the real dvc.yaml, stages and a 100K sample."""
    root = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(ROOT / "stages", root / "stages",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "mtmh").symlink_to(ROOT / "mtmh")  # dvc.yaml names library files as deps
    # The alpha sweep a clone carries (of the default data: not drawn for this sample).
    (root / "reports/sweeps").mkdir(parents=True)
    shutil.copy(ROOT / "reports/sweeps/alpha.json", root / "reports/sweeps/alpha.json")

    inter, items = movielens_100k()
    users = inter["user_id"].drop_duplicates().head(N_USERS)
    inter = inter[inter["user_id"].isin(users)]
    (root / "mydata").mkdir()
    inter.rename(columns={"user_id": "uid", "item_id": "movie", "timestamp": "ts",
                          "rating": "stars"}).to_csv(root / "mydata/events.csv", index=False)
    items.rename(columns={"item_id": "movie", "title": "name", "genres": "tags"}).to_parquet(
        root / "mydata/movies.parquet", index=False)

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update({
        "interactions": "mydata/events.csv", "items": "mydata/movies.parquet",
        "columns": {"user_id": "uid", "item_id": "movie", "timestamp": "ts",
                    "rating": "stars", "title": "name", "genres": "tags"}})
    params["validate"]["max_timestamp"] = 2_000_000_000
    # A short training budget: this checks the stages, not the model's quality.
    params["model"]["train"].update(max_epochs=4, eval_every=2, max_seconds=60)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    run(["dvc", "config", "core.analytics", "false"], root)
    return root


@pytest.fixture(scope="module")
def reproduced(project: Path) -> Path:
    run(["dvc", "repro"], project)
    return project


def test_repro_writes_metrics_of_every_baseline(reproduced: Path):
    metrics = json.loads((reproduced / "reports/metrics.json").read_text())
    heads = [h["name"] for h in yaml.safe_load((ROOT / "params.yaml").read_text())
             ["model"]["model"]["heads"]]
    assert set(metrics) == {"popularity", "itemcf", "swing", "content", "als", "blend", "mtmh",
                            "twotower", "singlehead", "idonly", "ratios",
                            *(f"mtmh:{h}" for h in heads)}
    best = max(["popularity", "itemcf", "swing", "content", "als"],
               key=lambda m: metrics[m]["recall@50"])
    assert set(metrics["ratios"]) == {"mtmh_vs_twotower", f"mtmh_vs_{best}"}
    assert metrics["ratios"]["mtmh_vs_twotower"]["recall@50"] == pytest.approx(
        metrics["mtmh"]["recall@50"] / metrics["twotower"]["recall@50"])
    for method, row in metrics.items():
        if method == "ratios":
            continue
        assert 0.0 <= row["recall@10"] <= row["recall@50"] <= row["recall@100"] <= 1.0, method
        assert 0.0 <= row["relevance_rate@50"] <= 1.0
    # The content encoder alone must be the most on-topic method, popularity the least.
    rel = {m: row["relevance_rate@50"] for m, row in metrics.items() if m != "ratios"}
    assert max(rel, key=rel.get) == "content"
    assert (reproduced / "reports/tradeoff.png").stat().st_size > 1000
    assert (reproduced / "reports/validation/report.md").exists()


def test_repro_logs_one_mlflow_run_with_metrics_and_lineage(reproduced: Path):
    import mlflow

    run_id = json.loads((reproduced / "reports/mlflow_run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{reproduced / 'mlflow.db'}")
    logged = client.get_run(run_id)
    assert logged.data.metrics["itemcf/recall_at_50"] == pytest.approx(
        json.loads((reproduced / "reports/metrics.json").read_text())["itemcf"]["recall@50"])
    assert logged.data.params["data.columns.user_id"] == "uid"
    assert logged.data.tags["git_commit"]
    assert "tradeoff.png" in {a.path for a in client.list_artifacts(run_id)}
    children = client.search_runs([logged.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{run_id}'")
    names = {c.info.run_name for c in children}
    assert {"mtmh", "twotower", "mtmh:engagement"} <= names
    assert any(n.startswith("mtmh_shares:share=") for n in names)
    assert any(n.startswith("blend_beta:beta=") for n in names)
    version = client.get_model_version_by_alias("mtmh", "candidate")
    assert version.run_id == run_id


def test_registered_model_answers_queries(reproduced: Path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{reproduced / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model("models:/mtmh@candidate")
    out = model.predict(pd.DataFrame({"item": ["Toy Story (1995)"], "k": [5]}))
    assert len(out) == 5 and set(out["head"]) <= {"engagement", "relevance"}
    assert "Toy Story (1995)" not in set(out["title"])
    # k may be left out: the signature marks it optional.
    assert len(model.predict(pd.DataFrame({"item": ["Toy Story (1995)"]}))) == 10
    # Logged as code, not as a pickled object: loading it unpickles nothing.
    files = {f.name for f in Path(mlflow.artifacts.download_artifacts(
        "models:/mtmh@candidate")).rglob("*")}
    assert "pyfunc_code.py" in files and not any(f.endswith(".pkl") for f in files)


def test_second_repro_has_nothing_to_do(reproduced: Path):
    out = run(["dvc", "status"], reproduced).stdout
    assert "changed" not in out, out


def test_cli_queries_the_outputs(reproduced: Path):
    out = run([str(BIN / "mtmh"), "similar", "Toy Story", "--k", "5", "--method", "itemcf"],
              reproduced).stdout
    assert "Toy Story (1995)" in out and len(out.strip().splitlines()) == 7
    out = run([str(BIN / "mtmh"), "similar", "Toy Story", "--k", "5"], reproduced).stdout
    assert "by mtmh" in out and "head" in out  # the default, with the finding head
    out = run([str(BIN / "mtmh"), "similar", "--text", "Space Wars (2003) Action Sci-Fi",
               "--k", "3"], reproduced).stdout
    assert len(out.strip().splitlines()) == 5

    target = reproduced / "export.parquet"
    run([str(BIN / "mtmh"), "export", "--method", "content", "--k", "20", "--out",
         str(target)], reproduced)
    frame = pd.read_parquet(target)
    assert list(frame.columns) == ["trigger", "item", "rank", "score"]
    assert frame["trigger"].dtype == "int64"  # ids as in the input data
    assert (frame["trigger"] != frame["item"]).all()
    assert frame.groupby("trigger")["rank"].min().eq(1).all()


def test_text_query_merges_like_the_catalogue(reproduced: Path):
    """A fresh item's merged list fuses its per-head lists with the index stage's merge."""
    import numpy as np

    from mtmh.config import load_params
    from mtmh.layout import Layout
    from mtmh.merge import merge_lists
    from mtmh.serving import Catalog

    catalog = Catalog.open(Layout(reproduced))
    embed = load_params(reproduced / "params.yaml").embed
    meta = json.loads((reproduced / "artifacts/index/mtmh/index.json").read_text())
    assert meta["merge"] == "rrf" and len(meta["heads"]) == 2
    row = {item: i for i, item in enumerate(catalog.items["item_id"])}
    text, k = "Space Wars (2003) Action Sci-Fi", 10

    def indices(method: str) -> np.ndarray:
        found = catalog.similar_text(text, method, k, embed)["item_id"]
        return np.array([row[i] for i in found])

    heads = np.stack([indices(f"mtmh:{h}") for h in meta["heads"]])[:, None, :]  # (H, 1, k)
    expected, _ = merge_lists(heads, meta["shares"], k, method="rrf", rrf_k=meta["rrf_k"])
    assert indices("mtmh").tolist() == expected[0].tolist()


def test_alpha_sweep_joins_the_figure_and_the_mlflow_run(reproduced: Path):
    """`mtmh sweep-alpha` retrains one single head per alpha and redraws the figure; the
    next `dvc repro` draws the same points again and logs them; other settings drop them."""
    sweep = reproduced / "reports/sweeps/alpha.json"
    csv = reproduced / "reports/tradeoff.csv"
    proc = run([str(BIN / "mtmh"), "sweep-alpha", "--alphas", "0", "0.5"], reproduced)
    assert "alpha 0.5: recall@50" in proc.stdout
    points = json.loads(sweep.read_text())["points"]
    assert [p["alpha"] for p in points] == [0.0, 0.5]
    # Alpha 0 is the pipeline's two-tower: its checkpoint is reused, with its figures.
    assert "twotower.safetensors (same settings and data), not trained again" in proc.stderr
    twotower = json.loads((reproduced / "reports/metrics.json").read_text())["twotower"]
    assert points[0]["recall@50"] == pytest.approx(twotower["recall@50"], abs=1e-9)

    def alpha_rows() -> list[str]:
        return pd.read_csv(csv).query("series == 'alpha'")["label"].tolist()

    assert alpha_rows() == ["alpha=0", "alpha=0.5"]
    summary = json.loads((reproduced / "reports/sweeps.json").read_text())
    assert "frontier_gap_mtmh_vs_alpha" in summary
    run(["dvc", "repro"], reproduced)  # the redrawn outputs: tradeoff and track run again
    assert alpha_rows() == ["alpha=0", "alpha=0.5"]
    assert "changed" not in run(["dvc", "status"], reproduced).stdout

    import mlflow

    run_id = json.loads((reproduced / "reports/mlflow_run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(f"sqlite:///{reproduced / 'mlflow.db'}")
    children = client.search_runs(
        [client.get_run(run_id).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{run_id}'")
    assert {"alpha:alpha=0", "alpha:alpha=0.5"} <= {r.info.run_name for r in children}

    # Other model settings: the sweep no longer describes the model, so it is not drawn.
    params_path = reproduced / "params.yaml"
    good = params_path.read_text()
    params = yaml.safe_load(good)
    params["model"]["train"]["tau"] = 0.07
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        proc = run(["dvc", "repro", "-s", "tradeoff"], reproduced)
        assert alpha_rows() == []
        assert "other model settings or data" in proc.stdout + proc.stderr
    finally:
        params_path.write_text(good)
        run(["dvc", "repro", "-s", "tradeoff"], reproduced)
    assert alpha_rows() == ["alpha=0", "alpha=0.5"]


def test_cli_errors_are_one_line(reproduced: Path):
    proc = run([str(BIN / "mtmh"), "similar", "no such film"], reproduced, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    proc = run([str(BIN / "mtmh"), "similar", "Star", "--method", "itemcf"], reproduced,
               check=False)
    assert proc.returncode == 1 and "matches" in proc.stderr  # ambiguous fragment
    proc = run([str(BIN / "mtmh"), "similar", "1", "--method", "nope"], reproduced,
               check=False)
    assert proc.returncode == 1 and "available" in proc.stderr


def test_bad_data_stops_repro_and_keeps_last_outputs(reproduced: Path):
    events = reproduced / "mydata/events.csv"
    good = events.read_text()
    lists = reproduced / "artifacts/neighbors/itemcf.npz"
    before = lists.read_bytes()
    frame = pd.read_csv(events)
    frame.loc[3, "uid"] = None
    frame.to_csv(events, index=False)
    try:
        proc = run(["dvc", "repro"], reproduced, check=False)
        assert proc.returncode != 0
        assert "user_id" in proc.stdout + proc.stderr
        assert lists.read_bytes() == before
    finally:
        events.write_text(good)


def test_fresh_share_reserves_slots_for_fresh_items(reproduced: Path):
    """`serving.fresh_share` in params.yaml: `dvc repro` re-serves every list with that share
    kept for fresh items, the text query and the share sweep included."""
    import numpy as np

    from mtmh.config import load_params
    from mtmh.layout import Layout
    from mtmh.neighbors import Neighbors
    from mtmh.serving import Catalog

    params_path = reproduced / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["serving"]["fresh_share"] = 0.1
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    out = run(["dvc", "repro"], reproduced).stdout
    # Served again, not retrained.
    assert "Running stage 'index@mtmh'" in out and "Running stage 'train@mtmh'" not in out

    meta = json.loads((reproduced / "artifacts/index/mtmh/index.json").read_text())
    assert meta["fresh_share"] == 0.1 and meta["fresh_head"] == "engagement"
    catalog = Catalog.open(Layout(reproduced))
    fresh = (catalog.items["train_count"] == 0).to_numpy()
    assert fresh.sum() > 10  # the sample leaves many items without train interactions
    merged = Neighbors.load(reproduced / "artifacts/neighbors/mtmh/merged.npz").items
    assert (fresh[merged[:, :50]].sum(axis=1) >= 5).all()  # 5 of every top 50
    assert fresh[merged[:, 5]].all()  # the first reserved slot is rank 6
    # A text query gets the same slots.
    embed = load_params(params_path).embed
    found = catalog.similar_text("Space Wars (2003) Action Sci-Fi", "mtmh", 10, embed)
    row = {item: i for i, item in enumerate(catalog.items["item_id"])}
    assert fresh[row[found["item_id"].iloc[5]]]
    assert found["head"].iloc[5] == "engagement"
    # The share sweep serves the same lists: its default share is the reported mtmh.
    metrics = json.loads((reproduced / "reports/metrics.json").read_text())["mtmh"]
    sweep = json.loads((reproduced / "reports/sweeps.json").read_text())["points"]
    default = next(p for p in sweep["mtmh_shares"] if np.isclose(p["share"], meta["shares"][0]))
    assert np.isclose(default["recall@50"], metrics["recall@50"])
    assert np.isclose(default["relevance_rate@50"], metrics["relevance_rate@50"])
