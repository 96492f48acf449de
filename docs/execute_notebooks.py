"""Execute the four notebooks in place, top to bottom, from clean kernels: their committed outputs.

    python docs/execute_notebooks.py        # default settings (ISONB_QUICK unset), saves outputs
    python docs/execute_notebooks.py 02_train 03_inference 04_evaluate   # from 02 on

Runs in the repository root, so the notebooks pass their results through ./isonb-work
(not committed). The tests run the same notebooks in quick mode without saving them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["01_prepare_data", "02_train", "03_inference", "04_evaluate"]


WIDGET = "application/vnd.jupyter.widget-view+json"


def strip_widgets(nb: nbformat.NotebookNode) -> None:
    """Drop the widgets' saved state and views: they are live controls, which a saved notebook
    cannot run, and their rendered frames would double its size. The static pictures stay."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]


def main() -> None:
    if os.environ.get("ISONB_QUICK", "") not in ("", "0"):
        raise SystemExit("ISONB_QUICK is set: the committed outputs are those of the default "
                         "settings. Fix: unset ISONB_QUICK")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    names = sys.argv[1:] or NOTEBOOKS
    if unknown := set(names) - set(NOTEBOOKS):
        raise SystemExit(f"{', '.join(sorted(unknown))}: not a notebook. Fix: choose from "
                         f"{', '.join(NOTEBOOKS)}")
    for name in names:
        path = ROOT / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        t = time.perf_counter()
        # per-cell timeout: above the longest cell (02 trains CARE-iso and Self-Net for the
        # LDM's ~5 min each, and on a busy CPU their set-up takes longer). nbclient sometimes
        # waits out the whole timeout on a cell with widgets (jupyter/nbclient#312), so the
        # viewer cells get 60 s
        NotebookClient(nb, timeout_func=lambda cell: 60 if "view(" in cell.source else 1800,
                       kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
                       ).execute()
        strip_widgets(nb)
        nbformat.write(nb, path)
        print(f"{name}: {time.perf_counter() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
