"""The compiled (numba) code is cached on disk and found again: a second process running the same
simulation compiles nothing and adds nothing to the cache. A compiled function that takes another
compiled function as an argument is keyed by that function's type, which differs in every
process: numba then compiles it again in each process (about 0.3 s each), its cache index grows
by an entry per process, and once an entry's function has vanished, saving the index raises
ReferenceError (seen: a traceback from twin.cooling.dx_cop)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUN = """
from sites import load_catalog
from twin.simulate import simulate
ds = simulate(None, list(load_catalog().values()), year=2025)
assert float(ds["pue"].min()) >= 1.0
"""


def _cache_files(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*") if p.suffix in (".nbi", ".nbc")}


def test_a_second_process_compiles_nothing(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    after = []
    for _ in range(2):
        subprocess.run([sys.executable, "-c", RUN], env=env, check=True, cwd=tmp_path,
                       timeout=600)
        after.append(_cache_files(tmp_path / "cache"))
    assert after[0], "nothing was cached"
    assert after[1] == after[0], f"compiled again: {sorted(after[1] - after[0])}"
