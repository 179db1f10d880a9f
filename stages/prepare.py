"""DVC stage `prepare`: see `mtmh.steps.prepare.step_prepare`."""

from mtmh.cli import stage_main
from mtmh.steps.prepare import step_prepare

if __name__ == "__main__":
    stage_main(step_prepare)
