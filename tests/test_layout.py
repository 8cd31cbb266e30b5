"""The package structure of DESIGN.md, read from the source: which module imports which.

Every ``import`` statement counts, also those inside functions (a lazy import is still a
dependency). What is checked: the module graph has no cycle; dependencies point one way
(api/cli -> orchestration -> physics -> variables); ``weather/`` and ``sites/`` import neither
``api/`` nor the physics; the physics import no web, CLI or cluster framework; and
``import weather.errors`` stays light (a fresh interpreter)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("twin", "weather", "sites", "api")
PHYSICS = {f"twin.{m}" for m in ("solar", "wind", "it_load", "psychrometrics", "cooling",
                                 "facility", "storage", "latency")}
# what the physics modules may import from the twin: each other, and these leaves
LEAVES = {"twin", "twin._lazy", "twin._version", "twin.variables", "twin.model_names",
          "twin.arrays", "twin.interp", "twin.timebase"}
FRAMEWORKS = ("fastapi", "starlette", "typer", "rich", "dask", "distributed", "uvicorn", "httpx")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Module -> every module it imports (absolute names; ``from p import m`` counts as p.m
    when p.m is a module of the project)."""
    modules = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names
                             if f"{node.module}.{a.name}" in modules)
        graph[name] = found
    return graph


GRAPH = _imports()


def _internal(targets) -> set[str]:
    return {t for t in targets if t.split(".")[0] in PACKAGES}


def _with_parents(targets) -> set[str]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first."""
    return {".".join(t.split(".")[:k]) for t in targets for k in range(1, t.count(".") + 2)}


def test_no_import_cycle():
    graph = {m: {t for t in _with_parents(_internal(ts)) if t in GRAPH and t != m}
             for m, ts in GRAPH.items()}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == "open":
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("package", ["twin", "weather", "sites"])
def test_nothing_imports_api(package):
    offenders = {m: sorted(t for t in ts if t.split(".")[0] == "api")
                 for m, ts in GRAPH.items() if m.split(".")[0] == package}
    assert not {m: t for m, t in offenders.items() if t}


@pytest.mark.parametrize("package", ["weather", "sites"])
def test_inputs_import_no_physics(package):
    """weather/ and sites/ feed simulate normalised inputs: from the twin they may import only
    the version, the lazy-package helper and the registries (variables, model names)."""
    allowed = {"twin", "twin._lazy", "twin._version", "twin.variables", "twin.model_names"}
    offenders = {m: sorted(t for t in ts if t.split(".")[0] == "twin" and t not in allowed)
                 for m, ts in GRAPH.items() if m.split(".")[0] == package}
    assert not {m: t for m, t in offenders.items() if t}


def test_physics_import_only_physics_and_leaves():
    offenders = {}
    for m in PHYSICS:
        bad = [t for t in _internal(GRAPH[m]) if t not in PHYSICS | LEAVES]
        bad += [t for t in GRAPH[m] if t.split(".")[0] in FRAMEWORKS]
        if bad:
            offenders[m] = sorted(bad)
    assert not offenders


def test_weather_errors_is_light():
    code = ("import sys, weather.errors; print([m for m in ('twin.facility', 'windpowerlib', "
            "'fastapi', 'pvlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_names_stay_the_functions():
    """``twin.simulate`` and ``weather.normals`` are functions named like their modules: they
    stay the functions once those modules are imported (as notebooks and the README use them)."""
    code = ("import twin.simulate, weather.normals, twin, weather; "
            "print(callable(twin.simulate), callable(weather.normals), twin.simulate.__module__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", "True", "twin.simulate"]


def test_the_command_starts_without_the_numerical_stack():
    """`twin --help` (the console script imports api.cli) builds every command's options
    without importing numpy's dependants: the commands import what they need (issue 22)."""
    import subprocess
    import sys

    code = ("import sys; from api.cli import app; print(sorted(m for m in ('numpy', 'pandas', "
            "'xarray', 'pvlib', 'fastapi', 'pydantic', 'sites', 'twin.simulate') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_installed_metadata_carries_the_packages_version():
    """twin._version is the version's one home (pyproject.toml reads it; importlib.metadata
    is not imported at start-up): what pip installed says the same."""
    from importlib.metadata import PackageNotFoundError, version

    from twin import __version__

    try:
        installed = version("desert-twin")
    except PackageNotFoundError:
        pytest.skip("desert-twin is not installed (a source tree on the path)")
    assert installed == __version__
