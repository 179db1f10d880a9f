"""DVC stage `tradeoff`: see `mtmh.steps.tradeoff.step_tradeoff`."""

from mtmh.cli import stage_main
from mtmh.steps.tradeoff import step_tradeoff

if __name__ == "__main__":
    stage_main(step_tradeoff)
