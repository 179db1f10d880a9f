"""DVC stage `index@NAME`: see `mtmh.steps.index.step_index` (NAME: mtmh or an ablation)."""

import sys

from mtmh.cli import stage_main
from mtmh.steps.index import step_index

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.index {mtmh,twotower,singlehead,idonly}")
    stage_main(step_index, sys.argv[1])
