"""Start-up of the `twin` command against Python importing numpy, side by side in one run.

    python benchmarks/startup.py [--repeat 9]

Each command runs in a fresh interpreter, the three interleaved (so that a burst of load hits
them alike); the table gives the median and fastest wall time of each and its ratio to
`python -c "import numpy"`. The unmeasured first run of each writes the bytecode of the modules
it imports, as an installed package has it (numpy's is written at its install), also where
PYTHONDONTWRITEBYTECODE is set: else every run of `twin` would compile the project's modules
(about 19 ms for `twin sites`). The console script `twin` is `api.cli:app`, run here as
`python -c "from api.cli import app; app()" ARGS`. Targets (issue 22, reported, never
asserted): `twin --help` and `twin sites` under 3x the start-up of `python -c "import numpy"`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

TARGET_RATIO = 3.0
COMMANDS = {
    "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
    "twin --help": [sys.executable, "-c", "from api.cli import app; app()", "--help"],
    "twin sites": [sys.executable, "-c", "from api.cli import app; app()", "sites"],
}


def wall_s(command: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)
    writing = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for command in COMMANDS.values():  # warm the file cache, write the bytecode: not measured
        wall_s(command, writing)
    times = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, command in COMMANDS.items():
            times[name].append(wall_s(command))
    reference = statistics.median(times["python -c 'import numpy'"])
    print(f"start-up, median and fastest of {args.repeat} runs each, interleaved")
    print(f"{'command':28} {'median s':>9} {'fastest s':>10} {'x numpy':>8}")
    for name, t in times.items():
        print(f"{name:28} {statistics.median(t):9.3f} {min(t):10.3f} "
              f"{statistics.median(t) / reference:8.2f}")
    for name in ("twin --help", "twin sites"):
        ratio = statistics.median(times[name]) / reference
        print(f"target {name} under {TARGET_RATIO:g}x python -c 'import numpy' "
              f"({ratio:.2f}x): {'met' if ratio < TARGET_RATIO else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
