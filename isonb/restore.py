"""Restoring an anisotropic stack onto the isotropic grid, by any of isonb's methods."""

from __future__ import annotations

import numpy as np

from .baselines import interpolate, richardson_lucy
from .errors import IsonbError
from .io import VoxelSize

CLASSIC_METHODS = ("linear", "cubic", "rl")


def restore(observed: np.ndarray, voxel_size: VoxelSize, method: str = "cubic",
            psf: np.ndarray | None = None, rl_iterations: int = 20) -> np.ndarray:
    """The observed (z, y, x) stack restored onto the isotropic grid of spacing dx.

    `psf` (on the isotropic grid) is needed by Richardson-Lucy ("rl").
    """
    if method == "linear":
        return interpolate(observed, voxel_size, order=1)
    if method == "cubic":
        return interpolate(observed, voxel_size, order=3)
    if method == "rl":
        if psf is None:
            raise IsonbError("Richardson-Lucy needs a PSF; Fix: pass --psf PSF.tif "
                             "(sampled at dx in z, y, x) or --psf-fwhm LATERAL AXIAL (µm)")
        return richardson_lucy(observed, voxel_size, psf, rl_iterations)
    raise IsonbError(f"unknown method {method!r}; Fix: choose one of {', '.join(CLASSIC_METHODS)}")
