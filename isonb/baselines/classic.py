"""Classical baselines: z-interpolation and Richardson-Lucy deconvolution on the isotropic grid."""

from __future__ import annotations

import numpy as np
from skimage.restoration import richardson_lucy as _skimage_rl

from ..io import VoxelSize
from ..volume import isotropic_depth, reslice_isotropic

# Peak memory of `richardson_lucy` per voxel of its padded volume: 14-16x the float32 output,
# measured on 157-317 x 512 x 512 outputs (a Gaussian PSF of 47 x 17 x 17, 20 iterations;
# 31x on a 77 x 128 x 128 one, where fixed costs weigh more).
RL_BYTES_PER_VOXEL = 64


def interpolate(observed: np.ndarray, voxel_size: VoxelSize, order: int = 3) -> np.ndarray:
    """The observed stack interpolated along z onto the isotropic grid (1 linear, 3 cubic)."""
    dz, _, dx = voxel_size
    return reslice_isotropic(observed, dz, dx, order=order)


def richardson_lucy(observed: np.ndarray, voxel_size: VoxelSize, psf: np.ndarray,
                    iterations: int = 20) -> np.ndarray:
    """Cubic interpolation onto the isotropic grid, then 3D Richardson-Lucy (scikit-image).

    `psf` is sampled on the isotropic grid (dx)^3. The volume is reflect-padded by half the
    PSF so the borders do not ring, and scaled to [0, 1] (RL needs non-negative data).
    """
    iso = interpolate(observed, voxel_size, order=3)
    lo, hi = float(iso.min()), float(iso.max())
    x = (iso - lo) / max(hi - lo, 1e-12)
    pads = [(min(k // 2, s - 1),) * 2 for k, s in zip(psf.shape, x.shape)]
    x = np.pad(x, pads, mode="reflect")
    out = _skimage_rl(x, psf.astype(np.float32), num_iter=iterations, clip=False)
    crop = tuple(slice(p, p + s) for (p, _), s in zip(pads, iso.shape))
    return (out[crop] * (hi - lo) + lo).astype(np.float32)


def rl_memory(shape: tuple[int, int, int], voxel_size: VoxelSize, psf_shape: tuple[int, ...]
              ) -> int:
    """About how many bytes `richardson_lucy` holds at its peak for an observed stack of
    `shape`: it deconvolves the whole isotropic volume at once."""
    nz, ny, nx = shape
    out = (isotropic_depth(nz, voxel_size[0], voxel_size[2]), ny, nx)
    padded = np.prod([s + 2 * (k // 2) for s, k in zip(out, psf_shape)], dtype=np.int64)
    return int(RL_BYTES_PER_VOXEL * padded)
