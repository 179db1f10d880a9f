"""DVC stage `embed`: see `mtmh.pipeline.step_embed`."""

from mtmh.cli import stage_main
from mtmh.pipeline import step_embed

if __name__ == "__main__":
    stage_main(step_embed)
