"""What made a restoration: a JSON sidecar beside each restored stack (method, settings,
weights, inputs, software), so that it can be made again, to the bit, and told from others."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .checkpoint import from_dict
from .errors import fail
from .io import Stack, refuse_existing
from .restore import RestoreConfig


def sidecar_path(output: str | Path) -> Path:
    """Where a restoration's record goes: its own name plus .json (restored.tif.json,
    restored.ome.zarr.json), so that outputs of one name in two formats keep apart."""
    output = Path(output)
    return output.with_name(output.name + ".json")


def record(stacks: list[Stack], output: str | Path, shape: tuple[int, ...], method: str,
           model: torch.nn.Module | None, settings: dict, spread: str | Path | None = None,
           decided: list[dict] | None = None) -> dict:
    """The sidecar's contents: what was restored into what, by which method, weights and
    settings (a network's: its `RestoreConfig` as a dict) and, per channel, what the network
    decided on the stack (`restore.restore_network_slabs`), with which software."""
    dx = float(stacks[0].voxel_size[2])
    return {
        "isonb": __version__,
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": method,
        "inputs": [{"path": str(s.path), "shape": list(s.data.shape),
                    "voxel_size_um": [float(v) for v in s.voxel_size]} for s in stacks],
        "output": {"path": str(output), "shape": list(shape), "voxel_size_um": [dx] * 3,
                   "uncertainty": None if spread is None else str(spread)},
        "weights": getattr(model, "weights_record", None),
        "settings": settings,
        "decided": decided,
        "device": str(next(model.parameters()).device) if model is not None else "cpu",
        "software": {"python": platform.python_version(), "numpy": np.__version__,
                     "torch": torch.__version__},
    }


def write_sidecar(output: str | Path, contents: dict, overwrite: bool = False) -> Path:
    """Write the record beside `output`; an existing one is replaced only with `overwrite`."""
    path = sidecar_path(output)
    refuse_existing(path, overwrite=overwrite)
    path.write_text(json.dumps(contents, indent=2))
    return path


def read_record(sidecar: str | Path) -> dict:
    """A restoration's record, with one line naming the file when it is not one."""
    try:
        contents = json.loads(Path(sidecar).read_text())
        whole = isinstance(contents, dict) and {"settings", "method"} <= contents.keys()
        problem = None if whole else "no settings or method"
    except (OSError, ValueError) as err:
        problem = type(err).__name__
    if problem:
        raise fail(sidecar, f"not a restoration's record ({problem})",
                   "give the .json written beside a restoration, e.g. restored.tif.json")
    return contents


def read_config(sidecar: str | Path) -> RestoreConfig:
    """The `RestoreConfig` a network's restoration was made with, from its record: restoring
    the same input with the same weights and this config gives the same volume."""
    return recorded_config(read_record(sidecar))


def recorded_config(contents: dict) -> RestoreConfig:
    """The `RestoreConfig` of a record already read (`read_record`)."""
    return from_dict(RestoreConfig, contents["settings"])
