"""DVC stage `blend`: see `mtmh.pipeline.step_blend`."""

from mtmh.cli import stage_main
from mtmh.pipeline import step_blend

if __name__ == "__main__":
    stage_main(step_blend)
