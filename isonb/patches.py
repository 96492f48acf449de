"""Training data, the stage every method shares: patch pools drawn from the stacks, each
stack's estimated degradation, and the (synthetic axial, xy) pairs made from them.

`prepare` normalises each stack, estimates its degradation (`degrade`), and draws pools of
xy patches (the target domain) and of patches of the resliced xz/yz planes (the source
domain); a `PairSampler` turns xy patches into training pairs, recorrupted when asked.
`save` and `load` keep a prepared set on disk (`python -m isonb prepare`, notebook 01),
so that training reads exactly what was prepared and shown: training from stacks directly
and from their prepared set give the same weights. Each set also keeps a central window of
every normalised stack, for training's retargeting stage (`retargeted`): the regressor
restores the window, and the xy planes of that restoration, whose out-of-plane blur it has
removed, become sharper targets than the observed planes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .degrade import Degradation, estimate_degradation, synthesize_axial
from .errors import IsonbError, fail
from .io import Stack
from .volume import (
    augment,
    isotropic_depth,
    normalize,
    percentile_range,
    reslice_isotropic,
    sample_patches,
)

WINDOW_VOXELS = 1 << 23  # isotropic voxels of the window kept for retargeting (~ 128 x 256^2)


class PairSampler:
    """Self-supervised training pairs (synthetic axial patch, xy patch) from real xy patches.

    Each draw takes random xy patches, applies one of the 8 symmetries of the square (the
    lateral plane is isotropic), and degrades a copy with its own stack's `Degradation`,
    then with `transform` if one is set (the learned degradation, on (n, p, p) batches).
    """

    def __init__(self, patches: np.ndarray, degradations: list[Degradation],
                 source: np.ndarray, rng: np.random.Generator,
                 transform: Callable[[np.ndarray], np.ndarray] | None = None):
        self.patches = patches  # (n, p, p) xy patches, normalised
        self.degradations = degradations  # one per stack
        self.source = source  # (n,) stack index of each patch
        self.rng = rng
        self.transform = transform

    def split(self, every: int) -> tuple[PairSampler, PairSampler]:
        """(every `every`-th patch, the others): held-out and training samplers."""
        held = np.arange(len(self.patches)) % every == 0
        return tuple(PairSampler(self.patches[m], self.degradations, self.source[m], self.rng,
                                 self.transform) for m in (held, ~held))

    def draw(self, batch: int, recorrupt: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets), each (batch, 1, p, p) float32.

        With `recorrupt` = a > 0, the pair is recorrupted (R2R, Pang et al. 2021): with
        z ~ N(0, noise_std^2), the input is degraded from y + a z and the target is
        y - z / a. Their noises are uncorrelated, so a network trained with a mean loss learns
        the noise-free image rather than the noisy xy plane.
        """
        idx = self.rng.integers(0, len(self.patches), batch)
        clean = np.stack([augment(self.patches[i], self.rng, lateral=True) for i in idx])
        sources, targets = clean, clean
        if recorrupt > 0:
            std = np.array([self.degradations[self.source[i]].noise_std for i in idx])
            z = self.rng.normal(0.0, 1.0, clean.shape) * std[:, None, None]
            sources, targets = clean + recorrupt * z, clean - z / recorrupt
        inputs = np.stack([synthesize_axial(s, self.degradations[self.source[i]], self.rng)
                           for s, i in zip(sources, idx)])
        if self.transform is not None:
            inputs = self.transform(inputs)
        return inputs[:, None].astype(np.float32), targets[:, None].astype(np.float32)


@dataclass
class TrainingData:
    """Everything training draws from, prepared once from the stacks (`prepare`)."""

    pairs: PairSampler  # (synthetic axial, xy) pairs
    xy: np.ndarray  # (n, p, p) xy patches, normalised
    axial: np.ndarray  # (m, p, p) patches of the resliced xz/yz planes
    degradations: list[Degradation]  # one per stack
    rng: np.random.Generator  # the draws' generator, where drawing the pools left it
    meta: dict  # patch, n_patches, seed and the stacks (path, shape, voxel size)
    windows: list[np.ndarray] = field(default_factory=list)  # a central window per stack


def prepare(stacks: list[Stack], patch: int = 64, n_patches: int = 3000, seed: int = 0
            ) -> TrainingData:
    """Normalise each stack, estimate its degradation, and draw xy and axial patch pools
    (`n_patches` of each in all, `patch` px square) with a generator seeded by `seed`."""
    rng = np.random.default_rng(seed)
    xy, axial, source, degradations, windows = [], [], [], [], []
    per_stack = int(np.ceil(n_patches / len(stacks)))
    for i, stack in enumerate(stacks):
        if stack.voxel_size is None:
            raise IsonbError(f"{stack.path}: no voxel size. Fix: pass --voxel-size DZ DY DX")
        if min(stack.data.shape[1:]) < patch:
            raise IsonbError(f"{stack.path}: xy planes {stack.data.shape[1:]} are smaller than "
                             f"the {patch}x{patch} training patch. Fix: pass a smaller --patch")
        dz, _, dx = stack.voxel_size
        x = normalize(stack.data, *percentile_range(stack.data))
        degradations.append(estimate_degradation(x, stack.voxel_size))
        xy.append(sample_patches(x, (patch, patch), per_stack, rng))
        source += [i] * per_stack
        if isotropic_depth(len(x), dz, dx) >= patch:
            axial.append(axial_patches(x, dz, dx, patch, per_stack, rng))
        windows.append(x[central_window(x.shape, dz / dx, patch)])
    xy_all = np.concatenate(xy)
    axial_all = np.concatenate(axial) if axial else np.empty((0, patch, patch), np.float32)
    meta = {"patch": patch, "n_patches": n_patches, "seed": seed,
            "stacks": [{"file": str(s.path), "shape": list(s.data.shape),
                        "voxel_size_um": list(s.voxel_size)} for s in stacks]}
    return TrainingData(PairSampler(xy_all, degradations, np.array(source), rng), xy_all,
                        axial_all, degradations, rng, meta, windows)


def central_window(shape: tuple[int, ...], z_ratio: float, patch: int,
                   voxels: int = WINDOW_VOXELS) -> tuple[slice, slice, slice]:
    """The central lateral window of a (z, y, x) stack whose isotropic volume (z resampled by
    `z_ratio` = dz/dx) holds at most `voxels` voxels, and at least a patch in y and x."""
    nz, ny, nx = shape
    depth = isotropic_depth(nz, z_ratio, 1.0)
    f = min(1.0, float(np.sqrt(voxels / (depth * ny * nx))))
    sides = [min(n, max(patch, int(n * f))) for n in (ny, nx)]
    return (slice(None), *(slice((n - w) // 2, (n - w) // 2 + w) for n, w in zip((ny, nx), sides)))


def retargeted(pairs: PairSampler, restored: list[np.ndarray], z_ratios: list[float],
               rng: np.random.Generator) -> PairSampler:
    """A sampler like `pairs` whose xy patches are drawn instead, with `rng`, from `restored`
    (each stack's window restored on the isotropic grid) at the planes nearest the observed
    ones (z_ratio = dz/dx), as many per stack as `pairs` holds."""
    pools, source = [], []
    for i, (vol, ratio) in enumerate(zip(restored, z_ratios)):
        n = int(np.sum(pairs.source == i))
        planes = np.unique(np.round(np.arange(0, len(vol) - 0.5, ratio)).astype(int))
        if n:
            pools.append(sample_patches(vol[planes], pairs.patches.shape[1:], n, rng))
            source += [i] * n
    return PairSampler(np.concatenate(pools), pairs.degradations, np.array(source), rng,
                       pairs.transform)


class AxialPlanes:
    """The xz or yz planes of a stack's isotropic (cubic) reslicing, (planes, z, lateral),
    resliced when read: a patch costs only its own columns, and the isotropic volume, 4
    times a z-step-4 stack, is never held (equal to the bit to slicing it: columns are
    interpolated independently)."""

    def __init__(self, stack: np.ndarray, dz: float, dx: float, view: str):
        nz, ny, nx = stack.shape
        self.stack, self.dz, self.dx, self.view = stack, dz, dx, view
        n_out = isotropic_depth(nz, dz, dx)
        self.shape = (ny, n_out, nx) if view == "xz" else (nx, n_out, ny)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        plane, rows, cols = (*index, slice(None), slice(None))[:3] if isinstance(
            index, tuple) else (index, slice(None), slice(None))
        columns = self.stack[:, plane, cols] if self.view == "xz" else self.stack[:, cols, plane]
        return reslice_isotropic(columns, self.dz, self.dx, order=3)[rows]


class PlanePool:
    """Stacks of 2D planes of one size, (m_i, h, w), read as one (sum m_i, h, w) stack without
    copying them."""

    def __init__(self, *stacks: np.ndarray | AxialPlanes):
        self.stacks = stacks
        self.shape = (sum(len(s) for s in stacks), *stacks[0].shape[1:])

    def __getitem__(self, index) -> np.ndarray:
        plane, *rest = index if isinstance(index, tuple) else (index,)
        for s in self.stacks:
            if plane < len(s):
                return s[(plane, *rest)]
            plane -= len(s)
        raise IndexError(f"plane {index} of {self.shape[0]}")


def axial_patches(stack: np.ndarray, dz: float, dx: float, p: int, n: int,
                  rng: np.random.Generator) -> np.ndarray:
    """`n` (p, p) patches of the xz and yz planes of a (normalised) stack's isotropic
    reslicing, one pool when the field is square; otherwise (xz and yz planes differ in
    width) from each family in proportion to its number of planes."""
    xz, yz = AxialPlanes(stack, dz, dx, "xz"), AxialPlanes(stack, dz, dx, "yz")
    if len(xz) == len(yz):
        return sample_patches(PlanePool(xz, yz), (p, p), n, rng)
    n_xz = n * len(xz) // (len(xz) + len(yz))
    return np.concatenate([sample_patches(xz, (p, p), n_xz, rng),
                           sample_patches(yz, (p, p), n - n_xz, rng)])


PATCHES, META = "patches.npz", "patches.json"  # a prepared set: a folder holding both


def save(data: TrainingData, folder: str | Path, overwrite: bool = False) -> Path:
    """Write a prepared set into `folder`: the pools (uncompressed: noisy float patches barely
    compress) and, in JSON, the degradations, the stacks and the generator's state."""
    folder = Path(folder)
    if (folder / PATCHES).exists() and not overwrite:
        raise fail(folder / PATCHES, "exists already", "choose another --out or pass --overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / PATCHES, xy=data.xy, axial=data.axial, source=data.pairs.source,
             **{f"window_{i}": w for i, w in enumerate(data.windows)})
    meta = {**data.meta, "degradations": [asdict(d) for d in data.degradations],
            "rng_state": data.rng.bit_generator.state}
    (folder / META).write_text(json.dumps(meta, indent=2))
    return folder


def load(folder: str | Path) -> TrainingData:
    """A prepared set written by `save`, with its generator where `prepare` left it."""
    from .checkpoint import from_dict

    folder = Path(folder)
    if not (folder / PATCHES).exists() or not (folder / META).exists():
        raise fail(folder, f"holds no prepared set ({PATCHES} and {META})",
                   "make one with python -m isonb prepare STACKS --out FOLDER")
    meta = json.loads((folder / META).read_text())
    with np.load(folder / PATCHES) as f:
        xy, axial, source = f["xy"], f["axial"], f["source"]
        windows = [f[f"window_{i}"] for i in range(len(meta["stacks"])) if f"window_{i}" in f]
    degradations = [from_dict(Degradation, d) for d in meta.pop("degradations")]
    rng = np.random.default_rng()
    rng.bit_generator.state = meta.pop("rng_state")
    return TrainingData(PairSampler(xy, degradations, source, rng), xy, axial, degradations,
                        rng, meta, windows)


def is_prepared(path: str | Path) -> bool:
    """Whether `path` is a folder holding a prepared set."""
    return (Path(path) / PATCHES).exists()
