"""DVC stage `train@NAME`: see `mtmh.steps.train.step_train` (NAME: mtmh or an ablation)."""

import sys

from mtmh.cli import stage_main
from mtmh.steps.train import step_train

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.train {mtmh,twotower,singlehead,idonly}")
    stage_main(step_train, sys.argv[1])
