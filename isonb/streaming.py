"""Restoring stacks into files with bounded memory: the output planes a slab at a time into
scratch files, then written plane by plane (TIFF) or by chunk (OME-Zarr).

`isonb restore` and notebook 03 both restore this way, so neither holds a whole isotropic
volume: the networks by slabs (`restore.restore_network_slabs`), interpolation by blocks of
rows into a memory map; Richardson-Lucy still computes its volume at once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from .errors import IsonbError
from .io import Stack, write_stack_planes
from .ldm import LDM
from .restore import restore, restore_network_slabs
from .volume import isotropic_depth, reslice_isotropic

INTERPOLATIONS = {"linear": 1, "cubic": 3}  # methods streamed into their file: spline order


def restore_to_file(stacks: list[Stack], path: str | Path, model: torch.nn.Module | None,
                    method: str = "ldm", spread: str | Path | None = None,
                    overwrite: bool = False, scratch: str | Path | None = None,
                    psf: np.ndarray | None = None, rl_iterations: int = 20,
                    **network_kw) -> tuple[int, ...]:
    """Restore `stacks` (the channels of one stack, sharing a voxel size) with `model` (a
    trained network) or, without one, by `method` ("cubic", "linear", "rl" with `psf`) into
    `path`, one channel after another; with `spread` the LDM's uncertainty map there too.
    `network_kw` go to `restore_network_slabs`. Returns the output's shape: (z, y, x), or
    (z, c, y, x) for several channels."""
    if spread is not None and not isinstance(model, LDM):
        raise IsonbError(f"{path}: only the LDM samples an uncertainty map. Fix: drop the "
                         "uncertainty output or restore with the LDM")
    dz, _, dx = stacks[0].voxel_size
    nz, ny, nx = stacks[0].data.shape
    n_out = isotropic_depth(nz, dz, dx)
    shape = (n_out, len(stacks), ny, nx) if len(stacks) > 1 else (n_out, ny, nx)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        files = []
        for c, stack in enumerate(stacks):
            if len(stacks) > 1:
                print(f"channel {c} of {len(stacks)}")
            files.append((Path(tmp) / f"{c}.raw", Path(tmp) / f"{c}_spread.raw"))
            if model is None and method in INTERPOLATIONS:  # into the file, a block at a time
                interpolated = np.memmap(files[-1][0], np.float32, "w+", shape=(n_out, ny, nx))
                reslice_isotropic(stack.data, dz, dx, INTERPOLATIONS[method], out=interpolated)
                interpolated.flush()
                del interpolated
                continue
            slabs = _network_slabs(stack, model, spread is not None, scratch, network_kw) \
                if model is not None else [(restore(stack.data, stack.voxel_size, method,
                                                    rl_iterations=rl_iterations, psf=psf),
                                            None)]
            with open(files[-1][0], "wb") as vol_file, open(files[-1][1], "wb") as spread_file:
                for planes, spread_planes in slabs:
                    vol_file.write(np.ascontiguousarray(planes, np.float32).tobytes())
                    if spread_planes is not None:
                        spread_file.write(np.ascontiguousarray(spread_planes).tobytes())
        write_stack_planes(path, _planes([v for v, _ in files], n_out, (ny, nx)), shape,
                           (dx,) * 3, overwrite=overwrite)
        if spread is not None:
            write_stack_planes(spread, _planes([u for _, u in files], n_out, (ny, nx)), shape,
                               (dx,) * 3, overwrite=overwrite)
    return shape


def _network_slabs(stack: Stack, model: torch.nn.Module, uncertainty: bool,
                   scratch: str | Path | None, kw: dict
                   ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(planes, spread planes or None) of the network's restoration, in order of z."""
    for _, planes, spread in restore_network_slabs(stack.data, stack.voxel_size, model,
                                                   uncertainty=uncertainty, scratch=scratch,
                                                   **kw):
        yield planes, spread


def _planes(files: list[Path], depth: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Planes z by z, and at each z channel by channel, read from per-channel raw files."""
    handles = [open(f, "rb") for f in files]
    try:
        for _ in range(depth):
            for h in handles:
                yield np.frombuffer(h.read(size[0] * size[1] * 4), np.float32).reshape(size)
    finally:
        for h in handles:
            h.close()
