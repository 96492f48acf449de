"""Restoring an anisotropic stack onto the isotropic grid, by any of isonb's methods.

Trained networks (the LDM, CARE-iso, Self-Net) restore every xz and every yz slice of the
cubic-resliced stack (tiled with overlaps when a slice is large, batched), and the two
families are fused (the LDM's by orientation, the references' averaged, as their papers
do: `volume.resolve_fusion`); the LDM's volume is
then refocused (each lateral band given its in-focus weight, see `degrade.refocus`).
The same latent noise is used for every slice, so neighbouring slices stay consistent (a
sample output's noise drifts slowly from slice to slice instead, so that no texture repeats
along a whole axis); the uncertainty map is estimated from further samples whose noise is
each slice's own, and calibrated on the stack's own synthetic pairs (`isonb.uncertainty`).
"""

from __future__ import annotations

import ctypes
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import choices, degrade
from .baselines import interpolate, richardson_lucy
from .checkpoint import to_numpy
from .devices import autocast, resolve_device
from .errors import IsonbError
from .io import VoxelSize
from .ldm import LDM, pad_to
from .psf import FWHM_PER_SIGMA
from .uncertainty import (
    COVERAGE,
    calibrate_scale,
    disagreement,
    fuse_variances,
    slice_noise_seed,
    smooth_slices,
)
from .volume import (
    denormalize,
    fuse_views,
    isotropic_depth,
    iter_halo_tiles,
    normalize,
    percentile_range,
    reslice_isotropic,
    resolve_fusion,
)

# Context (px) every tile is read with: past it, a pixel changes the networks' outputs by less
# than 1e-4 of their range (tests/test_restore.py measures it for each network). The
# diffusion's DDIM steps apply the latent UNet again and again, which widens its reach.
HALO = 64
DIFFUSION_HALO = 128
# Mirrored context (px, a multiple of the LDM's multiple) given to each slice's lateral
# edges: its networks' zero padding there drew a frame in the map, the samples' spread down
# to 0.6 of the interior's in the last columns (RESULTS, "uncertainty"); it is cropped off
# again. Not along z, where mirroring made the first and last planes' errors larger; the
# reference networks restore slices as their papers do, without it.
EDGE = 8  # as good as 16 on the map (puncta: stripe score 1.44 against 1.41)
SAMPLE_DRIFT = 8  # slices over which a sample output's noise turns into the next anchor's
VIEWS = ("xz", "yz")
# Output planes fused and refocused at a time: their FFTs (mirror-padded, double precision)
# hold about 40 bytes a voxel. With 8 instead of 16, and `release_free_memory` before them,
# the fusion's peak on large.py's 1024 x 1024 stack fell from 2.0 to 1.3 GiB (in-process,
# RESULTS "Stacks of real size"). Every plane is filtered on its own: the output is the same
# to the bit.
SLAB = 8


@dataclass(frozen=True)
class RestoreConfig:
    """How a trained network restores a stack: the restore stage's settings, kept in the
    sidecar beside each restoration (`provenance`), so that they give the same volume again."""

    samples: int = 2  # K: diffusion samples averaged into the mean output
    steps: int = 4  # DDIM steps per sample
    seed: int = 0  # seed of the latent noise, tied to positions: tiles and blocks agree
    diffusion: str = "on"  # "on", "off" (the regression estimate alone), "auto" (`will_sample`)
    output: str = "mean"  # "mean" (the MMSE estimate) or "sample" (one posterior sample)
    drift: int = SAMPLE_DRIFT  # slices over which a sample's noise turns (`drifting_noise`)
    uncertainty: bool = True  # also the calibrated spread of `isonb.uncertainty`
    uncertainty_samples: int = choices.UNCERTAINTY_SAMPLES  # per slice, with noise of its own
    fusion: str = "auto"  # how the xz and yz views are combined (`volume.resolve_fusion`)
    refocus: bool = True  # the LDM's lateral bands given their in-focus weight (`degrade`)
    # µm: the LDM's z also deconvolved by the lateral PSF; one per channel where they differ
    lateral_fwhm: float | tuple[float, ...] | None = None
    tile: int = 1024  # px of a tile's core; tiles give the whole slice's result
    batch: int | None = None  # slices per pass; None: as many as fit (`batch_size`)
    precision: str = "auto"  # the networks' arithmetic (`devices.autocast`)
    slab: int = SLAB  # output planes fused at a time: memory, not results

    def __post_init__(self) -> None:
        for name, allowed in (("diffusion", choices.DIFFUSION), ("output", choices.OUTPUTS),
                              ("fusion", choices.FUSIONS), ("precision", choices.PRECISIONS)):
            choices.check_choice(name, getattr(self, name), allowed)
        for name in ("steps", "drift", "tile", "slab"):
            if getattr(self, name) < 1:
                raise IsonbError(f"{name}={getattr(self, name)}; Fix: give a positive number")
        if isinstance(self.lateral_fwhm, list):  # per channel, as JSON records it
            object.__setattr__(self, "lateral_fwhm", tuple(self.lateral_fwhm))
        for fwhm in np.atleast_1d(self.lateral_fwhm if self.lateral_fwhm is not None else []):
            if not 0.01 <= fwhm <= 10:
                raise IsonbError(f"lateral FWHM {fwhm} µm is outside what light microscopy "
                                 "resolves (0.01-10 µm); Fix: give it in µm, e.g. 0.2")

    def channel(self, c: int) -> RestoreConfig:
        """Channel `c`'s config: its own lateral FWHM where one is given per channel."""
        if not isinstance(self.lateral_fwhm, tuple):
            return self
        return replace(self, lateral_fwhm=self.lateral_fwhm[c])

    def sampling(self, sampled: bool) -> RestoreConfig:
        """This config with "auto" decided: diffusion "on" where it is `sampled`, else "off"."""
        return replace(self, diffusion="on" if sampled else "off")


def configured(config: RestoreConfig | None, settings: dict) -> RestoreConfig:
    """`config` (default `RestoreConfig()`) with the named `settings` replaced."""
    config = config or RestoreConfig()
    if unknown := set(settings) - set(config.__dataclass_fields__):
        raise TypeError(f"RestoreConfig has no setting {', '.join(sorted(unknown))}")
    return replace(config, **settings)


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
    choices.check_choice("method", method, choices.METHODS)
    raise IsonbError(f"{method!r} restores with trained weights; Fix: use restore_network")


def slice_noise(model: LDM, shape: tuple[int, int], samples: int, seed: int) -> torch.Tensor:
    """Latent noise (K, C, h, w) covering images of `shape` plus padding, fixed by `seed`.

    Noise is tied to positions in the slice: a tile reads the noise under it, so tiled
    and whole-slice restorations see the same noise, and so does every slice of a volume.
    """
    h, w = (-(-(s + 2 * model.multiple) // 4) for s in shape)
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((samples, model.cfg.autoencoder.latent_ch, h, w), generator=gen)


def drifting_noise(model: LDM, shape: tuple[int, int], seed: int, view: int,
                   ids: np.ndarray, period: int = SAMPLE_DRIFT) -> torch.Tensor:
    """Latent noise (1, B, C, h, w) for a sample output, one per slice of `ids`.

    Slice i's noise turns from anchor j = i // period to the next, n_i = cos(a) n_j +
    sin(a) n_(j+1) with a = pi/2 (i mod period) / period: an exact N(0, I) draw whose
    neighbours correlate by cos(pi / 2 period), so neighbouring slices agree, while no
    pattern repeats along the whole axis (shared noise draws a grid in the xy planes).
    """
    anchors: dict[int, torch.Tensor] = {}

    def anchor(j: int) -> torch.Tensor:
        if j not in anchors:
            anchors[j] = slice_noise(model, shape, 1, slice_noise_seed(seed, view, j, 1))[0]
        return anchors[j]

    out = []
    for i in np.asarray(ids).tolist():
        j, a = divmod(int(i), period)
        angle = math.pi / 2 * a / period
        out.append(math.cos(angle) * anchor(j) + math.sin(angle) * anchor(j + 1))
    return torch.stack(out)[None]


def load_network(folder: str | Path, method: str, dev: str | torch.device | None = None
                 ) -> torch.nn.Module:
    """A trained network for `method` ("ldm", "care" or "selfnet"), on `dev` (default: the
    best device there is)."""
    from .baselines.care import load_care
    from .baselines.selfnet import load_selfnet
    from .ldm import load

    loaders = {"ldm": load, "care": load_care, "selfnet": load_selfnet}
    if method not in loaders:
        raise IsonbError(f"{method!r} has no trained weights; Fix: use one of {choices.NETWORKS}")
    model, card = loaders[method](folder, resolve_device(dev))
    print(f"weights: {folder} ({method}, seed {card.get('seed')}, sha256 {card['sha256'][:12]})")
    return model


def batch_size(model: torch.nn.Module, window: tuple[int, int], batch: int | None) -> int:
    """Slices per forward pass: `batch`, or as many windows as fit the device's pixel budget
    (2^19 px on a CPU, capped at 8; on a GPU 8 KiB of its memory per px, capped at 64: a pass
    of the shipped LDM peaks at 0.6-1 KiB per px, measured on a CPU with and without the
    diffusion, which leaves room for the allocator's caching and for larger models). On a
    CPU, large slices gained nothing from going two at a time: 397 x 1024 px slices one at
    a time restored a 100 x 256 x 1024 stack in 216 s at 1179 MiB, two at a time in 231 s
    at 1359 MiB, equal to the bit."""
    if batch is not None:
        return max(1, int(batch))
    dev = next(model.parameters()).device
    if dev.type == "cuda":
        budget, cap = torch.cuda.get_device_properties(dev).total_memory // 2**13, 64
    else:
        budget, cap = 2**19, 8
    return int(np.clip(budget // (window[0] * window[1]), 1, cap))


@torch.no_grad()
def restore_slices(model: torch.nn.Module, images: np.ndarray,
                   config: RestoreConfig | None = None, *, spread_samples: int = 0,
                   halo: int | None = None, progress: bool = True, origin: int = 0,
                   width: int | None = None, slice_ids: np.ndarray | None = None,
                   view: int = 0, **settings) -> tuple[np.ndarray, np.ndarray]:
    """Restore a stack of normalised axial images (n, z, w): (output, variance).

    `config` (with `settings` replaced, `configured`) says how. For the LDM, the output is
    the mean of `samples` DDIM samples of `steps` steps from position-tied noise shared by
    every slice (or, with `diffusion="off"`, its regression estimate alone; "auto" is
    decided by the caller, `will_sample`, and samples here), or with `output="sample"` one
    sample, unshrunk (`LDM.restore_groups` with refine=False), from noise drifting from slice
    to slice over `drift` slices (`drifting_noise`); other networks are deterministic. The
    variance is the unbiased one of `spread_samples` further samples whose noise is each
    slice's own (seeded by `seed`, `view` and `slice_ids`, default 0..n-1: see
    `uncertainty`), zero when none are drawn. For the LDM, images are mirror-padded by
    `EDGE` px at their lateral edges; all are padded to the network's multiple and cut into
    `tile`-px cores read with `halo` px of context (default `HALO`, `DIFFUSION_HALO` when
    sampling), on the network's grid, so tiles give the whole image's result (see
    `volume.halo_tiles`). When the images are a window of wider slices (a block of a chunked
    volume), `origin` (a multiple of the network's multiple) and `width` say where, so that
    the window gets the whole slices' noise. `precision`: see `devices.autocast` (fp16 on a
    CUDA GPU).
    """
    cfg = configured(config, settings)
    samples, output = cfg.samples, cfg.output
    dev = next(model.parameters()).device
    n, h, w = images.shape
    sampling = _will_sample_slices(model, cfg.diffusion != "off", samples, output)
    samples = 1 if output == "sample" else samples  # the first of the mean's noises
    halo = (DIFFUSION_HALO if sampling else HALO) if halo is None else halo
    full = width or w
    edge, left, right = _mirrored_edges(model, origin, w, full)
    source = NoiseSource(model, (h, full + 2 * edge), (origin + edge - left) // 4, cfg.seed,
                         view, cfg.drift)
    noise = source.shared(samples).to(dev) if sampling and output == "mean" else None
    images = np.pad(images, ((0, 0), (0, 0), (left, right)), mode="reflect")
    padded, _ = pad_to(torch.from_numpy(images)[:, None], model.multiple)
    tiles = list(iter_halo_tiles(padded.shape[-2:], cfg.tile, halo, model.multiple))
    largest = max((wy.stop - wy.start, wx.stop - wx.start) for (wy, wx), _, _ in tiles)
    batch = batch_size(model, largest, cfg.batch)
    mean = np.zeros((n, *padded.shape[-2:]), dtype=np.float32)
    var = np.zeros_like(mean)
    ids = np.arange(n) if slice_ids is None else np.asarray(slice_ids)
    bar = tqdm(total=n * len(tiles), desc="restoring slices", disable=not progress, leave=False)
    for start in range(0, n, batch):
        rows = slice(start, start + batch)
        own = source.own(ids[rows], spread_samples).to(dev) \
            if sampling and spread_samples > 1 else None
        if sampling and output == "sample":
            noise = source.drifting(ids[rows]).to(dev)
        for (wy, wx), core, (oy, ox) in tiles:
            x = padded[rows, :, wy, wx].to(dev)
            latent = np.s_[..., wy.start // 4:wy.stop // 4, wx.start // 4:wx.stop // 4]
            with autocast(dev, cfg.precision):
                out, extra = _tile_outputs(model, x, noise, own, latent, cfg.steps, output)
            if extra is not None:
                var[rows, oy, ox] = to_numpy(extra[:, :, 0][..., core[0], core[1]]).var(0, ddof=1)
            mean[rows, oy, ox] = to_numpy(out[:, :, 0][..., core[0], core[1]]).mean(0)
            bar.update(len(x))
    bar.close()
    crop = np.s_[:, :h, left:left + w]
    return mean[crop], var[crop]


def _mirrored_edges(model: torch.nn.Module, origin: int, w: int, full: int
                    ) -> tuple[int, int, int]:
    """(edge, left, right): the mirrored context `EDGE` (LDM only) and how much of it a window
    of `w` px at `origin` of slices `full` px wide gets on each side (only the slices' own
    ends get it); refuses a window off the network's grid."""
    edge = EDGE if isinstance(model, LDM) else 0
    if origin % model.multiple or edge % model.multiple:
        raise IsonbError(f"window origin {origin} or edge {edge} px is not on the network's "
                         f"grid (a multiple of {model.multiple})")
    return edge, edge if origin == 0 else 0, edge if origin + w >= full else 0


def _will_sample_slices(model: torch.nn.Module, diffusion: bool, samples: int,
                        output: str) -> bool:
    """Whether `restore_slices` samples the LDM's diffusion; refuses a sample it cannot draw."""
    sampling = isinstance(model, LDM) and diffusion and samples > 0
    if output == "sample" and not sampling:
        raise IsonbError("output 'sample': a sample needs the LDM's diffusion. Fix: use "
                         "--method ldm without --diffusion off, or --output mean")
    return sampling


@dataclass(frozen=True)
class NoiseSource:
    """The latent noise of a window of slices: `shape` is the whole slices' (padded) size,
    `shift` the window's first latent column, so a window reads the whole slices' noise."""

    model: LDM
    shape: tuple[int, int]
    shift: int
    seed: int
    view: int
    drift: int

    def shared(self, samples: int) -> torch.Tensor:
        """Noise (K, C, h/4, w/4) shared by every slice: the mean output's."""
        return slice_noise(self.model, self.shape, samples, self.seed)[..., self.shift:]

    def own(self, ids: np.ndarray, samples: int) -> torch.Tensor:
        """Noise (K_u, B, C, h/4, w/4) of each slice's own, for the uncertainty map."""
        return torch.stack([slice_noise(self.model, self.shape, samples,
                                        slice_noise_seed(self.seed, self.view, int(i)))
                            for i in ids], 1)[..., self.shift:]

    def drifting(self, ids: np.ndarray) -> torch.Tensor:
        """Noise (1, B, C, h/4, w/4) drifting from slice to slice: a sample output's."""
        return drifting_noise(self.model, self.shape, self.seed, self.view, ids,
                              self.drift)[..., self.shift:]


def _tile_outputs(model: torch.nn.Module, x: torch.Tensor, noise: torch.Tensor | None,
                  own: torch.Tensor | None, latent: tuple, steps: int, output: str
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One batch of tiles x (B, 1, h, w) restored: the output's samples (K, B, 1, h, w) (the
    regression estimate alone, or a reference network's output, where `noise` is None) and
    the map's own-noise samples (K_u, B, 1, h, w), None without them. `latent` indexes the
    tile's part of the noise."""
    refine = output == "mean"
    if own is not None:
        out, extra = model.restore_groups(x, [noise[latent], own[latent]], steps, refine)
        return out, extra
    if noise is not None:
        return model.restore(x, noise[latent], steps, refine=refine), None
    return (model.estimate(x) if isinstance(model, LDM) else model(x))[None], None


def restore_view(observed: np.ndarray, view: str, rows: slice, limits: tuple[float, float],
                 voxel_size: VoxelSize, model: torch.nn.Module, origin: int = 0,
                 width: int | None = None, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Restore the xz slices (`view="xz"`, `rows` of y) or yz slices (`"yz"`, rows of x) of a
    (z, y, x) stack: (mean, variance), each (rows, isotropic z, the other lateral axis).

    The rows are normalised by `limits` and cubic-resliced onto the isotropic grid; `origin`
    and `width` place the stack's other lateral axis in a wider one (`restore_slices`). With
    the config's `lateral_fwhm`, the LDM's mean is also deconvolved along z by the lateral
    PSF (`degrade.deblur_axial`); the spread stays the samples'.
    """
    region, axes = ((np.s_[:, rows, :], (1, 0, 2)) if view == "xz" else
                    (np.s_[:, :, rows], (2, 0, 1)))
    dz, _, dx = voxel_size
    iso = reslice_isotropic(normalize(observed[region], *limits), dz, dx, order=3)
    cfg = configured(kw.pop("config", None),
                     {k: kw.pop(k) for k in list(kw) if k in RestoreConfig.__dataclass_fields__})
    mean, var = restore_slices(model, iso.transpose(axes), cfg, origin=origin, width=width,
                               view=VIEWS.index(view),
                               slice_ids=np.arange(rows.start, rows.stop), **kw)
    if cfg.lateral_fwhm and isinstance(model, LDM):  # z holds every isotropic plane here
        mean = degrade.deblur_axial(mean, cfg.lateral_fwhm / dx / FWHM_PER_SIGMA)
    return mean, var


def will_sample(model: torch.nn.Module, observed: np.ndarray, voxel_size: VoxelSize,
                limits: tuple[float, float], config: RestoreConfig, samples_needed: bool) -> bool:
    """Whether the LDM's diffusion is sampled: `config.diffusion` "on" or "off", or "auto":
    unless samples are needed (an uncertainty map, a sample output), only when its
    correction, measured on 4 xz slices, is at least `DIFFUSION_NEGLIGIBLE` of the intensity
    range (said in one line)."""
    if not isinstance(model, LDM) or config.diffusion == "off" or config.samples < 1:
        return False
    if config.diffusion == "on" or samples_needed:
        return True
    ny = observed.shape[1]
    probes = np.linspace(0, ny - 1, min(4, ny)).astype(int)
    dz, _, dx = voxel_size
    images = reslice_isotropic(normalize(observed[:, probes, :], *limits), dz, dx, order=3)
    rms = diffusion_correction(model, images.transpose(1, 0, 2), config)
    sampling = rms >= DIFFUSION_NEGLIGIBLE
    print(f"diffusion: its correction is {100 * rms:.3f} % of the intensity range on "
          f"{len(probes)} xz slices: " + ("sampled" if sampling else
                                          "skipped (below 0.1 %; --diffusion on samples)"))
    return sampling


def diffusion_correction(model: LDM, images: np.ndarray, config: RestoreConfig) -> float:
    """RMS of the diffusion's correction w * (mean_k x_k - D(E(x_hat))) on normalised axial
    images, as a fraction of the intensity range: how much sampling changes the output."""
    full, _ = restore_slices(model, images, config, progress=False, diffusion="on")
    plain, _ = restore_slices(model, images, config, progress=False, diffusion="off")
    return float(np.sqrt(np.mean((full - plain) ** 2)))


class ScratchArray:
    """A float32 array in a file, mapped only for the duration of each read or write.

    Restoring a large stack keeps its restored xz and yz slices here: each block touches
    only its own pages, so memory stays bounded by the block, not by the volume.
    """

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path, self.shape = path, shape
        with open(path, "wb") as f:
            f.truncate(int(np.prod(shape)) * 4)

    def __setitem__(self, index, value: np.ndarray) -> None:
        mm = np.memmap(self.path, np.float32, "r+", shape=self.shape)
        mm[index] = value
        mm.flush()
        del mm

    def __getitem__(self, index) -> np.ndarray:
        mm = np.memmap(self.path, np.float32, "r", shape=self.shape)
        out = np.array(mm[index])
        del mm
        return out


IN_MEMORY_BYTES = 2**29  # restored slices beyond this go to scratch files on disk
DIFFUSION_NEGLIGIBLE = 1e-3  # "auto": sampling is skipped below this RMS correction


def release_free_memory() -> None:
    """Hand the heap's freed pages back to the system (glibc's `malloc_trim`; nothing where
    there is none). After the networks' passes their freed activations stayed counted, 450
    MiB of a large stack's 1.2 GiB, under everything that came after."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def restore_network(observed: np.ndarray, voxel_size: VoxelSize, model: torch.nn.Module,
                    config: RestoreConfig | None = None, **kw
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Restore a stack with a trained network: (volume, spread) on the isotropic grid.

    Holds the whole volume in memory; `restore_network_slabs` (same arguments) streams it.
    The spread is None where it was not computed (not asked for, or nothing sampled).
    """
    nz, ny, nx = observed.shape
    vol = np.empty((isotropic_depth(nz, voxel_size[0], voxel_size[2]), ny, nx), np.float32)
    spread: np.ndarray | None = None
    for z0, v, u in restore_network_slabs(observed, voxel_size, model, config, **kw):
        vol[z0:z0 + len(v)] = v
        if u is not None:
            spread = np.empty(vol.shape, np.float32) if spread is None else spread
            spread[z0:z0 + len(u)] = u
    return vol, spread


def restore_network_slabs(observed: np.ndarray, voxel_size: VoxelSize, model: torch.nn.Module,
                          config: RestoreConfig | None = None, *, progress: bool = True,
                          scratch: str | Path | None = None, decided: dict | None = None,
                          **settings) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """Restore a stack with a trained network as `config` says (with `settings` replaced,
    `configured`), yielding (z0, planes, spread planes) in order.

    The stack is percentile-normalised and cubic-resliced a block of slices at a time; xz
    and yz slices are restored separately (kept in memory, or in scratch files in `scratch`
    when large) and fused `slab` output planes at a time (`volume.fuse_views`: "average",
    "orientation", or "auto": `volume.resolve_fusion`). With `refocus`, the LDM's planes
    get each lateral frequency band's in-focus weight back (`degrade.refocus`, from the
    stack's own band estimate); the reference networks stay as their papers describe them.
    `diffusion`: "on" samples the LDM's diffusion, "off" uses its regression estimate alone,
    "auto" skips sampling when no uncertainty is asked for and, measured on a few slices,
    its correction is below 0.1 % of the intensity range. The spread (with `uncertainty`,
    None otherwise) is the calibrated posterior spread of `isonb.uncertainty`, from
    `uncertainty_samples` samples per slice with noise of its own, plus, for the mean, the
    views' disagreement (`uncertainty.disagreement`). `output`: "mean" (the MMSE estimate,
    what SSIM and PSNR reward) or "sample" (one posterior sample per slice, drifting over
    `drift` slices: `restore_slices`). `decided`, when given, is filled with what the stack
    decided: whether the diffusion was sampled, the fusion, whether it was refocused, the
    map's calibration.
    """
    cfg = configured(config, settings)
    if isinstance(cfg.lateral_fwhm, tuple):
        raise IsonbError(f"lateral FWHMs {cfg.lateral_fwhm} are one per channel, and this is "
                         "one stack. Fix: restore each channel with its own "
                         "(RestoreConfig.channel(c), as streaming.restore_to_file does)")
    dz, _, dx = voxel_size
    nz, ny, nx = observed.shape
    n_out = isotropic_depth(nz, dz, dx)
    lo, hi = percentile_range(observed)
    fusion = resolve_fusion(cfg.fusion, isinstance(model, LDM), cfg.output)
    sampling = will_sample(model, observed, voxel_size, (lo, hi), cfg,
                           cfg.uncertainty or cfg.output == "sample")
    keep_spread = sampling and cfg.uncertainty and cfg.uncertainty_samples > 1
    kw = dict(config=cfg.sampling(sampling), progress=False,
              spread_samples=cfg.uncertainty_samples if keep_spread else 0)
    step = batch_size(model, (min(cfg.tile, n_out), min(cfg.tile, max(nx, ny))), cfg.batch)
    with _view_buffers((n_out, ny, nx), keep_spread, scratch) as (means, variances):
        with tqdm(total=ny + nx, desc="restoring xz and yz slices", disable=not progress) as bar:
            for view, a, mean, var in _restored_views(observed, voxel_size, model, (lo, hi),
                                                      step, kw):
                means[view][a:a + len(mean)] = mean
                if keep_spread:
                    variances[view][a:a + len(var)] = smooth_slices(var)
                bar.update(len(mean))
        release_free_memory()
        estimate = degrade.estimate_degradation(observed, voxel_size) if isinstance(
            model, LDM) and (cfg.refocus or keep_spread) else None
        deg = _refocus_degradation(estimate) if cfg.refocus and estimate is not None else None
        scale = _spread_scale(model, observed, (lo, hi), estimate, kw) if keep_spread else 1.0
        if decided is not None:
            decided.update(diffusion_sampled=sampling, fusion=fusion, refocused=deg is not None,
                           spread_scale=float(scale) if keep_spread else None)
        for z0 in range(0, n_out, cfg.slab):
            z1 = min(z0 + cfg.slab, n_out)
            fused, var = _fused_planes(means, variances, z0, z1, fusion, deg, cfg.output, scale)
            spread = None if var is None else ((hi - lo) * np.sqrt(var)).astype(np.float32)
            yield z0, denormalize(fused, lo, hi), spread


Buffer = np.ndarray | ScratchArray  # restored slices of one view, in memory or in a file


@contextmanager
def _view_buffers(shape: tuple[int, int, int], variances: bool, scratch: str | Path | None
                  ) -> Iterator[tuple[dict[str, Buffer], dict[str, Buffer]]]:
    """The xz and yz views' restored slices (means, and variances if asked) for an isotropic
    (z, y, x) `shape`: in memory, or in files under `scratch` above IN_MEMORY_BYTES, removed
    on leaving."""
    n_out, ny, nx = shape
    folder = None
    if (4 if variances else 2) * n_out * ny * nx * 4 > IN_MEMORY_BYTES:
        folder = Path(tempfile.mkdtemp(prefix="isonb-", dir=scratch))

    def store(name: str, shape: tuple[int, ...]) -> Buffer:
        return np.empty(shape, np.float32) if folder is None else ScratchArray(folder / name,
                                                                                 shape)

    shapes = {"xz": (ny, n_out, nx), "yz": (nx, n_out, ny)}
    try:
        yield ({view: store(f"{view}_mean", sh) for view, sh in shapes.items()},
               {view: store(f"{view}_var", sh) for view, sh in shapes.items()} if variances
               else {})
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _restored_views(observed: np.ndarray, voxel_size: VoxelSize, model: torch.nn.Module,
                    limits: tuple[float, float], step: int, kw: dict
                    ) -> Iterator[tuple[str, int, np.ndarray, np.ndarray]]:
    """The xz and then the yz slices restored `step` at a time (`restore_view` with `kw`):
    (view, first slice, restored slices, their variances)."""
    _, ny, nx = observed.shape
    for view, n in zip(VIEWS, (ny, nx)):
        for a in range(0, n, step):
            mean, var = restore_view(observed, view, slice(a, min(a + step, n)), limits,
                                     voxel_size, model, **kw)
            yield view, a, mean, var


def _view_planes(store: dict, z0: int, z1: int) -> tuple[np.ndarray, np.ndarray]:
    """Output planes z0:z1 of the xz and yz views in `store`, both (z, y, x)."""
    return store["xz"][:, z0:z1].transpose(1, 0, 2), store["yz"][:, z0:z1].transpose(1, 2, 0)


def _fused_planes(means: dict, variances: dict, z0: int, z1: int, fusion: str,
                  deg: degrade.Degradation | None, output: str, scale: float
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """Output planes z0:z1 (normalised): the views fused (`volume.fuse_views`) and
    refocused by `deg` when given, and, with `variances`, the map's variance: the views'
    variances fused, times `scale`^2 (the calibration), plus their disagreement for the mean
    output (a sample's views differ by its own spread too), smoothed. Stops on NaN/inf
    rather than write them."""
    views = _view_planes(means, z0, z1)
    fused = fuse_views(*views, fusion)
    if deg is not None:
        fused = degrade.refocus(fused, deg)
    if not np.isfinite(fused).all():  # never write a silent NaN volume
        raise IsonbError(f"output planes {z0}-{z1 - 1} came out NaN/inf (a bug in "
                         "isonb). Fix: restore with --no-refocus or --fusion average, "
                         "and report it with the stack's shape and voxel size")
    if not variances:
        return fused, None
    var = scale**2 * fuse_variances(*_view_planes(variances, z0, z1))
    if output == "mean":
        var = var + disagreement(*views)
    return fused, smooth_slices(var)


def _refocus_degradation(deg: degrade.Degradation) -> degrade.Degradation | None:
    """The band estimate refocusing uses; None, and a line saying so, without bands."""
    if len(deg.band_sigmas) < 2:
        print("refocus: skipped, too few axial frequencies above the noise for a "
              "band-wise estimate (gain 1)")
        return None
    gain = degrade.infocus_gain(deg, np.array([0.5]))[0]
    print(f"refocus: fine lateral detail x{gain:.2f} against coarse (band sigmas "
          f"{', '.join(f'{s:.1f}' for s in deg.band_sigmas)} px)")
    return deg


def pair_restorer(model: LDM, kw: dict) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Restore synthetic pairs' inputs (n, p, p) as the slices are (`kw` of `restore_slices`),
    the map's samples from a noise stream of their own: (output, variance)."""
    def restore_images(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return restore_slices(model, x, slice_ids=np.arange(len(x)), view=len(VIEWS), **kw)

    return restore_images


def _spread_scale(model: LDM, observed: np.ndarray, limits: tuple[float, float],
                  deg: degrade.Degradation, kw: dict) -> float:
    """The map's calibration (`uncertainty.calibrate_scale`) on the stack's own synthetic
    pairs, against the mean's errors whatever the output, said in one line; 1 where it cannot
    be calibrated."""
    scale = calibrate_scale(pair_restorer(model, {**kw, "output": "mean"}), observed, limits, deg,
                            patch=min(64, *observed.shape[1:]), seed=kw["config"].seed)
    if scale is None:
        print("uncertainty: not calibrated (the stack's noise alone covers the errors on its "
              "synthetic pairs): the samples' spread as it is")
        return 1.0
    print(f"uncertainty: the samples' spread x{scale:.2f}, calibrated on the stack's own "
          f"synthetic pairs ({100 * COVERAGE:.0f} % of their errors within 2 spreads)")
    return scale


def restore_axial_images(images: np.ndarray, model: torch.nn.Module,
                         config: RestoreConfig | None = None, progress: bool = True,
                         **settings) -> tuple[np.ndarray, np.ndarray]:
    """Restore 2D axial images (z first, already on the isotropic grid): (mean, spread), or
    with `output="sample"` (one posterior sample, spread).

    With `uncertainty`, the spread is that of `uncertainty_samples` samples per image with
    noise of its own, smoothed as in `isonb.uncertainty` (with no stack to calibrate on, not
    calibrated); zero without.
    """
    cfg = configured(config, settings)
    stack = images[None] if images.ndim == 2 else images
    lo, hi = percentile_range(stack)
    mean, var = restore_slices(model, normalize(stack, lo, hi), cfg, progress=progress,
                               spread_samples=cfg.uncertainty_samples if cfg.uncertainty else 0)
    mean = denormalize(mean, lo, hi)
    std = (np.sqrt(smooth_slices(var)) * (hi - lo)).astype(np.float32)
    return (mean[0], std[0]) if images.ndim == 2 else (mean, std)
