"""The twin's own processes keep freed memory for reuse (twin.allocator)."""

from __future__ import annotations

import json
import mmap
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


def _mapping(a):
    """The object that holds ``a``'s memory: the end of its chain of bases (through the
    memoryview numpy.frombuffer keeps)."""
    while isinstance(a, memoryview) or getattr(a, "base", None) is not None:
        a = a.obj if isinstance(a, memoryview) else a.base
    return a


@pytest.mark.skipif(not hasattr(mmap, "MAP_POPULATE"), reason="MAP_POPULATE is Linux's")
def test_large_outputs_get_their_own_mapping_where_numpy_would_ask_for_huge_pages():
    """Where numpy asks for transparent huge pages (its default), an output array of 4 MiB or
    more is its own populated mapping: shaped, typed, writable, independent of every other
    one, picklable; smaller ones, and all of them once numpy's huge pages are off (as
    keep_freed_memory sets them), are numpy's own arrays."""
    import pickle

    import numpy as np
    from numpy._core.multiarray import _get_madvise_hugepage, _set_madvise_hugepage

    before = _get_madvise_hugepage()
    try:
        _set_madvise_hugepage(True)
        big = [allocator.output_array((600, 1000), np.float64) for _ in range(2)]
        for k, a in enumerate(big):
            assert isinstance(_mapping(a), mmap.mmap)
            assert a.shape == (600, 1000) and a.dtype == np.float64 and a.flags.writeable
            a[:] = k + 0.5
        assert np.all(big[0] == 0.5) and np.all(big[1] == 1.5)
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(big[1])), big[1])
        flags = allocator.output_array((5_000_000,), np.int8)
        assert isinstance(_mapping(flags), mmap.mmap) and flags.dtype == np.int8
        small = allocator.output_array((10, 8760), np.float64)
        assert isinstance(_mapping(small), np.ndarray)
        _set_madvise_hugepage(False)
        assert isinstance(_mapping(allocator.output_array((600, 1000), np.float64)), np.ndarray)
    finally:
        _set_madvise_hugepage(before)
