"""The command line's error paths: one clear line, a non-zero exit, no traceback."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtmh.cli import main
from mtmh.layout import DEFAULT, Layout
from mtmh.neighbors import Neighbors
from mtmh.report import write_metrics


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert err.count("\n") == 0, err
    assert err.startswith("error:"), err
    return err


def test_similar_without_pipeline_outputs(workdir, capsys):
    assert main(["-q", "similar", "Toy Story"]) == 1
    assert "make run" in one_line_error(capsys)


def test_report_without_metrics(workdir, capsys):
    assert main(["-q", "report"]) == 1
    assert "metrics" in one_line_error(capsys)


def test_missing_params_file(workdir, capsys):
    assert main(["-q", "--params", "nope.yaml", "validate"]) == 1
    assert "nope.yaml" in one_line_error(capsys)


@pytest.mark.parametrize("argv", [["similar", "x", "--k", "0"], ["export", "--method", "a"],
                                  ["materialise", "ml-20m"], ["frobnicate"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def write_outputs(layout: Layout) -> None:
    """A minimal set of pipeline outputs: three items, one method's lists."""
    layout.prepared.mkdir(parents=True)
    pd.DataFrame({"item": [0, 1, 2], "item_id": [10, 20, 30],
                  "title": ["Alien (1979)", "Aliens (1986)", "Heat (1995)"],
                  "genre_list": ["Horror|Sci-Fi", "Action|Sci-Fi", "Crime"],
                  "train_count": [5, 0, 3]}).to_parquet(
        layout.prepared / "items.parquet")
    Neighbors(np.array([[1, 2], [0, 2], [0, -1]], dtype=np.int32),
              np.array([[0.9, 0.1], [0.9, 0.2], [0.1, np.nan]], dtype=np.float32)).save(
        layout.neighbors / "itemcf.npz")


@pytest.fixture
def outputs(workdir):
    write_outputs(DEFAULT)
    return workdir


def test_similar_by_id_title_and_ambiguous_fragment(outputs, capsys):
    assert main(["-q", "similar", "30", "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert "Heat (1995)" in out and "Alien (1979)" in out
    assert "fresh" not in out  # no fresh item listed: no such column
    # Aliens has no train interactions: a fresh item, marked as such.
    assert main(["-q", "similar", "10", "--k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[-1] == "fresh"
    assert [line.split()[-1] for line in lines[2:4]] == ["yes", "0.1000"]
    assert main(["-q", "similar", "ali"]) == 1  # two titles contain it
    err = one_line_error(capsys)
    assert "Alien (1979)" in err and "Aliens (1986)" in err
    assert main(["-q", "similar", "aliens (1986)", "--k", "1"]) == 0
    # Both titles contain "alien", but only one is "Alien" once its year is dropped.
    assert main(["-q", "similar", "Alien", "--k", "1"]) == 0
    out = capsys.readouterr().out
    assert "similar to Alien (1979)" in out and "Heat" not in out.split("\n", 1)[1]


def test_similar_unknown_item_method_and_k(outputs, capsys):
    assert main(["-q", "similar", "Zardoz"]) == 1
    assert "Zardoz" in one_line_error(capsys)
    assert main(["-q", "similar", "Heat", "--method", "swing"]) == 1
    assert "itemcf" in one_line_error(capsys)  # lists what is available
    assert main(["-q", "similar", "Heat", "--k", "5"]) == 1
    assert "topk" in one_line_error(capsys)


def test_export_writes_ids_as_in_input(outputs, capsys):
    assert main(["-q", "export", "--method", "itemcf", "--k", "2", "--out", "x.parquet"]) == 0
    frame = pd.read_parquet("x.parquet")
    assert frame.to_dict("list") == {"trigger": [10, 10, 20, 20, 30], "item": [20, 30, 10, 30, 10],
                                     "rank": [1, 2, 1, 2, 1],
                                     "score": pytest.approx([0.9, 0.1, 0.9, 0.2, 0.1])}
    assert main(["-q", "export", "--method", "itemcf", "--out", "x.csv"]) == 1
    assert "Parquet" in one_line_error(capsys)
    assert not Path("x.csv").exists()


def test_root_reads_another_runs_outputs(workdir, capsys):
    run = Layout("runs/flow")
    write_outputs(run)
    assert main(["-q", "similar", "30", "--k", "2"]) == 1  # nothing at the default paths
    assert "make run" in one_line_error(capsys)
    assert main(["-q", "similar", "30", "--k", "2", "--root", "runs/flow"]) == 0
    assert "Alien (1979)" in capsys.readouterr().out
    assert main(["-q", "export", "--method", "itemcf", "--out", "x.parquet", "--k", "1",
                 "--root", "runs/flow"]) == 0
    assert len(pd.read_parquet("x.parquet")) == 3

    assert main(["-q", "report", "--root", "runs/flow"]) == 1
    assert str(run.metrics) in one_line_error(capsys)
    write_metrics({"itemcf": {"recall@50": 0.25}}, run.metrics)
    assert main(["-q", "report", "--root", "runs/flow"]) == 0
    out = capsys.readouterr().out
    assert str(run.metrics) in out and "itemcf" in out and "0.250" in out
    assert main(["-q", "similar", "30", "--root", "runs/none"]) == 1
    assert "runs/none" in one_line_error(capsys)


def test_validate_exit_codes(workdir, capsys):
    pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2],
                  "timestamp": [1_000_000_000, 1_000_000_100]}).to_csv("i.csv", index=False)
    pd.DataFrame({"item_id": [1, 2], "title": ["A", "B"]}).to_csv("items.csv", index=False)
    Path("params.yaml").write_text("data:\n  columns: {rating: null, genres: null}\n")
    assert main(["-q", "validate", "--interactions", "i.csv", "--items", "items.csv"]) == 0
    pd.DataFrame({"item_id": [1], "title": ["A"]}).to_csv("items.csv", index=False)
    assert main(["-q", "validate", "--interactions", "i.csv", "--items", "items.csv"]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "i.csv" in err and "item_id" in err
    assert Path("reports/validation/report.md").exists()
