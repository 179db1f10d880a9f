"""DVC stage `validate`: see `mtmh.steps.validate.step_validate`."""

from mtmh.cli import stage_main
from mtmh.steps.validate import step_validate

if __name__ == "__main__":
    stage_main(step_validate)
