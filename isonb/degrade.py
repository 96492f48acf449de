"""The degradation, learned from the data alone: extra axial blur, z-sampling and noise.

Nothing here sees ground truth. The axial blur is estimated by comparing how fast the power
spectrum falls along z with how fast it falls along x in the same stack: for tissue that is
statistically isotropic, their ratio is |OTF_axial(f)|^2 / |OTF_lateral(f)|^2, which a
Gaussian of variance s^2 (the blur z has on top of the lateral one) fits. The fit is made
once on the 1D spectra, and again in bands of lateral frequency on the 2D spectra of xz/yz
and xy planes: a widefield PSF blurs coarse lateral detail over a much longer z range than
fine detail (its missing cone), which one Gaussian cannot say. With it, real xy patches are
turned into synthetic axial patches: blurred along one axis (by band), sampled every z_step
rows, interpolated back and given the data's noise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy.interpolate import make_interp_spline
from scipy.ndimage import gaussian_filter, gaussian_filter1d
from scipy.optimize import OptimizeWarning, curve_fit, isotonic_regression
from scipy.spatial import cKDTree
from skimage.feature import peak_local_max

from .psf import FWHM_PER_SIGMA
from .volume import filter_mirrored


@dataclass
class Degradation:
    """How an xy plane turns into an axial one, in units of the isotropic grid (dx)."""

    sigma_axial: float  # px: Gaussian blur that z has beyond the lateral blur (one for all)
    z_step: float  # dz / dx: axial sampling interval in px
    noise_std: float  # noise standard deviation, in the intensity units of the stack
    band_freqs: tuple[float, ...] = ()  # cycles/px: lateral frequencies of band_sigmas
    band_sigmas: tuple[float, ...] = ()  # px: the axial blur at each lateral frequency
    source: str = "spectra"  # what the blur was measured on: "spectra" or "point sources"

    def single_gaussian(self) -> Degradation:
        """The same degradation with one axial Gaussian for every lateral frequency."""
        return replace(self, band_freqs=(), band_sigmas=())

    def fwhm_axial_extra(self, dx: float) -> float:
        """FWHM in µm of the extra axial blur."""
        return self.sigma_axial * FWHM_PER_SIGMA * dx

    def describe(self, dx: float, units: str = "normalised") -> str:
        """What was estimated, in µm (`dx`: the pixel size; the noise in `units`), in one
        line for the user."""
        bands = " -> ".join(f"{s * FWHM_PER_SIGMA * dx:.2f}" for s in self.band_sigmas)
        how = (f"by band, coarse to fine: {bands} µm" if bands else
               f"from {self.source}" if self.sigma_axial > 0 else
               "none found: neither the spectra nor isolated point sources rise above the noise")
        return (f"extra axial blur FWHM {self.fwhm_axial_extra(dx):.3f} µm ({how}), "
                f"z_step {self.z_step:.2f}, noise {self.noise_std:.4g} ({units})")


def power_spectrum(vol: np.ndarray, axis: int, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean 1D power spectrum along `axis` (Hann window), frequencies in cycles per µm.

    Normalised so that white noise of variance v has power v at every frequency. The
    volume is read a few million voxels at a time, so memory stays bounded for large stacks.
    """
    n = vol.shape[axis]
    window = np.hanning(n + 2)[1:-1].reshape([-1 if a == axis else 1 for a in range(vol.ndim)])
    other = next(a for a in range(vol.ndim) if a != axis)
    chunk = max(1, 2**22 // (vol.size // vol.shape[other]))
    total = np.zeros(n // 2 + 1)
    for i in range(0, vol.shape[other], chunk):
        v = np.asarray(np.take(vol, range(i, min(i + chunk, vol.shape[other])), axis=other),
                       dtype=np.float64)
        v = v - v.mean(axis=axis, keepdims=True)
        spec = np.abs(np.fft.rfft(v * window, axis=axis)) ** 2
        total += np.moveaxis(spec, axis, 0).reshape(len(total), -1).sum(1)
    power = total / (vol.size // n) / np.sum(window**2)
    return np.fft.rfftfreq(n, spacing), power


def estimate_noise_std(vol: np.ndarray) -> float:
    """Noise standard deviation: the flat floor of the lateral power spectrum.

    Above 0.4 cycles per pixel the lateral PSF has removed nearly all signal, so what is
    left is (white) noise, whose power equals its variance with `power_spectrum`'s scaling.
    """
    floors = []
    for axis in (1, 2):
        f, p = power_spectrum(vol, axis, 1.0)
        floors.append(np.median(p[f >= 0.4]))
    return float(np.sqrt(np.mean(floors)))


def estimate_axial_sigma(observed: np.ndarray, dz: float, dx: float,
                         noise_std: float | None = None) -> float:
    """Extra axial Gaussian blur, in µm (standard deviation), from the stack's own spectra.

    Spectra along z (observed planes, spacing dz) and along x and y (spacing dx) are compared
    at the frequencies z can represent, after removing the white-noise floor; log ratio
    = c - 4 pi^2 f^2 s^2 is fitted by least squares where both spectra are well above noise.
    """
    return float(np.sqrt(max(axial_variance(observed, dz, dx, noise_std), 0.0)))


def axial_variance(vol: np.ndarray, dz: float, dx: float, noise_std: float | None = None
                   ) -> float:
    """s^2 (µm^2) of `estimate_axial_sigma`, signed: negative when z is sharper than x and y."""
    noise_var = estimate_noise_std(vol) ** 2 if noise_std is None else noise_std**2
    fz, pz = power_spectrum(vol, 0, dz)
    fx, px = power_spectrum(vol, 2, dx)
    fy, py = power_spectrum(vol, 1, dx)
    p_lat = np.interp(fz, fx, 0.5 * (px + np.interp(fx, fy, py)))
    sz, sx = pz - noise_var, p_lat - noise_var
    ok = (fz > 0) & (sz > 0.5 * noise_var) & (sx > 2.0 * noise_var)
    if ok.sum() < 2:
        ok = (fz > 0) & (sz > 0) & (sx > 0)
    if ok.sum() < 1:
        return 0.0
    return _fit_gaussian_variance(fz[ok], sz[ok], sx[ok], noise_var)


def _fit_gaussian_ratio(f: np.ndarray, sz: np.ndarray, sx: np.ndarray, noise: float) -> float:
    """s (µm) in log(sz / sx) = c - 4 pi^2 f^2 s^2, weighted by the axial signal over noise."""
    return float(np.sqrt(max(_fit_gaussian_variance(f, sz, sx, noise), 0.0)))


def _fit_gaussian_variance(f: np.ndarray, sz: np.ndarray, sx: np.ndarray, noise: float
                           ) -> float:
    """s^2 of `_fit_gaussian_ratio`, signed (negative: sz falls slower than sx)."""
    f2 = (2 * np.pi * f) ** 2
    log_ratio = np.log(sz / sx)
    weight = np.sqrt(sz / max(noise, 1e-30))  # trust frequencies with more signal
    if len(f) < 3:
        return float(-np.sum(weight * f2 * log_ratio) / np.sum(weight * f2**2))
    # free intercept: the spectra's scales differ (sampling dz vs dx, brightness)
    design = np.stack([np.ones_like(f2), -f2], 1) * np.sqrt(weight)[:, None]
    (_, s2), *_ = np.linalg.lstsq(design, log_ratio * np.sqrt(weight), rcond=None)
    return float(s2)


def plane_spectrum(planes: np.ndarray, spacing: tuple[float, float]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean 2D power spectral density of planes (n, a, b) (Hann window), as (|f_a|, f_b, P).

    Frequencies in cycles per µm; +f_a and -f_a are averaged. Scaled so that white noise of
    variance v has density v * spacing_a * spacing_b. Planes (a view is fine) are copied a
    few million voxels at a time, so memory stays bounded for large stacks.
    """
    n, a, b = planes.shape
    window = np.outer(np.hanning(a + 2)[1:-1], np.hanning(b + 2)[1:-1]).astype(np.float32)
    total = np.zeros((a, b // 2 + 1))
    chunk = max(1, 2**22 // (a * b))
    for i in range(0, n, chunk):
        p = np.asarray(planes[i:i + chunk], dtype=np.float32)
        p = (p - p.mean(axis=(1, 2), keepdims=True)) * window
        total += (np.abs(np.fft.rfft2(p)) ** 2).sum(0)
    density = total / n * spacing[0] * spacing[1] / np.sum(window.astype(np.float64) ** 2)
    fa = np.abs(np.fft.fftfreq(a, spacing[0]))
    folded = np.unique(fa)
    return folded, np.fft.rfftfreq(b, spacing[1]), np.stack([density[fa == f].mean(0)
                                                              for f in folded])


def _mean_spectrum(views: list[np.ndarray], spacing: tuple[float, float],
                   grid: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`plane_spectrum` of each stack of planes, interpolated onto `grid` (by default the
    first one's frequencies) and averaged, weighted by their numbers of planes."""
    total, n = 0.0, 0
    for planes in views:
        fa, fb, p = plane_spectrum(planes, spacing)
        ga, gb = grid if grid is not None else (fa, fb)
        grid = (ga, gb)
        p = np.stack([np.interp(ga, fa, p[:, j]) for j in range(p.shape[1])], 1)
        total = total + len(planes) * np.stack([np.interp(gb, fb, row) for row in p])
        n += len(planes)
    return grid[0], grid[1], total / n


BAND_EDGES = (0.0, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)  # cycles/px


def estimate_axial_bands(observed: np.ndarray, dz: float, dx: float, noise_std: float
                         ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The extra axial blur in bands of lateral frequency: (frequencies, sigmas), in 1/px, px.

    The 2D spectrum of the xz and yz planes (z at dz) is divided by that of the xy planes at
    the same frequencies (along y at dx), summed over each band of lateral frequency, and the
    Gaussian fit of `estimate_axial_sigma` is made per band. Bands are kept from the coarsest
    up while they hold at least 4 usable frequencies and do not jump by more than 2x from the
    previous band (where the fit meets the noise floor).
    """
    fz, fx, p_ax = _mean_spectrum([observed.transpose(1, 0, 2), observed.transpose(2, 0, 1)],
                                  (dz, dx))  # xz and yz planes
    _, _, p_lat = _mean_spectrum([observed, observed.transpose(0, 2, 1)], (dx, dx), (fz, fx))
    noise_ax, noise_lat = noise_std**2 * dz * dx, noise_std**2 * dx * dx
    freqs: list[float] = []
    sigmas: list[float] = []
    for lo, hi in zip(BAND_EDGES[:-1], BAND_EDGES[1:]):
        band = (fx * dx >= lo) & (fx * dx < hi)
        if not band.any():
            continue
        m = band.sum()
        sz = p_ax[:, band].sum(1) - m * noise_ax
        sx = p_lat[:, band].sum(1) - m * noise_lat
        ok = (fz > 0) & (sz > 0.5 * m * noise_ax) & (sx > 2.0 * m * noise_lat)
        if ok.sum() < 4:
            break
        s = _fit_gaussian_ratio(fz[ok], sz[ok], sx[ok], m * noise_ax) / dx
        if sigmas and not 0.5 * sigmas[-1] <= s <= 2.0 * sigmas[-1]:
            break
        freqs.append(float(fx[band].mean() * dx))
        sigmas.append(float(s))
    return tuple(freqs), tuple(sigmas)


def _gaussian(t: np.ndarray, a: float, mu: float, sd: float, c: float) -> np.ndarray:
    return a * np.exp(-((t - mu) ** 2) / (2 * sd**2)) + c


MIN_PROFILE = 5  # samples a Gaussian-plus-offset fit (4 parameters) needs


def gaussian_width(profile: np.ndarray, spacing: float) -> float:
    """Standard deviation (in units of `spacing`) of a Gaussian plus offset fitted to a
    single-peaked profile centred on its maximum; nan when the fit fails or the profile has
    fewer than `MIN_PROFILE` samples (its 4 parameters need more: a stack sampled every 5 µm
    gives 3 planes within a spot's isolation distance)."""
    if len(profile) < MIN_PROFILE:
        return float("nan")
    t = (np.arange(len(profile)) - len(profile) // 2) * spacing
    p = np.asarray(profile, dtype=np.float64)
    try:
        with warnings.catch_warnings():  # few samples: no covariance, but still a fit
            warnings.simplefilter("ignore", OptimizeWarning)
            (a, mu, sd, _), _ = curve_fit(_gaussian, t, p, maxfev=2000,
                                          p0=(p.max() - p.min(), 0.0, 2 * spacing, p.min()))
    except (RuntimeError, ValueError):
        return float("nan")
    sd = abs(sd)
    return float(sd) if a > 0 and abs(mu) < spacing and sd < t[-1] else float("nan")


def point_sources(observed: np.ndarray, dz: float, dx: float, noise_std: float,
                  isolation_um: float = 1.5) -> list[tuple[float, float]]:
    """(axial, lateral) Gaussian sigmas in µm of the stack's isolated point-like spots.

    Maxima of the laterally smoothed stack at least 8 noise std above the median, with no
    other within `isolation_um`, are fitted along z (on the observed planes) and along y and
    x; only spots whose lateral width is within 1.5x of the narrowest quarter's are kept
    (beads, puncta: a profile through a nucleus measures the nucleus).
    """
    smooth = gaussian_filter(np.asarray(observed, dtype=np.float32), (0, 1, 1))
    level = np.median(smooth) + 8 * noise_std / 2.5  # smoothing by 1 px: noise std / ~2.5
    peaks = peak_local_max(smooth, min_distance=2, threshold_abs=level, exclude_border=False)
    if len(peaks) < 2 or len(peaks) > 5000:
        return []
    wz, wx = int(np.ceil(isolation_um / dz)), int(np.ceil(isolation_um / dx))
    inside = np.all((peaks >= (wz, wx, wx)) & (peaks < np.array(observed.shape) - (wz, wx, wx)),
                    axis=1)
    um = peaks * np.array([dz, dx, dx])
    nearest = cKDTree(um).query(um, k=2)[0][:, 1]  # distance to the nearest other peak
    found = []
    for z, y, x in peaks[inside & (nearest > isolation_um)]:
        sz = gaussian_width(observed[z - wz:z + wz + 1, y, x], dz)
        sy = gaussian_width(observed[z, y - wx:y + wx + 1, x], dx)
        sx = gaussian_width(observed[z, y, x - wx:x + wx + 1], dx)
        if np.isfinite(sz) and np.isfinite(sy) and np.isfinite(sx):
            found.append((sz, float(np.sqrt(sy * sx))))
    if not found:
        return []
    narrow = 1.5 * np.percentile([lat for _, lat in found], 25)
    return [f for f in found if f[1] <= narrow]


def axial_sigma_from_points(observed: np.ndarray, dz: float, dx: float, noise_std: float,
                            min_points: int = 10) -> float | None:
    """Extra axial blur (µm, std) from isolated point sources, sqrt(median(s_z^2 - s_lat^2)),
    or None with fewer than `min_points` of them: for sparse stacks (beads), whose
    spectra are mostly noise."""
    points = point_sources(observed, dz, dx, noise_std)
    if len(points) < min_points:
        return None
    return float(np.sqrt(max(np.median([a**2 - b**2 for a, b in points]), 0.0)))


def estimate_degradation(observed: np.ndarray, voxel_size: tuple[float, float, float]
                         ) -> Degradation:
    """The stack's degradation: extra axial blur, z-sampling and noise, from the data alone.

    The spectra's estimate (`estimate_axial_bands`) comes first; when it finds no band
    above the noise, as in a sparse bead stack, isolated point sources give the blur instead.
    """
    dz, _, dx = voxel_size
    noise = estimate_noise_std(observed)
    sigma_um = estimate_axial_sigma(observed, dz, dx, noise)
    freqs, sigmas = estimate_axial_bands(observed, dz, dx, noise)
    source = "spectra"
    if not freqs:
        from_points = axial_sigma_from_points(observed, dz, dx, noise)
        if from_points is not None:
            sigma_um, source = from_points, "point sources"
    return Degradation(sigma_axial=sigma_um / dx, z_step=dz / dx, noise_std=noise,
                       band_freqs=freqs, band_sigmas=sigmas, source=source)


def axial_forward_matrix(n_obs: int, n_out: int, z_step: float, sigma: float) -> np.ndarray:
    """(n_obs, n_out) matrix taking a column of the isotropic volume to the observed planes:
    blurred along z by `sigma` (px, mirrored at the ends), then read at plane k * z_step
    (linear between grid planes when z_step is not whole)."""
    blur = gaussian_filter1d(np.eye(n_out), sigma, axis=0, mode="reflect") if sigma > 0 \
        else np.eye(n_out)
    sample = np.zeros((n_obs, n_out))
    for k in range(n_obs):
        p = min(k * z_step, n_out - 1.0)
        i = min(int(p), n_out - 2) if n_out > 1 else 0
        w = p - i
        sample[k, i] += 1.0 - w
        if w > 0:
            sample[k, i + 1] += w
    return sample @ blur


def data_residual(restored: np.ndarray, observed: np.ndarray, deg: Degradation,
                  columns: int = 4096, seed: int = 0) -> float:
    """Mean squared difference between the observed stack and the restored volume degraded
    again (`axial_forward_matrix`, one Gaussian), over the noise variance: about 1 when
    the restoration explains the data to within its noise, above 1 where it contradicts
    them. `columns` random (y, x) columns keep it cheap on large stacks."""
    n_obs, ny, nx = observed.shape
    a = axial_forward_matrix(n_obs, restored.shape[0], deg.z_step, deg.sigma_axial)
    rng = np.random.default_rng(seed)
    idx = rng.choice(ny * nx, size=min(columns, ny * nx), replace=False)
    y, x = np.unravel_index(idx, (ny, nx))
    r = a @ restored[:, y, x].astype(np.float64) - observed[:, y, x]
    return float(np.mean(r**2) / max(deg.noise_std, 1e-12) ** 2)


def blur_axial_by_band(img: np.ndarray, freqs: tuple[float, ...], sigmas: tuple[float, ...]
                       ) -> np.ndarray:
    """Blur axis 0 of a 2D image by a Gaussian whose width depends on the axis-1 frequency.

    sigma(f) interpolates the bands (constant beyond them); the image is mirror-padded so
    that the Fourier filter does not wrap around.
    """
    return filter_mirrored(img, (int(np.ceil(4 * max(sigmas))), 16), lambda kz, kx: np.exp(
        -2 * np.pi**2 * np.interp(kx, freqs, sigmas) ** 2 * kz**2))


def infocus_gain(deg: Degradation, f: np.ndarray) -> np.ndarray:
    """Gain at lateral frequency `f` (cycles/px) that gives each band its in-focus weight.

    The OTF integrated over f_z is the focal plane's OTF (projection-slice theorem), so a
    band whose axial profile is a Gaussian of width sigma(f) enters the stack with an
    amplitude proportional to sigma(f): a widefield PSF, whose coarse detail reaches far in
    z, over-weights it against the in-focus ground truth (the haze). The gain is
    sigma(0) / sigma(f), with the band sigmas first made non-increasing (isotonic fit, the
    missing cone's shape), so flat, noisy estimates (confocal, Gaussian) give a gain of 1;
    so do bands measured with no extra blur at all (a thinned real stack: 0 / 0).
    """
    if len(deg.band_sigmas) < 2 or deg.band_sigmas[0] <= 0:
        return np.ones_like(f)
    sigmas = isotonic_regression(deg.band_sigmas, increasing=False).x
    return sigmas[0] / np.interp(f, deg.band_freqs, sigmas)


def refocus(vol: np.ndarray, deg: Degradation) -> np.ndarray:
    """Apply `infocus_gain` to every xy plane of a (z, y, x) volume (mirror-padded filter).

    The extra axial blur stands in for the total axial extent; the lateral part, which
    the data cannot separate from the object, is small beside it where the gain matters.
    """
    def gain(ky: np.ndarray, kx: np.ndarray) -> np.ndarray:
        return infocus_gain(deg, np.sqrt(ky**2 + kx**2)).astype(np.float32)

    out = np.empty(vol.shape, dtype=np.float32)
    for z0 in range(0, len(vol), 16):  # a few planes at a time: bounded memory
        out[z0:z0 + 16] = filter_mirrored(vol[z0:z0 + 16], (16, 16), gain)
    return out


AXIAL_WIENER_EPS = 0.1  # regularisation of `deblur_axial` (benchmarks/axial_blur.py)


def deblur_axial(images: np.ndarray, sigma: float, eps: float = AXIAL_WIENER_EPS) -> np.ndarray:
    """Axial images (n, z, w) deconvolved along z by a Gaussian of `sigma` px: the Wiener
    filter H / (H^2 + eps), scaled to keep the mean, on images mirrored along z.

    A network that learned from xy planes leaves z blurred by the lateral PSF; given its
    width (`restore --lateral-fwhm`), this removes it, as BENCHMARK.md's ground truth has no
    axial blur (RESULTS, "The z axis keeps the lateral PSF's blur").
    """
    n = images.shape[1]
    mirrored = np.concatenate([images[:, ::-1], images, images[:, ::-1]], axis=1)
    k = np.fft.rfftfreq(3 * n)
    otf = np.exp(-2 * np.pi**2 * sigma**2 * k**2)
    gain = (1 + eps) * otf / (otf**2 + eps)
    out = np.fft.irfft(np.fft.rfft(mirrored, axis=1) * gain[:, None], 3 * n, axis=1)
    return out[:, n:2 * n].astype(np.float32)


def synthesize_axial(lateral: np.ndarray, deg: Degradation, rng: np.random.Generator,
                     add_noise: bool = True) -> np.ndarray:
    """Make a synthetic axial image from a lateral (xy) one, treating its axis 0 as z.

    Blur along axis 0 by the extra axial blur (band by band of axis-1 frequency when the
    degradation has bands), sample every z_step rows (random phase), add the stack's noise
    to those samples, and interpolate back onto every row with a cubic spline as
    restoration's reslicing does (so the noise is correlated along z as it is in a
    resliced stack).
    """
    img = np.asarray(lateral, dtype=np.float32)
    if deg.band_sigmas:
        img = blur_axial_by_band(img, deg.band_freqs, deg.band_sigmas)
    elif deg.sigma_axial > 0:
        img = gaussian_filter1d(img, deg.sigma_axial, axis=0, mode="reflect")
    noise = deg.noise_std if add_noise else 0.0
    n = img.shape[0]
    if deg.z_step > 1 and n > 2 * deg.z_step:
        rows = np.arange(rng.uniform(0, deg.z_step), n - 1, deg.z_step)
        lo = np.floor(rows).astype(int)
        t = (rows - lo)[:, None]
        samples = (1 - t) * img[lo] + t * img[np.minimum(lo + 1, n - 1)]
        if noise > 0:
            samples = samples + rng.normal(0.0, noise, samples.shape)
        spline = make_interp_spline(rows, samples, k=min(3, len(rows) - 1), axis=0)
        return spline(np.clip(np.arange(n), rows[0], rows[-1])).astype(np.float32)
    if noise > 0:
        img = img + rng.normal(0.0, noise, img.shape).astype(np.float32)
    return img
