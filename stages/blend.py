"""DVC stage `blend`: see `mtmh.steps.blend.step_blend`."""

from mtmh.cli import stage_main
from mtmh.steps.blend import step_blend

if __name__ == "__main__":
    stage_main(step_blend)
