"""DVC stage `evaluate`: every method's lists through one harness (`mtmh.steps.evaluate`)."""

import sys

from mtmh.cli import stage_main
from mtmh.steps.evaluate import step_evaluate

if __name__ == "__main__":
    stage_main(step_evaluate, sys.argv[1:])
