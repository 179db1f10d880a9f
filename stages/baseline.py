"""DVC stage `baseline@NAME`: top-K lists of one classical baseline (`mtmh.steps.baseline`)."""

import sys

from mtmh.cli import stage_main
from mtmh.steps.baseline import step_baseline

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.baseline {popularity,itemcf,swing,content,als}")
    stage_main(step_baseline, sys.argv[1])
