"""DVC stage `validate`: see `mtmh.pipeline.step_validate`."""

from mtmh.cli import stage_main
from mtmh.pipeline import step_validate

if __name__ == "__main__":
    stage_main(step_validate)
