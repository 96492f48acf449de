"""Restoration beyond one machine: a chunked map with halos on dask.

The stack is cut into lateral blocks (every block holds all of z). Each block is restored
from itself plus a halo of its neighbours wide enough for the networks (`restore.HALO`,
`restore.DIFFUSION_HALO`), on the same grid and with the same position-tied noise as the
whole slices, so blocks give the in-memory result; fusing the two views and refocusing,
lateral filters, are a second map with its own halo. Any dask scheduler runs it: threads on
a laptop, `dask.distributed` on a cluster. Needs the `cluster` extra (dask[array],
distributed, zarr).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from . import degrade
from .errors import IsonbError
from .io import VoxelSize
from .restore import (
    DIFFUSION_HALO,
    HALO,
    RestoreConfig,
    configured,
    load_network,
    restore_view,
    will_sample,
)
from .volume import denormalize, fuse_views, isotropic_depth, percentile_range, resolve_fusion

FILTER_HALO = 64  # px of neighbours the fusion and refocusing filters see around each block
SUMMARY_VOXELS = 2**26  # statistics (percentiles, band estimate) from at most this many voxels


@lru_cache(maxsize=4)
def _network(weights: str, method: str, dev: str):
    """Each worker process loads a model once."""
    return load_network(weights, method, dev)


def summary_region(shape: tuple[int, int, int]) -> tuple[slice, slice, slice]:
    """The whole stack when it has at most `SUMMARY_VOXELS` voxels, else a centred lateral
    crop that does: where the percentiles and the band estimate are measured."""
    nz, ny, nx = shape
    side = int(np.sqrt(SUMMARY_VOXELS / nz))
    cy, cx = min(ny, side), min(nx, side)
    return (slice(None), slice((ny - cy) // 2, (ny - cy) // 2 + cy),
            slice((nx - cx) // 2, (nx - cx) // 2 + cx))


def restore_dask(observed, voxel_size: VoxelSize, weights: str | Path, method: str = "ldm",
                 config: RestoreConfig | None = None, *, chunk: int = 512, device: str = "cpu",
                 **settings):
    """A dask array (isotropic z, y, x), float32, of `observed` (a (z, y, x) dask or numpy
    array, e.g. `dask.array.from_zarr`) restored by the network in `weights` as `config`
    says (default: `diffusion="auto"`; `settings` replace its fields; no uncertainty map).

    Blocks are `chunk` px wide laterally (a multiple of 8, at least `DIFFUSION_HALO`).
    Nothing is computed until the result is (`.compute()`, `.to_zarr()`), except the
    statistics every block shares, measured on `summary_region`: the intensity percentiles,
    the band estimate refocusing uses and, with `diffusion="auto"`, the probe that decides
    whether the diffusion is sampled (`restore.will_sample`).
    """
    import dask.array as da

    if chunk % 8 or chunk < DIFFUSION_HALO:
        raise IsonbError(f"chunk {chunk} must be a multiple of 8 and at least "
                         f"{DIFFUSION_HALO} px (a block's halo may not reach past its "
                         "neighbour); Fix: pass e.g. chunk=512")
    observed = da.asarray(observed)
    nz, ny, nx = observed.shape
    dz, _, dx = voxel_size
    n_out = isotropic_depth(nz, dz, dx)
    summary = np.asarray(observed[summary_region(observed.shape)], dtype=np.float32)
    limits = percentile_range(summary)
    cfg = configured(config or RestoreConfig(diffusion="auto"), settings)
    model = _network(str(weights), method, device)
    sampling = will_sample(model, summary, voxel_size, limits, cfg, cfg.output == "sample")
    halo = DIFFUSION_HALO if sampling else HALO
    kw = dict(weights=str(weights), method=method, device=device, voxel_size=voxel_size,
              limits=limits, halo=halo, full=(ny, nx),
              config=cfg.sampling(sampling))
    blocks = observed.astype(np.float32).rechunk((nz, block_sizes(ny, chunk, halo),
                                                  block_sizes(nx, chunk, halo)))
    views = da.map_overlap(_restore_block, blocks, depth={0: 0, 1: halo, 2: halo},
                           boundary="none", trim=False, dtype=np.float32,
                           chunks=((2 * n_out,), blocks.chunks[1], blocks.chunks[2]), **kw)
    deg = degrade.estimate_degradation(summary, voxel_size) \
        if cfg.refocus and method == "ldm" else None
    deg = deg if deg is not None and len(deg.band_sigmas) >= 2 else None
    fusion = resolve_fusion(cfg.fusion, method == "ldm", cfg.output)
    depth = FILTER_HALO if deg is not None or fusion != "average" else 0
    fused = da.map_overlap(_fuse_block, views, depth={0: 0, 1: depth, 2: depth},
                           boundary="none", trim=False, dtype=np.float32,
                           chunks=((n_out,), blocks.chunks[1], blocks.chunks[2]),
                           fusion=fusion, deg=deg, halo=depth)
    return fused.map_blocks(denormalize, *limits, dtype=np.float32)


def block_sizes(size: int, chunk: int, halo: int) -> tuple[int, ...]:
    """Block lengths along one axis: `chunk`s, the remainder joined to the last one when it
    is shorter than the halo (a halo may not reach past a neighbouring block)."""
    sizes = [chunk] * (size // chunk) + ([size % chunk] if size % chunk else [])
    if len(sizes) > 1 and sizes[-1] < halo:
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return tuple(sizes)


def _core(block_info: dict, halo: int) -> tuple[tuple[slice, slice], tuple[int, int]]:
    """(core of this block inside its haloed input, the input's global (y, x) origin)."""
    (_, _), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    top, left = min(halo, y0), min(halo, x0)
    return (slice(top, top + y1 - y0), slice(left, left + x1 - x0)), (y0 - top, x0 - left)


def _restore_block(block: np.ndarray, block_info: dict, weights: str, method: str, device: str,
                   voxel_size: VoxelSize, limits: tuple[float, float], halo: int,
                   full: tuple[int, int], config: RestoreConfig) -> np.ndarray:
    """The normalised xz and yz restorations of one haloed block's core, one after the other
    along z: (2 * isotropic z, core y, core x)."""
    (cy, cx), (oy, ox) = _core(block_info, halo)
    model = _network(weights, method, device)
    args = dict(limits=limits, voxel_size=voxel_size, model=model, progress=False,
                config=config)
    xz, _ = restore_view(block, "xz", cy, origin=ox, width=full[1], **args)  # (y, z, x)
    yz, _ = restore_view(block, "yz", cx, origin=oy, width=full[0], **args)  # (x, z, y)
    return np.concatenate([xz[:, :, cx].transpose(1, 0, 2), yz[:, :, cy].transpose(1, 2, 0)])


def _fuse_block(block: np.ndarray, block_info: dict, fusion: str,
                deg: degrade.Degradation | None, halo: int) -> np.ndarray:
    """The two views of a haloed block fused (`volume.fuse_views`) and refocused when `deg`
    is given (`degrade.refocus`), cropped to the block's core."""
    (cy, cx), _ = _core(block_info, halo)
    n = len(block) // 2
    fused = fuse_views(block[:n], block[n:], fusion)
    return (degrade.refocus(fused, deg) if deg is not None else fused)[:, cy, cx]
