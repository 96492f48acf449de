"""isonb: isotropic restoration of anisotropic 3D fluorescence stacks.

The pipeline, module by module: `io` (stacks and voxel sizes) -> `volume` (isotropic grid,
planes, patches, tiling) -> `psf` (`optics`: its width from a file's metadata) and
`simulate` (ground-truth cases) -> `degrade` (the
degradation, estimated from the stack; optionally `learned_degradation`) -> `patches` (the
training data) -> `models`, `diffusion` and `ldm` (the latent diffusion model) -> `loop` and
`train` (training; `checkpoint` saves, `devices` places) -> `baselines` and `restore`
(methods; `uncertainty` makes the LDM's map, `streaming` writes a restoration into its file
with bounded memory, `provenance` the record beside it, `chunked` runs it on dask) -> `metrics`
(BENCHMARK.md scores) -> `notebook` (what the notebooks share) -> `viewer` -> `cli`
(`python -m isonb`, its `choices`).
"""

import os

# PyTorch backs large CPU tensors with transparent huge pages when this is set before its
# first allocation: the networks' activations (tens of MB per slice) are then not faulted in
# 4 KiB page by page on every pass, which more than halves restoration time on a CPU
# (benchmarks/results/large.md). Results are unchanged; a torch imported earlier keeps its
# own setting, and kernels without transparent huge pages ignore it.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from .errors import IsonbError

__version__ = "0.1.0"


def __getattr__(name: str):
    """`isonb.read_stack`, `isonb.write_stack`, `isonb.Stack`, imported on first use: the
    command line's `--help` needs none of them."""
    if name in ("Stack", "read_stack", "write_stack"):
        from . import io

        return getattr(io, name)
    raise AttributeError(f"module 'isonb' has no attribute {name!r}")


def quick_mode() -> bool:
    """True when ISONB_QUICK is set (to anything but 0): small sizes and few steps everywhere."""
    return os.environ.get("ISONB_QUICK", "") not in ("", "0")


__all__ = ["IsonbError", "Stack", "read_stack", "write_stack", "quick_mode", "__version__"]
