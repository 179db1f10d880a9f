"""DVC stage `prepare`: see `mtmh.pipeline.step_prepare`."""

from mtmh.cli import stage_main
from mtmh.pipeline import step_prepare

if __name__ == "__main__":
    stage_main(step_prepare)
