"""The four notebooks run top to bottom, headless, from a clean kernel, in quick mode."""

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["01_prepare_data", "02_train", "03_inference", "04_evaluate"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("notebooks")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_quick_mode(name, workdir, monkeypatch):
    monkeypatch.setenv("ISONB_QUICK", "1")
    monkeypatch.setenv("ISONB_CACHE", str(workdir / "cache"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    # quick-mode cells take well under a minute; nbclient sometimes waits out the whole
    # timeout on a cell with widgets (jupyter/nbclient#312), so the viewer cells get 60 s
    NotebookClient(nb, timeout_func=lambda cell: 60 if "view(" in cell.source else 180,
                   kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
                   ).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert os.path.exists(workdir / "isonb-work" / "manifest.json")
    if name == "02_train":  # the LDM and both reference methods, trained on the same stacks
        models = json.loads((workdir / "isonb-work" / "models.json").read_text())
        assert sorted(models) == ["care", "ldm", "selfnet"]
    if name == "04_evaluate":
        table = (workdir / "isonb-work" / "metrics.csv").read_text()
        for method in ("input (cubic)", "Richardson-Lucy", "CARE-iso", "Self-Net", "isonb LDM"):
            assert method in table
