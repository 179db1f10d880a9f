"""DVC stage `tradeoff`: see `mtmh.pipeline.step_tradeoff`."""

from mtmh.cli import stage_main
from mtmh.pipeline import step_tradeoff

if __name__ == "__main__":
    stage_main(step_tradeoff)
