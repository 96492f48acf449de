"""Restoring stacks into files with bounded memory: the output planes a slab at a time into
scratch files, then written plane by plane (TIFF) or by chunk (OME-Zarr).

`isonb restore` and notebook 03 both restore this way, so neither holds a whole isotropic
volume: the networks by slabs (`restore.restore_network_slabs`), interpolation by blocks of
rows into a memory map; Richardson-Lucy still computes its volume at once, and is refused
up front where the memory cannot hold it. Each output gets its record (`provenance`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from .baselines.classic import rl_memory
from .choices import METHODS, check_choice
from .devices import available_memory
from .errors import IsonbError, fail
from .io import IMAGEJ_AXES, Stack, refuse_existing, write_stack_planes
from .ldm import LDM
from .provenance import record, sidecar_path, write_sidecar
from .restore import RestoreConfig, configured, restore, restore_network_slabs
from .volume import isotropic_depth, reslice_isotropic

INTERPOLATIONS = {"linear": 1, "cubic": 3}  # methods streamed into their file: spline order


def restore_to_file(stacks: list[Stack], path: str | Path, model: torch.nn.Module | None,
                    method: str = "ldm", config: RestoreConfig | None = None, *,
                    spread: str | Path | None = None, overwrite: bool = False,
                    scratch: str | Path | None = None, psf: np.ndarray | None = None,
                    rl_iterations: int = 20, **settings) -> tuple[int, ...]:
    """Restore `stacks` (the channels of one stack, sharing a voxel size) with `model` (a
    trained network, as `config` with `settings` replaced says: `restore.configured`) or,
    without one, by `method` ("cubic", "linear", "rl" with `psf`) into `path`, one channel
    after another; with `spread` the LDM's uncertainty map there too. Beside the output, a
    sidecar records how it was made (`provenance`). Existing files are refused before any
    work unless `overwrite`. Returns the output's shape: (z, y, x), or (z, c, y, x) for
    several channels."""
    return restore_series_to_file([stacks], path, model, method, config, spread=spread,
                                  overwrite=overwrite, scratch=scratch, psf=psf,
                                  rl_iterations=rl_iterations, time_axis=False, **settings)


def restore_series_to_file(series: Sequence[list[Stack]], path: str | Path,
                           model: torch.nn.Module | None, method: str = "ldm",
                           config: RestoreConfig | None = None, *,
                           spread: str | Path | None = None, overwrite: bool = False,
                           scratch: str | Path | None = None, psf: np.ndarray | None = None,
                           rl_iterations: int = 20, time_axis: bool = True,
                           **settings) -> tuple[int, ...]:
    """`restore_to_file` for every time point of a series (`io.TimeSeries`: each its
    channels' stacks, read when reached), one after another, into one file of axes TZYX or
    TZCYX (ImageJ's order); without `time_axis`, one time point as `restore_to_file` writes
    it. The scratch folder holds every restored time point until the file is written."""
    check_choice("method", method, METHODS)
    if spread is not None and not isinstance(model, LDM):
        raise IsonbError(f"{path}: only the LDM samples an uncertainty map. Fix: drop the "
                         "uncertainty output or restore with the LDM")
    cfg = replace(configured(config, settings), uncertainty=spread is not None)
    first = series[0]
    if isinstance(cfg.lateral_fwhm, tuple) and len(cfg.lateral_fwhm) != len(first):
        raise IsonbError(f"{path}: {len(cfg.lateral_fwhm)} lateral FWHMs for {len(first)} "
                         "channels. Fix: give one, or one per channel")
    if str(path).lower().endswith(".zarr") and (len(first) > 1 or time_axis):
        raise fail(path, "OME-Zarr output takes one channel and time point", "write a .tif "
                   "(all channels and time points) or choose one with --channel K (--time K)")
    if model is None and method == "rl" and psf is not None:
        _check_rl_memory(first[0], psf)
    refuse_existing(path, spread, sidecar_path(path), overwrite=overwrite)
    dz, _, dx = first[0].voxel_size
    nz, ny, nx = first[0].data.shape
    n_out = isotropic_depth(nz, dz, dx)
    n_t = len(series) if time_axis else 1
    shape = (n_out, len(first), ny, nx) if len(first) > 1 else (n_out, ny, nx)
    axes = None  # ZYX or ZCYX by the number of axes
    if time_axis:
        shape, axes = (n_t, *shape), "T" + IMAGEJ_AXES[len(shape)]
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        files, decided = [], []  # per time point, per channel
        for t in range(n_t):
            stacks = first if t == 0 else series[t]
            if time_axis:
                print(f"time point {t} of {n_t}")
            files.append([(Path(tmp) / f"{t}_{c}.raw", Path(tmp) / f"{t}_{c}_spread.raw")
                          for c in range(len(stacks))])
            for c, (stack, (volume_file, spread_file)) in enumerate(zip(stacks, files[-1])):
                if len(stacks) > 1:
                    print(f"channel {c} of {len(stacks)}")
                decided.append(_restore_channel(stack, volume_file, spread_file, model, method,
                                                cfg.channel(c), scratch, psf, rl_iterations))
        write_stack_planes(path, _planes([[v for v, _ in f] for f in files], n_out, (ny, nx)),
                           shape, (dx,) * 3, overwrite=overwrite, axes=axes)
        if spread is not None:
            write_stack_planes(spread, _planes([[u for _, u in f] for f in files], n_out,
                                               (ny, nx)), shape, (dx,) * 3,
                               overwrite=overwrite, axes=axes)
    settings = _settings(model, cfg, method, rl_iterations, psf)
    contents = record(first, path, shape, method, model, settings, spread,
                      decided if model is not None else None)
    if time_axis:
        contents["time_points"] = n_t
    write_sidecar(path, contents, overwrite)
    return shape


def _check_rl_memory(stack: Stack, psf: np.ndarray) -> None:
    """Refuse, before any work, a Richardson-Lucy the machine's memory cannot hold: unlike the
    other methods it deconvolves the whole isotropic volume at once."""
    need, free = rl_memory(stack.data.shape, stack.voxel_size, psf.shape), available_memory()
    if free is not None and need > free:
        raise fail(stack.path, f"Richardson-Lucy holds the whole isotropic volume, about "
                   f"{need / 2**30:.1f} GiB here, with {free / 2**30:.1f} GiB available",
                   "restore a crop of the stack, or use --method cubic or ldm, which stream")


def _settings(model: torch.nn.Module | None, config: RestoreConfig, method: str,
              rl_iterations: int, psf: np.ndarray | None) -> dict:
    """What the sidecar records of the method's settings: a network's `RestoreConfig`,
    Richardson-Lucy's iterations and PSF size, nothing for interpolation."""
    if model is not None:
        return asdict(config)
    if method == "rl" and psf is not None:
        return {"iterations": rl_iterations, "psf_shape": list(psf.shape)}
    return {}


def _restore_channel(stack: Stack, volume_file: Path, spread_file: Path,
                     model: torch.nn.Module | None, method: str, config: RestoreConfig,
                     scratch: str | Path | None, psf: np.ndarray | None, rl_iterations: int
                     ) -> dict:
    """One channel restored into raw float32 files, its volume and (when the network draws
    one) its spread, plane after plane; returns what the network decided on it ({} without
    one)."""
    dz, _, dx = stack.voxel_size
    if model is None and method in INTERPOLATIONS:  # into the file, a block at a time
        shape = (isotropic_depth(stack.data.shape[0], dz, dx), *stack.data.shape[1:])
        interpolated = np.memmap(volume_file, np.float32, "w+", shape=shape)
        reslice_isotropic(stack.data, dz, dx, INTERPOLATIONS[method], out=interpolated)
        interpolated.flush()
        del interpolated
        return {}
    decided: dict = {}
    slabs = _network_slabs(stack, model, config, scratch, decided) if model is not None else \
        [(restore(stack.data, stack.voxel_size, method, rl_iterations=rl_iterations, psf=psf),
          None)]
    with open(volume_file, "wb") as volume, open(spread_file, "wb") as spread:
        for planes, spread_planes in slabs:
            volume.write(np.ascontiguousarray(planes, np.float32).tobytes())
            if spread_planes is not None:
                spread.write(np.ascontiguousarray(spread_planes).tobytes())
    return decided


def _network_slabs(stack: Stack, model: torch.nn.Module, config: RestoreConfig,
                   scratch: str | Path | None, decided: dict
                   ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(planes, spread planes or None) of the network's restoration, in order of z; `decided`
    gets what the stack decided (`restore_network_slabs`)."""
    for _, planes, spread in restore_network_slabs(stack.data, stack.voxel_size, model, config,
                                                   scratch=scratch, decided=decided):
        yield planes, spread


def _planes(files: list[list[Path]], depth: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Planes time point by time point, z by z, and at each z channel by channel, read from
    per-channel raw files (`files`: per time point, per channel)."""
    for channels in files:
        handles = [open(f, "rb") for f in channels]
        try:
            for _ in range(depth):
                for h in handles:
                    yield np.frombuffer(h.read(size[0] * size[1] * 4), np.float32).reshape(size)
        finally:
            for h in handles:
                h.close()
