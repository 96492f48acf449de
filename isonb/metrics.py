"""Scores exactly as ../shared/BENCHMARK.md fixes them, plus no-reference isotropy measures.

With ground truth: GT scaled by its 0.1/99.9 percentiles, prediction fitted to it by the
least-squares affine map, then MSE, PSNR, CoC over the volume and SSIM averaged over every
xz and yz slice (and, to catch stripes between restored slices, over every xy slice).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

from .degrade import Degradation, data_residual
from .errors import IsonbError
from .psf import fwhm_1d
from .resolution import axial_lateral
from .volume import BLOCK_VOXELS, local_maxima, percentiles, planes_per_block


def gt_limits(gt: np.ndarray) -> tuple[float, float]:
    """(p0.1, p99.9 - p0.1) of the ground truth: the offset and scale `scale_gt` removes."""
    lo, hi = percentiles(gt, [0.1, 99.9])  # a memory-mapped volume is not copied
    return float(lo), max(float(hi - lo), 1e-12)


def scale_gt(gt: np.ndarray) -> np.ndarray:
    """(G - p0.1) / (p99.9 - p0.1), as float64."""
    lo, scale = gt_limits(gt)
    return (np.asarray(gt, dtype=np.float64) - lo) / scale


def affine_fit(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """a*pred + b with (a, b) minimising the squared error to `target` (CSBDeep min-MSE)."""
    p = np.asarray(pred, dtype=np.float64)
    pm, tm = p.mean(), target.mean()
    var = ((p - pm) ** 2).mean()
    a = ((p - pm) * (target - tm)).mean() / var if var > 0 else 0.0
    return a * p + (tm - a * pm)


def ssim_slices(p: np.ndarray, g: np.ndarray, axes: tuple[int, int], win_size: int = 7,
                data_range: float = 1.0) -> float:
    """Mean 2D SSIM over all slices of a 3D pair spanned by `axes`.

    Identical to averaging scikit-image's `structural_similarity` (uniform 7x7 window,
    sample covariance, K1=0.01, K2=0.03, borders cropped) over the slices, but vectorised.
    """
    size = [1, 1, 1]
    for ax in axes:
        size[ax] = win_size
    n = win_size**2
    cov_norm = n / (n - 1)
    ux, uy = uniform_filter(p, size), uniform_filter(g, size)
    uxx, uyy = uniform_filter(p * p, size), uniform_filter(g * g, size)
    uxy = uniform_filter(p * g, size)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (win_size - 1) // 2
    crop = tuple(slice(pad, -pad) if ax in axes else slice(None) for ax in range(3))
    return float(s[crop].mean())


def evaluate(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """SSIM (xz+yz), PSNR, MSE, CoC as BENCHMARK.md, plus SSIM over xy slices (`ssim_xy`)."""
    if pred.shape != gt.shape:
        raise IsonbError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape. "
                         "Fix: restore onto the isotropic grid (n_out = round((nz-1)*dz/dx)+1)")
    if min(gt.shape) < 7:
        raise IsonbError(f"volume {gt.shape} is too small for 7x7 SSIM windows")
    if gt.size > IN_MEMORY_VOXELS:
        return evaluate_by_blocks(pred, gt)
    g = scale_gt(gt)
    p = affine_fit(pred, g)
    mse = float(((p - g) ** 2).mean())
    nz, ny, nx = g.shape
    ssim_xz = ssim_slices(p, g, (0, 2))  # ny slices of (nz, nx)
    ssim_yz = ssim_slices(p, g, (0, 1))  # nx slices of (nz, ny)
    return {
        "ssim": (ny * ssim_xz + nx * ssim_yz) / (ny + nx),
        "psnr": float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf"),
        "mse": mse,
        "coc": float(np.corrcoef(p.ravel(), g.ravel())[0, 1]),
        "ssim_xy": ssim_slices(p, g, (1, 2)),
    }


# --- no-reference isotropy (for data without ground truth) ----------------------------------


def small_structures(vol: np.ndarray, n_peaks: int = 200, min_distance: int = 6,
                     seed: int = 0) -> list[tuple[tuple[int, int, int], float, float]]:
    """Small bright structures of an isotropic volume: (peak, axial FWHM, lateral FWHM) in px.

    Local maxima above the 99th percentile are measured along z and along x and y through
    the maximum; peaks whose profiles do not fall to half height within 4 `min_distance`
    (or the volume's border) are skipped, and of the rest only those whose lateral FWHM is
    within 1.5x of the smallest quarter's (the point-like ones: a line through a nucleus
    measures its size, not the resolution).
    """
    v = np.asarray(vol, dtype=np.float32)  # not float64: a large volume is held once more
    w = 4 * min_distance
    peaks = local_maxima(v, min_distance, percentiles(v, 99))  # skimage's peak_local_max
    if len(peaks) > n_peaks:
        peaks = peaks[np.random.default_rng(seed).choice(len(peaks), n_peaks, replace=False)]
    found = []
    for z, y, x in peaks:
        ax = fwhm_1d(v[max(z - w, 0):z + w + 1, y, x])
        lats = [f for f in (fwhm_1d(v[z, max(y - w, 0):y + w + 1, x]),
                            fwhm_1d(v[z, y, max(x - w, 0):x + w + 1])) if np.isfinite(f)]
        lat = float(np.mean(lats)) if lats else float("nan")
        if np.isfinite(ax) and np.isfinite(lat) and lat > 0:
            found.append(((int(z), int(y), int(x)), ax, lat))
    if not found:
        return []
    small = 1.5 * np.percentile([lat for _, _, lat in found], 25)
    return [f for f in found if f[2] <= small]


def fwhm_ratio(vol: np.ndarray, n_peaks: int = 200, min_distance: int = 6,
               seed: int = 0) -> float:
    """Median axial/lateral FWHM of small bright structures (`small_structures`) in an
    isotropic volume (1 = isotropic); nan when there are none."""
    found = small_structures(vol, n_peaks, min_distance, seed)
    return float(np.median([ax / lat for _, ax, lat in found])) if found else float("nan")


def spectral_ratio(vol: np.ndarray, cutoff: float = 0.25) -> float:
    """Axial / lateral share of spectral energy above `cutoff` cycles per voxel (1 = isotropic).

    Energy fractions from Hann-windowed 1D power spectra along z and along x.
    """
    def high_share(axis: int) -> float:
        f, power = axis_spectrum(vol, axis)
        return float(power[f >= cutoff].sum() / power[1:].sum())

    return high_share(0) / high_share(2)


def axis_spectrum(vol: np.ndarray, axis: int, block: int = BLOCK_VOXELS
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in cycles per voxel, mean power) of the Hann-windowed 1D spectra along
    `axis` of a volume less its mean (the window keeps edges from leaking power); about
    `block` voxels at a time, so a volume larger than memory (a memory map) can be measured."""
    n = vol.shape[axis]
    other = max((a for a in range(vol.ndim) if a != axis), key=lambda a: vol.shape[a])
    step = planes_per_block(vol.shape, other, block)
    blocks = [tuple(slice(i, i + step) if a == other else slice(None) for a in range(vol.ndim))
              for i in range(0, vol.shape[other], step)]
    mean = sum(float(np.sum(vol[b], dtype=np.float64)) for b in blocks) / vol.size
    window = np.hanning(n).reshape([-1 if a == axis else 1 for a in range(vol.ndim)])
    total = np.zeros(n // 2 + 1)
    for b in blocks:
        power = np.abs(np.fft.rfft((np.asarray(vol[b], np.float64) - mean) * window,
                                   axis=axis)) ** 2
        total += np.moveaxis(power, axis, 0).reshape(len(total), -1).sum(1)
    return np.fft.rfftfreq(n), total / (vol.size // n)


def spectrum_to_truth(pred: np.ndarray, gt: np.ndarray, axis: int = 0,
                      band: tuple[float, float] = (0.05, 0.25)) -> tuple[float, float]:
    """How the restoration's texture along `axis` compares with the ground truth's: (mean,
    mean absolute) of 10 log10 of their power spectra's ratio over `band` cycles per voxel,
    in dB, both scaled by their own 0.1/99.9 percentiles (a least-squares fit would shrink a
    noisy restoration's power). 0 is the truth's texture; below 0 the restoration is
    smoother than the truth, above it carries more (noise or invented detail). The default
    band stays inside a lateral PSF's passband, where the truth has structure."""
    g = scale_gt(gt)
    f, pp = axis_spectrum(scale_gt(pred), axis)
    _, pg = axis_spectrum(g, axis)
    sel = (f >= band[0]) & (f <= band[1]) & (pg > 0)
    ratio_db = 10 * np.log10(np.maximum(pp[sel], 1e-30) / pg[sel])
    return float(ratio_db.mean()), float(np.abs(ratio_db).mean())


def no_reference(vol: np.ndarray, observed: np.ndarray | None = None,
                 deg: Degradation | None = None) -> dict[str, float]:
    """The figures of a volume on the isotropic grid for data without ground truth: the
    axial / lateral `fwhm_ratio` of small structures, BENCHMARK.md's `spectral_ratio`, the
    axial and lateral resolution by decorrelation analysis with the paper's refinement and
    their ratio (`resolution.axial_lateral`; the ratios are 1 when isotropic;
    `benchmarks/results/noref.md` measures how often each orders two restorations as the
    ground truth does), and, given the observed stack and its
    degradation (`degrade.estimate_degradation`), `data_residual`: the volume degraded
    again against the data, over the noise variance (`degrade.data_residual`). A check,
    not a score: well above 1, the data contradict the restoration (or its degradation
    estimate); below 1, it keeps the data's noise, as interpolation does; a clean
    restoration that explains them reads about 1."""
    figures = {"fwhm_ratio": fwhm_ratio(vol), "spectral_ratio": spectral_ratio(vol),
               **axial_lateral(vol, refine=True)}  # refined: noref.md's better-ranked ratio
    if observed is not None and deg is not None:
        figures["data_residual"] = data_residual(vol, observed, deg)
    return figures


def periodic_component(planes: np.ndarray) -> np.ndarray:
    """The periodic part of each 2D image (last two axes; Moisan 2011, periodic plus smooth
    decomposition): the image less the smooth field whose Laplacian is its border jumps,
    so that a Fourier transform sees no cross of power from the wrap-around edges."""
    x = np.asarray(planes, dtype=np.float64)
    jumps = np.zeros_like(x)
    rows, cols = x[..., -1, :] - x[..., 0, :], x[..., :, -1] - x[..., :, 0]
    jumps[..., 0, :] += rows
    jumps[..., -1, :] -= rows
    jumps[..., :, 0] += cols
    jumps[..., :, -1] -= cols
    m, n = x.shape[-2:]
    laplacian = (2 * np.cos(2 * np.pi * np.arange(m) / m)[:, None]
                 + 2 * np.cos(2 * np.pi * np.arange(n) / n)[None, :] - 4)
    laplacian[0, 0] = 1.0
    smooth = np.fft.fft2(jumps) / laplacian
    smooth[..., 0, 0] = 0.0
    return x - np.real(np.fft.ifft2(smooth))


def axis_power_share(vol: np.ndarray) -> float:
    """Share of the xy planes' 2D power (mean removed) that lies on the two frequency axes.

    Restoring slices one by one can leave a grid in the xy planes: lines along x from the
    xz slices and along y from the yz ones, whose power sits on the k_y = 0 and k_x = 0
    axes. Compare with cubic interpolation of the same stack, whose planes are the
    observed ones (their edges put some power on the axes too, and so does the coarse shape
    of a smooth image: `stripe_score` allows for both).
    """
    on_axes = total = 0.0
    for z0 in range(0, len(vol), 16):
        planes = np.asarray(vol[z0:z0 + 16], dtype=np.float64)
        power = np.abs(np.fft.rfft2(planes - planes.mean(axis=(1, 2), keepdims=True))) ** 2
        power[..., 1:(-1 if planes.shape[-1] % 2 == 0 else None)] *= 2  # the other half of k_x
        total += power.sum()
        on_axes += power[:, 0, :].sum() + power[:, :, 0].sum() - power[:, 0, 0].sum()
    return float(on_axes / total) if total > 0 else float("nan")


def stripe_score(vol: np.ndarray, skip: int = 2) -> float:
    """Power on the xy planes' two frequency axes against that of content at the same radius.

    A grid of lines along x and y puts its power on the k_y = 0 and k_x = 0 axes alone;
    isotropic content, smooth or textured, has as much on the axes as anywhere else at the
    same |k|. The score is the axes' power over what the off-axis frequencies' radial mean
    predicts for them: about 1 without a grid, whatever the spectrum's shape, and well above
    with one. The planes' edges are removed first (`periodic_component`); the `skip` lowest
    frequencies (the image's coarse shape) are left out.
    """
    power = 0.0
    for z0 in range(0, len(vol), 16):
        planes = periodic_component(np.asarray(vol[z0:z0 + 16], dtype=np.float64))
        power = power + (np.abs(np.fft.fft2(planes - planes.mean(axis=(1, 2), keepdims=True))
                                ) ** 2).sum(0)
    ny, nx = power.shape
    ky, kx = np.abs(np.fft.fftfreq(ny))[:, None], np.abs(np.fft.fftfreq(nx))[None, :]
    radius = np.rint(np.hypot(ky, kx) * max(ny, nx)).astype(int)  # rings 1/max(ny, nx) wide
    axes = ((ky == 0) | (kx == 0)) & (radius > skip)
    off = (ky * ny > skip) & (kx * nx > skip)
    counts = np.bincount(radius[off], minlength=radius.max() + 1)
    mean = np.bincount(radius[off], power[off], minlength=radius.max() + 1) / np.maximum(counts, 1)
    ok = axes & (counts[radius] > 0)
    expected = mean[radius[ok]].sum()
    return float(power[ok].sum() / expected) if expected > 0 else float("nan")


def markdown_table(rows: list[dict], keys: tuple[str, ...] = ("ssim", "psnr", "mse", "coc",
                                                               "ssim_xy")) -> str:
    """Rows of scores (each with a "method" and optionally a "stack") as a markdown table."""
    head = [k for k in ("stack", "method") if any(k in r for r in rows)]
    cols = [k for k in keys if any(k in r for r in rows)]
    lines = ["| " + " | ".join(head + cols) + " |", "|" + "---|" * (len(head) + len(cols))]
    for r in rows:
        cells = [str(r.get(k, "")) for k in head]
        cells += [f"{r[k]:.4f}" if k in r and k != "psnr" else f"{r.get(k, float('nan')):.2f}"
                  for k in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(rows: list[dict], path: str) -> str:
    """Rows of scores as CSV (columns: union of the rows' keys, in order of appearance)."""
    import csv

    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    return path


IN_MEMORY_VOXELS = 2**26  # larger volumes are scored block by block (float64 copies add up)


def evaluate_by_blocks(pred: np.ndarray, gt: np.ndarray, block: int = BLOCK_VOXELS
                       ) -> dict[str, float]:
    """`evaluate` a few slices (about `block` voxels) at a time: the same quantities from
    float64 sums over blocks (equal up to rounding), with memory bounded by a block (SSIM's
    filters hold about 15 float64 copies of it) instead of the volume."""
    lo, scale = gt_limits(gt)

    def blocks(axis: int):
        step = planes_per_block(gt.shape, axis, block)
        for i in range(0, gt.shape[axis], step):
            sl = tuple(slice(i, i + step) if a == axis else slice(None) for a in range(3))
            yield (np.asarray(pred[sl], dtype=np.float64),
                   (np.asarray(gt[sl], dtype=np.float64) - lo) / scale)

    n = gt.size
    sums = np.zeros(2)
    for p, g in blocks(0):
        sums += p.sum(), g.sum()
    pm, gm = sums / n
    moments = np.zeros(3)  # var p, cov, var g
    for p, g in blocks(0):
        moments += ((p - pm) ** 2).sum(), ((p - pm) * (g - gm)).sum(), ((g - gm) ** 2).sum()
    vp, cov, vg = moments / n
    a = cov / vp if vp > 0 else 0.0
    b = gm - a * pm
    mse = sum(float(((a * p + b - g) ** 2).sum()) for p, g in blocks(0)) / n

    def mean_ssim(axis: int, axes: tuple[int, int]) -> float:
        pad = 3  # (7 - 1) / 2: the borders skimage crops
        total = count = 0.0
        for p, g in blocks(axis):
            k = p.shape[axis] * (p.shape[axes[0]] - 2 * pad) * (p.shape[axes[1]] - 2 * pad)
            total += ssim_slices(a * p + b, g, axes) * k
            count += k
        return total / count

    nz, ny, nx = gt.shape
    ssim_xz, ssim_yz = mean_ssim(1, (0, 2)), mean_ssim(2, (0, 1))
    return {
        "ssim": (ny * ssim_xz + nx * ssim_yz) / (ny + nx),
        "psnr": float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf"),
        "mse": mse,
        "coc": float(np.sign(a) * cov / np.sqrt(vp * vg)) if vp > 0 and vg > 0 else 0.0,
        "ssim_xy": mean_ssim(0, (1, 2)),
    }
