"""Liver-like idealised tissue and its anisotropic image, with ground truth (BENCHMARK.md).

Structures (nuclei, Voronoi cell membranes, hollow sinusoids, a bile-canaliculi network,
puncta; or sparse sub-resolution beads, the microscopist's PSF check) are drawn on an
isotropic grid of spacing `voxel_xy`, stained unevenly, then imaged:
  ground truth = every xy plane blurred by the PSF's focal plane (lateral blur only);
  observed     = full 3D PSF blur, every `z_step`-th plane, Poisson + Gaussian noise at `snr`.
This follows the dataset authors' simulator (BioDecodingLab/DenseTissueAnalysis).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from . import psf as psf_lib
from .choices import MIXED, PSF_MODELS, STRUCTURES
from .errors import IsonbError, fail
from .io import VoxelSize, write_stack


@dataclass
class SimulationConfig:
    """Everything that defines one simulated case; the same config and seed give the same arrays."""

    structure: str = "mixed"  # one of STRUCTURES
    shape: tuple[int, int, int] = (65, 128, 128)  # isotropic (z, y, x) grid of the ground truth
    voxel_xy: float = 0.1  # µm, lateral pixel size = spacing of the isotropic grid
    psf: str = "confocal"  # one of PSF_MODELS
    na: float = 1.0  # numerical aperture (widefield / confocal)
    n_immersion: float = 1.33  # refractive index of the immersion medium
    wavelength_ex: float = 0.488  # µm, excitation (confocal)
    wavelength_em: float = 0.52  # µm, emission
    fwhm_lateral: float = 0.25  # µm (gaussian PSF only)
    fwhm_axial: float = 1.0  # µm (gaussian PSF only)
    z_step: int = 2  # observed planes are every z_step-th plane of the grid: dz = z_step*voxel_xy
    snr: float = 10.0  # mean foreground signal / noise standard deviation
    background: float = 0.04  # smooth autofluorescence, relative to the brightest structures
    cell_size: float = 9.0  # µm, mean hepatocyte diameter (idealised, smaller than real)
    seed: int = 0

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)  # type: ignore[assignment]
        if self.structure not in STRUCTURES:
            raise IsonbError(f"structure must be one of {STRUCTURES}, not {self.structure!r}")
        if self.psf not in PSF_MODELS:
            raise IsonbError(f"psf must be one of {PSF_MODELS}, not {self.psf!r}")
        if self.z_step < 1 or self.shape[0] < 2 * self.z_step:
            raise IsonbError(f"need z_step >= 1 and at least 2 observed planes "
                             f"(shape {self.shape})")


@dataclass
class SimulatedCase:
    """Observed stack, ground truth on the isotropic output grid, the PSF, and the config."""

    observed: np.ndarray  # (nz_obs, y, x) float32
    gt: np.ndarray  # ((nz_obs - 1) * z_step + 1, y, x) float32
    psf: np.ndarray  # on the isotropic grid (voxel_xy)^3
    config: SimulationConfig
    stats: dict = field(default_factory=dict)
    clean: np.ndarray | None = None  # the observed stack before noise, in photons (not saved)

    @property
    def voxel_size(self) -> VoxelSize:
        """(dz, dy, dx) of the observed stack in µm."""
        c = self.config
        return (round(c.z_step * c.voxel_xy, 9), c.voxel_xy, c.voxel_xy)

    @property
    def gt_voxel_size(self) -> VoxelSize:
        """(dz, dy, dx) of the ground truth in µm: isotropic."""
        v = self.config.voxel_xy
        return (v, v, v)


def make_psf(cfg: SimulationConfig) -> np.ndarray:
    """The config's PSF on the isotropic grid."""
    dx = cfg.voxel_xy
    if cfg.psf == "gaussian":
        return psf_lib.gaussian_psf(cfg.fwhm_lateral, cfg.fwhm_axial, dx)
    if cfg.psf == "widefield":
        return psf_lib.widefield_psf(cfg.na, cfg.n_immersion, cfg.wavelength_em, dx)
    return psf_lib.confocal_psf(cfg.na, cfg.n_immersion, cfg.wavelength_ex, cfg.wavelength_em, dx)


# --- structures (all on the isotropic grid, values ~[0, 1]) ---------------------------------


def smooth_noise(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian random field with unit standard deviation and correlation length `sigma` px."""
    f = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return (f - f.mean()) / (f.std() + 1e-12)


def voronoi_cells(shape: tuple[int, int, int], n_cells: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cell labels of a 3D Voronoi tessellation (z, y, x) and its seed points (n, 3)."""
    seeds = rng.uniform(0, 1, size=(n_cells, 3)) * np.array(shape)
    marks = np.zeros(shape, dtype=np.int32)
    idx = np.minimum(seeds.astype(int), np.array(shape) - 1)
    marks[tuple(idx.T)] = np.arange(1, n_cells + 1)
    _, nearest = ndimage.distance_transform_edt(marks == 0, return_indices=True)
    return marks[tuple(nearest)], seeds


def cell_membranes(labels: np.ndarray) -> np.ndarray:
    """Walls between Voronoi cells, two voxels thick."""
    wall = np.zeros(labels.shape, dtype=bool)
    for ax in range(3):
        a = np.swapaxes(labels, 0, ax)
        w = np.swapaxes(wall, 0, ax)
        diff = a[1:] != a[:-1]
        w[1:] |= diff
        w[:-1] |= diff
    return wall.astype(np.float32)


def nuclei(shape: tuple[int, int, int], centres: np.ndarray, radius_px: float,
           rng: np.random.Generator) -> np.ndarray:
    """Textured, randomly oriented ellipsoids (chromatin texture, a bright nucleolus or two)."""
    out = np.zeros(shape, dtype=np.float32)
    texture = 0.75 + 0.25 * smooth_noise(shape, 1.5, rng)
    for c in centres:
        radii = radius_px * rng.uniform(0.8, 1.15, size=3)
        rot = _random_rotation(rng)
        h = int(np.ceil(radii.max())) + 2
        lo = np.maximum(np.floor(c).astype(int) - h, 0)
        hi = np.minimum(np.floor(c).astype(int) + h + 1, shape)
        if np.any(hi <= lo):
            continue
        grids = np.meshgrid(*[np.arange(a, b) - cc for a, b, cc in zip(lo, hi, c)], indexing="ij")
        pts = np.stack(grids, -1) @ rot  # coordinates in the ellipsoid's frame
        d = np.sqrt(((pts / radii) ** 2).sum(-1))  # 1 on the surface
        body = 1.0 / (1.0 + np.exp((d - 1.0) * radius_px / 0.7))  # soft edge, ~0.7 px
        for _ in range(rng.integers(1, 3)):  # nucleoli
            off = rng.uniform(-0.4, 0.4, 3) * radii
            dn = np.sqrt((((pts - off) / (0.18 * radius_px)) ** 2).sum(-1))
            body = body + 0.6 * np.exp(-(dn**2)) * (d < 1)
        region = tuple(slice(a, b) for a, b in zip(lo, hi))
        out[region] = np.maximum(out[region], body * texture[region])
    return out


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return q * np.sign(np.diag(r))


def random_paths(shape: tuple[int, int, int], n_paths: int, step: float, stiffness: float,
                 rng: np.random.Generator, starts: list[np.ndarray] | None = None,
                 max_len: int | None = None) -> list[np.ndarray]:
    """Smooth random walks (persistent direction) through the volume, as point arrays (n, 3)."""
    shape_a = np.array(shape, dtype=float)
    max_len = max_len or int(4 * shape_a.max() / step)
    paths = []
    for i in range(n_paths):
        p = starts[i].copy() if starts is not None else rng.uniform(0, 1, 3) * shape_a
        d = rng.standard_normal(3)
        d /= np.linalg.norm(d)
        pts = []
        for _ in range(max_len):
            pts.append(p.copy())
            d = d + rng.standard_normal(3) / stiffness
            d /= np.linalg.norm(d)
            p = p + step * d
            if np.any(p < -5) or np.any(p > shape_a + 5):
                break
        paths.append(np.array(pts))
    return paths


def rasterize_paths(shape: tuple[int, int, int], paths: list[np.ndarray],
                    radii: list[float]) -> np.ndarray:
    """A radius map: each path's radius on the voxels its centre-line passes through, else 0."""
    radius_map = np.zeros(shape, dtype=np.float32)
    for pts, r in zip(paths, radii):
        if len(pts) > 1:  # densify so consecutive points are < 0.5 px apart
            pts = np.concatenate([np.linspace(a, b, int(np.ceil(np.linalg.norm(b - a) / 0.5)) + 1)
                                  for a, b in zip(pts[:-1], pts[1:])])
        idx = np.round(pts).astype(int)
        ok = np.all((idx >= 0) & (idx < np.array(shape)), axis=1)
        radius_map[tuple(idx[ok].T)] = r
    return radius_map


def tubes(radius_map: np.ndarray, wall: float | None) -> np.ndarray:
    """Tubes around the centre-lines of a radius map: filled (wall=None) or hollow."""
    if not radius_map.any():
        return np.zeros(radius_map.shape, dtype=np.float32)
    dist, nearest = ndimage.distance_transform_edt(radius_map == 0, return_indices=True)
    r = radius_map[tuple(nearest)]
    if wall is None:
        return np.clip(r - dist + 0.5, 0.0, 1.0).astype(np.float32)
    return np.exp(-0.5 * ((dist - r) / (wall / 2.355)) ** 2).astype(np.float32)


def voronoi_edges(labels: np.ndarray) -> np.ndarray:
    """Voxels where three or more cells meet: the lines along which bile canaliculi run."""
    n = [s - 1 for s in labels.shape]
    corners = [labels[a:a + n[0], b:b + n[1], c:c + n[2]]
               for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    distinct = np.ones(n, dtype=np.int8)
    for k in range(1, 8):
        new = np.ones(n, dtype=bool)
        for j in range(k):
            new &= corners[k] != corners[j]
        distinct += new
    edges = np.zeros(labels.shape, dtype=bool)
    edges[:-1, :-1, :-1] = distinct >= 3
    return edges


def puncta(shape: tuple[int, int, int], density: float, sigma_px: float,
           rng: np.random.Generator) -> np.ndarray:
    """Small Gaussian spots of random brightness, `density` per voxel."""
    n = rng.poisson(density * np.prod(shape))
    out = np.zeros(shape, dtype=np.float32)
    idx = tuple(rng.integers(0, s, n) for s in shape)
    np.add.at(out, idx, rng.uniform(0.5, 1.0, n).astype(np.float32))
    out = ndimage.gaussian_filter(out, sigma_px)
    return out * np.float32((2 * np.pi * sigma_px**2) ** 1.5)


def tissue(cfg: SimulationConfig, rng: np.random.Generator) -> np.ndarray:
    """The stained specimen (fluorophore density) on the isotropic grid, before imaging."""
    shape = cfg.shape
    um = 1.0 / cfg.voxel_xy  # px per µm
    vol_um3 = np.prod(shape) / um**3
    n_cells = max(2, int(round(vol_um3 / (cfg.cell_size**3 * np.pi / 6) * 1.3)))
    labels, seeds = voronoi_cells(shape, n_cells, rng)
    parts: dict[str, tuple[float, np.ndarray]] = {}
    want = {cfg.structure} if cfg.structure != "mixed" else set(MIXED)
    if "membranes" in want:
        parts["membranes"] = (0.5, cell_membranes(labels))
    if "nuclei" in want:
        keep = seeds[rng.random(len(seeds)) < 0.85]
        parts["nuclei"] = (1.0, nuclei(shape, keep, 0.22 * cfg.cell_size * um, rng))
    if "sinusoids" in want:
        n = max(2, int(round(np.prod(shape[1:]) / um**2 / 150)))
        paths = random_paths(shape, n, 2.0, 12.0, rng)
        radii = list(rng.uniform(1.5, 2.5, n) * um)
        parts["sinusoids"] = (0.7, tubes(rasterize_paths(shape, paths, radii), wall=0.4 * um))
    if "canaliculi" in want:
        edges = voronoi_edges(labels)
        radius = np.float32(rng.uniform(0.3, 0.45) * um)
        parts["canaliculi"] = (1.0, tubes(edges * radius, wall=None))
    if "puncta" in want:
        parts["puncta"] = (1.2, puncta(shape, 2e-4 if cfg.structure == "puncta" else 5e-5,
                                       max(1.0, 0.12 * um), rng))
    if "beads" in want:  # sparse sub-resolution point sources (175 nm, as PS-Speck beads)
        parts["beads"] = (1.0, puncta(shape, 3e-5, 0.175 / 2.355 * um, rng))
    specimen = np.zeros(shape, dtype=np.float32)
    for weight, part in parts.values():
        specimen = np.maximum(specimen, weight * part)
    # uneven staining: smooth multiplicative variation over several scales, depth attenuation
    staining = np.ones(shape, dtype=np.float32)
    for scale in (4.0, 16.0):
        staining *= np.clip(1.0 + 0.2 * smooth_noise(shape, scale, rng), 0.3, None)
    depth = np.exp(-np.arange(shape[0]) * cfg.voxel_xy / 200.0).astype(np.float32)
    specimen = specimen * staining * depth[:, None, None]
    bg = cfg.background * np.clip(1.0 + 0.5 * smooth_noise(shape, 24.0, rng), 0.1, None)
    return (specimen + bg).astype(np.float32)


# --- imaging ---------------------------------------------------------------------------------


def convolve(volume: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolution with reflective boundaries, same shape as `volume` (kernel odd-sized)."""
    kernel = kernel.reshape((1,) * (volume.ndim - kernel.ndim) + kernel.shape)
    pads = [(k // 2, k // 2) for k in kernel.shape]
    padded = np.pad(volume, pads, mode="reflect" if all(
        s > k // 2 for s, k in zip(volume.shape, kernel.shape)) else "edge")
    out = fftconvolve(padded, kernel, mode="valid", axes=[i for i, k in enumerate(kernel.shape)
                                                          if k > 1])
    return np.clip(out, 0.0, None).astype(np.float32)


def add_noise(clean: np.ndarray, foreground: np.ndarray, snr: float,
              rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Poisson + Gaussian noise with mean foreground signal / noise std = `snr`.

    Shot noise makes half the noise variance at the mean foreground level; the read-noise
    level is then found by bisection so that the measured SNR (as the dataset authors
    measure it, after clipping at 0 like a camera) meets `snr`. Output is in photon counts.
    """
    mean_fg = float(clean[foreground].mean())
    sigma = mean_fg / snr
    gain = 2.0 * mean_fg / sigma**2  # photons per intensity unit
    signal = clean.astype(np.float64) * gain
    photons = rng.poisson(signal).astype(np.float64)
    unit = rng.standard_normal(clean.shape)

    def measured(read_std: float) -> tuple[float, np.ndarray]:
        noisy = np.clip(photons + read_std * unit, 0.0, None)
        return mean_fg * gain / float(np.std(noisy - signal)), noisy

    lo, hi = 0.0, 4.0 * sigma * gain
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if measured(mid)[0] > snr else (lo, mid)
    snr_measured, noisy = measured(0.5 * (lo + hi))
    return noisy.astype(np.float32), {
        "gain": gain, "read_noise_std": 0.5 * (lo + hi), "snr_measured": snr_measured,
        "mean_foreground_photons": mean_fg * gain}


def bright(ref: np.ndarray) -> np.ndarray:
    """The voxels whose mean sets the SNR: above the median by 20 % of its distance to
    the maximum."""
    median = np.percentile(ref, 50)
    return ref > median + 0.2 * (ref.max() - median)


def simulate(cfg: SimulationConfig) -> SimulatedCase:
    """Simulate one case: observed stack, lateral-only ground truth, PSF."""
    rng = np.random.default_rng(cfg.seed)
    specimen = tissue(cfg, rng)
    h = make_psf(cfg)
    gt = convolve(specimen, psf_lib.lateral_psf(h))
    blurred = convolve(specimen, h)
    n_obs = (cfg.shape[0] - 1) // cfg.z_step + 1
    n_gt = (n_obs - 1) * cfg.z_step + 1
    clean = blurred[: n_gt : cfg.z_step]
    observed, stats = add_noise(clean, bright(gt[: n_gt : cfg.z_step]), cfg.snr, rng)
    stats["psf_fwhm_axial_um"], stats["psf_fwhm_lateral_um"] = psf_lib.psf_fwhm(
        h, (cfg.voxel_xy,) * 3)
    gain = np.float32(stats["gain"])
    return SimulatedCase(observed, gt[:n_gt] * gain, h, cfg, stats, clean * gain)


def save_case(case: SimulatedCase, outdir: str | Path, overwrite: bool = False) -> Path:
    """Write observed.tif, gt.tif, psf.tif (ImageJ voxel sizes) and meta.json into `outdir`."""
    outdir = Path(outdir)
    write_stack(outdir / "observed.tif", case.observed, case.voxel_size, overwrite)
    write_stack(outdir / "gt.tif", case.gt, case.gt_voxel_size, overwrite)
    write_stack(outdir / "psf.tif", case.psf, case.gt_voxel_size, overwrite)
    meta = {"config": asdict(case.config), "stats": case.stats,
            "voxel_size_observed_um": case.voxel_size, "voxel_size_gt_um": case.gt_voxel_size,
            "observed_shape": case.observed.shape, "gt_shape": case.gt.shape}
    meta_path = outdir / "meta.json"
    if meta_path.exists() and not overwrite:
        raise fail(meta_path, "exists already", "choose another folder or pass --overwrite")
    meta_path.write_text(json.dumps(meta, indent=2))
    return outdir
