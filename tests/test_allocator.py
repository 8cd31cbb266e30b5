"""The twin's own processes keep freed memory for reuse, and simulate() writes its outputs into
the memory of outputs the caller has dropped (twin.allocator)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from twin import allocator
from twin.allocator import KEEP_FREED_MEMORY, NO_HUGE_PAGES

SETTINGS = {**KEEP_FREED_MEMORY, **NO_HUGE_PAGES}
CHECK = ("import json, os; from twin.allocator import keep_freed_memory; "
         "from numpy._core.multiarray import _get_madvise_hugepage as huge; "
         "took = keep_freed_memory(); "
         f"print(json.dumps([took, huge(), {{k: os.environ.get(k) for k in {list(SETTINGS)}}}]))")


def run_check(env):
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_allocator_is_set_and_passed_to_child_processes():
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    took, huge_pages, environ = run_check(env)
    assert took is True and huge_pages is False
    assert environ == {k: str(v) for k, v in SETTINGS.items()}


def test_a_users_own_allocator_setting_is_left_alone():
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env["MALLOC_TRIM_THRESHOLD_"] = "12345"
    took, _, environ = run_check(env)
    assert took is False
    assert environ == {"MALLOC_TRIM_THRESHOLD_": "12345", "MALLOC_MMAP_THRESHOLD_": None,
                       "NUMPY_MADVISE_HUGEPAGE": None}


def test_only_the_commands_that_simulate_set_it(monkeypatch):
    from twin.cli import app

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append(1) or True)
    runner = CliRunner()
    assert runner.invoke(app, ["sites"]).exit_code == 0
    assert calls == []
    result = runner.invoke(app, ["simulate", "hami"])
    assert result.exit_code == 0, result.output
    assert calls == [1]


def _advised_not_huge(a) -> bool:
    """Whether the memory of ``a`` lies in a mapping marked MADV_NOHUGEPAGE (``nh`` in
    /proc/self/smaps)."""
    address, mapping = a.ctypes.data + a.nbytes // 2, None
    for line in open("/proc/self/smaps"):
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            low, high = (int(x, 16) for x in head.split("-"))
            mapping = low <= address < high
        elif mapping and line.startswith("VmFlags:"):
            return "nh" in line.split()[1:]
    raise AssertionError("no mapping holds the array")


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="smaps is Linux's")
def test_large_outputs_are_not_in_huge_pages_where_numpy_would_ask_for_them():
    """Where numpy asks for transparent huge pages (its default), an output array of 4 MiB or
    more has its pages marked not huge before they are written (faulting fresh huge pages for
    the outputs cost more than the plant computes, README), and is otherwise numpy's own:
    shaped, typed, writable, owning its memory; once numpy's huge pages are off (as
    keep_freed_memory sets them), it is left as numpy makes it."""
    import numpy as np
    from numpy._core.multiarray import _get_madvise_hugepage, _set_madvise_hugepage

    before = _get_madvise_hugepage()
    try:
        _set_madvise_hugepage(True)
        big = allocator.output_array((600, 1000), np.float64)
        assert _advised_not_huge(big)
        assert big.shape == (600, 1000) and big.dtype == np.float64 and big.flags.writeable
        assert big.flags.c_contiguous and big.ctypes.data % big.itemsize == 0
        big[:] = 0.5
        assert np.all(big == 0.5)
        held = [np.empty((600, 1000)), allocator.output_array((5_000_000,), np.int8)]
        assert not _advised_not_huge(held[0])  # numpy's own: asked huge
        assert _advised_not_huge(held[1])
        _set_madvise_hugepage(False)  # all held, so none reuses a marked one's memory
        held.append(allocator.output_array((600, 1000), np.float64))
        assert not _advised_not_huge(held[-1])
    finally:
        _set_madvise_hugepage(before)


def test_a_dropped_outputs_memory_is_taken_again_a_held_ones_never():
    import numpy as np

    pool = allocator.OutputPool()
    first = np.asarray(pool.take((40, 100), np.dtype(float)))
    first[:] = 1.0
    view = first[3:5]
    address = first.ctypes.data
    del first
    other = np.asarray(pool.take((40, 100), np.dtype(float)))  # the first is still viewed
    assert other.ctypes.data != address and pool.kept_bytes() == 0
    del view
    assert pool.kept_bytes() == 40 * 100 * 8
    small = np.asarray(pool.take((10, 10), np.dtype(float)))
    assert small.ctypes.data != address  # another size
    again = np.asarray(pool.take((100, 40), np.dtype(float)))  # the same bytes, any shape
    assert again.ctypes.data == address and pool.kept_bytes() == 0
    assert again.shape == (100, 40) and again.flags.writeable
    del again, other, small
    assert pool.kept_bytes() == 2 * 40 * 100 * 8 + 10 * 10 * 8
    pool.clear()
    assert pool.kept_bytes() == 0


def test_simulate_writes_into_a_dropped_results_memory_and_every_number_is_its_own():
    """A result dropped before the next simulate() lends its memory to the next one: every
    output is written whole, so nothing of the earlier result shows through (the same sites
    simulated on a cleared pool give the same numbers); simulate() frees what it left in the
    pool as it ends."""
    import numpy as np

    from twin.simulate import simulate

    first = simulate(None, ["hami", "golmud"], year=2025)
    addresses = {v.values.ctypes.data for v in first.data_vars.values() if v.ndim == 2}
    del first
    assert allocator.OUTPUTS.kept_bytes() > 0
    second = simulate(None, ["zhongwei", "turpan"], year=2026, seed=3)
    reused = {v.values.ctypes.data for v in second.data_vars.values() if v.ndim == 2}
    assert len(reused & addresses) > 20
    assert allocator.OUTPUTS.kept_bytes() == 0
    allocator.OUTPUTS.clear()
    fresh = simulate(None, ["zhongwei", "turpan"], year=2026, seed=3)
    assert not {v.values.ctypes.data for v in fresh.data_vars.values()} & addresses - reused
    for name, v in second.data_vars.items():
        np.testing.assert_array_equal(v.values, fresh[name].values, err_msg=name)


def test_the_benchmarks_traced_peak_counts_the_outputs_after_runs_that_dropped_theirs():
    """benchmarks/generation.py traces a run's peak memory after timed runs whose results were
    dropped: their outputs' memory, allocated before tracing began, must not stand in for the
    traced run's own (the peak then missed the outputs and the scale table printed a working
    memory of 0 MB). The benchmark's peak is that of the same run on an empty pool."""
    import tracemalloc

    from benchmarks.generation import measure
    from twin.simulate import simulate

    ids = ["hami", "golmud"]
    _, peak_mb = measure(lambda sites, _: simulate(None, sites, year=2025), ids, {}, repeat=2)
    allocator.OUTPUTS.clear()
    tracemalloc.start()
    try:
        simulate(None, ids, year=2025)
        alone_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak_mb == pytest.approx(alone_mb, rel=0.05)


def test_the_benchmarks_scale_rows_bound_working_memory_by_the_blocks(tmp_path, monkeypatch,
                                                                      capsys):
    """benchmarks/generation.py's scale(): one run of 4 site-years against runs of 2, each in a
    process of its own (so that neither reuses memory the other freed), prints the cost and
    working memory of each, and judges the one run's working memory against the blocks in
    flight (block_bound: threads x one block's, here blocks of one site, in a run of two on
    one thread)."""
    import importlib
    import re

    from benchmarks import generation

    monkeypatch.setattr(generation, "BLOCK_ELEMENTS", 8760)
    monkeypatch.setattr(importlib.import_module("twin.simulate"), "BLOCK_ELEMENTS", 8760)
    sites, wx, _ = generation.build_sites(tmp_path, 4)  # no EPW files: synthetic years
    bound = generation.block_bound(sites, wx)
    block = float(re.search(r"one block of 1 sites \(a run of two on one thread\): working "
                            r"(\d+) MB", capsys.readouterr().out)[1])
    assert block > 0 and bound == pytest.approx(generation.default_threads() * block, abs=1)
    lines = generation.scale(tmp_path, sites, "library", bound, chunk=2)
    printed = capsys.readouterr().out
    assert "each way in a fresh process" in printed
    rows = dict(re.findall(r"(1 run of 4|2 runs of 2) +([\d.]+) ", printed))
    assert len(rows) == 2 and all(float(ms) > 0 for ms in rows.values())
    cost, memory = lines
    assert cost.startswith("target cost per site-year of one run of 4 within 1.25x of 2-site")
    ratio = float(re.search(r"\(([\d.]+)x\)", cost)[1])
    assert ratio == pytest.approx(float(rows["1 run of 4"]) / float(rows["2 runs of 2"]),
                                  rel=0.02)
    assert ("met" in cost) == (ratio <= 1.25)
    one, printed_bound = map(float, re.search(r"\((\d+) vs (\d+) MB", memory).groups())
    assert printed_bound == round(bound)
    assert one > 0 and ("met" in memory) == (one <= 1.25 * bound)
