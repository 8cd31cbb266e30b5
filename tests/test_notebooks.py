"""The worked notebooks in notebooks/: each runs top to bottom on a fresh kernel (the interpreter
running the tests, with the repository on its path) in a temporary working directory, shows at
least one figure and no error, uses only public names of the twin, and is stored without outputs."""

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300
KERNEL = "desert-twin-tests"
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
# a private name of the project's packages: `twin.x._y`, `from twin.x import a, _y`
PRIVATE = re.compile(r"\b(?:twin|sites|weather|api)(?:\.\w+)*\._\w"
                     r"|^\s*from\s+(?:twin|sites|weather|api)"
                     r"(?:\.\w+)*\s+import\s+(?:\(?\s*)?(?:\w+\s*,\s*)*_\w", re.MULTILINE)


def notebook_ids():
    return [p.stem for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3, f"expected the worked notebooks in {ROOT / 'notebooks'}"


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
    """A kernel spec running this interpreter with the repository first on PYTHONPATH, so the
    kernel imports the same packages as the tests whether installed or run from the tree."""
    folder = tmp_path_factory.mktemp("kernels")
    path = os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    (folder / KERNEL).mkdir()
    (folder / KERNEL / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "desert-twin tests", "language": "python",
        "env": {"PYTHONPATH": path, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}}))
    return KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_ids())
def test_notebook_runs_and_shows_figures(path, kernel_specs, tmp_path):
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_specs)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=False,
                            resources={"metadata": {"path": str(tmp_path)}})
    failure = None
    try:
        client.execute()
    except CellExecutionError as err:
        failure = ANSI_COLOUR.sub("", str(err))
    if failure:  # outside the except block: the report shows the cell's error once
        pytest.fail(f"{path.name}: a cell failed:\n{failure}", pytrace=False)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: error outputs: {errors}"
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, f"{path.name}: no figure (image/png) among the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_ids())
def test_notebook_is_stored_clean_and_uses_public_names(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    stored = [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None]
    assert not stored, f"{path.name}: code cells {stored} are stored with outputs; clear them"
    private = [m.group(0).strip() for cell in code for m in PRIVATE.finditer(cell.source)]
    assert not private, f"{path.name}: private names used: {private}"
