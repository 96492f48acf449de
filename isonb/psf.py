"""Point-spread functions: Gaussian, and scalar Debye (Born-Wolf) widefield and confocal models.

PSFs are sampled on a grid of spacing (dz, dx, dx) µm, centred, odd-sized and summing to 1.
"""

from __future__ import annotations

import numpy as np
from scipy.special import j0

from .errors import IsonbError

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
LATERAL_FWHM_PER_WAVELENGTH = {"widefield": 0.51, "confocal": 0.37}  # x lambda / NA: textbook


def psf_shape(fwhm_lateral: float, fwhm_axial: float, dx: float, dz: float,
              max_size: tuple[int, int] = (129, 63)) -> tuple[int, int, int]:
    """An odd (z, y, x) support holding ±2.5 axial and ±3 lateral FWHMs (capped at max_size)."""
    hz = min(int(np.ceil(2.5 * fwhm_axial / dz)), max_size[0] // 2)
    hx = min(int(np.ceil(3.0 * fwhm_lateral / dx)), max_size[1] // 2)
    return (2 * max(hz, 1) + 1, 2 * max(hx, 1) + 1, 2 * max(hx, 1) + 1)


def _grid(shape: tuple[int, int, int], dx: float, dz: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial positions z (nz,) and lateral radii r (ny, nx) in µm, centred on the middle voxel."""
    nz, ny, nx = shape
    z = (np.arange(nz) - nz // 2) * dz
    y = (np.arange(ny) - ny // 2) * dx
    x = (np.arange(nx) - nx // 2) * dx
    return z, np.hypot(y[:, None], x[None, :])


def gaussian_psf(fwhm_lateral: float, fwhm_axial: float, dx: float, dz: float | None = None,
                 shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """A 3D Gaussian PSF with the given lateral and axial FWHM (µm)."""
    dz = dx if dz is None else dz
    shape = shape or psf_shape(fwhm_lateral, fwhm_axial, dx, dz)
    z, r = _grid(shape, dx, dz)
    sl, sa = fwhm_lateral / FWHM_PER_SIGMA, fwhm_axial / FWHM_PER_SIGMA
    h = np.exp(-0.5 * (z[:, None, None] / sa) ** 2) * np.exp(-0.5 * (r[None] / sl) ** 2)
    return (h / h.sum()).astype(np.float32)


def debye_intensity(z: np.ndarray, r: np.ndarray, na: float, n_immersion: float,
                    wavelength: float, n_theta: int = 400) -> np.ndarray:
    """Scalar Debye intensity |∫ √cosθ sinθ J0(k r sinθ) exp(i k z cosθ) dθ|², shape (z, *r).

    The aplanatic high-aperture form of the Born-Wolf integral; k = 2π n / λ.
    """
    if not 0 < na < n_immersion:
        raise IsonbError(f"need 0 < NA < n (got NA={na}, n={n_immersion})")
    k = 2 * np.pi * n_immersion / wavelength
    alpha = np.arcsin(na / n_immersion)
    theta = (np.arange(n_theta) + 0.5) * alpha / n_theta  # midpoint rule
    weight = np.sqrt(np.cos(theta)) * np.sin(theta) * (alpha / n_theta)
    r_flat = np.unique(r.ravel())
    bessel = j0(k * np.outer(r_flat, np.sin(theta)))  # (R, T)
    phase = np.exp(1j * k * np.outer(np.cos(theta), z)) * weight[:, None]  # (T, Z)
    field = bessel @ phase  # (R, Z)
    intensity = (np.abs(field) ** 2).T  # (Z, R)
    idx = np.searchsorted(r_flat, r.ravel())
    return intensity[:, idx].reshape((len(z), *r.shape))


def widefield_psf(na: float, n_immersion: float, wavelength: float, dx: float,
                  dz: float | None = None, shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Widefield PSF (scalar Debye model) at the emission wavelength (µm)."""
    dz = dx if dz is None else dz
    lat, ax = theoretical_fwhm(na, n_immersion, wavelength, confocal=False)
    shape = shape or psf_shape(lat, ax, dx, dz)
    z, r = _grid(shape, dx, dz)
    h = debye_intensity(z, r, na, n_immersion, wavelength)
    return (h / h.sum()).astype(np.float32)


def confocal_psf(na: float, n_immersion: float, wavelength_ex: float, wavelength_em: float,
                 dx: float, dz: float | None = None,
                 shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Ideal (point-pinhole) confocal PSF: excitation times emission Debye PSF."""
    dz = dx if dz is None else dz
    lat, ax = theoretical_fwhm(na, n_immersion, wavelength_em, confocal=True)
    shape = shape or psf_shape(lat, ax, dx, dz)
    z, r = _grid(shape, dx, dz)
    h = (debye_intensity(z, r, na, n_immersion, wavelength_ex)
         * debye_intensity(z, r, na, n_immersion, wavelength_em))
    return (h / h.sum()).astype(np.float32)


def theoretical_fwhm(na: float, n_immersion: float, wavelength: float,
                     confocal: bool) -> tuple[float, float]:
    """Textbook (lateral, axial) FWHM in µm: 0.51λ/NA and 0.88λ/(n-√(n²-NA²)) for widefield,
    0.37λ/NA and 0.64λ/(n-√(n²-NA²)) for an ideal confocal."""
    depth = n_immersion - np.sqrt(n_immersion**2 - na**2)
    lateral = LATERAL_FWHM_PER_WAVELENGTH["confocal" if confocal else "widefield"] * wavelength / na
    return lateral, (0.64 if confocal else 0.88) * wavelength / depth


def lateral_psf(psf: np.ndarray) -> np.ndarray:
    """The focal plane of a 3D PSF, normalised to sum 1: the blur every xy plane sees."""
    plane = psf[psf.shape[0] // 2].astype(np.float64)
    return (plane / plane.sum()).astype(np.float32)


def fwhm_1d(profile: np.ndarray, spacing: float = 1.0) -> float:
    """Full width at half maximum of a single-peaked profile, by linear interpolation.

    The baseline is the profile's minimum; returns nan if the peak touches either end.
    """
    p = np.asarray(profile, dtype=np.float64)
    p = p - p.min()
    i = int(np.argmax(p))
    half = p[i] / 2.0
    if half <= 0:
        return float("nan")
    left = np.flatnonzero(p[:i] < half)
    right = np.flatnonzero(p[i:] < half)
    if len(left) == 0 or len(right) == 0:
        return float("nan")
    a = left[-1]
    xl = a + (half - p[a]) / (p[a + 1] - p[a])
    b = i + right[0]
    xr = b - 1 + (p[b - 1] - half) / (p[b - 1] - p[b])
    return float((xr - xl) * spacing)


def psf_fwhm(psf: np.ndarray, voxel_size: tuple[float, float, float]) -> tuple[float, float]:
    """(axial, lateral) FWHM in µm, through the PSF's brightest voxel."""
    dz, _, dx = voxel_size
    cz, cy, cx = np.unravel_index(int(np.argmax(psf)), psf.shape)
    return fwhm_1d(psf[:, cy, cx], dz), fwhm_1d(psf[cz, cy, :], dx)
