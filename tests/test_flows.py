"""The retraining flow on a real ML-100K sample, run in-process against Prefect's test server.

One project (a temp dir holding the real params and a 150-user sample) lives through the
module: the first run promotes a champion, then unchanged inputs skip, bad data stops at
the gate, a dead MLflow store stops the run, a held lock stops it, a run killed during
training leaves nothing half-done, and a worse challenger stays challenger. The tests
share that history, so they run in file order.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml

# Prefect reads its settings on import: a private home, before anything imports it.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="mtmh-prefect-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")

from flows.lineage import dvc_dir_md5  # noqa: E402
from flows.replay import advance  # noqa: E402
from flows.retrain import retrain, run_retrain  # noqa: E402
from flows.settings import ReplayConfig, orchestration_config  # noqa: E402
from mtmh.config import Params, load_params  # noqa: E402
from mtmh.data import movielens_100k  # noqa: E402
from mtmh.layout import Layout  # noqa: E402
from mtmh.locking import FileLock, LockTimeout, read_holder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_USERS = 150
WORKDIR = Path("artifacts/retrain")  # orchestration.workdir's default: the flow's outputs


def make_project(root: Path, **orchestration) -> Path:
    """Real params (two training epochs), a 150-user ML-100K sample, the library linked."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "mtmh").symlink_to(ROOT / "mtmh")
    inter, items = movielens_100k()
    inter = inter[inter["user_id"].isin(inter["user_id"].drop_duplicates().head(N_USERS))]
    (root / "data").mkdir()
    inter.to_csv(root / "data/interactions.csv", index=False)
    items.to_csv(root / "data/items.csv", index=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["validate"]["max_timestamp"] = 2_000_000_000
    params["model"]["train"].update(max_epochs=2, eval_every=1, max_seconds=60)
    # The relevance head alone: the engagement head alone is then clearly less on topic.
    params["serving"]["shares"] = [0.0, 1.0]
    params["orchestration"] = {"baselines": ["popularity"], "retries": 1,
                               "retry_delay_seconds": 0.1, "lock_timeout_seconds": 1,
                               **orchestration}
    write_params(root / "params.yaml", params)
    return root


def write_params(path: Path, params: dict) -> Path:
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def edit_params(project: Path, name: str, change) -> str:
    params = yaml.safe_load((project / "params.yaml").read_text())
    change(params)
    write_params(project / name, params)
    return name


@contextmanager
def inside(folder: Path):
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)


def run_flow(project: Path, params: str = "params.yaml", **paths):
    with inside(project):
        return retrain(params_path=params, return_state=True,
                       **{k: str(v) for k, v in paths.items()})


def mlflow_client(project: Path):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def alias(project: Path, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow_client(project).get_model_version_by_alias("mtmh", name).version)
    except MlflowException:
        return None


def n_versions(project: Path) -> int:
    return len(mlflow_client(project).search_model_versions("name = 'mtmh'"))


def artifacts_of(state) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    return {a.key: a for a in found}


# --- the lock and the replay: no Prefect needed ---------------------------------------------

def test_lock_excludes_a_second_holder_and_names_the_first(tmp_path):
    path = tmp_path / "run.lock"
    with FileLock(path, purpose="first run"):
        start = time.monotonic()
        with pytest.raises(LockTimeout, match=rf"pid {os.getpid()} .*first run"):
            FileLock(path, timeout=0.3, poll=0.05).acquire()
        assert time.monotonic() - start >= 0.3
    with FileLock(path) as again:  # released on exit
        assert again.held


def test_lock_of_a_killed_holder_is_taken_over(tmp_path, caplog):
    path = tmp_path / "run.lock"
    code = ("import sys, time; from mtmh.locking import FileLock; "
            "FileLock(sys.argv[1], purpose='doomed').acquire(); print('held', flush=True); "
            "time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockTimeout, match="doomed"):
            FileLock(path, timeout=0.2, poll=0.05).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert read_holder(path).pid == holder.pid  # the record outlives its holder
        with caplog.at_level("WARNING"), FileLock(path, timeout=1):
            assert f"taking over from pid {holder.pid}" in caplog.text
    finally:
        holder.kill()


def test_the_skip_state_lives_in_the_workdir_unless_placed_elsewhere():
    params = Params()
    params.extra["orchestration"] = {"workdir": "runs/nightly"}
    assert orchestration_config(params).state_path == str(Path("runs/nightly/state.json"))
    params.extra["orchestration"]["state_path"] = "elsewhere/state.json"
    assert orchestration_config(params).state_path == "elsewhere/state.json"


def test_replay_grows_interactions_and_catalogue_a_week_at_a_time(tmp_path):
    inter, items = movielens_100k()
    cfg = ReplayConfig(enabled=True, out_dir=str(tmp_path / "replay"), start_days=30,
                       step_days=7)
    first = advance(cfg, (inter, items))
    second = advance(cfg, (inter, items))
    assert (first.step, second.step) == (0, 1)
    assert second.end - first.end == 7 * 86_400
    assert 0 < first.n_interactions < second.n_interactions < len(inter)
    assert second.new_items > 0 and second.n_items == first.n_items + second.new_items
    written = pd.read_csv(second.interactions)
    assert written["timestamp"].max() < second.end
    # File order is kept: it breaks timestamp ties in the protocol.
    expected = inter[inter["timestamp"] < second.end].reset_index(drop=True)
    pd.testing.assert_frame_equal(written, expected)
    assert set(pd.read_csv(second.items)["item_id"]) == set(written["item_id"])


# --- the flow ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def project(harness, tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("flow") / "project")


@pytest.fixture(scope="module")
def first_run(project: Path):
    return run_flow(project)


def test_first_run_promotes_and_is_traceable(project: Path, first_run):
    assert first_run.is_completed(), first_run.message
    assert "version 1 is the new champion" in first_run.message
    assert alias(project, "champion") == alias(project, "challenger") == "1"

    client = mlflow_client(project)
    version = client.get_model_version("mtmh", "1")
    run = client.get_run(version.run_id)
    tags = run.data.tags
    assert tags["prefect_flow_run_id"] == str(first_run.state_details.flow_run_id)
    assert tags["data_dvc_md5"] == dvc_dir_md5(project / "data")
    assert tags["git_commit"] and len(tags["code_sha256"]) == 64
    assert tags["promotion.decision"] == "promoted"
    assert run.data.params["serving.shares"] == "[0.0, 1.0]"
    assert version.tags["prefect_flow_run_id"] == tags["prefect_flow_run_id"]

    found = artifacts_of(first_run)
    # Prefect stores a link artifact as Markdown: [text](url).
    assert f"/runs/{version.run_id})" in found["mlflow-run"].data
    table = json.loads(found["retrain-metrics"].data)
    recall = next(r for r in table if r["metric"] == "recall@50")
    assert recall["challenger"] == pytest.approx(run.data.metrics["mtmh/recall_at_50"],
                                                 abs=1e-4)


def test_first_run_writes_only_under_its_workdir(project: Path, first_run):
    from mtmh.report import read_metrics
    from mtmh.serving import Catalog

    params = load_params(project / "params.yaml")
    flow = Layout(project / WORKDIR)
    assert set(read_metrics(flow.metrics)) == {"mtmh", "popularity", "ratios"}
    for path in (flow.validated, flow.validation_dir(params) / "report.md",
                 flow.prepared / "items.parquet", flow.embeddings, flow.checkpoint("mtmh"),
                 flow.index / "mtmh" / "index.json", flow.neighbors / "mtmh" / "merged.npz",
                 flow.neighbors / "popularity.npz", flow.sweeps, flow.tradeoff_png,
                 flow.mlflow_run):
        assert path.exists(), path
    # Nothing at the DVC pipeline's paths: `dvc status` of a real project stays clean.
    dvc = Layout(project)
    for path in (dvc.prepared, dvc.embeddings, dvc.models, dvc.neighbors, dvc.validated,
                 dvc.metrics, dvc.validation_dir(params), dvc.reports):
        assert not path.exists(), path
    assert {p.name for p in (project / "artifacts").iterdir()} <= {"retrain", "retrain.lock"}

    # MLflow got the workdir's files (the DVC paths hold none), and the flow's outputs
    # answer queries through the same catalogue as the pipeline's.
    run_id = json.loads(flow.mlflow_run.read_text())["run_id"]
    logged = {a.path for a in mlflow_client(project).list_artifacts(run_id)}
    assert {"metrics.json", "tradeoff.png", "sweeps.json", "mtmh.json"} <= logged
    catalog = Catalog.open(flow)
    rows = catalog.similar(catalog.resolve("Toy Story (1995)"), "mtmh", 5)
    assert len(rows) == 5 and "Toy Story (1995)" not in set(rows["title"])


def test_unchanged_inputs_skip_quickly(project: Path, first_run):
    start = time.perf_counter()
    with inside(project):
        code = run_retrain()
    assert code == 0 and time.perf_counter() - start < 20
    state = run_flow(project)
    assert state.is_completed() and state.name == "Skipped", state.message
    assert "unchanged" in state.message
    assert n_versions(project) == 1


def _null_id(inter, items):
    inter.loc[5, "user_id"] = None
    return inter, items


def _text_timestamps(inter, items):
    inter["timestamp"] = inter["timestamp"].astype(str)
    inter.loc[7, "timestamp"] = "1997-12-04"
    return inter, items


def _duplicate_rows(inter, items):
    return pd.concat([inter, inter.head(3)], ignore_index=True), items


def _items_missing(inter, items):
    return inter, items[~items["item_id"].isin(inter["item_id"].head(20))]


@pytest.mark.parametrize("break_data, expected", [
    (_null_id, "user_id: user_id must not be empty"),
    (_text_timestamps, "timestamp must be whole seconds"),
    (_duplicate_rows, "no two rows may repeat"),
    (None, "must not be empty"),  # a truncated file: its last line lost its tail
    (_items_missing, "every item_id must appear in the items file"),
], ids=["null-id", "wrong-type", "duplicates", "truncated", "items-missing"])
def test_bad_data_stops_at_the_gate(project: Path, first_run, break_data, expected):
    bad = project / "bad"
    bad.mkdir(exist_ok=True)
    inter = pd.read_csv(project / "data/interactions.csv")
    items = pd.read_csv(project / "data/items.csv")
    if break_data is None:
        text = (project / "data/interactions.csv").read_text()
        cut = text.index(",", len(text) // 2) + 1
        (bad / "interactions.csv").write_text(text[:cut])
    else:
        inter, items = break_data(inter, items)
        inter.to_csv(bad / "interactions.csv", index=False)
    items.to_csv(bad / "items.csv", index=False)
    checkpoint = Layout(project / WORKDIR).checkpoint("mtmh")
    before = checkpoint.stat().st_mtime_ns

    state = run_flow(project, interactions=bad / "interactions.csv", items=bad / "items.csv")
    assert state.is_failed()
    assert state.message.startswith("Data gate failed: nothing was trained")
    assert expected in state.message and f"{bad.name}/interactions.csv" in state.message
    report = artifacts_of(state)["validation-report"]
    assert report.type == "markdown" and expected.split(": ")[-1] in report.data
    assert alias(project, "champion") == "1" and n_versions(project) == 1
    assert checkpoint.stat().st_mtime_ns == before


def test_gate_failure_exits_non_zero(project: Path, first_run):
    with inside(project):
        assert run_retrain(interactions="bad/no-such-file.csv") == 1
    assert alias(project, "champion") == "1"


def test_unreachable_mlflow_fails_before_training(project: Path, first_run):
    (project / "not-a-folder").write_text("a file where the store's folder should be")
    name = edit_params(project, "params-dead-mlflow.yaml", lambda p: p["tracking"].update(
        uri=f"sqlite:///{project / 'not-a-folder' / 'mlflow.db'}"))
    checkpoint = Layout(project / WORKDIR).checkpoint("mtmh")
    before = checkpoint.stat().st_mtime_ns
    state = run_flow(project, name)
    assert state.is_failed()
    assert "MLflow tracking store sqlite:///" in state.message
    assert "cannot be reached or written" in state.message
    assert checkpoint.stat().st_mtime_ns == before  # stopped before training
    assert alias(project, "champion") == "1" and n_versions(project) == 1


def test_a_held_lock_stops_a_second_run(project: Path, first_run):
    name = edit_params(project, "params-locked.yaml",
                       lambda p: p["model"]["train"].update(seed=1))
    with FileLock(project / "artifacts/retrain.lock", purpose="another retrain"):
        state = run_flow(project, name)
    assert state.is_failed() and "another retrain" in state.message
    assert n_versions(project) == 1


def test_run_killed_in_training_leaves_champion_whole(project: Path, first_run):
    from prefect.settings import PREFECT_API_URL

    name = edit_params(project, "params-slow.yaml", lambda p: p["model"]["train"].update(
        max_epochs=500, patience=500, max_seconds=120))
    marker = Layout(project / WORKDIR).neighbors / "popularity.npz"
    before = marker.stat().st_mtime_ns
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    code = f"from flows.retrain import run_retrain; run_retrain({name!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # The baselines are written just before training starts.
        while marker.stat().st_mtime_ns == before and time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before training"
            time.sleep(0.5)
        time.sleep(3)
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    holder = read_holder(project / "artifacts/retrain.lock")
    assert holder.pid == proc.pid
    assert _task_states(holder.purpose.rsplit("(", 1)[1].rstrip(")"))["train"] == "RUNNING"
    assert alias(project, "champion") == "1" and n_versions(project) == 1


def test_worse_challenger_stays_challenger(project: Path, first_run):
    # The engagement head alone instead of the relevance head: less on topic.
    name = edit_params(project, "params-engagement.yaml",
                       lambda p: p["serving"].update(shares=[1.0, 0.0]))
    state = run_flow(project, name)  # also the run after the killed one: it takes the lock
    assert state.is_completed(), state.message
    assert "version 2 stays challenger; champion is still version 1" in state.message
    assert "relevance_rate@50" in state.message and "WORSE" in state.message
    assert alias(project, "champion") == "1" and alias(project, "challenger") == "2"

    client = mlflow_client(project)
    first = client.get_run(client.get_model_version("mtmh", "1").run_id).data
    second = client.get_run(client.get_model_version("mtmh", "2").run_id).data
    assert second.tags["promotion.decision"] == "kept champion"
    assert second.tags["champion_before"] == "1"
    # Same data, same split: the champion re-scored from its registered lists must match
    # what it scored when it was trained.
    for metric in ("recall_at_50", "relevance_rate_at_50"):
        assert second.metrics[f"champion/{metric}"] == pytest.approx(
            first.metrics[f"mtmh/{metric}"], abs=1e-9)
    table = {r["metric"]: r for r in json.loads(artifacts_of(state)["retrain-metrics"].data)}
    assert table["relevance_rate@50"]["delta"] < -0.01


def _task_states(flow_run_id: str) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[flow_run_id])))
    return {r.task_key.split("-")[0]: r.state.type.value for r in runs}


# --- a real server, a deployment, a triggered run ---------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    """Until the server answers: a runner started earlier would find no API and exit."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"no answer from {url}"
            time.sleep(1)


@pytest.mark.slow
def test_deployment_on_a_local_server_runs_and_sets_champion(tmp_path):
    project = make_project(tmp_path / "project")
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_UI_ENABLED": "false"}
    bin_dir = Path(sys.executable).parent
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen([str(bin_dir / "prefect"), "server", "start", "--host",
                               "127.0.0.1", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    served = None
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/health", server, tmp_path / "server.log")
        served = subprocess.Popen(
            [sys.executable, "-c", "from flows.deploy import serve_deployment; "
                                   "serve_deployment()"],
            cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
        trigger = (
            "import time, sys\n"
            "from prefect.deployments import run_deployment\n"
            "from prefect.client.orchestration import get_client\n"
            "deadline = time.monotonic() + 240\n"
            "while True:\n"
            "    try:\n"
            "        with get_client(sync_client=True) as c:\n"
            "            d = c.read_deployment_by_name('retrain/mtmh-retrain')\n"
            "        break\n"
            "    except Exception:\n"
            "        if time.monotonic() > deadline: raise\n"
            "        time.sleep(2)\n"
            "print('cron', d.schedules[0].schedule.cron)\n"
            "run = run_deployment('retrain/mtmh-retrain', timeout=600)\n"
            "print('state', run.state.type.value, run.state.message)\n")
        out = subprocess.run([sys.executable, "-c", trigger], env=env, capture_output=True,
                             text=True, timeout=900)
        assert out.returncode == 0, out.stderr[-2000:] + (tmp_path / "server.log").read_text(
            )[-3000:]
        assert "cron 0 3 * * *" in out.stdout
        assert "state COMPLETED version 1 is the new champion" in out.stdout, out.stdout
        assert alias(project, "champion") == "1"
    finally:
        for proc in (served, server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        log.close()
        shutil.rmtree(tmp_path / "prefect", ignore_errors=True)
