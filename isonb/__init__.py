"""isonb: isotropic restoration of anisotropic 3D fluorescence stacks.

The pipeline, module by module: `io` (stacks and voxel sizes) -> `volume` (isotropic grid,
planes, patches, tiling) -> `psf` and `simulate` (ground-truth cases) -> `degrade` (the
degradation, estimated from the stack; optionally `learned_degradation`) -> `models`,
`diffusion` and `ldm` (the latent diffusion model) -> `train` -> `baselines` and `restore`
(methods; `chunked` runs it on dask) -> `metrics` (BENCHMARK.md scores) -> `notebook` (what
the notebooks share) -> `viewer` -> `cli` (`python -m isonb`).
"""

import os

from .errors import IsonbError
from .io import Stack, read_stack, write_stack

__version__ = "0.1.0"


def quick_mode() -> bool:
    """True when ISONB_QUICK is set (to anything but 0): small sizes and few steps everywhere."""
    return os.environ.get("ISONB_QUICK", "") not in ("", "0")


__all__ = ["IsonbError", "Stack", "read_stack", "write_stack", "quick_mode", "__version__"]
