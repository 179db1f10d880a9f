"""DVC stage `track`: log the run's params, metrics and plot to MLflow (`mtmh.pipeline`)."""

from mtmh.cli import stage_main
from mtmh.pipeline import step_track

if __name__ == "__main__":
    stage_main(step_track)
