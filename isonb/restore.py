"""Restoring an anisotropic stack onto the isotropic grid, by any of isonb's methods.

Trained networks (the LDM, CARE-iso, Self-Net) restore every xz and every yz slice of the
cubic-resliced stack (tiled with overlaps when a slice is large, batched), and the two
families are fused by averaging; the LDM's volume is then refocused (each lateral band
given its in-focus weight, see `degrade.refocus`).
The same latent noise is used for every slice, so neighbouring slices stay consistent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import degrade
from .baselines import interpolate, richardson_lucy
from .checkpoint import device, to_numpy
from .errors import IsonbError
from .io import VoxelSize
from .ldm import LDM, pad_to
from .volume import (
    denormalize,
    iter_tiles,
    normalize,
    percentile_range,
    reslice_isotropic,
    xz_planes,
    yz_planes,
)

CLASSIC_METHODS = ("linear", "cubic", "rl")
NETWORKS = ("ldm", "care", "selfnet")  # trained per stack (or shipped, for the LDM)
METHODS = (*CLASSIC_METHODS, *NETWORKS)


def restore(observed: np.ndarray, voxel_size: VoxelSize, method: str = "cubic",
            psf: np.ndarray | None = None, rl_iterations: int = 20) -> np.ndarray:
    """The observed (z, y, x) stack restored onto the isotropic grid by a classical method.

    `psf` (on the isotropic grid) is needed by Richardson-Lucy ("rl"); for trained networks
    use `restore_network`.
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
    raise IsonbError(f"unknown method {method!r}; Fix: choose one of {', '.join(METHODS)}")


def slice_noise(model: LDM, shape: tuple[int, int], samples: int, seed: int) -> torch.Tensor:
    """Latent noise (K, C, h, w) covering images of `shape` plus padding, fixed by `seed`.

    Noise is tied to positions in the slice: a tile reads the noise under it, so tiled
    and whole-slice restorations see the same noise, and so does every slice of a volume.
    """
    h, w = (-(-(s + 2 * model.multiple) // 4) for s in shape)
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((samples, model.cfg.autoencoder.latent_ch, h, w), generator=gen)


def load_network(folder: str | Path, method: str) -> torch.nn.Module:
    """A trained network for `method` ("ldm", "care" or "selfnet"), on the best device."""
    from .baselines.care import load_care
    from .baselines.selfnet import load_selfnet
    from .ldm import load

    loaders = {"ldm": load, "care": load_care, "selfnet": load_selfnet}
    if method not in loaders:
        raise IsonbError(f"{method!r} has no trained weights; Fix: use one of {NETWORKS}")
    model, card = loaders[method](folder, device())
    print(f"weights: {folder} ({method}, seed {card.get('seed')}, sha256 {card['sha256'][:12]})")
    return model


@torch.no_grad()
def restore_slices(model: torch.nn.Module, images: np.ndarray, samples: int = 2,
                   steps: int = 4, seed: int = 0, batch: int = 8, tile: int = 256,
                   overlap: int = 32, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Restore a stack of normalised axial images (n, z, w): (mean, std) over samples.

    For the LDM, `samples` DDIM samples of `steps` steps from position-tied noise; other
    networks are deterministic (one sample, zero spread). Images larger than `tile` are cut
    into overlapping tiles blended with smooth weights.
    """
    dev = next(model.parameters()).device
    n, h, w = images.shape
    tile_h, tile_w = min(tile, h), min(tile, w)
    is_ldm = isinstance(model, LDM)
    noise = slice_noise(model, (h, w), samples, seed).to(dev) if is_ldm else None
    mean = np.zeros(images.shape, dtype=np.float32)
    var = np.zeros(images.shape, dtype=np.float32)
    tiles = list(iter_tiles((h, w), (tile_h, tile_w), (overlap, overlap)))
    bar = tqdm(total=n * len(tiles), desc="restoring slices", disable=not progress, leave=False)
    for start in range(0, n, batch):
        for (ry, rx), weight in tiles:
            x = torch.from_numpy(np.ascontiguousarray(images[start:start + batch, ry, rx]))
            x, (th, tw) = pad_to(x[:, None].to(dev), model.multiple)
            if is_ldm:
                y0, x0 = ry.start // 4, rx.start // 4
                eps = noise[..., y0:y0 + x.shape[-2] // 4, x0:x0 + x.shape[-1] // 4]
                out = model.restore(x, eps, steps)
            else:
                out = model(x)[None]
            out = to_numpy(out[:, :, 0, :th, :tw])  # (K, B, th, tw)
            mean[start:start + batch, ry, rx] += weight * out.mean(0)
            var[start:start + batch, ry, rx] += weight * out.var(0)
            bar.update(len(x))
    bar.close()
    return mean, np.sqrt(var)


def restore_network(observed: np.ndarray, voxel_size: VoxelSize, model: torch.nn.Module,
                    samples: int = 2, steps: int = 4, seed: int = 0, batch: int = 8,
                    progress: bool = True, refocus: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Restore a stack with a trained network: (volume, uncertainty) on the isotropic grid.

    xz and yz slices of the cubic-resliced, percentile-normalised stack are restored
    separately and averaged; the uncertainty is the per-voxel spread of the LDM's samples
    (before refocusing). With `refocus`, the LDM's volume then gets each lateral frequency
    band's in-focus weight back (`degrade.refocus`, from the stack's own band estimate);
    the reference networks are left as their papers describe them.
    """
    dz, _, dx = voxel_size
    lo, hi = percentile_range(observed)
    iso = reslice_isotropic(normalize(observed, lo, hi), dz, dx, order=3)
    kw = dict(samples=samples, steps=steps, seed=seed, batch=batch, progress=progress)
    xz_mean, xz_std = restore_slices(model, xz_planes(iso), **kw)  # (y, z, x)
    yz_mean, yz_std = restore_slices(model, yz_planes(iso), **kw)  # (x, z, y)
    fused = 0.5 * (xz_mean.transpose(1, 0, 2) + yz_mean.transpose(1, 2, 0))
    if refocus and isinstance(model, LDM):
        deg = degrade.estimate_degradation(observed, voxel_size)
        if len(deg.band_sigmas) < 2:
            print("refocus: skipped, too few axial frequencies above the noise for a "
                  "band-wise estimate (gain 1)")
        else:
            gain = degrade.infocus_gain(deg, np.array([0.5]))[0]
            print(f"refocus: fine lateral detail x{gain:.2f} against coarse (band sigmas "
                  f"{', '.join(f'{s:.1f}' for s in deg.band_sigmas)} px)")
            fused = degrade.refocus(fused, deg)
    spread = np.sqrt(0.5 * (xz_std.transpose(1, 0, 2) ** 2 + yz_std.transpose(1, 2, 0) ** 2))
    return denormalize(fused, lo, hi), (spread * (hi - lo)).astype(np.float32)


def restore_axial_images(images: np.ndarray, model: torch.nn.Module, samples: int = 2,
                         steps: int = 4, seed: int = 0, progress: bool = True
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Restore 2D axial images (z first, already on the isotropic grid): (mean, std)."""
    stack = images[None] if images.ndim == 2 else images
    lo, hi = percentile_range(stack)
    mean, std = restore_slices(model, normalize(stack, lo, hi), samples, steps, seed,
                               progress=progress)
    mean, std = denormalize(mean, lo, hi), (std * (hi - lo)).astype(np.float32)
    return (mean[0], std[0]) if images.ndim == 2 else (mean, std)
