"""The one place paths are defined: the DVC pipeline's layout and one under another root."""

from pathlib import Path

import pytest
import yaml

from mtmh.config import Params
from mtmh.layout import DEFAULT, Layout
from mtmh.steps.lists import neighbors_path

ROOT = Path(__file__).resolve().parents[1]

PATHS = ("validated", "prepared", "embeddings", "embeddings_meta", "neighbors", "models",
         "index", "metrics", "metrics_table", "sweeps", "alpha_sweep", "tradeoff_csv",
         "tradeoff_png", "mlflow_run")


def test_default_is_the_dvc_pipelines_layout():
    assert DEFAULT == Layout() == Layout(".")
    expected = {"validated": "artifacts/validated.json", "prepared": "artifacts/prepared",
                "embeddings": "artifacts/embeddings.npy",
                "embeddings_meta": "artifacts/embeddings.json",
                "neighbors": "artifacts/neighbors", "models": "artifacts/models",
                "index": "artifacts/index", "metrics": "reports/metrics.json",
                "metrics_table": "reports/metrics.md", "sweeps": "reports/sweeps.json",
                "alpha_sweep": "reports/sweeps/alpha.json",
                "tradeoff_csv": "reports/tradeoff.csv", "tradeoff_png": "reports/tradeoff.png",
                "mlflow_run": "reports/mlflow_run.json"}
    assert {name: getattr(DEFAULT, name) for name in PATHS} == {
        name: Path(path) for name, path in expected.items()}
    assert DEFAULT.checkpoint("mtmh") == Path("artifacts/models/mtmh.safetensors")
    assert DEFAULT.validation_dir(Params()) == Path("reports/validation")


def test_dvc_yaml_names_the_default_paths():
    """Each stage output in dvc.yaml that the layout defines is the layout's path."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    outs = set()
    for stage in stages.values():
        for key in ("outs", "metrics", "plots"):
            for entry in (stage.get("do") or stage).get(key) or []:
                outs.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    for name in ("validated", "prepared", "embeddings", "embeddings_meta", "metrics",
                 "sweeps", "tradeoff_csv", "tradeoff_png", "mlflow_run"):
        assert str(getattr(DEFAULT, name)) in outs, name
    assert f"{DEFAULT.neighbors}/${{item}}.npz" in outs
    assert f"{DEFAULT.models}/${{item}}.safetensors" in outs
    assert f"{DEFAULT.index}/${{item}}" in outs


@pytest.mark.parametrize("root", ["artifacts/retrain", "/abs/run"])
def test_every_path_lies_under_the_root(root):
    layout = Layout(root)
    assert isinstance(layout.root, Path)
    for name in PATHS:
        path = getattr(layout, name)
        assert path.is_relative_to(root), name
        assert path.relative_to(root) == getattr(DEFAULT, name), name


def test_validation_dir_is_under_the_root_unless_absolute(tmp_path):
    params = Params()
    assert Layout("run").validation_dir(params) == Path("run/reports/validation")
    params.validate.report_dir = str(tmp_path / "gx")
    assert Layout("run").validation_dir(params) == tmp_path / "gx"


def test_neighbors_path_of_a_layout(tmp_path):
    layout = Layout(tmp_path)
    (layout.neighbors / "mtmh").mkdir(parents=True)
    assert neighbors_path("itemcf", layout.neighbors) == layout.neighbors / "itemcf.npz"
    assert neighbors_path("mtmh", layout.neighbors) == layout.neighbors / "mtmh/merged.npz"
    assert neighbors_path("mtmh:relevance", layout.neighbors) == (
        layout.neighbors / "mtmh/relevance.npz")
    assert neighbors_path("itemcf") == DEFAULT.neighbors / "itemcf.npz"
