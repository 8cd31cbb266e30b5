"""The worked notebooks in notebooks/: each runs top to bottom on a fresh kernel (the interpreter
running the tests, with the repository on its path) in a temporary working directory, shows at
least one figure and no error, uses only public names of the twin, and is stored executed, with
its figures, for readers who only browse it (re-render after a change: ``python -m
tests.test_notebooks``, which runs each in a scratch folder and stores its outputs)."""

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
def test_notebook_is_stored_rendered_and_uses_public_names(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: stored execution counts {counts}: not run top to bottom; re-render it "
        "(python -m tests.test_notebooks)")
    outputs = [o for cell in code for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name}: stored errors"
    assert [o for o in outputs if "image/png" in o.get("data", {})], (
        f"{path.name}: stored without its figures; re-render it (python -m tests.test_notebooks)")
    private = [m.group(0).strip() for cell in code for m in PRIVATE.finditer(cell.source)]
    assert not private, f"{path.name}: private names used: {private}"


def render(paths=NOTEBOOKS) -> None:
    """Run each notebook top to bottom in a scratch folder and store it with its outputs."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        kernels = folder / "kernels" / KERNEL
        kernels.mkdir(parents=True)
        (kernels / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "desert-twin", "language": "python",
            "env": {"PYTHONPATH": str(ROOT),
                    "MPLBACKEND": "module://matplotlib_inline.backend_inline"}}))
        specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")],
                                  ensure_native_kernel=False)
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, km=KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs),
                           timeout=CELL_TIMEOUT_S,
                           resources={"metadata": {"path": scratch}}).execute()
            nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                         "name": "python3"}
            nbformat.write(nb, path)
            print(f"rendered {path.name}")


if __name__ == "__main__":
    render()
