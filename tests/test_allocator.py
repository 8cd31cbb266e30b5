"""The twin's own processes keep freed memory for reuse (twin.allocator)."""

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
