"""Wall time and peak memory of each DVC stage and of the whole pipeline.

Run from the repository root after `make run` (the data must be in place):

    .venv/bin/python scripts/benchmark.py            # every stage, and their sum
    .venv/bin/python scripts/benchmark.py --stages prepare embed
    .venv/bin/python scripts/benchmark.py --total-only     # one whole `dvc repro -f`

Each stage is forced (`dvc repro -f -s STAGE`) in a child process; peak memory is the
largest resident set of that process and its children, from the kernel's accounting.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, exit code) of one command and its children."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    # A file, not a pipe: a pipe nobody reads fills up and stalls a long, chatty run.
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            print(f"{' '.join(cmd)} failed ({code}):\n{tail}", file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, code


def stage_names() -> list[str]:
    out = subprocess.run([str(BIN / "dvc"), "stage", "list", "--name-only"], check=True,
                         capture_output=True, text=True).stdout
    return out.split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", nargs="*", help="stages to time (default: all)")
    parser.add_argument("--total", action="store_true",
                        help="also time one whole `dvc repro -f` (a second full run)")
    parser.add_argument("--total-only", action="store_true",
                        help="time only the whole `dvc repro -f`, no stage by stage")
    args = parser.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    print("| stage | wall (s) | peak memory (MiB) |")
    print("|---|---:|---:|")
    failed = False
    walls, peaks = [], []
    for stage in [] if args.total_only else (args.stages or stage_names()):
        wall, peak, code = measure([str(BIN / "dvc"), "repro", "-f", "-s", "-q", stage])
        failed |= code != 0
        walls.append(wall)
        peaks.append(peak)
        print(f"| {stage} | {wall:.1f} | {peak:.0f} |", flush=True)
    if walls:
        print(f"| **all stages, one after another** | {sum(walls):.1f} | {max(peaks):.0f} |")
    if args.total or args.total_only:
        wall, peak, code = measure([str(BIN / "dvc"), "repro", "-f", "-q"])
        failed |= code != 0
        print(f"| **whole `dvc repro -f`** | {wall:.1f} | {peak:.0f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
