"""DVC stage `embed`: see `mtmh.steps.embed.step_embed`."""

from mtmh.cli import stage_main
from mtmh.steps.embed import step_embed

if __name__ == "__main__":
    stage_main(step_embed)
