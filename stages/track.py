"""DVC stage `track`: log the run's params, metrics and plot to MLflow (`mtmh.steps.track`)."""

from mtmh.cli import stage_main
from mtmh.steps.track import step_track

if __name__ == "__main__":
    stage_main(step_track)
